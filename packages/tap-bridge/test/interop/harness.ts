/**
 * The interoperability harness: one network namespace per test group, a tap
 * inside it whose Linux side is `10.a.b.1/24`, our stack on the other end at
 * `10.a.b.2/24`, Linux-side peers (Node on the kernel's stack) started in the
 * namespace, and teardown of all of it even when a test fails.
 *
 * No packet leaves the namespace: it has only `lo` and the tap, and no route
 * anywhere else (see `Netns`).
 *
 * The stack is imported from the package face (`@rumpnet/stack`, i.e. its
 * build): `npm test` builds first; by hand run `npx tsc -b packages/stack`.
 * With `RUMPNET_INTEROP_STACK=src` the stack's classes come from its source
 * instead (through tsx), TCP included even before the package face exports
 * it — for whoever works on the stack and wants these tests without a build.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import * as rump from '@rumpnet/stack';
import type { Link } from '@rumpnet/stack';
import { Netns, TapLink, canUseNetns, randomSubnet24, withPcap } from '../../src/index.js';
import type { PcapLink, TapOffloadMode } from '../../src/index.js';

const { Stack, SocketLayer, SocketTable, UdpProtocol, inetAton, AF_INET, SOCK, Errno } = rump;

/** The stack package's module namespace. */
export type StackModule = typeof rump;

const STACK_SRC = new URL('../../../stack/src/index.js', import.meta.url).href;
const TCP_SRC = new URL('../../../stack/src/transport/tcp/index.js', import.meta.url).href;
const fromSource = process.env.RUMPNET_INTEROP_STACK === 'src';
let modP: Promise<StackModule> | undefined;

/** The stack's module: the package face, or its source with `RUMPNET_INTEROP_STACK=src`. */
export function stackModule(): Promise<StackModule> {
  return (modP ??= fromSource ? (import(STACK_SRC) as Promise<StackModule>) : Promise.resolve(rump));
}

/** What the tests use of TCP (the class is not in the package face yet). */
export interface TcpLike {
  stats: Record<string, number>;
  connections?(): Array<{ state: string; lport: number; fport: number }>;
}
type TcpCtor = new (...args: unknown[]) => TcpLike;

