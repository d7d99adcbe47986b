/**
 * Scatter/gather I/O between mbuf chains and a caller's address space
 * (NetBSD `struct uio` and `uiomove()`, `sys/kern/kern_subr.c`), and the two
 * copy loops of the socket layer: `sosend()` filling clusters from the user
 * (`fillFromUio`) and `soreceive()` copying a chain out (`copyChainToUio`).
 *
 * The caller's memory is reached only through a {@link CopySource} or
 * {@link CopySink}. In a rump server each call is a request to the client
 * over its socket — a round trip — so the number of calls is what the paper
 * measures and what `mclnum` (extended clusters) reduces.
 *
 * Errors: a failed copy is an errno in the result (never an exception out of
 * these functions); misuse (a uio of the wrong direction, asking for more than
 * `resid`) throws `RangeError`.
 *
 * @module
 */
import { Errno, StackError } from '../kern/errno.js';
import { M_PKTHDR, MCLNUM_MAX, MHLEN, MINCLSIZE, MLEN, Mbuf } from './mbuf.js';
import { allocSmall, mFreem, mLength } from './ops.js';
import type { ClusterPool, ExtCluster } from './pool.js';

/** One piece of the caller's address space: `len` bytes from address `base`. */
export interface Iovec {
  /** Address in the caller's address space (meaningful only to the copy source/sink). */
  base: number;
  /** Length in bytes. */
  len: number;
}

/**
 * A scatter/gather I/O descriptor (`struct uio`). Moving data advances
 * `iovIndex`/`offset` and decreases `resid`; the `iov` array itself is never
 * modified (BSD adjusts `iov_base`/`iov_len` in place; keeping the caller's
 * array intact lets it be reused).
 */
export interface Uio {
  /** The pieces, in order. */
  iov: Iovec[];
  /** Index of the current piece. */
  iovIndex: number;
  /** Bytes of `iov[iovIndex]` already moved. */
  offset: number;
  /** Bytes still to move (`uio_resid`). */
  resid: number;
  /**
   * Direction, as `uio_rw`: `'write'` moves caller → stack (a send; copyin),
   * `'read'` moves stack → caller (a receive; copyout).
   */
  rw: 'read' | 'write';
}

/**
 * Where copyin gets bytes from: user memory in-process now, a remote rump
 * client later. One call is one copy request.
 */
export interface CopySource {
  /**
   * Fill `dsts` in order with consecutive bytes starting at `uaddr`.
   * Reject/throw with an errno (a {@link StackError}, or any error with a
   * numeric `errno`; `EFAULT` for a bad address) on failure. The arrays are
   * the stack's (often cluster views): write them, do not keep them.
   */
  copyin(uaddr: number, dsts: readonly Uint8Array[]): Promise<void> | void;
}

/** Where copyout puts bytes: the counterpart of {@link CopySource}. */
export interface CopySink {
  /**
   * Write `srcs` in order, consecutively, to `uaddr`. Reject/throw with an
   * errno on failure. The arrays are the stack's (often cluster views shared
   * with a socket buffer): read them before returning/resolving, do not keep them.
   */
  copyout(uaddr: number, srcs: readonly Uint8Array[]): Promise<void> | void;
}

/** What a uio move did. */
export interface UioMoveResult {
  /** 0, or the errno of the failed copy. */
  error: number;
  /** Copy requests made (the failed one included). */
  requests: number;
  /** Bytes moved by requests that succeeded (the uio advanced by this much). */
  bytes: number;
}

/**
 * Make a uio over `iov` (not copied) with `resid` their total length.
 * @throws RangeError for a negative or non-integer length.
 */
export function makeUio(iov: Iovec[], rw: 'read' | 'write'): Uio {
  let resid = 0;
  for (const v of iov) {
    if (!Number.isInteger(v.len) || v.len < 0) throw new RangeError(`makeUio: bad iovec length ${v.len}`);
    resid += v.len;
  }
  return { iov, iovIndex: 0, offset: 0, resid, rw };
}

