/**
 * A UDP socket on the rump stack shaped like `node:dgram`'s `Socket`.
 *
 * Every operation that changes the socket or sends — bind, connect,
 * disconnect, send, option changes — goes through one ordered queue, so the
 * server sees them in call order (as a kernel sees one thread's system
 * calls), and a `send()` before `bind()` binds implicitly first, as `dgram`
 * does. Receiving is a separate loop of blocking `recvfrom` calls, running
 * while the socket is bound: each datagram becomes a `'message'` event with a
 * buffer the listener owns.
 *
 * `udp6` sockets are AF_INET6 sockets: bound to `::` they take IPv4 too
 * (senders show as `::ffff:a.b.c.d`), unless `ipv6Only`; as in Node an
 * address of the other family is `EINVAL`.
 *
 * Errors are Node-shaped: `bind EADDRINUSE 0.0.0.0:53`, `send ENETUNREACH
 * 10.9.9.9:53`; on a connected socket an ICMP port unreachable comes back
 * as `'error'` with `ECONNREFUSED` (BSD reports it through `so_error` on the
 * next call on a connected socket).
 */
import { EventEmitter } from 'node:events';
import type { RumpConnection } from './connection.js';
import {
  checkPort,
  codedError,
  connectionFor,
  KeepAlive,
  ignore,
  parseIp,
  relabel,
  domainOf,
  familyName,
  sockaddrFor,
  type HostAddress,
  type LookupFunction,
  type RumpOptions,
} from './shared.js';
import { errnoValue, syscallError } from './errors.js';
import type { AddressInfo } from './socket.js';
import { checkSendtoArgs, normalizeSendArgs, type SendCallback } from './dgram-args.js';
import { checkAbortSignal, checkFunction, checkString } from './validate.js';
import * as dns from 'node:dns';
import type { IpMreqArg, SockAddr, SockOptLevel, SockOptValue } from './syscalls.js';
import { isIPv4 } from 'node:net';
import {
  bufferSizeError,
  checkBufferOption,
  checkBufferSize,
  checkTtl,
  errnoError,
  invalidArgType,
  isNeverLocal4,
  Memberships,
} from './dgram-opts.js';

/** Largest UDP payload (IPv6's 65535 − 8; IPv4's is 65507); a larger receive buffer is never needed. */
const MAX_DGRAM = 65527;
/** Consecutive receive failures (other than ECONNREFUSED) after which the loop gives up. */
const MAX_RECV_FAILURES = 100;

/** `'message'` sender information, as `dgram` gives it. */
export interface RemoteInfo {
  /** Dotted quad, or IPv6 text (`::ffff:a.b.c.d` for an IPv4 sender to a dual-stack `udp6` socket). */
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  /** Bytes in the datagram. */
  size: number;
}

/** Options of {@link createSocket}. */
export interface DgramSocketOptions extends RumpOptions {
  /** `'udp4'` (AF_INET) or `'udp6'` (AF_INET6, taking IPv4 too unless {@link DgramSocketOptions.ipv6Only}). */
  readonly type: 'udp4' | 'udp6';
  /** A `udp6` socket speaks IPv6 only (`IPV6_V6ONLY`): `bind('::')` leaves IPv4's port free. */
  readonly ipv6Only?: boolean;
  /** Set `SO_REUSEADDR` before binding. */
  readonly reuseAddr?: boolean;
  /** Receive buffer size (`SO_RCVBUF`), set at bind. */
  readonly recvBufferSize?: number;
  /** Send buffer size (`SO_SNDBUF`), set at bind. */
  readonly sendBufferSize?: number;
  /** Custom name lookup. */
  readonly lookup?: LookupFunction;
  /** Closes the socket when aborted. */
  readonly signal?: AbortSignal;
}

/** Options of {@link DgramSocket.bind}. */
export interface BindOptions {
  readonly port?: number;
  readonly address?: string;
  readonly exclusive?: boolean;
}

/** What `send()` takes: one buffer or string, or several sent as one datagram. */
export type Msg = string | Uint8Array | readonly (string | Uint8Array)[];

/** The `node:dns` export object: its `lookup` is read at each call, as dgram does. */
const dnsM = (dns as unknown as { default?: typeof dns }).default ?? dns;
/** What a send dropped by close() before its bind resolves with (no callback runs). */
const DROPPED = -1;

/**
 * A UDP socket on the rump stack. Events: `listening`, `connect`,
 * `message(msg, rinfo)`, `error`, `close`. Buffers passed to `send()` must
 * not change until its callback.
 */
