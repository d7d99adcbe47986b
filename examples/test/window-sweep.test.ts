/**
 * The benchmark sweeps the copy window as it sweeps MCLNUM (issue 12): a
 * series per window at MCLNUM 1 and 16, on the NetBSD-equivalent base,
 * window 1 being Figure 7's own point; not in the smoke run.
 */
import { expect } from 'chai';
import { PAPER_DEFAULT, buildPlan, paramsKey, sweepFor } from '../src/bench/plan.js';
import { clientEnv } from '../src/bench/runner.js';

describe('bench plan: the copy-window sweep', () => {
  it('has a send series per window at MCLNUM 1 and 16, NetBSD-equivalent but for MCLNUM and the window', () => {
    const plan = buildPlan(sweepFor('full'));
    const series = plan.series.filter((s) => s.figure === 'window');
    expect(series.map((s) => s.name)).to.deep.equal([1, 16].flatMap((m) => [1, 2, 4, 8, 16].map((w) => `send MCLNUM ${m} window ${w}`)));
    for (const s of series) {
      const g = plan.groups.find((x) => x.key === s.group)!;
      const [, m, w] = /MCLNUM (\d+) window (\d+)/.exec(s.name)!.map(Number);
      expect(paramsKey(g.sender), s.name).to.equal(paramsKey({ ...PAPER_DEFAULT, mclnum: m, copyWindow: w }));
      // its rump writers are NetBSD-equivalent clients too: one send per write
      expect(clientEnv({ url: 'u', params: g.sender! }), s.name).to.include({ RUMPNET_WRITE_GATHER: '0' });
      expect(g.receiver, s.name).to.equal(null);
    }
  });

  it("shares window 1 with Figure 7's MCLNUM points (NetBSD's one round trip at a time), measured once", () => {
    const plan = buildPlan(sweepFor('quick'));
    const group = (fig: string, name: string): string => plan.series.find((s) => s.figure === fig && s.name === name)!.group;
    expect(group('window', 'send MCLNUM 1 window 1')).to.equal(group('fig7', 'send MCLNUM 1'));
    expect(group('window', 'send MCLNUM 16 window 1')).to.equal(group('fig7', 'send MCLNUM 16'));
    expect(group('window', 'send MCLNUM 16 window 4')).to.include(paramsKey({ ...PAPER_DEFAULT, mclnum: 16, copyWindow: 4 }));
    expect(buildPlan(sweepFor('smoke')).series.some((s) => s.figure === 'window')).to.equal(false);
  });
});
