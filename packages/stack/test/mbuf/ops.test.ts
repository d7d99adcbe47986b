import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import {
  ClusterPool,
  M_BCAST,
  M_EXT,
  M_PKTHDR,
  MHLEN,
  MINCLSIZE,
  MLEN,
  MSIZE,
  type Mbuf,
  mAdj,
  mCat,
  mContiguous,
  mCopyback,
  mCopydata,
  mCopym,
  mDup,
  mFree,
  mFreem,
  mFromBytes,
  mGet,
  mGetcl,
  mGethdr,
  mLeadingSpace,
  mLength,
  mMakeWritable,
  mPrepend,
  mPullup,
  mSplit,
  mToBytes,
  mTrailingSpace,
  mWritable,
} from '../../src/mbuf/index.js';
import { buildChain, checkChain, pattern, type Seg } from './helpers.js';

const S = (len: number, lead = 0): Seg => ({ kind: 'small', len, lead });
const C = (len: number, lead = 0): Seg => ({ kind: 'cl', len, lead });
const SH = (len: number, lead = 0): Seg => ({ kind: 'shared', len, lead });

describe('mbuf operations', () => {
  let pool: ClusterPool;
  beforeEach(() => {
    pool = new ClusterPool({ mclbytes: 2048, nmbclusters: 64 });
  });
  afterEach(function () {
    // The leak invariant after every test that passed.
    if (this.currentTest?.state === 'passed') pool.assertAllFree();
  });

  describe('sizes', () => {
    it('derives MLEN, MHLEN and MINCLSIZE from MSIZE as BSD does', () => {
      expect(MSIZE).to.equal(256);
      expect(MLEN).to.equal(224);
      expect(MHLEN).to.equal(192);
      expect(MINCLSIZE).to.equal(MHLEN + MLEN + 1);
    });
  });

  describe('mGet / mGethdr / mGetcl / mFree / mFreem', () => {
    it('mGet gives an empty plain mbuf with MLEN bytes of room', () => {
      const m = mGet(pool)!;
      expect(m.len).to.equal(0);
      expect(m.flags & (M_PKTHDR | M_EXT)).to.equal(0);
      expect(m.pkthdr).to.equal(null);
      expect(mTrailingSpace(m)).to.equal(MLEN);
      expect(pool.stats().mbufsInUse).to.equal(1);
      expect(mFree(m)).to.equal(null);
    });

    it('mGethdr gives a packet header with MHLEN bytes, and honours headroom', () => {
      const m = mGethdr(pool, { headroom: 40 })!;
      expect(m.flags & M_PKTHDR).to.equal(M_PKTHDR);
      expect(m.pkthdr).to.deep.equal({ len: 0, rcvif: null, csumFlags: 0, segsz: 0 });
      expect(mLeadingSpace(m)).to.equal(40);
      expect(mTrailingSpace(m)).to.equal(MHLEN - 40);
      mFree(m);
      expect(() => mGethdr(pool, { headroom: MHLEN + 1 })).to.throw(RangeError);
      expect(() => mGethdr(pool, { headroom: -1 })).to.throw(RangeError);
    });

    it('mGetcl takes one cluster; freeing returns it', () => {
      const m = mGetcl(pool, { pkthdr: true, headroom: 64 })!;
      expect(m.flags & (M_EXT | M_PKTHDR)).to.equal(M_EXT | M_PKTHDR);
      expect(m.data.length).to.equal(2048);
      expect(m.off).to.equal(64);
      expect(pool.stats().clustersInUse).to.equal(1);
      expect(pool.clRefcnt(m.ext)).to.equal(1);
      mFreem(m);
      expect(pool.stats().clustersInUse).to.equal(0);
    });

    it('mGetcl returns null and takes nothing when clusters or mbufs run out', () => {
      const small = new ClusterPool({ nmbclusters: 2, nmbufs: 3 });
      const a = mGetcl(small)!;
      const b = mGetcl(small)!;
      expect(mGetcl(small)).to.equal(null); // clusters exhausted
      expect(small.stats().mbufsInUse).to.equal(2);
      const c = mGet(small)!;
      expect(mGet(small)).to.equal(null); // mbufs exhausted
      mFree(a);
      const d = mGet(small)!;
      expect(mGetcl(small)).to.equal(null); // a cluster is free but no mbuf
      expect(small.stats().clustersInUse).to.equal(1);
      expect(small.stats().allocFailures).to.equal(3);
      [b, c, d].forEach((x) => mFree(x));
      small.assertAllFree();
    });

    it('mFree returns the next mbuf, and a second free throws', () => {
      const { m } = buildChain(pool, [S(10), C(100)]);
      const next = m.next;
      expect(mFree(m)).to.equal(next);
      expect(() => mFree(m)).to.throw(Error, /double free/);
      mFreem(next);
      mFreem(null);
    });

    it('mLength sums the chain and is 0 for null', () => {
      const { m } = buildChain(pool, [S(10), C(0), C(300), S(5)]);
      expect(mLength(m)).to.equal(315);
      expect(mLength(null)).to.equal(0);
      mFreem(m);
    });
  });

  describe('mCopydata', () => {
    it('copies ranges spanning mbufs, including empty ones', () => {
      const { m, bytes } = buildChain(pool, [S(10), C(0), C(300), S(5)]);
      const out = new Uint8Array(320);
      mCopydata(m, 5, 307, out, 3);
      expect([...out.subarray(3, 310)]).to.deep.equal([...bytes.subarray(5, 312)]);
      mCopydata(m, 315, 0, out); // zero bytes at the very end is fine
      mFreem(m);
    });

    it('throws RangeError past the end of the chain or of dst', () => {
      const { m } = buildChain(pool, [S(10), C(20)]);
      expect(() => mCopydata(m, 25, 6, new Uint8Array(10))).to.throw(RangeError);
      expect(() => mCopydata(m, 31, 0, new Uint8Array(1))).to.throw(RangeError);
      expect(() => mCopydata(m, 0, 10, new Uint8Array(5))).to.throw(RangeError);
      expect(() => mCopydata(m, -1, 1, new Uint8Array(5))).to.throw(RangeError);
      mFreem(m);
    });
  });

  describe('mCopyback', () => {
    it('grows an empty header mbuf with clusters and keeps pkthdr.len', () => {
      const m = mGethdr(pool)!;
      const src = pattern(5000, 3);
      expect(mCopyback(m, 0, src)).to.equal(0);
      expect(mToBytes(m)).to.deep.equal(src);
      expect(m.pkthdr!.len).to.equal(5000);
      expect(m.len).to.equal(MHLEN); // its own area filled first
      expect(pool.stats().clustersInUse).to.equal(Math.ceil((5000 - MHLEN) / 2048));
      checkChain(m);
      mFreem(m);
    });

    it('zero-fills a gap between the end of the chain and off', () => {
      const { m, bytes } = buildChain(pool, [S(10)]);
      m.data.fill(0xee); // garbage beyond len must not leak into the gap
      m.data.set(bytes, m.off);
      expect(mCopyback(m, 1000, Uint8Array.of(1, 2, 3))).to.equal(0);
      const all = mToBytes(m);
      expect(all.length).to.equal(1003);
      expect([...all.subarray(0, 10)]).to.deep.equal([...bytes]);
      expect(all.subarray(10, 1000).every((b) => b === 0)).to.equal(true);
      expect([...all.subarray(1000)]).to.deep.equal([1, 2, 3]);
      mFreem(m);
    });

    it('overwrites in the middle without changing the length', () => {
      const { m, bytes } = buildChain(pool, [S(50), C(100), S(30)]);
      const src = pattern(120, 9);
      expect(mCopyback(m, 20, src)).to.equal(0);
      const want = Uint8Array.from(bytes);
      want.set(src, 20);
      expect(mToBytes(m)).to.deep.equal(want);
      expect(m.pkthdr!.len).to.equal(180);
      mFreem(m);
    });

    it('copies a shared cluster on write: the sharer never sees the write', () => {
      const { m, holders, bytes } = buildChain(pool, [S(10), SH(1000), SH(100)]);
      const before = holders.map((h) => mToBytes(h));
      expect(mCopyback(m, 5, new Uint8Array(600).fill(0xab))).to.equal(0);
      holders.forEach((h, i) => expect(mToBytes(h)).to.deep.equal(before[i]));
      const want = Uint8Array.from(bytes);
      want.fill(0xab, 5, 605);
      expect(mToBytes(m)).to.deep.equal(want);
      expect(mWritable(m.next!)).to.equal(true);
      holders.forEach(mFreem);
      mFreem(m);
    });

    it('returns ENOBUFS and changes nothing when the pool cannot grow the chain', () => {
      const tiny = new ClusterPool({ nmbclusters: 2 });
      const { m, bytes } = buildChain(tiny, [C(2000)]);
      const before = tiny.stats();
      expect(mCopyback(m, 100, new Uint8Array(5000))).to.equal(Errno.ENOBUFS);
      expect(mToBytes(m)).to.deep.equal(bytes);
      expect(m.next).to.equal(null);
      const after = tiny.stats();
      expect(after.clustersInUse).to.equal(before.clustersInUse);
      expect(after.allocFailures).to.equal(before.allocFailures + 1);
      mFreem(m);
      tiny.assertAllFree();
    });

    it('returns ENOBUFS when copy-on-write needs a cluster that is not there', () => {
      const tiny = new ClusterPool({ nmbclusters: 1 });
      const { m, holders, bytes } = buildChain(tiny, [SH(1000)]);
      expect(mCopyback(m, 0, Uint8Array.of(9))).to.equal(Errno.ENOBUFS);
      expect(mToBytes(m)).to.deep.equal(bytes);
      mFreem(holders[0]!);
      expect(mCopyback(m, 0, Uint8Array.of(9))).to.equal(0); // now sole owner: in place
      expect(m.data[m.off]).to.equal(9);
      mFreem(m);
      tiny.assertAllFree();
    });

    it('throws RangeError for a negative offset', () => {
      const m = mGethdr(pool)!;
      expect(() => mCopyback(m, -1, new Uint8Array(1))).to.throw(RangeError);
      mFreem(m);
    });
  });

  describe('mCopym', () => {
    it('shares clusters, copies small data, copies the header at offset 0', () => {
      const { m, bytes } = buildChain(pool, [S(40), C(1000), S(20)]);
      m.flags |= M_BCAST;
      m.pkthdr!.rcvif = 'tap0';
      const c = mCopym(m, 0)!;
      expect(mToBytes(c)).to.deep.equal(bytes);
      expect(c.pkthdr).to.deep.equal({ len: 1060, rcvif: 'tap0', csumFlags: 0, segsz: 0 });
      expect(c.flags & M_BCAST).to.equal(M_BCAST);
      expect(c.next!.ext).to.equal(m.next!.ext);
      expect(pool.clRefcnt(m.next!.ext)).to.equal(2);
      expect(mWritable(m.next!)).to.equal(false);
      expect(mWritable(c.next!)).to.equal(false);
      expect(c.data).to.not.equal(m.data); // small area copied
      checkChain(c);
      mFreem(c);
      expect(mWritable(m.next!)).to.equal(true);
      mFreem(m);
    });

    it('copies a middle range without a header', () => {
      const { m, bytes } = buildChain(pool, [S(40), C(1000), S(20)]);
      const c = mCopym(m, 30, 1020)!;
      expect(c.flags & M_PKTHDR).to.equal(0);
      expect(mToBytes(c)).to.deep.equal(bytes.subarray(30, 1050));
      mFreem(c);
      mFreem(m);
    });

    it('gives one empty mbuf for zero bytes and throws past the end', () => {
      const { m } = buildChain(pool, [S(40)]);
      const e = mCopym(m, 40, 0)!;
      expect(mLength(e)).to.equal(0);
      mFreem(e);
      const h = mCopym(m, 0, 0)!;
      expect(h.pkthdr!.len).to.equal(0);
      mFreem(h);
      expect(() => mCopym(m, 41)).to.throw(RangeError);
      expect(() => mCopym(m, 30, 11)).to.throw(RangeError);
      mFreem(m);
    });

    it('returns null and leaks nothing when mbufs run out mid-copy', () => {
      const tiny = new ClusterPool({ nmbclusters: 8, nmbufs: 5 });
      const { m } = buildChain(tiny, [C(100), C(100), C(100)]);
      expect(mCopym(m, 0)).to.equal(null);
      expect(tiny.stats().mbufsInUse).to.equal(3);
      expect(tiny.clRefcnt(m.ext)).to.equal(1);
      mFreem(m);
      tiny.assertAllFree();
    });
  });

  describe('mDup', () => {
    it('copies deeply: nothing shared, header copied', () => {
      const { m, bytes, holders } = buildChain(pool, [S(40), SH(1000), S(20), C(3)]);
      holders.forEach(mFreem); // the source's cluster was shared; the copy must not care
      m.pkthdr!.rcvif = 3;
      const d = mDup(m)!;
      expect(mToBytes(d)).to.deep.equal(bytes);
      expect(d.pkthdr).to.deep.equal({ len: 1063, rcvif: 3, csumFlags: 0, segsz: 0 });
      for (let x: Mbuf | null = d; x !== null; x = x.next) expect(mWritable(x)).to.equal(true);
      d.data[d.off] ^= 0xff;
      expect(mToBytes(m)).to.deep.equal(bytes);
      checkChain(d);
      mFreem(d);
      mFreem(m);
    });

    it('returns null with nothing taken when the pool is too small', () => {
      const tiny = new ClusterPool({ nmbclusters: 1 });
      const { m } = buildChain(tiny, [C(2000)]);
      expect(mDup(m)).to.equal(null);
      expect(tiny.stats().clustersInUse).to.equal(1);
      mFreem(m);
      tiny.assertAllFree();
    });
  });

  describe('mAdj', () => {
    it('trims the head inside and across mbufs, freeing emptied ones', () => {
      const { m, bytes } = buildChain(pool, [S(10), C(100), C(100)]);
      mAdj(m, 5);
      expect(mToBytes(m)).to.deep.equal(bytes.subarray(5));
      mAdj(m, 50);
      expect(mToBytes(m)).to.deep.equal(bytes.subarray(55));
      expect(pool.stats().clustersInUse).to.equal(2);
      mAdj(m, 60); // empties the first cluster: it goes back
      expect(mToBytes(m)).to.deep.equal(bytes.subarray(115));
      expect(pool.stats().clustersInUse).to.equal(1);
      expect(m.pkthdr!.len).to.equal(95);
      checkChain(m);
      mAdj(m, 1000); // more than there is: empty, head kept
      expect(mLength(m)).to.equal(0);
      expect(m.next).to.equal(null);
      expect(m.pkthdr!.len).to.equal(0);
      mFreem(m);
    });

    it('trims the tail and frees the mbufs past the new end', () => {
      const { m, bytes } = buildChain(pool, [S(10), C(100), C(100)]);
      mAdj(m, -150);
      expect(mToBytes(m)).to.deep.equal(bytes.subarray(0, 60));
      expect(pool.stats().clustersInUse).to.equal(1);
      expect(m.pkthdr!.len).to.equal(60);
      mAdj(m, -1000);
      expect(mLength(m)).to.equal(0);
      expect(m.next).to.equal(null);
      mAdj(m, 0);
      mFreem(m);
      expect(() => mAdj(mGet(pool)!, 0.5)).to.throw(RangeError);
      pool = new ClusterPool({ nmbclusters: 1 }); // the throwing test leaked one mbuf on purpose
    });
  });

  describe('mPullup', () => {
    it('returns the same chain when already contiguous', () => {
      const { m } = buildChain(pool, [C(100), C(100)]);
      expect(mPullup(m, 100)).to.equal(m);
      mFreem(m);
    });

    it('gathers into a writable first mbuf, moving its data to the front if needed', () => {
      const { m, bytes } = buildChain(pool, [C(10, 2030), S(30), C(100)]);
      const p = mPullup(m, 60)!;
      expect(p).to.equal(m);
      expect(p.len).to.equal(60);
      expect(mContiguous(p, 0, 60)).to.deep.equal(bytes.subarray(0, 60));
      expect(mToBytes(p)).to.deep.equal(bytes);
      checkChain(p);
      mFreem(p);
    });

    it('puts a new first mbuf in front of a read-only or too small one', () => {
      const { m, holders, bytes } = buildChain(pool, [SH(10), C(300)]);
      const p = mPullup(m, 200)!;
      expect(p).to.not.equal(m);
      expect(p.flags & M_PKTHDR).to.equal(M_PKTHDR);
      expect(p.len).to.equal(200);
      expect(mToBytes(p)).to.deep.equal(bytes);
      expect(mToBytes(holders[0]!)).to.deep.equal(bytes.subarray(0, 10));
      checkChain(p);
      mFreem(p);
      mFreem(holders[0]!);
      const s = buildChain(pool, [S(10), S(100)]);
      const q = mPullup(s.m, 110)!; // 110 bytes < MHLEN: the small head holds them
      expect(q).to.equal(s.m);
      mFreem(q);
    });

    it('frees the chain and returns null when it is too short or n > MCLBYTES', () => {
      const a = buildChain(pool, [S(10), C(30)]);
      expect(mPullup(a.m, 41)).to.equal(null);
      expect(pool.isAllFree()).to.equal(true);
      const b = buildChain(pool, [C(2048), C(2048)]);
      expect(mPullup(b.m, 2049)).to.equal(null);
      expect(pool.isAllFree()).to.equal(true);
    });

    it('frees the chain and returns null when no mbuf is left', () => {
      const tiny = new ClusterPool({ nmbclusters: 2, nmbufs: 2 });
      const { m } = buildChain(tiny, [S(10), C(300)]);
      expect(mPullup(m, MHLEN + 1)).to.equal(null); // needs a new cluster mbuf in front
      tiny.assertAllFree();
    });
  });

  describe('mPrepend', () => {
    it('uses writable leading space without a new mbuf', () => {
      const m = mGetcl(pool, { pkthdr: true, headroom: 54 })!;
      expect(mCopyback(m, 0, pattern(100))).to.equal(0);
      const p = mPrepend(m, 20)!;
      expect(p).to.equal(m);
      expect(p.off).to.equal(34);
      expect(p.pkthdr!.len).to.equal(120);
      expect(pool.stats().mbufsInUse).to.equal(1);
      mFreem(p);
    });

    it('puts a new mbuf in front when there is no room, moving the header', () => {
      const { m, bytes } = buildChain(pool, [C(100)]);
      m.flags |= M_BCAST;
      const p = mPrepend(m, 14)!;
      expect(p).to.not.equal(m);
      expect(p.flags & (M_PKTHDR | M_BCAST)).to.equal(M_PKTHDR | M_BCAST);
      expect(m.flags & M_PKTHDR).to.equal(0);
      expect(p.len).to.equal(14);
      expect(mLeadingSpace(p)).to.equal(MHLEN - 14); // data at the end: room for more
      expect(p.pkthdr!.len).to.equal(114);
      expect(mToBytes(p).subarray(14)).to.deep.equal(bytes);
      checkChain(p);
      mFreem(p);
    });

    it('does not write into the leading space of a shared cluster', () => {
      const { m, holders } = buildChain(pool, [SH(100, 60)]);
      expect(mLeadingSpace(m)).to.equal(0);
      const p = mPrepend(m, 20)!;
      expect(p).to.not.equal(m);
      mFreem(p);
      mFreem(holders[0]!);
    });

    it('uses a cluster for a prepend longer than MHLEN; throws past MCLBYTES', () => {
      const { m } = buildChain(pool, [S(10)]);
      const p = mPrepend(m, 500)!;
      expect(p.flags & M_EXT).to.equal(M_EXT);
      expect(p.pkthdr!.len).to.equal(510);
      expect(() => mPrepend(p, 2049)).to.throw(RangeError);
      mFreem(p);
    });

    it('frees the chain and returns null when no mbuf is left', () => {
      const tiny = new ClusterPool({ nmbclusters: 2, nmbufs: 1 });
      const { m } = buildChain(tiny, [C(10)]);
      expect(mPrepend(m, 20)).to.equal(null);
      tiny.assertAllFree();
    });
  });

  describe('mCat', () => {
    it('copies small data into trailing space and links clusters; pkthdr.len follows', () => {
      const a = buildChain(pool, [S(10)], 1);
      const b = buildChain(pool, [S(20), C(1000)], 2);
      mCat(a.m, b.m);
      expect(a.m.len).to.equal(30); // b's first mbuf fit and was merged
      expect(a.m.next!.flags & M_EXT).to.equal(M_EXT);
      expect(a.m.pkthdr!.len).to.equal(1030);
      expect(mToBytes(a.m)).to.deep.equal(Uint8Array.from([...a.bytes, ...b.bytes]));
      checkChain(a.m);
      mCat(a.m, null);
      mFreem(a.m);
    });

    it('links without copying when the tail is a shared cluster', () => {
      const a = buildChain(pool, [SH(10)], 1);
      const b = buildChain(pool, [S(5)], 2);
      mCat(a.m, b.m);
      expect(a.m.next).to.equal(b.m);
      expect(b.m.pkthdr).to.equal(null);
      checkChain(a.m);
      mFreem(a.m);
      mFreem(a.holders[0]!);
    });
  });

  describe('mSplit', () => {
    it('splits inside a cluster by sharing it', () => {
      const { m, bytes } = buildChain(pool, [S(10), C(1000), S(20)]);
      m.pkthdr!.rcvif = 'tap0';
      const t = mSplit(m, 510)!;
      expect(mToBytes(m)).to.deep.equal(bytes.subarray(0, 510));
      expect(mToBytes(t)).to.deep.equal(bytes.subarray(510));
      expect(t.pkthdr).to.deep.equal({ len: 520, rcvif: 'tap0', csumFlags: 0, segsz: 0 });
      expect(m.pkthdr!.len).to.equal(510);
      expect(t.ext).to.equal(m.next!.ext);
      expect(pool.clRefcnt(t.ext)).to.equal(2);
      checkChain(m);
      checkChain(t);
      mFreem(t);
      mFreem(m);
    });

    it('splits inside a small mbuf by copying, and at the ends', () => {
      const { m, bytes } = buildChain(pool, [S(100), S(200)]);
      const t = mSplit(m, 150)!;
      expect(mToBytes(t)).to.deep.equal(bytes.subarray(150));
      expect(t.len).to.equal(150); // more than MHLEN: its area was sized to fit
      checkChain(t);
      const e = mSplit(m, 150)!; // at the end: an empty header mbuf
      expect(mLength(e)).to.equal(0);
      expect(e.pkthdr!.len).to.equal(0);
      const all = mSplit(m, 0)!; // at 0: everything moves
      expect(mToBytes(all)).to.deep.equal(bytes.subarray(0, 150));
      expect(mLength(m)).to.equal(0);
      [t, e, all, m].forEach(mFreem);
    });

    it('unlinks at an mbuf boundary of a chain without header', () => {
      const { m, bytes } = buildChain(pool, [C(100), C(100)]);
      const mid = mCopym(m, 0, 200)!;
      const noHdr = mCopym(m, 1, 199)!; // no header
      const t = mSplit(noHdr, 99)!;
      expect(t.flags & M_PKTHDR).to.equal(0);
      expect(mToBytes(t)).to.deep.equal(bytes.subarray(100));
      expect(() => mSplit(m, 201)).to.throw(RangeError);
      [m, mid, noHdr, t].forEach(mFreem);
    });

    it('returns null and leaves the chain as it was when no mbuf is left', () => {
      const tiny = new ClusterPool({ nmbclusters: 2, nmbufs: 1 });
      const { m, bytes } = buildChain(tiny, [C(100)]);
      expect(mSplit(m, 50)).to.equal(null);
      expect(mToBytes(m)).to.deep.equal(bytes);
      expect(m.pkthdr!.len).to.equal(100);
      mFreem(m);
      tiny.assertAllFree();
    });
  });

  describe('mContiguous', () => {
    it('returns a view aliasing the storage when the range is in one mbuf', () => {
      const { m, bytes } = buildChain(pool, [S(10), C(100)]);
      const v = mContiguous(m, 12, 50)!;
      expect(v).to.deep.equal(bytes.subarray(12, 62));
      expect(v.buffer).to.equal(pool.slab); // no copy
      v[0] = 0;
      expect(m.next!.data[m.next!.off + 2]).to.equal(0);
      expect(mContiguous(m, 5, 10)).to.equal(null); // spans two mbufs
      expect(mContiguous(m, 110, 0)!.length).to.equal(0);
      expect(() => mContiguous(m, 100, 11)).to.throw(RangeError);
      expect(() => mContiguous(m, 111, 0)).to.throw(RangeError);
      mFreem(m);
    });
  });

  describe('mFromBytes / mToBytes', () => {
    for (const n of [0, 1, MHLEN, MHLEN + 1, 1500, 2048, 2048 + MLEN, 2048 + MLEN + 1, 9000]) {
      it(`round-trips ${n} bytes`, () => {
        const src = pattern(n, n);
        const m = mFromBytes(pool, src, { rcvif: 'tap0' })!;
        expect(mToBytes(m)).to.deep.equal(src);
        expect(m.pkthdr).to.deep.equal({ len: n, rcvif: 'tap0', csumFlags: 0, segsz: 0 });
        checkChain(m);
        if (n > 0) expect(mToBytes(m, 1)).to.deep.equal(src.subarray(1));
        mFreem(m);
      });
    }

    it('leaves headroom for headers', () => {
      const m = mFromBytes(pool, pattern(1000), { headroom: 54 })!;
      expect(mLeadingSpace(m)).to.equal(54);
      const p = mPrepend(m, 54)!;
      expect(p).to.equal(m);
      mFreem(p);
      expect(mToBytes(null)).to.deep.equal(new Uint8Array(0));
      expect(() => mToBytes(null, 1)).to.throw(RangeError);
    });

    it('returns null with nothing taken when the pool is too small', () => {
      const tiny = new ClusterPool({ nmbclusters: 2 });
      expect(mFromBytes(tiny, new Uint8Array(5000))).to.equal(null);
      tiny.assertAllFree();
      expect(tiny.stats().allocFailures).to.equal(1);
    });
  });

  describe('mMakeWritable and the space helpers', () => {
    it('replaces shared clusters in the range by private copies', () => {
      const { m, holders, bytes } = buildChain(pool, [SH(100, 16), SH(1000)]);
      expect(mLeadingSpace(m)).to.equal(0);
      expect(mTrailingSpace(m)).to.equal(0);
      expect(mMakeWritable(m, 0, 50)).to.equal(0);
      expect(mWritable(m)).to.equal(true);
      expect(mWritable(m.next!)).to.equal(false);
      expect(mLeadingSpace(m)).to.equal(16);
      expect(mMakeWritable(m, 0, 1100)).to.equal(0);
      expect(mWritable(m.next!)).to.equal(true);
      expect(mToBytes(m)).to.deep.equal(bytes);
      expect(() => mMakeWritable(m, 0, 1101)).to.throw(RangeError);
      holders.forEach(mFreem);
      mFreem(m);
    });
  });
});
