/**
 * Ethernet input and output (NetBSD `sys/net/if_ethersubr.c`: `ether_input`,
 * `ether_output`).
 *
 * Input: the link lends each frame for the duration of its receiver call.
 * ARP is answered straight from the lent bytes (nothing is kept); an IPv4
 * or IPv6 payload is copied once into an mbuf chain from the pool
 * (`m_devget`), which IPv4 or IPv6 input then owns — unless the link built
 * the frame in a cluster the interface lent it (`Ifnet.rxLender`, an
 * in-process wire): that cluster becomes the packet, without a copy. Group frames are taken
 * for the broadcast address, joined IPv4 groups (01:00:5e) and joined IPv6
 * groups (33:33, RFC 2464 7). Frames not addressed to us, with a group
 * source, with an 802.1Q tag (no VLAN support) or with an unknown EtherType
 * are counted drops.
 *
 * Output: the chain is linearised into one frame with the 14-byte header
 * written in front — the single copy the `Link` contract (ownership of one
 * `Uint8Array`) requires; nothing is prepended to the mbufs first. The
 * frame is a transmit buffer the driver lends (`Link.allocTxFrame`, e.g.
 * the MemWire's ring) when it has one, else fresh memory from a slab.
 *
 * Offloads (opt-in, only for links that offer them): a received frame's
 * `RxFlag` bits become the packet header's `csumFlags` (the transport then
 * skips its checksum); a packet whose header asks for a partial checksum or
 * TCP segmentation (`M_CSUM_TCPv4`, `M_CSUM_TSOv4`, set by TCP output) goes
 * to `Link.outputGso` with the offsets the device needs — NetBSD's
 * `if_csum_flags_tx` / `IFCAP_TSOv4` path.
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import { RxFlag, type TxOffload } from '../link/link.js';
import {
  M_BCAST,
  M_CSUM_TCPv4,
  M_CSUM_TSOv4,
  M_CSUM_UDPv4,
  M_MCAST,
  mCopydata,
  mDevget,
  mFreem,
  mLength,
  type Mbuf,
} from '../mbuf/index.js';
import { completePartialChecksum } from '../wire/checksum.js';
import { macEquals, macIsMulticast } from '../wire/address.js';
import {
  ETHERNET_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  EthernetField,
  EthernetFrame,
} from '../wire/ethernet.js';
import type { NetContext } from './context.js';
import type { Ifnet } from './ifnet.js';
import { ipInput } from './ipv4-input.js';
import { ip6Input } from './ipv6-input.js';

/**
 * Process one received Ethernet frame (`ether_input`). `frame` is lent: it
 * is not referenced after the call. `rxFlags` are the link's `RxFlag` bits
 * for it (0 from links without offloads). Never throws on bad input; every
 * refusal is counted in `net.link.ether.stats` and the interface counters.
 */
export function etherInput(ctx: NetContext, ifp: Ifnet, frame: Uint8Array, rxFlags = 0): void {
  const st = ctx.etherstat;
  const ist = ifp.stats;
  if (ctx.closed) return;
  if (!ifp.up) {
    st.down++;
    ist.iqdrops++;
    return;
  }
  // Checked, then read straight from the bytes (no view object per frame).
  const bad = EthernetFrame.check(frame);
  if (bad !== null) {
    if (bad === 'truncated') st.tooshort++;
    else st.llc++;
    ist.ierrors++;
    return;
  }
  ist.ipackets++;
  ist.ibytes += frame.length;
  if (macIsMulticast(frame, EthernetField.SRC)) {
    st.badsrc++;
    ist.ierrors++;
    return;
  }
  let mflags = 0;
  if (macIsMulticast(frame, EthernetField.DST)) {
    if (isBroadcastMac(frame)) mflags = M_BCAST;
    else if (joinedGroupMac(ifp, frame) || joinedGroup6Mac(ifp, frame)) mflags = M_MCAST;
    else {
      st.notours++;
      return;
    }
    ist.imcasts++;
  } else if (!macEquals(frame, ifp.mac, EthernetField.DST, 0)) {
    // A hub (or a promiscuous tap) shows us frames for other stations.
    st.notours++;
    return;
  }
  if (macEquals(frame, ifp.mac, EthernetField.SRC, 0)) {
    st.ownsrc++;
    return;
  }
  const type = (frame[EthernetField.ETHERTYPE]! << 8) | frame[EthernetField.ETHERTYPE + 1]!;
  if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
    st.vlan++;
    ist.noproto++;
    return;
  }
  const plen = frame.length - ETHERNET_HEADER_LEN;
  switch (type) {
    case ETHERTYPE_ARP:
      ctx.arp.input(ifp, frame, ETHERNET_HEADER_LEN, plen);
      return;
    case ETHERTYPE_IPV4: {
      // m_devget: one copy into the pool. Ethernet padding is trimmed by IP input.
      // The receive path may use the pool's reserve: the frame may be the ACK
      // that frees a send buffer; TCP sheds what it need not keep (ofo.ts).
      const m = rxMbuf(ctx, ifp, frame, plen);
      if (m === null) {
        st.nobufs++;
        ist.iqdrops++;
        ctx.pool.countDrop();
        return;
      }
      m.flags |= mflags;
      if (rxFlags !== 0) rxOffload(st, m, rxFlags);
      ipInput(ctx, ifp, m);
      return;
    }
    case ETHERTYPE_IPV6: {
      // The receive path may use the pool's reserve (see IPv4 above).
      const m = rxMbuf(ctx, ifp, frame, plen);
      if (m === null) {
        st.nobufs++;
        ist.iqdrops++;
        ctx.pool.countDrop();
        return;
      }
      m.flags |= mflags;
      // The device's checksum bits hold for TCP/UDP over IPv6 too (virtio's
      // flags are per frame, not per family; tcp/udp input read them alike).
      if (rxFlags !== 0) rxOffload(st, m, rxFlags);
      ip6Input(ctx.inet6, ifp, m);
      return;
    }
    default:
      st.unknowntype++;
      ist.noproto++;
  }
}

