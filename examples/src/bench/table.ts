/**
 * The issue's table (#12): every figure with the NetBSD-equivalent
 * configuration and rumpnet's defaults side by side from the same run, the
 * read and write sizes stated, each with its aim and whether it is met;
 * then, per configuration, copy requests per MiB, hops per echo and
 * allocations per segment; and in paper mode the "% of native" ratios
 * against a 1 Gbit/s ceiling beside the uncapped ones.
 *
 * The aims that the issue states against the real NetBSD rump kernel
 * ("≥ 10× real rump") are judged against the NetBSD-equivalent column, which
 * stands in for it: real rump is not part of this run (the issue's own
 * run measured the two within 30 % of each other).
 *
 * @module
 */
import type { Plan, Series } from './plan.js';
import { cellOf } from './report.js';
import type { Cell, Hops, LatencyResult } from './runner.js';
import type { StackResult } from './stack.js';

const KiB = 1024;

/** One row of the issue's table. */
export interface TableRow {
  figure: string;
  /** The write and read sizes on both sides. */
  io: string;
  unit: 'MiB/s' | 'µs' | '×';
  /** The NetBSD-equivalent configuration's value, or null (with why in `note`). */
  netbsd: number | null;
  /** rumpnet defaults' value, or null. */
  defaults: number | null;
  /** What is compared with the aim: defaults / NetBSD-equivalent, or the value itself. */
  judged: number | null;
  aim: string;
  /** Whether the aim is met; null when not measured. */
  met: boolean | null;
  note?: string;
}

/** Per configuration: the mechanism behind the row figures. */
export interface ConfigFacts {
  config: 'NetBSD-equivalent' | 'rumpnet defaults';
  /** The server options really used (what this rump-server accepted). */
  used: string;
  copyinPerMiB: number | null;
  copyoutPerMiB: number | null;
  /** COPYOUTs avoided per MiB (receives whose bytes came inside their reply), or null: not measured. */
  copyoutAvoidedPerMiB?: number | null;
  hops: Hops | null;
  /** Heap allocations per TCP segment, or null: not measured in this run. */
  allocsPerSegment: number | null;
  /** What the allocation figure is (or why it is missing). */
  allocsNote?: string;
}

/** The table and the per-configuration facts. */
export interface IssueTable {
  rows: TableRow[];
  configs: ConfigFacts[];
}

function seriesNamed(plan: Plan, figure: Series['figure'], name: string): Series | undefined {
  return plan.series.find((s) => s.figure === figure && s.name === name);
}

function okCell(plan: Plan, cells: readonly Cell[], figure: Series['figure'], name: string, size: number): Extract<Cell, { status: 'ok' }> | string {
  const s = seriesNamed(plan, figure, name);
  if (!s) return 'not in this mode';
  const c = cellOf(cells, s, size);
  if (!c) return 'not in this mode';
  return c.status === 'ok' ? c : c.reason;
}

const ratioOf = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? a / b : null);

