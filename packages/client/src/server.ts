/**
 * TCP servers on the rump stack, built INTO `node:net`'s own `Server` rather
 * beside it. Node's `Server.listen()` normalises its many argument forms,
 * looks the host up, then calls `this._listen2(address, port, addressType,
 * backlog, fd)` to make the kernel handle; everything else — `close()`,
 * `address()`, `getConnections()`, `ref()`, `listening`, `maxConnections`,
 * `'drop'`, the `'close'`-when-drained rule — works on `this._handle` and
 * `this._connections`. So {@link rumpListen2} replaces only that step: it
 * installs a {@link RumpListenHandle} as `_handle` (socket, bind, listen and
 * an accept loop in the rump server) and emits `'connection'` with rump
 * {@link Socket}s exactly as Node's `onconnection` does. Pipes and inherited
 * descriptors still go to the original `_listen2`, i.e. the host kernel.
 *
 * The same function, put on an `http.Server` (see {@link useRumpStack}) or on
 * `net.Server.prototype` (the hijack), moves any Node server onto the rump
 * stack — which is why the hijack need not replace the `net.Server` class:
 * `http.Server` calls `net.Server.call(this)`, which no ES class could serve.
 */
import * as net from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import type { RumpConnection } from './connection.js';
import {
  connectionFor,
  KeepAlive,
  ignore,
  relabel,
  serverUrlFor,
  trackListen,
  uvError,
  domainOf,
  familyName,
  isAny,
  parseIp,
  sockaddrFor,
  type HostAddress,
  type RumpOptions,
} from './shared.js';
import { reservePortSync } from './portsync.js';
import { Socket, type AddressInfo } from './socket.js';
import type { SockAddr } from './syscalls.js';

/** The original `net.Server`, captured before any hijack patches `net`. */
export const NodeServer: typeof net.Server = net.Server;

type Listen2 = (address: string | null, port: number, addressType: number, backlog: number, fd?: number, flags?: number) => void;

/** The original `_listen2` (Node's `setupListenHandle`), used for pipes and descriptors. */
export const originalListen2: Listen2 = (NodeServer.prototype as unknown as { _listen2: Listen2 })._listen2;

/** Where a routed server keeps its rump options. */
export const kRumpOptions = Symbol.for('rumpnet.server.options');

/** The fields of Node's `net.Server` this module reads and writes. */
interface NodeServerInternals extends net.Server {
  _handle: unknown;
  _connections: number;
  _unref: boolean;
  _emitCloseIfDrained(): void;
  allowHalfOpen: boolean;
  pauseOnConnect: boolean;
  noDelay: boolean;
  keepAlive: boolean;
  keepAliveInitialDelay: number;
  highWaterMark: number;
  [kRumpOptions]?: RumpOptions;
}

/** Calls that may fail once and work on retry (the pending connection went away, a signal). */
const TRANSIENT = new Set(['ECONNABORTED', 'EINTR', 'EAGAIN', 'EPROTO', 'ECONNRESET']);
/** Resource shortages: back off, then accept again (Node logs and carries on likewise). */
const SHORTAGE = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);
const MAX_ACCEPT_FAILURES = 100;
/** libuv's `UV_TCP_IPV6ONLY`, the flag `listen({ ipv6Only: true })` passes to `_listen2`. */
const UV_TCP_IPV6ONLY = 1;
/**
 * Errors of an `[::]` listen after which a host-less `listen()` takes
 * `0.0.0.0` instead, as Node's `setupListenHandle` does when the IPv6 handle
 * cannot be made (a stack without IPv6). EADDRINUSE is not one: libuv
 * reports it at listen, after the choice.
 */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EPROTONOSUPPORT', 'EADDRNOTAVAIL']);

/**
 * The `_handle` of a server listening on the rump stack: the listening
 * descriptor in the rump server, and the accept loop that turns each
 * accepted descriptor into a {@link Socket}. Shaped like the TCP handle
 * Node's `Server` methods call (`close`, `getsockname`, `ref`, `unref`).
 */
export class RumpListenHandle {
  /** Server descriptor of the listening socket, -1 until it exists. */
  fd = -1;
  #conn: RumpConnection | undefined;
  #want: HostAddress;
  #bound: SockAddr;
  #closed = false;
  /** Listening is an active handle; setting it up is a request (see {@link KeepAlive}). */
  readonly #life = new KeepAlive();

