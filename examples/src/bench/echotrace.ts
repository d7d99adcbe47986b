/**
 * The echo's profile: one traced run of the 64-byte echo (the per-hop
 * trace, `RUMPNET_TRACE_HOPS`; lib/hops.ts) through the rump client to a
 * Linux echo server over a tap with rumpnet's defaults, and rump client to
 * rump server on one server's lo0. It prints, per configuration, the
 * commonest critical path of one echo step by step with each step's median,
 * the time per process by kind (JavaScript, waking another process, the
 * Linux side), and CPU time per echo of each process — what stands between
 * the echo and the "≤ 2× native" aim.
 *
 * Tracing costs a little (a `hrtime` call per mark, about 20 marks an
 * echo), so its p50 is not the latency table's: compare the steps, and the
 * untraced figures in the table.
 *
 *   npm run bench -- --trace-hops          # in the latency section
 *   npx tsx examples/src/bench/echotrace.ts --count 2000   # alone (root: netns + tap)
 *   npx tsx examples/src/bench/echotrace.ts --busy-poll 30,100 --turns 8 --no-trace   # in turns, untraced
 *   npx tsx examples/src/bench/echotrace.ts --busy-poll 0 --turns 1 --no-trace --profile /tmp/p   # server CPU profiles
 *   npx tsx examples/src/bench/echotrace.ts --posted --turns 8 --no-trace   # posted sends on and off (RUMPNET_POSTED_SEND=0), in turns
 *   npx tsx examples/src/bench/echotrace.ts --busy-poll 0,100 --client-busy-poll 300 --turns 8 --no-trace   # + the client's busy poll (RUMPNET_BUSY_POLL)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { RUMPNET_DEFAULT } from './plan.js';
import type { StackParams } from './rump.js';
import type { Placed } from './topology.js';
import { median } from './runner.js';
import { Proc, Unavailable, stopAll } from './procs.js';
import { Topology } from './topology.js';
import { probe, type Availability } from './runner.js';
import type { HopBreakdown } from '../lib/hops.js';
import { echoTimelines, readHopTrace, renderHopBreakdown } from '../lib/hops.js';
import { intArg } from '../lib/cli.js';

/** One configuration's traced echo run, or why it was skipped. */
export type EchoTrace = { config: string; description: string } & (
  | { status: 'ok'; count: number; p50us: number; cpuUs: Record<string, number>; trace: HopBreakdown }
  | { status: 'skipped'; reason: string }
);

