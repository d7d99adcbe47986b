/**
 * The mbuf cluster pool: one slab allocated at start-up, cut into
 * `nmbclusters` clusters of `MCLBYTES` bytes (NetBSD `mcl_cache` over
 * `nmbclusters`, `sys/kern/uipc_mbuf.c`), and the extended clusters of the
 * paper (section 5.2): `MCLNUM` clusters taken as one unit and filled by one
 * batched copy.
 *
 * Nothing here allocates cluster storage after construction: a cluster is an
 * index into the slab, its view is made once, the free list is an `Int32Array`
 * stack and the reference counts an `Int32Array`. Exhaustion is reported by a
 * return value (`-1` / `null`), never by an exception.
 *
 * @module
 */
import { checksumSlab } from '../wire/checksum-wasm.js';
import { M_EXT, M_PKTHDR, MCLNUM_MAX, MHLEN, MLEN, MSIZE, Mbuf } from './mbuf.js';

/** Small-area slots added at a time (64 KiB of storage). */
const SM_CHUNK = 256;

/** Options of {@link ClusterPool}. */
export interface ClusterPoolOptions {
  /** Cluster size `MCLBYTES`: 2048 (default) or 4096; anything else is a `RangeError`. */
  mclbytes?: number;
  /** Number of clusters in the slab (`nmbclusters`), 1 .. 1 048 576. */
  nmbclusters: number;
  /** Default clusters per extended cluster (`MCLNUM`), 1 .. 64; default 1 (BSD behaviour). */
  mclnum?: number;
  /**
   * Most mbufs in use at once (each cluster in use also holds one mbuf);
   * default `2 * nmbclusters + 256`. Bounds the small-mbuf memory the same
   * way `nmbclusters` bounds cluster memory.
   */
  nmbufs?: number;
  /**
   * Clusters only allocations that may use the reserve get (the receive
   * path: a frame must be taken in before anyone can know whether it is an
   * ACK that frees memory). Default 0: no reserve.
   */
  reserve?: number;
  /**
   * Mbufs only allocations that may use the reserve get (the receive path,
   * and TCP's ACKs and other control segments, which need one small mbuf
   * each). Default 0: no reserve.
   */
  mbufReserve?: number;
  /** Clusters in use at which memory pressure starts; default `nmbclusters` (never). */
  pressureHiwat?: number;
  /** Clusters in use at or below which memory pressure ends; default `pressureHiwat`'s 7/8. */
  pressureLowat?: number;
}

/** Memory pressure defaults a stack sets on its pool (see {@link poolPressureDefaults}). */
export interface PoolPressureLimits {
  reserve: number;
  mbufReserve: number;
  pressureHiwat: number;
  pressureLowat: number;
}

/**
 * The reserve and watermarks a stack gives its pool of `n` clusters:
 * pressure from 7/8 of the pool in use to 3/4 (Linux's `tcp_mem` keeps the
 * same kind of gap so the state does not flap), and a reserve of 1/64 (at
 * least 16) that only the receive path may use — enough for a few batches
 * of received frames carrying the ACKs that free send buffers — with twice
 * as many mbufs (a received frame takes one or two; an ACK we send, one).
 */
export function poolPressureDefaults(n: number): PoolPressureLimits {
  const reserve = Math.min(n >> 1, Math.max(16, n >> 6));
  return {
    reserve,
    mbufReserve: 2 * reserve,
    pressureHiwat: n - (n >> 3),
    pressureLowat: n - (n >> 2),
  };
}

