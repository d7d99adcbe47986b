/**
 * Sleeping and waking, the way the socket layer needs it: BSD's
 * `sbwait()`/`sowakeup()` (a condition variable per socket buffer) and
 * `sblock()`/`sbunlock()` (one sender or receiver at a time), remade as
 * promises. A wait ends with 0 when woken (the waiter re-checks its
 * condition, as after `cv_wait`), with EWOULDBLOCK when its timeout passed,
 * or with an errno when the object it waits on is torn down (close,
 * abort) — so nothing stays pending forever.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../kern/clock.js';
import { EWOULDBLOCK } from '../kern/errno.js';

interface Waiter {
  resolve: (result: number) => void;
  timer: TimerHandle | null;
  clock: Clock;
}

/**
 * A set of sleepers on one condition (`kcondvar_t` + `selinfo` in BSD). All
 * sleepers wake together (`cv_broadcast`) and re-check their condition.
 */
export class WaitQueue {
  private readonly waiters = new Set<Waiter>();
  /** When set, every new wait fails at once with this errno (the object is dead). */
  private dead = 0;

  /** Sleepers now. */
  get size(): number {
    return this.waiters.size;
  }

  /**
   * Sleep until {@link WaitQueue.wakeAll} (0), `timeoutMs` (EWOULDBLOCK;
   * 0 or undefined means no timeout) or {@link WaitQueue.abort} (its errno).
   * Never rejects.
   */
  wait(clock: Clock, timeoutMs?: number): Promise<number> {
    if (this.dead !== 0) return Promise.resolve(this.dead);
    return new Promise<number>((resolve) => {
      const w: Waiter = { resolve, timer: null, clock };
      if (timeoutMs !== undefined && timeoutMs > 0) {
        w.timer = clock.setTimeout(() => {
          w.timer = null;
          if (this.waiters.delete(w)) resolve(EWOULDBLOCK);
        }, timeoutMs);
      }
      this.waiters.add(w);
    });
  }

  /** Wake every sleeper with `result` (0: "look again"). */
  wakeAll(result = 0): void {
    if (this.waiters.size !== 0) this.wakeWaiters(result);
  }

  // Apart from wakeAll, which the data path calls once per segment with
  // nobody waiting (sorwakeup, sowwakeup): when the optimizing compiler
  // inlines wakeAll there, the sleepers' promise resolvers it saw being
  // called stay out of that code. Were they in it (as call targets), the
  // code would be thrown away and compiled again whenever one of them is
  // collected — in every new pair of stacks, mid-transfer.
  private wakeWaiters(result: number): void {
    const all = [...this.waiters];
    this.waiters.clear();
    for (const w of all) {
      if (w.timer !== null) w.clock.clearTimeout(w.timer);
      w.resolve(result);
    }
  }

  /** Wake every sleeper with `errno` and make every later wait fail with it at once. */
  abort(errno: number): void {
    this.dead = errno;
    this.wakeAll(errno);
  }
}

/**
 * A sleep lock (`sblock`): one holder at a time, others wait in order. Used
 * so that two sends on one stream socket cannot interleave their bytes while
 * each awaits its copyin, and two receivers do not split one record.
 */
export class SleepLock {
  private held = false;
  private readonly queue: Array<(r: number) => void> = [];
  private dead = 0;

  /** Whether someone holds the lock. */
  get locked(): boolean {
    return this.held;
  }

  /**
   * Take the lock: resolves 0 once held, or the abort errno (lock not held).
   * With `nowait`, EWOULDBLOCK at once when held (`SBL_WAIT` unset).
   */
  acquire(nowait = false): Promise<number> {
    if (this.dead !== 0) return Promise.resolve(this.dead);
    if (!this.held) {
      this.held = true;
      return Promise.resolve(0);
    }
    if (nowait) return Promise.resolve(EWOULDBLOCK);
    return new Promise((resolve) => this.queue.push(resolve));
  }

  /** Give the lock to the next waiter, or free it. */
  release(): void {
    const next = this.queue.shift();
    if (next !== undefined) next(0);
    else this.held = false;
  }

  /** Fail every waiter and every later acquire with `errno` (the holder keeps it until release). */
  abort(errno: number): void {
    this.dead = errno;
    const q = this.queue.splice(0);
    for (const r of q) r(errno);
  }
}
