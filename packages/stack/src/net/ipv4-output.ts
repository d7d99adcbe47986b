/**
 * IPv4 output (NetBSD `sys/netinet/ip_output.c`, `ip_output()` and
 * `ip_fragment()`; RFC 791, RFC 1122 3.3).
 *
 * Route (longest-prefix match; our own addresses have host routes through
 * lo0, so local traffic loops back as BSD's `looutput` does), pick the
 * source, prepend the header into the chain's leading space (`M_PREPEND`),
 * and, when the packet is larger than the route's MTU, fragment on 8-byte
 * boundaries: each fragment is a small header mbuf followed by an
 * `mCopym` of its slice, which shares the original clusters rather than
 * copying the payload. DF makes an oversized packet fail with EMSGSIZE.
 * Sending to a broadcast address needs the `broadcast` option (EACCES
 * otherwise, as `SO_BROADCAST`).
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import { M_CSUM_TSOv4, mCat, mCopydata, mCopym, mFreem, mGethdr, mPrepend, mToBytes, type Mbuf } from '../mbuf/index.js';
import { BROADCAST_MAC, ipv4IsMulticast } from '../wire/address.js';
import { IPV4_HEADER_LEN, IPV4_MAX_PACKET_LEN, Ipv4Repr, type Ipv4Repr as Ipv4ReprT } from '../wire/ipv4.js';
import type { NetContext } from './context.js';
import { ETHERNET_HEADER_LEN } from '../wire/ethernet.js';
import { etherOutput, ifOutputFrame, multicastMac } from './ethernet.js';
import type { Ifnet } from './ifnet.js';
import type { IpOutputOptions } from './protosw.js';
import type { Route } from './route.js';

/** Where a packet goes next: interface, next hop, and how to address it on the link. */
interface NextHop {
  ifp: Ifnet;
  /** The address to resolve with ARP (gateway or destination). */
  nexthop: number;
  /** Whether {@link NextHop.nexthop} is a gateway (ARP failure then means EHOSTUNREACH, not EHOSTDOWN). */
  viaGateway: boolean;
  broadcast: boolean;
  multicast: boolean;
  route: Route | null;
}

function newNextHop(): NextHop {
  return { ifp: null as unknown as Ifnet, nexthop: 0, viaGateway: false, broadcast: false, multicast: false, route: null };
}

/** Filled by the lookups that only read it before returning (selectSource, mtuTowards, ...): nothing runs in between. */
const lookupNh = newNextHop();
/** Filled by {@link ipOutput}, which holds it while the packet goes down (a nested output gets its own). */
const outputNh = newNextHop();
const outputRepr: Ipv4ReprT = {
  src: 0,
  dst: 0,
  protocol: 0,
  ttl: 0,
  dscp: 0,
  ecn: 0,
  ident: 0,
  dontFrag: false,
  moreFrags: false,
  fragOffset: 0,
  payloadLen: 0,
  options: null,
};
/** Whether {@link outputNh} and {@link outputRepr} are in use by an {@link ipOutput} call. */
let outputBusy = false;

/**
 * Work out interface and next hop for `dst` (`rtalloc` plus the broadcast
 * and multicast special cases of `ip_output`) into `out`, which is
 * returned. Returns an errno when there is no way there.
 */
function nextHop(ctx: NetContext, dst: number, src: number, out: NextHop, mcastIf = 0): NextHop | number {
  if (dst === 0xffffffff || ipv4IsMulticast(dst)) {
    const ifp = groupIfp(ctx, dst, src, mcastIf);
    if (typeof ifp === 'number') return ifp;
    out.ifp = ifp;
    out.nexthop = dst;
    out.viaGateway = false;
    out.broadcast = dst === 0xffffffff;
    out.multicast = dst !== 0xffffffff;
    out.route = null;
    return out;
  }
  const route = ctx.routes.lookup(dst);
  if (route === null) return Errno.ENETUNREACH;
  const ifp = route.ifp;
  out.ifp = ifp;
  out.nexthop = route.gateway !== 0 ? route.gateway : dst;
  out.viaGateway = route.gateway !== 0;
  out.broadcast = route.gateway === 0 && ifp.isBroadcast(dst);
  out.multicast = false;
  out.route = route;
  return out;
}

