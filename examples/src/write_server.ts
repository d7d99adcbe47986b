/**
 * write_server — the paper's sender (section 3): accepts a connection, reads
 * one request line naming how much to send, and writes continuously with
 * buffers of `--size` bytes until that much is sent, then closes.
 *
 * Natively (Node's `net`, the Linux stack) or as a rump client (the rumpnet
 * stack in a rump server) with one flag, same code:
 *
 *   npx tsx examples/src/write_server.ts --port 5001 --size 64k
 *   RUMP_SERVER=unix:///tmp/rump.sock npx tsx examples/src/write_server.ts --port 5001
 *   npx tsx examples/src/write_server.ts --rump --rump-server unix:///tmp/rump.sock
 *
 * Request (one line of JSON, from read_client): `{"seconds":2}` or
 * `{"bytes":104857600}`, optionally with `"size":1024` to override `--size`.
 * With `--json` it prints `{"event":"listening",...}` once and one
 * `{"event":"sent",...}` line per connection.
 */
import { Command } from 'commander';
import type { Socket } from 'node:net';
import { bytesArg, intArg, jsonLine } from './lib/cli.js';
import { applyServerUrl, loadNet, runMain, wantsRump } from './lib/select.js';

const MAX_SIZE = 16 * 1024 * 1024;
const MAX_SECONDS = 600;
const MAX_REQUEST = 1024;

interface Request {
  seconds: number;
  bytes: number;
  size: number;
}

/** Parses and bounds a request line; null for anything malformed. */
function parseRequest(line: string, dfltSize: number): Request | null {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null) return null;
  const r = o as Record<string, unknown>;
  const num = (v: unknown, lo: number, hi: number): number | null | undefined =>
    v === undefined ? undefined : typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi ? v : null;
  const seconds = num(r.seconds, 0.001, MAX_SECONDS);
  const bytes = num(r.bytes, 1, Number.MAX_SAFE_INTEGER);
  const size = num(r.size, 1, MAX_SIZE);
  if (seconds === null || bytes === null || size === null || (seconds === undefined && bytes === undefined)) return null;
  return { seconds: seconds ?? MAX_SECONDS, bytes: bytes ?? Number.MAX_SAFE_INTEGER, size: Math.floor(size ?? dfltSize) };
}

/**
 * Writes `req` to `sock` with backpressure: write until `write()` says the
 * buffer is full, then wait for `drain` — the same loop whether the socket
 * is Node's or the rump client's. Resolves with bytes and seconds.
 */
function pump(sock: Socket, req: Request): Promise<{ bytes: number; seconds: number }> {
  const buf = Buffer.alloc(req.size, 0x61);
  const t0 = performance.now();
  const deadline = t0 + req.seconds * 1000;
  let sent = 0;
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      sock.end(() => resolve({ bytes: sent, seconds: (performance.now() - t0) / 1000 }));
    };
    const loop = (): void => {
      for (;;) {
        if (sent >= req.bytes || performance.now() >= deadline) return finish();
        const n = Math.min(req.size, req.bytes - sent);
        sent += n;
        if (!sock.write(n === req.size ? buf : buf.subarray(0, n))) {
          sock.once('drain', loop);
          return;
        }
      }
    };
    sock.once('error', reject);
    sock.once('close', () => resolve({ bytes: sent, seconds: (performance.now() - t0) / 1000 }));
    loop();
  });
}

/** Reads the request line (bounded to {@link MAX_REQUEST} bytes). */
function readRequest(sock: Socket): Promise<string | null> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0 || text.length > MAX_REQUEST) {
        sock.off('data', onData);
        sock.pause();
        resolve(nl >= 0 ? text.slice(0, nl) : null);
      }
    };
    sock.on('data', onData);
    sock.once('end', () => resolve(null));
    sock.once('error', () => resolve(null));
  });
}

async function main(): Promise<void> {
  const opts = new Command('write_server')
    .description('Accept connections and write continuously with a given buffer size (the paper\'s write_server).')
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--port <n>', 'port to listen on (0: any)', intArg(0, 65535), 5001)
    .option('--size <bytes>', 'write buffer size (e.g. 1k, 64k, 4m)', bytesArg(1, MAX_SIZE), 65536)
    .option('--once', 'exit after the first connection')
    .option('--json', 'print JSON lines (for the benchmark harness)')
    .option('--rump', 'run as a rump client (or set RUMPNET=1 / RUMP_SERVER)')
    .option('--rump-server <url>', 'rump server URL (sets RUMP_SERVER)')
    .parse()
    .opts<{ host: string; port: number; size: number; once?: boolean; json?: boolean; rump?: boolean; rumpServer?: string }>();
  applyServerUrl(opts.rumpServer);
  const rump = wantsRump(opts.rump);
  const net = await loadNet(rump);
  const impl = rump ? 'rump' : 'native';

  const server = net.createServer((sock) => {
    void (async () => {
      const line = await readRequest(sock);
      const req = line === null ? null : parseRequest(line, opts.size);
      if (req === null) {
        sock.destroy();
        return;
      }
      sock.resume();
      const r = await pump(sock, req).catch(() => ({ bytes: 0, seconds: 0 }));
      if (opts.json) jsonLine({ event: 'sent', impl, size: req.size, bytes: r.bytes, seconds: r.seconds });
      else console.log(`sent ${r.bytes} bytes in ${r.seconds.toFixed(3)} s with ${req.size}-byte writes`);
      if (opts.once) server.close();
    })();
  });
  server.on('error', (err) => {
    process.stderr.write(`write_server: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const a = server.address();
    const port = typeof a === 'object' && a !== null ? a.port : opts.port;
    if (opts.json) jsonLine({ event: 'listening', impl, host: opts.host, port, size: opts.size, pid: process.pid });
    else console.log(`write_server (${impl}) listening on ${opts.host}:${port}, ${opts.size}-byte writes`);
  });
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

runMain('write_server', main);
