import { expect } from 'chai';
import fc from 'fast-check';
import {
  DEFAULT_INITIAL_RTO,
  DEFAULT_MAX_RTO,
  DEFAULT_MIN_RTO,
  RFC6298_MIN_RTO,
  RttEstimator,
} from '../../src/transport/tcp/rtt.js';

describe('tcp/rtt (RFC 6298)', () => {
  it('starts at 1 s with no sample (§2.1)', () => {
    const e = new RttEstimator();
    expect(e.rto).to.equal(DEFAULT_INITIAL_RTO);
    expect(e.srtt).to.equal(undefined);
    expect(e.hasSample).to.equal(false);
    expect(DEFAULT_MIN_RTO).to.equal(200);
    expect(DEFAULT_MAX_RTO).to.equal(60_000);
  });

  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4 RTTVAR) (§2.2)', () => {
    const e = new RttEstimator({ minRto: 1, granularity: 1 });
    expect(e.sample(100)).to.equal(true);
    expect(e.srtt).to.equal(100);
    expect(e.rttvar).to.equal(50);
    expect(e.rto).to.equal(300);
  });

  it('later samples: RTTVAR from the old SRTT, then SRTT (§2.3), exact values', () => {
    const e = new RttEstimator({ minRto: 1, granularity: 1 });
    e.sample(100);
    e.sample(200);
    // RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
    expect(e.rttvar).to.equal(62.5);
    expect(e.srtt).to.equal(112.5);
    expect(e.rto).to.equal(112.5 + 250);
    e.sample(112.5);
    // RTTVAR = 3/4*62.5 + 0 = 46.875; SRTT unchanged
    expect(e.rttvar).to.equal(46.875);
    expect(e.srtt).to.equal(112.5);
    expect(e.rto).to.equal(112.5 + 187.5);
  });

  it('uses G when 4*RTTVAR is smaller (§2.2 max(G, K*RTTVAR))', () => {
    const e = new RttEstimator({ minRto: 1, granularity: 10 });
    e.sample(2); // RTTVAR 1, 4*RTTVAR = 4 < G = 10
    expect(e.rto).to.equal(12);
  });

  it('clamps to the configured minimum (200 ms default, 1 s per the RFC) and maximum', () => {
    const lin = new RttEstimator();
    lin.sample(10);
    expect(lin.rto).to.equal(200);
    const rfc = new RttEstimator({ minRto: RFC6298_MIN_RTO });
    rfc.sample(10);
    expect(rfc.rto).to.equal(1000);
    const big = new RttEstimator();
    big.sample(50_000);
    expect(big.rto).to.equal(60_000);
  });

  it("Karn's rule: a retransmitted segment's sample is discarded (§3)", () => {
    const e = new RttEstimator({ minRto: 1 });
    e.sample(100);
    expect(e.sample(5000, true)).to.equal(false);
    expect(e.srtt).to.equal(100);
    expect(e.stats.karnDiscarded).to.equal(1);
  });

  it('timestamp samples are valid for retransmissions and keep the backoff honest (RFC 7323 §4)', () => {
    const e = new RttEstimator({ minRto: 1 });
    e.sample(100);
    e.backoff();
    expect(e.backoffCount).to.equal(1);
    expect(e.timestampSample(100)).to.equal(true);
    expect(e.backoffCount).to.equal(0);
    expect(e.stats.timestampSamples).to.equal(1);
  });

  it('timestamp samples can scale the gains by ExpectedSamples (RFC 7323 App. G)', () => {
    const e = new RttEstimator({ minRto: 1 });
    e.sample(100);
    e.timestampSample(200, 4);
    // beta' = 1/16, alpha' = 1/32
    expect(e.rttvar).to.equal((15 / 16) * 50 + (1 / 16) * 100);
    expect(e.srtt).to.equal((31 / 32) * 100 + (1 / 32) * 200);
  });

  it('backoff doubles the RTO and caps it (§5.5); a valid sample ends the backoff', () => {
    const e = new RttEstimator({ minRto: 1, resetAfterBackoffs: 0 });
    e.sample(100); // RTO 300
    expect(e.backoff()).to.equal(600);
    expect(e.backoff()).to.equal(1200);
    for (let i = 0; i < 20; i++) e.backoff();
    expect(e.rto).to.equal(60_000);
    e.sample(100);
    expect(e.backoffCount).to.equal(0);
    expect(e.rto).to.be.below(1000);
  });

  it('the backed-off RTO survives a Karn-discarded sample', () => {
    const e = new RttEstimator({ minRto: 1 });
    e.sample(100);
    e.backoff();
    e.sample(100, true);
    expect(e.rto).to.equal(600);
  });

  it('forgets SRTT/RTTVAR after repeated backoff (§5 note), next sample is a first one', () => {
    const e = new RttEstimator({ minRto: 1, resetAfterBackoffs: 3 });
    e.sample(100);
    e.backoff();
    e.backoff();
    e.backoff();
    expect(e.srtt).to.equal(100);
    e.backoff(); // 4th
    expect(e.srtt).to.equal(undefined);
    expect(e.stats.srttResets).to.equal(1);
    expect(e.rto).to.equal(300 * 16);
    e.sample(40);
    expect(e.srtt).to.equal(40);
    expect(e.rttvar).to.equal(20);
    expect(e.rto).to.equal(120);
  });

  it('re-initialises to 3 s after a lost SYN with no sample (§5.7)', () => {
    const e = new RttEstimator();
    e.backoff();
    e.onHandshakeLoss();
    expect(e.rto).to.equal(3000);
    const f = new RttEstimator();
    f.timestampSample(50);
    f.onHandshakeLoss();
    expect(f.rto).to.equal(200);
  });

  it('counts and ignores malformed samples', () => {
    const e = new RttEstimator();
    expect(e.sample(-1)).to.equal(false);
    expect(e.sample(Number.NaN)).to.equal(false);
    expect(e.timestampSample(Infinity)).to.equal(false);
    expect(e.stats.badSamples).to.equal(3);
    expect(e.hasSample).to.equal(false);
  });

  it('rejects nonsensical configuration', () => {
    expect(() => new RttEstimator({ minRto: 0 })).to.throw(RangeError);
    expect(() => new RttEstimator({ minRto: 5000, maxRto: 1000 })).to.throw(RangeError);
  });

  it('RTO always lies within [min, max] and tracks a constant RTT (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 100_000, noNaN: true }), { minLength: 1, maxLength: 50 }), (rtts) => {
        const e = new RttEstimator();
        for (const r of rtts) {
          e.sample(r);
          expect(e.rto).to.be.within(e.minRto, e.maxRto);
        }
      }),
    );
    const e = new RttEstimator({ minRto: 1 });
    for (let i = 0; i < 200; i++) e.sample(80);
    expect(e.srtt).to.be.closeTo(80, 1e-9);
    expect(e.rto).to.be.closeTo(81, 1e-6); // RTTVAR -> 0, G = 1
  });
});
