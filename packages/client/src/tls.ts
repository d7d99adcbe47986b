/**
 * TLS on the rump stack. Node's TLS does not need a kernel socket: given
 * `tls.connect({ socket })` with a stream that has no native handle, it wraps
 * it in a `JSStreamSocket` and runs OpenSSL over the stream's reads and
 * writes. So a TLS client on rump is Node's own `TLSSocket` over a rump
 * {@link Socket}, and a TLS server on rump is Node's own `tls.Server` whose
 * `listen()` binds in the rump server ({@link useRumpStack}): the
 * connections it accepts are rump sockets, which `tls.Server` wraps the same
 * way. Certificates, SNI, ALPN, session resumption, verification: all Node's.
 *
 * Under the hijack {@link tlsConnect} replaces `tls.connect` (and so
 * `https.request`/`https.get`, whose agent calls `tls.connect`, and the
 * `https:` half of `fetch`).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { useRumpStack } from './server.js';
import { Socket } from './socket.js';
import type { RumpOptions } from './shared.js';

type AnyFn = (...args: unknown[]) => unknown;

// The CommonJS export object of `node:tls`, whose `connect` the hijack
// replaces; Node's own `connect`, captured before anyone patched it.
const tlsM = (tls as unknown as { default: typeof tls }).default ?? tls;
const netM = (net as unknown as { default: typeof net }).default ?? net;
/** Node's `tls.connect`, as it was when this module loaded (before the hijack). */
export const nodeTlsConnect: typeof tls.connect = tlsM.connect;

/** Options of {@link connectTls}: Node's `tls.ConnectionOptions` plus {@link RumpOptions}. */
export interface TlsConnectOptions extends tls.ConnectionOptions, RumpOptions {
  /** Local address to bind the TCP connection to (passed on by `https.Agent`). */
  readonly localAddress?: string;
  /** Address family of the TCP connection: 4, 6 or 0 (either), as `net.connect`. */
  readonly family?: number;
  /** Keep the writable side open after the peer's FIN. */
  readonly allowHalfOpen?: boolean;
}

/**
 * Node's argument forms of `tls.connect`: `(options[, cb])`,
 * `(port[, host][, options][, cb])`. As in Node (`_tls_wrap.js`
 * `normalizeConnectArgs`), an options object after the port/host is merged
 * over them, so its `host` wins.
 */
export function normalizeTlsConnectArgs(args: unknown[]): [TlsConnectOptions, (() => void) | undefined] {
  const [base, cb] = (netM as unknown as { _normalizeArgs(a: unknown[]): [Record<string, unknown>, (() => void)?] })._normalizeArgs(args);
  const options: Record<string, unknown> = { ...base };
  if (args[1] !== null && typeof args[1] === 'object') Object.assign(options, args[1]);
  else if (args[2] !== null && typeof args[2] === 'object') Object.assign(options, args[2]);
  return [options as TlsConnectOptions, typeof cb === 'function' ? cb : undefined];
}

/** True when `tls.connect` with these options has its own transport (a given socket, an IPC path): not ours to carry. */
export function hasOwnTransport(options: TlsConnectOptions): boolean {
  return options.socket != null || (typeof options.path === 'string' && options.path !== '');
}

/**
 * `tls.connect` over the rump stack: opens a rump TCP connection to
 * `host:port` and hands it to Node's `tls.connect` as `socket`, so the
 * handshake and the record layer are Node's. Same arguments and events as
 * `tls.connect` (`secureConnect`, then `data`…); errors of the TCP
 * connection (`connect ECONNREFUSED 10.0.0.2:443`) and of the handshake
 * arrive as `'error'` on the returned socket. `timeout` arms
 * `setTimeout` on the TLS socket, as Node does for the socket it creates.
 * With `socket` or `path` given there is nothing to carry: Node's
 * `tls.connect` runs unchanged.
 *
 * @example
 * ```ts
 * import { connectTls } from '@rumpnet/client';
 * const s = connectTls({ host: '10.0.0.1', port: 443, servername: 'example.test', ca }, () => {
 *   s.end('GET / HTTP/1.0\r\nHost: example.test\r\n\r\n');
 * });
 * ```
 */
