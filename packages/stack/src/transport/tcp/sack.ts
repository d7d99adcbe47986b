/**
 * Selective acknowledgment (RFC 2018) for both ends of a connection:
 *
 * - {@link SackReceiver}: which blocks of out-of-order data to report in the
 *   SACK option of the ACKs we send (RFC 2018 §4), with D-SACK (RFC 2883).
 * - {@link SackScoreboard}: the sender's record of what the peer has SACKed,
 *   and the RFC 6675 loss-recovery helpers built on it: `IsLost()`,
 *   `SetPipe()` ({@link SackScoreboard.pipe}) and `NextSeg()`
 *   ({@link SackScoreboard.nextSeg}). NetBSD `tcp_sack.c`, gVisor
 *   `sack_scoreboard.go`.
 *
 * A block is a half-open range of sequence numbers `[start, end)`, exactly
 * the "left edge" and "right edge" of the option. All arithmetic goes through
 * `seq.ts`, so ranges may straddle the 2^32 wrap. Memory is bounded: each side
 * keeps at most a configured number of ranges and counts what it had to drop.
 *
 * @packageDocumentation
 */
import { seqGt, seqLeq, seqLt, seqOffset } from './seq.js';

/** A SACK block: sequence numbers `[start, end)` (RFC 2018 §3 left/right edge). */
export interface SackBlock {
  /** First sequence number of the block. */
  start: number;
  /** Sequence number just past the block. */
  end: number;
}

/**
 * How many SACK blocks fit in the options of one segment (RFC 2018 §3):
 * 4 alone, 3 next to the timestamps option (10 bytes + padding).
 */
export function maxSackBlocks(timestamps: boolean): number {
  return timestamps ? 3 : 4;
}

// ---------------------------------------------------------------------------
// Receiver side
// ---------------------------------------------------------------------------

/** Counters of a {@link SackReceiver}. */
export interface SackReceiverStats {
  /** Ranges forgotten because more than `maxRanges` were tracked. */
  capDrops: number;
  /** D-SACK blocks handed out for sending. */
  dsacksReported: number;
}

/** Default number of out-of-order ranges a receiver remembers. */
export const DEFAULT_RECEIVER_RANGES = 32;

/**
 * The receiver's list of SACK blocks to report, most recently changed first
 * (RFC 2018 §4: the first block MUST contain the segment that triggered the
 * ACK; the others SHOULD repeat the most recently reported blocks).
 *
 * The TCP reassembly queue stays the owner of the data; this only tracks
 * ranges. Feed it every segment queued out of order
 * ({@link SackReceiver.onOutOfOrder}), every advance of rcv_nxt
 * ({@link SackReceiver.onAdvance}) and every duplicate
 * ({@link SackReceiver.onDuplicate}), then ask
 * {@link SackReceiver.blocksToSend} when building an ACK.
 */
export class SackReceiver {
  /** Most recent first; disjoint and non-adjacent; all above rcv_nxt. */
  private list: SackBlock[] = [];
  private dsack: SackBlock | undefined;
  /** Counters. */
  readonly stats: SackReceiverStats = { capDrops: 0, dsacksReported: 0 };

  /** @param maxRanges Ranges remembered (>= 4); the least recent beyond it are forgotten (counted). */
  constructor(readonly maxRanges = DEFAULT_RECEIVER_RANGES) {
    if (!Number.isInteger(maxRanges) || maxRanges < 4) throw new RangeError(`SackReceiver: maxRanges ${maxRanges} < 4`);
  }

  /** Number of ranges tracked. */
  get size(): number {
    return this.list.length;
  }