/**
 * The packet of a received frame as an mbuf chain: the frame's own cluster
 * when the link built it in one this interface lent (no copy; `lend.ts`),
 * else a copy into the pool (`m_devget`).
 */
function rxMbuf(ctx: NetContext, ifp: Ifnet, frame: Uint8Array, plen: number): Mbuf | null {
  const l = ifp.rxLender;
  if (l !== null) {
    const m = l.adopt(frame, ETHERNET_HEADER_LEN, plen, ifp.name, true);
    if (m !== null) return m;
  }
  return mDevget(ctx.pool, frame, ETHERNET_HEADER_LEN, plen, ifp.name, true);
}

/**
 * Carry a device's receive offload bits into the packet header. A partial
 * checksum (`CHECKSUM_PARTIAL`) only arrives from the local kernel, in
 * memory, never across a wire: it is treated as verified — as Linux's own
 * `skb_csum_unnecessary()` treats a `CHECKSUM_PARTIAL` skb — rather than
 * completed, which would cost a pass over every 64 KiB super-packet.
 */
function rxOffload(st: NetContext['etherstat'], m: Mbuf, rxFlags: number): void {
  if ((rxFlags & (RxFlag.CSUM_VALID | RxFlag.CSUM_PARTIAL)) !== 0) {
    m.pkthdr!.csumFlags |= M_CSUM_TCPv4 | M_CSUM_UDPv4;
    st.rxCsumOffload++;
  }
  if ((rxFlags & RxFlag.GSO) !== 0) st.lroPackets++;
}

function isBroadcastMac(b: Uint8Array): boolean {
  return (b[0]! & b[1]! & b[2]! & b[3]! & b[4]! & b[5]!) === 0xff;
}

/** Whether a 01:00:5e multicast MAC maps a group joined on `ifp` (RFC 1112 6.4: low 23 bits). */
function joinedGroupMac(ifp: Ifnet, b: Uint8Array): boolean {
  if (b[0] !== 0x01 || b[1] !== 0x00 || b[2] !== 0x5e || (b[3]! & 0x80) !== 0) return false;
  const low = ((b[3]! << 16) | (b[4]! << 8) | b[5]!) & 0x7fffff;
  for (const g of ifp.groups.keys()) if ((g & 0x7fffff) === low) return true;
  return false;
}

/** Whether a 33:33 multicast MAC maps an IPv6 group joined on `ifp` (RFC 2464 7: low 32 bits). */
function joinedGroup6Mac(ifp: Ifnet, b: Uint8Array): boolean {
  if (b[0] !== 0x33 || b[1] !== 0x33) return false;
  const low = ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0;
  for (const g of ifp.groups6) if (g.addr.w3 === low) return true;
  return false;
}

/** The multicast MAC for IPv4 group `g` (RFC 1112 6.4): 01:00:5e + low 23 bits. */
export function multicastMac(g: number): Uint8Array {
  return Uint8Array.of(0x01, 0x00, 0x5e, (g >>> 16) & 0x7f, (g >>> 8) & 0xff, g & 0xff);
}

/** Bytes per frame slab (see {@link allocFrame}). */
const FRAME_SLAB = 256 * 1024;
let slab = new ArrayBuffer(FRAME_SLAB);
let slabOff = 0;

/**
 * A fresh `len`-byte frame, carved from a shared slab. Each frame is its own
 * range of the slab and is never reused (a slab is garbage once every frame
 * cut from it is), so ownership can pass to the driver as the `Link`
 * contract says. Why: `new Uint8Array(1514)` allocates and zero-fills an
 * ArrayBuffer with an external backing store per frame — a measurable part
 * of the output path at 20,000+ frames a second; a view into a slab is a
 * small heap object.
 */