/**
 * The interface a limited broadcast or a multicast datagram leaves by
 * (`ip_output`'s multicast case, `inp_lookup_mcast_ifp`): the one holding
 * `mcastIf` (`IP_MULTICAST_IF`; EADDRNOTAVAIL when no interface has it
 * any more), else the source address's, else the one the routing table
 * gives (the default route), else the first that is up with an address (a
 * DHCP-less host still broadcasts); for multicast, lo0 last, so that a
 * host with no other interface still has its groups (on lo0 they only loop).
 * ENETUNREACH when there is none.
 */
export function groupIfp(ctx: NetContext, dst: number, src: number, mcastIf = 0): Ifnet | number {
  let ifp: Ifnet | undefined;
  if (mcastIf !== 0) {
    ifp = ctx.ifnetList().find((i) => i.hasAddr(mcastIf));
    if (ifp === undefined) return Errno.EADDRNOTAVAIL;
    return ifp;
  }
  if (src !== 0) ifp = ctx.ifnetList().find((i) => !i.isLoopback && i.hasAddr(src));
  ifp ??= ctx.routes.lookup(dst)?.ifp;
  ifp ??= ctx.ifnetList().find((i) => !i.isLoopback && i.up && i.addrs.length > 0);
  if (ifp === undefined && dst !== 0xffffffff) ifp = ctx.lo0;
  return ifp ?? Errno.ENETUNREACH;
}

/**
 * The source address for a packet to `dst` (`in_selectsrc`): for our own
 * address itself, else the route's preferred source, else the interface
 * address on the next hop's subnet, else the interface's first address.
 * Returns null when there is no route.
 */
export function selectSource(ctx: NetContext, dst: number): number | null {
  const nh = nextHop(ctx, dst >>> 0, 0, lookupNh);
  if (typeof nh === 'number') return null;
  if (nh.route !== null && nh.route.kind === 'local') return dst >>> 0;
  if (nh.route !== null && nh.route.src !== 0) return nh.route.src;
  const ia = nh.ifp.ifaddrFor(nh.nexthop) ?? nh.ifp.addrs[0];
  return ia !== undefined ? ia.addr : null;
}

/**
 * The MTU towards `dst`: the outgoing interface's, lowered by a path MTU
 * learnt from ICMP (RFC 1191) while it has not expired. 0 when there is no route.
 */
export function mtuTowards(ctx: NetContext, dst: number): number {
  const nh = nextHop(ctx, dst >>> 0, 0, lookupNh);
  if (typeof nh === 'number') return 0;
  return routeMtu(ctx, nh.ifp, dst >>> 0);
}

function routeMtu(ctx: NetContext, ifp: Ifnet, dst: number): number {
  const p = ctx.pmtu.get(dst);
  if (p === undefined) return ifp.mtu;
  if (p.expires <= ctx.clock.now()) {
    ctx.pmtu.delete(dst); // RFC 1191 6.3: forget it, probe upwards again
    return ifp.mtu;
  }
  return Math.min(p.mtu, ifp.mtu);
}

/**
 * The largest IPv4 packet that may go towards `dst` as one TCP
 * segmentation-offload packet (`IpOutput.tsoMaxTowards`): 0 unless the
 * route's interface is an Ethernet link offering `tso4` and no smaller
 * path MTU applies (the device cuts to the segment size it is told; a
 * learnt PMTU below the interface MTU is TCP's MSS business, and TSO then
 * stays off, as FreeBSD's `tcp_maxseg`/`tso` logic does).
 */
