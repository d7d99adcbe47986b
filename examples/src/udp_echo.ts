/**
 * udp_echo — a UDP echo server and a client that times its round trips,
 * on node:dgram or the rump stack's dgram-shaped sockets, same code:
 *
 *   npx tsx examples/src/udp_echo.ts server --port 7008
 *   npx tsx examples/src/udp_echo.ts client --port 7008 --count 100
 *   RUMP_SERVER=unix:///tmp/rump.sock npx tsx examples/src/udp_echo.ts server
 *
 * The client sends one datagram at a time and waits for it (timeout 1 s; a
 * lost datagram counts as lost, UDP promises nothing).
 */
import { Command } from 'commander';
import type { Socket } from 'node:dgram';
import { bytesArg, intArg, jsonLine, quantile } from './lib/cli.js';
import { applyServerUrl, loadDgram, runMain, wantsRump } from './lib/select.js';

interface Common {
  host: string;
  port: number;
  json?: boolean;
  rump?: boolean;
  rumpServer?: string;
}

async function open(o: Common): Promise<{ sock: Socket; impl: string }> {
  applyServerUrl(o.rumpServer);
  const rump = wantsRump(o.rump);
  const dgram = await loadDgram(rump);
  return { sock: dgram.createSocket('udp4'), impl: rump ? 'rump' : 'native' };
}

async function server(o: Common): Promise<void> {
  const { sock, impl } = await open(o);
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.on('error', (err) => {
    process.stderr.write(`udp_echo: ${err.message}\n`);
    process.exit(1);
  });
  sock.bind(o.port, o.host, () => {
    const port = sock.address().port;
    if (o.json) jsonLine({ event: 'listening', impl, port, pid: process.pid });
    else console.log(`udp echo (${impl}) on ${o.host}:${port}`);
  });
  process.once('SIGINT', () => process.exit(0));
  process.once('SIGTERM', () => process.exit(0));
}

async function client(o: Common & { count: number; msgSize: number }): Promise<void> {
  const { sock, impl } = await open(o);
  const msg = Buffer.alloc(o.msgSize, 0x75);
  const rtts: number[] = [];
  let lost = 0;
  await new Promise<void>((r) => sock.bind(0, r));
  for (let i = 0; i < o.count; i++) {
    const t0 = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        sock.off('message', onMsg);
        resolve(false);
      }, 1000);
      const onMsg = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      sock.once('message', onMsg);
      sock.send(msg, o.port, o.host);
    });
    if (ok) rtts.push((performance.now() - t0) * 1000);
    else lost++;
  }
  sock.close();
  const p50 = quantile(rtts, 0.5);
  const p99 = quantile(rtts, 0.99);
  if (o.json) jsonLine({ event: 'latency', impl, count: rtts.length, lost, p50us: p50, p99us: p99 });
  else console.log(`${rtts.length} echoes (${lost} lost): p50 ${p50.toFixed(1)} µs, p99 ${p99.toFixed(1)} µs`);
}

const program = new Command('udp_echo').description('UDP echo server and client.');
const common = (c: Command): Command =>
  c
    .option('--port <n>', 'port', intArg(0, 65535), 7008)
    .option('--json', 'print JSON lines')
    .option('--rump', 'run as a rump client (or set RUMPNET=1 / RUMP_SERVER)')
    .option('--rump-server <url>', 'rump server URL (sets RUMP_SERVER)');
common(program.command('server').description('echo every datagram back to its sender'))
  .option('--host <addr>', 'address to bind', '0.0.0.0')
  .action((o: Common) => runMain('udp_echo', () => server(o)));
common(program.command('client').description('send datagrams one at a time and time the echoes'))
  .option('--host <addr>', 'server address', '127.0.0.1')
  .option('--count <n>', 'datagrams', intArg(1, 1_000_000), 100)
  .option('--msg-size <bytes>', 'datagram size', bytesArg(1, 65507), 64)
  .action((o: Common & { count: number; msgSize: number }) => runMain('udp_echo', () => client(o)));
program.parse();
