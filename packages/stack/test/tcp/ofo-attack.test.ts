/**
 * Issue 10, from the network: a peer opens ten connections to a listener
 * and sends only out-of-order segments (small ones with holes, round after
 * round). On the default pool (16,384 clusters) this used to fill every
 * cluster and stop the stack. Now the out-of-order queues together stay
 * within their budget, each within its connection's share, every refusal
 * and prune is counted — and a well-behaved 8 MiB download from the same
 * stack, running meanwhile, completes with the right sha256; and a lossy
 * upload to it, which needs out-of-order space of its own while the flood
 * holds the whole budget, gets it (the budget is shared: the attackers'
 * queues are pruned) and completes too. Afterwards the pool is all free. Everything runs on the in-memory wire (switched, so the
 * client does not see the flood), on a ManualClock.
 */
import { expect } from 'chai';
import type { ManualClock } from '../../src/kern/clock.js';
import { AF_INET, SOCK } from '../../src/socket/constants.js';
import { sockaddrIn } from '../../src/socket/sockaddr.js';
import type { TcpCb } from '../../src/transport/tcp/index.js';
import { macToString } from '../../src/wire/address.js';
import { B, connectPair, Flow, pattern, WirePair } from './harness.js';
import { OfoAttacker } from './ofo-attacker.js';

const MiB = 1024 * 1024;
const EVIL = 0x0a000042; // 10.0.0.66

/** The victim's connections from the attacker (in its listen queue: never accepted). */
function attackedTcbs(pair: WirePair, port: number): TcpCb[] {
  const out: TcpCb[] = [];
  for (const tp of pair.b.tcp.tcbs) if (tp.inp.lport === port && tp.inp.faddr === EVIL) out.push(tp);
  return out;
}

