/**
 * IPv6 input (RFC 8200; NetBSD `sys/netinet6/ip6_input.c`, `ip6_input()`
 * and the `pr_input` chain of `dest6_input`, `route6_input`, `frag6_input`).
 *
 * Checks in `ip6_input()`'s order, each failure a named counter in
 * `net.inet6.ip6.stats`: toosmall, badvers, jumbo, tooshort; trailing bytes
 * (Ethernet padding) are trimmed. Scope: a multicast or v4-mapped source,
 * loopback on a wire, and multicast of reserved or interface-local scope
 * from a wire are `badscope`. The destination must be one of our addresses
 * (not tentative), or a group joined on the receiving interface (all-nodes
 * and our solicited-node groups among them) — we never forward.
 *
 * Then the header chain is walked (RFC 8200 4.1), each header pulled up
 * contiguous in the first mbuf (so the chain is bounded by a cluster,
 * `exthdrtoolong`, and by `net.inet6.ip6.maxexthdrs`, `toomanyhdr`):
 * - hop-by-hop only right after the fixed header, else parameter problem
 *   code 1 (`hbhnotfirst`);
 * - hop-by-hop and destination options: unknown options act on their two
 *   high-order bits (RFC 8200 4.2);
 * - routing: segments left 0 is skipped whatever the type; otherwise
 *   parameter problem code 0 at the type (type 0 is deprecated, RFC 5095;
 *   the others we cannot act on as a host);
 * - fragment: an atomic fragment (offset 0, M clear) is processed in
 *   isolation (RFC 8021, RFC 6946), others go to reassembly (`reass6.ts`),
 *   whose complete datagram continues the walk where the fragment header was;
 * - ICMPv6 and registered transports (`TransportProtocol.input`, with an
 *   `IpPacketInfo` whose addresses are `Ip6Address`es) get the
 *   packet trimmed to their header; an unknown next header gets parameter
 *   problem code 1 (`noproto`).
 *
 * @module
 */
import { M_BCAST, M_MCAST, mAdj, mFreem, mPullup, type Mbuf } from '../mbuf/index.js';
import { Icmp6Type, ParamProb6Code } from '../wire/icmpv6.js';
import { IP6_ANY, type Ip6Address } from '../wire/ip.js';
import { IPV6_HEADER_LEN, Ip6Next, Ipv6Field } from '../wire/ipv6.js';
import { IPV6_FRAG_HEADER_LEN, OptAction, OptWalk, fragMore6, fragOffset6, walkIp6Options } from '../wire/ipv6-ext.js';
import type { Ifnet } from './ifnet.js';
import type { Inet6 } from './inet6.js';
import type { IpPacketInfo } from './protosw.js';

const walk = new OptWalk();

/**
 * Process one received IPv6 packet (`ip6_input`). `m` starts at the IPv6
 * header; ownership passes here on every path. Never throws on bad input.
 * `looped`: a multicast copy of our own (`ip6_mloopback`), held to the
 * node's rules, not the wire's (interface-local scope passes).
 */
