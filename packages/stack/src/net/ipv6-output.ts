/**
 * IPv6 output (RFC 8200; NetBSD `sys/netinet6/ip6_output.c`,
 * `ip6_output()`, `in6_selectsrc()`, `ip6_fragment()`).
 *
 * Route (longest-prefix match, scoped to an interface for link-local and
 * multicast destinations; our own addresses go through lo0), pick the
 * source (RFC 6724 section 5, reduced to the rules that matter on a host:
 * the destination itself, same scope or larger, not deprecated, longest
 * common prefix), prepend the 40-byte header into the leading space, and
 * when the packet exceeds the path MTU fragment it (RFC 8200 4.5): each
 * fragment a small mbuf holding the fixed header and a fragment header,
 * then an `mCopym` of its slice (clusters shared, not copied), its
 * identification unpredictable (RFC 7739). The path MTU is the
 * interface's, an RA's MTU option, or one learnt from packet too big
 * (RFC 8201), never below 1280.
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import { mCat, mCopydata, mCopym, mFreem, mGethdr, mPrepend, mToBytes, type Mbuf } from '../mbuf/index.js';
import { IP6_LOOPBACK, type Ip6Address } from '../wire/ip.js';
import { IPV6_HEADER_LEN, IPV6_MAX_PAYLOAD_LEN, IPV6_MIN_MTU, Ip6Next, Ipv6Repr } from '../wire/ipv6.js';
import { IPV6_FRAG_HEADER_LEN, emitFragHeader6 } from '../wire/ipv6-ext.js';
import { ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { etherOutput, ifOutputFrame } from './ethernet.js';
import { commonPrefixLen, ip6Scope, multicastMac6, type In6Ifaddr } from './in6.js';
import type { Ifnet } from './ifnet.js';
import type { Inet6 } from './inet6.js';
import type { Ip6OutputOptions } from './protosw.js';
import type { Route6 } from './route6.js';

/** Where an IPv6 packet goes next. */
export interface NextHop6 {
  ifp: Ifnet;
  /** Address to resolve with ND: the router, or the destination when on-link. */
  nexthop: Ip6Address;
  route: Route6 | null;
  multicast: boolean;
}

/**
 * Interface and next hop for `dst` (`in6_selectroute`): multicast leaves
 * through the zone's interface (`ifindex`) or the first Ethernet interface
 * with IPv6 up, else lo0; link-local unicast needs a zone when several interfaces
 * could hold it (the first match otherwise); the rest by longest prefix.
 * @param out Filled and returned instead of a new object when given.
 * @returns the next hop, or an errno (ENETUNREACH, ENODEV for a bad zone).
 */
export function nextHop6(in6: Inet6, dst: Ip6Address, ifindex = 0, out?: NextHop6): NextHop6 | number {
  let scope: Ifnet | null = null;
  if (ifindex !== 0) {
    scope = in6.net.ifnetList().find((i) => i.index === ifindex) ?? null;
    if (scope === null) return Errno.ENODEV;
  }
  if (dst.isMulticast) {
    if (dst.isLoopback) return Errno.ENETUNREACH;
    // lo0 last: a host with no other interface still has its groups (on lo0 they only loop).
    const ifp = scope ?? in6.net.ifnetList().find((i) => !i.isLoopback && i.up && i.addrs6.length > 0) ?? in6.net.lo0;
    if (ifp === undefined) return Errno.ENETUNREACH;
    return fillNh6(out, ifp, dst, null, true);
  }
  const route = in6.routes.lookup(dst, in6.net.clock.now(), scope);
  if (route === null) return Errno.ENETUNREACH;
  return fillNh6(out, route.ifp, route.gateway ?? dst, route, false);
}

function fillNh6(out: NextHop6 | undefined, ifp: Ifnet, nexthop: Ip6Address, route: Route6 | null, multicast: boolean): NextHop6 {
  if (out === undefined) return { ifp, nexthop, route, multicast };
  out.ifp = ifp;
  out.nexthop = nexthop;
  out.route = route;
  out.multicast = multicast;
  return out;
}

function newNextHop6(): NextHop6 {
  return { ifp: null as unknown as Ifnet, nexthop: IP6_LOOPBACK, route: null, multicast: false };
}

/**
 * @internal One next hop for lookups that read it before returning and call
 * no other lookup meanwhile (source selection, path MTU, TSO limit).
 */
