/**
 * IPv4 multicast options of a socket (`struct ip_moptions`, NetBSD
 * `ip_output.c` `ip_setmoptions` / FreeBSD `in_mcast.c` `inp_setmoptions`,
 * RFC 3678 for the source-specific ones), with Linux's option numbers and
 * errors as the rest of the socket API here:
 *
 * - `IP_MULTICAST_IF` (an interface address; 0 = let the route choose),
 *   `IP_MULTICAST_TTL` (0..255, -1 = the default 1), `IP_MULTICAST_LOOP`;
 * - `IP_ADD_MEMBERSHIP` / `IP_DROP_MEMBERSHIP` (any-source), and
 *   `IP_ADD_SOURCE_MEMBERSHIP` / `IP_DROP_SOURCE_MEMBERSHIP` (INCLUDE mode),
 *   with an {@link InMreq} value.
 *
 * Memberships are bounded per socket (`maxSockGroups`, 20 as Linux's
 * `igmp_max_memberships`) and sources per membership (`maxSockSources`, 10
 * as `igmp_max_msf`): beyond, ENOBUFS. A socket's memberships are given
 * back when it closes ({@link ipMoptFree}, `ip_freemoptions`).
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import type { Ifnet } from '../net/ifnet.js';
import { ipv4IsMulticast } from '../wire/address.js';
import { hostIsLocal, type InMcastHost } from './host.js';
import type { InPcb } from './inpcb.js';
import type { InMreq, SockoptValue } from './protosw.js';

/** `IPPROTO_IP` multicast option names (Linux values). */
export const IP_MCAST_OPT = {
  MULTICAST_IF: 32,
  MULTICAST_TTL: 33,
  MULTICAST_LOOP: 34,
  ADD_MEMBERSHIP: 35,
  DROP_MEMBERSHIP: 36,
  ADD_SOURCE_MEMBERSHIP: 39,
  DROP_SOURCE_MEMBERSHIP: 40,
} as const;

/** Default TTL of multicast datagrams (RFC 1112 6.1: 1, the local network). */
export const IP_DEFAULT_MULTICAST_TTL = 1;

/** One membership of a socket. */
export interface IpMembership {
  readonly ifp: Ifnet;
  readonly group: number;
  /** null: any source (EXCLUDE {}); else INCLUDE these sources. */
  sources: number[] | null;
}

/** A socket's multicast options (`struct ip_moptions`). */
export interface IpMoptions {
  /** `IP_MULTICAST_IF`: the address of the interface to send from, 0 = by route. */
  ifaddr: number;
  /** `IP_MULTICAST_TTL`. */
  ttl: number;
  /** `IP_MULTICAST_LOOP`: deliver our own multicast datagrams to local members too. */
  loop: boolean;
  /** The memberships held. */
  readonly memberships: IpMembership[];
}

function moptions(inp: InPcb): IpMoptions {
  inp.moptions ??= { ifaddr: 0, ttl: IP_DEFAULT_MULTICAST_TTL, loop: true, memberships: [] };
  return inp.moptions;
}

function isMreq(v: SockoptValue): v is InMreq {
  return typeof v === 'object' && !(v instanceof Uint8Array) && 'multiaddr' in v;
}

function asInt(v: SockoptValue): number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

/** Whether `name` is one of the options of this module. */
export function isIpMcastOpt(name: number): boolean {
  return name >= IP_MCAST_OPT.MULTICAST_IF && name <= IP_MCAST_OPT.DROP_SOURCE_MEMBERSHIP && name !== 37 && name !== 38;
}

/**
 * Set a multicast option of `inp` (`inp_setmoptions`).
 * @returns 0 or an errno: EINVAL (bad value, a group that is not one, a
 *   source membership beside an any-source one), EADDRNOTAVAIL (an
 *   interface address not ours; dropping what is not held; a source given
 *   twice), ENODEV (no interface for the group), EADDRINUSE (joined
 *   already), ENOBUFS (past the per-socket limits), ENOPROTOOPT (a host
 *   without multicast, or not an option of this module).
 */
export function ipMoptSet(inp: InPcb, name: number, value: SockoptValue): number {
  const host = inp.so.layer.host;
  const mc = host.mcast;
  if (mc === undefined) return Errno.ENOPROTOOPT;
  switch (name) {
    case IP_MCAST_OPT.MULTICAST_IF: {
      const a = isMreq(value) ? value.interface : asInt(value);
      if (a === null || a < 0 || a > 0xffffffff) return Errno.EINVAL;
      if (a !== 0 && !hostIsLocal(host, a >>> 0)) return Errno.EADDRNOTAVAIL;
      moptions(inp).ifaddr = a >>> 0;
      return 0;
    }
    case IP_MCAST_OPT.MULTICAST_TTL: {
      const v = asInt(value);
      if (v === null || v < -1 || v > 255) return Errno.EINVAL;
      moptions(inp).ttl = v === -1 ? IP_DEFAULT_MULTICAST_TTL : v;
      return 0;
    }
    case IP_MCAST_OPT.MULTICAST_LOOP: {
      const v = asInt(value);
      if (v === null) return Errno.EINVAL;
      moptions(inp).loop = v !== 0;
      return 0;
    }
    case IP_MCAST_OPT.ADD_MEMBERSHIP:
    case IP_MCAST_OPT.DROP_MEMBERSHIP:
    case IP_MCAST_OPT.ADD_SOURCE_MEMBERSHIP:
    case IP_MCAST_OPT.DROP_SOURCE_MEMBERSHIP:
      return membership(inp, name, value);
    default:
      return Errno.ENOPROTOOPT;
  }
}

