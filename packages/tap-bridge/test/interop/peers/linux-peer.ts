/**
 * A Linux-side peer for the interoperability tests. It runs inside the
 * test's network namespace (`ns.spawnNode`), so its sockets are the Linux
 * kernel's: it is the "real" host the stack must talk to.
 *
 * `linux-peer.ts MODE args...` prints one JSON object per line on stdout:
 * `{"event":"ready"}` once listening/bound, then mode-specific events, and
 * `{"event":"error",...}` on an unexpected failure. Every wait is bounded
 * (the process gives up after `--deadline` ms, default 120 s).
 *
 * Modes:
 * - `udp-echo IP PORT`: echo every datagram back to its sender.
 * - `udp-send DST PORT SIZES`: send a datagram of each size (comma list),
 *   expect it back byte for byte; event `udp` per size, then `done`.
 * - `tcp-sink IP PORT`: accept; per connection hash everything received
 *   until the peer's FIN (`conn-end` {bytes, sha256}), then close our side.
 * - `tcp-source IP PORT BYTES`: accept; per connection send BYTES random
 *   bytes and close first (`sent` {bytes, sha256}); `closed` when fully closed.
 * - `tcp-echo IP PORT`: accept; echo everything; close after the peer's FIN.
 * - `tcp-send DST PORT BYTES`: connect, send BYTES random bytes, close first
 *   (`sent`), wait for the peer's FIN (`closed`), exit.
 * - `tcp-recv DST PORT`: connect, read until the peer closes first
 *   (`received` {bytes, sha256}), then close, exit.
 * - `tcp-many DST PORT N BYTES`: N concurrent connections, each sends BYTES,
 *   reads the echo, checks it and closes; `many` {ok, failed}, exit.
 * - `tcp-refused DST PORT`: connect to a closed port; `refused` {code}, exit.
 * - `tcp-discard IP PORT` (benchmark): accept; count what arrives until the
 *   peer's FIN (`conn-end` {bytes}, no hashing), then close.
 * - `tcp-blast DST PORT BYTES` (benchmark): connect, send BYTES of one
 *   repeated buffer (no hashing), close first (`sent`), exit.
 */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

type Json = Record<string, unknown>;

function emit(event: string, fields: Json = {}): void {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

function fail(e: unknown): never {
  const err = e as NodeJS.ErrnoException;
  emit('error', { message: String(err?.message ?? e), code: err?.code });
  process.exit(2);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
// Never outlive the test by much, whatever happens.
const deadline = Number(process.env.PEER_DEADLINE_MS ?? 120_000);
setTimeout(() => fail(new Error(`peer deadline ${deadline} ms passed`)), deadline).unref();

const [mode, ...args] = process.argv.slice(2);
const CHUNK = 256 * 1024;

/** The same bytes for the same (size, seed) as the test's `pattern()`: xorshift32. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Writes `total` random bytes to `sock` with back-pressure; resolves with their sha256. */
async function sendRandom(sock: net.Socket, total: number): Promise<string> {
  const h = createHash('sha256');
  let left = total;
  for (let i = 0; left > 0 && i < 1 << 24; i++) {
    const n = Math.min(CHUNK, left);
    const b = randomBytes(n);
    h.update(b);
    left -= n;
    if (!sock.write(b)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          sock.off('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          sock.off('drain', onDrain);
          reject(new Error('connection closed while sending'));
        };
        sock.once('drain', onDrain);
        sock.once('close', onClose);
      });
    }
  }
  return h.digest('hex');
}

/** Hashes everything `sock` receives until the peer's FIN. */
function hashUntilEnd(sock: net.Socket): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  sock.on('data', (d: Buffer) => {
    h.update(d);
    bytes += d.length;
  });
  return new Promise((resolve, reject) => {
    sock.once('end', () => resolve({ bytes, sha256: h.digest('hex') }));
    sock.once('error', reject);
  });
}

function listen(ip: string, port: number, onConn: (s: net.Socket, id: number) => void): void {
  let id = 0;
  const srv = net.createServer({ noDelay: true }, (s) => onConn(s, id++));
  srv.on('error', fail);
  srv.listen({ host: ip, port, backlog: 1024 }, () => emit('ready', { port }));
}