/** Builds the issue's table from the run's cells, latency and stack results. */
export function issueTable(plan: Plan, cells: readonly Cell[], latency: readonly LatencyResult[], stack: StackResult, used: { netbsd: string; defaults: string }): IssueTable {
  const rows: TableRow[] = [];
  const pair = (figure: string, io: string, nbName: string, dfName: string, size: number, aim: string, times: number, fig: Series['figure'] = 'table'): void => {
    const a = okCell(plan, cells, fig, nbName, size);
    const b = okCell(plan, cells, 'table', dfName, size);
    const netbsd = typeof a === 'string' ? null : a.median;
    const defaults = typeof b === 'string' ? null : b.median;
    const judged = ratioOf(defaults, netbsd);
    const why = [typeof a === 'string' ? `NetBSD-equivalent: ${a}` : '', typeof b === 'string' ? `defaults: ${b}` : ''].filter(Boolean).join('; ');
    rows.push({ figure, io, unit: 'MiB/s', netbsd, defaults, judged, aim, met: judged === null ? null : judged >= times, ...(why ? { note: why } : {}) });
  };
  pair('rump → Linux, 64 KiB writes', 'rump writes 64 KiB, Linux reads 64 KiB', 'rump→Linux, NetBSD-equivalent', 'rump→Linux, rumpnet defaults', 64 * KiB, '≥ 10× real rump', 10);
  pair('Linux → rump, 64 KiB writes', 'Linux writes 64 KiB, rump reads 64 KiB', 'Linux→rump, NetBSD-equivalent', 'Linux→rump, rumpnet defaults', 64 * KiB, '≥ 3× real rump', 3);
  pair('rump → Linux, 1 KiB writes', 'rump writes 1 KiB, Linux reads 64 KiB', 'rump→Linux, NetBSD-equivalent', 'rump→Linux, rumpnet defaults', KiB, 'stay ≥ 3× real rump', 3);

  // MCLNUM 16 / MCLNUM 1 at 64 KiB sends, everything else equal: on the
  // NetBSD-equivalent base from Figure 7's sweep, on the defaults here.
  {
    const nb16 = okCell(plan, cells, 'fig7', 'send MCLNUM 16', 64 * KiB);
    const nb1 = okCell(plan, cells, 'fig7', 'send MCLNUM 1', 64 * KiB);
    const df16 = okCell(plan, cells, 'table', 'rump→Linux, rumpnet defaults', 64 * KiB);
    const df1 = okCell(plan, cells, 'table', 'rump→Linux, rumpnet defaults but MCLNUM 1', 64 * KiB);
    const netbsd = typeof nb16 === 'string' || typeof nb1 === 'string' ? null : nb16.median / nb1.median;
    const defaults = typeof df16 === 'string' || typeof df1 === 'string' ? null : df16.median / df1.median;
    const why = [netbsd === null ? `NetBSD-equivalent: ${typeof nb16 === 'string' ? nb16 : nb1 as string} (Figure 7's sweep)` : '', defaults === null ? `defaults: ${typeof df16 === 'string' ? df16 : df1 as string}` : ''].filter(Boolean).join('; ');
    rows.push({
      figure: 'MCLNUM 16 / MCLNUM 1, 64 KiB sends', io: 'rump writes 64 KiB, Linux reads 64 KiB', unit: '×', netbsd, defaults, judged: defaults,
      aim: '≥ 5× at any load', met: defaults === null ? null : defaults >= 5, ...(why ? { note: why } : {}),
    });
  }

  // Echo p50 through a rump client against the native one.
  {
    const native = latency.find((l) => l.config === 'native');
    const nb = latency.find((l) => l.config === 'rump-linux-netbsd');
    const df = latency.find((l) => l.config === 'rump-linux');
    const p50 = (l: LatencyResult | undefined): number | null => (l?.status === 'ok' ? l.p50us : null);
    const n = p50(native);
    const netbsd = ratioOf(p50(nb), n);
    const defaults = ratioOf(p50(df), n);
    // The opt-in busy polls (server and client, rump-linux-spin) are no default: a note, not the judged figure.
    const spin = ratioOf(p50(latency.find((l) => l.config === 'rump-linux-spin')), n);
    const why = [nb?.status === 'skipped' ? `NetBSD-equivalent: ${nb.reason}` : '', df?.status === 'skipped' ? `defaults: ${df.reason}` : '', native?.status === 'skipped' ? `native: ${native.reason}` : '', spin !== null ? `with the opt-in busy polls of server and client (rump-linux-spin) ${spin.toFixed(1)}×` : ''].filter(Boolean).join('; ');
    rows.push({
      figure: '64-byte echo p50, rump client / native', io: `64-byte write, read until 64 bytes are back${n !== null ? `; native p50 ${n.toFixed(0)} µs` : ''}`, unit: '×', netbsd, defaults, judged: defaults,
      aim: '≤ 2× native', met: defaults === null ? null : defaults <= 2, ...(why ? { note: why } : {}),
    });
  }

  // The stack alone: no server, so one value for both columns.
  rows.push({
    figure: 'two stacks in one process, MTU 1500', io: `${stack.status === 'ok' ? `${stack.mib} MiB` : 'bulk'} one way over an in-memory wire, both ends in one thread`, unit: 'MiB/s',
    netbsd: null, defaults: stack.status === 'ok' ? stack.mibps : null, judged: stack.status === 'ok' ? stack.mibps : null, aim: '≥ 500 MiB/s',
    met: stack.status === 'ok' ? stack.mibps >= 500 : null,
    note: stack.status === 'ok'
      ? `no server, no copy path: one figure for both; every checksum computed${stack.offloadMibps !== undefined ? `; on a wire with offloads (TSO, checksum, large receive) ${stack.offloadMibps.toFixed(1)} MiB/s` : ''}${stack.sameStacks !== undefined ? `; between two stacks made once (a new connection per run) ${stack.sameStacks.mibps.toFixed(1)} MiB/s, ${stack.sameStacks.cpuMsPerMiB.toFixed(2)} CPU ms/MiB` : ''}`
      : stack.reason,
  });

  const copyOf = (name: string, size: number, k: 'copyinPerMiB' | 'copyoutPerMiB' | 'copyoutAvoidedPerMiB'): number | null => {
    const c = okCell(plan, cells, 'table', name, size);
    return typeof c === 'string' ? null : (c[k] ?? null);
  };
  const hopsOf = (config: string): Hops | null => {
    const l = latency.find((x) => x.config === config);
    return l?.status === 'ok' ? (l.hops ?? null) : null;
  };
  const allocs = stack.status === 'ok' ? stack.allocsPerSegment : null;
  const allocsNote = stack.status !== 'ok' ? undefined
    : allocs === null ? stack.allocReason
      : `heap objects per TCP data segment of the stack alone (both ends, ACKs included; the same code in both configurations), ${stack.allocBytesPerSegment?.toFixed(0) ?? '?'} bytes; top site ${stack.allocTopSite ?? 'n/a'}`;
  const configs: ConfigFacts[] = [
    {
      config: 'NetBSD-equivalent', used: used.netbsd, copyinPerMiB: copyOf('rump→Linux, NetBSD-equivalent', 64 * KiB, 'copyinPerMiB'),
      copyoutPerMiB: copyOf('Linux→rump, NetBSD-equivalent', 64 * KiB, 'copyoutPerMiB'), copyoutAvoidedPerMiB: copyOf('Linux→rump, NetBSD-equivalent', 64 * KiB, 'copyoutAvoidedPerMiB'), hops: hopsOf('rump-linux-netbsd'), allocsPerSegment: allocs, ...(allocsNote ? { allocsNote } : {}),
    },
    {
      config: 'rumpnet defaults', used: used.defaults, copyinPerMiB: copyOf('rump→Linux, rumpnet defaults', 64 * KiB, 'copyinPerMiB'),
      copyoutPerMiB: copyOf('Linux→rump, rumpnet defaults', 64 * KiB, 'copyoutPerMiB'), copyoutAvoidedPerMiB: copyOf('Linux→rump, rumpnet defaults', 64 * KiB, 'copyoutAvoidedPerMiB'), hops: hopsOf('rump-linux'), allocsPerSegment: allocs, ...(allocsNote ? { allocsNote } : {}),
    },
  ];
  return { rows, configs };
}

