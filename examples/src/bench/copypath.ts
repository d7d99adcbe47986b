/**
 * The copy path alone, configuration by configuration: what the copy
 * window (`--copy-window`), batched copyin (`--mclnum`), inline small
 * writes (`--inline-max`) and inline receives (`--inline-recv-max`) buy. Each configuration gets a fresh rump server
 * (a child process, loopback only); two rump clients of it in this process
 * move data over a TCP connection on the stack's lo0:
 *
 * - `bulk`: `--total` bytes in writes of `--size` bytes, read 64 KiB at a
 *   time: MiB/s, CPU ms per MiB (server + clients, from /proc and
 *   `process.cpuUsage`: wall time is noisy on a loaded machine), COPYIN
 *   requests per MiB and copy requests avoided per MiB (the server's
 *   counters of the sender), COPYOUT requests and COPYOUTs avoided per MiB
 *   (of the receiver);
 * - `echo`: `--echoes` round trips of 64 bytes: median and p90 in µs, and
 *   hops per echo (the sending client's frames both ways per round trip).
 *
 * Medians over `--runs` runs, the configurations interleaved within each run. Nothing leaves the host: the server has no
 * interface but lo0.
 *
 *   npx tsx examples/src/bench/copypath.ts --windows 1,2,4,8,16 --mclnums 1,16
 *   npx tsx examples/src/bench/copypath.ts --inline 0,2048 --size 1k --windows 4 --mclnums 16
 *   npx tsx examples/src/bench/copypath.ts --inline-recv 0,2048 --size 1k --windows 4 --mclnums 16
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { RumpConnection, inet } from '@rumpnet/client';
import { ROOT } from './procs.js';

/** The built daemon (`npm run build`): no TypeScript loader in the measured process. */
const SERVER_JS = join(ROOT, 'packages/server/dist/src/cli.js');

/** One configuration of the server's copy path. */
interface Config {
  mclnum: number;
  window: number;
  inlineMax: number;
  /** `--inline-recv-max`; -1: the server's default. */
  inlineRecvMax: number;
}

/** What one run measured. */
interface Sample {
  mibps: number;
  cpuMsPerMiB: number;
  copyinsPerMiB: number;
  avoidedPerMiB: number;
  copyoutsPerMiB: number;
  outAvoidedPerMiB: number;
  hopsPerEcho: number;
  echoP50: number;
  echoP90: number;
}

const CLK_TCK = 100;

/** utime + stime of `pid` in ms (/proc/pid/stat fields 14 and 15). */
function procCpuMs(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Starts a rump server with `cfg` on a fresh socket; resolves once it answers. */
async function startServer(cfg: Config, dir: string, n: number): Promise<{ child: ChildProcess; url: string }> {
  const url = `unix://${join(dir, `cp${n}.sock`)}`;
  const args = [SERVER_JS, '--mclnum', String(cfg.mclnum), '--copy-window', String(cfg.window), '--log-level', 'warn'];
  if (cfg.inlineMax >= 0) args.push('--inline-max', String(cfg.inlineMax));
  if (cfg.inlineRecvMax >= 0) args.push('--inline-recv-max', String(cfg.inlineRecvMax));
  args.push(url);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`rump-server exited: ${out}`);
    if (out.includes('listening on')) return { child, url };
    await sleep(50);
  }
  child.kill();
  throw new Error('rump-server did not start in 15 s');
}

async function countersOf(c: RumpConnection, name: string): Promise<Record<string, number>> {
  const r = await c.call<{ clients: { name: string | null; counters: Record<string, number> }[] }>('ctl.clients', {});
  return r.clients.find((x) => x.name === name)?.counters ?? {};
}

