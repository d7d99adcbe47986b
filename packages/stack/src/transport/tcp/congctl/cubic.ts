/**
 * CUBIC congestion control, RFC 9438 (Linux's default; gVisor `cubic.go`).
 * Slow start, fast recovery and the timeout response are the shared
 * {@link RenoFamily} machinery; CUBIC changes the congestion-avoidance
 * increase (a cubic function of the time since the last congestion event,
 * §4.2–4.5) and the decrease factor (beta_cubic = 0.7, §4.6), and remembers
 * W_max with fast convergence (§4.7).
 *
 * Internally the window math is in segments (the RFC's unit) and seconds;
 * cwnd is stored in bytes like every controller here.
 *
 * @packageDocumentation
 */
import { RenoFamily } from './base.js';

/** RFC 9438 §5.1: the scaling constant C = 0.4 (segments / s^3). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: multiplicative decrease factor beta_cubic = 0.7. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: alpha_cubic = 3 (1 - beta) / (1 + beta), Reno-friendly slope. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/**
 * RFC 9438 §4.2 eq. 1: W_cubic(t) = C (t - K)^3 + W_max, in segments, with
 * `t` and `k` in seconds. Exported for tests and tools.
 */
export function wCubic(t: number, k: number, wMax: number): number {
  const d = t - k;
  return CUBIC_C * d * d * d + wMax;
}

/**
 * RFC 9438 §4.2 eq. 2: K = cbrt((W_max - cwnd_epoch) / C), seconds; negative
 * when the window starts above W_max (possible after fast convergence).
 */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return Math.cbrt((wMax - cwndEpoch) / CUBIC_C);
}

/**
 * The CUBIC controller for one connection. Pass the smoothed RTT (ms) as
 * `rtt` to {@link Cubic.onAck}; without it the target is W_cubic(t) rather
 * than W_cubic(t + RTT).
 */
export class Cubic extends RenoFamily {
  /** Registry name. */
  readonly name = 'cubic';
  /** W_max in segments; meaningful when {@link Cubic.haveWmax}. */
  private wMaxSeg = 0;
  /** False before any congestion event and after a timeout (§4.8): the epoch then starts with K = 0, W_max = cwnd. */
  private haveWmax = false;
  /** cwnd (segments) when ssthresh was last set (§4.3 cwnd_prior). */
  private cwndPriorSeg = 0;
  /** Start of the current congestion-avoidance stage, ms; undefined = not started. */
  private epochStart: number | undefined;
  private kSec = 0;
  /** Reno-friendly estimate W_est, segments (§4.3). */
  private wEstSeg = 0;
  private lastRttMs = 0;

  /** W_max in segments (0 before the first congestion event). */
  get wMax(): number {
    return this.haveWmax ? this.wMaxSeg : 0;
  }

  /** K in seconds for the current epoch. */
  get k(): number {
    return this.kSec;
  }

  /** Start of the current epoch, ms, or undefined. */
  get epoch(): number | undefined {
    return this.epochStart;
  }

  /** The Reno-friendly estimate W_est, segments. */
  get wEst(): number {
    return this.wEstSeg;
  }

  /** RFC 9438 §4.6: ssthresh = FlightSize * beta_cubic, at least 2 SMSS. */
  protected lossSsthresh(flightSize: number): number {
    return Math.max(Math.floor(flightSize * CUBIC_BETA), 2 * this.smss);
  }

  protected congestionAvoidance(ackedBytes: number, now: number, rtt: number | undefined): void {
    if (rtt !== undefined && Number.isFinite(rtt) && rtt >= 0) this.lastRttMs = rtt;
    const mss = this.smss;
    let cwnd = this.cwndBytes / mss;
    if (this.epochStart === undefined) this.startEpoch(now, cwnd);
    const t = Math.max(0, now - this.epochStart!) / 1000;
    const segs = ackedBytes / mss;

    // §4.3: W_est grows like Reno with AIMD(alpha_cubic, beta_cubic) — and
    // like plain Reno (alpha = 1) once it has regained cwnd_prior.
    const alpha = this.wEstSeg >= this.cwndPriorSeg ? 1 : CUBIC_ALPHA;
    this.wEstSeg += (alpha * segs) / cwnd;

    if (wCubic(t, this.kSec, this.wMaxSeg) < this.wEstSeg) {
      // Reno-friendly region: be at least as aggressive as Reno would be.
      cwnd = Math.max(cwnd, this.wEstSeg);
    } else {
      // §4.4/§4.5 concave and convex regions: aim at W_cubic one RTT ahead,
      // bounded to [cwnd, 1.5 cwnd] so that growth is never faster than
      // slow start, and close the gap by (target - cwnd)/cwnd per segment.
      let target = wCubic(t + this.lastRttMs / 1000, this.kSec, this.wMaxSeg);
      if (target < cwnd) target = cwnd;
      else if (target > 1.5 * cwnd) target = 1.5 * cwnd;
      cwnd += ((target - cwnd) / cwnd) * segs;
    }
    this.cwndBytes = cwnd * mss;
  }

  /** §4.2: a congestion-avoidance stage begins; fix K and W_est for it. */
  private startEpoch(now: number, cwndSeg: number): void {
    this.epochStart = now;
    if (!this.haveWmax) {
      // §4.8 (after a timeout), and equally on the first CA stage after the
      // initial slow start: K = 0, W_max = the window at the start of the stage.
      this.wMaxSeg = cwndSeg;
      this.kSec = 0;
      this.haveWmax = true;
    } else {
      this.kSec = cubicK(this.wMaxSeg, cwndSeg);
    }
    // §4.3: W_est starts at cwnd_epoch.
    this.wEstSeg = cwndSeg;
  }

  /** §4.6/§4.7: remember W_max (with fast convergence) and cwnd_prior. */
  protected override onCongestionEvent(): void {
    const cwnd = this.cwndBytes / this.smss;
    // §4.7: if the window did not regain the previous W_max, the available
    // bandwidth shrank: release some of it by lowering W_max further.
    if (this.haveWmax && cwnd < this.wMaxSeg) this.wMaxSeg = (cwnd * (1 + CUBIC_BETA)) / 2;
    else this.wMaxSeg = cwnd;
    this.haveWmax = true;
    this.cwndPriorSeg = cwnd;
    this.epochStart = undefined;
  }

  /** §4.8: on a timeout start over from slow start; the next epoch uses K = 0. */
  protected override onTimeoutDecrease(): void {
    this.cwndPriorSeg = this.cwndBytes / this.smss;
    this.haveWmax = false;
    this.epochStart = undefined;
  }

  protected override onRecoveryExit(): void {
    this.epochStart = undefined;
  }

  /** RFC 5681 §4.1 restart, and a fresh epoch so idle time is not counted in t. */
  override onIdleRestart(now: number): void {
    super.onIdleRestart(now);
    this.epochStart = undefined;
  }
}
