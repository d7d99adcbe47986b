/**
 * Allocating, freeing, reading and reshaping mbuf chains: the read-mostly
 * half of NetBSD's `sys/kern/uipc_mbuf.c` (`m_get`, `m_gethdr`, `m_getcl`,
 * `m_free`, `m_freem`, `m_copydata`, `m_copym`, `m_dup`, `m_adj`, `m_cat`,
 * `m_split`, `m_length`). The functions that write into existing storage
 * (`m_copyback`, `m_pullup`, `m_prepend`, `m_makewritable`) are in `write.ts`.
 *
 * Error policy, for every function here: running out of mbufs or clusters
 * is a return value (`null`), never an exception; a programmer error (a
 * negative or non-integer length, an offset or length reaching past the end
 * of the chain, a double free) throws `RangeError` (or `Error` for a double
 * free), as the kernel would panic.
 *
 * @module
 */
import {
  EMPTY_BYTES,
  M_COPYFLAGS,
  M_EXT,
  M_FREED,
  M_PKTHDR,
  MHLEN,
  MLEN,
  Mbuf,
  mWritable,
} from './mbuf.js';
import type { ClusterPool } from './pool.js';

/** Options for {@link mGethdr} and {@link mGetcl}. */
export interface MGetOptions {
  /**
   * Leave this many bytes in front of the data for headers to be prepended
   * without a copy (tcp_output.c advances `m_data` by `max_linkhdr`).
   */
  headroom?: number;
  /**
   * May take the pool's mbuf reserve: only what keeps the stack moving —
   * the receive path, and ACKs and other control segments — should.
   */
  reserve?: boolean;
}

/** Options for {@link mGetcl}. */
export interface MGetclOptions extends MGetOptions {
  /** Make it a packet-header mbuf (`m_getcl(how, type, M_PKTHDR)`). */
  pkthdr?: boolean;
}

/** @internal Throw unless `v` is a non-negative integer. */
export function checkCount(fn: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) {
    throw new RangeError(`${fn}: ${name} must be a non-negative integer, got ${v}`);
  }
}

/**
 * @internal A small mbuf with its own `cap`-byte area, already accounted
 * for (the caller reserved it with `pool.mbReserve`).
 */
export function smallMbuf(pool: ClusterPool, flags: number, cap: number): Mbuf {
  if (cap !== MHLEN && cap !== MLEN) return new Mbuf(pool, new Uint8Array(cap), 0, flags, -1);
  // A recycled slot of the pool (pool.ts: why), zeroed as a new array would be.
  const slot = pool.smAlloc();
  const v = pool.smView(slot, cap === MHLEN);
  v.fill(0);
  const m = new Mbuf(pool, v, 0, flags, -1);
  m.sm = slot;
  return m;
}

/** @internal A small mbuf, or null when the mbuf limit is reached. */
export function allocSmall(pool: ClusterPool, flags: number, cap: number, reserveOk = false): Mbuf | null {
  if (!pool.mbReserve(1, reserveOk)) return null;
  return smallMbuf(pool, flags, cap);
}

/**
 * @internal An mbuf with a fresh cluster, or null (nothing taken) when either
 * is exhausted; `reserveOk` lets it take the pool's reserve (receive path).
 */
export function allocCluster(pool: ClusterPool, flags: number, reserveOk = false): Mbuf | null {
  if (!pool.mbReserve(1, reserveOk)) return null;
  const c = pool.clAlloc(reserveOk);
  if (c < 0) {
    pool.mbRelease(1);
    return null;
  }
  return new Mbuf(pool, pool.clView(c), 0, flags | M_EXT, c);
}

function headroomOf(fn: string, opts: MGetOptions | undefined, cap: number): number {
  const h = opts?.headroom ?? 0;
  checkCount(fn, 'headroom', h);
  if (h > cap) throw new RangeError(`${fn}: headroom ${h} exceeds the ${cap}-byte data area`);
  return h;
}

/**
 * Get a plain mbuf with an {@link MLEN}-byte area (`m_get`).
 * @returns an empty mbuf the caller owns, or null when the mbuf limit is reached.
 */
export function mGet(pool: ClusterPool): Mbuf | null {
  return allocSmall(pool, 0, MLEN);
}

/**
 * Get a packet-header mbuf with an {@link MHLEN}-byte area (`m_gethdr`);
 * `pkthdr.len` is 0.
 * @returns an empty mbuf the caller owns, or null when the mbuf limit is reached.
 * @throws RangeError when `headroom` exceeds MHLEN.
 */
