import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { normalizeFaults, type FaultConfig } from '../../src/link/faults.js';
import { MemWire } from '../../src/link/memwire.js';
import { frame, idOf, recorder, tick } from './helpers.js';

const N = 10_000;

/**
 * Send `n` frames a→b on a ManualClock wire, flushing every 500 frames, then
 * let every timer run out and deliver everything. Returns what b received.
 */
function run(faults: FaultConfig, seed: number, n = N, len = 64) {
  const clock = new ManualClock();
  const wire = new MemWire({ seed, clock, faults });
  const a = wire.attachLink();
  const b = wire.attachLink({ queueLimit: 4 * n });
  const rb = recorder(b);
  const sent: Uint8Array[] = [];
  let refused = 0;
  for (let i = 0; i < n; i++) {
    const f = frame(i, len);
    sent.push(f.slice());
    if (!a.output(f)) refused++;
    if (i % 500 === 499) wire.flush();
  }
  // Bounded: the largest timer in these configurations is well under 1 s.
  for (let i = 0; i < 100 && (wire.inFlight() > 0 || clock.pending() > 0); i++) {
    clock.advance(10);
    wire.flush();
  }
  expect(wire.inFlight(), 'frames stuck on the wire').to.equal(0);
  const stats = wire.stats();
  wire.close();
  return { got: rb.frames, sent, stats, a: a.stats(), b: b.stats(), refused, seed: wire.seed };
}

/** Expect `count / n` within `tol` of `p`. */
function near(count: number, n: number, p: number, tol = 0.02): void {
  expect(count / n, `${count}/${n} vs p=${p}`).to.be.within(p - tol, p + tol);
}

