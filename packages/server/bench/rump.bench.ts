/**
 * End-to-end benchmark of the rump client ↔ server path over one server's
 * lo0 (no tap, no root): a rump client writes N MiB over TCP to another rump
 * client of the same server (a second process, `--reader`, as in the
 * paper's write_server/read_client pair), for MCLNUM × MCLBYTES × write size;
 * median of `--runs` runs, with the COPYIN requests per MiB the writer served
 * next to each figure. Then a 64-byte echo round trip through both clients
 * (TCP_NODELAY), p50/p99.
 *
 * The server is a child process running `rump-server` from SOURCE (the
 * `@rumpnet/*` imports mapped to `src/` by tsconfig.src.json), so the
 * figures are those of the work tree without a build. `--profile DIR` runs
 * each server under `--cpu-prof` and prints its top self-time functions.
 *
 *   npx tsx packages/server/bench/rump.bench.ts [--mib 16] [--runs 3]
 *       [--sizes 65536,1024] [--mclnum 1,4,16] [--mclbytes 2048,4096]
 *       [--rx-mode coalesced|per-mbuf] [--echo 2000] [--profile DIR]
 *       [--copy-window 1] [--inline-max 0]
 *
 * The copy window and inline writes default to 1 and 0 here (NetBSD's one
 * outstanding COPYIN, every byte COPYINed), so that the MCLNUM sweep keeps
 * measuring batched copyin alone; examples/src/bench/copypath.ts sweeps them.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RumpConnection, createConnection, createServer, type Socket } from '../../client/src/index.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const MiB = 1024 * 1024;

interface ReaderData {
  url: string;
}
type ToWorker = { cmd: 'listen'; mode: 'sink' | 'echo' } | { cmd: 'quit' };
type FromWorker = { ev: 'port'; port: number } | { ev: 'done'; bytes: number; recvs: number };

// ---------------------------------------------------------------- child: the reading client

async function readerMain(d: ReaderData): Promise<void> {
  const conn = await RumpConnection.connect(d.url, { name: 'bench-reader' });
  const send = (m: FromWorker): void => void process.send!(m);
  const servers: ReturnType<typeof createServer>[] = [];
  process.on('message', (m: ToWorker) => {
    if (m.cmd === 'quit') {
      for (const s of servers) s.close();
      void conn.close().then(() => process.exit(0));
      return;
    }
    const mode = m.mode;
    const srv = createServer({ connection: conn, noDelay: mode === 'echo' }, (sock: Socket) => {
      if (mode === 'echo') {
        sock.setNoDelay(true);
        sock.on('data', (c: Buffer) => sock.write(c));
        sock.on('error', () => undefined);
        return;
      }
      let bytes = 0;
      let recvs = 0;
      sock.on('data', (c: Buffer) => {
        bytes += c.length;
        recvs++;
      });
      sock.on('end', () => {
        send({ ev: 'done', bytes, recvs });
        sock.end();
      });
      sock.on('error', () => undefined);
    });
    servers.push(srv);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      send({ ev: 'port', port: typeof a === 'object' && a !== null ? a.port : 0 });
    });
  });
}

// ---------------------------------------------------------------- main: the server, the writer

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const list = (name: string, dflt: string): number[] => arg(name, dflt).split(',').map(Number);
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function startServer(url: string, mclbytes: number, mclnum: number, rxMode: string, profDir: string | null): Promise<ChildProcess> {
  const cli = join(root, 'packages/server/src/cli.ts');
  const node = [...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), '--import', 'tsx', cli];
  const args = ['--mclbytes', String(mclbytes), '--mclnum', String(mclnum), '--copy-window', arg('--copy-window', '1'), '--inline-max', arg('--inline-max', '0'), '--rx-mode', rxMode, '--log-level', 'warn', url];
  // --strace FILE: count the server's system calls (strace -c), e.g. writes per MiB.
  const st = argv.includes('--strace') ? ['strace', '-f', '-c', '-o', `${arg('--strace', '/tmp/rump-strace')}.${mclbytes}-${mclnum}`] : [];
  const child = spawn(st.length ? st[0]! : process.execPath, [...st.slice(1), ...(st.length ? [process.execPath] : []), ...node, ...args], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'packages/server/bench/tsconfig.src.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('rump-server did not start in 20 s')), 20_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('listening on')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`rump-server exited with ${code}`)));
  });
  return child;
}

class Reader {
  readonly w: ChildProcess;
  private waiters: Array<(m: FromWorker) => void> = [];
  constructor(url: string) {
    this.w = fork(fileURLToPath(import.meta.url), ['--reader', url], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    this.w.on('message', (m: FromWorker) => this.waiters.shift()?.(m));
    this.w.on('error', (e) => console.error('reader process:', e));
  }
  next(): Promise<FromWorker> {
    return new Promise((r) => this.waiters.push(r));
  }
  async listen(mode: 'sink' | 'echo'): Promise<number> {
    const p = this.next();
    this.w.send({ cmd: 'listen', mode } satisfies ToWorker);
    const m = await p;
    if (m.ev !== 'port') throw new Error('reader: expected a port');
    return m.port;
  }
  async quit(): Promise<void> {
    const gone = new Promise((r) => (this.w.exitCode !== null ? r(null) : this.w.once('exit', r)));
    this.w.send({ cmd: 'quit' } satisfies ToWorker);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    if (this.w.exitCode === null) this.w.kill();
  }
}

function connect(conn: RumpConnection, port: number, noDelay: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1', connection: conn, noDelay }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `total` bytes in `size`-byte writes (honouring 'drain', as write_server does), then ends. */
function pump(sock: Socket, total: number, size: number): Promise<void> {
  const buf = Buffer.alloc(size, 0x61);
  let sent = 0;
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    const loop = (): void => {
      while (sent < total) {
        const n = Math.min(size, total - sent);
        sent += n;
        if (!sock.write(n === size ? buf : buf.subarray(0, n))) return void sock.once('drain', loop);
      }
      sock.end(() => resolve());
    };
    loop();
  });
}

