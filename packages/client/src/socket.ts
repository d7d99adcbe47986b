/**
 * A TCP socket on the rump stack shaped like `node:net`'s `Socket`: a
 * `stream.Duplex` whose reads and writes are system calls in the rump server.
 *
 * - **Reads are driven by the consumer** (Node's `_read` contract): a `recv`
 *   is issued only when the readable side asks for data, one at a time, for
 *   at most the `highWaterMark` given, else 64 KiB (Node's read size); when `push()` says the buffer is
 *   full the pump stops until `_read` is called again. A paused socket thus
 *   leaves the data in the server's socket buffer, and TCP's window closes —
 *   backpressure reaches the peer as it would through a kernel.
 * - **A write completes when its `send` returns**, i.e. when the server's
 *   `sosend` has copied the bytes in (COPYIN) and queued them; the Writable's
 *   `highWaterMark` bounds what is buffered on this side. Writes queued while
 *   one is in flight are gathered into one `send` (`_writev`).
 * - `end()` is `shutdown(SHUT_WR)` (a FIN); `destroy()` is `close(2)`.
 *   `'close'` comes after the server closed the descriptor, with `hadError`.
 */
import { hopTrace } from './hoptrace.js';
import { Duplex } from 'node:stream';
import type { RumpConnection } from './connection.js';
import { errnoValue, syscallError } from './errors.js';
import { lingerFlush } from './linger.js';
import { checkLocalOptions, checkLookupOptions, lookupTargets } from './lookup.js';
import { RumpTcpHandle } from './tcp-handle.js';
import { IoVec } from './iovec.js';
import { checkFunction, checkNumber, invalidArgType, invalidArgValue, timerDuration } from './validate.js';
import type { SockAddr } from './syscalls.js';
import {
  checkPort,
  codedError,
  receivedType,
  connectionFor,
  KeepAlive,
  listensSettled,
  ignore,
  relabel,
  domainOf,
  familyName,
  parseIp,
  sockaddrFor,
  type HostAddress,
  type RumpOptions,
} from './shared.js';
import { acceptedChunks, deliver, gather, onReadableStreamEnd, watchSignal } from './socket-stream.js';
import { RxStream } from './rxstream.js';
import { normalizeConnectArgs, type AcceptedInit, type AddressInfo, type SocketOptions, type TcpConnectOptions } from './socket-options.js';

export { normalizeConnectArgs } from './socket-options.js';
export type { AcceptedInit, AddressInfo, SocketOptions, TcpConnectOptions } from './socket-options.js';

const kAccepted = Symbol('rumpnet.accepted');
/** The `onread` option once accepted: a fixed buffer or a generator, and the callback. */
type OnRead = { buf?: Uint8Array; gen?: () => Uint8Array; cb: (nread: number, buf: Uint8Array) => boolean | void };
const MAX_RECV = 4 * 1024 * 1024;
/** Largest recv size a streamed receive carries (the server's chunk limit); larger ones use recvs. */
const STREAM_CHUNK_MAX = 256 * 1024;
/**
 * Size of one `recv` when no `highWaterMark` was given: 64 KiB, the read
 * size of Node's own sockets (libuv's `onread` buffer). Each recv is a round
 * trip to the rump server plus a COPYOUT: at the 16 KiB default mark a
 * reader paid four of them for what one 64 KiB recv takes (the socket buffer
 * usually holds that much when data streams in). An explicit mark is
 * honoured as the recv size, so a small one still bounds read-ahead.
 */
const DEFAULT_RECV = 64 * 1024;
/**
 * Whether a stream socket asks for its next recv while it delivers a full
 * one (see `#pump`); `RUMPNET_READ_AHEAD=0` in the environment turns it off
 * (one recv at a time, for comparison).
 */
const READ_AHEAD = process.env.RUMPNET_READ_AHEAD !== '0';
/**
 * Whether writes gather into fewer sends (the turn's cork in `write`, the
 * gather lists of `_writev`); `RUMPNET_WRITE_GATHER=0` in the environment
 * turns it off: one send per `write()`, as a program's blocking write loop
 * makes one system call per write under NetBSD's rumpclient (the benchmark's
 * NetBSD-equivalent configuration). Read once: `process.env` is a slow
 * lookup to make per write (2 % of an echo client's time in a profile).
 */
let WRITE_GATHER = process.env.RUMPNET_WRITE_GATHER !== '0';
const writeGather = (): boolean => WRITE_GATHER;

/**
 * @internal For tests: turns the client's write gathering on or off in this
 * process, as `RUMPNET_WRITE_GATHER` does at start; returns the previous setting.
 */
export function setWriteGather(on: boolean): boolean {
  const was = WRITE_GATHER;
  WRITE_GATHER = on;
  return was;
}
/**
 * Writable high-water mark when no `highWaterMark` was given. A rump send
 * costs round trips (SYSCALL, COPYINs, RESP), so what the application writes
 * while one send is in flight should ride in the next send (`_writev`) rather
 * than make the writer wait for 'drain' after every 16 KiB (Node's default,
 * sized for a local kernel's synchronous write). 256 KiB lets four 64 KiB
 * writes gather: one sendto (their buffers as a gather list, not copied),
 * MCLNUM-sized COPYINs, one answer.
 */
const DEFAULT_WRITE_HWM = 256 * 1024;
const addrInfo = (a: SockAddr): AddressInfo => ({ address: a.address, family: familyName(a), port: a.port });

