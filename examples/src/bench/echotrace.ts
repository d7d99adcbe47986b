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
async function tracedClient(rumpUrl: string, host: string, count: number, dir: string, cpuPids: number[]): Promise<Omit<EchoTrace & { status: 'ok' }, 'config' | 'description' | 'status'>> {
  const args = ['--rump', '--host', host, '--port', '7007', '--count', String(count), '--warmup', '200', '--json', '--trace-hops', dir, '--cpu-pids', cpuPids.join(',')];
  const client = Proc.example('tcp_echo_client', args, { env: { RUMP_SERVER: rumpUrl, RUMPNET_TRACE_ROLE: 'client' } });
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
export async function runEchoTrace(topo: Topology, avail: Availability, count: number, opts: { params?: StackParams; lo0?: boolean; label?: string } = {}): Promise<EchoTrace[]> {
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
        return await tracedClient(placed.server.url, placed.linuxIp!, count, dir, [placed.server.proc.child.pid!, echo.child.pid!]);
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
  /** Unix-socket frames per echo, both directions (the client's counters), mean over the turns. */
  hopsPerEcho: number;
  /** The client's socket reads per echo (its wake-ups by the server), mean over the turns. */
  readsPerEcho: number;
  /** Median over the turns of each process's CPU per echo, µs (client, rump server, Linux echo server). */
  cpuUs: Record<string, number>;
  /** The rump server's tap counters over the whole run (busy polls: how often, how often answered, µs spun). */
  tap?: Record<string, number>;
}

/**
 * The echo with several server configurations side by side on taps, in
 * turns (`turns` rounds, each a client of `count` echoes per variant, one
 * after the other): p50 and CPU per echo of every process. Untraced.
 */
export async function compareEchoInTurns(topo: Topology, variants: readonly { name: string; params: StackParams; clientEnv?: NodeJS.ProcessEnv }[], turns: number, count: number, profileDir?: string): Promise<EchoVariant[]> {
  if (!topo.linuxPeer) throw new Unavailable(`needs a tap in a network namespace: ${topo.whyNoTap}`);
  const placed: { name: string; p: Placed; echo: Proc; clientEnv: NodeJS.ProcessEnv }[] = [];
  try {
    for (const v of variants) {
      const p = await topo.tapServer(v.params, undefined, profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${v.name.replace(/[^a-z0-9]+/gi, '_')}`] : undefined);
      const echo = Proc.example('tcp_echo_server', ['--host', p.linuxIp!, '--port', '7007', '--json'], { ns: topo.nativeSpawner });
      placed.push({ name: v.name, p, echo, clientEnv: v.clientEnv ?? {} });
      await echo.waitFor((e) => e.event === 'listening', 20_000, 'listening');
    }
    const got = new Map<string, { p50: number[]; p99: number[]; cpu: Record<string, number>[]; reads: number[]; hops: number[] }>(variants.map((v) => [v.name, { p50: [], p99: [], cpu: [], reads: [], hops: [] }]));
    for (let t = 0; t < turns; t++) {
      for (const x of placed) {
        const args = ['--rump', '--host', x.p.linuxIp!, '--port', '7007', '--count', String(count), '--warmup', '100', '--json', '--cpu-pids', `${x.p.server.proc.child.pid},${x.echo.child.pid}`];
        const c = Proc.example('tcp_echo_client', args, { env: { ...x.clientEnv, RUMP_SERVER: x.p.server.url } });
        const code = await c.finish(count * 50 + 30_000);
        const ev = c.events.find((e) => e.event === 'latency');
        if (code !== 0 || !ev) throw new Error(`tcp_echo_client exited with status ${code}: ${c.tail()}`);
        const cpu = ev.cpuUs as Record<string, number>;
        const named: Record<string, number> = { client: cpu.client ?? NaN, server: cpu[String(x.p.server.proc.child.pid)] ?? NaN, linux: cpu[String(x.echo.child.pid)] ?? NaN };
        got.get(x.name)!.p50.push(Number(ev.p50us));
        got.get(x.name)!.p99.push(Number(ev.p99us));
        got.get(x.name)!.cpu.push(named);
        const hops = ev.hops as { socketReads?: number; framesSent?: number; framesReceived?: number } | undefined;
        if (typeof hops?.socketReads === 'number') got.get(x.name)!.reads.push(hops.socketReads);
        if (typeof hops?.framesSent === 'number') got.get(x.name)!.hops.push(hops.framesSent + (hops.framesReceived ?? 0));
      }
    }
    const out: EchoVariant[] = [];
    for (const x of placed) {
      const g = got.get(x.name)!;
      const cpuUs: Record<string, number> = {};
      for (const k of ['client', 'server', 'linux']) cpuUs[k] = median(g.cpu.map((c) => c[k]!));
      const st = await x.p.server.linkStats().catch(() => ({}) as Record<string, number>);
      const tap = Object.fromEntries(Object.entries(st).filter(([k]) => k.startsWith('busyPoll')).map(([k, v]) => [k, Math.round(v)]));
      const mean = (xs: number[]): number => xs.reduce((a, r) => a + r, 0) / Math.max(1, xs.length);
      out.push({ name: x.name, p50us: median(g.p50), p99us: median(g.p99), hopsPerEcho: mean(g.hops), readsPerEcho: mean(g.reads), cpuUs, ...(Object.keys(tap).length ? { tap } : {}) });
    }
    return out;
  } finally {
    for (const x of placed) {
      await x.echo.stop();
      await x.p.release();
    }
  }
}

/** The in-turns comparison as report lines. */
export function renderEchoVariants(vs: readonly EchoVariant[], turns: number, count: number): string {
  const out = [`Echo in turns (${turns} turns × ${count} echoes per variant, untraced): p50 = median of the turns' p50; CPU per echo = median of the turns'`];
  out.push(`${'variant'.padEnd(28)} ${'p50 µs'.padStart(8)} ${'p99 µs'.padStart(8)} ${'hops'.padStart(5)} ${'reads'.padStart(6)} ${'client'.padStart(8)} ${'server'.padStart(8)} ${'linux'.padStart(8)}  (hops: frames per echo; reads: the client's wake-ups per echo; CPU µs per echo)`);
  for (const v of vs) out.push(`${v.name.padEnd(28)} ${v.p50us.toFixed(1).padStart(8)} ${v.p99us.toFixed(1).padStart(8)} ${v.hopsPerEcho.toFixed(2).padStart(5)} ${v.readsPerEcho.toFixed(2).padStart(6)} ${v.cpuUs.client!.toFixed(1).padStart(8)} ${v.cpuUs.server!.toFixed(1).padStart(8)} ${v.cpuUs.linux!.toFixed(1).padStart(8)}${v.tap ? `  ${Object.entries(v.tap).map(([k, x]) => `${k} ${x}`).join(' ')}` : ''}`);
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
    .option('--posted', 'compare, in turns and untraced, the defaults with posted sends off in the client (RUMPNET_POSTED_SEND=0)')
    .option('--turns <n>', 'turns of the comparison', intArg(1, 100), 6)
    .option('--no-trace', 'skip the traced profile')
    .option('--profile <dir>', 'run the comparison\'s rump servers under node --cpu-prof, profiles in <dir>/<variant>/')
    .parse()
    .opts<{ count: number; netns: boolean; busyPoll?: string; posted?: boolean; turns: number; trace: boolean; profile?: string }>();
  const topo = await Topology.create({ noNetns: !o.netns });
  try {
    const avail = await probe(topo);
    if (o.busyPoll !== undefined) {
      const us = o.busyPoll.split(',').map((x) => intArg(0, 1000)(x.trim()));
      const variants = [{ name: 'defaults', params: RUMPNET_DEFAULT }, ...us.map((u) => ({ name: `--busy-poll ${u}`, params: { ...RUMPNET_DEFAULT, busyPollUs: u } }))];
      const per = Math.max(100, Math.round(o.count / o.turns));
      console.log(renderEchoVariants(await compareEchoInTurns(topo, variants, o.turns, per, o.profile), o.turns, per));
    }
    if (o.posted) {
      const variants = [
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
