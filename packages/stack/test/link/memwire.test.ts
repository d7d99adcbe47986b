import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { MemWire } from '../../src/link/memwire.js';
import { frame, idOf, recorder, tick } from './helpers.js';

describe('MemWire', () => {
  describe('delivery', () => {
    it('delivers between two endpoints both ways, asynchronously and batched', async () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink({ name: 'wire0' });
      const b = wire.attachLink({ name: 'wire0' });
      const ra = recorder(a);
      const rb = recorder(b);
      for (let i = 0; i < 4; i++) expect(a.output(frame(i))).to.equal(true);
      expect(b.output(frame(100))).to.equal(true);
      expect(rb.frames).to.have.length(0);
      expect(wire.inFlight()).to.equal(5);
      await tick();
      expect(rb.batches).to.deep.equal([4]);
      expect(rb.frames.map(idOf)).to.deep.equal([0, 1, 2, 3]);
      expect(ra.frames.map(idOf)).to.deep.equal([100]);
      expect(a.stats()).to.include({ txFrames: 4, txBytes: 256, rxFrames: 1, rxBytes: 64 });
      expect(b.stats()).to.include({ txFrames: 1, rxFrames: 4 });
      expect(wire.stats()).to.include({ frames: 5, delivered: 5, dropped: 0 });
      expect(wire.inFlight()).to.equal(0);
      wire.close();
    });

    it('hands a single receiver the very frame that was output (no copy)', async () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const got: Uint8Array[] = [];
      b.attach((frames) => got.push(...frames));
      const f = frame(7);
      a.output(f);
      await tick();
      expect(got[0]).to.equal(f);
      wire.close();
    });

    it('as a hub, gives every other endpoint the frame, each its own copy', async () => {
      const wire = new MemWire({ seed: 1 });
      const [a, b, c] = [wire.attachLink(), wire.attachLink(), wire.attachLink()];
      const got = new Map<string, Uint8Array[]>();
      for (const [n, l] of [['a', a], ['b', b], ['c', c]] as const) {
        got.set(n, []);
        l.attach((frames) => got.get(n)!.push(...frames));
      }
      a.output(frame(1, 64, c.mac)); // unicast to c still floods on a hub
      await tick();
      expect(got.get('a')).to.have.length(0);
      expect(got.get('b')).to.have.length(1);
      expect(got.get('c')).to.have.length(1);
      expect(got.get('b')![0]).to.not.equal(got.get('c')![0]);
      expect([...got.get('b')![0]!]).to.deep.equal([...got.get('c')![0]!]);
      expect(wire.stats().delivered).to.equal(2);
      wire.close();
    });

    it('as a switch, sends unicast to its owner only and floods broadcast', async () => {
      const wire = new MemWire({ seed: 1, switched: true });
      const [a, b, c] = [wire.attachLink(), wire.attachLink(), wire.attachLink()];
      const [ra, rb, rc] = [recorder(a), recorder(b), recorder(c)];
      a.output(frame(1, 64, c.mac));
      a.output(frame(2)); // broadcast
      a.output(frame(3, 64, Uint8Array.of(0x02, 0, 0, 0, 0, 0x99))); // unknown unicast: flooded
      await tick();
      expect(ra.frames).to.have.length(0);
      expect(rb.frames.map(idOf)).to.deep.equal([2, 3]);
      expect(rc.frames.map(idOf)).to.deep.equal([1, 2, 3]);
      wire.close();
    });

    it('gives endpoints distinct locally administered MACs unless told', () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink();
      const b = wire.attachLink({ mac: Uint8Array.of(2, 0, 0, 0, 0, 1), mtu: 9000 });
      expect(a.mac[0]! & 0x03).to.equal(0x02);
      expect([...a.mac]).to.not.deep.equal([...wire.attachLink().mac]);
      expect([...b.mac]).to.deep.equal([2, 0, 0, 0, 0, 1]);
      expect(b.mtu).to.equal(9000);
      expect(a.mtu).to.equal(1500);
      expect(a.kind).to.equal('ethernet');
      expect(() => wire.attachLink({ mac: new Uint8Array(5) })).to.throw(RangeError);
      expect(() => wire.attachLink({ mtu: 40 })).to.throw(RangeError);
      wire.close();
    });

    it("'microtask' mode delivers before the next setImmediate", async () => {
      const wire = new MemWire({ seed: 1, flush: 'microtask' });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      a.output(frame(1));
      expect(rb.frames).to.have.length(0);
      await Promise.resolve();
      expect(rb.frames.map(idOf)).to.deep.equal([1]);
      wire.close();
    });

    it('frames output by a receiver wait for the next flush', async () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const order: string[] = [];
      // b echoes every frame; a counts rounds. Each round needs its own flush.
      b.attach((frames) => {
        for (const f of frames) {
          order.push(`b${idOf(f)}`);
          b.output(frame(idOf(f) + 1));
        }
      });
      a.attach((frames) => {
        for (const f of frames) {
          order.push(`a${idOf(f)}`);
          if (idOf(f) < 5) a.output(frame(idOf(f) + 1));
        }
      });
      a.output(frame(0));
      await tick();
      expect(order).to.deep.equal(['b0']);
      for (let i = 0; i < 10; i++) await tick();
      expect(order).to.deep.equal(['b0', 'a1', 'b2', 'a3', 'b4', 'a5']);
      wire.close();
    });
  });

  describe('down, oversize, close', () => {
    it('a down endpoint drops and counts both ways', async () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      recorder(a);
      a.setUp(false);
      expect(a.output(frame(1))).to.equal(false);
      expect(a.stats().txDrops).to.equal(1);
      expect(b.output(frame(2))).to.equal(true);
      await tick();
      expect(a.stats().rxDrops).to.equal(1);
      a.setUp(true);
      b.setUp(false);
      a.output(frame(3));
      await tick();
      expect(rb.frames).to.have.length(0);
      expect(b.stats().rxDrops).to.equal(1);
      wire.close();
    });

    it('counts frames that arrive with no receiver attached', async () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink();
      const b = wire.attachLink();
      a.output(frame(1));
      await tick();
      expect(b.stats().rxDrops).to.equal(1);
      wire.close();
    });

    it("drops frames larger than the sender's, the wire's or the receiver's MTU, counted oversize", async () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink({ mtu: 1500 });
      const b = wire.attachLink({ mtu: 1000 });
      const rb = recorder(b);
      expect(a.output(new Uint8Array(1515))).to.equal(false); // > 1500 + 14
      expect(a.output(new Uint8Array(1514))).to.equal(true); // fits a, too big for b
      expect(a.output(new Uint8Array(1014))).to.equal(true);
      await tick();
      expect(rb.frames.map((f) => f.length)).to.deep.equal([1014]);
      expect(wire.stats().oversize).to.equal(2);
      expect(a.stats().txDrops).to.equal(1);
      expect(b.stats().rxDrops).to.equal(1);
      wire.setFaults({ mtu: 500 }); // a narrower path in the middle
      expect(a.output(new Uint8Array(515))).to.equal(false);
      expect(a.output(new Uint8Array(514))).to.equal(true);
      await tick();
      expect(wire.stats().oversize).to.equal(3);
      expect(rb.frames).to.have.length(2);
      wire.close();
    });

    it('a receiver that throws loses the rest of that flush (counted), never stale frames later', () => {
      const wire = new MemWire({ seed: 1 });
      const [a, b, c] = [wire.attachLink(), wire.attachLink(), wire.attachLink()];
      b.attach(() => {
        throw new Error('receiver bug');
      });
      const rc = recorder(c);
      a.output(frame(1));
      expect(() => wire.flush()).to.throw('receiver bug');
      expect(c.stats().rxDrops).to.equal(1);
      b.attach(() => {});
      a.output(frame(2));
      wire.flush();
      expect(rc.frames.map(idOf)).to.deep.equal([2]);
      wire.close();
    });

    it('per-endpoint mtu fault narrows one direction only', async () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink();
      const b = wire.attachLink();
      a.setFaults({ mtu: 576 });
      expect(a.output(new Uint8Array(600))).to.equal(false);
      expect(b.output(new Uint8Array(600))).to.equal(true);
      a.setFaults(null);
      expect(a.output(new Uint8Array(600))).to.equal(true);
      expect(wire.stats().oversize).to.equal(1);
      wire.close();
    });

    it('drops beyond the per-endpoint queue limit, counted at the receiver', async () => {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink();
      const b = wire.attachLink({ queueLimit: 3 });
      const rb = recorder(b);
      for (let i = 0; i < 5; i++) a.output(frame(i));
      await tick();
      expect(rb.frames.map(idOf)).to.deep.equal([0, 1, 2]);
      expect(b.stats().rxDrops).to.equal(2);
      wire.close();
    });

    it('close() discards frames in flight, clears every timer and is idempotent', async () => {
      const clock = new ManualClock();
      const wire = new MemWire({
        seed: 3,
        clock,
        faults: { delay: { ms: 10 }, reorder: { p: 0.5, maxHoldMs: 50 }, rateLimit: { bitsPerSecond: 8000, burstBytes: 64, queueLimit: 8 } },
      });
      const a = wire.attachLink();
      const b = wire.attachLink();
      const rb = recorder(b);
      for (let i = 0; i < 10; i++) a.output(frame(i));
      clock.advance(8); // one more frame through the bucket
      const inFlight = wire.inFlight();
      expect(inFlight).to.be.greaterThan(0);
      expect(clock.pending()).to.be.greaterThan(0);
      wire.close();
      wire.close();
      expect(clock.pending()).to.equal(0);
      expect(wire.stats().discarded).to.equal(inFlight);
      clock.advance(1000);
      await tick();
      expect(rb.frames).to.have.length(0);
      expect(a.output(frame(99))).to.equal(false);
      expect(() => wire.attachLink()).to.throw();
    });

    it('closing one endpoint drops what was queued for it and leaves the others working', async () => {
      const wire = new MemWire({ seed: 1 });
      const [a, b, c] = [wire.attachLink(), wire.attachLink(), wire.attachLink()];
      const [rb, rc] = [recorder(b), recorder(c)];
      a.output(frame(1));
      b.close();
      expect(wire.links()).to.have.length(2);
      await tick();
      expect(rb.frames).to.have.length(0);
      expect(rc.frames.map(idOf)).to.deep.equal([1]);
      expect(b.stats().rxDrops).to.equal(1);
      expect(b.output(frame(2))).to.equal(false);
      a.close();
      c.close();
      wire.close();
    });
  });

  describe('fast path', () => {
    it('with no faults arms no timer and copies nothing', async () => {
      const clock = new ManualClock();
      const wire = new MemWire({ seed: 1, clock });
      const a = wire.attachLink();
      const b = wire.attachLink({ queueLimit: 100_000 });
      const sent: Uint8Array[] = [];
      let same = 0;
      let n = 0;
      b.attach((frames) => {
        for (const f of frames) if (f === sent[n++]) same++;
      });
      for (let i = 0; i < 1000; i++) {
        const f = frame(i, 1514);
        sent.push(f);
        a.output(f);
      }
      expect(clock.pending()).to.equal(0);
      await tick();
      expect(same).to.equal(1000);
      wire.close();
    });

    it('moves 200k full-size frames in well under two seconds', async function () {
      const wire = new MemWire({ seed: 1 });
      const a = wire.attachLink();
      const b = wire.attachLink({ queueLimit: 1 << 20 });
      let bytes = 0;
      b.attach((frames) => {
        for (const f of frames) bytes += f.length;
      });
      const f = new Uint8Array(1514);
      const t0 = performance.now();
      for (let burst = 0; burst < 200; burst++) {
        for (let i = 0; i < 1000; i++) a.output(f);
        await tick();
      }
      const ms = performance.now() - t0;
      expect(bytes).to.equal(200_000 * 1514);
      expect(ms).to.be.lessThan(2000);
      wire.close();
    });
  });
});
