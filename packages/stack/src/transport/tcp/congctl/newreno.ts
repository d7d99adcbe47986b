/**
 * NewReno: RFC 5681 congestion avoidance with RFC 3465 byte counting and
 * RFC 6582 fast recovery (the recovery machinery is in {@link RenoFamily}).
 * NetBSD's default `tcp_congctl` ("newreno").
 *
 * @packageDocumentation
 */
import { RenoFamily } from './base.js';

/**
 * The NewReno controller for one connection.
 *
 * @example
 * ```ts
 * const cc = new NewReno({ mss: 1460 });
 * cc.cwnd;                 // 14600 (IW10, RFC 6928)
 * cc.onAck(1460, now);     // slow start: 16060
 * ```
 */
export class NewReno extends RenoFamily {
  /** Registry name. */
  readonly name = 'newreno';
  /** RFC 3465 §2.1 `bytes_acked`, the congestion-avoidance accumulator. */
  private bytesAcked = 0;

  /** RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2 * SMSS). */
  protected lossSsthresh(flightSize: number): number {
    return Math.max(Math.floor(flightSize / 2), 2 * this.smss);
  }

  /**
   * RFC 3465 §2.1 (and RFC 5681 §3.1's suggested byte counting): add the
   * acknowledged bytes to `bytes_acked`; each time it reaches cwnd, subtract
   * cwnd and grow cwnd by one SMSS — exactly one SMSS per window, however
   * the receiver spaces its ACKs. One step per ACK at most; any surplus
   * (a stretch ACK) waits for the next ACK rather than opening a burst.
   */
  protected congestionAvoidance(ackedBytes: number): void {
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwndBytes) {
      this.bytesAcked -= this.cwndBytes;
      this.cwndBytes += this.smss;
      if (this.bytesAcked > this.cwndBytes) this.bytesAcked = this.cwndBytes;
    }
  }

  protected override onCongestionEvent(): void {
    this.bytesAcked = 0;
  }

  protected override onTimeoutDecrease(): void {
    this.bytesAcked = 0;
  }

  protected override onRecoveryExit(): void {
    this.bytesAcked = 0;
  }
}