/** The errno carried by a failed copy: `errno` of the error, a bare number, else EFAULT. */
export function errnoOf(e: unknown): number {
  if (typeof e === 'number' && e > 0) return e;
  if (typeof e === 'object' && e !== null) {
    const n = (e as { errno?: unknown }).errno;
    if (typeof n === 'number' && n > 0) return n;
  }
  return Errno.EFAULT;
}

/**
 * Detach the next `n` bytes of `uio` as a uio of their own and advance
 * `uio` past them, without moving any data: the split lets several copies
 * over consecutive ranges of one caller buffer be in flight at once (the
 * copy window), each advancing only its own part. The new uio's iovecs are
 * new objects (pieces of the parent's); the parent's `iov` is untouched.
 * @throws RangeError when `n` is negative, not an integer, or more than `uio.resid`.
 */
export function uioSplit(uio: Uio, n: number): Uio {
  if (!Number.isInteger(n) || n < 0 || n > uio.resid) throw new RangeError(`uioSplit: ${n} bytes asked, ${uio.resid} left in the uio`);
  const iov: Iovec[] = [];
  let left = n;
  while (left > 0) {
    settle(uio);
    const cur = uio.iov[uio.iovIndex]!;
    const take = Math.min(cur.len - uio.offset, left);
    iov.push({ base: cur.base + uio.offset, len: take });
    uio.offset += take;
    uio.resid -= take;
    left -= take;
  }
  settle(uio);
  return { iov, iovIndex: 0, offset: 0, resid: n, rw: uio.rw };
}

/** Skip iovecs with nothing left; the current one then has room (if resid > 0). */
function settle(uio: Uio): void {
  while (uio.iovIndex < uio.iov.length && uio.offset >= uio.iov[uio.iovIndex]!.len) {
    uio.iovIndex++;
    uio.offset = 0;
  }
}

type Mover = (uaddr: number, bufs: readonly Uint8Array[]) => Promise<void> | void;

/**
 * The common loop of {@link uiomoveIn} and {@link uiomoveOut}: one request
 * per iovec the buffers span. When they all fit the current iovec (the usual
 * case) `bufs` itself is passed on and nothing is allocated; otherwise the
 * buffers are cut at the iovec boundary with `subarray` (views, no copying).
 */
async function move(uio: Uio, bufs: readonly Uint8Array[], op: Mover): Promise<UioMoveResult> {
  let total = 0;
  for (let i = 0; i < bufs.length; i++) total += bufs[i]!.length;
  if (total > uio.resid) throw new RangeError(`uiomove: ${total} bytes asked, ${uio.resid} left in the uio`);
  const res: UioMoveResult = { error: 0, requests: 0, bytes: 0 };
  if (total === 0) return res;
  settle(uio);
  let cur = uio.iov[uio.iovIndex]!;
  if (total <= cur.len - uio.offset) {
    res.requests = 1;
    try {
      const p = op(cur.base + uio.offset, bufs);
      if (p !== undefined) await p;
    } catch (e) {
      res.error = errnoOf(e);
      return res;
    }
    uio.offset += total;
    uio.resid -= total;
    res.bytes = total;
    settle(uio);
    return res;
  }
  let bi = 0;
  let bo = 0;
  while (res.bytes < total) {
    settle(uio);
    cur = uio.iov[uio.iovIndex]!;
    let room = cur.len - uio.offset;
    const batch: Uint8Array[] = [];
    let got = 0;
    while (room > 0 && bi < bufs.length) {
      const b = bufs[bi]!;
      const left = b.length - bo;
      if (left <= room) {
        if (left > 0) batch.push(bo === 0 ? b : b.subarray(bo));
        room -= left;
        got += left;
        bi++;
        bo = 0;
      } else {
        batch.push(b.subarray(bo, bo + room));
        bo += room;
        got += room;
        room = 0;
      }
    }
    res.requests++;
    try {
      const p = op(cur.base + uio.offset, batch);
      if (p !== undefined) await p;
    } catch (e) {
      res.error = errnoOf(e);
      return res;
    }
    uio.offset += got;
    uio.resid -= got;
    res.bytes += got;
  }
  settle(uio);
  return res;
}

