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
import type { RumpConnection } from './connection.js';
import {
  connectionFor,
  KeepAlive,
  ignore,
  relabel,
  serverUrlFor,
  trackListen,
  toIPv4,
  uvError,
  type RumpOptions,
} from './shared.js';
import { reservePortSync } from './portsync.js';
import { Socket, type AddressInfo } from './socket.js';
import type { SockAddrIn } from './syscalls.js';

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
  #bound: SockAddrIn;
  #closed = false;
  /** Listening is an active handle; setting it up is a request (see {@link KeepAlive}). */
  readonly #life = new KeepAlive();

  constructor(
    private readonly owner: NodeServerInternals,
    private readonly rump: RumpOptions,
    address: string,
    port: number,
    private readonly backlog: number,
    /** True when `port` was found for a `listen(0)` by {@link reservePortSync}. */
    private readonly reserved = false,
  ) {
    this.#bound = { family: 'inet', address, port };
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
    const want = this.#bound;
    try {
      const conn = await connectionFor(this.rump);
      this.#conn = conn;
      if (this.#closed) return;
      this.#life.attach(conn);
      const fd = await conn.sys.socket('stream');
      this.fd = fd;
      if (this.#closed) return void conn.sys.close(fd).catch(ignore);
      // libuv sets SO_REUSEADDR on every TCP server (uv__tcp_bind): restart while old connections linger in TIME_WAIT.
      await conn.sys.setsockopt(fd, 'socket', 'SO_REUSEADDR', true).catch(ignore);
      await conn.sys.bind(fd, want).catch(async (err: { code?: string }) => {
        // A port found for listen(0) (see portsync.ts) taken by an explicit bind in between:
        // rare, and better a working server on another port than none.
        if (!this.reserved || err?.code !== 'EADDRINUSE') throw err;
        await conn.sys.bind(fd, { ...want, port: 0 });
      });
      await conn.sys.listen(fd, this.backlog);
      this.#bound = (await conn.sys.getsockname(fd).catch(() => want)) as SockAddrIn; // an AF_INET socket: inet names
    } catch (err) {
      this.#fail(uvError(err, 'listen', want.address, want.port));
      return;
    }
    if (this.#closed || this.owner._handle !== this) return;
    this.#life.setActive(true);
    this.owner.emit('listening');
    void this.#acceptLoop();
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
      let r: { fd: number; addr: SockAddrIn };
      try {
        r = (await conn.sys.accept(this.fd)) as { fd: number; addr: SockAddrIn }; // AF_INET listener
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
  async #onconnection(conn: RumpConnection, fd: number, remote: SockAddrIn): Promise<void> {
    const self = this.owner;
    // A wildcard listener learns the local address of each connection from getsockname.
    const local = this.#bound.address === '0.0.0.0' ? ((await conn.sys.getsockname(fd).catch(() => undefined)) as SockAddrIn | undefined) : { ...this.#bound };
    if (self.maxConnections && self._connections >= self.maxConnections) {
      self.emit('drop', {
        localAddress: local?.address,
        localPort: local?.port,
        localFamily: 'IPv4',
        remoteAddress: remote.address,
        remotePort: remote.port,
        remoteFamily: 'IPv4',
      });
      conn.sys.close(fd).catch(ignore);
      return;
    }
    const socket = Socket.fromAccepted(
      { conn, fd, remote, local },
      {
        allowHalfOpen: self.allowHalfOpen,
        pauseOnConnect: self.pauseOnConnect,
        highWaterMark: self.highWaterMark,
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
    Object.assign(out, { address: this.#bound.address, family: 'IPv4', port: this.#bound.port });
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
 * Called by Node's `Server.listen()` with `this` the server. An IPv6
 * address other than `::`/`::1` fails with `listen EAFNOSUPPORT`.
 */
export function rumpListen2(this: net.Server, address: string | null, port: number, addressType: number, backlog: number, fd?: number, flags?: number): void {
  const self = this as NodeServerInternals;
  // A pipe (port -1) or an inherited descriptor belongs to the host kernel.
  if (port === -1 || addressType === -1 || (typeof fd === 'number' && fd >= 0) || self._handle) {
    return originalListen2.call(this, address, port, addressType, backlog, fd, flags);
  }
  const host = address === null || address === '' ? '0.0.0.0' : toIPv4(address);
  if (host === undefined) {
    const err = uvError({ code: 'EAFNOSUPPORT', errno: -97 }, 'listen', address!, port);
    process.nextTick(() => self.emit('error', err));
    return;
  }
  const rump = self[kRumpOptions] ?? {};
  // Node has the port of a listen(0) when listen() returns: find it now, synchronously.
  const url = port === 0 ? serverUrlFor(rump) : undefined;
  const found = url !== undefined ? reservePortSync(url, host) : undefined;
  const handle = new RumpListenHandle(self, rump, host, found ?? port, backlog > 0 ? backlog : 511, found !== undefined);
  self._handle = handle;
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

  /** The bound address, `{ address, family: 'IPv4', port }` (Node's `Server.address()`). */
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
