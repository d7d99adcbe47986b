/**
 * bcopy (mbuf/ops.ts): the loop four bytes a step (up to 64 bytes) and the
 * native copy (above) move exactly `n` bytes, at any offsets, between plain
 * buffers and cluster slabs (WebAssembly memory), and touch nothing else.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { bcopy } from '../../src/mbuf/ops.js';
import { checksumSlab } from '../../src/wire/checksum-wasm.js';

describe('mbuf/ops: bcopy', () => {
  const slab = new Uint8Array(checksumSlab(1 << 16));
  const plain = new Uint8Array(1 << 16);

  it('copies exactly n bytes at any offsets, both paths (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 160 }), fc.nat({ max: 4000 }), fc.nat({ max: 4000 }), fc.boolean(), (data, so, do_, toSlab) => {
        const src = toSlab ? plain : slab;
        const dst = toSlab ? slab : plain;
        src.set(data, so);
        dst.fill(0xa5, do_ > 8 ? do_ - 8 : 0, do_ + data.length + 8);
        bcopy(src, so, dst, do_, data.length);
        expect(Buffer.from(dst.subarray(do_, do_ + data.length)).equals(Buffer.from(data))).to.equal(true);
        if (do_ > 0) expect(dst[do_ - 1]).to.equal(0xa5);
        expect(dst[do_ + data.length]).to.equal(0xa5);
      }),
      { numRuns: 500 },
    );
  });

  it('copies every length from 0 to 72 (the loop, its tail, the native copy)', () => {
    for (let n = 0; n <= 72; n++) {
      for (let i = 0; i < n; i++) plain[100 + i] = (i * 7 + n) & 0xff;
      slab.fill(0, 0, 300);
      bcopy(plain, 100, slab, 3, n);
      for (let i = 0; i < n; i++) expect(slab[3 + i], `n ${n} i ${i}`).to.equal((i * 7 + n) & 0xff);
      expect(slab[3 + n]).to.equal(0);
    }
  });
});
