/**
 * A descriptor table with the socket system calls on it — the part of
 * `sys_socket.c` / `uipc_syscalls.c` a rump server's syscall handlers call,
 * one table per client process.
 *
 * Result convention (the data path never throws):
 * - calls that only succeed or fail return an errno **number** (0 = ok):
 *   `bind`, `listen`, `shutdown`, `setsockopt`, `setNonblocking`, and the
 *   promises of `connect` and `close`;
 * - calls that produce a value return an object with `errno` (0 = ok) and
 *   the value: `socket`, `accept`, `getsockopt`, `getsockname`,
 *   `getpeername`, `nread`, `poll`, `sendto` ({@link SendResult}),
 *   `recvfrom` ({@link ReceiveResult}).
 * A descriptor that is not open in *this* table is EBADF (another client's
 * numbers mean nothing here).
 *
 * @module
 */
import { EWOULDBLOCK, Errno } from '../kern/errno.js';
import type { CopySink, CopySource, Uio } from '../mbuf/index.js';
import { AF, PR, SHUT, SOCK_CLOEXEC, SOCK_NONBLOCK, SOOPT, SS } from './constants.js';
import type { SocketLayer } from './layer.js';
import { soPoll } from './poll.js';
import type { SockoptValue } from './protosw.js';
import { checkSockaddr } from './sockaddr.js';
import type { Sockaddr } from './sockaddr.js';
import type { SbAccount } from './sockbuf.js';
import { soCantRcvMore, soCantSendMore } from './socket.js';
import type { Socket } from './socket.js';
import { soGetopt, soSetopt } from './sockopt.js';
import { soReceive } from './soreceive.js';
import type { ReceiveResult } from './soreceive.js';
import { soSend } from './sosend.js';
import type { SendResult } from './sosend.js';

/** Options of a {@link SocketTable}. */
export interface SocketTableOptions {
  /** Most open descriptors (EMFILE beyond); default 1024. */
  maxFds?: number;
  /**
   * The account every socket of this table is charged to (a rump client's
   * cluster quota; see {@link SbAccount}); none by default.
   */
  account?: SbAccount;
}

/** One entry of {@link SocketTable.poll}. */
export interface PollFd {
  fd: number;
  /** `POLL*` bits of interest. */
  events: number;
}

/**
 * Check an address a user gave for socket `so`: well formed (EINVAL), of a
 * family we know, and of the socket's own domain (EAFNOSUPPORT, as Linux
 * answers a `sockaddr_in6` given to an `AF_INET` socket).
 */
function addrErrno(so: Socket, sa: Sockaddr | null | undefined): number {
  if (sa !== null && typeof sa === 'object' && sa.family !== so.proto.domain) return Errno.EAFNOSUPPORT;
  const c = checkSockaddr(sa);
  return c === 0 ? 0 : c === 'family' ? Errno.EAFNOSUPPORT : Errno.EINVAL;
}

/** The descriptor table of one client (process). */
export class SocketTable {
  /** The socket layer the sockets live in. */
  readonly layer: SocketLayer;
  /** Most open descriptors. */
  readonly maxFds: number;
  /** The account the table's sockets are charged to, or null. */
  readonly account: SbAccount | null;
  private readonly fdmap = new Map<number, Socket>();

  constructor(layer: SocketLayer, opts: SocketTableOptions = {}) {
    this.layer = layer;
    this.maxFds = opts.maxFds ?? 1024;
    this.account = opts.account ?? null;
  }

  /** Open descriptors now. */
  get size(): number {
    return this.fdmap.size;
  }

  /** The open descriptors, ascending. */
  fds(): number[] {
    return [...this.fdmap.keys()].sort((a, b) => a - b);
  }

  /** The socket behind `fd`, or null when it is not open here. */
  get(fd: number): Socket | null {
    return this.fdmap.get(fd) ?? null;
  }

  private alloc(so: Socket): number {
    // POSIX: the lowest free descriptor.
    for (let fd = 0; fd < this.maxFds; fd++) {
      if (!this.fdmap.has(fd)) {
        this.fdmap.set(fd, so);
        return fd;
      }
    }
    return -1;
  }

