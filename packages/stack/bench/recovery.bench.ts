/**
 * Issue 11's loss recovery benchmark: NewReno (RFC 6582), SACK (RFC 6675)
 * and RACK-TLP (RFC 8985) side by side on the fault-injecting MemWire.
 *
 * Run: npx tsx packages/stack/bench/recovery.bench.ts [seeds, default 5] [MiB, default 8]
 *
 * Scenarios (one-way delay 10 ms, so RTT ≈ 20 ms):
 * - loss: a bulk transfer of MiB one way with 2% of frames lost;
 * - reorder: the same with 0.5% loss and 4 ms of jitter (frames overtake
 *   each other, as on a multipath link) plus 3% held back behind 3 others;
 * - tail: 200 request-sized writes of 16 KiB, each waiting until the peer
 *   has it all (an RPC or HTTP response pattern) with 2% loss — where
 *   the last segments of a burst are lost and only a timeout or a probe
 *   can notice.
 *
 * Time is virtual (ManualClock): the wire's delays and the stacks' timers
 * run on it, so a completion time is exact for a seed and a version of the
 * code (two runs print the same table) and does not depend on the load.
 * Every algorithm meets the same seeds, i.e. the same fault decisions for
 * the same frame sequence (the frames themselves
 * differ once the algorithms diverge). Printed: median over the seeds of
 * the completion time (virtual ms), and of the sender's RTOs, retransmitted
 * segments and tail loss probes; and the median wall time of a run (CPU
 * cost; it moves with the machine's load, the virtual times do not).
 */
import type { ManualClock } from '../src/kern/clock.js';
import type { FaultConfig } from '../src/link/faults.js';
import { RECOVERY_NAMES } from '../src/transport/tcp/recovery/index.js';
import { connectPair, Flow, pattern, runFlows, WirePair } from '../test/tcp/harness.js';

const MiB = 1024 * 1024;
const SEEDS = Number(process.argv[2] ?? 5);
const SIZE = Number(process.argv[3] ?? 8) * MiB;
const TAIL_MSGS = 200;
const TAIL_SIZE = 16 * 1024;

interface Scenario {
  name: string;
  faults: FaultConfig;
  run: (pair: WirePair) => Promise<number>;
}

interface Result {
  ms: number;
  wallMs: number;
  rto: number;
  rexmit: number;
  tlp: number;
}

async function bulk(pair: WirePair): Promise<number> {
  const c = await connectPair(pair, 80);
  const f = new Flow(c.a, c.b, SIZE, pattern(MiB + 13));
  const ms = runFlows(pair, [f], 3_600_000);
  if (!f.done || f.rxHash.digest('hex') !== f.txHash.digest('hex')) throw new Error('bulk transfer incomplete or corrupted');
  return ms;
}

async function tail(pair: WirePair): Promise<number> {
  const c = await connectPair(pair, 80);
  const p = pattern(TAIL_SIZE + 7);
  const clock = pair.clock as ManualClock;
  const t0 = clock.now();
  for (let i = 0; i < TAIL_MSGS; i++) {
    const f = new Flow(c.a, c.b, TAIL_SIZE, p);
    runFlows(pair, [f], 600_000);
    if (!f.done || f.rxHash.digest('hex') !== f.txHash.digest('hex')) throw new Error(`message ${i} incomplete or corrupted`);
  }
  return clock.now() - t0;
}

const DELAY = { ms: 10 };
const SCENARIOS: Scenario[] = [
  { name: `loss 2% (${SIZE / MiB} MiB)`, faults: { drop: 0.02, delay: DELAY }, run: bulk },
  {
    name: `reorder+0.5% loss (${SIZE / MiB} MiB)`,
    faults: { drop: 0.005, delay: { ms: 10, jitterMs: 4 }, reorder: { p: 0.03, gap: 3 } },
    run: bulk,
  },
  { name: `tail: ${TAIL_MSGS}×16 KiB, 2% loss`, faults: { drop: 0.02, delay: DELAY }, run: tail },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? s[(n - 1) >> 1]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

async function one(sc: Scenario, recovery: number, seed: number): Promise<Result> {
  const pair = new WirePair({ seed, faults: sc.faults, tun: { recovery } });
  const t0 = performance.now();
  const ms = await sc.run(pair);
  const wallMs = performance.now() - t0;
  const a = pair.a.tcp.stats;
  const r = { ms, wallMs, rto: a.rexmttimeo, rexmit: a.sndrexmitpack, tlp: a.tlpProbes };
  pair.close();
  return r;
}

async function main(): Promise<void> {
  const algs = RECOVERY_NAMES.map((n, i) => ({ name: n, i }));
  console.log(`recovery benchmark: ${SEEDS} seeds per scenario, medians; RTT 20 ms; virtual time (ManualClock)`);
  console.log(`node ${process.version}, ${new Date().toISOString()}`);
  // Warm the JIT on every algorithm's paths first (discarded): otherwise
  // the first runs' wall times measure compilation.
  for (const a of algs) await one(SCENARIOS[SCENARIOS.length - 1]!, a.i, 999);
  const pad = (s: string, n: number): string => s.padEnd(n);
  console.log(
    `\n${pad('scenario', 30)} ${algs.map((a) => pad(`${a.name} ms`, 12)).join(' ')}  ${algs.map((a) => pad(`${a.name} RTO/rexmit/TLP`, 24)).join(' ')}  wall ms/run`,
  );
  for (const sc of SCENARIOS) {
    const cols: string[] = [];
    const extra: string[] = [];
    const walls: string[] = [];
    for (const a of algs) {
      const rs: Result[] = [];
      for (let s = 1; s <= SEEDS; s++) rs.push(await one(sc, a.i, 1000 + s));
      cols.push(pad(median(rs.map((r) => r.ms)).toFixed(0), 12));
      extra.push(pad(`${median(rs.map((r) => r.rto))}/${median(rs.map((r) => r.rexmit))}/${median(rs.map((r) => r.tlp))}`, 24));
      walls.push(median(rs.map((r) => r.wallMs)).toFixed(0));
    }
    console.log(`${pad(sc.name, 30)} ${cols.join(' ')}  ${extra.join(' ')}  ${walls.join('/')}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