  /**
   * Segment data `[start, end)` was queued out of order, above `rcvNxt`.
   * Merges it with every tracked range it overlaps or touches and moves the
   * result to the front. Parts at or below `rcvNxt` are ignored; an empty or
   * reversed range is ignored.
   */
  onOutOfOrder(start: number, end: number, rcvNxt: number): void {
    if (!seqLt(start, end)) return;
    if (seqLeq(end, rcvNxt)) return;
    let s = seqLt(start, rcvNxt) ? rcvNxt >>> 0 : start >>> 0;
    let e = end >>> 0;
    // Merge in place, scanning the (short, bounded) list once.
    let w = 0;
    for (let r = 0; r < this.list.length; r++) {
      const b = this.list[r]!;
      if (seqLeq(b.start, e) && seqLeq(s, b.end)) {
        if (seqLt(b.start, s)) s = b.start;
        if (seqGt(b.end, e)) e = b.end;
      } else {
        this.list[w++] = b;
      }
    }
    this.list.length = w;
    this.list.unshift({ start: s, end: e });
    if (this.list.length > this.maxRanges) {
      this.stats.capDrops += this.list.length - this.maxRanges;
      this.list.length = this.maxRanges;
    }
  }

  /**
   * rcv_nxt advanced to `rcvNxt`: drop ranges now covered and trim a range
   * that straddles it (RFC 2018 §4: blocks report only data above the
   * cumulative ACK).
   */
  onAdvance(rcvNxt: number): void {
    let w = 0;
    for (let r = 0; r < this.list.length; r++) {
      const b = this.list[r]!;
      if (seqLeq(b.end, rcvNxt)) continue;
      if (seqLt(b.start, rcvNxt)) b.start = rcvNxt >>> 0;
      this.list[w++] = b;
    }
    this.list.length = w;
  }

  /**
   * A duplicate segment `[start, end)` arrived (RFC 2883 §4): report it as a
   * D-SACK block in the next ACK only. If it duplicates data above rcv_nxt,
   * the range holding it moves to the front so that it is reported second,
   * as RFC 2883 §4 asks.
   */
  onDuplicate(start: number, end: number, rcvNxt: number): void {
    if (!seqLt(start, end)) return;
    this.dsack = { start: start >>> 0, end: end >>> 0 };
    if (seqLeq(end, rcvNxt)) return;
    for (let i = 0; i < this.list.length; i++) {
      const b = this.list[i]!;
      if (seqLeq(b.start, start) && seqLeq(end, b.end)) {
        this.list.splice(i, 1);
        this.list.unshift(b);
        return;
      }
    }
  }

  /**
   * The blocks for the next ACK: a pending D-SACK first (then forgotten),
   * then tracked ranges most recent first, at most `max` in all (see
   * {@link maxSackBlocks}). Returns fresh objects the caller may keep.
   */
  blocksToSend(max: number): SackBlock[] {
    const out: SackBlock[] = [];
    if (max <= 0) return out;
    if (this.dsack) {
      out.push(this.dsack);
      this.dsack = undefined;
      this.stats.dsacksReported++;
    }
    for (let i = 0; i < this.list.length && out.length < max; i++) {
      const b = this.list[i]!;
      out.push({ start: b.start, end: b.end });
    }
    return out;
  }

  /**
   * Queued data from `from` up was discarded (reneging, RFC 2018 section 8:
   * the out-of-order queue was pruned): forget ranges above it and cut one
   * that straddles it, so no block reports data we no longer hold. `null`
   * forgets every range.
   */
  onRenege(from: number | null): void {
    if (from === null) {
      this.list.length = 0;
      return;
    }
    let w = 0;
    for (let r = 0; r < this.list.length; r++) {
      const b = this.list[r]!;
      if (seqLeq(from, b.start)) continue;
      if (seqLt(from, b.end)) b.end = from >>> 0;
      this.list[w++] = b;
    }
    this.list.length = w;
  }

  /** Forget everything (connection reset, or reneging). */
  clear(): void {
    this.list.length = 0;
    this.dsack = undefined;
  }
}

// ---------------------------------------------------------------------------
// Sender side: the RFC 6675 scoreboard
// ---------------------------------------------------------------------------

/** Options of a {@link SackScoreboard}. */
export interface SackScoreboardOptions {
  /** Sender MSS (SMSS), bytes. */
  mss: number;
  /** RFC 6675 DupThresh; default 3. */
  dupThresh?: number;
  /** Most SACKed ranges kept (bounded memory); default 256. */
  maxRanges?: number;
}