export const lookupNh6: NextHop6 = newNextHop6();
/** Filled by {@link ip6Output}, which holds it while the packet goes down (a nested output gets its own). */
const outputNh6 = newNextHop6();
const outputRepr6: Ipv6Repr = { src: IP6_LOOPBACK, dst: IP6_LOOPBACK, nextHeader: 0, payloadLen: 0, hopLimit: 0, trafficClass: 0, flowLabel: 0 };
/** Whether {@link outputNh6} and {@link outputRepr6} are in use. */
let outputBusy6 = false;

/**
 * The source address for `dst` leaving through `ifp` (`in6_selectsrc`,
 * RFC 6724 5 simplified): rule 1 (the destination itself), rule 2 (same
 * scope, else the smallest larger scope), rule 3 (avoid deprecated),
 * rule 8 (longest common prefix); addresses of other interfaces only for
 * global destinations (the weak host model). Tentative and duplicated
 * addresses are never chosen (RFC 4862 5.4); only a multicast destination
 * takes an address of smaller scope than its own.
 * @returns the address, or null when none fits.
 */
export function selectSource6(in6: Inet6, dst: Ip6Address, ifp: Ifnet): Ip6Address | null {
  if (dst.isLoopback) return IP6_LOOPBACK;
  const dscope = ip6Scope(dst);
  let best: In6Ifaddr | null = null;
  for (const ia of ifp.addrs6) best = betterSource(best, ia, dst, dscope);
  if (dscope > 2) {
    for (const other of in6.net.ifnetList()) {
      if (other === ifp || other.isLoopback) continue;
      for (const ia of other.addrs6) if (ip6Scope(ia.addr) > 2) best = betterSource(best, ia, dst, dscope);
    }
  }
  // A smaller scope will do for a group (Linux's ipv6_dev_get_saddr prefers, never refuses):
  // the link-local address for ff05::/ff15::, ::1 on lo0; unicast keeps to its scope.
  if (best === null || (ip6Scope(best.addr) < dscope && !dst.isMulticast)) return null;
  return best.addr;
}

/** The better source for `dst` (of scope `dscope`) of `best` so far and candidate `ia` (RFC 6724 5, rules 1, 2, 3, 8). */
function betterSource(best: In6Ifaddr | null, ia: In6Ifaddr, dst: Ip6Address, dscope: number): In6Ifaddr | null {
  if (ia.state === 'tentative' || ia.state === 'duplicated') return best;
  if (best === null) return ia;
  // Rule 1: the destination itself.
  if (best.addr.equals(dst)) return best;
  if (ia.addr.equals(dst)) return ia;
  const bs = ip6Scope(best.addr);
  const as = ip6Scope(ia.addr);
  // Rule 2: the smallest scope that still reaches dst.
  if (as !== bs) return (bs < dscope ? as > bs : as >= dscope && as < bs) ? ia : best;
  // Rule 3: avoid deprecated addresses.
  if ((best.state === 'deprecated') !== (ia.state === 'deprecated')) return best.state === 'deprecated' ? ia : best;
  // Rule 8: the longest common prefix.
  return commonPrefixLen(ia.addr, dst) > commonPrefixLen(best.addr, dst) ? ia : best;
}

/** The path MTU towards `dst` through `ifp`: at least 1280 (RFC 8200 5), at most the link's. */
export function pathMtu6(in6: Inet6, ifp: Ifnet, dst: Ip6Address): number {
  let mtu = ifp.nd6.linkMtu > 0 ? Math.min(ifp.nd6.linkMtu, ifp.mtu) : ifp.mtu;
  if (in6.pmtu.size > 0) {
    const k = pmtuKey(dst);
    const p = in6.pmtu.get(k);
    if (p !== undefined) {
      if (p.expires <= in6.net.clock.now()) in6.pmtu.delete(k);
      else mtu = Math.min(mtu, p.mtu);
    }
  }
  return Math.max(mtu, IPV6_MIN_MTU);
}

/** Most path-MTU entries kept; beyond it the oldest is evicted. */
export const PMTU6_CACHE_MAX = 1024;

/**
 * Record a path MTU from packet too big (RFC 8201 4): a value below 1280
 * is raised to 1280 (`pmtuclamped`; RFC 8200 removed atomic fragments, so
 * nothing smaller is ever needed); only a decrease is believed
 * (`pmturefused`). Bounded by {@link PMTU6_CACHE_MAX} (`pmtuevicted`).
 * @returns the MTU now in force when recorded, else 0.
 */
