/**
 * The printed report: the paper's Figures 2, 5, 6 and 7 as tables with our
 * numbers (median MiB/s, min–max), the paper's summary ratios computed the
 * same way beside the paper's own values, COPYIN/COPYOUT requests per MiB,
 * latency, scale and the cluster pool's peak use.
 *
 * @module
 */
import { paramsKey, type Plan, type Series } from './plan.js';
import type { Availability, Cell, LatencyResult, PoolUse, ScaleResult } from './runner.js';

/** One of the paper's summary figures with ours beside it. */
export interface Ratio {
  name: string;
  /** How ours is computed. */
  how: string;
  /** The paper's value (percent). */
  paper: number;
  /** Ours (percent), or null with the reason. */
  ours: number | null;
  reason?: string;
}

/** Size label: 1K, 64K, 1M, 4M. */
export function sizeLabel(n: number): string {
  return n >= 1024 * 1024 ? `${n / 1024 / 1024}M` : n >= 1024 ? `${n / 1024}K` : String(n);
}

/** The cell of `series` at `size`, if planned. */
export function cellOf(cells: readonly Cell[], s: Series, size: number): Cell | undefined {
  return cells.find((c) => c.group === s.group && c.size === size);
}

const fmt = (c: Cell | undefined): string => {
  if (c === undefined) return '';
  if (c.status !== 'ok') return 'skipped';
  const r = (v: number): string => v.toFixed(v < 10 ? 1 : 0); // "0.7 (0.6–4.2)", not "0.7 (1–4)"
  return c.runs.length > 1 ? `${c.median.toFixed(1)} (${r(c.min)}–${r(c.max)})` : c.median.toFixed(1);
};

/** A plain-text table; columns listed in `left` (and the first) are left-aligned, the others right-aligned. */
function table(headers: string[], rows: string[][], left: number[] = []): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((v, i) => (i === 0 || left.includes(i) ? v.padEnd(w[i]!) : v.padStart(w[i]!))).join('  ').trimEnd();
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** A figure as a table: one row per write size, one column per series. */
export function figureTable(plan: Plan, cells: readonly Cell[], figure: Series['figure']): string {
  const series = plan.series.filter((s) => s.figure === figure);
  const sizes = [...new Set(series.flatMap((s) => plan.groups.find((g) => g.key === s.group)!.sizes))].sort((a, b) => a - b);
  const used = sizes.filter((size) => series.some((s) => cellOf(cells, s, size) !== undefined && (figure === 'fig2' ? plan.sweep.sizes : plan.sweep.sweepSizes).includes(size)));
  return table(['write', ...series.map((s) => s.name)], used.map((size) => [sizeLabel(size), ...series.map((s) => fmt(cellOf(cells, s, size)))]));
}

/** Reasons of the skipped cells, one line per distinct reason. */
export function skippedReasons(cells: readonly Cell[]): string[] {
  const m = new Map<string, number>();
  for (const c of cells) if (c.status === 'skipped') m.set(c.reason, (m.get(c.reason) ?? 0) + 1);
  return [...m].map(([r, n]) => `skipped (${n} point${n > 1 ? 's' : ''}): ${r}`);
}

/** Mean over sizes of f(a)/f(b) where both are measured; null when none are. */
function meanRatio(plan: Plan, cells: readonly Cell[], a: Series | undefined, b: Series | undefined, agg: 'mean' | 'max'): { v: number | null; reason?: string } {
  if (!a || !b) return { v: null, reason: 'not in this run' };
  const sizes = plan.groups.find((g) => g.key === a.group)!.sizes;
  const rs: number[] = [];
  let why: string | undefined;
  for (const size of sizes) {
    const x = cellOf(cells, a, size);
    const y = cellOf(cells, b, size);
    if (x?.status === 'ok' && y?.status === 'ok') rs.push(x.median / y.median);
    else why ??= x?.status === 'skipped' ? x.reason : y?.status === 'skipped' ? y.reason : 'not measured';
  }
  if (rs.length === 0) return { v: null, reason: why ?? 'not measured' };
  return { v: agg === 'mean' ? rs.reduce((s, r) => s + r, 0) / rs.length : Math.max(...rs) };
}

