/**
 * The client's busy poll (Linux's `SO_BUSY_POLL`, opt-in as it is there):
 * after a turn that wrote frames to the server while a call waits for its
 * answer, spin up to a bound on non-blocking `poll(2)`s of the Unix socket
 * (the rumpshm addon's `busyPoll`) instead of going back to epoll and
 * sleeping. An answer that comes within the spin finds this process running:
 * the wake-up of a sleeping vCPU (~40 µs on the benchmark's VM, the fourth
 * of the rump echo's four; docs/BENCHMARKS.md) is gone. Nothing is read
 * here: the loop's next epoll sees the socket readable at once.
 *
 * Between polls the spinner calls `sched_yield(2)`: it keeps its vCPU out of
 * halt (which is the wake-up it saves) but gives way at once to a task the
 * scheduler has ready on its CPU — on two vCPUs that is often the rump
 * server or the peer whose work the answer is. Measured in turns on the
 * shared 2-vCPU VM at load 7–9 (docs/BENCHMARKS.md "Client busy poll"):
 * without the yield a 300/1000 µs spin was answered in 49/74 % of the
 * echoes and cost the client 283/364 CPU µs per echo; with it 87/93 % and
 * 215/237 (defaults: 230).
 *
 * The spin adapts as KVM's halt-polling does (`kvm_vcpu_halt`,
 * `grow_halt_poll_ns`/`shrink_halt_poll_ns`): the window starts at
 * {@link BUSY_POLL_GROW_START_US}, doubles when the answer came after the
 * spin gave up but within the bound (a longer spin would have paid), halves
 * when it came later than the bound (spinning was wasted), and stays when
 * the spin answered. A connection whose calls block for long (an idle
 * `accept`, a quiet peer) soon spins not at all and only measures.
 *
 * Off by default: `RUMPNET_BUSY_POLL=<µs>` or the `busyPoll` connect option
 * (0..{@link BUSY_POLL_MAX_US}; 0 = off). Never in the NetBSD-equivalent
 * configuration (its clients do not set it).
 *
 * @module
 */
import { hopTrace } from './hoptrace.js';
import { shmAddon, shmUnavailable } from './shm.js';

/** Largest spin a connection may ask for, µs (the server's `--busy-poll` has the same bound). */
export const BUSY_POLL_MAX_US = 1000;
/** Where an adaptive window starts and restarts after shrinking to 0, µs (KVM's `halt_poll_ns_grow_start` is 10 µs). */
export const BUSY_POLL_GROW_START_US = 10;

/** The counters of one connection's busy poll (in {@link ClientCounters}). */
export interface BusyPollCounters {
  /** Spins made: turns that wrote while a call waited, with a window above 0. */
  busyPolls: number;
  /** Spins during which the server's answer arrived (one wake-up fewer each). */
  busyPollHits: number;
  /** Microseconds spun in all (hits and misses). */
  busyPollUs: number;
  /** The adaptive window now, µs (0 to the configured bound). */
  busyPollWindowUs: number;
}

/**
 * The bound a connection spins with: the option, else `RUMPNET_BUSY_POLL`;
 * 0 (off) when neither. Throws a clear TypeError for a bad value, and an
 * Error when a spin is asked for but the addon that spins is not built.
 */
export function busyPollOf(opt: number | undefined): number {
  let us: number;
  const env = process.env.RUMPNET_BUSY_POLL;
  if (opt !== undefined) us = checkBusyPoll(opt, 'busyPoll option');
  else if (env === undefined || env.trim() === '' || env === 'off') us = 0;
  else us = checkBusyPoll(/^\d+$/.test(env.trim()) ? Number(env.trim()) : NaN, `RUMPNET_BUSY_POLL=${JSON.stringify(env)}`);
  if (us > 0 && typeof shmAddon()?.busyPoll !== 'function') {
    throw new Error(`busy poll (${us} µs) needs the rumpshm addon's busyPoll: ${shmUnavailable() || 'this build has none'} (npm ci, or node-gyp rebuild in packages/client)`);
  }
  return us;
}

