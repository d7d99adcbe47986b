/**
 * IPv4 input (NetBSD `sys/netinet/ip_input.c`, `ip_input()`; RFC 791,
 * RFC 1122 3.2.1).
 *
 * The checks run in `ip_input()`'s order, each failure a named counter in
 * `net.inet.ip.stats`: toosmall (fewer than 20 bytes), badvers, badhlen (IHL
 * below 5 or past the data), badsum, badlen (total length below the header),
 * tooshort (total length past the data); trailing bytes (Ethernet padding)
 * are trimmed. They are the checks of the wire module's `Ipv4Packet.check`,
 * made here one by one because that check folds three of them into
 * `'truncated'` and needs the whole packet in one buffer, while a packet
 * here is an mbuf chain; once they pass, the header is contiguous in the
 * first mbuf and the `Ipv4Packet` view over it cannot read out of bounds.
 *
 * Then the source must not be martian (each kind its own counter, see
 * {@link martianSource}), the destination must be ours (weak
 * host model, as BSD: any of our addresses on any interface), a broadcast
 * of the receiving interface, or a multicast group it joined — we never
 * forward (`cantforward`). Options are accepted and ignored (RFC 1122
 * 3.2.1.8), except source routes, which hosts drop (RFC 7126 4.3, 4.4).
 * Fragments go to reassembly; a complete datagram loses its header and goes
 * to ICMP, IGMP (`igmp.ts`) or the registered transport. A multicast copy of
 * our own (`looped`, `ip_mloopback`) skips the martian-source checks: its
 * source is ours by construction.
 *
 * No check ties the total length to the interface MTU: a link with large
 * receive offload hands over coalesced TCP packets of up to 64 KiB, and
 * they are accepted like any other as long as the length is consistent
 * with the frame (the `tooshort` / trim checks above).
 *
 * @module
 */
import { mAdj, mFreem, mMakeWritable, mPullup, mWritable, type Mbuf } from '../mbuf/index.js';
import { ipv4IsLoopback, ipv4IsMulticast, ipv4IsReserved } from '../wire/address.js';
import { verifyChecksum } from '../wire/checksum.js';
import { IcmpType, UnreachCode } from '../wire/icmp.js';
import { readU32 } from '../wire/bytes.js';
import { IPV4_HEADER_LEN, IPV4_MAX_HEADER_LEN, IpProto, Ipv4Field, Ipv4Packet } from '../wire/ipv4.js';
import type { NetContext } from './context.js';
import type { Ifnet } from './ifnet.js';
import type { IpPacketInfo } from './protosw.js';
import { IPPROTO_IGMP } from './igmp.js';

/** IP option types a host must not honour: loose and strict source route (RFC 7126 4.3, 4.4). */
const IPOPT_LSRR = 0x83;
const IPOPT_SSRR = 0x89;

/**
 * Process one received IPv4 packet (`ip_input`). `m` starts at the IP
 * header; ownership passes here on every path. Never throws on bad input.
 */
