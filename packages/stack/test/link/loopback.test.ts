import { expect } from 'chai';
import { LoopbackLink, LOOPBACK_MTU } from '../../src/link/loopback.js';
import { idOf, frame, recorder, tick } from './helpers.js';

describe('LoopbackLink', () => {
  it('is lo0, kind loopback, zero MAC, MTU 16384 by default', () => {
    const lo = new LoopbackLink();
    expect(lo.name).to.equal('lo0');
    expect(lo.kind).to.equal('loopback');
    expect(lo.mtu).to.equal(LOOPBACK_MTU).and.equal(16384);
    expect([...lo.mac]).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(lo.up).to.equal(true);
    lo.close();
  });

  it('returns frames in order, in one batch, never inside output()', async () => {
    const lo = new LoopbackLink();
    const seen: Uint8Array[][] = [];
    let inOutput = false;
    let calledDuringOutput = false;
    lo.attach((frames) => {
      if (inOutput) calledDuringOutput = true;
      seen.push([...frames]);
    });
    const sent = [frame(1), frame(2), frame(3), frame(4), frame(5)];
    for (const f of sent) {
      inOutput = true;
      expect(lo.output(f)).to.equal(true);
      inOutput = false;
    }
    expect(seen).to.have.length(0);
    expect(lo.queued).to.equal(5);
    await tick();
    expect(calledDuringOutput).to.equal(false);
    expect(seen).to.have.length(1);
    // Same objects: ownership passed to the link, which hands them on without copying.
    expect(seen[0]).to.have.length(5);
    seen[0]!.forEach((f, i) => expect(f).to.equal(sent[i]));
    const s = lo.stats();
    expect(s).to.include({ txFrames: 5, rxFrames: 5, txBytes: 5 * 64, rxBytes: 5 * 64, rxDrops: 0, txDrops: 0 });
    lo.close();
  });

  it('queues frames output by the receiver for the next flush (no re-entry)', async () => {
    const lo = new LoopbackLink();
    const batches: number[][] = [];
    const queuedInside: number[] = [];
    lo.attach((frames) => {
      batches.push(frames.map(idOf));
      // Answer each frame once, like an echo reply to 127.0.0.1.
      let answered = 0;
      for (const f of frames) if (idOf(f) < 100 && lo.output(frame(idOf(f) + 100))) answered++;
      queuedInside.push(lo.queued - answered);
    });
    lo.output(frame(1));
    lo.output(frame(2));
    await tick();
    expect(batches).to.deep.equal([[1, 2]]);
    await tick();
    expect(batches).to.deep.equal([[1, 2], [101, 102]]);
    await tick();
    expect(batches).to.have.length(2);
    // The answers sat in a fresh queue while the batch was delivered.
    expect(queuedInside).to.deep.equal([0, 0]);
    lo.close();
  });

  it('batches per burst: frames output after a flush go in a new batch', async () => {
    const lo = new LoopbackLink();
    const rec = recorder(lo);
    for (let i = 0; i < 3; i++) lo.output(frame(i));
    await tick();
    for (let i = 3; i < 10; i++) lo.output(frame(i));
    await tick();
    expect(rec.batches).to.deep.equal([3, 7]);
    expect(rec.frames.map(idOf)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    lo.close();
  });

  it('down link drops and counts both ways', async () => {
    const lo = new LoopbackLink();
    const rec = recorder(lo);
    lo.output(frame(1)); // queued while up
    lo.setUp(false);
    expect(lo.up).to.equal(false);
    expect(lo.output(frame(2))).to.equal(false); // refused while down
    await tick();
    expect(rec.frames).to.have.length(0);
    expect(lo.stats()).to.include({ txFrames: 1, txDrops: 1, rxDrops: 1, rxFrames: 0 });
    lo.setUp(true);
    expect(lo.output(frame(3))).to.equal(true);
    await tick();
    expect(rec.frames.map(idOf)).to.deep.equal([3]);
    lo.close();
  });

  it('drops oversize frames, frames beyond the queue limit, and frames with no receiver', async () => {
    const lo = new LoopbackLink({ mtu: 1000, queueLimit: 2 });
    expect(lo.output(new Uint8Array(1001))).to.equal(false);
    expect(lo.output(new Uint8Array(1000))).to.equal(true);
    expect(lo.output(new Uint8Array(10))).to.equal(true);
    expect(lo.output(new Uint8Array(10))).to.equal(false); // queue full
    await tick(); // no receiver attached
    expect(lo.stats()).to.include({ txFrames: 2, txDrops: 2, rxDrops: 2, rxFrames: 0 });
    lo.close();
  });

  it('checks the MTU it is given', () => {
    expect(() => new LoopbackLink({ mtu: 67 })).to.throw(RangeError);
    const lo = new LoopbackLink();
    expect(() => lo.setMtu(65536)).to.throw(RangeError);
    expect(() => lo.setMtu(1.5)).to.throw(RangeError);
    lo.setMtu(1500);
    expect(lo.mtu).to.equal(1500);
    lo.close();
  });

  it('close() drops queued frames, cancels the flush and is idempotent', async () => {
    const lo = new LoopbackLink();
    const rec = recorder(lo);
    lo.output(frame(1));
    lo.output(frame(2));
    lo.close();
    lo.close();
    await tick();
    expect(rec.frames).to.have.length(0);
    expect(lo.up).to.equal(false);
    expect(lo.output(frame(3))).to.equal(false);
    expect(lo.stats()).to.include({ rxDrops: 2, txDrops: 1 });
  });

  it('flush() delivers synchronously; a re-entrant flush() is ignored', () => {
    const lo = new LoopbackLink();
    const calls: number[] = [];
    lo.attach((frames) => {
      calls.push(frames.length);
      lo.output(frame(9));
      lo.flush(); // must not deliver frame 9 inside this call
    });
    lo.output(frame(1));
    lo.flush();
    expect(calls).to.deep.equal([1]);
    expect(lo.queued).to.equal(1);
    lo.close();
  });

  it("'microtask' mode delivers before the next setImmediate, still not inside output()", async () => {
    const lo = new LoopbackLink({ flush: 'microtask' });
    const rec = recorder(lo);
    lo.output(frame(1));
    expect(rec.frames).to.have.length(0);
    await Promise.resolve();
    expect(rec.frames.map(idOf)).to.deep.equal([1]);
    lo.close();
  });
});
