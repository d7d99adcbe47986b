/**
 * An in-memory Ethernet segment joining several stacks in one process: the
 * wire every stack test and benchmark runs on. Each stack gets a
 * {@link MemWireLink} (an ordinary {@link Link}); a frame output on one
 * endpoint reaches the others like on a hub, or, with `switched: true`, only
 * the endpoint owning the destination MAC (broadcast, multicast and unknown
 * unicast are flooded, as a learning switch does before it has learnt).
 *
 * Delivery is asynchronous and batched: `output()` only queues; one flush per
 * burst (a `setImmediate` by default) hands every endpoint the frames queued
 * for it in one receiver call. With no fault configured the path is: check,
 * count, push onto the receiver's array, schedule one flush — no copy (the
 * frame's ownership passed to the link, so it is handed on as-is to a single
 * receiver), no timer, no closure per frame.
 *
 * Faults (see `faults.ts`) are per sender, i.e. per direction on a two-endpoint
 * wire, and replayable from {@link MemWire.seed}.
 *
 * Offloads (`offloads: true`, off by default): the wire then models
 * virtio-net between two guests of one host with TSO, checksum offload and
 * large receive on at both ends (Linux veth between namespaces behaves the
 * same): a frame handed to `outputGso` — a TCP super-packet up to 64 KiB
 * with a partial checksum — travels whole, and the receiver gets it with
 * `RxFlag.CSUM_PARTIAL` (and `RxFlag.GSO` when it was to be segmented), as
 * `VIRTIO_NET_HDR_F_NEEDS_CSUM` / `CHECKSUM_PARTIAL` frames are passed
 * between guests without ever being segmented or summed: nothing crossed a
 * real wire. Frames sent with plain `output` carry their checksums as
 * usual. Such a wire takes no faults (they are per frame on the medium,
 * which a super-packet never is): configuring both is a `RangeError`.
 *
 * Transmit buffers (`Link.allocTxFrame`), while the sender's path has no
 * faults: on a wire of two endpoints whose receiver lends receive buffers
 * (`LinkReceiverOptions.rxBuffers`: the stack's own clusters), the frame
 * is built straight into one of the receiver's, which keeps it without a
 * copy — the wire plays a device writing into its receive ring; otherwise
 * from the wire's {@link FrameRing}. A lent frame goes back to its lender
 * when the receiver it reached returns — receivers that declared `copies`
 * get it as-is, others a copy (so a test that keeps frames never sees a
 * slot reused) — or wherever it is dropped. `txRing: false` and
 * `rxBuffers: false` turn either off.
 *
 * Time: delays, holds and the rate limit run on the wire's {@link Clock}. With
 * a `ManualClock`, frames that meet no delay are still delivered by the
 * `setImmediate` flush (await a turn of the event loop, or call
 * {@link MemWire.flush}); delayed frames move to their receiver's queue when
 * `clock.advance()` passes their due time, and the flush that moment schedules
 * delivers them.
 *
 * @example
 * ```ts
 * const wire = new MemWire({ seed: 42, faults: { drop: 0.1 } });
 * const a = wire.attachLink({ name: 'wire0' });
 * const b = wire.attachLink({ name: 'wire0' });
 * b.attach((frames) => console.log('b got', frames.length));
 * a.output(frame); // delivered to b on the next turn of the event loop, or lost (10 %)
 * ```
 */
import { realClock, type Clock } from '../kern/clock.js';
import { objectArray } from '../kern/shape.js';
import { emptyLinkStats, RxFlag, type Link, type LinkKind, type LinkOffloads, type LinkReceiver, type LinkReceiverOptions, type LinkStats, type RxBufferLender, type TxOffload } from './link.js';
import { FrameRing } from './framering.js';
import { emptyWireStats, FaultPipe, normalizeFaults, type FaultConfig, type NormalizedFaults, type WireStats } from './faults.js';
import { randomSeed, Rng, type Seed } from './rng.js';

/** Ethernet II header length; the MTU counts the bytes after it. */
export const ETHER_HDR_LEN = 14;
/** Smallest MTU accepted (RFC 791: every host must take 68-byte datagrams). */
export const MIN_MTU = 68;
/** Largest MTU accepted: an IPv4 datagram cannot be longer (RFC 791 total length). */
export const MAX_MTU = 65535;

