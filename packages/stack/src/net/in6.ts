/**
 * IPv6 interface addresses and groups (NetBSD `sys/netinet6/in6.c`,
 * `struct in6_ifaddr`, `in6_multi`) and the address arithmetic the IPv6
 * layer needs: prefixes, interface identifiers (RFC 4291 2.5.1 modified
 * EUI-64), solicited-node groups (RFC 4291 2.7.1) and the Ethernet mapping
 * of IPv6 multicast (RFC 2464 7).
 *
 * @module
 */
import { createHmac } from 'node:crypto';
import { Ip6Address } from '../wire/ip.js';

/** State of an IPv6 interface address (RFC 4862 5.4). */
export type In6AddrState =
  /** Duplicate address detection under way: not usable as a source or destination. */
  | 'tentative'
  /** Usable. */
  | 'preferred'
  /** Past its preferred lifetime: kept for existing traffic, not chosen for new (RFC 4862 5.5.4). */
  | 'deprecated'
  /** DAD found another node using it: never used (RFC 4862 5.4.5). */
  | 'duplicated';

/** One IPv6 address on an interface (`struct in6_ifaddr`). */
export interface In6Ifaddr {
  /** The address. */
  readonly addr: Ip6Address;
  /** Prefix length 0..128. */
  readonly prefixLen: number;
  /** The address masked to its prefix. */
  readonly prefix: Ip6Address;
  /** Its solicited-node group `ff02::1:ffXX:XXXX` (RFC 4291 2.7.1). */
  readonly solicited: Ip6Address;
  /** How it came to be. */
  readonly origin: 'manual' | 'linklocal' | 'slaac' | 'loopback';
  /** DAD state. */
  state: In6AddrState;
  /** Clock time when it expires (SLAAC valid lifetime), or Infinity. */
  validUntil: number;
  /** Clock time when it becomes deprecated, or Infinity. */
  preferredUntil: number;
  /** DAD solicitations still to send. */
  dadLeft: number;
}

/** A group joined on an interface, with a reference count (several addresses share a solicited-node group). */
export interface In6Multi {
  readonly addr: Ip6Address;
  refs: number;
}

/** Per-interface Neighbor Discovery parameters (RFC 4861 6.3.2), which a router advertisement may change. */
export interface Nd6IfParams {
  /** Base reachable time, ms (RFC 4861 10: REACHABLE_TIME 30 s). */
  baseReachableMs: number;
  /** Reachable time in force: a random 0.5..1.5 times the base (RFC 4861 6.3.2). */
  reachableMs: number;
  /** Time between retransmitted solicitations, ms (RETRANS_TIMER 1 s). */
  retransMs: number;
  /** Hop limit a router advertised, or 0 (use `net.inet6.ip6.hlim`). */
  curHopLimit: number;
  /** MTU a router advertised (RFC 4861 4.6.4), or 0 (use the link's). */
  linkMtu: number;
}

