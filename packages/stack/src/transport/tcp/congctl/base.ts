/**
 * The congestion-control contract and the loss-recovery machinery every
 * window-based algorithm here shares: slow start with appropriate byte
 * counting (RFC 5681 §3.1, RFC 3465), fast retransmit / fast recovery with
 * NewReno's `recover` point and partial ACKs (RFC 5681 §3.2, RFC 6582), the
 * SACK variant where `pipe` rather than window inflation clocks data out
 * (RFC 6675 §5), the retransmission-timeout response (RFC 5681 §3.1 eq. 4,
 * RFC 6582 §3.2 step 4), the ECN response (RFC 3168 §6.1.2) and restart after
 * idle (RFC 5681 §4.1). Algorithms ({@link NewReno}, {@link Cubic}) only supply
 * the congestion-avoidance increase and the multiplicative decrease, as
 * NetBSD's `tcp_congctl` ops do.
 *
 * Windows are in BYTES. The object is per connection, holds no timers and
 * reads time only from the `now` the caller passes (ms, Clock scale).
 *
 * @packageDocumentation
 */
import { seqGeq, seqLt } from '../seq.js';

/** Largest congestion window kept: 1 GiB, the largest TCP window (RFC 7323 §2.3). */
export const MAX_CWND = 0x4000_0000;

/** Duplicate ACKs that trigger fast retransmit (RFC 5681 §3.2 DupThresh). */
export const DUP_THRESH = 3;

/**
 * Initial window in bytes per RFC 6928 §2: `min(10*MSS, max(2*MSS, 14600))`.
 * IW10 is what Linux uses; RFC 5681 §3.1's 2–4 segments would cost every
 * short connection extra round trips for no safety gain on today's paths.
 */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/** Where a controller is: what governs its window right now. */
export type CongctlPhase = 'slowStart' | 'congestionAvoidance' | 'recovery';

/** Options for creating a controller. */
export interface CongctlOptions {
  /** Sender MSS (SMSS) in bytes, > 0. */
  mss: number;
  /** Initial cwnd in bytes; default {@link initialWindow}(mss). Use to carry a window over when switching algorithm. */
  cwnd?: number;
  /** Initial ssthresh in bytes; default "arbitrarily high" (RFC 5681 §3.1), i.e. {@link MAX_CWND}. */
  ssthresh?: number;
  /**
   * Loss-recovery state carried over when switching algorithm mid-connection:
   * RFC 6582 `recover`, whether recovery is under way (entered with `sack` or
   * not). The new controller continues it without a second reduction.
   */
  recovery?: { recover: number; active: boolean; sack: boolean };
}

/** Arguments of {@link CongestionControl.enterRecovery}. */
export interface RecoveryEntry {
  /** Bytes outstanding when the loss was detected (RFC 5681 FlightSize). */
  flightSize: number;
  /** snd_max: one past the highest sequence number sent; becomes `recover`. */
  sndMax: number;
  /** Now, ms. */
  now: number;
  /**
   * True for SACK-based recovery (RFC 6675): cwnd is set to ssthresh and not
   * inflated by duplicate ACKs; the sender clocks data by `pipe < cwnd`.
   */
  sack: boolean;
}

/** Arguments of {@link CongestionControl.onRetransmitTimeout}. */
export interface TimeoutEvent {
  /** Bytes outstanding when the timer fired. */
  flightSize: number;
  /** snd_max when the timer fired; becomes `recover` (RFC 6582 §3.2 step 4). */
  sndMax: number;
  /** Now, ms. */
  now: number;
  /**
   * True when the segment had already been retransmitted by the timer: then
   * ssthresh is held (RFC 5681 §3.1, after eq. 4).
   */
  repeated?: boolean;
}

/** Arguments of {@link CongestionControl.onEcn}. */
export interface EcnEvent {
  /** Bytes outstanding. */
  flightSize: number;
  /** Cumulative ACK of the segment carrying ECE. */
  ack: number;
  /** snd_max now: no further reduction until this is acknowledged. */
  sndMax: number;
  /** Now, ms. */
  now: number;
}

/** Counters of one controller. */
export interface CongctlStats {
  /** Fast recoveries entered. */
  recoveries: number;
  /** Partial ACKs seen in recovery (RFC 6582). */
  partialAcks: number;
  /** Recoveries ended by a full ACK. */
  fullAcks: number;
  /** Retransmission timeouts handled. */
  timeouts: number;
  /** Window reductions because of ECN-Echo. */
  ecnReductions: number;
  /** ECE ignored because a reduction already happened in this window. */
  ecnIgnored: number;
  /** Calls with nonsensical numbers (negative, NaN), ignored. */
  badInput: number;
}

