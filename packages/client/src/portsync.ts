/**
 * `listen(0)` with the port known when it returns, as Node's contract has it
 * (`server.listen(0); server.address().port` is the port; libuv binds and
 * listens synchronously). A rump listen is system calls to another
 * process, so the port is learnt with one SYNCHRONOUS round trip: a worker
 * thread holding its own connection to the rump server binds a scratch
 * socket to `address:0`, reads the port the stack chose (`getsockname`),
 * closes it and writes the port into shared memory, while the main thread
 * waits on that word with `Atomics.wait`. The listen then binds that port
 * explicitly, asynchronously as before.
 *
 * Between the scratch socket's close and the listener's bind another
 * socket could take the port only by binding it by number: the stack's
 * ephemeral allocation (`in_pcbbind`'s anonymous port search) walks down
 * from the last port it gave, so it will not hand the same port out again
 * until it has gone round the whole range. Docs: ARCHITECTURE.md, "listen(0)".
 *
 * The first call starts the worker (tens of milliseconds, once per
 * process); each later one blocks for one round trip. When the worker cannot
 * answer within {@link SYNC_TIMEOUT_MS} (no server, a stuck server) the
 * caller falls back to an asynchronous `bind(0)`, whose port `address()`
 * reports once `'listening'` has been emitted.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseServerUrl } from './wire.js';
import { Worker } from 'node:worker_threads';

/** Longest the main thread blocks for a port. */
export const SYNC_TIMEOUT_MS = 5000;

interface PortWorker {
  readonly worker: Worker;
  readonly state: Int32Array;
  seq: number;
}

const workers = new Map<string, PortWorker>();

/**
 * The worker's script: the built one. Run from source (tsx), this module still
 * starts dist/'s worker — a worker loading TypeScript through loader hooks
 * cannot finish loading while the main thread is blocked waiting for it.
 */
function workerScript(): URL | undefined {
  const u = new URL(import.meta.url.endsWith('.ts') ? '../dist/src/port-worker.js' : './port-worker.js', import.meta.url);
  return existsSync(u) ? u : undefined;
}

function start(url: string): PortWorker | undefined {
  const script = workerScript();
  if (script === undefined) return undefined;
  const shared = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
  const name = process.argv[1] ? process.argv[1].replace(/^.*\//, '') : 'node';
  const worker = new Worker(script, {
    workerData: { url, shared, name },
    // Not the program's own --import/--require: the hijack must not load in the worker,
    // whose connection is the plain one.
    execArgv: [],
    env: process.env,
    stdout: false,
    stderr: false,
  });
  worker.unref(); // the process's lifetime is its sockets', not this helper's
  const w: PortWorker = { worker, state: new Int32Array(shared), seq: 0 };
  worker.once('exit', () => {
    if (workers.get(url) === w) workers.delete(url);
  });
  worker.once('error', () => {
    if (workers.get(url) === w) workers.delete(url);
  });
  workers.set(url, w);
  return w;
}

let enabled = process.env.RUMPNET_SYNC_LISTEN !== '0';

/**
 * Turns the synchronous port of `listen(0)` on or off for this process
 * (default on; `RUMPNET_SYNC_LISTEN=0` in the environment turns it off).
 * Off, a `listen(0)` binds port 0 asynchronously and `address()` has the
 * port from `'listening'` on.
 */
export function setSyncListen(on: boolean): void {
  enabled = on;
}

const servedHere = new Map<string, boolean>();

/**
 * True when THIS process listens on the rump server's socket (a server in
 * the same process, as in tests): its thread would be the one blocked, so
 * the answer could never come. Read from /proc (the process's socket
 * inodes against the listening sockets of /proc/net/unix and tcp); false
 * where /proc cannot tell.
 */
function serverInThisProcess(url: string): boolean {
  let here = servedHere.get(url);
  if (here !== undefined) return here;
  here = false;
  try {
    const a = parseServerUrl(url);
    const mine = new Set<string>();
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (m) mine.add(m[1]!);
      } catch {
        /* closed meanwhile */
      }
    }
    if (a.kind === 'unix') {
      const path = resolve(a.path);
      // Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 is __SO_ACCEPTCON (listening).
      here = readFileSync('/proc/net/unix', 'utf8').split('\n').some((l) => {
        const f = l.trim().split(/\s+/);
        return f.length >= 8 && f[7] === path && (parseInt(f[3]!, 16) & 0x10000) !== 0 && mine.has(f[6]!);
      });
    } else {
      const hex = a.port.toString(16).toUpperCase().padStart(4, '0');
      // sl local_address rem_address st ... inode (field 9); st 0A is LISTEN.
      here = ['/proc/net/tcp', '/proc/net/tcp6'].some((file) => {
        if (!existsSync(file)) return false;
        return readFileSync(file, 'utf8').split('\n').some((l) => {
          const f = l.trim().split(/\s+/);
          return f.length >= 10 && f[1]!.endsWith(`:${hex}`) && f[3] === '0A' && mine.has(f[9]!);
        });
      });
    }
  } catch {
    here = false;
  }
  servedHere.set(url, here);
  return here;
}

/**
 * The port a `listen(0)` on `address` (an IPv4 address, or an IPv6 one
 * without a zone when `family` is 6) gets from the rump server at `url`,
 * found synchronously; undefined when it could not be found in time (the
 * caller binds port 0 asynchronously instead).
 */
export function reservePortSync(url: string, address: string, family: 4 | 6 = 4): number | undefined {
  if (!enabled || serverInThisProcess(url)) return undefined;
  const w = workers.get(url) ?? start(url);
  if (w === undefined) return undefined;
  const seq = (w.seq = (w.seq % 0x7ffffffe) + 1);
  w.worker.postMessage({ seq, address, family });
  const deadline = Date.now() + SYNC_TIMEOUT_MS;
  // Bounded: each wait ends at the answer or the deadline.
  for (let i = 0; i < 1000; i++) {
    if (Atomics.load(w.state, 0) === seq) break;
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    Atomics.wait(w.state, 0, Atomics.load(w.state, 0), left);
  }
  if (Atomics.load(w.state, 0) !== seq) return undefined;
  const port = Atomics.load(w.state, 1);
  return port > 0 ? port : undefined;
}

/** Stops the port workers (tests; a process exits without this, they are unref'd). */
export async function stopPortWorkers(): Promise<void> {
  const all = [...workers.values()];
  workers.clear();
  await Promise.all(all.map((w) => w.worker.terminate()));
}
