/**
 * Round-trip time estimation and the retransmission timeout (RTO), per
 * RFC 6298, with the timestamp-based sampling of RFC 7323 §4 and Appendix G.
 * Mirrors NetBSD `tcp_xmit_timer()` (tcp_input.c) and the backoff in
 * `tcp_timer_rexmt()` (tcp_timer.c); smoltcp's `RttEstimator` has the same
 * shape.
 *
 * All times are milliseconds on the stack's {@link Clock} scale (fractions
 * allowed). The estimator owns no timer: the TCP timer code asks
 * {@link RttEstimator.rto} when it arms the retransmission timer and calls
 * {@link RttEstimator.backoff} when that timer fires.
 *
 * @packageDocumentation
 */

/** RFC 6298 §2: the gain for SRTT (alpha = 1/8). */
export const RTT_ALPHA = 1 / 8;
/** RFC 6298 §2: the gain for RTTVAR (beta = 1/4). */
export const RTT_BETA = 1 / 4;
/** RFC 6298 §2: the variance multiplier K = 4. */
export const RTT_K = 4;

/**
 * Default lower bound on the RTO: 200 ms, as Linux (`TCP_RTO_MIN`) and most
 * deployed stacks use. RFC 6298 §2.4 says SHOULD be 1 s; that conservative
 * bound was set for coarse timers and makes recovery on a LAN or a loopback
 * test wire needlessly slow, so the default follows practice and
 * {@link RttEstimatorOptions.minRto} lets a caller (or a sysctl) choose the RFC
 * value, {@link RFC6298_MIN_RTO}.
 */
export const DEFAULT_MIN_RTO = 200;
/** RFC 6298 §2.4's recommended minimum RTO (1 s), for callers that want it. */
export const RFC6298_MIN_RTO = 1000;
/** Default upper bound on the RTO: 60 s, the least RFC 6298 §2.5 allows. */
export const DEFAULT_MAX_RTO = 60_000;
/** RFC 6298 §2.1: the RTO before any sample is 1 s. */
export const DEFAULT_INITIAL_RTO = 1000;
/** RFC 6298 §5.7: RTO to fall back to when the SYN (or SYN-ACK) was lost. */
export const SYN_LOSS_RTO = 3000;
/** Default clock granularity G (RFC 6298 §2.2): the Clock has 1 ms timers. */
export const DEFAULT_GRANULARITY = 1;
/**
 * Default number of consecutive backoffs after which SRTT/RTTVAR are
 * discarded (RFC 6298 §5 note; NetBSD does it past `TCP_MAXRXTSHIFT / 4`,
 * i.e. on the fourth retransmission).
 */
export const DEFAULT_RESET_AFTER_BACKOFFS = 3;

/** Tunables of an {@link RttEstimator}; every field is optional. */
export interface RttEstimatorOptions {
  /** Lower bound on the RTO in ms; default {@link DEFAULT_MIN_RTO} (200). */
  minRto?: number;
  /** Upper bound on the RTO in ms (>= 60 000 per RFC 6298 §2.5); default 60 000. */
  maxRto?: number;
  /** RTO before the first sample, ms; default 1000 (RFC 6298 §2.1). */
  initialRto?: number;
  /** Clock granularity G in ms; default 1. */
  granularity?: number;
  /**
   * After this many backoffs in a row SRTT and RTTVAR are forgotten, so the
   * next valid sample starts afresh (RFC 6298 §2.2). 0 disables; default 3.
   */
  resetAfterBackoffs?: number;
}

/** Counters of an estimator, readable for the TCP stats call. */
export interface RttStats {
  /** Samples used (segment or timestamp). */
  samples: number;
  /** Of {@link RttStats.samples}, those that came from RFC 7323 timestamps. */
  timestampSamples: number;
  /** Segment samples discarded by Karn's rule (retransmitted segment). */
  karnDiscarded: number;
  /** Samples refused as malformed (negative, NaN, infinite). */
  badSamples: number;
  /** Timer backoffs (RFC 6298 §5.5). */
  backoffs: number;
  /** Times SRTT/RTTVAR were discarded after repeated backoff. */
  srttResets: number;
}

