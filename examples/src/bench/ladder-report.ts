/**
 * The ladder (ladder.ts) as text and as a chart: per rung and figure the
 * value, the step ratio (against the rung before) and the cumulative ratio
 * (against the NetBSD-equivalent rung), each ratio oriented so that
 * above 1× is better (MiB/s this ÷ before; echo p50 before ÷ this).
 *
 * @module
 */
import type { TopLevelSpec } from 'vega-lite';
import { LADDER_POINTS, type PointKey, type RungResult } from './ladder.js';
import { textTable } from './table.js';

/** A figure of the ladder: the three throughputs and the echo's p50. */
export type LadderFigure = PointKey | 'echo';

/** One rung's value of a figure and its ratios (null where either side was not measured). */
export interface LadderCell {
  value: number | null;
  step: number | null;
  cumulative: number | null;
}

/** The figures' labels and units, in order. */
export const LADDER_FIGURES: readonly { key: LadderFigure; label: string; unit: 'MiB/s' | 'µs' }[] = [
  ...LADDER_POINTS.map((p) => ({ key: p.key as LadderFigure, label: `${p.label} (MiB/s)`, unit: 'MiB/s' as const })),
  { key: 'echo', label: '64-byte echo p50 (µs)', unit: 'µs' },
];

function valueOf(r: RungResult, f: LadderFigure): number | null {
  if (f === 'echo') return r.echo.status === 'ok' ? r.echo.p50us : null;
  const p = r.points[f];
  return p.status === 'ok' ? p.median : null;
}

/** Per rung (rows) and figure (columns): value, step and cumulative ratio. */
export function ladderCells(rs: readonly RungResult[]): Record<LadderFigure, LadderCell>[] {
  const better = (f: LadderFigure, now: number | null, then: number | null): number | null => {
    if (now === null || then === null || now <= 0 || then <= 0) return null;
    return f === 'echo' ? then / now : now / then;
  };
  return rs.map((r, i) => {
    const row = {} as Record<LadderFigure, LadderCell>;
    for (const { key } of LADDER_FIGURES) {
      const v = valueOf(r, key);
      row[key] = { value: v, step: i === 0 ? null : better(key, v, valueOf(rs[i - 1]!, key)), cumulative: i === 0 ? null : better(key, v, valueOf(rs[0]!, key)) };
    }
    return row;
  });
}

const x = (v: number | null): string => (v === null ? '—' : `${v.toFixed(2)}×`);
const n1 = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : v.toFixed(1));

/** The ladder as text: a table of the figures with their ratios, then the counts per rung, then each rung's server options. */
export function renderLadder(rs: readonly RungResult[], what: string): string {
  const cells = ladderCells(rs);
  const out: string[] = [`The ladder: one change at a time, NetBSD-equivalent → rumpnet defaults, all rungs measured in turns (${what})`];
  out.push(textTable(
    ['rung', ...LADDER_FIGURES.flatMap((f) => [f.label, 'step', 'cumul.'])],
    rs.map((r, i) => [`${i} ${r.step}`, ...LADDER_FIGURES.flatMap((f) => {
      const c = cells[i]![f.key];
      return [f.unit === 'µs' ? (c.value === null ? '—' : c.value.toFixed(0)) : n1(c.value), i === 0 ? '' : x(c.step), i === 0 ? '' : x(c.cumulative)];
    })]),
  ));
  out.push('  step: against the rung above; cumul.: against rung 0; above 1× is better (MiB/s this ÷ before, echo p50 before ÷ this)');
  out.push('');
  const pt = (r: RungResult, k: PointKey) => (r.points[k].status === 'ok' ? r.points[k] : null);
  out.push(textTable(
    ['rung', 'COPYIN/MiB 64K', 'COPYIN/MiB 1K', 'avoided/MiB 1K', 'COPYIN peak', 'COPYOUT/MiB 64K', 'avoided/MiB 64K', 'hops/echo', 'writes+reads/echo'],
    rs.map((r, i) => {
      const h = r.echo.status === 'ok' ? r.echo.hops : undefined;
      return [
        `${i} ${r.step}`, n1(pt(r, 'send64k')?.copyinPerMiB), n1(pt(r, 'send1k')?.copyinPerMiB), n1(r.copyinsAvoidedPerMiB), r.copyinPeak === null ? '—' : String(r.copyinPeak),
        n1(pt(r, 'recv64k')?.copyoutPerMiB), n1(r.copyoutAvoidedPerMiB), h ? (h.framesSent + h.framesReceived).toFixed(1) : '—', h ? `${h.socketWrites.toFixed(1)}+${h.socketReads.toFixed(1)}` : '—',
      ];
    }),
  ));
  out.push('  COPYIN/COPYOUT per MiB: the server\'s requests; avoided: carried inline instead; COPYIN peak: most outstanding at once; hops: Unix-socket frames per echo, both ways');
  for (const [i, r] of rs.entries()) out.push(`  ${i} ${r.step}: ${r.status === 'ok' ? `rump-server ${r.used}` : `skipped — ${r.reason}`}`);
  const why = new Map<string, string[]>();
  for (const [i, r] of rs.entries()) {
    if (r.status !== 'ok') continue;
    for (const k of [...LADDER_POINTS.map((p) => p.key), 'echo'] as const) {
      const p = k === 'echo' ? r.echo : r.points[k];
      if (p.status === 'skipped') why.set(p.reason, [...(why.get(p.reason) ?? []), `${i}/${k}`]);
    }
  }
  for (const [reason, where] of why) out.push(`  skipped (${where.join(', ')}): ${reason}`);
  return out.join('\n');
}

/**
 * The ladder as a chart: a panel per figure, a horizontal bar per rung in
 * the ladder's order (full labels on the y axis), each panel on its own
 * linear axis, each bar labelled with its value and cumulative ratio.
 * Null when nothing was measured.
 */
export function ladderSpec(rs: readonly RungResult[]): TopLevelSpec | null {
  const cells = ladderCells(rs);
  const values = LADDER_FIGURES.flatMap((f, order) => rs.flatMap((r, i) => {
    const c = cells[i]![f.key];
    if (c.value === null) return [];
    const label = `${f.unit === 'µs' ? c.value.toFixed(0) : c.value.toFixed(1)}${c.cumulative === null ? '' : ` (${c.cumulative.toFixed(2)}×)`}`;
    return [{ figure: f.label, order, rung: `${i} ${r.step}`, value: c.value, label }];
  }));
  if (values.length === 0) return null;
  const y = { field: 'rung', type: 'nominal' as const, title: null, sort: rs.map((r, i) => `${i} ${r.step}`), axis: { labelLimit: 0 } };
  const xe = { field: 'value', type: 'quantitative' as const, title: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Issue #12, change by change: NetBSD-equivalent → rumpnet defaults', subtitle: 'one change added per rung, all rungs measured in turns; label: value (× rung 0; above 1× is better)' },
    data: { values },
    facet: { row: { field: 'figure', type: 'nominal', title: null, sort: { field: 'order' }, header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelLimit: 0, labelOrient: 'top', labelFontSize: 12, labelFontWeight: 'bold' } } },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 420,
      height: { step: 20 },
      layer: [
        { mark: { type: 'bar', color: '#4c78a8' }, encoding: { y, x: xe } },
        { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { y, x: xe, text: { field: 'label', type: 'nominal' } } },
      ],
    },
  } as TopLevelSpec;
}