/** One run of one configuration. */
async function runOnce(cfg: Config, o: { total: number; size: number; echoes: number }, dir: string, n: number): Promise<Sample> {
  const { child, url } = await startServer(cfg, dir, n);
  const tx = await RumpConnection.connect(url, { name: 'tx' });
  const rx = await RumpConnection.connect(url, { name: 'rx' });
  try {
    const port = 9000 + (n % 1000);
    const l = await rx.sys.socket('stream');
    await rx.sys.bind(l, inet('127.0.0.1', port));
    await rx.sys.listen(l, 4);
    const s = await tx.sys.socket('stream');
    const acc = rx.sys.accept(l);
    await tx.sys.connect(s, inet('127.0.0.1', port));
    const r = (await acc).fd;
    // bulk
    const data = Buffer.alloc(o.size, 0x5a);
    const c0 = procCpuMs(child.pid!) + selfCpuMs();
    const t0 = performance.now();
    const reader = (async () => {
      const buf = Buffer.alloc(64 * 1024);
      let got = 0;
      for (let i = 0; i < 10_000_000 && got < o.total; i++) {
        const k = await rx.sys.recv(r, buf);
        if (k === 0) break;
        got += k;
      }
      return got;
    })();
    for (let sent = 0; sent < o.total; ) sent += await tx.sys.send(s, data.subarray(0, Math.min(o.size, o.total - sent)));
    const got = await reader;
    const ms = performance.now() - t0;
    const cpu = procCpuMs(child.pid!) + selfCpuMs() - c0;
    if (got !== o.total) throw new Error(`received ${got} of ${o.total}`);
    const mib = o.total / 2 ** 20;
    const k = await countersOf(rx, 'tx');
    const kr = await countersOf(rx, 'rx');
    // echo: 64 bytes there and back, rx echoing
    const rtts: number[] = [];
    const ping = Buffer.alloc(64, 1);
    const back = Buffer.alloc(64);
    const eb = Buffer.alloc(64);
    const h0 = tx.counters.framesSent + tx.counters.framesReceived;
    for (let i = 0; i < o.echoes; i++) {
      const e0 = performance.now();
      await tx.sys.send(s, ping);
      let m = 0;
      while (m < 64) m += await rx.sys.recv(r, eb.subarray(m));
      await rx.sys.send(r, eb);
      let b = 0;
      while (b < 64) b += await tx.sys.recv(s, back.subarray(b));
      rtts.push((performance.now() - e0) * 1000);
    }
    const hops = (tx.counters.framesSent + tx.counters.framesReceived - h0) / o.echoes;
    rtts.sort((a, b) => a - b);
    return {
      mibps: mib / (ms / 1000),
      cpuMsPerMiB: cpu / mib,
      copyinsPerMiB: (k.copyinRequests ?? 0) / mib,
      avoidedPerMiB: (k.copyinsAvoided ?? 0) / mib,
      copyoutsPerMiB: (kr.copyoutRequests ?? 0) / mib,
      outAvoidedPerMiB: (kr.copyoutsAvoided ?? 0) / mib,
      hopsPerEcho: hops,
      echoP50: rtts[Math.floor(rtts.length * 0.5)] ?? NaN,
      echoP90: rtts[Math.floor(rtts.length * 0.9)] ?? NaN,
    };
  } finally {
    await tx.close();
    await rx.close();
    child.kill('SIGTERM');
    await new Promise((res) => (child.exitCode !== null ? res(null) : child.once('exit', res)));
  }
}

async function main(): Promise<void> {
  const list = (v: string): number[] => v.split(',').map((x) => Number(x));
  const size = (v: string): number => {
    const m = /^(\d+)([kKmM]?)$/.exec(v);
    if (!m) throw new Error(`bad size ${v}`);
    return Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1024 : 2 ** 20);
  };
  const o = new Command('copypath')
    .option('--windows <list>', 'copy windows', list, [1, 4])
    .option('--mclnums <list>', 'MCLNUMs', list, [1, 16])
    .option('--inline <list>', 'inline thresholds (-1: the server default)', list, [-1])
    .option('--inline-recv <list>', 'inline receive thresholds (-1: the server default)', list, [-1])
    .option('--size <bytes>', 'write size', size, 64 * 1024)
    .option('--total <bytes>', 'bytes per bulk run', size, 32 * 2 ** 20)
    .option('--echoes <n>', '64-byte echoes per run', Number, 300)
    .option('--runs <n>', 'runs per configuration', Number, 3)
    .parse()
    .opts<{ windows: number[]; mclnums: number[]; inline: number[]; inlineRecv: number[]; size: number; total: number; echoes: number; runs: number }>();
  const dir = mkdtempSync(join(tmpdir(), 'copypath-'));
  let n = 0;
  console.log(`copypath: ${o.total / 2 ** 20} MiB in ${o.size}-byte writes, ${o.echoes} echoes, median of ${o.runs} runs; load ${loadavg()[0]!.toFixed(1)}`);
  console.log('| MCLNUM | window | inline | inline recv | MiB/s | CPU ms/MiB | COPYINs/MiB | avoided/MiB | COPYOUTs/MiB | out avoided/MiB | hops/echo | echo p50 µs | echo p90 µs |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  try {
    const configs: Config[] = [];
    for (const inlineRecvMax of o.inlineRecv) for (const inlineMax of o.inline) for (const mclnum of o.mclnums) for (const window of o.windows) configs.push({ mclnum, window, inlineMax, inlineRecvMax });
    // Runs outer, configurations inner: the machine's load drifts, and each
    // configuration should see the same drift.
    const samples: Sample[][] = configs.map(() => []);
    for (let i = 0; i < o.runs; i++) {
      for (let c = 0; c < configs.length; c++) samples[c]!.push(await runOnce(configs[c]!, o, dir, n++));
    }
    for (let c = 0; c < configs.length; c++) {
      const { mclnum, window, inlineMax, inlineRecvMax } = configs[c]!;
      const m = (k: keyof Sample): number => median(samples[c]!.map((s) => s[k]));
      console.log(
        `| ${mclnum} | ${window} | ${inlineMax < 0 ? 'default' : inlineMax} | ${inlineRecvMax < 0 ? 'default' : inlineRecvMax} | ${m('mibps').toFixed(1)} | ${m('cpuMsPerMiB').toFixed(1)} | ${m('copyinsPerMiB').toFixed(1)} | ${m('avoidedPerMiB').toFixed(1)} | ${m('copyoutsPerMiB').toFixed(1)} | ${m('outAvoidedPerMiB').toFixed(1)} | ${m('hopsPerEcho').toFixed(2)} | ${m('echoP50').toFixed(0)} | ${m('echoP90').toFixed(0)} |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`load at the end ${loadavg()[0]!.toFixed(1)}`);
}

await main();
