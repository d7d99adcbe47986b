/**
 * The stack-wide budget of TCP's out-of-order queues: how many clusters and
 * mbufs all connections' reassembly queues together may hold
 * (`net.inet.tcp.reass.maxclusters`, `net.inet.tcp.reass.maxmbufs`).
 *
 * A per-connection limit alone does not protect the pool: ten connections
 * each within its receive buffer's share still add up to more clusters than
 * the pool has. NetBSD bounds each queue (`tcp_reass_maxqueuelen`); Linux
 * charges each queue to its socket and, under global pressure (`tcp_mem`),
 * prunes out-of-order queues first (`tcp_prune_ofo_queue`). This budget is
 * the global half: a queue that would pass it prunes its own highest
 * entries first, then the largest queue's — but only when that one is
 * larger than the asking queue would become, so the budget is shared out
 * fairly among the connections that compete for it (a longest-queue drop)
 * and a flood on some connections cannot starve another.
 *
 * @module
 */
import type { ReassQueue } from './reass.js';

/** Queues looked at per {@link ReassBudget.pruneOthers} call (bounds the work per segment). */
const SCAN_LIMIT = 32;

/** Counters the budget bumps (a subset of `net.inet.tcp.stats`). */
export interface ReassBudgetCounters {
  /** Entries of other connections' queues pruned to make room in the budget. */
  rcvooprunedother: number;
}

/** Clusters and mbufs all out-of-order queues of a stack may hold together. */
export class ReassBudget {
  /** Clusters held by all queues now. */
  clusters = 0;
  /** Mbufs held by all queues now. */
  mbufs = 0;
  /** Storage charged by all queues now (bytes, `sballoc` rule). */
  mbcnt = 0;
  /** Highest {@link ReassBudget.clusters} seen. */
  clustersPeak = 0;
  /** Highest {@link ReassBudget.mbufs} seen. */
  mbufsPeak = 0;
  /** Queues holding something, for pruning (unordered; each knows its index). */
  private readonly active: ReassQueue[] = [];
  /** Where the next scan for a victim starts (rotates, so no queue is always spared). */
  private cursor = 0;

  /**
   * @param maxClusters most clusters in all queues (read at each use: a sysctl).
   * @param maxMbufs most mbufs in all queues (each cluster rides on one).
   * @param counters where {@link ReassBudgetCounters} are bumped.
   */
  constructor(
    private readonly maxClusters: () => number,
    private readonly maxMbufs: () => number,
    private readonly counters: ReassBudgetCounters = { rcvooprunedother: 0 },
  ) {}

  /** Queues holding out-of-order data now. */
  get activeQueues(): number {
    return this.active.length;
  }

  /** The cluster limit in force. */
  get clusterLimit(): number {
    return this.maxClusters();
  }

  /** The mbuf limit in force. */
  get mbufLimit(): number {
    return this.maxMbufs();
  }

  /** Whether `nm` more mbufs holding `nc` clusters fit. */
  fits(nm: number, nc: number): boolean {
    return this.mbufs + nm <= this.maxMbufs() && this.clusters + nc <= this.maxClusters();
  }

  /** Mbufs to give back before `nm` more fit (0 when they do). */
  excessMbufs(nm: number): number {
    return Math.max(0, this.mbufs + nm - this.maxMbufs());
  }

  /** Clusters to give back before `nc` more fit (0 when they do). */
  excessClusters(nc: number): number {
    return Math.max(0, this.clusters + nc - this.maxClusters());
  }

  /** @internal A queue's holdings changed by the given deltas. */
  charge(db: number, dm: number, dc: number): void {
    this.mbcnt += db;
    this.mbufs += dm;
    this.clusters += dc;
    if (this.clusters > this.clustersPeak) this.clustersPeak = this.clusters;
    if (this.mbufs > this.mbufsPeak) this.mbufsPeak = this.mbufs;
  }

  /** @internal `q` became non-empty. */
  activate(q: ReassQueue): void {
    if (q.activeIdx >= 0) return;
    q.activeIdx = this.active.length;
    this.active.push(q);
  }

  /** @internal `q` became empty. */
  deactivate(q: ReassQueue): void {
    const k = q.activeIdx;
    if (k < 0) return;
    const last = this.active.pop()!;
    if (last !== q) {
      this.active[k] = last;
      last.activeIdx = k;
    }
    q.activeIdx = -1;
  }

  /**
   * Prune other queues until `nm` mbufs / `nc` clusters more fit: each
   * round takes the largest of up to {@link SCAN_LIMIT} queues (by mbufs)
   * and prunes its highest entries, as long as it holds more than `self`
   * would after adding them. Bounded: at most {@link SCAN_LIMIT} rounds.
   * @returns whether they fit now.
   */
  pruneOthers(self: ReassQueue, nm: number, nc: number): boolean {
    for (let round = 0; round < SCAN_LIMIT && !this.fits(nm, nc); round++) {
      const n = this.active.length;
      if (n === 0) return false;
      let victim: ReassQueue | null = null;
      const look = Math.min(n, SCAN_LIMIT);
      for (let j = 0; j < look; j++) {
        const q = this.active[(this.cursor + j) % n]!;
        if (q === self) continue;
        if (victim === null || q.mbufs > victim.mbufs) victim = q;
      }
      this.cursor = (this.cursor + look) % Math.max(1, n);
      if (victim === null || victim.mbufs <= self.mbufs + nm) return this.fits(nm, nc);
      const pruned = victim.pruneTo(
        1,
        Infinity,
        Math.max(self.mbufs + nm, victim.mbufs - this.excessMbufs(nm)),
        Math.max(0, victim.clusters - this.excessClusters(nc)),
      );
      if (pruned === 0) {
        // Only its first entry is left: that goes too if it is still the larger.
        if (victim.pruneAll() === 0) return this.fits(nm, nc);
        this.counters.rcvooprunedother++;
      } else this.counters.rcvooprunedother += pruned;
    }
    return this.fits(nm, nc);
  }

  /**
   * Prune every queue entirely (the pool entered memory pressure: Linux
   * prunes out-of-order queues before anything else).
   * @returns entries pruned.
   */
  pruneAll(): number {
    let n = 0;
    // Each pruneAll empties its queue, which then leaves `active`.
    for (let guard = this.active.length + 1; guard > 0 && this.active.length > 0; guard--) {
      n += this.active[this.active.length - 1]!.pruneAll();
    }
    return n;
  }
}
