/**
 * TCP's out-of-order queue (reass.ts, reass-budget.ts): merging, charging,
 * compaction, limits and pruning — model-based property tests (random
 * segments with overlaps and duplicates, sequence numbers across the wrap)
 * and the cases that matter one by one.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ClusterPool, M_EXT, MSIZE, mAdj, mFreem, mFromBytes, type Mbuf } from '../../src/mbuf/index.js';
import { ReassBudget } from '../../src/transport/tcp/reass-budget.js';
import { mbufCharge, ReassQueue, ReassResult, type ReassSeg } from '../../src/transport/tcp/reass.js';

/** The byte at stream offset `o` (overlapping copies of the same offset agree, as a real peer's do). */
function byteAt(o: number): number {
  return (o * 31 + 7) & 0xff;
}

/**
 * A segment as the receive path makes it: an IPv4 packet copied into the
 * pool (m_devget) and its 40 header bytes cut off, so 200 data bytes sit in
 * a cluster as they would off the wire.
 */
function segment(pool: ClusterPool, off: number, len: number): Mbuf {
  const pkt = new Uint8Array(40 + len);
  for (let i = 0; i < len; i++) pkt[40 + i] = byteAt(off + i);
  const m = mFromBytes(pool, pkt)!;
  mAdj(m, 40);
  return m;
}

/** The bytes of one entry's chain. */
function entryBytes(f: ReassSeg): number[] {
  const out: number[] = [];
  for (let n = f.m; n !== null; n = n.next) for (let i = 0; i < n.len; i++) out.push(n.data[n.off + i]!);
  return out;
}

/** Check every invariant of the queue against its entries and the pool. */
function checkQueue(q: ReassQueue, rcvNxt: number, base = rcvNxt): void {
  let bytes = 0;
  let mbcnt = 0;
  let mbufs = 0;
  let clusters = 0;
  let prevEnd = -1;
  let prevFin = false;
  for (const f of q.segs) {
    const s = (f.seq - rcvNxt) >>> 0;
    expect(s, 'entries lie above rcv_nxt').to.be.lessThan(0x80000000);
    expect(s, 'entries sorted and disjoint').to.be.greaterThan(prevEnd - 1);
    if (s === prevEnd) expect(prevFin, 'adjacent entries are merged').to.equal(true);
    const data = entryBytes(f);
    expect(data.length, 'chain length = entry length').to.equal(f.len);
    const o = (f.seq - base) >>> 0;
    for (let i = 0; i < data.length; i++) if (data[i] !== byteAt(o + i)) expect.fail(`byte ${o + i} corrupted`);
    let fb = 0;
    let fm = 0;
    let fc_ = 0;
    for (let n = f.m; n !== null; n = n.next) {
      fb += mbufCharge(n);
      fm++;
      if ((n.flags & M_EXT) !== 0) fc_++;
    }
    expect([f.mbcnt, f.mbufs, f.clusters], 'entry charge').to.deep.equal([fb, fm, fc_]);
    bytes += f.len;
    mbcnt += fb;
    mbufs += fm;
    clusters += fc_;
    prevEnd = s + f.len;
    prevFin = f.fin;
  }
  expect([q.bytes, q.mbcnt, q.mbufs, q.clusters], 'queue totals').to.deep.equal([bytes, mbcnt, mbufs, clusters]);
}

interface Seg {
  off: number;
  len: number;
}

const segArb: fc.Arbitrary<Seg> = fc.record({ off: fc.integer({ min: 1, max: 6000 }), len: fc.integer({ min: 0, max: 1600 }) });

