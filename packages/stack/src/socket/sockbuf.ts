/**
 * Socket buffers (`struct sockbuf`, NetBSD `sys/kern/uipc_socket2.c`): the
 * queue of data a socket holds for its user (receive) or for its protocol
 * (send; TCP keeps unacknowledged data there and retransmits from it).
 *
 * Two shapes, as in BSD:
 * - a **stream** buffer is one byte stream: one mbuf chain, appended at the
 *   tail (`sbappendstream`) and dropped from the head (`sbdrop`);
 * - a **record** buffer holds datagrams: a queue of records (BSD links them
 *   through `m_nextpkt`; here each record is an {@link SbRecord} carrying
 *   its chain and its sender's address — BSD's leading `MT_SONAME` mbuf),
 *   appended with `sbappendaddr`/`sbappendrecord`, taken whole.
 *
 * Accounting follows `sballoc`/`sbfree`: `cc` counts data bytes and
 * `mbcnt` the storage behind them (MSIZE per mbuf, plus the cluster size
 * for each cluster mbuf, plus MSIZE per record for the address), so a flood
 * of tiny datagrams each holding a whole cluster is bounded by `mbmax`
 * before it can drain the cluster pool. Unlike BSD, `cc` excludes the
 * address, so `FIONREAD` and `SO_RCVLOWAT` count payload only.
 *
 * Ownership: every append takes ownership of the chain given (on failure
 * it is freed, so the caller never frees after an append); drops free.
 *
 * @module
 */
import { M_EXT, MSIZE, Mbuf, mCopydata, mCopymAt, mFree, mFreem } from '../mbuf/index.js';
import type { Sockaddr } from './sockaddr.js';
import { SleepLock, WaitQueue } from './wait.js';

/** Storage charged to a socket buffer for one mbuf (`sballoc`). */
function mbufCharge(m: Mbuf): number {
  return (m.flags & M_EXT) !== 0 ? MSIZE + m.data.length : MSIZE;
}

/** One record of a datagram socket buffer (BSD: a chain on the `m_nextpkt` list). */
export class SbRecord {
  /** Next record (`m_nextpkt` of the record's first mbuf). */
  next: SbRecord | null = null;
  /** The data, or null for a zero-length datagram. Owned by the socket buffer. */
  m: Mbuf | null;
  /** Data bytes in {@link SbRecord.m}. */
  len: number;
  /** The sender (`sbappendaddr`), or null (`sbappendrecord`). */
  addr: Sockaddr | null;
  /** @internal Storage charged for this record, returned when it is dropped. */
  charge: number;

  /** @internal Made by the {@link SockBuf} append functions. */
  constructor(m: Mbuf | null, len: number, addr: Sockaddr | null, charge: number) {
    this.m = m;
    this.len = len;
    this.addr = addr;
    this.charge = charge;
  }
}

/**
 * An account that socket-buffer storage is charged to: one per owner (a
 * rump server's client), shared by the send and receive buffers of all its
 * sockets. FreeBSD charges reservations per uid (`chgsbsize()` against
 * `RLIMIT_SBSIZE`); here the storage actually held is charged — every change
 * of a buffer's `sb_mbcnt` moves {@link SbAccount.used} by as much — so
 * idle sockets cost nothing and 10 000 of them need no quota. The owner adds
 * storage it holds outside any buffer (clusters waiting for a copyin) by
 * changing `used` itself.
 *
 * {@link SockBuf.space} counts the account's headroom, so a receiver whose
 * owner is at its limit advertises no more window and a datagram to it is
 * dropped (`fullsock`); `sosend` fails with ENOBUFS. Data already in flight
 * inside a window advertised earlier is still accepted (a window is never
 * taken back, RFC 9293 §3.8.6.2.2), so `used` may pass `limit` by that much.
 */
export interface SbAccount {
  /** Storage charged now, bytes (MSIZE per mbuf plus the cluster size per cluster, as `sb_mbcnt`). */
  used: number;
  /** Most storage the owner may hold, bytes. */
  readonly limit: number;
  /**
   * Send buffers whose blocking senders wait for this account to drain
   * (`sosend` adds them; any buffer of the account giving storage back wakes
   * them all and empties the set). Made by the stack when first needed.
   */
  drainWaiters?: Set<SockBuf>;
}

/** Wake every sender waiting for `a` to drain (see {@link SbAccount.drainWaiters}). */
function wakeDrainWaiters(a: SbAccount): void {
  const w = a.drainWaiters!;
  const all = [...w];
  w.clear();
  for (const sb of all) sb.wq.wakeAll();
}

/** Statistics a socket buffer keeps (for `netstat` and tests). */
export interface SockBufStats {
  cc: number;
  hiwat: number;
  lowat: number;
  mbcnt: number;
  mbmax: number;
  records: number;
}

