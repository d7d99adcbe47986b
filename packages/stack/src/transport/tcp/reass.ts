/**
 * The out-of-order queue (NetBSD `tcp_reass()`, RFC 9293 3.10.7.4 "seventh,
 * process the segment text"): segments that arrived above RCV.NXT wait here,
 * sorted and without overlap, until the hole before them fills.
 *
 * Charged and bounded, because every byte a peer makes us hold must count
 * against a limit (the issue that brought this: 200-byte segments with
 * holes, each pinning a 2 KiB receive cluster, emptied the whole pool):
 *
 * - **storage, not bytes:** each entry is charged as a socket buffer charges
 *   (`sballoc`): {@link MSIZE} per mbuf plus the cluster size for each
 *   cluster, so a 200-byte segment in a 2 KiB cluster costs the cluster. The
 *   caller passes the room its receive buffer has left (`sb_mbmax -
 *   sb_mbcnt`) and the queue never holds more (Linux charges the
 *   out-of-order queue's `truesize` to `sk_rmem_alloc` the same way);
 * - **merging:** a segment adjacent to a queued one joins its entry, so the
 *   number of entries is the number of holes, and the entry cap
 *   ({@link ReassQueueOptions.maxSegs}, NetBSD's `tcp_reass_maxqueuelen`)
 *   bounds holes, not segments;
 * - **compaction:** small data is copied out of the cluster it arrived in —
 *   into a small mbuf when it fits one, into the writable tail of the entry
 *   it joins otherwise (`sbcompress`); over a limit, contiguous entries are
 *   re-packed densely first (Linux `tcp_collapse_ofo_queue`);
 * - **pruning from the top:** over a limit, the entries with the highest
 *   sequence numbers go first (Linux `tcp_prune_ofo_queue`) — they are the
 *   furthest from being delivered; a segment closer to RCV.NXT may take
 *   their place;
 * - **a stack-wide budget** ({@link ReassBudget}) of clusters and mbufs all
 *   queues together may hold, so many connections cannot add up to the pool.
 *
 * Only out-of-order data is ever dropped here; data at RCV.NXT goes to the
 * receive buffer and is never pruned. Dropping queued data we may have
 * SACKed is reneging, which RFC 2018 section 8 allows: the sender keeps
 * everything until it is cumulatively acknowledged. The queue tells its
 * owner through {@link ReassQueueOptions.onPrune} so SACK stops reporting it.
 *
 * The queue owns the chains it holds and frees them when they are
 * duplicates, trimmed away, pruned or flushed.
 *
 * @module
 */
import { M_EXT, MLEN, MSIZE, mAdj, mCopydata, mFree, mFreem, mGet, mWritable, type Mbuf } from '../../mbuf/index.js';
import { allocChain } from '../../mbuf/ops.js';
import type { ReassBudget } from './reass-budget.js';
import { seqOffset } from './seq.js';

/** One queued entry: data `[seq, seq + len)`, optionally followed by a FIN. */
export interface ReassSeg {
  seq: number;
  len: number;
  fin: boolean;
  /** The data (owned by the queue until taken), null when `len` is 0. */
  m: Mbuf | null;
  /** @internal Last mbuf of {@link ReassSeg.m} (appends in O(1)). */
  tail: Mbuf | null;
  /** Storage charged: {@link MSIZE} per mbuf plus the cluster of each cluster mbuf. */
  mbcnt: number;
  /** Mbufs in the chain. */
  mbufs: number;
  /** Cluster mbufs in the chain. */
  clusters: number;
}

/** What {@link ReassQueue.insert} did with a segment. */
export const ReassResult = {
  /** Queued (maybe trimmed, merged, compacted). */
  QUEUED: 0,
  /** Everything in it was already queued: freed. */
  DUPLICATE: 1,
  /** The entry cap (`maxSegs`) was reached and nothing above it could go: freed. */
  FULL: 2,
  /** The connection's receive-buffer room was used up and nothing above it could go: freed. */
  NOSPACE: 3,
  /** The stack-wide budget was used up and nothing could be pruned for it: freed. */
  NOBUDGET: 4,
} as const;

/** Counters the queue bumps (a subset of `net.inet.tcp.stats`). */
export interface ReassCounters {
  /** Segments joined to an adjacent queued entry. */
  rcvoomerged: number;
  /** Small segments copied out of their cluster (into a small mbuf or an entry's tail). */
  rcvoocompact: number;
  /** Entries re-packed densely under a limit (`tcp_collapse_ofo_queue`). */
  rcvoocollapse: number;
  /** Entries pruned (dropped from the highest sequence numbers) and their bytes. */
  rcvoopruned: number;
  rcvooprunedbyte: number;
}

