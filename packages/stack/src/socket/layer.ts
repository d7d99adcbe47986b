/**
 * The socket layer of one stack: its protocol switch (the `AF_INET` domain
 * and the protocols registered in it), its tunables (`kern.sbmax`, buffer
 * defaults, ephemeral port range), and the life cycle of sockets —
 * `socreate`, `sonewconn`, `soclose`, `soabort`, `sofree` (NetBSD
 * `uipc_socket.c`, `uipc_socket2.c`, `uipc_domain.c`).
 *
 * @example
 * ```ts
 * const layer = new SocketLayer(host);       // host: the Stack (InetHost)
 * const udp = new UdpProtocol(layer);        // registers itself with layer and IP
 * const table = new SocketTable(layer);      // one per client process
 * const fd = table.socket(AF_INET, SOCK.DGRAM, 0);
 * ```
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import { COPY_WINDOW_MAX } from '../mbuf/uio.js';
import { PR, SOOPT, SS } from './constants.js';
import type { InetHost } from './host.js';
import type { Protosw } from './protosw.js';
import { Socket, soReserve } from './socket.js';

/** Run-time tunables of the socket layer, each a sysctl node when the host has a tree. */
export interface SocketTunables {
  /** `kern.sbmax`: most storage one socket buffer may reserve (bytes). */
  sbmax: number;
  /** `kern.somaxconn`: the cap on a listen backlog. */
  somaxconn: number;
  /** `net.inet.udp.sendspace`: default UDP send buffer; also the largest datagram a default socket may send. */
  udpSendspace: number;
  /** `net.inet.udp.recvspace`: default UDP receive buffer. */
  udpRecvspace: number;
  /** `net.inet.tcp.sendspace`: default TCP send buffer (for TCP to use). */
  tcpSendspace: number;
  /** `net.inet.tcp.recvspace`: default TCP receive buffer (for TCP to use). */
  tcpRecvspace: number;
  /** `net.inet.ip.anonportmin`: lowest ephemeral port. */
  anonportmin: number;
  /** `net.inet.ip.anonportmax`: highest ephemeral port. */
  anonportmax: number;
  /**
   * `net.inet6.ip6.v6only`: whether new `AF_INET6` sockets start
   * `IPV6_V6ONLY`. 0 as Linux's `net.ipv6.bindv6only` (NetBSD has 1): the
   * clients are Linux programs, and Node's `listen('::')` expects IPv4 too.
   */
  v6only: number;
  /**
   * `kern.copywindow`: copy requests `sosend` keeps outstanding while it
   * fills clusters from the caller (1..64). 1 is NetBSD's one `uiomove` at
   * a time — one round trip per (extended) cluster in a rump server; more
   * asks for the next clusters before the previous copy is answered,
   * within the send buffer's space.
   */
  copyWindow: number;
}

/**
 * Defaults. They depart from NetBSD's where its values would break what
 * this stack must do out of the box: NetBSD's `udp_sendspace` of 9216 makes
 * any larger datagram EMSGSIZE and its `udp_recvspace` of 41600 cannot
 * hold one 65507-byte datagram; here a default UDP socket sends and
 * receives the largest datagram (as on Linux). `sbmax` is 4 MiB (NetBSD
 * 256 KiB) so that TCP can use windows for a high bandwidth-delay path.
 */
export const DEFAULT_TUNABLES: Readonly<SocketTunables> = {
  sbmax: 4 * 1024 * 1024,
  somaxconn: 128,
  udpSendspace: 65536,
  udpRecvspace: 2 * 65536 + 16384,
  tcpSendspace: 64 * 1024,
  tcpRecvspace: 64 * 1024,
  anonportmin: 49152,
  anonportmax: 65535,
  v6only: 0,
  copyWindow: 1,
};

/** The socket layer of one stack. */
export class SocketLayer {
  /** The stack services. */
  readonly host: InetHost;
  /** Current tunables (mutable through sysctl). */
  readonly tunables: SocketTunables;
  /** Clusters per copy request for `sosend` (`MCLNUM`). */
  readonly mclnum: number;
  private readonly protos: Protosw[] = [];
  private readonly live = new Set<Socket>();
  private nextId = 1;