/** A plain-text table; the first column and those in `left` left-aligned. */
export function textTable(headers: string[], rows: string[][], left: number[] = []): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((v, i) => (i === 0 || left.includes(i) ? v.padEnd(w[i]!) : v.padStart(w[i]!))).join('  ').trimEnd();
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

const num = (v: number | null, unit: TableRow['unit']): string => {
  if (v === null) return '—';
  if (unit === '×') return `${v.toFixed(1)}×`;
  return v.toFixed(unit === 'µs' ? 0 : 1);
};

/** Hops per echo in a line: `4.0 frames out + 4.0 in; 3.0 writes, 3.0 reads`. */
export function hopsText(h: Hops | null): string {
  if (h === null) return 'n/a (not measured in this run)';
  return `${(h.framesSent + h.framesReceived).toFixed(1)} (${h.framesSent.toFixed(1)} frames to the server + ${h.framesReceived.toFixed(1)} back; socket writes ${h.socketWrites.toFixed(1)}, reads ${h.socketReads.toFixed(1)})`;
}

/** The issue's table as text: the rows, then one block per configuration. */
export function renderIssueTable(t: IssueTable): string {
  const out: string[] = [];
  out.push(textTable(
    ['figure', 'NetBSD-equiv.', 'defaults', 'defaults / NetBSD-eq.', 'aim', 'met', 'sizes'],
    t.rows.map((r) => {
      const cmp = r.unit === 'MiB/s' && r.netbsd !== null ? (r.judged === null ? '—' : `${r.judged.toFixed(1)}×`) : r.unit === 'MiB/s' ? '' : '';
      const unit = r.unit === 'MiB/s' ? ' MiB/s' : '';
      return [r.figure, `${num(r.netbsd, r.unit)}${r.netbsd === null ? '' : unit}`, `${num(r.defaults, r.unit)}${r.defaults === null ? '' : unit}`, cmp, r.aim, r.met === null ? 'n/a' : r.met ? 'yes' : 'NO', r.io];
    }),
    [4, 5, 6],
  ));
  out.push('  aims against real rump are judged on "defaults / NetBSD-eq.": real rump is not in this run, the NetBSD-equivalent configuration stands in for it');
  for (const r of t.rows) if (r.note && (r.netbsd === null || r.defaults === null)) out.push(`  ${r.figure}: ${r.note}`);
  out.push('');
  for (const c of t.configs) {
    out.push(`${c.config}: rump-server ${c.used}; every other option at the server's default`);
    out.push(`  copy requests per MiB (64 KiB writes/reads): COPYIN ${c.copyinPerMiB === null ? 'n/a' : c.copyinPerMiB.toFixed(1)} (rump sends), COPYOUT ${c.copyoutPerMiB === null ? 'n/a' : c.copyoutPerMiB.toFixed(1)} (rump receives${typeof c.copyoutAvoidedPerMiB === 'number' ? `; ${c.copyoutAvoidedPerMiB.toFixed(1)} more came inside their replies` : ''})`);
    out.push(`  hops per echo: ${hopsText(c.hops)}`);
    out.push(`  allocations per segment: ${c.allocsPerSegment === null ? 'n/a (not measured in this run)' : c.allocsPerSegment.toFixed(2)}`);
    if (c.allocsNote) out.push(`    ${c.allocsNote}`);
  }
  return out.join('\n');
}