/**
 * A congestion controller for one connection. All sizes are bytes, all
 * times ms. The caller (tcp_input / tcp_timer) owns the decisions of *when*
 * (counting duplicate ACKs, deciding partial vs full ACK via
 * {@link CongestionControl.isFullAck}, detecting idle); the controller owns
 * *how much*.
 *
 * Call sequence per ACK that advances snd_una:
 * - not in recovery: {@link CongestionControl.onAck};
 * - in recovery: `isFullAck(ack)` ? {@link CongestionControl.exitRecovery} :
 *   {@link CongestionControl.onPartialAck}.
 *
 * Per duplicate ACK: the DupThresh-th, if
 * {@link CongestionControl.canEnterRecovery}, →
 * {@link CongestionControl.enterRecovery}; later ones in recovery →
 * {@link CongestionControl.onDupAck}.
 */
export interface CongestionControl {
  /** Registry name of the algorithm. */
  readonly name: string;
  /** Congestion window, bytes (integer). */
  readonly cwnd: number;
  /** Slow-start threshold, bytes. */
  readonly ssthresh: number;
  /** SMSS in bytes. */
  readonly mss: number;
  /** In fast recovery (entered by {@link CongestionControl.enterRecovery}). */
  readonly inRecovery: boolean;
  /** RFC 6582 `recover`, as snd_max at the last loss event (`undefined` before any). */
  readonly recover: number | undefined;
  /** What governs the window now. */
  readonly phase: CongctlPhase;
  /** Counters (live object owned by the controller). */
  readonly stats: CongctlStats;

  /**
   * New data was cumulatively acknowledged outside recovery: grow cwnd
   * (slow start or congestion avoidance). `rtt` (ms, e.g. SRTT) is used by
   * algorithms that need it (CUBIC's target). No-op in recovery.
   */
  onAck(ackedBytes: number, now: number, rtt?: number): void;
  /**
   * RFC 6582 §3.2 step 2: may the DupThresh-th duplicate ACK with this
   * cumulative ACK start fast retransmit? False while in recovery or when
   * the ACK does not cover `recover` (duplicates after a timeout).
   */
  canEnterRecovery(ack: number): boolean;
  /** Enter fast recovery: multiplicative decrease, `recover = sndMax`. Ignored (counted) if already in recovery. */
  enterRecovery(e: RecoveryEntry): void;
  /** Another duplicate ACK in (non-SACK) recovery: inflate cwnd by 1 SMSS (RFC 5681 §3.2 step 4). */
  onDupAck(): void;
  /** Does `ack` end recovery (covers `recover`; RFC 6582 §3.2 step 3, full acknowledgments)? */
  isFullAck(ack: number): boolean;
  /**
   * A partial ACK in recovery (RFC 6582 §3.2 step 3, partial
   * acknowledgments): deflate; the caller retransmits the next hole.
   */
  onPartialAck(ackedBytes: number): void;
  /** A full ACK: leave recovery; `flightSize` is what is still outstanding after it. */
  exitRecovery(flightSize: number, now: number): void;
  /** The retransmission timer fired: cwnd = 1 SMSS (loss window), ssthresh reduced (unless repeated). */
  onRetransmitTimeout(e: TimeoutEvent): void;
  /**
   * An ACK with ECE (RFC 3168 §6.1.2): reduce at most once per window.
   * @returns true if reduced (the caller then sets CWR on its next segment).
   */
  onEcn(e: EcnEvent): boolean;
  /** Sending resumes after an idle period longer than the RTO (RFC 5681 §4.1): cwnd = min(cwnd, IW). */
  onIdleRestart(now: number): void;
  /** The MSS changed (PMTU): later growth uses it; cwnd is kept in bytes but at least 1 SMSS. */
  setMss(mss: number): void;
}

/**
 * The shared machinery; subclasses supply {@link RenoFamily.lossSsthresh} and
 * {@link RenoFamily.congestionAvoidance} and may hook the events.
 */
export abstract class RenoFamily implements CongestionControl {
  abstract readonly name: string;
  /** Counters. */
  readonly stats: CongctlStats = {
    recoveries: 0,
    partialAcks: 0,
    fullAcks: 0,
    timeouts: 0,
    ecnReductions: 0,
    ecnIgnored: 0,
    badInput: 0,
  };

