/**
 * The synchronous half of `node:dgram`'s option calls for {@link DgramSocket}
 * (`setTTL`, `setMulticast*`, `addMembership`, the buffer sizes, the send
 * queue). Node's calls are system calls answered at once; here every option
 * is a message to the server, answered later. So the client checks here,
 * synchronously and with Node's errors, everything it can know itself —
 * argument types and ranges (libuv's: `setTTL` 1..255, `setMulticastTTL`
 * 0..255), the socket being bound (`EBADF` before, as libuv has no
 * descriptor yet), group and source syntax (`EINVAL`), the memberships it
 * holds (`EADDRINUSE` joining twice, `EADDRNOTAVAIL` dropping one not held,
 * mirrored here) — and the socket then sends the option in order with its
 * other operations; what only the server can tell (`ENODEV`: no interface
 * for the group; `EADDRNOTAVAIL`: an interface address not the stack's) is
 * emitted as `'error'`.
 *
 * @module
 */
import type * as dgram from 'node:dgram';
import * as dgramNs from 'node:dgram';
import { isIPv4 } from 'node:net';
import { getSystemErrorMap } from 'node:util';
import { errnoValue, syscallError } from './errors.js';
import { codedError, parseIp, receivedType } from './shared.js';
import type { IpMreqArg } from './syscalls.js';