/** The TCP protocol class, or why there is none. */
async function tcpClass(): Promise<TcpCtor | string> {
  const mod = (await stackModule()) as unknown as Record<string, unknown>;
  let C = mod.TcpProtocol;
  if (typeof C !== 'function' && fromSource) {
    try {
      C = ((await import(TCP_SRC)) as Record<string, unknown>).TcpProtocol;
    } catch (e) {
      return `TCP source does not load: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  if (typeof C !== 'function') {
    return 'TCP (SOCK_STREAM) is not in @rumpnet/stack yet (or the build is stale: npx tsc -b packages/stack)';
  }
  return C as TcpCtor;
}

/** Registers TCP on `layer` of `stack`; returns it, or why it could not. Never throws. */
async function attachTcp(stack: unknown, layer: unknown): Promise<TcpLike | string> {
  const C = await tcpClass();
  if (typeof C === 'string') return C;
  try {
    // TcpProtocol(host, layer, tunables?) — or (layer) like UdpProtocol, should it change.
    return C.length >= 2 ? new C(stack, layer) : new C(layer);
  } catch (e) {
    return `TCP does not attach: ${(e as Error).message}`;
  }
}

let tcpReason: Promise<string | undefined> | undefined;

/**
 * Why the TCP interop tests cannot run, or undefined when they can: a
 * throw-away stack (no namespace) gets TCP and must hand out a
 * `SOCK_STREAM` socket (`EPROTONOSUPPORT` while TCP is not registered).
 */
export function tcpSkipReason(): Promise<string | undefined> {
  return (tcpReason ??= (async () => {
    const mod = await stackModule();
    const stack = new mod.Stack({ nmbclusters: 64 });
    try {
      const layer = new mod.SocketLayer(stack);
      const tcp = await attachTcp(stack, layer);
      if (typeof tcp === 'string') return tcp;
      const t = new mod.SocketTable(layer);
      const { errno, fd } = t.socket(AF_INET, SOCK.STREAM, 0);
      if (errno === Errno.EPROTONOSUPPORT) return 'SOCK_STREAM is not registered (socket() gives EPROTONOSUPPORT): TCP has not landed';
      if (errno !== 0) return `socket(AF_INET, SOCK_STREAM) fails with errno ${errno}`;
      await t.close(fd);
      return undefined;
    } finally {
      stack.close();
    }
  })());
}

const saidSkip = new Set<string>();

/**
 * Skips the current test or suite (`this` of a hook or test) and prints the
 * one-line reason once (mocha itself shows no reason for a skip).
 */
export function skipWith(ctx: Mocha.Context, reason: string): never {
  if (!saidSkip.has(reason)) {
    saidSkip.add(reason);
    process.stdout.write(`    (skipping: ${reason})\n`);
  }
  ctx.skip();
}

/** Why namespace tests cannot run here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  const c = canUseNetns();
  return c.ok ? undefined : c.reason;
}

/** Options of {@link openInterop}. */
export interface InteropOptions {
  /** Part of the namespace name. */
  prefix: string;
  /** MTU on both sides of the tap (default 1500). */
  mtu?: number;
  /** Record every frame of the stack's link to `link.pcap` in the scratch directory ({@link Interop.pcapFile}). */
  pcap?: boolean;
  /** Clusters in the stack's pool (default 16384: 32 MiB of 2 KiB clusters). */
  nmbclusters?: number;
  /** Also register TCP (default false); check {@link tcpSkipReason} first. */
  tcp?: boolean;
  /** MCLNUM of the stack's pool (default 1). */
  mclnum?: number;
  /**
   * The tap's checksum/segmentation offloads, as `TapLink.open`'s `offload`:
   * default `'auto'` (on where the kernel accepts them), `false`/`'off'`
   * for a plain tap, `true`/`'require'` to fail when refused.
   */
  offload?: boolean | TapOffloadMode;
  /** The `TUN_F_*` bits the probe asks for (tests of the kernel's refusal). */
  tunOffload?: number;
  /** Leave IPv6 on on the Linux side of the tap (default false: the kernel's own ND and MLD chatter stays out of IPv4 tests). */
  ipv6?: boolean;
}

/** One namespace + tap + stack, ready for an exchange. */
export interface Interop {
  ns: Netns;
  /** The driver (counters, `device.running`). */
  tap: TapLink;
  /** What the stack sees: the tap, or the tap wrapped by `withPcap`. */
  link: Link | PcapLink;
  stack: InstanceType<typeof Stack>;
  layer: InstanceType<typeof SocketLayer>;
  udp: InstanceType<typeof UdpProtocol>;
  /** TCP when asked for with `tcp: true`. */
  tcp: TcpLike | undefined;
  /** The test's descriptor table (one "process"). */
  t: InstanceType<typeof SocketTable>;
  ifname: string;
  linuxIp: string;
  stackIp: string;
  /** Host-order numbers of the two addresses, for `sockaddrIn`. */
  linuxAddr: number;
  stackAddr: number;
  /** `aa:bb:..` */
  linuxMac: string;
  stackMac: string;
  /** Scratch directory, removed on close unless {@link keep} is set. */
  dir: string;
  /** The capture, with `pcap: true`. */
  pcapFile: string | undefined;
  /** Keep the scratch directory (and capture) on close, and print where it is. */
  keep: boolean;
  /** After {@link close}: whether every mbuf cluster went back to the pool (a leak check). */
  poolFreeAfterClose?: boolean;
  /** Closes sockets, the stack (and so the link and pcap) and the namespace. Idempotent; never rejects. */
  close(): Promise<void>;
}

/**
 * Creates a namespace with a tap (Linux side `.1/24`), opens the tap from this
 * process, attaches a fresh stack at `.2/24` with UDP, and waits for the
 * carrier (Linux drops what it sends on a tap until link-watch sees it).
 * On any failure everything made so far is torn down before rejecting.
 */
export async function openInterop(opts: InteropOptions): Promise<Interop> {
  const net = randomSubnet24();
  const ns = await Netns.create({ prefix: opts.prefix });
  const dir = mkdtempSync(join(tmpdir(), `rn-${opts.prefix}-`));
  let stack: InstanceType<typeof Stack> | undefined;
  let t: InstanceType<typeof SocketTable> | undefined;
  let tap: TapLink | undefined;
  let closed = false;
  let env: Interop | undefined;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      await withDeadline(t?.closeAll() ?? Promise.resolve(), 5000, 'closing the sockets');
    } catch {
      // a socket that will not close must not keep the namespace alive
    }
    stack?.close();
    if (env !== undefined && stack !== undefined) env.poolFreeAfterClose = stack.pool.isAllFree();
    tap?.close();
    await ns.destroy();
    if (env?.keep === true) process.stdout.write(`    (kept ${dir})\n`);
    else rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ifname = 'rn0';
    const info = await ns.addTap(ifname, { linuxAddr: net.cidr(1), mtu: opts.mtu, disableIpv6: opts.ipv6 !== true });
    tap = TapLink.open({ name: ifname, netns: ns.name, mtu: opts.mtu, offload: opts.offload, tunOffload: opts.tunOffload });
    const pcapFile = opts.pcap === true ? join(dir, 'link.pcap') : undefined;
    const link: Link | PcapLink = pcapFile !== undefined ? withPcap(tap, pcapFile) : tap;
    const mod = await stackModule();
    stack = new mod.Stack({ nmbclusters: opts.nmbclusters ?? 16384, mclnum: opts.mclnum });
    stack.attachLink(link, { addrs: [net.cidr(2)] });
    const layer = new mod.SocketLayer(stack);
    const udp = new mod.UdpProtocol(layer);
    let tcp: TcpLike | undefined;
    if (opts.tcp === true) {
      const r = await attachTcp(stack, layer);
      if (typeof r === 'string') throw new Error(r);
      tcp = r;
    }
    t = new mod.SocketTable(layer);
    const tp = tap;
    await waitUntil(() => tp.device.running, 3000, 'the carrier on the tap');
    env = {
      ns,
      tap,
      link,
      stack,
      layer,
      udp,
      tcp,
      t,
      ifname,
      linuxIp: net.addr(1),
      stackIp: net.addr(2),
      linuxAddr: inetAton(net.addr(1))!,
      stackAddr: inetAton(net.addr(2))!,
      linuxMac: info.linuxMac,
      stackMac: macStr(tap.mac),
      dir,
      pcapFile,
      keep: process.env.RUMPNET_KEEP_PCAP === '1',
      close,
    };
    return env;
  } catch (e) {
    await close();
    throw e;
  }
}

/** A 6-byte MAC as `aa:bb:...`. */
export function macStr(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Resolves when `pred()` holds, polling every 5 ms; rejects after `ms`. */
export async function waitUntil(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `p`, or a rejection naming `what` after `ms`. The timer never keeps the process alive. */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Deterministic bytes (xorshift32 from `seed`), different for every size and seed. */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
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

// ---------------------------------------------------------------------------
// Linux-side peers

const PEER = fileURLToPath(new URL('./peers/linux-peer.ts', import.meta.url));

/** One JSON object a peer printed on a line of stdout. */
export type PeerEvent = Record<string, unknown> & { event: string };

/**
 * A Linux-side peer (`peers/linux-peer.ts`) running in the namespace on the
 * kernel's stack, and the JSON events it prints, one per line.
 */
export class Peer {
  readonly child: ChildProcess;
  readonly events: PeerEvent[] = [];
  stderr = '';
  #waiters = new Set<() => void>();
  #exited = false;

  constructor(ns: Netns, args: readonly string[]) {
    this.child = ns.spawnNode(PEER, args);
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'), guard = 0; nl >= 0 && guard < 100_000; nl = buf.indexOf('\n'), guard++) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        try {
          this.events.push(JSON.parse(line) as PeerEvent);
        } catch {
          this.events.push({ event: 'garbage', line });
        }
      }
      this.#wake();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < 1 << 16) this.stderr += d;
    });
    this.child.once('exit', () => {
      this.#exited = true;
      this.#wake();
    });
  }

  /** Starts `args` and waits for its `ready` event. */
  static async start(ns: Netns, args: readonly string[], ms = 15000): Promise<Peer> {
    const p = new Peer(ns, args);
    await p.next('ready', ms);
    return p;
  }

  /** Events named `name` so far. */
  all(name: string): PeerEvent[] {
    return this.events.filter((e) => e.event === name);
  }

  /** Waits until `count` events named `name` have arrived; returns the last one. */
  async next(name: string, ms: number, count = 1): Promise<PeerEvent> {
    const end = Date.now() + ms;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const got = this.all(name);
      if (got.length >= count) return got[count - 1]!;
      const err = this.events.find((e) => e.event === 'error');
      if (err !== undefined && name !== 'error') throw new Error(`peer ${this.child.spawnargs.slice(-4).join(' ')}: ${JSON.stringify(err)}`);
      if (this.#exited) throw new Error(`peer exited before '${name}' (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.trim().slice(-2000)}`);
      const left = end - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 250));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
    throw new Error(`timed out after ${ms} ms waiting for peer event '${name}' x${count}; stderr: ${this.stderr.trim().slice(-2000)}`);
  }

  /** Waits for the process to exit (bounded); kills it after `ms`. */
  async exit(ms = 10000): Promise<number | null> {
    if (!this.#exited) {
      await waitUntil(() => this.#exited, ms, 'the peer to exit').catch(() => this.child.kill('SIGKILL'));
    }
    return this.child.exitCode;
  }

  kill(): void {
    if (!this.#exited) this.child.kill('SIGTERM');
  }

  #wake(): void {
    const w = [...this.#waiters];
    this.#waiters.clear();
    for (const f of w) f();
  }
}

// ---------------------------------------------------------------------------
// tshark

let tsharkChecked: boolean | undefined;

/** Whether `tshark` runs here (Debian package `tshark`). */
export async function haveTshark(): Promise<boolean> {
  if (tsharkChecked === undefined) {
    tsharkChecked = await new Promise<boolean>((resolve) => {
      execFile('tshark', ['--version'], { timeout: 15000 }, (err) => resolve(err === null));
    });
  }
  return tsharkChecked;
}

/** Runs tshark on `file` with `args` (no name resolution); resolves with its stdout lines. */
export function tshark(file: string, args: readonly string[], timeoutMs = 60000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('tshark', ['-n', '-r', file, ...args], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`tshark ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout.split('\n').filter((l) => l.trim() !== ''));
    });
  });
}