/** CPU time (user + system, ms) a process has used, from /proc (Linux). */
function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** TCP counters that explain stalls: retransmissions, timer-driven ACKs, window probes. */
async function tcpStats(conn: RumpConnection): Promise<Record<string, number>> {
  const r = await conn.call<{ stats: { name: string; value: number }[] }>('ctl.netstat', { what: 'stats', proto: 'tcp' });
  const want = ['sndrexmitpack', 'rexmttimeo', 'fastretrans', 'delack', 'persisttimeo', 'sndwinup', 'sndacks', 'sndpack', 'rcvduppack', 'rcvoopack', 'rcvmemdrop'];
  const out: Record<string, number> = {};
  for (const row of r.stats) {
    const k = row.name.replace(/^.*\./, '');
    if (want.includes(k)) out[k] = row.value;
  }
  return out;
}

interface Point {
  mclbytes: number;
  mclnum: number;
  size: number;
  mibs: number[];
  copyinPerMiB: number;
  recvsPerMiB: number;
  /** Server CPU ms per MiB moved (robust to a loaded host, unlike MiB/s). */
  cpuPerMiB: number;
  /** Writer's and reader's CPU ms per MiB. */
  wCpuPerMiB: number;
  rCpuPerMiB: number;
}

async function throughput(conn: RumpConnection, reader: Reader, port: number, total: number, size: number, runs: number, serverPid: number): Promise<Omit<Point, 'mclbytes' | 'mclnum' | 'size'>> {
  const mibs: number[] = [];
  const cpus: number[] = [];
  const wcpus: number[] = [];
  const rcpus: number[] = [];
  let copyinPerMiB = 0;
  let recvsPerMiB = 0;
  for (let run = 0; run <= runs; run++) {
    const sock = await connect(conn, port, false);
    const before = conn.counters.copyinRequests;
    const done = reader.next();
    const c0 = cpuMs(serverPid);
    const w0 = process.cpuUsage();
    const r0 = cpuMs(reader.w.pid!);
    const t0 = performance.now();
    await pump(sock, total, size);
    const m = await done;
    const secs = (performance.now() - t0) / 1000;
    const cpu = cpuMs(serverPid) - c0;
    const wu = process.cpuUsage(w0);
    const wcpu = (wu.user + wu.system) / 1000;
    const rcpu = cpuMs(reader.w.pid!) - r0;
    sock.destroy();
    if (m.ev !== 'done' || m.bytes !== total) throw new Error(`reader got ${m.ev === 'done' ? m.bytes : '?'} of ${total} bytes`);
    if (run === 0) continue; // warm-up
    mibs.push(total / MiB / secs);
    cpus.push(cpu / (total / MiB));
    wcpus.push(wcpu / (total / MiB));
    rcpus.push(rcpu / (total / MiB));
    copyinPerMiB = (conn.counters.copyinRequests - before) / (total / MiB);
    recvsPerMiB = m.recvs / (total / MiB);
  }
  return { mibs, copyinPerMiB, recvsPerMiB, cpuPerMiB: quantile(cpus, 0.5), wCpuPerMiB: quantile(wcpus, 0.5), rCpuPerMiB: quantile(rcpus, 0.5) };
}

async function echo(conn: RumpConnection, reader: Reader, n: number): Promise<{ p50: number; p99: number }> {
  const port = await reader.listen('echo');
  const sock = await connect(conn, port, true);
  const msg = Buffer.alloc(64, 0x62);
  const rtt: number[] = [];
  let want = 0;
  let wake: (() => void) | null = null;
  sock.on('data', (c: Buffer) => {
    want -= c.length;
    if (want <= 0 && wake) {
      const w = wake;
      wake = null;
      w();
    }
  });
  for (let i = 0; i < n + 200; i++) {
    const t0 = performance.now();
    want = 64;
    await new Promise<void>((r) => {
      wake = r;
      sock.write(msg);
    });
    if (i >= 200) rtt.push((performance.now() - t0) * 1000);
  }
  sock.destroy();
  return { p50: quantile(rtt, 0.5), p99: quantile(rtt, 0.99) };
}

