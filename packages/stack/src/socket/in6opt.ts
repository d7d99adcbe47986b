/**
 * `IPPROTO_IPV6` socket options shared by every transport of an
 * `AF_INET6` socket (NetBSD `ip6_ctloutput`, RFC 3493 5): the ones a
 * dual-stack program sets before it binds. Linux's option numbers, as the
 * rest of the socket API here.
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import { AF } from './constants.js';
import type { InPcb } from './inpcb.js';
import { in6MoptGet, in6MoptSet, isIp6McastOpt, IPV6_MCAST_OPT } from './in6mopt.js';
import type { SockoptValue } from './protosw.js';

/** `IPPROTO_IPV6` option names (Linux values). */
export const IPV6_OPT = {
  /** Hop limit of unicast packets (`IPV6_UNICAST_HOPS`), -1 = the default. */
  UNICAST_HOPS: 16,
  /** Speak IPv6 only, no v4-mapped IPv4 (`IPV6_V6ONLY`, RFC 3493 5.3). */
  V6ONLY: 26,
  /** Traffic class (`IPV6_TCLASS`, RFC 3542 6.5), -1 = the default. */
  TCLASS: 67,
  /** Interface (index) multicast leaves by when the destination names no zone (`IPV6_MULTICAST_IF`, RFC 3493 5.2), 0 = by route. */
  MULTICAST_IF: 17,
  /** Hop limit of multicast packets (`IPV6_MULTICAST_HOPS`, RFC 3493 5.2), -1 = the default 1. */
  MULTICAST_HOPS: 18,
  /** Our multicast also reaches local members (`IPV6_MULTICAST_LOOP`, `in6mopt.ts`). */
  MULTICAST_LOOP: IPV6_MCAST_OPT.MULTICAST_LOOP,
  /** Join a group, an `In6Mreq` (`IPV6_JOIN_GROUP`, Linux `IPV6_ADD_MEMBERSHIP`). */
  ADD_MEMBERSHIP: IPV6_MCAST_OPT.ADD_MEMBERSHIP,
  /** Leave it (`IPV6_LEAVE_GROUP`, Linux `IPV6_DROP_MEMBERSHIP`). */
  DROP_MEMBERSHIP: IPV6_MCAST_OPT.DROP_MEMBERSHIP,
  /** RFC 3493's name of {@link IPV6_OPT.ADD_MEMBERSHIP}. */
  JOIN_GROUP: IPV6_MCAST_OPT.ADD_MEMBERSHIP,
  /** RFC 3493's name of {@link IPV6_OPT.DROP_MEMBERSHIP}. */
  LEAVE_GROUP: IPV6_MCAST_OPT.DROP_MEMBERSHIP,
} as const;

/** Default hop limit shown when none is set (`net.inet6.ip6.hlim`'s usual value). */
const DEFAULT_HOPS = 64;

function asInt(v: SockoptValue): number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

/**
 * Set an `IPPROTO_IPV6` option on `inp`.
 * The multicast loop and memberships go to `in6mopt.ts` (its errors).
 * @returns 0, ENOPROTOOPT (not an `AF_INET6` socket, or an unknown name),
 *   EINVAL (bad value; `IPV6_V6ONLY` once bound, as Linux).
 */
export function in6SetOpt(inp: InPcb, name: number, value: SockoptValue): number {
  if (inp.so.proto.domain !== AF.INET6) return Errno.ENOPROTOOPT;
  if (isIp6McastOpt(name)) return in6MoptSet(inp, name, value);
  const v = asInt(value);
  if (v === null) return Errno.EINVAL;
  switch (name) {
    case IPV6_OPT.V6ONLY:
      if (inp.lport !== 0) return Errno.EINVAL;
      inp.v6only = v !== 0;
      return 0;
    case IPV6_OPT.UNICAST_HOPS:
      if (v < -1 || v > 255) return Errno.EINVAL;
      inp.ttl = v === -1 ? 0 : v;
      return 0;
    case IPV6_OPT.TCLASS:
      if (v < -1 || v > 255) return Errno.EINVAL;
      inp.tos = v === -1 ? 0 : v;
      return 0;
    case IPV6_OPT.MULTICAST_IF: {
      if (v < 0) return Errno.EINVAL;
      // Linux: an index naming no interface is ENODEV.
      const ifs = (inp.so.layer.host.ifnetList?.() ?? []) as ReadonlyArray<{ index?: number }>;
      if (v !== 0 && !ifs.some((i) => i.index === v)) return Errno.ENODEV;
      inp.mcastIfindex6 = v;
      return 0;
    }
    case IPV6_OPT.MULTICAST_HOPS:
      if (v < -1 || v > 255) return Errno.EINVAL;
      inp.mcastHops6 = v;
      return 0;
    default:
      return Errno.ENOPROTOOPT;
  }
}

/** Read an `IPPROTO_IPV6` option of `inp`: its value, or `{ errno }` as {@link in6SetOpt}. */
export function in6GetOpt(inp: InPcb, name: number): SockoptValue | { errno: number } {
  if (inp.so.proto.domain !== AF.INET6) return { errno: Errno.ENOPROTOOPT };
  if (isIp6McastOpt(name)) return in6MoptGet(inp, name);
  switch (name) {
    case IPV6_OPT.V6ONLY:
      return inp.v6only ? 1 : 0;
    case IPV6_OPT.UNICAST_HOPS:
      return inp.ttl !== 0 ? inp.ttl : DEFAULT_HOPS;
    case IPV6_OPT.TCLASS:
      return inp.tos;
    case IPV6_OPT.MULTICAST_IF:
      return inp.mcastIfindex6;
    case IPV6_OPT.MULTICAST_HOPS:
      return inp.mcastHops6 === -1 ? 1 : inp.mcastHops6;
    default:
      return { errno: Errno.ENOPROTOOPT };
  }
}
