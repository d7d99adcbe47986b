/**
 * The send time of every outstanding byte range (RFC 8985 6.1: RACK keeps
 * `Segment.xmit_ts` per segment; Linux keeps it in each skb, gVisor in
 * each `segment`).
 *
 * Here the ranges live in three parallel typed arrays — start sequence
 * number, send time, flag bits — covering `[snd_una, end)` without gaps:
 * a range ends where the next begins. Sending new data appends (or widens
 * the last range when it went out in the same millisecond with the same
 * flags, so a TSO burst or a window's worth sent in one turn is one
 * range); a retransmission, a SACK block or the cumulative ACK split a
 * range only at their own edges. Nothing is allocated per segment: the
 * arrays double when full and are compacted in place.
 *
 * @module
 */
import { seqGeq, seqGt, seqLt, seqOffset } from '../seq.js';

/** Flag bits of a range. */
export const XF = {
  /** Retransmitted at least once (RFC 8985 `Segment.retransmitted`). */
  RETRANS: 1,
  /** SACKed by the peer. */
  SACKED: 2,
  /** Marked lost by RACK and not yet retransmitted since. */
  LOST: 4,
} as const;

const INITIAL_CAP = 64;

/** Called for each range newly delivered (cumulatively ACKed or SACKed, not before). */
export type DeliveredFn = (start: number, end: number, xmitTs: number, flags: number) => void;

/** Called for each range RACK's loss rule examines; returns whether to mark it lost. */
export type LossFn = (start: number, end: number, xmitTs: number, flags: number) => boolean;

/** Per-range send times and SACK / loss marks of one connection. */
export class XmitLog {
  private seq: Uint32Array;
  private ts: Float64Array;
  private fl: Uint8Array;
  private head = 0;
  private n = 0;
  /** One past the last byte recorded (snd_max as far as data goes). */
  end = 0;
  /** Bytes SACKed among the ranges. */
  sackedBytes = 0;
  /** Bytes marked lost and not retransmitted since (counted out of the pipe). */
  lostBytes = 0;

  /** @param initialCap ranges room to start with (grows by doubling; small values exercise growth in tests). */
  constructor(initialCap = INITIAL_CAP) {
    const cap = Math.max(2, initialCap | 0);
    this.seq = new Uint32Array(cap);
    this.ts = new Float64Array(cap);
    this.fl = new Uint8Array(cap);
  }

  /** Number of ranges held. */
  get size(): number {
    return this.n;
  }

  /** Forget everything; the log starts again at `seq`. */
  reset(seq: number): void {
    this.head = 0;
    this.n = 0;
    this.end = seq >>> 0;
    this.sackedBytes = 0;
    this.lostBytes = 0;
  }

  /** Clear the SACKED and LOST marks (after an RTO the SACK state is forgotten, RFC 6675 5.1). */
  clearMarks(): void {
    for (let i = this.head; i < this.head + this.n; i++) this.fl[i] = this.fl[i]! & XF.RETRANS;
    this.sackedBytes = 0;
    this.lostBytes = 0;
  }

  /**
   * `[seq, seq+len)` left at `now`. Bytes at or past {@link XmitLog.end}
   * are new; bytes below it are a retransmission: their ranges take the
   * new time, RETRANS, and lose the LOST mark.
   */
  record(seq: number, len: number, now: number): void {
    seq >>>= 0;
    const e = (seq + len) >>> 0;
    if (this.n === 0) {
      this.append(seq, now, 0);
      this.end = e;
      return;
    }
    if (seqLt(seq, this.end)) {
      const first = this.seq[this.head]!;
      const s = seqLt(seq, first) ? first : seq;
      const re = seqLt(e, this.end) ? e : this.end;
      if (seqLt(s, re)) {
        const [i0, i1] = this.splitRange(s, re);
        for (let i = i0; i < i1; i++) {
          const f = this.fl[i]!;
          if ((f & XF.LOST) !== 0) this.lostBytes -= this.lenAt(i);
          this.fl[i] = (f & ~XF.LOST) | XF.RETRANS;
          this.ts[i] = now;
        }
      }
      if (!seqGt(e, this.end)) return;
      seq = this.end;
    }
    // New data (a gap, never expected, is folded into the last range).
    const last = this.head + this.n - 1;
    if (this.ts[last] === now && this.fl[last] === 0) {
      this.end = e;
      return;
    }
    this.append(this.end, now, 0);
    this.end = e;
  }

  /**
   * The cumulative ACK reached `una`: drop the ranges below it, calling
   * `delivered` for those that were not SACKed before.
   */
  ack(una: number, delivered: DeliveredFn | null): void {
    una >>>= 0;
    if (this.n === 0) {
      if (seqGt(una, this.end)) this.end = una;
      return;
    }
    const top = seqLt(una, this.end) ? una : this.end;
    if (!seqGt(top, this.seq[this.head]!)) return;
    this.splitAt(top);
    const cut = this.boundary(top);
    for (let i = this.head; i < cut; i++) {
      const f = this.fl[i]!;
      const l = this.lenAt(i);
      if ((f & XF.SACKED) !== 0) this.sackedBytes -= l;
      else if (delivered !== null) delivered(this.seq[i]!, (this.seq[i]! + l) >>> 0, this.ts[i]!, f);
      if ((f & XF.LOST) !== 0) this.lostBytes -= l;
    }
    this.n -= cut - this.head;
    this.head = cut;
    if (this.n === 0) {
      this.head = 0;
      if (seqGt(una, this.end)) this.end = una;
    }
  }

