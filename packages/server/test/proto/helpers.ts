/** Test helpers: temporary socket paths, an in-process memfile server, and a hostile raw client. */
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FrameReader,
  MsgClass,
  writeFrame,
  type FrameMeta,
} from '../../src/proto/index.js';
import { RumpListener, type ListenerOptions, type SessionLimits, type StackParams } from '../../src/session/index.js';
import { createMemfile, type Memfile } from './memfile.js';

const dirs: string[] = [];

/** A fresh socket path in a private temporary directory (removed by {@link cleanupDirs}). */
export function tmpSock(name = 'rump.sock'): string {
  const d = mkdtempSync(join(tmpdir(), 'rumpnet-proto-'));
  dirs.push(d);
  return join(d, name);
}

/** Removes the temporary directories made by {@link tmpSock}. */
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** An in-process memfile server. */
export interface TestServer {
  readonly listener: RumpListener;
  readonly mem: Memfile;
  readonly url: string;
}

/** Starts a memfile server on a fresh path; every session's close is recorded in `mem.closedSessions`. */
export async function startServer(
  params: StackParams = { mclbytes: 2048, mclnum: 1, rxMode: 'per-mbuf' },
  limits: Partial<SessionLimits> = {},
  extra: Partial<ListenerOptions> = {},
  path = tmpSock(),
): Promise<TestServer> {
  const mem = createMemfile(params);
  const listener = await RumpListener.listen(path, {
    handlers: mem.handlers,
    schemas: mem.schemas,
    params,
    limits,
    onSession: (s) => s.onClose(() => void mem.closedSessions.push(s.id)),
    ...extra,
  });
  return { listener, mem, url: `unix://${path}` };
}

/** A frame as seen by the raw client. */
export interface RawFrame {
  readonly meta: FrameMeta;
  readonly payload: Buffer | undefined;
}

/** A hand-driven client that can send anything. */
export interface RawClient {
  readonly sock: net.Socket;
  readonly frames: RawFrame[];
  readonly banner: string;
  /** Resolves with the first frame (already received or future) matching `pred`; rejects after `ms`. */
  next(pred: (f: RawFrame) => boolean, ms?: number): Promise<RawFrame>;
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<void>;
  /** Writes a frame (`flags`: FrameFlag bits). */
  send(cls: 0 | 1 | 2, type: number, reqno: number, head: unknown, payload?: Uint8Array[], flags?: number): void;
}

/** Connects a raw client, reads the banner and (unless told not to) does the handshake. */
export async function rawClient(path: string, opts: { handshake?: boolean; version?: number; hello?: Record<string, unknown> } = {}): Promise<RawClient> {
  const sock = net.connect({ path });
  const frames: RawFrame[] = [];
  const waiters: { pred: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void }[] = [];
  let banner = '';
  let inBanner = true;
  const reader = new FrameReader(
    {
      payloadSink: () => undefined,
      frame: (meta, payload) => {
        const f = { meta, payload: payload ? Buffer.from(payload) : undefined };
        frames.push(f);
        for (const w of waiters.splice(0)) {
          if (w.pred(f)) w.resolve(f);
          else waiters.push(w);
        }
      },
      malformed: () => undefined,
      fatal: () => undefined,
    },
    { maxFrame: 1 << 24 },
  );
  const bannerDone = new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.on('data', (chunk: Buffer) => {
      if (!inBanner) return reader.push(chunk);
      const nl = chunk.indexOf(0x0a);
      banner += chunk.toString('latin1', 0, nl < 0 ? chunk.length : nl);
      if (nl < 0) return;
      inBanner = false;
      resolve();
      reader.push(chunk.subarray(nl + 1));
    });
  });
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  await bannerDone;
  const c: RawClient = {
    sock,
    frames,
    banner,
    closed,
    next(pred, ms = 3000) {
      const have = frames.find(pred);
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no such frame in time')), ms);
        waiters.push({ pred, resolve: (f) => (clearTimeout(t), resolve(f)) });
      });
    },
    send(cls, type, reqno, head, payload = [], flags = 0) {
      writeFrame(sock, cls, type, reqno, head, payload, flags);
    },
  };
  if (opts.handshake !== false) {
    c.send(MsgClass.REQ, 1, 1, { version: opts.version ?? 1, pid: process.pid, name: 'raw', ...opts.hello });
    await c.next((f) => f.meta.reqno === 1);
  }
  return c;
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
