/**
 * The rump → Linux send path, measured in turns: one rump server on its own
 * tap per configuration (all up at once), a write_server as rump client of
 * each, and for every turn one read_client per configuration in the
 * benchmark's namespace. Per configuration it prints MiB/s (median), CPU
 * ms per MiB of the rump server and of the rump client (utime+stime from
 * /proc/<pid>/stat around each transfer), and the counts that explain
 * them per MiB: COPYIN requests and bytes each, TCP segments sent (one per
 * TSO frame handed to the tap) and their mean size, ACKs received.
 *
 *   npx tsx examples/src/bench/txpath.ts --mib 64 --turns 5 \
 *     --config 'defaults=' --config 'netbsd=--mclnum 1 --copy-window 1 --inline-max 0 --no-offload'
 *
 * `--profile DIR` runs the servers and clients with `node --cpu-prof`
 * (profiles land in DIR when they exit). Root only (a network namespace and
 * taps); no packet leaves the namespace.
 *
 * @module
 */
import { Command } from 'commander';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RumpConnection } from '@rumpnet/client';
import { Proc, SERVER_CLI } from './procs.js';
import { median } from './runner.js';

const MiB = 1024 * 1024;
const PORT = 5001;

/** utime+stime of `pid` in ms (/proc/<pid>/stat fields 14 and 15, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** Read- and write-type system calls of `pid` so far (/proc/<pid>/io `syscr`, `syscw`). */
function sysIo(pid: number): { r: number; w: number } {
  const s = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { r: Number(/syscr: (\d+)/.exec(s)?.[1] ?? 0), w: Number(/syscw: (\d+)/.exec(s)?.[1] ?? 0) };
}

interface Config {
  label: string;
  args: string[];
  /** Environment of its server and client (`@KEY=VALUE` words of the configuration). */
  env: Record<string, string>;
}

interface Running {
  cfg: Config;
  server: Proc;
  writer: Proc;
  writerPid: number;
  ctl: RumpConnection;
  rumpIp: string;
  rows: Row[];
}

interface Row {
  mibps: number;
  srvMs: number;
  cliMs: number;
  copyins: number;
  copyinBytes: number;
  segs: number;
  segBytes: number;
  acks: number;
  tapWrites: number;
  gso: number;
  syscalls: number;
  /** Read/write system calls of the server and the client process. */
  srvR: number;
  srvW: number;
  cliR: number;
  cliW: number;
  /** The `--tcp-stats` counters, per MiB. */
  extra: number[];
  /** The transfer's seconds (read_client's). */
  seconds: number;
  /** Every net.inet.tcp.stats counter that moved in this transfer (absolute). */
  stats: Record<string, number>;
}

async function tcpStats(ctl: RumpConnection): Promise<Record<string, number>> {
  const r = await ctl.call<{ stats: { name: string; value: number }[] }>('ctl.netstat', { what: 'stats', proto: 'tcp' });
  const o: Record<string, number> = {};
  for (const row of r.stats) o[row.name.replace(/^net\.inet\.tcp\.stats\./, '')] = Number(row.value);
  return o;
}

async function tapStats(ctl: RumpConnection): Promise<Record<string, number>> {
  const r = await ctl.call<{ interfaces: { kind: string; stats: Record<string, number> }[] }>('ctl.ifconfig', {});
  return r.interfaces.find((i) => i.kind === 'ethernet')?.stats ?? {};
}

