/**
 * The fault injector of the in-memory wire: a per-sender pipeline that can
 * rate-limit, drop, corrupt, duplicate, reorder and delay frames, in the spirit
 * of Linux netem and FreeBSD dummynet, but seeded so a failing test replays.
 *
 * Stages, in the order a frame meets them (a real path does the same: the
 * sender's NIC serialises onto a bottleneck, then the medium loses or damages
 * bits, then the network holds some frames back):
 *
 * 1. `rateLimit` — token bucket in front of a bounded queue; queue overflow is
 *    refused synchronously (`output()` returns false, `rateDropped`).
 * 2. `drop` — lost on the medium (`dropped`; the sender's `txDrops`).
 * 3. `corrupt` — 1..n bits or bytes flipped in place (`corrupted`).
 * 4. `duplicate` — a copy follows the original (`duplicated`).
 * 5. `reorder` — held back until `gap` later frames passed, or `maxHoldMs`
 *    elapsed (`reordered`).
 * 6. `delay` — fixed + uniform jitter through the {@link Clock} (`delayed`).
 *
 * The wire's fast path skips this module entirely when no fault is configured.
 */
import type { Clock, TimerHandle } from '../kern/clock.js';
import type { Rng } from './rng.js';

/** Reorder fault: hold a frame back so that later frames overtake it. */
export interface ReorderFault {
  /** Probability that a frame is held back. */
  p: number;
  /** The held frame is released right after this many later frames passed (default 1). */
  gap?: number;
  /** Released after this long anyway, so a quiet wire never strands it (ms, default 20). */
  maxHoldMs?: number;
}

/** Delay fault: frames arrive `ms + U[0, jitterMs)` later. */
export interface DelayFault {
  /** Fixed one-way delay in milliseconds. */
  ms: number;
  /** Extra uniform random delay in [0, jitterMs); jitter reorders frames, as on a real path (default 0). */
  jitterMs?: number;
  /** Probability that a frame is delayed (default 1: all frames). */
  p?: number;
}

/** Corruption fault: flip bits or bytes so that checksums above must catch it. */
export interface CorruptFault {
  /** Probability that a frame is corrupted. */
  p: number;
  /** A corrupted frame gets between 1 and this many distinct flips (default 1). */
  maxFlips?: number;
  /** Flip single bits (default) or replace whole bytes with a different value. */
  unit?: 'bit' | 'byte';
  /**
   * First byte that may be hit (default 0: anywhere). Use 14 to spare the
   * Ethernet header, which a real NIC would protect with its FCS.
   */
  offset?: number;
}

/** Rate limit: a token bucket in front of a bounded FIFO, drained through the {@link Clock}. */
export interface RateLimitFault {
  /** Bottleneck rate in bits per second (frame bytes × 8; no preamble or gap). */
  bitsPerSecond: number;
  /** Bucket depth in bytes: how much may pass back to back at full speed (default 16384). */
  burstBytes?: number;
  /** Frames that may wait for tokens; more are refused and counted `rateDropped` (default 64). */
  queueLimit?: number;
}

/**
 * What the injector does. Every field is optional; a probability is in [0, 1].
 * An empty object (or `null`) means a perfect wire.
 */
export interface FaultConfig {
  /** Probability that a frame is lost. */
  drop?: number;
  /** Probability that a frame is delivered twice. */
  duplicate?: number;
  /** Probability (or full form) of holding a frame back. */
  reorder?: number | ReorderFault;
  /** Delay every frame (or a fraction `p` of them). */
  delay?: DelayFault;
  /** Probability (or full form) of corrupting a frame. */
  corrupt?: number | CorruptFault;
  /** Bottleneck rate. */
  rateLimit?: RateLimitFault;
  /**
   * The path MTU of the wire itself, or of one direction when set on an
   * endpoint (network-layer bytes; frames longer than `mtu + 14` are refused
   * at output and counted `oversize`): narrower than the endpoints' own, it
   * models a path-MTU black hole.
   */
  mtu?: number;
}

/**
 * Counters of a wire, one per fault action, as a plain object so the stack can
 * hand it to `sysctl.addStats()` by reference.
 */