  /** cwnd in bytes, fractional for algorithms that grow by fractions. */
  protected cwndBytes: number;
  protected ssthreshBytes: number;
  protected smss: number;
  protected recovering = false;
  protected sackRecovery = false;
  protected recoverSeq: number | undefined;
  private ecnRecover: number | undefined;
  /** Slow start after a timeout uses L = 1 SMSS (RFC 3465 §2.3). */
  protected afterTimeout = false;

  /**
   * @throws RangeError if `opts.mss` is not a positive integer (configuration error).
   */
  constructor(opts: CongctlOptions) {
    if (!Number.isInteger(opts.mss) || opts.mss <= 0) throw new RangeError(`congctl: bad mss ${opts.mss}`);
    this.smss = opts.mss;
    this.cwndBytes = clampWindow(opts.cwnd ?? initialWindow(opts.mss), opts.mss);
    this.ssthreshBytes = clampWindow(opts.ssthresh ?? MAX_CWND, 2 * opts.mss);
    const r = opts.recovery;
    if (r !== undefined) {
      this.recoverSeq = r.recover >>> 0;
      this.recovering = r.active;
      this.sackRecovery = r.active && r.sack;
    }
  }

  get cwnd(): number {
    return Math.floor(this.cwndBytes);
  }

  get ssthresh(): number {
    return Math.floor(this.ssthreshBytes);
  }

  get mss(): number {
    return this.smss;
  }

  get inRecovery(): boolean {
    return this.recovering;
  }

  get recover(): number | undefined {
    return this.recoverSeq;
  }

  get phase(): CongctlPhase {
    if (this.recovering) return 'recovery';
    return this.cwndBytes < this.ssthreshBytes ? 'slowStart' : 'congestionAvoidance';
  }

  onAck(ackedBytes: number, now: number, rtt?: number): void {
    if (!validCount(ackedBytes) || ackedBytes === 0) {
      if (ackedBytes !== 0) this.stats.badInput++;
      return;
    }
    if (this.recovering) return;
    let rest = ackedBytes;
    if (this.cwndBytes < this.ssthreshBytes) {
      // RFC 3465 §2.2: grow by the bytes acknowledged, at most L*SMSS per ACK
      // (L = 2; L = 1 in the slow start that follows a timeout, §2.3), and
      // never past ssthresh; what is left over feeds congestion avoidance.
      const limit = (this.afterTimeout ? 1 : 2) * this.smss;
      const usable = Math.min(rest, limit);
      const inc = Math.min(usable, this.ssthreshBytes - this.cwndBytes);
      this.cwndBytes = Math.min(this.cwndBytes + inc, MAX_CWND);
      rest = usable - inc;
      if (this.cwndBytes < this.ssthreshBytes) return;
      this.afterTimeout = false;
      if (rest === 0) return;
    }
    this.congestionAvoidance(rest, now, rtt);
    if (this.cwndBytes > MAX_CWND) this.cwndBytes = MAX_CWND;
  }

  canEnterRecovery(ack: number): boolean {
    if (this.recovering) return false;
    return this.recoverSeq === undefined || seqGeq(ack, this.recoverSeq);
  }

  enterRecovery(e: RecoveryEntry): void {
    // One reduction per loss episode: a second call before exitRecovery()
    // or a timeout is a caller bug, counted rather than halving again.
    if (this.recovering || !validCount(e.flightSize)) {
      this.stats.badInput++;
      return;
    }
    this.stats.recoveries++;
    this.onCongestionEvent(e.now);
    this.ssthreshBytes = this.lossSsthresh(e.flightSize);
    this.recoverSeq = e.sndMax >>> 0;
    this.recovering = true;
    this.sackRecovery = e.sack;
    // RFC 5681 §3.2 step 3 (cwnd = ssthresh + 3*SMSS, "inflating" for the
    // segments that left the network) vs RFC 6675 §5 step 4.2 (cwnd =
    // ssthresh; pipe accounts for what left).
    this.cwndBytes = e.sack ? this.ssthreshBytes : this.ssthreshBytes + DUP_THRESH * this.smss;
  }

  onDupAck(): void {
    if (!this.recovering || this.sackRecovery) return;
    this.cwndBytes = Math.min(MAX_CWND, this.cwndBytes + this.smss);
  }

  isFullAck(ack: number): boolean {
    return this.recoverSeq !== undefined && seqGeq(ack, this.recoverSeq);
  }