function membership(inp: InPcb, name: number, value: SockoptValue): number {
  const mc = inp.so.layer.host.mcast!;
  if (!isMreq(value)) return Errno.EINVAL;
  const g = value.multiaddr >>> 0;
  if (!Number.isInteger(value.multiaddr) || !ipv4IsMulticast(g)) return Errno.EINVAL;
  const ssm = name === IP_MCAST_OPT.ADD_SOURCE_MEMBERSHIP || name === IP_MCAST_OPT.DROP_SOURCE_MEMBERSHIP;
  let src: number | null = null;
  if (ssm) {
    if (value.sourceaddr === undefined || !Number.isInteger(value.sourceaddr)) return Errno.EINVAL;
    src = value.sourceaddr >>> 0;
    if (src === 0) return Errno.EINVAL; // (Linux takes any other source, even a group)
  }
  const ifp = mc.mcastIfp(value.interface >>> 0, g);
  if (ifp === null) return Errno.ENODEV;
  const imo = moptions(inp);
  const i = imo.memberships.findIndex((x) => x.ifp === ifp && x.group === g);
  const cur = i >= 0 ? imo.memberships[i]! : null;
  switch (name) {
    case IP_MCAST_OPT.ADD_MEMBERSHIP:
      if (cur !== null) return Errno.EADDRINUSE;
      if (imo.memberships.length >= mc.maxSockGroups) return Errno.ENOBUFS;
      imo.memberships.push({ ifp, group: g, sources: null });
      mc.join(ifp, g, null);
      return 0;
    case IP_MCAST_OPT.DROP_MEMBERSHIP:
      if (cur === null) return Errno.EADDRNOTAVAIL;
      imo.memberships.splice(i, 1);
      leaveAll(mc, cur);
      return 0;
    case IP_MCAST_OPT.ADD_SOURCE_MEMBERSHIP:
      if (cur === null) {
        if (imo.memberships.length >= mc.maxSockGroups) return Errno.ENOBUFS;
        imo.memberships.push({ ifp, group: g, sources: [src!] });
      } else {
        if (cur.sources === null) return Errno.EINVAL; // an any-source membership has no include list (Linux: mode mismatch)
        if (cur.sources.includes(src!)) return Errno.EADDRNOTAVAIL;
        if (cur.sources.length >= mc.maxSockSources) return Errno.ENOBUFS;
        cur.sources.push(src!);
      }
      mc.join(ifp, g, src);
      return 0;
    default: {
      // DROP_SOURCE_MEMBERSHIP
      const k = cur?.sources?.indexOf(src!) ?? -1;
      if (cur === null || k < 0) return Errno.EADDRNOTAVAIL;
      cur.sources!.splice(k, 1);
      if (cur.sources!.length === 0) imo.memberships.splice(i, 1);
      mc.leave(ifp, g, src);
      return 0;
    }
  }
}

function leaveAll(mc: InMcastHost, m: IpMembership): void {
  if (m.sources === null) mc.leave(m.ifp, m.group, null);
  else for (const s of m.sources) mc.leave(m.ifp, m.group, s);
}

/** Read a multicast option of `inp`: its value (`IP_MULTICAST_IF` as an address number), or `{ errno }`. */
export function ipMoptGet(inp: InPcb, name: number): SockoptValue | { errno: number } {
  if (inp.so.layer.host.mcast === undefined) return { errno: Errno.ENOPROTOOPT };
  const imo = inp.moptions;
  switch (name) {
    case IP_MCAST_OPT.MULTICAST_IF:
      return imo?.ifaddr ?? 0;
    case IP_MCAST_OPT.MULTICAST_TTL:
      return imo?.ttl ?? IP_DEFAULT_MULTICAST_TTL;
    case IP_MCAST_OPT.MULTICAST_LOOP:
      return (imo?.loop ?? true) ? 1 : 0;
    default:
      // Memberships are set-only (Linux: ENOPROTOOPT on get as well).
      return { errno: Errno.ENOPROTOOPT };
  }
}

/** Give back every membership of `inp` (`ip_freemoptions`, at close). */
export function ipMoptFree(inp: InPcb): void {
  const imo = inp.moptions;
  const mc = inp.so.layer.host.mcast;
  inp.moptions = null;
  if (imo === null || mc === undefined) return;
  for (const m of imo.memberships) leaveAll(mc, m);
}

/**
 * Whether `inp` takes a datagram from `src` to group `g` received on
 * interface `ifname` (`imo_multi_filter`): it must hold a membership of
 * the group on that interface whose filter lets `src` in.
 */
export function ipMoptAccepts(inp: InPcb, ifname: string, g: number, src: number): boolean {
  const imo = inp.moptions;
  if (imo === null) return false;
  for (const m of imo.memberships) {
    if (m.group !== g || m.ifp.name !== ifname) continue;
    return m.sources === null || m.sources.includes(src);
  }
  return false;
}