/** `ERR_INVALID_ARG_TYPE` for `name` not a `type`, worded as Node's validators. */
export function invalidArgType(name: string, type: string, v: unknown): TypeError & { code: string } {
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type ${type}. Received ${receivedType(v)}`);
}

/** A Node `ErrnoException`: `setTTL EINVAL`, with `code`, `errno` and `syscall`. */
export function errnoError(code: string, syscall: string): Error {
  return syscallError(errnoValue(code) ?? 22, syscall);
}

/**
 * A TTL as libuv takes it (an int32: `1.5` is 1) within `lo..hi`, or the
 * `EINVAL` Node throws. @throws ERR_INVALID_ARG_TYPE for a non-number.
 */
export function checkTtl(ttl: unknown, lo: number, syscall: string): number {
  if (typeof ttl !== 'number') throw invalidArgType('ttl', 'number', ttl);
  const v = ttl | 0;
  if (v < lo || v > 255) throw errnoError('EINVAL', syscall);
  return v;
}

/**
 * A buffer size as `setRecvBufferSize`/`setSendBufferSize` take it (a
 * positive integer below 2^32; 0 is taken).
 * @throws ERR_SOCKET_BAD_BUFFER_SIZE as Node does; ERR_SOCKET_BUFFER_SIZE
 *   (EINVAL) past 2^31 − 1, as libuv.
 */
export function checkBufferSize(size: unknown, which: 'recv' | 'send'): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > 0xffffffff) {
    throw codedError(TypeError, 'ERR_SOCKET_BAD_BUFFER_SIZE', 'Buffer size must be a positive integer');
  }
  // libuv takes an int: past 2^31 - 1 it says EINVAL.
  if (size > 0x7fffffff) throw bufferSizeError('EINVAL', which);
  return size;
}

/**
 * A `createSocket` buffer-size option (`options.recvBufferSize`), checked as
 * Node's `validateUint32`. @throws ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE.
 */
export function checkBufferOption(name: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number') {
    throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "options.${name}" property must be of type number. Received ${receivedType(v)}`);
  }
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "options.${name}" is out of range. It must be >= 0 && <= 4294967295. Received ${String(v)}`);
  }
}

/** Node's own `dgram.createSocket`, taken before the hijack can replace it (this module loads first). */
const nativeCreateSocket: ((type: 'udp4') => dgram.Socket) | undefined = (() => {
  const d = ((dgramNs as unknown as { default?: typeof dgram }).default ?? dgramNs) as typeof dgram;
  return typeof d.createSocket === 'function' ? d.createSocket.bind(d) : undefined;
})();

/**
 * `ERR_SOCKET_BUFFER_SIZE` exactly as Node throws it — a `SystemError` with
 * `info` and `errno`/`syscall` accessors, which Node's tests compare through
 * `util.inspect`. Node's `SystemError` class is internal, so the error is
 * Node's own: an unbound native socket (libuv opens no descriptor before
 * bind, so nothing reaches the host's network) fails with `EBADF`, and for
 * another code its `info` (which the accessors read) and message are set
 * to that code, as libuv would have reported it.
 */
export function bufferSizeError(code: string, which: 'recv' | 'send'): Error {
  const syscall = `uv_${which}_buffer_size`;
  const errno = -(errnoValue(code) ?? 9);
  const text = getSystemErrorMap().get(errno)?.[1] ?? code.toLowerCase();
  let err: (Error & { info?: { errno: number; code: string; message: string; syscall: string } }) | undefined;
  try {
    const s = nativeCreateSocket?.('udp4');
    try {
      if (which === 'recv') s?.getRecvBufferSize();
      else s?.getSendBufferSize();
    } finally {
      s?.close();
    }
  } catch (e) {
    err = e as typeof err;
  }
  const message = `Could not get or set buffer size: ${syscall} returned ${code} (${text})`;
  if (err?.info === undefined || (err as { code?: string }).code !== 'ERR_SOCKET_BUFFER_SIZE') {
    // Not reachable on Node 20; a plain coded error of the same shape otherwise.
    const e = codedError(Error, 'ERR_SOCKET_BUFFER_SIZE', message) as unknown as Error & Record<string, unknown>;
    e.name = 'SystemError';
    e.info = { errno, code, message: text, syscall };
    e.errno = errno;
    e.syscall = syscall;
    return e;
  }
  if (code !== 'EBADF') {
    const old = err.message;
    Object.assign(err.info, { errno, code, message: text, syscall });
    err.message = message;
    if (typeof err.stack === 'string') err.stack = err.stack.replace(old, message);
  }
  return err;
}

/**
 * Whether no interface can hold IPv4 address `a`: a group, class E or the
 * limited broadcast (`IP_MULTICAST_IF` to one is EADDRNOTAVAIL on Linux).
 */
export function isNeverLocal4(a: string): boolean {
  return isIPv4(a) && Number(a.slice(0, a.indexOf('.'))) >= 224;
}

/** Whether `a` is an IPv4 multicast group (224/4). */
export function isGroup4(a: string): boolean {
  if (!isIPv4(a)) return false;
  const first = Number(a.slice(0, a.indexOf('.')));
  return first >= 224 && first <= 239;
}

/**
 * The memberships a socket holds, mirrored on the client so that joining
 * twice and dropping what is not held fail synchronously with the errors
 * the kernel gives (Linux `ip_mc_join_group`: EADDRINUSE; `ip_mc_leave_group`:
 * EADDRNOTAVAIL). Keyed by group and interface address as given.
 */
export class Memberships {
  /** group|interface → null (any source) or the sources included. */
  readonly #held = new Map<string, Set<string> | null>();

  /**
   * Check and record a membership; @returns the request to send.
   * @throws EINVAL (not a group, a bad interface or source), EADDRINUSE
   *   (joined already, or source-specific beside any-source), EADDRNOTAVAIL
   *   (the source included already), as Node's `addMembership` /
   *   `addSourceSpecificMembership`.
   */
  add(syscall: string, group: string, iface: string | undefined, source?: string): IpMreqArg {
    const req = request(syscall, group, iface, source);
    const key = `${group}|${iface ?? ''}`;
    const cur = this.#held.get(key);
    if (source === undefined) {
      if (cur !== undefined) throw errnoError('EADDRINUSE', syscall);
      this.#held.set(key, null);
    } else {
      if (cur === null) throw errnoError('EINVAL', syscall);
      if (cur?.has(source)) throw errnoError('EADDRNOTAVAIL', syscall);
      if (cur === undefined) this.#held.set(key, new Set([source]));
      else cur.add(source);
    }
    return req;
  }

  /**
   * Check and forget a membership; @returns the request to send.
   * @throws EINVAL (not a group), EADDRNOTAVAIL (not held), as Node's
   *   `dropMembership` / `dropSourceSpecificMembership`.
   */
  drop(syscall: string, group: string, iface: string | undefined, source?: string): IpMreqArg {
    const req = request(syscall, group, iface, source);
    const key = `${group}|${iface ?? ''}`;
    const cur = this.#held.get(key);
    if (source === undefined) {
      if (cur === undefined) throw errnoError('EADDRNOTAVAIL', syscall);
      this.#held.delete(key);
    } else {
      if (!cur?.has(source)) throw errnoError('EADDRNOTAVAIL', syscall);
      cur.delete(source);
      if (cur.size === 0) this.#held.delete(key);
    }
    return req;
  }

  /** Forget a membership the server refused after all (the `'error'` reports it). */
  undo(group: string, iface: string | undefined, source?: string): void {
    const key = `${group}|${iface ?? ''}`;
    const cur = this.#held.get(key);
    if (source === undefined || cur === null || cur === undefined) this.#held.delete(key);
    else {
      cur.delete(source);
      if (cur.size === 0) this.#held.delete(key);
    }
  }

  /**
   * Check and record an IPv6 membership (`udp6`): the group and the zone of
   * the interface address, as libuv's `uv__udp_set_membership6` reads them.
   * @throws EINVAL (not IPv6, not a group, a bad interface address),
   *   EADDRINUSE (joined already on that interface), as Linux
   *   `ipv6_sock_mc_join`.
   */
  add6(syscall: string, group: string, iface: string | undefined): Group6 {
    const r = request6(syscall, group, iface);
    const key = key6(r);
    if (this.#held.has(key)) throw errnoError('EADDRINUSE', syscall);
    this.#held.set(key, null);
    return r;
  }

  /**
   * Check and forget an IPv6 membership; without a zone, one on any
   * interface (Linux `ipv6_sock_mc_drop` with index 0).
   * @throws EINVAL as {@link Memberships.add6}, EADDRNOTAVAIL (not held).
   */
  drop6(syscall: string, group: string, iface: string | undefined): Group6 {
    const r = request6(syscall, group, iface);
    let key: string | undefined = key6(r);
    if (!this.#held.has(key)) key = r.zone === undefined ? [...this.#held.keys()].find((k) => k.startsWith(`6|${r.multiaddr}|`)) : undefined;
    if (key === undefined || !this.#held.has(key)) throw errnoError('EADDRNOTAVAIL', syscall);
    this.#held.delete(key);
    return r;
  }

  /** Forget an IPv6 membership the server refused after all. */
  undo6(g: Group6): void {
    this.#held.delete(key6(g));
  }

  /** Forget everything (the socket closed: the server gave every membership back). */
  clear(): void {
    this.#held.clear();
  }
}

/** An IPv6 membership request before its zone is an index: the group (no zone, lower case) and the interface address's zone. */
export interface Group6 {
  multiaddr: string;
  zone: string | undefined;
}

function key6(g: Group6): string {
  return `6|${g.multiaddr}|${g.zone ?? ''}`;
}

function request6(syscall: string, group: string, iface: string | undefined): Group6 {
  const g = typeof group === 'string' ? parseIp(group) : undefined;
  // libuv parses both with uv_ip6_addr (EINVAL); the kernel refuses a non-group (EINVAL).
  if (g?.family !== 6 || !g.address.toLowerCase().startsWith('ff')) throw errnoError('EINVAL', syscall);
  let zone: string | undefined;
  if (iface !== undefined) {
    const i = typeof iface === 'string' ? parseIp(iface) : undefined;
    if (i?.family !== 6) throw errnoError('EINVAL', syscall);
    zone = i.zone || undefined;
  }
  return { multiaddr: g.address.toLowerCase(), zone };
}

function request(syscall: string, group: string, iface: string | undefined, source: string | undefined): IpMreqArg {
  if (!isGroup4(group)) throw errnoError('EINVAL', syscall);
  if (iface !== undefined && !isIPv4(iface)) throw errnoError('EINVAL', syscall);
  if (source !== undefined && (!isIPv4(source) || source === '0.0.0.0')) throw errnoError('EINVAL', syscall);
  return { multiaddr: group, ...(iface !== undefined ? { interface: iface } : {}), ...(source !== undefined ? { sourceaddr: source } : {}) };
}