  constructor(
    private readonly owner: NodeServerInternals,
    private readonly rump: RumpOptions,
    host: HostAddress,
    port: number,
    private readonly backlog: number,
    /** True when `port` was found for a `listen(0)` by {@link reservePortSync}. */
    private readonly reserved = false,
    /** `IPV6_V6ONLY` for an IPv6 listener (`listen({ ipv6Only: true })`); otherwise it takes IPv4 too. */
    private readonly v6only = false,
    /** `listen()` with no host: `[::]`, else `0.0.0.0` when the stack has no IPv6 (Node's fallback). */
    private readonly anyHost = false,
  ) {
    this.#want = host;
    this.#bound = { family: domainOf(host.family), address: host.address, port };
  }

  /**
   * Runs socket/bind/listen; emits `'listening'` or `'error'` on the owner
   * (never throws). Node listens synchronously and emits `'listening'` on
   * the next tick, so even a server unref'd at once gets it: the set-up
   * counts as a request, alive whatever the ref.
   */
  start(): Promise<void> {
    const p = this.#life.req(this.#start());
    trackListen(p);
    return p;
  }

  async #start(): Promise<void> {
    let host = this.#want;
    const port = this.#bound.port;
    try {
      const conn = await connectionFor(this.rump);
      this.#conn = conn;
      if (this.#closed) return;
      this.#life.attach(conn);
      let open = await this.#open(conn, host, port).catch((err: unknown) => err as Error);
      if (open instanceof Error) {
        if (!this.anyHost || !NO_IPV6.has((open as { code?: string }).code ?? '')) throw open;
        host = { address: '0.0.0.0', family: 4 };
        this.#bound = { family: 'inet', address: host.address, port };
        open = await this.#open(conn, host, port);
      }
      if (this.#closed) return;
      await conn.sys.listen(open.fd, this.backlog);
      this.#bound = await conn.sys.getsockname(open.fd).catch(() => open.addr);
    } catch (err) {
      this.#fail(uvError(err, 'listen', host.zone ? `${host.address}%${host.zone}` : host.address, port));
      return;
    }
    if (this.#closed || this.owner._handle !== this) return;
    this.#life.setActive(true);
    void this.#acceptLoop();
    // net's emitListeningNT: from its own tick, so that a listener that throws is the
    // program's uncaught exception, not a rejection of this set-up (which would hang it).
    process.nextTick(() => {
      if (!this.#closed && this.owner._handle === this) this.owner.emit('listening');
    });
  }

  /**
   * socket, options and bind of the listener (`fd` set once it exists; a
   * descriptor that fails to bind is closed). Resolves with the descriptor
   * and the address bound.
   */
  async #open(conn: RumpConnection, host: HostAddress, port: number): Promise<{ fd: number; addr: SockAddr }> {
    const addr = await sockaddrFor(conn, host, port, 'listen');
    const fd = await conn.sys.socket('stream', { domain: domainOf(host.family) });
    this.fd = fd;
    try {
      if (this.#closed) throw Object.assign(new Error('closed'), { code: 'ERR_SERVER_NOT_RUNNING' });
      // libuv sets SO_REUSEADDR on every TCP server (uv__tcp_bind): restart while old connections linger in TIME_WAIT.
      await conn.sys.setsockopt(fd, 'socket', 'SO_REUSEADDR', true).catch(ignore);
      // uv_tcp_bind sets IPV6_V6ONLY on every AF_INET6 socket, on or off: the sysctl default does not decide.
      if (host.family === 6) await conn.sys.setsockopt(fd, 'ipv6', 'IPV6_V6ONLY', this.v6only);
      await conn.sys.bind(fd, addr).catch(async (err: { code?: string }) => {
        // A port found for listen(0) (see portsync.ts) taken by an explicit bind in between:
        // rare, and better a working server on another port than none.
        if (!this.reserved || err?.code !== 'EADDRINUSE') throw err;
        await conn.sys.bind(fd, { ...addr, port: 0 });
      });
    } catch (err) {
      this.fd = -1;
      conn.sys.close(fd).catch(ignore);
      throw err;
    }
    return { fd, addr };
  }

  #fail(err: Error): void {
    const closed = this.#closed;
    this.close();
    if (this.owner._handle === this) this.owner._handle = null;
    // Emitted from its own tick, as Node's listen errors are: with no 'error' listener it is
    // the program's uncaught exception, not a rejection swallowed by the set-up's promise.
    if (!closed) process.nextTick(() => this.owner.emit('error', err));
  }

  async #acceptLoop(): Promise<void> {
    const conn = this.#conn!;
    let failures = 0;
    // Bounded: ends on close, and after MAX_ACCEPT_FAILURES failures in a row.
    while (!this.#closed) {
      let r: { fd: number; addr: SockAddr };
      try {
        r = await conn.sys.accept(this.fd);
        failures = 0;
      } catch (err) {
        if (this.#closed) return;
        const code = (err as { code?: string }).code ?? '';
        if (++failures < MAX_ACCEPT_FAILURES && (TRANSIENT.has(code) || SHORTAGE.has(code))) {
          if (SHORTAGE.has(code)) await new Promise((res) => setTimeout(res, 50).unref());
          continue;
        }
        this.#fail(relabel(err, 'accept'));
        return;
      }
      if (this.#closed) {
        conn.sys.close(r.fd).catch(ignore);
        return;
      }
      await this.#onconnection(conn, r.fd, r.addr);
    }
  }

  /** Node's `onconnection` (lib/net.js), for a descriptor accepted in the rump server. */
  async #onconnection(conn: RumpConnection, fd: number, remote: SockAddr): Promise<void> {
    const self = this.owner;
    // A wildcard listener learns the local address of each connection from getsockname
    // (on a dual-stack one an IPv4 connection's addresses show v4-mapped, as in Node).
    const local = isAny(this.#bound.address) ? await conn.sys.getsockname(fd).catch(() => undefined) : { ...this.#bound };
    if (self.maxConnections && self._connections >= self.maxConnections) {
      self.emit('drop', {
        localAddress: local?.address,
        localPort: local?.port,
        localFamily: local ? familyName(local) : undefined,
        remoteAddress: remote.address,
        remotePort: remote.port,
        remoteFamily: familyName(remote),
      });
      conn.sys.close(fd).catch(ignore);
      return;
    }
    const socket = Socket.fromAccepted(
      { conn, fd, remote, local },
      {
        allowHalfOpen: self.allowHalfOpen,
        pauseOnConnect: self.pauseOnConnect,
        // Node's server passes its default mark (16 KiB) to every accepted
        // socket. Only a mark the program chose is passed on: at the default,
        // the accepted socket takes the rump defaults, as a connecting one
        // does (64 KiB recvs, a 256 KiB write mark): writes then queue behind
        // a send in flight and go out together, instead of each waiting for
        // 'drain' — one round trip per 64 KiB write otherwise. (An explicit
        // 16 KiB looks like the default and is treated as it.)
        ...(self.highWaterMark !== getDefaultHighWaterMark(false) ? { highWaterMark: self.highWaterMark } : {}),
        noDelay: self.noDelay,
        keepAlive: self.keepAlive,
        keepAliveInitialDelay: self.keepAliveInitialDelay * 1000,
      },
    );
    self._connections++;
    socket.server = self;
    socket._server = self;
    self.emit('connection', socket);
  }

  /** Closes the listening descriptor; connections already accepted stay open (as in BSD). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const conn = this.#conn;
    this.#life.setActive(false);
    if (conn && this.fd >= 0) this.#life.req(conn.sys.close(this.fd)).catch(ignore);
  }

  /** Fills `out` with the bound address (the requested one until bound). Returns 0 as libuv does. */
  getsockname(out: Record<string, unknown>): number {
    Object.assign(out, { address: this.#bound.address, family: familyName(this.#bound), port: this.#bound.port });
    return 0;
  }

  /** Keeps the process alive while listening. */
  ref(): void {
    this.#life.ref();
  }

  /** Lets the process exit while listening. */
  unref(): void {
    this.#life.unref();
  }

  /** No async_hooks resource behind it. */
  getAsyncId(): number {
    return -1;
  }
}

/**
 * The `_listen2` of a server on the rump stack (see the module comment).
 * Called by Node's `Server.listen()` with `this` the server and the host
 * already looked up. As Node's `setupListenHandle`: no host listens on `[::]`
 * taking IPv4 too (or on `0.0.0.0` when the stack has no IPv6); an IPv6
 * host listens on an AF_INET6 socket, v6-only when `flags` has
 * `UV_TCP_IPV6ONLY` (`listen({ ipv6Only: true })`), dual-stack otherwise.
 */
export function rumpListen2(this: net.Server, address: string | null, port: number, addressType: number, backlog: number, fd?: number, flags?: number): void {
  const self = this as NodeServerInternals;
  // A pipe (port -1) or an inherited descriptor belongs to the host kernel.
  if (port === -1 || addressType === -1 || (typeof fd === 'number' && fd >= 0) || self._handle) {
    return originalListen2.call(this, address, port, addressType, backlog, fd, flags);
  }
  const anyHost = address === null || address === '' || address === undefined;
  const host: HostAddress | undefined = anyHost ? { address: '::', family: 6 } : parseIp(address);
  if (host === undefined) {
    const err = uvError({ code: 'EINVAL', errno: -22 }, 'listen', address!, port);
    process.nextTick(() => self.emit('error', err));
    return;
  }
  const rump = self[kRumpOptions] ?? {};
  // Node has the port of a listen(0) when listen() returns: find it now, synchronously.
  const url = port === 0 && host.zone === undefined ? serverUrlFor(rump) : undefined;
  const found = url !== undefined ? reservePortSync(url, host.address, host.family) : undefined;
  const v6only = ((flags ?? 0) & UV_TCP_IPV6ONLY) !== 0;
  const handle = new RumpListenHandle(self, rump, host, found ?? port, backlog > 0 ? backlog : 511, found !== undefined, v6only, anyHost);
  self._handle = handle;
  // setupListenHandle's connection key (`6::::0`): the family, address and port asked for.
  (self as unknown as { _connectionKey: string })._connectionKey = `${host.family}:${host.address}:${port}`;
  if (self._unref) handle.unref();
  void handle.start();
}

/**
 * Moves an existing `net.Server` (typically an `http.Server` or
 * `https.Server`) onto the rump stack: its next TCP `listen()` binds in the
 * rump server, and its connections are rump {@link Socket}s. Returns the
 * same server.
 *
 * @example
 * ```ts
 * const srv = useRumpStack(http.createServer((req, res) => res.end('hi')));
 * srv.listen(8080, '127.0.0.1'); // on the rump stack, not on Linux
 * ```
 */
export function useRumpStack<T extends net.Server>(server: T, options: RumpOptions = {}): T {
  const s = server as unknown as NodeServerInternals & { _listen2: Listen2 };
  s[kRumpOptions] = options;
  s._listen2 = rumpListen2;
  return server;
}

/** Options of {@link createServer} / the {@link Server} constructor. */
export interface ServerOptions extends net.ServerOpts, RumpOptions {}

/**
 * A TCP server on the rump stack: Node's own `net.Server` (so every method,
 * property and event is Node's) whose `listen()` binds in the rump server.
 * `listen(path)` — an IPC pipe — still listens on the host.
 */
export class Server extends NodeServer {
  /** Same arguments as `net.Server`, plus {@link RumpOptions}. */
  constructor(options?: ServerOptions | ((socket: Socket) => void), connectionListener?: (socket: Socket) => void) {
    super(options as net.ServerOpts, connectionListener as unknown as (s: net.Socket) => void);
    const o = typeof options === 'object' && options !== null ? options : {};
    (this as unknown as NodeServerInternals)[kRumpOptions] = {
      ...(o.rumpServer !== undefined ? { rumpServer: o.rumpServer } : {}),
      ...(o.connection ? { connection: o.connection } : {}),
    };
  }

  /** The bound address, `{ address, family: 'IPv4' | 'IPv6', port }` (Node's `Server.address()`; `::` after a host-less `listen()`). */
  override address(): AddressInfo | string | null {
    return super.address() as AddressInfo | string | null;
  }
}
(Server.prototype as unknown as { _listen2: Listen2 })._listen2 = rumpListen2;

/**
 * Creates a TCP server on the rump stack, like `net.createServer`.
 *
 * @example
 * ```ts
 * import { createServer } from '@rumpnet/client';
 * const server = createServer((sock) => sock.pipe(sock)); // echo
 * server.listen(7, '127.0.0.1', () => console.log(server.address()));
 * ```
 */
export function createServer(connectionListener?: (socket: Socket) => void): Server;
export function createServer(options?: ServerOptions, connectionListener?: (socket: Socket) => void): Server;
export function createServer(options?: ServerOptions | ((socket: Socket) => void), connectionListener?: (socket: Socket) => void): Server {
  return new Server(options, connectionListener);
}
