import { expect } from 'chai';
import fc from 'fast-check';
import {
  SEQ_MODULUS,
  seqAdd,
  seqGeq,
  seqGt,
  seqInWindow,
  seqLeq,
  seqLt,
  seqMax,
  seqMin,
  seqOffset,
  seqSub,
} from '../../src/transport/tcp/seq.js';

const TWO31 = 2 ** 31;

/** Sequence numbers clustered around the 2^32 wrap, plus anywhere. */
const seqNear = fc.oneof(
  fc.integer({ min: SEQ_MODULUS - 0x10000, max: SEQ_MODULUS - 1 }),
  fc.integer({ min: 0, max: 0x10000 }),
  fc.integer({ min: 0, max: SEQ_MODULUS - 1 }),
);
/** A signed distance TCP can compare: |d| < 2^31. */
const dist = fc.oneof(
  fc.integer({ min: -0x20000, max: 0x20000 }),
  fc.integer({ min: -(TWO31 - 1), max: TWO31 - 1 }),
);

describe('tcp/seq', () => {
  it('orders across the wrap (examples)', () => {
    expect(seqLt(0xfffffff0, 5)).to.equal(true);
    expect(seqGt(5, 0xfffffff0)).to.equal(true);
    expect(seqSub(5, 0xfffffff0)).to.equal(21);
    expect(seqSub(0xfffffff0, 5)).to.equal(-21);
    expect(seqAdd(0xffffffff, 1)).to.equal(0);
    expect(seqAdd(0, -1)).to.equal(0xffffffff);
    expect(seqAdd(0x80000000, 0x80000000)).to.equal(0);
    expect(seqMax(0xfffffff0, 5)).to.equal(5);
    expect(seqMin(0xfffffff0, 5)).to.equal(0xfffffff0);
    expect(seqInWindow(2, 0xfffffffe, 5)).to.equal(true);
    expect(seqInWindow(3, 0xfffffffe, 5)).to.equal(false);
    expect(seqInWindow(0xfffffffd, 0xfffffffe, 5)).to.equal(false);
    expect(seqInWindow(7, 7, 0)).to.equal(false);
    expect(seqOffset(3, 0xfffffffe)).to.equal(5);
  });

  it('equal numbers compare as equal', () => {
    fc.assert(
      fc.property(seqNear, (a) => {
        expect(seqLt(a, a)).to.equal(false);
        expect(seqGt(a, a)).to.equal(false);
        expect(seqLeq(a, a)).to.equal(true);
        expect(seqGeq(a, a)).to.equal(true);
        expect(seqSub(a, a)).to.equal(0);
      }),
    );
  });

  it('comparisons follow the sign of the distance (property)', () => {
    fc.assert(
      fc.property(seqNear, dist, (a, d) => {
        const b = seqAdd(a, d);
        expect(b).to.be.within(0, SEQ_MODULUS - 1);
        expect(Number.isInteger(b)).to.equal(true);
        expect(seqSub(b, a)).to.equal(d);
        expect(seqLt(a, b)).to.equal(d > 0);
        expect(seqGt(a, b)).to.equal(d < 0);
        expect(seqLeq(a, b)).to.equal(d >= 0);
        expect(seqGeq(a, b)).to.equal(d <= 0);
        expect(seqMax(a, b)).to.equal(d >= 0 ? b : a);
        expect(seqMin(a, b)).to.equal(d >= 0 ? a : b);
        expect(seqAdd(b, -d)).to.equal(a);
      }),
      { numRuns: 2000 },
    );
  });

  it('seqInWindow matches an offset model (property)', () => {
    fc.assert(
      fc.property(seqNear, fc.integer({ min: 0, max: 0x40000 }), fc.integer({ min: -0x50000, max: 0x50000 }), (lo, len, d) => {
        const x = seqAdd(lo, d);
        expect(seqInWindow(x, lo, len)).to.equal(d >= 0 && d < len);
        if (d >= 0) expect(seqOffset(x, lo)).to.equal(d);
      }),
      { numRuns: 2000 },
    );
  });

  it('adding is associative modulo 2^32 (property)', () => {
    fc.assert(
      fc.property(seqNear, dist, dist, (a, m, n) => {
        expect(seqAdd(seqAdd(a, m), n)).to.equal(seqAdd(a, m + n));
      }),
    );
  });
});