/**
 * Copy from the caller into `dsts` (filled in order, `uiomove()` with
 * `UIO_WRITE`), advancing the uio. One `copyin` request per iovec the data
 * spans: a batch never crosses an iovec boundary because the two sides of
 * it are unrelated addresses, so data spanning k iovecs costs k requests.
 * @returns what was done; on failure `error` is the errno, the uio has
 *   advanced past the requests that succeeded only, and the bytes of the
 *   failed request in `dsts` are unspecified. `dsts` stay the caller's.
 * @throws RangeError when `uio.rw` is not `'write'` or `dsts` hold more than `uio.resid`.
 */
export function uiomoveIn(uio: Uio, source: CopySource, dsts: readonly Uint8Array[]): Promise<UioMoveResult> {
  if (uio.rw !== 'write') throw new RangeError("uiomoveIn needs a uio with rw 'write'");
  return move(uio, dsts, (a, b) => source.copyin(a, b));
}

/**
 * Copy `srcs` (in order) out to the caller (`uiomove()` with `UIO_READ`),
 * advancing the uio; one `copyout` per iovec spanned, as {@link uiomoveIn}.
 * @returns what was done; on failure `error` is the errno and the uio has
 *   advanced past the requests that succeeded only. `srcs` stay the caller's.
 * @throws RangeError when `uio.rw` is not `'read'` or `srcs` hold more than `uio.resid`.
 */
export function uiomoveOut(uio: Uio, sink: CopySink, srcs: readonly Uint8Array[]): Promise<UioMoveResult> {
  if (uio.rw !== 'read') throw new RangeError("uiomoveOut needs a uio with rw 'read'");
  return move(uio, srcs, (a, b) => sink.copyout(a, b));
}

/** Request and byte counts of an in-process copy source or sink. */
export interface CopyStats {
  /** Calls made (failed ones included). */
  requests: number;
  /** Bytes copied by calls that succeeded. */
  bytes: number;
}

function checkRange(mem: Uint8Array, base: number, uaddr: number, n: number): number {
  const p = uaddr - base;
  if (!Number.isInteger(p) || p < 0 || p + n > mem.length) {
    throw new StackError(Errno.EFAULT, `address ${uaddr} + ${n} outside the ${mem.length}-byte region at ${base}`);
  }
  return p;
}

/**
 * A {@link CopySource} over memory of this process: address `base` is
 * `mem[0]`. Out-of-range addresses fail with `EFAULT`. Counts requests.
 */
export class BufferCopySource implements CopySource {
  /** Requests and bytes so far. */
  readonly stats: CopyStats = { requests: 0, bytes: 0 };
  /** @param mem the memory read (not copied); @param base its address. */
  constructor(
    readonly mem: Uint8Array,
    readonly base = 0,
  ) {}

  /** Fill `dsts` from `uaddr`. @throws StackError EFAULT when out of range. */
  copyin(uaddr: number, dsts: readonly Uint8Array[]): void {
    this.stats.requests++;
    let n = 0;
    for (let i = 0; i < dsts.length; i++) n += dsts[i]!.length;
    let p = checkRange(this.mem, this.base, uaddr, n);
    for (let i = 0; i < dsts.length; i++) {
      const d = dsts[i]!;
      d.set(this.mem.subarray(p, p + d.length));
      p += d.length;
    }
    this.stats.bytes += n;
  }
}

/**
 * A {@link CopySink} over memory of this process: address `base` is
 * `mem[0]`. Out-of-range addresses fail with `EFAULT`. Counts requests.
 */
