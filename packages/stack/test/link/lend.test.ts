/**
 * Lent frame buffers: the MemWire's transmit ring (`link/framering.ts`) and
 * the receive clusters a stack lends its link (`mbuf/lend.ts`), with which
 * two stacks on one wire copy each byte twice instead of three times.
 * What must hold: one owner per slot or cluster at a time (fast-check
 * against a model), a double free or reclaim caught, every lent buffer back
 * with its lender whatever happens to the frame (delivered, dropped by a
 * down link, a full queue, faults, a closing wire), receivers that did not
 * promise to copy never see a kept frame change, and data intact end to end
 * with exact counts.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { FrameRing } from '../../src/link/framering.js';
import { MemWire } from '../../src/link/memwire.js';
import { ClusterLender } from '../../src/mbuf/lend.js';
import { ClusterPool, MHLEN, mFreem, type Mbuf } from '../../src/mbuf/index.js';
import { connectPair, Flow, pattern, runFlows, WirePair } from '../tcp/harness.js';

const MiB = 1024 * 1024;

describe('FrameRing (transmit buffers lent by a link)', () => {
  it('never lends one slot to two live owners; a double free throws; foreign frames are not its own (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ op: fc.constant('alloc' as const), len: fc.integer({ min: 0, max: 300 }) }), fc.record({ op: fc.constant('free' as const), k: fc.nat() }), fc.record({ op: fc.constant('double' as const), k: fc.nat() })), { maxLength: 200 }),
        (ops) => {
          const ring = new FrameRing({ slotBytes: 256, chunkSlots: 4, maxChunks: 3 });
          const live: { f: Uint8Array; tag: number }[] = [];
          const dead: Uint8Array[] = [];
          let tag = 0;
          for (const o of ops) {
            if (o.op === 'alloc') {
              const f = ring.alloc(o.len);
              if (o.len > 256) {
                expect(f).to.equal(null);
                continue;
              }
              if (live.length === 12) {
                expect(f, 'all 3 chunks of 4 slots lent').to.equal(null);
                continue;
              }
              expect(f).to.not.equal(null);
              expect(f!.length).to.equal(o.len);
              tag = (tag + 1) & 0xff;
              f!.fill(tag);
              live.push({ f: f!, tag });
            } else if (o.op === 'free' && live.length > 0) {
              const { f } = live.splice(o.k % live.length, 1)[0]!;
              expect(ring.free(f)).to.equal(true);
              dead.push(f);
            } else if (o.op === 'double' && dead.length > 0) {
              const f = dead[o.k % dead.length]!;
              // Either its slot is free (a double free) or lent to another owner (a stale frame):
              // freeing it must throw in the first case; in the second it would steal the slot, so
              // the model only tries slots no live frame holds.
              const held = live.some((l) => l.f.buffer === f.buffer && l.f.byteOffset === f.byteOffset);
              if (!held) expect(() => ring.free(f)).to.throw(/not lent/);
            }
            // Every live frame still holds its own bytes: no slot is shared.
            for (const l of live) expect(l.f.every((b) => b === l.tag)).to.equal(true);
            expect(ring.inUse).to.equal(live.length);
          }
          expect(ring.free(new Uint8Array(16))).to.equal(false);
          expect(ring.capacity).to.be.at.most(12);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('ClusterLender (receive clusters lent to a link)', () => {
  it('lends only cluster-sized packets, keeps the pool exact, adopts only what it lent (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('lend' as const), len: fc.integer({ min: 0, max: 2100 }) }),
            fc.record({ op: fc.constant('adopt' as const), k: fc.nat() }),
            fc.record({ op: fc.constant('reclaim' as const), k: fc.nat() }),
            fc.record({ op: fc.constant('freeMbuf' as const), k: fc.nat() }),
          ),
          { maxLength: 150 },
        ),
        (ops) => {
          const pool = new ClusterPool({ nmbclusters: 8 });
          const lender = new ClusterLender(pool, 14);
          const loans: { f: Uint8Array; adopted: boolean; tag: number }[] = [];
          const mbufs: { m: Mbuf; tag: number }[] = [];
          const reclaimed: Uint8Array[] = [];
          let tag = 0;
          for (const o of ops) {
            if (o.op === 'lend') {
              const free = pool.clustersFree;
              const f = lender.lend(o.len);
              if (o.len < 14 + MHLEN + 1 || o.len > 2048 || free === 0) {
                expect(f).to.equal(null);
                expect(pool.clustersFree).to.equal(free);
                continue;
              }
              expect(f!.length).to.equal(o.len);
              expect(pool.clustersFree).to.equal(free - 1);
              tag = (tag % 250) + 1;
              f!.fill(tag);
              loans.push({ f: f!, adopted: false, tag });
            } else if (o.op === 'adopt' && loans.length > 0) {
              const l = loans[o.k % loans.length]!;
              const m = lender.adopt(l.f, 14, l.f.length - 14, 'wire0', true);
              if (l.adopted) {
                expect(m, 'a cluster is adopted once').to.equal(null);
                continue;
              }
              expect(m).to.not.equal(null);
              expect(m!.len).to.equal(l.f.length - 14);
              expect(m!.pkthdr!.len).to.equal(l.f.length - 14);
              expect(m!.data[m!.off]).to.equal(l.tag);
              l.adopted = true;
              mbufs.push({ m: m!, tag: l.tag });
            } else if (o.op === 'reclaim' && loans.length > 0) {
              const l = loans.splice(o.k % loans.length, 1)[0]!;
              expect(lender.reclaim(l.f)).to.equal(true);
              reclaimed.push(l.f);
              // Reclaimed and not adopted: its cluster is free again, the frame is no longer adoptable.
              expect(lender.adopt(l.f, 14, 10, null, true)).to.equal(null);
            } else if (o.op === 'freeMbuf' && mbufs.length > 0) {
              const { m } = mbufs.splice(o.k % mbufs.length, 1)[0]!;
              mFreem(m);
            }
            // A stale reclaim (cluster neither lent nor adopted now) throws.
            for (const f of reclaimed) {
              const c = (f.byteOffset / 2048) | 0;
              const open = loans.some((l) => ((l.f.byteOffset / 2048) | 0) === c);
              if (!open) expect(() => lender.reclaim(f)).to.throw(/not lent/);
            }
            // Live packets keep their bytes: no cluster went to a second owner.
            for (const { m, tag: t } of mbufs) expect(m.data[m.off]).to.equal(t);
            // The pool counts exactly the loans and the adopted packets (one cluster each).
            const held = new Set([...loans.map((l) => (l.f.byteOffset / 2048) | 0), ...mbufs.map(({ m }) => m.ext)]);
            expect(pool.clustersFree).to.equal(8 - held.size);
          }
          for (const l of loans) lender.reclaim(l.f);
          for (const { m } of mbufs) mFreem(m);
          expect(pool.isAllFree()).to.equal(true);
          expect(lender.reclaim(new Uint8Array(300))).to.equal(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('an adopted cluster is read-only until the link reclaims it, and stays with its packet afterwards', () => {
    const pool = new ClusterPool({ nmbclusters: 4 });
    const lender = new ClusterLender(pool, 14);
    const f = lender.lend(1514)!;
    const m = lender.adopt(f, 14, 1500, null, true)!;
    expect(pool.clRefcnt(m.ext), 'link and packet').to.equal(2);
    mFreem(m); // the packet dies inside the receiver call
    expect(pool.clustersFree, 'not back in the pool while the link holds it').to.equal(3);
    expect(lender.lend(1514)!.byteOffset, 'and not lent again').to.not.equal(f.byteOffset);
    lender.reclaim(f);
    expect(() => lender.reclaim(f)).to.throw(/not lent/);
  });
});

/** A raw MemWire frame: Ethernet header to `dst` with a payload of `len` bytes of `fill`. */
function frameInto(f: Uint8Array, dst: Uint8Array, src: Uint8Array, fill: number): Uint8Array {
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  f.fill(fill, 14);
  return f;
}