export function tsoMaxTowards(ctx: NetContext, dst: number): number {
  const nh = nextHop(ctx, dst >>> 0, 0, lookupNh);
  if (typeof nh === 'number' || nh.ifp.isLoopback || nh.broadcast || nh.multicast) return 0;
  const off = nh.ifp.link.offloads;
  if (off?.tso4 !== true || nh.ifp.link.outputGso === undefined) return 0;
  if (routeMtu(ctx, nh.ifp, dst >>> 0) < nh.ifp.mtu) return 0;
  const max = Math.min(IPV4_MAX_PACKET_LEN, (off.maxGsoBytes ?? 0) - ETHERNET_HEADER_LEN);
  return max > nh.ifp.mtu ? max : 0;
}

/** Smallest path MTU we believe (Linux `net.ipv4.route.min_pmtu`, 552): a smaller one is raised to it. */
export const PMTU_MIN = 552;

/** Most path-MTU entries kept; beyond it the oldest is evicted, so spoofed ICMP cannot grow the cache without bound. */
export const PMTU_CACHE_MAX = 1024;

/** Entries looked at per insertion when sweeping expired ones (bounds the work per ICMP message). */
const PMTU_SWEEP = 8;

/**
 * Record a path MTU from an ICMP fragmentation-needed message (RFC 1191
 * 6.1). Call it only after the sender validated the message (TCP checks
 * the quoted sequence number, RFC 5927 4.1): the cache is shared by every
 * connection to `dst`. An MTU below {@link PMTU_MIN} is clamped up to it
 * (counted `pmtuclamped`: RFC 1191 allows down to 68, but that lets a
 * blind attacker force 28-byte segments); only a decrease below what we
 * use now is believed (else `pmturefused`). The cache holds at most
 * {@link PMTU_CACHE_MAX} entries: expired ones are swept lazily, then the
 * oldest is evicted (`pmtuevicted`).
 * @returns the MTU now in force towards `dst` when the entry was recorded, else 0.
 */
export function pmtuUpdate(ctx: NetContext, dst: number, mtu: number): number {
  const st = ctx.icmpstat;
  dst >>>= 0;
  if (!(mtu >= 0)) mtu = 0;
  if (mtu < PMTU_MIN) {
    st.pmtuclamped++;
    mtu = PMTU_MIN;
  }
  const nh = nextHop(ctx, dst, 0, lookupNh);
  if (typeof nh === 'number' || mtu >= routeMtu(ctx, nh.ifp, dst)) {
    st.pmturefused++;
    return 0;
  }
  const now = ctx.clock.now();
  // Delete first so that re-learning moves the entry to the young end (Map keeps insertion order).
  ctx.pmtu.delete(dst);
  let n = 0;
  for (const [k, e] of ctx.pmtu) {
    if (n++ >= PMTU_SWEEP) break;
    if (e.expires <= now) ctx.pmtu.delete(k);
  }
  while (ctx.pmtu.size >= PMTU_CACHE_MAX) {
    const oldest = ctx.pmtu.keys().next().value as number;
    ctx.pmtu.delete(oldest);
    st.pmtuevicted++;
  }
  ctx.pmtu.set(dst, { mtu, expires: now + ctx.ipTun.mtuExpire * 1000 });
  return mtu;
}

/**
 * Send one transport packet (`ip_output`). `m` starts at the transport
 * header; ownership passes here on every path. Returns 0 (sent, or held
 * waiting for ARP) or an errno: ENETUNREACH, EACCES, EMSGSIZE, ENOBUFS,
 * ENETDOWN, EADDRNOTAVAIL, EHOSTDOWN / EHOSTUNREACH (ARP failed recently).
 */
export function ipOutput(ctx: NetContext, m: Mbuf, opts: IpOutputOptions<number>): number {
  if (ctx.closed) {
    mFreem(m);
    return Errno.ENETDOWN;
  }
  const nested = outputBusy;
  outputBusy = true;
  try {
    return ipOutputOn(ctx, m, opts, nested ? newNextHop() : outputNh, nested ? { ...outputRepr } : outputRepr);
  } finally {
    outputBusy = nested;
  }
}