/** The mask word `i` (0..3) of a prefix of `len` bits. */
export function prefixWord(len: number, i: number): number {
  const bits = len - i * 32;
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** `a` masked to its first `len` bits. */
export function ip6Mask(a: Ip6Address, len: number): Ip6Address {
  return Ip6Address.fromWords(
    a.w0 & prefixWord(len, 0),
    a.w1 & prefixWord(len, 1),
    a.w2 & prefixWord(len, 2),
    a.w3 & prefixWord(len, 3),
  );
}

/** Whether `a` is inside `prefix`/`len` (`prefix` already masked). Allocates nothing. */
export function ip6InPrefix(a: Ip6Address, prefix: Ip6Address, len: number): boolean {
  return (
    ((a.w0 & prefixWord(len, 0)) >>> 0) === prefix.w0 &&
    ((a.w1 & prefixWord(len, 1)) >>> 0) === prefix.w1 &&
    ((a.w2 & prefixWord(len, 2)) >>> 0) === prefix.w2 &&
    ((a.w3 & prefixWord(len, 3)) >>> 0) === prefix.w3
  );
}

/** Length of the common prefix of `a` and `b`, 0..128 (RFC 6724 rule 8's CommonPrefixLen). */
export function commonPrefixLen(a: Ip6Address, b: Ip6Address): number {
  let x = a.w0 ^ b.w0;
  if (x !== 0) return Math.clz32(x);
  x = a.w1 ^ b.w1;
  if (x !== 0) return 32 + Math.clz32(x);
  x = a.w2 ^ b.w2;
  if (x !== 0) return 64 + Math.clz32(x);
  x = a.w3 ^ b.w3;
  return x !== 0 ? 96 + Math.clz32(x) : 128;
}

/** The solicited-node group of `a`: `ff02::1:ff00:0/104` plus its low 24 bits (RFC 4291 2.7.1). */
export function solicitedNode(a: Ip6Address): Ip6Address {
  return Ip6Address.fromWords(0xff020000, 0, 1, 0xff000000 | (a.w3 & 0xffffff));
}

/**
 * The modified EUI-64 interface identifier of a 48-bit MAC (RFC 4291
 * appendix A: insert ff:fe in the middle, flip the universal/local bit), as
 * the two low words of an address.
 */
export function eui64(mac: Uint8Array): [number, number] {
  const hi = (((mac[0]! ^ 0x02) << 24) | (mac[1]! << 16) | (mac[2]! << 8) | 0xff) >>> 0;
  const lo = ((0xfe << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0;
  return [hi, lo];
}

/**
 * A semantically opaque interface identifier (RFC 7217 5): the first 64 bits
 * of HMAC-SHA-256 under `secret` over the prefix's 64 bits, the interface
 * name (Net_Iface) and the DAD counter. Stable for a prefix and an
 * interface, different across prefixes (no tracking across networks), and
 * not derived from the MAC (which RFC 7721 shows leaks the hardware).
 */
export function stableInterfaceId(prefix: Ip6Address, ifname: string, dadCounter: number, secret: Uint8Array): [number, number] {
  const d = createHmac('sha256', secret)
    .update(Uint8Array.of(prefix.w0 >>> 24, prefix.w0 >>> 16, prefix.w0 >>> 8, prefix.w0, prefix.w1 >>> 24, prefix.w1 >>> 16, prefix.w1 >>> 8, prefix.w1))
    .update(ifname)
    .update(Uint8Array.of(dadCounter & 0xff))
    .digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

/** The link-local address `fe80::/64` + the EUI-64 of `mac` (RFC 4862 5.3). */
export function linkLocalFromMac(mac: Uint8Array): Ip6Address {
  const [hi, lo] = eui64(mac);
  return Ip6Address.fromWords(0xfe800000, 0, hi, lo);
}

/** The Ethernet address of IPv6 multicast group `g` (RFC 2464 7): 33:33 + its low 32 bits, written at `out[0..6)`. */
export function multicastMac6(g: Ip6Address, out: Uint8Array = new Uint8Array(6)): Uint8Array {
  out[0] = 0x33;
  out[1] = 0x33;
  out[2] = g.w3 >>> 24;
  out[3] = (g.w3 >>> 16) & 0xff;
  out[4] = (g.w3 >>> 8) & 0xff;
  out[5] = g.w3 & 0xff;
  return out;
}

/** Scope of an address (RFC 4007, RFC 4291 2.7): 1 interface-local, 2 link-local, 5 site, 14 global. */
export function ip6Scope(a: Ip6Address): number {
  if (a.isMulticast) return (a.w0 >>> 16) & 0xf;
  if (a.isLinkLocal || a.isLoopback) return 2;
  return 14;
}

/** ND parameters of a new interface (RFC 4861 10: REACHABLE_TIME 30 s, RETRANS_TIMER 1 s). */
export function newNd6IfParams(): Nd6IfParams {
  return { baseReachableMs: 30000, reachableMs: Math.round(30000 * (0.5 + Math.random())), retransMs: 1000, curHopLimit: 0, linkMtu: 0 };
}
