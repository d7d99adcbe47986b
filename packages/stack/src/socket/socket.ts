/**
 * The socket (`struct socket`, NetBSD `sys/sys/socketvar.h`) and the state
 * changes protocols make on it (`soisconnecting`, `soisconnected`,
 * `soisdisconnecting`, `soisdisconnected`, `socantsendmore`,
 * `socantrcvmore`, `sorwakeup`, `sowwakeup` — `uipc_socket2.c`).
 *
 * Readiness: every change that can make a socket readable, writable or
 * errored calls {@link Socket.notify}, which wakes `poll` watchers; blocked
 * operations sleep on the socket buffers' wait queues (`sbwait`) or on the
 * socket's own (`so_cv`: connect and accept).
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import { hopTrace } from '../kern/hoptrace.js';
import { PR, SOOPT, SS } from './constants.js';
import type { Protosw } from './protosw.js';
import type { SocketLayer } from './layer.js';
import { SockBuf, type SbAccount } from './sockbuf.js';
import { WaitQueue } from './wait.js';

/** A socket. Created by {@link SocketLayer.create}; user code reaches it through a `SocketTable`. */
export class Socket {
  /** Unique id within its layer (for `netstat` and logs). */
  readonly id: number;
  /** The layer (and through it the stack's pool, clock and tunables). */
  readonly layer: SocketLayer;
  /** Its protocol (`so_proto`). */
  readonly proto: Protosw;
  /** Socket type (`so_type`). */
  readonly type: number;
  /** `SS_*` state bits (`so_state`). */
  state = 0;
  /** `SOOPT` bits (`so_options`). */
  options = 0;
  /** Linger time in seconds (`so_linger`). */
  linger = 0;
  /** Pending asynchronous error (`so_error`), reported by the next call and cleared. */
  error = 0;
  /** Receive buffer (`so_rcv`). */
  readonly rcv = new SockBuf();
  /** Send buffer (`so_snd`). */
  readonly snd = new SockBuf();
  /** The protocol's control block (`so_pcb`), null once detached. */
  pcb: unknown = null;
  /** Sleepers on connection state: connect, accept, linger (`so_cv`). */
  readonly stateWq = new WaitQueue();

  /**
   * The account both buffers are charged to (a rump client's quota), or
   * null. Connections accepted on a listener inherit its account
   * (`sonewconn`); the charge ends when the socket is freed (`sofree`).
   */
  get account(): SbAccount | null {
    return this.rcv.account;
  }
  set account(a: SbAccount | null) {
    this.snd.setAccount(a);
    this.rcv.setAccount(a);
  }

  // The listen queues (`so_q0`: connections being set up, `so_q`: ready to
  // be accepted), kept on the listening socket; TCP fills them through
  // `SocketLayer.newConn` and `soIsConnected`.
  /** The listening socket this one is queued on (`so_head`), else null. */
  head: Socket | null = null;
  /** Incomplete connections (`so_q0`). */
  readonly q0 = new Set<Socket>();
  /** Completed connections waiting for accept (`so_q`), oldest first. */
  readonly q: Socket[] = [];
  /** Queue limit (`so_qlimit`), from `listen`'s backlog. */
  qlimit = 0;

  private readonly watchers = new Set<() => void>();

  /** @internal Use {@link SocketLayer.create}. */
  constructor(layer: SocketLayer, proto: Protosw, id: number) {
    this.layer = layer;
    this.proto = proto;
    this.type = proto.type;
    this.id = id;
  }

  /**
   * Watch readiness changes: `fn` runs (synchronously, keep it short) after
   * every wakeup. Returns the function that stops watching.
   */
  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Tell watchers something may have changed (`selnotify`). */
  notify(): void {
    if (this.watchers.size === 0) return;
    for (const fn of [...this.watchers]) fn();
  }

  /** Whether the socket was closed or aborted: every operation on it fails. */
  get closed(): boolean {
    return (this.state & SS.CLOSED) !== 0;
  }

  /** Whether a listener (`SO_ACCEPTCONN`). */
  get listening(): boolean {
    return (this.options & SOOPT.ACCEPTCONN) !== 0;
  }

  /**
   * `soreadable`: data at or above the low-water mark (any record for a
   * datagram socket), EOF, a pending error, or a connection to accept.
   */
  readable(): boolean {
    const rcv = this.rcv;
    return (
      rcv.cc >= Math.max(1, rcv.lowat) ||
      ((this.proto.flags & PR.ATOMIC) !== 0 && rcv.records > 0) ||
      (this.state & SS.CANTRCVMORE) !== 0 ||
      this.error !== 0 ||
      (this.listening && this.q.length > 0)
    );
  }

