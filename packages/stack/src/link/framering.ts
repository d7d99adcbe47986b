/**
 * Transmit buffers a driver lends to the stack (a driver's transmit
 * descriptor ring, NetBSD drivers' `txsoft` slots): the stack builds each
 * outbound frame in a slot instead of fresh memory, hands it back with
 * `Link.output`, and the driver returns the slot to the ring once the frame
 * has left — for the {@link MemWire}, once the receiver it was delivered to
 * has returned (receivers copy what they keep, `LinkReceiverOptions.copies`).
 *
 * Why: a fresh frame per packet is a view of a fresh 256 KiB slab every
 * ~170 frames; new memory costs page faults and external-memory garbage
 * collections, a measurable share of a bulk transfer between two stacks in
 * one process. A ring reuses a few hundred KiB that stay hot in the caches.
 *
 * Safety: a slot has exactly one owner from {@link FrameRing.alloc} to
 * {@link FrameRing.free}; freeing a slot that is not lent (a double free, or
 * a view of it kept past its free) throws, as the mbuf pool does, instead of
 * letting two packets share bytes. A frame of another buffer is not the
 * ring's: `free` ignores it and says so.
 *
 * @module
 */

/** Options of a {@link FrameRing}. */
export interface FrameRingOptions {
  /** Bytes per slot: the largest frame lent (default 2048, an Ethernet frame of MTU ≤ 2034). */
  slotBytes?: number;
  /** Slots per chunk of memory (default 256). */
  chunkSlots?: number;
  /** Chunks the ring may grow to when every slot is lent (default 8). */
  maxChunks?: number;
}

/** Counters of a {@link FrameRing}. */
export interface FrameRingStats {
  /** Slots lent. */
  lent: number;
  /** Slots returned. */
  freed: number;
  /** Requests refused: every slot lent and no chunk left to add, or a frame larger than a slot. */
  misses: number;
}

/**
 * A pool of fixed-size frame slots in a few large `ArrayBuffer`s, lent one
 * at a time as `Uint8Array` views of the requested length.
 */
export class FrameRing {
  /** Bytes per slot. */
  readonly slotBytes: number;
  /** Counters (read them, do not write them). */
  readonly stats: FrameRingStats = { lent: 0, freed: 0, misses: 0 };

  private readonly chunkSlots: number;
  private readonly maxChunks: number;
  private readonly chunks: ArrayBuffer[] = [];
  /** Slot numbers free to lend (a stack); slot `s` is byte `(s % chunkSlots) * slotBytes` of chunk `s / chunkSlots`. */
  private freeList: Int32Array;
  private nfree = 0;
  /** 1 while slot `s` is lent. */
  private busy: Uint8Array;

  /** @throws RangeError for a slot size, chunk size or chunk count that is not a positive integer. */
  constructor(opts: FrameRingOptions = {}) {
    this.slotBytes = posInt('slotBytes', opts.slotBytes ?? 2048);
    this.chunkSlots = posInt('chunkSlots', opts.chunkSlots ?? 256);
    this.maxChunks = posInt('maxChunks', opts.maxChunks ?? 8);
    const max = this.chunkSlots * this.maxChunks;
    this.freeList = new Int32Array(max);
    this.busy = new Uint8Array(max);
  }

  /** Slots lent and not yet freed. */
  get inUse(): number {
    return this.chunks.length * this.chunkSlots - this.nfree;
  }

  /** Slots the ring holds now (lent or free). */
  get capacity(): number {
    return this.chunks.length * this.chunkSlots;
  }

  /**
   * Lend a slot as a `len`-byte frame (its bytes are whatever the slot last
   * held: the borrower writes all of them).
   * @returns the frame, or null (counted `misses`) when `len` exceeds a
   *   slot or every slot is lent and the ring may not grow.
   */
  alloc(len: number): Uint8Array | null {
    if (len > this.slotBytes || len < 0) {
      this.stats.misses++;
      return null;
    }
    if (this.nfree === 0 && !this.grow()) {
      this.stats.misses++;
      return null;
    }
    const s = this.freeList[--this.nfree]!;
    this.busy[s] = 1;
    this.stats.lent++;
    const cs = this.chunkSlots;
    const c = (s / cs) | 0;
    return new Uint8Array(this.chunks[c]!, (s - c * cs) * this.slotBytes, len);
  }

  /**
   * Whether `frame` is a view of this ring's memory (lent or not).
   */
  owns(frame: Uint8Array): boolean {
    const b = frame.buffer;
    const chunks = this.chunks;
    for (let i = 0; i < chunks.length; i++) if (chunks[i] === b) return true;
    return false;
  }

  /**
   * Return a lent frame's slot to the ring.
   * @returns false for a frame that is not of this ring (nothing done).
   * @throws Error when the slot is not lent (a double free or a stale view):
   *   two owners of one slot would see each other's packets.
   */
  free(frame: Uint8Array): boolean {
    const b = frame.buffer;
    const chunks = this.chunks;
    let c = 0;
    for (; c < chunks.length; c++) if (chunks[c] === b) break;
    if (c === chunks.length) return false;
    const s = c * this.chunkSlots + ((frame.byteOffset / this.slotBytes) | 0);
    if (this.busy[s] !== 1) throw new Error(`FrameRing: slot ${s} freed while not lent (double free or stale frame)`);
    this.busy[s] = 0;
    this.freeList[this.nfree++] = s;
    this.stats.freed++;
    return true;
  }

  private grow(): boolean {
    const c = this.chunks.length;
    if (c >= this.maxChunks) return false;
    this.chunks.push(new ArrayBuffer(this.chunkSlots * this.slotBytes));
    // Lowest slot on top of the stack, so a quiet ring keeps reusing the same few slots.
    for (let i = this.chunkSlots - 1; i >= 0; i--) this.freeList[this.nfree++] = c * this.chunkSlots + i;
    return true;
  }
}

function posInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`FrameRing: ${name} ${v} must be a positive integer`);
  return v;
}
