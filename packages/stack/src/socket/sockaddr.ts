/**
 * IPv4 socket addresses (`struct sockaddr_in`) as plain values: the address
 * in host order as an unsigned 32-bit number (as the IP layer's seam carries
 * it) and the port as a number.
 *
 * @module
 */
import { AF_INET } from './constants.js';

/** An IPv4 socket address. `addr` is host order, unsigned (0 = `INADDR_ANY`); `port` 0..65535. */
export interface SockaddrIn {
  family: number;
  addr: number;
  port: number;
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

/** `"a.b.c.d:port"`, for logs and error messages. */
export function formatSockaddr(sa: SockaddrIn): string {
  return `${inetNtoa(sa.addr)}:${sa.port}`;
}

/**
 * Validate an address given by a user: family AF_INET (else the caller
 * answers EAFNOSUPPORT), an unsigned 32-bit address and a 16-bit port (else
 * EINVAL).
 * @returns 0 when valid, else the errno kind: `'family'` or `'invalid'`.
 */
export function checkSockaddr(sa: SockaddrIn | null | undefined): 0 | 'family' | 'invalid' {
  if (sa === null || sa === undefined || typeof sa !== 'object') return 'invalid';
  if (sa.family !== AF_INET) return 'family';
  if (!Number.isInteger(sa.addr) || sa.addr < -0x80000000 || sa.addr > 0xffffffff) return 'invalid';
  if (!Number.isInteger(sa.port) || sa.port < 0 || sa.port > 65535) return 'invalid';
  return 0;
}