// ----- paper mode -----

/** Paper mode's result: the cap, or why there is none. */
export type PaperMode = { status: 'off' } | { status: 'skipped'; reason: string } | { status: 'ok'; rate: string; how: string };

/** One "% of native" figure, uncapped and capped. */
export interface PaperRatio {
  name: string;
  config: 'NetBSD-equivalent' | 'rumpnet defaults';
  /** Percent of Linux→Linux, mean over write sizes. */
  uncapped: number | null;
  capped: number | null;
  /** The paper's own value (NetBSD-equivalent rows only). */
  paper: number | null;
}

/** The key of a group's capped twin (paper mode runs Figure 2's groups again under the cap). */
export const cappedKey = (key: string, rate: string): string => `${key} @${rate}`;

function meanPct(plan: Plan, cells: readonly Cell[], rump: Series | undefined, native: Series | undefined, suffix: string): number | null {
  if (!rump || !native) return null;
  const rs: number[] = [];
  for (const size of plan.sweep.sizes) {
    const x = cells.find((c) => c.group === rump.group + suffix && c.size === size);
    const y = cells.find((c) => c.group === native.group + suffix && c.size === size);
    if (x?.status === 'ok' && y?.status === 'ok') rs.push((100 * x.median) / y.median);
  }
  return rs.length ? rs.reduce((s, r) => s + r, 0) / rs.length : null;
}

/** Send and receive as % of native, mean over Figure 2's write sizes, uncapped and under the cap, both configurations. */
export function paperRatios(plan: Plan, cells: readonly Cell[], rate: string): PaperRatio[] {
  const native = seriesNamed(plan, 'fig2', 'Linux→Linux');
  const out: PaperRatio[] = [];
  for (const [name, nbName, dfName, paper] of [
    ['send, % of native', 'rump→Linux', 'rump→Linux, rumpnet defaults', 10.3],
    ['receive, % of native', 'Linux→rump', 'Linux→rump, rumpnet defaults', 24.7],
  ] as const) {
    for (const [config, sName, p] of [['NetBSD-equivalent', nbName, paper], ['rumpnet defaults', dfName, null]] as const) {
      const s = seriesNamed(plan, 'fig2', sName);
      out.push({ name, config, paper: p, uncapped: meanPct(plan, cells, s, native, ''), capped: meanPct(plan, cells, s, native, ` @${rate}`) });
    }
  }
  return out;
}

/** Paper mode as text. */
export function renderPaper(mode: PaperMode, ratios: readonly PaperRatio[]): string {
  if (mode.status === 'off') return 'Paper mode: off (--paper caps the Linux side at 1 Gbit/s)';
  if (mode.status === 'skipped') return `Paper mode: skipped — ${mode.reason}`;
  const pct = (v: number | null): string => (v === null ? '—' : `${v.toFixed(1)} %`);
  return [
    `Paper mode: the Linux side capped at ${mode.rate} (${mode.how}), Figure 2's points measured again`,
    textTable(['figure', 'configuration', 'uncapped', `capped at ${mode.rate}`, 'paper'], ratios.map((r) => [r.name, r.config, pct(r.uncapped), pct(r.capped), r.paper === null ? '' : `${r.paper.toFixed(1)} %`]), [1]),
  ].join('\n');
}