/** {@link ipOutput} with its next-hop and header objects (reused, or a nested call's own). */
function ipOutputOn(ctx: NetContext, m: Mbuf, opts: IpOutputOptions<number>, nhOut: NextHop, repr: Ipv4ReprT): number {
  const st = ctx.ipstat;
  const dst = opts.dst >>> 0;
  const nh = nextHop(ctx, dst, opts.src >>> 0, nhOut, opts.mcastIf ?? 0);
  if (typeof nh === 'number') {
    st.noroute++;
    mFreem(m);
    return nh;
  }
  if (nh.broadcast && opts.broadcast !== true) {
    st.bcastdenied++;
    mFreem(m);
    return Errno.EACCES;
  }
  const ifp = nh.ifp;
  if (!ifp.up) {
    st.odropped++;
    mFreem(m);
    return Errno.ENETDOWN;
  }
  let src = opts.src >>> 0;
  if (src === 0) {
    src = nh.route?.kind === 'local' ? dst : (ifp.ifaddrFor(nh.nexthop) ?? ifp.addrs[0])?.addr ?? 0;
    if (src === 0) {
      mFreem(m);
      return Errno.EADDRNOTAVAIL;
    }
  }
  const payloadLen = m.pkthdr !== null ? m.pkthdr.len : 0;
  if (IPV4_HEADER_LEN + payloadLen > IPV4_MAX_PACKET_LEN) {
    st.cantfrag++;
    mFreem(m);
    return Errno.EMSGSIZE;
  }
  if (nh.route !== null) nh.route.use++;
  if (nh.route?.kind === 'local') st.looped++;
  repr.src = src;
  repr.dst = dst;
  repr.protocol = opts.proto;
  repr.ttl = opts.ttl ?? (nh.multicast ? 1 : ctx.ipTun.ttl); // RFC 1112 6.1: multicast TTL 1 by default
  repr.dscp = (opts.tos ?? 0) >>> 2;
  repr.ecn = (opts.tos ?? 0) & 3;
  repr.ident = ctx.ipId.next(dst);
  repr.dontFrag = opts.df === true;
  repr.moreFrags = false;
  repr.fragOffset = 0;
  repr.payloadLen = payloadLen;
  repr.options = null;
  st.localout++;
  if (nh.broadcast && !ifp.isLoopback) {
    // ether_output on an IFF_SIMPLEX interface: the device never hears its
    // own broadcasts, so the stack hands local sockets a copy itself (as BSD
    // and Linux both do; lo0 delivers its own).
    mloop(ctx, ifp, m, repr);
    st.bcastloop++;
  } else if (nh.multicast) {
    // ip_output's multicast tail: a copy for local members (ip_mloopback)
    // when IP_MULTICAST_LOOP is on and the interface has joined the group.
    // On lo0 the send itself is that copy; a TTL of 0 goes no further.
    const loop = opts.mcastLoop !== false && ifp.groups.has(dst);
    if (ifp.isLoopback) {
      if (!loop) {
        mFreem(m);
        return 0;
      }
    } else {
      if (loop) {
        mloop(ctx, ifp, m, repr);
        st.mcastloop++;
      }
      if (repr.ttl === 0) {
        mFreem(m);
        return 0;
      }
    }
  }
  let mtu = routeMtu(ctx, ifp, dst);
  if (m.pkthdr !== null && (m.pkthdr.csumFlags & M_CSUM_TSOv4) !== 0) {
    // TCP segmentation offload: the device cuts the packet, so the limit is
    // what it takes in one piece; never fragmented here (DF is set).
    const tsoMax = tsoMaxTowards(ctx, dst);
    if (tsoMax > 0) mtu = tsoMax;
    else m.pkthdr.csumFlags &= ~M_CSUM_TSOv4; // no longer possible: an oversized packet fails as DF below
  }
  if (IPV4_HEADER_LEN + payloadLen <= mtu) {
    const hm = mPrepend(m, IPV4_HEADER_LEN);
    if (hm === null) {
      st.odropped++;
      return Errno.ENOBUFS;
    }
    Ipv4Repr.emit(repr, hm.data, hm.off);
    return ifOutput(ctx, nh, hm);
  }
  if (opts.df === true) {
    st.cantfrag++;
    mFreem(m);
    return Errno.EMSGSIZE;
  }
  return fragmentAndSend(ctx, nh, m, repr, mtu);
}

