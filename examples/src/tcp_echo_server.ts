/**
 * tcp_echo_server — sends back every byte it receives, on every connection.
 * The smallest server to start from; natively or on the rump stack:
 *
 *   npx tsx examples/src/tcp_echo_server.ts --port 7007
 *   RUMP_SERVER=unix:///tmp/rump.sock npx tsx examples/src/tcp_echo_server.ts --port 7007
 *
 * `--json` prints `{"event":"listening","port":N}` once it listens.
 */
import { Command } from 'commander';
import { intArg, jsonLine } from './lib/cli.js';
import { applyServerUrl, loadNet, runMain, wantsRump } from './lib/select.js';

async function main(): Promise<void> {
  const opts = new Command('tcp_echo_server')
    .description('Echo every byte back on every connection.')
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--port <n>', 'port (0: any)', intArg(0, 65535), 7007)
    .option('--json', 'print JSON lines')
    .option('--rump', 'run as a rump client (or set RUMPNET=1 / RUMP_SERVER)')
    .option('--rump-server <url>', 'rump server URL (sets RUMP_SERVER)')
    .parse()
    .opts<{ host: string; port: number; json?: boolean; rump?: boolean; rumpServer?: string }>();
  applyServerUrl(opts.rumpServer);
  const rump = wantsRump(opts.rump);
  const net = await loadNet(rump);
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    sock.on('error', () => sock.destroy()); // a peer's reset ends only its own connection
    sock.pipe(sock); // pipe() applies backpressure both ways
  });
  server.on('error', (err) => {
    process.stderr.write(`tcp_echo_server: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const a = server.address();
    const port = typeof a === 'object' && a !== null ? a.port : opts.port;
    if (opts.json) jsonLine({ event: 'listening', impl: rump ? 'rump' : 'native', port, pid: process.pid });
    else console.log(`echo server (${rump ? 'rump' : 'native'}) on ${opts.host}:${port}`);
  });
  const stop = (): void => {
    if (!opts.json) console.log(`served ${connections} connections`);
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

runMain('tcp_echo_server', main);