describe('MemWire lending', () => {
  it('a receiver that did not promise to copy keeps its frames intact (it gets copies of lent ones)', () => {
    const wire = new MemWire({ seed: 1 });
    const a = wire.attachLink();
    const b = wire.attachLink();
    const kept: Uint8Array[] = [];
    b.attach((frames) => kept.push(...frames));
    for (let i = 0; i < 600; i++) {
      const f = a.allocTxFrame(200);
      expect(f, 'lent from the ring').to.not.equal(null);
      expect(a.output(frameInto(f!, b.mac, a.mac, i & 0xff))).to.equal(true);
      if (i % 7 === 6) wire.flush();
    }
    wire.flush();
    expect(kept.length).to.equal(600);
    kept.forEach((f, i) => expect(f.subarray(14).every((x) => x === (i & 0xff)), `frame ${i}`).to.equal(true));
    expect(wire.ring!.inUse).to.equal(0);
    expect(wire.ring!.stats.lent).to.equal(600);
    expect(wire.ring!.capacity, 'slots reused, not one per frame').to.be.at.most(256);
    wire.close();
  });

  it('every lent buffer goes back to its lender: delivered, link down, queue full, alone on the wire, wire closed', () => {
    const pool = new ClusterPool({ nmbclusters: 64 });
    const lender = new ClusterLender(pool, 14);
    const wire = new MemWire({ seed: 2 });
    const a = wire.attachLink();
    const b = wire.attachLink({ queueLimit: 4 });
    let got = 0;
    b.attach((frames) => (got += frames.length), { copies: true, rxBuffers: lender });
    const send = (): boolean => {
      const f = a.allocTxFrame(1000);
      expect(f, 'a cluster of the receiver').to.not.equal(null);
      expect(f!.buffer).to.equal(pool.slab);
      return a.output(frameInto(f!, b.mac, a.mac, 7));
    };
    for (let i = 0; i < 6; i++) send(); // 2 beyond the queue limit: dropped, reclaimed
    expect(pool.clustersFree).to.equal(60);
    wire.flush();
    expect(got).to.equal(4);
    expect(pool.isAllFree(), 'delivered (not adopted) and dropped: all back').to.equal(true);
    b.setUp(false);
    const r = a.allocTxFrame(1000)!;
    expect(r.buffer, 'no cluster lent towards a down endpoint (a ring slot instead)').to.not.equal(pool.slab);
    a.releaseTxFrame(r);
    expect(wire.ring!.inUse).to.equal(0);
    b.setUp(true);
    send();
    b.setUp(false); // down by the time of delivery
    wire.flush();
    expect(pool.isAllFree(), 'dropped at a down receiver').to.equal(true);
    b.setUp(true);
    send();
    send();
    wire.close(); // pending frames discarded
    expect(pool.isAllFree(), 'discarded by a closing wire').to.equal(true);
    expect(lender.stats.lent).to.equal(lender.stats.returned);
    // Alone on a wire: the frame ends at once, its ring slot back.
    const lone = new MemWire({ seed: 4 });
    const x = lone.attachLink();
    const f = x.allocTxFrame(100)!;
    expect(x.output(frameInto(f, x.mac, x.mac, 1))).to.equal(true);
    expect(lone.ring!.inUse).to.equal(0);
    lone.close();
  });

  it('no loans while the path has faults: frames in the fault pipeline are never lent memory', () => {
    const pool = new ClusterPool({ nmbclusters: 64 });
    const lender = new ClusterLender(pool, 14);
    const wire = new MemWire({ seed: 3 });
    const a = wire.attachLink();
    const b = wire.attachLink();
    b.attach(() => undefined, { copies: true, rxBuffers: lender });
    const f = a.allocTxFrame(1000)!;
    expect(f.buffer).to.equal(pool.slab);
    a.setFaults({ duplicate: 1, delay: { ms: 5 } });
    expect(a.allocTxFrame(1000), 'faults on: nothing lent').to.equal(null);
    // A frame lent before the faults came on goes in as a copy: its cluster is back at once.
    expect(a.output(frameInto(f, b.mac, a.mac, 1))).to.equal(true);
    expect(pool.isAllFree()).to.equal(true);
    wire.drain();
    wire.close();
  });
});