export function mGethdr(pool: ClusterPool, opts?: MGetOptions): Mbuf | null {
  const h = headroomOf('mGethdr', opts, MHLEN);
  const m = allocSmall(pool, M_PKTHDR, MHLEN, opts?.reserve === true);
  if (m !== null) m.off = h;
  return m;
}

/**
 * Get an mbuf with a cluster of its own (`m_getcl`).
 * @returns an empty mbuf the caller owns, or null (nothing taken) when
 *   mbufs or clusters are exhausted.
 * @throws RangeError when `headroom` exceeds MCLBYTES.
 */
export function mGetcl(pool: ClusterPool, opts?: MGetclOptions): Mbuf | null {
  const h = headroomOf('mGetcl', opts, pool.mclbytes);
  const m = allocCluster(pool, opts?.pkthdr === true ? M_PKTHDR : 0);
  if (m !== null) m.off = h;
  return m;
}

/**
 * Free one mbuf (`m_free`): its cluster reference is dropped (the cluster
 * returns to the pool when it was the last) and the mbuf is dead.
 * @returns the next mbuf of the chain, which the caller now owns.
 * @throws Error when `m` was already freed.
 */
export function mFree(m: Mbuf): Mbuf | null {
  if ((m.flags & M_FREED) !== 0) throw new Error('mFree: mbuf already freed (double free)');
  const next = m.next;
  if ((m.flags & M_EXT) !== 0) m.pool.clUnref(m.ext);
  else if (m.sm >= 0) {
    m.pool.smFree(m.sm);
    m.sm = -1;
  }
  m.pool.mbRelease(1);
  m.flags = M_FREED;
  m.next = null;
  m.nextPkt = null;
  m.data = EMPTY_BYTES;
  m.pkthdr = null;
  m.ext = -1;
  m.off = 0;
  m.len = 0;
  return next;
}

/**
 * Free a whole chain along `next` (`m_freem`); `nextPkt` is not followed.
 * Accepts null. The chain is dead afterwards.
 * @throws Error when an mbuf of the chain was already freed.
 */
export function mFreem(m: Mbuf | null): void {
  while (m !== null) m = mFree(m);
}

/** Total data bytes of a chain (`m_length`); 0 for null. */
export function mLength(m: Mbuf | null): number {
  let n = 0;
  for (; m !== null; m = m.next) n += m.len;
  return n;
}

/** Offset inside the mbuf found by the last {@link seek} (saves a tuple per call). */
let seekOff = 0;

/**
 * @internal The mbuf holding byte `off` of the chain, with the offset inside
 * it in `seekOff`; null at or past the end, `seekOff` then holding how far
 * past (0 when `off` is exactly the chain length).
 */
function seek(m: Mbuf | null, off: number): Mbuf | null {
  while (m !== null && off >= m.len) {
    off -= m.len;
    m = m.next;
  }
  seekOff = off;
  return m;
}

/**
 * Copy `len` bytes starting at `off` in the chain into `dst` at `dstOff`
 * (`m_copydata`). The chain is untouched and still the caller's.
 * @throws RangeError when `off + len` passes the end of the chain or `dst`.
 */
export function mCopydata(m: Mbuf, off: number, len: number, dst: Uint8Array, dstOff = 0): void {
  checkCount('mCopydata', 'off', off);
  checkCount('mCopydata', 'len', len);
  if (dstOff < 0 || dstOff + len > dst.length) {
    throw new RangeError(`mCopydata: ${len} bytes at ${dstOff} do not fit a ${dst.length}-byte buffer`);
  }
  let mm = seek(m, off);
  let o = seekOff;
  if (mm === null && (o > 0 || len > 0)) {
    throw new RangeError(`mCopydata: offset ${off} + ${len} past the end of the chain`);
  }
  while (len > 0) {
    if (mm === null) throw new RangeError('mCopydata: chain shorter than offset + len');
    const n = Math.min(mm.len - o, len);
    bcopy(mm.data, mm.off + o, dst, dstOff, n);
    dstOff += n;
    len -= n;
    o = 0;
    mm = mm.next;
  }
}

/**
 * Copy `len` bytes (to the end when omitted) from `off` into a new chain
 * (`m_copym`): clusters are shared by reference count (so both chains see
 * them read-only from then on), small data is copied. When `off` is 0 and
 * the source has a packet header, the copy gets one too (`pkthdr.len` = the
 * copied length, same `rcvif` and packet flags).
 * @returns the new chain, owned by the caller (the source stays the
 *   caller's too); at least one mbuf, empty when nothing was copied; null
 *   when the pool is exhausted (anything built so far is freed).
 * @throws RangeError when `off + len` passes the end of the chain.
 */
