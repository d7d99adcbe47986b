/**
 * Issue 10's benchmark: a well-behaved 8 MiB download from a stack, alone
 * and while ten other connections flood that stack with out-of-order
 * segments (small segments with holes, never the byte at RCV.NXT — see
 * test/tcp/ofo-attacker.ts). Prints the wall time of each, medians of
 * several runs, and their ratio; and what the flood made the stack hold.
 *
 * Run: npx tsx packages/stack/bench/ofo-attack.bench.ts [runs, default 5] [MiB, default 8]
 *
 * One process, one thread: the victim, the client and the attacker share
 * the CPU, so the ratio is the cost of processing (and refusing) the flood
 * on top of the download. Virtual time (ManualClock) — no timer waits.
 * Everything stays on the in-memory wire.
 */
import type { ManualClock } from '../src/kern/clock.js';
import { AF_INET, SOCK } from '../src/socket/constants.js';
import { sockaddrIn } from '../src/socket/sockaddr.js';
import { macToString } from '../src/wire/address.js';
import { B, connectPair, Flow, pattern, WirePair } from '../test/tcp/harness.js';
import { OfoAttacker } from '../test/tcp/ofo-attacker.js';

const MiB = 1024 * 1024;
const RUNS = Number(process.argv[2] ?? 5);
const SIZE = Number(process.argv[3] ?? 8) * MiB;
/**
 * Flood rates tried: segments sent on each of CONNS connections per step of
 * the download (a step moves up to 256 KiB). 30 makes about the issue's
 * attack (4 MB of small out-of-order segments on ten connections, which
 * filled the default pool before this change); 60 twice that.
 */
const CONNS = 10;
const RATES = [30, 60];

interface Run {
  ms: number;
  cpuMs: number;
  floodSegs: number;
  floodBytes: number;
  peakClusters: number;
  peakMbufs: number;
  poolPeak: number;
}

async function once(rate: number): Promise<Run> {
  const attack = rate > 0;
  const pair = new WirePair({ switched: true, nmbclusters: 16384 });
  const victim = pair.b;
  const clock = pair.clock as ManualClock;
  let evil: OfoAttacker | null = null;
  if (attack) {
    const lfd = victim.table.socket(AF_INET, SOCK.STREAM, 0).fd;
    victim.table.bind(lfd, sockaddrIn(0, 8080));
    victim.table.listen(lfd, 64);
    evil = new OfoAttacker(pair.wire, { ip: 0x0a000042, victimIp: B, victimMac: victim.link.mac, port: 8080, conns: CONNS });
    victim.net.stack.arpAdd('10.0.0.66', macToString(evil.mac));
    evil.sendSyns();
    pair.flush();
    if (evil.established !== CONNS) throw new Error(`only ${evil.established} attack connections`);
    evil.prepare();
  }
  const c = await connectPair(pair, 80);
  const f = new Flow(c.b, c.a, SIZE, pattern(MiB + 13));
  const budget = victim.tcp.reassBudget;
  let peakClusters = 0;
  let peakMbufs = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < 50_000_000 && !f.done; i++) {
    if (evil !== null) evil.flood(rate);
    const moved = f.step();
    pair.flush();
    if (budget.clusters > peakClusters) peakClusters = budget.clusters;
    if (budget.mbufs > peakMbufs) peakMbufs = budget.mbufs;
    if (!moved) clock.advance(1);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (f.received !== SIZE) throw new Error(`download incomplete: ${f.received}/${SIZE}`);
  if (f.rxHash.digest('hex') !== f.txHash.digest('hex')) throw new Error('data mismatch');
  const poolPeak = victim.pool.stats().clustersPeak;
  pair.close();
  if (!victim.pool.isAllFree()) throw new Error('victim pool not all free after close');
  return {
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    floodSegs: evil?.segments ?? 0,
    floodBytes: evil?.bytes ?? 0,
    peakClusters,
    peakMbufs,
    poolPeak,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  console.log(`ofo-attack.bench: ${SIZE / MiB} MiB download, ${RUNS} runs each, node ${process.version}`);
  await once(0); // warm-up (JIT)
  await once(RATES[0]!);
  for (const rate of RATES) {
    const calm: Run[] = [];
    const hit: Run[] = [];
    // Interleaved, so a change in machine load hits both sides alike.
    for (let r = 0; r < RUNS; r++) {
      calm.push(await once(0));
      hit.push(await once(rate));
    }
    const mc = median(calm.map((r) => r.ms));
    const mh = median(hit.map((r) => r.ms));
    const cc = median(calm.map((r) => r.cpuMs));
    const ch = median(hit.map((r) => r.cpuMs));
    const h = hit[hit.length - 1]!;
    console.log(
      `\nflood ${rate} segments per connection per step: ${CONNS} connections, ${h.floodSegs} segments, ${(h.floodBytes / 1e6).toFixed(1)} MB of payload ` +
        `(${((h.floodBytes / SIZE) * 100).toFixed(0)}% of the download's bytes)`,
    );
    console.log(`  undisturbed:  ${mc.toFixed(0)} ms wall (median; runs ${calm.map((r) => r.ms.toFixed(0)).join(', ')}), ${cc.toFixed(0)} ms CPU`);
    console.log(`  under attack: ${mh.toFixed(0)} ms wall (median; runs ${hit.map((r) => r.ms.toFixed(0)).join(', ')}), ${ch.toFixed(0)} ms CPU`);
    console.log(`  ratio: ${(mh / mc).toFixed(2)}x wall, ${(ch / cc).toFixed(2)}x CPU`);
    console.log(
      `  out-of-order queues peaked at ${h.peakClusters} clusters / ${h.peakMbufs} mbufs; victim pool peak ${h.poolPeak}/16384 clusters (undisturbed ${calm[calm.length - 1]!.poolPeak})`,
    );
  }
}

await main();
