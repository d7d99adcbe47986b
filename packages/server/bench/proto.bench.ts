/**
 * Micro-benchmark of the rump protocol between two processes (the memfile
 * test server in a child process, the client here):
 *  - round-trip time of a null syscall (p50/p99 over 10k calls) and of PING;
 *  - MB/s of the memfile `write` (copyin through COPYIN requests, one per
 *    extended cluster of MCLNUM clusters) for MCLNUM 1, 4, 16 at MCLBYTES
 *    2048 and 4096, median of 5 runs of 8 x 1 MiB.
 *
 *   npx tsx packages/server/bench/proto.bench.ts [--calls N] [--runs N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RumpConnection } from '../../client/src/index.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const fixture = join(root, 'packages/server/test/proto/fixtures/memfile-server.ts');
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const CALLS = arg('--calls', 10_000);
const RUNS = arg('--runs', 5);
const MiB = 1024 * 1024;
const WRITES_PER_RUN = 8;

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function spawnServer(listeners: object[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify({ listeners })], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return child;
}

const dir = mkdtempSync(join(tmpdir(), 'rumpnet-bench-'));
const configs = [2048, 4096].flatMap((mclbytes) => [1, 4, 16].map((mclnum) => ({ mclbytes, mclnum })));
const listeners = configs.map((c) => ({ ...c, rxMode: 'per-mbuf', url: join(dir, `b${c.mclbytes}-${c.mclnum}.sock`) }));
const server = await spawnServer(listeners);
try {
  console.log(`rumpnet protocol micro-benchmark — node ${process.version}, ${CALLS} calls, median of ${RUNS} runs`);
  const c = await RumpConnection.connect(listeners[0]!.url, { name: 'bench' });
  for (let i = 0; i < 1000; i++) await c.call('null', {}); // warm up both processes' JITs
  const rtt: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await c.call('null', {});
    rtt.push((performance.now() - t0) * 1000);
  }
  const ping: number[] = [];
  for (let i = 0; i < CALLS; i++) ping.push((await c.ping()) * 1000);
  await c.close();
  console.log(`null syscall RTT: p50 ${quantile(rtt, 0.5).toFixed(1)} µs, p99 ${quantile(rtt, 0.99).toFixed(1)} µs`);
  console.log(`PING RTT:         p50 ${quantile(ping, 0.5).toFixed(1)} µs, p99 ${quantile(ping, 0.99).toFixed(1)} µs`);
  console.log('');
  console.log('write (copyin) throughput, 8 x 1 MiB per run:');
  console.log('MCLBYTES  MCLNUM  COPYIN/MiB    MB/s (median)   runs');
  const data = randomBytes(MiB);
  for (const l of listeners) {
    const conn = await RumpConnection.connect(l.url, { name: 'bench' });
    const rates: number[] = [];
    for (let run = 0; run < RUNS + 1; run++) {
      const fd = 100 + run;
      const before = conn.counters.copyinRequests;
      const t0 = performance.now();
      for (let w = 0; w < WRITES_PER_RUN; w++) await conn.call('write', { fd, len: MiB }, { buffers: { buf: data } });
      const secs = (performance.now() - t0) / 1000;
      await conn.call('close', { fd }); // frees the server's copy of the data
      if (run === 0) continue; // the first run warms up
      rates.push((WRITES_PER_RUN * MiB) / 1e6 / secs);
      if (run === 1) (l as { perMiB?: number }).perMiB = (conn.counters.copyinRequests - before) / WRITES_PER_RUN;
    }
    await conn.close();
    const per = (l as { perMiB?: number }).perMiB ?? 0;
    console.log(
      `${String(l.mclbytes).padStart(8)}  ${String(l.mclnum).padStart(6)}  ${String(per).padStart(10)}  ${quantile(rates, 0.5).toFixed(1).padStart(14)}   ${rates.map((r) => r.toFixed(0)).join(' ')}`,
    );
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