/** Pool statistics in the spirit of `netstat -m`. */
export interface PoolStats {
  /** Cluster size in bytes (`MCLBYTES`). */
  mclbytes: number;
  /** Default clusters per extended cluster (`MCLNUM`). */
  mclnum: number;
  /** Clusters in the slab. */
  clustersTotal: number;
  /** Clusters referenced by at least one mbuf or extended cluster. */
  clustersInUse: number;
  /** Clusters on the free list. */
  clustersFree: number;
  /** Highest `clustersInUse` seen. */
  clustersPeak: number;
  /** Mbufs allocated and not yet freed (including those reserved by extended clusters). */
  mbufsInUse: number;
  /** Highest `mbufsInUse` seen. */
  mbufsPeak: number;
  /** Most mbufs in use at once. */
  mbufsLimit: number;
  /** Allocations refused because the pool was exhausted (mbufs or clusters). */
  allocFailures: number;
  /** Packets dropped by callers for lack of buffers ({@link ClusterPool.countDrop}). */
  drops: number;
  /** Extended clusters handed out. */
  extGets: number;
  /** Of those, how many were one contiguous run in the slab. */
  extContiguous: number;
  /** Memory pressure now: 1 (clusters in use reached `pressureHiwat`, not yet back to `pressureLowat`) or 0. */
  pressure: number;
  /** Times the pool entered memory pressure. */
  pressureEntered: number;
  /** Clusters only the receive path may take (`kern.mbuf.reserve`). */
  reserve: number;
  /** Mbufs only the receive path and TCP's control segments may take (`kern.mbuf.mbuf_reserve`). */
  mbufReserve: number;
  /** Clusters in use at which pressure starts / at or below which it ends. */
  pressureHiwat: number;
  pressureLowat: number;
  /** Allocations refused because only the reserve was left and they may not use it. */
  reserveDenied: number;
  /** Clusters taken from the reserve (by allocations allowed to). */
  reserveUsed: number;
}

/**
 * A pool of mbuf clusters carved from one `ArrayBuffer`, plus the accounting
 * of the mbufs that use them. One pool per stack; pass it to the allocation
 * functions (`mGet(pool)`, ...). Every mbuf remembers its pool.
 *
 * Small mbuf data areas (the {@link MHLEN} / {@link MLEN} bytes of a plain
 * or header mbuf) are slots of 256-byte storage the pool grows in chunks as
 * the mbuf count needs (never past `nmbufs`), each with its views made once,
 * and recycled through a free list (`smAlloc` / `smFree`) like clusters: a
 * `new Uint8Array(192)` is larger than what V8 keeps inside its heap, so
 * each one had an ArrayBuffer with a backing store of its own — about
 * 0.37 µs of allocation and collection, about once per data segment. A
 * freed mbuf still points at an empty array, so a stale reference to it
 * reads nothing; only a view taken of its storage while it lived (as of a
 * cluster) sees later packets. A new small area is zeroed, as before.
 */
export class ClusterPool {
  /** Cluster size in bytes (`MCLBYTES`). */
  readonly mclbytes: number;
  /** Number of clusters (`nmbclusters`). */
  readonly nmbclusters: number;
  /** Default clusters per extended cluster (`MCLNUM`). */
  readonly mclnum: number;
  /** Most mbufs in use at once. */
  readonly nmbufs: number;
  /**
   * The slab, allocated once: `nmbclusters * mclbytes` bytes, rounded up to
   * 64 KiB pages when it is WebAssembly memory (`checksumSlab`: the
   * checksum sums it there); {@link ClusterPool.bytes} is exactly the clusters.
   */
  readonly slab: ArrayBuffer;
  /** The whole slab as bytes; cluster `i` is `[i * mclbytes, (i + 1) * mclbytes)`. */
  readonly bytes: Uint8Array;

  /** Cluster views, made on first use ({@link ClusterPool.clView}). */
  private readonly views: (Uint8Array | null)[];
  private readonly refcnt: Int32Array;
  /** Free cluster indices as a stack; `freeTop` entries are valid. */
  private readonly freeStack: Int32Array;
  /** Position of each cluster in `freeStack`, -1 when in use (lets getExt take any run). */
  private readonly freePos: Int32Array;
  private freeTop: number;
  /** Where the next search for a contiguous run starts (next fit). */
  private runHint = 0;
  /** Small-area slots: their views (header and plain length), the free-slot stack. */
  private readonly smHdr: Uint8Array[] = [];
  private readonly smPlain: Uint8Array[] = [];
  private smFreeList = new Int32Array(0);
  private smTop = 0;
  private mbufs = 0;
  private mbufsPeakN = 0;
  private clustersPeakN = 0;
  private allocFailuresN = 0;
  private dropsN = 0;
  private extGetsN = 0;
  private extContiguousN = 0;
  private reserveN: number;
  private mbufReserveN = 0;
  private hiwatN: number;
  private lowatN: number;
  private pressureN = false;
  private pressureEnteredN = 0;
  private reserveDeniedN = 0;
  private reserveUsedN = 0;

