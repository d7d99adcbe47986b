/**
 * `--native-client`: iperf3 — an unmodified native program — as the rump
 * client through the LD_PRELOAD hijack (`rumprun-native`, issue 14), beside
 * the Node write_server/read_client figures of the same run at the same
 * write size (iperf3 `-l 64K`, the Node clients' 64 KiB writes).
 *
 * Three directions, each `sweep.runs` times, through one tap server with
 * rumpnet's defaults (the Node series "rumpnet defaults" use the same):
 *
 * - rump sends: `iperf3 -c` on the rump stack → Linux `iperf3 -s` in the
 *   namespace (beside Node rump→Linux);
 * - rump receives: the same with `-R` (beside Node Linux→rump);
 * - rump receives: Linux `iperf3 -c` → `iperf3 -s` on the rump stack
 *   (beside Node Linux→rump).
 *
 * Each figure is the receiver's, from the client's `--json`
 * (`end.sum_received`). The hijacked iperf3 runs in a second, empty
 * namespace (only a loopback that is down): a socket the hijack failed to
 * take could reach nothing, so no packet can leave by the host's stack.
 * Skips with a one-line reason without iperf3, the hijack library, a tap
 * or rump TCP.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUMPNET_DEFAULT, type Sweep } from './plan.js';
import { Proc, ROOT, Unavailable, type Spawner } from './procs.js';
import { median, type Availability, type Cell } from './runner.js';
import type { StackParams } from './rump.js';
import type { Placed, Topology } from './topology.js';

/** The wrapper that runs a program with the hijack library preloaded. */
export const RUMPRUN = join(ROOT, 'packages/client/bin/rumprun-native');
/** The hijack library (built by `npm ci` when msgpack-c is installed). */
export const HIJACK_LIB = join(ROOT, 'packages/client/native/build/librumpnet-hijack.so');
/** iperf3's write/read length, and the Node write size it is compared with. */
export const NATIVE_LENGTH = 64 * 1024;

const MiB = 1024 * 1024;
const PORT = 5301;

/** The three measured directions. */
export type NativeKey = 'rump-client-send' | 'rump-client-receive' | 'rump-server-receive';

/** One direction's iperf3 figures and the Node figure it stands beside. */
export interface NativeRow {
  key: NativeKey;
  /** Who runs what. */
  what: string;
  /** The rump stack's side of the data. */
  direction: 'send' | 'receive';
  /** The Node configuration compared with (Figure 2, rumpnet defaults). */
  nodeConfig: 'rump-linux' | 'linux-rump';
  /** MiB/s of the Node write_server/read_client point at {@link NATIVE_LENGTH}, or null when not measured. */
  nodeMedian: number | null;
  /** The Node point's copy requests per MiB on the rump side (COPYIN sending, COPYOUT receiving), or null. */
  nodeCopiesPerMiB: number | null;
  /** The hijacked iperf3's copy requests per MiB (COPYIN sending, COPYOUT receiving), median over the runs; from the server's counters. */
  copiesPerMiB?: number;
  /** iperf3's receiver figure of each run, MiB/s; absent when skipped. */
  runs?: number[];
  median?: number;
  min?: number;
  max?: number;
  status: 'ok' | 'skipped';
  reason?: string;
}

/** The `--native-client` part of results.json. */
export type NativeResult =
  | { status: 'skipped'; reason: string }
  | { status: 'ok'; length: number; seconds: number; runs: number; iperf3: string; transport: string; rows: NativeRow[] };

/** Why iperf3 cannot run as a rump client here, or undefined. */
export function nativeSkipReason(topo: Topology, avail: Availability): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v iperf3'], { stdio: 'ignore' }).status !== 0) return 'no iperf3 command (Debian: apt-get install iperf3)';
  if (!existsSync(HIJACK_LIB)) return 'librumpnet-hijack.so is not built (needs msgpack-c: apt-get install libmsgpack-dev, then npm ci)';
  if (!avail.rumpTcp.ok) return avail.rumpTcp.reason;
  if (!topo.linuxPeer) return `a Linux peer for the rump stack needs a tap in a network namespace: ${topo.whyNoTap}`;
  return undefined;
}