/**
 * tshark options for our captures: every checksum it can verify turned on
 * (IPv4, UDP, TCP are off by default; ICMP is always checked), and TCP and
 * UDP payloads decoded as plain data — our payloads are random bytes, and a
 * heuristic dissector (Thrift, say) that takes them for its protocol then
 * reports a "malformed packet" that is not ours.
 */
export const TSHARK_CHECKSUMS = [
  '-o',
  'ip.check_checksum:TRUE',
  '-o',
  'udp.check_checksum:TRUE',
  '-o',
  'tcp.check_checksum:TRUE',
  '-d',
  'tcp.port==1-65535,data',
  '-d',
  'udp.port==1-65535,data',
] as const;

/**
 * The display filter for what must never be in a capture of ours: a
 * malformed packet, an expert item of severity error (bad checksums are
 * errors), or a checksum status "Bad" (2).
 */
export const TSHARK_BAD =
  '_ws.malformed || _ws.expert.severity >= "Error" || ip.checksum.status == 2 || udp.checksum.status == 2 || tcp.checksum.status == 2 || icmp.checksum.status == 2';

const WARNING = 0x00600000;

/** What tshark says about a capture: see {@link tsharkProblems}. */
export interface TsharkReport {
  /** One summary line per malformed packet, bad checksum or expert error (empty when clean). */
  problems: string[];
  /** `frame N: message` for every expert item of severity warning (e.g. TCP's "D-SACK Sequence"). */
  warnings: string[];
  packets: number;
  /** Per packet, the values of the fields asked for (`frame.number` always included). */
  rows: Array<Record<string, string>>;
}

