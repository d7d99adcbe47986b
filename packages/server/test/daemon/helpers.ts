/**
 * Test helpers for the rump server daemon: temporary socket paths, an
 * in-process {@link RumpServer} (fast), a real `rump-server` child process
 * (where the process boundary matters), polling with a deadline, and the
 * leak check every test ends with: no client, no descriptor, no socket,
 * every cluster and mbuf back in the pool.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { RumpConnection, inet, inet6 } from '@rumpnet/client';
import type { CtlNetstatResult, CtlServerInfo } from '../../src/proto/index.js';
import { defaultConfig } from '../../src/config.js';
import { RumpServer, type RumpServerOptions } from '../../src/server.js';

/** The repository root (the children run from there so `tsx` resolves). */
export const ROOT = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));
/** The daemon's entry point, run from source. */
export const CLI = join(ROOT, 'packages/server/src/cli.ts');
/** `rumpctl`'s entry point, run from source. */
export const RUMPCTL = join(ROOT, 'packages/server/src/rumpctl.ts');

const dirs: string[] = [];

/** A fresh private temporary directory (removed by {@link cleanup}). */
export function tmpDir(prefix = 'rumpnet-srv-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A fresh socket path in a private temporary directory. */
export function tmpSock(name = 'rump.sock'): string {
  return join(tmpDir(), name);
}

/** Removes the directories made by {@link tmpDir}. */
export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` every 10 ms until it holds; throws `what` after `ms`. */
export async function waitFor(pred: () => boolean, what: string, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Starts an in-process server on a fresh socket path with the defaults and `overrides`. */
export async function startServer(overrides: Parameters<typeof defaultConfig>[0] = {}, opts: RumpServerOptions = {}): Promise<RumpServer> {
  const cfg = defaultConfig({ listen: { kind: 'unix', path: tmpSock() }, ...overrides });
  return RumpServer.start(cfg, opts);
}

/**
 * The leak check: waits until the server has no client process, no
 * descriptor and no socket, and its pool has every cluster and mbuf back.
 */
export async function expectQuiet(srv: RumpServer, ms = 3000): Promise<void> {
  try {
    await waitFor(() => {
      const s = srv.snapshot();
      return s.clients === 0 && s.fds === 0 && s.sockets === 0 && s.poolAllFree;
    }, 'the server to be quiet', ms);
  } catch {
    const s = srv.snapshot();
    expect({ clients: s.clients, fds: s.fds, sockets: s.sockets, clustersInUse: s.pool.clustersInUse, mbufsInUse: s.pool.mbufsInUse }).to.deep.equal({
      clients: 0,
      fds: 0,
      sockets: 0,
      clustersInUse: 0,
      mbufsInUse: 0,
    });
  }
}

/**
 * The leak check for a server in another process, over the control
 * protocol (what `rumpctl clients` and `rumpctl netstat -m` read): waits
 * until the server has no socket, no descriptor, and every cluster and mbuf
 * back in its pool. The checking connection itself holds no descriptor.
 * `countSockets: false` tolerates sockets no descriptor refers to (a TCP
 * connection in TIME_WAIT lives on for 2 MSL, holding no data).
 */
export async function expectQuietRemote(url: string, ms = 3000, opts: { countSockets?: boolean } = {}): Promise<void> {
  const countSockets = opts.countSockets ?? true;
  const c = await RumpConnection.connect(url, { name: 'leak-check' });
  try {
    let last: Record<string, number> = {};
    const until = Date.now() + ms;
    for (;;) {
      const who = await c.call<{ server: CtlServerInfo }>('ctl.clients', {});
      const m = await c.call<CtlNetstatResult>('ctl.netstat', { what: 'mbufs' });
      last = { sockets: countSockets ? who.server.sockets : 0, fds: who.server.fds, clustersInUse: m.mbufs!.pool.clustersInUse!, mbufsInUse: m.mbufs!.pool.mbufsInUse! };
      if (Object.values(last).every((v) => v === 0) || Date.now() > until) break;
      await sleep(20);
    }
    expect(last).to.deep.equal({ sockets: 0, fds: 0, clustersInUse: 0, mbufsInUse: 0 });
  } finally {
    await c.close();
  }
}

/** Hex sha256 of some bytes. */
export function sha256(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Deterministic pseudo-random bytes (xorshift32), so a failing run can be repeated. */
export function patternBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 255;
  }
  return b;
}

/** A `rump-server` child process. */
export interface ServerProcess {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Everything it printed on stdout so far. */
  stdout(): string;
  /** Everything it printed on stderr so far (the JSON log lines). */
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once it exited. */
  readonly exited: Promise<number | string>;
}

/**
 * Spawns `node --import tsx packages/server/src/cli.ts ...args` and waits
 * until it says it is listening (or exits, or `ms` pass). The child is
 * killed by {@link killAll} if a test leaves it running.
 */
export async function spawnServer(args: string[], ms = 15_000, env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | string>((r) =>
    proc.once('exit', (code, sig) => {
      children.delete(proc);
      r(code ?? sig ?? -1);
    }),
  );
  const sp: ServerProcess = { proc, stdout: () => out, stderr: () => err, exited };
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(() => gone || out.includes('listening on'), `rump-server to start (stderr: ${err})`, ms);
  return sp;
}

/** Runs `node --import tsx packages/server/src/cli.ts ...args` to completion (for usage errors). */
export function runServerToExit(args: string[], ms = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode([CLI, ...args], ms);
}

/** Runs `node --import tsx packages/server/src/rumpctl.ts ...args` to completion. */
export function runRumpctlProcess(args: string[], ms = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode([RUMPCTL, ...args], ms);
}

function runNode(args: string[], ms: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT });
    children.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not finish in ${ms} ms`));
    }, ms);
    p.once('close', (code) => {
      clearTimeout(t);
      children.delete(p);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

const children = new Set<ChildProcessWithoutNullStreams>();

/** Kills (SIGKILL) every child a test left running, by its own handle. */
export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** Two clients of one in-process server, made before each test and checked quiet and closed after it. */
export interface TwoClients {
  srv: RumpServer;
  a: RumpConnection;
  b: RumpConnection;
}

/**
 * Mocha hooks for a describe block whose tests talk between two clients of
 * one in-process server (batched copyin, coalesced receives). Returns the
 * live handles (filled in by `beforeEach`).
 */
export function twoClientsEach(): TwoClients {
  const t = {} as TwoClients;
  beforeEach(async () => {
    t.srv = await startServer({ mclnum: 16, rxMode: 'coalesced' });
    t.a = await RumpConnection.connect(t.srv.url, { name: 'a' });
    t.b = await RumpConnection.connect(t.srv.url, { name: 'b' });
  });
  afterEach(async () => {
    await t.a.close();
    await t.b.close();
    await expectQuiet(t.srv);
    await t.srv.close();
  });
  after(() => cleanup());
  return t;
}

/** A TCP connection on the stack's lo0 from `tx` to `rx` (IPv4, or IPv6 with `v6`); returns both descriptors. */
export async function tcpPair(tx: RumpConnection, rx: RumpConnection, port: number, v6 = false): Promise<{ s: number; r: number }> {
  const at = v6 ? inet6('::1', port) : inet('127.0.0.1', port);
  const l = await rx.sys.socket('stream', { domain: v6 ? 'inet6' : 'inet' });
  await rx.sys.bind(l, at);
  await rx.sys.listen(l, 4);
  const s = await tx.sys.socket('stream', { domain: v6 ? 'inet6' : 'inet' });
  const acc = rx.sys.accept(l);
  await tx.sys.connect(s, at);
  const r = (await acc).fd;
  await rx.sys.close(l);
  return { s, r };
}

/** Reads exactly `n` bytes from `fd` (bounded loop; fewer at end of stream). */
export async function readN(rx: RumpConnection, fd: number, n: number): Promise<Buffer> {
  const out = Buffer.alloc(n);
  let got = 0;
  for (let i = 0; i < 10_000 && got < n; i++) {
    const k = await rx.sys.recv(fd, out.subarray(got));
    if (k === 0) break;
    got += k;
  }
  return out.subarray(0, got);
}