const same = (a: StackParams | null, b: StackParams): boolean => a !== null && a.mclbytes === b.mclbytes && a.mclnum === b.mclnum && a.rxMode === b.rxMode;

/** The Node point at {@link NATIVE_LENGTH} for `config` with rumpnet's defaults on the rump side: MiB/s and copy requests per MiB, or nulls. */
export function nodeFigure(cells: readonly Cell[], config: 'rump-linux' | 'linux-rump'): { median: number | null; copiesPerMiB: number | null } {
  const c = cells.find((x) => x.config === config && x.size === NATIVE_LENGTH && same(config === 'rump-linux' ? x.sender : x.receiver, RUMPNET_DEFAULT));
  if (c?.status !== 'ok') return { median: null, copiesPerMiB: null };
  return { median: c.median, copiesPerMiB: (config === 'rump-linux' ? c.copyinPerMiB : c.copyoutPerMiB) ?? null };
}

/** Bytes the receiver counted, from one iperf3 client's `--json` log (0 when absent). */
export function iperf3Bytes(json: string): number {
  const j = JSON.parse(json) as { end?: { sum_received?: { bytes?: number } } };
  return j.end?.sum_received?.bytes ?? 0;
}

/**
 * iperf3's note when TCP_INFO cannot be read: the protocol has no wire form
 * for that struct, so the hijack answers ENOPROTOOPT rather than invent
 * counters; iperf3 records it in `error` and measures on (no retransmit
 * figures). The only error a finished transfer may carry.
 */
export const TCP_INFO_NOTE = 'getsockopt - Protocol not available';

/** The receiver's MiB/s from one iperf3 client's `--json` log; throws iperf3's own error. */
export function parseIperf3(json: string): number {
  const j = JSON.parse(json) as { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  if (j.error && j.error !== TCP_INFO_NOTE) throw new Error(`iperf3: ${j.error}`);
  const bps = j.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || !(bps > 0)) throw new Error(`iperf3 --json has no end.sum_received.bits_per_second${j.error ? ` (iperf3: ${j.error})` : ''}`);
  return bps / 8 / MiB;
}

