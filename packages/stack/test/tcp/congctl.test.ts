import { expect } from 'chai';
import {
  CONGCTL_NAMES,
  congctlByName,
  Cubic,
  CUBIC_ALPHA,
  cubicK,
  DEFAULT_CONGCTL,
  initialWindow,
  isCongctlName,
  NewReno,
  wCubic,
  type CongestionControl,
} from '../../src/transport/tcp/congctl/index.js';

const MSS = 1000;

/** One round trip: the whole window is acknowledged, `perAck` bytes per ACK, spread over `rtt` ms. */
function roundTrip(cc: CongestionControl, now: number, rtt: number, perAck = MSS): number {
  const w = cc.cwnd;
  const n = Math.max(1, Math.floor(w / perAck));
  for (let i = 0; i < n; i++) cc.onAck(perAck, now + (i * rtt) / n, rtt);
  return now + rtt;
}

describe('tcp/congctl', () => {
  describe('initial window (RFC 6928)', () => {
    it('is min(10*MSS, max(2*MSS, 14600))', () => {
      expect(initialWindow(1460)).to.equal(14600);
      expect(initialWindow(536)).to.equal(5360);
      expect(initialWindow(9000)).to.equal(18000);
      expect(initialWindow(1000)).to.equal(10000);
      expect(new NewReno({ mss: 1460 }).cwnd).to.equal(14600);
      expect(new Cubic({ mss: 1460 }).cwnd).to.equal(14600);
    });
  });

  describe('registry', () => {
    it('lists the names, newreno first and default, and builds each', () => {
      expect(CONGCTL_NAMES).to.deep.equal(['newreno', 'cubic']);
      expect(DEFAULT_CONGCTL).to.equal('newreno');
      for (const name of CONGCTL_NAMES) {
        const make = congctlByName(name);
        expect(make, name).to.be.a('function');
        expect(make!({ mss: MSS }).name).to.equal(name);
      }
    });

    it('answers undefined for unknown names (the caller maps it to ENOENT)', () => {
      expect(congctlByName('bbr')).to.equal(undefined);
      expect(congctlByName('toString')).to.equal(undefined);
      expect(isCongctlName('__proto__')).to.equal(false);
    });

    it('can carry a window over when switching algorithm', () => {
      const cc = congctlByName('cubic')!({ mss: MSS, cwnd: 42_000, ssthresh: 30_000 });
      expect(cc.cwnd).to.equal(42_000);
      expect(cc.ssthresh).to.equal(30_000);
      expect(cc.phase).to.equal('congestionAvoidance');
      expect(() => new NewReno({ mss: 0 })).to.throw(RangeError);
    });
  });

  for (const name of CONGCTL_NAMES) {
    describe(`${name}: slow start and the shared machinery`, () => {
      const make = (o: { cwnd?: number; ssthresh?: number } = {}) => congctlByName(name)!({ mss: MSS, ...o });

      it('doubles cwnd per RTT in slow start, one ACK per segment', () => {
        const cc = make();
        let now = 0;
        let expected = 10 * MSS;
        for (let r = 0; r < 5; r++) {
          expect(cc.phase).to.equal('slowStart');
          now = roundTrip(cc, now, 50);
          expected *= 2;
          expect(cc.cwnd).to.equal(expected);
        }
      });

      it('doubles per RTT with delayed ACKs too (ABC, L = 2*SMSS)', () => {
        const cc = make();
        roundTrip(cc, 0, 50, 2 * MSS);
        expect(cc.cwnd).to.equal(20 * MSS);
      });

      it('limits one ACK to 2*SMSS of growth (RFC 3465 L)', () => {
        const cc = make();
        cc.onAck(10 * MSS, 0);
        expect(cc.cwnd).to.equal(12 * MSS);
      });

      it('stops slow start at ssthresh', () => {
        const cc = make({ ssthresh: 11_500 });
        cc.onAck(2 * MSS, 0, 50);
        // 1500 bytes fill slow start up to ssthresh; the other 500 go to CA.
        expect(cc.cwnd).to.be.within(11_500, 11_500 + MSS);
        expect(cc.phase).to.equal('congestionAvoidance');
      });

      it('RTO: cwnd = 1 SMSS, ssthresh from the flight; held on a repeated timeout; L = 1 after it', () => {
        const cc = make({ cwnd: 40 * MSS, ssthresh: 40 * MSS });
        cc.onRetransmitTimeout({ flightSize: 40 * MSS, sndMax: 5000, now: 0 });
        expect(cc.cwnd).to.equal(MSS);
        const expectSs = name === 'newreno' ? 20 * MSS : 28 * MSS;
        expect(cc.ssthresh).to.equal(expectSs);
        expect(cc.recover).to.equal(5000);
        cc.onRetransmitTimeout({ flightSize: MSS, sndMax: 5000, now: 1000, repeated: true });
        expect(cc.ssthresh).to.equal(expectSs);
        expect(cc.cwnd).to.equal(MSS);
        cc.onAck(3 * MSS, 2000);
        expect(cc.cwnd).to.equal(2 * MSS);
        expect(cc.stats.timeouts).to.equal(2);
      });

      it('RTO floors ssthresh at 2*SMSS', () => {
        const cc = make();
        cc.onRetransmitTimeout({ flightSize: MSS, sndMax: 1, now: 0 });
        expect(cc.ssthresh).to.equal(2 * MSS);
      });

      it('no fast retransmit for duplicate ACKs below recover after a timeout (RFC 6582 §3.2 step 2)', () => {
        const cc = make();
        expect(cc.canEnterRecovery(100)).to.equal(true);
        cc.onRetransmitTimeout({ flightSize: 10 * MSS, sndMax: 0xfffffff0 + 20, now: 0 });
        expect(cc.canEnterRecovery(0xfffffff0)).to.equal(false);
        expect(cc.canEnterRecovery(4)).to.equal(true); // across the wrap: 0xfffffff0 + 20 = 4
      });

      it('ECN: reduces once per window (RFC 3168 §6.1.2)', () => {
        const cc = make({ cwnd: 20 * MSS, ssthresh: 20 * MSS });
        expect(cc.onEcn({ flightSize: 20 * MSS, ack: 100, sndMax: 20_100, now: 0 })).to.equal(true);
        const after = cc.cwnd;
        expect(after).to.equal(name === 'newreno' ? 10 * MSS : 14 * MSS);
        expect(cc.onEcn({ flightSize: 20 * MSS, ack: 5000, sndMax: 20_100, now: 1 })).to.equal(false);
        expect(cc.cwnd).to.equal(after);
        expect(cc.onEcn({ flightSize: after, ack: 20_100, sndMax: 30_000, now: 2 })).to.equal(true);
        expect(cc.stats.ecnIgnored).to.equal(1);
        // An ECN reduction does not block a later fast retransmit.
        expect(cc.canEnterRecovery(20_200)).to.equal(true);
      });

      it('restart after idle: cwnd = min(cwnd, IW) (RFC 5681 §4.1)', () => {
        const cc = make({ cwnd: 50 * MSS });
        cc.onIdleRestart(0);
        expect(cc.cwnd).to.equal(10 * MSS);
      });

      it('counts and ignores nonsense input', () => {
        const cc = make();
        cc.onAck(-5, 0);
        cc.onAck(Number.NaN, 0);
        cc.enterRecovery({ flightSize: -1, sndMax: 0, now: 0, sack: false });
        expect(cc.cwnd).to.equal(10 * MSS);
        expect(cc.inRecovery).to.equal(false);
        expect(cc.stats.badInput).to.equal(3);
      });
    });
  }

  describe('NewReno', () => {
    it('grows ~1 SMSS per RTT in congestion avoidance (RFC 5681 §3.1, RFC 3465 §2.1)', () => {
      const cc = new NewReno({ mss: MSS, cwnd: 20 * MSS, ssthresh: 10 * MSS });
      let now = 0;
      for (let r = 1; r <= 10; r++) {
        expect(cc.phase).to.equal('congestionAvoidance');
        now = roundTrip(cc, now, 50);
        expect(cc.cwnd).to.equal((20 + r) * MSS);
      }
      // Delayed ACKs do not slow it down: byte counting.
      const d = new NewReno({ mss: MSS, cwnd: 20 * MSS, ssthresh: 10 * MSS });
      roundTrip(d, 0, 50, 2 * MSS);
      expect(d.cwnd).to.equal(21 * MSS);
    });

    it('halves on loss: ssthresh = FlightSize/2, cwnd = ssthresh + 3*SMSS (RFC 5681 §3.2)', () => {
      const cc = new NewReno({ mss: MSS, cwnd: 20 * MSS, ssthresh: 20 * MSS });
      expect(cc.canEnterRecovery(1000)).to.equal(true);
      cc.enterRecovery({ flightSize: 20 * MSS, sndMax: 21_000, now: 0, sack: false });
      expect(cc.ssthresh).to.equal(10 * MSS);
      expect(cc.cwnd).to.equal(13 * MSS);
      expect(cc.inRecovery).to.equal(true);
      expect(cc.phase).to.equal('recovery');
      expect(cc.recover).to.equal(21_000);
      expect(cc.canEnterRecovery(1000)).to.equal(false);
      // A second entry in the same episode is refused, not a second halving.
      cc.enterRecovery({ flightSize: 13 * MSS, sndMax: 22_000, now: 1, sack: false });
      expect(cc.ssthresh).to.equal(10 * MSS);
      expect(cc.recover).to.equal(21_000);
      expect(cc.stats.recoveries).to.equal(1);
      expect(cc.stats.badInput).to.equal(1);
    });

    it('SACK recovery: cwnd = ssthresh, no inflation, no deflation (RFC 6675 §5)', () => {
      const cc = new NewReno({ mss: MSS, cwnd: 20 * MSS, ssthresh: 20 * MSS });
      cc.enterRecovery({ flightSize: 20 * MSS, sndMax: 21_000, now: 0, sack: true });
      expect(cc.cwnd).to.equal(10 * MSS);
      cc.onDupAck();
      cc.onPartialAck(3 * MSS);
      expect(cc.cwnd).to.equal(10 * MSS);
    });

    it('inflates per duplicate ACK and handles partial ACKs per RFC 6582', () => {
      const cc = new NewReno({ mss: MSS, cwnd: 20 * MSS, ssthresh: 20 * MSS });
      cc.enterRecovery({ flightSize: 20 * MSS, sndMax: 21_000, now: 0, sack: false });
      cc.onDupAck();
      cc.onDupAck();
      expect(cc.cwnd).to.equal(15 * MSS);
      // Partial ACK of 2.5 segments: deflate by 2500, add back one SMSS.
      expect(cc.isFullAck(3_500)).to.equal(false);
      cc.onPartialAck(2_500);
      expect(cc.cwnd).to.equal(15 * MSS - 2_500 + MSS);
      // Partial ACK smaller than SMSS: deflate only.
      cc.onPartialAck(400);
      expect(cc.cwnd).to.equal(15 * MSS - 2_500 + MSS - 400);
      expect(cc.inRecovery).to.equal(true);
      expect(cc.stats.partialAcks).to.equal(2);
      // Full ACK: covers recover.
      expect(cc.isFullAck(21_000)).to.equal(true);
      expect(cc.isFullAck(25_000)).to.equal(true);
      cc.exitRecovery(4 * MSS, 10);
      // min(ssthresh, max(FlightSize, SMSS) + SMSS) = min(10000, 5000)
      expect(cc.cwnd).to.equal(5 * MSS);
      expect(cc.inRecovery).to.equal(false);
      expect(cc.stats.fullAcks).to.equal(1);
      // With a full pipe, cwnd comes back to ssthresh.
      const b = new NewReno({ mss: MSS, cwnd: 20 * MSS, ssthresh: 20 * MSS });
      b.enterRecovery({ flightSize: 20 * MSS, sndMax: 21_000, now: 0, sack: false });
      b.exitRecovery(15 * MSS, 10);
      expect(b.cwnd).to.equal(10 * MSS);
      expect(b.phase).to.equal('congestionAvoidance');
    });

    it('never deflates below one SMSS', () => {
      const cc = new NewReno({ mss: MSS, cwnd: 4 * MSS, ssthresh: 4 * MSS });
      cc.enterRecovery({ flightSize: 4 * MSS, sndMax: 5000, now: 0, sack: false });
      cc.onPartialAck(50 * MSS);
      expect(cc.cwnd).to.equal(MSS);
    });

    it('does not grow cwnd from onAck while in recovery', () => {
      const cc = new NewReno({ mss: MSS, cwnd: 20 * MSS });
      cc.enterRecovery({ flightSize: 20 * MSS, sndMax: 21_000, now: 0, sack: true });
      const w = cc.cwnd;
      cc.onAck(5 * MSS, 1);
      expect(cc.cwnd).to.equal(w);
    });
  });

  describe('CUBIC (RFC 9438)', () => {
    /** A CUBIC sender that just lost at W_max = 100 segments and is back in CA. */
    function afterLoss(): Cubic {
      const cc = new Cubic({ mss: MSS, cwnd: 100 * MSS, ssthresh: 100 * MSS });
      cc.enterRecovery({ flightSize: 100 * MSS, sndMax: 100_000, now: 0, sack: true });
      cc.exitRecovery(70 * MSS, 0);
      return cc;
    }

    it('multiplies by beta_cubic = 0.7 on loss and remembers W_max', () => {
      const cc = afterLoss();
      expect(cc.ssthresh).to.equal(70 * MSS);
      expect(cc.cwnd).to.equal(70 * MSS);
      expect(cc.wMax).to.equal(100);
      const reno = new Cubic({ mss: MSS, cwnd: 100 * MSS, ssthresh: 100 * MSS });
      reno.enterRecovery({ flightSize: 100 * MSS, sndMax: 1, now: 0, sack: false });
      expect(reno.cwnd).to.equal(73 * MSS); // ssthresh + 3*SMSS
    });

    it('K = cbrt((W_max - cwnd_epoch)/C) at the start of the epoch', () => {
      const cc = afterLoss();
      cc.onAck(MSS, 0, 100);
      expect(cc.epoch).to.equal(0);
      expect(cc.k).to.be.closeTo(Math.cbrt(30 / 0.4), 1e-9);
      expect(cubicK(100, 70)).to.be.closeTo(4.2172, 1e-4);
    });

    it('follows W_cubic(t) = C(t-K)^3 + W_max through the concave and convex regions', () => {
      const cc = afterLoss();
      const K = cubicK(100, 70);
      const rtt = 500; // long RTT: the Reno-friendly region stays out of the way
      let now = 0;
      let sawConcave = false;
      let sawConvex = false;
      for (let r = 0; r < 26; r++) {
        now = roundTrip(cc, now, rtt);
        const t = now / 1000;
        const want = wCubic(t, K, 100);
        const got = cc.cwnd / MSS;
        expect(Math.abs(got - want), `t=${t} cwnd=${got} W_cubic=${want}`).to.be.at.most(Math.max(1.5, want * 0.01));
        if (t < K - 0.5) {
          sawConcave = true;
          expect(got).to.be.below(100);
        }
        if (t > K + 1) {
          sawConvex = true;
          expect(got).to.be.above(100);
        }
      }
      expect(sawConcave && sawConvex).to.equal(true);
    });

    it('plateaus at W_max around t = K', () => {
      const cc = afterLoss();
      const K = cubicK(100, 70);
      let now = 0;
      while (now / 1000 < K) now = roundTrip(cc, now, 100);
      expect(cc.cwnd / MSS).to.be.closeTo(100, 1);
    });

    it('never grows faster than 1.5x per RTT (target clamp)', () => {
      const cc = afterLoss();
      let now = 0;
      for (let r = 0; r < 200; r++) {
        const before = cc.cwnd;
        now = roundTrip(cc, now, 500);
        expect(cc.cwnd).to.be.at.most(Math.ceil(before * 1.5) + MSS);
      }
    });

    it('Reno-friendly region: with a short RTT cwnd follows W_est (alpha_cubic, then 1)', () => {
      const cc = afterLoss();
      let now = 0;
      const rtt = 10;
      // 60 RTTs = 0.6 s: W_cubic has barely moved, Reno would be at ~70 + 60*alpha.
      for (let r = 0; r < 60; r++) now = roundTrip(cc, now, rtt);
      const K = cubicK(100, 70);
      expect(cc.cwnd / MSS).to.be.above(wCubic(now / 1000, K, 100) + 5);
      expect(cc.cwnd / MSS).to.be.closeTo(cc.wEst, 1);
      expect(cc.wEst).to.be.closeTo(70 + 60 * CUBIC_ALPHA, 1.5);
      // Once W_est passes cwnd_prior (100), alpha becomes 1: ~1 segment per RTT.
      while (cc.wEst < 101) now = roundTrip(cc, now, rtt);
      const w0 = cc.wEst;
      for (let r = 0; r < 10; r++) now = roundTrip(cc, now, rtt);
      expect(cc.wEst - w0).to.be.closeTo(10, 1);
    });

    it('fast convergence: a loss below the previous W_max lowers W_max to cwnd*(1+beta)/2', () => {
      const cc = afterLoss();
      let now = 0;
      for (let r = 0; r < 10; r++) now = roundTrip(cc, now, 200);
      const w = cc.cwnd / MSS;
      expect(w).to.be.below(100);
      cc.enterRecovery({ flightSize: cc.cwnd, sndMax: 500_000, now, sack: true });
      expect(cc.wMax).to.be.closeTo((w * 1.7) / 2, 0.01);
      expect(cc.ssthresh).to.equal(Math.floor(cc.ssthresh));
    });

    it('after an RTO: slow start, then an epoch with K = 0 and W_max = cwnd at its start (§4.8)', () => {
      const cc = afterLoss();
      cc.onRetransmitTimeout({ flightSize: 70 * MSS, sndMax: 200_000, now: 0 });
      expect(cc.cwnd).to.equal(MSS);
      expect(cc.ssthresh).to.equal(49 * MSS);
      let now = 0;
      for (let i = 0; i < 1000 && cc.phase === 'slowStart'; i++) cc.onAck(MSS, (now += 10), 100);
      expect(cc.cwnd).to.equal(49 * MSS);
      cc.onAck(MSS, now, 100);
      expect(cc.k).to.equal(0);
      expect(cc.wMax).to.be.closeTo(49, 1e-9);
    });

    it('the first epoch after the initial slow start starts convex (K = 0)', () => {
      const cc = new Cubic({ mss: MSS, ssthresh: 40 * MSS });
      let now = 0;
      while (cc.phase === 'slowStart') now = roundTrip(cc, now, 100);
      cc.onAck(MSS, now, 100);
      expect(cc.k).to.equal(0);
      const start = cc.cwnd;
      for (let r = 0; r < 20; r++) now = roundTrip(cc, now, 100);
      expect(cc.cwnd).to.be.above(start);
    });
  });
});