/**
 * A socket buffer. The socket owns two (`so_rcv`, `so_snd`); protocols append
 * to the receive one and read/drop the send one.
 */
export class SockBuf {
  /** Data bytes held (`sb_cc`). */
  cc = 0;
  /** High-water mark: the buffer's size (`sb_hiwat`, `SO_RCVBUF`/`SO_SNDBUF`). */
  hiwat = 0;
  /** Low-water mark (`sb_lowat`, `SO_RCVLOWAT`/`SO_SNDLOWAT`). */
  lowat = 0;
  /** @internal Storage charged; read and written through {@link SockBuf.mbcnt}. */
  private mbcntValue = 0;
  /** The account this buffer's storage is also charged to, or null (see {@link SockBuf.setAccount}). */
  account: SbAccount | null = null;
  /** Most storage allowed (`sb_mbmax`, twice `hiwat` capped by `kern.sbmax`). */
  mbmax = 0;
  /**
   * The protocol may size this buffer itself (`SB_AUTOSIZE`): set by TCP
   * for a buffer it gave its default size, cleared when the user sizes it
   * (`SO_SNDBUF`/`SO_RCVBUF`) or a growth is refused.
   */
  autosize = false;
  /** The size autosizing started from, and shrinks back toward under memory pressure (bytes). */
  autoBase = 0;
  /** Timeout for blocking waits in ms, 0 = none (`SO_RCVTIMEO`/`SO_SNDTIMEO`). */
  timeoutMs = 0;
  /** Sleepers waiting for data or space (`sbwait`). */
  readonly wq = new WaitQueue();
  /** Serialises senders / receivers (`sblock`). */
  readonly lock = new SleepLock();
  /** First record (stream buffers have at most one). */
  first: SbRecord | null = null;
  /** Last record. */
  last: SbRecord | null = null;
  /** Number of records. */
  records = 0;
  /** @internal Last mbuf of the last record's chain, for O(1) stream appends. */
  private mtail: Mbuf | null = null;
  /**
   * @internal Seek hint for stream reads (FreeBSD's `sb_sndptr` /
   * `sb_sndptroff`): an mbuf of the stream and the stream offset of its
   * first byte. TCP copies consecutive slices of a send buffer of hundreds
   * of clusters; starting each walk here instead of at the head keeps that
   * linear. Dropping bytes shifts the offset; a hint whose mbuf may have
   * been trimmed or freed (offset gone negative) is forgotten.
   */
  private hintM: Mbuf | null = null;
  private hintOff = 0;

  /**
   * The head of the first record's chain (`sb_mb`): for a stream buffer the
   * whole stream, which TCP reads with `mCopym(sb.mb, off, len)` to
   * (re)transmit. Owned by the buffer: do not free or modify.
   */
  get mb(): Mbuf | null {
    return this.first === null ? null : this.first.m;
  }

  /**
   * Storage charged (`sb_mbcnt`). Every change is charged to the buffer's
   * {@link SockBuf.account} too, so nothing that holds storage in a socket
   * buffer can escape its owner's quota.
   */
  get mbcnt(): number {
    return this.mbcntValue;
  }
  set mbcnt(v: number) {
    const a = this.account;
    const was = this.mbcntValue;
    this.mbcntValue = v;
    if (a !== null) {
      a.used += v - was;
      if (v < was && a.drainWaiters !== undefined && a.drainWaiters.size > 0) wakeDrainWaiters(a);
    }
  }

  /**
   * Charge this buffer to `account` from now on (null: to nobody): what it
   * holds moves from the old account to the new one.
   */
  setAccount(account: SbAccount | null): void {
    if (this.account !== null) this.account.used -= this.mbcntValue;
    this.account = account;
    if (account !== null) account.used += this.mbcntValue;
  }

  /** Headroom left in the buffer's account (Infinity without one), never negative. */
  accountRoom(): number {
    const a = this.account;
    return a === null ? Infinity : Math.max(0, a.limit - a.used);
  }

  /**
   * Room left (`sbspace`): the smaller of bytes and storage left, and of
   * the account's headroom, never negative.
   */
  space(): number {
    const own = Math.min(this.hiwat - this.cc, this.mbmax - this.mbcnt);
    const a = this.account;
    return Math.max(0, a === null ? own : Math.min(own, a.limit - a.used));
  }