  /**
   * Allocates the slab.
   * @throws RangeError when `mclbytes` is not 2048 or 4096, or a count is out
   *   of range (start-up configuration errors, never on the data path).
   */
  constructor(opts: ClusterPoolOptions) {
    const mclbytes = opts.mclbytes ?? 2048;
    if (mclbytes !== 2048 && mclbytes !== 4096) {
      throw new RangeError(`MCLBYTES must be 2048 or 4096, got ${mclbytes}`);
    }
    const n = opts.nmbclusters;
    if (!Number.isInteger(n) || n < 1 || n > 1 << 20) {
      throw new RangeError(`nmbclusters must be an integer in 1..1048576, got ${n}`);
    }
    const mclnum = opts.mclnum ?? 1;
    checkMclnum(mclnum);
    const nmbufs = opts.nmbufs ?? 2 * n + 256;
    if (!Number.isInteger(nmbufs) || nmbufs < 1) {
      throw new RangeError(`nmbufs must be a positive integer, got ${nmbufs}`);
    }
    this.mclbytes = mclbytes;
    this.nmbclusters = n;
    this.mclnum = mclnum;
    this.nmbufs = nmbufs;
    // WebAssembly memory where possible: the checksum sums its words there (checksum-wasm.ts).
    this.slab = checksumSlab(n * mclbytes);
    this.bytes = new Uint8Array(this.slab, 0, n * mclbytes);
    // Packed (not holey) elements: `new Array(n)` of a large n is a dictionary.
    this.views = [];
    for (let i = 0; i < n; i++) this.views.push(null);
    this.refcnt = new Int32Array(n);
    this.freeStack = new Int32Array(n);
    this.freePos = new Int32Array(n);
    // Stack top holds cluster 0, so single gets walk the slab upwards and
    // leave long free runs behind them for extended clusters.
    for (let i = 0; i < n; i++) {
      this.freeStack[i] = n - 1 - i;
      this.freePos[n - 1 - i] = i;
    }
    this.freeTop = n;
    this.reserveN = 0;
    this.hiwatN = n;
    this.lowatN = n - (n >> 3);
    this.setPressureLimits({
      reserve: opts.reserve ?? 0,
      mbufReserve: opts.mbufReserve ?? 0,
      pressureHiwat: opts.pressureHiwat ?? n,
      pressureLowat: opts.pressureLowat ?? (opts.pressureHiwat ?? n) - ((opts.pressureHiwat ?? n) >> 3),
    });
  }

