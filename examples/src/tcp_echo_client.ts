/**
 * tcp_echo_client — sends `--count` messages of `--msg-size` bytes to an
 * echo server one at a time, waits for each to come back whole, and prints
 * the round-trip times (p50, p99): the latency the paper's authors named as
 * future work, measured natively or through the rump client. Through the
 * rump client it also prints the hops per round trip: frames sent to and
 * received from the rump server, and socket writes and reads, counted by
 * the client connection over the timed round trips only.
 *
 *   npx tsx examples/src/tcp_echo_client.ts --port 7007 --count 1000
 *   npx tsx examples/src/tcp_echo_client.ts --rump --host 127.0.0.1 --port 7007
 *
 * `--cpu-pids` adds the CPU time each named process (the rump server, the
 * echo server) spent per round trip, read from /proc/<pid>/task/* /schedstat
 * before and after the timed round trips; the client's own is always given.
 * `--trace-hops <dir>` turns on the per-hop trace (RUMPNET_TRACE_HOPS, see
 * lib/hops.ts) in this process; start the rump server and the echo server
 * with `RUMPNET_TRACE_HOPS=<dir>` too, and it prints where the time of one
 * echo goes, step by step, process by process.
 */
import { Command } from 'commander';
import type { Socket } from 'node:net';
import { bytesArg, intArg, jsonLine, quantile } from './lib/cli.js';
import { applyServerUrl, loadNet, runMain, wantsRump } from './lib/select.js';
import { cpuNs, hopBreakdown, readHopTrace, renderHopBreakdown, tracedPids, type HopBreakdown } from './lib/hops.js';

/** Resolves when `n` more bytes have arrived on `sock` (rejects on error, close, or after `ms`). */
function readExactly(sock: Socket, n: number, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const done = (err?: Error): void => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onData = (c: Buffer): void => {
      got += c.length;
      if (got >= n) done();
    };
    const onClose = (): void => done(new Error(`connection closed after ${got} of ${n} bytes`));
    const timer = setTimeout(() => done(new Error(`echo of ${n} bytes not back after ${ms} ms`)), ms);
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.once('error', done);
  });
}

/** The client connection's message counters (see `ClientCounters` in @rumpnet/client). */
interface Hops {
  framesSent: number;
  framesReceived: number;
  socketWrites: number;
  socketReads: number;
  /** The client's busy poll (RUMPNET_BUSY_POLL): spins, spins the answer ended, µs spun; absent from clients before it. */
  busyPolls?: number;
  busyPollHits?: number;
  busyPollUs?: number;
}

const HOP_KEYS = ['framesSent', 'framesReceived', 'socketWrites', 'socketReads', 'busyPolls', 'busyPollHits', 'busyPollUs'] as const;

function hopsOf(conn: { counters: Hops }): Hops {
  const c = conn.counters;
  const out: Partial<Hops> = {};
  for (const k of HOP_KEYS) if (typeof c[k] === 'number') out[k] = c[k];
  return out as Hops;
}

function perTrip(a: Hops, b: Hops, n: number): Hops {
  const out: Partial<Hops> = {};
  for (const k of HOP_KEYS) if (typeof a[k] === 'number' && typeof b[k] === 'number') out[k] = (b[k]! - a[k]!) / n;
  return out as Hops;
}

/** The shared connection the rump net API uses for $RUMP_SERVER (null when this client build has none to show). */
async function rumpConnection(): Promise<{ counters: Hops } | null> {
  const m = (await import('@rumpnet/client')) as { connectionFor?: () => Promise<{ counters: Partial<Hops> }> };
  if (typeof m.connectionFor !== 'function') return null;
  const conn = await m.connectionFor();
  return typeof conn.counters.framesSent === 'number' ? (conn as { counters: Hops }) : null;
}

