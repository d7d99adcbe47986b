/**
 * IpIdGenerator (net/ipid.ts): per-destination counters picked by a keyed
 * hash — consecutive IDs to one destination, wrapping at 65536, and the
 * same IDs whatever the key's top bit (the key is kept as a signed 32-bit
 * value; the hash reads the same 32 bits as the unsigned one it replaced).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { IpIdGenerator } from '../../src/net/ipid.js';

/** The generator as first written: the key as an unsigned 32-bit number. */
function reference(counters: number[], key: number, dst: number): number {
  const h = Math.imul((dst ^ (key >>> 0)) >>> 0, 0x9e3779b1) >>> 21;
  const id = counters[h]!;
  counters[h] = (id + 1) & 0xffff;
  return id;
}

/** A `random` that yields `values` in turn. */
function feed(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('net/ipid: IpIdGenerator', () => {
  it('gives the reference IDs for any key, top bit set or not (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 0xffff }), { minLength: 2048, maxLength: 2048 }), fc.nat({ max: 0xffffffff }), fc.array(fc.nat({ max: 0xffffffff }), { minLength: 1, maxLength: 50 }), (init, key, dsts) => {
        const g = new IpIdGenerator(feed([...init, key]));
        const counters = [...init];
        for (const d of dsts) expect(g.next(d)).to.equal(reference(counters, key, d));
      }),
      { numRuns: 100 },
    );
  });

  it('counts up per destination and wraps at 65536', () => {
    const g = new IpIdGenerator(feed([0xfffe, 0x80000001]));
    const dst = 0x0a000002;
    const first = g.next(dst);
    expect(g.next(dst)).to.equal((first + 1) & 0xffff);
    expect(g.next(dst)).to.equal((first + 2) & 0xffff);
    const g2 = new IpIdGenerator(() => 0xffffffff); // every counter at 0xffff, key with the top bit
    expect(g2.next(dst)).to.equal(0xffff);
    expect(g2.next(dst)).to.equal(0);
  });
});