  /**
   * Set the buffer's size (`sbreserve`): `hiwat = cc`, `mbmax =
   * min(2 * cc, sbmax)`, low-water mark clamped to it.
   * @param sbmax the `kern.sbmax` limit on storage.
   * @returns false (nothing changed) when `cc` is 0 or larger than `sbmax`
   *   allows once mbuf overhead is counted (`sbmax * MCLBYTES / (MSIZE + MCLBYTES)`).
   */
  reserve(cc: number, sbmax: number, mclbytes: number): boolean {
    if (!Number.isInteger(cc) || cc <= 0) return false;
    if (cc > Math.floor((sbmax * mclbytes) / (MSIZE + mclbytes))) return false;
    this.hiwat = cc;
    this.mbmax = Math.min(cc * 2, sbmax);
    if (this.lowat > this.hiwat) this.lowat = this.hiwat;
    return true;
  }

  /**
   * Shrink an autosized buffer back toward {@link SockBuf.autoBase}, never
   * below what it holds (`sbreserve` with a smaller size: FreeBSD gives an
   * autosized buffer's growth back the same way when it no longer needs it).
   * @returns the bytes of `hiwat` given back (0: nothing to give).
   */
  shrinkToBase(sbmax: number, mclbytes: number): number {
    const to = Math.max(this.autoBase, this.cc);
    if (!this.autosize || to >= this.hiwat) return 0;
    const was = this.hiwat;
    return this.reserve(to, sbmax, mclbytes) ? was - this.hiwat : 0;
  }

  /**
   * Append stream data to the end of the single record (`sbappendstream`,
   * with `sbcompress`'s merging of small data into the tail's free space).
   * Takes ownership of `m`. Never fails: stream protocols check space first
   * (TCP's window guarantees it); a chain beyond `hiwat` is still kept.
   */
  appendStream(m: Mbuf | null): void {
    if (m === null) return;
    if (this.first === null) {
      this.first = this.last = new SbRecord(null, 0, null, 0);
      this.records = 1;
    }
    const rec = this.last!;
    let n: Mbuf | null = m;
    while (n !== null) {
      const next: Mbuf | null = n.next;
      n.next = null;
      n.nextPkt = null;
      if (n.len === 0) {
        mFree(n);
        n = next;
        continue;
      }
      const t = this.mtail;
      // sbcompress: copy small data into the tail's writable room instead of
      // keeping another mbuf (only plain mbufs: never write a shared cluster).
      if (
        t !== null &&
        (t.flags & M_EXT) === 0 &&
        (n.flags & M_EXT) === 0 &&
        t.data.length - t.off - t.len >= n.len
      ) {
        t.data.set(n.data.subarray(n.off, n.off + n.len), t.off + t.len);
        t.len += n.len;
        rec.len += n.len;
        this.cc += n.len;
        mFree(n);
      } else {
        if (t === null) rec.m = n;
        else t.next = n;
        this.mtail = n;
        const c = mbufCharge(n);
        rec.charge += c;
        this.mbcnt += c;
        rec.len += n.len;
        this.cc += n.len;
      }
      n = next;
    }
  }

  /**
   * Append a datagram with its sender's address as a new record
   * (`sbappendaddr`). Takes ownership of `m` (may be null for a zero-length
   * datagram).
   * @returns false when the record does not fit {@link SockBuf.space} — the
   *   chain has then been freed and the caller counts the drop (UDP's
   *   `fullsock`).
   */
  appendAddr(from: Sockaddr | null, m: Mbuf | null, len: number): boolean {
    let charge = MSIZE;
    for (let n = m; n !== null; n = n.next) charge += mbufCharge(n);
    if (len > this.hiwat - this.cc || charge > this.mbmax - this.mbcnt || charge > this.accountRoom()) {
      mFreem(m);
      return false;
    }
    this.linkRecord(new SbRecord(m, len, from, charge));
    return true;
  }

  /**
   * Append a record without an address (`sbappendrecord`, for record
   * protocols without `PR_ADDR`). Takes ownership; never fails (the caller
   * checked space).
   */
  appendRecord(m: Mbuf | null, len: number): void {
    let charge = MSIZE;
    for (let n = m; n !== null; n = n.next) charge += mbufCharge(n);
    this.linkRecord(new SbRecord(m, len, null, charge));
  }

  private linkRecord(r: SbRecord): void {
    this.hintM = null;
    if (this.last === null) this.first = r;
    else this.last.next = r;
    this.last = r;
    this.records++;
    this.cc += r.len;
    this.mbcnt += r.charge;
    let t = r.m;
    while (t !== null && t.next !== null) t = t.next;
    this.mtail = t;
  }

