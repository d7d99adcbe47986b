/**
 * TCP stack-to-stack throughput in one process over a MemWire (MTU 1500 and
 * 9000): MiB/s, CPU ms per MiB (process.cpuUsage), median of 3 runs after
 * two warm-up runs (the JIT's first passes), then a CPU profile
 * (node:inspector Profiler) of one run aggregated by function self time
 * (top 15).
 *
 * Run: npx tsx packages/stack/bench/tcp.bench.ts [MiB per run, default 64]
 *
 * The two stacks share one thread, so the figure is the cost of both ends
 * (sender and receiver) plus the in-memory wire's frame copies. Every
 * received byte is compared with the pattern sent (a native compare, at
 * memory speed): the data is checked without the benchmark's own sha256
 * (about 1 CPU ms per MiB per end) standing in the figure.
 *
 * The `MTU 1500` and `MTU 9000` lines compute and verify every checksum
 * and cut every segment to the MTU. A last line runs MTU 1500 on a wire
 * with offloads (`MemWireOptions.offloads`: TSO, checksum offload and large
 * receive, as virtio-net between two guests of one host or a Linux veth
 * pair): TCP sends 64 KiB super-packets with partial checksums, which the
 * receiving stack takes whole and trusts. Then, also beside the judged
 * line, MTU 1500 between two stacks made once and kept (a new connection
 * per run): the per-MiB cost of a long-lived process, without each run's
 * fresh stacks.
 */
import { loadavg } from 'node:os';
import { Session } from 'node:inspector/promises';
import { connectPair, Flow, pattern, runFlows, WirePair } from '../test/tcp/harness.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.argv[2] ?? 64) * MiB;
const RUNS = 3;
/** Runs thrown away first: the JIT's first passes over the TSO and non-TSO paths. */
const WARMUP = 2;

interface Run {
  mibs: number;
  cpuMsPerMiB: number;
  /** Data segments the sender emitted, and frames the wire delivered (both ways). */
  segments: number;
  frames: number;
}

/**
 * One transfer: on two fresh stacks (the judged lines), or — with `shared` —
 * on a pair made once and kept, each run a new connection on a new port.
 */
async function once(mtu: number, offloads = false, shared?: { pair: WirePair; port: number }): Promise<Run> {
  const pair = shared?.pair ?? new WirePair({ mtu, nmbclusters: 32768, offloads });
  const c = await connectPair(pair, shared?.port ?? 80);
  const f = new Flow(c.a, c.b, SIZE, pattern(MiB + 13), 'pattern');
  const seg0 = pair.a.tcp.stats.sndpack;
  const fr0 = pair.wire.statsRef().delivered;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  runFlows(pair, [f], 600_000);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (f.received !== SIZE) throw new Error(`transfer incomplete: ${f.received}/${SIZE}`);
  if (f.corrupt !== 0) throw new Error(`data mismatch: ${f.corrupt} bytes differ from the pattern`);
  const segments = pair.a.tcp.stats.sndpack - seg0;
  const frames = pair.wire.statsRef().delivered - fr0;
  if (shared === undefined) pair.close();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { mibs: SIZE / MiB / (wall / 1000), cpuMsPerMiB: cpuMs / (SIZE / MiB), segments, frames };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

async function profile(mtu: number): Promise<void> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  await once(mtu);
  const { profile: p } = (await session.post('Profiler.stop')) as { profile: { nodes: ProfileNode[]; samples: number[] } };
  session.disconnect();
  const byNode = new Map<number, ProfileNode>();
  for (const n of p.nodes) byNode.set(n.id, n);
  const self = new Map<string, number>();
  let total = 0;
  for (const id of p.samples) {
    const n = byNode.get(id)!;
    const url = n.callFrame.url.replace(/^.*\/(packages|node_modules)\//, '$1/');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + 1);
    total++;
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15);
  console.log(`\nprofile (MTU ${mtu}, self time, top 15 of ${total} samples):`);
  for (const [k, v] of top) console.log(`  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
}

async function main(): Promise<void> {
  const load = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`tcp.bench: ${SIZE / MiB} MiB one way per run, ${RUNS} runs per MTU after ${WARMUP} warm-up runs, node ${process.version}, load ${load()}`);
  const cases: [number, boolean, string][] = [
    [1500, false, 'MTU 1500'],
    [9000, false, 'MTU 9000'],
    [1500, true, 'MTU 1500 with wire offloads (TSO, checksum, large receive)'],
  ];
  for (const [mtu, offloads, label] of cases) {
    for (let i = 0; i < WARMUP; i++) await once(mtu, offloads); // the JIT's first passes, not the stacks' steady state
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await once(mtu, offloads));
    const r = runs[0]!;
    console.log(
      `${label}: ${median(runs.map((x) => x.mibs)).toFixed(1)} MiB/s (median; runs ${runs.map((x) => x.mibs.toFixed(1)).join(', ')}), ` +
        `${median(runs.map((x) => x.cpuMsPerMiB)).toFixed(2)} CPU ms/MiB, ${r.segments} data segments, ${r.frames} frames`,
    );
  }
  // Beside the judged line, never instead: the same transfer between two
  // stacks made once, a new connection per run — what a long-lived process
  // pays per MiB, without each run's fresh stacks (the collection of the
  // last run's, the JIT adapting again to new objects).
  const shared = { pair: new WirePair({ mtu: 1500, nmbclusters: 32768 }), port: 1000 };
  for (let i = 0; i < WARMUP; i++) await once(1500, false, { pair: shared.pair, port: shared.port++ });
  const sruns: Run[] = [];
  for (let i = 0; i < RUNS; i++) sruns.push(await once(1500, false, { pair: shared.pair, port: shared.port++ }));
  shared.pair.close();
  console.log(
    `MTU 1500, the same two stacks run after run (a new connection each; beside the judged line): ${median(sruns.map((x) => x.mibs)).toFixed(1)} MiB/s ` +
      `(median; runs ${sruns.map((x) => x.mibs.toFixed(1)).join(', ')}), ${median(sruns.map((x) => x.cpuMsPerMiB)).toFixed(2)} CPU ms/MiB (runs ${sruns.map((x) => x.cpuMsPerMiB.toFixed(2)).join(', ')})`,
  );
  console.log(`load after: ${load()}`);
  await profile(1500);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
