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
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { RUMPNET_DEFAULT } from './plan.js';
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
  return { count: Number(ev.count), p50us: Number(ev.p50us), cpuUs: ev.cpuUs as Record<string, number>, trace: ev.trace as HopBreakdown };
}

/**
 * The traced echo runs: `rump-linux` (defaults, over a tap, when the
 * topology has one) and `rump-lo0`, `count` echoes each after 200 untimed.
 */
export async function runEchoTrace(topo: Topology, avail: Availability, count: number): Promise<EchoTrace[]> {
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
  await one('rump-linux', 'rump client → Linux echo server, over a tap, rumpnet defaults', async (dir) => {
    if (!topo.linuxPeer) throw new Unavailable(`needs a tap in a network namespace: ${topo.whyNoTap}`);
    const env = { RUMPNET_TRACE_HOPS: dir, RUMPNET_TRACE_ROLE: 'rump-server' };
    const placed = await topo.tapServer(RUMPNET_DEFAULT, env);
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
    .parse()
    .opts<{ count: number; netns: boolean }>();
  const topo = await Topology.create({ noNetns: !o.netns });
  try {
    const avail = await probe(topo);
    console.log(renderEchoTrace(await runEchoTrace(topo, avail, o.count)));
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
