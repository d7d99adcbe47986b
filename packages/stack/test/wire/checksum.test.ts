import { expect } from 'chai';
import fc from 'fast-check';
import {
  InetChecksum,
  checksumAdjust,
  checksumAdjust32,
  checksumRanges,
  foldSum,
  internetChecksum,
  pseudoHeaderSum,
  sum16,
  udpChecksumValue,
  verifyChecksum,
} from '../../src/wire/checksum.js';
import { hex, ICMP_ECHO_REQUEST, LO_TCP_RST, UDP_HELLO } from './fixtures.js';

/** Reference RFC 1071 checksum: byte pairs over the concatenation, carry folded every step. */
function naiveChecksum(data: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i < data.length; i += 2) {
    s += (data[i] << 8) | (i + 1 < data.length ? data[i + 1] : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('wire/checksum', () => {
  it('matches the RFC 1071 section 3 worked example', () => {
    // 00 01 f2 03 f4 f5 f6 f7: sum ddf2, checksum 220d.
    const b = hex('0001f203f4f5f6f7');
    expect(sum16(b, 0, b.length)).to.equal(0xddf2);
    expect(internetChecksum(b, 0, b.length)).to.equal(0x220d);
  });

  it('verifies the IPv4 header checksum of a real packet and fails after one flipped bit', () => {
    const f = ICMP_ECHO_REQUEST.slice();
    expect(verifyChecksum(f, 14, 20)).to.equal(true);
    for (let bit = 0; bit < 20 * 8; bit++) {
      f[14 + (bit >> 3)] ^= 1 << (bit & 7);
      expect(verifyChecksum(f, 14, 20), `bit ${bit}`).to.equal(false);
      f[14 + (bit >> 3)] ^= 1 << (bit & 7);
    }
  });

  it('verifies UDP and TCP checksums of real packets with the pseudo-header', () => {
    // UDP_HELLO: 10.78.0.1 -> 10.78.0.2, UDP length 21 (odd).
    const u = UDP_HELLO;
    expect(verifyChecksum(u, 34, 21, pseudoHeaderSum(0x0a4e0001, 0x0a4e0002, 17, 21))).to.equal(true);
    expect(verifyChecksum(u, 34, 21, pseudoHeaderSum(0x0a4e0001, 0x0a4e0003, 17, 21))).to.equal(false);
    // LO_TCP_RST: 127.0.0.1 -> 127.0.0.1, 20-byte segment.
    expect(verifyChecksum(LO_TCP_RST, 34, 20, pseudoHeaderSum(0x7f000001, 0x7f000001, 6, 20))).to.equal(true);
  });

  it('takes the word path for long aligned and unaligned ranges in a shared slab', () => {
    const slab = new ArrayBuffer(1 << 16);
    const all = new Uint8Array(slab);
    for (let i = 0; i < all.length; i++) all[i] = (i * 7919 + 13) & 0xff;
    for (const start of [0, 1, 2, 3, 4, 5, 6, 7, 4093]) {
      for (const len of [0, 1, 31, 32, 33, 95, 96, 97, 255, 256, 257, 1460, 1461, 9000, 40000]) {
        if (start + len > all.length) continue;
        const sub = new Uint8Array(slab, start, len);
        expect(internetChecksum(sub, 0, len), `start ${start} len ${len}`).to.equal(naiveChecksum(sub));
        // The same bytes through an offset into the whole slab.
        expect(internetChecksum(all, start, len)).to.equal(naiveChecksum(sub));
      }
    }
  });

  it('equals the naive reference on random data split into random segments (odd splits included)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.array(fc.nat(3000), { maxLength: 12 }),
        fc.nat(0xffff),
        fc.nat(7),
        (data, cuts, initial, shift) => {
          // Place the data at an arbitrary alignment inside a larger buffer.
          const backing = new Uint8Array(data.length + 8);
          backing.set(data, shift);
          const placed = backing.subarray(shift, shift + data.length);
          const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
          const parts: Uint8Array[] = [];
          let prev = 0;
          for (const p of [...points, data.length]) {
            parts.push(placed.subarray(prev, p));
            prev = p;
          }
          const want = naiveChecksum(data, initial);
          expect(checksumRanges(parts, initial)).to.equal(want);
          const ck = new InetChecksum().reset(initial);
          for (const p of parts) ck.add(p, 0, p.length);
          expect(ck.finish()).to.equal(want);
          expect(internetChecksum(placed, 0, placed.length, initial)).to.equal(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('InetChecksum over chain segments verifies a real UDP datagram split at odd offsets', () => {
    const seg = UDP_HELLO.subarray(34, 34 + 21);
    for (let a = 0; a <= seg.length; a++) {
      for (let b = a; b <= seg.length; b++) {
        const ck = new InetChecksum().reset(pseudoHeaderSum(0x0a4e0001, 0x0a4e0002, 17, 21));
        ck.add(seg, 0, a).add(seg, a, b - a).add(seg, b, seg.length - b);
        expect(ck.verify(), `split ${a}/${b}`).to.equal(true);
      }
    }
  });

  it('incremental update (RFC 1624) equals recomputation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 60 }), fc.nat(9), fc.nat(0xffff), (data, w, nv) => {
        const b = data.slice(0, data.length & ~1);
        b[10] = 0;
        b[11] = 0;
        const c0 = internetChecksum(b, 0, b.length);
        b[10] = c0 >>> 8;
        b[11] = c0 & 0xff;
        const idx = w === 5 ? 0 : w * 2; // never the checksum field itself
        const old = (b[idx] << 8) | b[idx + 1];
        b[idx] = nv >>> 8;
        b[idx + 1] = nv & 0xff;
        const adjusted = checksumAdjust(c0, old, nv);
        // Either representation of zero is a correct checksum; verification decides.
        b[10] = adjusted >>> 8;
        b[11] = adjusted & 0xff;
        expect(verifyChecksum(b, 0, b.length)).to.equal(true);
      }),
      { numRuns: 300 },
    );
  });

  it('checksumAdjust handles a TTL decrement of a real header', () => {
    const h = ICMP_ECHO_REQUEST.slice(14, 34);
    const oldWord = (h[8] << 8) | h[9];
    h[8] -= 1;
    const c = checksumAdjust((h[10] << 8) | h[11], oldWord, (h[8] << 8) | h[9]);
    h[10] = c >>> 8;
    h[11] = c & 0xff;
    expect(verifyChecksum(h, 0, 20)).to.equal(true);
    h[10] = 0;
    h[11] = 0;
    expect(internetChecksum(h, 0, 20)).to.equal(c);
  });

  it('checksumAdjust32 rewrites an address', () => {
    const h = ICMP_ECHO_REQUEST.slice(14, 34);
    const old = ((h[12] << 24) | (h[13] << 16) | (h[14] << 8) | h[15]) >>> 0;
    const nv = 0xc0a80101;
    h.set([0xc0, 0xa8, 0x01, 0x01], 12);
    const c = checksumAdjust32((h[10] << 8) | h[11], old, nv);
    h[10] = c >>> 8;
    h[11] = c & 0xff;
    expect(verifyChecksum(h, 0, 20)).to.equal(true);
  });

  it('folds large sums and maps UDP zero to 0xffff', () => {
    expect(foldSum(0)).to.equal(0);
    expect(foldSum(0xffff)).to.equal(0xffff);
    expect(foldSum(0x1fffe)).to.equal(0xffff);
    expect(foldSum(0x12345678)).to.equal(0x1234 + 0x5678);
    expect(foldSum(2 ** 52)).to.be.within(1, 0xffff);
    expect(udpChecksumValue(0)).to.equal(0xffff);
    expect(udpChecksumValue(0x1234)).to.equal(0x1234);
  });

  it('all-zero data has checksum 0xffff, never 0', () => {
    const z = new Uint8Array(1000);
    expect(internetChecksum(z, 0, 1000)).to.equal(0xffff);
    expect(internetChecksum(z, 0, 0)).to.equal(0xffff);
  });

  it('a concatenation equals the checksum of the whole (sanity of the helper)', () => {
    const a = hex('4500003c');
    const b = hex('1c46400040060000ac100a63ac100a0c');
    expect(checksumRanges([a, b])).to.equal(naiveChecksum(concat([a, b])));
    // RFC 1071-style example header from Wikipedia's worked IPv4 example: checksum b1e6.
    expect(checksumRanges([a, b])).to.equal(0xb1e6);
  });
});
