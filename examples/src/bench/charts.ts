/**
 * The figures as SVG: a vega-lite spec per figure (median line with a
 * min–max band, log-scale write size), compiled to vega and rendered
 * headless with `View.toSVG()` — no canvas, no browser.
 *
 * @module
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Plan, Series } from './plan.js';
import { cellOf } from './report.js';
import type { Cell } from './runner.js';
import type { IssueTable } from './table.js';

interface Row {
  series: string;
  direction: string;
  size: number;
  median: number;
  min: number;
  max: number;
}

/** The measured points of `figure` at its sizes, as chart rows (skipped points are left out). */
export function chartRows(plan: Plan, cells: readonly Cell[], figure: Series['figure']): Row[] {
  const rows: Row[] = [];
  // A group shared between figures (Figure 2's NetBSD line is Figure 7's
  // MCLNUM 1) carries every figure's sizes; draw only this figure's.
  const sizes = figure === 'fig2' ? plan.sweep.sizes : plan.sweep.sweepSizes;
  for (const s of plan.series.filter((x) => x.figure === figure)) {
    for (const size of plan.groups.find((g) => g.key === s.group)!.sizes.filter((z) => sizes.includes(z))) {
      const c = cellOf(cells, s, size);
      if (c?.status === 'ok') rows.push({ series: s.name, direction: s.direction, size: size / 1024, median: c.median, min: c.min, max: c.max });
    }
  }
  return rows;
}

/**
 * The vega-lite spec of one figure. The y axis is logarithmic: the native
 * Linux→Linux line (~3,000 MiB/s) and the rump lines (1–150 MiB/s) share
 * a figure, and on a linear axis every rump line lay flat on zero. The
 * legend sits below the plot, one series a row, labels never cut
 * (`labelLimit: 0`; the default cut them at 160 px: "rumpne…").
 */
export function figureSpec(title: string, rows: Row[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'median of the runs, band: min–max; x: bytes per write(2) of the sender' },
    width: 520,
    height: 300,
    data: { values: rows },
    encoding: {
      x: { field: 'size', type: 'quantitative', scale: { type: 'log', base: 2 }, axis: { tickCount: 8 }, title: 'write size (KiB, log scale)' },
      // sort: null keeps the plan's order (MCLNUM 1, 4, 8, 16, …), not the alphabet's (1, 16, 32, 4, …).
      color: { field: 'series', type: 'nominal', title: null, sort: null, legend: { orient: 'bottom', direction: 'vertical', columns: 1, labelLimit: 0, symbolOpacity: 1, symbolType: 'stroke' } },
    },
    layer: [
      { mark: { type: 'area', opacity: 0.15 }, encoding: { y: { field: 'min', type: 'quantitative', scale: { type: 'log' } }, y2: { field: 'max' } } },
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'median', type: 'quantitative', scale: { type: 'log' }, title: 'throughput (MiB/s, log scale)' } } },
    ],
  };
}

/** Renders a vega-lite spec to SVG text. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Faceted independent scales make vega-lite warn on stdout about a
  // union of domains it then resolves correctly; keep the report clean.
  const view = new vega.View(vega.parse(compile(spec, { logger: vega.logger(vega.None) }).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVGs of every figure with at least one measured point, by file name. */
export async function renderFigures(plan: Plan, cells: readonly Cell[]): Promise<Map<string, string>> {
  const titles: Record<Exclude<Series['figure'], 'table'>, string> = {
    fig2: 'Figure 2: throughput by write size',
    fig5: 'Figure 5: MCLNUM 1, MCLBYTES 2048 vs 4096',
    fig6: 'Figure 6: MCLBYTES 4096, MCLNUM sweep',
    fig7: 'Figure 7: MCLBYTES 2048, MCLNUM sweep',
    rxmode: 'Receive: per-mbuf vs coalesced copyout',
    window: 'Copy window sweep (send, MCLBYTES 2048)',
  };
  const out = new Map<string, string>();
  for (const f of Object.keys(titles) as (keyof typeof titles)[]) {
    const rows = chartRows(plan, cells, f);
    if (rows.length > 0) out.set(`${f}.svg`, await renderSvg(figureSpec(titles[f], rows)));
  }
  return out;
}

/**
 * The issue table's throughput rows as a chart: one panel row per figure,
 * a bar per configuration (NetBSD-equivalent, rumpnet defaults), each
 * panel on its own linear axis (the figures differ by 100×; a shared or
 * log axis would hide the ratio within a panel), labelled with its value
 * — the two columns of the table side by side. Rows not measured are
 * left out; null when none is.
 */
export function issueTableSpec(t: IssueTable): TopLevelSpec | null {
  const values = t.rows.filter((r) => r.unit === 'MiB/s').flatMap((r, order) => [
    ...(r.netbsd !== null ? [{ figure: r.figure, order, config: 'NetBSD-equivalent', mibps: r.netbsd }] : []),
    ...(r.defaults !== null ? [{ figure: r.figure, order, config: 'rumpnet defaults', mibps: r.defaults }] : []),
  ]);
  if (values.length === 0) return null;
  const y = { field: 'config', type: 'nominal' as const, title: null, axis: { labelLimit: 0 } };
  const x = { field: 'mibps', type: 'quantitative' as const, title: 'MiB/s' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Issue #12: NetBSD-equivalent vs rumpnet defaults, same run', subtitle: 'median MiB/s; each panel one figure of the table, on its own axis' },
    data: { values },
    facet: { row: { field: 'figure', type: 'nominal', title: null, sort: { field: 'order' }, header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelLimit: 0, labelOrient: 'top', labelFontSize: 12, labelFontWeight: 'bold' } } },
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: 460,
      height: { step: 24 },
      layer: [
        { mark: { type: 'bar' }, encoding: { y, x, color: { field: 'config', type: 'nominal', legend: null, scale: { domain: ['NetBSD-equivalent', 'rumpnet defaults'] } } } },
        { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { y, x, text: { field: 'mibps', type: 'quantitative', format: '.1f' } } },
      ],
    },
  } as TopLevelSpec;
}