/** Runs the traced echo client against one echo server, both placed by the caller; the trace files go to a fresh directory. */
async function tracedClient(rumpUrl: string, host: string, count: number, dir: string, cpuPids: number[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Omit<EchoTrace & { status: 'ok' }, 'config' | 'description' | 'status'>> {
  const args = ['--rump', '--host', host, '--port', '7007', '--count', String(count), '--warmup', '200', '--json', '--trace-hops', dir, '--cpu-pids', cpuPids.join(',')];
  const client = Proc.example('tcp_echo_client', args, { env: { ...extraEnv, RUMP_SERVER: rumpUrl, RUMPNET_TRACE_ROLE: 'client' } });
  const code = await client.finish(count * 50 + 30_000);
  const ev = client.events.find((e) => e.event === 'latency');
  if (code !== 0 || !ev || !ev.trace) throw new Error(`tcp_echo_client exited with status ${code}: ${client.tail()}`);
  if (process.env.ECHOTRACE_RAW) for (const l of echoTimelines(readHopTrace(dir), 500, Number(process.env.ECHOTRACE_RAW))) console.log(l);
  // Processes that wrote no trace (the Linux echo server) are keyed by pid: name them.
  const cpuUs = { ...(ev.cpuUs as Record<string, number>) };
  const names = ['rump server', 'echo server'];
  cpuPids.forEach((pid, k) => {
    if (cpuUs[String(pid)] !== undefined) {
      cpuUs[names[k] ?? String(pid)] = cpuUs[String(pid)]!;
      delete cpuUs[String(pid)];
    }
  });
  return { count: Number(ev.count), p50us: Number(ev.p50us), cpuUs, trace: ev.trace as HopBreakdown };
}

/**
 * The traced echo runs: `rump-linux` (defaults, over a tap, when the
 * topology has one) and `rump-lo0`, `count` echoes each after 200 untimed.
 */
export async function runEchoTrace(topo: Topology, avail: Availability, count: number, opts: { params?: StackParams; lo0?: boolean; label?: string; clientEnv?: NodeJS.ProcessEnv } = {}): Promise<EchoTrace[]> {
  const out: EchoTrace[] = [];
  const one = async (config: string, description: string, fn: (dir: string) => Promise<Omit<EchoTrace & { status: 'ok' }, 'config' | 'description' | 'status'>>): Promise<void> => {
    const dir = mkdtempSync(join(topo.dir, `hops-${config}-`));
    try {
      if (!avail.rumpTcp.ok) throw new Unavailable(avail.rumpTcp.reason);
      out.push({ config, description, status: 'ok', ...(await fn(dir)) });
    } catch (e) {
      out.push({ config, description, status: 'skipped', reason: (e as Error).message.split('\n')[0]! });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const startEcho = async (rump: { url: string } | null, host: string, env: NodeJS.ProcessEnv): Promise<Proc> => {
    const p = Proc.example('tcp_echo_server', ['--host', host, '--port', '7007', '--json'], rump ? { env: { ...env, RUMP_SERVER: rump.url } } : { ns: topo.nativeSpawner, env });
    try {
      await p.waitFor((e) => e.event === 'listening', 20_000, 'listening');
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  };
  await one(opts.label ?? 'rump-linux', `rump client → Linux echo server, over a tap, ${opts.label ?? 'rumpnet defaults'}`, async (dir) => {
    if (!topo.linuxPeer) throw new Unavailable(`needs a tap in a network namespace: ${topo.whyNoTap}`);
    const env = { RUMPNET_TRACE_HOPS: dir, RUMPNET_TRACE_ROLE: 'rump-server' };
    const placed = await topo.tapServer(opts.params ?? RUMPNET_DEFAULT, env);
    try {
      const echo = await startEcho(null, placed.linuxIp!, {});
      try {
        return await tracedClient(placed.server.url, placed.linuxIp!, count, dir, [placed.server.proc.child.pid!, echo.child.pid!], opts.clientEnv);
      } finally {
        await echo.stop();
      }
    } finally {
      await placed.release();
    }
  });
  if (opts.lo0 === false) return out;
  await one('rump-lo0', "rump client → rump server, one rump server's lo0", async (dir) => {
    const srv = await topo.loopbackServer(RUMPNET_DEFAULT, { env: { RUMPNET_TRACE_HOPS: dir, RUMPNET_TRACE_ROLE: 'rump-server' } });
    try {
      const echo = await startEcho(srv, '127.0.0.1', { RUMPNET_TRACE_HOPS: dir, RUMPNET_TRACE_ROLE: 'echo-server' });
      try {
        return await tracedClient(srv.url, '127.0.0.1', count, dir, [srv.proc.child.pid!, echo.child.pid!]);
      } finally {
        await echo.stop();
      }
    } finally {
      await srv.stop();
    }
  });
  return out;
}

/** One variant's untraced echoes, measured in turns with the others (see {@link compareEchoInTurns}). */
export interface EchoVariant {
  name: string;
  /** Median over the turns of each turn's p50 and p99, µs. */
  p50us: number;
  p99us: number;
  /** Unix-socket frames per echo, both directions (the client's counters), mean over the turns (0 natively). */
  hopsPerEcho: number;
  /** The client's socket reads per echo (its wake-ups by the server), mean over the turns. */
  readsPerEcho: number;
  /** Median over the turns of each process's CPU per echo, µs (client, rump server, Linux echo server). */
  cpuUs: Record<string, number>;
  /** The rump server's tap counters over the whole run (busy polls: how often, how often answered, µs spun). */
  tap?: Record<string, number>;
  /** The client's busy poll (RUMPNET_BUSY_POLL) per echo, mean over the turns: spins, spins the answer ended, µs spun. */
  clientSpin?: { polls: number; hits: number; us: number };
}

/** One variant of {@link compareEchoInTurns}: a rump server's parameters and its client's environment, or the native pair. */
export interface EchoVariantSpec {
  name: string;
  /** The rump server's parameters; absent with `native`. */
  params?: StackParams;
  clientEnv?: NodeJS.ProcessEnv;
  /** Linux client → Linux echo server on the namespace's loopback (the "native" of the aim), in the same turns. */
  native?: boolean;
}

/**
 * The echo with several server configurations side by side on taps (and
 * natively, for the ratio), in turns (`turns` rounds, each a client of
 * `count` echoes per variant, one after the other): p50 and CPU per echo
 * of every process. Untraced.
 */
export async function compareEchoInTurns(topo: Topology, variants: readonly EchoVariantSpec[], turns: number, count: number, profileDir?: string): Promise<EchoVariant[]> {
  if (!topo.linuxPeer) throw new Unavailable(`needs a tap in a network namespace: ${topo.whyNoTap}`);
  const placed: { name: string; p: Placed | undefined; echo: Proc; clientEnv: NodeJS.ProcessEnv }[] = [];
  try {
    for (const v of variants) {
      if (v.native === true) {
        const echo = Proc.example('tcp_echo_server', ['--host', '127.0.0.1', '--port', '7007', '--json'], { ns: topo.nativeSpawner });
        placed.push({ name: v.name, p: undefined, echo, clientEnv: {} });
        await echo.waitFor((e) => e.event === 'listening', 20_000, 'listening');
        continue;
      }
      const p = await topo.tapServer(v.params ?? RUMPNET_DEFAULT, undefined, profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${v.name.replace(/[^a-z0-9]+/gi, '_')}`] : undefined);
      const echo = Proc.example('tcp_echo_server', ['--host', p.linuxIp!, '--port', '7007', '--json'], { ns: topo.nativeSpawner });
      placed.push({ name: v.name, p, echo, clientEnv: v.clientEnv ?? {} });
      await echo.waitFor((e) => e.event === 'listening', 20_000, 'listening');
    }
    type Got = { p50: number[]; p99: number[]; cpu: Record<string, number>[]; reads: number[]; hops: number[]; spin: { polls: number; hits: number; us: number }[] };
    const got = new Map<string, Got>(variants.map((v) => [v.name, { p50: [], p99: [], cpu: [], reads: [], hops: [], spin: [] }]));
    for (let t = 0; t < turns; t++) {
      for (const x of placed) {
        const host = x.p === undefined ? '127.0.0.1' : x.p.linuxIp!;
        const pids = x.p === undefined ? `${x.echo.child.pid}` : `${x.p.server.proc.child.pid},${x.echo.child.pid}`;
        const args = [...(x.p === undefined ? [] : ['--rump']), '--host', host, '--port', '7007', '--count', String(count), '--warmup', '100', '--json', '--cpu-pids', pids];
        const c = x.p === undefined ? Proc.example('tcp_echo_client', args, { ns: topo.nativeSpawner }) : Proc.example('tcp_echo_client', args, { env: { ...x.clientEnv, RUMP_SERVER: x.p.server.url } });
        const code = await c.finish(count * 50 + 30_000);
        const ev = c.events.find((e) => e.event === 'latency');
        if (code !== 0 || !ev) throw new Error(`tcp_echo_client exited with status ${code}: ${c.tail()}`);
        const cpu = ev.cpuUs as Record<string, number>;
        const named: Record<string, number> = { client: cpu.client ?? NaN, server: x.p === undefined ? NaN : cpu[String(x.p.server.proc.child.pid)] ?? NaN, linux: cpu[String(x.echo.child.pid)] ?? NaN };
        const g = got.get(x.name)!;
        g.p50.push(Number(ev.p50us));
        g.p99.push(Number(ev.p99us));
        g.cpu.push(named);
        const hops = ev.hops as { socketReads?: number; framesSent?: number; framesReceived?: number; busyPolls?: number; busyPollHits?: number; busyPollUs?: number } | undefined;
        if (typeof hops?.socketReads === 'number') g.reads.push(hops.socketReads);
        if (typeof hops?.framesSent === 'number') g.hops.push(hops.framesSent + (hops.framesReceived ?? 0));
        if (typeof hops?.busyPolls === 'number') g.spin.push({ polls: hops.busyPolls, hits: hops.busyPollHits ?? 0, us: hops.busyPollUs ?? 0 });
      }
    }
    const out: EchoVariant[] = [];
    const mean = (xs: number[]): number => xs.reduce((a, r) => a + r, 0) / Math.max(1, xs.length);
    for (const x of placed) {
      const g = got.get(x.name)!;
      const cpuUs: Record<string, number> = {};
      for (const k of ['client', 'server', 'linux']) cpuUs[k] = median(g.cpu.map((c) => c[k]!));
      const st = x.p === undefined ? {} : await x.p.server.linkStats().catch(() => ({}) as Record<string, number>);
      const tap = Object.fromEntries(Object.entries(st).filter(([k]) => k.startsWith('busyPoll')).map(([k, v]) => [k, Math.round(v)]));
      const spin = g.spin.length && g.spin.some((s) => s.polls > 0) ? { polls: mean(g.spin.map((s) => s.polls)), hits: mean(g.spin.map((s) => s.hits)), us: mean(g.spin.map((s) => s.us)) } : undefined;
      out.push({ name: x.name, p50us: median(g.p50), p99us: median(g.p99), hopsPerEcho: mean(g.hops), readsPerEcho: mean(g.reads), cpuUs, ...(Object.keys(tap).length ? { tap } : {}), ...(spin ? { clientSpin: spin } : {}) });
    }
    return out;
  } finally {
    for (const x of placed) {
      await x.echo.stop();
      await x.p?.release();
    }
  }
}

/** The in-turns comparison as report lines (with a `native` variant, each p50 also as a multiple of it). */
export function renderEchoVariants(vs: readonly EchoVariant[], turns: number, count: number): string {
  const native = vs.find((v) => v.name === 'native')?.p50us;
  const out = [`Echo in turns (${turns} turns × ${count} echoes per variant, untraced): p50 = median of the turns' p50; CPU per echo = median of the turns'`];
  out.push(`${'variant'.padEnd(34)} ${'p50 µs'.padStart(8)} ${'×nat'.padStart(5)} ${'p99 µs'.padStart(8)} ${'hops'.padStart(5)} ${'reads'.padStart(6)} ${'client'.padStart(8)} ${'server'.padStart(8)} ${'linux'.padStart(8)}  (hops: frames per echo; reads: the client's wake-ups per echo; CPU µs per echo; client spin per echo)`);
  for (const v of vs) {
    const ratio = native !== undefined && native > 0 ? (v.p50us / native).toFixed(2) : '';
    const spin = v.clientSpin ? `  client spin: ${v.clientSpin.polls.toFixed(2)}/echo, answered ${((100 * v.clientSpin.hits) / Math.max(1e-9, v.clientSpin.polls)).toFixed(0)} %, ${v.clientSpin.us.toFixed(1)} µs` : '';
    const tap = v.tap ? `  ${Object.entries(v.tap).map(([k, x]) => `${k} ${x}`).join(' ')}` : '';
    out.push(`${v.name.padEnd(34)} ${v.p50us.toFixed(1).padStart(8)} ${ratio.padStart(5)} ${v.p99us.toFixed(1).padStart(8)} ${v.hopsPerEcho.toFixed(2).padStart(5)} ${v.readsPerEcho.toFixed(2).padStart(6)} ${v.cpuUs.client!.toFixed(1).padStart(8)} ${(v.cpuUs.server ?? NaN).toFixed(1).padStart(8)} ${v.cpuUs.linux!.toFixed(1).padStart(8)}${spin}${tap}`);
  }
  return out.join('\n');
}

/** The traced runs as report lines. */
export function renderEchoTrace(rs: readonly EchoTrace[]): string {
  const out = ['Echo profile: one traced run per configuration (the per-hop trace, RUMPNET_TRACE_HOPS; tracing adds ~20 hrtime calls an echo)'];
  for (const r of rs) {
    out.push('', `${r.config}: ${r.description}`);
    if (r.status === 'skipped') {
      out.push(`  skipped: ${r.reason}`);
      continue;
    }
    out.push(`  ${r.count} echoes, p50 ${r.p50us.toFixed(1)} µs; CPU per echo: ${Object.entries(r.cpuUs).map(([k, v]) => `${k} ${v.toFixed(1)} µs`).join(', ')}`);
    for (const l of renderHopBreakdown(r.trace)) out.push(`  ${l}`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const o = new Command('echotrace')
    .description("Trace the 64-byte echo's hops and print where its time goes.")
    .option('--count <n>', 'timed echoes per configuration', intArg(10, 1_000_000), 2000)
    .option('--no-netns', 'do not create a network namespace (lo0 only)')
    .option('--busy-poll <list>', 'compare, in turns and untraced, the defaults with these --busy-poll values (µs, comma-separated)')
    .option('--client-busy-poll <list>', 'compare too the client busy poll (RUMPNET_BUSY_POLL, µs, comma-separated), alone and with each non-zero --busy-poll')
    .option('--posted', 'compare, in turns and untraced, the defaults with posted sends off in the client (RUMPNET_POSTED_SEND=0)')
    .option('--turns <n>', 'turns of the comparison', intArg(1, 100), 6)
    .option('--no-trace', 'skip the traced profile')
    .option('--profile <dir>', 'run the comparison\'s rump servers under node --cpu-prof, profiles in <dir>/<variant>/')
    .parse()
    .opts<{ count: number; netns: boolean; busyPoll?: string; clientBusyPoll?: string; posted?: boolean; turns: number; trace: boolean; profile?: string }>();
  const topo = await Topology.create({ noNetns: !o.netns });
  try {
    const avail = await probe(topo);
    if (o.busyPoll !== undefined || o.clientBusyPoll !== undefined) {
      const list = (l: string | undefined): number[] => (l ?? '').split(',').filter((x) => x.trim() !== '').map((x) => intArg(0, 1000)(x.trim()));
      const us = list(o.busyPoll);
      const cus = list(o.clientBusyPoll).filter((u) => u > 0);
      const variants: EchoVariantSpec[] = [
        { name: 'native', native: true },
        { name: 'defaults', params: RUMPNET_DEFAULT },
        ...us.filter((u) => u > 0).map((u) => ({ name: `--busy-poll ${u}`, params: { ...RUMPNET_DEFAULT, busyPollUs: u } })),
        ...cus.map((c) => ({ name: `client ${c}`, params: RUMPNET_DEFAULT, clientEnv: { RUMPNET_BUSY_POLL: String(c) } })),
        ...us.filter((u) => u > 0).flatMap((u) => cus.map((c) => ({ name: `--busy-poll ${u} + client ${c}`, params: { ...RUMPNET_DEFAULT, busyPollUs: u }, clientEnv: { RUMPNET_BUSY_POLL: String(c) } }))),
      ];
      const per = Math.max(100, Math.round(o.count / o.turns));
      console.log(renderEchoVariants(await compareEchoInTurns(topo, variants, o.turns, per, o.profile), o.turns, per));
    }
    if (o.posted) {
      const variants: EchoVariantSpec[] = [
        { name: 'defaults (posted sends)', params: RUMPNET_DEFAULT },
        { name: 'RUMPNET_POSTED_SEND=0', params: RUMPNET_DEFAULT, clientEnv: { RUMPNET_POSTED_SEND: '0' } },
      ];
      const per = Math.max(100, Math.round(o.count / o.turns));
      console.log(renderEchoVariants(await compareEchoInTurns(topo, variants, o.turns, per, o.profile), o.turns, per));
    }
    if (o.trace) console.log(renderEchoTrace(await runEchoTrace(topo, avail, o.count)));
    if (o.trace && o.busyPoll !== undefined) {
      for (const u of o.busyPoll.split(',').map((x) => Number(x.trim()))) {
        console.log(renderEchoTrace(await runEchoTrace(topo, avail, o.count, { params: { ...RUMPNET_DEFAULT, busyPollUs: u }, lo0: false, label: `--busy-poll ${u}` })));
      }
    }
    if (o.trace && o.clientBusyPoll !== undefined) {
      const su = (o.busyPoll ?? '0').split(',').map((x) => Number(x.trim())).filter((u) => u > 0);
      for (const c of o.clientBusyPoll.split(',').map((x) => Number(x.trim())).filter((u) => u > 0)) {
        for (const u of [0, ...su]) {
          const label = u > 0 ? `--busy-poll ${u} + client ${c}` : `client ${c}`;
          console.log(renderEchoTrace(await runEchoTrace(topo, avail, o.count, { params: { ...RUMPNET_DEFAULT, busyPollUs: u }, lo0: false, label, clientEnv: { RUMPNET_BUSY_POLL: String(c) } })));
        }
      }
    }
  } finally {
    await stopAll();
    await topo.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
