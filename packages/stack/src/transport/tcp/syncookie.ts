/**
 * SYN cookies (RFC 4987 3.6; FreeBSD `tcp_syncache.c` `syncookie_*`, Linux
 * `syncookies.c`): when the SYN cache is full, a listener still answers a
 * SYN — with a SYN-ACK whose initial sequence number *is* the state the
 * cache would have kept — and keeps nothing. The handshake's ACK brings the
 * number back (`SEG.ACK - 1`), and if its keyed hash checks out the
 * connection is made from it. A flood of spoofed SYNs then costs a hash per
 * SYN and no memory, and legitimate clients connect at once.
 *
 * The ISS, 32 bits:
 * ```
 *  31                         8 7   6    3 2    0
 * +---------------------------+---+------+------+
 * |  MAC (24 bits)            | S | WS+1 | MSS  |
 * +---------------------------+---+------+------+
 * ```
 * - MAC: HMAC-SHA256 under a per-stack random key of the 4-tuple, the
 *   peer's ISN, the low byte (so the option bits are authenticated too, as
 *   FreeBSD's `syncookie_mac` covers its flags) and a counter of
 *   {@link SYNCOOKIE_PERIOD_MS} periods;
 *   validation tries the current and the previous period, so a cookie lives
 *   64 to 128 s (Linux: up to 2 min, FreeBSD: 15 s per secret, 2 secrets).
 * - MSS: an index into {@link SYNCOOKIE_MSS}, the largest entry not above
 *   the peer's MSS (the 3-bit table is what costs a little: an MSS of 1380
 *   is remembered as 1300).
 * - WS+1: the peer's window scale plus one, 0 when it sent none (4 bits).
 * - S: the peer sent SACK-permitted.
 *
 * Linux and FreeBSD move the window-scale and SACK bits into the TSval when
 * timestamps are on, to keep more bits for the hash; here they always ride
 * in the ISS, whose 24-bit MAC (a blind attacker's guess succeeds once in
 * 16.7 million) is the same strength whatever the options. Timestamps need
 * no bit: a peer that agreed echoes our TSval in the ACK and sends its own,
 * which becomes TS.Recent. What a cookie cannot carry is lost as with every
 * stack that uses them: the exact MSS, and data sent with the SYN.
 *
 * @module
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Clock } from '../../kern/clock.js';
import { ipToString, type IpAddress } from '../../wire/ip.js';

/** MSS values a cookie can remember (3 bits), ascending (Linux's `msstab` widened). */
export const SYNCOOKIE_MSS: readonly number[] = [216, 536, 1220, 1300, 1440, 1460, 4312, 8960];

/** Length of one cookie period, ms; a cookie is accepted in its period and the next. */
export const SYNCOOKIE_PERIOD_MS = 64_000;

/** What a valid cookie gives back: the peer's SYN options. */
export interface SynCookieState {
  /** The MSS to use (from {@link SYNCOOKIE_MSS}). */
  mss: number;
  /** The peer's window scale, or null when its SYN had none. */
  wscale: number | null;
  /** The peer sent SACK-permitted. */
  sackOk: boolean;
}

/** The SYN-cookie codec of one TCP instance. */
export class SynCookies {
  private readonly key: Buffer;
  private readonly clock: Clock;
  /** When a cookie was last sent; `undefined` before the first. Cookies are only accepted for a while after (Linux `tcp_synq_no_recent_overflow`). */
  private lastSent: number | undefined = undefined;

  /** @param key secret for the MAC (16 bytes at least); default 32 random bytes. @throws RangeError for a short key. */
  constructor(clock: Clock, key?: Uint8Array) {
    if (key !== undefined && key.length < 16) throw new RangeError(`SynCookies: key of ${key.length} bytes < 16`);
    this.clock = clock;
    this.key = key !== undefined ? Buffer.from(key) : randomBytes(32);
  }

  /**
   * The ISS for a SYN from `faddr:fport` (ISN `irs`) to `laddr:lport`
   * carrying `state`; records that a cookie went out.
   */
  encode(laddr: IpAddress, lport: number, faddr: IpAddress, fport: number, irs: number, peerMss: number | null, wscale: number | null, sackOk: boolean): number {
    const now = this.clock.now();
    this.lastSent = now;
    const bits = (mssIndex(peerMss) | ((wscale === null ? 0 : Math.min(wscale, 14) + 1) << 3) | (sackOk ? 0x80 : 0)) & 0xff;
    const mac = this.mac(laddr, lport, faddr, fport, irs, bits, Math.floor(now / SYNCOOKIE_PERIOD_MS));
    return ((mac & 0xffffff00) | bits) >>> 0;
  }

  /**
   * Check the cookie `iss` (= the handshake ACK's `SEG.ACK - 1`) for a
   * connection whose peer ISN was `irs` (= `SEG.SEQ - 1`). Returns the
   * state it carries, or null when it is forged, expired, or no cookie has
   * been sent lately.
   */
  decode(laddr: IpAddress, lport: number, faddr: IpAddress, fport: number, irs: number, iss: number): SynCookieState | null {
    if (!this.recentlySent()) return null;
    const period = Math.floor(this.clock.now() / SYNCOOKIE_PERIOD_MS);
    const bits = iss & 0xff;
    for (const p of [period, period - 1]) {
      const mac = this.mac(laddr, lport, faddr, fport, irs, bits, p);
      if (((mac ^ iss) & 0xffffff00) !== 0) continue;
      const ws = (bits >>> 3) & 0x0f;
      return { mss: SYNCOOKIE_MSS[bits & 7]!, wscale: ws === 0 ? null : ws - 1, sackOk: (bits & 0x80) !== 0 };
    }
    return null;
  }

  /** Whether a cookie went out within the last two periods (else no ACK is taken for one). */
  recentlySent(): boolean {
    return this.lastSent !== undefined && this.clock.now() - this.lastSent < 2 * SYNCOOKIE_PERIOD_MS;
  }

  private mac(laddr: IpAddress, lport: number, faddr: IpAddress, fport: number, irs: number, bits: number, period: number): number {
    const h = createHmac('sha256', this.key);
    h.update(`${ipToString(laddr)}|${lport}|${ipToString(faddr)}|${fport}|${irs >>> 0}|${bits}|${period}`);
    return h.digest().readUInt32BE(0);
  }
}

/** Index of the largest {@link SYNCOOKIE_MSS} entry not above `mss` (536 when the peer sent none, RFC 9293 3.7.1). */
function mssIndex(mss: number | null): number {
  const m = mss === null || mss === 0 ? 536 : mss;
  let i = 0;
  while (i + 1 < SYNCOOKIE_MSS.length && SYNCOOKIE_MSS[i + 1]! <= m) i++;
  return i;
}