  /**
   * Set the reserve and the pressure watermarks (the `kern.mbuf.*`
   * sysctls). Values are clamped into range: reserve 0..n/2, lowat <=
   * hiwat <= n. Pressure is re-evaluated at once.
   */
  setPressureLimits(l: Partial<PoolPressureLimits>): void {
    const n = this.nmbclusters;
    const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Math.floor(v)));
    if (l.reserve !== undefined) this.reserveN = clamp(l.reserve, 0, n >> 1);
    if (l.mbufReserve !== undefined) this.mbufReserveN = clamp(l.mbufReserve, 0, this.nmbufs >> 1);
    if (l.pressureHiwat !== undefined) this.hiwatN = clamp(l.pressureHiwat, 1, n);
    if (l.pressureLowat !== undefined) this.lowatN = l.pressureLowat;
    this.lowatN = clamp(this.lowatN, 0, this.hiwatN);
    const used = n - this.freeTop;
    if (!this.pressureN && used >= this.hiwatN) this.enterPressure();
    else if (this.pressureN && used <= this.lowatN) this.pressureN = false;
  }

  /** The reserve and watermarks in force. */
  get pressureLimits(): PoolPressureLimits {
    return { reserve: this.reserveN, mbufReserve: this.mbufReserveN, pressureHiwat: this.hiwatN, pressureLowat: this.lowatN };
  }

  /**
   * Whether the pool is under memory pressure: clusters in use reached
   * `pressureHiwat` and have not yet fallen back to `pressureLowat`
   * (hysteresis). Protocols shed optional memory while it holds (TCP:
   * out-of-order data, SYN cache entries, window growth).
   */
  get underPressure(): boolean {
    return this.pressureN;
  }

  /** Times the pool entered memory pressure (an epoch: changes when a new episode starts). */
  get pressureEntered(): number {
    return this.pressureEnteredN;
  }

  /**
   * Clusters an allocation may still take: all free ones when it may use
   * the reserve, else those above the reserve.
   */
  clustersAvailable(reserveOk = false): number {
    return reserveOk ? this.freeTop : Math.max(0, this.freeTop - this.reserveN);
  }

  /** Mbufs an allocation may still take: up to the limit with `reserveOk`, else short of the mbuf reserve. */
  mbufsAvailable(reserveOk = false): number {
    const free = this.nmbufs - this.mbufs;
    return reserveOk ? free : Math.max(0, free - this.mbufReserveN);
  }

  /** Clusters on the free list now. */
  get clustersFree(): number {
    return this.freeTop;
  }

  /** Mbufs that may still be allocated before the limit. */
  get mbufsFree(): number {
    return this.nmbufs - this.mbufs;
  }

  /**
   * @internal Take one cluster with reference count 1; -1 when exhausted
   * (counted in `allocFailures`). Only with `reserveOk` may it take one of
   * the last `reserve` clusters (refusals counted in `reserveDenied`).
   */
  clAlloc(reserveOk = false): number {
    if (this.freeTop <= this.reserveN) {
      if (this.freeTop === 0 || !reserveOk) {
        if (this.freeTop > 0) this.reserveDeniedN++;
        this.allocFailuresN++;
        return -1;
      }
      this.reserveUsedN++;
    }
    const i = this.freeStack[--this.freeTop]!;
    this.freePos[i] = -1;
    this.refcnt[i] = 1;
    this.notePeak();
    return i;
  }

  /** @internal Add a reference to cluster `i` (sharing, `MCLADDREFERENCE`). */
  clRef(i: number): void {
    this.refcnt[i]!++;
  }

  /** @internal Drop a reference; the cluster returns to the free list at 0. */
  clUnref(i: number): void {
    const r = --this.refcnt[i]!;
    if (r > 0) return;
    if (r < 0) {
      this.refcnt[i] = 0;
      throw new Error(`cluster ${i} released more often than referenced`);
    }
    this.freePos[i] = this.freeTop;
    this.freeStack[this.freeTop++] = i;
    if (this.pressureN && this.nmbclusters - this.freeTop <= this.lowatN) this.pressureN = false;
  }

  /** Reference count of cluster `i` (0 when free). */
  clRefcnt(i: number): number {
    return this.refcnt[i]!;
  }

  /**
   * @internal The view of cluster `i`, made the first time it is asked for
   * and kept: the free stack hands out the same few clusters again and
   * again, so a pool of 32,768 makes a few hundred views, not a heap of
   * objects at start-up that the collector then carries (and marks) for
   * the pool's life.
   */
  clView(i: number): Uint8Array {
    const v = this.views[i];
    if (v != null) return v;
    const mcl = this.mclbytes;
    return (this.views[i] = new Uint8Array(this.slab, i * mcl, mcl));
  }

  /**
   * @internal Account for `n` new mbufs; false (and a counted failure) when
   * that would pass the limit — or reach into the mbuf reserve without
   * `reserveOk`.
   */
  mbReserve(n: number, reserveOk = false): boolean {
    if (this.mbufs + n > this.nmbufs - (reserveOk ? 0 : this.mbufReserveN)) {
      if (!reserveOk && this.mbufs + n <= this.nmbufs) this.reserveDeniedN++;
      this.allocFailuresN++;
      return false;
    }
    this.mbufs += n;
    if (this.mbufs > this.mbufsPeakN) this.mbufsPeakN = this.mbufs;
    return true;
  }

  /**
   * @internal A small-area slot (see the class note): storage for one small
   * mbuf, taken from the free list, which grows by a chunk when empty. The
   * caller accounted for the mbuf (`mbReserve`), which bounds the slots.
   */
  smAlloc(): number {
    if (this.smTop === 0) this.smGrow();
    return this.smFreeList[--this.smTop]!;
  }

  /** @internal Give back a slot from {@link ClusterPool.smAlloc}. */
  smFree(slot: number): void {
    this.smFreeList[this.smTop++] = slot;
  }

  /** @internal The view of a slot: `MHLEN` bytes for a header mbuf's area, else `MLEN`. */
  smView(slot: number, hdr: boolean): Uint8Array {
    return hdr ? this.smHdr[slot]! : this.smPlain[slot]!;
  }

  /** Small-area slots made so far (the most small mbufs ever alive at once, rounded up to a chunk). */
  get smallAreas(): number {
    return this.smHdr.length;
  }

  private smGrow(): void {
    const base = this.smHdr.length;
    const buf = new ArrayBuffer(SM_CHUNK * MSIZE);
    for (let k = 0; k < SM_CHUNK; k++) {
      this.smHdr.push(new Uint8Array(buf, k * MSIZE, MHLEN));
      this.smPlain.push(new Uint8Array(buf, k * MSIZE, MLEN));
    }
    if (this.smFreeList.length < base + SM_CHUNK) {
      const list = new Int32Array(Math.max(2 * this.smFreeList.length, base + SM_CHUNK));
      list.set(this.smFreeList.subarray(0, this.smTop));
      this.smFreeList = list;
    }
    // Lowest slot on top: a quiet stack reuses the same few slots.
    for (let k = SM_CHUNK - 1; k >= 0; k--) this.smFreeList[this.smTop++] = base + k;
  }

  /** @internal Return the accounting of `n` mbufs. */
  mbRelease(n: number): void {
    this.mbufs -= n;
    if (this.mbufs < 0) {
      this.mbufs = 0;
      throw new Error('more mbufs released than allocated');
    }
  }

  /** Count an allocation refused by a caller's own check (e.g. a pre-flight test). */
  countAllocFailure(): void {
    this.allocFailuresN++;
  }

  /** Count a packet dropped for lack of buffers; shows in `stats().drops`. */
  countDrop(): void {
    this.dropsN++;
  }

  /**
   * Take `n` clusters as one extended cluster (the paper's section 5.2),
   * with `n` mbufs reserved to carry them. When a run of `n` free clusters
   * lies contiguous in the slab it is preferred and {@link ExtCluster.run}
   * is one view over all of it, so a batched copy is a single `set`;
   * contiguity is not guaranteed (after fragmentation the clusters come from
   * the free list in any order). The search is next-fit from a rotating
   * hint: O(n) on a lightly used pool, at worst O(nmbclusters).
   *
   * @param n clusters, 1..64; default the pool's `mclnum`.
   * @param reserveOk whether it may take clusters of the reserve (only the
   *   receive path should).
   * @returns the extended cluster, owned by the caller until
   *   {@link ExtCluster.toChain} or {@link ExtCluster.release}; `null` when
   *   fewer than `n` clusters or mbufs are free (counted in `allocFailures`;
   *   nothing is taken).
   * @throws RangeError when `n` is not an integer in 1..64.
   */
  getExt(n: number = this.mclnum, reserveOk = false): ExtCluster | null {
    checkMclnum(n);
    if (this.clustersAvailable(reserveOk) < n) {
      if (this.freeTop >= n) this.reserveDeniedN++;
      this.allocFailuresN++;
      return null;
    }
    if (!this.mbReserve(n)) return null;
    const clusters = new Int32Array(n);
    const start = n === 1 ? -1 : this.findRun(n);
    let run: Uint8Array | null = null;
    if (start >= 0) {
      for (let k = 0; k < n; k++) {
        this.takeFree(start + k);
        clusters[k] = start + k;
      }
      run = this.bytes.subarray(start * this.mclbytes, (start + n) * this.mclbytes);
      this.runHint = start + n === this.nmbclusters ? 0 : start + n;
      this.extContiguousN++;
    } else {
      for (let k = 0; k < n; k++) {
        const i = this.freeStack[this.freeTop - 1]!;
        this.takeFree(i);
        clusters[k] = i;
      }
      if (n === 1) {
        run = this.clView(clusters[0]!);
        this.extContiguousN++;
      }
    }
    this.extGetsN++;
    this.notePeak();
    return new ExtCluster(this, clusters, run);
  }

  /** Pool statistics (a fresh object; `netstat -m`). */
  stats(): PoolStats {
    return {
      mclbytes: this.mclbytes,
      mclnum: this.mclnum,
      clustersTotal: this.nmbclusters,
      clustersInUse: this.nmbclusters - this.freeTop,
      clustersFree: this.freeTop,
      clustersPeak: this.clustersPeakN,
      mbufsInUse: this.mbufs,
      mbufsPeak: this.mbufsPeakN,
      mbufsLimit: this.nmbufs,
      allocFailures: this.allocFailuresN,
      drops: this.dropsN,
      extGets: this.extGetsN,
      extContiguous: this.extContiguousN,
      pressure: this.pressureN ? 1 : 0,
      pressureEntered: this.pressureEnteredN,
      reserve: this.reserveN,
      mbufReserve: this.mbufReserveN,
      pressureHiwat: this.hiwatN,
      pressureLowat: this.lowatN,
      reserveDenied: this.reserveDeniedN,
      reserveUsed: this.reserveUsedN,
    };
  }

  /** Whether no cluster and no mbuf is in use: the leak invariant. */
  isAllFree(): boolean {
    return this.freeTop === this.nmbclusters && this.mbufs === 0;
  }

  /**
   * Check the leak invariant (tests call it after each test).
   * @throws Error naming what is still in use.
   */
  assertAllFree(): void {
    if (this.isAllFree()) return;
    throw new Error(
      `mbuf pool leak: ${this.nmbclusters - this.freeTop} cluster(s) and ${this.mbufs} mbuf(s) still in use`,
    );
  }

  private notePeak(): void {
    const used = this.nmbclusters - this.freeTop;
    if (used > this.clustersPeakN) this.clustersPeakN = used;
    if (used >= this.hiwatN && !this.pressureN) this.enterPressure();
  }

  private enterPressure(): void {
    this.pressureN = true;
    this.pressureEnteredN++;
  }

  /** Remove free cluster `i` from anywhere in the stack (swap with the top). */
  private takeFree(i: number): void {
    const p = this.freePos[i]!;
    const top = this.freeStack[--this.freeTop]!;
    this.freeStack[p] = top;
    this.freePos[top] = p;
    this.freePos[i] = -1;
    this.refcnt[i] = 1;
  }

  /** First index of `n` consecutive free clusters at or after the hint (wrapping), or -1. */
  private findRun(n: number): number {
    const total = this.nmbclusters;
    if (n > total) return -1;
    let i = this.runHint;
    let runStart = i;
    let runLen = 0;
    // total + n steps: a run that straddles the hint is still seen.
    for (let steps = 0; steps < total + n; steps++) {
      if (i === total) {
        i = 0;
        runLen = 0;
      }
      if (this.freePos[i]! >= 0) {
        if (runLen === 0) runStart = i;
        if (++runLen === n) return runStart;
      } else {
        runLen = 0;
      }
      i++;
    }
    return -1;
  }
}