export interface WireStats {
  /** Frames accepted from endpoints (after the sender's own checks). */
  frames: number;
  /** Frames handed to receivers (one broadcast to three endpoints counts three). */
  delivered: number;
  /** Frames lost by the `drop` fault. */
  dropped: number;
  /** Extra copies made by the `duplicate` fault. */
  duplicated: number;
  /** Frames held back by the `reorder` fault. */
  reordered: number;
  /** Frames delayed by the `delay` fault. */
  delayed: number;
  /** Frames damaged by the `corrupt` fault. */
  corrupted: number;
  /** Frames that had to wait in the rate-limit queue. */
  rateQueued: number;
  /** Frames refused because the rate-limit queue was full. */
  rateDropped: number;
  /** Frames longer than the sender's, the wire's or the receiver's MTU. */
  oversize: number;
  /** Frames still in flight when the wire (or their sender) was closed. */
  discarded: number;
}

/** A fresh, zeroed {@link WireStats}. */
export function emptyWireStats(): WireStats {
  return {
    frames: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0,
    corrupted: 0, rateQueued: 0, rateDropped: 0, oversize: 0, discarded: 0,
  };
}

/** A {@link FaultConfig} with defaults filled in and every value checked. */
export interface NormalizedFaults {
  readonly drop: number;
  readonly duplicate: number;
  readonly reorder: Required<ReorderFault>;
  readonly delay: Required<DelayFault>;
  readonly corrupt: Required<CorruptFault>;
  readonly rateLimit: Required<RateLimitFault> | null;
  readonly mtu: number;
  /** True when some stage can act on a frame (the wire takes its fast path otherwise). */
  readonly active: boolean;
}

function prob(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`fault ${name}: probability ${v} not in [0, 1]`);
  return v;
}

function nonNeg(name: string, v: number | undefined, dflt: number, integer = false): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new RangeError(`fault ${name}: ${v} is not a non-negative ${integer ? 'integer' : 'number'}`);
  }
  return v;
}

/**
 * Check a {@link FaultConfig} and fill in its defaults.
 * @throws RangeError for a probability outside [0, 1] or a negative / non-finite size or time.
 */
export function normalizeFaults(f: FaultConfig | null | undefined): NormalizedFaults {
  f ??= {};
  const ro = typeof f.reorder === 'number' ? { p: f.reorder } : (f.reorder ?? { p: 0 });
  const co = typeof f.corrupt === 'number' ? { p: f.corrupt } : (f.corrupt ?? { p: 0 });
  const de = f.delay ?? { ms: 0 };
  const reorder = {
    p: prob('reorder.p', ro.p),
    gap: Math.max(1, nonNeg('reorder.gap', ro.gap, 1, true)),
    maxHoldMs: nonNeg('reorder.maxHoldMs', ro.maxHoldMs, 20),
  };
  const delay = {
    ms: nonNeg('delay.ms', de.ms, 0),
    jitterMs: nonNeg('delay.jitterMs', de.jitterMs, 0),
    p: prob('delay.p', de.p ?? 1),
  };
  const unit = co.unit ?? 'bit';
  if (unit !== 'bit' && unit !== 'byte') throw new RangeError(`fault corrupt.unit: ${String(unit)}`);
  const corrupt = {
    p: prob('corrupt.p', co.p),
    maxFlips: Math.max(1, nonNeg('corrupt.maxFlips', co.maxFlips, 1, true)),
    unit,
    offset: nonNeg('corrupt.offset', co.offset, 0, true),
  };
  let rateLimit: Required<RateLimitFault> | null = null;
  if (f.rateLimit) {
    const bps = f.rateLimit.bitsPerSecond;
    if (typeof bps !== 'number' || !(bps > 0) || !Number.isFinite(bps)) {
      throw new RangeError(`fault rateLimit.bitsPerSecond: ${bps} is not a positive number`);
    }
    rateLimit = {
      bitsPerSecond: bps,
      burstBytes: Math.max(1, nonNeg('rateLimit.burstBytes', f.rateLimit.burstBytes, 16384)),
      queueLimit: nonNeg('rateLimit.queueLimit', f.rateLimit.queueLimit, 64, true),
    };
  }
  const mtu = nonNeg('mtu', f.mtu, Infinity);
  const drop = prob('drop', f.drop);
  const duplicate = prob('duplicate', f.duplicate);
  const active =
    drop > 0 || duplicate > 0 || reorder.p > 0 || corrupt.p > 0 || rateLimit !== null ||
    (delay.p > 0 && (delay.ms > 0 || delay.jitterMs > 0));
  return { drop, duplicate, reorder, delay, corrupt, rateLimit, mtu, active };
}

