/**
 * The rig for the rump split against the Linux kernel: a network namespace
 * per describe-block, a tap inside it whose Linux side is `10.a.b.1/24`, a
 * REAL `rump-server --tap` process running inside the namespace at
 * `10.a.b.2/24`, and Linux-side peers (plain Node on the kernel's stack, see
 * `peers/linux-peer.mjs`) in the same namespace.
 *
 * Unix domain sockets live in the filesystem, which namespaces do not
 * separate: the server's socket file is in a temporary directory here, and
 * the rump CLIENTS are the test process itself, in the root namespace. They
 * only talk to that file; every packet of theirs is the rump stack's, inside
 * the namespace. No packet leaves it: the namespace has only `lo` and its
 * taps, and no route anywhere else.
 *
 * {@link TapNet.destroy} stops the servers (SIGTERM, and records how they
 * exited), kills the peers and deletes the namespace — also after a failed
 * test, and (through `Netns`) when the test process is interrupted.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RumpConnection } from '@rumpnet/client';
import { Netns, randomSubnet24 } from '@rumpnet/tap-bridge';
import type { CtlPingArgs } from '@rumpnet/client/protocol';
import { CLI, ROOT, sleep } from '../daemon/helpers.js';

/** The Linux-side peer script. */
export const PEER = fileURLToPath(new URL('./peers/linux-peer.mjs', import.meta.url));

/** The names of the namespaces that exist now (`ip netns list`). */
export function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** A child process with its output collected and a bounded wait for a line. */
export interface Proc {
  readonly proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first line of `from` (default stdout; the server's pino log is stderr) that `pred` accepts; rejects after `ms` or when the process exits without one. */
  line(pred: (line: string) => boolean, what: string, ms?: number, from?: 'stdout' | 'stderr'): Promise<string>;
  /** Resolves with the exit code, or the signal name. */
  readonly exited: Promise<number | string>;
}

function watch(proc: ChildProcess): Proc {
  let out = '';
  let err = '';
  const wake: Array<() => void> = [];
  const poke = (): void => {
    for (const w of wake.splice(0)) w();
  };
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    poke();
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    poke();
  });
  let code: number | string | undefined;
  const exited = new Promise<number | string>((r) =>
    proc.once('exit', (c, s) => {
      code = c ?? s ?? -1;
      r(code);
      poke();
    }),
  );
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    line(pred, what, ms = 15_000, from = 'stdout') {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; stdout ${JSON.stringify(out.slice(-500))} stderr ${JSON.stringify(err.slice(-500))}`)), ms);
        const check = (): void => {
          const l = (from === 'stdout' ? out : err).split('\n').find(pred);
          if (l !== undefined) {
            clearTimeout(t);
            resolve(l);
          } else if (code !== undefined) {
            clearTimeout(t);
            reject(new Error(`exited (${code}) before ${what}; stdout ${JSON.stringify(out.slice(-500))} stderr ${JSON.stringify(err.slice(-500))}`));
          } else wake.push(check);
        };
        check();
      });
    },
  };
}

/** A `rump-server --tap` process inside the namespace. */
export interface TapServer extends Proc {
  /** `unix:///tmp/.../rump.sock` (reachable from the root namespace: it is a file). */
  readonly url: string;
  /** The socket file's path. */
  readonly path: string;
  readonly tap: string;
  /** The rump stack's address on the tap (`10.a.b.2`; with `dhcp`, the one leased). */
  readonly rumpIp: string;
  /** The Linux side of the tap (`10.a.b.1`). */
  readonly linuxIp: string;
  /** SIGTERM, then the exit code (0 for a clean shutdown). */
  stop(): Promise<number | string>;
}

/** One test group's namespace, its servers and peers. */
export class TapNet {
  readonly ns: Netns;
  readonly servers: TapServer[] = [];
  /** How each server ended, by tap name, once {@link destroy} ran. */
  readonly exits = new Map<string, number | string>();
  readonly #dirs: string[] = [];
  readonly #others: ChildProcess[] = [];

  private constructor(ns: Netns) {
    this.ns = ns;
  }

  /** Creates the namespace (`rn-<prefix>-<pid>-<rand>`). */
  static async create(prefix: string): Promise<TapNet> {
    return new TapNet(await Netns.create({ prefix }));
  }