export function ip6Input(in6: Inet6, ifp: Ifnet, m: Mbuf, looped = false): void {
  const st = in6.ip6stat;
  st.total++;
  const len = m.pkthdr !== null ? m.pkthdr.len : 0;
  if (len < IPV6_HEADER_LEN) return drop(in6, m, 'toosmall');
  const pm = mPullup(m, IPV6_HEADER_LEN);
  if (pm === null) {
    st.toosmall++;
    return;
  }
  m = pm;
  let b = m.data;
  let o = m.off;
  if (b[o]! >>> 4 !== 6) return drop(in6, m, 'badvers');
  const plen = (b[o + 4]! << 8) | b[o + 5]!;
  if (plen === 0 && b[o + 6] === Ip6Next.HOPOPTS) return drop(in6, m, 'jumbo');
  if (IPV6_HEADER_LEN + plen > len) return drop(in6, m, 'tooshort');
  if (len > IPV6_HEADER_LEN + plen) mAdj(m, IPV6_HEADER_LEN + plen - len);

  const so = o + Ipv6Field.SRC;
  const dop = o + Ipv6Field.DST;
  // A multicast copy of our own (ip6_mloopback) never was on the wire.
  const wire = !ifp.isLoopback && !looped;
  // RFC 4291 2.7: a multicast source is impossible; ::ffff:0:0/96 never appears on a wire (RFC 4942 2.2).
  if (b[so] === 0xff || isV4MappedAt(b, so) || isV4MappedAt(b, dop)) return drop(in6, m, 'badscope');
  // RFC 4291 2.5.3: ::1 is never sent outside a node.
  if (wire && (isLoopbackAt(b, so) || isLoopbackAt(b, dop))) return drop(in6, m, 'badscope');
  let multicast = false;
  if (b[dop] === 0xff) {
    const scope = b[dop + 1]! & 0xf;
    // Scope 0 is reserved; interface-local (1) never leaves the node (RFC 4291 2.7).
    if (scope === 0 || (wire && scope === 1)) return drop(in6, m, 'badscope');
    if (!in6.joined(ifp, b, dop)) return drop(in6, m, 'notmember');
    multicast = true;
  } else {
    const ia = in6.ourAddress(ifp, b, dop);
    if (ia === null) return drop(in6, m, 'cantforward');
    if (ia.state === 'tentative' || ia.state === 'duplicated') return drop(in6, m, 'tentative');
  }

  // The header chain (RFC 8200 4.1).
  const tun = in6.tun;
  const clmax = m.pool.mclbytes;
  let nxt = b[o + Ipv6Field.NEXT_HEADER]!;
  let off = IPV6_HEADER_LEN;
  let prevNxt: number = Ipv6Field.NEXT_HEADER;
  let nhdr = 0;
  for (;;) {
    let total = m.pkthdr!.len;
    switch (nxt) {
      case Ip6Next.HOPOPTS:
      case Ip6Next.DSTOPTS: {
        if (nxt === Ip6Next.HOPOPTS && off !== IPV6_HEADER_LEN) {
          st.hbhnotfirst++;
          return in6.icmp.error(m, Icmp6Type.PARAM_PROB, ParamProb6Code.NEXTHEADER, prevNxt);
        }
        if (off + 2 > total) return drop(in6, m, 'exthdrtoolong');
        const p1 = pullup(in6, m, off + 2, clmax);
        if (p1 === null) return;
        m = p1;
        b = m.data;
        o = m.off;
        const hlen = (b[o + off + 1]! + 1) << 3;
        if (off + hlen > total || off + hlen > clmax) return drop(in6, m, 'exthdrtoolong');
        const p2 = pullup(in6, m, off + hlen, clmax);
        if (p2 === null) return;
        m = p2;
        b = m.data;
        o = m.off;
        walkIp6Options(b, o + off, hlen, walk);
        if (walk.action !== OptAction.OPT_OK) {
          st.badoptions++;
          if (walk.action === OptAction.OPT_ICMP || (walk.action === OptAction.OPT_ICMP_UNICAST && !multicast)) {
            // RFC 4443 2.4 (e.3): option type 10xxxxxx is reported even to a multicast destination.
            return in6.icmp.error(m, Icmp6Type.PARAM_PROB, ParamProb6Code.OPTION, walk.at - o, walk.action === OptAction.OPT_ICMP);
          }
          mFreem(m);
          return;
        }
        prevNxt = off;
        nxt = b[o + off]!;
        off += hlen;
        break;
      }
      case Ip6Next.ROUTING: {
        if (off + 8 > total) return drop(in6, m, 'exthdrtoolong');
        const p3 = pullup(in6, m, off + 8, clmax);
        if (p3 === null) return;
        m = p3;
        b = m.data;
        o = m.off;
        const hlen = (b[o + off + 1]! + 1) << 3;
        if (off + hlen > total || off + hlen > clmax) return drop(in6, m, 'exthdrtoolong');
        const type = b[o + off + 2]!;
        const segleft = b[o + off + 3]!;
        if (segleft !== 0) {
          // RFC 8200 4.4 / RFC 5095 3: an unrecognised (or deprecated type 0) routing header with
          // segments left is a parameter problem pointing at its type. We are a host: no type is ours to act on.
          if (type === 0) st.rthdr0++;
          else st.rthdrsegleft++;
          return in6.icmp.error(m, Icmp6Type.PARAM_PROB, ParamProb6Code.HEADER, off + 2);
        }
        const p4 = pullup(in6, m, off + hlen, clmax);
        if (p4 === null) return;
        m = p4;
        b = m.data;
        o = m.off;
        prevNxt = off;
        nxt = b[o + off]!;
        off += hlen;
        break;
      }
      case Ip6Next.FRAGMENT: {
        if (off + IPV6_FRAG_HEADER_LEN > total) return drop(in6, m, 'exthdrtoolong');
        const p5 = pullup(in6, m, off + IPV6_FRAG_HEADER_LEN, clmax);
        if (p5 === null) return;
        m = p5;
        b = m.data;
        o = m.off;
        const fo = fragOffset6(b, o + off);
        const more = fragMore6(b, o + off);
        if (fo === 0 && !more) {
          // RFC 8021 / RFC 6946: an atomic fragment is not reassembled, just read past.
          st.atomicfrags++;
          prevNxt = off;
          nxt = b[o + off]!;
          off += IPV6_FRAG_HEADER_LEN;
          break;
        }
        const r = in6.reass.input(m, off, prevNxt);
        if (r === null) return;
        // The datagram, whole: its fragmentable part now starts where the fragment header was.
        m = r;
        total = m.pkthdr!.len;
        const p6 = pullup(in6, m, Math.min(total, off), clmax);
        if (p6 === null) return;
        m = p6;
        b = m.data;
        o = m.off;
        nxt = b[o + prevNxt]!;
        break;
      }
      case Ip6Next.NONE:
        return drop(in6, m, 'nonext');
      default:
        return deliver(in6, ifp, m, nxt, off, prevNxt, multicast);
    }
    if (++nhdr > tun.maxexthdrs) return drop(in6, m, 'toomanyhdr');
  }
}