/** Tolerance for comparing clock times, against float rounding in `now + (due - now)`. */
const EPS_MS = 1e-6;

interface Held {
  frame: Uint8Array;
  left: number;
  deadline: number;
}

/**
 * One sender's fault pipeline (see the module comment for the stages). The
 * wire owns one per endpoint so each direction has its own random stream and
 * its own queues; frames that leave the pipeline go to `sink`.
 *
 * Ownership: frames passed to {@link FaultPipe.input} belong to the pipeline,
 * which may modify them in place (corruption) and passes them on to `sink`.
 */
export class FaultPipe {
  private cfg: NormalizedFaults = normalizeFaults(null);
  private closed = false;
  /** While draining, the hold and delay stages pass frames straight through. */
  private draining = false;

  // rate limit: token bucket in bytes + FIFO (array with a head index)
  private tokens = 0;
  private tokensAt = 0;
  private rq: Uint8Array[] = [];
  private rqHead = 0;
  private rateTimer: TimerHandle | null = null;

  // reorder: frames held back, in hold order (deadlines are therefore ascending)
  private held: Held[] = [];
  private holdTimer: TimerHandle | null = null;

  // delay: sorted by due time (stable), one timer for the head
  private dq: Uint8Array[] = [];
  private dqDue: number[] = [];
  private dqTimer: TimerHandle | null = null;
  private dqTimerAt = Infinity;

  // Bound once, so arming a timer allocates no closure per frame.
  private readonly onRateTimer = (): void => this.rateTick();
  private readonly onHoldTimer = (): void => this.holdTick();
  private readonly onDelayTimer = (): void => this.delayTick();

  /**
   * @param clock  time source for delay, hold and rate timers.
   * @param rng    this sender's random stream.
   * @param stats  the wire's counters (shared by all pipes of a wire).
   * @param sink   where frames go when they leave the pipeline; it takes ownership.
   * @param lost   called once per frame lost in the pipeline (the sender counts `txDrops`).
   */
  constructor(
    private readonly clock: Clock,
    private readonly rng: Rng,
    private readonly stats: WireStats,
    private readonly sink: (frame: Uint8Array) => void,
    private readonly lost: () => void,
  ) {}

  /** The configuration in force. */
  get config(): NormalizedFaults {
    return this.cfg;
  }

  /** True when a frame entering now could meet a fault. */
  get active(): boolean {
    return this.cfg.active;
  }

  /**
   * Replace the configuration. Frames already held or delayed keep their
   * release times; if rate limiting is turned off, its queue moves on at once
   * (otherwise later frames would overtake it).
   */
  configure(cfg: NormalizedFaults): void {
    const old = this.cfg.rateLimit;
    if (old !== null) this.refill(old); // tokens earned so far, at the old rate
    this.cfg = cfg;
    if (cfg.rateLimit) {
      if (old === null) {
        this.tokens = cfg.rateLimit.burstBytes;
        this.tokensAt = this.clock.now();
      } else {
        this.tokens = Math.min(this.tokens, cfg.rateLimit.burstBytes);
      }
      // The head's wait depends on the rate: arm again.
      this.cancelRate();
      this.armRate();
    } else if (this.rqHead < this.rq.length) {
      this.cancelRate();
      while (this.rqHead < this.rq.length) this.medium(this.rqShift());
    }
  }

  /** Frames inside the pipeline (rate queue, held back, delayed). */
  inFlight(): number {
    return this.rq.length - this.rqHead + this.held.length + this.dq.length;
  }

  /**
   * Take a frame into the pipeline.
   * @returns false when the rate-limit queue refused it (counted `rateDropped`;
   *          the frame is dropped); true when it was accepted — it may still be
   *          lost later, as on a real medium.
   */
  input(frame: Uint8Array): boolean {
    if (this.closed) return false;
    const rl = this.cfg.rateLimit;
    if (rl === null) {
      this.medium(frame);
      return true;
    }
    this.refill(rl);
    if (this.rqHead === this.rq.length && this.tokens >= Math.min(frame.length, rl.burstBytes) - EPS_MS) {
      // Deficit form: a frame larger than the bucket may pass on a full bucket and drive it negative.
      this.tokens -= frame.length;
      this.medium(frame);
      return true;
    }
    if (this.rq.length - this.rqHead >= rl.queueLimit) {
      this.stats.rateDropped++;
      return false;
    }
    this.stats.rateQueued++;
    this.rq.push(frame);
    this.armRate();
    return true;
  }

