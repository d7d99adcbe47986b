import { expect } from 'chai';
import fc from 'fast-check';
import {
  ClusterPool,
  M_EXT,
  M_PKTHDR,
  type Mbuf,
  mCopym,
  mFree,
  mFreem,
  mFromBytes,
  mGet,
  mGetcl,
  mGethdr,
  mLength,
  mSplit,
  mToBytes,
} from '../../src/mbuf/index.js';
import { clustersHeld, mbufsHeld, pattern } from './helpers.js';

describe('ClusterPool', () => {
  describe('configuration', () => {
    it('refuses any MCLBYTES but 2048 and 4096 with a clear message', () => {
      expect(() => new ClusterPool({ mclbytes: 3000, nmbclusters: 4 })).to.throw(
        RangeError,
        'MCLBYTES must be 2048 or 4096, got 3000',
      );
      expect(() => new ClusterPool({ mclbytes: 1024, nmbclusters: 4 })).to.throw(RangeError);
      expect(new ClusterPool({ mclbytes: 4096, nmbclusters: 4 }).mclbytes).to.equal(4096);
      expect(new ClusterPool({ nmbclusters: 4 }).mclbytes).to.equal(2048);
    });

    it('refuses bad nmbclusters, mclnum and nmbufs', () => {
      expect(() => new ClusterPool({ nmbclusters: 0 })).to.throw(RangeError);
      expect(() => new ClusterPool({ nmbclusters: 1.5 })).to.throw(RangeError);
      expect(() => new ClusterPool({ nmbclusters: 4, mclnum: 0 })).to.throw(RangeError, /MCLNUM/);
      expect(() => new ClusterPool({ nmbclusters: 4, mclnum: 65 })).to.throw(RangeError, /MCLNUM/);
      expect(() => new ClusterPool({ nmbclusters: 4, nmbufs: 0 })).to.throw(RangeError);
    });

    it('allocates one slab and makes clusters views of it', () => {
      const pool = new ClusterPool({ mclbytes: 4096, nmbclusters: 8 });
      expect(pool.bytes.length).to.equal(8 * 4096);
      // WebAssembly memory (the checksum's fast path) comes in 64 KiB pages.
      expect(pool.slab.byteLength).to.be.within(8 * 4096, 8 * 4096 + 65535);
      const m = mGetcl(pool)!;
      expect(m.data.buffer).to.equal(pool.slab);
      expect(m.data.byteOffset % 4096).to.equal(0);
      expect(m.data.length).to.equal(4096);
      mFree(m);
      pool.assertAllFree();
    });
  });

  describe('statistics', () => {
    it('counts clusters, mbufs, peaks, failures and drops like netstat -m', () => {
      const pool = new ClusterPool({ nmbclusters: 3, mclnum: 4 });
      const a = mGetcl(pool)!;
      const b = mGetcl(pool)!;
      const s = mGet(pool)!;
      mFree(a);
      pool.countDrop();
      expect(pool.getExt(3)).to.equal(null);
      expect(pool.stats()).to.deep.equal({
        mclbytes: 2048,
        mclnum: 4,
        clustersTotal: 3,
        clustersInUse: 1,
        clustersFree: 2,
        clustersPeak: 2,
        mbufsInUse: 2,
        mbufsPeak: 3,
        mbufsLimit: 2 * 3 + 256,
        allocFailures: 1,
        drops: 1,
        extGets: 0,
        extContiguous: 0,
        pressure: 0,
        pressureEntered: 0,
        reserve: 0,
        mbufReserve: 0,
        pressureHiwat: 3,
        pressureLowat: 3,
        reserveDenied: 0,
        reserveUsed: 0,
      });
      expect(pool.isAllFree()).to.equal(false);
      expect(() => pool.assertAllFree()).to.throw(Error, /1 cluster\(s\) and 2 mbuf\(s\)/);
      mFree(b);
      mFree(s);
      expect(pool.isAllFree()).to.equal(true);
    });
  });

  describe('reserve and memory pressure', () => {
    it('keeps the reserve for allocations allowed to use it (the receive path)', () => {
      const pool = new ClusterPool({ nmbclusters: 10, reserve: 3 });
      const held: Mbuf[] = [];
      for (let i = 0; i < 7; i++) held.push(mGetcl(pool)!);
      expect(mGetcl(pool), 'only the reserve is left').to.equal(null);
      expect(pool.getExt(1)).to.equal(null);
      expect(pool.clustersAvailable()).to.equal(0);
      expect(pool.clustersAvailable(true)).to.equal(3);
      const rx = mFromBytes(pool, new Uint8Array(1500), { reserve: true });
      expect(rx, 'a received frame still gets in').to.not.equal(null);
      expect(pool.stats()).to.include({ reserveDenied: 2, reserveUsed: 1 });
      mFreem(rx);
      for (const m of held) mFree(m);
      pool.assertAllFree();
    });

    it('keeps an mbuf reserve for the receive path and control segments', () => {
      const pool = new ClusterPool({ nmbclusters: 8, nmbufs: 10, mbufReserve: 2 });
      const held: Mbuf[] = [];
      for (let i = 0; i < 8; i++) held.push(mGet(pool)!);
      expect(mGet(pool), 'only the reserve is left').to.equal(null);
      expect(mGetcl(pool)).to.equal(null);
      expect(pool.mbufsAvailable()).to.equal(0);
      expect(pool.mbufsAvailable(true)).to.equal(2);
      const ack = mGethdr(pool, { reserve: true });
      expect(ack, 'an ACK header still gets an mbuf').to.not.equal(null);
      const rx = mFromBytes(pool, new Uint8Array(100), { reserve: true });
      expect(rx, 'a small received frame too').to.not.equal(null);
      expect(mGethdr(pool, { reserve: true }), 'the reserve is finite').to.equal(null);
      expect(pool.stats().reserveDenied).to.equal(2);
      mFree(ack!);
      mFreem(rx);
      for (const m of held) mFree(m);
      pool.assertAllFree();
    });

    it('enters pressure at the high watermark and leaves it only at the low one (hysteresis)', () => {
      const pool = new ClusterPool({ nmbclusters: 16, pressureHiwat: 12, pressureLowat: 8 });
      const held: Mbuf[] = [];
      for (let i = 0; i < 11; i++) held.push(mGetcl(pool)!);
      expect(pool.underPressure).to.equal(false);
      held.push(mGetcl(pool)!);
      expect(pool.underPressure).to.equal(true);
      for (let i = 0; i < 3; i++) mFree(held.pop()!);
      expect(pool.underPressure, '9 in use: still above the low watermark').to.equal(true);
      mFree(held.pop()!);
      expect(pool.underPressure).to.equal(false);
      expect(pool.stats()).to.include({ pressure: 0, pressureEntered: 1 });
      pool.setPressureLimits({ pressureHiwat: 4 });
      expect(pool.underPressure, 'lowering the watermark applies at once').to.equal(true);
      expect(pool.pressureLimits).to.deep.equal({ reserve: 0, mbufReserve: 0, pressureHiwat: 4, pressureLowat: 4 });
      for (const m of held) mFree(m);
      expect(pool.underPressure).to.equal(false);
      pool.assertAllFree();
    });
  });

  describe('extended clusters', () => {
    it('takes a contiguous run when one is free: one view for one batched copy', () => {
      const pool = new ClusterPool({ nmbclusters: 32, mclnum: 16 });
      const ext = pool.getExt()!;
      expect(ext.n).to.equal(16);
      expect(ext.capacity).to.equal(16 * 2048);
      expect(ext.run).to.not.equal(null);
      expect(ext.run!.length).to.equal(16 * 2048);
      for (let k = 1; k < 16; k++) expect(ext.clusters[k]).to.equal(ext.clusters[0]! + k);
      expect(ext.targets(5000)).to.have.length(1);
      expect(pool.stats().mbufsInUse).to.equal(16); // reserved for toChain
      const src = pattern(5000);
      ext.targets(5000)[0]!.set(src);
      const m = ext.toChain(5000, true);
      expect(m.flags & (M_PKTHDR | M_EXT)).to.equal(M_PKTHDR | M_EXT);
      expect(m.pkthdr!.len).to.equal(5000);
      expect(mbufsHeld([m])).to.equal(3);
      expect([m.len, m.next!.len, m.next!.next!.len]).to.deep.equal([2048, 2048, 904]);
      expect(mToBytes(m)).to.deep.equal(src);
      // Unused clusters and reserved mbufs went back at once.
      expect(pool.stats().clustersInUse).to.equal(3);
      expect(pool.stats().mbufsInUse).to.equal(3);
      expect(() => ext.toChain(1)).to.throw(Error, /already/);
      mFreem(m);
      pool.assertAllFree();
      expect(pool.stats().extContiguous).to.equal(1);
    });

    it('falls back to scattered clusters when no run is free, still n views in order', () => {
      const pool = new ClusterPool({ nmbclusters: 8 });
      const held: Mbuf[] = [];
      for (let i = 0; i < 8; i++) held.push(mGetcl(pool)!);
      for (let i = 0; i < 8; i += 2) mFree(held[i]!); // free 0, 2, 4, 6
      const ext = pool.getExt(4)!;
      expect(ext.run).to.equal(null);
      const t = ext.targets(3 * 2048 + 10);
      expect(t.map((v) => v.length)).to.deep.equal([2048, 2048, 2048, 10]);
      const src = pattern(3 * 2048 + 10, 5);
      let p = 0;
      for (const v of t) {
        v.set(src.subarray(p, p + v.length));
        p += v.length;
      }
      const m = ext.toChain(src.length);
      expect(mToBytes(m)).to.deep.equal(src);
      expect(m.flags & M_PKTHDR).to.equal(0);
      mFreem(m);
      for (let i = 1; i < 8; i += 2) mFree(held[i]!);
      pool.assertAllFree();
    });

    it('returns null and takes nothing when too few clusters or mbufs are free', () => {
      const pool = new ClusterPool({ nmbclusters: 4, nmbufs: 6 });
      const a = mGetcl(pool)!;
      expect(pool.getExt(4)).to.equal(null);
      const smalls = [mGet(pool)!, mGet(pool)!, mGet(pool)!];
      expect(pool.getExt(3)).to.equal(null); // 3 clusters free, 2 mbufs
      expect(pool.stats().clustersInUse).to.equal(1);
      expect(pool.stats().allocFailures).to.equal(2);
      smalls.forEach((s) => mFree(s));
      const e = pool.getExt(3)!;
      e.release();
      e.release(); // idempotent
      mFree(a);
      pool.assertAllFree();
      expect(() => pool.getExt(0)).to.throw(RangeError);
      expect(() => pool.getExt(65)).to.throw(RangeError);
    });

    it('finds a run that straddles the search hint and wraps at the slab end', () => {
      const pool = new ClusterPool({ nmbclusters: 6 });
      const e1 = pool.getExt(4)!; // 0..3, hint -> 4
      expect([...e1.clusters]).to.deep.equal([0, 1, 2, 3]);
      const e2 = pool.getExt(2)!; // 4..5, hint wraps to 0
      expect([...e2.clusters]).to.deep.equal([4, 5]);
      e1.release();
      const e3 = pool.getExt(3)!;
      expect(e3.run).to.not.equal(null);
      expect([...e3.clusters]).to.deep.equal([0, 1, 2]);
      e2.release();
      e3.release();
      pool.assertAllFree();
    });

    it('makes one empty mbuf for toChain(0)', () => {
      const pool = new ClusterPool({ nmbclusters: 4 });
      const m = pool.getExt(4)!.toChain(0, true);
      expect(mLength(m)).to.equal(0);
      expect(m.next).to.equal(null);
      expect(pool.stats().clustersInUse).to.equal(1);
      mFreem(m);
      pool.assertAllFree();
    });
  });

  describe('the leak invariant under every allocation pattern', () => {
    type Op =
      | { k: 'getcl' }
      | { k: 'get' }
      | { k: 'ext'; n: number; len: number }
      | { k: 'share'; i: number }
      | { k: 'split'; i: number; at: number }
      | { k: 'free'; i: number }
      | { k: 'freeOne'; i: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constant<Op>({ k: 'getcl' }),
      fc.constant<Op>({ k: 'get' }),
      fc.record({ k: fc.constant('ext' as const), n: fc.integer({ min: 1, max: 64 }), len: fc.nat() }),
      fc.record({ k: fc.constant('share' as const), i: fc.nat() }),
      fc.record({ k: fc.constant('split' as const), i: fc.nat(), at: fc.nat() }),
      fc.record({ k: fc.constant('free' as const), i: fc.nat() }),
      fc.record({ k: fc.constant('freeOne' as const), i: fc.nat() }),
    );

    it('returns to all-free, and in-use counts always match the live chains', () => {
      fc.assert(
        fc.property(
          fc.constantFrom(2048, 4096),
          fc.integer({ min: 1, max: 80 }),
          fc.array(op, { maxLength: 60 }),
          fc.boolean(),
          (mclbytes, nmbclusters, ops, freeForward) => {
            const pool = new ClusterPool({ mclbytes, nmbclusters, nmbufs: nmbclusters + 40 });
            const live: Mbuf[] = [];
            for (const o of ops) {
              const pick = (i: number) => (live.length === 0 ? -1 : i % live.length);
              let m: Mbuf | null = null;
              if (o.k === 'getcl') m = mGetcl(pool);
              else if (o.k === 'get') m = mGet(pool);
              else if (o.k === 'ext') {
                const e = pool.getExt(o.n);
                if (e !== null) {
                  if (o.len % 5 === 0) e.release();
                  else m = e.toChain(o.len % (e.capacity + 1), o.len % 2 === 0);
                }
              } else if (o.k === 'share' && pick(o.i) >= 0) {
                m = mCopym(live[pick(o.i)]!, 0);
              } else if (o.k === 'split' && pick(o.i) >= 0) {
                const src = live[pick(o.i)]!;
                m = mSplit(src, o.at % (mLength(src) + 1));
              } else if (o.k === 'free' && pick(o.i) >= 0) {
                mFreem(live.splice(pick(o.i), 1)[0]!);
              } else if (o.k === 'freeOne' && pick(o.i) >= 0) {
                const j = pick(o.i);
                const next = mFree(live[j]!);
                if (next === null) live.splice(j, 1);
                else live[j] = next;
              }
              if (m !== null) live.push(m);
              const st = pool.stats();
              expect(st.clustersInUse).to.equal(clustersHeld(live));
              expect(st.mbufsInUse).to.equal(mbufsHeld(live));
              expect(st.clustersInUse + st.clustersFree).to.equal(nmbclusters);
            }
            // Free in either order: shared clusters must survive until their last holder.
            if (!freeForward) live.reverse();
            for (const m of live) mFreem(m);
            pool.assertAllFree();
            // Recovery: after exhaustion everything can be taken again.
            const all = pool.getExt(Math.min(64, nmbclusters));
            expect(all).to.not.equal(null);
            all!.release();
            pool.assertAllFree();
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});
