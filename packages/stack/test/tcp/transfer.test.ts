/**
 * Bulk transfer between two stacks on a MemWire: sha256 equality both
 * ways, clean and with loss, reordering, duplication and corruption; the
 * counters must show which recovery path ran. Virtual time (ManualClock):
 * timers cost no wall-clock waiting.
 */
import { expect } from 'chai';
import type { TcpStats } from '../../src/transport/tcp/index.js';
import { connectPair, Flow, pattern, runFlows, WirePair } from './harness.js';

const LONG = process.env.RUMPNET_LONG === "1"; // 256 MiB instead of 64
const MiB = 1024 * 1024;

function checkFlow(f: Flow, total: number): void {
  expect(f.received, 'bytes received').to.equal(total);
  expect(f.rxHash.digest('hex'), 'sha256').to.equal(f.txHash.digest('hex'));
}

function sum(a: TcpStats, b: TcpStats, k: keyof TcpStats): number {
  return a[k] + b[k];
}

async function bothWays(pair: WirePair, size: number): Promise<{ ms: number; wallMs: number }> {
  const c = await connectPair(pair, 80);
  const p = pattern(MiB + 13);
  const ab = new Flow(c.a, c.b, size, p);
  const ba = new Flow(c.b, c.a, size, pattern(MiB + 29, 99));
  const t0 = performance.now();
  const ms = runFlows(pair, [ab, ba], 3_600_000);
  const wallMs = performance.now() - t0;
  checkFlow(ab, size);
  checkFlow(ba, size);
  return { ms, wallMs };
}

describe('tcp transfer over MemWire', function () {
  this.timeout(300_000);

  it('moves 1 MiB one way (smoke)', async () => {
    const pair = new WirePair();
    const c = await connectPair(pair, 80);
    const f = new Flow(c.a, c.b, MiB, pattern(MiB + 7));
    runFlows(pair, [f], 60_000);
    checkFlow(f, MiB);
    expect(pair.a.tcp.stats.sndrexmitpack).to.equal(0);
  });

  it(`moves ${LONG ? 256 : 64} MiB each way on a clean wire (MTU 1500)`, async () => {
    const size = (LONG ? 256 : 64) * MiB;
    const pair = new WirePair({ nmbclusters: 32768 });
    const r = await bothWays(pair, size);
    const a = pair.a.tcp.stats;
    const b = pair.b.tcp.stats;
    expect(sum(a, b, 'sndrexmitpack'), 'no retransmission on a clean wire').to.equal(0);
    console.log(`      clean: ${((2 * size) / MiB / (r.wallMs / 1000)).toFixed(1)} MiB/s aggregate wall, ${r.ms} virtual ms`);
    pair.close();
    expect(pair.a.pool.isAllFree(), 'A pool all free after close').to.equal(true);
    expect(pair.b.pool.isAllFree(), 'B pool all free after close').to.equal(true);
  });

  it(`moves ${LONG ? 256 : 64} MiB each way with 5% loss, 5% reordering, 1% duplication, 0.1% corruption`, async () => {
    const size = (LONG ? 256 : 64) * MiB;
    const pair = new WirePair({
      nmbclusters: 32768,
      seed: 4242,
      faults: { drop: 0.05, reorder: { p: 0.05, gap: 3 }, duplicate: 0.01, corrupt: { p: 0.001, offset: 14 } },
    });
    const r = await bothWays(pair, size);
    const a = pair.a.tcp.stats;
    const b = pair.b.tcp.stats;
    const w = pair.wire.stats();
    console.log(
      `      faults: ${((2 * size) / MiB / (r.wallMs / 1000)).toFixed(1)} MiB/s wall, ${r.ms} virtual ms; ` +
        `wire dropped=${w.dropped} reordered=${w.reordered} duplicated=${w.duplicated} corrupted=${w.corrupted}`,
    );
    console.log(
      `      recovery: fastretrans=${sum(a, b, 'fastretrans')} sackrecovery=${sum(a, b, 'sackrecovery')} ` +
        `sackrexmit=${sum(a, b, 'sackrexmit')} rexmttimeo=${sum(a, b, 'rexmttimeo')} sackblocksSent=${sum(a, b, 'sackblocksSent')} ` +
        `rcvbadsum=${sum(a, b, 'rcvbadsum')} rcvduppack=${sum(a, b, 'rcvduppack')} rcvoopack=${sum(a, b, 'rcvoopack')}`,
    );
    expect(w.dropped).to.be.greaterThan(0);
    expect(sum(a, b, 'fastretrans'), 'fast retransmit used').to.be.greaterThan(0);
    expect(sum(a, b, 'sackrecovery'), 'SACK recovery used').to.be.greaterThan(0);
    expect(sum(a, b, 'sackblocksSent'), 'SACK blocks sent').to.be.greaterThan(0);
    expect(sum(a, b, 'sackblocksRcvd'), 'SACK blocks received').to.be.greaterThan(0);
    if (w.corrupted > 0) expect(sum(a, b, 'rcvbadsum') + pair.a.ipDrops + pair.b.ipDrops).to.be.greaterThan(0);
  });
});