describe('tcp: an out-of-order flood on ten connections (issue 10)', function () {
  this.timeout(120_000);

  it('holds at most the budget and each connection its share, counts drops and prunes, and an 8 MiB download completes intact', async () => {
    const pair = new WirePair({ switched: true, nmbclusters: 16384 });
    const victim = pair.b;
    const clock = pair.clock as ManualClock;
    const tun = victim.tcp.tun;
    // The flood's target: a listener nobody accepts from.
    const lfd = victim.table.socket(AF_INET, SOCK.STREAM, 0).fd;
    expect(victim.table.bind(lfd, sockaddrIn(0, 8080))).to.equal(0);
    expect(victim.table.listen(lfd, 64)).to.equal(0);
    const evil = new OfoAttacker(pair.wire, { ip: EVIL, victimIp: B, victimMac: victim.link.mac, port: 8080, conns: 10 });
    victim.net.stack.arpAdd('10.0.0.66', macToString(evil.mac));
    evil.sendSyns();
    pair.flush();
    expect(evil.established, 'handshakes').to.equal(10);
    const tcbs = attackedTcbs(pair, 8080);
    expect(tcbs.length).to.equal(10);

    // The well-behaved client downloads 8 MiB from the victim meanwhile.
    const c = await connectPair(pair, 80);
    const f = new Flow(c.b, c.a, 8 * MiB, pattern(MiB + 13));
    const budget = victim.tcp.reassBudget;
    let peakClusters = 0;
    let peakMbufs = 0;
    let poolPeak = 0;
    const rounds = 60; // 10 connections x 60 rounds x 50 segments: 30,000 segments, ~8 MB
    let round = 0;
    for (let i = 0; i < 2_000_000 && !f.done; i++) {
      if (round < rounds && i % 4 === 0) {
        evil.flood(50);
        round++;
      }
      const moved = f.step();
      pair.flush();
      // The bounds hold at every step.
      peakClusters = Math.max(peakClusters, budget.clusters);
      peakMbufs = Math.max(peakMbufs, budget.mbufs);
      poolPeak = Math.max(poolPeak, victim.pool.stats().clustersInUse);
      if (budget.clusters > tun.reassMaxClusters || budget.mbufs > tun.reassMaxMbufs) {
        expect.fail(`budget passed: ${budget.clusters} clusters, ${budget.mbufs} mbufs`);
      }
      for (const tp of tcbs) {
        const rcv = tp.so!.rcv;
        if (tp.reass.length > tun.reassMaxSegs || tp.reass.mbcnt > rcv.mbmax - rcv.mbcnt) {
          expect.fail(`a connection passed its share: ${tp.reass.length} entries, ${tp.reass.mbcnt} bytes of storage`);
        }
      }
      if (!moved) clock.advance(1);
    }
    // Finish the flood if the download was faster.
    for (; round < rounds; round++) {
      evil.flood(50);
      pair.flush();
      expect(budget.clusters).to.be.at.most(tun.reassMaxClusters);
      expect(budget.mbufs).to.be.at.most(tun.reassMaxMbufs);
    }
    expect(f.received, 'download complete').to.equal(8 * MiB);
    expect(f.rxHash.digest('hex'), 'sha256').to.equal(f.txHash.digest('hex'));

    const st = victim.tcp.stats;
    expect(evil.segments).to.equal(10 * 60 * 50);
    expect(st.rcvoopack, 'every flood segment went to the out-of-order path').to.be.at.least(evil.segments);
    expect(st.rcvoocompact, 'small segments left their clusters').to.be.greaterThan(0);
    expect(st.rcvoobudgetdrop + st.rcvooprunedother + st.rcvoopruned + st.rcvoodrop, 'refusals and prunes counted').to.be.greaterThan(0);
    expect(peakMbufs, 'the budget was reached').to.be.at.least(tun.reassMaxMbufs - 2);
    expect(victim.pool.stats().pressureEntered, 'the flood alone never pushed the pool into pressure').to.equal(0);
    console.log(
      `      flood: ${evil.segments} segments, ${(evil.bytes / 1e6).toFixed(1)} MB; out-of-order queues peaked at ${peakClusters} clusters ` +
        `(budget ${tun.reassMaxClusters}), ${peakMbufs} mbufs (budget ${tun.reassMaxMbufs}); pool peak ${poolPeak}/16384; ` +
        `drops: budget ${st.rcvoobudgetdrop}, cap ${st.rcvoodrop}, storage ${st.rcvoomemdrop}; pruned ${st.rcvoopruned} (+${st.rcvooprunedother} for fairness)`,
    );

    // The attacker goes: its connections' queues go with it.
    evil.resetAll();
    pair.flush();
    expect(attackedTcbs(pair, 8080).length).to.equal(0);
    expect([budget.clusters, budget.mbufs, budget.activeQueues]).to.deep.equal([0, 0, 0]);
    pair.close();
    expect(pair.a.pool.isAllFree(), 'client pool all free').to.equal(true);
    expect(victim.pool.isAllFree(), 'victim pool all free').to.equal(true);
  });

  it('a lossy 8 MiB upload to the flooded stack still gets its share of the budget and completes intact', async () => {
    const pair = new WirePair({ switched: true, nmbclusters: 16384, seed: 77 });
    const victim = pair.b;
    const clock = pair.clock as ManualClock;
    const tun = victim.tcp.tun;
    const lfd = victim.table.socket(AF_INET, SOCK.STREAM, 0).fd;
    expect(victim.table.bind(lfd, sockaddrIn(0, 8080))).to.equal(0);
    expect(victim.table.listen(lfd, 64)).to.equal(0);
    const evil = new OfoAttacker(pair.wire, { ip: EVIL, victimIp: B, victimMac: victim.link.mac, port: 8080, conns: 10 });
    victim.net.stack.arpAdd('10.0.0.66', macToString(evil.mac));
    evil.sendSyns();
    pair.flush();
    expect(evil.established).to.equal(10);
    // Fill the budget first: the upload's losses must then compete for it.
    for (let r = 0; r < 20; r++) {
      evil.flood(50);
      pair.flush();
    }
    const budget = victim.tcp.reassBudget;
    expect(budget.mbufs, 'the flood holds the whole budget').to.be.at.least(tun.reassMaxMbufs - 2);
    const c = await connectPair(pair, 80);
    pair.a.link.setFaults({ drop: 0.02 }); // the client's frames to the victim: 2 % lost
    const legit = (c.b.pcb as { ppcb: TcpCb }).ppcb;
    const f = new Flow(c.a, c.b, 8 * MiB, pattern(MiB + 29, 5));
    let legitPeak = 0;
    for (let i = 0; i < 5_000_000 && !f.done; i++) {
      if (i % 4 === 0) evil.flood(20);
      const moved = f.step();
      pair.flush();
      if (legit.reass.length > legitPeak) legitPeak = legit.reass.length;
      if (budget.clusters > tun.reassMaxClusters || budget.mbufs > tun.reassMaxMbufs) expect.fail('budget passed');
      if (!moved) clock.advance(1);
    }
    expect(f.received, 'upload complete').to.equal(8 * MiB);
    expect(f.rxHash.digest('hex'), 'sha256').to.equal(f.txHash.digest('hex'));
    const st = victim.tcp.stats;
    expect(pair.a.tcp.stats.sackrecovery, 'losses were recovered with SACK').to.be.greaterThan(0);
    expect(legitPeak, 'the upload queued out-of-order data despite the full budget').to.be.greaterThan(0);
    expect(st.rcvooprunedother, 'attackers were pruned to make room for it').to.be.greaterThan(0);
    console.log(`      lossy upload: its out-of-order queue peaked at ${legitPeak} entries; ${st.rcvooprunedother} attacker entries pruned for fairness`);
    evil.resetAll();
    pair.a.link.setFaults(null);
    pair.flush();
    pair.close();
    expect(pair.a.pool.isAllFree(), 'client pool all free').to.equal(true);
    expect(victim.pool.isAllFree(), 'victim pool all free').to.equal(true);
  });
});