/**
 * Runs tshark over `file` with every checksum check on (three runs): the
 * problems, the warnings (which a test may allow: TCP sequence analysis
 * warns about a D-SACK, which is correct behaviour after a spurious
 * retransmission), and the `fields` of every packet (`-T fields`, last
 * occurrence of each).
 */
export async function tsharkProblems(file: string, fields: readonly string[] = []): Promise<TsharkReport> {
  const problems = await tshark(file, [...TSHARK_CHECKSUMS, '-Y', TSHARK_BAD]);
  const w = await tshark(file, [
    ...TSHARK_CHECKSUMS,
    '-Y',
    '_ws.expert.severity >= "Warning"',
    '-T',
    'fields',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=|',
    '-e',
    'frame.number',
    '-e',
    '_ws.expert.severity',
    '-e',
    '_ws.expert.message',
  ]);
  const warnings: string[] = [];
  for (const line of w) {
    const [frame, sev = '', msg = ''] = line.split('\t');
    const sevs = sev.split('|');
    const msgs = msg.split('|');
    sevs.forEach((v, i) => {
      if (Number(v) === WARNING) warnings.push(`frame ${frame}: ${msgs[i] ?? '?'}`);
    });
  }
  const names = ['frame.number', ...fields];
  const lines = await tshark(file, [...TSHARK_CHECKSUMS, '-T', 'fields', '-E', 'occurrence=l', ...names.flatMap((f) => ['-e', f])]);
  const rows = lines.map((l) => {
    const v = l.split('\t');
    return Object.fromEntries(names.map((n, i) => [n, v[i] ?? '']));
  });
  return { problems, warnings, packets: rows.length, rows };
}

/** A scratch directory under the OS temp dir (the caller removes it). */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `rn-${prefix}-`));
}