function allocFrame(len: number): Uint8Array {
  if (len > FRAME_SLAB / 4) return new Uint8Array(len);
  if (slabOff + len > FRAME_SLAB) {
    slab = new ArrayBuffer(FRAME_SLAB);
    slabOff = 0;
  }
  const f = new Uint8Array(slab, slabOff, len);
  slabOff += (len + 7) & ~7; // keep frames 8-byte aligned
  return f;
}

/**
 * Send an IPv4 packet (or any payload of `ethertype`) to `dstMac`
 * (`ether_output`). Ownership of `m` passes here; the chain is copied once
 * into the frame and freed. Returns 0, or ENOBUFS when the link refused the
 * frame (counted `oerrors`).
 */
export function etherOutput(ctx: NetContext, ifp: Ifnet, m: Mbuf, dstMac: Uint8Array, ethertype = ETHERTYPE_IPV4): number {
  const len = m.pkthdr !== null ? m.pkthdr.len : mLength(m);
  // A transmit buffer the driver lends (its ring, reused once the frame has
  // left), else fresh memory: the frame passes to the link either way.
  const link = ifp.link;
  const flen = ETHERNET_HEADER_LEN + len;
  const frame = (link.allocTxFrame !== undefined ? link.allocTxFrame(flen) : null) ?? allocFrame(flen);
  for (let i = 0; i < 6; i++) {
    frame[EthernetField.DST + i] = dstMac[i]!;
    frame[EthernetField.SRC + i] = ifp.mac[i]!;
  }
  frame[EthernetField.ETHERTYPE] = ethertype >>> 8;
  frame[EthernetField.ETHERTYPE + 1] = ethertype & 0xff;
  mCopydata(m, 0, len, frame, ETHERNET_HEADER_LEN);
  const ph = m.pkthdr;
  const csum = ph !== null ? ph.csumFlags & (M_CSUM_TCPv4 | M_CSUM_TSOv4) : 0;
  const segsz = ph !== null && (csum & M_CSUM_TSOv4) !== 0 ? ph.segsz : 0;
  mFreem(m);
  if ((dstMac[0]! & 1) !== 0) ifp.stats.omcasts++;
  if (csum !== 0 && ethertype === ETHERTYPE_IPV4) return etherOutputOffload(ctx, ifp, frame, segsz) ? 0 : Errno.ENOBUFS;
  return ifOutputFrame(ctx, ifp, frame) ? 0 : Errno.ENOBUFS;
}

/**
 * A TCP/IPv4 frame whose checksum is partial (and, with `segsz > 0`, which
 * the device must segment): hand it to `Link.outputGso` with virtio's
 * offsets. A link without it (the route moved to another interface while
 * the packet waited for ARP) gets the checksum completed in software when
 * the frame fits its MTU; an oversized one is dropped and counted
 * (`tsoNoDevice`) — TCP's retransmission recovers, without TSO then.
 */
function etherOutputOffload(ctx: NetContext, ifp: Ifnet, frame: Uint8Array, segsz: number): boolean {
  const ip = ETHERNET_HEADER_LEN;
  const csumStart = ip + ((frame[ip]! & 15) << 2);
  const hdrLen = csumStart + ((frame[csumStart + 12]! >>> 4) << 2);
  const link = ifp.link;
  const st = ctx.etherstat;
  if (link.outputGso === undefined || link.offloads?.tso4 !== true) {
    if (frame.length > ifp.mtu + ETHERNET_HEADER_LEN) {
      st.tsoNoDevice++;
      ifp.stats.oerrors++;
      link.releaseTxFrame?.(frame);
      return false;
    }
    completePartialChecksum(frame, csumStart, 16);
    return ifOutputFrame(ctx, ifp, frame);
  }
  const len = frame.length;
  // One meta object for every frame: lent to the link for the call (Link.outputGso).
  const meta = gsoMeta;
  meta.gsoSize = segsz;
  meta.hdrLen = hdrLen;
  meta.csumStart = csumStart;
  meta.csumOffset = 16;
  if (link.outputGso(frame, meta)) {
    if (segsz > 0) st.tsoFrames++;
    ifp.stats.opackets++;
    ifp.stats.obytes += len;
    return true;
  }
  ifp.stats.oerrors++;
  st.oerrors++;
  return false;
}

const gsoMeta: TxOffload = { gsoSize: 0, hdrLen: 0, csumStart: 0, csumOffset: 0 };

/** Hand a finished frame to the driver, counting it. Ownership of `frame` passes. */
export function ifOutputFrame(ctx: NetContext, ifp: Ifnet, frame: Uint8Array): boolean {
  const len = frame.length;
  if (ifp.link.output(frame)) {
    ifp.stats.opackets++;
    ifp.stats.obytes += len;
    return true;
  }
  ifp.stats.oerrors++;
  ctx.etherstat.oerrors++;
  return false;
}
