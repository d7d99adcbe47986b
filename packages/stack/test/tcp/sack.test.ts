import { expect } from 'chai';
import fc from 'fast-check';
import { seqAdd, seqOffset } from '../../src/transport/tcp/seq.js';
import {
  maxSackBlocks,
  SackReceiver,
  SackScoreboard,
  type NextSeg,
  type SackBlock,
} from '../../src/transport/tcp/sack.js';

const blk = (start: number, end: number): SackBlock => ({ start: start >>> 0, end: end >>> 0 });

describe('tcp/sack', () => {
  it('fits 4 blocks alone, 3 beside timestamps (RFC 2018 §3)', () => {
    expect(maxSackBlocks(false)).to.equal(4);
    expect(maxSackBlocks(true)).to.equal(3);
  });

  describe('SackReceiver (RFC 2018 §4, RFC 2883)', () => {
    it('reports the block holding the latest segment first, then the most recent others', () => {
      const r = new SackReceiver();
      r.onOutOfOrder(2000, 2100, 1000);
      r.onOutOfOrder(3000, 3100, 1000);
      expect(r.blocksToSend(4)).to.deep.equal([blk(3000, 3100), blk(2000, 2100)]);
      r.onOutOfOrder(2100, 2200, 1000); // extends the older block: it moves to the front
      expect(r.blocksToSend(4)).to.deep.equal([blk(2000, 2200), blk(3000, 3100)]);
      r.onOutOfOrder(4000, 4100, 1000);
      r.onOutOfOrder(5000, 5100, 1000);
      r.onOutOfOrder(6000, 6100, 1000);
      expect(r.blocksToSend(3)).to.deep.equal([blk(6000, 6100), blk(5000, 5100), blk(4000, 4100)]);
      expect(r.blocksToSend(4)).to.have.length(4);
    });

    it('merges a segment that bridges two blocks', () => {
      const r = new SackReceiver();
      r.onOutOfOrder(2000, 2100, 1000);
      r.onOutOfOrder(2200, 2300, 1000);
      r.onOutOfOrder(2050, 2250, 1000);
      expect(r.blocksToSend(4)).to.deep.equal([blk(2000, 2300)]);
      expect(r.size).to.equal(1);
    });

    it('drops and trims blocks as rcv_nxt advances', () => {
      const r = new SackReceiver();
      r.onOutOfOrder(2000, 2100, 1000);
      r.onOutOfOrder(3000, 3100, 1000);
      r.onAdvance(2100);
      expect(r.blocksToSend(4)).to.deep.equal([blk(3000, 3100)]);
      r.onAdvance(3050);
      expect(r.blocksToSend(4)).to.deep.equal([blk(3050, 3100)]);
      r.onAdvance(3100);
      expect(r.blocksToSend(4)).to.deep.equal([]);
    });

    it('ignores data at or below rcv_nxt and trims a straddling segment', () => {
      const r = new SackReceiver();
      r.onOutOfOrder(500, 1000, 1000);
      expect(r.size).to.equal(0);
      r.onOutOfOrder(900, 1200, 1000);
      expect(r.blocksToSend(4)).to.deep.equal([blk(1000, 1200)]);
      r.onOutOfOrder(1300, 1300, 1000);
      expect(r.size).to.equal(1);
    });

    it('reports a D-SACK first, once; a duplicate above rcv_nxt puts its block second', () => {
      const r = new SackReceiver();
      r.onOutOfOrder(2000, 2100, 1000);
      r.onOutOfOrder(3000, 3100, 1000);
      r.onDuplicate(500, 600, 1000);
      expect(r.blocksToSend(3)).to.deep.equal([blk(500, 600), blk(3000, 3100), blk(2000, 2100)]);
      expect(r.blocksToSend(3)).to.deep.equal([blk(3000, 3100), blk(2000, 2100)]);
      r.onDuplicate(2000, 2050, 1000);
      expect(r.blocksToSend(3)).to.deep.equal([blk(2000, 2050), blk(2000, 2100), blk(3000, 3100)]);
      expect(r.stats.dsacksReported).to.equal(2);
    });

    it('works across the 2^32 wrap', () => {
      const r = new SackReceiver();
      const nxt = 0xffffff00;
      r.onOutOfOrder(0xffffff80, 0x10, nxt);
      r.onOutOfOrder(0x10, 0x40, nxt);
      expect(r.blocksToSend(4)).to.deep.equal([blk(0xffffff80, 0x40)]);
      r.onAdvance(0x20);
      expect(r.blocksToSend(4)).to.deep.equal([blk(0x20, 0x40)]);
    });

    it('bounds memory and counts what it forgets', () => {
      const r = new SackReceiver(4);
      for (let i = 0; i < 6; i++) r.onOutOfOrder(2000 + i * 200, 2100 + i * 200, 1000);
      expect(r.size).to.equal(4);
      expect(r.stats.capDrops).to.equal(2);
      expect(r.blocksToSend(4)[0]).to.deep.equal(blk(3000, 3100));
      expect(() => new SackReceiver(2)).to.throw(RangeError);
    });

    it('blocks always equal the received data above rcv_nxt; first holds the latest segment (property)', () => {
      const op = fc.oneof(
        fc.record({ kind: fc.constant('seg' as const), off: fc.integer({ min: 0, max: 1500 }), len: fc.integer({ min: 1, max: 120 }) }),
        fc.record({ kind: fc.constant('adv' as const), by: fc.integer({ min: 0, max: 300 }) }),
      );
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(op, { maxLength: 60 }), (base, ops) => {
          const r = new SackReceiver(1000);
          const got = new Uint8Array(24_000);
          let nxt = 0;
          for (const o of ops) {
            if (o.kind === 'seg') {
              const s = nxt + o.off;
              for (let x = s; x < s + o.len; x++) got[x] = 1;
              r.onOutOfOrder(seqAdd(base, s), seqAdd(base, s + o.len), seqAdd(base, nxt));
              const first = r.blocksToSend(1)[0]!;
              expect(seqOffset(seqAdd(base, s), first.start)).to.be.below(seqOffset(first.end, first.start));
            } else {
              nxt += o.by;
              while (got[nxt]) nxt++;
              r.onAdvance(seqAdd(base, nxt));
            }
            // Plain loops, one assertion per step: chai per byte is too slow.
            const model = new Uint8Array(got.length);
            let problem = '';
            for (const b of r.blocksToSend(1000)) {
              const s = seqOffset(b.start, base);
              const e = seqOffset(b.end, base);
              if (s < nxt || e <= s) problem ||= `bad block ${s}-${e} (nxt ${nxt})`;
              for (let x = s; x < e && x < model.length; x++) {
                if (model[x]) problem ||= `overlap at ${x}`;
                model[x] = 1;
              }
              if (got[e] === 1) problem ||= `block ${s}-${e} stops short of adjacent data`;
            }
            for (let x = nxt; x < model.length; x++) if (model[x] !== got[x]) problem ||= `byte ${x} differs`;
            expect(problem).to.equal('');
          }
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('SackScoreboard (RFC 6675)', () => {
    it('records blocks, merges them and reports newly SACKed bytes', () => {
      const sb = new SackScoreboard({ mss: 100 }, 1000);
      expect(sb.update(1000, [blk(1200, 1300)], 2000)).to.equal(100);
      expect(sb.update(1000, [blk(1400, 1500), blk(1200, 1300)], 2000)).to.equal(100);
      expect(sb.update(1000, [blk(1250, 1450)], 2000)).to.equal(100);
      expect(sb.blocks()).to.deep.equal([blk(1200, 1500)]);
      expect(sb.sackedBytes).to.equal(300);
      expect(sb.isSacked(1199)).to.equal(false);
      expect(sb.isSacked(1200)).to.equal(true);
      expect(sb.isSacked(1499)).to.equal(true);
      expect(sb.isSacked(1500)).to.equal(false);
      expect(sb.highestSacked).to.equal(1500);
    });

    it('validates blocks: beyond snd_max, reversed, stale, straddling', () => {
      const sb = new SackScoreboard({ mss: 100 }, 1000);
      expect(sb.update(1100, [blk(1200, 1300), blk(1900, 2100), blk(1500, 1400), blk(900, 1000)], 2000)).to.equal(100);
      expect(sb.stats.invalidBlocks).to.equal(2);
      expect(sb.stats.staleBlocks).to.equal(1);
      expect(sb.update(1100, [blk(1300, 1350), blk(1050, 1150)], 2000)).to.equal(100);
      expect(sb.blocks()).to.deep.equal([blk(1100, 1150), blk(1200, 1350)]);
      expect(sb.update(2500, [], 2000)).to.equal(0);
      expect(sb.stats.invalidAcks).to.equal(1);
      expect(sb.sndUna).to.equal(1100);
    });

    it('recognises D-SACK (RFC 2883 §4): below the ACK, or inside the second block; counts, never inserts', () => {
      const sb = new SackScoreboard({ mss: 100 }, 1000);
      expect(sb.update(1000, [blk(900, 1000)], 2000)).to.equal(0);
      expect(sb.lastUpdateHadDsack).to.equal(true);
      expect(sb.update(1000, [blk(1200, 1250), blk(1200, 1300)], 2000)).to.equal(100);
      expect(sb.lastUpdateHadDsack).to.equal(true);
      expect(sb.stats.dsacks).to.equal(2);
      expect(sb.update(1000, [blk(1400, 1500)], 2000)).to.equal(100);
      expect(sb.lastUpdateHadDsack).to.equal(false);
      expect(sb.blocks()).to.deep.equal([blk(1200, 1300), blk(1400, 1500)]);
    });

    it('forgets SACK state below a new cumulative ACK', () => {
      const sb = new SackScoreboard({ mss: 100 }, 1000);
      sb.update(1000, [blk(1200, 1300), blk(1400, 1500)], 2000);
      sb.update(1250, [], 2000);
      expect(sb.blocks()).to.deep.equal([blk(1250, 1300), blk(1400, 1500)]);
      expect(sb.sackedBytes).to.equal(150);
      sb.update(1600, [], 2000);
      expect(sb.rangeCount).to.equal(0);
      expect(sb.sackedBytes).to.equal(0);
    });

    it('IsLost: DupThresh runs or more than (DupThresh-1)*SMSS bytes above', () => {
      const sb = new SackScoreboard({ mss: 100 }, 0);
      sb.update(0, [blk(100, 200)], 1000);
      expect(sb.isLost(0)).to.equal(false);
      sb.update(0, [blk(300, 400)], 1000);
      expect(sb.isLost(0)).to.equal(false); // 200 bytes, not more than 200
      sb.update(0, [blk(500, 501)], 1000);
      expect(sb.isLost(0)).to.equal(true); // three runs
      expect(sb.isLost(250)).to.equal(false);
      const b = new SackScoreboard({ mss: 100 }, 0);
      b.update(0, [blk(100, 301)], 1000);
      expect(b.isLost(0)).to.equal(true); // 201 bytes > 200
      expect(b.isLost(99)).to.equal(true);
      expect(b.isLost(100)).to.equal(false); // 200 bytes above 100
    });

    it('SetPipe and NextSeg through a recovery episode', () => {
      // 10 segments of 100 sent; 0 and 5 lost; the rest SACKed.
      const sb = new SackScoreboard({ mss: 100 }, 0);
      sb.update(0, [blk(100, 500), blk(600, 1000)], 1000);
      expect(sb.pipe(1000)).to.equal(0); // both holes are lost
      sb.startRecovery(1000);
      let seg = sb.nextSeg(1000, true)!;
      expect(seg).to.deep.equal({ kind: 'retransmit', rule: 1, start: 0, end: 100 });
      sb.markRetransmitted(seg);
      expect(sb.pipe(1000)).to.equal(100);
      seg = sb.nextSeg(1000, true)!;
      expect(seg).to.deep.equal({ kind: 'retransmit', rule: 1, start: 500, end: 600 });
      sb.markRetransmitted(seg);
      expect(sb.pipe(1000)).to.equal(200);
      expect(sb.nextSeg(1000, true)).to.deep.equal({ kind: 'new', rule: 2, start: 1000, end: 1100 });
      // Nothing lost remains and no new data: rule 4 offers one rescue of the
      // highest unSACKed segment, then nothing until snd_una passes RescueRxt.
      seg = sb.nextSeg(1000, false)!;
      expect(seg).to.deep.equal({ kind: 'rescue', rule: 4, start: 500, end: 600 });
      sb.markRetransmitted(seg);
      expect(sb.nextSeg(1000, false)).to.equal(undefined);
      sb.update(100, [], 1000);
      expect(sb.nextSeg(1000, false)).to.equal(undefined);
    });

    it('rule 3 (not yet lost) and rule 4 (one rescue per recovery)', () => {
      const sb = new SackScoreboard({ mss: 100 }, 0);
      sb.update(0, [blk(100, 200)], 1000); // one segment SACKed: hole 0 not lost
      expect(sb.isLost(0)).to.equal(false);
      expect(sb.pipe(1000)).to.equal(900);
      sb.startRecovery(1000);
      expect(sb.nextSeg(1000, true)!.rule).to.equal(2);
      const r3 = sb.nextSeg(1000, false)!;
      expect(r3).to.deep.equal({ kind: 'retransmit', rule: 3, start: 0, end: 100 });
      sb.markRetransmitted(r3);
      const r4 = sb.nextSeg(1000, false)!;
      expect(r4).to.deep.equal({ kind: 'rescue', rule: 4, start: 900, end: 1000 });
      sb.markRetransmitted(r4);
      expect(sb.nextSeg(1000, false)).to.equal(undefined);
      expect(sb.highRxt).to.equal(100); // a rescue does not move HighRxt
      // More data goes out; snd_una reaches RescueRxt (= RecoveryPoint 1000)
      // but must pass it before another rescue (HighACK > RescueRxt).
      sb.update(1000, [], 1500);
      expect(sb.nextSeg(1500, false)).to.equal(undefined);
      sb.update(1001, [], 1500);
      expect(sb.nextSeg(1500, false)).to.deep.equal({ kind: 'rescue', rule: 4, start: 1400, end: 1500 });
    });

    it('bounds the number of ranges and counts drops', () => {
      const sb = new SackScoreboard({ mss: 10, maxRanges: 3 }, 0);
      const n = sb.update(0, [blk(10, 20), blk(30, 40), blk(50, 60), blk(70, 80)], 1000);
      expect(n).to.equal(30);
      expect(sb.rangeCount).to.equal(3);
      expect(sb.stats.capDrops).to.equal(1);
      expect(sb.update(0, [blk(20, 30)], 1000)).to.equal(10); // merging needs no new slot
      expect(sb.blocks()).to.deep.equal([blk(10, 40), blk(50, 60)]);
    });

    it('equals a naive bitmap model over random ACK/SACK sequences near the wrap (property)', () => {
      const W = 1500;
      const blockArb = fc.record({ s: fc.integer({ min: -150, max: W + 50 }), len: fc.integer({ min: -20, max: 500 }) });
      const op = fc.oneof(
        fc.record({ kind: fc.constant('send' as const), n: fc.integer({ min: 1, max: 400 }) }),
        fc.record({
          kind: fc.constant('ack' as const),
          by: fc.integer({ min: -30, max: 250 }),
          blocks: fc.array(blockArb, { maxLength: 4 }),
        }),
        fc.record({ kind: fc.constant('recover' as const) }),
        fc.record({ kind: fc.constant('next' as const), canSendNew: fc.boolean(), take: fc.boolean() }),
      );
      const baseArb = fc.oneof(fc.integer({ min: 0xffffffff - 2 * W, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }));
      fc.assert(
        fc.property(baseArb, fc.integer({ min: 20, max: 300 }), fc.array(op, { maxLength: 40 }), (base, mss, ops) => {
          const at = (off: number): number => seqAdd(base, off);
          const sb = new SackScoreboard({ mss, maxRanges: 10_000 }, at(0));
          const m = new Model(mss);
          for (const o of ops) {
            if (o.kind === 'send') {
              m.sndMax = Math.min(W, m.sndMax + o.n);
            } else if (o.kind === 'ack') {
              const ack = Math.max(0, m.una + o.by);
              const blocks = o.blocks.map((b) => ({ s: m.una + b.s, e: m.una + b.s + b.len }));
              const want = m.update(ack, blocks);
              const got = sb.update(
                at(ack),
                blocks.map((b) => blk(at(b.s), at(b.e))),
                at(m.sndMax),
              );
              expect(got, 'newly SACKed').to.equal(want);
            } else if (o.kind === 'recover') {
              m.startRecovery();
              sb.startRecovery(at(m.sndMax));
            } else {
              const want = m.nextSeg(o.canSendNew);
              const got = sb.nextSeg(at(m.sndMax), o.canSendNew);
              expect(got, 'NextSeg').to.deep.equal(
                want && { kind: want.kind, rule: want.rule, start: at(want.start), end: at(want.end) },
              );
              if (got && want && o.take && got.kind !== 'new') {
                sb.markRetransmitted(got);
                m.markRetransmitted(want);
              }
            }
            // Whole-state comparison.
            expect(sb.sndUna).to.equal(at(m.una));
            expect(sb.sackedBytes).to.equal(m.sackedBytes());
            expect(sb.blocks()).to.deep.equal(m.runs().map(([s, e]) => blk(at(s), at(e))));
            m.prepareLost();
            for (let x = m.una; x < m.sndMax; x++) {
              if (sb.isLost(at(x)) !== m.lost(x)) expect.fail(`isLost(${x}) differs`);
            }
            expect(sb.pipe(at(m.sndMax)), 'pipe').to.equal(m.pipe());
          }
        }),
        { numRuns: 250 },
      );
    });
  });
});

/** A byte-per-entry model of the RFC 6675 scoreboard, written from the RFC text. */
class Model {
  una = 0;
  sndMax = 0;
  readonly sacked = new Uint8Array(4000);
  private hr = 0;
  private rescue: number | undefined;
  private recoveryPoint: number | undefined;
  private bytesAbove = new Int32Array(4001);
  private runsAbove = new Int32Array(4001);

  constructor(private readonly mss: number) {}

  update(ack: number, blocks: { s: number; e: number }[]): number {
    if (ack > this.sndMax) return 0;
    if (ack > this.una) this.una = ack;
    let newly = 0;
    blocks.forEach((b, i) => {
      if (i === 0 && b.s < b.e) {
        const second = blocks[1];
        if (b.s < ack || (second && second.s < second.e && second.s <= b.s && b.e <= second.e)) return;
      }
      if (!(b.s < b.e) || b.e > this.sndMax || b.e <= this.una) return;
      for (let x = Math.max(b.s, this.una); x < b.e; x++) {
        if (!this.sacked[x]) newly++;
        this.sacked[x] = 1;
      }
    });
    return newly;
  }

  isSacked(x: number): boolean {
    return x >= this.una && this.sacked[x] === 1;
  }

  sackedBytes(): number {
    let n = 0;
    for (let x = this.una; x < this.sndMax; x++) if (this.sacked[x]) n++;
    return n;
  }

  runs(): [number, number][] {
    const out: [number, number][] = [];
    for (let x = this.una; x < this.sndMax; x++) {
      if (!this.sacked[x]) continue;
      const s = x;
      while (x < this.sndMax && this.sacked[x]) x++;
      out.push([s, x]);
    }
    return out;
  }

  /** Suffix counts of SACKed bytes and runs strictly above each x. */
  prepareLost(): void {
    let bytes = 0;
    let runs = 0;
    for (let x = this.sndMax - 1; x >= this.una; x--) {
      this.bytesAbove[x] = bytes;
      this.runsAbove[x] = runs;
      if (this.sacked[x]) {
        bytes++;
        if (x + 1 >= this.sndMax || !this.sacked[x + 1]) runs++;
      }
    }
  }

  /** RFC 6675 IsLost(x), DupThresh = 3. */
  lost(x: number): boolean {
    return this.runsAbove[x]! >= 3 || this.bytesAbove[x]! > 2 * this.mss;
  }

  pipe(): number {
    this.prepareLost();
    const hr = Math.max(this.hr, this.una);
    let p = 0;
    for (let x = this.una; x < this.sndMax; x++) {
      if (this.sacked[x]) continue;
      if (!this.lost(x)) p++;
      if (x < hr) p++;
    }
    return p;
  }

  startRecovery(): void {
    this.recoveryPoint = this.sndMax;
    this.hr = this.una;
    this.rescue = undefined;
  }

  nextSeg(canSendNew: boolean): Omit<NextSeg, 'start' | 'end'> & { start: number; end: number } | undefined {
    this.prepareLost();
    let highest = -1;
    for (let x = this.una; x < this.sndMax; x++) if (this.sacked[x]) highest = x;
    const from = Math.max(this.hr, this.una);
    const segAt = (x: number, limit: number): number => {
      let e = x;
      while (e < limit && !this.sacked[e] && e - x < this.mss) e++;
      return e;
    };
    for (let x = from; x < highest; x++) {
      if (!this.sacked[x] && this.lost(x)) return { kind: 'retransmit', rule: 1, start: x, end: segAt(x, highest) };
    }
    if (canSendNew) return { kind: 'new', rule: 2, start: this.sndMax, end: this.sndMax + this.mss };
    for (let x = from; x < highest; x++) {
      if (!this.sacked[x]) return { kind: 'retransmit', rule: 3, start: x, end: segAt(x, highest) };
    }
    if (this.recoveryPoint === undefined) return undefined;
    if (this.rescue !== undefined && !(this.una > this.rescue)) return undefined;
    for (let x = this.sndMax - 1; x >= this.una; x--) {
      if (this.sacked[x]) continue;
      let s = x;
      while (s > this.una && !this.sacked[s - 1] && x + 1 - s < this.mss) s--;
      return { kind: 'rescue', rule: 4, start: s, end: x + 1 };
    }
    return undefined;
  }

  markRetransmitted(seg: { kind: string; end: number }): void {
    if (seg.kind === 'rescue') this.rescue = this.recoveryPoint ?? this.una;
    else if (seg.kind === 'retransmit') this.hr = Math.max(this.hr, this.una, seg.end);
  }
}
