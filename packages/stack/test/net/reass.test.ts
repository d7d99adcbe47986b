import { expect } from 'chai';
import fc from 'fast-check';
import { ManualClock } from '../../src/kern/clock.js';
import { ClusterPool, mFromBytes, mFreem, mToBytes } from '../../src/mbuf/index.js';
import { Reass } from '../../src/net/reass.js';
import { newIpStats } from '../../src/net/stats.js';

describe('reassembly (property)', () => {
  it('any order, any 8-byte-aligned cut, exact duplicates sprinkled in: the datagram comes out intact', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6000 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        (len, unit, order, dups) => {
          const pool = new ClusterPool({ nmbclusters: 64 });
          const stats = newIpStats();
          const r = new Reass(new ManualClock(), stats, { timeout: 30, maxfragpackets: 4, maxfrags: 64, maxfragsperpacket: 64 }, mFreem);
          const data = Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 0xff);
          const hdr = new Uint8Array(20).fill(0xee);
          const chunk = Math.max(unit, Math.ceil(len / 64 / 8)) * 8; // within maxfragsperpacket
          const pieces: { off: number; end: number }[] = [];
          for (let off = 0; off < len; off += chunk) pieces.push({ off, end: Math.min(len, off + chunk) });
          // Shuffle by the drawn order, then add duplicates.
          const seq = pieces.map((_, i) => i);
          order.forEach((o, i) => {
            const a = i % seq.length;
            const b = o % seq.length;
            [seq[a], seq[b]] = [seq[b]!, seq[a]!];
          });
          for (const d of dups) seq.splice(d % (seq.length + 1), 0, seq[d % seq.length]!);
          let out: Uint8Array | null = null;
          let seen = 0;
          for (const k of seq) {
            const { off, end } = pieces[k]!;
            const bytes = new Uint8Array(20 + end - off);
            bytes.set(hdr);
            bytes.set(data.subarray(off, end), 20);
            const m = mFromBytes(pool, bytes)!;
            const res = r.input(m, { src: 1, dst: 2, id: 3, proto: 17, hlen: 20, off, dataLen: end - off, mf: end < len });
            seen++;
            if (res !== null) {
              expect(out).to.equal(null);
              expect(res.hlen).to.equal(20);
              out = mToBytes(res.m, 20);
              mFreem(res.m);
              break;
            }
          }
          expect(out, 'completed').to.not.equal(null);
          expect(Buffer.from(out!).equals(Buffer.from(data))).to.equal(true);
          expect(stats.reassembled).to.equal(1);
          expect(stats.fragoverlap).to.equal(0);
          r.drain();
          pool.assertAllFree();
          return seen > 0;
        },
      ),
      { numRuns: 300, seed: 3 },
    );
  });
});
