/**
 * The checksum's WebAssembly word sum over cluster slabs (checksum-wasm.ts)
 * against a byte-pair reference: random data, offsets and lengths (odd ones
 * included), all-0xff data (every carry), whole 64 KiB packets, the same
 * bytes in a plain buffer (the JS word loop) — one result for all; and the
 * WebAssembly function itself against its contract at any address and
 * length, across every step and chunk of its loops.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { checksumSlab, wasmWordSum } from '../../src/wire/checksum-wasm.js';
import { InetChecksum, internetChecksum, sum16 } from '../../src/wire/checksum.js';
import { ClusterPool } from '../../src/mbuf/index.js';

/** RFC 1071 by the book: 16-bit big-endian words, carry folded every step. */
function reference(b: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  let i = off;
  for (; i + 1 < off + len; i += 2) {
    s += (b[i]! << 8) | b[i + 1]!;
    s = (s & 0xffff) + (s >>> 16);
  }
  if (i < off + len) {
    s += b[i]! << 8;
    s = (s & 0xffff) + (s >>> 16);
  }
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const SLAB = 256 * 1024;

describe('checksum: WebAssembly word sum over cluster slabs', () => {
  const slab = checksumSlab(SLAB);
  const wb = new Uint8Array(slab, 0, SLAB);
  const plain = new Uint8Array(SLAB);

  it('is what a cluster pool gets on this Node (so the tests below run the WebAssembly path)', () => {
    expect(wasmWordSum(slab)).to.be.a('function');
    expect(wasmWordSum(new ArrayBuffer(1024))).to.equal(null);
    const pool = new ClusterPool({ nmbclusters: 4 });
    expect(wasmWordSum(pool.slab)).to.be.a('function');
    expect(pool.bytes.buffer).to.equal(pool.slab);
  });

  it('gives the reference checksum at any offset and length, odd ones too (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 4000 }),
        fc.nat({ max: SLAB - 4000 }),
        fc.nat({ max: 0x3ffff }),
        (data, off, initial) => {
          wb.set(data, off);
          plain.set(data, off);
          const want = reference(data, 0, data.length, initial % 0xffff);
          expect(internetChecksum(wb, off, data.length, initial % 0xffff)).to.equal(want);
          expect(internetChecksum(plain, off, data.length, initial % 0xffff)).to.equal(want);
          expect(sum16(wb, off, data.length)).to.equal(sum16(plain, off, data.length));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('carries right on all-0xff data and whole 64 KiB packets, through views at odd offsets', () => {
    for (const fill of [0xff, 0x00, 0x80]) {
      wb.fill(fill);
      plain.fill(fill);
      for (const [off, len] of [[0, 65536], [1, 65535], [3, 1448], [4, 1460], [7, 9001], [2, 96], [5, 257]]) {
        const v = wb.subarray(off, off + len); // a view: byteOffset odd, as an mbuf's data may be
        expect(internetChecksum(v, 0, len), `fill ${fill} off ${off} len ${len}`).to.equal(reference(plain, off, len));
      }
    }
  });

  it('sums a chain split at odd boundaries the same as one range (InetChecksum)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 300, maxLength: 3000 }), fc.array(fc.nat({ max: 3000 }), { maxLength: 4 }), (data, cuts) => {
        wb.set(data, 1000);
        const points = [...new Set(cuts.map((c) => c % data.length))].sort((a, b) => a - b);
        const ck = new InetChecksum().reset(0);
        let prev = 0;
        for (const p of [...points, data.length]) {
          ck.add(wb, 1000 + prev, p - prev);
          prev = p;
        }
        expect(ck.finish()).to.equal(reference(data, 0, data.length));
      }),
      { numRuns: 200 },
    );
  });

  /** The wasm function's contract: the LE 16-bit words of [p, p + n) summed (an odd last byte as a low byte), folded to 1..0xffff (0 for none). */
  function wordSumRef(u: Uint8Array, p: number, n: number): number {
    let s = 0;
    let i = p;
    for (; i + 1 < p + n; i += 2) s += u[i]! | (u[i + 1]! << 8);
    if (i < p + n) s += u[i]!;
    while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
    return s;
  }

  it('sums exactly at any offset and length, across its 64-byte, 16-byte, word and byte steps and its 256 KiB chunks (fast-check)', () => {
    const big = checksumSlab(2 * 1024 * 1024);
    const u = new Uint8Array(big);
    const f = wasmWordSum(big)!;
    expect(f).to.be.a('function');
    fc.assert(
      fc.property(fc.nat({ max: 1 << 20 }), fc.nat({ max: 1 << 20 }), fc.constantFrom(0x00, 0xff, -1), fc.integer(), (p, n0, fill, seed) => {
        // Mostly short ranges (every remainder of 64, odd ones too), sometimes past a chunk.
        const n = (seed & 1) === 0 ? n0 % 2400 : n0;
        if (fill >= 0) u.fill(fill, p, p + n);
        else for (let i = p, x = seed | 1; i < p + n; i++) u[i] = (x = (x * 1103515245 + 12345) | 0) >>> 24;
        expect(f(p, n), `p ${p} n ${n} fill ${fill}`).to.equal(wordSumRef(u, p, n));
      }),
      { numRuns: 300 },
    );
    // Every lane at its worst for more than one chunk: all ones over 1 MiB + 61 bytes at an odd address.
    u.fill(0xff);
    expect(f(3, (1 << 20) + 61)).to.equal(wordSumRef(u, 3, (1 << 20) + 61));
    expect(f(0, 2 * 1024 * 1024)).to.equal(0xffff);
    expect(f(5, 0)).to.equal(0);
  });
});