export function connectTls(options: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function connectTls(port: number, host?: string, options?: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function connectTls(port: number, options?: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function connectTls(...args: unknown[]): tls.TLSSocket {
  const [options, cb] = normalizeTlsConnectArgs(args);
  if (hasOwnTransport(options)) return (nodeTlsConnect as AnyFn)(...args) as tls.TLSSocket;
  const { rumpServer, connection } = options;
  const rump: RumpOptions = { ...(rumpServer !== undefined ? { rumpServer } : {}), ...(connection ? { connection } : {}) };
  const raw = new Socket({ ...rump, ...(options.allowHalfOpen !== undefined ? { allowHalfOpen: options.allowHalfOpen } : {}) });
  raw.connect({
    host: options.host ?? 'localhost',
    port: options.port as number,
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    ...(options.family !== undefined ? { family: options.family } : {}),
    ...(options.lookup !== undefined ? { lookup: options.lookup as never } : {}),
    ...rump,
  });
  const { timeout, ...rest } = options;
  // A failed TCP connect reaches the TLS socket as its 'error' (Node's JSStreamSocket passes it on).
  const t = nodeTlsConnect({ ...rest, socket: raw }, cb);
  t.once('close', () => raw.destroy());
  if (timeout) t.setTimeout(timeout);
  return t;
}

/**
 * A `tls.Server` on the rump stack: Node's `tls.createServer` whose
 * `listen()` binds in the rump server. Its connections are rump sockets
 * under Node's `TLSSocket`s. (For `https`, pass an `https.createServer(...)`
 * to {@link useRumpStack} the same way.)
 *
 * @example
 * ```ts
 * const srv = createTlsServer({ key, cert }, (s) => s.end('hello over TLS'));
 * srv.listen(443, '0.0.0.0');
 * ```
 */
export function createTlsServer(options: tls.TlsOptions & RumpOptions, secureConnectionListener?: (socket: tls.TLSSocket) => void): tls.Server {
  const { rumpServer, connection, ...tlsOptions } = options;
  const srv = tls.createServer(tlsOptions, secureConnectionListener);
  return useRumpStack(srv, { ...(rumpServer !== undefined ? { rumpServer } : {}), ...(connection ? { connection } : {}) });
}

/**
 * Every copy of this module's `Socket` class loaded in the process. Node's
 * `TLSSocket` is taught once per process (below), by whichever copy loads
 * first — and a program can hold two (two installed versions, or the
 * package's build beside its sources): the sockets of each must be known.
 */
const kSocketClasses = Symbol.for('rumpnet.tls.socketClasses');
const socketClasses: Set<abstract new (...a: never[]) => unknown> = ((globalThis as { [kSocketClasses]?: Set<abstract new (...a: never[]) => unknown> })[kSocketClasses] ??= new Set());
socketClasses.add(Socket);

function isRumpSocket(x: unknown): x is Socket {
  for (const C of socketClasses) if (x instanceof C) return true;
  return false;
}

/** The rump socket a TLS socket runs over (the `socket` it was made with, or the stream inside its `JSStreamSocket`), if any. */
function rumpSocketUnder(t: tls.TLSSocket, socket?: unknown): Socket | undefined {
  if (isRumpSocket(socket)) return socket;
  const inner = (t as unknown as { _parentWrap?: { stream?: unknown } | null })._parentWrap?.stream;
  return isRumpSocket(inner) ? inner : undefined;
}

/**
 * Gives a TLS socket over a rump socket the rump socket's addresses. Node
 * reads `remoteAddress`/`localAddress`/`address()` through the native
 * handle's `getpeername`/`getsockname`, and the `JSStreamSocket` under a
 * TLS socket over any other stream has none (Node says `undefined`); the
 * rump socket knows them.
 */
function adoptAddresses(t: tls.TLSSocket, raw: Socket): void {
  const u = t as unknown as { _getpeername(): object; _getsockname(): object };
  u._getpeername = () => (raw.remoteAddress === undefined ? {} : { address: raw.remoteAddress, family: raw.remoteFamily, port: raw.remotePort });
  u._getsockname = () => raw.address();
}

/**
 * The hijack's `tls.connect`: TCP targets go through {@link connectTls}
 * (the rump stack); a given `socket` or an IPC `path` stays with Node.
 */
export function tlsConnect(...args: unknown[]): tls.TLSSocket {
  return (connectTls as AnyFn)(...args) as tls.TLSSocket;
}

/**
 * Teaches Node's `TLSSocket` about rump sockets (once per process, when this
 * module loads; TLS sockets over anything else are untouched). Node decides
 * whether the stream under a new TLS socket is still connecting from its
 * native handle — `socket.connecting || !socket._handle` for a `net.Socket`,
 * nothing at all for another stream — and a rump socket has no handle:
 * - under the hijack a rump socket is `instanceof net.Socket`, so Node would
 *   take an accepted one for one still connecting and hold the TLS socket's
 *   writes for a `'connect'` that never comes (a TLS server's answers would
 *   never leave). A rump socket knows: `pending` is false once connected.
 * - without the hijack Node would start the handshake over a socket still
 *   connecting; wait for its `'connect'` and pass it on, as Node does for
 *   the socket it connects itself.
 * And the TLS socket takes the rump socket's addresses (see {@link adoptAddresses}).
 */
function teachTlsSocket(): void {
  const proto = tlsM.TLSSocket.prototype as unknown as { _init(this: tls.TLSSocket, socket: unknown, wrap: unknown): void; [kTaught]?: true };
  if (proto[kTaught]) return;
  const nodeInit = proto._init;
  proto._init = function _init(this: tls.TLSSocket, socket: unknown, wrap: unknown): void {
    nodeInit.call(this, socket, wrap);
    const raw = rumpSocketUnder(this, socket);
    if (raw === undefined) return;
    const self = this as { connecting: boolean };
    if (!raw.pending) self.connecting = false;
    else if (!(socket instanceof netM.Socket) && raw.connecting) {
      self.connecting = true;
      raw.once('connect', () => {
        self.connecting = false;
        this.emit('connect');
      });
    }
    adoptAddresses(this, raw);
  };
  proto[kTaught] = true;
}
const kTaught = Symbol.for('rumpnet.tls.taught');
teachTlsSocket();

/** Installs {@link tlsConnect} as `tls.connect`; returns the undo. */
export function patchTls(): () => void {
  const saved = tlsM.connect;
  tlsM.connect = tlsConnect as typeof tls.connect;
  return () => {
    tlsM.connect = saved;
  };
}