  /**
   * Push everything in flight out to `sink` now, ignoring remaining delays,
   * holds and rate (oldest on the wire first: delayed, then held, then
   * queued). Queued frames still meet drop, corruption and duplication.
   */
  drain(): void {
    this.cancelRate();
    this.cancelHold();
    this.cancelDelay();
    this.draining = true;
    try {
      const dq = this.dq;
      this.dq = [];
      this.dqDue = [];
      for (const f of dq) this.sink(f);
      const held = this.held;
      this.held = [];
      for (const h of held) this.sink(h.frame);
      while (this.rqHead < this.rq.length) this.medium(this.rqShift());
    } finally {
      this.draining = false;
    }
  }

  /** Discard everything in flight (counted `discarded`) and cancel all timers. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelRate();
    this.cancelHold();
    this.cancelDelay();
    this.stats.discarded += this.inFlight();
    this.rq = [];
    this.rqHead = 0;
    this.held = [];
    this.dq = [];
    this.dqDue = [];
  }

  // --- stage 1: rate limit -------------------------------------------------

  private refill(rl: Required<RateLimitFault>): void {
    const now = this.clock.now();
    const bytesPerMs = rl.bitsPerSecond / 8000;
    this.tokens = Math.min(rl.burstBytes, this.tokens + (now - this.tokensAt) * bytesPerMs);
    this.tokensAt = now;
  }

  private rqShift(): Uint8Array {
    const f = this.rq[this.rqHead]!;
    this.rq[this.rqHead++] = undefined as unknown as Uint8Array;
    if (this.rqHead === this.rq.length) {
      this.rq.length = 0;
      this.rqHead = 0;
    }
    return f;
  }

  private armRate(): void {
    const rl = this.cfg.rateLimit;
    if (this.rateTimer !== null || rl === null || this.rqHead === this.rq.length) return;
    const need = Math.min(this.rq[this.rqHead]!.length, rl.burstBytes) - this.tokens;
    const wait = need > 0 ? need / (rl.bitsPerSecond / 8000) : 0;
    this.rateTimer = this.clock.setTimeout(this.onRateTimer, wait);
  }

  private rateTick(): void {
    this.rateTimer = null;
    const rl = this.cfg.rateLimit;
    if (rl === null || this.closed) return;
    this.refill(rl);
    while (this.rqHead < this.rq.length) {
      const head = this.rq[this.rqHead]!;
      if (this.tokens < Math.min(head.length, rl.burstBytes) - EPS_MS) break;
      this.tokens -= head.length;
      this.medium(this.rqShift());
    }
    this.armRate();
  }

  private cancelRate(): void {
    if (this.rateTimer !== null) this.clock.clearTimeout(this.rateTimer);
    this.rateTimer = null;
  }

  // --- stages 2-4: the medium (drop, corrupt, duplicate) --------------------

  private medium(frame: Uint8Array): void {
    const c = this.cfg;
    if (this.rng.chance(c.drop)) {
      this.stats.dropped++;
      this.lost();
      return;
    }
    if (this.rng.chance(c.corrupt.p) && this.corrupt(frame, c.corrupt)) this.stats.corrupted++;
    if (this.rng.chance(c.duplicate)) {
      this.stats.duplicated++;
      const copy = frame.slice();
      this.hold(frame);
      this.hold(copy);
    } else {
      this.hold(frame);
    }
  }

  /** Flip 1..maxFlips distinct bits (or bytes) at or after `offset`; false if the frame is too short to hit. */
  private corrupt(frame: Uint8Array, c: Required<CorruptFault>): boolean {
    const span = frame.length - c.offset;
    if (span <= 0) return false;
    const slots = c.unit === 'bit' ? span * 8 : span;
    const n = Math.min(this.rng.between(1, c.maxFlips), slots);
    const chosen: number[] = [];
    // Distinct positions, so two flips never cancel out; bounded by n * 8 draws.
    for (let tries = 0; chosen.length < n && tries < n * 8; tries++) {
      const pos = this.rng.below(slots);
      if (!chosen.includes(pos)) chosen.push(pos);
    }
    for (const pos of chosen) {
      if (c.unit === 'bit') frame[c.offset + (pos >>> 3)]! ^= 1 << (pos & 7);
      else frame[c.offset + pos]! ^= this.rng.between(1, 255);
    }
    return chosen.length > 0;
  }

