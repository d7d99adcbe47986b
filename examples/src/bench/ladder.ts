/**
 * The ladder: what each change of issue #12 bought, measured change by
 * change. It starts from the NetBSD-equivalent configuration (one COPYIN
 * round trip per 2048-byte cluster, one COPYOUT per mbuf, a plain tap, no
 * copy window, nothing inline) and turns on one change at a time,
 * cumulatively, ending at rumpnet's defaults:
 *
 *   NetBSD-equivalent → + MCLNUM 16 → + coalesced receive → + tap offloads
 *   → + copy window 4 → + inline writes → + inline receive
 *   → + the client's read-ahead → + shared memory → + the client's write gathering
 *   → + posted sends → + streamed receive (= defaults)
 *
 * (the client's read-ahead, write gathering, posted sends and streamed
 * receives are switched by its rump clients' environment, `RUMPNET_READ_AHEAD=0`,
 * `RUMPNET_WRITE_GATHER=0`, `RUMPNET_POSTED_SEND=0` and `RUMPNET_RX_STREAM=0`, not by a server
 * option; runner.ts `clientEnv`)
 *
 * Every rung gets one rump server on its own tap with a rump write_server
 * beside it; one Linux write_server and one Linux echo server in the
 * namespace (on 0.0.0.0) serve every rung's tap; all rungs are up
 * at once and measured **in turns** (one transfer of each rung in turn, as
 * the issue table's pair is), so that the step ratios compare like with
 * like under a load that moves. Per rung: rump→Linux and Linux→rump at
 * 64 KiB, rump→Linux at 1 KiB (MiB/s, median), copy requests per MiB (the
 * server's counters), the most COPYINs outstanding, and the 64-byte echo's
 * p50 with its hops.
 *
 * A rung whose server option this rump-server lacks is skipped with the
 * reason (e.g. `--inline-recv-max` before inline receive landed).
 *
 * @module
 */
import { PAPER_DEFAULT, RUMPNET_DEFAULT, type Sweep } from './plan.js';
import type { Proc } from './procs.js';
import { describeParams, serverOptions, type StackParams } from './rump.js';
import { median, measure, reasonOf, warmUp, runEchoClient, startEchoServer, startWriter, type Availability, type CellOk, type EchoResult, type Endpoints, type Hops } from './runner.js';
import type { Placed, Topology } from './topology.js';

const KiB = 1024;
const PORT = 5001;

/** One rung: the change it makes and the server parameters after it. */
export interface Rung {
  /** The change, as printed ("+ MCLNUM 16"); the first rung is the base. */
  step: string;
  /** The server parameters with this and every earlier change. */
  params: StackParams;
  /** The rump-server option this rung needs; skipped where the daemon lacks it. */
  needs?: string;
}

/**
 * The rungs, cumulative: each differs from the one before in one option
 * only (tested), the first is {@link PAPER_DEFAULT}, the last rumpnet's
 * defaults (every option at the server's default).
 */
export const LADDER: readonly Rung[] = (() => {
  // The client's read-ahead (RUMPNET_READ_AHEAD) and write gathering (RUMPNET_WRITE_GATHER) are off up to
  // their own rungs, as in the NetBSD-equivalent configuration.
  // Posted sends (RUMPNET_POSTED_SEND) too: they need inline writes, and come last.
  // Streamed receives (RUMPNET_RX_STREAM) likewise, the last rung.
  const r0: StackParams = { ...PAPER_DEFAULT, readAhead: false, writeGather: false, postedSend: false, rxStream: false };
  const r1: StackParams = { ...r0, mclnum: 16 };
  const r2: StackParams = { ...r1, rxMode: 'coalesced' };
  const r3: StackParams = { ...r2, offload: true };
  const r4: StackParams = { ...r3, copyWindow: 4 };
  const r5: StackParams = { ...r4, inlineMax: 2048 };
  const r6: StackParams = { ...r5, inlineRecvMax: 2048 };
  const { readAhead: _ahead, ...r7 } = r6;
  const { shm: _shm, ...r8 } = r7;
  return [
    { step: 'NetBSD-equivalent', params: r0 },
    { step: '+ MCLNUM 16', params: r1 },
    { step: '+ coalesced receive', params: r2 },
    { step: '+ tap offloads', params: r3 },
    { step: '+ copy window 4', params: r4 },
    { step: '+ inline writes', params: r5 },
    { step: '+ inline receive', params: r6, needs: '--inline-recv-max' },
    { step: '+ client read-ahead', params: r7 },
    { step: '+ shared memory', params: r8, needs: '--no-shm' },
    { step: '+ client write gathering', params: { ...RUMPNET_DEFAULT, postedSend: false, rxStream: false } },
    { step: '+ posted sends', params: { ...RUMPNET_DEFAULT, rxStream: false }, needs: '--posted-window' },
    { step: '+ streamed receive (= defaults)', params: { ...RUMPNET_DEFAULT } },
  ];
})();