/**
 * `n` clusters taken together by {@link ClusterPool.getExt}: fill them with
 * one batched copy (through {@link ExtCluster.targets}), then hand them to a
 * chain with {@link ExtCluster.toChain}. Owns its clusters and `n` reserved
 * mbufs until one of `toChain` / `release` is called, exactly once.
 */
export class ExtCluster {
  /** The pool the clusters came from. */
  readonly pool: ClusterPool;
  /** Cluster indices in fill order. */
  readonly clusters: Int32Array;
  /** One view per cluster, in fill order. */
  readonly views: Uint8Array[];
  /** One view over all clusters when they are contiguous in the slab, else null. */
  readonly run: Uint8Array | null;
  private live = true;

  /** @internal Made by {@link ClusterPool.getExt}. */
  constructor(pool: ClusterPool, clusters: Int32Array, run: Uint8Array | null) {
    this.pool = pool;
    this.clusters = clusters;
    this.run = run;
    const views = new Array<Uint8Array>(clusters.length);
    for (let k = 0; k < clusters.length; k++) views[k] = pool.clView(clusters[k]!);
    this.views = views;
  }

  /** Number of clusters. */
  get n(): number {
    return this.clusters.length;
  }

  /** Bytes the extended cluster holds: `n * MCLBYTES`. */
  get capacity(): number {
    return this.clusters.length * this.pool.mclbytes;
  }