/** `ip_mloopback`: the whole datagram (multicast or broadcast; header + payload, not yet fragmented) back to `ifp`'s input, later. */
function mloop(ctx: NetContext, ifp: Ifnet, m: Mbuf, repr: Ipv4ReprT): void {
  const pkt = new Uint8Array(IPV4_HEADER_LEN + repr.payloadLen);
  Ipv4Repr.emit(repr, pkt, 0);
  mCopydata(m, 0, repr.payloadLen, pkt, IPV4_HEADER_LEN);
  ctx.mloopback(ifp, pkt);
}

/**
 * `ip_fragment`: cut the payload into pieces of `floor((mtu - 20) / 8) * 8`
 * bytes; each fragment is a fresh header mbuf plus an `mCopym` of its slice
 * (clusters shared, not copied). All fragments are built before the first is
 * sent, so a shortage of mbufs sends nothing (ENOBUFS).
 */
function fragmentAndSend(ctx: NetContext, nh: NextHop, m: Mbuf, repr: Ipv4ReprT, mtu: number): number {
  const st = ctx.ipstat;
  const payloadLen = repr.payloadLen;
  const chunk = (mtu - IPV4_HEADER_LEN) & ~7;
  if (chunk < 8) {
    st.cantfrag++;
    mFreem(m);
    return Errno.EMSGSIZE;
  }
  const frags: Mbuf[] = [];
  for (let off = 0; off < payloadLen; off += chunk) {
    const n = Math.min(chunk, payloadLen - off);
    const h = mGethdr(ctx.pool);
    const data = h !== null ? mCopym(m, off, n) : null;
    if (h === null || data === null) {
      mFreem(h);
      for (const f of frags) mFreem(f);
      mFreem(m);
      st.odropped++;
      return Errno.ENOBUFS;
    }
    h.len = IPV4_HEADER_LEN;
    h.pkthdr!.len = IPV4_HEADER_LEN;
    Ipv4Repr.emit({ ...repr, payloadLen: n, moreFrags: off + n < payloadLen, fragOffset: off }, h.data, h.off);
    mCat(h, data);
    frags.push(h);
  }
  mFreem(m);
  st.fragmented++;
  // As ip_output: after the first failure the remaining fragments are freed, not sent.
  let error = 0;
  for (const f of frags) {
    if (error !== 0) {
      mFreem(f);
      continue;
    }
    st.ofragments++;
    error = ifOutput(ctx, nh, f);
  }
  return error;
}

/**
 * Hand a finished IPv4 packet to its interface: loopback takes the bytes
 * as they are; Ethernet needs the next hop's MAC (broadcast, the multicast
 * mapping, or ARP). Ownership of `m` passes here.
 */
function ifOutput(ctx: NetContext, nh: NextHop, m: Mbuf): number {
  const ifp = nh.ifp;
  if (ifp.isLoopback) {
    const frame = mToBytes(m);
    mFreem(m);
    return ifOutputFrame(ctx, ifp, frame) ? 0 : Errno.ENOBUFS;
  }
  let mac: Uint8Array;
  if (nh.broadcast) mac = BROADCAST_MAC;
  else if (nh.multicast) mac = multicastMac(nh.nexthop);
  else {
    const r = ctx.arp.resolve(ifp, nh.nexthop, m, nh.viaGateway);
    if (typeof r === 'number') return r; // 0: held for ARP; else the failed entry's errno (m freed)
    mac = r;
  }
  return etherOutput(ctx, ifp, m, mac);
}