export function ipInput(ctx: NetContext, ifp: Ifnet, m: Mbuf, looped = false): void {
  const st = ctx.ipstat;
  st.total++;
  const len = m.pkthdr !== null ? m.pkthdr.len : 0;
  if (len < IPV4_HEADER_LEN) {
    st.toosmall++;
    mFreem(m);
    return;
  }
  const pm = mPullup(m, Math.min(len, IPV4_MAX_HEADER_LEN));
  if (pm === null) {
    st.toosmall++; // pullup freed the chain (short, or no mbufs)
    return;
  }
  m = pm;
  const b = m.data;
  const o = m.off;
  const vi = b[o]!;
  if (vi >>> 4 !== 4) return drop(m, st, 'badvers');
  const hlen = (vi & 15) << 2;
  if (hlen < IPV4_HEADER_LEN || hlen > len) return drop(m, st, 'badhlen');
  if (!verifyChecksum(b, o, hlen)) return drop(m, st, 'badsum');
  const total = (b[o + 2]! << 8) | b[o + 3]!;
  if (total < hlen) return drop(m, st, 'badlen');
  if (total > len) return drop(m, st, 'tooshort');
  if (len > total) mAdj(m, total - len);
  // Header validated above: its fields are read straight from the bytes
  // (no view object per packet).
  const src = readU32(b, o + Ipv4Field.SRC);
  const dst = readU32(b, o + Ipv4Field.DST);

  // A multicast copy we looped back ourselves (ip_mloopback) carries our own source.
  const martian = looped ? null : martianSource(src, dst, ifp, ctx.localAddrs);
  if (martian !== null && !(src === 0 && isDhcpFromNowhere(b, o, hlen, m.len, dst))) {
    st.martians++;
    return drop(m, st, martian);
  }
  // 127/8 is never on a wire (RFC 1122 3.2.1.3 (g)), in either direction.
  if (ipv4IsLoopback(dst) && !ifp.isLoopback) {
    st.martians++;
    return drop(m, st, 'martianloopdst');
  }
  let broadcast = false;
  let multicast = false;
  if (ctx.localAddrs.has(dst)) {
    /* ours */
  } else if (ifp.isBroadcast(dst) || dst === 0) {
    // 0.0.0.0 as a destination is the old BSD broadcast (ip_input treats INADDR_ANY as ours).
    broadcast = true;
  } else if (ipv4IsMulticast(dst)) {
    if (!ifp.groups.has(dst)) return drop(m, st, 'notmember');
    multicast = true;
  } else {
    return drop(m, st, 'cantforward');
  }
  if (hlen > IPV4_HEADER_LEN && hasSourceRoute(b, o + IPV4_HEADER_LEN, o + hlen)) return drop(m, st, 'badoptions');

  const proto = b[o + Ipv4Field.PROTOCOL]!;
  const ttl = b[o + Ipv4Field.TTL]!;
  const tos = b[o + 1]!;
  let phlen = hlen;
  const frag = ((b[o + Ipv4Field.FLG_OFF]! << 8) | b[o + Ipv4Field.FLG_OFF + 1]!) & 0x3fff; // MF and the offset
  if (frag !== 0) {
    const ip = new Ipv4Packet(b, o, hlen);
    const r = ctx.reass.input(m, {
      src,
      dst,
      id: ip.ident,
      proto,
      hlen,
      off: ip.fragOffset,
      dataLen: total - hlen,
      mf: ip.moreFrags,
    });
    if (r === null) return;
    m = r.m;
    phlen = r.hlen;
    // A device vouches for frames, not for datagrams rebuilt from several.
    m.pkthdr!.csumFlags = 0;
    // The first fragment's header now describes the whole datagram.
    if (!mWritable(m) && mMakeWritable(m, 0, phlen) !== 0) return drop(m, st, 'fragdropped');
    const h = new Ipv4Packet(m.data, m.off, phlen);
    h.setTotalLen(m.pkthdr!.len);
    h.setFragment(h.dontFrag, false, 0);
    h.fillChecksum();
  }

  const tp = proto === IpProto.ICMP || proto === IPPROTO_IGMP ? null : ctx.protocol(proto);
  if (tp === undefined) {
    st.noproto++;
    // RFC 1122 3.2.2.1: protocol unreachable (icmpError applies the 3.2.2 exceptions).
    ctx.icmp.error(m, IcmpType.DEST_UNREACH, UnreachCode.PROTOCOL, 0, broadcast || multicast);
    return;
  }
  st.delivered++;
  mAdj(m, phlen);
  // One info object for every packet: the transports read it during their
  // input call and keep none of it (TCP, UDP, ICMP and IGMP copy the fields
  // they need). A delivery nested inside another (a transport's input reaching
  // ipInput again synchronously) gets its own.
  const nested = infoBusy;
  const info = nested ? newInfo() : infoScratch;
  info.src = src;
  info.dst = dst;
  info.proto = proto;
  info.ttl = ttl;
  info.tos = tos;
  info.ifname = ifp.name;
  info.ifindex = ifp.index;
  info.broadcast = broadcast;
  info.multicast = multicast;
  infoBusy = true;
  try {
    if (tp !== null) tp.input(m, info);
    else if (proto === IPPROTO_IGMP) ctx.igmp.input(ifp, m, info);
    else ctx.icmp.input(m, info);
  } finally {
    infoBusy = nested;
  }
}

function newInfo(): IpPacketInfo<number> {
  return { src: 0, dst: 0, proto: 0, ttl: 0, tos: 0, ifname: '', ifindex: 0, broadcast: false, multicast: false };
}

/** The packet info handed to the transports, reused (see the end of {@link ipInput}). */
const infoScratch = newInfo();
/** Whether {@link infoScratch} is lent to a transport's input call now. */
let infoBusy = false;

/**
 * @internal The info object the next top-level delivery will lend (for the
 * test that the data path reuses it rather than allocating one per packet).
 */