/** Counters of a {@link SackScoreboard}. */
export interface SackScoreboardStats {
  /** Calls to {@link SackScoreboard.update}. */
  updates: number;
  /** D-SACK first blocks recognised (RFC 2883 §4) and not inserted. */
  dsacks: number;
  /** Blocks refused: empty/reversed, or reaching beyond snd_max. */
  invalidBlocks: number;
  /** Blocks wholly at or below the cumulative ACK (stale), ignored. */
  staleBlocks: number;
  /** ACK values beyond snd_max, ignored. */
  invalidAcks: number;
  /** Blocks dropped because the scoreboard already held `maxRanges` ranges. */
  capDrops: number;
}

/** What {@link SackScoreboard.nextSeg} says to send next. */
export interface NextSeg {
  /**
   * `retransmit`: rules (1) and (3); `new`: rule (2), new data starting at
   * snd_max (the caller sizes it by window and data available); `rescue`:
   * rule (4).
   */
  kind: 'retransmit' | 'new' | 'rescue';
  /** Which RFC 6675 NextSeg() rule chose it: 1–4. */
  rule: 1 | 2 | 3 | 4;
  /** First sequence number to send. */
  start: number;
  /** One past the last (at most `start + SMSS`; for `new`, a cap only). */
  end: number;
}

/**
 * What the peer has SACKed above snd_una, kept as sorted, disjoint,
 * non-adjacent ranges, plus the RFC 6675 recovery state HighRxt, RescueRxt and
 * RecoveryPoint.
 *
 * @example
 * ```ts
 * const sb = new SackScoreboard({ mss: 1000 }, iss);
 * sb.update(ack, blocksFromOption, sndMax);    // newly SACKed bytes
 * sb.startRecovery(sndMax);
 * while (sb.pipe(sndMax) < cc.cwnd) {
 *   const seg = sb.nextSeg(sndMax, haveNewData);
 *   if (!seg) break;
 *   ...send...; if (seg.kind !== 'new') sb.markRetransmitted(seg);
 * }
 * ```
 */
export class SackScoreboard {
  /** Counters. */
  readonly stats: SackScoreboardStats = {
    updates: 0,
    dsacks: 0,
    invalidBlocks: 0,
    staleBlocks: 0,
    invalidAcks: 0,
    capDrops: 0,
  };
  /** RFC 6675 DupThresh. */
  readonly dupThresh: number;
  /** Maximum number of ranges kept. */
  readonly maxRanges: number;

  private smss: number;
  private una: number;
  /** Sorted by offset from `una`. */
  private ranges: SackBlock[] = [];
  private sacked = 0;
  private highRxtSeq: number;
  private rescueRxtSeq: number | undefined;
  private recoveryPointSeq: number | undefined;
  private dsackLast = false;

  /**
   * @param opts See {@link SackScoreboardOptions}.
   * @param sndUna Initial snd_una (usually ISS + 1).
   * @throws RangeError on a non-positive MSS, DupThresh or range cap.
   */
  constructor(opts: SackScoreboardOptions, sndUna: number) {
    if (!Number.isInteger(opts.mss) || opts.mss <= 0) throw new RangeError(`SackScoreboard: bad mss ${opts.mss}`);
    this.smss = opts.mss;
    this.dupThresh = opts.dupThresh ?? 3;
    this.maxRanges = opts.maxRanges ?? 256;
    if (!(this.dupThresh >= 1) || !(this.maxRanges >= 1)) {
      throw new RangeError('SackScoreboard: bad dupThresh/maxRanges');
    }
    this.una = sndUna >>> 0;
    this.highRxtSeq = this.una;
  }

  /** snd_una as last given to {@link SackScoreboard.update}. */
  get sndUna(): number {
    return this.una;
  }

  /** Bytes SACKed above snd_una. */
  get sackedBytes(): number {
    return this.sacked;
  }

  /** Number of disjoint SACKed ranges held. */
  get rangeCount(): number {
    return this.ranges.length;
  }

  /** One past the highest SACKed byte, or undefined if nothing is SACKed. */
  get highestSacked(): number | undefined {
    const n = this.ranges.length;
    return n === 0 ? undefined : this.ranges[n - 1]!.end;
  }

  /** RFC 6675 HighRxt, here one past the highest byte retransmitted in this recovery. */
  get highRxt(): number {
    return seqGt(this.highRxtSeq, this.una) ? this.highRxtSeq : this.una;
  }