/** How a link or wire schedules the delivery of a burst. */
export type FlushMode = 'immediate' | 'microtask';

/** Options of a {@link MemWire}. */
export interface MemWireOptions {
  /** Time source for delays and the rate limit (default `realClock`). */
  clock?: Clock;
  /** Faults for every sender (default none). */
  faults?: FaultConfig | null;
  /** Seed of the fault injector (default a random one; read it back from {@link MemWire.seed}). */
  seed?: Seed;
  /** Deliver unicast only to the endpoint owning the destination MAC, like a switch (default false: a hub). */
  switched?: boolean;
  /**
   * `'immediate'` (default): one `setImmediate` per burst, so I/O and timers
   * run between bursts and two stacks answering each other cannot starve the
   * event loop. `'microtask'`: lower latency for benchmarks, but a ping-pong
   * between stacks then runs without yielding until it stops by itself.
   */
  flush?: FlushMode;
  /**
   * Offer TSO, checksum offload and large receive to every endpoint (see the
   * module note; default false). Excludes `faults`.
   */
  offloads?: boolean;
  /**
   * Lend transmit buffers from a ring (default true; see the module note).
   * The ring's slots are sized for the largest MTU on the wire when the
   * first frame is lent; larger frames are not lent.
   */
  txRing?: boolean;
  /** Build frames into the receiver's lent receive buffers (default true; see the module note). */
  rxBuffers?: boolean;
}

/** Largest frame `outputGso` takes on a wire with offloads: a 64 KiB IPv4 packet and its Ethernet header. */
export const MEMWIRE_MAX_GSO_BYTES = 65535 + 14;

/** Options of one endpoint, for {@link MemWire.attachLink}. */
export interface MemWireLinkOptions {
  /** Interface name (default `wire<N>`). Names need not be unique across stacks. */
  name?: string;
  /** MAC address (default a locally administered unicast address unique in this process). */
  mac?: Uint8Array;
  /** Network-layer MTU (default 1500). */
  mtu?: number;
  /** Frames that may wait for the flush before output() drops them (default 4096, like a deep ifq). */
  queueLimit?: number;
}

let macSeq = 0;

/** 02:52:4e:xx:xx:xx — locally administered ("RN"), unique within the process. */
function nextMac(): Uint8Array {
  const n = ++macSeq;
  return Uint8Array.of(0x02, 0x52, 0x4e, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new RangeError(`mtu ${mtu} outside ${MIN_MTU}..${MAX_MTU}`);
  }
  return mtu;
}

/**
 * One endpoint of a {@link MemWire}: an Ethernet {@link Link} whose frames
 * travel on the wire. Create it with {@link MemWire.attachLink}.
 */
export class MemWireLink implements Link {
  /** Interface name. */
  readonly name: string;
  /** Always `'ethernet'`: frames start with a 14-byte Ethernet II header. */
  readonly kind: LinkKind = 'ethernet';
  /** The endpoint's MAC address. */
  readonly mac: Uint8Array;
  /** Position on the wire (0, 1, ...), also the index of this sender's random stream. */
  readonly port: number;

  /** @internal frames waiting for the next flush (owned by the wire until delivered). */
  pending: Uint8Array[] = objectArray();
  /** @internal the batch being delivered; reused between flushes. */
  batch: Uint8Array[] = objectArray();
  /** @internal `RxFlag` bits of `pending[i]` (wires with offloads only). */
  pendingFlags: Uint8Array | null = null;
  /** @internal `RxFlag` bits of `batch[i]`, handed to the receiver. */
  batchFlags: Uint8Array | null = null;
  /** The offloads of the wire (TSO, receive checksum, large receive), or absent. */
  readonly offloads?: LinkOffloads;
  /** @internal queued on the wire's dirty list. */
  dirty = false;
  /** @internal counters (the stats() snapshot copies them). */
  readonly counters: LinkStats = emptyLinkStats();
  /** @internal this sender's fault pipeline (null until faults are first configured). */
  pipe: FaultPipe | null = null;
  /** @internal per-endpoint faults override the wire's while set. */
  ownFaults: NormalizedFaults | null = null;
  /** @internal largest frame this endpoint sends or takes (mtu + header). */
  maxFrame: number;
  /** @internal largest frame the path from this endpoint carries (fault `mtu` + header). */
  pathMaxFrame = Infinity;
  /** @internal max pending frames. */
  readonly queueLimit: number;