export class BufferCopySink implements CopySink {
  /** Requests and bytes so far. */
  readonly stats: CopyStats = { requests: 0, bytes: 0 };
  /** @param mem the memory written (not copied); @param base its address. */
  constructor(
    readonly mem: Uint8Array,
    readonly base = 0,
  ) {}

  /** Write `srcs` to `uaddr`. @throws StackError EFAULT when out of range. */
  copyout(uaddr: number, srcs: readonly Uint8Array[]): void {
    this.stats.requests++;
    let n = 0;
    for (let i = 0; i < srcs.length; i++) n += srcs[i]!.length;
    let p = checkRange(this.mem, this.base, uaddr, n);
    for (let i = 0; i < srcs.length; i++) {
      const s = srcs[i]!;
      this.mem.set(s, p);
      p += s.length;
    }
    this.stats.bytes += n;
  }
}

/** Options of {@link fillFromUio}. */
export interface FillOptions {
  /** Most bytes to take (what the socket buffer has room for). */
  maxBytes: number;
  /**
   * Clusters per copy request (`MCLNUM`), 1..64; default the pool's. 1 is
   * NetBSD: one cluster, one request.
   */
  mclnum?: number;
  /**
   * Copy requests kept outstanding at once (the copy window), 1..64;
   * default 1, NetBSD's single outstanding `uiomove`. With more, the
   * request for the next extended cluster leaves before the reply to the
   * previous one arrives; the chain is still built in uio order, whatever
   * order the replies come in.
   */
  window?: number;
}

/** Most copy requests one fill keeps outstanding (the session's own per-client cap still applies). */
export const COPY_WINDOW_MAX = 64;

/** What {@link fillFromUio} built. */
export interface FillResult {
  /** The packet-header chain of the copied bytes (owned by the caller), or null when none. */
  m: Mbuf | null;
  /** Bytes in `m`. */
  len: number;
  /** Copy requests made. */
  requests: number;
  /**
   * 0; `ENOBUFS` when the pool ran out (then `m` holds what was copied before,
   * possibly nothing); or the copy's errno — then, with a window of 1, `m` is
   * null (everything taken was freed); with a larger window `m` holds the
   * extended clusters before the first failed request, in order (possibly
   * none), everything after it freed, and the uio stands just past `m`.
   */
  error: number;
}

/**
 * The copy loop of `sosend()`: take up to `maxBytes` from the uio into new
 * mbufs. Below {@link MINCLSIZE} bytes it uses small mbufs as BSD does;
 * otherwise it takes extended clusters of up to `mclnum` clusters and issues
 * ONE copyin per extended cluster (unless it spans iovecs, see
 * {@link uiomoveIn}); with `mclnum` 1 that is one request per cluster, as
 * NetBSD. The uio advances by the bytes copied.
 * @returns the chain and counts; see {@link FillResult} for ownership and errors.
 * @throws RangeError for a bad `mclnum`/`maxBytes` or a uio that is not `'write'`.
 */