async function main(): Promise<void> {
  const opts = new Command('tcp_echo_client')
    .description('Measure request/response round trips against an echo server.')
    .option('--host <addr>', 'echo server address', '127.0.0.1')
    .option('--port <n>', 'echo server port', intArg(1, 65535), 7007)
    .option('--count <n>', 'round trips to time', intArg(1, 10_000_000), 1000)
    .option('--warmup <n>', 'untimed round trips first', intArg(0, 1_000_000), 100)
    .option('--msg-size <bytes>', 'message size', bytesArg(1, 1024 * 1024), 64)
    .option('--json', 'print one JSON line')
    .option('--rump', 'run as a rump client (or set RUMPNET=1 / RUMP_SERVER)')
    .option('--rump-server <url>', 'rump server URL (sets RUMP_SERVER)')
    .option('--cpu-pids <list>', 'comma-separated pids whose CPU time per round trip to report (the servers)', (v) => v.split(',').map((x) => intArg(1, 2 ** 31)(x.trim())))
    .option('--trace-hops <dir>', 'trace every hop of each echo into <dir> (RUMPNET_TRACE_HOPS) and print the breakdown')
    .parse()
    .opts<{ host: string; port: number; count: number; warmup: number; msgSize: number; json?: boolean; rump?: boolean; rumpServer?: string; cpuPids?: number[]; traceHops?: string }>();
  applyServerUrl(opts.rumpServer);
  // Before @rumpnet/client loads: its recorder is installed when the module is.
  if (opts.traceHops !== undefined) process.env.RUMPNET_TRACE_HOPS = opts.traceHops;
  const rump = wantsRump(opts.rump);
  const net = await loadNet(rump);
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = net.createConnection({ host: opts.host, port: opts.port }, () => resolve(s));
    s.once('error', reject);
  });
  sock.setNoDelay(true);
  const msg = Buffer.alloc(opts.msgSize, 0x2a);
  const rtts: number[] = [];
  const conn = rump ? await rumpConnection() : null;
  const tracer = opts.traceHops !== undefined ? (await import('@rumpnet/client')).hopTrace : undefined;
  let before: Hops | null = null;
  const pids = [process.pid, ...(opts.cpuPids ?? [])];
  let cpu0: (number | undefined)[] = [];
  for (let i = 0; i < opts.warmup + opts.count; i++) {
    if (i === opts.warmup) {
      if (conn) before = hopsOf(conn);
      if (opts.traceHops !== undefined) for (const p of tracedPids(opts.traceHops)) if (!pids.includes(p)) pids.push(p);
      cpu0 = pids.map(cpuNs);
    }
    const t0 = performance.now();
    const back = readExactly(sock, msg.length, 10_000);
    tracer?.mark('app.write');
    sock.write(msg);
    await back;
    tracer?.mark('app.done');
    if (i >= opts.warmup) rtts.push((performance.now() - t0) * 1000);
  }
  const cpuUs: Record<string, number> = {};
  pids.forEach((p, k) => {
    const a = cpu0[k];
    const b = cpuNs(p);
    if (a !== undefined && b !== undefined) cpuUs[p === process.pid ? 'client' : String(p)] = (b - a) / 1000 / rtts.length;
  });
  const hops = conn && before ? perTrip(before, hopsOf(conn), rtts.length) : undefined;
  let trace: HopBreakdown | undefined;
  if (opts.traceHops !== undefined) {
    tracer?.flush();
    // The other processes append their marks every 200 ms.
    await new Promise((r) => setTimeout(r, 500));
    const data = readHopTrace(opts.traceHops);
    for (const [pid, us] of Object.entries(cpuUs)) {
      const name = pid === 'client' ? undefined : data.procs.get(Number(pid))?.name;
      if (name !== undefined && name !== pid) {
        cpuUs[name] = us;
        delete cpuUs[pid];
      }
    }
    trace = hopBreakdown(data, opts.warmup);
  }
  sock.end();
  const p50 = quantile(rtts, 0.5);
  const p99 = quantile(rtts, 0.99);
  if (opts.json) jsonLine({ event: 'latency', impl: rump ? 'rump' : 'native', count: rtts.length, msgSize: msg.length, p50us: p50, p99us: p99, cpuUs, ...(hops ? { hops } : {}), ...(trace ? { trace } : {}) });
  else {
    console.log(`${rtts.length} round trips of ${msg.length} bytes: p50 ${p50.toFixed(1)} µs, p99 ${p99.toFixed(1)} µs`);
    if (hops) console.log(`per round trip: ${hops.framesSent.toFixed(2)} frames to the rump server, ${hops.framesReceived.toFixed(2)} back; ${hops.socketWrites.toFixed(2)} socket writes, ${hops.socketReads.toFixed(2)} reads`);
    if (hops?.busyPolls) console.log(`busy poll per round trip: ${hops.busyPolls.toFixed(2)} spins, ${(hops.busyPollHits ?? 0).toFixed(2)} answered, ${(hops.busyPollUs ?? 0).toFixed(1)} µs spun`);
    console.log(`CPU per round trip: ${Object.entries(cpuUs).map(([k, v]) => `${k} ${v.toFixed(1)} µs`).join(', ')}`);
    if (trace) for (const line of renderHopBreakdown(trace)) console.log(line);
  }
}

runMain('tcp_echo_client', main);