  /**
   * `socket(2)`. `type` may carry `SOCK_NONBLOCK` (and `SOCK_CLOEXEC`, ignored).
   * @returns the new descriptor, or EAFNOSUPPORT / EPROTONOSUPPORT /
   *   EPROTOTYPE / EMFILE / ENOBUFS.
   */
  socket(domain: number, type: number, protocol: number): { errno: number; fd: number } {
    if (this.fdmap.size >= this.maxFds) return { errno: Errno.EMFILE, fd: -1 };
    const nb = (type & SOCK_NONBLOCK) !== 0;
    const so = this.layer.create(domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol);
    if ('errno' in so) return { errno: so.errno, fd: -1 };
    if (nb) so.state |= SS.NBIO;
    if (this.account !== null) so.account = this.account;
    return { errno: 0, fd: this.alloc(so) };
  }

  /** `bind(2)`: 0, EBADF, EAFNOSUPPORT, EINVAL, EADDRINUSE, EADDRNOTAVAIL. */
  bind(fd: number, addr: Sockaddr): number {
    const so = this.get(fd);
    if (so === null) return Errno.EBADF;
    const e = addrErrno(so, addr);
    if (e !== 0) return e;
    return so.proto.usrreqs.bind(so, addr);
  }

  /**
   * `listen(2)` (`solisten`): the backlog is capped by `kern.somaxconn`
   * (negative means the cap). EOPNOTSUPP for datagram sockets, EINVAL when
   * connected.
   */
  listen(fd: number, backlog: number): number {
    const so = this.get(fd);
    if (so === null) return Errno.EBADF;
    if ((so.proto.flags & PR.LISTEN) === 0) return Errno.EOPNOTSUPP;
    if ((so.state & (SS.ISCONNECTED | SS.ISCONNECTING | SS.ISDISCONNECTING)) !== 0) return Errno.EINVAL;
    const err = so.proto.usrreqs.listen(so, backlog);
    if (err !== 0) return err;
    const max = this.layer.tunables.somaxconn;
    so.qlimit = backlog < 0 || !Number.isInteger(backlog) ? max : Math.min(backlog, max);
    so.options |= SOOPT.ACCEPTCONN;
    so.notify();
    return 0;
  }

  /**
   * `connect(2)` (`soconnect` + the wait of `sys_connect`). A datagram socket
   * may connect again (the old association is dropped) or disconnect with
   * an `AF_UNSPEC` address. A stream connect waits for the handshake unless
   * non-blocking (EINPROGRESS; EALREADY while one is under way).
   * @returns 0 or EBADF, EAFNOSUPPORT, EINVAL, EISCONN, EOPNOTSUPP (a
   *   listener), EADDRNOTAVAIL, ENETUNREACH, ECONNREFUSED, ETIMEDOUT, ...
   */
  async connect(fd: number, addr: Sockaddr): Promise<number> {
    const so = this.get(fd);
    if (so === null) return Errno.EBADF;
    if (so.listening) return Errno.EOPNOTSUPP;
    const pr = so.proto;
    if (addr !== null && typeof addr === 'object' && addr.family === AF.UNSPEC && (pr.flags & PR.CONNREQUIRED) === 0) {
      return (so.state & SS.ISCONNECTED) !== 0 ? pr.usrreqs.disconnect(so) : 0;
    }
    const e = addrErrno(so, addr);
    if (e !== 0) return e;
    if ((so.state & SS.NBIO) !== 0 && (so.state & SS.ISCONNECTING) !== 0) return Errno.EALREADY;
    if ((so.state & (SS.ISCONNECTED | SS.ISCONNECTING)) !== 0) {
      if ((pr.flags & PR.CONNREQUIRED) !== 0 || pr.usrreqs.disconnect(so) !== 0) return Errno.EISCONN;
    }
    let err = pr.usrreqs.connect(so, addr);
    if (err !== 0) return err;
    if ((so.state & SS.NBIO) !== 0 && (so.state & SS.ISCONNECTING) !== 0) return Errno.EINPROGRESS;
    // Each pass sleeps until a state change (or close: ECONNABORTED).
    while ((so.state & SS.ISCONNECTING) !== 0 && so.error === 0) {
      const w = await so.stateWq.wait(this.layer.host.clock);
      if (w !== 0) return w;
    }
    err = so.takeError();
    return err;
  }

