/**
 * Long control work in slices, shared fairly between clients. A listing of
 * 20,000 sockets built in one go held the event loop for ~60-90 ms, and 200
 * of them pipelined by one client for seconds: every other client — and the
 * stack's own timers and packets — waited. Here a listing is a generator
 * that does a bounded unit of work per `next()` (a few thousand sockets
 * scanned, a few dozen rows built); the {@link SliceRunner} runs units for
 * at most `budgetMs` per turn of the loop, then yields with `setImmediate`
 * so that I/O and timers run between turns.
 *
 * Fairness, like a round-robin scheduler's run queue: each client has a
 * FIFO of jobs and only its oldest runs; the turn visits clients in a ring,
 * one unit each. A client that pipelines 200 listings gets one unit in
 * every rotation, the same as a client that asked for one; a client over
 * `maxQueued` waiting jobs gets EAGAIN for the next.
 *
 * @module
 */
import { Errno, StackError } from '@rumpnet/stack';

/** A unit-stepped job: each `next()` does a bounded piece of work; the return value is the result. */
export type SliceJob<T> = Generator<void, T, void>;

/** Options of a {@link SliceRunner}. */
export interface SliceRunnerOptions {
  /** Longest run of units in one turn of the event loop (ms, default 4). */
  readonly budgetMs?: number;
  /** Jobs one owner may have waiting or running (default 256, a session's `maxInFlight`); EAGAIN beyond. */
  readonly maxQueued?: number;
}

/** Counters of a {@link SliceRunner}. */
export interface SliceStats {
  /** Jobs finished (resolved or failed). */
  jobs: number;
  /** Units run. */
  units: number;
  /** Turns of the event loop that ran units. */
  turns: number;
  /** The longest turn so far (ms): what the loop was held for at most. */
  longestTurnMs: number;
  /** The longest single unit (ms): a turn can overrun its budget by this much. */
  longestUnitMs: number;
  /** Jobs refused with EAGAIN (an owner over `maxQueued`). */
  refused: number;
  /** Jobs dropped because their client went away. */
  aborted: number;
}

interface Job {
  make: () => SliceJob<unknown>;
  gen: SliceJob<unknown> | undefined;
  signal: AbortSignal | undefined;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface OwnerQueue {
  readonly owner: object;
  readonly jobs: Job[];
}

/** Runs sliced jobs round-robin between owners (see the module comment). */
export class SliceRunner {
  /** Counters. */
  readonly stats: SliceStats = { jobs: 0, units: 0, turns: 0, longestTurnMs: 0, longestUnitMs: 0, refused: 0, aborted: 0 };
  private readonly budgetMs: number;
  private readonly maxQueued: number;
  private readonly queues = new Map<object, OwnerQueue>();
  private ring: OwnerQueue[] = [];
  private next = 0;
  private scheduled = false;

  constructor(opts: SliceRunnerOptions = {}) {
    this.budgetMs = opts.budgetMs ?? 4;
    this.maxQueued = opts.maxQueued ?? 256;
  }

  /** Jobs waiting or running now, over all owners. */
  get pending(): number {
    let n = 0;
    for (const q of this.ring) n += q.jobs.length;
    return n;
  }

  /**
   * Queues `make` for `owner` (a client session); resolves with the job's
   * result. Nothing runs in the caller's turn: the first unit runs in a later
   * turn of the loop. Rejects with EAGAIN when `owner` already has
   * `maxQueued` jobs, and with the signal's reason when `signal` fires first.
   */
  run<T>(owner: object, make: () => SliceJob<T>, signal?: AbortSignal): Promise<T> {
    let q = this.queues.get(owner);
    if (q !== undefined && q.jobs.length >= this.maxQueued) {
      this.stats.refused++;
      return Promise.reject(new StackError(Errno.EAGAIN, `${q.jobs.length} listings already in progress for this client`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      if (q === undefined) {
        q = { owner, jobs: [] };
        this.queues.set(owner, q);
        this.ring.push(q);
      }
      q.jobs.push({ make, gen: undefined, signal, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.ring.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.turn());
  }

  /** One turn: units from owners in ring order until the budget is spent or no work is left. */
  private turn(): void {
    this.scheduled = false;
    const start = performance.now();
    let ran = false;
    while (this.ring.length > 0) {
      const now = performance.now();
      if (now - start >= this.budgetMs) break;
      if (this.next >= this.ring.length) this.next = 0;
      const q = this.ring[this.next]!;
      const job = q.jobs[0]!;
      ran = true;
      let finished = true;
      if (job.signal?.aborted) {
        this.stats.aborted++;
        job.reject(job.signal.reason);
      } else {
        try {
          job.gen ??= job.make();
          const r = job.gen.next();
          this.stats.units++;
          if (r.done) job.resolve(r.value);
          else finished = false;
        } catch (e) {
          job.reject(e);
        }
        const took = performance.now() - now;
        if (took > this.stats.longestUnitMs) this.stats.longestUnitMs = took;
      }
      if (finished) {
        this.stats.jobs++;
        q.jobs.shift();
      }
      if (q.jobs.length === 0) {
        this.queues.delete(q.owner);
        this.ring.splice(this.next, 1); // the next owner slides into this index
      } else {
        this.next++;
      }
    }
    if (ran) {
      this.stats.turns++;
      const took = performance.now() - start;
      if (took > this.stats.longestTurnMs) this.stats.longestTurnMs = took;
    }
    this.schedule();
  }
}