export function mCopym(m: Mbuf, off: number, len?: number): Mbuf | null {
  checkCount('mCopym', 'off', off);
  if (len === undefined) {
    len = mLength(m) - off;
    if (len < 0) throw new RangeError(`mCopym: offset ${off} past the end of the chain`);
  }
  checkCount('mCopym', 'len', len);
  // No mLength() walk when the length is given: a TCP send buffer is a
  // chain of hundreds of clusters and every segment copies a slice of it,
  // so walking the whole chain per call made output quadratic. The copy
  // loop below finds a short chain itself.
  const mm = seek(m, off);
  const o = seekOff;
  if (mm === null && o > 0) throw new RangeError(`mCopym: offset ${off} past the end of the chain`);
  const copyhdr = off === 0 && (m.flags & M_PKTHDR) !== 0;
  const head = mCopymAt(m.pool, mm, o, len, copyhdr ? m.flags & M_COPYFLAGS : -1);
  if (head === null) return null;
  if (copyhdr) {
    head.pkthdr!.len = len;
    head.pkthdr!.rcvif = m.pkthdr!.rcvif;
  }
  return head;
}

/**
 * @internal The body of {@link mCopym}: copy `len` bytes starting `o` bytes
 * into `mm` (whose storage comes from `pool`) (already found by the caller, e.g. through a socket buffer's
 * seek hint). `hdrFlags` >= 0 makes the first mbuf a packet header with
 * those flags (the caller fills `pkthdr`). Returns the new chain, or null
 * when the pool is exhausted (nothing kept).
 * @throws RangeError when the chain ends before `len` bytes.
 */
export function mCopymAt(pool: ClusterPool, mm: Mbuf | null, o: number, len: number, hdrFlags = -1): Mbuf | null {
  let head: Mbuf | null = null;
  let tail: Mbuf | null = null;
  let left = len;
  while (left > 0 && mm !== null) {
    if (o >= mm.len) {
      mm = mm.next;
      o = 0;
      continue;
    }
    const flags: number = head === null && hdrFlags >= 0 ? hdrFlags : 0;
    let n: Mbuf | null;
    const count = Math.min(mm.len - o, left);
    if ((mm.flags & M_EXT) !== 0) {
      if (pool.mbReserve(1)) {
        pool.clRef(mm.ext);
        n = new Mbuf(pool, mm.data, mm.off + o, flags | M_EXT, mm.ext);
      } else n = null;
    } else {
      // Small areas are never shared: copy (count <= MLEN, it came from one).
      n = allocSmall(pool, flags, MLEN);
      if (n !== null) bcopy(mm.data, mm.off + o, n.data, 0, count);
    }
    if (n === null) {
      mFreem(head);
      return null;
    }
    n.len = count;
    if (tail === null) head = n;
    else tail.next = n;
    tail = n;
    left -= count;
    o += count;
  }
  if (left > 0) {
    mFreem(head);
    throw new RangeError(`mCopym: chain ends ${left} bytes short of the ${len} asked for`);
  }
  if (head === null) {
    head = allocSmall(pool, hdrFlags >= 0 ? hdrFlags : 0, hdrFlags >= 0 ? MHLEN : MLEN);
  }
  return head;
}

/**
 * @internal Build an empty-content chain able to hold `total` bytes, lengths
 * already set: one small mbuf when it fits, else clusters (the first starting
 * at `headroom`), a short tail in a small mbuf. Checks the pool first, so it
 * either succeeds or takes nothing. The bytes are uninitialised (old pool
 * contents) and must be overwritten by the caller.
 */
