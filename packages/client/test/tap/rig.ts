/**
 * The client's rig for tests against the Linux kernel through a tap: one
 * network namespace, a tap whose Linux side is `10.a.b.1/24`, a real
 * `rump-server --tap` process (run from source) INSIDE the namespace at
 * `10.a.b.2/24`, and processes on the kernel's stack inside it (curl, a Node
 * http server).
 *
 * The rump clients — this test process, a hijacked program — stay in the
 * root namespace: they only talk to the server's Unix socket file (network
 * namespaces do not separate the filesystem), and every packet of theirs is
 * the rump stack's, inside the namespace. No packet leaves it: it has only
 * `lo` and the tap, and no route anywhere else.
 *
 * (The server package's `test/tap/rig.ts` is the fuller sibling; this one is
 * separate because a package's tests compile inside its own root.)
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Netns, randomSubnet24 } from '@rumpnet/tap-bridge';
import { RumpConnection } from '../../src/index.js';
import type { CtlNetstatResult, CtlServerInfo } from '../../src/syscalls.js';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
/** The repository root (the server runs from there so `tsx` resolves). */
export const ROOT = here('../../../../');
const CLI = join(ROOT, 'packages/server/src/cli.ts');

/**
 * How to load the hijack: the built `@rumpnet/client/hijack` when a build
 * ran after the last source edit, else the source through tsx. (`tsc -b`
 * leaves an output file untouched when its text did not change, so the
 * build's own `tsconfig.tsbuildinfo` tells the time of the last build.)
 */
export function hijackImportArgs(): { args: string[]; built: boolean } {
  const built = here('../../dist/src/hijack-register.js');
  const info = here('../../dist/tsconfig.tsbuildinfo');
  const src = here('../../src');
  const newest = Math.max(...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs));
  const lastBuild = Math.max(...[built, info].map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
  if (existsSync(built) && lastBuild >= newest) return { args: ['--import', built], built: true };
  return { args: ['--import', 'tsx', '--import', join(src, 'hijack-register.ts')], built: false };
}

/** The names of the namespaces that exist now (`ip netns list`). */
export function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Hex sha256 of some bytes. */
export function sha256(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Deterministic pseudo-random bytes (xorshift32; the fixtures make the same). */
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

/** A child process with its output collected. */
export interface Proc {
  readonly proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The first stdout line `pred` accepts; rejects after `ms`, or when the process exits without one. */
  line(pred: (line: string) => boolean, what: string, ms?: number): Promise<string>;
  /** The exit code, or the signal name. */
  readonly exited: Promise<number | string>;
}

/** Collects a child's output and gives bounded waits for its lines. */
export function watch(proc: ChildProcess): Proc {
  let out = '';
  let err = '';
  let code: number | string | undefined;
  const wake: Array<() => void> = [];
  const poke = (): void => {
    for (const w of wake.splice(0)) w();
  };
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    poke();
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | string>((r) =>
    proc.once('exit', (c, s) => {
      code = c ?? s ?? -1;
      r(code);
      poke();
    }),
  );
  const tail = (): string => `stdout ${JSON.stringify(out.slice(-400))} stderr ${JSON.stringify(err.slice(-400))}`;
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    line(pred, what, ms = 15_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; ${tail()}`)), ms);
        const check = (): void => {
          const l = out.split('\n').find(pred);
          if (l !== undefined) {
            clearTimeout(t);
            resolve(l);
          } else if (code !== undefined) {
            clearTimeout(t);
            reject(new Error(`exited (${code}) before ${what}; ${tail()}`));
          } else wake.push(check);
        };
        check();
      });
    },
  };
}

/** A namespace with a tap and a `rump-server --tap` inside it. */
export class TapRig {
  /** `unix:///tmp/.../rump.sock`. */
  readonly url: string;
  /** The rump stack's address on the tap (`10.a.b.2`). */
  readonly rumpIp: string;
  /** The Linux side of the tap (`10.a.b.1`). */
  readonly linuxIp: string;
  /** How the server ended, once {@link destroy} ran. */
  exit: number | string | undefined;

  private constructor(
    readonly ns: Netns,
    readonly dir: string,
    readonly server: Proc,
    net: ReturnType<typeof randomSubnet24>,
  ) {
    this.url = `unix://${join(dir, 'rump.sock')}`;
    this.rumpIp = net.addr(2);
    this.linuxIp = net.addr(1);
  }

  /**
   * Creates the namespace and tap `tap`, starts the server on it with
   * `args`, and waits until it listens and its first ping to the Linux side
   * is answered (the tap's carrier comes up to ~1 s after the attach, and
   * Linux drops what arrives before). On failure everything is torn down.
   * With `ipv6`, Linux keeps IPv6 on the tap (it is off by default, so that
   * no router solicitation or MLD report crosses an IPv4 test).
   */
  static async start(prefix: string, tap: string, args: readonly string[] = [], opts: { ipv6?: boolean } = {}): Promise<TapRig> {
    const ns = await Netns.create({ prefix });
    const dir = mkdtempSync(join(tmpdir(), 'rumpnet-ctap-'));
    let rig: TapRig | undefined;
    try {
      const net = randomSubnet24();
      await ns.addTap(tap, { linuxAddr: net.cidr(1), mtu: 1500, disableIpv6: opts.ipv6 !== true });
      const proc = ns.spawn(process.execPath, ['--import', 'tsx', CLI, '--tap', tap, '--addr', net.cidr(2), '--log-level', 'warn', ...args, `unix://${join(dir, 'rump.sock')}`], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      rig = new TapRig(ns, dir, watch(proc), net);
      await rig.server.line((l) => l.includes('listening on'), 'rump-server to listen', 20_000);
      await rig.#waitForPing();
      return rig;
    } catch (e) {
      if (rig) await rig.destroy();
      else {
        await ns.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
      throw e;
    }
  }

  async #waitForPing(): Promise<void> {
    const c = await RumpConnection.connect(this.url, { name: 'carrier-wait' });
    try {
      for (let i = 0; i < 40; i++) {
        const r = await c.call<{ received: number }>('ctl.ping', { dst: this.linuxIp, count: 1, timeout: 250 });
        if (r.received === 1) return;
        await sleep(10);
      }
      throw new Error(`no ping reply from ${this.linuxIp} through the tap`);
    } finally {
      await c.close();
    }
  }

  /** Runs a Node script on the kernel's stack inside the namespace (stdin a pipe: it may exit when stdin ends). */
  node(script: string, args: ReadonlyArray<string | number>): Proc {
    const proc = this.ns.spawn(process.execPath, [script, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
    proc.stdin!.on('error', () => undefined);
    return watch(proc);
  }

  /**
   * The leak check, over the control protocol (`rumpctl clients`, `netstat
   * -m`): waits until no descriptor is open and every cluster and mbuf is
   * back. Sockets without a descriptor (a connection in TIME_WAIT, which
   * holds no data) are allowed unless `countSockets`.
   */
  async expectQuiet(ms = 10_000, countSockets = false): Promise<void> {
    const c = await RumpConnection.connect(this.url, { name: 'leak-check' });
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

  /**
   * Stops the server (SIGTERM; SIGKILL after 5 s) and records its exit,
   * kills everything else in the namespace, deletes it and the temporary
   * directory. Never rejects.
   */
  async destroy(): Promise<void> {
    const p = this.server.proc;
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    this.exit = await this.server.exited;
    clearTimeout(t);
    await this.ns.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