  /**
   * Make the layer and register its tunables under `kern.*`,
   * `net.inet.udp.{send,recv}space`, `net.inet.tcp.{send,recv}space` and
   * `net.inet.ip.anonport{min,max}` when the host has a sysctl tree.
   * @throws StackError EEXIST when those sysctl names are already taken
   *   (a second layer on one tree: a set-up error).
   */
  constructor(host: InetHost, tunables: Partial<SocketTunables> = {}) {
    this.host = host;
    this.tunables = { ...DEFAULT_TUNABLES, ...tunables };
    this.mclnum = host.mclnum ?? host.pool.mclnum;
    const sc = host.sysctl;
    if (sc !== undefined) {
      const t = this.tunables;
      const node = (name: string, key: keyof SocketTunables, min: number, max: number, description: string) =>
        sc.addInt(name, { get: () => t[key], set: (v) => (t[key] = v), min, max, description });
      node('kern.sbmax', 'sbmax', 16 * 1024, 1 << 30, 'Most storage one socket buffer may reserve');
      node('kern.somaxconn', 'somaxconn', 1, 65535, 'Cap on the listen backlog');
      node('net.inet.udp.sendspace', 'udpSendspace', 1, 1 << 30, 'Default UDP send buffer size');
      node('net.inet.udp.recvspace', 'udpRecvspace', 1, 1 << 30, 'Default UDP receive buffer size');
      node('net.inet.tcp.sendspace', 'tcpSendspace', 1, 1 << 30, 'Default TCP send buffer size');
      node('net.inet.tcp.recvspace', 'tcpRecvspace', 1, 1 << 30, 'Default TCP receive buffer size');
      node('net.inet.ip.anonportmin', 'anonportmin', 1024, 65535, 'Lowest ephemeral port');
      node('net.inet.ip.anonportmax', 'anonportmax', 1024, 65535, 'Highest ephemeral port');
      node('net.inet6.ip6.v6only', 'v6only', 0, 1, 'New AF_INET6 sockets are IPV6_V6ONLY');
      node('kern.copywindow', 'copyWindow', 1, COPY_WINDOW_MAX, 'Copy requests sosend keeps outstanding (1 = NetBSD)');
    }
  }

  /**
   * Add a protocol to the switch (`domain_attach`). A second protocol with
   * the same domain, type and number replaces nothing: it throws.
   * @throws Error on a duplicate (set-up error).
   */
  addProtocol(pr: Protosw): void {
    if (this.protos.some((p) => p.domain === pr.domain && p.type === pr.type && p.protocol === pr.protocol)) {
      throw new Error(`protocol ${pr.name} (${pr.domain}/${pr.type}/${pr.protocol}) already registered`);
    }
    this.protos.push(pr);
  }

  /**
   * Find the protocol for `socket(domain, type, protocol)` (`pffindproto`,
   * `pffindtype`): EAFNOSUPPORT for a domain no protocol registered (today
   * AF_INET and AF_INET6),
   * EPROTONOSUPPORT for an unknown protocol (or a type without one),
   * EPROTOTYPE when the protocol exists but not for that type.
   */
  findProto(domain: number, type: number, protocol: number): Protosw | { errno: number } {
    if (!this.protos.some((p) => p.domain === domain)) return { errno: Errno.EAFNOSUPPORT };
    if (protocol !== 0) {
      const exact = this.protos.find((p) => p.domain === domain && p.protocol === protocol && p.type === type);
      if (exact !== undefined) return exact;
      if (this.protos.some((p) => p.domain === domain && p.protocol === protocol)) return { errno: Errno.EPROTOTYPE };
      return { errno: Errno.EPROTONOSUPPORT };
    }
    const byType = this.protos.find((p) => p.domain === domain && p.type === type);
    return byType ?? { errno: Errno.EPROTONOSUPPORT };
  }

  /**
   * Create a socket (`socreate`): find the protocol and attach it.
   * @returns the socket (owned by the caller until closed) or an errno.
   */
  create(domain: number, type: number, protocol: number): Socket | { errno: number } {
    const pr = this.findProto(domain, type, protocol);
    if (!('usrreqs' in pr)) return pr;
    const so = new Socket(this, pr, this.nextId++);
    const err = pr.usrreqs.attach(so, protocol);
    if (err !== 0) {
      so.state |= SS.CLOSED | SS.NOFDREF;
      return { errno: err };
    }
    this.live.add(so);
    return so;
  }