export function allocChain(
  pool: ClusterPool,
  total: number,
  pkthdr: boolean,
  headroom: number,
  reserveOk = false,
): Mbuf | null {
  const first = pkthdr ? MHLEN : MLEN;
  const mcl = pool.mclbytes;
  if (headroom + total <= first) {
    const m = allocSmall(pool, pkthdr ? M_PKTHDR : 0, first, reserveOk);
    if (m === null) return null;
    m.off = headroom;
    m.len = total;
    if (pkthdr) m.pkthdr!.len = total;
    return m;
  }
  if (headroom > mcl) throw new RangeError(`headroom ${headroom} exceeds MCLBYTES ${mcl}`);
  // Plan: the first cluster takes mcl - headroom bytes, then whole clusters,
  // and a remainder of at most MLEN goes into a small mbuf.
  const firstLen = Math.min(total, mcl - headroom);
  let rest = total - firstLen;
  let clusters = 1;
  let smalls = 0;
  clusters += Math.floor(rest / mcl);
  const rem = rest % mcl;
  if (rem > 0) {
    if (rem <= MLEN) smalls = 1;
    else clusters++;
  }
  if (pool.clustersAvailable(reserveOk) < clusters || pool.mbufsAvailable(reserveOk) < clusters + smalls) {
    pool.countAllocFailure();
    return null;
  }
  const head = allocCluster(pool, pkthdr ? M_PKTHDR : 0, reserveOk)!;
  head.off = headroom;
  head.len = firstLen;
  let tail = head;
  while (rest > 0) {
    const n = rest <= MLEN ? allocSmall(pool, 0, MLEN, reserveOk)! : allocCluster(pool, 0, reserveOk)!;
    n.len = Math.min(rest, n.data.length);
    rest -= n.len;
    tail.next = n;
    tail = n;
  }
  if (pkthdr) head.pkthdr!.len = total;
  return head;
}

/**
 * @internal Copy `len` bytes from `src` at `srcOff` into the chain `dst`
 * from its start, filling each dst mbuf's `len` in turn (two cursors, one
 * `set` per overlapping pair of mbufs).
 */
function copyChainInto(src: Mbuf, srcOff: number, dst: Mbuf, len: number): void {
  let s = seek(src, srcOff);
  let so = seekOff;
  let d: Mbuf | null = dst;
  let doff = 0;
  while (len > 0 && s !== null && d !== null) {
    const n = Math.min(s.len - so, d.len - doff, len);
    if (n > 0) {
      const from = s.off + so;
      d.data.set(s.data.subarray(from, from + n), d.off + doff);
    }
    so += n;
    doff += n;
    len -= n;
    if (so >= s.len) {
      s = s.next;
      so = 0;
    }
    if (doff >= d.len) {
      d = d.next;
      doff = 0;
    }
  }
}

/**
 * Deep copy of a whole chain (`m_dup`): new storage, nothing shared, data
 * packed into as few mbufs as possible, packet header and flags copied.
 * @returns the copy, owned by the caller (the source stays the caller's), or
 *   null when the pool cannot hold it (nothing taken).
 */
export function mDup(m: Mbuf): Mbuf | null {
  const total = mLength(m);
  const hdr = (m.flags & M_PKTHDR) !== 0;
  const n = allocChain(m.pool, total, hdr, 0);
  if (n === null) return null;
  copyChainInto(m, 0, n, total);
  if (hdr) {
    n.flags |= m.flags & M_COPYFLAGS;
    n.pkthdr!.rcvif = m.pkthdr!.rcvif;
  }
  return n;
}

/**
 * Trim `req` bytes from the head (`req > 0`) or `-req` from the tail
 * (`req < 0`) of a chain (`m_adj`); trimming more than the chain holds
 * empties it. `pkthdr.len` follows. The first mbuf always stays (the
 * caller's handle); unlike NetBSD, other mbufs left empty are freed at once
 * so their clusters go back to the pool. The chain stays the caller's.
 * @throws RangeError for a non-integer `req`.
 */
export function mAdj(m: Mbuf, req: number): void {
  if (!Number.isInteger(req)) throw new RangeError(`mAdj: req must be an integer, got ${req}`);
  if (req >= 0) {
    let left = req;
    for (let mm: Mbuf | null = m; mm !== null && left > 0; mm = mm.next) {
      const n = Math.min(mm.len, left);
      mm.off += n;
      mm.len -= n;
      left -= n;
    }
    // Unlink what the trim emptied behind the head.
    while (m.next !== null && m.next.len === 0 && req > 0) m.next = mFree(m.next);
    if (m.pkthdr !== null) m.pkthdr.len -= req - left;
    return;
  }
  let count = Math.max(0, mLength(m) + req);
  if (m.pkthdr !== null) m.pkthdr.len = count;
  let mm = m;
  while (mm.len < count) {
    count -= mm.len;
    mm = mm.next!;
  }
  mm.len = count;
  mFreem(mm.next);
  mm.next = null;
}