function connect(dst: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: dst, port, noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function main(): Promise<void> {
  switch (mode) {
    case 'udp-echo': {
      const [ip, port] = args;
      const s = dgram.createSocket({ type: ip!.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
      s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
      s.on('error', fail);
      s.bind(Number(port), ip, () => emit('ready', { port: s.address().port }));
      return;
    }
    case 'udp-send': {
      const [dst, port, list] = args;
      const sizes = list!.split(',').map(Number);
      const s = dgram.createSocket({ type: dst!.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
      s.on('error', fail);
      await new Promise<void>((r) => s.bind(0, () => r()));
      emit('ready');
      let waiting: ((m: Buffer) => void) | undefined;
      s.on('message', (m) => waiting?.(m));
      for (const [i, n] of sizes.entries()) {
        const data = pattern(n, n + 1000);
        // Up to 3 tries of 2 s: the first may wait on ARP, nothing else should be lost.
        let got: Buffer | undefined;
        let tries = 0;
        for (; tries < 3 && got === undefined; tries++) {
          const p = new Promise<Buffer | undefined>((resolve) => {
            const timer = setTimeout(() => resolve(undefined), 2000);
            waiting = (m) => {
              if (m.length !== n) return; // a late echo of an earlier size
              clearTimeout(timer);
              resolve(m);
            };
          });
          s.send(data, Number(port), dst);
          got = await p;
        }
        waiting = undefined;
        emit('udp', { index: i, size: n, ok: got !== undefined && got.equals(data), got: got?.length ?? null, tries });
      }
      emit('done');
      s.close();
      return;
    }
    case 'tcp-sink': {
      const [ip, port] = args;
      listen(ip!, Number(port), (s, id) => {
        s.on('error', (e) => emit('conn-error', { id, code: (e as NodeJS.ErrnoException).code }));
        hashUntilEnd(s).then(
          (r) => {
            emit('conn-end', { id, ...r });
            s.end();
          },
          () => {},
        );
        s.once('close', () => emit('closed', { id }));
      });
      return;
    }
    case 'tcp-source': {
      const [ip, port, bytes] = args;
      listen(ip!, Number(port), (s, id) => {
        s.on('error', (e) => emit('conn-error', { id, code: (e as NodeJS.ErrnoException).code }));
        let peerEnded = false;
        s.once('end', () => (peerEnded = true));
        s.resume();
        sendRandom(s, Number(bytes)).then(
          (sha256) => {
            s.end(); // Linux closes first
            emit('sent', { id, bytes: Number(bytes), sha256 });
          },
          () => {},
        );
        s.once('close', (hadError) => emit('closed', { id, hadError, peerEnded }));
      });
      return;
    }
    case 'tcp-echo': {
      const [ip, port] = args;
      listen(ip!, Number(port), (s, id) => {
        s.on('error', (e) => emit('conn-error', { id, code: (e as NodeJS.ErrnoException).code }));
        s.pipe(s); // ends our side after the peer's FIN
        s.once('close', () => emit('closed', { id }));
      });
      return;
    }
    case 'tcp-send': {
      const [dst, port, bytes] = args;
      emit('ready');
      const s = await connect(dst!, Number(port));
      const ended = new Promise<void>((r) => s.once('end', () => r()));
      s.resume();
      const sha256 = await sendRandom(s, Number(bytes));
      s.end(); // Linux closes first
      emit('sent', { bytes: Number(bytes), sha256 });
      await ended;
      await new Promise<void>((r) => (s.closed ? r() : s.once('close', () => r())));
      emit('closed');
      return;
    }
    case 'tcp-recv': {
      const [dst, port] = args;
      emit('ready');
      const s = await connect(dst!, Number(port));
      const r = await hashUntilEnd(s);
      emit('received', r);
      s.end();
      await new Promise<void>((res) => (s.closed ? res() : s.once('close', () => res())));
      emit('closed');
      return;
    }
    case 'tcp-many': {
      const [dst, port, count, bytes] = args;
      emit('ready');
      const n = Number(count);
      const size = Number(bytes);
      const failed: string[] = [];
      let ok = 0;
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          try {
            const s = await connect(dst!, Number(port));
            const data = pattern(size, i + 1);
            const echoed = hashUntilEnd(s);
            s.end(data);
            const r = await echoed;
            const want = createHash('sha256').update(data).digest('hex');
            if (r.bytes === size && r.sha256 === want) ok++;
            else failed.push(`${i}: ${r.bytes} bytes`);
          } catch (e) {
            failed.push(`${i}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
          }
        }),
      );
      emit('many', { ok, failed: failed.slice(0, 20), nfailed: failed.length });
      return;
    }
    case 'tcp-refused': {
      const [dst, port] = args;
      emit('ready');
      try {
        const s = await connect(dst!, Number(port));
        s.destroy();
        emit('refused', { code: null });
      } catch (e) {
        emit('refused', { code: (e as NodeJS.ErrnoException).code });
      }
      return;
    }
    case 'tcp-discard': {
      const [ip, port] = args;
      listen(ip!, Number(port), (s, id) => {
        let bytes = 0;
        s.on('data', (d: Buffer) => (bytes += d.length));
        s.once('end', () => {
          emit('conn-end', { id, bytes });
          s.end();
        });
        s.on('error', (e) => emit('conn-error', { id, code: (e as NodeJS.ErrnoException).code }));
      });
      return;
    }
    case 'tcp-blast': {
      const [dst, port, bytes] = args;
      emit('ready');
      const s = await connect(dst!, Number(port));
      s.resume();
      const buf = randomBytes(CHUNK);
      let left = Number(bytes);
      for (let i = 0; left > 0 && i < 1 << 24; i++) {
        const b = left >= CHUNK ? buf : buf.subarray(0, left);
        left -= b.length;
        if (!s.write(b)) await new Promise<void>((r) => s.once('drain', () => r()));
      }
      s.end();
      emit('sent', { bytes: Number(bytes) });
      await new Promise<void>((r) => (s.closed ? r() : s.once('close', () => r())));
      return;
    }
    default:
      fail(new Error(`unknown mode ${mode}`));
  }
}

main().catch(fail);