export function ipInputInfoScratch(): Readonly<IpPacketInfo<number>> {
  return infoScratch;
}

/** Count a drop under `counter` and free the packet. */
function drop(m: Mbuf, st: NetContext['ipstat'], counter: keyof NetContext['ipstat']): void {
  st[counter]++;
  mFreem(m);
}

/** The named `ipstat` counter of each kind of martian source (each also counts in `martians`). */
export type MartianKind = 'martianzero' | 'martianloop' | 'martianmcast' | 'martianclasse' | 'martianbcast' | 'martianself';

/**
 * Which kind of impossible source `src` is on a packet to `dst` received on
 * `ifp`, or null when it is a plausible one (RFC 1122 3.2.1.3, RFC 1812
 * 5.3.7; Linux `ip_route_input_slow`'s martian checks, FreeBSD
 * `ip_input`'s `IN_LOOPBACK`/`in_broadcast` tests):
 * - `martianzero`: this-network 0/8 — 0.0.0.0 itself is legitimate only for
 *   a DHCP/BOOTP client that has no address yet, see {@link isDhcpFromNowhere};
 * - `martianloop`: 127/8 from anything but the loopback interface;
 * - `martianmcast`, `martianclasse`: 224/4, 240/4 (the limited broadcast too);
 * - `martianbcast`: a directed broadcast of the receiving interface's subnets;
 * - `martianself`: one of our own addresses arriving on a wire — our own
 *   packets come back only through lo0, so this is a spoof (the LAND attack:
 *   a SYN from us to us that would make a half-open connection with ourselves).
 */
export function martianSource(src: number, dst: number, ifp: Ifnet, localAddrs: ReadonlySet<number>): MartianKind | null {
  if (src >>> 24 === 0) return 'martianzero';
  if (ipv4IsLoopback(src)) return ifp.isLoopback ? null : 'martianloop';
  if (ipv4IsMulticast(src)) return 'martianmcast';
  if (ipv4IsReserved(src)) return 'martianclasse';
  if (ifp.isBroadcast(src)) return 'martianbcast';
  if (!ifp.isLoopback && localAddrs.has(src)) return 'martianself';
  return null;
}

/**
 * Whether `src` is impossible as a source (see {@link martianSource}; 0.0.0.0
 * towards the limited broadcast is let through here, the caller refines it
 * by protocol). Kept for callers that want a yes/no.
 */
export function isMartianSource(src: number, dst: number, ifp: Ifnet, localAddrs: ReadonlySet<number> = new Set()): boolean {
  if (src === 0 && dst === 0xffffffff) return false;
  return martianSource(src, dst, ifp, localAddrs) !== null;
}

/** BOOTP/DHCP ports (RFC 951, RFC 2131). */
const BOOTPS = 67;
const BOOTPC = 68;

/**
 * Source 0.0.0.0 is valid only from a host that has no address yet (RFC
 * 1122 3.2.1.3 (a)), and the only such IP traffic is DHCP/BOOTP (RFC 2131
 * 4.1: the client broadcasts from 0.0.0.0 to port 67; a relay or server may
 * answer to 68). So it passes only as an unfragmented UDP datagram to the
 * limited broadcast for port 67 or 68. ARP probes (RFC 5227) also use
 * 0.0.0.0, but as ARP's sender address, never as an IP source.
 */
function isDhcpFromNowhere(b: Uint8Array, o: number, hlen: number, firstLen: number, dst: number): boolean {
  if (dst !== 0xffffffff || b[o + 9] !== 17) return false;
  const frag = ((b[o + 6]! << 8) | b[o + 7]!) & 0x3fff; // MF or an offset
  if (frag !== 0 || firstLen < hlen + 4) return false;
  const dport = (b[o + hlen + 2]! << 8) | b[o + hlen + 3]!;
  return dport === BOOTPS || dport === BOOTPC;
}

/** Whether the options in `b[from..to)` hold a source route. Malformed lists end the scan (ignored). */
function hasSourceRoute(b: Uint8Array, from: number, to: number): boolean {
  let i = from;
  while (i < to) {
    const t = b[i]!;
    if (t === 0) return false; // end of option list
    if (t === 1) {
      i++; // no-op
      continue;
    }
    if (t === IPOPT_LSRR || t === IPOPT_SSRR) return true;
    if (i + 1 >= to) return false;
    const olen = b[i + 1]!;
    if (olen < 2) return false;
    i += olen;
  }
  return false;
}