/**
 * The RFC 6298 estimator for one connection.
 *
 * @example
 * ```ts
 * const est = new RttEstimator();
 * est.sample(100);        // SRTT 100, RTTVAR 50, RTO 300 -> clamped to >= 200
 * est.rto;                // 300
 * est.backoff();          // timer fired: 600
 * est.sample(120, true);  // retransmitted segment: discarded (Karn), false
 * ```
 */
export class RttEstimator {
  /** Lower bound on the RTO, ms. */
  readonly minRto: number;
  /** Upper bound on the RTO, ms. */
  readonly maxRto: number;
  /** Clock granularity G, ms. */
  readonly granularity: number;
  /** Backoffs in a row before SRTT/RTTVAR are dropped (0 = never). */
  readonly resetAfterBackoffs: number;
  /** Counters; the object is live and owned by the estimator. */
  readonly stats: RttStats = {
    samples: 0,
    timestampSamples: 0,
    karnDiscarded: 0,
    badSamples: 0,
    backoffs: 0,
    srttResets: 0,
  };

  private srttMs: number | undefined;
  private rttvarMs = 0;
  private minRttMs = Infinity;
  /** The RTO before backoff (RFC 6298 §2.2/2.3 result, clamped). */
  private baseRto: number;
  /** Consecutive backoffs (NetBSD `t_rxtshift`). */
  private shift = 0;

  /**
   * @param opts Tunables; see {@link RttEstimatorOptions}.
   * @throws RangeError if a bound is not a positive finite number or
   *   `minRto > maxRto` (a configuration error, not a data-path one).
   */
  constructor(opts: RttEstimatorOptions = {}) {
    this.minRto = opts.minRto ?? DEFAULT_MIN_RTO;
    this.maxRto = opts.maxRto ?? DEFAULT_MAX_RTO;
    this.granularity = opts.granularity ?? DEFAULT_GRANULARITY;
    this.resetAfterBackoffs = opts.resetAfterBackoffs ?? DEFAULT_RESET_AFTER_BACKOFFS;
    const initial = opts.initialRto ?? DEFAULT_INITIAL_RTO;
    for (const [k, v] of [
      ['minRto', this.minRto],
      ['maxRto', this.maxRto],
      ['initialRto', initial],
    ] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new RangeError(`RttEstimator: ${k} must be > 0, got ${v}`);
    }
    if (!(this.granularity >= 0) || !Number.isFinite(this.granularity)) {
      throw new RangeError(`RttEstimator: granularity must be >= 0, got ${this.granularity}`);
    }
    if (this.minRto > this.maxRto) throw new RangeError('RttEstimator: minRto > maxRto');
    this.baseRto = this.clamp(initial);
  }

  /** Smoothed RTT in ms, or `undefined` before the first sample. */
  get srtt(): number | undefined {
    return this.srttMs;
  }

  /** RTT variation in ms (0 before the first sample). */
  get rttvar(): number {
    return this.rttvarMs;
  }

  /** Smallest RTT sample seen, ms (`Infinity` before any). */
  get minRtt(): number {
    return this.minRttMs;
  }

  /** Whether at least one sample has been taken since the last reset. */
  get hasSample(): boolean {
    return this.srttMs !== undefined;
  }

  /** Consecutive backoffs since the last valid sample (NetBSD `t_rxtshift`). */
  get backoffCount(): number {
    return this.shift;
  }

  /**
   * The timeout to arm now, ms: the RFC 6298 RTO doubled once per backoff
   * (§5.5) and capped at {@link RttEstimator.maxRto}.
   */
  get rto(): number {
    // Read on every segment sent (the retransmit timer): no backoff is the
    // common case, and `2 ** n` with a variable n is a pow call (~40 ns).
    if (this.shift === 0) return Math.min(this.maxRto, this.baseRto);
    // 2^shift (shift ≤ 64) stays finite; min() caps it.
    return Math.min(this.maxRto, this.baseRto * 2 ** this.shift);
  }

  /**
   * Offer an RTT measured from a segment's send time to the ACK that covered
   * it (the classic one-segment-per-RTT timing, NetBSD `t_rtttime`).
   * Karn's rule (RFC 6298 §3): a sample from a segment that was retransmitted
   * is ambiguous and is discarded — pass `retransmitted = true` and the
   * sample is counted in `karnDiscarded` and ignored.
   *
   * @returns true if the sample was used.
   */
  sample(rttMs: number, retransmitted = false): boolean {
    if (retransmitted) {
      this.stats.karnDiscarded++;
      return false;
    }
    return this.update(rttMs, 1);
  }