  private receiver: LinkReceiver | null = null;
  /** @internal the receiver promised to copy what it keeps (`LinkReceiverOptions.copies`). */
  receiverCopies = false;
  /** @internal the receiver's receive buffers (`LinkReceiverOptions.rxBuffers`), or null. */
  rxLender: RxBufferLender | null = null;
  private _mtu: number;
  private _up = true;
  private closed = false;

  /** @internal use {@link MemWire.attachLink}. */
  constructor(
    private readonly wire: MemWire,
    port: number,
    opts: MemWireLinkOptions,
  ) {
    this.port = port;
    this.name = opts.name ?? `wire${port}`;
    if (opts.mac !== undefined && opts.mac.length !== 6) throw new RangeError('mac must be 6 bytes');
    this.mac = opts.mac ? opts.mac.slice() : nextMac();
    this._mtu = checkMtu(opts.mtu ?? 1500);
    this.maxFrame = this._mtu + ETHER_HDR_LEN;
    const ql = opts.queueLimit ?? 4096;
    if (!Number.isInteger(ql) || ql < 1) throw new RangeError(`queueLimit ${ql} must be a positive integer`);
    this.queueLimit = ql;
    if (wire.offloads) {
      this.offloads = { tso4: true, rxCsum: true, lro: true, maxGsoBytes: MEMWIRE_MAX_GSO_BYTES };
      this.pendingFlags = new Uint8Array(ql);
      this.batchFlags = new Uint8Array(ql);
    }
  }

  /** Network-layer MTU. */
  get mtu(): number {
    return this._mtu;
  }

  /** Whether the endpoint is up; a closed endpoint is down for good. */
  get up(): boolean {
    return this._up && !this.closed;
  }

  /**
   * Put a frame on the wire. Ownership of `frame` passes to the wire.
   * @returns false (counted `txDrops`) when the endpoint is down or closed, the
   *          frame exceeds the MTU (also `oversize` on the wire), or the rate
   *          limit's queue is full (`rateDropped`). Frames lost later on the
   *          medium return true and are counted as `txDrops` when lost.
   */
  output(frame: Uint8Array): boolean {
    return this.wire.transmit(this, frame, 0);
  }

  /**
   * Put a TCP frame whose checksum is partial (and, with `meta.gsoSize > 0`,
   * which may exceed the MTU) on a wire with offloads: it reaches the
   * receivers whole, flagged `CSUM_PARTIAL` (+ `GSO`). Ownership of `frame`
   * passes; `meta` is only read. On a wire without offloads (the stack
   * never calls it then) the frame is dropped and counted `txDrops`.
   */
  outputGso(frame: Uint8Array, meta: TxOffload): boolean {
    if (this.offloads === undefined || frame.length > MEMWIRE_MAX_GSO_BYTES) {
      this.counters.txDrops++;
      this.wire.release(frame);
      return false;
    }
    return this.wire.transmit(this, frame, meta.gsoSize > 0 ? RxFlag.CSUM_PARTIAL | RxFlag.GSO : RxFlag.CSUM_PARTIAL);
  }

  /**
   * Lend a `len`-byte transmit buffer (`Link.allocTxFrame`): one of the
   * peer's receive buffers, or a slot of the wire's ring; null when
   * lending is off, the endpoint is down, its path has faults (the fault
   * pipeline holds frames for as long as it likes), or neither has one.
   */
  allocTxFrame(len: number): Uint8Array | null {
    if (!this.up) return null;
    const pipe = this.pipe;
    if (pipe !== null && (pipe.active || pipe.inFlight() > 0)) return null;
    return this.wire.lend(this, len);
  }

  /** Give back a lent buffer that was not sent (`Link.releaseTxFrame`). */
  releaseTxFrame(frame: Uint8Array): void {
    this.wire.release(frame);
  }