  /**
   * A new connection arrived on listener `head` (`sonewconn`): make a socket
   * of the same protocol with the listener's options and buffer sizes, put it
   * on the incomplete queue (`so_q0`), or straight on the completed queue
   * when `connected`. The caller (TCP) attaches its control block to it.
   * @returns the new socket, or null when the queues are full (the
   *   connection is to be dropped; `1.5 * qlimit` as BSD) or the attach failed.
   */
  newConn(head: Socket, connected: boolean): Socket | null {
    if (head.q0.size + head.q.length >= Math.floor((3 * head.qlimit) / 2) + 1) return null;
    const so = new Socket(this, head.proto, this.nextId++);
    so.options = head.options & ~SOOPT.ACCEPTCONN;
    so.linger = head.linger;
    so.state = (head.state & SS.NBIO) | SS.NOFDREF;
    // The listener's owner pays for what its unaccepted connections receive.
    so.account = head.account;
    if (head.proto.usrreqs.attach(so, head.proto.protocol) !== 0) return null;
    if (soReserve(so, head.snd.hiwat, head.rcv.hiwat) !== 0) {
      so.proto.usrreqs.detach(so);
      return null;
    }
    // Autosizing is inherited with the sizes (a listener's buffers never grew).
    so.snd.autosize = head.snd.autosize;
    so.snd.autoBase = head.snd.autoBase;
    this.live.add(so);
    so.head = head;
    if (connected) {
      head.q.push(so);
      head.stateWq.wakeAll();
      head.notify();
    } else head.q0.add(so);
    return so;
  }

  /**
   * Take the oldest completed connection off listener `head` (`soqremque` +
   * `soaccept`): the socket gets a descriptor reference again.
   * @returns the socket, or null when none is ready.
   */
  takeConn(head: Socket): Socket | null {
    const so = head.q.shift();
    if (so === undefined) return null;
    so.head = null;
    so.state &= ~SS.NOFDREF;
    return so;
  }

  /**
   * Close a socket (`soclose`): abort unaccepted connections of a listener,
   * disconnect a connected stream (waiting up to `SO_LINGER` seconds for it
   * unless non-blocking), fail every blocked operation (EBADF for send and
   * receive, ECONNABORTED for accept and connect), detach the protocol and
   * free the socket once the protocol lets go of it.
   * @returns 0, or the disconnect's errno (the socket is closed anyway).
   */
  async close(so: Socket): Promise<number> {
    if (so.closed) return 0;
    let error = 0;
    if (so.listening) {
      for (const c of [...so.q0, ...so.q]) this.abort(c);
    }
    const pr = so.proto;
    if (so.pcb !== null && (so.state & SS.ISCONNECTED) !== 0 && (pr.flags & PR.CONNREQUIRED) !== 0) {
      if ((so.state & SS.ISDISCONNECTING) === 0) error = pr.usrreqs.disconnect(so);
      if ((so.options & SOOPT.LINGER) !== 0 && so.linger > 0 && (so.state & SS.NBIO) === 0) {
        const deadline = this.host.clock.now() + so.linger * 1000;
        for (let i = 0; i < 10_000 && (so.state & SS.ISCONNECTED) !== 0; i++) {
          const left = deadline - this.host.clock.now();
          if (left <= 0) break;
          await so.stateWq.wait(this.host.clock, left);
        }
      }
    }
    this.discard(so, Errno.EBADF);
    return error;
  }

  /**
   * Abort a socket (`soabort`): the protocol drops the connection (TCP sends
   * a RST), every waiter fails, and the socket is freed. Used for unaccepted
   * connections of a closing listener and by the protocol itself.
   */
  abort(so: Socket): void {
    if (so.closed) return;
    if (so.pcb !== null) so.proto.usrreqs.abort(so);
    this.discard(so, Errno.ECONNABORTED);
  }

  private discard(so: Socket, errno: number): void {
    so.state |= SS.CLOSED | SS.NOFDREF;
    so.rcv.wq.abort(errno);
    so.snd.wq.abort(errno);
    so.rcv.lock.abort(errno);
    so.snd.lock.abort(errno);
    so.stateWq.abort(Errno.ECONNABORTED);
    so.notify();
    if (so.pcb !== null) so.proto.usrreqs.detach(so);
    this.free(so);
  }

  /**
   * Free a socket whose user has gone and whose protocol has let go of it
   * (`sofree`): unlink it from a listener's queue and flush its buffers. A
   * protocol that kept its control block past close (TCP finishing a
   * graceful close) calls this after setting `so.pcb = null`.
   */
  free(so: Socket): void {
    if (so.pcb !== null || (so.state & SS.NOFDREF) === 0) return;
    if (so.head !== null) {
      so.head.q0.delete(so);
      const i = so.head.q.indexOf(so);
      if (i >= 0) so.head.q.splice(i, 1);
      so.head = null;
    }
    so.snd.flush();
    so.rcv.flush();
    so.account = null;
    this.live.delete(so);
  }

  /** Sockets alive (created and not yet freed), for `netstat -a` and leak checks. */
  sockets(): Socket[] {
    return [...this.live];
  }

  /** Number of live sockets. */
  get count(): number {
    return this.live.size;
  }
}