/** The paper's six summary figures, ours computed the same way. */
export function ratios(plan: Plan, cells: readonly Cell[]): Ratio[] {
  const find = (figure: Series['figure'], name: string): Series | undefined => plan.series.find((s) => s.figure === figure && s.name === name);
  const out: Ratio[] = [];
  const push = (name: string, how: string, paper: number, r: { v: number | null; reason?: string }, asGain: boolean): void => {
    const ours = r.v === null ? null : asGain ? (r.v - 1) * 100 : r.v * 100;
    out.push({ name, how, paper, ours, ...(r.v === null ? { reason: r.reason } : {}) });
  };
  const ll = find('fig2', 'Linux→Linux');
  push('send, % of native', 'rump→Linux / Linux→Linux, mean over write sizes (NetBSD defaults)', 10.3, meanRatio(plan, cells, find('fig2', 'rump→Linux'), ll, 'mean'), false);
  push('receive, % of native', 'Linux→rump / Linux→Linux, mean over write sizes (NetBSD defaults)', 24.7, meanRatio(plan, cells, find('fig2', 'Linux→rump'), ll, 'mean'), false);
  push('MCLBYTES 4096 send gain (MCLNUM 1)', 'send 4096 / send 2048 − 1, mean over sizes', 40.3, meanRatio(plan, cells, find('fig5', 'send MCLBYTES 4096'), find('fig5', 'send MCLBYTES 2048'), 'mean'), true);
  push('MCLBYTES 4096 receive, % of 2048', 'receive 4096 / receive 2048, mean over sizes', 66.1, meanRatio(plan, cells, find('fig5', 'receive MCLBYTES 4096'), find('fig5', 'receive MCLBYTES 2048'), 'mean'), false);
  push('MCLNUM 16 send gain, MCLBYTES 4096', 'send MCLNUM 16 / MCLNUM 1 − 1, best write size ("up to")', 129.2, meanRatio(plan, cells, find('fig6', 'send MCLNUM 16'), find('fig6', 'send MCLNUM 1'), 'max'), true);
  push('MCLNUM 16 send gain, MCLBYTES 2048', 'send MCLNUM 16 / MCLNUM 1 − 1, best write size ("up to")', 95.9, meanRatio(plan, cells, find('fig7', 'send MCLNUM 16'), find('fig7', 'send MCLNUM 1'), 'max'), true);
  return out;
}

/** The COPYIN/COPYOUT-per-MiB table: the mechanism behind the figures. */
export function copyTable(plan: Plan, cells: readonly Cell[]): string {
  const rows: string[][] = [];
  for (const g of plan.groups) {
    if (g.config === 'linux-linux') continue;
    for (const size of g.sizes) {
      const c = cells.find((x) => x.group === g.key && x.size === size);
      if (c?.status !== 'ok') continue;
      const p = (s: typeof g.sender): string => (s ? paramsKey(s) : 'Linux');
      rows.push([g.config, p(g.sender), p(g.receiver), sizeLabel(size), c.copyinPerMiB?.toFixed(1) ?? '-', c.copyoutPerMiB?.toFixed(1) ?? '-', c.median.toFixed(1)]);
    }
  }
  if (rows.length === 0) return '(no rump configuration measured)';
  return table(['config', 'sender', 'receiver', 'write', 'COPYIN/MiB', 'COPYOUT/MiB', 'MiB/s'], rows);
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
}