describe('two stacks on a MemWire with lent buffers', function () {
  this.timeout(120_000);

  it('builds every frame of a cluster-sized packet in the receiver\'s cluster and keeps the data intact both ways', async () => {
    const pair = new WirePair({ nmbclusters: 4096 });
    const c = await connectPair(pair, 80);
    // Count, as they leave, the frames that m_devget would put in a cluster (the ones lent).
    const big = { a: 0, b: 0, lentA: 0, lentB: 0 };
    for (const [side, link, peerPool] of [['a', pair.a.link, pair.b.pool], ['b', pair.b.link, pair.a.pool]] as const) {
      const out = link.output.bind(link);
      link.output = (f: Uint8Array): boolean => {
        if (f.length > 14 + MHLEN) big[side]++;
        if (f.buffer === peerPool.slab) big[side === 'a' ? 'lentA' : 'lentB']++;
        return out(f);
      };
    }
    const ab = new Flow(c.a, c.b, 8 * MiB, pattern(MiB + 13));
    const ba = new Flow(c.b, c.a, 8 * MiB, pattern(MiB + 29, 5));
    runFlows(pair, [ab, ba], 600_000);
    expect(ab.received).to.equal(8 * MiB);
    expect(ba.received).to.equal(8 * MiB);
    expect(ab.rxHash.digest('hex')).to.equal(ab.txHash.digest('hex'));
    expect(ba.rxHash.digest('hex')).to.equal(ba.txHash.digest('hex'));
    const la = pair.a.net.stack.ifnet('wa').rxLender!.stats;
    const lb = pair.b.net.stack.ifnet('wb').rxLender!.stats;
    const sa = pair.a.tcp.stats;
    const sb = pair.b.tcp.stats;
    // Every data segment of a clean transfer is larger than a header mbuf: each was built in a
    // cluster of its receiver and taken over as the packet, none copied, none returned.
    expect(big.a, 'most A→B frames are full segments').to.be.greaterThan(sa.sndpack * 0.99);
    expect(big.lentA, 'every one built in a cluster of B').to.equal(big.a);
    expect(big.lentB).to.equal(big.b);
    expect(lb.adopted, 'A→B segments without a receive copy').to.equal(big.a);
    expect(la.adopted, 'B→A segments without a receive copy').to.equal(big.b);
    expect(lb.lent).to.equal(lb.adopted);
    expect(la.lent).to.equal(la.adopted);
    expect(sa.sndrexmitpack + sb.sndrexmitpack).to.equal(0);
    pair.close();
    expect(pair.a.pool.isAllFree()).to.equal(true);
    expect(pair.b.pool.isAllFree()).to.equal(true);
    expect(pair.wire.ring!.inUse, 'ring slots (ACKs) all back').to.equal(0);
  });

  it('keeps the data intact when loss, reordering and duplication come and go mid-transfer', async () => {
    const pair = new WirePair({ nmbclusters: 4096, seed: 99 });
    const c = await connectPair(pair, 80);
    const f = new Flow(c.a, c.b, 6 * MiB, pattern(MiB + 13));
    const faults = { drop: 0.03, reorder: { p: 0.05, gap: 3 }, duplicate: 0.02 };
    let phase = 0;
    const clock = pair.clock;
    for (let i = 0; i < 2_000_000 && !f.done; i++) {
      const moved = f.step();
      pair.flush();
      // Faults on and off every ~1.5 MiB: lending stops and resumes with frames in flight.
      const want = Math.floor(f.received / (1.5 * MiB)) % 2;
      if (want !== phase) {
        phase = want;
        pair.wire.setFaults(phase === 1 ? faults : null);
      }
      if (!moved) (clock as unknown as { advance(ms: number): void }).advance(1);
    }
    pair.wire.drain();
    expect(f.received).to.equal(6 * MiB);
    expect(f.rxHash.digest('hex')).to.equal(f.txHash.digest('hex'));
    const w = pair.wire.stats();
    expect(w.dropped + w.reordered + w.duplicated, 'the faults did happen').to.be.greaterThan(0);
    const lb = pair.b.net.stack.ifnet('wb').rxLender!.stats;
    expect(lb.adopted, 'clean phases took segments without a copy').to.be.greaterThan(0);
    expect(lb.adopted).to.be.lessThan(pair.a.tcp.stats.sndpack, 'faulty phases copied');
    pair.close();
    expect(pair.a.pool.isAllFree()).to.equal(true);
    expect(pair.b.pool.isAllFree()).to.equal(true);
  });
});
