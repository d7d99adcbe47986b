/**
 * Clusters lent to a link as receive buffers, and taken back as mbufs
 * without a copy: NetBSD drivers fill their receive descriptors with
 * clusters (`MCLGET`), the device writes each frame into one, and the
 * driver hands the cluster up as the packet's mbuf (`if_input`) instead of
 * copying it (`m_devget`). Here the "device" is a link whose frames are
 * made in memory (the in-process `MemWire`): the sending stack builds the
 * frame straight into a cluster of the receiving stack's pool
 * (`Link.allocTxFrame` → {@link ClusterLender.lend}), and the receiving
 * stack's Ethernet input takes that cluster over
 * ({@link ClusterLender.adopt}). Two stacks in one process then copy each
 * byte twice (application → cluster, chain → the peer's cluster) instead of
 * three times.
 *
 * States of a cluster (`state[i]`):
 * - not lent (the pool's, free or in some mbuf);
 * - LENT: the link holds one reference, from `lend` until `reclaim`;
 * - ADOPTED: lent, and the receiver took it as a packet: the mbuf holds a
 *   second reference (`MCLADDREFERENCE`), so until the link's `reclaim`
 *   (due when the receiver call returns) the cluster is read-only to the
 *   stack and cannot go back to the pool — nor be lent again — however
 *   soon the packet is freed.
 * `reclaim` drops the link's reference in either state; a `reclaim` of a
 * cluster not lent throws (a double reclaim, or a stale view), and `adopt`
 * takes only a cluster lent and not yet adopted: a cluster never has two
 * owners that could write it.
 *
 * Only frames of packets that `m_devget` would put in a cluster are lent
 * (larger than a header mbuf's {@link MHLEN} bytes after the link header):
 * ACKs keep being copied into small mbufs, not pinned in 2 KiB clusters.
 *
 * @module
 */
import type { RxBufferLender } from '../link/link.js';
import { M_EXT, M_PKTHDR, MHLEN, Mbuf } from './mbuf.js';
import type { ClusterPool } from './pool.js';

const LENT = 1;
const ADOPTED = 2;

/** Counters of a {@link ClusterLender}. */
export interface ClusterLenderStats {
  /** Clusters lent to the link. */
  lent: number;
  /** Lent clusters taken over as packets (a copy saved each). */
  adopted: number;
  /** Lent clusters given back unused (frame dropped, or not for this stack's protocols). */
  returned: number;
  /** Lend requests refused: the pool keeps its last clusters for the copying path. */
  refused: number;
}

/**
 * Lends clusters of one pool to a link as receive buffers (an
 * {@link RxBufferLender}); see the module note.
 */
export class ClusterLender implements RxBufferLender {
  /** Counters (read them, do not write them). */
  readonly stats: ClusterLenderStats = { lent: 0, adopted: 0, returned: 0, refused: 0 };
  private readonly state: Uint8Array;
  /** Smallest frame lent: the link header plus more than a header mbuf holds. */
  private readonly minLen: number;

  /**
   * @param pool the pool whose clusters are lent.
   * @param linkHdr bytes of link header in front of each packet (14 for Ethernet).
   */
  constructor(
    readonly pool: ClusterPool,
    readonly linkHdr: number,
  ) {
    this.state = new Uint8Array(pool.nmbclusters);
    this.minLen = linkHdr + MHLEN + 1;
  }

  /**
   * A `len`-byte buffer at the start of a free cluster, or null when the
   * frame is small (an ACK: copied into a small mbuf as before) or larger
   * than a cluster, or the pool has no cluster outside its reserve.
   */
  lend(len: number): Uint8Array | null {
    const pool = this.pool;
    if (len < this.minLen || len > pool.mclbytes) return null;
    const c = pool.clAlloc(false);
    if (c < 0) {
      this.stats.refused++;
      return null;
    }
    this.state[c] = LENT;
    this.stats.lent++;
    return new Uint8Array(pool.slab, c * pool.mclbytes, len);
  }

  /** Whether `buf` is a view of the pool's clusters. */
  owns(buf: Uint8Array): boolean {
    return buf.buffer === this.pool.slab;
  }

  /** Cluster index of a view of the pool's clusters. */
  private clusterOf(buf: Uint8Array): number {
    return (buf.byteOffset / this.pool.mclbytes) | 0;
  }

  /**
   * The link is done with `buf`: its reference is dropped (a cluster not
   * adopted goes back to the pool; an adopted one stays with its mbuf).
   * @returns false when `buf` is not of this pool.
   * @throws Error when its cluster is neither lent nor adopted.
   */
  reclaim(buf: Uint8Array): boolean {
    if (buf.buffer !== this.pool.slab) return false;
    const c = this.clusterOf(buf);
    const s = this.state[c];
    if (s !== LENT && s !== ADOPTED) throw new Error(`ClusterLender: cluster ${c} reclaimed while not lent (double reclaim or stale frame)`);
    if (s === LENT) this.stats.returned++;
    this.state[c] = 0;
    this.pool.clUnref(c);
    return true;
  }

  /**
   * Take over a lent frame as a packet (`if_input` of a descriptor's
   * cluster): a packet-header mbuf on the frame's cluster holding
   * `frame[off .. off + len)`, with `rcvif` recorded. Until the link
   * reclaims the frame the cluster is shared with it (read-only).
   * @returns the packet, owned by the caller; null when `frame` is not a
   *   lent cluster of this pool (the caller copies it, `m_devget`), or when
   *   no mbuf is left (`reserveOk`: the receive path may take the reserve).
   */
  adopt(frame: Uint8Array, off: number, len: number, rcvif: string | number | null, reserveOk: boolean): Mbuf | null {
    const pool = this.pool;
    if (frame.buffer !== pool.slab) return null;
    const c = this.clusterOf(frame);
    if (this.state[c] !== LENT) return null;
    if (!pool.mbReserve(1, reserveOk)) return null;
    this.state[c] = ADOPTED;
    this.stats.adopted++;
    pool.clRef(c); // the mbuf's reference; the link's goes at reclaim
    const m = new Mbuf(pool, pool.clView(c), frame.byteOffset - c * pool.mclbytes + off, M_PKTHDR | M_EXT, c);
    m.len = len;
    const ph = m.pkthdr!;
    ph.len = len;
    ph.rcvif = rcvif;
    return m;
  }
}
