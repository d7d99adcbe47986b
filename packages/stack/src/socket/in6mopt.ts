/**
 * IPv6 multicast memberships of a socket (`struct ip6_moptions`, NetBSD
 * `ip6_output.c` `ip6_setmoptions` / FreeBSD `in6_mcast.c`
 * `inp_join_group`, RFC 3493 5.2), with Linux's option numbers and errors
 * as the rest of the socket API here:
 *
 * - `IPV6_JOIN_GROUP` / `IPV6_LEAVE_GROUP` (Linux `IPV6_ADD_MEMBERSHIP` /
 *   `IPV6_DROP_MEMBERSHIP`) with an {@link In6Mreq} (`struct ipv6_mreq`:
 *   the group and an interface index, 0 = the interface the group routes to);
 * - `IPV6_MULTICAST_LOOP` (0 or 1, default 1): our own multicast datagrams
 *   also reach the local members of the group.
 *
 * Memberships are any-source (MLDv2 EXCLUDE {}) and bounded per socket
 * (`maxSockGroups`, `net.inet6.ip6.mcast.maxsockgroups`, 20 as the IPv4
 * side): beyond, ENOBUFS. The interface keeps one reference per membership
 * (`Inet6.joinGroup`), which sends the MLDv2 report on the first and the
 * last. A socket's memberships are given back when it closes
 * ({@link in6MoptFree}, `ip6_freemoptions`).
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import type { Ifnet } from '../net/ifnet.js';
import { Ip6Address } from '../wire/ip.js';
import type { InPcb } from './inpcb.js';
import type { In6Mreq, SockoptValue } from './protosw.js';

/** `IPPROTO_IPV6` multicast option names of this module (Linux values). */
export const IPV6_MCAST_OPT = {
  MULTICAST_LOOP: 19,
  /** `IPV6_JOIN_GROUP` (RFC 3493), Linux `IPV6_ADD_MEMBERSHIP`. */
  ADD_MEMBERSHIP: 20,
  /** `IPV6_LEAVE_GROUP` (RFC 3493), Linux `IPV6_DROP_MEMBERSHIP`. */
  DROP_MEMBERSHIP: 21,
} as const;

/**
 * IPv6 multicast membership as the socket options need it; the stack
 * keeps the interface group table (`Ifnet.groups6`) and sends MLD reports.
 */
export interface In6McastHost {
  /**
   * The interface for a membership of `group`: interface index `ifindex`,
   * or for 0 the one the group routes to (the first Ethernet interface with
   * IPv6 up, else lo0). null when the index names no interface.
   */
  mcastIfp6(ifindex: number, group: Ip6Address): Ifnet | null;
  /** Take one reference of `group` on `ifp` (an MLDv2 report when it is the first). */
  join6(ifp: Ifnet, group: Ip6Address): void;
  /** Give one back (a report when it was the last). */
  leave6(ifp: Ifnet, group: Ip6Address): void;
  /** Memberships one socket may hold (`net.inet6.ip6.mcast.maxsockgroups`). */
  readonly maxSockGroups6: number;
}

/** One membership of a socket (`struct in6_mfilter` without sources). */
export interface Ip6Membership {
  readonly ifp: Ifnet;
  readonly group: Ip6Address;
}

/** A socket's IPv6 multicast state (`struct ip6_moptions`, the part not kept on the pcb already). */
export interface Ip6Moptions {
  /** `IPV6_MULTICAST_LOOP`. */
  loop: boolean;
  /** The memberships held. */
  readonly memberships: Ip6Membership[];
}

/** Whether `name` is one of the options of this module. */
export function isIp6McastOpt(name: number): boolean {
  return name >= IPV6_MCAST_OPT.MULTICAST_LOOP && name <= IPV6_MCAST_OPT.DROP_MEMBERSHIP;
}

function moptions6(inp: InPcb): Ip6Moptions {
  inp.moptions6 ??= { loop: true, memberships: [] };
  return inp.moptions6;
}