async function counters(ctl: RumpConnection, pid: number): Promise<Record<string, number>> {
  const r = await ctl.call<{ clients: { pid: number | null; counters: Record<string, number> }[] }>('ctl.clients', {});
  return r.clients.find((c) => c.pid === pid)?.counters ?? {};
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--mib <n>', 'MiB per transfer', (v) => Number(v), 64)
    .option('--turns <n>', 'transfers per configuration', (v) => Number(v), 5)
    .option('--seconds <s>', 'ask for this many seconds of data per transfer instead of --mib (as the benchmark\'s ladder does)', (v) => Number(v))
    .option('--size <n>', 'write size in bytes', (v) => Number(v), 65536)
    .option('--config <label=args>', 'a configuration: label=rump-server options (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--tcp-stats <names>', 'also print these net.inet.tcp.stats counters per MiB (comma-separated, e.g. persisttimeo,sndrexmitpack)', (v: string) => v.split(',').filter(Boolean), [] as string[])
    .option('--profile <dir>', 'run servers and clients with node --cpu-prof into this directory')
    .option('--per-turn', 'also print every turn\'s MiB/s and the server\'s and client\'s CPU ms per MiB, in order (how the long-lived processes warm up)')
    .option('--outliers <fraction>', 'also print every transfer slower than this fraction of its configuration\'s median MiB/s, with its TCP counters (a stall hunt)', (v) => Number(v))
    .parse()
    .opts<{ mib: number; seconds?: number; turns: number; size: number; config: string[]; tcpStats: string[]; profile?: string; outliers?: number; perTurn?: boolean }>();
  const configs: Config[] = (opts.config.length ? opts.config : ['defaults=']).map((c) => {
    const i = c.indexOf('=');
    const words = c.slice(i + 1).split(/\s+/).filter(Boolean);
    const env = Object.fromEntries(words.filter((w) => w.startsWith('@')).map((w) => [w.slice(1, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
    return { label: c.slice(0, i), args: words.filter((w) => !w.startsWith('@')), env };
  });
  const tb = await import('@rumpnet/tap-bridge');
  const can = tb.canUseNetns();
  if (!can.ok) throw new Error(`needs a network namespace: ${can.reason}`);
  const ns = await tb.Netns.create({ prefix: 'txp' });
  const dir = mkdtempSync(join(tmpdir(), 'txpath-'));
  const nodeArgs = opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`] : [];
  const running: Running[] = [];
  try {
    for (const [k, cfg] of configs.entries()) {
      const base = `10.77.${k + 1}`;
      const tap = `txp${k + 1}`;
      await ns.addTap(tap, { linuxAddr: `${base}.1/24` });
      const url = `unix://${join(dir, `s${k}.sock`)}`;
      const server = Proc.node(SERVER_CLI, [...cfg.args, '--tap', tap, '--addr', `${base}.2/24`, '--gateway', `${base}.1`, '--log-level', 'warn', url], { ns, nodeArgs, label: cfg.label, env: cfg.env });
      const deadline = Date.now() + 20_000;
      let ctl: RumpConnection | null = null;
      while (ctl === null) {
        if (server.exitCode !== null || Date.now() > deadline) throw new Error(`${cfg.label}: server did not start: ${server.tail()}`);
        if (server.stdoutLines.some((l) => l.includes('listening on'))) ctl = await RumpConnection.connect(url, { name: 'txpath-ctl' }).catch(() => null);
        if (ctl === null) await sleep(50);
      }
      const writer = Proc.example('write_server', ['--host', '0.0.0.0', '--port', String(PORT), '--json'], { env: { RUMP_SERVER: url, ...cfg.env }, nodeArgs });
      const ev = await writer.waitFor((e) => e.event === 'listening', 20_000, 'listening');
      running.push({ cfg, server, writer, writerPid: typeof ev.pid === 'number' ? ev.pid : writer.child.pid!, ctl, rumpIp: `${base}.2`, rows: [] });
    }
    for (let t = 0; t < opts.turns; t++) {
      for (const r of running) {
        const c0 = await counters(r.ctl, r.writerPid);
        const s0 = await tcpStats(r.ctl);
        const t0 = await tapStats(r.ctl);
        const sv0 = cpuMs(r.server.child.pid!);
        const cl0 = cpuMs(r.writerPid);
        const io0 = [sysIo(r.server.child.pid!), sysIo(r.writerPid)];
        const reader = Proc.example('read_client', ['--host', r.rumpIp, '--port', String(PORT), '--size', String(opts.size), ...(opts.seconds !== undefined ? ['--duration', String(opts.seconds)] : ['--bytes', String(opts.mib * MiB)]), '--json'], { ns });
        const code = await reader.finish(120_000);
        const sv1 = cpuMs(r.server.child.pid!);
        const cl1 = cpuMs(r.writerPid);
        const io1 = [sysIo(r.server.child.pid!), sysIo(r.writerPid)];
        const res = reader.events.find((e) => e.event === 'result');
        if (code !== 0 || !res) throw new Error(`${r.cfg.label}: read_client failed: ${reader.tail()}`);
        const c1 = await counters(r.ctl, r.writerPid);
        const s1 = await tcpStats(r.ctl);
        const t1 = await tapStats(r.ctl);
        const mib = Number(res.bytes) / MiB;
        const d = (a: Record<string, number>, b: Record<string, number>, k: string): number => (b[k] ?? 0) - (a[k] ?? 0);
        r.rows.push({
          mibps: Number(res.mibps), srvMs: (sv1 - sv0) / mib, cliMs: (cl1 - cl0) / mib,
          copyins: d(c0, c1, 'copyinRequests') / mib, copyinBytes: d(c0, c1, 'copyinBytes') / Math.max(1, d(c0, c1, 'copyinRequests')),
          segs: d(s0, s1, 'sndpack') / mib, segBytes: d(s0, s1, 'sndbyte') / Math.max(1, d(s0, s1, 'sndpack')), acks: d(s0, s1, 'rcvackpack') / mib,
          tapWrites: d(t0, t1, 'txFrames') / mib, syscalls: d(c0, c1, 'syscalls') / mib,
          srvR: (io1[0]!.r - io0[0]!.r) / mib, srvW: (io1[0]!.w - io0[0]!.w) / mib, cliR: (io1[1]!.r - io0[1]!.r) / mib, cliW: (io1[1]!.w - io0[1]!.w) / mib, extra: opts.tcpStats.map((k) => d(s0, s1, k) / mib), gso: d(t0, t1, 'txGso') / mib,
          seconds: Number(res.seconds), stats: Object.fromEntries(Object.keys(s1).map((k) => [k, d(s0, s1, k)]).filter(([, v]) => v !== 0)),
        });
      }
    }
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`rump → Linux, ${opts.size}-byte writes, ${opts.seconds !== undefined ? `${opts.seconds} s` : `${opts.mib} MiB`} × ${opts.turns} turns; load at the end ${load}`);
    console.log(`config            MiB/s (runs)                        srv ms/MiB  cli ms/MiB  COPYIN/MiB  B/COPYIN  segs/MiB  B/seg   ACKs/MiB  tapw/MiB  GSO/MiB  calls/MiB  srv r/w per MiB  cli r/w per MiB${opts.tcpStats.map((k) => `  ${k}/MiB`).join('')}`);
    for (const r of running) {
      const m = (f: (x: Row) => number): number => median(r.rows.map(f));
      console.log(`${r.cfg.label.padEnd(16)}  ${m((x) => x.mibps).toFixed(1).padStart(6)} (${r.rows.map((x) => x.mibps.toFixed(0)).join(' ')})`.padEnd(52) +
        `${m((x) => x.srvMs).toFixed(2).padStart(10)}  ${m((x) => x.cliMs).toFixed(2).padStart(10)}  ${m((x) => x.copyins).toFixed(1).padStart(10)}  ${m((x) => x.copyinBytes).toFixed(0).padStart(8)}  ${m((x) => x.segs).toFixed(1).padStart(8)}  ${m((x) => x.segBytes).toFixed(0).padStart(5)}  ${m((x) => x.acks).toFixed(1).padStart(8)}  ${m((x) => x.tapWrites).toFixed(1).padStart(8)}  ${m((x) => x.gso).toFixed(1).padStart(7)}  ${m((x) => x.syscalls).toFixed(1).padStart(9)}  ${`${m((x) => x.srvR).toFixed(0)}/${m((x) => x.srvW).toFixed(0)}`.padStart(14)}  ${`${m((x) => x.cliR).toFixed(0)}/${m((x) => x.cliW).toFixed(0)}`.padStart(14)}${opts.tcpStats.map((k, i) => `  ${m((x) => x.extra[i]!).toFixed(2).padStart(k.length + 4)}`).join('')}`);
    }
    if (opts.perTurn) {
      console.log('\nper turn, in order (the server and the rump write_server live through all turns; each turn is a new read_client):');
      for (const r of running) {
        console.log(`${r.cfg.label.padEnd(16)}  MiB/s       ${r.rows.map((x) => x.mibps.toFixed(0).padStart(6)).join('')}`);
        console.log(`${''.padEnd(16)}  srv ms/MiB  ${r.rows.map((x) => x.srvMs.toFixed(1).padStart(6)).join('')}`);
        console.log(`${''.padEnd(16)}  cli ms/MiB  ${r.rows.map((x) => x.cliMs.toFixed(1).padStart(6)).join('')}`);
      }
    }
    if (opts.outliers !== undefined) {
      for (const r of running) {
        const med = median(r.rows.map((x) => x.mibps));
        for (const [t, x] of r.rows.entries()) {
          if (x.mibps >= med * opts.outliers) continue;
          const st = ['persisttimeo', 'rexmttimeo', 'sndprobe', 'sndrexmitpack', 'tsoDeferred', 'zeroWindowPersist', 'deferredRearm', 'sendFailRearm', 'delack', 'sndCorked'];
          console.log(`outlier ${r.cfg.label} turn ${t}: ${x.mibps.toFixed(1)} MiB/s in ${x.seconds.toFixed(3)} s (median ${med.toFixed(1)}); ${st.map((k) => `${k} ${x.stats[k] ?? 0}`).join(', ')}`);
        }
      }
    }
  } finally {
    for (const r of running) {
      await r.ctl.close().catch(() => undefined);
      await r.writer.stop(5000);
      await r.server.stop(5000);
    }
    await ns.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