export async function fillFromUio(
  pool: ClusterPool,
  uio: Uio,
  source: CopySource,
  opts: FillOptions,
): Promise<FillResult> {
  if (uio.rw !== 'write') throw new RangeError("fillFromUio needs a uio with rw 'write'");
  const mclnum = opts.mclnum ?? pool.mclnum;
  if (!Number.isInteger(mclnum) || mclnum < 1 || mclnum > MCLNUM_MAX) {
    throw new RangeError(`fillFromUio: mclnum must be an integer in 1..${MCLNUM_MAX}, got ${mclnum}`);
  }
  if (!(opts.maxBytes >= 0)) throw new RangeError(`fillFromUio: bad maxBytes ${opts.maxBytes}`);
  const window = opts.window ?? 1;
  if (!Number.isInteger(window) || window < 1 || window > COPY_WINDOW_MAX) {
    throw new RangeError(`fillFromUio: window must be an integer in 1..${COPY_WINDOW_MAX}, got ${window}`);
  }
  const want = Math.min(uio.resid, Math.floor(opts.maxBytes));
  const res: FillResult = { m: null, len: 0, requests: 0, error: 0 };
  if (want === 0) return res;
  // A window of 1 stays the loop below, request after request: NetBSD's path, unchanged.
  if (window > 1 && want >= MINCLSIZE && want > pool.mclbytes * mclnum) return fillWindowed(pool, uio, source, want, mclnum, window, res);
  let tail: Mbuf | null = null;
  if (want < MINCLSIZE) {
    // Small write: a header mbuf then a plain one (MINCLSIZE = MHLEN + MLEN + 1).
    const h = allocSmall(pool, M_PKTHDR, MHLEN);
    const t = want > MHLEN ? allocSmall(pool, 0, MLEN) : null;
    if (h === null || (want > MHLEN && t === null)) {
      mFreem(h);
      mFreem(t);
      res.error = Errno.ENOBUFS;
      return res;
    }
    h.len = Math.min(want, MHLEN);
    const dsts = [h.data.subarray(0, h.len)];
    if (t !== null) {
      t.len = want - h.len;
      h.next = t;
      dsts.push(t.data.subarray(0, t.len));
    }
    // NetBSD moves each mbuf with its own uiomove; batched mode does both at once.
    const batches = mclnum === 1 ? dsts.map((d) => [d]) : [dsts];
    for (const b of batches) {
      const r = await uiomoveIn(uio, source, b);
      res.requests += r.requests;
      if (r.error !== 0) {
        mFreem(h);
        res.error = r.error;
        return res;
      }
    }
    h.pkthdr!.len = want;
    res.m = h;
    res.len = want;
    return res;
  }
  const mcl = pool.mclbytes;
  while (res.len < want) {
    const rest = want - res.len;
    const k = Math.min(mclnum, Math.ceil(rest / mcl), pool.clustersAvailable(), pool.mbufsAvailable());
    const ext = k > 0 ? pool.getExt(k) : null;
    if (ext === null) {
      if (k === 0) pool.countAllocFailure();
      res.error = Errno.ENOBUFS;
      break;
    }
    const take = Math.min(rest, k * mcl);
    const r = await uiomoveIn(uio, source, ext.targets(take));
    res.requests += r.requests;
    if (r.error !== 0) {
      ext.release();
      mFreem(res.m);
      res.m = null;
      res.len = 0;
      res.error = r.error;
      return res;
    }
    const chain = ext.toChain(take, res.m === null);
    if (tail === null) res.m = chain;
    else tail.next = chain;
    tail = chain;
    while (tail.next !== null) tail = tail.next;
    res.len += take;
  }
  if (res.m !== null) res.m.pkthdr!.len = res.len;
  return res;
}

/** One extended cluster of a windowed fill and its copy in flight. */
interface WindowSlot {
  readonly ext: ExtCluster;
  readonly take: number;
  readonly copy: Promise<UioMoveResult>;
}

/**
 * {@link fillFromUio} with up to `window` copy requests outstanding: the
 * uio is split up front (one piece per extended cluster, {@link uioSplit}),
 * so each request knows its address before the earlier ones are answered;
 * the slots are settled strictly in order, so the chain is in uio order
 * whatever order the replies arrive in. A failed request stops the issuing;
 * the requests already out are awaited before their clusters are freed
 * (a late reply may still be writing into them), and what came before the
 * failure is kept, so a stream send can hand it on.
 */
