/**
 * Socket addresses as plain values: `struct sockaddr_in` (the address in
 * host order as an unsigned 32-bit number, as the IP layer's seam carries
 * it) and `struct sockaddr_in6` (an {@link Ip6Address}), told apart by
 * `family`. The socket layer and the pcbs take the union {@link Sockaddr};
 * `addr` of either is an {@link IpAddress}.
 *
 * @module
 */
import { Ip6Address, ipToString, type IpAddress } from '../wire/ip.js';
import { AF, AF_INET } from './constants.js';

/** An IPv4 socket address. `addr` is host order, unsigned (0 = `INADDR_ANY`); `port` 0..65535. */
export interface SockaddrIn {
  family: number;
  addr: number;
  port: number;
}

/** An IPv6 socket address (`struct sockaddr_in6`, RFC 3493 3.3). */
export interface SockaddrIn6 {
  family: number;
  addr: Ip6Address;
  port: number;
  /** Traffic class and flow label (`sin6_flowinfo`), 0 by default. */
  flowinfo: number;
  /** Interface index for link-local scope (`sin6_scope_id`, RFC 4007), 0 = none. */
  scopeId: number;
}

/** A socket address of either family (`struct sockaddr_storage` narrowed to the inet families). */
export type Sockaddr = SockaddrIn | SockaddrIn6;

/** `AF_INET6`. */
export const AF_INET6 = AF.INET6;

/** Make a `sockaddr_in6`. */
export function sockaddrIn6(addr: Ip6Address, port: number, flowinfo = 0, scopeId = 0): SockaddrIn6 {
  return { family: AF_INET6, addr, port, flowinfo, scopeId };
}

/** The socket address of `addr:port` in the address's own family. */
export function sockaddrFor(addr: IpAddress, port: number): Sockaddr {
  return typeof addr === 'number' ? sockaddrIn(addr, port) : sockaddrIn6(addr, port);
}

/** `INADDR_ANY`, 0.0.0.0. */
export const INADDR_ANY = 0;
/** `INADDR_BROADCAST`, 255.255.255.255 (the limited broadcast). */
export const INADDR_BROADCAST = 0xffffffff;
/** `INADDR_LOOPBACK`, 127.0.0.1. */
export const INADDR_LOOPBACK = 0x7f000001;

/** Make a `sockaddr_in` (`sockaddr_in_init`). */
export function sockaddrIn(addr: number, port: number): SockaddrIn {
  return { family: AF_INET, addr: addr >>> 0, port };
}

/** Whether `a` is a class D (multicast) address, 224.0.0.0/4 (`IN_MULTICAST`). */
export function inMulticast(a: number): boolean {
  return (a >>> 28) === 0xe;
}

/** Dotted-quad text of a host-order address, e.g. `"10.0.0.1"` (`inet_ntoa`). */
export function inetNtoa(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/**
 * Parse a dotted quad into a host-order address (`inet_aton`, strict four
 * decimal parts).
 * @returns the address, or null when the text is not a dotted quad.
 */
export function inetAton(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** `"a.b.c.d:port"` or `"[v6]:port"`, for logs and error messages. */
export function formatSockaddr(sa: Sockaddr): string {
  return typeof sa.addr === 'number' ? `${inetNtoa(sa.addr)}:${sa.port}` : `[${ipToString(sa.addr)}]:${sa.port}`;
}

/**
 * Validate an address given by a user: family AF_INET or AF_INET6 (else
 * the caller answers EAFNOSUPPORT), an address of that family (an unsigned
 * 32-bit number or an {@link Ip6Address}), a 16-bit port, and for AF_INET6
 * a 32-bit flow info and scope id (else EINVAL).
 * @returns 0 when valid, else the errno kind: `'family'` or `'invalid'`.
 */
export function checkSockaddr(sa: Sockaddr | null | undefined): 0 | 'family' | 'invalid' {
  if (sa === null || sa === undefined || typeof sa !== 'object') return 'invalid';
  if (sa.family === AF_INET) {
    if (!Number.isInteger(sa.addr) || (sa.addr as number) < -0x80000000 || (sa.addr as number) > 0xffffffff) return 'invalid';
  } else if (sa.family === AF_INET6) {
    const s6 = sa as SockaddrIn6;
    if (!(s6.addr instanceof Ip6Address)) return 'invalid';
    if (!isU32(s6.flowinfo) || !isU32(s6.scopeId)) return 'invalid';
  } else return 'family';
  if (!Number.isInteger(sa.port) || sa.port < 0 || sa.port > 65535) return 'invalid';
  return 0;
}

function isU32(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
}