export function pmtuUpdate6(in6: Inet6, dst: Ip6Address, mtu: number): number {
  const st = in6.icmp6stat;
  if (!(mtu >= 0)) mtu = 0;
  if (mtu < IPV6_MIN_MTU) {
    st.pmtuclamped++;
    mtu = IPV6_MIN_MTU;
  }
  const nh = nextHop6(in6, dst, 0, lookupNh6);
  if (typeof nh === 'number' || nh.ifp.isLoopback || mtu >= pathMtu6(in6, nh.ifp, dst)) {
    st.pmturefused++;
    return 0;
  }
  const k = pmtuKey(dst);
  in6.pmtu.delete(k);
  while (in6.pmtu.size >= PMTU6_CACHE_MAX) {
    in6.pmtu.delete(in6.pmtu.keys().next().value as string);
    st.pmtuevicted++;
  }
  in6.pmtu.set(k, { mtu, expires: in6.net.clock.now() + in6.tun.mtuExpire * 1000 });
  st.pmtuupdated++;
  return mtu;
}

function pmtuKey(a: Ip6Address): string {
  return `${a.w0}.${a.w1}.${a.w2}.${a.w3}`;
}

/** `ip6_mloopback`: the whole packet (header + payload, not yet fragmented) back to `ifp`'s input, later. */
function mloop6(in6: Inet6, ifp: Ifnet, m: Mbuf, repr: Ipv6Repr): void {
  const pkt = new Uint8Array(IPV6_HEADER_LEN + repr.payloadLen);
  Ipv6Repr.emit(repr, pkt, 0);
  mCopydata(m, 0, repr.payloadLen, pkt, IPV6_HEADER_LEN);
  in6.ip6stat.mcastloop++;
  in6.net.mloopback(ifp, pkt);
}

const idBuf = new Uint32Array(64);
let idNext = idBuf.length;

/** An unpredictable fragment identification (RFC 7739 5.1). */
function nextFragId(): number {
  if (idNext >= idBuf.length) {
    globalThis.crypto.getRandomValues(idBuf);
    idNext = 0;
  }
  return idBuf[idNext++]!;
}

/**
 * Send one upper-layer packet (`ip6_output`). `m` starts at the upper-layer
 * header (ICMPv6, TCP, UDP) and needs 40 + 14 bytes of leading space to
 * avoid an extra mbuf; ownership passes here on every path.
 * @returns 0 (sent, or held for neighbour discovery) or an errno:
 *   ENETDOWN, ENETUNREACH, ENODEV, EADDRNOTAVAIL, EMSGSIZE, ENOBUFS,
 *   EHOSTUNREACH (the neighbour failed recently).
 */
export function ip6Output(in6: Inet6, m: Mbuf, opts: Ip6OutputOptions): number {
  if (in6.net.closed) {
    mFreem(m);
    return Errno.ENETDOWN;
  }
  const nested = outputBusy6;
  outputBusy6 = true;
  try {
    return ip6OutputOn(in6, m, opts, nested ? newNextHop6() : outputNh6, nested ? { ...outputRepr6 } : outputRepr6);
  } finally {
    outputBusy6 = nested;
  }
}