async function fillWindowed(
  pool: ClusterPool,
  uio: Uio,
  source: CopySource,
  want: number,
  mclnum: number,
  window: number,
  res: FillResult,
): Promise<FillResult> {
  const mcl = pool.mclbytes;
  const start = { iovIndex: uio.iovIndex, offset: uio.offset, resid: uio.resid };
  const slots: WindowSlot[] = [];
  let issued = 0;
  let next = 0;
  let tail: Mbuf | null = null;
  let stopped = false; // no more requests: the pool ran short, or a copy failed
  let failed = false; // a copy failed: every later slot is released
  for (;;) {
    while (!stopped && issued < want && slots.length - next < window) {
      const rest = want - issued;
      const k = Math.min(mclnum, Math.ceil(rest / mcl), pool.clustersAvailable(), pool.mbufsAvailable());
      const ext = k > 0 ? pool.getExt(k) : null;
      if (ext === null) {
        if (k === 0) pool.countAllocFailure();
        res.error = Errno.ENOBUFS;
        stopped = true;
        break;
      }
      const take = Math.min(rest, k * mcl);
      const part = uioSplit(uio, take);
      slots.push({ ext, take, copy: uiomoveIn(part, source, ext.targets(take)) });
      issued += take;
    }
    if (next === slots.length) break;
    const s = slots[next++]!;
    const r = await s.copy;
    res.requests += r.requests;
    if (r.error !== 0 || failed) {
      // From the first failed copy on every slot is released; the chain before it stays.
      s.ext.release();
      if (!failed) {
        res.error = r.error;
        failed = true;
        stopped = true;
      }
      continue;
    }
    const chain = s.ext.toChain(s.take, res.m === null);
    if (tail === null) res.m = chain;
    else tail.next = chain;
    tail = chain;
    while (tail.next !== null) tail = tail.next;
    res.len += s.take;
  }
  // The uio stands just past what the chain holds (split advanced it past every request issued).
  uio.iovIndex = start.iovIndex;
  uio.offset = start.offset;
  uio.resid = start.resid;
  if (res.len > 0) uioSplit(uio, res.len);
  if (res.m !== null) res.m.pkthdr!.len = res.len;
  return res;
}

/** Options of {@link copyChainToUio}. */
export interface CopyOutOptions {
  /**
   * false: one copyout per mbuf, as NetBSD's `soreceive()` (one `uiomove`
   * per mbuf). true: one copyout for the whole span, the mbuf views passed
   * as the list of sources (no staging copy).
   */
  coalesce: boolean;
}

/**
 * The copy loop of `soreceive()`: copy chain bytes `[off, off + len)` out
 * to the caller through the uio (at most `uio.resid` bytes). The chain is
 * only read and stays the caller's.
 * @returns what was done; `error` is the copy's errno (the uio then
 *   reflects the successful requests only).
 * @throws RangeError when `[off, off + len)` passes the end of the chain or the uio is not `'read'`.
 */
export async function copyChainToUio(
  m: Mbuf | null,
  off: number,
  len: number,
  uio: Uio,
  sink: CopySink,
  opts: CopyOutOptions,
): Promise<UioMoveResult> {
  if (uio.rw !== 'read') throw new RangeError("copyChainToUio needs a uio with rw 'read'");
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > mLength(m)) {
    throw new RangeError(`copyChainToUio: ${off} + ${len} outside the chain`);
  }
  let left = Math.min(len, uio.resid);
  const views: Uint8Array[] = [];
  for (let mm = m; mm !== null && left > 0; mm = mm.next) {
    if (off >= mm.len) {
      off -= mm.len;
      continue;
    }
    const n = Math.min(mm.len - off, left);
    const s = mm.off + off;
    views.push(mm.data.subarray(s, s + n));
    left -= n;
    off = 0;
  }
  if (opts.coalesce) return uiomoveOut(uio, sink, views);
  const res: UioMoveResult = { error: 0, requests: 0, bytes: 0 };
  for (const v of views) {
    const r = await uiomoveOut(uio, sink, [v]);
    res.requests += r.requests;
    res.bytes += r.bytes;
    if (r.error !== 0) {
      res.error = r.error;
      break;
    }
  }
  return res;
}