  // --- stage 5: reorder ----------------------------------------------------

  private hold(frame: Uint8Array): void {
    const r = this.cfg.reorder;
    // Cap the hold list so p near 1 cannot pile up an unbounded backlog.
    if (!this.draining && this.held.length < 256 && this.rng.chance(r.p)) {
      this.stats.reordered++;
      this.held.push({ frame, left: r.gap, deadline: this.clock.now() + r.maxHoldMs });
      if (this.holdTimer === null) this.holdTimer = this.clock.setTimeout(this.onHoldTimer, r.maxHoldMs);
      return;
    }
    this.delay(frame);
    if (this.held.length > 0) this.countPassed();
  }

  /** A frame overtook the held ones: release those whose gap is used up, right behind it. */
  private countPassed(): void {
    let release = 0;
    for (const h of this.held) if (--h.left <= 0) release++;
    if (release === 0) return;
    const keep: Held[] = [];
    const out: Held[] = [];
    for (const h of this.held) (h.left <= 0 ? out : keep).push(h);
    this.held = keep;
    for (const h of out) this.delay(h.frame);
    this.rearmHold();
  }

  private holdTick(): void {
    this.holdTimer = null;
    if (this.closed) return;
    const now = this.clock.now() + EPS_MS;
    let i = 0;
    while (i < this.held.length && this.held[i]!.deadline <= now) i++;
    const out = this.held.splice(0, i);
    for (const h of out) this.delay(h.frame);
    this.rearmHold();
  }

  private rearmHold(): void {
    this.cancelHold();
    if (this.held.length > 0) {
      this.holdTimer = this.clock.setTimeout(this.onHoldTimer, this.held[0]!.deadline - this.clock.now());
    }
  }

  private cancelHold(): void {
    if (this.holdTimer !== null) this.clock.clearTimeout(this.holdTimer);
    this.holdTimer = null;
  }

  // --- stage 6: delay ------------------------------------------------------

  private delay(frame: Uint8Array): void {
    const d = this.cfg.delay;
    if (this.draining || !(d.ms > 0 || d.jitterMs > 0) || !this.rng.chance(d.p)) {
      this.sink(frame);
      return;
    }
    this.stats.delayed++;
    const due = this.clock.now() + d.ms + (d.jitterMs > 0 ? this.rng.next() * d.jitterMs : 0);
    // Stable insertion by due time: equal times keep send order. Without
    // jitter every frame lands at the end, so this is a push.
    let i = this.dqDue.length;
    if (i > 0 && this.dqDue[i - 1]! > due) {
      let lo = 0;
      let hi = i;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.dqDue[mid]! <= due) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
      this.dq.splice(i, 0, frame);
      this.dqDue.splice(i, 0, due);
    } else {
      this.dq.push(frame);
      this.dqDue.push(due);
    }
    if (due < this.dqTimerAt) this.armDelay();
  }

  private armDelay(): void {
    this.cancelDelay();
    if (this.dq.length === 0) return;
    this.dqTimerAt = this.dqDue[0]!;
    this.dqTimer = this.clock.setTimeout(this.onDelayTimer, this.dqTimerAt - this.clock.now());
  }

  private delayTick(): void {
    this.dqTimer = null;
    this.dqTimerAt = Infinity;
    if (this.closed) return;
    const now = this.clock.now() + EPS_MS;
    let n = 0;
    while (n < this.dqDue.length && this.dqDue[n]! <= now) n++;
    const out = this.dq.splice(0, n);
    this.dqDue.splice(0, n);
    for (const f of out) this.sink(f);
    this.armDelay();
  }

  private cancelDelay(): void {
    if (this.dqTimer !== null) this.clock.clearTimeout(this.dqTimer);
    this.dqTimer = null;
    this.dqTimerAt = Infinity;
  }
}