  onPartialAck(ackedBytes: number): void {
    if (!validCount(ackedBytes)) {
      this.stats.badInput++;
      return;
    }
    if (!this.recovering) return;
    this.stats.partialAcks++;
    if (this.sackRecovery) return; // RFC 6675: pipe, not cwnd, absorbs it.
    // RFC 6582 §3.2 step 3 (partial acknowledgments): deflate by the amount
    // acknowledged, add back one SMSS if at least that much was acknowledged,
    // so that roughly ssthresh of data stays in flight when recovery ends.
    this.cwndBytes -= ackedBytes;
    if (ackedBytes >= this.smss) this.cwndBytes += this.smss;
    if (this.cwndBytes < this.smss) this.cwndBytes = this.smss;
  }

  exitRecovery(flightSize: number, now: number): void {
    if (!this.recovering) return;
    const flight = validCount(flightSize) ? flightSize : 0;
    this.stats.fullAcks++;
    this.recovering = false;
    this.sackRecovery = false;
    // RFC 6582 §3.2 step 3 (full acknowledgments), option (1):
    // min(ssthresh, max(FlightSize, SMSS) + SMSS) — avoids the burst that
    // setting cwnd = ssthresh causes when little is in flight.
    this.cwndBytes = Math.min(this.ssthreshBytes, Math.max(flight, this.smss) + this.smss);
    this.onRecoveryExit(now);
  }

  onRetransmitTimeout(e: TimeoutEvent): void {
    if (!validCount(e.flightSize)) {
      this.stats.badInput++;
      return;
    }
    this.stats.timeouts++;
    if (!e.repeated) {
      this.onTimeoutDecrease(e.now);
      this.ssthreshBytes = this.lossSsthresh(e.flightSize);
    }
    // RFC 5681 §3.1: cwnd = LW = 1 SMSS. RFC 6582 §3.2 step 4: recover
    // = highest sent, so duplicate ACKs for pre-timeout data don't start a
    // second fast retransmit.
    this.cwndBytes = this.smss;
    this.recoverSeq = e.sndMax >>> 0;
    this.recovering = false;
    this.sackRecovery = false;
    this.afterTimeout = true;
  }

  onEcn(e: EcnEvent): boolean {
    if (!validCount(e.flightSize)) {
      this.stats.badInput++;
      return false;
    }
    // RFC 3168 §6.1.2: at most once per window of data; fast recovery
    // already halved the window for this window.
    if (this.recovering || (this.ecnRecover !== undefined && seqLt(e.ack, this.ecnRecover))) {
      this.stats.ecnIgnored++;
      return false;
    }
    this.stats.ecnReductions++;
    this.onCongestionEvent(e.now);
    this.ssthreshBytes = this.lossSsthresh(e.flightSize);
    this.cwndBytes = Math.max(this.ssthreshBytes, this.smss);
    this.ecnRecover = e.sndMax >>> 0;
    this.afterTimeout = false;
    this.onRecoveryExit(e.now);
    return true;
  }

  onIdleRestart(now: number): void {
    // RFC 5681 §4.1: RW = min(IW, cwnd).
    this.cwndBytes = Math.min(this.cwndBytes, initialWindow(this.smss));
  }

  setMss(mss: number): void {
    if (!Number.isInteger(mss) || mss <= 0) {
      this.stats.badInput++;
      return;
    }
    this.smss = mss;
    if (this.cwndBytes < mss) this.cwndBytes = mss;
    if (this.ssthreshBytes < 2 * mss) this.ssthreshBytes = 2 * mss;
  }

  /** ssthresh after a loss given the flight size (RFC 5681 eq. 4 or the algorithm's beta). */
  protected abstract lossSsthresh(flightSize: number): number;
  /** Grow cwnd in congestion avoidance by `ackedBytes` acknowledged. */
  protected abstract congestionAvoidance(ackedBytes: number, now: number, rtt: number | undefined): void;
  /** A loss (fast retransmit) or ECN event, before ssthresh changes; cwnd is the pre-loss window. */
  protected onCongestionEvent(now: number): void {}
  /** A (first) timeout, before ssthresh changes; cwnd is the pre-timeout window. */
  protected onTimeoutDecrease(now: number): void {}
  /** Congestion avoidance starts again after recovery or an ECN reduction. */
  protected onRecoveryExit(now: number): void {}
}

function validCount(n: number): boolean {
  return Number.isFinite(n) && n >= 0;
}

function clampWindow(v: number, floor: number): number {
  if (!Number.isFinite(v)) return MAX_CWND;
  return Math.min(MAX_CWND, Math.max(floor, Math.floor(v)));
}