  /**
   * Attach the receiver; frames arriving with none attached count as
   * `rxDrops`. With `opts.copies` lent frames are handed over as they are
   * and reused once the receiver returns; without it the receiver gets
   * copies of them, which it may keep.
   */
  attach(receiver: LinkReceiver, opts?: LinkReceiverOptions): void {
    this.receiver = receiver;
    this.receiverCopies = opts?.copies === true;
    this.rxLender = opts?.rxBuffers ?? null;
    if (this.rxLender !== null) this.wire.addLender(this.rxLender);
  }

  /** Bring the endpoint up or down; a down endpoint drops (and counts) frames both ways. */
  setUp(up: boolean): void {
    this._up = up;
  }

  /**
   * Change the MTU.
   * @throws RangeError outside 68..65535.
   */
  setMtu(mtu: number): void {
    this._mtu = checkMtu(mtu);
    this.maxFrame = mtu + ETHER_HDR_LEN;
  }

  /**
   * Set faults for frames this endpoint sends (one direction of a two-port
   * wire), overriding the wire-wide faults; `null` returns to the wire's.
   * @throws RangeError for an invalid configuration.
   */
  setFaults(faults: FaultConfig | null): void {
    const f = faults === null ? null : normalizeFaults(faults);
    if (this.offloads !== undefined && f !== null && f.active) throw new RangeError('a MemWire with offloads takes no faults');
    this.ownFaults = f;
    this.wire.refreshPipe(this);
  }

  /** A snapshot of the counters. */
  stats(): LinkStats {
    return { ...this.counters };
  }

  /** Leave the wire: frames queued or in flight from it are discarded, timers cancelled. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wire.detach(this);
  }

  /** @internal whether this endpoint was closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal discard the batch (counted `rxDrops`). */
  dropBatch(): void {
    this.counters.rxDrops += this.batch.length;
    this.wire.releaseAll(this.batch);
    this.batch.length = 0;
  }

  /** @internal hand the batch to the receiver (frames are lent for the call only). */
  deliverBatch(): void {
    const batch = this.batch;
    const n = batch.length;
    if (n === 0) return;
    const c = this.counters;
    const wire = this.wire;
    if (!this.up || this.receiver === null) {
      c.rxDrops += n;
      wire.releaseAll(batch);
      batch.length = 0;
      return;
    }
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += batch[i]!.length;
    c.rxFrames += n;
    c.rxBytes += bytes;
    wire.wireStats.delivered += n;
    // A receiver that may keep frames gets lent ones as copies, the slot back at once.
    if (!this.receiverCopies) wire.unlendAll(batch);
    try {
      if (this.batchFlags === null) this.receiver(batch);
      else this.receiver(batch, this.batchFlags);
    } finally {
      // The receiver copied what it keeps (LinkReceiver: frames are lent for the call).
      wire.releaseAll(batch);
      batch.length = 0;
    }
  }
}

/**
 * An in-memory Ethernet segment with a seeded fault injector. See the module
 * documentation for delivery and timing rules.
 */
export class MemWire {
  /** The seed of the fault injector: pass it back as `seed` to replay a run. */
  readonly seed: Seed;
  /** The wire's clock. */
  readonly clock: Clock;
  /** @internal counters by reference; use {@link MemWire.stats} for a snapshot. */
  readonly wireStats: WireStats = emptyWireStats();

  private readonly rng: Rng;
  private readonly switched: boolean;
  private readonly mode: FlushMode;
  private readonly ports: MemWireLink[] = [];
  private faults: NormalizedFaults;
  private dirty: MemWireLink[] = objectArray();
  private dirtySpare: MemWireLink[] = objectArray();
  private flushScheduled = false;
  private flushing = false;
  private immediate: NodeJS.Immediate | null = null;
  /** @internal whether endpoints offer offloads (fixed at construction). */
  readonly offloads: boolean;
  /** The ring transmit buffers are lent from (null until the first is lent, or with `txRing: false`). */
  ring: FrameRing | null = null;
  private readonly lending: boolean;
  private readonly rxLending: boolean;
  /** Every receive-buffer lender a receiver ever offered (frames lent by one may outlive its attachment). */
  private readonly lenders: RxBufferLender[] = [];
  private closed = false;
  private nextPort = 0;
  private readonly runFlush = (): void => {
    this.immediate = null;
    if (this.flushScheduled) this.flush();
  };