describe('MemWire fault injector', () => {
  describe('each fault happens at about its probability, and is counted', () => {
    it('drop', () => {
      const r = run({ drop: 0.1 }, 11);
      near(r.stats.dropped, N, 0.1);
      expect(r.got.length + r.stats.dropped).to.equal(N);
      expect(r.a.txDrops).to.equal(r.stats.dropped);
      expect(r.a.txFrames).to.equal(N);
      // Survivors arrive intact and in order.
      const ids = r.got.map(idOf);
      expect(ids).to.deep.equal([...ids].sort((x, y) => x - y));
    });

    it('duplicate', () => {
      const r = run({ duplicate: 0.2 }, 12);
      near(r.stats.duplicated, N, 0.2);
      expect(r.got.length).to.equal(N + r.stats.duplicated);
      const counts = new Map<number, number>();
      for (const f of r.got) counts.set(idOf(f), (counts.get(idOf(f)) ?? 0) + 1);
      expect(counts.size).to.equal(N);
      expect([...counts.values()].filter((c) => c === 2)).to.have.length(r.stats.duplicated);
    });

    it('reorder, keeping the multiset of frames', () => {
      const r = run({ reorder: { p: 0.1, gap: 2, maxHoldMs: 5 } }, 13);
      near(r.stats.reordered, N, 0.1);
      const ids = r.got.map(idOf);
      expect([...ids].sort((x, y) => x - y)).to.deep.equal(sent(N));
      let inversions = 0;
      for (let i = 1; i < ids.length; i++) if (ids[i]! < ids[i - 1]!) inversions++;
      // Each held frame is overtaken by the next frames; back-to-back holds can merge.
      near(inversions, N, 0.1 * 0.9, 0.03);
      expect(inversions).to.be.at.most(r.stats.reordered);
      // A held frame comes right after the `gap` (2) frames that overtook it;
      // held frames do not count as overtakers, so overlapping holds change
      // nothing. Only a hold at the very end is released by its timer instead.
      const overtaken: number[] = [];
      ids.forEach((id, pos) => {
        let n = 0;
        for (let j = Math.max(0, pos - 30); j < pos; j++) if (ids[j]! > id) n++;
        if (n > 0) overtaken.push(n);
      });
      expect(overtaken.length).to.be.within(r.stats.reordered - 2, r.stats.reordered);
      expect(overtaken.every((n) => n === 2)).to.equal(true);
    });

    it('delay (a fraction p of frames)', () => {
      const r = run({ delay: { ms: 5, jitterMs: 2, p: 0.3 } }, 14);
      near(r.stats.delayed, N, 0.3);
      expect(r.got).to.have.length(N);
    });

    it('corrupt: bytes change, lengths do not; the count matches the frames that differ', () => {
      const r = run({ corrupt: { p: 0.05, maxFlips: 3 } }, 15, N, 100);
      near(r.stats.corrupted, N, 0.05, 0.01);
      expect(r.got).to.have.length(N);
      let differ = 0;
      r.got.forEach((f, i) => {
        expect(f.length).to.equal(100);
        const orig = r.sent[i]!;
        let bits = 0;
        for (let j = 0; j < f.length; j++) {
          let x = f[j]! ^ orig[j]!;
          for (; x; x &= x - 1) bits++;
        }
        if (bits > 0) {
          differ++;
          expect(bits).to.be.within(1, 3);
        }
      });
      expect(differ).to.equal(r.stats.corrupted);
    });

    it('corrupt in byte units, sparing the Ethernet header with offset 14', () => {
      const r = run({ corrupt: { p: 0.5, unit: 'byte', maxFlips: 4, offset: 14 } }, 16, 2000, 60);
      near(r.stats.corrupted, 2000, 0.5, 0.05);
      let differ = 0;
      r.got.forEach((f, i) => {
        const orig = r.sent[i]!;
        expect([...f.subarray(0, 14)]).to.deep.equal([...orig.subarray(0, 14)]);
        let bytes = 0;
        for (let j = 14; j < f.length; j++) if (f[j] !== orig[j]) bytes++;
        if (bytes > 0) differ++;
        expect(bytes).to.be.at.most(4);
      });
      expect(differ).to.equal(r.stats.corrupted);
    });

    it('all at once, with every frame accounted for', () => {
      const r = run({ drop: 0.05, duplicate: 0.05, reorder: 0.05, corrupt: 0.05, delay: { ms: 1, jitterMs: 3 } }, 17);
      near(r.stats.dropped, N, 0.05);
      near(r.stats.duplicated, N - r.stats.dropped, 0.05); // of the survivors
      expect(r.got.length).to.equal(N - r.stats.dropped + r.stats.duplicated);
      expect(r.stats.delayed).to.equal(r.got.length);
    });
  });

  describe('replay', () => {
    const faults: FaultConfig = { drop: 0.1, duplicate: 0.1, reorder: 0.1, corrupt: 0.1, delay: { ms: 2, jitterMs: 5 } };
    const digest = (frames: Uint8Array[]) => frames.map((f) => Buffer.from(f).toString('hex')).join(',');

    it('the same seed gives the identical sequence of delivered frames', () => {
      const r1 = run(faults, 1234, 2000);
      const r2 = run(faults, 1234, 2000);
      expect(r1.seed).to.equal(1234);
      expect(r1.got.length).to.be.greaterThan(1000);
      expect(digest(r1.got)).to.equal(digest(r2.got));
      expect(r1.stats).to.deep.equal(r2.stats);
    });

    it('a different seed gives a different sequence', () => {
      const r1 = run(faults, 1234, 2000);
      const r2 = run(faults, 1235, 2000);
      expect(digest(r1.got)).to.not.equal(digest(r2.got));
    });

    it('a wire without a seed picks one and exposes it', () => {
      const w1 = new MemWire();
      const w2 = new MemWire();
      expect(w1.seed).to.be.a('number');
      expect(w1.seed).to.not.equal(w2.seed); // 1 in 2^32 chance of a false failure
      w1.close();
      w2.close();
    });
  });

  describe('rate limit', () => {
    // 8 Mbit/s = 1000 bytes per ms; 1000-byte frames, bucket of 10 frames, queue of 10.
    const rateLimit = { bitsPerSecond: 8_000_000, burstBytes: 10_000, queueLimit: 10 };

    it('passes the bucket, queues up to the limit, drops and counts the rest of a burst', async () => {
      const clock = new ManualClock();
      const wire = new MemWire({ seed: 1, clock, faults: { rateLimit } });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      const accepted: boolean[] = [];
      for (let i = 0; i < 50; i++) accepted.push(a.output(frame(i, 1000)));
      expect(accepted.filter(Boolean)).to.have.length(20);
      expect(accepted.slice(20).every((x) => !x)).to.equal(true);
      expect(wire.stats()).to.include({ rateDropped: 30, rateQueued: 10 });
      expect(a.stats().txDrops).to.equal(30);
      await tick();
      expect(rb.frames).to.have.length(10);
      clock.advance(1);
      await tick();
      expect(rb.frames).to.have.length(11);
      clock.advance(3.5);
      await tick();
      expect(rb.frames).to.have.length(14);
      clock.advance(100);
      await tick();
      expect(rb.frames.map(idOf)).to.deep.equal(sent(20));
      wire.close();
    });

    it('matches the configured rate over time', () => {
      const clock = new ManualClock();
      const wire = new MemWire({ seed: 1, clock, faults: { rateLimit } });
      const a = wire.attachLink();
      const b = wire.attachLink();
      let bytes = 0;
      b.attach((frames) => {
        for (const f of frames) bytes += f.length;
      });
      // Offer 3 Mbyte/s for one second against a 1 Mbyte/s bottleneck.
      for (let ms = 0; ms < 1000; ms++) {
        for (let k = 0; k < 3; k++) a.output(frame(ms * 3 + k, 1000));
        clock.advance(1);
        wire.flush();
      }
      // 1 s at 1000 bytes/ms, plus the initial bucket; minus what is still queued.
      expect(bytes).to.be.within(1_000_000, 1_000_000 + rateLimit.burstBytes);
      expect(wire.stats().rateDropped).to.be.within(1900, 2000);
      wire.close();
    });

    it('changing the rate applies to frames already queued', () => {
      const clock = new ManualClock();
      const wire = new MemWire({ seed: 1, clock, faults: { rateLimit } });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      for (let i = 0; i < 20; i++) a.output(frame(i, 1000)); // 10 pass, 10 queue
      wire.flush();
      expect(rb.frames).to.have.length(10);
      wire.setFaults({ rateLimit: { ...rateLimit, bitsPerSecond: 80_000_000 } }); // 10 bytes per µs
      clock.advance(1); // 10 000 bytes' worth at the new rate
      wire.flush();
      expect(rb.frames).to.have.length(20);
      wire.close();
    });

    it('turning the limit off lets the queue go at once, in order', async () => {
      const clock = new ManualClock();
      const wire = new MemWire({ seed: 1, clock, faults: { rateLimit } });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      for (let i = 0; i < 15; i++) a.output(frame(i, 1000));
      wire.setFaults(null);
      a.output(frame(15, 1000));
      await tick();
      expect(rb.frames.map(idOf)).to.deep.equal(sent(16));
      expect(clock.pending()).to.equal(0);
      wire.close();
    });
  });

  describe('delay', () => {
    it('with a ManualClock, delivers exactly when the clock passes the delay', async () => {
      const clock = new ManualClock();
      const wire = new MemWire({ seed: 1, clock, faults: { delay: { ms: 10 } } });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      a.output(frame(1));
      clock.advance(5);
      a.output(frame(2));
      await tick();
      // Fractions exact in binary, so the sum is exactly 10.
      clock.advance(4.75);
      await tick();
      expect(rb.frames).to.have.length(0);
      clock.advance(0.25); // t = 10
      await tick();
      expect(rb.frames.map(idOf)).to.deep.equal([1]);
      clock.advance(4.75);
      await tick();
      expect(rb.frames).to.have.length(1);
      clock.advance(0.25); // t = 15
      await tick();
      expect(rb.frames.map(idOf)).to.deep.equal([1, 2]);
      expect(wire.stats().delayed).to.equal(2);
      wire.close();
    });

    it('jitter keeps every frame inside [ms, ms + jitter]', async () => {
      const clock = new ManualClock();
      const wire = new MemWire({ seed: 5, clock, faults: { delay: { ms: 20, jitterMs: 10 } } });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const at: number[] = [];
      b.attach((frames) => frames.forEach(() => at.push(clock.now())));
      for (let i = 0; i < 200; i++) a.output(frame(i));
      for (let t = 0; t < 40; t++) {
        clock.advance(1);
        wire.flush();
      }
      expect(at).to.have.length(200);
      expect(Math.min(...at)).to.be.at.least(20);
      expect(Math.max(...at)).to.be.at.most(31);
      expect(new Set(at).size).to.be.greaterThan(5);
      wire.close();
    });

    it('works on the real clock', async () => {
      const wire = new MemWire({ seed: 1, faults: { delay: { ms: 15 } } });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      const t0 = performance.now();
      a.output(frame(1));
      await tick();
      expect(rb.frames).to.have.length(0);
      for (let i = 0; i < 100 && rb.frames.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(rb.frames).to.have.length(1);
      expect(performance.now() - t0).to.be.at.least(14);
      wire.close();
    });
  });

  describe('run-time control', () => {
    it('setFaults turns loss on for the middle of a run', async () => {
      const wire = new MemWire({ seed: 21 });
      const a = wire.attachLink();
      const b = wire.attachLink({ queueLimit: 10_000 });
      const rb = recorder(b);
      for (let i = 0; i < 1000; i++) a.output(frame(i));
      await tick();
      wire.setFaults({ drop: 0.5 });
      for (let i = 1000; i < 2000; i++) a.output(frame(i));
      await tick();
      wire.setFaults(null);
      for (let i = 2000; i < 3000; i++) a.output(frame(i));
      await tick();
      const ids = rb.frames.map(idOf);
      expect(ids.filter((i) => i < 1000)).to.have.length(1000);
      near(ids.filter((i) => i >= 1000 && i < 2000).length, 1000, 0.5, 0.06);
      expect(ids.filter((i) => i >= 2000)).to.have.length(1000);
      expect(wire.stats().dropped).to.equal(3000 - ids.length);
      wire.close();
    });

    it('per-endpoint faults apply to one direction only', async () => {
      const wire = new MemWire({ seed: 22 });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const [ra, rb] = [recorder(a), recorder(b)];
      a.setFaults({ drop: 1 });
      for (let i = 0; i < 10; i++) {
        a.output(frame(i));
        b.output(frame(i));
      }
      await tick();
      expect(rb.frames).to.have.length(0);
      expect(ra.frames).to.have.length(10);
      expect(a.stats().txDrops).to.equal(10);
      a.setFaults(null);
      a.output(frame(99));
      await tick();
      expect(rb.frames.map(idOf)).to.deep.equal([99]);
      wire.close();
    });

    it('drain() releases delayed, held and rate-queued frames at once', () => {
      const clock = new ManualClock();
      const wire = new MemWire({
        seed: 23,
        clock,
        faults: { delay: { ms: 1000 }, reorder: { p: 0.3, maxHoldMs: 1000 }, rateLimit: { bitsPerSecond: 8000, burstBytes: 640, queueLimit: 100 } },
      });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      for (let i = 0; i < 50; i++) expect(a.output(frame(i))).to.equal(true);
      expect(wire.inFlight()).to.equal(50);
      wire.drain();
      expect(wire.inFlight()).to.equal(0);
      expect(clock.pending()).to.equal(0);
      expect(rb.frames.map(idOf).sort((x, y) => x - y)).to.deep.equal(sent(50));
      wire.close();
    });

    it('rejects invalid configurations', () => {
      expect(() => normalizeFaults({ drop: 1.5 })).to.throw(RangeError);
      expect(() => normalizeFaults({ drop: -0.1 })).to.throw(RangeError);
      expect(() => normalizeFaults({ delay: { ms: -1 } })).to.throw(RangeError);
      expect(() => normalizeFaults({ rateLimit: { bitsPerSecond: 0 } })).to.throw(RangeError);
      expect(() => normalizeFaults({ corrupt: { p: 0.1, maxFlips: 1.5 } })).to.throw(RangeError);
      expect(() => new MemWire({ faults: { duplicate: Number.NaN } })).to.throw(RangeError);
      expect(normalizeFaults({}).active).to.equal(false);
      expect(normalizeFaults({ delay: { ms: 0 } }).active).to.equal(false);
      expect(normalizeFaults({ mtu: 1000 }).active).to.equal(false);
      expect(normalizeFaults({ reorder: 0.01 }).active).to.equal(true);
    });
  });
});

function sent(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