/**
 * Waits one event-loop turn before a FIN is delivered (`'end'`). Natively
 * the read that sees a FIN is its own libuv callback, after the completion
 * of the call that sent it: in Node's test-net-write-after-close the
 * server's `shutdown` has completed — its socket finished and destroyed —
 * before the client's `'end'`. Here both replies may come in one chunk from
 * the rump server (which answers the shutdown first), and the EOF's
 * `push(null)` takes fewer microtask steps than the shutdown's callback;
 * a turn lets every reply parsed with it finish first. Once per stream.
 */
function eofTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A TCP stream socket on the rump stack, API-compatible with `net.Socket`
 * for what a client or server of TCP uses. Events: `connect`, `ready`,
 * `lookup`, `data`, `end`, `drain`, `timeout`, `error`, `close(hadError)`.
 * Buffers handed to `write()` belong to the stream until the write's
 * callback; chunks emitted as `data` belong to the consumer.
 */
export class Socket extends Duplex {
  /** The `address:port` tried, in order, when a name had several addresses (as in `net`). */
  autoSelectFamilyAttemptedAddresses: string[] | undefined = undefined;
  /** True from `connect()` until connected or failed (as in `net`). */
  connecting = false;
  /** Bytes received. */
  bytesRead = 0;
  /** The `net.Server` that accepted this socket, if any (as in `net`). */
  server: unknown = undefined;
  /** Same, the name Node's server bookkeeping uses (`_connections--` on close). */
  _server: { _connections: number; _emitCloseIfDrained?: () => void } | undefined = undefined;
  /**
   * The stream this one wraps: none (as in `net`). A `TLSSocket` over this
   * socket walks `_parent` links to null (`_unrefTimer`), so it must end here.
   */
  _parent: null = null;
  #rump: RumpOptions;
  #conn: RumpConnection | undefined;
  #fd: number | undefined;
  /** What keeps the process alive for this socket (see {@link KeepAlive}). */
  readonly #life = new KeepAlive();
  #connectP: Promise<void> | undefined;
  #wantRead = false;
  #reading = false;
  /** The streamed receive (§7a) feeding this socket, if one runs. */
  #rx: RxStream | undefined;
  /** Bytes handed to `_write`/`_writev` (net's `_bytesDispatched`): sent, or being sent. */
  #dispatched = 0;
  /** resetAndDestroy(): close with a RST, without flushing. */
  #resetting = false;
  /** The send (or gathered sends) in flight, if any. */
  #sending: Promise<void> | undefined;
  /** The late-error callback of this descriptor's posted sends (see #onLateError). */
  #lateError: { fd: number; cb: (err: Error) => void } | undefined;
  /** A cork of this socket's own holds the writes of the current turn (see {@link Socket.write}). */
  #turnCorked = false;
  /** Bytes asked for by one recv: the given high-water mark, else {@link DEFAULT_RECV}. */
  #recvLen: number;
  #local: SockAddr | undefined;
  #remote: SockAddr | undefined;
  #timeoutMs = 0;
  /** What `setTimeout` was last given (Node's `socket.timeout` property, writable). */
  #timeoutProp: unknown = undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Node's `kSetNoDelay`, `kSetKeepAlive`, `kSetKeepAliveInitialDelay` (seconds): asked for, set through the handle. */
  #noDelay = false;
  #keepAlive = false;
  #keepAliveDelay = 0;
  /** net's `kBuffer`/`kBufferGen`/`kBufferCb` (the `onread` option), and whether its reading is stopped. */
  #onread: OnRead | undefined;
  #onreadStopped = false;
  /** Node's `_handle`: from connect() (or accept) until close. */
  #handle: RumpTcpHandle | null = null;