/** The ladder's figures, in the order printed. */
export const LADDER_POINTS = [
  { key: 'send64k', label: 'rump→Linux 64K', direction: 'send', size: 64 * KiB },
  { key: 'recv64k', label: 'Linux→rump 64K', direction: 'receive', size: 64 * KiB },
  { key: 'send1k', label: 'rump→Linux 1K', direction: 'send', size: KiB },
] as const;

/** A figure's key. */
export type PointKey = (typeof LADDER_POINTS)[number]['key'];

/** A throughput figure of one rung: MiB/s of each turn, and the copy requests per MiB seen. */
export type LadderPoint =
  | { status: 'ok'; runs: number[]; median: number; copyinPerMiB?: number; copyoutPerMiB?: number; copyinsAvoidedPerMiB?: number; copyoutAvoidedPerMiB?: number; copyinPeak?: number }
  | { status: 'skipped'; reason: string };

/** The echo of one rung. */
export type LadderEcho = { status: 'ok'; count: number; p50us: number; p99us: number; hops?: Hops } | { status: 'skipped'; reason: string };

/** One rung measured (or skipped, with why). */
export interface RungResult {
  step: string;
  /** The options the server ran with (and those this daemon lacks). */
  used: string;
  /** Whether this rung ran with tap offloads. */
  offload: boolean;
  status: 'ok' | 'skipped';
  reason?: string;
  points: Record<PointKey, LadderPoint>;
  /** Most COPYIN requests outstanding at once over the rung's sends (the server's high-water mark). */
  copyinPeak: number | null;
  /** COPYINs avoided per MiB by inline writes, at 1 KiB writes. */
  copyinsAvoidedPerMiB: number | null;
  /** COPYOUTs avoided per MiB by inline receive, at 64 KiB (null: this daemon does not count them). */
  copyoutAvoidedPerMiB: number | null;
  echo: LadderEcho;
}

/** How much of the ladder a mode measures. */
export interface LadderSweep {
  /** Turns per throughput figure (one transfer of each rung per turn). */
  runs: number;
  seconds: number;
  /** Seconds of one untimed transfer each way per rung before its turns (`Sweep.warmup`; 0: none). */
  warmup: number;
  /** Echo turns and echoes per turn. */
  echoTurns: number;
  echoes: number;
}

/** The ladder's share of a mode: lean in `--smoke` and `--quick`. */
export function ladderSweep(sweep: Sweep): LadderSweep {
  switch (sweep.mode) {
    case 'smoke': return { runs: 1, seconds: 0.2, warmup: sweep.warmup, echoTurns: 1, echoes: 50 };
    // one turn: --quick stays near 3 minutes (a turn is 21 read_client processes); the full run's turns are the figures to quote
    case 'quick': return { runs: 1, seconds: sweep.seconds, warmup: sweep.warmup, echoTurns: 2, echoes: 100 };
    case 'full': return { runs: sweep.runs, seconds: sweep.seconds, warmup: sweep.warmup, echoTurns: sweep.echoTurns, echoes: 400 };
  }
}

/** Progress steps of {@link runLadder}: a set-up per rung, a turn per figure and run, an echo turn. */
export function ladderSteps(ls: LadderSweep): number {
  return LADDER.length + (ls.warmup > 0 ? 1 : 0) + LADDER_POINTS.length * ls.runs + ls.echoTurns;
}

interface RungRig {
  placed: Placed;
  send: Endpoints;
  recv: Endpoints;
}

/** The Linux side shared by every rung: a write_server and an echo server on all the namespace's addresses. */
interface LinuxSide {
  writer: { proc: Proc; port: number; pid: number | undefined };
  echo: Proc;
}

