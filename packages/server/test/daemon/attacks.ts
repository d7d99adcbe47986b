/**
 * Misbehaving rump clients and the well-behaved one measured beside them,
 * shared by the quota tests (test/daemon/quota.test.ts, sessions.test.ts)
 * and the benchmark (bench/quota.bench.ts). Every attack is local — rump
 * clients of a server on a Unix socket, TCP on the server's lo0 — and stops
 * by itself within its time budget, or when `stop()` is called.
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { RumpConnection, inet } from '@rumpnet/client';
import { HEADER_SIZE, Hdr, MsgClass, MsgType, encodeFrame, unpackHead, type CtlNetstatResult, type CtlUsageResult } from '../../src/proto/index.js';
import { rawClient, type RawClient } from '../proto/helpers.js';
import { patternBytes, sha256, sleep } from './helpers.js';

const MiB = 1024 * 1024;
/** `MSG_DONTWAIT` (Linux value). */
const DONTWAIT = 0x40;

/** The path of a `unix://` URL. */
export function pathOf(url: string): string {
  return url.replace(/^unix:\/\//, '');
}

/** Resident memory of process `pid` in bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** What the good client did. */
export interface GoodResult {
  readonly ms: number;
  readonly bytes: number;
  /** The receiver's sha256 equals the sender's. */
  readonly intact: boolean;
}

/**
 * The well-behaved client: one rump connection moves `bytes` (default 8 MiB)
 * through a TCP connection on lo0 to itself, sending 256 KiB at a time while
 * it reads, and checks the sha256 of what arrived. Fails (throws) on any
 * error or after `ms`.
 */
export async function goodTransfer(url: string, port: number, bytes = 8 * MiB, ms = 30_000): Promise<GoodResult> {
  const c = await RumpConnection.connect(url, { name: 'good' });
  const deadline = setTimeout(() => void c.close(), ms);
  try {
    const data = patternBytes(bytes, port);
    const t0 = performance.now();
    const l = await c.sys.socket('stream');
    await c.sys.setsockopt(l, 'socket', 'SO_REUSEADDR', true);
    await c.sys.bind(l, inet('127.0.0.1', port));
    await c.sys.listen(l, 4);
    const s = await c.sys.socket('stream');
    const [, acc] = await Promise.all([c.sys.connect(s, inet('127.0.0.1', port)), c.sys.accept(l)]);
    const r = acc.fd;
    const got = Buffer.alloc(bytes);
    const reader = (async () => {
      let at = 0;
      while (at < bytes) {
        const n = await c.sys.recv(r, got.subarray(at, Math.min(bytes, at + 256 * 1024)));
        if (n === 0) throw new Error(`EOF after ${at} bytes`);
        at += n;
      }
    })();
    for (let at = 0; at < bytes; ) at += await c.sys.send(s, data.subarray(at, Math.min(bytes, at + 256 * 1024)));
    await reader;
    const elapsed = performance.now() - t0;
    for (const fd of [s, r, l]) await c.sys.close(fd);
    return { ms: elapsed, bytes, intact: sha256(got) === sha256(data) };
  } finally {
    clearTimeout(deadline);
    await c.close();
  }
}

/** A running attack. */
export interface Attack<R> {
  /** Ends it (closes its connections) and resolves with what it saw. */
  stop(): Promise<R>;
}

/** A syscall over a raw protocol connection; resolves with the reply head. */
function rawCall(raw: RawClient, next: { reqno: number }, name: string, args: unknown, ms = 10_000): Promise<Record<string, unknown>> {
  const reqno = next.reqno++;
  raw.send(MsgClass.REQ, MsgType.SYSCALL, reqno, { name, args });
  return raw
    .next((f) => f.meta.reqno === reqno && f.meta.cls !== MsgClass.REQ, ms)
    .then((f) => (f.meta.head ?? {}) as Record<string, unknown>);
}

/**
 * A raw protocol client that never answers COPYIN: it connects `sockets`
 * TCP sockets to its own listener and keeps a 1 MiB `sendto` outstanding on
 * each — every one pins clusters until its copy times out — starting again
 * as each fails. Reports the errnos its sends got.
 */
export async function neverAnswerCopyins(url: string, port: number, sockets = 32): Promise<Attack<{ errnos: Record<number, number>; calls: number }>> {
  const raw = await rawClient(pathOf(url));
  const next = { reqno: 100 };
  const errnos: Record<number, number> = {};
  let calls = 0;
  let running = true;
  const l = (await rawCall(raw, next, 'socket', { domain: 'inet', type: 'stream' })).result as { fd: number };
  await rawCall(raw, next, 'bind', { fd: l.fd, addr: inet('127.0.0.1', port) });
  await rawCall(raw, next, 'listen', { fd: l.fd, backlog: 128 });
  const fds: number[] = [];
  for (let i = 0; i < sockets; i++) {
    const s = (await rawCall(raw, next, 'socket', { domain: 'inet', type: 'stream' })).result as { fd: number };
    await rawCall(raw, next, 'connect', { fd: s.fd, addr: inet('127.0.0.1', port) });
    await rawCall(raw, next, 'accept', { fd: l.fd }); // keep the listen queue short
    fds.push(s.fd);
  }
  const loops = fds.map(async (fd) => {
    while (running) {
      calls++;
      const h = await rawCall(raw, next, 'sendto', { fd, buf: 1, len: MiB }, 60_000).catch(() => ({ errno: -1 }));
      const e = typeof h.errno === 'number' ? h.errno : 0;
      errnos[e] = (errnos[e] ?? 0) + 1;
      // The frames seen are kept by the raw client: drop them, the attack runs for a while.
      raw.frames.length = 0;
      // Refused at once (ENOBUFS): try again soon, without spinning — a flood of
      // cheap calls is a CPU matter, not the cluster quota this attack is about.
      if (e !== 0 && e !== 14) await sleep(200);
    }
  });
  void Promise.all(loops);
  return {
    async stop() {
      running = false;
      raw.sock.destroy();
      return { errnos, calls };
    },
  };
}

/**
 * A client that fills TCP connections on lo0 and never reads them: pairs
 * to its own listener (optionally with `bufBytes` socket buffers), each
 * filled with non-blocking sends until refused, until a send fails with
 * ENOBUFS (its quota) or `maxPairs` are full. Reports what stopped it.
 */
export async function fillLo0(
  url: string,
  port: number,
  opts: { maxPairs?: number; bufBytes?: number; name?: string } = {},
): Promise<Attack<{ pairs: number; bytes: number; codes: string[] }> & { readonly done: Promise<void> }> {
  const c = await RumpConnection.connect(url, { name: opts.name ?? 'lo0-filler' });
  const codes: string[] = [];
  let pairs = 0;
  let bytes = 0;
  let running = true;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const done = (async () => {
    const l = await c.sys.socket('stream');
    await c.sys.bind(l, inet('127.0.0.1', port));
    await c.sys.listen(l, 128);
    for (let i = 0; i < (opts.maxPairs ?? 64) && running; i++) {
      const s = await c.sys.socket('stream');
      if (opts.bufBytes !== undefined) {
        for (const o of ['SO_SNDBUF', 'SO_RCVBUF']) {
          await c.sys.setsockopt(s, 'socket', o, opts.bufBytes).catch((e: NodeJS.ErrnoException) => codes.push(`${o}:${e.code}`));
        }
      }
      await Promise.all([c.sys.connect(s, inet('127.0.0.1', port)), c.sys.accept(l)]);
      pairs++;
      // Fill until this connection takes no more (its own buffers, or the quota).
      for (let k = 0; k < 4096 && running; k++) {
        try {
          const n = await c.sys.send(s, chunk, DONTWAIT);
          bytes += n;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? String(e);
          codes.push(code);
          if (code === 'ENOBUFS') return;
          break; // EAGAIN: this pair is full; open the next
        }
      }
    }
  })();
  return {
    done,
    async stop() {
      running = false;
      await Promise.race([done.catch(() => undefined), sleep(2000)]);
      await c.close();
      return { pairs, bytes, codes };
    },
  };
}

/**
 * A client that pipelines requests and never reads the replies: PINGs,
 * written as fast as the server takes them, for at most `ms` or until the
 * server stops reading (its writes wait more than a second for drain).
 * Reports how many it got written and whether it was backpressured.
 */
export async function pipelineNoRead(url: string, ms = 4000): Promise<Attack<{ sent: number; stalled: boolean }> & { readonly done: Promise<void> }> {
  const raw = await rawClient(pathOf(url));
  raw.sock.pause(); // never read again
  const frames = 65_536;
  const burst = Buffer.alloc(frames * HEADER_SIZE);
  for (let i = 0; i < frames; i++) burst.set(encodeFrame(MsgClass.REQ, MsgType.PING, 1000 + i, undefined), i * HEADER_SIZE);
  let sent = 0;
  let stalled = false;
  let running = true;
  const until = Date.now() + ms;
  const done = (async () => {
    while (running && Date.now() < until && !raw.sock.destroyed) {
      if (raw.sock.write(burst)) {
        sent += frames;
        await new Promise((r) => setImmediate(r));
        continue;
      }
      sent += frames;
      const drained = await Promise.race([new Promise<boolean>((r) => raw.sock.once('drain', () => r(true))), sleep(1000).then(() => false)]);
      if (!drained) {
        stalled = true;
        return;
      }
    }
  })();
  return {
    done,
    async stop() {
      running = false;
      raw.sock.destroy();
      await done;
      return { sent, stalled };
    },
  };
}

/**
 * `n` sessions, each holding a half-sent frame as large as the server
 * accepts: even ones a 64 KiB head short of one byte, odd ones a request
 * whose payload (which requests may not carry) is one byte short. Resolves
 * once all have sent their part.
 */
export async function partialFrames(url: string, n: number, maxClientFrame: number): Promise<{ clients: RawClient[]; closeAll(): void }> {
  const clients: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const raw = await rawClient(pathOf(url));
    const hdr = Buffer.alloc(HEADER_SIZE);
    const headLen = i % 2 === 0 ? 64 * 1024 : 0;
    hdr.writeUInt32LE(maxClientFrame, Hdr.LEN);
    hdr.writeUInt32LE(50, Hdr.REQNO);
    hdr.writeUInt8(MsgClass.REQ, Hdr.CLASS);
    hdr.writeUInt8(MsgType.SYSCALL, Hdr.TYPE);
    hdr.writeUInt32LE(headLen, Hdr.HEADLEN);
    raw.sock.write(hdr);
    raw.sock.write(Buffer.alloc((headLen > 0 ? headLen : maxClientFrame - HEADER_SIZE) - 1, 0xc1));
    clients.push(raw);
  }
  return { clients, closeAll: () => clients.forEach((c) => c.sock.destroy()) };
}

