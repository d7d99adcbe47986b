/**
 * Runs the plan's measurements: each group starts its rump server(s) and
 * write_server once, then one read_client per write size (`--runs` transfers
 * each), reading the sender's COPYIN counter before and after (ctl.clients)
 * and the receiver's COPYOUT counter from the server's disconnect log line.
 * Also the latency figure (echo round trips) and the scale figure (idle
 * connections held through one server).
 *
 * Every failure becomes a cell with `status: 'skipped'` and its reason; the
 * run always finishes.
 *
 * @module
 */
import { PAPER_DEFAULT, RUMPNET_DEFAULT, paramsKey, type Config, type Group, type Sweep } from './plan.js';
import { Proc, Unavailable, type Spawner } from './procs.js';
import type { RumpServerProc, StackParams } from './rump.js';
import type { Placed, Topology } from './topology.js';

const MiB = 1024 * 1024;
const PORT = 5001;

/** A measured (or skipped) point. Skipped points carry a reason and no values. */
export type Cell = CellBase & (CellOk | { status: 'skipped'; reason: string });

interface CellBase {
  group: string;
  config: Config;
  sender: StackParams | null;
  receiver: StackParams | null;
  size: number;
}

/** A measured point's values (see {@link Cell}). */
export interface CellOk {
  status: 'ok';
  transport: string;
  /** MiB/s of each run. */
  runs: number[];
  median: number;
  min: number;
  max: number;
  /** COPYIN requests per MiB sent (rump sender). */
  copyinPerMiB?: number;
  /** COPYOUT requests per MiB received (rump receiver). */
  copyoutPerMiB?: number;
  /** COPYOUTs avoided per MiB received: receives whose bytes came inside their reply (`--inline-recv-max`). */
  copyoutAvoidedPerMiB?: number;
  /** COPYINs avoided by inline writes, per MiB sent (where the server counts them). */
  copyinsAvoidedPerMiB?: number;
  /** Most COPYINs the sender's session had outstanding at once, so far (its high-water mark). */
  copyinPeak?: number;
}

/** Pool use of one server of a group. */
export interface PoolUse {
  group: string;
  role: 'sender' | 'receiver';
  clustersPeak: number;
  clustersTotal: number;
  mbufsPeak: number;
  allocFailures: number;
}