  /** The peer SACKed `[s, e)`: mark the ranges inside it, calling `delivered` for those newly SACKed. */
  sack(s: number, e: number, delivered: DeliveredFn | null): void {
    if (this.n === 0) return;
    const first = this.seq[this.head]!;
    s >>>= 0;
    e >>>= 0;
    if (seqLt(s, first)) s = first;
    if (seqGt(e, this.end)) e = this.end;
    if (!seqLt(s, e)) return;
    const [i0, i1] = this.splitRange(s, e);
    for (let i = i0; i < i1; i++) {
      const f = this.fl[i]!;
      if ((f & XF.SACKED) !== 0) continue;
      const l = this.lenAt(i);
      this.sackedBytes += l;
      if ((f & XF.LOST) !== 0) this.lostBytes -= l;
      this.fl[i] = (f & ~XF.LOST) | XF.SACKED;
      if (delivered !== null) delivered(this.seq[i]!, (this.seq[i]! + l) >>> 0, this.ts[i]!, f);
    }
  }

  /**
   * Offer every range that is neither SACKed nor already marked lost to
   * `isLost` (RFC 8985 6.2 step 5's loop); mark those it accepts.
   * @returns bytes newly marked lost.
   */
  markLost(isLost: LossFn): number {
    let newly = 0;
    for (let i = this.head; i < this.head + this.n; i++) {
      const f = this.fl[i]!;
      if ((f & (XF.SACKED | XF.LOST)) !== 0) continue;
      const l = this.lenAt(i);
      if (isLost(this.seq[i]!, (this.seq[i]! + l) >>> 0, this.ts[i]!, f)) {
        this.fl[i] = f | XF.LOST;
        this.lostBytes += l;
        newly += l;
      }
    }
    return newly;
  }

  /**
   * The first (lowest) range marked lost, as `[start, end)` into
   * `out`; false when there is none.
   */
  firstLost(out: { start: number; end: number }): boolean {
    if (this.lostBytes <= 0) return false;
    for (let i = this.head; i < this.head + this.n; i++) {
      if ((this.fl[i]! & XF.LOST) !== 0) {
        out.start = this.seq[i]!;
        out.end = (this.seq[i]! + this.lenAt(i)) >>> 0;
        return true;
      }
    }
    return false;
  }

  /** The send time of the range holding `seq`, or undefined when it is not in the log. */
  xmitTsOf(seq: number): number | undefined {
    const i = this.find(seq >>> 0);
    return i < 0 ? undefined : this.ts[i];
  }

  /** Flag bits of the range holding `seq` (0 when it is not in the log). */
  flagsOf(seq: number): number {
    const i = this.find(seq >>> 0);
    return i < 0 ? 0 : this.fl[i]!;
  }

  private lenAt(i: number): number {
    const next = i + 1 < this.head + this.n ? this.seq[i + 1]! : this.end;
    return seqOffset(next, this.seq[i]!);
  }

  /** Index of the range holding `seq`, or -1. */
  private find(seq: number): number {
    if (this.n === 0) return -1;
    const base = this.seq[this.head]!;
    if (seqLt(seq, base) || seqGeq(seq, this.end)) return -1;
    const off = seqOffset(seq, base);
    let lo = this.head;
    let hi = this.head + this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (seqOffset(this.seq[mid]!, base) <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Make `s` and `e` range boundaries and return the indices of the ranges
   * starting there. Indices are looked up after both splits: a split may
   * grow or compact the arrays and move every index.
   */
  private splitRange(s: number, e: number): [number, number] {
    this.splitAt(s);
    this.splitAt(e);
    return [this.boundary(s), this.boundary(e)];
  }

  /** Make `seq` (inside `[first, end]`) a range boundary. */
  private splitAt(seq: number): void {
    if (seq === this.end) return;
    const i = this.find(seq);
    if (i < 0 || this.seq[i] === seq) return;
    this.insertAt(i + 1, seq, this.ts[i]!, this.fl[i]!);
  }

  /** Index of the range starting at boundary `seq` (`head + n` at or past `end`, `head` below the first). */
  private boundary(seq: number): number {
    const i = this.find(seq);
    if (i >= 0) return i;
    return this.n > 0 && seqLt(seq, this.seq[this.head]!) ? this.head : this.head + this.n;
  }

  private append(seq: number, ts: number, fl: number): void {
    this.insertAt(this.head + this.n, seq, ts, fl);
  }

  private insertAt(at: number, seq: number, ts: number, fl: number): void {
    if (this.head + this.n === this.seq.length) {
      const off = this.head;
      if (this.head > 0 && this.n < (this.seq.length >>> 1)) {
        // Compact in place.
        this.seq.copyWithin(0, off, off + this.n);
        this.ts.copyWithin(0, off, off + this.n);
        this.fl.copyWithin(0, off, off + this.n);
      } else {
        const cap = this.seq.length * 2;
        const s = new Uint32Array(cap);
        const t = new Float64Array(cap);
        const f = new Uint8Array(cap);
        s.set(this.seq.subarray(off, off + this.n));
        t.set(this.ts.subarray(off, off + this.n));
        f.set(this.fl.subarray(off, off + this.n));
        this.seq = s;
        this.ts = t;
        this.fl = f;
      }
      this.head = 0;
      at -= off;
    }
    const tail = this.head + this.n;
    if (at < tail) {
      this.seq.copyWithin(at + 1, at, tail);
      this.ts.copyWithin(at + 1, at, tail);
      this.fl.copyWithin(at + 1, at, tail);
    }
    this.seq[at] = seq >>> 0;
    this.ts[at] = ts;
    this.fl[at] = fl;
    this.n++;
  }
}
