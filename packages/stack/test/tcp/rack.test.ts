/**
 * RACK-TLP (RFC 8985) at the state level, through the injection channel:
 * the peer's ACKs are crafted, time is a ManualClock, and every segment the
 * stack sends is checked. The same scenario runs under SACK recovery
 * (RFC 6675) where the two must differ.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { IPPROTO } from '../../src/socket/constants.js';
import { TCP_OPT } from '../../src/transport/tcp/index.js';
import { XmitLog, XF } from '../../src/transport/tcp/recovery/xmitlog.js';
import { TLP_WCDELACK_MS } from '../../src/transport/tcp/recovery/rack.js';
import { ACK, Channel } from './harness.js';
import { bytes, established, send, type Est } from './state-helpers.js';

const MSS = 1460; // no timestamps in these tests
const RTT = 50;
const RECOVERY = { newreno: 0, sack: 1, rack: 2 } as const;

async function open(alg: keyof typeof RECOVERY): Promise<{ ch: Channel; e: Est }> {
  const ch = new Channel({ tun: { recovery: RECOVERY[alg] } });
  const e = await established(ch, { ts: false, rtt: RTT });
  expect(e.tp.rtt.srtt).to.equal(RTT);
  return { ch, e };
}

/** Send `n` full segments from `base` and check they all went out. */
function flight(ch: Channel, e: Est, base: number, n: number): void {
  send(ch, e.fd, bytes(n * MSS));
  for (let i = 0; i < n; i++) ch.expectSegment({ seq: (base + i * MSS) >>> 0, len: MSS });
  ch.expectNone('only the flight');
}

/**
 * Episode A lets the connection see reordering (segment 2 SACKed before
 * segment 1 arrives, no retransmission); episode B SACKs three segments
 * above a hole that is filled 5 ms later by the late original.
 */
async function reorderScenario(alg: 'sack' | 'rack'): Promise<{ ch: Channel; e: Est; base: number }> {
  const { ch, e } = await open(alg);
  flight(ch, e, e.snd, 2);
  ch.clock.advance(RTT);
  ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, sack: [e.snd + MSS, e.snd + 2 * MSS] });
  ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 2 * MSS });
  ch.expectNone('episode A: one SACK is no loss for either');
  const base = (e.snd + 2 * MSS) >>> 0;
  flight(ch, e, base, 5);
  ch.clock.advance(RTT);
  for (let i = 2; i <= 4; i++) ch.inject({ flags: ACK, seq: e.rcv, ack: base, sack: [base + MSS, base + i * MSS] });
  return { ch, e, base };
}