/** Sets up one rung: its tap server and a rump write_server on it; Linux→rump and the echo use `linux`. */
async function rig(topo: Topology, params: StackParams, linux: LinuxSide): Promise<RungRig> {
  const placed = await topo.tapServer(params);
  try {
    const ns = topo.nativeSpawner;
    const ws = await startWriter(placed.server, '0.0.0.0', PORT, null);
    const base = { transport: 'tap', placed: [placed] };
    return {
      placed,
      send: { ...base, writer: ws.proc, writerPid: ws.pid, host: placed.rumpIp, port: ws.port, reader: { rump: null, ns }, senderServer: placed.server, receiverServer: null },
      recv: { ...base, writer: linux.writer.proc, writerPid: linux.writer.pid, host: placed.linuxIp!, port: linux.writer.port, reader: { rump: placed.server, ns: null }, senderServer: null, receiverServer: placed.server },
    };
  } catch (e) {
    await placed.release().catch(() => undefined);
    throw e;
  }
}

/**
 * Measures the ladder (see the module comment). Never rejects: a rung that
 * cannot be set up, or a figure that fails, is skipped with the reason.
 */
export async function runLadder(topo: Topology, avail: Availability, ls: LadderSweep, onStep: (what: string) => void): Promise<RungResult[]> {
  const supported = await serverOptions();
  const why = !avail.rumpTcp.ok ? avail.rumpTcp.reason : !topo.linuxPeer ? `the ladder needs a Linux peer, a tap in a network namespace: ${topo.whyNoTap}` : null;
  const rigs = new Map<number, RungRig>();
  const failed = new Map<number, string>();
  const got = new Map<string, CellOk[]>(); // `${rung} ${point}`
  const pointFailed = new Map<string, string>();
  const echoes = new Map<number, EchoResult[]>();
  const echoFailed = new Map<number, string>();
  const one = { runs: 1, seconds: ls.seconds } as Sweep;
  let linux: LinuxSide | undefined;
  let linuxWhy: string | null = null;
  try {
    if (why === null) {
      const procs: Proc[] = [];
      try {
        const writer = await startWriter(null, '0.0.0.0', PORT, topo.nativeSpawner);
        procs.push(writer.proc);
        linux = { writer, echo: await startEchoServer({ rump: null, ns: topo.nativeSpawner, host: '0.0.0.0' }) };
      } catch (e) {
        for (const p of procs) await p.stop();
        linuxWhy = `the Linux write_server or echo server did not start: ${reasonOf(e)}`;
      }
    }
    for (const [i, r] of LADDER.entries()) {
      onStep(`ladder: ${r.step}`);
      if (why !== null || linuxWhy !== null) failed.set(i, why ?? linuxWhy!);
      else if (r.needs !== undefined && !supported.has(r.needs)) failed.set(i, `this rump-server has no ${r.needs} option yet`);
      else {
        try {
          rigs.set(i, await rig(topo, r.params, linux!));
        } catch (e) {
          failed.set(i, reasonOf(e));
        }
      }
    }
    // Each rung's server and rump write_server warmed up once each way (largest point size) before the first turn.
    if (ls.warmup > 0) onStep('ladder: warm-up');
    for (const [i, g] of rigs) {
      try {
        await warmUp(g.send, LADDER_POINTS.filter((p) => p.direction === 'send').map((p) => p.size), ls.warmup);
        await warmUp(g.recv, LADDER_POINTS.filter((p) => p.direction !== 'send').map((p) => p.size), ls.warmup);
      } catch (e) {
        // Kept in `rigs` (released below) but measured no further.
        const w = `warm-up: ${reasonOf(e)}`;
        failed.set(i, w);
        for (const pt of LADDER_POINTS) pointFailed.set(`${i} ${pt.key}`, w);
        echoFailed.set(i, w);
      }
    }
    for (const pt of LADDER_POINTS) {
      for (let run = 0; run < ls.runs; run++) {
        onStep(`ladder: ${pt.label}, turn ${run + 1}`);
        for (const [i, g] of rigs) {
          const k = `${i} ${pt.key}`;
          if (pointFailed.has(k)) continue;
          try {
            const c = await measure(pt.direction === 'send' ? g.send : g.recv, pt.size, one);
            got.set(k, [...(got.get(k) ?? []), c]);
          } catch (e) {
            pointFailed.set(k, reasonOf(e));
          }
        }
      }
    }
    for (let t = 0; t < ls.echoTurns; t++) {
      onStep(`ladder: echo, turn ${t + 1}`);
      for (const [i, g] of rigs) {
        if (echoFailed.has(i)) continue;
        try {
          echoes.set(i, [...(echoes.get(i) ?? []), await runEchoClient({ rump: g.placed.server, ns: null, host: g.placed.linuxIp! }, ls.echoes)]);
        } catch (e) {
          echoFailed.set(i, reasonOf(e));
        }
      }
    }
  } finally {
    for (const g of rigs.values()) {
      await g.send.writer.stop();
      await g.placed.release().catch(() => undefined);
    }
    await linux?.echo.stop();
    await linux?.writer.proc.stop();
  }
  return LADDER.map((r, i): RungResult => {
    const used = `${describeParams(r.params, supported, topo.kind === 'tap' && topo.offloadOf(r.params))}${r.params.readAhead === false ? '; rump readers with RUMPNET_READ_AHEAD=0' : ''}${r.params.writeGather === false ? '; rump writers with RUMPNET_WRITE_GATHER=0' : ''}${r.params.shm === false ? '; rump clients with RUMPNET_SHM=0' : ''}${r.params.postedSend === false ? '; rump clients with RUMPNET_POSTED_SEND=0' : ''}${r.params.rxStream === false ? '; rump clients with RUMPNET_RX_STREAM=0' : ''}`;
    const offload = topo.kind === 'tap' && topo.offloadOf(r.params);
    const reason = failed.get(i);
    const points = {} as Record<PointKey, LadderPoint>;
    for (const pt of LADDER_POINTS) {
      const k = `${i} ${pt.key}`;
      const rs = got.get(k) ?? [];
      const w = reason ?? pointFailed.get(k);
      if (w !== undefined || rs.length === 0) points[pt.key] = { status: 'skipped', reason: w ?? 'not measured' };
      else {
        const mid = (xs: (number | undefined)[]): number | undefined => {
          const v = xs.filter((x): x is number => x !== undefined);
          return v.length ? median(v) : undefined;
        };
        const mibps = rs.flatMap((x) => x.runs);
        const p: LadderPoint = { status: 'ok', runs: mibps, median: median(mibps) };
        for (const f of ['copyinPerMiB', 'copyoutPerMiB', 'copyinsAvoidedPerMiB', 'copyoutAvoidedPerMiB'] as const) {
          const v = mid(rs.map((x) => x[f]));
          if (v !== undefined) p[f] = v;
        }
        const peak = rs.map((x) => x.copyinPeak).filter((x): x is number => x !== undefined);
        if (peak.length) p.copyinPeak = Math.max(...peak);
        points[pt.key] = p;
      }
    }
    const es = echoes.get(i) ?? [];
    const ew = reason ?? echoFailed.get(i);
    let echo: LadderEcho;
    if (ew !== undefined || es.length === 0) echo = { status: 'skipped', reason: ew ?? 'not measured' };
    else {
      const hs = es.map((e) => e.hops).filter((h): h is Hops => h !== undefined);
      const mean = (k: keyof Hops): number => hs.reduce((a, h) => a + (h[k] ?? 0), 0) / hs.length;
      echo = {
        status: 'ok', count: es.reduce((a, e) => a + e.count, 0), p50us: median(es.map((e) => e.p50us)), p99us: median(es.map((e) => e.p99us)),
        ...(hs.length ? { hops: { framesSent: mean('framesSent'), framesReceived: mean('framesReceived'), socketWrites: mean('socketWrites'), socketReads: mean('socketReads') } } : {}),
      };
    }
    const ok = (k: PointKey): Extract<LadderPoint, { status: 'ok' }> | null => (points[k].status === 'ok' ? points[k] : null);
    const peaks = [ok('send64k')?.copyinPeak, ok('send1k')?.copyinPeak].filter((x): x is number => x !== undefined);
    return {
      step: r.step, used, offload, status: reason === undefined ? 'ok' : 'skipped', ...(reason !== undefined ? { reason } : {}), points,
      copyinPeak: peaks.length ? Math.max(...peaks) : null,
      copyinsAvoidedPerMiB: ok('send1k')?.copyinsAvoidedPerMiB ?? null, copyoutAvoidedPerMiB: ok('recv64k')?.copyoutAvoidedPerMiB ?? null, echo,
    };
  });
}