/**
 * Connects once and reads what the server says before any handshake:
 * the ERROR head when it refuses (banner, ERROR reqno 0, close), or
 * undefined when it would serve (the connection is then closed unused).
 */
export function refusalOf(url: string, ms = 3000): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ path: pathOf(url) });
    let buf = Buffer.alloc(0);
    const finish = (v: Record<string, unknown> | undefined): void => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => finish(undefined), ms);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      const rest = buf.subarray(nl + 1);
      if (rest.length === 0) {
        // A served session says nothing more until the handshake: give it a moment.
        setTimeout(() => finish(undefined), 50);
        return;
      }
      if (rest.length < HEADER_SIZE) return;
      const len = rest.readUInt32LE(Hdr.LEN);
      if (rest.length < len) return;
      finish(unpackHead(rest.subarray(HEADER_SIZE, len)) as Record<string, unknown>);
    });
    s.on('error', () => finish(undefined));
    s.on('close', () => {
      if (buf.length === 0) finish(undefined);
    });
  });
}

/** `ctl.usage` and the pool's clusters in use, over a fresh control connection. */
export async function usageNow(url: string): Promise<{ usage: CtlUsageResult; clustersInUse: number }> {
  const c = await RumpConnection.connect(url, { name: 'usage-check' });
  try {
    const usage = await c.call<CtlUsageResult>('ctl.usage', {});
    const m = await c.call<CtlNetstatResult>('ctl.netstat', { what: 'mbufs' });
    return { usage, clustersInUse: m.mbufs!.pool.clustersInUse! };
  } finally {
    await c.close();
  }
}