  /**
   * `accept(2)`: wait for a completed connection (EWOULDBLOCK when
   * non-blocking and none), give it a descriptor and return the peer.
   * A listener closed meanwhile gives ECONNABORTED.
   */
  async accept(fd: number, flags = 0): Promise<{ errno: number; fd: number; addr: Sockaddr | null }> {
    const so = this.get(fd);
    const fail = (errno: number) => ({ errno, fd: -1, addr: null });
    if (so === null) return fail(Errno.EBADF);
    if (!so.listening) return fail(Errno.EINVAL);
    // Each pass takes a connection or sleeps until one arrives (or close).
    for (;;) {
      if (so.closed) return fail(Errno.ECONNABORTED);
      if (so.error !== 0) return fail(so.takeError());
      if (so.q.length > 0) break;
      if ((so.state & SS.NBIO) !== 0) return fail(EWOULDBLOCK);
      const w = await so.stateWq.wait(this.layer.host.clock, so.rcv.timeoutMs);
      if (w !== 0) return fail(w);
    }
    if (this.fdmap.size >= this.maxFds) return fail(Errno.EMFILE);
    const nso = this.layer.takeConn(so)!;
    if (this.account !== null) nso.account = this.account;
    const err = nso.proto.usrreqs.accept(nso);
    if (err !== 0) {
      await this.layer.close(nso);
      return fail(err);
    }
    if ((flags & SOCK_NONBLOCK) !== 0) nso.state |= SS.NBIO;
    else nso.state &= ~SS.NBIO;
    return { errno: 0, fd: this.alloc(nso), addr: nso.proto.usrreqs.peeraddr(nso) };
  }

  /**
   * `sendto(2)` / `send(2)`: the bytes come from `source` through `uio`
   * (see {@link soSend}). `addr` is for unconnected datagram sockets.
   */
  async sendto(fd: number, uio: Uio, source: CopySource, addr: Sockaddr | null = null, flags = 0): Promise<SendResult> {
    const so = this.get(fd);
    if (so === null) return { errno: Errno.EBADF, bytes: 0, requests: 0 };
    if (addr !== null) {
      const e = addrErrno(so, addr);
      if (e !== 0) return { errno: e, bytes: 0, requests: 0 };
    }
    return soSend(so, uio, source, { addr, flags });
  }

  /**
   * `recvfrom(2)` / `recv(2)`: the bytes go to `sink` through `uio`, one
   * copyout per mbuf or one for all with `coalesce` (see {@link soReceive}).
   */
  async recvfrom(fd: number, uio: Uio, sink: CopySink, flags = 0, coalesce = false): Promise<ReceiveResult> {
    const so = this.get(fd);
    if (so === null) return { errno: Errno.EBADF, bytes: 0, addr: null, flags: 0, requests: 0 };
    return soReceive(so, uio, sink, { flags, coalesce });
  }

  /**
   * `shutdown(2)` (`soshutdown`): SHUT_RD discards queued data and ends
   * reading; SHUT_WR tells the protocol (TCP sends FIN). EINVAL for another
   * `how`; ENOTCONN when not connected.
   */
  shutdown(fd: number, how: number): number {
    const so = this.get(fd);
    if (so === null) return Errno.EBADF;
    if (how !== SHUT.RD && how !== SHUT.WR && how !== SHUT.RDWR) return Errno.EINVAL;
    if ((so.state & (SS.ISCONNECTED | SS.ISCONNECTING)) === 0) return Errno.ENOTCONN;
    let err = 0;
    if (how !== SHUT.WR) {
      // sorflush: nothing queued is delivered any more.
      so.rcv.flush();
      soCantRcvMore(so);
    }
    if (how !== SHUT.RD) {
      soCantSendMore(so);
      err = so.proto.usrreqs.shutdown(so);
    }
    return err;
  }

