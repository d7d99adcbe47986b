/**
 * Model-based property tests: random sequences of chain operations run on an
 * mbuf chain and on a plain byte array, compared after every step, with the
 * pool's accounting checked against the chains alive.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  ClusterPool,
  type Mbuf,
  mAdj,
  mCat,
  mContiguous,
  mCopyback,
  mCopydata,
  mCopym,
  mDup,
  mFreem,
  mFromBytes,
  mGethdr,
  mLength,
  mMakeWritable,
  mPrepend,
  mPullup,
  mSplit,
  mToBytes,
} from '../../src/mbuf/index.js';
import { checkChain, clustersHeld, mbufsHeld, pattern } from './helpers.js';

type Op =
  | { k: 'copyback'; off: number; len: number; seed: number }
  | { k: 'adj'; n: number }
  | { k: 'prepend'; n: number; seed: number }
  | { k: 'copymCat'; off: number; len: number }
  | { k: 'split'; off: number }
  | { k: 'pullup'; n: number }
  | { k: 'dup' }
  | { k: 'share' }
  | { k: 'freeOther'; i: number }
  | { k: 'catOther'; i: number }
  | { k: 'makeWritable'; off: number; len: number }
  | { k: 'copydata'; off: number; len: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('copyback' as const), off: fc.nat(), len: fc.nat({ max: 5000 }), seed: fc.nat(255) }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('adj' as const), n: fc.integer({ min: -3000, max: 3000 }) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('prepend' as const), n: fc.nat({ max: 600 }), seed: fc.nat(255) }), weight: 2 },
  fc.record({ k: fc.constant('copymCat' as const), off: fc.nat(), len: fc.nat() }),
  fc.record({ k: fc.constant('split' as const), off: fc.nat() }),
  fc.record({ k: fc.constant('pullup' as const), n: fc.nat({ max: 4096 }) }),
  fc.constant<Op>({ k: 'dup' }),
  fc.constant<Op>({ k: 'share' }),
  fc.record({ k: fc.constant('freeOther' as const), i: fc.nat() }),
  fc.record({ k: fc.constant('catOther' as const), i: fc.nat() }),
  fc.record({ k: fc.constant('makeWritable' as const), off: fc.nat(), len: fc.nat() }),
  fc.record({ k: fc.constant('copydata' as const), off: fc.nat(), len: fc.nat() }),
);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

interface Live {
  m: Mbuf;
  model: Uint8Array;
}

describe('mbuf chains against a byte-array model (property)', () => {
  it('every operation sequence keeps chain == model and the pool accounting exact', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(2048, 4096),
        fc.integer({ min: 3, max: 40 }),
        fc.nat({ max: 3000 }),
        fc.array(opArb, { maxLength: 40 }),
        (mclbytes, nmbclusters, initial, ops) => {
          const pool = new ClusterPool({ mclbytes, nmbclusters });
          let model = pattern(Math.min(initial, (nmbclusters - 1) * mclbytes), 7);
          let m = mFromBytes(pool, model, { headroom: initial % 64 })!;
          expect(m).to.not.equal(null);
          const others: Live[] = [];
          /** The main chain was freed by a failing op: start again from an empty packet. */
          const restart = (): void => {
            model = new Uint8Array(0);
            m = mGethdr(pool)!;
            expect(m, 'a header mbuf is always available here').to.not.equal(null);
          };
          for (const o of ops) {
            const len = model.length;
            switch (o.k) {
              case 'copyback': {
                const off = o.off % (len + 300);
                const src = pattern(o.len, o.seed);
                const err = mCopyback(m, off, src);
                if (err === 0) {
                  const next = new Uint8Array(Math.max(len, off + src.length));
                  next.set(model);
                  next.set(src, off);
                  model = next;
                }
                break;
              }
              case 'adj': {
                mAdj(m, o.n);
                model = o.n >= 0 ? model.slice(Math.min(o.n, len)) : model.slice(0, Math.max(0, len + o.n));
                break;
              }
              case 'prepend': {
                const p = mPrepend(m, o.n);
                if (p === null) restart();
                else {
                  m = p;
                  const hdr = pattern(o.n, o.seed);
                  // The new front is writable by contract: no allocation, cannot fail.
                  expect(mCopyback(m, 0, hdr)).to.equal(0);
                  model = concat(hdr, model);
                }
                break;
              }
              case 'copymCat': {
                const off = o.off % (len + 1);
                const n = o.len % (len - off + 1);
                const c = mCopym(m, off, n);
                if (c !== null) {
                  mCat(m, c);
                  model = concat(model, model.slice(off, off + n));
                }
                break;
              }
              case 'split': {
                const off = o.off % (len + 1);
                const t = mSplit(m, off);
                if (t !== null) {
                  others.push({ m: t, model: model.slice(off) });
                  model = model.slice(0, off);
                }
                break;
              }
              case 'pullup': {
                const n = o.n % (len + 2); // sometimes one past the end: must fail
                const p = mPullup(m, n);
                if (p === null) {
                  restart();
                } else {
                  m = p;
                  expect(m.len).to.be.at.least(n);
                  expect(mContiguous(m, 0, n)).to.deep.equal(model.subarray(0, n));
                }
                if (n > len || n > mclbytes) expect(p).to.equal(null);
                break;
              }
              case 'dup': {
                const d = mDup(m);
                if (d !== null) others.push({ m: d, model: model.slice() });
                break;
              }
              case 'share': {
                const s = mCopym(m, 0);
                if (s !== null) others.push({ m: s, model: model.slice() });
                break;
              }
              case 'freeOther': {
                if (others.length > 0) mFreem(others.splice(o.i % others.length, 1)[0]!.m);
                break;
              }
              case 'catOther': {
                if (others.length > 0) {
                  const x = others.splice(o.i % others.length, 1)[0]!;
                  mCat(m, x.m);
                  model = concat(model, x.model);
                }
                break;
              }
              case 'makeWritable': {
                const off = o.off % (len + 1);
                mMakeWritable(m, off, o.len % (len - off + 1));
                break;
              }
              case 'copydata': {
                const off = o.off % (len + 1);
                const n = o.len % (len - off + 1);
                const out = new Uint8Array(n);
                mCopydata(m, off, n, out);
                expect(out).to.deep.equal(model.subarray(off, off + n));
                break;
              }
            }
            // After every step: contents, lengths, invariants, accounting.
            expect(mLength(m)).to.equal(model.length);
            expect(mToBytes(m)).to.deep.equal(model);
            checkChain(m);
            for (const x of others) {
              expect(mToBytes(x.m)).to.deep.equal(x.model);
              checkChain(x.m);
            }
            const chains = [m, ...others.map((x) => x.m)];
            const st = pool.stats();
            expect(st.clustersInUse).to.equal(clustersHeld(chains));
            expect(st.mbufsInUse).to.equal(mbufsHeld(chains));
          }
          mFreem(m);
          for (const x of others) mFreem(x.m);
          pool.assertAllFree();
        },
      ),
      { numRuns: 300 },
    );
  });
});