export class DgramSocket extends EventEmitter {
  /** `'udp4'` or `'udp6'`, as created. */
  readonly type: 'udp4' | 'udp6';
  #rump: RumpOptions;
  #opts: DgramSocketOptions;
  #conn: RumpConnection | undefined;
  #fd: number | undefined;
  #state: 'unbound' | 'binding' | 'bound' | 'closed' = 'unbound';
  #local: SockAddr | undefined;
  #remote: SockAddr | undefined;
  #connecting = false;
  #queue: Promise<void> = Promise.resolve();
  /** Receiving is an active handle; every queued operation a request (see {@link KeepAlive}). */
  readonly #life = new KeepAlive();
  #receiving = false;
  /** Memberships held, mirrored for Node's synchronous errors (`dgram-opts.ts`). */
  readonly #groups = new Memberships();
  /** `SO_RCVBUF` / `SO_SNDBUF` as last read from (or sent to) the server. */
  #bufSize = { recv: 0, send: 0 };
  /** Sends not yet answered by the server: `getSendQueueCount()` / `getSendQueueSize()`. */
  #sendQueue = { count: 0, bytes: 0 };

  /** Use {@link createSocket}. */
  constructor(options: DgramSocketOptions, messageListener?: (msg: Buffer, rinfo: RemoteInfo) => void) {
    super();
    if (options.type !== 'udp4' && options.type !== 'udp6') {
      throw codedError(TypeError, 'ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6');
    }
    this.type = options.type;
    // As dgram's constructor: a lookup that is given must be a function.
    if (options.lookup !== undefined) checkFunction(options.lookup, 'lookup');
    checkBufferOption('recvBufferSize', options.recvBufferSize);
    checkBufferOption('sendBufferSize', options.sendBufferSize);
    this.#opts = options;
    this.#rump = {
      ...(options.rumpServer !== undefined ? { rumpServer: options.rumpServer } : {}),
      ...(options.connection ? { connection: options.connection } : {}),
    };
    if (messageListener) this.on('message', messageListener);
    // As dgram's constructor: the signal is checked, and an aborted one closes at once.
    if (options.signal !== undefined) {
      const signal = checkAbortSignal(options.signal, 'options.signal');
      const onAbort = (): void => void (this.#state !== 'closed' && this.close());
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  /** Runs `fn` after every earlier operation; its failure does not stop later ones. */
  #op<T>(fn: () => Promise<T>): Promise<T> {
    // Each is a request (a send, a bind's lookup): it finishes even on an unref'd socket, as in dgram.
    const p = this.#life.req(this.#queue.then(fn));
    this.#queue = p.then(ignore, ignore);
    return p;
  }

  /**
   * Binds to `port` (0: any) on `address` (default `0.0.0.0`, `::` for `udp6`); emits
   * `'listening'` then starts receiving. Errors are emitted (`bind
   * EADDRINUSE 0.0.0.0:5353`). Throws `ERR_SOCKET_ALREADY_BOUND` when bound.
   */
  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(callback?: () => void): this;
  bind(options: BindOptions, callback?: () => void): this;
  bind(...args: unknown[]): this {
    if (this.#state === 'closed') throw codedError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    if (this.#state !== 'unbound') throw codedError(Error, 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    let port = 0;
    let address: string | undefined;
    if (args[0] !== null && typeof args[0] === 'object') {
      const o = args[0] as BindOptions;
      port = checkPort(o.port ?? 0);
      address = o.address;
    } else {
      port = checkPort(args[0] ?? 0);
      address = typeof args[1] === 'string' ? args[1] : undefined;
    }
    if (cb) {
      // As dgram: the callback is a 'listening' listener for this bind only; an 'error'
      // takes it away again (a bind retried after EADDRINUSE does not pile them up).
      const drop = (): void => {
        this.off('error', drop);
        this.off('listening', onListening);
      };
      const onListening = (): void => {
        drop();
        cb.call(this);
      };
      this.on('error', drop);
      this.on('listening', onListening);
    }
    this.#state = 'binding';
    void this.#op(() => this.#bind(port, address)).catch((err: Error) => this.#emitError(err));
    return this;
  }

  /** The socket's family: 4 or 6. */
  get #family(): 4 | 6 {
    return this.type === 'udp6' ? 6 : 4;
  }

  /**
   * `host`:`port` as a socket address of this socket's family (names looked
   * up in it, `localhost` its loopback); the other family is `EINVAL`, as
   * libuv's `uv_ip6_addr` / `uv_ip4_addr` say in Node.
   */
  async #sockaddr(conn: RumpConnection, host: string, port: number, syscall: string): Promise<SockAddr> {
    const r = await this.#lookup(host, syscall, port);
    if (r.family !== this.#family) throw syscallError(errnoValue('EINVAL') ?? 22, syscall, host, port);
    return sockaddrFor(conn, r, port, syscall);
  }

  /**
   * dgram's `lookup4`/`lookup6`: every address goes through the lookup —
   * the socket's `lookup` option, else `dns.lookup` as it is at the time of
   * the call (a program may have replaced it) — with the socket's family,
   * IP literals and the default addresses included. `localhost` that the
   * host's files do not resolve in this family is the stack's loopback all
   * the same (RFC 6761 6.3), as for TCP.
   */
  #lookup(host: string, syscall: string, port: number): Promise<HostAddress> {
    const own = this.#opts.lookup;
    const fn = (own ?? dnsM.lookup) as unknown as (h: string, family: number, cb: (err: Error | null, address?: unknown, family?: unknown) => void) => void;
    return new Promise((resolve, reject) => {
      fn(host, this.#family, (err, address) => {
        if (err) {
          if (own === undefined && host.toLowerCase() === 'localhost') return resolve({ address: this.#family === 6 ? '::1' : '127.0.0.1', family: this.#family });
          return reject(err);
        }
        const ip = typeof address === 'string' ? parseIp(address) : undefined;
        if (ip === undefined) return reject(syscallError(errnoValue('EINVAL') ?? 22, syscall, host, port));
        resolve(ip);
      });
    });
  }

  /** A new descriptor of the socket's domain (`udp6`: `IPV6_V6ONLY` as `ipv6Only` says). */
  async #socket(conn: RumpConnection): Promise<number> {
    const fd = await conn.sys.socket('dgram', { domain: domainOf(this.#family) });
    if (this.#family === 6) {
      await conn.sys.setsockopt(fd, 'ipv6', 'IPV6_V6ONLY', this.#opts.ipv6Only === true).catch(async (e: unknown) => {
        await conn.sys.close(fd).catch(ignore);
        throw e;
      });
    }
    return fd;
  }

  async #bind(port: number, host: string | undefined): Promise<void> {
    const where = host ?? (this.#family === 6 ? '::' : '0.0.0.0');
    try {
      const conn = await connectionFor(this.#rump);
      if (this.#state === 'closed') return;
      this.#conn = conn;
      this.#life.attach(conn);
      const addr = await this.#sockaddr(conn, where, port, 'bind');
      const fd = await this.#socket(conn);
      if (this.#isClosed()) return void conn.sys.close(fd).catch(ignore);
      this.#fd = fd;
      if (this.#opts.reuseAddr) {
        // libuv on the BSDs sets SO_REUSEPORT for UDP too: with BSD's rules (this stack's)
        // only that lets two sockets bind one address and port, as SO_REUSEADDR alone does on Linux.
        await conn.sys.setsockopt(fd, 'socket', 'SO_REUSEADDR', true);
        await conn.sys.setsockopt(fd, 'socket', 'SO_REUSEPORT', true);
      }
      if (this.#opts.recvBufferSize) await conn.sys.setsockopt(fd, 'socket', 'SO_RCVBUF', this.#opts.recvBufferSize);
      if (this.#opts.sendBufferSize) await conn.sys.setsockopt(fd, 'socket', 'SO_SNDBUF', this.#opts.sendBufferSize);
      await conn.sys.bind(fd, addr).catch((e: unknown) => {
        throw relabel(e, 'bind', where, port);
      });
      this.#local = await conn.sys.getsockname(fd);
      await this.#readBufSizes(conn, fd);
    } catch (err) {
      // As in dgram: a failed bind leaves the socket unbound (and closes the descriptor).
      if (this.#fd !== undefined) this.#conn?.sys.close(this.#fd).catch(ignore);
      this.#fd = undefined;
      if (this.#state === 'binding') this.#state = 'unbound';
      throw err;
    }
    if (this.#isClosed()) return;
    this.#state = 'bound';
    this.emit('listening');
    void this.#receive();
  }

  /** A method, not a field test, so the check is not narrowed away across awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  /** Implicit bind before the first send or connect, as `dgram` does (`bind(0)`). */
  #ensureBound(): void {
    if (this.#state === 'unbound') this.bind(0);
  }

  async #receive(): Promise<void> {
    if (this.#receiving) return;
    this.#receiving = true;
    this.#life.setActive(true); // recvStart: a bound socket keeps a ref'd process alive
    const conn = this.#conn!;
    const buf = Buffer.allocUnsafe(MAX_DGRAM);
    let failures = 0;
    // Bounded: ends at close, and after MAX_RECV_FAILURES unexplained failures in a row.
    while (this.#state === 'bound' && this.#fd !== undefined) {
      const fd = this.#fd;
      try {
        const r = await conn.call<{ bytes: number; addr?: SockAddr }>(
          'recvfrom',
          { fd, buf: 0, len: buf.length, flags: 0 },
          { buffers: { buf }, syscall: 'recvmsg' },
        );
        failures = 0;
        if (this.#state !== 'bound' || fd !== this.#fd) continue;
        const from = r.addr ?? this.#remote;
        // The listener owns the message: copy it out of the reused receive buffer.
        const msg = Buffer.from(buf.subarray(0, r.bytes));
        const rinfo: RemoteInfo = from
          ? { address: from.address, family: familyName(from), port: from.port, size: r.bytes }
          : { address: this.#family === 6 ? '::' : '0.0.0.0', family: this.#family === 6 ? 'IPv6' : 'IPv4', port: 0, size: r.bytes };
        this.emit('message', msg, rinfo);
      } catch (err) {
        if (this.#state !== 'bound' || fd !== this.#fd) continue; // closed, or re-bound by disconnect()
        const code = (err as { code?: string }).code;
        // BSD: an ICMP port unreachable sets so_error on a connected socket; the next recv reports it.
        if (code !== 'ECONNREFUSED' && ++failures >= MAX_RECV_FAILURES) {
          this.#emitError(relabel(err, 'recvmsg'));
          break;
        }
        if (code === 'ERR_RUMP_CLOSED' || code === 'ERR_RUMP_PROTOCOL') {
          this.#emitError(err as Error);
          break;
        }
        this.#emitError(relabel(err, 'recvmsg'));
      }
    }
    this.#receiving = false;
    this.#life.setActive(false);
  }

  /**
   * Sends one datagram: `send(msg[, offset, length][, port][, address][, cb])`.
   * `msg` may be a string, a buffer, or an array of them (sent as one
   * datagram). On a connected socket leave out port and address. `cb(err,
   * bytes)`; without a callback an error is emitted as `'error'`.
   */
  send(msg: Msg, offset: number, length: number, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Msg, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Msg, port?: number, callback?: SendCallback): void;
  send(msg: Msg, callback?: SendCallback): void;
  send(msg: Msg, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown, a5?: unknown): void {
    const connected = this.#remote !== undefined || this.#connecting;
    // dgram's own disambiguation and checks (lib/dgram.js Socket.prototype.send), then healthCheck.
    const { list, port, address: addrArg, callback: cb } = normalizeSendArgs(connected, [msg, a1, a2, a3, a4, a5]);
    if (this.#state === 'closed') throw codedError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    const data = list.length === 1 ? list[0]! : Buffer.concat(list);
    // dgram's default: the loopback of the socket's family.
    const address = port === undefined ? undefined : typeof addrArg === 'string' && addrArg !== '' ? addrArg : this.#family === 6 ? '::1' : '127.0.0.1';
    // A send made before the socket is bound waits for the bind (dgram's enqueue); a close()
    // before that drops it with its callback, as Node's queue is dropped. One made while bound
    // goes out even if close() follows at once (natively it is in the kernel already).
    const boundNow = this.#state === 'bound';
    this.#ensureBound();
    const q = this.#sendQueue;
    q.count++;
    q.bytes += data.length;
    this.#op(async () => {
      if (!boundNow && this.#state === 'closed') return DROPPED;
      const { conn, fd } = boundNow && this.#conn !== undefined && this.#fd !== undefined ? { conn: this.#conn, fd: this.#fd } : this.#usable('send');
      if (port === undefined) {
        const r = this.#remote;
        return conn.call<{ bytes: number }>('sendto', { fd, buf: 0, len: data.length, flags: 0 }, { buffers: { buf: data }, syscall: 'send' }).then(
          (x) => x.bytes,
          (e: unknown) => {
            throw relabel(e, 'send', r?.address, r?.port);
          },
        );
      }
      const to = await this.#sockaddr(conn, address!, port, 'send');
      return conn.sys.sendto(fd, data, to).catch((e: unknown) => {
        throw relabel(e, 'send', to.address, port);
      });
    })
      .finally(() => {
        q.count--;
        q.bytes -= data.length;
      })
      .then(
        (bytes) => bytes !== DROPPED && cb?.(null, bytes),
        (err: Error) => (cb ? cb(err, 0) : this.#emitError(err)),
      );
  }

  /**
   * dgram's legacy `sendto(buffer, offset, length, port, address[, callback])`:
   * every argument is checked (`ERR_INVALID_ARG_TYPE`), then it is {@link DgramSocket.send}.
   */
  sendto(buffer: Msg, offset: number, length: number, port: number, address: string, callback?: SendCallback): void {
    checkSendtoArgs(offset, length, port, address);
    this.send(buffer, offset, length, port, address, callback);
  }

  #usable(syscall: string): { conn: RumpConnection; fd: number } {
    if (this.#conn === undefined || this.#fd === undefined || this.#state !== 'bound') {
      throw relabel({ code: 'EBADF', errno: -9 }, syscall);
    }
    return { conn: this.#conn, fd: this.#fd };
  }

  /**
   * Associates the socket with one peer (`connect(2)` on UDP): sends go there
   * by default and only its datagrams are received. Emits `'connect'`, or
   * `'error'`. Binds implicitly first.
   */
  connect(port: number, address?: string, callback?: () => void): void;
  connect(port: number, callback?: () => void): void;
  connect(port: number, ...rest: unknown[]): void {
    // dgram's order: the port, the address's type, then the state.
    const p = checkPort(port, 'Port', false);
    let [address, callback] = rest;
    if (typeof address === 'function') {
      callback = address;
      address = '';
    } else if (address === undefined) address = '';
    const given = checkString(address, 'address');
    if (this.#remote !== undefined || this.#connecting) throw codedError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    const cb = typeof callback === 'function' ? (callback as () => void) : undefined;
    const host = given !== '' ? given : this.#family === 6 ? '::1' : '127.0.0.1';
    this.#connecting = true;
    if (cb) this.once('connect', cb);
    this.#ensureBound();
    this.#op(async () => {
      const { conn, fd } = this.#usable('connect');
      const remote = await this.#sockaddr(conn, host, p, 'connect');
      await conn.sys.connect(fd, remote);
      this.#remote = remote;
    }).then(
      () => {
        this.#connecting = false;
        this.emit('connect');
      },
      (err: Error) => {
        this.#connecting = false;
        this.#emitError(err);
      },
    );
  }

  /**
   * Dissolves the association made by {@link DgramSocket.connect}. The
   * contract's `connect` takes only an `inet` address (there is no
   * `AF_UNSPEC` disconnect yet), so this re-creates the socket on the same
   * local address and port: datagrams queued on the old one are lost.
   */
  disconnect(): void {
    // As dgram: only a connected socket (not one still connecting) can be disconnected.
    if (this.#remote === undefined) throw codedError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.#remote = undefined;
    this.#connecting = false;
    this.#op(async () => {
      const { conn, fd } = this.#usable('disconnect');
      const local = this.#local!;
      const nfd = await this.#socket(conn);
      await conn.sys.setsockopt(nfd, 'socket', 'SO_REUSEADDR', true).catch(ignore);
      // The new descriptor is the socket's before the old one closes: the receive standing
      // on the old one then fails as stale (EBADF), not as this socket's error.
      this.#fd = nfd;
      await conn.sys.close(fd); // first, so the port is free for the new socket
      await conn.sys.bind(nfd, local);
    }).catch((err: Error) => this.#emitError(err));
  }

  /**
   * Local address. As dgram: `ERR_SOCKET_DGRAM_NOT_RUNNING` once closed,
   * `getsockname EBADF` while not bound (libuv has no descriptor yet).
   */
  address(): AddressInfo {
    if (this.#state === 'closed') throw codedError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    if (!this.#local || this.#state !== 'bound') throw syscallError(errnoValue('EBADF') ?? 9, 'getsockname');
    return { address: this.#local.address, family: familyName(this.#local), port: this.#local.port };
  }

  /** The connected peer; throws `ERR_SOCKET_DGRAM_NOT_CONNECTED` otherwise. */
  remoteAddress(): AddressInfo {
    if (!this.#remote) throw codedError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: this.#remote.address, family: familyName(this.#remote), port: this.#remote.port };
  }

  /**
   * Sets `SO_BROADCAST`: without it a send to 255.255.255.255 or a subnet
   * broadcast fails with `EACCES`. @throws `setBroadcast EBADF` before bind, as Node.
   */
  setBroadcast(flag: boolean): void {
    this.#option('setBroadcast', 'socket', 'SO_BROADCAST', !!flag);
  }

  /**
   * Sets the unicast TTL (`IP_TTL`; hop limit `IPV6_UNICAST_HOPS` on `udp6`).
   * @returns `ttl`. @throws ERR_INVALID_ARG_TYPE, `setTTL EINVAL` outside
   *   1..255, `setTTL EBADF` before bind — as Node.
   */
  setTTL(ttl: number): number {
    const v = checkTtl(ttl, 1, 'setTTL');
    if (this.#family === 6) this.#option('setTTL', 'ipv6', 'IPV6_UNICAST_HOPS', v);
    else this.#option('setTTL', 'ip', 'IP_TTL', v);
    return ttl;
  }

  /**
   * Sets the TTL of multicast datagrams (`IP_MULTICAST_TTL`, default 1).
   * @returns `ttl`. @throws as {@link DgramSocket.setTTL}, range 0..255.
   */
  setMulticastTTL(ttl: number): number {
    const v = checkTtl(ttl, 0, 'setMulticastTTL');
    if (this.#family === 6) this.#option('setMulticastTTL', 'ipv6', 'IPV6_MULTICAST_HOPS', v);
    else this.#option('setMulticastTTL', 'ip', 'IP_MULTICAST_TTL', v);
    return ttl;
  }

  /** Whether our multicast datagrams also reach local members (`IP_MULTICAST_LOOP`, `IPV6_MULTICAST_LOOP` on `udp6`; default on). @returns `flag`. */
  setMulticastLoopback(flag: boolean): boolean {
    if (this.#family === 6) this.#option('setMulticastLoopback', 'ipv6', 'IPV6_MULTICAST_LOOP', !!flag);
    else this.#option('setMulticastLoopback', 'ip', 'IP_MULTICAST_LOOP', !!flag);
    return flag;
  }

  /**
   * Sends multicast from the interface holding `interfaceAddress`
   * (`IP_MULTICAST_IF`; `0.0.0.0`: by route). An address the stack does not
   * have is an `'error'` (`setMulticastInterface EADDRNOTAVAIL`).
   * @throws ERR_SOCKET_DGRAM_NOT_RUNNING, ERR_INVALID_ARG_TYPE, EINVAL (not an IPv4 address), EBADF before bind.
   */
  setMulticastInterface(interfaceAddress: string): void {
    this.#running();
    if (typeof interfaceAddress !== 'string') throw invalidArgType('interfaceAddress', 'string', interfaceAddress);
    if (this.#family === 4 && !isIPv4(interfaceAddress)) throw errnoError('EINVAL', 'setMulticastInterface');
    if (this.#family === 4 && isNeverLocal4(interfaceAddress)) throw errnoError('EADDRNOTAVAIL', 'setMulticastInterface');
    if (this.#family === 4) return this.#option('setMulticastInterface', 'ip', 'IP_MULTICAST_IF', interfaceAddress);
    // udp6: libuv takes the zone's interface index (IPV6_MULTICAST_IF); a zone naming no interface is 0, by route.
    const host = parseIp(interfaceAddress);
    if (host?.family !== 6) throw errnoError('EINVAL', 'setMulticastInterface');
    if (this.#state !== 'bound') throw errnoError('EBADF', 'setMulticastInterface');
    this.#op(async () => {
      const { conn, fd } = this.#usable('setMulticastInterface');
      await conn.sys.setsockopt(fd, 'ipv6', 'IPV6_MULTICAST_IF', await zoneIndex(conn, host.zone));
    }).catch((err: Error) => this.#emitError(relabel(err, 'setMulticastInterface')));
  }

  /**
   * Joins `multicastAddress` on the interface holding `interfaceAddress`
   * (default: the one the group routes to) — the stack sends the IGMP
   * report. Binds first if unbound (as libuv does). On `udp6` an IPv4
   * group is still `IP_ADD_MEMBERSHIP` (its interface address IPv4 too):
   * the dual-stack socket receives it from v4-mapped senders, as on Linux.
   * @throws ERR_MISSING_ARGS, ERR_SOCKET_DGRAM_NOT_RUNNING, `addMembership
   *   EINVAL` (not a group), `EADDRINUSE` (joined already); `ENODEV` (no
   *   interface for it) comes as `'error'`.
   */
  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    if (!multicastAddress) throw codedError(TypeError, 'ERR_MISSING_ARGS', 'The "multicastAddress" argument must be specified');
    this.#running();
    this.#membership('addMembership', 'IP_ADD_MEMBERSHIP', multicastAddress, interfaceAddress);
  }

  /** Leaves a group joined with {@link DgramSocket.addMembership}. @throws as it; `EADDRNOTAVAIL` when not joined. */
  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    if (!multicastAddress) throw codedError(TypeError, 'ERR_MISSING_ARGS', 'The "multicastAddress" argument must be specified');
    this.#running();
    this.#membership('dropMembership', 'IP_DROP_MEMBERSHIP', multicastAddress, interfaceAddress);
  }

  /**
   * Joins `groupAddress` for datagrams from `sourceAddress` only (RFC 3678
   * `IP_ADD_SOURCE_MEMBERSHIP`; IGMPv3 INCLUDE mode).
   * @throws ERR_INVALID_ARG_TYPE, ERR_SOCKET_DGRAM_NOT_RUNNING, EINVAL, EADDRNOTAVAIL (included already).
   */
  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#running();
    if (typeof sourceAddress !== 'string') throw invalidArgType('sourceAddress', 'string', sourceAddress);
    if (typeof groupAddress !== 'string') throw invalidArgType('groupAddress', 'string', groupAddress);
    this.#membership('addSourceSpecificMembership', 'IP_ADD_SOURCE_MEMBERSHIP', groupAddress, interfaceAddress, sourceAddress);
  }

  /** Undoes {@link DgramSocket.addSourceSpecificMembership}. @throws as it; EADDRNOTAVAIL when not included. */
  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#running();
    if (typeof sourceAddress !== 'string') throw invalidArgType('sourceAddress', 'string', sourceAddress);
    if (typeof groupAddress !== 'string') throw invalidArgType('groupAddress', 'string', groupAddress);
    this.#membership('dropSourceSpecificMembership', 'IP_DROP_SOURCE_MEMBERSHIP', groupAddress, interfaceAddress, sourceAddress);
  }

  /**
   * `SO_RCVBUF`, reported as Linux reports it: twice the size set (Linux
   * doubles it for its bookkeeping, Node's own tests expect that; this
   * stack keeps BSD's exact size, which is half of what is shown).
   * @throws ERR_SOCKET_BUFFER_SIZE before bind, as Node.
   */
  getRecvBufferSize(): number {
    return this.#bufferSize('recv');
  }

  /** `SO_SNDBUF`, reported as {@link DgramSocket.getRecvBufferSize} says. */
  getSendBufferSize(): number {
    return this.#bufferSize('send');
  }

  /**
   * Sets `SO_RCVBUF` (the stack refuses sizes past `kern.sbmax` or the
   * client's quota: an `'error'` with `ERR_SOCKET_BUFFER_SIZE`).
   * @throws ERR_SOCKET_BAD_BUFFER_SIZE, ERR_SOCKET_BUFFER_SIZE before bind.
   */
  setRecvBufferSize(size: number): void {
    this.#setBufferSize('recv', size);
  }

  /** Sets `SO_SNDBUF`, as {@link DgramSocket.setRecvBufferSize}. */
  setSendBufferSize(size: number): void {
    this.#setBufferSize('send', size);
  }

  /** Bytes of sends not yet taken by the server (libuv's send queue). */
  getSendQueueSize(): number {
    this.#running();
    return this.#sendQueue.bytes;
  }

  /** Sends not yet taken by the server. */
  getSendQueueCount(): number {
    this.#running();
    return this.#sendQueue.count;
  }

  #running(): void {
    if (this.#state === 'closed') throw codedError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }

  /**
   * An option call of Node's that libuv makes on its descriptor: `EBADF`
   * before bind (libuv has none yet), else queued in order with the other
   * operations; the server's refusal is emitted as `<syscall> <CODE>`.
   */
  #option(syscall: string, level: SockOptLevel, name: string, value: SockOptValue): void {
    this.#running();
    if (this.#state !== 'bound') throw errnoError('EBADF', syscall);
    this.#op(async () => {
      const { conn, fd } = this.#usable(syscall);
      await conn.sys.setsockopt(fd, level, name, value);
    }).catch((err: Error) => this.#emitError(relabel(err, syscall)));
  }

  #membership(syscall: string, name: string, group: string, iface: string | undefined, source?: string): void {
    // libuv tries the group as IPv4 first: on a udp6 socket an IPv4 group is still IP_ADD_MEMBERSHIP (and its
    // source-specific kin), which Linux applies to the dual-stack socket (ipv6_setsockopt passes SOL_IP to udp_prot).
    const v4 = isIPv4(group);
    if (this.#family === 6 && !v4 && source === undefined) return this.#membership6(syscall, name === 'IP_ADD_MEMBERSHIP', group, iface);
    // (Source-specific IPv6 membership, MCAST_JOIN_SOURCE_GROUP, is not in the stack.)
    if (this.#family === 6 && !v4) throw errnoError('ENOPROTOOPT', syscall);
    const adding = name.startsWith('IP_ADD');
    const req: IpMreqArg = adding ? this.#groups.add(syscall, group, iface, source) : this.#groups.drop(syscall, group, iface, source);
    this.#ensureBound(); // libuv binds an unbound socket to 0.0.0.0:0 first (uv__udp_maybe_deferred_bind)
    this.#op(async () => {
      const { conn, fd } = this.#usable(syscall);
      await conn.sys.setsockopt(fd, 'ip', name, req);
    }).catch((err: Error) => {
      if (adding) this.#groups.undo(group, iface, source);
      this.#emitError(relabel(err, syscall));
    });
  }

  /**
   * `udp6` add/dropMembership: libuv's `uv__udp_set_membership6` — the
   * interface address counts only by its zone (`::%lo0`: lo0's index; none:
   * the route chooses), sent as `IPV6_ADD_MEMBERSHIP` / `IPV6_DROP_MEMBERSHIP`.
   */
  #membership6(syscall: string, adding: boolean, group: string, iface: string | undefined): void {
    const g = adding ? this.#groups.add6(syscall, group, iface) : this.#groups.drop6(syscall, group, iface);
    this.#ensureBound(); // libuv binds an unbound socket to [::]:0 first (uv__udp_maybe_deferred_bind)
    this.#op(async () => {
      const { conn, fd } = this.#usable(syscall);
      const ifindex = await zoneIndex(conn, g.zone);
      await conn.sys.setsockopt(fd, 'ipv6', adding ? 'IPV6_ADD_MEMBERSHIP' : 'IPV6_DROP_MEMBERSHIP', { multiaddr: g.multiaddr, ...(ifindex !== 0 ? { ifindex } : {}) });
    }).catch((err: Error) => {
      if (adding) this.#groups.undo6(g);
      this.#emitError(relabel(err, syscall));
    });
  }

  #bufferSize(which: 'recv' | 'send'): number {
    this.#running();
    if (this.#state !== 'bound') throw bufferSizeError('EBADF', which);
    return this.#bufSize[which] * 2;
  }

  #setBufferSize(which: 'recv' | 'send', value: unknown): void {
    const size = checkBufferSize(value, which);
    this.#running();
    if (this.#state !== 'bound') throw bufferSizeError('EBADF', which);
    const v = Math.max(size, 1); // Linux takes 0 (and rounds up to its minimum); the stack wants at least 1
    this.#bufSize[which] = v;
    this.#op(async () => {
      const { conn, fd } = this.#usable(`uv_${which}_buffer_size`);
      try {
        await conn.sys.setsockopt(fd, 'socket', which === 'recv' ? 'SO_RCVBUF' : 'SO_SNDBUF', v);
      } finally {
        await this.#readBufSizes(conn, fd).catch(ignore);
      }
    }).catch((err: Error) => this.#emitError(bufferSizeError((err as { code?: string }).code ?? 'EINVAL', which)));
  }

  /** Reads `SO_RCVBUF` and `SO_SNDBUF` into the mirror `getRecvBufferSize()` answers from. */
  async #readBufSizes(conn: RumpConnection, fd: number): Promise<void> {
    const [r, w] = await Promise.all([conn.sys.getsockopt(fd, 'socket', 'SO_RCVBUF'), conn.sys.getsockopt(fd, 'socket', 'SO_SNDBUF')]);
    if (typeof r === 'number') this.#bufSize.recv = r;
    if (typeof w === 'number') this.#bufSize.send = w;
  }

  /** Closes the socket; `'close'` follows once the server closed the descriptor. */
  close(callback?: () => void): this {
    if (this.#state === 'closed') throw codedError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    // As dgram: a callback that is not a function is ignored.
    if (typeof callback === 'function') this.once('close', callback);
    this.#state = 'closed';
    // Queued behind pending sends, so they go out first, as the kernel would send them before close.
    void this.#op(async () => {
      const fd = this.#fd;
      this.#fd = undefined;
      this.#groups.clear(); // close gives every membership back (ip_freemoptions)
      if (fd !== undefined && this.#conn) await this.#conn.sys.close(fd).catch(ignore);
    }).finally(() => {
      this.#life.setActive(false);
      this.emit('close');
    });
    return this;
  }

  /** Lets the process exit while the socket is open and idle (sends in flight still finish, as in `dgram`). */
  unref(): this {
    this.#life.unref();
    return this;
  }

  /** Undoes {@link DgramSocket.unref}. */
  ref(): this {
    this.#life.ref();
    return this;
  }

  /** `close()` for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'closed') return;
    await new Promise<void>((resolve) => this.close(resolve));
  }

  #emitError(err: Error): void {
    if (this.listenerCount('error') === 0 && this.#state === 'closed') return;
    this.emit('error', err);
  }
}

/**
 * The interface index of an IPv6 zone as libuv takes it (`if_nametoindex`;
 * digits are the index itself): a name the server does not know is 0, by route.
 */
async function zoneIndex(conn: RumpConnection, zone: string | undefined): Promise<number> {
  if (zone === undefined || zone === '') return 0;
  if (/^\d{1,10}$/.test(zone)) return Number(zone);
  const r = await conn.call<{ interfaces: { name: string; index: number }[] }>('ctl.ifconfig', { ifname: zone }).catch(() => undefined);
  return r?.interfaces.find((i) => i.name === zone)?.index ?? 0;
}

/**
 * Creates a UDP socket on the rump stack, like `dgram.createSocket`:
 * `createSocket('udp4')`, `createSocket('udp6')` or
 * `createSocket({ type: 'udp6', ipv6Only, reuseAddr, rumpServer })`. Another
 * type throws `ERR_SOCKET_BAD_TYPE`.
 *
 * @example
 * ```ts
 * import { createSocket } from '@rumpnet/client';
 * const s = createSocket('udp4', (msg, rinfo) => console.log(`${msg} from ${rinfo.address}:${rinfo.port}`));
 * s.bind(5353, () => s.send('ping', 5353, '127.0.0.1'));
 * ```
 */
export function createSocket(type: 'udp4' | 'udp6' | DgramSocketOptions, messageListener?: (msg: Buffer, rinfo: RemoteInfo) => void): DgramSocket {
  const options: DgramSocketOptions = typeof type === 'string' ? { type } : type;
  return new DgramSocket(options, messageListener);
}
