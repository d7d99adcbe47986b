/**
 * The scale test's client: holds N idle TCP connections through one rump
 * server. Two rump connections (two "processes" to the server): one listens
 * on 127.0.0.1 in the rump stack and accepts, the other connects N times;
 * so the server holds 2N TCP sockets. Prints
 * `{"event":"held","connections":N,...}` when all are up, then waits to be
 * killed (the benchmark reads the server's memory meanwhile).
 *
 *   RUMP_SERVER=unix:///tmp/rump.sock npx tsx examples/src/bench/hold.ts --connections 1000
 */
import { Command } from 'commander';
import { RumpConnection, inet } from '@rumpnet/client';
import { intArg, jsonLine } from '../lib/cli.js';

const PORT = 6000;
/** Connects in flight at once: enough to overlap round trips, few enough to stay under the listen backlog. */
const PARALLEL = 64;

async function main(): Promise<void> {
  const opts = new Command('hold')
    .option('--connections <n>', 'connections to hold', intArg(1, 100_000), 1000)
    .option('--rump-server <url>', 'rump server URL (default $RUMP_SERVER)')
    .parse()
    .opts<{ connections: number; rumpServer?: string }>();
  const url = opts.rumpServer ?? process.env.RUMP_SERVER;
  const n = opts.connections;
  const server = await RumpConnection.connect(url, { name: 'hold-accept' });
  const client = await RumpConnection.connect(url, { name: 'hold-connect' });
  const t0 = performance.now();
  const lfd = await server.sys.socket('stream');
  await server.sys.setsockopt(lfd, 'socket', 'SO_REUSEADDR', true);
  await server.sys.bind(lfd, inet('127.0.0.1', PORT));
  await server.sys.listen(lfd, 1024);
  let accepted = 0;
  const acceptor = (async () => {
    while (accepted < n) {
      await server.sys.accept(lfd);
      accepted++;
    }
  })();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const fd = await client.sys.socket('stream');
      await client.sys.connect(fd, inet('127.0.0.1', PORT));
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, n) }, worker));
  await acceptor;
  jsonLine({ event: 'held', connections: n, accepted, seconds: (performance.now() - t0) / 1000, pid: process.pid });
  // Hold them (idle) until killed; a timer keeps the process alive.
  setInterval(() => undefined, 60_000);
  process.once('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  const e = err as NodeJS.ErrnoException;
  process.stderr.write(`hold: ${e.message}${e.code ? ` (${e.code})` : ''}\n`);
  process.exit(e.code === 'EPROTONOSUPPORT' ? 3 : 1);
});