  /** RFC 6675 RecoveryPoint, or undefined outside recovery. */
  get recoveryPoint(): number | undefined {
    return this.recoveryPointSeq;
  }

  /** Whether the first block of the last update was a D-SACK (RFC 2883). */
  get lastUpdateHadDsack(): boolean {
    return this.dsackLast;
  }

  /** The SMSS used by IsLost() and NextSeg(). */
  get mss(): number {
    return this.smss;
  }

  /** Change the SMSS (PMTU); ignored unless a positive integer. */
  setMss(mss: number): void {
    if (Number.isInteger(mss) && mss > 0) this.smss = mss;
  }

  /** A copy of the SACKed ranges, lowest first. */
  blocks(): SackBlock[] {
    return this.ranges.map((b) => ({ start: b.start, end: b.end }));
  }

  /**
   * Process an ACK: advance snd_una to `ack` (discarding SACK state below
   * it), then record `blocks` from its SACK option. Validation (RFC 2018 §8,
   * RFC 2883 §4, RFC 6675 §5): a first block that starts below the ACK or
   * lies inside the second block is a D-SACK — counted, not inserted; a block
   * that is empty, reversed or reaches past `sndMax` is invalid; a block at
   * or below the ACK is stale; a block straddling the ACK is trimmed. Every
   * refusal is counted; nothing throws.
   *
   * @param ack Cumulative ACK of the segment (must not exceed `sndMax`; an
   *   older ACK leaves snd_una alone but its blocks still count).
   * @param blocks SACK blocks in option order (may be empty).
   * @param sndMax One past the highest sequence number sent.
   * @returns bytes newly marked SACKed by this ACK's blocks.
   */
  update(ack: number, blocks: readonly SackBlock[], sndMax: number): number {
    this.stats.updates++;
    this.dsackLast = false;
    if (seqGt(ack, sndMax)) {
      this.stats.invalidAcks++;
      return 0;
    }
    if (seqGt(ack, this.una)) this.advance(ack >>> 0);
    const una = this.una;
    let newly = 0;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!;
      const s = b.start >>> 0;
      const e = b.end >>> 0;
      if (i === 0 && this.isDsack(s, e, ack >>> 0, blocks)) {
        this.stats.dsacks++;
        this.dsackLast = true;
        continue;
      }
      if (!seqLt(s, e) || seqGt(e, sndMax)) {
        this.stats.invalidBlocks++;
        continue;
      }
      if (seqLeq(e, una)) {
        this.stats.staleBlocks++;
        continue;
      }
      newly += this.insert(seqLt(s, una) ? una : s, e);
    }
    this.sacked += newly;
    return newly;
  }

  /** Whether the byte at `seq` is SACKed. */
  isSacked(seq: number): boolean {
    const off = seqOffset(seq, this.una);
    for (const b of this.ranges) {
      if (off < seqOffset(b.start, this.una)) return false;
      if (off < seqOffset(b.end, this.una)) return true;
    }
    return false;
  }

  /**
   * RFC 6675 §4 IsLost(SeqNum): true when DupThresh discontiguous SACKed
   * runs lie above `seq`, or more than (DupThresh - 1) * SMSS SACKed bytes
   * do. "Above" means sequence numbers greater than `seq`.
   */
  isLost(seq: number): boolean {
    const off = seqOffset(seq, this.una);
    const byteLimit = (this.dupThresh - 1) * this.smss;
    let runs = 0;
    let bytes = 0;
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const b = this.ranges[i]!;
      const e = seqOffset(b.end, this.una);
      if (e <= off + 1) break;
      const s = Math.max(seqOffset(b.start, this.una), off + 1);
      runs++;
      bytes += e - s;
      if (runs >= this.dupThresh || bytes > byteLimit) return true;
    }
    return false;
  }

  /**
   * RFC 6675 §4 SetPipe(): the sender's estimate of bytes in the network —
   * every unSACKed byte in `[snd_una, sndMax)` counts once unless IsLost(),
   * and once more if it was retransmitted in this recovery (below HighRxt).
   * O(number of ranges): IsLost() is constant across one hole.
   */
  pipe(sndMax: number): number {
    const top = seqGt(sndMax, this.una) ? seqOffset(sndMax, this.una) : 0;
    const hr = seqOffset(this.highRxt, this.una);
    const byteLimit = (this.dupThresh - 1) * this.smss;
    let pipe = 0;
    let runs = 0;
    let bytes = 0;
    let holeEnd = top;
    for (let i = this.ranges.length - 1; i >= -1; i--) {
      const b = i >= 0 ? this.ranges[i]! : undefined;
      const holeStart = b ? Math.min(seqOffset(b.end, this.una), holeEnd) : 0;
      if (holeEnd > holeStart) {
        const lost = runs >= this.dupThresh || bytes > byteLimit;
        if (!lost) pipe += holeEnd - holeStart;
        if (hr > holeStart) pipe += Math.min(hr, holeEnd) - holeStart;
      }
      if (b) {
        const s = seqOffset(b.start, this.una);
        runs++;
        bytes += seqOffset(b.end, this.una) - s;
        holeEnd = Math.min(s, holeEnd);
      }
    }
    return pipe;
  }

  /**
   * Loss recovery begins (RFC 6675 §5 step 4): RecoveryPoint = `sndMax`,
   * HighRxt = snd_una, RescueRxt undefined.
   */
  startRecovery(sndMax: number): void {
    this.recoveryPointSeq = sndMax >>> 0;
    this.highRxtSeq = this.una;
    this.rescueRxtSeq = undefined;
  }

  /** Loss recovery ended (RFC 6675 §5 (A)); the SACK ranges are kept. */
  endRecovery(): void {
    this.recoveryPointSeq = undefined;
    this.highRxtSeq = this.una;
    this.rescueRxtSeq = undefined;
  }

  /**
   * Record that `seg` (from {@link SackScoreboard.nextSeg}, possibly cut
   * shorter by the caller) was retransmitted: rules 1/3 raise HighRxt to
   * its end; a rescue sets RescueRxt = RecoveryPoint and leaves HighRxt
   * (RFC 6675 §4 rule 4).
   */
  markRetransmitted(seg: { kind: NextSeg['kind']; start: number; end: number }): void {
    if (seg.kind === 'rescue') {
      this.rescueRxtSeq = this.recoveryPointSeq ?? this.una;
    } else if (seg.kind === 'retransmit' && seqGt(seg.end, this.highRxt)) {
      this.highRxtSeq = seg.end >>> 0;
    }
  }

  /**
   * RFC 6675 §4 NextSeg(): what to send when `pipe < cwnd`.
   * (1) the first unSACKed byte at or above HighRxt, below the highest
   * SACKed byte, that IsLost(); (2) else new data if `canSendNew` (data
   * queued and the peer's window open); (3) else that first unSACKed byte
   * even if not lost; (4) else, once per recovery while snd_una has passed
   * RescueRxt, a rescue segment ending at the highest unSACKed byte below
   * `sndMax`. Segments are at most one SMSS and never cover SACKed bytes.
   *
   * @returns what to send, or undefined if nothing may be sent.
   */
  nextSeg(sndMax: number, canSendNew: boolean): NextSeg | undefined {
    const una = this.una;
    const hr = seqOffset(this.highRxt, una);
    const top = seqGt(sndMax, una) ? seqOffset(sndMax, una) : 0;
    const byteLimit = (this.dupThresh - 1) * this.smss;
    // Walk holes below the highest SACKed range, lowest first; the first one
    // with a byte at or above HighRxt is the only candidate for (1) and (3):
    // IsLost() is monotone, so if it is not lost, no later hole is.
    let below = 0; // SACKed bytes in ranges below the current hole
    let holeStart = 0;
    let candidate: { start: number; end: number; lost: boolean } | undefined;
    for (let i = 0; i < this.ranges.length; i++) {
      const b = this.ranges[i]!;
      const s = Math.min(seqOffset(b.start, una), top);
      const from = Math.max(holeStart, hr);
      if (s > from) {
        const runsAbove = this.ranges.length - i;
        const bytesAbove = this.sacked - below;
        const lost = runsAbove >= this.dupThresh || bytesAbove > byteLimit;
        candidate = { start: from, end: Math.min(s, from + this.smss), lost };
        break;
      }
      below += seqOffset(b.end, una) - seqOffset(b.start, una);
      holeStart = seqOffset(b.end, una);
    }
    if (candidate?.lost) return this.seg('retransmit', 1, candidate.start, candidate.end);
    if (canSendNew) return this.seg('new', 2, top, top + this.smss);
    if (candidate) return this.seg('retransmit', 3, candidate.start, candidate.end);
    // Rule 4: a single rescue retransmission per recovery.
    if (this.recoveryPointSeq === undefined) return undefined;
    if (this.rescueRxtSeq !== undefined && !seqGt(una, this.rescueRxtSeq)) return undefined;
    const last = this.highestUnsacked(top);
    if (!last) return undefined;
    return this.seg('rescue', 4, Math.max(last.holeStart, last.end - this.smss), last.end);
  }

  /** Drop all SACK state (after a retransmission timeout, RFC 2018 §8 / RFC 6675 §5.1). */
  clear(): void {
    this.ranges.length = 0;
    this.sacked = 0;
    this.endRecovery();
  }

  /** Move snd_una forward, dropping and trimming ranges below it. */
  private advance(ack: number): void {
    let drop = 0;
    let removed = 0;
    for (const b of this.ranges) {
      if (seqLeq(b.end, ack)) {
        drop++;
        removed += seqOffset(b.end, b.start);
      } else {
        if (seqLt(b.start, ack)) {
          removed += seqOffset(ack, b.start);
          b.start = ack;
        }
        break;
      }
    }
    if (drop > 0) this.ranges.splice(0, drop);
    this.sacked -= removed;
    this.una = ack;
  }

  /** RFC 2883 §4: is the first block a D-SACK? */
  private isDsack(s: number, e: number, ack: number, blocks: readonly SackBlock[]): boolean {
    if (!seqLt(s, e)) return false;
    if (seqLt(s, ack)) return true;
    const second = blocks[1];
    if (!second) return false;
    const s2 = second.start >>> 0;
    const e2 = second.end >>> 0;
    return seqLt(s2, e2) && seqLeq(s2, s) && seqLeq(e, e2);
  }

  /** Insert `[s, e)` (validated, above una), merging; returns bytes newly covered. */
  private insert(s: number, e: number): number {
    const una = this.una;
    const os = seqOffset(s, una);
    const oe = seqOffset(e, una);
    const rs = this.ranges;
    // First range ending at or after os (overlapping or adjacent).
    let i = 0;
    while (i < rs.length && seqOffset(rs[i]!.end, una) < os) i++;
    // One past the last range starting at or before oe.
    let j = i;
    let covered = 0;
    while (j < rs.length && seqOffset(rs[j]!.start, una) <= oe) {
      const bs = seqOffset(rs[j]!.start, una);
      const be = seqOffset(rs[j]!.end, una);
      covered += Math.max(0, Math.min(be, oe) - Math.max(bs, os));
      j++;
    }
    if (i === j) {
      if (rs.length >= this.maxRanges) {
        this.stats.capDrops++;
        return 0;
      }
      rs.splice(i, 0, { start: s, end: e });
      return oe - os;
    }
    const first = rs[i]!;
    const lastEnd = rs[j - 1]!.end;
    if (seqLt(s, first.start)) first.start = s;
    first.end = seqGt(e, lastEnd) ? e : lastEnd;
    if (j - i > 1) rs.splice(i + 1, j - i - 1);
    return oe - os - covered;
  }

  /** The hole holding the highest unSACKed byte below `top` (offsets), if any. */
  private highestUnsacked(top: number): { holeStart: number; end: number } | undefined {
    let end = top;
    for (let i = this.ranges.length - 1; i >= -1; i--) {
      const b = i >= 0 ? this.ranges[i] : undefined;
      const holeStart = b ? seqOffset(b.end, this.una) : 0;
      if (end > holeStart) return { holeStart, end };
      if (b) end = Math.min(end, seqOffset(b.start, this.una));
    }
    return undefined;
  }

  private seg(kind: NextSeg['kind'], rule: NextSeg['rule'], from: number, to: number): NextSeg {
    return { kind, rule, start: (this.una + from) >>> 0, end: (this.una + to) >>> 0 };
  }
}
