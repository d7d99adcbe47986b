/**
 * RACK-TLP (RFC 8985) end to end: the 64 MiB bulk transfer of
 * transfer.test.ts, both ways, on the fault-injecting MemWire (loss,
 * reordering, duplication, corruption) with `net.inet.tcp.recovery` = rack
 * on both stacks. The data must arrive intact and the counters must show
 * that RACK, not DupThresh, found the losses and that tail loss probes ran.
 */
import { expect } from 'chai';
import type { TcpStats } from '../../src/transport/tcp/index.js';
import { connectPair, Flow, pattern, runFlows, WirePair } from './harness.js';

const MiB = 1024 * 1024;

function sum(a: TcpStats, b: TcpStats, k: keyof TcpStats): number {
  return a[k] + b[k];
}

describe('tcp RACK-TLP transfer over MemWire', function () {
  this.timeout(300_000);

  it('moves 64 MiB each way with 5% loss, 5% reordering, 1% duplication, 0.1% corruption', async () => {
    const size = 64 * MiB;
    const pair = new WirePair({
      nmbclusters: 32768,
      seed: 4242,
      tun: { recovery: 2 },
      faults: { drop: 0.05, reorder: { p: 0.05, gap: 3 }, duplicate: 0.01, corrupt: { p: 0.001, offset: 14 } },
    });
    const c = await connectPair(pair, 80);
    const ab = new Flow(c.a, c.b, size, pattern(MiB + 13));
    const ba = new Flow(c.b, c.a, size, pattern(MiB + 29, 99));
    const t0 = performance.now();
    const ms = runFlows(pair, [ab, ba], 3_600_000);
    const wallMs = performance.now() - t0;
    for (const f of [ab, ba]) {
      expect(f.received, 'bytes received').to.equal(size);
      expect(f.rxHash.digest('hex'), 'sha256').to.equal(f.txHash.digest('hex'));
    }
    const a = pair.a.tcp.stats;
    const b = pair.b.tcp.stats;
    const w = pair.wire.stats();
    const k = (n: keyof TcpStats): string => `${n}=${sum(a, b, n)}`;
    console.log(`      rack: ${((2 * size) / MiB / (wallMs / 1000)).toFixed(1)} MiB/s wall, ${ms} virtual ms; wire dropped=${w.dropped} reordered=${w.reordered}`);
    console.log(
      `      ${k('rackLost')} ${k('rackRecovery')} ${k('rackRexmit')} ${k('rackReoTimeouts')} ${k('rackReoWndGrown')} ` +
        `${k('tlpProbes')} ${k('tlpProbesNew')} ${k('tlpRecoveries')} ${k('tlpSpurious')} ${k('rexmttimeo')} ${k('sackrecovery')} ${k('fastretrans')}`,
    );
    expect(w.dropped).to.be.greaterThan(0);
    expect(sum(a, b, 'rackLost'), 'RACK detected losses').to.be.greaterThan(0);
    expect(sum(a, b, 'rackRecovery'), 'RACK started recoveries').to.be.greaterThan(0);
    expect(sum(a, b, 'rackRexmit'), 'RACK retransmitted').to.be.greaterThan(0);
    expect(sum(a, b, 'tlpProbes'), 'tail loss probes sent').to.be.greaterThan(0);
    expect(sum(a, b, 'sackrecovery'), 'no RFC 6675 recovery under RACK').to.equal(0);
    pair.close();
    expect(pair.a.pool.isAllFree(), 'A pool all free after close').to.equal(true);
    expect(pair.b.pool.isAllFree(), 'B pool all free after close').to.equal(true);
  });
});