  /** @throws RangeError for an invalid fault configuration. */
  constructor(opts: MemWireOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.seed = (opts.seed ?? randomSeed()) >>> 0;
    this.rng = new Rng(this.seed);
    this.switched = opts.switched ?? false;
    this.mode = opts.flush ?? 'immediate';
    this.faults = normalizeFaults(opts.faults);
    this.offloads = opts.offloads ?? false;
    this.lending = opts.txRing ?? true;
    this.rxLending = opts.rxBuffers ?? true;
    if (this.offloads && this.faults.active) throw new RangeError('a MemWire with offloads takes no faults');
  }

  /**
   * Plug a new endpoint into the wire.
   * @throws RangeError for a bad MTU, MAC or queue limit; Error if the wire is closed.
   */
  attachLink(opts: MemWireLinkOptions = {}): MemWireLink {
    if (this.closed) throw new Error('MemWire is closed');
    const link = new MemWireLink(this, this.nextPort++, opts);
    this.ports.push(link);
    this.refreshPipe(link);
    return link;
  }

  /** The endpoints currently on the wire. */
  links(): readonly MemWireLink[] {
    return this.ports;
  }

  /**
   * Replace the wire-wide faults at run time (endpoints with their own faults
   * keep them). Frames already delayed or held keep their release times.
   * @throws RangeError for an invalid configuration.
   */
  setFaults(faults: FaultConfig | null): void {
    const f = normalizeFaults(faults);
    if (this.offloads && f.active) throw new RangeError('a MemWire with offloads takes no faults');
    this.faults = f;
    for (const p of this.ports) this.refreshPipe(p);
  }

  /** A snapshot of the wire's counters. */
  stats(): WireStats {
    return { ...this.wireStats };
  }

  /** The live counters object, for `sysctl.addStats()` (read it, do not write it). */
  statsRef(): Readonly<WireStats> {
    return this.wireStats;
  }

  /** Frames on the wire not yet delivered: queued for a flush, rate-queued, held or delayed. */
  inFlight(): number {
    let n = 0;
    for (const p of this.ports) n += p.pending.length + (p.pipe?.inFlight() ?? 0);
    return n;
  }

  /**
   * Deliver everything queued for delivery now, synchronously (tests, or a
   * ManualClock loop that does not want to wait for `setImmediate`). Frames
   * still delayed or held are not touched; see {@link MemWire.drain}. A call
   * from inside a receiver is ignored (its frames go in the next flush).
   */
  flush(): void {
    if (this.flushing) return;
    this.flushScheduled = false;
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    const list = this.dirty;
    if (list.length === 0) return;
    this.dirty = this.dirtySpare;
    this.flushing = true;
    let i = 0;
    try {
      // Take every endpoint's batch before calling any receiver: frames that
      // receivers output now belong to the next flush, so two stacks answering
      // each other yield to the event loop between rounds.
      for (const p of list) {
        const b = p.batch;
        p.batch = p.pending;
        p.pending = b;
        const f = p.batchFlags;
        p.batchFlags = p.pendingFlags;
        p.pendingFlags = f;
        p.dirty = false;
      }
      for (; i < list.length; i++) list[i]!.deliverBatch();
    } finally {
      // If a receiver threw, the batches after it are lost (counted) and the
      // exception goes on: a throwing receiver is a bug to be seen, not hidden.
      for (i++; i < list.length; i++) list[i]!.dropBatch();
      this.flushing = false;
      list.length = 0;
      this.dirtySpare = list;
    }
  }

  /**
   * Release every frame in flight at once — delayed, held and rate-queued ones
   * included, ignoring their remaining time — and deliver them synchronously.
   * For tests and orderly teardown; afterwards {@link MemWire.inFlight} is 0
   * unless a receiver sent more.
   */
  drain(): void {
    for (const p of this.ports) p.pipe?.drain();
    this.flush();
  }

