import { expect } from 'chai';
import fc from 'fast-check';
import { randomSeed, Rng } from '../../src/link/rng.js';

const draw = (r: Rng, n: number) => Array.from({ length: n }, () => r.nextU32());

describe('Rng (xoshiro128**)', () => {
  it('replays: the same seed gives the same stream', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        expect(draw(new Rng(seed), 16)).to.deep.equal(draw(new Rng(seed), 16));
      }),
      { numRuns: 50 },
    );
  });

  it('neighbouring seeds give unrelated streams', () => {
    const a = draw(new Rng(0), 64);
    const b = draw(new Rng(1), 64);
    expect(a.filter((x, i) => x === b[i])).to.have.length(0);
  });

  it('next() is in [0, 1) with mean and bucket counts close to uniform', () => {
    const r = new Rng(99);
    const buckets = new Array<number>(10).fill(0);
    let sum = 0;
    let outside = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outside++;
      sum += x;
      buckets[Math.floor(x * 10)]!++;
    }
    expect(outside).to.equal(0);
    expect(sum / n).to.be.within(0.49, 0.51);
    for (const c of buckets) expect(c).to.be.within(n / 10 - 500, n / 10 + 500);
  });

  it('between() covers both ends; chance(0) never draws', () => {
    const r = new Rng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(r.between(1, 4));
    expect([...seen].sort()).to.deep.equal([1, 2, 3, 4]);
    const s1 = new Rng(5);
    const s2 = new Rng(5);
    expect(s1.chance(0)).to.equal(false);
    expect(s1.nextU32()).to.equal(s2.nextU32());
  });

  it('fork() depends on the seed and the stream id only', () => {
    const r = new Rng(7);
    const f1 = draw(r.fork(1), 8);
    r.nextU32();
    expect(draw(r.fork(1), 8)).to.deep.equal(f1);
    expect(draw(r.fork(2), 8)).to.not.deep.equal(f1);
    expect(draw(new Rng(8).fork(1), 8)).to.not.deep.equal(f1);
  });

  it('randomSeed() returns 32-bit values that differ', () => {
    const s = new Set(Array.from({ length: 8 }, randomSeed));
    for (const x of s) expect(x).to.be.within(0, 0xffffffff);
    expect(s.size).to.be.greaterThan(6);
  });
});
