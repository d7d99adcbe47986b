/**
 * read_client — the paper's receiver (section 3): connects to write_server,
 * asks for data (one request line naming a duration or a byte count, and
 * the write size), counts the bytes until the server closes, and prints
 * MiB/s.
 *
 * Natively or as a rump client with one flag, same code:
 *
 *   npx tsx examples/src/read_client.ts --host 127.0.0.1 --port 5001 --duration 2
 *   npx tsx examples/src/read_client.ts --rump --host 10.0.0.1 --bytes 100m --size 1k
 *
 * `--sizes 1k,64k --runs 5` makes several transfers in a row (one
 * connection each); `--json` prints one `{"event":"result",...}` line each.
 */
import { Command } from 'commander';
import { bytesArg, bytesListArg, intArg, jsonLine, secondsArg } from './lib/cli.js';
import { applyServerUrl, loadNet, runMain, wantsRump, type NetApi } from './lib/select.js';

const MiB = 1024 * 1024;

interface Result {
  bytes: number;
  seconds: number;
  /** CPU time of this process over the transfer (user + system, µs): the benchmark's CPU per MiB. */
  cpuUs: number;
}

/**
 * One transfer: connect, send the request, count bytes until the server
 * ends the stream. Time runs from the request to the end (the paper's
 * measurement). Rejects on a socket error or when `timeoutMs` passes.
 */
function transfer(net: NetApi, host: string, port: number, request: object, timeoutMs: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let t0 = 0;
    let cpu0 = process.cpuUsage();
    const sock = net.createConnection({ host, port }, () => {
      t0 = performance.now();
      cpu0 = process.cpuUsage();
      sock.write(`${JSON.stringify(request)}\n`);
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no end of stream after ${timeoutMs} ms (${bytes} bytes read)`));
    }, timeoutMs);
    sock.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    sock.once('end', () => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      sock.end();
      resolve({ bytes, seconds, cpuUs: cpu.user + cpu.system });
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function main(): Promise<void> {
  const opts = new Command('read_client')
    .description('Ask write_server for data, count bytes and time, print MiB/s (the paper\'s read_client).')
    .option('--host <addr>', 'write_server address', '127.0.0.1')
    .option('--port <n>', 'write_server port', intArg(1, 65535), 5001)
    .option('--duration <s>', 'ask for this many seconds of data', secondsArg(600))
    .option('--bytes <n>', 'ask for this many bytes (e.g. 100m)', bytesArg(1, 2 ** 40))
    .option('--size <bytes>', "the server's write size for this transfer (default: the server's --size)", bytesArg(1, 16 * MiB))
    .option('--sizes <list>', 'several transfers, one per write size (e.g. 1k,4k,64k)', bytesListArg(1, 16 * MiB))
    .option('--runs <n>', 'transfers per size', intArg(1, 1000), 1)
    .option('--json', 'print one JSON line per transfer (for the benchmark harness)')
    .option('--rump', 'run as a rump client (or set RUMPNET=1 / RUMP_SERVER)')
    .option('--rump-server <url>', 'rump server URL (sets RUMP_SERVER)')
    .parse()
    .opts<{
      host: string; port: number; duration?: number; bytes?: number; size?: number; sizes?: number[];
      runs: number; json?: boolean; rump?: boolean; rumpServer?: string;
    }>();
  applyServerUrl(opts.rumpServer);
  const rump = wantsRump(opts.rump);
  const net = await loadNet(rump);
  const impl = rump ? 'rump' : 'native';
  const seconds = opts.duration ?? (opts.bytes === undefined ? 2 : undefined);
  const sizes: (number | undefined)[] = opts.sizes ?? [opts.size];
  // Bound each transfer: its duration plus slack, or a generous cap for byte counts.
  const timeoutMs = seconds !== undefined ? seconds * 1000 + 30_000 : 600_000;
  for (const size of sizes) {
    for (let run = 0; run < opts.runs; run++) {
      const request = { ...(seconds !== undefined ? { seconds } : {}), ...(opts.bytes !== undefined ? { bytes: opts.bytes } : {}), ...(size !== undefined ? { size } : {}) };
      const r = await transfer(net, opts.host, opts.port, request, timeoutMs);
      const mibps = r.seconds > 0 ? r.bytes / MiB / r.seconds : 0;
      if (opts.json) jsonLine({ event: 'result', impl, size: size ?? null, run, bytes: r.bytes, seconds: r.seconds, mibps, cpuUs: r.cpuUs });
      else console.log(`${r.bytes} bytes in ${r.seconds.toFixed(3)} s: ${mibps.toFixed(1)} MiB/s${size !== undefined ? ` (${size}-byte writes)` : ''}`);
    }
  }
}

runMain('read_client', main);