/** The whole printed report. */
export function renderReport(o: {
  plan: Plan; cells: Cell[]; ratios: Ratio[]; latency: LatencyResult[]; scale: ScaleResult; pools: PoolUse[]; avail: Availability; header: string;
  /** Issue #12's table and paper mode (table.ts), printed first. */
  issue?: string;
}): string {
  const out: string[] = [o.header, ''];
  if (o.issue !== undefined) out.push('The issue #12 table: NetBSD-equivalent configuration and rumpnet defaults, same run (MiB/s: median of the runs' + (o.plan.sweep.warmup > 0 ? `, each server warmed up first by one untimed ${o.plan.sweep.warmup} s transfer` : '') + ')', o.issue, '');
  out.push(`topology: ${o.avail.topology}${o.avail.offload ? ' (tap offloads where the kernel accepts them)' : ' (--no-offload: plain taps)'}${o.avail.whyNoTap ? ` (no tap: ${o.avail.whyNoTap})` : ''}`);
  out.push(`rump TCP: ${o.avail.rumpTcp.ok ? 'available' : `unavailable — ${o.avail.rumpTcp.reason}`}`, '');
  const fig = (title: string, f: Series['figure']): void => {
    if (!o.plan.series.some((s) => s.figure === f)) {
      out.push(`${title}: not in this mode`, '');
      return;
    }
    out.push(`${title} — MiB/s, median (min–max) of ${o.plan.sweep.runs} run(s) of ${o.plan.sweep.seconds} s${o.plan.sweep.warmup > 0 ? `, after one untimed ${o.plan.sweep.warmup} s transfer per group` : ''}`, figureTable(o.plan, o.cells, f), '');
  };
  fig('Figure 2: throughput by write size', 'fig2');
  fig('Figure 5: MCLNUM 1, MCLBYTES 2048 vs 4096 (per-mbuf receive)', 'fig5');
  fig('Figure 6: MCLBYTES 4096, MCLNUM sweep', 'fig6');
  fig('Figure 7: MCLBYTES 2048, MCLNUM sweep', 'fig7');
  fig('Receive copyout: per-mbuf (NetBSD) vs coalesced, MCLBYTES 2048', 'rxmode');
  fig('Copy window sweep: COPYIN requests in flight per call, MCLBYTES 2048, NetBSD-equivalent otherwise (send)', 'window');
  out.push(...skippedReasons(o.cells), '');
  out.push('Summary, the paper\'s ratios computed the same way');
  out.push(table(['figure', 'paper', 'ours', 'how'], o.ratios.map((r) => [r.name, `${r.paper.toFixed(1)} %`, r.ours === null ? 'skipped' : `${r.ours.toFixed(1)} %`, r.how]), [3]));
  for (const [reason, names] of groupBy(o.ratios.filter((r) => r.ours === null), (r) => r.reason ?? '')) out.push(`  skipped (${names.length}): ${reason}`);
  out.push('');
  out.push('Copy requests per MiB (the mechanism)', copyTable(o.plan, o.cells), '');
  out.push('Latency: 64-byte echo round trips');
  const hops = (l: LatencyResult): string => (l.status === 'ok' && l.hops ? `${(l.hops.framesSent + l.hops.framesReceived).toFixed(1)}` : '');
  const cpu = (l: LatencyResult): string => (l.status === 'ok' && l.cpuUs ? [l.cpuUs.client, l.cpuUs.server, l.cpuUs.echo].map((x) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(0))).join('/') : '');
  out.push(table(['config', 'p50 µs', 'p99 µs', 'n', 'hops', 'CPU µs/echo', 'what'], o.latency.map((l) => l.status === 'ok' ? [l.config, l.p50us.toFixed(1), l.p99us.toFixed(1), String(l.count), hops(l), cpu(l), l.description] : [l.config, 'skipped', '', '', '', '', `${l.description} — ${l.reason}`]), [6]));
  out.push('  hops: Unix-socket frames per round trip, both directions, counted by the rump client', '  CPU µs/echo: client/rump server/echo server, from /proc/<pid>/task/*/schedstat over the timed round trips (median of the turns)');
  for (const l of o.latency) {
    const h = l.status === 'ok' ? l.hops : undefined;
    if (h?.busyPolls) out.push(`  client busy poll (${l.config}): ${h.busyPolls.toFixed(2)} spins per echo, ${((100 * (h.busyPollHits ?? 0)) / h.busyPolls).toFixed(0)} % answered during the spin, ${(h.busyPollUs ?? 0).toFixed(0)} µs spun per echo (wall)`);
  }
  out.push('');
  const s = o.scale;
  out.push(s.status === 'ok'
    ? `Scale: ${s.connections} idle TCP connections (${s.serverSockets} descriptors) through one server in ${s.seconds.toFixed(1)} s: RSS ${s.rssBeforeMiB.toFixed(0)} → ${s.rssAfterMiB.toFixed(0)} MiB, ${s.perConnectionKiB.toFixed(1)} KiB per connection`
    : `Scale: ${s.connections} connections skipped: ${s.reason}`);
  const peak = o.pools.reduce<PoolUse | null>((m, p) => (m === null || p.clustersPeak > m.clustersPeak ? p : m), null);
  out.push(peak
    ? `Cluster pool: peak ${peak.clustersPeak} of ${peak.clustersTotal} clusters (${peak.role} of ${peak.group}); allocation failures over the run: ${o.pools.reduce((n, p) => n + p.allocFailures, 0)}`
    : 'Cluster pool: no rump server measured');
  return out.join('\n');
}
