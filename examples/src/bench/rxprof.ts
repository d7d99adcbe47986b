/**
 * rxprof — the Linux → rump receive path measured alone: a Linux
 * write_server in the benchmark's network namespace sends 64 KiB writes to
 * a rump read_client through a rump-server on a tap, one transfer per
 * variant in turns (all servers up at once, as `npm run bench` measures its
 * configurations). Per transfer: MiB/s, CPU ms per MiB of the rump server
 * and of the read_client (/proc/<pid>/stat), and per MiB the server's
 * counters: COPYOUTs, tap frames and super-packets read, TCP segments in,
 * ACKs and window updates sent; `ss -ti` of the Linux sender once per
 * transfer (its window view). `--prof <dir>` writes `node --cpu-prof`
 * profiles of the servers and clients there.
 *
 *   npx tsx examples/src/bench/rxprof.ts --seconds 3 --turns 6 \
 *     --variant off=.,RUMPNET_READ_AHEAD=0 --variant ahead=.
 *
 * A variant is a checkout (its packages/server and examples run from source;
 * another worktree gives a before/after in one run) plus extra server
 * arguments and `NAME=value` environment for its server and client:
 * `name=root[,--opt,value,...][,NAME=value...]`. Root only (namespace, tap).
 *
 * @module
 */
import { Command } from 'commander';
import { readFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RumpConnection } from '@rumpnet/client';
import { Proc, tsxLoader, type ProcOptions } from './procs.js';
import { Topology } from './topology.js';

const MiB = 1024 * 1024;
const TICK = 100; // USER_HZ on Linux

interface Variant {
  name: string;
  root: string;
  extra: string[];
  /** `NAME=value` items of the spec: environment of its server and clients. */
  env: NodeJS.ProcessEnv;
}

/** utime+stime of `pid` in ms, or null once it is gone. */
function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
  } catch {
    return null;
  }
}

type Stats = Map<string, number>;

