/**
 * The functions that write into a chain's storage: `m_copyback`,
 * `m_makewritable`, `m_pullup` and `m_prepend` of NetBSD's
 * `sys/kern/uipc_mbuf.c`. A cluster shared by reference count is read-only,
 * so each of them first gives the mbufs it writes private storage (copy on
 * write), and each checks the pool *before* changing anything: exhaustion
 * leaves the chain as it was (or, where BSD frees it, freed) — never half
 * written.
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import { M_COPYFLAGS, M_EXT, MHLEN, MLEN, Mbuf, mWritable } from './mbuf.js';
import { allocCluster, allocSmall, checkCount, mFree, mFreem, smallMbuf } from './ops.js';
import type { ClusterPool } from './pool.js';

/**
 * Give a read-only mbuf private storage with the same bytes (copy on write).
 * The pool must have been checked: a cluster is taken only when the data
 * does not fit a small area, and then one must be free.
 */
function privatize(m: Mbuf): void {
  const pool = m.pool;
  const old = m.data.subarray(m.off, m.off + m.len);
  if (m.len <= MLEN) {
    const off = Math.min(m.off, MLEN - m.len);
    const slot = pool.smAlloc();
    const a = pool.smView(slot, false);
    a.fill(0);
    a.set(old, off);
    pool.clUnref(m.ext);
    m.flags &= ~M_EXT;
    m.ext = -1;
    m.sm = slot;
    m.data = a;
    m.off = off;
    return;
  }
  const c = pool.clAlloc();
  if (c < 0) throw new Error('privatize: cluster pool checked but empty');
  const v = pool.clView(c);
  v.set(old, m.off);
  pool.clUnref(m.ext);
  m.ext = c;
  m.data = v;
}

/** Clusters needed to privatize the read-only mbufs overlapping chain bytes [from, to). */
function cowClustersNeeded(m: Mbuf | null, from: number, to: number): number {
  let pos = 0;
  let need = 0;
  for (; m !== null && pos < to; m = m.next) {
    const end = pos + m.len;
    if (m.len > MLEN && end > from && !mWritable(m)) need++;
    pos = end;
  }
  return need;
}

/** Privatize the read-only mbufs overlapping chain bytes [from, to). */
function cowRange(m: Mbuf | null, from: number, to: number): void {
  let pos = 0;
  for (; m !== null && pos < to; m = m.next) {
    const end = pos + m.len;
    if (m.len > 0 && end > from && !mWritable(m)) privatize(m);
    pos = end;
  }
}

/**
 * Copy `src` into the chain at byte `off` (`m_copyback`), growing the chain
 * with new mbufs (small, or clusters) when `off + src.length` passes its end;
 * a gap between the old end and `off` is zero-filled. Shared clusters in the
 * range are first replaced by private copies, so other chains sharing them
 * never see the write. `pkthdr.len` grows with the chain.
 * @returns 0, or `Errno.ENOBUFS` when the pool cannot supply what is needed:
 *   then nothing was changed (the pool is checked before the first write) and
 *   the failure is counted. The chain stays the caller's either way.
 * @throws RangeError for a negative or non-integer `off`.
 */
export function mCopyback(m: Mbuf, off: number, src: Uint8Array): number {
  checkCount('mCopyback', 'off', off);
  const pool = m.pool;
  const len = src.length;
  const end = off + len;
  let total = 0;
  let last = m;
  for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) {
    total += mm.len;
    last = mm;
  }
  // Plan the growth: the last mbuf's writable trailing space, then a small
  // mbuf for a short remainder or clusters for a long one.
  const grow = Math.max(0, end - total);
  const tailSpace = mWritable(last) ? last.data.length - last.off - last.len : 0;
  const inTail = Math.min(grow, tailSpace);
  const rest = grow - inTail;
  const mcl = pool.mclbytes;
  const newClusters = rest > MLEN ? Math.ceil(rest / mcl) : 0;
  const newMbufs = rest > MLEN ? newClusters : rest > 0 ? 1 : 0;
  const cow = len > 0 ? cowClustersNeeded(m, off, Math.min(end, total)) : 0;
  if (pool.clustersAvailable() < newClusters + cow || pool.mbufsAvailable() < newMbufs) {
    pool.countAllocFailure();
    return Errno.ENOBUFS;
  }
  if (grow > 0) {
    // Zero only what lies before `off` (the gap); the rest is overwritten below.
    let pos = total;
    if (inTail > 0) {
      const s = last.off + last.len;
      const z = Math.min(inTail, Math.max(0, off - pos));
      if (z > 0) last.data.fill(0, s, s + z);
      last.len += inTail;
      pos += inTail;
    }
    let left = rest;
    while (left > 0) {
      const n = newClusters > 0 ? allocCluster(pool, 0)! : allocSmall(pool, 0, MLEN)!;
      n.len = Math.min(left, n.data.length);
      const z = Math.min(n.len, Math.max(0, off - pos));
      if (z > 0) n.data.fill(0, 0, z);
      pos += n.len;
      left -= n.len;
      last.next = n;
      last = n;
    }
  }
  if (len > 0) {
    cowRange(m, off, end);
    let pos = 0;
    let mm: Mbuf | null = m;
    while (mm !== null && pos + mm.len <= off) {
      pos += mm.len;
      mm = mm.next;
    }
    let o = off - pos;
    let p = 0;
    while (p < len && mm !== null) {
      const n = Math.min(mm.len - o, len - p);
      mm.data.set(n === len && p === 0 ? src : src.subarray(p, p + n), mm.off + o);
      p += n;
      o = 0;
      mm = mm.next;
    }
  }
  if (m.pkthdr !== null && m.pkthdr.len < end) m.pkthdr.len = end;
  return 0;
}

