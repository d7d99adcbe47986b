import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { EphemeralPortPicker, IsnGenerator } from '../../src/transport/tcp/isn.js';

const KEY = new Uint8Array(32).fill(7);

describe('tcp/isn (RFC 6528, RFC 6056)', () => {
  it('ISN = M + F: M advances 250 per ms (4 µs ticks), F is fixed per tuple', () => {
    const clock = new ManualClock(1000);
    const g = new IsnGenerator({ now: () => clock.now(), key: KEY });
    const a = g.isn(0x0a000001, 40000, 0x0a000002, 80);
    clock.advance(4);
    const b = g.isn(0x0a000001, 40000, 0x0a000002, 80);
    expect((b - a) >>> 0).to.equal(1000);
    expect(g.timer()).to.equal(1004 * 250);
    expect((a - g.offset(0x0a000001, 40000, 0x0a000002, 80)) >>> 0).to.equal(1000 * 250);
  });

  it('is deterministic for a key, different across tuples and keys', () => {
    const now = () => 0;
    const g1 = new IsnGenerator({ now, key: KEY });
    const g2 = new IsnGenerator({ now, key: KEY });
    const g3 = new IsnGenerator({ now, key: new Uint8Array(32).fill(8) });
    const t = [0x0a000001, 40000, 0x0a000002, 80] as const;
    expect(g1.isn(...t)).to.equal(g2.isn(...t));
    expect(g1.isn(...t)).to.not.equal(g3.isn(...t));
    // Every field matters, and swapping ends gives another value.
    const seen = new Set<number>([
      g1.isn(...t),
      g1.isn(0x0a000003, 40000, 0x0a000002, 80),
      g1.isn(0x0a000001, 40001, 0x0a000002, 80),
      g1.isn(0x0a000001, 40000, 0x0a000004, 80),
      g1.isn(0x0a000001, 40000, 0x0a000002, 81),
      g1.isn(0x0a000002, 80, 0x0a000001, 40000),
    ]);
    expect(seen.size).to.equal(6);
    // Byte-array and numeric IPv4 addresses hash alike; IPv6 differs.
    expect(g1.isn(Uint8Array.of(10, 0, 0, 1), 40000, Uint8Array.of(10, 0, 0, 2), 80)).to.equal(g1.isn(...t));
    const v6 = new Uint8Array(16);
    v6[15] = 1;
    expect(g1.isn(v6, 40000, v6, 80)).to.not.equal(g1.isn(1, 40000, 1, 80));
  });

  it('1,000 connections: spread over the space, and fast enough', () => {
    const g = new IsnGenerator({ now: () => 0 });
    const isns = new Set<number>();
    let high = 0;
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      const v = g.isn(0x0a000001, 32768 + i, 0x0a000002, 80);
      expect(v).to.be.within(0, 0xffffffff);
      isns.add(v);
      if (v >= 0x80000000) high++;
    }
    expect(performance.now() - t0).to.be.below(1000);
    expect(isns.size).to.equal(1000);
    expect(high).to.be.within(400, 600); // top bit ~ fair coin
  });

  it('rejects short keys; rekey changes F', () => {
    expect(() => new IsnGenerator({ now: () => 0, key: new Uint8Array(8) })).to.throw(RangeError);
    const g = new IsnGenerator({ now: () => 0, key: KEY });
    const a = g.isn(1, 2, 3, 4);
    g.rekey(new Uint8Array(16).fill(1));
    expect(g.isn(1, 2, 3, 4)).to.not.equal(a);
  });

  describe('EphemeralPortPicker (Algorithm 4)', () => {
    it('stays in range, skips ports in use, and answers undefined when all are taken', () => {
      const p = new EphemeralPortPicker({ min: 50000, max: 50009, key: KEY });
      const used = new Set<number>();
      for (let i = 0; i < 10; i++) {
        const port = p.pick(0x0a000001, 0x0a000002, 80, (x) => !used.has(x));
        expect(port).to.be.within(50000, 50009);
        expect(used.has(port!)).to.equal(false);
        used.add(port!);
      }
      let asked = 0;
      expect(p.pick(0x0a000001, 0x0a000002, 80, () => (asked++, false))).to.equal(undefined);
      expect(asked).to.equal(10);
    });

    it('walks successive ports for one destination and scatters across destinations', () => {
      const p = new EphemeralPortPicker({ key: KEY });
      const a = p.pick(0x0a000001, 0x0a000002, 80, () => true)!;
      const b = p.pick(0x0a000001, 0x0a000002, 80, () => true)!;
      expect(b).to.not.equal(a);
      const ports = new Set<number>();
      for (let i = 0; i < 200; i++) ports.add(p.pick(0x0a000001, 0x0a000100 + i, 443, () => true)!);
      expect(ports.size).to.be.above(150);
      for (const x of ports) expect(x).to.be.within(32768, 60999);
    });

    it('rejects a bad range', () => {
      expect(() => new EphemeralPortPicker({ min: 2000, max: 1000 })).to.throw(RangeError);
      expect(() => new EphemeralPortPicker({ min: 0 })).to.throw(RangeError);
    });
  });
});