  /**
   * Close the wire: every endpoint is closed, frames in flight are discarded
   * (counted `discarded`) and all timers and the scheduled flush are cancelled.
   * Idempotent.
   */
  close(): void {
    if (this.closed) return;
    for (const p of [...this.ports]) p.close();
    this.closed = true;
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    this.flushScheduled = false;
  }

  // --- internals used by MemWireLink ----------------------------------------

  /** @internal remember a receiver's lender (see {@link MemWire.release}). */
  addLender(l: RxBufferLender): void {
    if (!this.lenders.includes(l)) this.lenders.push(l);
  }

  /** @internal lend a transmit buffer (see {@link MemWireLink.allocTxFrame}). */
  lend(from: MemWireLink, len: number): Uint8Array | null {
    const ports = this.ports;
    // Two endpoints: every frame from one reaches the other (hub or switch
    // alike), so it may be built in the receiver's own buffer.
    if (this.rxLending && ports.length === 2) {
      const to = ports[0] === from ? ports[1]! : ports[0]!;
      const l = to.rxLender;
      if (l !== null && to.up) {
        const f = l.lend(len);
        if (f !== null) return f;
      }
    }
    const ring = this.ring ?? this.makeRing();
    return ring === null ? null : ring.alloc(len);
  }

  // Out of lend's line: it runs once per wire, so the optimizing compiler
  // does not inline it, and lend's code has no never-run branch to
  // deoptimize on ("insufficient type feedback") in a new wire's first frame.
  private makeRing(): FrameRing | null {
    if (!this.lending || this.closed) return null;
    let max = 0;
    for (const p of this.ports) max = Math.max(max, p.maxFrame);
    // Slots of whole cache lines, at least an MTU-1500 frame's 2 KiB.
    return (this.ring = new FrameRing({ slotBytes: Math.max(2048, (max + 63) & ~63) }));
  }

  /** @internal a frame's last stop on the wire: back to its lender if it was lent. */
  release(frame: Uint8Array): void {
    if (this.ring !== null && this.ring.free(frame)) return;
    const ls = this.lenders;
    for (let i = 0; i < ls.length; i++) if (ls[i]!.reclaim(frame)) return;
  }

  /** @internal {@link MemWire.release} for every frame of `frames`. */
  releaseAll(frames: readonly Uint8Array[]): void {
    if (this.ring === null && this.lenders.length === 0) return;
    for (let i = 0; i < frames.length; i++) this.release(frames[i]!);
  }

  /** @internal whether `frame` is lent memory (of the ring or a receiver). */
  isLent(frame: Uint8Array): boolean {
    if (this.ring !== null && this.ring.owns(frame)) return true;
    const ls = this.lenders;
    for (let i = 0; i < ls.length; i++) if (ls[i]!.owns(frame)) return true;
    return false;
  }

  /** @internal a frame that may be lent memory, as one that is not: a copy, the loan ended. */
  unlend(frame: Uint8Array): Uint8Array {
    if (!this.isLent(frame)) return frame;
    const copy = frame.slice();
    this.release(frame);
    return copy;
  }

  /** @internal replace lent frames of `frames` by copies, ending their loans. */
  unlendAll(frames: Uint8Array[]): void {
    if (this.ring === null && this.lenders.length === 0) return;
    for (let i = 0; i < frames.length; i++) frames[i] = this.unlend(frames[i]!);
  }

  /** @internal the data path of MemWireLink.output() and outputGso() (`rxFlags` non-zero only for the latter). */
  transmit(from: MemWireLink, frame: Uint8Array, rxFlags: number): boolean {
    const c = from.counters;
    if (!from.up) {
      c.txDrops++;
      this.release(frame);
      return false;
    }
    const len = frame.length;
    if ((rxFlags & RxFlag.GSO) === 0 && (len > from.maxFrame || len > from.pathMaxFrame)) {
      this.wireStats.oversize++;
      c.txDrops++;
      this.release(frame);
      return false;
    }
    const pipe = from.pipe;
    // A pipeline that is idle (faults off, nothing in flight) is bypassed; one
    // still holding frames keeps taking new ones so they cannot overtake.
    if (pipe !== null && (pipe.active || pipe.inFlight() > 0)) {
      // The pipeline may hold, duplicate or lose a frame anywhere: no lent memory goes in.
      frame = this.unlend(frame);
      if (!pipe.input(frame)) {
        c.txDrops++;
        return false;
      }
      c.txFrames++;
      c.txBytes += len;
      this.wireStats.frames++;
      return true;
    }
    c.txFrames++;
    c.txBytes += len;
    this.wireStats.frames++;
    this.forward(from, frame, rxFlags);
    return true;
  }

