/** The benchmark's charts can be read: log y axis, full legend labels, titles with units. */
import { expect } from 'chai';
import { figureSpec, renderSvg } from '../src/bench/charts.js';

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