/** Top self-time functions of the newest .cpuprofile in `dir`. */
function profileTop(dir: string, n: number): string {
  // The largest profile is the main thread's (tsx's loader thread writes one too).
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort((a, b) => statSync(join(dir, a)).size - statSync(join(dir, b)).size);
  if (files.length === 0) return '(no profile)';
  const prof = JSON.parse(readFileSync(join(dir, files[files.length - 1]!), 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
  };
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  for (const s of prof.samples) {
    const cf = byId.get(s)!.callFrame;
    const key = `${cf.functionName || '(anon)'} ${cf.url.replace(/^.*\/(packages|node:)/, '$1').replace(/^file:\/\//, '')}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  const total = prof.samples.length;
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`)
    .join('\n');
}

async function main(): Promise<void> {
  const total = Number(arg('--mib', '16')) * MiB;
  const runs = Number(arg('--runs', '3'));
  const sizes = list('--sizes', '65536,1024');
  const mclnums = list('--mclnum', '1,4,16');
  const mclbytess = list('--mclbytes', '2048,4096');
  const rxMode = arg('--rx-mode', 'coalesced');
  const echoN = Number(arg('--echo', '2000'));
  const profArg = argv.includes('--profile') ? arg('--profile', join(tmpdir(), 'rump-bench-prof')) : null;
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-rbench-'));
  console.log(`rump client → rump client over lo0 — node ${process.version}, ${total / MiB} MiB per run, median of ${runs}, rx ${rxMode}`);
  console.log('MCLBYTES  MCLNUM  write     MiB/s (median)  runs              COPYIN/MiB  recv/MiB  CPU ms/MiB srv/wr/rd');
  const points: Point[] = [];
  let echoDone = false;
  try {
    for (const mclbytes of mclbytess) {
      for (const mclnum of mclnums) {
        const url = `unix://${join(dir, `s${mclbytes}-${mclnum}.sock`)}`;
        const profDir = profArg ? join(profArg, `${mclbytes}-${mclnum}`) : null;
        if (profDir) mkdirSync(profDir, { recursive: true });
        const server = await startServer(url, mclbytes, mclnum, rxMode, profDir);
        const reader = new Reader(url);
        const conn = await RumpConnection.connect(url, { name: 'bench-writer' });
        try {
          // --sockbuf N: TCP send and receive buffer defaults (sysctl net.inet.tcp.{send,recv}space).
          if (argv.includes('--sockbuf')) {
            for (const k of ['sendspace', 'recvspace']) await conn.call('ctl.sysctl', { name: `net.inet.tcp.${k}`, value: Number(arg('--sockbuf', '65536')) });
          }
          const port = await reader.listen('sink');
          for (const size of sizes) {
            const r = await throughput(conn, reader, port, size < 4096 ? Math.min(total, 4 * MiB) : total, size, runs, server.pid!);
            const p: Point = { mclbytes, mclnum, size, ...r };
            points.push(p);
            console.log(
              `${String(mclbytes).padStart(8)}  ${String(mclnum).padStart(6)}  ${String(size).padStart(6)}  ${quantile(r.mibs, 0.5).toFixed(1).padStart(14)}  ${r.mibs.map((x) => x.toFixed(1)).join(' ').padEnd(18)} ${r.copyinPerMiB.toFixed(0).padStart(10)}  ${r.recvsPerMiB.toFixed(0).padStart(8)}  ${r.cpuPerMiB.toFixed(1).padStart(8)} ${r.wCpuPerMiB.toFixed(1).padStart(5)} ${r.rCpuPerMiB.toFixed(1).padStart(5)}`,
            );
          }
          if (!echoDone && echoN > 0) {
            const e = await echo(conn, reader, echoN);
            console.log(`  echo 64 B (MCLBYTES ${mclbytes}, MCLNUM ${mclnum}): p50 ${e.p50.toFixed(0)} µs, p99 ${e.p99.toFixed(0)} µs`);
            echoDone = true;
          }
          if (argv.includes('--tcpstats')) console.log(`  tcp: ${JSON.stringify(await tcpStats(conn))}`);
        } finally {
          await conn.close();
          await reader.quit();
          server.kill('SIGINT');
          await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
        }
        if (profDir) console.log(`  server profile, top 15 self time:\n${profileTop(profDir, 15)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const at = (b: number, n: number, s: number): number | undefined => {
    const p = points.find((x) => x.mclbytes === b && x.mclnum === n && x.size === s);
    return p ? quantile(p.mibs, 0.5) : undefined;
  };
  for (const b of mclbytess) {
    for (const s of sizes) {
      const lo = at(b, Math.min(...mclnums), s);
      const hi = at(b, Math.max(...mclnums), s);
      if (lo && hi) console.log(`gain MCLNUM ${Math.max(...mclnums)} / ${Math.min(...mclnums)} at MCLBYTES ${b}, ${s} B writes: ${(hi / lo).toFixed(2)}x`);
    }
  }
}

const ri = process.argv.indexOf('--reader');
if (ri < 0) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
} else {
  void readerMain({ url: process.argv[ri + 1]! });
}
