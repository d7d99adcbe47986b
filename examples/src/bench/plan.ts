/**
 * What the benchmark measures, as data: the paper's configurations
 * (Figure 2), the MCLBYTES/MCLNUM sweeps (Figures 5-7), the receive-mode
 * comparison, and how much of it each mode (`--smoke`, `--quick`, full)
 * runs. Points shared by several figures are measured once.
 *
 * @module
 */
import type { StackParams } from './rump.js';

/** Who sends and who receives (Figure 2's four lines). */
export type Config = 'linux-linux' | 'rump-linux' | 'linux-rump' | 'rump-rump';

/** Display names, as in the paper. */
export const CONFIG_LABEL: Readonly<Record<Config, string>> = {
  'linux-linux': 'Linux→Linux',
  'rump-linux': 'rump→Linux',
  'linux-rump': 'Linux→rump',
  'rump-rump': 'rump→rump',
};

/** How big the run is. */
export type Mode = 'smoke' | 'quick' | 'full';

/** The sweep of one mode. */
export interface Sweep {
  mode: Mode;
  /** Write buffer sizes (bytes). */
  sizes: number[];
  /** Sizes for the MCLBYTES/MCLNUM figures (a subset in the short modes). */
  sweepSizes: number[];
  runs: number;
  /** Seconds of data per transfer. */
  seconds: number;
  /**
   * Seconds of one untimed transfer per group (per rung of the ladder)
   * before its measured runs, 0 for none: the long-lived processes of a
   * group — rump server, rump write_server or read_client — reach the JIT's
   * steady state first, as a daemon does after its first seconds of work.
   * Without it the first runs of every group measured V8 warming up: a
   * server's CPU per MiB fell 3–8× over its first few seconds of transfers
   * (docs/BENCHMARKS.md, "Warm-up").
   */
  warmup: number;
  /** MCLNUM values for the send side. */
  mclnums: number[];
  /** MCLNUM values for the receive side. */
  rxMclnums: number[];
  /** Copy windows (`--copy-window`) swept at MCLNUM 1 and 16 on the send side. */
  windows: number[];
  /** Include Figures 5-7 and the receive-mode table. */
  sweeps: boolean;
  latencyCount: number;
  /** Echo clients per configuration of the issue table's latency pair, taken in turns. */
  echoTurns: number;
  scaleConnections: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** The sweep for `mode`, with `overrides` (command-line `--runs`, `--seconds`, ...). */
export function sweepFor(mode: Mode, overrides: Partial<Sweep> = {}): Sweep {
  const base: Record<Mode, Sweep> = {
    smoke: {
      mode, sizes: [64 * KiB], sweepSizes: [64 * KiB], runs: 1, seconds: 0.2, warmup: 0,
      mclnums: [1, 16], rxMclnums: [1], windows: [1, 4], sweeps: false, latencyCount: 200, echoTurns: 2, scaleConnections: 1000,
    },
    quick: {
      mode, sizes: [1 * KiB, 64 * KiB, 1 * MiB], sweepSizes: [64 * KiB], runs: 3, seconds: 0.4, warmup: 1,
      mclnums: [1, 16], rxMclnums: [1, 16], windows: [1, 4], sweeps: true, latencyCount: 500, echoTurns: 3, scaleConnections: 1000,
    },
    full: {
      mode, sizes: [1, 4, 16, 64, 256, 1024, 4096].map((k) => k * KiB), sweepSizes: [1, 4, 16, 64, 256, 1024, 4096].map((k) => k * KiB),
      runs: 5, seconds: 2, warmup: 2, mclnums: [1, 4, 8, 16, 32, 64], rxMclnums: [1, 4, 8, 16], windows: [1, 2, 4, 8, 16], sweeps: true, latencyCount: 10_000, echoTurns: 5, scaleConnections: 10_000,
    },
  };
  return { ...base[mode], ...overrides };
}

/**
 * The NetBSD-equivalent configuration, the paper's baseline: 2048-byte
 * clusters, one per COPYIN, one COPYIN in flight (`--copy-window 1`), no
 * inline data either way (`--inline-max 0 --inline-recv-max 0`), no shared memory (`--no-shm`), one COPYOUT per mbuf, a plain tap
 * (`--no-offload`): one round trip per cluster, one write(2) per frame.
 */
export const PAPER_DEFAULT: StackParams = { mclbytes: 2048, mclnum: 1, rxMode: 'per-mbuf', copyWindow: 1, inlineMax: 0, inlineRecvMax: 0, shm: false, offload: false };
/** rumpnet's defaults: batched copyin of 16 clusters, coalesced copyout, the server's own copy window, inline limit and offloads. */
export const RUMPNET_DEFAULT: StackParams = { mclbytes: 2048, mclnum: 16, rxMode: 'coalesced' };
/** rumpnet's defaults but one cluster per COPYIN: the "MCLNUM 16 / MCLNUM 1" with nothing else changed. */
export const DEFAULT_MCLNUM1: StackParams = { ...RUMPNET_DEFAULT, mclnum: 1 };

/** One measurement group: one pair of endpoints, one set of server parameters, several sizes. */
export interface Group {
  key: string;
  config: Config;
  /** The rump sender's server parameters (rump sender only). */
  sender: StackParams | null;
  /** The rump receiver's server parameters (rump receiver only). */
  receiver: StackParams | null;
  sizes: number[];
  /**
   * Measured in turns with the other paired groups (the issue table's
   * points): one run of each in turn, so that the machine's load, which
   * moves by 4× within a run, falls on both configurations alike.
   */
  paired?: boolean;
}

/** A series of a figure: a group's results under a name. */
export interface Series {
  /** `table`: the points of the table that no figure has (see table.ts). */
  figure: 'fig2' | 'fig5' | 'fig6' | 'fig7' | 'rxmode' | 'window' | 'table';
  direction: 'send' | 'receive' | 'both';
  name: string;
  group: string;
}

/** The plan: groups to run and the figures' series over them. */
export interface Plan {
  sweep: Sweep;
  groups: Group[];
  series: Series[];
}

/** A server configuration in a group key: `2048/1/per-mbuf`, then `w1`, `i0`, `noshm`, `nooff` where set. */
export const paramsKey = (s: StackParams | null): string => {
  if (!s) return '-';
  const extra = [s.copyWindow !== undefined ? `w${s.copyWindow}` : '', s.inlineMax !== undefined ? `i${s.inlineMax}` : '', s.inlineRecvMax !== undefined ? `r${s.inlineRecvMax}` : '', s.shm === false ? 'noshm' : '', s.offload === false ? 'nooff' : ''].filter(Boolean);
  return [`${s.mclbytes}/${s.mclnum}/${s.rxMode}`, ...extra].join('/');
};
const p = paramsKey;

const KIB64 = 64 * KiB;

/**
 * Builds the plan for `sweep`: Figure 2 always; Figures 5-7 and receive
 * modes when `sweep.sweeps`. Without a Linux peer for the rump stack (no
 * tap), the sweeps' sender or receiver under test talks to a rump peer with
 * rumpnet's defaults instead (rump→rump), so the MCLBYTES/MCLNUM effects
 * can still be compared with each other.
 */
export function buildPlan(sweep: Sweep, env: { linuxPeer: boolean } = { linuxPeer: true }): Plan {
  const groups = new Map<string, Group>();
  const series: Series[] = [];
  const add = (fig: Series['figure'], direction: Series['direction'], name: string, config: Config, sender: StackParams | null, receiver: StackParams | null, sizes: number[], paired = false): void => {
    const key = `${config} s=${p(sender)} r=${p(receiver)}${paired ? ' paired' : ''}`;
    const g = groups.get(key);
    if (g) g.sizes = [...new Set([...g.sizes, ...sizes])].sort((a, b) => a - b);
    else groups.set(key, { key, config, sender, receiver, sizes: [...sizes], ...(paired ? { paired } : {}) });
    series.push({ figure: fig, direction, name, group: key });
  };
  const S = sweep.sizes;
  add('fig2', 'both', CONFIG_LABEL['linux-linux'], 'linux-linux', null, null, S);
  add('fig2', 'send', CONFIG_LABEL['rump-linux'], 'rump-linux', PAPER_DEFAULT, null, S);
  add('fig2', 'receive', CONFIG_LABEL['linux-rump'], 'linux-rump', null, PAPER_DEFAULT, S);
  add('fig2', 'both', CONFIG_LABEL['rump-rump'], 'rump-rump', PAPER_DEFAULT, PAPER_DEFAULT, S);
  add('fig2', 'send', 'rump→Linux, rumpnet defaults', 'rump-linux', RUMPNET_DEFAULT, null, S);
  add('fig2', 'receive', 'Linux→rump, rumpnet defaults', 'linux-rump', null, RUMPNET_DEFAULT, S);
  add('fig2', 'both', 'rump→rump, rumpnet defaults', 'rump-rump', RUMPNET_DEFAULT, RUMPNET_DEFAULT, S);
  // The table: 64 KiB and 1 KiB writes to Linux, 64 KiB from Linux, both
  // configurations, measured in turns (paired groups of their own).
  add('table', 'send', 'rump→Linux, NetBSD-equivalent', 'rump-linux', PAPER_DEFAULT, null, [KiB, KIB64], true);
  add('table', 'send', 'rump→Linux, rumpnet defaults', 'rump-linux', RUMPNET_DEFAULT, null, [KiB, KIB64], true);
  add('table', 'receive', 'Linux→rump, NetBSD-equivalent', 'linux-rump', null, PAPER_DEFAULT, [KIB64], true);
  add('table', 'receive', 'Linux→rump, rumpnet defaults', 'linux-rump', null, RUMPNET_DEFAULT, [KIB64], true);
  add('table', 'send', 'rump→Linux, rumpnet defaults but MCLNUM 1', 'rump-linux', DEFAULT_MCLNUM1, null, [KIB64], true);
  if (!sweep.sweeps) return { sweep, groups: [...groups.values()], series };
  const W = sweep.sweepSizes;
  const sendCfg: Config = env.linuxPeer ? 'rump-linux' : 'rump-rump';
  const recvCfg: Config = env.linuxPeer ? 'linux-rump' : 'rump-rump';
  const peer = env.linuxPeer ? null : RUMPNET_DEFAULT;
  // The paper's sweeps vary MCLBYTES and MCLNUM on the NetBSD-equivalent
  // configuration (window 1, no inline data, no offload; its rump clients one
  // recv and one send per call, as NetBSD's rumpclient), nothing else.
  const nb = (mclbytes: 2048 | 4096, mclnum: number, rxMode: StackParams['rxMode'] = 'per-mbuf'): StackParams => ({ ...PAPER_DEFAULT, mclbytes, mclnum, rxMode, readAhead: false, writeGather: false });
  for (const mclbytes of [2048, 4096] as const) {
    const fig = mclbytes === 2048 ? 'fig7' : 'fig6';
    add('fig5', 'send', `send MCLBYTES ${mclbytes}`, sendCfg, nb(mclbytes, 1), peer, W);
    add('fig5', 'receive', `receive MCLBYTES ${mclbytes}`, recvCfg, peer, nb(mclbytes, 1), W);
    for (const mclnum of sweep.mclnums) add(fig, 'send', `send MCLNUM ${mclnum}`, sendCfg, nb(mclbytes, mclnum), peer, W);
    for (const mclnum of sweep.rxMclnums) add(fig, 'receive', `receive MCLNUM ${mclnum}`, recvCfg, peer, nb(mclbytes, mclnum), W);
  }
  // The copy window swept as MCLNUM is (issue 12): COPYIN requests in flight
  // per call, on the NetBSD-equivalent base at MCLNUM 1 and 16; window 1 is
  // Figure 7's point (NetBSD's one round trip at a time).
  for (const mclnum of [1, 16]) {
    for (const w of sweep.windows) add('window', 'send', `send MCLNUM ${mclnum} window ${w}`, sendCfg, { ...nb(2048, mclnum), copyWindow: w }, peer, W);
  }
  for (const rxMode of ['per-mbuf', 'coalesced'] as const) {
    add('rxmode', 'receive', `receive ${rxMode}`, recvCfg, peer, nb(2048, 16, rxMode), W);
  }
  return { sweep, groups: [...groups.values()], series };
}