  /**
   * Offer an RTT computed from an RFC 7323 timestamp echo (`now - TSecr`).
   * Timestamps make the sample unambiguous, so it is valid even for
   * retransmitted segments (RFC 7323 §4; Karn's rule does not apply); the
   * caller applies §4.3's rules about which TSecr to believe.
   *
   * When timestamps yield a sample per ACK rather than per RTT, RFC 7323
   * Appendix G scales the gains by `1 / expectedSamples` with
   * `expectedSamples = ceil(FlightSize / (2 * SMSS))`; pass it to keep SRTT
   * from reacting too fast. Default 1 (plain RFC 6298 gains).
   *
   * @returns true if the sample was used.
   */
  timestampSample(rttMs: number, expectedSamples = 1): boolean {
    const n = Number.isFinite(expectedSamples) && expectedSamples >= 1 ? expectedSamples : 1;
    const used = this.update(rttMs, n);
    if (used) this.stats.timestampSamples++;
    return used;
  }

  /**
   * The retransmission timer expired (RFC 6298 §5.5): double the RTO (capped)
   * for the next transmission. After
   * {@link RttEstimator.resetAfterBackoffs} backoffs in a row the current
   * SRTT/RTTVAR are probably bogus (RFC 6298 §5 note), so they are dropped and
   * the next valid sample is treated as the first (§2.2); the backed-off
   * timeout keeps growing meanwhile.
   *
   * @returns the new {@link RttEstimator.rto}.
   */
  backoff(): number {
    this.stats.backoffs++;
    if (this.shift < 64) this.shift++;
    if (this.resetAfterBackoffs > 0 && this.shift === this.resetAfterBackoffs + 1 && this.srttMs !== undefined) {
      this.srttMs = undefined;
      this.rttvarMs = 0;
      this.stats.srttResets++;
    }
    return this.rto;
  }

  /**
   * Forget the backoff without a sample (e.g. the caller decided new data was
   * acknowledged and wants the plain RTO). A valid sample does this itself.
   */
  clearBackoff(): void {
    this.shift = 0;
  }

  /**
   * RFC 6298 §5.7: if the SYN or SYN-ACK was retransmitted and no sample has
   * been taken (Karn forbids timing it), the RTO for data MUST be re-initialised
   * to 3 s. Call once when the connection reaches ESTABLISHED after such a
   * loss. Clears the backoff.
   */
  onHandshakeLoss(): void {
    this.shift = 0;
    if (this.srttMs === undefined) this.baseRto = this.clamp(Math.max(this.baseRto, SYN_LOSS_RTO));
  }

  /** Back to the state of a fresh estimator (keeps the stats and tunables). */
  reset(initialRto = DEFAULT_INITIAL_RTO): void {
    this.srttMs = undefined;
    this.rttvarMs = 0;
    this.minRttMs = Infinity;
    this.shift = 0;
    this.baseRto = this.clamp(initialRto);
  }

  /** RFC 6298 §2.2/2.3 with gains divided by `n` (RFC 7323 Appendix G). */
  private update(r: number, n: number): boolean {
    if (!Number.isFinite(r) || r < 0) {
      this.stats.badSamples++;
      return false;
    }
    this.stats.samples++;
    if (r < this.minRttMs) this.minRttMs = r;
    if (this.srttMs === undefined) {
      // §2.2: first measurement.
      this.srttMs = r;
      this.rttvarMs = r / 2;
    } else {
      // §2.3: RTTVAR first, from the *old* SRTT, then SRTT.
      const beta = RTT_BETA / n;
      const alpha = RTT_ALPHA / n;
      this.rttvarMs = (1 - beta) * this.rttvarMs + beta * Math.abs(this.srttMs - r);
      this.srttMs = (1 - alpha) * this.srttMs + alpha * r;
    }
    this.baseRto = this.clamp(this.srttMs + Math.max(this.granularity, RTT_K * this.rttvarMs));
    // A valid sample ends the backoff (NetBSD tcp_xmit_timer: t_rxtshift = 0).
    this.shift = 0;
    return true;
  }

  private clamp(rto: number): number {
    return Math.min(this.maxRto, Math.max(this.minRto, rto));
  }
}