  /** `close(2)`: release the descriptor and close the socket (see {@link SocketLayer.close}). */
  async close(fd: number): Promise<number> {
    const so = this.get(fd);
    if (so === null) return Errno.EBADF;
    this.fdmap.delete(fd);
    return this.layer.close(so);
  }

  /** Close every descriptor (the client went away). Never rejects. */
  async closeAll(): Promise<void> {
    const all = [...this.fdmap.entries()];
    this.fdmap.clear();
    // Non-blocking: a departed client does not linger.
    for (const [, so] of all) so.state |= SS.NBIO;
    await Promise.all(all.map(([, so]) => this.layer.close(so)));
  }

  /** `setsockopt(2)` (see {@link soSetopt}). */
  setsockopt(fd: number, level: number, name: number, value: SockoptValue): number {
    const so = this.get(fd);
    if (so === null) return Errno.EBADF;
    return soSetopt(so, level, name, value);
  }

  /** `getsockopt(2)` (see {@link soGetopt}); `SO_ERROR` clears the error. */
  getsockopt(fd: number, level: number, name: number): { errno: number; value: SockoptValue | null } {
    const so = this.get(fd);
    if (so === null) return { errno: Errno.EBADF, value: null };
    const v = soGetopt(so, level, name);
    if (typeof v === 'object' && v !== null && 'errno' in v) return { errno: v.errno, value: null };
    return { errno: 0, value: v };
  }

  /** `getsockname(2)`: the local address (0.0.0.0:0 when unbound). */
  getsockname(fd: number): { errno: number; addr: Sockaddr | null } {
    const so = this.get(fd);
    if (so === null) return { errno: Errno.EBADF, addr: null };
    return { errno: 0, addr: so.proto.usrreqs.sockaddr(so) };
  }

  /** `getpeername(2)`: the peer, or ENOTCONN. */
  getpeername(fd: number): { errno: number; addr: Sockaddr | null } {
    const so = this.get(fd);
    if (so === null) return { errno: Errno.EBADF, addr: null };
    const a = (so.state & SS.ISCONNECTED) !== 0 ? so.proto.usrreqs.peeraddr(so) : null;
    return a === null ? { errno: Errno.ENOTCONN, addr: null } : { errno: 0, addr: a };
  }

  /** `fcntl(F_SETFL, O_NONBLOCK)` / `FIONBIO`. */
  setNonblocking(fd: number, on: boolean): number {
    const so = this.get(fd);
    if (so === null) return Errno.EBADF;
    if (on) so.state |= SS.NBIO;
    else so.state &= ~SS.NBIO;
    return 0;
  }

  /** `FIONREAD`: bytes queued for reading (for a datagram socket, the first datagram's size). */
  nread(fd: number): { errno: number; value: number } {
    const so = this.get(fd);
    if (so === null) return { errno: Errno.EBADF, value: 0 };
    const rcv = so.rcv;
    const atomic = (so.proto.flags & PR.ATOMIC) !== 0;
    return { errno: 0, value: atomic ? (rcv.first?.len ?? 0) : rcv.cc };
  }

  /**
   * `poll(2)`: wait up to `timeoutMs` (negative: forever, 0: just look) for
   * any entry to have events. A descriptor not open here is POLLNVAL.
   * @returns `revents` per entry and the number of entries with events.
   */
  async poll(fds: readonly PollFd[], timeoutMs: number): Promise<{ errno: number; revents: number[]; nready: number }> {
    if (fds.length > this.maxFds) return { errno: Errno.EINVAL, revents: [], nready: 0 };
    const entries = fds.map((p) => ({ so: this.get(p.fd), events: p.events }));
    const revents = await soPoll(entries, timeoutMs, this.layer.host.clock);
    return { errno: 0, revents, nready: revents.filter((r) => r !== 0).length };
  }
}