  /**
   * @internal put a frame that left `from`'s pipeline onto the receivers'
   * queues. Ownership: the frame goes as-is to the last receiver; the others
   * get copies.
   */
  forward(from: MemWireLink, frame: Uint8Array, rxFlags = 0): void {
    const ports = this.ports;
    let target: MemWireLink | null = null;
    if (this.switched && frame.length >= 6 && (frame[0]! & 1) === 0) {
      for (const p of ports) {
        if (p !== from && macEquals(p.mac, frame)) {
          target = p;
          break;
        }
      }
    }
    if (target !== null) {
      this.enqueue(target, frame, rxFlags);
      return;
    }
    // Hub (or flood): all other endpoints; copy for all but the last.
    let last = -1;
    for (let i = ports.length - 1; i >= 0; i--) {
      if (ports[i] !== from) {
        last = i;
        break;
      }
    }
    for (let i = 0; i < last; i++) {
      const p = ports[i]!;
      if (p !== from) this.enqueue(p, frame.slice(), rxFlags);
    }
    if (last >= 0) this.enqueue(ports[last]!, frame, rxFlags);
    else this.release(frame); // alone on the wire: the frame ends here
  }

  private enqueue(to: MemWireLink, frame: Uint8Array, rxFlags: number): void {
    const c = to.counters;
    if ((rxFlags & RxFlag.GSO) === 0 && frame.length > to.maxFrame) {
      this.wireStats.oversize++;
      c.rxDrops++;
      this.release(frame);
      return;
    }
    if (to.pending.length >= to.queueLimit) {
      c.rxDrops++;
      this.release(frame);
      return;
    }
    if (to.pendingFlags !== null) to.pendingFlags[to.pending.length] = rxFlags;
    to.pending.push(frame);
    if (!to.dirty) {
      to.dirty = true;
      this.dirty.push(to);
    }
    if (!this.flushScheduled) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    this.flushScheduled = true;
    if (this.mode === 'microtask') {
      // Cannot be cancelled: runFlush checks flushScheduled, which close() and flush() clear.
      queueMicrotask(this.runFlush);
    } else {
      this.immediate = setImmediate(this.runFlush);
    }
  }

  /** @internal (re)build an endpoint's pipeline after a fault change. */
  refreshPipe(p: MemWireLink): void {
    const cfg = p.ownFaults ?? this.faults;
    p.pathMaxFrame = cfg.mtu + ETHER_HDR_LEN;
    if (p.pipe === null) {
      if (!cfg.active) return;
      const send = (frame: Uint8Array): void => {
        if (!p.isClosed) this.forward(p, frame);
        else this.wireStats.discarded++;
      };
      const lost = (): void => {
        p.counters.txDrops++;
      };
      p.pipe = new FaultPipe(this.clock, this.rng.fork(p.port), this.wireStats, send, lost);
    }
    p.pipe.configure(cfg);
  }

  /** @internal remove a closing endpoint. */
  detach(p: MemWireLink): void {
    p.pipe?.close();
    const i = this.ports.indexOf(p);
    if (i >= 0) this.ports.splice(i, 1);
    this.wireStats.discarded += p.pending.length;
    p.counters.rxDrops += p.pending.length;
    this.releaseAll(p.pending);
    p.pending.length = 0;
    if (p.dirty) {
      p.dirty = false;
      const j = this.dirty.indexOf(p);
      if (j >= 0) this.dirty.splice(j, 1);
    }
  }
}

/** Whether the destination MAC at the start of `frame` equals `mac`. */
function macEquals(mac: Uint8Array, frame: Uint8Array): boolean {
  return (
    mac[0] === frame[0] && mac[1] === frame[1] && mac[2] === frame[2] &&
    mac[3] === frame[3] && mac[4] === frame[4] && mac[5] === frame[5]
  );
}