  /**
   * Drop `len` bytes from the front (`sbdrop`): across records for record
   * buffers (a record emptied is removed), from the stream otherwise.
   * Freed mbufs go back to the pool.
   * @throws RangeError when `len` exceeds `cc` (a protocol bug, as BSD panics).
   */
  drop(len: number): void {
    if (!Number.isInteger(len) || len < 0 || len > this.cc) {
      throw new RangeError(`sbdrop: ${len} bytes from a buffer holding ${this.cc}`);
    }
    if (this.hintM !== null) {
      this.hintOff -= len;
      if (this.hintOff < 0) this.hintM = null;
    }
    let left = len;
    while (left > 0 && this.first !== null) {
      const r = this.first;
      if (r.len <= left) {
        left -= r.len;
        this.dropRecord();
        continue;
      }
      // Partial: trim the head of this record's chain (r.len > left, so
      // the chain keeps at least one byte and the tail pointer stays valid).
      while (left > 0 && r.m !== null) {
        const m: Mbuf = r.m;
        if (m.len <= left) {
          left -= m.len;
          r.len -= m.len;
          this.cc -= m.len;
          const c = mbufCharge(m);
          r.charge -= c;
          this.mbcnt -= c;
          r.m = mFree(m);
        } else {
          m.off += left;
          m.len -= left;
          r.len -= left;
          this.cc -= left;
          left = 0;
        }
      }
    }
  }

  /** Remove and free the first record (`sbdroprecord`). No-op when empty. */
  dropRecord(): void {
    const r = this.first;
    if (r === null) return;
    this.hintM = null;
    this.first = r.next;
    if (this.first === null) {
      this.last = null;
      this.mtail = null;
    }
    this.records--;
    this.cc -= r.len;
    this.mbcnt -= r.charge;
    mFreem(r.m);
    r.m = null;
    r.next = null;
  }

  /**
   * Unlink the first record without freeing it; the caller owns its chain
   * (soreceive takes a datagram this way). Null when empty.
   */
  takeRecord(): SbRecord | null {
    const r = this.first;
    if (r === null) return null;
    this.hintM = null;
    this.first = r.next;
    if (this.first === null) {
      this.last = null;
      this.mtail = null;
    }
    this.records--;
    this.cc -= r.len;
    this.mbcnt -= r.charge;
    r.next = null;
    return r;
  }

  /**
   * Share `len` stream bytes from offset `off` as a new chain (`m_copym` of
   * `sb_mb`, through the seek hint): clusters by reference, small mbufs
   * copied. The chain is the caller's. Null when the pool is exhausted.
   * @throws RangeError when `off + len` passes `cc`.
   */
  copym(off: number, len: number): Mbuf | null {
    const m = this.seekStream(off, len);
    return mCopymAt(this.poolOf(), m, this.seekRest, len);
  }

  /**
   * Copy `len` stream bytes from offset `off` into `dst` at `dstOff`
   * (`m_copydata` of `sb_mb`, through the seek hint).
   * @throws RangeError when `off + len` passes `cc` or `dst`.
   */
  copydata(off: number, len: number, dst: Uint8Array, dstOff: number): void {
    const m = this.seekStream(off, len);
    if (m === null) {
      if (len > 0) throw new RangeError(`sockbuf copydata: ${off} + ${len} past ${this.cc}`);
      return;
    }
    // m_copydata from inside the found mbuf: offset seekRest into the chain from m.
    mCopydata(m, this.seekRest, len, dst, dstOff);
  }

  /** @internal Offset inside the mbuf {@link seekStream} returned. */
  private seekRest = 0;

  private poolOf(): Mbuf['pool'] {
    return this.first!.m!.pool;
  }

  /**
   * @internal The mbuf holding stream byte `off` (offset inside it in
   * `seekRest`), starting from the hint when it lies at or before `off`;
   * leaves the hint there.
   */
  private seekStream(off: number, len: number): Mbuf | null {
    if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > this.cc || this.first === null || this.first.m === null) {
      throw new RangeError(`sockbuf: ${off} + ${len} outside a stream of ${this.cc} bytes`);
    }
    let m: Mbuf | null;
    let base: number;
    if (this.hintM !== null && this.hintOff <= off) {
      m = this.hintM;
      base = this.hintOff;
    } else {
      m = this.first.m;
      base = 0;
    }
    // Bounded by the chain's length.
    while (m !== null && off - base >= m.len && m.next !== null) {
      base += m.len;
      m = m.next;
    }
    this.hintM = m;
    this.hintOff = base;
    this.seekRest = off - base;
    return m;
  }

  /**
   * Times {@link flush} ran. A reader that copies out across an await
   * (`soreceive`) compares it before and after: bytes it copied from a
   * buffer flushed meanwhile (`shutdown(SHUT_RD)`) are gone already and
   * must not be dropped a second time.
   */
  flushes = 0;

  /** Free everything (`sbflush`). */
  flush(): void {
    this.flushes++;
    while (this.first !== null) this.dropRecord();
  }

  /** A snapshot of the counters. */
  stats(): SockBufStats {
    return {
      cc: this.cc,
      hiwat: this.hiwat,
      lowat: this.lowat,
      mbcnt: this.mbcnt,
      mbmax: this.mbmax,
      records: this.records,
    };
  }
}