describe('tcp reassembly queue', () => {
  describe('properties', () => {
    it('holds exactly the union of what was inserted, merged and charged right; draining delivers the model bytes; all freed', () => {
      fc.assert(
        fc.property(fc.array(segArb, { maxLength: 60 }), fc.nat(), (segs, base) => {
          const pool = new ClusterPool({ nmbclusters: 1024 });
          const rcvNxt = base >>> 0;
          const q = new ReassQueue(1 << 16);
          const model = new Set<number>();
          for (const sg of segs) {
            const r = q.insert((rcvNxt + sg.off) >>> 0, sg.len, false, segment(pool, sg.off, sg.len), rcvNxt);
            expect([ReassResult.QUEUED, ReassResult.DUPLICATE]).to.include(r);
            for (let i = 0; i < sg.len; i++) model.add(sg.off + i);
            checkQueue(q, rcvNxt);
          }
          // The queue holds exactly the model's offsets.
          const held = new Set<number>();
          for (const f of q.segs) for (let i = 0; i < f.len; i++) held.add(((f.seq - rcvNxt) >>> 0) + i);
          expect([...held].sort((a, b) => a - b)).to.deep.equal([...model].sort((a, b) => a - b));
          // Fill the hole at rcv_nxt and drain what becomes contiguous.
          let next = rcvNxt;
          const first = q.segs[0];
          const fill = first === undefined ? 0 : (first.seq - rcvNxt) >>> 0;
          const delivered: number[] = [];
          for (let i = 0; i < fill; i++) delivered.push(byteAt(i));
          next = (next + fill) >>> 0;
          for (let guard = 0; guard < 1000; guard++) {
            const f = q.takeAt(next);
            if (f === null) break;
            delivered.push(...entryBytes(f));
            next = (next + f.len) >>> 0;
            mFreem(f.m); // the caller owns a taken entry's chain
          }
          for (let i = 0; i < delivered.length; i++) if (delivered[i] !== byteAt(i)) expect.fail(`delivered byte ${i}`);
          let contiguous = 0;
          while (contiguous < fill || model.has(contiguous)) contiguous++;
          expect(delivered.length, 'everything contiguous was delivered').to.equal(contiguous);
          q.flush();
          checkQueue(q, next);
          expect([q.bytes, q.mbcnt, q.mbufs, q.clusters]).to.deep.equal([0, 0, 0, 0]);
          pool.assertAllFree();
        }),
        { numRuns: 200 },
      );
    });

    it('never passes its entry cap, its storage room or the shared budget, across two queues sharing it', () => {
      fc.assert(
        fc.property(
          fc.array(segArb, { maxLength: 80 }),
          fc.integer({ min: 1, max: 8 }),
          fc.integer({ min: 0, max: 20_000 }),
          fc.integer({ min: 0, max: 6 }),
          fc.nat(),
          (segs, maxSegs, room, maxClusters, base) => {
            const pool = new ClusterPool({ nmbclusters: 1024 });
            const budget = new ReassBudget(() => maxClusters, () => 2 * maxClusters + 2);
            const rcvNxt = base >>> 0;
            const a = new ReassQueue({ maxSegs, budget });
            const b = new ReassQueue({ maxSegs, budget });
            segs.forEach((sg, k) => {
              const q = k % 2 === 0 ? a : b;
              q.insert((rcvNxt + sg.off) >>> 0, sg.len, false, segment(pool, sg.off, sg.len), rcvNxt, room);
              for (const x of [a, b]) {
                checkQueue(x, rcvNxt);
                expect(x.length).to.be.at.most(maxSegs);
                expect(x.mbcnt).to.be.at.most(room);
              }
              expect(budget.clusters).to.equal(a.clusters + b.clusters).and.to.be.at.most(maxClusters);
              expect(budget.mbufs).to.equal(a.mbufs + b.mbufs).and.to.be.at.most(2 * maxClusters + 2);
              expect(budget.mbcnt).to.equal(a.mbcnt + b.mbcnt);
            });
            a.flush();
            b.flush();
            expect([budget.clusters, budget.mbufs, budget.mbcnt, budget.activeQueues]).to.deep.equal([0, 0, 0, 0]);
            pool.assertAllFree();
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  describe('cases', () => {
    it('merges adjacent segments into one entry, and a segment that closes a gap joins both sides', () => {
      const pool = new ClusterPool({ nmbclusters: 64 });
      const q = new ReassQueue(16);
      q.insert(1000, 500, false, segment(pool, 1000, 500), 0);
      q.insert(1500, 500, false, segment(pool, 1500, 500), 0);
      expect(q.length).to.equal(1);
      q.insert(2500, 500, false, segment(pool, 2500, 500), 0);
      expect(q.length).to.equal(2);
      q.insert(2000, 500, false, segment(pool, 2000, 500), 0);
      expect(q.length).to.equal(1);
      expect(q.segs[0]).to.include({ seq: 1000, len: 2000 });
      expect(q.counters.rcvoomerged).to.equal(3);
      checkQueue(q, 0);
      q.flush();
      pool.assertAllFree();
    });

    it('charges a small segment a small mbuf, not the cluster it arrived in', () => {
      const pool = new ClusterPool({ nmbclusters: 64 });
      const q = new ReassQueue(16);
      const m = segment(pool, 100, 200);
      expect(m.flags & M_EXT, '200 bytes arrive in a cluster').to.equal(M_EXT);
      q.insert(100, 200, false, m, 0);
      expect([q.clusters, q.mbufs, q.mbcnt]).to.deep.equal([0, 1, MSIZE]);
      expect(pool.stats().clustersInUse, 'the cluster went back').to.equal(0);
      expect(q.counters.rcvoocompact).to.equal(1);
      // 1000 bytes keep their cluster (a copy would save nothing).
      q.insert(5000, 1000, false, segment(pool, 5000, 1000), 0);
      expect(q.clusters).to.equal(1);
      expect(q.mbcnt).to.equal(MSIZE + MSIZE + 2048);
      q.flush();
      pool.assertAllFree();
    });

    it('copies small adjacent data into the writable tail of the entry it joins', () => {
      const pool = new ClusterPool({ nmbclusters: 64 });
      const q = new ReassQueue(16);
      q.insert(1000, 1000, false, segment(pool, 1000, 1000), 0);
      for (let k = 0; k < 4; k++) q.insert(2000 + 200 * k, 200, false, segment(pool, 2000 + 200 * k, 200), 0);
      expect(q.length).to.equal(1);
      expect(q.clusters, 'all in the first cluster').to.equal(1);
      expect(q.mbufs).to.equal(1);
      checkQueue(q, 0);
      q.flush();
      pool.assertAllFree();
    });

    it('over its entry cap, a lower segment takes the place of the highest entry (pruned, counted)', () => {
      const pool = new ClusterPool({ nmbclusters: 64 });
      const pruned: (number | null)[] = [];
      const q = new ReassQueue({ maxSegs: 3, onPrune: (s) => pruned.push(s) });
      for (const off of [3000, 5000, 7000]) expect(q.insert(off, 100, false, segment(pool, off, 100), 0)).to.equal(ReassResult.QUEUED);
      expect(q.insert(9000, 100, false, segment(pool, 9000, 100), 0), 'above everything: refused').to.equal(ReassResult.FULL);
      expect(q.insert(1000, 100, false, segment(pool, 1000, 100), 0)).to.equal(ReassResult.QUEUED);
      expect(q.segs.map((f) => f.seq)).to.deep.equal([1000, 3000, 5000]);
      expect(q.counters.rcvoopruned).to.equal(1);
      expect(pruned, 'SACK told: everything from 5100 up is gone').to.deep.equal([5100]);
      q.flush();
      pool.assertAllFree();
    });

    it('stays within the storage room it is given, pruning from the top', () => {
      const pool = new ClusterPool({ nmbclusters: 64 });
      const q = new ReassQueue(100);
      const room = 3 * (MSIZE + 2048);
      for (let k = 0; k < 6; k++) q.insert(10_000 - 1000 * k, 500, false, segment(pool, 10_000 - 1000 * k, 500), 0, room);
      expect(q.mbcnt).to.be.at.most(room);
      expect(q.segs.map((f) => f.seq), 'the lowest three remain').to.deep.equal([5000, 6000, 7000]);
      q.flush();
      pool.assertAllFree();
    });

    it('the shared budget is taken from the largest queue, never beyond fairness', () => {
      const pool = new ClusterPool({ nmbclusters: 256 });
      const budget = new ReassBudget(() => 8, () => 100);
      const big = new ReassQueue({ maxSegs: 100, budget });
      const small = new ReassQueue({ maxSegs: 100, budget });
      for (let k = 0; k < 8; k++) big.insert(1000 * (k + 1), 500, false, segment(pool, 1000 * (k + 1), 500), 0);
      expect(budget.clusters).to.equal(8);
      expect(small.insert(1000, 500, false, segment(pool, 1000, 500), 0)).to.equal(ReassResult.QUEUED);
      expect(big.clusters).to.equal(7);
      expect(budget.clusters).to.equal(8);
      // Fill `small` up to half: then neither is larger than the other would become.
      for (let k = 1; k < 6; k++) small.insert(1000 * (k + 1), 500, false, segment(pool, 1000 * (k + 1), 500), 0);
      expect(small.clusters).to.equal(4);
      expect(big.clusters).to.equal(4);
      expect(budget.clusters).to.equal(8);
      big.flush();
      small.flush();
      expect(budget.activeQueues).to.equal(0);
      pool.assertAllFree();
    });

    it('collapses sparse contiguous entries before pruning', () => {
      const pool = new ClusterPool({ nmbclusters: 64 });
      const q = new ReassQueue(100);
      // Eight 600-byte segments in a row: eight clusters holding 4800 bytes (3 would do).
      for (let k = 0; k < 8; k++) q.insert(1000 + 600 * k, 600, false, segment(pool, 1000 + 600 * k, 600), 0);
      expect(q.clusters).to.equal(8);
      const saved = q.collapse();
      expect(saved).to.equal(5);
      expect(q.clusters).to.equal(3);
      checkQueue(q, 0);
      q.flush();
      pool.assertAllFree();
    });

    it('keeps a FIN, refuses data beyond it, and trims below rcv_nxt', () => {
      const pool = new ClusterPool({ nmbclusters: 64 });
      const q = new ReassQueue(16);
      q.insert(1000, 100, true, segment(pool, 1000, 100), 0);
      expect(q.insert(1100, 100, false, segment(pool, 1100, 100), 0)).to.equal(ReassResult.DUPLICATE);
      q.insert(500, 400, false, segment(pool, 500, 400), 0);
      expect(q.trimBelow(600)).to.equal(100);
      expect(q.segs[0]).to.include({ seq: 600, len: 300 });
      checkQueue(q, 600, 0);
      q.flush();
      pool.assertAllFree();
    });
  });
});
