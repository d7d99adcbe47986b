/**
 * The out-of-order queue (NetBSD `tcp_reass()`, RFC 9293 3.10.7.4 "seventh,
 * process the segment text"): segments that arrived above RCV.NXT wait here,
 * sorted and without overlap, until the hole before them fills.
 *
 * Bounded: at most `maxSegs` segments (the bytes are bounded by the receive
 * window, which input enforces before queueing). The queue owns the chains
 * it holds and frees them when they are duplicates, trimmed away or flushed.
 *
 * @module
 */
import { mAdj, mFreem, type Mbuf } from '../../mbuf/index.js';
import { seqOffset } from './seq.js';

/** One queued segment: data `[seq, seq + len)`, optionally followed by a FIN. */
export interface ReassSeg {
  seq: number;
  len: number;
  fin: boolean;
  /** The data (owned by the queue until taken), null when `len` is 0. */
  m: Mbuf | null;
}

/** What {@link ReassQueue.insert} did with a segment. */
export const ReassResult = {
  /** Queued (maybe trimmed). */
  QUEUED: 0,
  /** Everything in it was already queued: freed. */
  DUPLICATE: 1,
  /** The queue was full: freed. */
  FULL: 2,
} as const;

/** A bounded, sorted queue of out-of-order segments. */
export class ReassQueue {
  /** Queued segments, lowest sequence number first, disjoint. */
  readonly segs: ReassSeg[] = [];
  /** Data bytes queued. */
  bytes = 0;
  /** Most segments held. */
  readonly maxSegs: number;

  constructor(maxSegs: number) {
    this.maxSegs = maxSegs;
  }

  /** Number of segments queued. */
  get length(): number {
    return this.segs.length;
  }

  /**
   * Queue `[seq, seq + len)` (and a FIN after it), which lies above
   * `rcvNxt`. Overlaps with queued data are trimmed from the new segment,
   * and queued segments it covers entirely are replaced. Ownership of `m`
   * passes to the queue on every path.
   * @returns a {@link ReassResult} value.
   */
  insert(seq: number, len: number, fin: boolean, m: Mbuf | null, rcvNxt: number): number {
    const segs = this.segs;
    let s = seqOffset(seq, rcvNxt);
    let e = s + len;
    // First queued segment starting after s (binary search on offsets).
    let lo = 0;
    let hi = segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqOffset(segs[mid]!.seq, rcvNxt) <= s) lo = mid + 1;
      else hi = mid;
    }
    let i = lo;
    if (i > 0) {
      const p = segs[i - 1]!;
      const pe = seqOffset(p.seq, rcvNxt) + p.len;
      if (pe >= e && !(fin && !p.fin && pe === e)) {
        mFreem(m);
        return ReassResult.DUPLICATE;
      }
      if (pe > s) {
        const d = pe - s;
        if (m !== null) mAdj(m, d);
        s = pe;
      }
    }
    while (i < segs.length) {
      const n = segs[i]!;
      const ns = seqOffset(n.seq, rcvNxt);
      if (ns >= e) break;
      const ne = ns + n.len;
      if (ne <= e) {
        // The new segment covers this one: drop it (keeping its FIN).
        if (n.fin && ne === e) fin = true;
        this.bytes -= n.len;
        mFreem(n.m);
        segs.splice(i, 1);
        continue;
      }
      // Trim our tail where the next one starts.
      if (m !== null) mAdj(m, -(e - ns));
      e = ns;
      fin = false;
      break;
    }
    if (e <= s && !fin) {
      mFreem(m);
      return ReassResult.DUPLICATE;
    }
    if (segs.length >= this.maxSegs) {
      mFreem(m);
      return ReassResult.FULL;
    }
    const nlen = e - s;
    if (nlen === 0 && m !== null) {
      mFreem(m);
      m = null;
    }
    segs.splice(i, 0, { seq: (rcvNxt + s) >>> 0, len: nlen, fin, m });
    this.bytes += nlen;
    return ReassResult.QUEUED;
  }

  /**
   * Take the first segment if it starts at `rcvNxt` (the hole before it has
   * filled). The caller owns the returned segment's chain.
   */
  takeAt(rcvNxt: number): ReassSeg | null {
    const f = this.segs[0];
    if (f === undefined || f.seq !== rcvNxt >>> 0) return null;
    this.segs.shift();
    this.bytes -= f.len;
    return f;
  }

  /**
   * Drop segments now wholly at or below `rcvNxt` (after in-order data
   * overlapped them) and trim one straddling it.
   * @returns bytes discarded.
   */
  trimBelow(rcvNxt: number): number {
    let dropped = 0;
    const segs = this.segs;
    while (segs.length > 0) {
      const f = segs[0]!;
      const d = seqOffset(rcvNxt, f.seq);
      if (d >= 0x80000000 || d === 0) break; // f starts at or above rcvNxt
      if (d >= f.len && !(f.fin && d === f.len)) {
        segs.shift();
        this.bytes -= f.len;
        dropped += f.len;
        mFreem(f.m);
        continue;
      }
      const cut = Math.min(d, f.len);
      if (f.m !== null) mAdj(f.m, cut);
      f.seq = rcvNxt >>> 0;
      f.len -= cut;
      this.bytes -= cut;
      dropped += cut;
      break;
    }
    return dropped;
  }

  /** Free everything (connection closed). */
  flush(): void {
    for (const s of this.segs) mFreem(s.m);
    this.segs.length = 0;
    this.bytes = 0;
  }
}
