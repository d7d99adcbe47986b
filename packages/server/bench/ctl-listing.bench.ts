/**
 * How long a big control listing blocks the server's event loop.
 *
 * The server runs on this thread with N sockets (UDP, bound to 127.0.0.1,
 * owned by one descriptor table so the owner lookup is as full as in life);
 * the clients run in a child process, so that their own decoding is not
 * counted against the server's loop. The worker's `lister` fetches the whole
 * `netstat -an` listing as `rumpctl` does (page after page), then P first
 * pages pipelined at once, while its `probe` sends a small request
 * (`ctl.sysctl kern.mbuf.nmbclusters`) every 2 ms (after one unmeasured
 * listing to warm the JIT up). Printed per case: the
 * longest block of the server's loop (perf_hooks `monitorEventLoopDelay`,
 * 1 ms resolution, and a 1 ms timer's longest gap), the longest slice turn
 * the server's SliceRunner ran, the listing's time, and the probe's median
 * and worst answer time.
 *
 *   npx tsx packages/server/bench/ctl-listing.bench.ts [--sockets 20000] [--pipelined 200]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RumpConnection } from '@rumpnet/client';
import { defaultConfig } from '../src/config.js';
import { RumpServer } from '../src/server.js';
import { AF_INET, SOCK, sockaddrIn, inetAton } from '../src/stackapi.js';
import type { CtlNetstatResult } from '../src/proto/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** What the worker reports for one case. */
interface CaseResult {
  label: string;
  rows: number;
  tookMs: number;
  answers: number[];
}

/** Reports to the parent process. */
function send(m: unknown): void {
  process.send!(m);
}

async function clients(url: string, pipelined: number): Promise<void> {
  const lister = await RumpConnection.connect(url, { name: 'lister' });
  const probe = await RumpConnection.connect(url, { name: 'probe' });
  const run = async (label: string, work: () => Promise<number>): Promise<void> => {
    const answers: number[] = [];
    let stop = false;
    const probing = (async () => {
      while (!stop) {
        const t = performance.now();
        await probe.call('ctl.sysctl', { name: 'kern.mbuf.nmbclusters' });
        answers.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    send({ start: label });
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    const rows = await work();
    const tookMs = performance.now() - t0;
    stop = true;
    await probing;
    send({ label, rows, tookMs, answers } satisfies CaseResult);
  };
  const whole = async (): Promise<number> => {
    // As rumpctl's allPages does; a server without paging answers one (cut) page.
    let rows = 0;
    let cursor: string | undefined;
    for (let pages = 0; pages < 100_000; pages++) {
      const r = await lister.call<CtlNetstatResult>('ctl.netstat', { what: 'sockets', ...(cursor !== undefined ? { cursor } : {}) });
      rows += r.sockets?.length ?? 0;
      if (r.next === undefined) break;
      cursor = r.next;
    }
    return rows;
  };
  await whole(); // warm-up (JIT), not measured
  send({ warm: true });
  await run('one whole listing, page by page', whole);
  await run(`${pipelined} listing requests pipelined`, async () => {
    const all = await Promise.all(Array.from({ length: pipelined }, () => lister.call<CtlNetstatResult>('ctl.netstat', { what: 'sockets' })));
    return all.reduce((n, r) => n + (r.sockets?.length ?? 0), 0);
  });
  await lister.close();
  await probe.close();
  send({ done: true });
}

if (process.argv[2] === '--clients') {
  await clients(process.argv[3]!, Number(process.argv[4]));
  process.disconnect?.();
} else {
  const N = arg('sockets', 20_000);
  const P = arg('pipelined', 200);
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-bench-'));
  const srv = await RumpServer.start(defaultConfig({ listen: { kind: 'unix', path: join(dir, 'rump.sock') } }));
  const proc = srv.net.newProcess({ maxFds: N + 16 });
  for (let i = 0; i < N; i++) {
    const { fd } = proc.socket(AF_INET, SOCK.DGRAM, 0);
    proc.bind(fd, sockaddrIn(inetAton('127.0.0.1')!, 10_000 + (i % 50_000)));
  }
  const runner = (srv as unknown as { runner?: { stats: { longestTurnMs: number; longestUnitMs: number } } }).runner;
  // The CPU time of each slice turn as well as its wall time: on a loaded machine a turn's
  // wall time includes the time the OS ran other processes.
  let turnCpuMax = 0;
  // (The runner exists since the listings are sliced; the bench also runs against older servers.)
  const slices = (await import('../src/ctl/slices.js').catch(() => null)) as { SliceRunner: { prototype: unknown } } | null;
  const proto = (slices?.SliceRunner.prototype ?? {}) as { turn?: () => void };
  const turn = proto.turn;
  if (turn) proto.turn = function (this: unknown) {
    const c = process.cpuUsage();
    turn!.call(this);
    const d = process.cpuUsage(c);
    turnCpuMax = Math.max(turnCpuMax, (d.user + d.system) / 1000);
  };
  const h = monitorEventLoopDelay({ resolution: 1 });
  let gapMax = 0;
  let gapCpuMax = 0;
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const gap = setInterval(() => {
    const now = performance.now();
    gapMax = Math.max(gapMax, now - last - 1);
    last = now;
    // The same gap in CPU time: on a loaded machine the wall gap includes time other processes ran.
    const d = process.cpuUsage(lastCpu);
    gapCpuMax = Math.max(gapCpuMax, (d.user + d.system) / 1000);
    lastCpu = process.cpuUsage();
  }, 1);
  const worker = fork(fileURLToPath(import.meta.url), ['--clients', srv.url, String(P)], { execArgv: ['--import', 'tsx'] });
  await new Promise<void>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`clients exited ${code}`))));
    worker.on('message', (m: { start?: string; done?: boolean } & Partial<CaseResult>) => {
      if (m.start !== undefined) {
        h.reset();
        h.enable();
        gapMax = 0;
        gapCpuMax = 0;
        last = performance.now();
        lastCpu = process.cpuUsage();
        if (runner) runner.stats.longestTurnMs = runner.stats.longestUnitMs = 0;
        turnCpuMax = 0;
        return;
      }
      if (m.done) return resolve();
      if ((m as { warm?: boolean }).warm) return;
      h.disable();
      const a = [...m.answers!].sort((x, y) => x - y);
      console.log(
        `${N} sockets, ${m.label}: ${m.rows} rows in ${m.tookMs!.toFixed(0)} ms; server loop: longest block ${(h.max / 1e6).toFixed(1)} ms ` +
          `(1 ms timer's longest gap ${gapMax.toFixed(1)} ms wall, ${gapCpuMax.toFixed(1)} ms CPU${runner ? `, longest slice turn ${runner.stats.longestTurnMs.toFixed(1)} ms wall, ${turnCpuMax.toFixed(1)} ms CPU, longest unit ${runner.stats.longestUnitMs.toFixed(1)} ms` : ''}); ` +
          `small request meanwhile: ${a.length} answered, median ${(a[a.length >> 1] ?? NaN).toFixed(1)} ms, worst ${(a.at(-1) ?? NaN).toFixed(1)} ms`,
      );
    });
  });
  clearInterval(gap);
  worker.kill();
  await proc.closeAll();
  await srv.close('bench done');
  rmSync(dir, { recursive: true, force: true });
}
