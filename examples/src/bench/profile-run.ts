/**
 * The benchmark's profile (`--profile`; on by default in the full run):
 * the issue #12 table's transfers with rumpnet's defaults once more, the
 * rump servers and the rump clients run under `node --cpu-prof`, and per
 * figure where each process's time went (profile.ts's categories, the top
 * functions by self time) and its CPU ms per MiB. It runs apart from the
 * table, after it, so that the sampler's cost never falls on one column of
 * a ratio.
 *
 * Each transfer's window is cut out of the long-lived processes' profiles
 * by time: it ends when read_client's result line arrives and is as long
 * as the transfer it reports, in the profiles' own clock (CLOCK_MONOTONIC,
 * that of `process.hrtime`). CPU ms per MiB: the servers' and
 * write_servers' utime + stime from /proc/<pid>/stat over the transfer,
 * read_client's own `process.cpuUsage()` (its result line).
 *
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RUMPNET_DEFAULT, type Sweep } from './plan.js';
import { Proc, Unavailable } from './procs.js';
import { reasonOf, startWriter, type Availability } from './runner.js';
import { CATEGORIES, mergeSummaries, shares, summarize, type CpuProfile, type ProfileSummary, type Window } from './profile.js';
import { textTable } from './table.js';
import type { Placed, Topology } from './topology.js';

const KiB = 1024;
const MiB = KiB * KiB;
const PORT = 5001;
/** Functions kept per process in results.json (by self time). */
const TOP_KEPT = 25;

/** How long the profile runs. */
export interface ProfileSweep {
  /** Transfers per figure, and seconds each. */
  runs: number;
  seconds: number;
  /** The sampler's interval (µs, `--cpu-prof-interval`). */
  intervalUs: number;
}

/** The profile's share of a mode. */
export function profileSweep(sweep: Sweep): ProfileSweep {
  return sweep.mode === 'full' ? { runs: 3, seconds: 1, intervalUs: 500 } : sweep.mode === 'quick' ? { runs: 1, seconds: 1, intervalUs: 500 } : { runs: 1, seconds: 0.3, intervalUs: 500 };
}

/** One process of a figure. */
export interface ProcessProfile {
  role: 'rump server' | 'rump client' | 'Linux peer';
  program: string;
  /** CPU ms per MiB moved (null: not read). */
  cpuMsPerMiB: number | null;
  /** Where its time went over the figure's transfers (null: not profiled — the Linux peer). */
  summary: ProfileSummary | null;
}

/** One figure profiled, or why not. */
export type FigureProfile = { figure: string } & (
  | { status: 'ok'; transfers: number; mib: number; mibps: number; processes: ProcessProfile[] }
  | { status: 'skipped'; reason: string }
);

/** The profile's result. */
export type ProfileResult =
  | { status: 'ok'; sweep: ProfileSweep; dir: string; figures: FigureProfile[] }
  | { status: 'skipped'; reason: string };

/** utime + stime of a process in ms (/proc/<pid>/stat, USER_HZ 100), or null. */
export function procCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // fields from 3 on: state is f[0]
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

const hrUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** `node --cpu-prof` into `dir` (made here). */
function profArgs(dir: string, intervalUs: number): string[] {
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${intervalUs}`];
}

/** The profiles written into `dir`, waiting up to `ms` for one to appear. */
async function profilesIn(dir: string, ms = 20_000): Promise<CpuProfile[]> {
  const end = Date.now() + ms;
  for (;;) {
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
    if (files.length > 0 || Date.now() > end) {
      const out: CpuProfile[] = [];
      for (const f of files) {
        try {
          out.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile);
        } catch {
          /* written half (killed): left out */
        }
      }
      return out;
    }
    await sleep(100);
  }
}

interface Transfer {
  window: Window;
  mib: number;
  mibps: number;
  serverMs: number | null;
  clientMs: number | null;
  peerMs: number | null;
  readerDir: string | null;
}

/**
 * Profiles the table's three transfer figures with rumpnet's defaults (see
 * the module comment). Never rejects: what cannot run is skipped with why.
 */
export async function runProfile(topo: Topology, avail: Availability, ps: ProfileSweep, outDir: string): Promise<ProfileResult> {
  if (!avail.rumpTcp.ok) return { status: 'skipped', reason: avail.rumpTcp.reason };
  if (!topo.linuxPeer) return { status: 'skipped', reason: `the profile's transfers need a Linux peer, a tap in a network namespace: ${topo.whyNoTap}` };
  const dir = join(outDir, 'profiles');
  const ns = topo.nativeSpawner;
  const placed: Placed[] = [];
  const procs: Proc[] = [];
  let n = 0;
  const got = new Map<string, Transfer[]>();
  const failed = new Map<string, string>();
  type Fig = { figure: string; size: number; srv: Placed; client: { pid: number | undefined; program: string } | null; peer: { pid: number | undefined; program: string } | null; host: string; rumpReader: boolean };
  let figs: Fig[] = [];
  let sendSrv: Placed | undefined;
  let recvSrv: Placed | undefined;
  try {
    try {
      sendSrv = await topo.tapServer(RUMPNET_DEFAULT, undefined, profArgs(join(dir, 'server-send'), ps.intervalUs));
      placed.push(sendSrv);
      const ws = Proc.example('write_server', ['--host', '0.0.0.0', '--port', String(PORT), '--json'], { env: { RUMP_SERVER: sendSrv.server.url }, nodeArgs: profArgs(join(dir, 'write_server'), ps.intervalUs) });
      procs.push(ws);
      const ev = await ws.waitFor((e) => e.event === 'listening', 20_000, 'listening');
      const wsPid = typeof ev.pid === 'number' ? ev.pid : ws.child.pid;
      recvSrv = await topo.tapServer(RUMPNET_DEFAULT, undefined, profArgs(join(dir, 'server-recv'), ps.intervalUs));
      placed.push(recvSrv);
      const wl = await startWriter(null, recvSrv.linuxIp!, PORT, ns);
      procs.push(wl.proc);
      figs = [
        { figure: 'rump→Linux 64K', size: 64 * KiB, srv: sendSrv, client: { pid: wsPid, program: 'write_server' }, peer: null, host: sendSrv.rumpIp, rumpReader: false },
        { figure: 'Linux→rump 64K', size: 64 * KiB, srv: recvSrv, client: null, peer: { pid: wl.pid, program: 'write_server' }, host: recvSrv.linuxIp!, rumpReader: true },
        { figure: 'rump→Linux 1K', size: KiB, srv: sendSrv, client: { pid: wsPid, program: 'write_server' }, peer: null, host: sendSrv.rumpIp, rumpReader: false },
      ];
    } catch (e) {
      return { status: 'skipped', reason: reasonOf(e) };
    }
    for (let run = 0; run < ps.runs; run++) {
      for (const f of figs) {
        if (failed.has(f.figure)) continue;
        try {
          const readerDir = f.rumpReader ? join(dir, `read_client-${++n}`) : null;
          const srvPid = f.srv.server.proc.child.pid;
          const longPid = f.client?.pid ?? f.peer?.pid;
          const s0 = procCpuMs(srvPid);
          const l0 = procCpuMs(longPid);
          const args = ['--host', f.host, '--port', String(PORT), '--size', String(f.size), '--duration', String(ps.seconds), '--json'];
          const reader = Proc.example('read_client', args, f.rumpReader ? { env: { RUMP_SERVER: f.srv.server.url }, nodeArgs: profArgs(readerDir!, ps.intervalUs) } : { ns });
          const ev = await reader.waitFor((e) => e.event === 'result', ps.seconds * 1000 + 60_000, 'result');
          const end = hrUs();
          const s1 = procCpuMs(srvPid);
          const l1 = procCpuMs(longPid);
          const code = await reader.finish(60_000);
          if (code !== 0) throw new Error(`read_client exited with status ${code}: ${reader.tail()}`);
          const mib = Number(ev.bytes) / MiB;
          if (!(mib > 0)) throw new Unavailable('a transfer moved no data');
          const seconds = Number(ev.seconds);
          const readerMs = typeof ev.cpuUs === 'number' ? ev.cpuUs / 1000 : null;
          const longMs = l0 !== null && l1 !== null ? l1 - l0 : null;
          got.set(f.figure, [...(got.get(f.figure) ?? []), {
            window: { fromUs: end - seconds * 1e6, toUs: end }, mib, mibps: Number(ev.mibps),
            serverMs: s0 !== null && s1 !== null ? s1 - s0 : null,
            clientMs: f.rumpReader ? readerMs : longMs, peerMs: f.rumpReader ? longMs : readerMs, readerDir,
          }]);
        } catch (e) {
          failed.set(f.figure, reasonOf(e));
        }
      }
    }
  } finally {
    // SIGTERM: each writes its profile on the way out (a grace of 30 s).
    for (const p of procs) await p.stop(30_000);
    for (const p of placed) await p.release().catch(() => undefined);
  }
  const [srvSend] = await profilesIn(join(dir, 'server-send'));
  const [srvRecv] = await profilesIn(join(dir, 'server-recv'));
  const [wsProf] = await profilesIn(join(dir, 'write_server'));
  const figures: FigureProfile[] = [];
  for (const f of figs) {
    const ts = got.get(f.figure) ?? [];
    const why = failed.get(f.figure);
    if (why !== undefined || ts.length === 0) {
      figures.push({ figure: f.figure, status: 'skipped', reason: why ?? 'not measured' });
      continue;
    }
    const mib = ts.reduce((s, t) => s + t.mib, 0);
    const perMiB = (xs: (number | null)[]): number | null => (xs.every((x) => x !== null) ? (xs as number[]).reduce((s, x) => s + x, 0) / mib : null);
    const windows = ts.map((t) => t.window);
    const srvProf = f.srv === sendSrv ? srvSend : srvRecv;
    const cut = (p: CpuProfile | undefined): ProfileSummary | null => (p ? summarize(p, windows) : null);
    const trim = (x: ProfileSummary | null): ProfileSummary | null => (x ? { ...x, top: x.top.slice(0, TOP_KEPT) } : null);
    let clientSummary: ProfileSummary | null;
    if (f.rumpReader) {
      const parts: ProfileSummary[] = [];
      for (const t of ts) for (const p of await profilesIn(t.readerDir!, 5000)) parts.push(summarize(p, [t.window]));
      clientSummary = parts.length ? mergeSummaries(parts) : null;
    } else clientSummary = cut(wsProf);
    figures.push({
      figure: f.figure, status: 'ok', transfers: ts.length, mib, mibps: ts.reduce((s, t) => s + t.mibps, 0) / ts.length,
      processes: [
        { role: 'rump server', program: 'rump-server', cpuMsPerMiB: perMiB(ts.map((t) => t.serverMs)), summary: trim(cut(srvProf)) },
        { role: 'rump client', program: f.rumpReader ? 'read_client' : 'write_server', cpuMsPerMiB: perMiB(ts.map((t) => t.clientMs)), summary: trim(clientSummary) },
        { role: 'Linux peer', program: f.rumpReader ? 'write_server' : 'read_client', cpuMsPerMiB: perMiB(ts.map((t) => t.peerMs)), summary: null },
      ],
    });
  }
  return { status: 'ok', sweep: ps, dir, figures };
}