/** What the rump side can do in this build, found at run time. */
export interface Availability {
  /** The daemon serves, the stack has TCP, the client has the net API: or the first reason why not. */
  rumpTcp: { ok: true } | { ok: false; reason: string };
  topology: 'tap' | 'bus';
  /** Tap servers ran with their default offloads (false: `--no-offload`). */
  offload: boolean;
  whyNoTap: string | null;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A skipped point's reason: an {@link Unavailable}'s message, or "failed: …". */
export function reasonOf(e: unknown): string {
  if (e instanceof Unavailable) return e.message;
  return `failed: ${(e as Error)?.message ?? String(e)}`;
}

/** The endpoints of one group, set up. */
export interface Endpoints {
  transport: string;
  writer: Proc;
  writerPid: number | undefined;
  /** Address and port read_client connects to. */
  host: string;
  port: number;
  reader: { rump: RumpServerProc | null; ns: Spawner | null };
  senderServer: RumpServerProc | null;
  receiverServer: RumpServerProc | null;
  placed: Placed[];
}

/** Starts write_server (through `rump`, or natively in `ns`) on `host:port` and waits until it listens. */
export async function startWriter(rump: RumpServerProc | null, host: string, port: number, ns: Spawner | null): Promise<{ proc: Proc; port: number; pid: number | undefined }> {
  const args = ['--host', host, '--port', String(port), '--json'];
  const proc = Proc.example('write_server', args, rump ? { env: clientEnv(rump) } : { ns });
  const ev = await proc.waitFor((e) => e.event === 'listening', 20_000, 'listening');
  return { proc, port: Number(ev.port), pid: typeof ev.pid === 'number' ? ev.pid : proc.child.pid };
}

async function setup(topo: Topology, g: Group): Promise<Endpoints> {
  const placed: Placed[] = [];
  try {
    const ns = topo.nativeSpawner;
    switch (g.config) {
      case 'linux-linux': {
        // In the namespace when there is one (its own loopback), else the host's.
        const w = await startWriter(null, '127.0.0.1', ns ? PORT : 0, ns);
        return { transport: ns ? 'loopback (netns)' : 'loopback', writer: w.proc, writerPid: w.pid, host: '127.0.0.1', port: w.port, reader: { rump: null, ns }, senderServer: null, receiverServer: null, placed };
      }
      case 'rump-linux': {
        if (!topo.linuxPeer) throw new Unavailable(`a Linux peer for the rump stack needs a tap in a network namespace: ${topo.whyNoTap}`);
        const s = await topo.tapServer(g.sender!);
        placed.push(s);
        const w = await startWriter(s.server, '0.0.0.0', PORT, null);
        return { transport: 'tap', writer: w.proc, writerPid: w.pid, host: s.rumpIp, port: w.port, reader: { rump: null, ns }, senderServer: s.server, receiverServer: null, placed };
      }
      case 'linux-rump': {
        if (!topo.linuxPeer) throw new Unavailable(`a Linux peer for the rump stack needs a tap in a network namespace: ${topo.whyNoTap}`);
        const r = await topo.tapServer(g.receiver!);
        placed.push(r);
        const w = await startWriter(null, r.linuxIp!, PORT, ns);
        return { transport: 'tap', writer: w.proc, writerPid: w.pid, host: r.linuxIp!, port: w.port, reader: { rump: r.server, ns: null }, senderServer: null, receiverServer: r.server, placed };
      }
      case 'rump-rump': {
        let s: Placed;
        let r: Placed;
        if (topo.linuxPeer) {
          s = await topo.tapServer(g.sender!);
          placed.push(s);
          r = await topo.tapServer(g.receiver!);
          placed.push(r);
        } else {
          const bus = topo.newBus();
          s = await bus.join(g.sender!, 2);
          placed.push(s);
          r = await bus.join(g.receiver!, 3);
          placed.push(r);
        }
        const w = await startWriter(s.server, '0.0.0.0', PORT, null);
        return {
          transport: topo.linuxPeer ? 'tap, routed by Linux' : 'bus', writer: w.proc, writerPid: w.pid, host: s.rumpIp, port: w.port,
          reader: { rump: r.server, ns: null }, senderServer: s.server, receiverServer: r.server, placed,
        };
      }
    }
  } catch (e) {
    for (const p of placed) await p.release().catch(() => undefined);
    throw e;
  }
}

/**
 * One untimed transfer of `seconds` through `ep` at its largest size
 * (`Sweep.warmup`): the group's long-lived processes — rump server, rump
 * write_server — get past the JIT's warm-up before the measured runs. Its
 * COPYIN counts are read before each measured run, so they are not mixed
 * in. Rejects as {@link measure} does.
 */
export async function warmUp(ep: Endpoints, sizes: readonly number[], seconds: number): Promise<void> {
  if (seconds <= 0 || sizes.length === 0) return;
  await measure(ep, Math.max(...sizes), { runs: 1, seconds } as Sweep);
}

/**
 * Runs one group: all its sizes. `onCell` is called after each size (for
 * the progress bar). Never rejects: failures become skipped cells.
 */
export async function runGroup(topo: Topology, avail: Availability, g: Group, sweep: Sweep, pools: PoolUse[], onCell: (c: Cell) => void): Promise<Cell[]> {
  const base = (size: number): CellBase => ({ group: g.key, config: g.config, sender: g.sender, receiver: g.receiver, size });
  const skipAll = (reason: string): Cell[] => g.sizes.map((size) => {
    const c: Cell = { ...base(size), status: 'skipped', reason };
    onCell(c);
    return c;
  });
  if (g.config !== 'linux-linux' && !avail.rumpTcp.ok) return skipAll(avail.rumpTcp.reason);
  let ep: Endpoints;
  try {
    ep = await setup(topo, g);
  } catch (e) {
    return skipAll(reasonOf(e));
  }
  const cells: Cell[] = [];
  try {
    try {
      await warmUp(ep, g.sizes, sweep.warmup);
    } catch (e) {
      return skipAll(`warm-up: ${reasonOf(e)}`);
    }
    for (const size of g.sizes) {
      let cell: Cell;
      try {
        cell = { ...base(size), ...(await measure(ep, size, sweep)) };
      } catch (e) {
        cell = { ...base(size), status: 'skipped', reason: reasonOf(e) };
      }
      cells.push(cell);
      onCell(cell);
    }
    for (const [role, srv] of [['sender', ep.senderServer], ['receiver', ep.receiverServer]] as const) {
      if (srv === null) continue;
      const p = await srv.pool().catch(() => null);
      if (p) pools.push({ group: g.key, role, clustersPeak: p.clustersPeak ?? 0, clustersTotal: p.clustersTotal ?? 0, mbufsPeak: p.mbufsPeak ?? 0, allocFailures: p.allocFailures ?? 0 });
    }
  } finally {
    await ep.writer.stop();
    for (const p of ep.placed) await p.release().catch(() => undefined);
  }
  return cells;
}

/**
 * Runs paired groups in turns: every group's endpoints are set up at once,
 * then for each size and run, one transfer of each group in turn (a fresh
 * read_client each). A load that comes and goes during the run then falls
 * on every configuration alike, and their ratio means something on a
 * loaded machine. Never rejects: a group that cannot be set up, or a
 * transfer that fails, becomes skipped cells with the reason.
 */
export async function runPaired(topo: Topology, avail: Availability, groups: readonly Group[], sweep: Sweep, pools: PoolUse[], onCell: (c: Cell) => void): Promise<Cell[]> {
  const base = (g: Group, size: number): CellBase => ({ group: g.key, config: g.config, sender: g.sender, receiver: g.receiver, size });
  const eps = new Map<Group, Endpoints>();
  const failed = new Map<string, string>(); // `${key} ${size}` or key → reason
  const runs = new Map<string, CellOk[]>();
  try {
    for (const g of groups) {
      if (!avail.rumpTcp.ok) failed.set(g.key, avail.rumpTcp.reason);
      else {
        try {
          eps.set(g, await setup(topo, g));
        } catch (e) {
          failed.set(g.key, reasonOf(e));
        }
      }
    }
    // Every group warmed up once, in turn, before the first measured run of any.
    for (const g of groups) {
      const ep = eps.get(g);
      if (ep === undefined || failed.has(g.key)) continue;
      try {
        await warmUp(ep, g.sizes, sweep.warmup);
      } catch (e) {
        failed.set(g.key, `warm-up: ${reasonOf(e)}`);
      }
    }
    const sizes = [...new Set(groups.flatMap((g) => g.sizes))].sort((a, b) => a - b);
    const one = { ...sweep, runs: 1 };
    for (const size of sizes) {
      for (let r = 0; r < sweep.runs; r++) {
        for (const g of groups) {
          const ep = eps.get(g);
          const k = `${g.key} ${size}`;
          if (!g.sizes.includes(size) || ep === undefined || failed.has(k)) continue;
          try {
            runs.set(k, [...(runs.get(k) ?? []), await measure(ep, size, one)]);
          } catch (e) {
            failed.set(k, reasonOf(e));
          }
        }
      }
    }
    for (const [g, ep] of eps) {
      for (const [role, srv] of [['sender', ep.senderServer], ['receiver', ep.receiverServer]] as const) {
        if (srv === null) continue;
        const p = await srv.pool().catch(() => null);
        if (p) pools.push({ group: g.key, role, clustersPeak: p.clustersPeak ?? 0, clustersTotal: p.clustersTotal ?? 0, mbufsPeak: p.mbufsPeak ?? 0, allocFailures: p.allocFailures ?? 0 });
      }
    }
  } finally {
    for (const ep of eps.values()) {
      await ep.writer.stop();
      for (const p of ep.placed) await p.release().catch(() => undefined);
    }
  }
  const mid = (xs: (number | undefined)[]): number | undefined => {
    const v = xs.filter((x): x is number => x !== undefined);
    return v.length ? median(v) : undefined;
  };
  const cells: Cell[] = [];
  for (const g of groups) {
    for (const size of g.sizes) {
      const k = `${g.key} ${size}`;
      const why = failed.get(k) ?? failed.get(g.key);
      const rs = runs.get(k) ?? [];
      let c: Cell;
      if (why !== undefined || rs.length === 0) c = { ...base(g, size), status: 'skipped', reason: why ?? 'not measured' };
      else {
        const mibps = rs.map((x) => x.median);
        const ci = mid(rs.map((x) => x.copyinPerMiB));
        const co = mid(rs.map((x) => x.copyoutPerMiB));
        const ca = mid(rs.map((x) => x.copyoutAvoidedPerMiB));
        c = {
          ...base(g, size), status: 'ok', transport: rs[0]!.transport, runs: mibps, median: median(mibps), min: Math.min(...mibps), max: Math.max(...mibps),
          ...(ci !== undefined ? { copyinPerMiB: ci } : {}), ...(co !== undefined ? { copyoutPerMiB: co } : {}), ...(ca !== undefined ? { copyoutAvoidedPerMiB: ca } : {}),
        };
      }
      cells.push(c);
      onCell(c);
    }
  }
  return cells;
}

/**
 * The environment of a rump client (reader, writer, echo client) of
 * `server`: its URL, and for the NetBSD-equivalent configuration one recv at
 * a time (`RUMPNET_READ_AHEAD=0`) and one send per `write()`
 * (`RUMPNET_WRITE_GATHER=0`), as NetBSD's rumpclient makes each blocking call
 * in turn — the client's read-ahead and write gathering are rumpnet's, not
 * part of the stand-in for real rump. A server without the shared-memory
 * path (`shm: false`) gets clients that do not offer a region (`RUMPNET_SHM=0`);
 * posted sends are off (`RUMPNET_POSTED_SEND=0`) where the configuration says
 * so (the ladder); streamed receives (`RUMPNET_RX_STREAM=0`) with the
 * NetBSD-equivalent configuration and wherever there is no region.
 */
export function clientEnv(server: Pick<RumpServerProc, 'url' | 'params'>): NodeJS.ProcessEnv {
  const netbsd = paramsKey(server.params) === paramsKey(PAPER_DEFAULT);
  const noAhead = netbsd || server.params.readAhead === false;
  const noGather = netbsd || server.params.writeGather === false;
  const noShm = server.params.shm === false;
  // (The NetBSD-equivalent server has no inline sends, so no posted ones either.)
  const noPosted = server.params.postedSend === false;
  // Streamed receives (§7a) replace the recv per read: never in the NetBSD-equivalent stand-in (it has no region either).
  const noStream = netbsd || noShm || server.params.rxStream === false;
  // The client's busy poll is opt-in, and never the NetBSD-equivalent stand-in's.
  const spin = !netbsd && (server.params.clientBusyPollUs ?? 0) > 0 ? { RUMPNET_BUSY_POLL: String(server.params.clientBusyPollUs) } : {};
  return { RUMP_SERVER: server.url, ...spin, ...(noStream ? { RUMPNET_RX_STREAM: '0' } : {}), ...(noAhead ? { RUMPNET_READ_AHEAD: '0' } : {}), ...(noGather ? { RUMPNET_WRITE_GATHER: '0' } : {}), ...(noShm ? { RUMPNET_SHM: '0' } : {}), ...(noPosted ? { RUMPNET_POSTED_SEND: '0' } : {}) };
}

/** One size of a group: one read_client process making `sweep.runs` transfers. */
export async function measure(ep: Endpoints, size: number, sweep: Sweep): Promise<CellOk> {
  const before = await ep.senderServer?.countersOf(ep.writerPid);
  const args = ['--host', ep.host, '--port', String(ep.port), '--size', String(size), '--runs', String(sweep.runs), '--duration', String(sweep.seconds), '--json'];
  const reader = Proc.example('read_client', args, ep.reader.rump ? { env: clientEnv(ep.reader.rump) } : { ns: ep.reader.ns });
  const code = await reader.finish(sweep.runs * (sweep.seconds * 1000 + 30_000) + 20_000);
  const results = reader.events.filter((e) => e.event === 'result');
  if (code !== 0 || results.length !== sweep.runs) {
    if (code === 3) throw new Unavailable(reader.tail(1).replace(/^[a-z_]+: unavailable: /, ''));
    throw new Error(`read_client exited with status ${code} after ${results.length} of ${sweep.runs} transfers${reader.tail() ? `: ${reader.tail()}` : ''}`);
  }
  const runs = results.map((e) => Number(e.mibps));
  if (runs.some((r) => !(r > 0))) throw new Error(`a transfer moved no data (${runs.join(', ')} MiB/s)`);
  const mib = results.reduce((s, e) => s + Number(e.bytes), 0) / MiB;
  const out: CellOk = { status: 'ok', transport: ep.transport, runs, median: median(runs), min: Math.min(...runs), max: Math.max(...runs) };
  if (ep.senderServer && before) {
    const after = await ep.senderServer.countersOf(ep.writerPid);
    if (after) out.copyinPerMiB = (after.copyinRequests! - before.copyinRequests!) / mib;
    if (after?.copyinsAvoided !== undefined) out.copyinsAvoidedPerMiB = (after.copyinsAvoided - (before.copyinsAvoided ?? 0)) / mib;
    if (after?.copyinPeak !== undefined) out.copyinPeak = after.copyinPeak;
  }
  if (ep.receiverServer) {
    const c = await ep.receiverServer.departedCounters(reader.child.pid);
    if (c) out.copyoutPerMiB = c.copyoutRequests! / mib;
    if (c) out.copyoutAvoidedPerMiB = (c.copyoutsAvoided ?? 0) / mib;
  }
  return out;
}

// ----- latency -----

/** The busy poll the latency section measures beside the defaults (`rump-server --busy-poll`, µs). */
export const ECHO_BUSY_POLL_US = 100;
/**
 * The client busy poll the latency section measures with the server's
 * (`RUMPNET_BUSY_POLL`, µs: the bound of an adaptive spin; packages/client/src/busypoll.ts).
 */
export const ECHO_CLIENT_BUSY_POLL_US = 1000;

/** Unix-socket messages per echo round trip, counted by the rump client's connection. */
export interface Hops {
  /** Frames to the rump server, and back. */
  framesSent: number;
  framesReceived: number;
  /** Socket writes (a turn's frames leave in one) and reads that returned data. */
  socketWrites: number;
  socketReads: number;
  /** The client's busy poll (RUMPNET_BUSY_POLL) per round trip: spins, spins the answer ended, µs spun; where the client has it. */
  busyPolls?: number;
  busyPollHits?: number;
  busyPollUs?: number;
}

/** CPU time per echo, µs, of each process (schedstat, all threads): the echo client, the rump server (if any), the echo server. */
export interface EchoCpu {
  client: number;
  server?: number;
  echo: number;
}

/** Round-trip times of one configuration, or why it was skipped. */
export type LatencyResult = { config: string; description: string } & (
  | { status: 'ok'; count: number; p50us: number; p99us: number; hops?: Hops; cpuUs?: EchoCpu }
  | { status: 'skipped'; reason: string }
);

/** Where an echo server or client runs: through a rump server, or natively (in `ns` or on the host), and the address. */
export type EchoSide = { rump: RumpServerProc | null; ns: Spawner | null; host: string };

/** What one echo client measured: round trips, p50/p99 in µs, hops per round trip through a rump client, CPU per echo. */
export type EchoResult = { count: number; p50us: number; p99us: number; hops?: Hops; cpuUs?: EchoCpu };

/** Starts tcp_echo_server on port 7007 of `srv` and waits until it listens. */
export async function startEchoServer(srv: EchoSide): Promise<Proc> {
  const server = Proc.example('tcp_echo_server', ['--host', srv.host, '--port', '7007', '--json'], srv.rump ? { env: { RUMP_SERVER: srv.rump.url } } : { ns: srv.ns });
  try {
    await server.waitFor((e) => e.event === 'listening', 20_000, 'listening');
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/**
 * Runs one tcp_echo_client of `n` 64-byte round trips against port 7007 of
 * `cli.host`; with the echo server's pid, also the CPU per echo of the
 * client, the rump server (through a rump client) and the echo server.
 */
export async function runEchoClient(cli: EchoSide, n: number, echoPid?: number): Promise<EchoResult> {
  const serverPid = cli.rump?.proc.child.pid;
  const pids = [serverPid, echoPid].filter((p): p is number => p !== undefined);
  const client = Proc.example('tcp_echo_client', ['--host', cli.host, '--port', '7007', '--count', String(n), '--json', ...(pids.length ? ['--cpu-pids', pids.join(',')] : [])], cli.rump ? { env: clientEnv(cli.rump) } : { ns: cli.ns });
  const code = await client.finish(n * 50 + 30_000);
  const ev = client.events.find((e) => e.event === 'latency');
  if (code === 3) throw new Unavailable(client.tail(1).replace(/^[a-z_]+: unavailable: /, ''));
  if (code !== 0 || !ev) throw new Error(`tcp_echo_client exited with status ${code}: ${client.tail()}`);
  const hops = ev.hops as Hops | undefined;
  const c = ev.cpuUs as Record<string, number> | undefined;
  const cpuUs: EchoCpu | undefined = c && echoPid !== undefined && c[String(echoPid)] !== undefined
    ? { client: c.client!, ...(serverPid !== undefined && c[String(serverPid)] !== undefined ? { server: c[String(serverPid)] } : {}), echo: c[String(echoPid)]! }
    : undefined;
  return { count: Number(ev.count), p50us: Number(ev.p50us), p99us: Number(ev.p99us), ...(hops && typeof hops.framesSent === 'number' ? { hops } : {}), ...(cpuUs ? { cpuUs } : {}) };
}

/**
 * Echo round trips (64 bytes): native; rump client and server on one rump
 * server's lo0; rump client to a Linux echo server over a tap, with
 * rumpnet's defaults and with the NetBSD-equivalent configuration.
 */
export async function runLatency(topo: Topology, avail: Availability, count: number, turns = 1): Promise<LatencyResult[]> {
  const echoTurns = Math.max(1, turns);
  const out: LatencyResult[] = [];
  const one = async (config: string, description: string, fn: () => Promise<{ count: number; p50us: number; p99us: number; hops?: Hops }>): Promise<void> => {
    try {
      out.push({ config, description, status: 'ok', ...(await fn()) });
    } catch (e) {
      out.push({ config, description, status: 'skipped', reason: reasonOf(e) });
    }
  };
  type Side = EchoSide;
  type Echo = EchoResult;
  const startServer = startEchoServer;
  const runClient = runEchoClient;
  const echo = async (srv: Side, cli: Side): Promise<Echo> => {
    const server = await startServer(srv);
    try {
      return await runClient(cli, count, server.child.pid);
    } finally {
      await server.stop();
    }
  };
  const ns = topo.nativeSpawner;
  await one('native', `Linux client → Linux server, loopback${ns ? ' (netns)' : ''}`, () => echo({ rump: null, ns, host: '127.0.0.1' }, { rump: null, ns, host: '127.0.0.1' }));
  await one('rump-lo0', 'rump client → rump server, one rump server\'s lo0', async () => {
    if (!avail.rumpTcp.ok) throw new Unavailable(avail.rumpTcp.reason);
    const srv = await topo.loopbackServer(RUMPNET_DEFAULT);
    try {
      return await echo({ rump: srv, ns: null, host: '127.0.0.1' }, { rump: srv, ns: null, host: '127.0.0.1' });
    } finally {
      await srv.stop();
    }
  });
  // The issue table's pair, in turns as runPaired does: both tap servers and
  // their Linux echo servers up at once, then `turns` clients of each in
  // turn; p50 and p99 are the medians of the turns', hops their mean. The
  // defaults with the tap's busy poll on (opt-in, not a default: it spins
  // a CPU) ride along in the same turns.
  const taps = [
    ['rump-linux', RUMPNET_DEFAULT, 'rumpnet defaults'],
    ['rump-linux-netbsd', PAPER_DEFAULT, 'NetBSD-equivalent'],
    ['rump-linux-busypoll', { ...RUMPNET_DEFAULT, busyPollUs: ECHO_BUSY_POLL_US }, `rumpnet defaults + --busy-poll ${ECHO_BUSY_POLL_US}`],
    ['rump-linux-spin', { ...RUMPNET_DEFAULT, busyPollUs: ECHO_BUSY_POLL_US, clientBusyPollUs: ECHO_CLIENT_BUSY_POLL_US }, `rumpnet defaults + --busy-poll ${ECHO_BUSY_POLL_US} + client RUMPNET_BUSY_POLL=${ECHO_CLIENT_BUSY_POLL_US}`],
  ] as const;
  const what = (w: string): string => `rump client → Linux echo server, over a tap, ${w} (${echoTurns} turns, alternating)`;
  const why = !avail.rumpTcp.ok ? avail.rumpTcp.reason : !topo.linuxPeer ? `needs a tap in a network namespace: ${topo.whyNoTap}` : null;
  if (why !== null) {
    for (const [config, , w] of taps) out.push({ config, description: what(w), status: 'skipped', reason: why });
    return out;
  }
  const placed = new Map<string, Placed>();
  const servers: Proc[] = [];
  const echoPids = new Map<string, number | undefined>();
  const failed = new Map<string, string>();
  const got = new Map<string, Echo[]>();
  try {
    for (const [config, params] of taps) {
      try {
        const s = await topo.tapServer(params);
        placed.set(config, s);
        const e = await startServer({ rump: null, ns, host: s.linuxIp! });
        servers.push(e);
        echoPids.set(config, e.child.pid);
      } catch (e) {
        failed.set(config, reasonOf(e));
      }
    }
    const per = Math.max(1, Math.ceil(count / echoTurns));
    for (let t = 0; t < echoTurns; t++) {
      for (const [config] of taps) {
        const s = placed.get(config);
        if (s === undefined || failed.has(config)) continue;
        try {
          got.set(config, [...(got.get(config) ?? []), await runClient({ rump: s.server, ns: null, host: s.linuxIp! }, per, echoPids.get(config))]);
        } catch (e) {
          failed.set(config, reasonOf(e));
        }
      }
    }
  } finally {
    for (const p of servers) await p.stop();
    for (const s of placed.values()) await s.release().catch(() => undefined);
  }
  for (const [config, , w] of taps) {
    const rs = got.get(config) ?? [];
    const reason = failed.get(config);
    if (reason !== undefined || rs.length === 0) {
      out.push({ config, description: what(w), status: 'skipped', reason: reason ?? 'not measured' });
      continue;
    }
    const hs = rs.map((r) => r.hops).filter((h): h is Hops => h !== undefined);
    const mean = (k: keyof Hops): number => hs.reduce((a, h) => a + (h[k] ?? 0), 0) / hs.length;
    const cs = rs.map((r) => r.cpuUs).filter((c): c is EchoCpu => c !== undefined);
    const cpuUs: EchoCpu | undefined = cs.length ? { client: median(cs.map((c) => c.client)), server: median(cs.map((c) => c.server ?? NaN)), echo: median(cs.map((c) => c.echo)) } : undefined;
    out.push({
      config, description: what(w), status: 'ok', count: rs.reduce((a, r) => a + r.count, 0), p50us: median(rs.map((r) => r.p50us)), p99us: median(rs.map((r) => r.p99us)),
      ...(hs.length ? { hops: { framesSent: mean('framesSent'), framesReceived: mean('framesReceived'), socketWrites: mean('socketWrites'), socketReads: mean('socketReads'), ...(hs.every((h) => typeof h.busyPolls === 'number') ? { busyPolls: mean('busyPolls'), busyPollHits: mean('busyPollHits'), busyPollUs: mean('busyPollUs') } : {}) } } : {}),
      ...(cpuUs ? { cpuUs } : {}),
    });
  }
  return out;
}

// ----- scale -----

/** Memory of one server holding N idle TCP connections, or why it was skipped. */
export type ScaleResult =
  | { status: 'ok'; connections: number; serverSockets: number; seconds: number; rssBeforeMiB: number; rssAfterMiB: number; perConnectionKiB: number }
  | { status: 'skipped'; connections: number; reason: string };

/** The server's RSS once two samples 150 ms apart no longer fall (at most 3 s). */
async function settledRss(srv: { rssBytes(): number | null }): Promise<number | null> {
  let last = srv.rssBytes();
  for (let i = 0; i < 20 && last !== null; i++) {
    await new Promise((r) => setTimeout(r, 150));
    const now = srv.rssBytes();
    if (now === null || now >= last) return now;
    last = now;
  }
  return last;
}

/** Holds `n` idle connections (2n sockets) through one loopback server and reads its RSS. */
export async function runScale(topo: Topology, avail: Availability, n: number): Promise<ScaleResult> {
  if (!avail.rumpTcp.ok) return { status: 'skipped', connections: n, reason: avail.rumpTcp.reason };
  let srv: RumpServerProc | null = null;
  let holder: Proc | null = null;
  try {
    srv = await topo.loopbackServer(RUMPNET_DEFAULT, { maxFds: n + 64 });
    // RSS falls for a while after start-up as V8 collects the start-up
    // garbage; sampled too early, that fall hides what the connections add
    // (100 connections once measured -4.7 MiB). Wait until it stops falling.
    const before = await settledRss(srv);
    holder = Proc.node(new URL('./hold.ts', import.meta.url).pathname, ['--connections', String(n)], { env: { RUMP_SERVER: srv.url }, label: 'hold' });
    const ev = await holder.waitFor((e) => e.event === 'held', 60_000 + n * 20, 'all connections up');
    const after = srv.rssBytes();
    const sockets = (await srv.clients()).reduce((s, c) => s + c.fds, 0);
    if (before === null || after === null) throw new Unavailable('no /proc/<pid>/status to read the server\'s memory');
    return {
      status: 'ok', connections: n, serverSockets: sockets, seconds: Number(ev.seconds),
      rssBeforeMiB: before / MiB, rssAfterMiB: after / MiB, perConnectionKiB: Math.max(0, after - before) / 1024 / n,
    };
  } catch (e) {
    return { status: 'skipped', connections: n, reason: reasonOf(e) };
  } finally {
    await holder?.stop();
    await srv?.stop();
  }
}

/**
 * Finds what the rump side can do: starts a loopback server (is the daemon
 * there?), opens a TCP socket through it (EPROTONOSUPPORT: no TCP yet), and
 * looks for the client's node:net-shaped API.
 */
export async function probe(topo: Topology): Promise<Availability> {
  const mk = (rumpTcp: Availability['rumpTcp']): Availability => ({ rumpTcp, topology: topo.kind, offload: topo.offload, whyNoTap: topo.whyNoTap });
  let srv: RumpServerProc;
  try {
    srv = await topo.loopbackServer(PAPER_DEFAULT);
  } catch (e) {
    return mk({ ok: false, reason: reasonOf(e) });
  }
  try {
    const tcp = await srv.probeTcp();
    if (!tcp.ok) return mk(tcp);
  } finally {
    await srv.stop();
  }
  try {
    const { loadNet } = await import('../lib/select.js');
    await loadNet(true);
  } catch (e) {
    return mk({ ok: false, reason: (e as Error).message });
  }
  return mk({ ok: true });
}