  /** Creates an unconnected socket; call {@link Socket.connect}, or use {@link createConnection}. */
  constructor(options: SocketOptions = {}) {
    // net.Socket's own checks, before the stream exists.
    const o = options as SocketOptions & { objectMode?: unknown; readableObjectMode?: unknown; writableObjectMode?: unknown };
    if (o.objectMode) throw invalidArgValue('options.objectMode', o.objectMode, 'is not supported');
    if (o.readableObjectMode || o.writableObjectMode) {
      const name = o.readableObjectMode ? 'readableObjectMode' : 'writableObjectMode';
      throw invalidArgValue(`options.${name}`, o.readableObjectMode || o.writableObjectMode, 'is not supported');
    }
    if (options.keepAliveInitialDelay !== undefined) checkNumber(options.keepAliveInitialDelay, 'options.keepAliveInitialDelay');
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      ...(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : { writableHighWaterMark: DEFAULT_WRITE_HWM }),
      emitClose: false, // 'close' carries hadError and comes after close(2), as in net
      autoDestroy: true,
      decodeStrings: true,
    });
    this.#rump = { ...(options.rumpServer !== undefined ? { rumpServer: options.rumpServer } : {}), ...(options.connection ? { connection: options.connection } : {}) };
    this.#recvLen = options.highWaterMark ?? DEFAULT_RECV;
    // As net's constructor: only a well-formed onread counts, anything else is ignored.
    const onread = options.onread as { buffer?: unknown; callback?: unknown } | null | undefined;
    if (onread !== null && typeof onread === 'object' && (onread.buffer instanceof Uint8Array || typeof onread.buffer === 'function') && typeof onread.callback === 'function') {
      const cb = onread.callback as (nread: number, buf: Uint8Array) => boolean | void;
      this.#onread = typeof onread.buffer === 'function' ? { gen: onread.buffer as () => Uint8Array, cb } : { buf: onread.buffer as Uint8Array, cb };
    }
    this.#noDelay = Boolean(options.noDelay);
    this.#keepAlive = Boolean(options.keepAlive);
    this.#keepAliveDelay = ~~(Math.max(0, options.keepAliveInitialDelay ?? 0) / 1000);
    // net's addClientAbortSignalOption, not the stream's own option: an already aborted
    // signal destroys on the next tick, once this object is whole.
    if (options.signal) watchSignal(this, options.signal);
    this.on('end', onReadableStreamEnd);
    const init = (options as { [kAccepted]?: AcceptedInit })[kAccepted];
    if (init) {
      this.#conn = init.conn;
      this.#fd = init.fd;
      this.#remote = init.remote;
      this.#local = init.local;
      this.#life.attach(init.conn);
      this.#handle = new RumpTcpHandle();
      this.#handle.attach(init.conn, init.fd);
    }
  }

  /**
   * Wraps a descriptor returned by `accept(2)` (used by the server side).
   * The socket owns `init.fd` from here on.
   */
  static fromAccepted(init: AcceptedInit, options: SocketOptions & { pauseOnConnect?: boolean } = {}): Socket {
    const s = new Socket({ ...options, [kAccepted]: init } as SocketOptions);
    // As net's onconnection: the server's options go straight to the new handle.
    if (s.#noDelay) s.#handle!.setNoDelay(true);
    if (s.#keepAlive) s.#handle!.setKeepAlive(true, s.#keepAliveDelay);
    if (options.pauseOnConnect) s.pause();
    else s.read(0); // start reading, as net does: it also reveals a reset of an idle socket
    return s;
  }

  /**
   * Connects to `port` on `host` (default 127.0.0.1) through the rump stack.
   * Failures are emitted as `'error'` (`connect ECONNREFUSED 127.0.0.1:9`),
   * never thrown, except a bad port (`ERR_SOCKET_BAD_PORT`) or a second
   * `connect` while connecting.
   */
  connect(options: TcpConnectOptions, connectListener?: () => void): this;
  connect(port: number | string, host?: string, connectListener?: () => void): this;
  connect(port: number | string, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    const [opts, cb] = normalizeConnectArgs(args);
    if (this.connecting || this.#fd !== undefined) throw codedError(Error, 'ERR_SOCKET_CONNECTING', 'Socket is already connecting or connected');
    // As net: a closed socket may connect again (its streams start afresh).
    if (this.write !== Socket.prototype.write) this.write = Socket.prototype.write;
    if (this.destroyed) {
      this.#remote = undefined;
      this.#local = undefined;
      this.#resetting = false;
      // net's initSocketHandle: a new connection counts its own bytes.
      this.#dispatched = 0;
      this.bytesRead = 0;
      (this as unknown as { _undestroy(): void })._undestroy();
    }
    // net: a path that is given must be a string (validateString), before anything else.
    if (opts.path != null && typeof opts.path !== 'string') throw invalidArgType('options.path', ['string'], opts.path);
    if (typeof opts.path === 'string' && opts.path !== '') {
      const err = codedError(Error, 'ERR_RUMP_IPC', `rumpnet sockets are TCP/IP only: cannot connect to IPC path ${opts.path}`);
      process.nextTick(() => this.destroy(err));
      return this;
    }
    // Node's connect(): no port at all; then lookupAndConnect: the local end, the port's type, its range.
    if (opts.port === undefined) {
      throw codedError(TypeError, 'ERR_MISSING_ARGS', 'The "options" or "port" or "path" argument must be specified');
    }
    checkLocalOptions(opts);
    if (typeof opts.port !== 'number' && typeof opts.port !== 'string') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "options.port" property must be one of type number or string. Received ${receivedType(opts.port)}`);
    }
    const port = checkPort(opts.port);
    // net's socketToDnsFamily: 'IPv4' and 'IPv6' name the families too.
    const given = opts.family as unknown;
    const family = given === 'IPv4' ? 4 : given === 'IPv6' ? 6 : (given ?? 0);
    // As lookupAndConnect: the family matters (and is checked) only for a name.
    if (family !== 0 && family !== 4 && family !== 6 && (typeof opts.host !== 'string' || parseIp(opts.host) === undefined)) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `The property 'options.family' must be one of: 0, 4, 6. Received ${String(given)}`);
    }
    const autoSelectFamily = checkLookupOptions(opts);
    if (cb) this.once('connect', cb);
    if (opts.timeout) this.setTimeout(opts.timeout);
    if (opts.noDelay) this.#noDelay = true;
    if (opts.keepAlive) {
      this.#keepAlive = true;
      this.#keepAliveDelay = ~~(Math.max(0, Number(opts.keepAliveInitialDelay ?? 0)) / 1000);
    }
    if (opts.rumpServer !== undefined || opts.connection) {
      this.#rump = { ...this.#rump, ...(opts.rumpServer !== undefined ? { rumpServer: opts.rumpServer } : {}), ...(opts.connection ? { connection: opts.connection } : {}) };
    }
    // As net's connect(): the handle exists from here on (options set on it wait for the descriptor).
    if (this.#handle === null || this.#handle.closed) this.#handle = new RumpTcpHandle();
    this.connecting = true;
    // The connect (after the lookup) is a request: see #doConnect.
    this.#connectP = this.#doConnect(port, opts, family === 4 || family === 6 ? family : 0, autoSelectFamily);
    return this;
  }

  async #doConnect(port: number, opts: TcpConnectOptions, family: 0 | 4 | 6, autoSelectFamily: boolean): Promise<void> {
    try {
      const conn = await connectionFor(this.#rump);
      if (this.destroyed) return;
      this.#conn = conn;
      this.#life.attach(conn);
      // The lookup is no request of ours: dns.lookup holds the loop by itself (getaddrinfo),
      // a program's own lookup that never answers does not, as natively.
      const targets = await lookupTargets(this, opts, family, autoSelectFamily);
      // As net: destroyed while the name was looked up.
      if (this.destroyed || !this.connecting) return;
      // From here a connect is a request: it keeps the process alive even on an unref'd socket (uv_connect).
      await this.#life.req(this.#connectTo(conn, targets, port, opts));
    } catch (err) {
      this.connecting = false;
      if (!this.destroyed) this.destroy(err as Error);
      return;
    }
    if (this.destroyed || this.connecting) return;
    // Outside the try: a 'connect' listener that throws is the program's uncaught
    // exception (as from net's afterConnect), not this socket's error.
    process.nextTick(() => this.#connected());
  }

  /** Connects to the first of `targets` that takes it (net's internalConnect / internalConnectMultiple). */
  async #connectTo(conn: RumpConnection, targets: HostAddress[], port: number, opts: TcpConnectOptions): Promise<void> {
    // A listen() that returned before this connect is in place natively: wait for ours.
    const listens = listensSettled();
    if (listens !== undefined) await listens;
    // net's internalConnectMultiple, one attempt at a time: the next address when one fails.
    const errors: Error[] = [];
    if (targets.length > 1) this.autoSelectFamilyAttemptedAddresses = [];
    for (const [i, r] of targets.entries()) {
      if (targets.length > 1) this.autoSelectFamilyAttemptedAddresses!.push(`${r.address}:${port}`);
      try {
        if (!(await this.#attempt(conn, r, port, opts, i === targets.length - 1))) return;
        break;
      } catch (err) {
        if (this.destroyed) return;
        errors.push(err as Error);
        if (errors.length < targets.length) continue;
        if (errors.length === 1) throw err;
        // All failed: net's NodeAggregateError, whose code is the first attempt's.
        throw Object.assign(new AggregateError(errors), { code: (errors[0] as { code?: unknown }).code });
      }
    }
    if (this.destroyed) return;
    this.connecting = false;
    this.#touch();
  }

  /**
   * One connection attempt to `r`: socket, bind (localAddress/localPort),
   * the options, connect. Resolves false when the socket was destroyed
   * meanwhile; a failure rejects, closing this attempt's descriptor unless
   * it is the `last` (then the destroy closes it, and `'close'` follows
   * close(2), as a native socket's follows its handle's close).
   */
  async #attempt(conn: RumpConnection, r: HostAddress, port: number, opts: TcpConnectOptions, last: boolean): Promise<boolean> {
    const remote = await sockaddrFor(conn, r, port, 'connect');
    // As libuv: the socket's domain is the peer's family (an IPv4 peer gets an AF_INET socket).
    // libuv makes the socket inside uv_tcp_connect, so a failure is the connect's (`connect EAFNOSUPPORT ::1:80`).
    const fd = await conn.sys.socket('stream', { domain: domainOf(r.family) }).catch((e: unknown) => {
      throw relabel(e, 'connect', r.address, port);
    });
    if (this.destroyed) {
      conn.sys.close(fd).catch(ignore);
      return false;
    }
    this.#fd = fd;
    this.#handle?.attach(conn, fd);
    try {
      if (opts.localAddress !== undefined || opts.localPort !== undefined) {
        const la = opts.localAddress ?? (r.family === 6 ? '::' : '0.0.0.0');
        const lport = checkPort(opts.localPort ?? 0);
        const local = parseIp(la);
        // Node: a local address of the other family is `bind EINVAL` (uv_tcp_bind on the peer's socket).
        if (local === undefined || local.family !== r.family) throw syscallError(errnoValue('EINVAL') ?? 22, 'bind', la, opts.localPort);
        await conn.sys.bind(fd, await sockaddrFor(conn, local, lport, 'bind')).catch((e: unknown) => {
          throw relabel(e, 'bind', la, opts.localPort);
        });
      }
      // net's afterConnect sets these on the handle once connected; set before connect(2)
      // here, they hold for the SYN too.
      if (this.#noDelay) this.#handle?.setNoDelay(true);
      if (this.#keepAlive) this.#handle?.setKeepAlive(true, this.#keepAliveDelay);
      await conn.sys.connect(fd, remote).catch((e: unknown) => {
        throw relabel(e, 'connect', r.zone ? `${r.address}%${r.zone}` : r.address, port);
      });
      if (this.destroyed) return false;
      this.#remote = remote;
      this.#local = await conn.sys.getsockname(fd).catch(() => undefined);
      return !this.destroyed;
    } catch (err) {
      // This attempt's descriptor (unless destroy() took it already), before the next attempt.
      if (!last && this.#fd === fd) {
        this.#fd = undefined;
        conn.sys.close(fd).catch(ignore);
      }
      throw err;
    }
  }

  /** net's afterConnect, once the connection is up: the events, then the first read. */
  #connected(): void {
    if (this.destroyed) return;
    this.emit('connect');
    this.emit('ready');
    if (this.#wantRead || (this.readable && !this.isPaused())) this.read(0);
    if (this.#wantRead) this.#startPump();
  }

  /** Resolves when connected; rejects when the socket cannot be used for I/O. */
  async #ready(): Promise<{ conn: RumpConnection; fd: number }> {
    const waited = this.connecting && this.#connectP !== undefined;
    if (waited) await this.#connectP;
    if (this.#conn === undefined || this.#fd === undefined || this.destroyed) {
      // net's _writeGeneric: a write queued behind a connect that never completed.
      if (waited && this.#remote === undefined) {
        throw codedError(Error, 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'Socket closed before the connection was established');
      }
      throw codedError(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed');
    }
    return { conn: this.#conn, fd: this.#fd };
  }

  // ----- the stream contract -----

  /** @internal Readable contract: start (or keep) one `recv` in flight. */
  override _read(_size: number): void {
    if (this.#fd === undefined || this.connecting) {
      this.#wantRead = true;
      return;
    }
    this.#startPump();
  }

  #startPump(): void {
    this.#wantRead = false;
    if (this.#rx !== undefined) return this.#rx.resume();
    if (this.#reading) return;
    this.#reading = true;
    // A recv standing in the server is the handle reading (uv_read_start): alive while ref'd.
    this.#life.setActive(true);
    void (this.#onread ? this.#pumpInto(this.#onread) : this.#pump()).finally(() => {
      if (!this.#reading) this.#life.setActive(false);
    });
  }

  /**
   * Starts the streamed receive (rxstream.ts) when the connection offers
   * one, after a recv came back full while the reader flows: chunks of the
   * recv size, delivered as the pump's recvs are. False
   * when it cannot (no region or slot, a recv size over the stream's chunk).
   */
  #openStream(): boolean {
    const conn = this.#conn;
    const fd = this.#fd;
    const len = this.#recvLen;
    if (conn === undefined || fd === undefined || !Number.isInteger(len) || len < 1 || len > STREAM_CHUNK_MAX) return false;
    const stop = (): void => {
      this.#rx = undefined;
      this.#reading = false;
      this.#life.setActive(false);
    };
    const rx = RxStream.open(conn, fd, len, {
      push: (chunk) => {
        this.bytesRead += chunk.length;
        this.#touch();
        return deliver(this, chunk);
      },
      eof: () => {
        stop();
        void this.#atEof();
      },
      fail: (err) => {
        stop();
        const code = (err as { code?: unknown }).code;
        // Refused before any byte (no region any more, slot taken): the recv pump as before.
        if ((code === 'EOPNOTSUPP' || code === 'ENOTSUP' || code === 'EBUSY') && this.#fd === fd && !this.destroyed) return this.#startPump();
        if (!this.destroyed && this.#fd === fd) this.destroy(relabel(err, 'read'));
      },
    });
    if (rx === undefined) return false;
    this.#rx = rx;
    this.#reading = true;
    this.#life.setActive(true);
    return true;
  }

  /**
   * The `onread` pump: one `recv` at a time into the program's buffer, each
   * read handed to its callback (no `'data'`), until it returns false or
   * `pause()` stops it; EOF ends the readable side as usual.
   */
  async #pumpInto(onread: OnRead): Promise<void> {
    const conn = this.#conn!;
    // Bounded: each pass ends the stream, stops, or delivers ≥ 1 byte.
    for (;;) {
      const fd = this.#fd;
      if (fd === undefined || this.destroyed || this.#onreadStopped) break;
      const buf = onread.gen ? onread.gen() : onread.buf!;
      const n = await this.#recv(conn, fd, buf, buf.byteLength);
      if (n === null) return;
      if (this.destroyed) break;
      if (n === 0) return this.#atEof();
      this.bytesRead += n;
      this.#touch();
      let more: boolean | void = undefined;
      try {
        more = onread.cb.call(this, n, buf);
      } catch (err) {
        // As from net's onStreamRead: the program's uncaught exception; reading goes on.
        process.nextTick(() => {
          throw err;
        });
      }
      if (more === false) this.#onreadStopped = true;
    }
    this.#reading = false;
  }

  /** Pauses the stream; with `onread`, stops reading at once (net's pause()). */
  override pause(): this {
    if (this.#onread) this.#onreadStopped = true;
    return super.pause();
  }

  /** Resumes the stream; with `onread`, reading starts again (net's resume() → tryReadStart). */
  override resume(): this {
    if (this.#onread && this.#onreadStopped) {
      this.#onreadStopped = false;
      if (!this.connecting && this.#fd !== undefined) this.#startPump();
    }
    return super.resume();
  }

  /**
   * One `recv` of up to `len` bytes into `buf` for the read loops: the byte
   * count (0 at end of stream), or null when the call failed — the socket is
   * then destroyed with the error (unless it was destroyed or its descriptor
   * changed meanwhile) and reading has stopped.
   */
  async #recv(conn: RumpConnection, fd: number, buf: Uint8Array, len: number): Promise<number | null> {
    try {
      return (await conn.call<{ bytes: number }>('recvfrom', { fd, buf: 0, len, flags: 0 }, { buffers: { buf }, syscall: 'read' })).bytes;
    } catch (err) {
      this.#reading = false;
      if (!this.destroyed && this.#fd === fd) this.destroy(relabel(err, 'read'));
      return null;
    }
  }

  /** A recv returned 0 (FIN: soreceive's end of stream): reading stops, 'end' follows a turn later. */
  async #atEof(): Promise<void> {
    this.#reading = false;
    await eofTurn();
    if (this.destroyed) return;
    deliver(this, null);
    // As net's onStreamRead: with nothing buffered, 'end' is due now even if nobody reads,
    // so an allowHalfOpen=false socket ends its side too and closes.
    this.read(0);
  }

  /**
   * The `recv` loop, for as long as the readable side takes what it gets.
   * When a recv came back full (the server's buffer held at least a whole
   * read: data is streaming), the next recv is asked for before this one's
   * bytes are delivered — a read-ahead of one, as the copy window pipelines
   * sends: the server's soreceive and COPYOUT of the next 64 KiB then run
   * while this process hands the last 64 KiB to the consumer, instead of
   * each waiting for the other (docs/BENCHMARKS.md, "The receive path").
   * A short read means the buffer is drained: one recv at a time again,
   * so an idle socket keeps one recv standing in the server, not two. The
   * server takes a descriptor's recvs in order (soreceive's `sblock` queue),
   * and their replies come back in order. When the consumer pushes back,
   * no recv is asked ahead; one already asked is still delivered (at most
   * one read past the high-water mark, as a native read that was already
   * under way), and a paused reader asks for nothing ahead.
   */
  async #pump(): Promise<void> {
    const conn = this.#conn!;
    const len = Math.max(1, Math.min(this.#recvLen, MAX_RECV));
    // A buffer whose bytes were copied out (short read) is reused by the next recv.
    let spare: Buffer | undefined;
    let ahead: { buf: Buffer; n: Promise<number | null> } | undefined;
    // Bounded by the stream: every pass either ends it, stops on backpressure, or delivers ≥ 1 byte.
    for (;;) {
      const fd = this.#fd;
      if (fd === undefined || this.destroyed) break;
      let buf: Buffer;
      let n: number | null;
      if (ahead !== undefined) {
        buf = ahead.buf;
        n = await ahead.n;
        ahead = undefined;
      } else {
        buf = spare ?? Buffer.allocUnsafe(len);
        spare = undefined;
        n = await this.#recv(conn, fd, buf, len);
      }
      if (n === null) return;
      if (this.destroyed) break;
      if (n === 0) return this.#atEof();
      // Data streams in (a full read) to a flowing reader: a streamed receive takes over, no recv per read
      // (a request/response exchange of short reads keeps its recvs and their inline replies).
      if (n === len && ahead === undefined && this.readableFlowing === true && this.#fd === fd && this.#openStream()) {
        this.bytesRead += n;
        this.#touch();
        deliver(this, buf.subarray(0, n));
        return;
      }
      if (n === len && READ_AHEAD && this.#fd === fd && this.#wantsMore(n)) {
        const next = Buffer.allocUnsafe(len);
        ahead = { buf: next, n: this.#recv(conn, fd, next, len) };
        conn.counters.recvsAhead++;
      }
      this.bytesRead += n;
      this.#touch();
      // A short read would pin a large buffer: hand the consumer an exact copy instead.
      let chunk: Buffer;
      if (n < len >>> 1) {
        chunk = Buffer.from(buf.subarray(0, n));
        spare = buf;
      } else {
        chunk = buf.subarray(0, n);
      }
      hopTrace?.mark('c.push');
      // Pushed back: stop, unless a recv asked ahead is still to be delivered.
      if (!deliver(this, chunk) && ahead === undefined) break;
    }
    this.#reading = false;
  }

  /**
   * Whether the consumer will still want bytes once `n` more are delivered:
   * a flowing stream hands them over at once (it wants more while its buffer
   * is under the mark); a paused one (or one read with `read()`) keeps them,
   * so they must fit under the mark too. A paused reader therefore never
   * holds more than it would without read-ahead.
   */
  #wantsMore(n: number): boolean {
    const hwm = this.readableHighWaterMark;
    return this.readableFlowing === true ? this.readableLength < hwm : this.readableLength + n < hwm;
  }

  /**
   * net's `write()`. The first write of a turn made while no send is in
   * flight corks the stream until the next tick, so that every write of
   * that turn leaves in one send (`_writev`) — natively each write is a
   * cheap system call; here each send costs SYSCALL, COPYIN and RESP
   * frames, and a lone first write made a burst of four 64 KiB writes two
   * sends. Not while the program corks the stream itself, nor before the
   * socket is connected.
   */
  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    // Only on a connected socket: a write before connect must reach _write at once (net's pending write and its errors).
    if (!this.#turnCorked && this.#sending === undefined && writeGather() && this.#fd !== undefined && !this.connecting && this.writableCorked === 0 && !this.writableEnded && !this.destroyed) {
      this.#turnCorked = true;
      this.cork();
      process.nextTick(() => {
        this.#turnCorked = false;
        if (this.writableCorked > 0) this.uncork();
      });
    }
    return (super.write as (c: unknown, e?: unknown, f?: unknown) => boolean).call(this, chunk, encoding, cb);
  }

  /** @internal Writable contract: one chunk, one send loop (or a posted send, done now). */
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#dispatched += chunk.length;
    if (this.#postNow(chunk)) return cb();
    this.#track(this.#ready().then(({ conn, fd }) => this.#sendOn(conn, fd, chunk))).then(() => cb(), cb);
  }

  /**
   * @internal Writable contract: chunks queued behind a send go out
   * together, in sends of up to `SEND_MAX` (256 KiB) — small ones
   * concatenated, larger runs as a gather list (`gather`): one syscall round
   * trip each, fewer COPYINs — in order, one send at a time.
   */
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    for (const c of chunks) this.#dispatched += c.chunk.length;
    const groups = writeGather() ? gather(chunks.map((c) => c.chunk)) : chunks.map((c) => c.chunk);
    if (groups.length === 1 && this.#postNow(groups[0]!)) return cb();
    this.#track(
      (async () => {
        // The descriptor is taken once: a destroy() while these sends run lets them finish (see _destroy).
        const { conn, fd } = await this.#ready();
        for (const g of groups) await this.#sendOn(conn, fd, g);
      })(),
    ).then(() => cb(), cb);
  }

  /**
   * A small write posted at once (docs/PROTOCOL.md §6): on a connected
   * socket, when the connection may post it, the send is done when its frame
   * is written (the bytes copied into it) — no promise, no reply awaited, as
   * a native write completes once the kernel has the bytes. False: send it
   * as an ordinary call.
   */
  #postNow(buf: Buffer | IoVec): boolean {
    const conn = this.#conn;
    const fd = this.#fd;
    if (conn === undefined || fd === undefined || this.connecting || this.destroyed) return false;
    if (!conn.post(fd, buf, this.#onLateError(fd))) return false;
    this.#touch();
    return true;
  }

  /** Remembers the send in flight, so that a destroy() can let it finish before close(2). */
  #track(p: Promise<void>): Promise<void> {
    const t = this.#life.req(p).finally(() => {
      if (this.#sending === t) this.#sending = undefined;
    });
    this.#sending = t;
    return t;
  }

  async #sendOn(conn: RumpConnection, fd: number, buf: Buffer | IoVec): Promise<void> {
    let off = 0;
    // A blocking send takes everything; a short count (a signal, a timeout) resumes where it stopped.
    // Bounded: each pass moves ≥ 1 byte or fails.
    while (off < buf.length) {
      const rest = off === 0 ? buf : buf instanceof IoVec ? buf.from(off) : buf.subarray(off);
      let n: number;
      try {
        // Posted when small (docs/PROTOCOL.md §6): done once written, as a native write is
        // once the kernel has the bytes; a late error destroys the socket ('error').
        n = (await conn.call<{ bytes: number }>('sendto', { fd, buf: 0, len: rest.length, flags: 0 }, { buffers: { buf: rest }, syscall: 'write', posted: true, onLateError: this.#onLateError(fd) })).bytes;
      } catch (err) {
        throw relabel(err, 'write');
      }
      if (!(n > 0)) throw relabel({ code: 'EIO', errno: -5 }, 'write');
      off += n;
      this.#touch();
    }
  }

  /** The late-error callback of posted sends on `fd` (one per descriptor): the socket fails with it, as after a failed write. */
  #onLateError(fd: number): (err: Error) => void {
    if (this.#lateError?.fd !== fd) {
      this.#lateError = {
        fd,
        cb: (err) => {
          if (!this.destroyed && this.#fd === fd) this.destroy(relabel(err, 'write'));
        },
      };
    }
    return this.#lateError.cb;
  }

  /** @internal `end()`: shutdown(SHUT_WR), the FIN. */
  override _final(cb: (err?: Error | null) => void): void {
    // As net: end() before connect() waits for the connection (forever, if none comes).
    if (this.connecting || (this.#fd === undefined && !this.destroyed && this.#handle === null)) {
      return void this.once('connect', () => this._final(cb));
    }
    this.#life
      .req(this.#ready().then(({ conn, fd }) => conn.sys.shutdown(fd, 'wr')))
      .then(
        () => cb(),
        (err: { code?: string }) => (err?.code === 'ENOTCONN' ? cb() : cb(relabel(err, 'shutdown'))),
      );
  }

  /**
   * @internal `destroy()`: close(2), then `'close'` with hadError.
   *
   * Node's `write()` hands its bytes to the kernel at once, so natively
   * `write(x); destroy()` still delivers x: close(2) sends what the socket
   * buffer holds, then the FIN. Here a write is a system call still on its
   * way, so close(2) waits for the send in flight and for the writes
   * `write()` had accepted but not yet passed on (unless corked: those
   * would still be in the process natively), as {@link lingerFlush} does.
   */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.connecting = false;
    this.#clearTimer();
    this.#handle?.close();
    this.#handle = null;
    const fd = this.#fd;
    const conn = this.#conn;
    const resetting = this.#resetting;
    const inFlight = resetting ? undefined : this.#sending;
    // The turn's own cork is not the program's: what it holds was written, as natively.
    const accepted = fd !== undefined && !resetting && this.writableCorked - (this.#turnCorked ? 1 : 0) === 0 ? acceptedChunks(this) : [];
    this.#fd = undefined;
    cb(err);
    const done = (): void => {
      this.#life.setActive(false);
      const srv = this._server;
      if (srv) {
        this._server = undefined;
        srv._connections--;
        srv._emitCloseIfDrained?.();
      }
      this.emit('close', err !== null && err !== undefined);
    };
    if (fd === undefined || !conn) return void process.nextTick(done);
    // The flush and the close are requests: the process waits for them, ref'd or not.
    const close = (): void => void this.#life.req(conn.sys.close(fd)).then(done, done);
    if (resetting) {
      // l_onoff 1, l_linger 0: soclose → tcp_disconnect → tcp_drop, a RST (SO_LINGER is seconds on the wire).
      return void this.#life.req(conn.sys.setsockopt(fd, 'socket', 'SO_LINGER', 0)).then(close, close);
    }
    if (inFlight === undefined && accepted.length === 0) return close();
    this.#life.req(lingerFlush(conn, fd, inFlight, gather(accepted), (c, f, b) => this.#sendOn(c, f, b))).then(close, close);
  }

  // ----- net.Socket surface -----

  /**
   * Sets `TCP_NODELAY` through the handle (best effort; errors are ignored
   * as in `net`). As net: `undefined` means true, and the handle is only
   * asked when the value changes; before `connect()` it is remembered.
   */
  setNoDelay(enable?: unknown): this {
    const on = Boolean(enable === undefined ? true : enable);
    if (this.#handle === null) {
      this.#noDelay = on;
      return this;
    }
    if (on !== this.#noDelay) {
      this.#noDelay = on;
      this.#handle.setNoDelay(on);
    }
    return this;
  }

  /**
   * Sets `SO_KEEPALIVE` and, when on, the idle time before probes
   * (`initialDelay` ms, whole seconds on the wire) through the handle; as
   * net, only a change reaches the handle.
   */
  setKeepAlive(enable?: unknown, initialDelay?: number): this {
    const on = Boolean(enable);
    const secs = ~~(Number(initialDelay) / 1000);
    if (this.#handle === null) {
      this.#keepAlive = on;
      this.#keepAliveDelay = secs;
      return this;
    }
    if (on !== this.#keepAlive || (on && this.#keepAliveDelay !== secs)) {
      this.#keepAlive = on;
      this.#keepAliveDelay = secs;
      this.#handle.setKeepAlive(on, secs);
    }
    return this;
  }

  /**
   * Emits `'timeout'` after `msecs` without activity (0 disables); the
   * socket is not closed, as in `net`. `callback` is added as a `'timeout'`
   * listener (removed when `msecs` is 0). Throws as Node's `setStreamTimeout`
   * for a bad duration (`ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`) or callback;
   * a destroyed socket ignores the call.
   */
  setTimeout(msecs: number, callback?: () => void): this {
    if (this.destroyed) return this;
    this.#timeoutProp = msecs;
    const ms = timerDuration(msecs, 'msecs');
    this.#clearTimer();
    this.#timeoutMs = ms;
    if (callback !== undefined) {
      checkFunction(callback, 'callback');
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    this.#touch();
    return this;
  }

  /** What `setTimeout` was last given (a plain property in `net`: a program may set it). */
  get timeout(): number | undefined {
    return this.#timeoutProp as number | undefined;
  }
  set timeout(v: number | undefined) {
    this.#timeoutProp = v;
  }

  #touch(): void {
    if (this.#timeoutMs === 0 || this.destroyed) return;
    if (this.#timer) {
      this.#timer.refresh();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.emit('timeout');
    }, this.#timeoutMs);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Local address `{ address, family: 'IPv4' | 'IPv6', port }`, or `{}` before connecting (as in `net`). */
  address(): AddressInfo | Record<string, never> {
    return this.#local ? addrInfo(this.#local) : {};
  }

  /** The peer's address. */
  get remoteAddress(): string | undefined {
    return this.#remote?.address;
  }
  /** The peer's port. */
  get remotePort(): number | undefined {
    return this.#remote?.port;
  }
  /** `'IPv4'` or `'IPv6'` once connected (`'IPv6'` for an IPv4 peer of a dual-stack listener, shown `::ffff:a.b.c.d`). */
  get remoteFamily(): string | undefined {
    return this.#remote ? familyName(this.#remote) : undefined;
  }
  /** The local address. */
  get localAddress(): string | undefined {
    return this.#local?.address;
  }
  /** The local port. */
  get localPort(): number | undefined {
    return this.#local?.port;
  }
  /** `'IPv4'` or `'IPv6'` once bound. */
  get localFamily(): string | undefined {
    return this.#local ? familyName(this.#local) : undefined;
  }

  /** Bytes sent plus bytes still queued, as `net` counts them. */
  get bytesWritten(): number {
    // net's getter: what was dispatched plus what write() accepted and still buffers (corked too).
    let n = this.#dispatched;
    for (const b of (this as unknown as { writableBuffer?: { chunk: unknown; encoding?: BufferEncoding }[] }).writableBuffer ?? []) {
      n += Buffer.isBuffer(b.chunk) ? b.chunk.length : Buffer.byteLength(String(b.chunk), b.encoding);
    }
    return n;
  }

  /** True until connected (as in `net`). */
  get pending(): boolean {
    return this.#fd === undefined || this.connecting;
  }

  /** `connecting` under its old name (net keeps it as a getter). */
  get _connecting(): boolean {
    return this.connecting;
  }

  /**
   * Bytes waiting to be written: `writableLength` while the socket has a
   * handle (from `connect()` until closed), else undefined — net's
   * deprecated alias, kept because programs still read it.
   */
  get bufferSize(): number | undefined {
    return this.#handle !== null ? this.writableLength : undefined;
  }

  /**
   * Always null: a native socket's `_handle` is its libuv stream, and Node's
   * own modules take a truthy one for a C++ `StreamBase` they may use
   * directly — `tls` wraps it in OpenSSL (`tls_wrap.wrap`), `http` hands it
   * to the parser — which a rump socket has not. With null they use the
   * socket as a JS stream, which is what it is. So it reads as a native
   * socket's does before connect and after close. An assignment (programs
   * do `socket._handle = null`) is accepted and ignored.
   */
  get _handle(): null {
    return null;
  }
  set _handle(_h: unknown) {
    // Nothing to replace: the rump socket's state is its descriptor in the rump server.
  }

  /** `'opening'`, `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as in `net`. */
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The server's descriptor (not a host descriptor), or -1. */
  get fd(): number {
    return this.#fd ?? -1;
  }

  /** Lets the process exit while this socket is open and idle (requests in flight still finish, as in `net`). */
  unref(): this {
    this.#life.unref();
    return this;
  }

  /** Undoes {@link Socket.unref}. */
  ref(): this {
    this.#life.ref();
    return this;
  }

  /**
   * Closes the connection with a RST (SO_LINGER on with a zero time, then
   * close(2): `tcp_disconnect` drops the connection), so the peer sees
   * ECONNRESET; unsent data is discarded. As net: waits for a connect in
   * progress; an unconnected socket is destroyed with `ERR_SOCKET_CLOSED`.
   */
  resetAndDestroy(): this {
    if (this.#fd === undefined && !this.connecting) return this.destroy(codedError(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed'));
    const reset = (): void => {
      this.#resetting = true;
      this.destroy();
    };
    if (this.connecting) this.once('connect', reset);
    else reset();
    return this;
  }
}
