/**
 * Time for the stack. Everything that waits (ARP retries, reassembly
 * timeouts, TCP timers, the fault injector's delays) asks a {@link Clock}, so
 * tests can run a stack on a {@link ManualClock} and step time exactly.
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/** Source of time and one-shot timers. */
export interface Clock {
  /** Milliseconds on a monotonic scale (fractions allowed). */
  now(): number;
  /** Run `fn` once after `ms` milliseconds. Timers never keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancel a timer; cancelling a fired or cancelled timer is a no-op. */
  clearTimeout(handle: TimerHandle): void;
}

/** @internal A real-clock timer: the Node timer, then the immediate that runs `fn`. */
interface RealTimer {
  t: NodeJS.Timeout | null;
  imm: NodeJS.Immediate | null;
}

/**
 * The real clock: `performance.now()` and unref'd Node timers.
 *
 * An expired timer runs its function from a `setImmediate`, not from the
 * timer callback itself. Node's loop runs the timers phase *before* it
 * polls file descriptors, so after the loop stalled (a long batch, a GC
 * pause, the process descheduled on a busy machine) a timer would fire
 * while the segments that make it moot — ACKs that stop the retransmission
 * timer — still sit unread in the tap: a spurious RTO (RFC 6298 timers
 * must measure the network, not our event loop). Deferred to the check
 * phase, the function runs after that turn's poll has delivered what was
 * waiting, and TCP's timer re-checks its deadline before acting.
 */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const h: RealTimer = { t: null, imm: null };
    h.t = setTimeout(() => {
      h.t = null;
      h.imm = setImmediate(() => {
        h.imm = null;
        fn();
      });
      // Not unref'd: an unref'd immediate does not stop the loop from
      // blocking in poll, so it could wait for an unrelated event. A ref'd
      // one keeps the process alive for this one turn only.
    }, Math.max(0, ms));
    h.t.unref();
    return h as unknown as TimerHandle;
  },
  clearTimeout(handle) {
    const h = handle as unknown as RealTimer;
    if (h.t !== null) clearTimeout(h.t);
    if (h.imm !== null) clearImmediate(h.imm);
    h.t = null;
    h.imm = null;
  },
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

/**
 * A clock that only moves when told to: {@link ManualClock.advance} fires every
 * timer that falls due, in order of due time (ties in order of creation).
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return timer as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    (handle as unknown as ManualTimer).fn = null;
  }

  /** Number of timers still armed. */
  pending(): number {
    return this.timers.filter((t) => t.fn !== null).length;
  }

  /** Move time forward by `ms`, firing due timers (including ones they arm). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => t.fn !== null);
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      const fn = next.fn!;
      next.fn = null;
      fn();
    }
    this.t = end;
  }
}