function iperf3Version(): string {
  const r = spawnSync('iperf3', ['--version'], { encoding: 'utf8' });
  return /iperf (\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
}

/**
 * A namespace with nothing but a loopback that is down, for the hijacked
 * programs (the tap tests do the same): what the hijack does not take
 * fails there (ENETUNREACH) instead of leaving by the host's stack.
 */
async function bareNamespace(): Promise<{ spawner: Spawner; destroy(): Promise<void> }> {
  const { Netns } = await import('@rumpnet/tap-bridge');
  const ns = await Netns.create({ prefix: 'benchn' });
  try {
    await ns.ip('link', 'set', 'lo', 'down');
  } catch (e) {
    await ns.destroy();
    throw e;
  }
  return { spawner: ns, destroy: () => ns.destroy() };
}

/** Starts an `iperf3 -s -1` and waits (bounded) for its "Server listening" line. */
async function server(cmd: string, args: string[], ns: Spawner, label: string): Promise<Proc> {
  const p = Proc.command(cmd, args, { ns, label });
  const deadline = Date.now() + 15_000;
  while (!p.stdoutLines.some((l) => l.includes('Server listening'))) {
    if (p.exitCode !== null) throw new Error(`${label} exited with status ${p.exitCode} before listening${p.tail() ? `: ${p.tail()}` : ''}`);
    if (Date.now() > deadline) {
      await p.stop();
      throw new Error(`${label} not listening after 15 s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return p;
}

/**
 * Runs the three directions (see the module comment). Never rejects: a
 * failure becomes a skipped row (or the whole result skipped) with its
 * reason. `onRun` is called after each iperf3 transfer.
 */
export async function runNative(topo: Topology, avail: Availability, sweep: Sweep, cells: readonly Cell[], onRun: () => void = () => undefined): Promise<NativeResult> {
  const why = nativeSkipReason(topo, avail);
  if (why !== undefined) return { status: 'skipped', reason: why };
  const seconds = Math.max(1, Math.round(sweep.seconds)); // iperf3 -t takes whole seconds
  const len = `${NATIVE_LENGTH / 1024}K`;
  let placed: Placed | null = null;
  let bare: { spawner: Spawner; destroy(): Promise<void> } | null = null;
  try {
    placed = await topo.tapServer(RUMPNET_DEFAULT);
    bare = await bareNamespace();
    const linux = topo.nativeSpawner!;
    const { server: srv, rumpIp, linuxIp } = placed;
    const hijacked = bare.spawner;
    const rows: NativeRow[] = [];
    let port = PORT;
    let file = 0;
    /** One iperf3 client run: the receiver's MiB/s, the bytes, and the client's pid. */
    const client = async (ns: Spawner, cmd: string, args: string[], label: string): Promise<{ mibps: number; bytes: number; pid: number | undefined }> => {
      const log = join(topo.dir, `iperf3-${++file}.json`);
      const p = Proc.command(cmd, [...args, '-t', String(seconds), '-l', len, '-J', '--logfile', log], { ns, label });
      const code = await p.finish(seconds * 1000 + 60_000);
      const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
      if (text === '') throw new Error(`${label} exited with status ${code} and no --json output${p.tail() ? `: ${p.tail()}` : ''}`);
      return { mibps: parseIperf3(text), bytes: iperf3Bytes(text), pid: p.child.pid };
    };
    /** Copy requests per MiB of the hijacked iperf3 `pid` (its session's counters, logged when it left). */
    const copies = async (pid: number | undefined, dir: 'send' | 'receive', bytes: number): Promise<number | undefined> => {
      const c = await srv.departedCounters(pid, 5000);
      const n = c?.[dir === 'send' ? 'copyinRequests' : 'copyoutRequests'];
      return typeof n === 'number' && bytes > 0 ? n / (bytes / MiB) : undefined;
    };
    const direction = async (
      key: NativeKey, what: string, dir: 'send' | 'receive', nodeConfig: NativeRow['nodeConfig'], once: (p: string) => Promise<{ mibps: number; copies: number | undefined }>,
    ): Promise<void> => {
      const node = nodeFigure(cells, nodeConfig);
      const row: NativeRow = { key, what, direction: dir, nodeConfig, nodeMedian: node.median, nodeCopiesPerMiB: node.copiesPerMiB, status: 'ok' };
      try {
        const runs: number[] = [];
        const perMiB: number[] = [];
        for (let i = 0; i < sweep.runs; i++) {
          const r = await once(String(port++));
          runs.push(r.mibps);
          if (r.copies !== undefined) perMiB.push(r.copies);
          onRun();
        }
        Object.assign(row, { runs, median: median(runs), min: Math.min(...runs), max: Math.max(...runs), ...(perMiB.length ? { copiesPerMiB: median(perMiB) } : {}) });
      } catch (e) {
        Object.assign(row, { status: 'skipped', reason: e instanceof Unavailable ? e.message : `failed: ${(e as Error).message}` });
      }
      rows.push(row);
    };
    const viaLinuxServer = async (p: string, reverse: boolean) => {
      const s = await server('iperf3', ['-s', '-1', '--forceflush', '-B', linuxIp!, '-p', p], linux, 'iperf3 -s (Linux)');
      let r: { mibps: number; bytes: number; pid: number | undefined };
      try {
        r = await client(hijacked, RUMPRUN, ['-s', srv.url, '--', 'iperf3', '-c', linuxIp!, '-p', p, ...(reverse ? ['-R'] : [])], `iperf3 -c${reverse ? ' -R' : ''} (rump)`);
      } finally {
        await s.stop();
      }
      return { mibps: r.mibps, copies: await copies(r.pid, reverse ? 'receive' : 'send', r.bytes) };
    };
    await direction('rump-client-send', `rump iperf3 -c → Linux iperf3 -s`, 'send', 'rump-linux', (p) => viaLinuxServer(p, false));
    await direction('rump-client-receive', `rump iperf3 -c -R ← Linux iperf3 -s`, 'receive', 'linux-rump', (p) => viaLinuxServer(p, true));
    await direction('rump-server-receive', `Linux iperf3 -c → rump iperf3 -s`, 'receive', 'linux-rump', async (p) => {
      const s = await server(RUMPRUN, ['-s', srv.url, '--', 'iperf3', '-s', '-1', '--forceflush', '-B', rumpIp, '-p', p], hijacked, 'iperf3 -s (rump)');
      let r: { mibps: number; bytes: number; pid: number | undefined };
      try {
        r = await client(linux, 'iperf3', ['-c', rumpIp, '-p', p], 'iperf3 -c (Linux)');
        await s.finish(10_000).catch(() => undefined); // -1: it leaves after its one client
      } finally {
        await s.stop();
      }
      return { mibps: r.mibps, copies: await copies(s.child.pid, 'receive', r.bytes) };
    });
    return { status: 'ok', length: NATIVE_LENGTH, seconds, runs: sweep.runs, iperf3: iperf3Version(), transport: `tap${topo.offload ? '' : ' (--no-offload)'}`, rows };
  } catch (e) {
    return { status: 'skipped', reason: e instanceof Unavailable ? e.message : `failed: ${(e as Error).message}` };
  } finally {
    await bare?.destroy().catch(() => undefined);
    await placed?.release().catch(() => undefined);
  }
}

const fmt = (r: NativeRow): string => {
  if (r.status !== 'ok') return 'skipped';
  return r.runs!.length > 1 ? `${r.median!.toFixed(1)} (${r.min!.toFixed(0)}–${r.max!.toFixed(0)})` : r.median!.toFixed(1);
};

/** The report's section: one line when skipped, else a table of iperf3 beside Node. */
export function renderNative(n: NativeResult): string {
  if (n.status === 'skipped') return `Native client (iperf3 through the LD_PRELOAD hijack, --native-client): skipped — ${n.reason}`;
  const head = `Native client: iperf3 ${n.iperf3} through the LD_PRELOAD hijack (rumprun-native), ${n.transport}, rumpnet defaults — MiB/s (receiver), median (min–max) of ${n.runs} run(s) of ${n.seconds} s; iperf3 -l ${n.length / 1024}K beside Node write_server/read_client at ${n.length / 1024} KiB writes`;
  const label = (c: NativeRow['nodeConfig']): string => (c === 'rump-linux' ? 'rump→Linux' : 'Linux→rump');
  const per = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v.toFixed(1));
  const rows = n.rows.map((r) => [
    r.what, r.direction, fmt(r),
    r.nodeMedian === null ? `${label(r.nodeConfig)}: not measured` : `${label(r.nodeConfig)} ${r.nodeMedian.toFixed(1)}`,
    r.status === 'ok' && r.nodeMedian !== null ? `${(r.median! / r.nodeMedian).toFixed(2)}×` : '',
    `${per(r.copiesPerMiB)} / ${per(r.nodeCopiesPerMiB)}`,
  ]);
  const headers = ['iperf3', 'rump', 'iperf3 MiB/s', 'Node MiB/s', 'iperf3/Node', 'copies/MiB iperf3 / Node'];
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((v, i) => (i < 2 ? v.padEnd(w[i]!) : v.padStart(w[i]!))).join('  ').trimEnd();
  const out = [head, line(headers), w.map((k) => '-'.repeat(k)).join('  '), ...rows.map(line)];
  out.push('  (copies/MiB: COPYIN requests per MiB on the rump side when it sends, COPYOUT when it receives — the mechanism behind the figures)');
  for (const r of n.rows) if (r.status === 'skipped') out.push(`  skipped (${r.what}): ${r.reason}`);
  return out.join('\n');
}