/**
 * Make bytes `[off, off + len)` of the chain writable in place
 * (`m_makewritable`): read-only shared clusters there are replaced by
 * private copies. Use it before rewriting headers of a packet that may be
 * shared (e.g. by a retransmit queue).
 * @returns 0, or `Errno.ENOBUFS` with nothing changed (counted). The chain
 *   stays the caller's.
 * @throws RangeError when the range passes the end of the chain.
 */
export function mMakeWritable(m: Mbuf, off: number, len: number): number {
  checkCount('mMakeWritable', 'off', off);
  checkCount('mMakeWritable', 'len', len);
  let total = 0;
  for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) total += mm.len;
  if (off + len > total) throw new RangeError(`mMakeWritable: ${off} + ${len} past the end of the chain`);
  if (len === 0) return 0;
  if (m.pool.clustersAvailable() < cowClustersNeeded(m, off, off + len)) {
    m.pool.countAllocFailure();
    return Errno.ENOBUFS;
  }
  cowRange(m, off, off + len);
  return 0;
}

/** Move the packet header and packet flags from `from` to `to` (`M_MOVE_PKTHDR`). */
function movePkthdr(to: Mbuf, from: Mbuf): void {
  to.flags = (to.flags & ~M_COPYFLAGS) | (from.flags & M_COPYFLAGS);
  to.pkthdr = from.pkthdr;
  from.flags &= ~M_COPYFLAGS;
  from.pkthdr = null;
}

/**
 * Make the first `n` bytes of the chain contiguous in its first mbuf
 * (`m_pullup`), so a header can be read through one view. Uses the first
 * mbuf when it is writable and big enough, else puts a new one (small, or a
 * cluster when `n > MHLEN`) in front carrying the packet header.
 * @returns the chain, whose first mbuf may be new: the caller owns it and
 *   must use it instead of `m`. On failure — the chain is shorter than `n`
 *   (a short packet), `n` exceeds MCLBYTES, or the pool is exhausted — the
 *   chain is **freed** and null returned (as in BSD; count the drop).
 * @throws RangeError for a negative or non-integer `n`.
 */
export function mPullup(m: Mbuf, n: number): Mbuf | null {
  checkCount('mPullup', 'n', n);
  if (m.len >= n) return m;
  const pool = m.pool;
  let have = 0;
  for (let mm: Mbuf | null = m; mm !== null && have < n; mm = mm.next) have += mm.len;
  if (have < n || n > pool.mclbytes) {
    mFreem(m);
    return null;
  }
  let head: Mbuf;
  if (mWritable(m) && m.data.length >= n) {
    if (m.off + n > m.data.length) {
      m.data.copyWithin(0, m.off, m.off + m.len);
      m.off = 0;
    }
    head = m;
  } else {
    const h = n <= MHLEN ? allocSmall(pool, 0, MHLEN) : allocCluster(pool, 0);
    if (h === null) {
      mFreem(m);
      return null;
    }
    movePkthdr(h, m);
    h.next = m;
    head = h;
  }
  let need = n - head.len;
  while (need > 0) {
    const s = head.next!;
    const c = Math.min(s.len, need);
    head.data.set(s.data.subarray(s.off, s.off + c), head.off + head.len);
    head.len += c;
    s.off += c;
    s.len -= c;
    need -= c;
    if (s.len === 0) head.next = mFree(s);
  }
  return head;
}

/**
 * Make room for `len` bytes in front of the chain (`M_PREPEND`): in the
 * first mbuf's leading space when it is writable and large enough, else in
 * a new mbuf put in front (data placed at its end, leaving room for further
 * prepends; a cluster when `len > MHLEN`), which takes over the packet header.
 * `pkthdr.len` grows by `len`. The new bytes are uninitialised: write them.
 * @returns the chain, whose first mbuf may be new (use it instead of `m`;
 *   the caller owns it), or null when the pool is exhausted, in which case
 *   the chain is **freed** (as BSD's `M_PREPEND`; count the drop).
 * @throws RangeError when `len` is negative or exceeds MCLBYTES.
 */
export function mPrepend(m: Mbuf, len: number): Mbuf | null {
  checkCount('mPrepend', 'len', len);
  const pool: ClusterPool = m.pool;
  if (len > pool.mclbytes) throw new RangeError(`mPrepend: ${len} bytes exceed MCLBYTES ${pool.mclbytes}`);
  if (mWritable(m) && m.off >= len) {
    m.off -= len;
    m.len += len;
    if (m.pkthdr !== null) m.pkthdr.len += len;
    return m;
  }
  let n: Mbuf | null;
  if (len <= MHLEN) {
    n = pool.mbReserve(1) ? smallMbuf(pool, 0, m.pkthdr !== null ? MHLEN : MLEN) : null;
  } else {
    n = allocCluster(pool, 0);
  }
  if (n === null) {
    mFreem(m);
    return null;
  }
  movePkthdr(n, m);
  n.next = m;
  n.off = n.data.length - len;
  n.len = len;
  if (n.pkthdr !== null) n.pkthdr.len += len;
  return n;
}