/** A poller for a connected socket (its descriptor from Node's handle), or undefined when `us` is 0 or there is no descriptor. */
export function busyPollerFor(us: number, sock: object, counters: BusyPollCounters): BusyPoller | undefined {
  const fd = (sock as { _handle?: { fd?: number } })._handle?.fd;
  const poll = shmAddon()?.busyPoll;
  return us > 0 && poll !== undefined && typeof fd === 'number' && fd >= 0 ? new BusyPoller(us, fd, poll, counters) : undefined;
}

function checkBusyPoll(us: number, what: string): number {
  if (typeof us === 'number' && Number.isInteger(us) && us >= 0 && us <= BUSY_POLL_MAX_US) return us;
  const err = new TypeError(`${what}: busy poll must be an integer number of µs, 0..${BUSY_POLL_MAX_US} (0 = off)`) as TypeError & { code: string };
  err.code = 'ERR_INVALID_ARG_VALUE';
  throw err;
}

/** The addon call this uses: 1 readable, 0 not within `usec`, -errno; `yieldCpu`: `sched_yield` between polls. */
export type BusyPollFn = (fd: number, usec: number, yieldCpu?: boolean) => number;

/**
 * One connection's busy poll: {@link BusyPoller.afterWrite} spins (when a
 * call waits), {@link BusyPoller.onData} learns from when the answer came.
 */
export class BusyPoller {
  /** The adaptive window, µs. */
  private window: number;
  /** When a spin gave up (or would have spun with a window of 0), ms (performance.now): the answer's wait is measured from there. */
  private missAt = -1;

  /**
   * @param maxUs the bound (1..{@link BUSY_POLL_MAX_US})
   * @param fd the Unix socket's descriptor
   * @param poll the addon's `busyPoll`
   * @param counters where spins are counted (the connection's counters)
   * @param now the clock, ms (tests drive it)
   */
  constructor(
    private readonly maxUs: number,
    private readonly fd: number,
    private readonly poll: BusyPollFn,
    private readonly counters: BusyPollCounters,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.window = Math.min(maxUs, BUSY_POLL_GROW_START_US);
    counters.busyPollWindowUs = this.window;
  }

  /** The adaptive window now, µs. */
  get windowUs(): number {
    return this.window;
  }

  /** After the turn's frames were written, while a call waits for its answer: spin for it within the window. */
  afterWrite(): void {
    const t0 = this.now();
    if (this.window <= 0) {
      // Not spinning: still measure, so that a wait that a spin would have covered grows the window again.
      if (this.missAt < 0) this.missAt = t0;
      return;
    }
    const r = this.poll(this.fd, this.window, true);
    const t1 = this.now();
    this.counters.busyPolls++;
    this.counters.busyPollUs += (t1 - t0) * 1000;
    // For the per-hop trace (examples/src/lib/hops.ts): a hit is this process's wake-up by the server's write, without the sleep.
    hopTrace?.mark(r > 0 ? 'c.spin.hit' : 'c.spin.miss');
    if (r > 0) {
      this.counters.busyPollHits++;
      this.missAt = -1;
    } else if (this.missAt < 0) this.missAt = t0;
  }

  /** Bytes came from the server (one socket read): if a spin missed them, grow or shrink the window by how long they took. */
  onData(): void {
    if (this.missAt < 0) return;
    const waitedUs = (this.now() - this.missAt) * 1000;
    this.missAt = -1;
    // kvm_vcpu_halt(): block_ns <= halt_poll_ns: nothing; > max: shrink; < max: grow.
    if (waitedUs <= this.window) return;
    if (waitedUs > this.maxUs) this.window = this.window <= BUSY_POLL_GROW_START_US ? 0 : Math.floor(this.window / 2);
    else this.window = this.window === 0 ? Math.min(this.maxUs, BUSY_POLL_GROW_START_US) : Math.min(this.maxUs, this.window * 2);
    this.counters.busyPollWindowUs = this.window;
  }
}
