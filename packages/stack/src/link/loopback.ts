/**
 * The loopback interface `lo0` (NetBSD `if_loop.c`): every packet output on it
 * comes back in as input on the same interface.
 *
 * Like `looutput()`, which queues the packet on the protocol's input queue and
 * schedules the soft interrupt instead of calling `ip_input()` directly, this
 * link never delivers inside `output()`: that would re-enter the stack in the
 * middle of `ip_output()` (an ICMP echo to 127.0.0.1 would be answered while
 * the request is still being sent). Frames are queued and handed back in one
 * batch per burst by a `setImmediate` flush — the userspace counterpart of the
 * softint: it runs after the current task and its microtasks finish, and lets
 * timers and I/O run between bursts, so a connection to itself cannot starve
 * the event loop (a microtask chain would, since each delivery provokes more
 * output). `flush: 'microtask'` is offered for benchmarks that want the lower
 * latency.
 *
 * Frames are bare IPv4 packets (kind `'loopback'`, no link header).
 *
 * @example
 * ```ts
 * const lo = new LoopbackLink();
 * lo.attach((packets) => packets.forEach((p) => ipInput(lo, p)));
 * lo.output(packet); // comes back on the next turn of the event loop
 * ```
 */
import { emptyLinkStats, type Link, type LinkKind, type LinkReceiver, type LinkStats } from './link.js';
import type { FlushMode } from './memwire.js';

/**
 * Default loopback MTU: 16384, as in FreeBSD's `if_loop.c` (`LOMTU`). Large
 * enough that TCP over lo0 sends several clusters per segment, small enough to
 * keep a segment a few clusters long.
 */
export const LOOPBACK_MTU = 16384;
/** Smallest MTU accepted (RFC 791: every host must take 68-byte datagrams). */
const MIN_MTU = 68;
/** Largest MTU accepted: the IPv4 total-length limit. */
const MAX_MTU = 65535;

/** Options of a {@link LoopbackLink}. */
export interface LoopbackOptions {
  /** Interface name (default `"lo0"`). */
  name?: string;
  /** MTU (default {@link LOOPBACK_MTU}). */
  mtu?: number;
  /** Packets that may wait for the flush before output() drops them (default 4096). */
  queueLimit?: number;
  /** How a burst is scheduled (default `'immediate'`; see the module comment). */
  flush?: FlushMode;
}

/**
 * The loopback {@link Link}: output queues, an asynchronous flush delivers the
 * queued packets back to the attached receiver in order, in one batch.
 */
export class LoopbackLink implements Link {
  /** Interface name, `"lo0"` unless given. */
  readonly name: string;
  /** Always `'loopback'`: frames are bare IPv4 packets. */
  readonly kind: LinkKind = 'loopback';
  /** All zero: loopback has no hardware address. */
  readonly mac: Uint8Array = new Uint8Array(6);
  /** Packets that may wait for the flush. */
  readonly queueLimit: number;

  private _mtu: number;
  private _up = true;
  private closed = false;
  private receiver: LinkReceiver | null = null;
  private readonly counters: LinkStats = emptyLinkStats();
  private readonly mode: FlushMode;
  // Two arrays swapped at each flush, so the steady state allocates nothing.
  private pending: Uint8Array[] = [];
  private batch: Uint8Array[] = [];
  private scheduled = false;
  private immediate: NodeJS.Immediate | null = null;
  private readonly runFlush = (): void => {
    this.immediate = null;
    if (this.scheduled) this.flush();
  };

  /** @throws RangeError for an MTU outside 68..65535 or a queue limit below 1. */
  constructor(opts: LoopbackOptions = {}) {
    this.name = opts.name ?? 'lo0';
    this._mtu = checkMtu(opts.mtu ?? LOOPBACK_MTU);
    const ql = opts.queueLimit ?? 4096;
    if (!Number.isInteger(ql) || ql < 1) throw new RangeError(`queueLimit ${ql} must be a positive integer`);
    this.queueLimit = ql;
    this.mode = opts.flush ?? 'immediate';
  }

  /** Largest packet carried. */
  get mtu(): number {
    return this._mtu;
  }

  /** Whether the link is up; closed means down for good. */
  get up(): boolean {
    return this._up && !this.closed;
  }

  /** Packets queued for the next flush. */
  get queued(): number {
    return this.pending.length;
  }

  /**
   * Queue a packet to come back in. Ownership of `frame` passes to the link,
   * which hands the same bytes to the receiver (no copy).
   * @returns false (counted `txDrops`) when the link is down or closed, the
   *          packet is longer than the MTU, or the queue is full.
   */
  output(frame: Uint8Array): boolean {
    const c = this.counters;
    if (!this.up || frame.length > this._mtu || this.pending.length >= this.queueLimit) {
      c.txDrops++;
      return false;
    }
    c.txFrames++;
    c.txBytes += frame.length;
    this.pending.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      if (this.mode === 'microtask') queueMicrotask(this.runFlush);
      else this.immediate = setImmediate(this.runFlush);
    }
    return true;
  }

  /** Attach the receiver; packets flushed while none is attached count as `rxDrops`. */
  attach(receiver: LinkReceiver): void {
    this.receiver = receiver;
  }

  /** Up or down; while down, output drops and queued packets are dropped at the flush (counted). */
  setUp(up: boolean): void {
    this._up = up;
  }

  /** @throws RangeError outside 68..65535. */
  setMtu(mtu: number): void {
    this._mtu = checkMtu(mtu);
  }

  /** A snapshot of the counters. */
  stats(): LinkStats {
    return { ...this.counters };
  }

  /**
   * Deliver the queued packets now, synchronously (tests; normally the
   * scheduled flush does it). Packets the receiver outputs during the call
   * wait for the next flush. A call from inside the receiver does nothing.
   */
  flush(): void {
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    this.scheduled = false;
    if (this.pending.length === 0 || this.batch.length !== 0) return; // empty, or re-entered
    const batch = this.pending;
    this.pending = this.batch;
    this.batch = batch;
    const c = this.counters;
    const n = batch.length;
    try {
      if (!this.up || this.receiver === null) {
        c.rxDrops += n;
        return;
      }
      let bytes = 0;
      for (let i = 0; i < n; i++) bytes += batch[i]!.length;
      c.rxFrames += n;
      c.rxBytes += bytes;
      this.receiver(batch);
    } finally {
      batch.length = 0;
      // Packets output by the receiver, or left by a re-entrant flush(), need a flush of their own.
      if (this.pending.length > 0 && !this.scheduled && !this.closed) {
        this.scheduled = true;
        if (this.mode === 'microtask') queueMicrotask(this.runFlush);
        else this.immediate = setImmediate(this.runFlush);
      }
    }
  }

  /** Drop queued packets (counted `rxDrops`) and cancel the flush. Idempotent; output drops afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    this.scheduled = false;
    this.counters.rxDrops += this.pending.length;
    this.pending.length = 0;
  }
}

function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new RangeError(`mtu ${mtu} outside ${MIN_MTU}..${MAX_MTU}`);
  }
  return mtu;
}
