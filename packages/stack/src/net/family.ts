/**
 * What each IP family is to the layers above it: gVisor's
 * `stack.NetworkProtocol` reduced to the facts transports and the socket
 * layer need — header sizes, the minimum MTU, the socket-API family number
 * and the well-known addresses. Transports take header lengths from here,
 * never from a literal 20 or 40, so one TCP serves both families.
 *
 * A pcb carries its family ({@link NetworkFamily}); code that must tell the
 * families apart compares the descriptor (`fam === INET`) or the address
 * (`typeof a === 'number'`), both a single check.
 *
 * @module
 */
import { AF } from '../socket/constants.js';
import { IP6_ANY, IP6_LOOPBACK, type IpAddress } from '../wire/ip.js';
import { IPV4_HEADER_LEN, IPV4_MAX_HEADER_LEN } from '../wire/ipv4.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU } from '../wire/ipv6.js';

/** One IP family as seen from the transports and the socket layer. */
export interface NetworkFamily {
  /** IP version: 4 or 6. */
  readonly version: 4 | 6;
  /** Socket-API family number (`AF_INET` 2, `AF_INET6` 10: Linux's values, as `socket/constants.ts`). */
  readonly af: number;
  /** Name used on the client protocol and in listings: `'inet'` or `'inet6'`. */
  readonly name: 'inet' | 'inet6';
  /** The network header a transport segment is sent behind, without options or extension headers. */
  readonly headerLen: number;
  /**
   * Headroom a transport reserves for this family's network header (BSD
   * `max_protohdr`): IPv4 with the largest options (60) or the IPv6 fixed
   * header (40; extension headers this stack sends are prepended in their
   * own mbuf).
   */
  readonly maxHeaderLen: number;
  /** Bytes of an address. */
  readonly addrLen: 4 | 16;
  /** Smallest MTU a link of this family may have (RFC 791: 68; RFC 8200: 1280). */
  readonly minMtu: number;
  /** The unspecified address (`INADDR_ANY`, `in6addr_any`). */
  readonly any: IpAddress;
  /** The loopback address lo0 carries (`127.0.0.1`, `::1`). */
  readonly loopback: IpAddress;
}

/** IPv4 (RFC 791). */
export const INET: NetworkFamily = Object.freeze({
  version: 4,
  af: AF.INET,
  name: 'inet',
  headerLen: IPV4_HEADER_LEN,
  maxHeaderLen: IPV4_MAX_HEADER_LEN,
  addrLen: 4,
  minMtu: 68,
  any: 0,
  loopback: 0x7f000001,
});

/** IPv6 (RFC 8200). */
export const INET6: NetworkFamily = Object.freeze({
  version: 6,
  af: AF.INET6,
  name: 'inet6',
  headerLen: IPV6_HEADER_LEN,
  maxHeaderLen: IPV6_HEADER_LEN,
  addrLen: 16,
  minMtu: IPV6_MIN_MTU,
  any: IP6_ANY,
  loopback: IP6_LOOPBACK,
});

/**
 * Headroom for any family's network header: what a transport leaves in
 * front of its header when it does not yet know, or does not want to care,
 * which family the segment goes out on. A few bytes more than IPv4 needs;
 * they cost nothing (the header mbuf has room).
 */
export const MAX_NET_HEADER_LEN = Math.max(IPV4_MAX_HEADER_LEN, IPV6_HEADER_LEN);

/** The family of an address. */
export function familyOf(a: IpAddress): NetworkFamily {
  return typeof a === 'number' ? INET : INET6;
}

/** The family with socket-API number `af`, or null (the caller answers EAFNOSUPPORT). */
export function familyByAf(af: number): NetworkFamily | null {
  return af === AF.INET ? INET : af === AF.INET6 ? INET6 : null;
}