/**
 * Append chain `b` to chain `a` (`m_cat`). Like NetBSD, data of `b` that fits
 * the writable trailing space of `a`'s last mbuf is copied there and those
 * mbufs of `b` freed; the rest is linked. Unlike NetBSD, `a.pkthdr.len` (when
 * `a` has one) grows by `b`'s length and `b` loses its packet header, so the
 * result is a consistent packet. The caller owns `a`, which now includes `b`;
 * `b` must no longer be used on its own.
 */
export function mCat(a: Mbuf, b: Mbuf | null): void {
  if (b === null) return;
  const added = a.pkthdr !== null ? mLength(b) : 0;
  b.flags &= ~M_COPYFLAGS;
  b.pkthdr = null;
  let t = a;
  while (t.next !== null) t = t.next;
  let n: Mbuf | null = b;
  while (n !== null) {
    const space = mWritable(t) ? t.data.length - t.off - t.len : 0;
    if (n.len > space) {
      t.next = n;
      break;
    }
    t.data.set(n.data.subarray(n.off, n.off + n.len), t.off + t.len);
    t.len += n.len;
    n = mFree(n);
  }
  if (a.pkthdr !== null) a.pkthdr.len += added;
}

/**
 * Split a chain at byte `off` (`m_split`): `m` keeps bytes `[0, off)` and
 * the returned chain holds the rest. A cluster straddling the split point is
 * shared by both (read-only from then on); small data is copied. When `m`
 * has a packet header the tail gets one too (same `rcvif`), and both
 * `pkthdr.len` are set.
 * @returns the tail chain, owned by the caller (at least one mbuf, empty when
 *   `off` is the chain's length); null when the pool is exhausted, in which
 *   case `m` is unchanged.
 * @throws RangeError when `off` is past the end of the chain.
 */
export function mSplit(m: Mbuf, off: number): Mbuf | null {
  checkCount('mSplit', 'off', off);
  const total = mLength(m);
  if (off > total) throw new RangeError(`mSplit: offset ${off} past the end of the ${total}-byte chain`);
  const pool = m.pool;
  const hdr = (m.flags & M_PKTHDR) !== 0;
  // The mbuf the split falls in, with k bytes of it staying in front.
  let mm = m;
  let k = off;
  while (k > mm.len) {
    k -= mm.len;
    mm = mm.next!;
  }
  const r = mm.len - k;
  let tail: Mbuf;
  if (r === 0 && !hdr && mm.next !== null) {
    tail = mm.next;
  } else {
    const flags = hdr ? m.flags & M_COPYFLAGS : 0;
    let n: Mbuf | null;
    if (r > 0 && (mm.flags & M_EXT) !== 0) {
      if (pool.mbReserve(1)) {
        pool.clRef(mm.ext);
        n = new Mbuf(pool, mm.data, mm.off + k, flags | M_EXT, mm.ext);
      } else n = null;
    } else {
      // r <= MLEN here: it came from a small area.
      n = allocSmall(pool, flags, Math.max(r, hdr ? MHLEN : MLEN));
      if (n !== null && r > 0) n.data.set(mm.data.subarray(mm.off + k, mm.off + mm.len));
    }
    if (n === null) return null;
    n.len = r;
    n.next = mm.next;
    tail = n;
  }
  mm.len = k;
  mm.next = null;
  if (hdr) {
    tail.pkthdr!.len = total - off;
    tail.pkthdr!.rcvif = m.pkthdr!.rcvif;
    m.pkthdr!.len = off;
  }
  return tail;
}

/**
 * Zero-copy access: a view of bytes `[off, off + len)` of the chain when they
 * lie in one mbuf, else null (then use {@link mCopydata} or `mPullup`). The
 * view aliases the mbuf's storage: it stays valid while the chain lives, and
 * may be written only when that mbuf is writable ({@link mWritable}).
 * @throws RangeError when the range passes the end of the chain.
 */
export function mContiguous(m: Mbuf, off: number, len: number): Uint8Array | null {
  checkCount('mContiguous', 'off', off);
  checkCount('mContiguous', 'len', len);
  const mm = seek(m, off);
  const o = seekOff;
  if (mm === null) {
    if (o === 0 && len === 0) return EMPTY_BYTES;
    throw new RangeError(`mContiguous: ${off} + ${len} past the end of the chain`);
  }
  if (o + len > mm.len) {
    // Not in one mbuf; still a programmer error when past the end.
    if (off + len > mLength(m)) {
      throw new RangeError(`mContiguous: ${off} + ${len} past the end of the chain`);
    }
    return null;
  }
  const s = mm.off + o;
  return mm.data.subarray(s, s + len);
}