/** {@link ip6Output} with its next-hop and header objects (reused, or a nested call's own). */
function ip6OutputOn(in6: Inet6, m: Mbuf, opts: Ip6OutputOptions, nhOut: NextHop6, repr: Ipv6Repr): number {
  const st = in6.ip6stat;
  const dst = opts.dst;
  const nh = nextHop6(in6, dst, opts.ifindex ?? 0, nhOut);
  if (typeof nh === 'number') {
    st.noroute++;
    mFreem(m);
    return nh;
  }
  let ifp = nh.ifp;
  if (!ifp.up) {
    st.odropped++;
    mFreem(m);
    return Errno.ENETDOWN;
  }
  let src = opts.src;
  if (src === null || (src.isUnspecified && opts.allowUnspecified !== true)) {
    src = nh.route?.kind === 'local' ? dst : selectSource6(in6, dst, ifp);
    if (src === null) {
      st.nosrc++;
      mFreem(m);
      return Errno.EADDRNOTAVAIL;
    }
  }
  const payloadLen = m.pkthdr !== null ? m.pkthdr.len : 0;
  if (payloadLen > IPV6_MAX_PAYLOAD_LEN) {
    st.cantfrag++;
    mFreem(m);
    return Errno.EMSGSIZE;
  }
  if (nh.route !== null) {
    nh.route.use++;
    if (nh.route.kind === 'local') {
      st.looped++;
      ifp = in6.net.lo0;
    }
  }
  repr.src = src;
  repr.dst = dst;
  repr.nextHeader = opts.proto;
  repr.payloadLen = payloadLen;
  repr.hopLimit = opts.hopLimit ?? (nh.multicast ? 1 : ifp.nd6.curHopLimit || in6.tun.hlim);
  repr.trafficClass = opts.tclass ?? 0;
  repr.flowLabel = 0;
  st.localout++;
  if (nh.multicast) {
    // ip6_output's multicast tail: a copy for local members (ip6_mloopback)
    // when the sender asked for it and the interface has joined the group.
    // On lo0 the send itself is that copy; a hop limit of 0 goes no further.
    const loop = opts.mcastLoop === true && ifp.groups6.some((g) => g.addr.equals(dst));
    if (ifp.isLoopback) {
      if (!loop) {
        mFreem(m);
        return 0;
      }
    } else {
      if (loop) mloop6(in6, ifp, m, repr);
      if (repr.hopLimit === 0) {
        mFreem(m);
        return 0;
      }
    }
  }
  const mtu = ifp.isLoopback ? ifp.mtu : pathMtu6(in6, ifp, dst);
  if (IPV6_HEADER_LEN + payloadLen <= mtu) {
    const hm = mPrepend(m, IPV6_HEADER_LEN);
    if (hm === null) {
      st.odropped++;
      return Errno.ENOBUFS;
    }
    Ipv6Repr.emit(repr, hm.data, hm.off);
    return ifOutput6(in6, ifp, nh, hm);
  }
  if (opts.dontFrag === true) {
    st.cantfrag++;
    mFreem(m);
    return Errno.EMSGSIZE;
  }
  return fragmentAndSend6(in6, ifp, nh, m, repr, mtu);
}

/**
 * `ip6_fragment`: pieces of `floor((mtu - 48) / 8) * 8` bytes, each a
 * header mbuf (fixed header + fragment header) plus an `mCopym` of its
 * slice. All are built before the first is sent: a shortage sends nothing.
 */
function fragmentAndSend6(in6: Inet6, ifp: Ifnet, nh: NextHop6, m: Mbuf, repr: Ipv6Repr, mtu: number): number {
  const st = in6.ip6stat;
  const total = repr.payloadLen;
  const chunk = (mtu - IPV6_HEADER_LEN - IPV6_FRAG_HEADER_LEN) & ~7;
  const ident = nextFragId();
  const frags: Mbuf[] = [];
  for (let off = 0; off < total; off += chunk) {
    const n = Math.min(chunk, total - off);
    const h = mGethdr(in6.net.pool, { headroom: 16 });
    const data = h !== null ? mCopym(m, off, n) : null;
    if (h === null || data === null) {
      mFreem(h);
      for (const f of frags) mFreem(f);
      mFreem(m);
      st.odropped++;
      return Errno.ENOBUFS;
    }
    const hl = IPV6_HEADER_LEN + IPV6_FRAG_HEADER_LEN;
    h.len = hl;
    h.pkthdr!.len = hl;
    Ipv6Repr.emit({ ...repr, nextHeader: Ip6Next.FRAGMENT, payloadLen: IPV6_FRAG_HEADER_LEN + n }, h.data, h.off);
    emitFragHeader6(h.data, h.off + IPV6_HEADER_LEN, { nextHeader: repr.nextHeader, offset: off, more: off + n < total, ident });
    mCat(h, data);
    frags.push(h);
  }
  mFreem(m);
  st.fragmented++;
  let error = 0;
  for (const f of frags) {
    if (error !== 0) {
      mFreem(f);
      continue;
    }
    st.ofragments++;
    error = ifOutput6(in6, ifp, nh, f);
  }
  return error;
}

const mcastMac = new Uint8Array(6);

/**
 * Hand a finished IPv6 packet to its interface: loopback takes the bytes;
 * Ethernet needs the multicast mapping (RFC 2464 7) or the neighbour's
 * address from ND. Ownership of `m` passes.
 */
export function ifOutput6(in6: Inet6, ifp: Ifnet, nh: NextHop6, m: Mbuf): number {
  if (ifp.isLoopback) {
    const frame = mToBytes(m);
    mFreem(m);
    return ifOutputFrame(in6.net, ifp, frame) ? 0 : Errno.ENOBUFS;
  }
  let mac: Uint8Array;
  if (nh.multicast) mac = multicastMac6(nh.nexthop, mcastMac);
  else {
    const r = in6.nd.resolve(ifp, nh.nexthop, m);
    if (typeof r === 'number') return r;
    mac = r;
  }
  return etherOutput(in6.net, ifp, m, mac, ETHERTYPE_IPV6);
}
