/**
 * The allocation benchmark (examples/src/bench/alloc.ts) measures what it
 * says: a bulk transfer ran, every window is a finite byte count per
 * segment, the object count and the allocation sites come from a profile
 * of the stack's own code. Form only: the figures themselves are not
 * judged (they depend on the JIT).
 */
import { expect } from 'chai';
import { measureAllocations } from '../src/bench/alloc.js';

describe('bench: allocations per segment', function () {
  this.timeout(120_000);

  for (const family of [4, 6] as const) {
    it(`IPv${family}: bytes and objects per segment, windows and sites are measured`, async () => {
      const r = await measureAllocations({ family, runs: 2, mib: 1, warmup: 5000, segments: 500, sites: 5 });
      expect(r.segments).to.be.within(16, 500);
      expect(r.windows).to.have.length(2);
      for (const w of r.windows) expect(Number.isFinite(w) && w >= 0, `window ${w}`).to.equal(true);
      expect(r.bytesPerSegment).to.equal([...r.windows].sort((a, b) => a - b)[1]);
      // Data one way, ACKs the other: at least one frame per data segment.
      expect(r.framesPerSegment).to.be.at.least(1);
      expect(Number.isFinite(r.objectsPerSegment) && r.objectsPerSegment >= 0).to.equal(true);
      expect(r.mibs).to.be.greaterThan(0);
      expect(r.cpuMsPerMiB).to.be.greaterThan(0);
      expect(r.sites.length).to.be.within(1, 5);
      for (const s of r.sites) {
        expect(s.site).to.be.a('string').and.not.equal('');
        expect(s.bytesPerSegment).to.be.greaterThan(0);
      }
      // Sites are sorted by bytes, largest first.
      const b = r.sites.map((s) => s.bytesPerSegment);
      expect(b).to.deep.equal([...b].sort((x, y) => y - x));
    });
  }

  it('counts ArrayBuffer backing stores: none per segment with lent frame buffers, a frame\'s worth without', async () => {
    const on = await measureAllocations({ family: 4, runs: 2, mib: 0, sites: 0, warmup: 5000, segments: 500 });
    const off = await measureAllocations({ family: 4, runs: 2, mib: 0, sites: 0, warmup: 5000, segments: 500, lend: false });
    // Lent: data frames are built in the receiver's clusters, ACKs in the wire's ring — no new memory.
    expect(on.arrayBufferBytesPerSegment).to.equal(0);
    // Not lent: every frame is carved from fresh 256 KiB slabs (about 1.5 KB per data segment).
    expect(off.arrayBufferBytesPerSegment).to.be.greaterThan(1000);
  });

  it('no sites and no throughput when asked for none', async () => {
    const r = await measureAllocations({ runs: 1, mib: 0, sites: 0, warmup: 2000, segments: 200 });
    expect(r.sites).to.deep.equal([]);
    expect(Number.isNaN(r.objectsPerSegment)).to.equal(true);
    expect(Number.isNaN(r.mibs)).to.equal(true);
    expect(r.windows).to.have.length(1);
  });
});