  /**
   * The destinations for one copy of the first `len` bytes: `[run]` (one
   * view) when contiguous, else the cluster views, the last one trimmed.
   * Filling them in order with consecutive bytes fills the unit.
   * @throws RangeError when `len` exceeds {@link ExtCluster.capacity}.
   */
  targets(len: number): Uint8Array[] {
    if (!Number.isInteger(len) || len < 0 || len > this.capacity) {
      throw new RangeError(`ExtCluster.targets: len ${len} outside 0..${this.capacity}`);
    }
    if (this.run !== null) return [this.run.subarray(0, len)];
    const mcl = this.pool.mclbytes;
    const out: Uint8Array[] = [];
    for (let k = 0; k * mcl < len; k++) {
      const v = this.views[k]!;
      out.push(len - k * mcl >= mcl ? v : v.subarray(0, len - k * mcl));
    }
    return out;
  }

  /**
   * Hand the clusters to a chain: one mbuf per cluster holding data, the
   * first `len` bytes of the unit in order; clusters beyond `len` go back to
   * the pool (at least one mbuf is made, empty when `len` is 0). The caller
   * owns the returned chain; this extended cluster is spent. Never fails:
   * its mbufs were reserved by `getExt`.
   * @param pkthdr make the first mbuf a packet header with `pkthdr.len = len`.
   * @throws RangeError for a bad `len`; Error when already spent.
   */
  toChain(len: number, pkthdr = false): Mbuf {
    if (!this.live) throw new Error('ExtCluster already handed over or released');
    if (!Number.isInteger(len) || len < 0 || len > this.capacity) {
      throw new RangeError(`ExtCluster.toChain: len ${len} outside 0..${this.capacity}`);
    }
    this.live = false;
    const pool = this.pool;
    const mcl = pool.mclbytes;
    const used = len === 0 ? 1 : Math.ceil(len / mcl);
    let head: Mbuf | null = null;
    let tail: Mbuf | null = null;
    for (let k = 0; k < used; k++) {
      const c = this.clusters[k]!;
      const flags = M_EXT | (k === 0 && pkthdr ? M_PKTHDR : 0);
      const m = new Mbuf(pool, pool.clView(c), 0, flags, c);
      m.len = Math.min(mcl, len - k * mcl);
      if (tail === null) head = m;
      else tail.next = m;
      tail = m;
    }
    for (let k = used; k < this.clusters.length; k++) pool.clUnref(this.clusters[k]!);
    pool.mbRelease(this.clusters.length - used);
    if (pkthdr) head!.pkthdr!.len = len;
    return head!;
  }

  /** Give every cluster and reserved mbuf back (e.g. the copy failed). Idempotent after toChain. */
  release(): void {
    if (!this.live) return;
    this.live = false;
    for (let k = 0; k < this.clusters.length; k++) this.pool.clUnref(this.clusters[k]!);
    this.pool.mbRelease(this.clusters.length);
  }
}

function checkMclnum(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MCLNUM_MAX) {
    throw new RangeError(`MCLNUM must be an integer in 1..${MCLNUM_MAX}, got ${n}`);
  }
}