/**
 * Bytes copied by a loop rather than `set(subarray(...))`, at most: a typed
 * array has no offset-taking copy, and the view `subarray` makes is a heap
 * object per copy (about 100 bytes for the collector). Measured on Node 20
 * between two WebAssembly slabs (the clusters of two stacks): the native
 * copy with its view ~45 ns at any header size; the loop four bytes a step
 * 12 ns at 8 bytes, 37 at 32, ~52 at 52 (an IPv4 + TCP header with
 * timestamps), 69 at 64; byte by byte, as before, 80 ns at 52. Headers
 * stay in the loop, allocating nothing.
 */
const BCOPY_LOOP_MAX = 64;

/**
 * @internal Copy `n` bytes from `src[so ..]` to `dst[do_ ..]` (`bcopy`), in
 * range (the caller checked). Short runs go by a loop, four bytes a step,
 * allocating nothing; longer ones take one `subarray` view and a native
 * copy.
 */
export function bcopy(src: Uint8Array, so: number, dst: Uint8Array, do_: number, n: number): void {
  if (n <= BCOPY_LOOP_MAX) {
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      dst[do_ + i] = src[so + i]!;
      dst[do_ + i + 1] = src[so + i + 1]!;
      dst[do_ + i + 2] = src[so + i + 2]!;
      dst[do_ + i + 3] = src[so + i + 3]!;
    }
    for (; i < n; i++) dst[do_ + i] = src[so + i]!;
  } else dst.set(src.subarray(so, so + n), do_);
}

/**
 * A packet-header chain holding a copy of `buf[off .. off + len)`, as a
 * driver's `m_devget` makes one: {@link mFromBytes} without the options
 * object and the view of the range (the receive path's form). `rcvif` is
 * recorded in the packet header; `reserveOk` lets it take the pool's
 * reserve.
 * @returns the chain, owned by the caller (`buf` is not referenced), or
 *   null when the pool cannot hold it (nothing taken).
 */
export function mDevget(pool: ClusterPool, buf: Uint8Array, off: number, len: number, rcvif: string | number | null, reserveOk: boolean): Mbuf | null {
  const m = allocChain(pool, len, true, 0, reserveOk);
  if (m === null) return null;
  let p = off;
  for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) {
    bcopy(buf, p, mm.data, mm.off, mm.len);
    p += mm.len;
  }
  m.pkthdr!.rcvif = rcvif;
  return m;
}

/** Options for {@link mFromBytes}. */
export interface MFromBytesOptions {
  /** Bytes left free in front for headers to be prepended (see {@link MGetOptions.headroom}). */
  headroom?: number;
  /** Receiving interface to record in the packet header. */
  rcvif?: string | number | null;
  /**
   * May take the pool's reserve clusters: only the receive path (a driver
   * taking in a frame, which may be the ACK that frees memory) should.
   */
  reserve?: boolean;
}

/**
 * Build a packet-header chain holding a copy of `bytes` (what a driver's
 * `m_devget` does): a small mbuf when it fits, else clusters.
 * @returns the chain, owned by the caller (`bytes` stays the caller's and is
 *   not referenced), or null when the pool cannot hold it (nothing taken).
 * @throws RangeError when `headroom` is negative or exceeds MCLBYTES.
 */
export function mFromBytes(pool: ClusterPool, bytes: Uint8Array, opts?: MFromBytesOptions): Mbuf | null {
  const headroom = opts?.headroom ?? 0;
  checkCount('mFromBytes', 'headroom', headroom);
  const m = allocChain(pool, bytes.length, true, headroom, opts?.reserve === true);
  if (m === null) return null;
  let p = 0;
  for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) {
    mm.data.set(bytes.subarray(p, p + mm.len), mm.off);
    p += mm.len;
  }
  m.pkthdr!.rcvif = opts?.rcvif ?? null;
  return m;
}

/**
 * Linearize: a new `Uint8Array` with bytes `[off, off + len)` of the chain
 * (to the end when `len` is omitted). The chain stays the caller's; the
 * result is a fresh copy the caller owns.
 * @throws RangeError when the range passes the end of the chain.
 */
export function mToBytes(m: Mbuf | null, off = 0, len?: number): Uint8Array {
  if (m === null) {
    if (off === 0 && (len ?? 0) === 0) return new Uint8Array(0);
    throw new RangeError('mToBytes: range past the end of an empty chain');
  }
  const n = len ?? mLength(m) - off;
  checkCount('mToBytes', 'len', n);
  const out = new Uint8Array(n);
  mCopydata(m, off, n, out, 0);
  return out;
}