/** Options of a {@link ReassQueue}. */
export interface ReassQueueOptions {
  /** Most entries (holes) held: a number, or a function read at each insert (a sysctl). */
  maxSegs: number | (() => number);
  /** The stack-wide budget this queue draws on; none when absent. */
  budget?: ReassBudget | null;
  /** Counters to bump; a private set when absent. */
  counters?: ReassCounters;
  /**
   * Called after entries were pruned: all queued data from `seq` up is gone
   * (null: all of it), so SACK must stop reporting it.
   */
  onPrune?: (seq: number | null) => void;
}

/** A destination for a copy that has nowhere to go. */
const EMPTY = new Uint8Array(MLEN);

/** Storage charged for one mbuf (`sballoc`'s rule, as `SockBuf` charges). */
export function mbufCharge(m: Mbuf): number {
  return (m.flags & M_EXT) !== 0 ? MSIZE + m.data.length : MSIZE;
}

/** A fresh zeroed {@link ReassCounters}. */
export function newReassCounters(): ReassCounters {
  return { rcvoomerged: 0, rcvoocompact: 0, rcvoocollapse: 0, rcvoopruned: 0, rcvooprunedbyte: 0 };
}

/** A bounded, charged, sorted queue of out-of-order data. */
export class ReassQueue {
  /** Queued entries, lowest sequence number first, disjoint and never adjacent (unless a FIN ends the lower). */
  readonly segs: ReassSeg[] = [];
  /** Data bytes queued. */
  bytes = 0;
  /** Storage charged (see {@link ReassSeg.mbcnt}). */
  mbcnt = 0;
  /** Mbufs held. */
  mbufs = 0;
  /** Clusters held. */
  clusters = 0;
  /** The budget shared with the stack's other queues, or null. */
  readonly budget: ReassBudget | null;
  /** Counters bumped. */
  readonly counters: ReassCounters;
  /** @internal Position in the budget's list of non-empty queues, -1 when not there. */
  activeIdx = -1;
  private readonly maxSegsOf: () => number;
  private readonly onPrune: ((seq: number | null) => void) | null;

  /** @param opts the entry cap (a number, for `new ReassQueue(100)`), or {@link ReassQueueOptions}. */
  constructor(opts: number | ReassQueueOptions) {
    const o: ReassQueueOptions = typeof opts === 'number' ? { maxSegs: opts } : opts;
    const ms = o.maxSegs;
    this.maxSegsOf = typeof ms === 'number' ? () => ms : ms;
    this.budget = o.budget ?? null;
    this.counters = o.counters ?? newReassCounters();
    this.onPrune = o.onPrune ?? null;
  }

  /** Most entries held (the cap in force now). */
  get maxSegs(): number {
    return this.maxSegsOf();
  }

  /** Number of entries queued. */
  get length(): number {
    return this.segs.length;
  }