async function stats(ctl: RumpConnection): Promise<Stats> {
  const r = await ctl.call<{ stats: { name: string; value: unknown }[] }>('ctl.netstat', { what: 'stats' });
  const m: Stats = new Map();
  for (const row of r.stats) if (typeof row.value === 'number') m.set(row.name, row.value);
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const o = new Command('rxprof')
    .option('--seconds <s>', 'seconds per transfer', Number, 2)
    .option('--turns <n>', 'transfers per variant, in turns', Number, 3)
    .option('--size <n>', 'write size', Number, 65536)
    .option('--variant <spec>', 'name=root[,extra server args]', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--prof <dir>', 'write --cpu-prof profiles of servers and clients here')
    .option('--keys <list>', 'extra stat names (substring match) to print per MiB', '')
    .parse()
    .opts<{ seconds: number; turns: number; size: number; variant: string[]; prof?: string; keys: string }>();
  const variants: Variant[] = (o.variant.length ? o.variant : ['cur=.']).map((s) => {
    const eq = s.indexOf('=');
    const name = s.slice(0, eq);
    const rest = s.slice(eq + 1);
    const [root, ...items] = rest.split(',');
    const env: NodeJS.ProcessEnv = {};
    const extra: string[] = [];
    for (const it of items) {
      const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(it);
      if (m) env[m[1]!] = m[2]!;
      else extra.push(it);
    }
    return { name, root: resolve(root!), extra, env };
  });
  if (o.prof) mkdirSync(o.prof, { recursive: true });
  const nodeProc = (what: string, script: string, args: string[], opts: ProcOptions): Proc =>
    Proc.command(process.execPath, [
      ...(o.prof ? ['--cpu-prof', `--cpu-prof-dir=${resolve(o.prof, what)}`,] : []),
      '--import', tsxLoader(), script, ...args], { ...opts, label: what });
  const topo = await Topology.create();
  if (topo.kind !== 'tap') throw new Error(`needs a tap in a namespace: ${topo.whyNoTap}`);
  const ns = topo.ns!;
  const rigs: { v: Variant; server: Proc; ctl: RumpConnection; url: string; writer: Proc; linuxIp: string; port: number; tap: string }[] = [];
  try {
    let k = 0;
    for (const v of variants) {
      k++;
      const base = `10.${200 + k}.${k}`;
      const tap = `rxp${k}`;
      await ns.addTap(tap, { linuxAddr: `${base}.1/24` });
      const url = `unix://${join(topo.dir, `rxp${k}.sock`)}`;
      const server = nodeProc(`server-${v.name}`, join(v.root, 'packages/server/src/cli.ts'),
        ['--tap', tap, '--addr', `${base}.2/24`, '--gateway', `${base}.1`, '--log-level', 'info', ...v.extra, url], { ns, env: v.env });
      const deadline = Date.now() + 20_000;
      let ctl: RumpConnection | undefined;
      while (!ctl) {
        if (server.exitCode !== null || Date.now() > deadline) throw new Error(`server ${v.name}: ${server.tail()}`);
        if (server.stdoutLines.some((l) => l.includes('listening on'))) ctl = await RumpConnection.connect(url, { name: 'rxprof-ctl' }).catch(() => undefined);
        await sleep(50);
      }
      const writer = Proc.node(join(v.root, 'examples/src/write_server.ts'), ['--host', `${base}.1`, '--port', '5001', '--json'], { ns, label: `writer-${v.name}` });
      const ev = await writer.waitFor((e) => e.event === 'listening', 20_000, 'listening');
      rigs.push({ v, server, ctl, url, writer, linuxIp: `${base}.1`, port: Number(ev.port), tap });
    }
    const res = new Map<string, { mibps: number[]; srv: number[]; cli: number[]; per: Map<string, number[]> }>();
    for (const r of rigs) res.set(r.v.name, { mibps: [], srv: [], cli: [], per: new Map() });
    const keys = ['copyout', 'tap.rx', 'rcvpack', 'rcvtotal', 'lro', 'sndacks', 'sndwinup', 'delack', 'rcvwinprobe', 'sndtotal', 'rcvbyte', ...o.keys.split(',').filter(Boolean)];
    for (let t = 0; t < o.turns; t++) {
      for (const r of rigs) {
        const s0 = await stats(r.ctl);
        const srv0 = cpuMs(r.server.child.pid)!;
        const reader = nodeProc(`client-${r.v.name}`, join(r.v.root, 'examples/src/read_client.ts'),
          ['--rump', '--host', r.linuxIp, '--port', String(r.port), '--size', String(o.size), '--duration', String(o.seconds), '--json'],
          { env: { ...r.v.env, RUMP_SERVER: r.url } });
        let cli = 0;
        let ss = '';
        const poll = setInterval(() => {
          const c = cpuMs(reader.child.pid);
          if (c !== null) cli = c;
        }, 20);
        const ssTimer = setTimeout(() => {
          void ns.check('ss', ['-tin', 'sport', '=', ':5001']).then((x) => { ss = x; }, () => undefined);
        }, (o.seconds * 1000) / 2);
        await reader.finish(o.seconds * 1000 + 60_000);
        clearInterval(poll);
        clearTimeout(ssTimer);
        const srv1 = cpuMs(r.server.child.pid)!;
        const s1 = await stats(r.ctl);
        // The session's counters, from the server's "client disconnected" line (bounded wait).
        let sc: Record<string, number> | undefined;
        for (let i = 0; i < 40 && sc === undefined; i++) {
          const l = r.server.logs.find((x) => x.msg === 'client disconnected' && (x.peer as { pid?: number } | undefined)?.pid === reader.child.pid);
          if (l) sc = l.counters as Record<string, number>;
          else await sleep(25);
        }
        const ev = reader.events.find((e) => e.event === 'result');
        if (!ev) throw new Error(`reader ${r.v.name}: ${reader.tail()}`);
        const mib = Number(ev.bytes) / MiB;
        const acc = res.get(r.v.name)!;
        acc.mibps.push(Number(ev.mibps));
        acc.srv.push((srv1 - srv0) / mib);
        acc.cli.push(cli / mib);
        const line: string[] = [];
        for (const k of ['syscalls', 'copyoutRequests', 'copyoutsAvoided']) {
          if (sc?.[k] === undefined) continue;
          const d = sc[k]! / mib;
          const arr = acc.per.get(k) ?? [];
          arr.push(d);
          acc.per.set(k, arr);
          line.push(`${k}=${d.toFixed(1)}`);
        }
        for (const [name, v1] of s1) {
          if (!keys.some((kk) => name.toLowerCase().includes(kk.toLowerCase()))) continue;
          const d = (v1 - (s0.get(name) ?? 0)) / mib;
          if (d === 0) continue;
          const arr = acc.per.get(name) ?? [];
          arr.push(d);
          acc.per.set(name, arr);
          line.push(`${name}=${d.toFixed(1)}`);
        }
        console.log(`turn ${t} ${r.v.name}: ${Number(ev.mibps).toFixed(1)} MiB/s, server ${((srv1 - srv0) / mib).toFixed(2)} ms/MiB, client ${(cli / mib).toFixed(2)} ms/MiB`);
        console.log(`  per MiB: ${line.join(' ')}`);
        if (ss) console.log(`  ss: ${ss.split('\n').slice(1).join(' ').replace(/\s+/g, ' ').slice(0, 600)}`);
      }
    }
    console.log(`\nmedians of ${o.turns} turns, ${o.seconds} s each, ${o.size}-byte writes; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
    for (const [name, a] of res) {
      console.log(`${name.padEnd(10)} ${median(a.mibps).toFixed(1).padStart(7)} MiB/s  server ${median(a.srv).toFixed(2)} ms/MiB  client ${median(a.cli).toFixed(2)} ms/MiB  (runs ${a.mibps.map((x) => x.toFixed(0)).join(' ')})`);
      console.log(`           ${[...a.per].map(([k2, v]) => `${k2}=${median(v).toFixed(1)}`).join(' ')}`);
    }
  } finally {
    for (const r of rigs) {
      await r.writer.stop();
      await r.ctl.close().catch(() => undefined);
      await r.server.stop(5000);
    }
    await topo.destroy();
  }
}

void main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