/** Hand the packet to ICMPv6 or a transport, trimmed to the upper-layer header. */
function deliver(in6: Inet6, ifp: Ifnet, m: Mbuf, proto: number, off: number, prevNxt: number, multicast: boolean): void {
  const st = in6.ip6stat;
  const b = m.data;
  const o = m.off;
  const tp = proto === Ip6Next.ICMPV6 ? null : in6.net.protocol(proto);
  if (proto !== Ip6Next.ICMPV6 && tp === undefined) {
    st.noproto++;
    // RFC 8200 4: an unrecognised Next Header is a parameter problem code 1 pointing at it.
    return in6.icmp.error(m, Icmp6Type.PARAM_PROB, ParamProb6Code.NEXTHEADER, prevNxt);
  }
  // As IPv4 input: one info object lent for the call (a nested delivery
  // gets its own); the addresses come from the stack's cache of immutable
  // Ip6Address objects, so a steady stream builds none.
  const nested = infoBusy;
  const info = nested ? newInfo() : infoScratch;
  info.src = in6.addrCache.fromBytes(b, o + Ipv6Field.SRC);
  info.dst = in6.addrCache.fromBytes(b, o + Ipv6Field.DST);
  info.proto = proto;
  info.ttl = b[o + Ipv6Field.HOP_LIMIT]!;
  info.tos = ((b[o]! & 0x0f) << 4) | (b[o + 1]! >>> 4);
  info.ifname = ifp.name;
  info.ifindex = ifp.index;
  info.broadcast = false;
  info.multicast = multicast || (m.flags & (M_MCAST | M_BCAST)) !== 0;
  st.delivered++;
  infoBusy = true;
  try {
    if (tp == null) {
      in6.icmp.input(m, off, info, ifp);
      return;
    }
    mAdj(m, off);
    tp.input(m, info);
  } finally {
    infoBusy = nested;
  }
}

function newInfo(): IpPacketInfo<Ip6Address> {
  return { src: IP6_ANY, dst: IP6_ANY, proto: 0, ttl: 0, tos: 0, ifname: '', ifindex: 0, broadcast: false, multicast: false };
}

/** The packet info lent to ICMPv6 and the transports (see {@link deliver}). */
const infoScratch = newInfo();
/** Whether {@link infoScratch} is lent now. */
let infoBusy = false;

/** mPullup counting its failure (the chain is freed then); null when it failed. */
function pullup(in6: Inet6, m: Mbuf, n: number, clmax: number): Mbuf | null {
  if (n > clmax) {
    in6.ip6stat.exthdrtoolong++;
    mFreem(m);
    return null;
  }
  const r = mPullup(m, n);
  if (r === null) in6.ip6stat.exthdrtoolong++;
  return r;
}

function drop(in6: Inet6, m: Mbuf, counter: keyof Inet6['ip6stat']): void {
  in6.ip6stat[counter]++;
  mFreem(m);
}

function isLoopbackAt(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 15; i++) if (b[o + i] !== 0) return false;
  return b[o + 15] === 1;
}

function isV4MappedAt(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 10; i++) if (b[o + i] !== 0) return false;
  return b[o + 10] === 0xff && b[o + 11] === 0xff;
}