describe('tcp RACK-TLP (RFC 8985)', () => {
  describe('reordering window (6.2)', () => {
    it('SACK recovery retransmits a reordered segment at the third duplicate ACK', async () => {
      const { ch, base } = await reorderScenario('sack');
      ch.expectSegment({ seq: base, len: MSS }, 'fast retransmit of the hole');
      expect(ch.tcp.stats.sackrecovery).to.equal(1);
    });

    it('RACK does not: the hole is younger than RTT + reordering window, and the late original fills it', async () => {
      const { ch, e, base } = await reorderScenario('rack');
      ch.expectNone('within the reordering window nothing is resent');
      expect(e.tp.rack!.reorderingSeen, 'episode A showed reordering').to.equal(true);
      expect(e.tp.timers.rack.kind, 'the reordering timer waits').to.equal('reorder');
      ch.clock.advance(5);
      ch.inject({ flags: ACK, seq: e.rcv, ack: base + 5 * MSS });
      ch.clock.advance(1000);
      ch.expectNone('nothing resent, ever');
      const st = ch.tcp.stats;
      expect(st.sndrexmitpack).to.equal(0);
      expect(st.rackLost).to.equal(0);
      expect(st.fastretrans).to.equal(0);
      expect(st.rexmttimeo).to.equal(0);
    });

    it('RACK retransmits the hole once the reordering window has passed', async () => {
      const { ch, e, base } = await reorderScenario('rack');
      ch.expectNone();
      // min_RTT / 4 = 12.5 ms after RACK.rtt: the reordering timer fires.
      ch.clock.advance(12);
      ch.expectNone('not yet');
      ch.clock.advance(1);
      ch.expectSegment({ seq: base, len: MSS }, 'the reordering timer found the hole lost');
      expect(ch.tcp.stats.rackReoTimeouts).to.equal(1);
      expect(ch.tcp.stats.rackLost).to.equal(1);
      expect(ch.tcp.stats.rackRecovery).to.equal(1);
      expect(e.tp.sackRecovery, 'a SACK-based recovery runs').to.equal(true);
      ch.inject({ flags: ACK, seq: e.rcv, ack: base + 5 * MSS });
      expect(e.tp.recoveryActive).to.equal(null);
    });
  });

  describe('tail loss probe (7)', () => {
    /** Ten segments; the peer ACKs seven and the last three are lost. */
    async function tailLoss(alg: 'sack' | 'rack'): Promise<{ ch: Channel; e: Est; tAck: number }> {
      const { ch, e } = await open(alg);
      flight(ch, e, e.snd, 10);
      ch.clock.advance(RTT);
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 7 * MSS });
      ch.expectNone();
      return { ch, e, tAck: ch.clock.now() };
    }

    it('a lost tail is probed after 2*SRTT and repaired by RACK, with no RTO', async () => {
      const { ch, e, tAck } = await tailLoss('rack');
      const srtt = e.tp.rtt.srtt!;
      expect(e.tp.timers.rack.kind).to.equal('probe');
      ch.clock.advance(2 * srtt - 1);
      ch.expectNone('PTO not yet');
      ch.clock.advance(1);
      // No new data: the last segment is sent again (RFC 8985 7.3).
      ch.expectSegment({ seq: e.snd + 9 * MSS, len: MSS }, 'the probe');
      expect(ch.clock.now() - tAck).to.equal(2 * srtt);
      expect(ch.tcp.stats.tlpProbes).to.equal(1);
      // The probe's SACK shows segments 8 and 9 were sent before a delivered one: lost.
      ch.clock.advance(RTT);
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 7 * MSS, sack: [e.snd + 9 * MSS, e.snd + 10 * MSS] });
      ch.expectSegment({ seq: e.snd + 7 * MSS, len: MSS });
      ch.expectSegment({ seq: e.snd + 8 * MSS, len: MSS });
      ch.expectNone();
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 10 * MSS });
      expect(ch.clock.now() - tAck, 'repaired well before an RTO would have fired').to.be.lessThan(e.tp.rtt.rto + 2 * srtt);
      const st = ch.tcp.stats;
      expect(st.rexmttimeo, 'no RTO').to.equal(0);
      expect(st.rackLost).to.equal(1);
      expect(st.rackRecovery).to.equal(1);
      expect(e.tp.recoveryActive).to.equal(null);
      // The next ACK beyond the probe counts a loss repaired by it (7.4).
      send(ch, e.fd, bytes(MSS));
      ch.expectSegment({ seq: e.snd + 10 * MSS, len: MSS });
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 11 * MSS });
      expect(st.tlpRecoveries).to.equal(0, 'the probe did not repair the loss by itself: RACK did, in recovery');
    });

    it('SACK recovery waits for the RTO on the same tail loss', async () => {
      const { ch, e, tAck } = await tailLoss('sack');
      ch.clock.advance(2 * RTT);
      ch.expectNone('no probe');
      ch.clock.advance(e.tp.rtt.rto);
      ch.expectSegment({ seq: e.snd + 7 * MSS, len: MSS }, 'RTO retransmission');
      expect(ch.tcp.stats.rexmttimeo).to.equal(1);
      expect(ch.clock.now() - tAck).to.be.greaterThan(2 * RTT);
    });

    it('a probe that alone repairs the loss is counted as a TLP recovery, with a congestion response (7.4)', async () => {
      const { ch, e } = await open('rack');
      flight(ch, e, e.snd, 4);
      ch.clock.advance(RTT);
      // The ACK for segment 3 is lost, and so is segment 4.
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 2 * MSS });
      const srtt = e.tp.rtt.srtt!;
      ch.clock.advance(2 * srtt);
      ch.expectSegment({ seq: e.snd + 3 * MSS, len: MSS }, 'probe: the last segment');
      ch.clock.advance(RTT);
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 4 * MSS });
      ch.expectNone('no recovery: the probe delivered the tail');
      const recoveries = e.tp.cc.stats.recoveries;
      send(ch, e.fd, bytes(MSS));
      ch.expectSegment({ seq: e.snd + 4 * MSS, len: MSS });
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 5 * MSS });
      const st = ch.tcp.stats;
      expect(st.tlpRecoveries, 'an ACK beyond the probe without D-SACK').to.equal(1);
      expect(e.tp.cc.stats.recoveries - recoveries, 'cwnd reduced once').to.equal(1);
      expect(st.rexmttimeo).to.equal(0);
      expect(st.rackRecovery).to.equal(0);
    });

    it('a probe answered by a D-SACK was spurious: no congestion response', async () => {
      const { ch, e } = await open('rack');
      flight(ch, e, e.snd, 4);
      ch.clock.advance(RTT);
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 2 * MSS });
      ch.clock.advance(2 * e.tp.rtt.srtt!);
      ch.expectSegment({ seq: e.snd + 3 * MSS, len: MSS }, 'probe');
      // Segment 4 was only late: its ACK comes first, then the D-SACK of the probe.
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 4 * MSS });
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 4 * MSS, sack: [e.snd + 3 * MSS, e.snd + 4 * MSS] });
      const recoveries = e.tp.cc.stats.recoveries;
      send(ch, e.fd, bytes(MSS));
      ch.expectSegment({ seq: e.snd + 4 * MSS, len: MSS });
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 5 * MSS });
      expect(ch.tcp.stats.tlpSpurious).to.equal(1);
      expect(ch.tcp.stats.tlpRecoveries).to.equal(0);
      expect(e.tp.cc.stats.recoveries).to.equal(recoveries);
    });

    it('the RTO remains the last resort when the probe is lost too', async () => {
      const { ch, e } = await tailLoss('rack');
      const srtt = e.tp.rtt.srtt!;
      ch.clock.advance(2 * srtt);
      ch.expectSegment({ seq: e.snd + 9 * MSS, len: MSS }, 'the probe (lost)');
      const rto = e.tp.rtt.rto;
      ch.clock.advance(rto - 1);
      ch.expectNone('no second probe: one per episode');
      ch.clock.advance(1);
      ch.expectSegment({ seq: e.snd + 7 * MSS, len: MSS }, 'RTO: resend from snd_una');
      expect(ch.tcp.stats.rexmttimeo).to.equal(1);
      expect(ch.tcp.stats.tlpProbes).to.equal(1);
      expect(e.tp.timers.rack.kind, 'no probe during RTO recovery').to.equal('idle');
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 10 * MSS });
      expect(e.tp.sndUna).to.equal((e.snd + 10 * MSS) >>> 0);
    });
  });

  describe('zero window', () => {
    it('no tail loss probe into a zero window: the persist timer probes alone', async () => {
      const { ch, e } = await open('rack');
      flight(ch, e, e.snd, 4);
      flight(ch, e, e.snd + 4 * MSS, 4);
      ch.clock.advance(RTT);
      // The peer takes four and closes its window on the other four.
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 4 * MSS, window: 0 });
      expect(e.tp.timers.persisting).to.equal(true);
      ch.clock.advance(2 * e.tp.rtt.srtt! + TLP_WCDELACK_MS);
      ch.expectNone('neither a probe nor a retransmission yet');
      ch.clock.advance(1000);
      const c = ch.expectSegment({ seq: e.snd + 4 * MSS, len: 1 }, 'the persist probe');
      expect(c).to.not.equal(undefined);
      expect(e.tp.timers.rack.kind, 'the probe byte arms no PTO').to.equal('idle');
      expect(ch.tcp.stats.tlpProbes).to.equal(0);
    });
  });

  describe('selection', () => {
    it('net.inet.tcp.recovery and TCP_RECOVERY choose per stack and per socket; SACK is the default', async () => {
      const ch = new Channel();
      expect(ch.host.sysctl.get('net.inet.tcp.recovery')).to.equal(1);
      const e = await established(ch);
      expect(e.tp.recovery.name).to.equal('sack');
      const enc = new TextEncoder();
      expect(ch.table.setsockopt(e.fd, IPPROTO.TCP, TCP_OPT.RECOVERY, enc.encode('rack'))).to.equal(0);
      expect(e.tp.recovery.name).to.equal('rack');
      expect(ch.table.getsockopt(e.fd, IPPROTO.TCP, TCP_OPT.RECOVERY).value, 'read as the sysctl number').to.equal(RECOVERY.rack);
      expect(ch.table.setsockopt(e.fd, IPPROTO.TCP, TCP_OPT.RECOVERY, 0)).to.equal(0);
      expect(e.tp.recovery.name).to.equal('newreno');
      expect(ch.table.setsockopt(e.fd, IPPROTO.TCP, TCP_OPT.RECOVERY, enc.encode('bbr'))).to.not.equal(0);
      expect(ch.table.setsockopt(e.fd, IPPROTO.TCP, TCP_OPT.RECOVERY, 7)).to.not.equal(0);
      ch.host.sysctl.set('net.inet.tcp.recovery', 2);
      expect(ch.tcp.recoveryName).to.equal('rack');
    });

    it('RACK without the peer\'s SACK falls back to NewReno', async () => {
      const ch = new Channel({ tun: { recovery: RECOVERY.rack } });
      const e = await established(ch, { sack: false, ts: false });
      flight(ch, e, e.snd, 6);
      for (let i = 0; i < 3; i++) ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd });
      ch.expectSegment({ seq: e.snd, len: MSS }, 'fast retransmit at the third duplicate');
      expect(e.tp.recoveryActive?.name).to.equal('newreno');
      expect(e.tp.rack, 'no RACK state made').to.equal(null);
    });
  });

  describe('the send-time log', () => {
    it('splits ranges at retransmissions, SACK blocks and the cumulative ACK, keeping byte counts', () => {
      const log = new XmitLog();
      log.reset(1000);
      log.record(1000, 3000, 1); // one range [1000, 4000) at t=1
      log.record(4000, 1000, 1); // same ms, same flags: widened
      expect(log.size).to.equal(1);
      log.record(5000, 1000, 2);
      expect(log.size).to.equal(2);
      log.sack(2000, 3000, null);
      expect(log.sackedBytes).to.equal(1000);
      expect(log.flagsOf(2500)).to.equal(XF.SACKED);
      expect(log.flagsOf(1500)).to.equal(0);
      const lost = log.markLost((s, _e, ts) => ts === 1 && s === 1000);
      expect(lost).to.equal(1000);
      log.record(1000, 500, 7); // a retransmission of part of the lost range
      expect(log.flagsOf(1200)).to.equal(XF.RETRANS);
      expect(log.xmitTsOf(1200)).to.equal(7);
      expect(log.flagsOf(1700)).to.equal(XF.LOST);
      expect(log.lostBytes).to.equal(500);
      const seen: number[][] = [];
      log.ack(3000, (s, e2) => seen.push([s, e2]));
      expect(seen, 'the SACKed range is not delivered twice').to.deep.equal([
        [1000, 1500],
        [1500, 2000],
      ]);
      expect(log.sackedBytes).to.equal(0);
      expect(log.lostBytes).to.equal(0);
      log.ack(6000, null);
      expect(log.size).to.equal(0);
      expect(log.end).to.equal(6000);
    });

    it('agrees with a byte-by-byte model under any sends, retransmissions, SACKs, losses and ACKs (property)', () => {
      const U = 100; // bytes per model unit
      const op = fc.oneof(
        fc.record({ k: fc.constant('send' as const), n: fc.integer({ min: 1, max: 5 }), dt: fc.integer({ min: 0, max: 2 }) }),
        fc.record({ k: fc.constant('rexmit' as const), a: fc.nat(40), n: fc.integer({ min: 1, max: 4 }), dt: fc.integer({ min: 0, max: 2 }) }),
        fc.record({ k: fc.constant('sack' as const), a: fc.nat(40), n: fc.integer({ min: 1, max: 6 }) }),
        fc.record({ k: fc.constant('lost' as const), t: fc.nat(60) }),
        fc.record({ k: fc.constant('ack' as const), n: fc.integer({ min: 1, max: 6 }) }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 120 }), fc.integer({ min: 0, max: 0xffffffff }), (ops, base) => {
          const log = new XmitLog(2); // tiny: every split may grow or compact the arrays
          log.reset(base);
          const ts: number[] = [];
          const fl: number[] = [];
          let una = 0; // model units
          let now = 0;
          const seq = (u: number): number => (base + u * U) >>> 0;
          for (const o of ops) {
            if (o.k === 'send') {
              now += o.dt;
              for (let i = 0; i < o.n; i++) {
                ts.push(now);
                fl.push(0);
              }
              log.record(seq(ts.length - o.n), o.n * U, now);
            } else if (o.k === 'rexmit') {
              now += o.dt;
              const a = una + o.a;
              const b = Math.min(a + o.n, ts.length);
              if (a >= b) continue;
              for (let i = a; i < b; i++) {
                ts[i] = now;
                fl[i] = (fl[i]! & ~XF.LOST) | XF.RETRANS;
              }
              log.record(seq(a), (b - a) * U, now);
            } else if (o.k === 'sack') {
              const a = una + o.a;
              const b = Math.min(a + o.n, ts.length);
              if (a >= b) continue;
              for (let i = a; i < b; i++) fl[i] = (fl[i]! & ~XF.LOST) | XF.SACKED;
              log.sack(seq(a), seq(b), null);
            } else if (o.k === 'lost') {
              for (let i = una; i < ts.length; i++) if ((fl[i]! & (XF.SACKED | XF.LOST)) === 0 && ts[i]! <= o.t) fl[i] = fl[i]! | XF.LOST;
              log.markLost((_s, _e, t) => t <= o.t);
            } else {
              una = Math.min(una + o.n, ts.length);
              log.ack(seq(una), null);
            }
            let sacked = 0;
            let lost = 0;
            for (let i = una; i < ts.length; i++) {
              if (log.xmitTsOf(seq(i) + 50) !== ts[i] || log.flagsOf(seq(i)) !== fl[i]) return false;
              if ((fl[i]! & XF.SACKED) !== 0) sacked += U;
              if ((fl[i]! & XF.LOST) !== 0) lost += U;
            }
            if (log.sackedBytes !== sacked || log.lostBytes !== lost) return false;
          }
          return true;
        }),
        { numRuns: 300 },
      );
    });

    it('grows and compacts without losing ranges across the 2^32 wrap', () => {
      const log = new XmitLog();
      let seq = 0xffff0000;
      log.reset(seq);
      for (let i = 0; i < 1000; i++) {
        log.record(seq, 100, i);
        seq = (seq + 100) >>> 0;
        if (i % 7 === 6) log.ack((seq - 300) >>> 0, null);
      }
      expect(log.end).to.equal(seq);
      expect(log.xmitTsOf((seq - 50) >>> 0)).to.equal(999);
      expect(log.xmitTsOf((seq - 250) >>> 0)).to.equal(997);
    });
  });
});