  /** A fresh temporary directory, removed by {@link destroy}. */
  tmpDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'rumpnet-tap-'));
    this.#dirs.push(d);
    return d;
  }

  /**
   * Adds tap `tap` (Linux side `10.a.b.1/24` on a random subnet, MTU 1500),
   * starts `rump-server --tap tap --addr 10.a.b.2/24 ...args unix://<tmp>`
   * inside the namespace, and waits until it listens and its first ping to
   * the Linux side is answered (a tap's carrier comes up to ~1 s after a
   * process attaches; Linux drops what arrives before).
   */
  async server(tap: string, args: readonly string[] = [], opts: { dhcp?: boolean } = {}): Promise<TapServer> {
    const net = randomSubnet24();
    await this.ns.addTap(tap, { linuxAddr: net.cidr(1), mtu: 1500 });
    const dir = this.tmpDir();
    const path = join(dir, 'rump.sock');
    const url = `unix://${path}`;
    if (opts.dhcp === true) {
      // dnsmasq on the Linux side hands out .50-.60 with a 2-minute lease, T1 2 s, T2 3 s.
      const d = this.ns.spawn('dnsmasq', [
        '--no-daemon', '--conf-file=/dev/null', '--port=0', `--interface=${tap}`, '--bind-interfaces',
        `--dhcp-range=${net.addr(50)},${net.addr(60)},255.255.255.0,2m`, `--dhcp-option=option:router,${net.addr(1)}`,
        '--dhcp-option=option:T1,2', '--dhcp-option=option:T2,3', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      ]);
      this.#others.push(d);
    }
    const ifArgs = opts.dhcp === true ? ['--dhcp', '--log-level', 'info'] : ['--addr', net.cidr(2), '--log-level', 'warn'];
    const proc = this.ns.spawn(process.execPath, ['--import', 'tsx', CLI, '--tap', tap, ...ifArgs, ...args, url], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = watch(proc);
    let rumpIp = net.addr(2);
    if (opts.dhcp === true) {
      const bound = await p.line((l) => l.includes('"dhcp: bound"'), `rump-server on ${tap} to get a DHCP lease`, 20_000, 'stderr');
      rumpIp = (JSON.parse(bound) as { addr: string }).addr.split('/')[0]!;
    }
    const srv: TapServer = {
      ...p,
      url,
      path,
      tap,
      rumpIp,
      linuxIp: net.addr(1),
      stop: async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        const code = await p.exited;
        clearTimeout(t);
        return code;
      },
    };
    this.servers.push(srv);
    await p.line((l) => l.includes('listening on'), `rump-server on ${tap} to listen`, 20_000);
    await waitForPing(url, net.addr(1));
    return srv;
  }

  /** Starts `linux-peer.mjs mode ...args` on the kernel's stack inside the namespace (stdin a pipe). */
  peer(mode: string, args: ReadonlyArray<string | number>): Proc & { send(text: string): void } {
    const proc = this.ns.spawn(process.execPath, [PEER, mode, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
    proc.stdin!.on('error', () => undefined);
    return { ...watch(proc), send: (text: string) => void proc.stdin!.write(text) };
  }

  /**
   * Stops every server (recording its exit in {@link exits}), kills the
   * peers, deletes the namespace and the temporary directories. Never rejects.
   */
  async destroy(): Promise<void> {
    for (const s of this.servers) this.exits.set(s.tap, await s.stop().catch((e: Error) => e.message));
    for (const o of this.#others.splice(0)) o.kill('SIGKILL');
    await this.ns.destroy();
    for (const d of this.#dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** Pings `dst` through the server until one reply comes (bounded: 40 tries, ~10 s). */
async function waitForPing(url: string, dst: string): Promise<void> {
  const c = await RumpConnection.connect(url, { name: 'carrier-wait' });
  try {
    for (let i = 0; i < 40; i++) {
      const args: CtlPingArgs = { dst, count: 1, timeout: 250 };
      const r = await c.call<{ received: number }>('ctl.ping', { ...args });
      if (r.received === 1) return;
      await sleep(10);
    }
    throw new Error(`no ping reply from ${dst} through the tap`);
  } finally {
    await c.close();
  }
}

/** Reads `fd` to end of stream into one buffer (bounded in reads). */
export async function readAll(c: RumpConnection, fd: number, chunk = 256 * 1024): Promise<Buffer> {
  const out: Buffer[] = [];
  const buf = Buffer.alloc(chunk);
  for (let i = 0; i < 100_000; i++) {
    const n = await c.sys.recv(fd, buf);
    if (n === 0) return Buffer.concat(out);
    out.push(Buffer.from(buf.subarray(0, n)));
  }
  throw new Error('no end of stream after 100 000 reads');
}

/** Sends all of `data` on `fd` (bounded in calls), then shuts the write side. */
export async function sendAll(c: RumpConnection, fd: number, data: Uint8Array): Promise<void> {
  let off = 0;
  for (let i = 0; off < data.length && i < 100_000; i++) off += await c.sys.send(fd, data.subarray(off));
  if (off !== data.length) throw new Error(`sent ${off} of ${data.length} bytes`);
  await c.sys.shutdown(fd, 'wr');
}
