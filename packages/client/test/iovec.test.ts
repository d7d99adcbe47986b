/**
 * Gather lists (IoVec) and how `_writev` groups queued writes into sends.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { IoVec } from '../src/index.js';
import { GATHER_MAX, SEND_MAX, gather } from '../src/socket-stream.js';

describe('IoVec: a gather list answered by views', () => {
  it('slice(off, n) returns views of exactly the bytes [off, off+n) of the concatenation, for any pieces and range', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 8 }), fc.nat(), fc.nat(), (lens, a, b) => {
        const pieces = lens.map((n) => randomBytes(n));
        const whole = Buffer.concat(pieces);
        const v = new IoVec(pieces);
        expect(v.length).to.equal(whole.length);
        const off = whole.length === 0 ? 0 : a % (whole.length + 1);
        const n = (whole.length - off === 0 ? 0 : b % (whole.length - off + 1));
        const out = v.slice(off, n);
        expect(Buffer.concat(out).equals(whole.subarray(off, off + n))).to.equal(true);
        expect(out.every((p) => p.length > 0)).to.equal(true);
        // Views, not copies: each shares its piece's memory.
        expect(out.every((p) => pieces.some((q) => q.buffer === p.buffer))).to.equal(true);
        expect(Buffer.concat(v.from(off).pieces).equals(whole.subarray(off))).to.equal(true);
      }),
    );
  });

  it('a range outside the list, negative or fractional, is a RangeError', () => {
    const v = new IoVec([Buffer.alloc(10), Buffer.alloc(5)]);
    for (const [off, n] of [[0, 16], [15, 1], [-1, 2], [1.5, 2], [0, -1], [Number.NaN, 1]]) {
      expect(() => v.slice(off!, n!), `${off}+${n}`).to.throw(RangeError);
    }
    expect(v.slice(15, 0)).to.deep.equal([]);
  });
});

describe('gather: queued writes into sends', () => {
  const k64 = 64 * 1024;

  it('four 64 KiB writes are one send of 256 KiB, a gather list of the same buffers (no copy); the fifth starts the next send', () => {
    const chunks = Array.from({ length: 5 }, () => Buffer.alloc(k64));
    const groups = gather(chunks);
    expect(groups).to.have.length(2);
    expect(groups[0]).to.be.instanceOf(IoVec);
    expect((groups[0] as IoVec).length).to.equal(SEND_MAX);
    expect((groups[0] as IoVec).pieces).to.deep.equal(chunks.slice(0, 4));
    expect((groups[0] as IoVec).pieces.every((p, i) => p === chunks[i])).to.equal(true);
    expect(groups[1]).to.equal(chunks[4]);
  });

  it('small writes are concatenated up to GATHER_MAX; a chunk larger than SEND_MAX goes alone; order is kept', () => {
    const small = Array.from({ length: 3 }, (_, i) => Buffer.alloc(1000, i));
    const g1 = gather(small);
    expect(g1).to.have.length(1);
    expect(Buffer.isBuffer(g1[0])).to.equal(true);
    expect((g1[0] as Buffer).equals(Buffer.concat(small))).to.equal(true);
    const big = Buffer.alloc(SEND_MAX + 1);
    const g2 = gather([small[0]!, big, small[1]!]);
    expect(g2).to.have.length(3);
    expect(g2[1]).to.equal(big);
    // A burst of 1 KiB writes: one 256 KiB send of four 64 KiB pieces, not 256 pieces.
    const burst = Array.from({ length: 256 }, (_, i) => Buffer.alloc(1024, i));
    const g4 = gather(burst);
    expect(g4).to.have.length(1);
    expect((g4[0] as IoVec).pieces.map((p) => p.length)).to.deep.equal([GATHER_MAX, GATHER_MAX, GATHER_MAX, GATHER_MAX]);
    expect(Buffer.concat((g4[0] as IoVec).pieces).equals(Buffer.concat(burst))).to.equal(true);
    const mixed = [Buffer.alloc(GATHER_MAX), Buffer.alloc(10)];
    const g3 = gather(mixed);
    expect(g3).to.have.length(1);
    expect(g3[0]).to.be.instanceOf(IoVec);
  });
});