  /**
   * Queue `[seq, seq + len)` (and a FIN after it), which lies above
   * `rcvNxt`. Overlaps with queued data are trimmed from the new segment,
   * queued entries it covers entirely are replaced, and it joins an
   * adjacent entry. Ownership of `m` passes to the queue on every path.
   * @param room storage the connection may still use for out-of-order data
   *   (its receive buffer's `mbmax - mbcnt`); the queue's own
   *   {@link ReassQueue.mbcnt} must fit it.
   * @returns a {@link ReassResult} value.
   */
  insert(seq: number, len: number, fin: boolean, m: Mbuf | null, rcvNxt: number, room = Infinity): number {
    const segs = this.segs;
    let s = seqOffset(seq, rcvNxt);
    let e = s + len;
    // First queued entry starting after s (binary search on offsets).
    let lo = 0;
    let hi = segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqOffset(segs[mid]!.seq, rcvNxt) <= s) lo = mid + 1;
      else hi = mid;
    }
    const i = lo;
    if (i > 0) {
      const p = segs[i - 1]!;
      const pe = seqOffset(p.seq, rcvNxt) + p.len;
      if (pe >= e && !(fin && !p.fin && pe === e)) {
        mFreem(m);
        return ReassResult.DUPLICATE;
      }
      if (p.fin && pe <= s) {
        // Data beyond the peer's FIN cannot be (RFC 9293 3.10.7.4): a duplicate at best.
        mFreem(m);
        return ReassResult.DUPLICATE;
      }
      if (pe > s) {
        if (m !== null) mAdj(m, pe - s);
        s = pe;
      }
    }
    while (i < segs.length) {
      const n = segs[i]!;
      const ns = seqOffset(n.seq, rcvNxt);
      if (ns >= e) break;
      const ne = ns + n.len;
      if (ne <= e) {
        // The new segment covers this one: replace it (keeping its FIN).
        if (n.fin && ne === e) fin = true;
        this.removeAt(i, true);
        continue;
      }
      // Trim our tail where the next one starts.
      if (m !== null) mAdj(m, -(e - ns));
      e = ns;
      fin = false;
      break;
    }
    if (e <= s && !fin) {
      mFreem(m);
      return ReassResult.DUPLICATE;
    }
    const nlen = e - s;
    m = stripEmpty(m);
    if (nlen === 0 && m !== null) {
      mFreem(m);
      m = null;
    }
    // Small data alone in a cluster (or spread over several mbufs) is
    // copied into one small mbuf, so a flood of tiny segments pins no
    // cluster — after the limits passed, so a refused segment costs no copy.
    const compact = m !== null && nlen <= MLEN && (m.next !== null || (m.flags & M_EXT) !== 0);
    let nb = 0;
    let nm = 0;
    let nc = 0;
    if (compact) {
      nb = MSIZE;
      nm = 1;
    } else {
      for (let n = m; n !== null; n = n.next) {
        nb += mbufCharge(n);
        nm++;
        if ((n.flags & M_EXT) !== 0) nc++;
      }
    }
    // Limits, checked against the charge before merging (merging only lowers it).
    const res = this.makeRoom(i, s, rcvNxt, nb, nm, nc, room);
    if (res !== ReassResult.QUEUED) {
      mFreem(m);
      return res;
    }
    if (compact) {
      const c = mGet(m!.pool);
      mCopydata(m!, 0, nlen, c?.data ?? EMPTY, 0);
      mFreem(m);
      if (c === null) return ReassResult.NOBUDGET; // no mbuf left at all: the pool's own limit
      c.len = nlen;
      m = c;
      this.counters.rcvoocompact++;
    }
    const prev = i > 0 ? segs[i - 1]! : undefined;
    const next = i < segs.length ? segs[i]! : undefined;
    const joinPrev = prev !== undefined && !prev.fin && seqOffset(prev.seq, rcvNxt) + prev.len === s;
    const joinNext = next !== undefined && !fin && seqOffset(next.seq, rcvNxt) === e;
    let entry: ReassSeg;
    if (joinPrev) {
      entry = prev!;
      this.counters.rcvoomerged++;
    } else {
      entry = { seq: (rcvNxt + s) >>> 0, len: 0, fin: false, m: null, tail: null, mbcnt: 0, mbufs: 0, clusters: 0 };
      segs.splice(i, 0, entry);
      if (segs.length === 1) this.budget?.activate(this);
    }
    this.append(entry, m, nlen);
    entry.fin = fin;
    if (joinNext) {
      // `next` now sits right after `entry`: absorb it.
      const k = joinPrev ? i : i + 1;
      this.counters.rcvoomerged++;
      this.absorbNext(entry, k);
    }
    return ReassResult.QUEUED;
  }

  /**
   * Take the first entry if it starts at `rcvNxt` (the hole before it has
   * filled). The caller owns the returned entry's chain.
   */
  takeAt(rcvNxt: number): ReassSeg | null {
    const f = this.segs[0];
    if (f === undefined || f.seq !== rcvNxt >>> 0) return null;
    this.removeAt(0, false);
    return f;
  }

  /**
   * Drop data now at or below `rcvNxt` (after in-order data overlapped it):
   * entries wholly below go, one straddling it is trimmed.
   * @returns bytes discarded.
   */
  trimBelow(rcvNxt: number): number {
    let dropped = 0;
    const segs = this.segs;
    while (segs.length > 0) {
      const f = segs[0]!;
      const d = seqOffset(rcvNxt, f.seq);
      if (d >= 0x80000000 || d === 0) break; // f starts at or above rcvNxt
      if (d >= f.len && !(f.fin && d === f.len)) {
        dropped += f.len;
        this.removeAt(0, true);
        continue;
      }
      const cut = Math.min(d, f.len);
      this.trimFront(f, cut);
      f.seq = rcvNxt >>> 0;
      dropped += cut;
      break;
    }
    return dropped;
  }

  /**
   * Prune entries from the highest sequence number down (Linux
   * `tcp_prune_ofo_queue`), keeping the first `keep` entries, until the
   * queue holds at most `mbcnt` storage, `mbufs` mbufs and `clusters`
   * clusters (all entries above `keep` when the targets are 0). Counted.
   * @returns entries pruned.
   */
  pruneTo(keep: number, mbcnt: number, mbufs: number, clusters: number): number {
    const segs = this.segs;
    let n = 0;
    while (segs.length > keep && (this.mbcnt > mbcnt || this.mbufs > mbufs || this.clusters > clusters)) {
      const last = segs[segs.length - 1]!;
      this.counters.rcvoopruned++;
      this.counters.rcvooprunedbyte += last.len;
      this.removeAt(segs.length - 1, true);
      n++;
    }
    if (n > 0 && this.onPrune !== null) {
      const top = segs[segs.length - 1];
      // Everything above the last kept entry's end is gone.
      this.onPrune(top === undefined ? null : (top.seq + top.len) >>> 0);
    }
    return n;
  }

  /** Prune everything (memory pressure). @returns entries pruned. */
  pruneAll(): number {
    return this.pruneTo(0, 0, 0, 0);
  }

  /**
   * Re-pack entries whose chains hold fewer bytes than their clusters could
   * (Linux `tcp_collapse_ofo_queue`): each such entry's data is copied into
   * a fresh dense chain when that saves at least one cluster and the pool
   * has the clusters for the copy. Counted in `rcvoocollapse`.
   * @returns clusters saved.
   */
  collapse(): number {
    let saved = 0;
    for (const f of this.segs) {
      if (f.m === null || f.clusters === 0) continue;
      const pool = f.m.pool;
      const need = Math.ceil(f.len / pool.mclbytes);
      if (need >= f.clusters) continue;
      const c = allocChain(pool, f.len, false, 0);
      if (c === null) break;
      let off = 0;
      for (let n: Mbuf | null = c; n !== null; n = n.next) {
        mCopydata(f.m, off, n.len, n.data, n.off);
        off += n.len;
      }
      const before = f.clusters;
      this.account(f, -f.mbcnt, -f.mbufs, -f.clusters);
      mFreem(f.m);
      f.m = null;
      f.tail = null;
      const len = f.len;
      f.len = 0;
      this.bytes -= len;
      this.append(f, c, len);
      saved += before - f.clusters;
      this.counters.rcvoocollapse++;
    }
    return saved;
  }

  /** Free everything (connection closed). */
  flush(): void {
    while (this.segs.length > 0) this.removeAt(this.segs.length - 1, true);
  }

  // -------------------------------------------------------------------------

  /**
   * Make room for a new entry at index `i` (offset `s`) charged `nb` / `nm`
   * / `nc`: collapse, then prune this queue's entries above it, then — for
   * the stack-wide budget — the largest other queue's.
   */
  private makeRoom(i: number, s: number, rcvNxt: number, nb: number, nm: number, nc: number, room: number): number {
    const segs = this.segs;
    const maxSegs = this.maxSegsOf();
    const budget = this.budget;
    // A segment that joins the entry before it needs no entry of its own.
    const joins = this.adjacent(i, s, rcvNxt);
    if ((joins || segs.length < maxSegs) && this.mbcnt + nb <= room && (budget === null || budget.fits(nm, nc))) {
      return ReassResult.QUEUED;
    }
    if ((this.mbcnt + nb > room || (budget !== null && !budget.fits(nm, nc))) && this.collapsible()) this.collapse();
    // Our own entries above the new data go first (they are the furthest from delivery).
    if (!joins && segs.length >= maxSegs) this.pruneTo(Math.max(i, maxSegs - 1), 0, 0, 0);
    if (this.mbcnt + nb > room) this.pruneTo(i, Math.max(0, room - nb), Infinity, Infinity);
    if (budget !== null && !budget.fits(nm, nc)) {
      this.pruneTo(i, Infinity, Math.max(0, this.mbufs - budget.excessMbufs(nm)), Math.max(0, this.clusters - budget.excessClusters(nc)));
      // Still over: take it from the largest queue, when that is larger than we would be.
      if (!budget.fits(nm, nc)) budget.pruneOthers(this, nm, nc);
    }
    if (!joins && segs.length >= maxSegs) return ReassResult.FULL;
    if (this.mbcnt + nb > room) return ReassResult.NOSPACE;
    if (budget !== null && !budget.fits(nm, nc)) return ReassResult.NOBUDGET;
    return ReassResult.QUEUED;
  }

  /**
   * Whether {@link collapse} would surely save a cluster: more clusters than
   * `bytes / MCLBYTES + entries` (which bounds what dense entries need). An
   * O(1) test, so a flood of one-cluster entries costs no scan per segment.
   */
  private collapsible(): boolean {
    const f = this.segs[0];
    if (f === undefined || this.clusters === 0) return false;
    const mcl = (f.m ?? f.tail)?.pool.mclbytes ?? 2048;
    return this.clusters > Math.ceil(this.bytes / mcl) + this.segs.length;
  }

  /** Whether new data at offset `s` (index `i`) would join the entry before it (no new entry needed). */
  private adjacent(i: number, s: number, rcvNxt: number): boolean {
    const p = i > 0 ? this.segs[i - 1] : undefined;
    return p !== undefined && !p.fin && seqOffset(p.seq, rcvNxt) + p.len === s;
  }

  /** Append chain `m` (`len` bytes) to `f`, copying small mbufs into writable tail room (`sbcompress`). */
  private append(f: ReassSeg, m: Mbuf | null, len: number): void {
    f.len += len;
    this.bytes += len;
    let db = 0;
    let dm = 0;
    let dc = 0;
    let n = m;
    while (n !== null) {
      const next: Mbuf | null = n.next;
      n.next = null;
      const t = f.tail;
      if (t !== null && n.len <= MLEN && mWritable(t) && t.data.length - t.off - t.len >= n.len) {
        t.data.set(n.data.subarray(n.off, n.off + n.len), t.off + t.len);
        t.len += n.len;
        this.counters.rcvoocompact++;
        mFree(n);
      } else {
        if (t === null) f.m = n;
        else t.next = n;
        f.tail = n;
        db += mbufCharge(n);
        dm++;
        if ((n.flags & M_EXT) !== 0) dc++;
      }
      n = next;
    }
    this.account(f, db, dm, dc);
  }

  /** Entry `k` (right after `f`) is adjacent to `f`: move its data into `f` and remove it. */
  private absorbNext(f: ReassSeg, k: number): void {
    const n = this.segs[k]!;
    this.segs.splice(k, 1);
    const len = n.len;
    this.account(n, -n.mbcnt, -n.mbufs, -n.clusters);
    this.bytes -= len;
    f.fin = n.fin;
    this.append(f, n.m, len);
  }

  /** Cut `cut` bytes from the front of `f`, freeing whole mbufs (with their charge). */
  private trimFront(f: ReassSeg, cut: number): void {
    f.len -= cut;
    this.bytes -= cut;
    let m = f.m;
    while (cut > 0 && m !== null) {
      if (m.len <= cut) {
        cut -= m.len;
        this.account(f, -mbufCharge(m), -1, (m.flags & M_EXT) !== 0 ? -1 : 0);
        m = mFree(m);
      } else {
        m.off += cut;
        m.len -= cut;
        cut = 0;
      }
    }
    f.m = m;
    if (m === null) f.tail = null;
  }

  /** Remove entry `k`, freeing its chain when `free` (else the caller takes it). */
  private removeAt(k: number, free: boolean): void {
    const f = this.segs[k]!;
    this.segs.splice(k, 1);
    this.bytes -= f.len;
    this.account(f, -f.mbcnt, -f.mbufs, -f.clusters);
    if (free) {
      mFreem(f.m);
      f.m = null;
      f.tail = null;
    }
    if (this.segs.length === 0) this.budget?.deactivate(this);
  }

  private account(f: ReassSeg, db: number, dm: number, dc: number): void {
    f.mbcnt += db;
    f.mbufs += dm;
    f.clusters += dc;
    this.mbcnt += db;
    this.mbufs += dm;
    this.clusters += dc;
    this.budget?.charge(db, dm, dc);
  }
}

/** Free zero-length mbufs anywhere in a chain; returns the new head (null when nothing is left). */
function stripEmpty(m: Mbuf | null): Mbuf | null {
  while (m !== null && m.len === 0) m = mFree(m);
  if (m === null) return null;
  let p = m;
  while (p.next !== null) {
    if (p.next.len === 0) p.next = mFree(p.next);
    else p = p.next;
  }
  return m;
}
