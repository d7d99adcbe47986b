/**
 * The `node:net`-shaped face of the rump stack: `createServer`,
 * `createConnection`/`connect`, `Socket`, `Server`, plus the glue that puts
 * `node:http` on it (`createHttpServer`, `Agent`). All sockets of a process
 * share one {@link RumpConnection} per server URL, so many sockets multiplex
 * over one Unix socket with many system calls in flight.
 *
 * Both families, as in Node: `listen(port)` listens on `[::]` and takes
 * IPv4 too (peers show as `::ffff:a.b.c.d`, family `'IPv6'`) unless
 * `ipv6Only`; `::1` and `fe80::1%tap0` are the rump stack's addresses.
 * Differences from `node:net` (the rump stack is TCP/UDP only): IPC paths
 * are refused on a rump `Socket` (a `Server` still listens on a path, on the
 * host); names are resolved by the host's resolver (or the program's
 * `lookup`) and, with `autoSelectFamily`, their addresses tried in Node's
 * order one after another rather than raced; `Socket.fd` is the rump
 * server's descriptor.
 */
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { Socket as SocketClass, normalizeConnectArgs, type SocketOptions, type TcpConnectOptions } from './socket.js';
import { useRumpStack, type ServerOptions } from './server.js';
import type { RumpOptions } from './shared.js';

export { normalizeConnectArgs } from './socket.js';

/**
 * The rump TCP socket class (see the socket module), callable without `new`
 * as `net.Socket` is: `Socket(opts)` constructs. `new`, `instanceof`,
 * `extends` and the statics are the class's own.
 */
export const Socket = new Proxy(SocketClass, {
  apply: (Target, _this, args: [SocketOptions?]) => new Target(...args),
}) as typeof SocketClass & ((options?: SocketOptions) => SocketClass);
/** A rump TCP socket (the instance type of {@link Socket}). */
export type Socket = SocketClass;
/** `net.Stream`: the same as {@link Socket}, as in `net`. */
export const Stream = Socket;
export type { AcceptedInit, AddressInfo, SocketOptions, TcpConnectOptions } from './socket.js';
export { Server, RumpListenHandle, createServer, rumpListen2, useRumpStack, NodeServer } from './server.js';
export type { ServerOptions } from './server.js';
export { setSyncListen } from './portsync.js';
export {
  ERR_RUMP_NO_SERVER,
  ERR_RUMP_UNREACHABLE,
  closeSharedConnections,
  connectionFor,
  setDefaultRumpServer,
  toIPv4,
} from './shared.js';
export type { LookupFunction, RumpOptions } from './shared.js';

/**
 * Opens a TCP connection through the rump stack, like `net.createConnection`:
 * `(port[, host][, connectListener])` or `(options[, connectListener])`.
 * Returns the socket at once; failures arrive as `'error'`
 * (`connect ECONNREFUSED 127.0.0.1:9`). The options may name the rump server
 * (`rumpServer`, `connection`); by default the shared connection to
 * `RUMP_SERVER` is used. Suitable as `http.request({ createConnection })`.
 *
 * @example
 * ```ts
 * import { createConnection } from '@rumpnet/client';
 * const sock = createConnection(7, '127.0.0.1', () => sock.end('hello'));
 * sock.on('data', (d) => console.log(String(d)));
 * sock.on('error', (e) => console.error(e.message)); // connect ECONNREFUSED 127.0.0.1:7
 * ```
 */
export function createConnection(options: TcpConnectOptions, connectListener?: () => void): Socket;
export function createConnection(port: number | string, host?: string, connectListener?: () => void): Socket;
export function createConnection(port: number | string, connectListener?: () => void): Socket;
export function createConnection(...args: unknown[]): Socket {
  const [opts, cb] = normalizeConnectArgs(args);
  const sock = new SocketClass(opts);
  return cb ? sock.connect(opts, cb) : sock.connect(opts);
}

/** Alias of {@link createConnection}, as in `net`. */
export const connect = createConnection;

/**
 * An `http.Server` on the rump stack: `http.createServer` whose `listen()`
 * binds in the rump server (see {@link useRumpStack}). Everything else —
 * keep-alive, timeouts, `close()`, `closeAllConnections()` — is Node's.
 *
 * @example
 * ```ts
 * const srv = createHttpServer((req, res) => res.end('hello from rump'));
 * srv.listen(8080, '127.0.0.1');
 * ```
 */
export function createHttpServer(requestListener?: http.RequestListener): http.Server;
export function createHttpServer(options: http.ServerOptions & ServerOptions, requestListener?: http.RequestListener): http.Server;
export function createHttpServer(a?: (http.ServerOptions & ServerOptions) | http.RequestListener, b?: http.RequestListener): http.Server {
  const options = typeof a === 'object' && a !== null ? a : {};
  const listener = typeof a === 'function' ? a : b;
  const srv = listener ? http.createServer(options, listener) : http.createServer(options);
  const rump: RumpOptions = {
    ...(options.rumpServer !== undefined ? { rumpServer: options.rumpServer } : {}),
    ...(options.connection ? { connection: options.connection } : {}),
  };
  return useRumpStack(srv, rump);
}

/**
 * An `http.Agent` whose connections go through the rump stack, with Node's
 * pooling and keep-alive: `http.request({ agent: new Agent(), ... })`.
 * (`http.request({ createConnection })` without an agent works too.)
 */
export class Agent extends http.Agent {
  readonly #rump: RumpOptions;
  /** Node's agent options plus {@link RumpOptions}. */
  constructor(options: http.AgentOptions & RumpOptions = {}) {
    super(options);
    this.#rump = {
      ...(options.rumpServer !== undefined ? { rumpServer: options.rumpServer } : {}),
      ...(options.connection ? { connection: options.connection } : {}),
    };
  }

  /** @internal Called by `http.Agent` for each new connection. */
  override createConnection(options: TcpConnectOptions, cb?: (err: Error | null, socket: Duplex) => void): Duplex {
    const sock = createConnection({ ...options, ...this.#rump });
    if (cb) {
      // The agent's callback wants (err, socket) once; the socket is also returned.
      sock.once('connect', () => cb(null, sock));
    }
    return sock;
  }
}
