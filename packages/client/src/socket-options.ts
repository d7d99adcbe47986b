/**
 * The option and argument shapes of a rump {@link Socket}: what its
 * constructor and `connect()` take, as `net.Socket` takes them, and the
 * normalising of `connect()`'s argument forms.
 */
import * as net from 'node:net';
import type { RumpConnection } from './connection.js';
import type { LookupFunction, RumpOptions } from './shared.js';
import type { SockAddr } from './syscalls.js';
import type { Socket } from './socket.js';

const netM = (net as unknown as { default?: typeof net }).default ?? net;

/** The address of a socket, as `net.Socket.address()` returns it. */
export interface AddressInfo {
  /** Dotted quad, or IPv6 text (`::1`, `::ffff:10.0.0.2` for an IPv4 peer of a dual-stack socket). */
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** Options of the {@link Socket} constructor. */
export interface SocketOptions extends RumpOptions {
  /** Keep the writable side open after the peer's FIN (default false: end it too, like `net`). */
  readonly allowHalfOpen?: boolean;
  /**
   * Buffer limit of both sides in bytes, and the size of one `recv`. Default:
   * Node's 16 KiB readable mark with 64 KiB recvs, and a 256 KiB writable mark.
   */
  readonly highWaterMark?: number;
  /** Destroys the socket when aborted. */
  readonly signal?: AbortSignal;
  /** Set `TCP_NODELAY` once connected. */
  readonly noDelay?: boolean;
  /** Set `SO_KEEPALIVE` once connected. */
  readonly keepAlive?: boolean;
  /** Keepalive idle time in ms (`TCP_KEEPIDLE`, whole seconds on the wire). */
  readonly keepAliveInitialDelay?: number;
  /**
   * net's `onread`: read into the program's `buffer` (or one `buffer()`
   * returns per read) and hand each read to `callback(nread, buf)` instead of
   * `'data'`; the callback returning false, or `pause()`, stops reading until
   * `resume()`. The buffers stay the program's.
   */
  readonly onread?: { buffer: Uint8Array | (() => Uint8Array); callback: (nread: number, buf: Uint8Array) => boolean | void };
}

/** Options of {@link Socket.connect} (TCP only: a `path` is an IPC pipe, which the rump stack has not). */
export interface TcpConnectOptions extends SocketOptions {
  /** Peer port. */
  readonly port: number | string;
  /**
   * Peer host: an IPv4 or IPv6 address (`fe80::1%tap0`: the zone names a rump
   * interface) or a name (resolved by the host's resolver); default
   * `localhost`, the rump stack's 127.0.0.1.
   */
  readonly host?: string;
  /** Local address to bind first. */
  readonly localAddress?: string;
  /** Local port to bind first. */
  readonly localPort?: number;
  /** Address family a name is resolved in: 0 (either, the default), 4 or 6; `'IPv4'`/`'IPv6'` too, as in `net`. */
  readonly family?: number;
  /**
   * Custom name lookup (`dns.lookup` shape), called as net calls it:
   * `(host, { family, hints[, all] }, cb)`, `all` when the family is open
   * and `autoSelectFamily` is on.
   */
  readonly lookup?: LookupFunction;
  /** `getaddrinfo` hints for the lookup (`dns.ADDRCONFIG`, ...). */
  readonly hints?: number;
  /** Try every address of a name, alternating families (default `net.getDefaultAutoSelectFamily()`); one at a time here. */
  readonly autoSelectFamily?: boolean;
  /** Accepted and checked as in `net` (an integer ≥ 1); attempts here run one after another. */
  readonly autoSelectFamilyAttemptTimeout?: number;
  /** Idle timeout in ms, as {@link Socket.setTimeout}. */
  readonly timeout?: number;
  /** An IPC path: refused here (the hijack hands such calls to the real `net`). */
  readonly path?: string;
}

/** What an accepting server hands to a new socket (internal). */
export interface AcceptedInit {
  readonly conn: RumpConnection;
  readonly fd: number;
  readonly remote: SockAddr;
  readonly local: SockAddr | undefined;
}

/** net's private `normalizedArgsSymbol`, found on what its public-by-use `_normalizeArgs` returns. */
const normalizedArgsSymbol: symbol | undefined = (() => {
  const fn = (netM as unknown as { _normalizeArgs?: (a: unknown[]) => object })._normalizeArgs;
  return fn ? Object.getOwnPropertySymbols(fn([]))[0] : undefined;
})();

/** Normalises `connect()`'s argument forms: `(options[, cb])`, `(port[, host][, cb])`, `(path[, cb])`. */
export function normalizeConnectArgs(args: unknown[]): [TcpConnectOptions, (() => void) | undefined] {
  // An array from net._normalizeArgs (it carries net's normalizedArgsSymbol) is already normalized.
  const a = args[0];
  if (Array.isArray(a) && normalizedArgsSymbol !== undefined && (a as unknown as Record<symbol, unknown>)[normalizedArgsSymbol] === true) {
    return [(a[0] ?? {}) as TcpConnectOptions, typeof a[1] === 'function' ? (a[1] as () => void) : undefined];
  }
  const last = args[args.length - 1];
  const cb = typeof last === 'function' ? (last as () => void) : undefined;
  const a0 = args[0];
  if (a0 !== null && typeof a0 === 'object') return [a0 as TcpConnectOptions, cb];
  if (typeof a0 === 'string' && !/^\s*\d+\s*$/.test(a0)) return [{ path: a0, port: -1 }, cb];
  const host = typeof args[1] === 'string' ? args[1] : undefined;
  return [{ port: a0 as number, ...(host !== undefined ? { host } : {}) }, cb];
}
