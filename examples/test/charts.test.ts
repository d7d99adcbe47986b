/** The benchmark's charts can be read: log y axis, full legend labels, titles with units. */
import { expect } from 'chai';
import { figureSpec, issueTableSpec, renderSvg } from '../src/bench/charts.js';

describe('bench charts', () => {
  const rows = [
    { series: 'Linux→Linux', direction: 'both', size: 64, median: 3000, min: 2500, max: 3300 },
    { series: 'rump→Linux, rumpnet defaults', direction: 'send', size: 64, median: 5, min: 4, max: 6 },
  ];
  it('uses a log y axis, so a 5 MiB/s line is not flattened under a 3,000 MiB/s one', () => {
    const spec = JSON.stringify(figureSpec('Figure 2', rows));
    expect(spec).to.match(/"y":\{"field":"median","type":"quantitative","scale":\{"type":"log"\}/);
  });
  it('renders every legend label whole (no "rumpne…") and axis titles with units', async () => {
    const svg = await renderSvg(figureSpec('Figure 2', rows));
    expect(svg).to.include('rump→Linux, rumpnet defaults');
    expect(svg).to.not.include('…');
    expect(svg).to.include('throughput (MiB/s, log scale)');
    expect(svg).to.include('write size (KiB, log scale)');
  });
});

describe('bench charts: the issue #12 table', () => {
  const row = (figure: string, netbsd: number | null, defaults: number | null) => ({ figure, io: '', unit: 'MiB/s' as const, netbsd, defaults, judged: null, aim: '', met: null });
  it('draws each throughput figure as a panel of two bars, labels whole, in the table\'s order', async () => {
    const t = { rows: [row('rump → Linux, 64 KiB writes', 2.4, 30.2), row('two stacks in one process, MTU 1500', null, 150), { ...row('64-byte echo p50, rump client / native', 10, 5), unit: '×' as const }], configs: [] };
    const svg = await renderSvg(issueTableSpec(t)!);
    expect(svg).to.include('rump → Linux, 64 KiB writes').and.include('two stacks in one process, MTU 1500');
    expect(svg).to.not.include('64-byte echo'); // not a throughput: not on a MiB/s axis
    expect(svg).to.include('NetBSD-equivalent').and.include('rumpnet defaults').and.include('30.2');
    expect(svg).to.not.include('…');
    expect(svg.indexOf('rump → Linux, 64 KiB writes')).to.be.lessThan(svg.indexOf('two stacks in one process'));
  });
  it('has nothing to draw when nothing was measured', () => {
    expect(issueTableSpec({ rows: [row('x', null, null)], configs: [] })).to.equal(null);
  });
});

describe('bench charts: shared groups', () => {
  it("a figure draws only its own sizes, though its group also carries Figure 2's", async () => {
    const { buildPlan, sweepFor } = await import('../src/bench/plan.js');
    const { chartRows } = await import('../src/bench/charts.js');
    const plan = buildPlan(sweepFor('quick'));
    const cells = plan.groups.flatMap((g) => g.sizes.map((size) => ({ group: g.key, config: g.config, sender: g.sender, receiver: g.receiver, size, status: 'ok' as const, transport: 'tap', runs: [1], median: 1, min: 1, max: 1 })));
    expect(new Set(chartRows(plan, cells, 'fig7').map((r) => r.size))).to.deep.equal(new Set([64]));
    expect(new Set(chartRows(plan, cells, 'fig2').map((r) => r.size))).to.deep.equal(new Set([1, 64, 1024]));
  });
});