function isMreq6(v: SockoptValue): v is In6Mreq {
  return typeof v === 'object' && !(v instanceof Uint8Array) && 'multiaddr6' in v;
}

/**
 * Set an option of this module on `inp` (an `AF_INET6` socket; the caller checks).
 * @returns 0 or an errno: EINVAL (bad value, an address that is not a
 *   group), ENODEV (no interface of that index, or none for the group),
 *   EADDRINUSE (joined already), EADDRNOTAVAIL (leaving what is not held),
 *   ENOBUFS (past the per-socket limit), ENOPROTOOPT (a host without IPv6
 *   multicast, or another option).
 */
export function in6MoptSet(inp: InPcb, name: number, value: SockoptValue): number {
  const mc = inp.so.layer.host.mcast6;
  if (mc === undefined) return Errno.ENOPROTOOPT;
  if (name === IPV6_MCAST_OPT.MULTICAST_LOOP) {
    // Linux: only 0 or 1 (a boolean).
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    if (v !== 0 && v !== 1) return Errno.EINVAL;
    moptions6(inp).loop = v === 1;
    return 0;
  }
  if (name !== IPV6_MCAST_OPT.ADD_MEMBERSHIP && name !== IPV6_MCAST_OPT.DROP_MEMBERSHIP) return Errno.ENOPROTOOPT;
  if (!isMreq6(value) || !(value.multiaddr6 instanceof Ip6Address)) return Errno.EINVAL;
  const g = value.multiaddr6;
  const idx = value.ifindex;
  if (!Number.isInteger(idx) || idx < 0 || idx > 0xffffffff) return Errno.EINVAL;
  // A v4-mapped group belongs to IP_ADD_MEMBERSHIP (Linux refuses it here too).
  if (!g.isMulticast) return Errno.EINVAL;
  const imo = moptions6(inp);
  if (name === IPV6_MCAST_OPT.DROP_MEMBERSHIP) {
    // ipv6_sock_mc_drop: index 0 matches a membership on any interface.
    const i = imo.memberships.findIndex((x) => x.group.equals(g) && (idx === 0 || x.ifp.index === idx));
    if (i < 0) return Errno.EADDRNOTAVAIL;
    const [m] = imo.memberships.splice(i, 1);
    mc.leave6(m!.ifp, m!.group);
    return 0;
  }
  const ifp = mc.mcastIfp6(idx, g);
  if (ifp === null) return Errno.ENODEV;
  if (imo.memberships.some((x) => x.ifp === ifp && x.group.equals(g))) return Errno.EADDRINUSE;
  if (imo.memberships.length >= mc.maxSockGroups6) return Errno.ENOBUFS;
  imo.memberships.push({ ifp, group: g });
  mc.join6(ifp, g);
  return 0;
}

/** Read an option of this module: `IPV6_MULTICAST_LOOP` (memberships are set-only: ENOPROTOOPT, as Linux). */
export function in6MoptGet(inp: InPcb, name: number): SockoptValue | { errno: number } {
  if (name === IPV6_MCAST_OPT.MULTICAST_LOOP) return (inp.moptions6?.loop ?? true) ? 1 : 0;
  return { errno: Errno.ENOPROTOOPT };
}

/** Give back every IPv6 membership of `inp` (`ip6_freemoptions`, at close). */
export function in6MoptFree(inp: InPcb): void {
  const imo = inp.moptions6;
  const mc = inp.so.layer.host.mcast6;
  inp.moptions6 = null;
  if (imo === null || mc === undefined) return;
  for (const m of imo.memberships) mc.leave6(m.ifp, m.group);
}

/**
 * Whether `inp` takes a datagram to group `g` received on interface
 * `ifname` (FreeBSD `im6o_mc_filter`): it must have joined the group on
 * that interface.
 */
export function in6MoptAccepts(inp: InPcb, ifname: string, g: Ip6Address): boolean {
  const imo = inp.moptions6;
  if (imo === null) return false;
  for (const m of imo.memberships) if (m.ifp.name === ifname && m.group.equals(g)) return true;
  return false;
}