const pct = (v: number): string => (v >= 0.05 ? v.toFixed(1) : v > 0 ? '<0.1' : '0');

/** The profile as text: per figure, a row per process with CPU ms/MiB and the categories' shares, then the top functions. */
export function renderProfile(r: ProfileResult, topN = 6): string {
  if (r.status === 'skipped') return `Profile: skipped — ${r.reason}`;
  const out: string[] = [
    `Profile: rumpnet defaults, the table's transfers again under node --cpu-prof (every ${r.sweep.intervalUs} µs; ${r.sweep.runs} transfer(s) of ${r.sweep.seconds} s per figure, after the table, apart from it)`,
    '  share of each process\'s sampled time in the transfers\' windows, %, by the first deciding frame from the leaf up; CPU: utime+stime per MiB moved',
  ];
  for (const f of r.figures) {
    if (f.status === 'skipped') {
      out.push(`${f.figure}: skipped — ${f.reason}`);
      continue;
    }
    out.push('', `${f.figure}: ${f.mib.toFixed(1)} MiB in ${f.transfers} transfer(s), ${f.mibps.toFixed(1)} MiB/s`);
    out.push(textTable(
      ['process', 'CPU ms/MiB', ...CATEGORIES],
      f.processes.map((p) => {
        const sh = p.summary ? shares(p.summary) : null;
        return [`${p.role} (${p.program})`, p.cpuMsPerMiB === null ? '—' : p.cpuMsPerMiB.toFixed(1), ...CATEGORIES.map((c) => (sh ? pct(sh[c]) : '—'))];
      }),
    ));
    for (const p of f.processes) {
      if (!p.summary || p.summary.us === 0) continue;
      const busy = p.summary.us - p.summary.byCategory.idle;
      const top = p.summary.top.filter((t) => t.category !== 'idle').slice(0, topN);
      out.push(`  ${p.role}, top self time (% of busy): ${top.map((t) => `${t.name} [${t.category}] ${busy > 0 ? ((100 * t.us) / busy).toFixed(1) : '0'} %`).join('; ')}`);
    }
  }
  return out.join('\n');
}
