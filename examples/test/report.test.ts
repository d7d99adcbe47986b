/**
 * The benchmark's arithmetic, on made-up cells: the paper's ratios are
 * computed as the paper computes them, skipped points stay out of them and
 * carry their reason into the table.
 */
import { expect } from 'chai';
import { buildPlan, sweepFor, type Plan } from '../src/bench/plan.js';
import { figureTable, ratios } from '../src/bench/report.js';
import { median, type Cell } from '../src/bench/runner.js';

/** One ok cell per (group, size) with a median from `rate(group, size)`. */
function fake(plan: Plan, rate: (key: string, size: number) => number | string): Cell[] {
  return plan.groups.flatMap((g) =>
    g.sizes.map((size): Cell => {
      const r = rate(g.key, size);
      const base = { group: g.key, config: g.config, sender: g.sender, receiver: g.receiver, size };
      return typeof r === 'string' ? { ...base, status: 'skipped', reason: r } : { ...base, status: 'ok', transport: 'tap', runs: [r], median: r, min: r, max: r };
    }),
  );
}

describe('benchmark report', () => {
  const plan = buildPlan(sweepFor('quick'));

  it('plans each distinct point once (figures share groups)', () => {
    const keys = plan.groups.map((g) => g.key);
    expect(new Set(keys).size).to.equal(keys.length);
    const fig5send = plan.series.find((s) => s.figure === 'fig5' && s.name === 'send MCLBYTES 2048')!;
    const fig2send = plan.series.find((s) => s.figure === 'fig2' && s.name === 'rump→Linux')!;
    expect(fig5send.group).to.equal(fig2send.group);
  });

  it('send and receive as % of native, averaged over write sizes', () => {
    const cells = fake(plan, (key, size) => {
      if (key.startsWith('linux-linux')) return 100;
      if (key === 'rump-linux s=2048/1/per-mbuf/w1/i0/r0/noshm/nooff r=-') return size === 1024 ? 10 : 20; // 10 % and 20 %: mean 15 %
      if (key === 'linux-rump s=- r=2048/1/per-mbuf/w1/i0/r0/noshm/nooff') return 30;
      return 50;
    });
    const r = ratios(plan, cells);
    expect(r.find((x) => x.name === 'send, % of native')!.ours).to.be.closeTo(((10 + 20 + 20) / 3), 1e-9);
    expect(r.find((x) => x.name === 'receive, % of native')!.ours).to.be.closeTo(30, 1e-9);
    expect(r.map((x) => x.paper)).to.deep.equal([10.3, 24.7, 40.3, 66.1, 129.2, 95.9]);
  });

  it('MCLNUM 16 gain is the best size\'s gain; MCLBYTES gain is the mean', () => {
    const cells = fake(plan, (key) => {
      if (key === 'rump-linux s=2048/16/per-mbuf/w1/i0/r0/noshm/nooff r=-') return 40;
      if (key === 'rump-linux s=2048/1/per-mbuf/w1/i0/r0/noshm/nooff r=-') return 20;
      if (key === 'rump-linux s=4096/1/per-mbuf/w1/i0/r0/noshm/nooff r=-') return 30;
      return 10;
    });
    const r = ratios(plan, cells);
    expect(r.find((x) => x.name === 'MCLNUM 16 send gain, MCLBYTES 2048')!.ours).to.be.closeTo(100, 1e-9);
    expect(r.find((x) => x.name === 'MCLBYTES 4096 send gain (MCLNUM 1)')!.ours).to.be.closeTo(50, 1e-9);
  });

  it('a skipped point keeps its reason and stays out of the ratios', () => {
    const cells = fake(plan, (key) => (key.startsWith('rump-linux') ? 'needs root' : 100));
    const r = ratios(plan, cells).find((x) => x.name === 'send, % of native')!;
    expect(r.ours).to.equal(null);
    expect(r.reason).to.equal('needs root');
    expect(figureTable(plan, cells, 'fig2')).to.match(/skipped/);
  });

  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 2, 3])).to.equal(2.5);
  });
});
