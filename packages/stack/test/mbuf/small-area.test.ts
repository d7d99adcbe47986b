/**
 * Small mbuf data areas recycled through the pool's slot free list
 * (pool.ts, `smAlloc`/`smFree`): a freed mbuf never shows a later packet's
 * bytes through a stale reference, two live mbufs never share a slot, a new
 * area is zeroed, and the slots stay bounded by the mbuf limit.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  ClusterPool,
  EMPTY_BYTES,
  MHLEN,
  MLEN,
  type Mbuf,
  mCopym,
  mFree,
  mFreem,
  mGet,
  mGetcl,
  mGethdr,
  mMakeWritable,
} from '../../src/mbuf/index.js';

describe('mbuf small areas (recycled slots)', () => {
  it('a stale reference to a freed header mbuf reads nothing after its slot is reused', () => {
    const pool = new ClusterPool({ nmbclusters: 8 });
    const m = mGethdr(pool)!;
    const slot = m.sm;
    expect(slot).to.be.at.least(0);
    expect(m.data.length).to.equal(MHLEN);
    m.data.fill(0xaa);
    m.len = 40;
    mFreem(m);
    expect(m.data).to.equal(EMPTY_BYTES);
    expect(m.sm).to.equal(-1);
    const n = mGethdr(pool)!;
    expect(n.sm, 'the freed slot is taken again').to.equal(slot);
    expect([...n.data].every((b) => b === 0), 'a reused area is zeroed').to.equal(true);
    n.data.fill(0x55);
    n.len = 100;
    // The stale handle still sees an empty, freed mbuf, not n's bytes.
    expect(m.data.length).to.equal(0);
    expect(m.len).to.equal(0);
    expect(() => mFree(m)).to.throw(/double free/);
    expect(n.data[0]).to.equal(0x55, 'the double free attempt did not touch the new owner');
    mFreem(n);
    pool.assertAllFree();
  });

  it('a plain mbuf gets an MLEN view, a header mbuf an MHLEN view of the same kind of slot', () => {
    const pool = new ClusterPool({ nmbclusters: 8 });
    const a = mGet(pool)!;
    const h = mGethdr(pool)!;
    expect(a.data.length).to.equal(MLEN);
    expect(h.data.length).to.equal(MHLEN);
    expect(a.sm).to.not.equal(h.sm);
    expect(a.data.buffer).to.equal(h.data.buffer, 'slots of one chunk share its storage');
    mFreem(a);
    mFreem(h);
    pool.assertAllFree();
  });

  it('copy-on-write of a short shared cluster takes a slot, and freeing gives it back', () => {
    const pool = new ClusterPool({ nmbclusters: 8 });
    const c = mGetcl(pool)!;
    c.len = 50;
    c.data.fill(7, 0, 50);
    const shared = mCopym(c, 0, 50)!; // both now read-only
    expect(mMakeWritable(shared, 0, 50)).to.equal(0);
    expect(shared.sm).to.be.at.least(0);
    expect([...shared.data.subarray(shared.off, shared.off + 50)].every((b) => b === 7)).to.equal(true);
    shared.data[shared.off] = 9;
    expect(c.data[0]).to.equal(7, 'the cluster was not written');
    mFreem(shared);
    mFreem(c);
    pool.assertAllFree();
  });

  it('random allocations and frees: live mbufs keep their bytes and never share a slot (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ alloc: fc.boolean(), hdr: fc.boolean(), pick: fc.nat() }), { minLength: 1, maxLength: 400 }),
        (ops) => {
          const pool = new ClusterPool({ nmbclusters: 4, nmbufs: 300 });
          const live: { m: Mbuf; fill: number }[] = [];
          let fill = 1;
          for (const op of ops) {
            if (op.alloc) {
              const m = op.hdr ? mGethdr(pool) : mGet(pool);
              if (m === null) {
                expect(live.length).to.equal(300, 'refused only at the mbuf limit');
                continue;
              }
              expect([...m.data].every((b) => b === 0)).to.equal(true);
              fill = (fill % 255) + 1;
              m.data.fill(fill);
              live.push({ m, fill });
            } else if (live.length > 0) {
              const [gone] = live.splice(op.pick % live.length, 1);
              mFreem(gone!.m);
            }
            const slots = new Set<number>();
            for (const { m, fill: f } of live) {
              expect(slots.has(m.sm), 'two live mbufs share a slot').to.equal(false);
              slots.add(m.sm);
              expect(m.data.every((b) => b === f), 'a live area was overwritten').to.equal(true);
            }
          }
          expect(pool.smallAreas).to.be.at.most(512, 'slots bounded by the mbuf limit (rounded to a chunk)');
          for (const { m } of live) mFreem(m);
          pool.assertAllFree();
        },
      ),
      { numRuns: 60 },
    );
  });
});