  /**
   * `sowritable`: room at or above the send low-water mark on a socket that
   * may send (connected, or a protocol needing no connection), or a state
   * the next send reports at once (shut down, error).
   */
  writable(): boolean {
    if (this.listening) return false;
    return (
      (this.snd.space() >= Math.max(1, this.snd.lowat) &&
        ((this.state & SS.ISCONNECTED) !== 0 || (this.proto.flags & PR.CONNREQUIRED) === 0)) ||
      (this.state & SS.CANTSENDMORE) !== 0 ||
      this.error !== 0
    );
  }

  /** Take and clear the pending error (`so_error`), 0 when none. */
  takeError(): number {
    const e = this.error;
    this.error = 0;
    return e;
  }
}

/** `sorwakeup`: data or EOF arrived; wake receivers and watchers. */
export function soRwakeup(so: Socket): void {
  hopTrace?.mark('so.rwakeup');
  so.rcv.wq.wakeAll();
  so.notify();
}

/** `sowwakeup`: room appeared in the send buffer; wake senders and watchers. */
export function soWwakeup(so: Socket): void {
  so.snd.wq.wakeAll();
  so.notify();
}

/** Wake everything sleeping on the socket (state changes that concern all waiters). */
function soWakeAll(so: Socket): void {
  so.stateWq.wakeAll();
  so.rcv.wq.wakeAll();
  so.snd.wq.wakeAll();
  so.notify();
}

/**
 * Record an asynchronous error (ICMP, RST, timeout) to report on the next
 * call (`so_error = error; sorwakeup; sowwakeup`).
 */
export function soSetError(so: Socket, errno: number): void {
  so.error = errno;
  soWakeAll(so);
}

/** `soisconnecting`: a connection attempt started (TCP SYN sent). */
export function soIsConnecting(so: Socket): void {
  so.state &= ~(SS.ISCONNECTED | SS.ISDISCONNECTING);
  so.state |= SS.ISCONNECTING;
}

/**
 * `soisconnected`: the connection is up. A socket on a listener's
 * incomplete queue moves to the completed queue and the listener wakes
 * (accept); otherwise connect's waiters wake.
 */
export function soIsConnected(so: Socket): void {
  so.state &= ~(SS.ISCONNECTING | SS.ISDISCONNECTING | SS.ISDISCONNECTED);
  so.state |= SS.ISCONNECTED;
  const head = so.head;
  if (head !== null && head.q0.has(so)) {
    head.q0.delete(so);
    head.q.push(so);
    soWakeAll(head);
  }
  soWakeAll(so);
}

/** `soisdisconnecting`: teardown started; no more data either way. */
export function soIsDisconnecting(so: Socket): void {
  so.state &= ~SS.ISCONNECTING;
  so.state |= SS.ISDISCONNECTING | SS.CANTRCVMORE | SS.CANTSENDMORE;
  soWakeAll(so);
}

/** `soisdisconnected`: the connection is gone. */
export function soIsDisconnected(so: Socket): void {
  so.state &= ~(SS.ISCONNECTING | SS.ISCONNECTED | SS.ISDISCONNECTING);
  so.state |= SS.CANTRCVMORE | SS.CANTSENDMORE | SS.ISDISCONNECTED;
  soWakeAll(so);
}

/** `socantsendmore`: the send side is shut (shutdown(SHUT_WR), or the peer is gone). */
export function soCantSendMore(so: Socket): void {
  so.state |= SS.CANTSENDMORE;
  soWwakeup(so);
}

/** `socantrcvmore`: no more data will arrive (FIN received, or shutdown(SHUT_RD)). */
export function soCantRcvMore(so: Socket): void {
  so.state |= SS.CANTRCVMORE;
  soRwakeup(so);
}

/**
 * `soreserve`: size both buffers and default their low-water marks (receive
 * 1, send `MCLBYTES` capped at the buffer), checking `kern.sbmax`.
 * @returns 0 or ENOBUFS.
 */
export function soReserve(so: Socket, sndcc: number, rcvcc: number): number {
  const sbmax = so.layer.tunables.sbmax;
  const mcl = so.layer.host.pool.mclbytes;
  if (!so.snd.reserve(sndcc, sbmax, mcl) || !so.rcv.reserve(rcvcc, sbmax, mcl)) return Errno.ENOBUFS;
  if (so.rcv.lowat === 0) so.rcv.lowat = 1;
  if (so.snd.lowat === 0) so.snd.lowat = mcl;
  if (so.snd.lowat > so.snd.hiwat) so.snd.lowat = so.snd.hiwat;
  return 0;
}
