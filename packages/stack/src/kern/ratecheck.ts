/**
 * A packets-per-second limiter (NetBSD `ppsratecheck(9)`): a token bucket
 * that earns `limit()` tokens a second and holds at most that many, so a
 * burst of up to one second's worth passes and then the rate holds. ICMP and
 * ICMPv6 error generation share it (RFC 1812 4.3.2.8, RFC 4443 2.4 (f)).
 *
 * @module
 */
import type { Clock } from './clock.js';

/** A token bucket read against a clock; the limit is read on each check (a sysctl may change it). */
export class PpsRateCheck {
  private tokens: number;
  private lastRefill: number;

  /** @param limit tokens a second, read at each check; negative means no limit. */
  constructor(
    private readonly clock: Clock,
    private readonly limit: () => number,
  ) {
    this.tokens = Math.max(0, limit());
    this.lastRefill = clock.now();
  }

  /** Take one token: true when the event may happen now, false when over the rate. */
  check(): boolean {
    const limit = this.limit();
    if (limit < 0) return true;
    const now = this.clock.now();
    this.tokens = Math.min(limit, this.tokens + ((now - this.lastRefill) * limit) / 1000);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
