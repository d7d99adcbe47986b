/**
 * The issue #12 table, on made-up cells: every figure is there with both
 * configurations side by side, each compared with its aim; what is not
 * measured says so instead of a number; the stack bench's output is read
 * right; paper mode's ratios use the capped twins of Figure 2's groups.
 */
import { expect } from 'chai';
import { buildPlan, sweepFor, type Plan } from '../src/bench/plan.js';
import type { Cell, LatencyResult } from '../src/bench/runner.js';
import { parseStackBench, type StackResult } from '../src/bench/stack.js';
import { cappedKey, issueTable, paperRatios, renderIssueTable, renderPaper } from '../src/bench/table.js';

function fake(plan: Plan, rate: (key: string, size: number) => number | string, extraGroups: string[] = []): Cell[] {
  const groups = [...plan.groups.map((g) => ({ ...g })), ...extraGroups.map((k) => ({ ...plan.groups.find((g) => k.startsWith(g.key))!, key: k, sizes: plan.sweep.sizes }))];
  return groups.flatMap((g) =>
    g.sizes.map((size): Cell => {
      const r = rate(g.key, size);
      const base = { group: g.key, config: g.config, sender: g.sender, receiver: g.receiver, size };
      return typeof r === 'string' ? { ...base, status: 'skipped', reason: r } : { ...base, status: 'ok', transport: 'tap', runs: [r], median: r, min: r, max: r, copyinPerMiB: 32, copyoutPerMiB: 16 };
    }),
  );
}

const NB = '2048/1/per-mbuf/w1/i0/r0/noshm/nooff';
const DF = '2048/16/coalesced';
const hops = { framesSent: 3, framesReceived: 4, socketWrites: 2, socketReads: 3 };
const latency: LatencyResult[] = [
  { config: 'native', description: 'n', status: 'ok', count: 10, p50us: 40, p99us: 90 },
  { config: 'rump-linux', description: 'd', status: 'ok', count: 10, p50us: 70, p99us: 300, hops },
  { config: 'rump-linux-netbsd', description: 'nb', status: 'skipped', reason: 'needs a tap' },
];
const stack: StackResult = { status: 'ok', mib: 32, mibps: 150, runs: [140, 150, 160], allocsPerSegment: null };
const used = { netbsd: '--mclnum 1 --no-offload', defaults: '--mclnum 16' };

describe('benchmark: the issue #12 table', () => {
  const plan = buildPlan(sweepFor('quick'));
  const rate = (k: string, size: number): number => {
    const key = k.replace(/ paired$/, '');
    if (key === `rump-linux s=${NB} r=-`) return size === 1024 ? 2 : 10;
    if (key === `rump-linux s=${DF} r=-`) return size === 1024 ? 8 : 120;
    if (key === `rump-linux s=2048/1/coalesced r=-`) return 20;
    if (key === `linux-rump s=- r=${NB}`) return 50;
    if (key === `linux-rump s=- r=${DF}`) return 100;
    if (key === `rump-linux s=2048/16/per-mbuf/w1/i0/r0/noshm/nooff r=-`) return 25;
    return 1000;
  };
  const t = issueTable(plan, fake(plan, rate), latency, stack, used);
  const row = (figure: string) => t.rows.find((r) => r.figure === figure)!;

  it('plans the table\'s points as paired groups of their own, measured in turns', () => {
    const paired = plan.groups.filter((g) => g.paired);
    expect(paired.map((g) => g.key)).to.deep.equal([
      `rump-linux s=${NB} r=- paired`, `rump-linux s=${DF} r=- paired`, `linux-rump s=- r=${NB} paired`, `linux-rump s=- r=${DF} paired`, 'rump-linux s=2048/1/coalesced r=- paired',
    ]);
    for (const s of plan.series.filter((x) => x.figure === 'table')) expect(paired.some((g) => g.key === s.group)).to.equal(true);
  });

  it('has every figure of the issue, in its order, each with an aim', () => {
    expect(t.rows.map((r) => r.figure)).to.deep.equal([
      'rump → Linux, 64 KiB writes', 'Linux → rump, 64 KiB writes', 'rump → Linux, 1 KiB writes',
      'MCLNUM 16 / MCLNUM 1, 64 KiB sends', '64-byte echo p50, rump client / native', 'two stacks in one process, MTU 1500',
    ]);
    expect(t.rows.map((r) => r.aim)).to.deep.equal(['≥ 10× real rump', '≥ 3× real rump', 'stay ≥ 3× real rump', '≥ 5× at any load', '≤ 2× native', '≥ 500 MiB/s']);
    for (const r of t.rows) expect(r.io, r.figure).to.match(/\d/);
  });

  it('puts both configurations side by side and judges the aim on their ratio', () => {
    expect(row('rump → Linux, 64 KiB writes')).to.include({ netbsd: 10, defaults: 120, judged: 12, met: true });
    expect(row('Linux → rump, 64 KiB writes')).to.include({ netbsd: 50, defaults: 100, judged: 2, met: false });
    expect(row('rump → Linux, 1 KiB writes')).to.include({ netbsd: 2, defaults: 8, judged: 4, met: true });
    expect(row('Linux → rump, 64 KiB writes').io).to.equal('Linux writes 64 KiB, rump reads 64 KiB');
  });

  it('MCLNUM 16 / MCLNUM 1 changes only MCLNUM: the sweep on the NetBSD base, the defaults with MCLNUM 1', () => {
    const r = row('MCLNUM 16 / MCLNUM 1, 64 KiB sends');
    expect(r.netbsd).to.be.closeTo(25 / 10, 1e-9);
    expect(r.defaults).to.be.closeTo(120 / 20, 1e-9);
    expect(r.met).to.equal(true);
  });

  it('echo p50 as a ratio to native; a skipped configuration is n/a with its reason', () => {
    const r = row('64-byte echo p50, rump client / native');
    expect(r.defaults).to.be.closeTo(70 / 40, 1e-9);
    expect(r.met).to.equal(true);
    expect(r.netbsd).to.equal(null);
    expect(r.note).to.match(/needs a tap/);
  });

  it('the stack figure against 500 MiB/s', () => {
    expect(row('two stacks in one process, MTU 1500')).to.include({ defaults: 150, met: false });
  });

  it('the stack figure with the wire offloads is a note beside the computed one, never the judged value', () => {
    const t = issueTable(plan, fake(plan, rate), latency, { ...stack, offloadMibps: 612.5 }, used);
    const r = t.rows.find((x) => x.figure === 'two stacks in one process, MTU 1500')!;
    expect(r).to.include({ defaults: 150, judged: 150, met: false });
    expect(r.note).to.match(/every checksum computed; on a wire with offloads \(TSO, checksum, large receive\) 612\.5 MiB\/s/);
  });

  it('the same-stacks figure is a note beside the judged one, never the judged value', () => {
    const t = issueTable(plan, fake(plan, rate), latency, { ...stack, sameStacks: { mibps: 590.2, cpuMsPerMiB: 1.7 } }, used);
    const r = t.rows.find((x) => x.figure === 'two stacks in one process, MTU 1500')!;
    expect(r).to.include({ defaults: 150, judged: 150, met: false });
    expect(r.note).to.include('between two stacks made once (a new connection per run) 590.2 MiB/s, 1.70 CPU ms/MiB');
  });

  it('per configuration: the options used, copy requests per MiB, hops per echo, allocations n/a', () => {
    const [nb, df] = t.configs;
    expect(nb).to.include({ config: 'NetBSD-equivalent', used: used.netbsd, copyinPerMiB: 32, copyoutPerMiB: 16, hops: null, allocsPerSegment: null });
    expect(df!.hops).to.deep.equal(hops);
    const text = renderIssueTable(t);
    expect(text).to.match(/aim/).and.match(/met/);
    expect(text).to.include('hops per echo: 7.0 (3.0 frames to the server + 4.0 back');
    expect(text).to.include('hops per echo: n/a (not measured in this run)');
    expect(text).to.include('allocations per segment: n/a (not measured in this run)');
    expect(text).to.include('rump-server --mclnum 1 --no-offload');
    expect(text.split('\n').filter((l) => / (yes|NO|n\/a)  /.test(l))).to.have.length(6);
  });

  it('reads the stack bench: MiB/s at MTU 1500, and allocations per segment where printed', () => {
    const out = 'tcp.bench: 16 MiB\nMTU 1500: 117.6 MiB/s (median; runs 77.3, 117.6, 198.8), 12.35 CPU ms/MiB\nMTU 9000: 289.1 MiB/s\n';
    expect(parseStackBench(out, 16)).to.deep.equal({ status: 'ok', mib: 16, mibps: 117.6, runs: [77.3, 117.6, 198.8], allocsPerSegment: null });
    expect(parseStackBench(`${out}allocations per segment: 2.50\n`, 16).allocsPerSegment).to.equal(2.5);
    expect(() => parseStackBench('nothing', 16)).to.throw(/MTU 1500/);
    const off = parseStackBench(`${out}MTU 1500 with wire offloads (TSO, checksum, large receive): 512.3 MiB/s (median; runs 1, 2, 3)\n`, 16);
    expect(off).to.include({ mibps: 117.6, offloadMibps: 512.3 });
    const same = parseStackBench(
      `${out}MTU 1500, the same two stacks run after run (a new connection each; beside the judged line): 590.2 MiB/s (median; runs 590.2, 601.8, 572.8), 1.70 CPU ms/MiB (runs 1.70, 1.66, 1.76)\n`,
      16,
    );
    expect(same).to.include({ mibps: 117.6 });
    expect(same.sameStacks).to.deep.equal({ mibps: 590.2, cpuMsPerMiB: 1.7 });
  });

  it('paper mode: % of native, uncapped and from the capped twins', () => {
    const capped = [`linux-linux s=- r=-`, `rump-linux s=${NB} r=-`, `linux-rump s=- r=${NB}`, `rump-linux s=${DF} r=-`, `linux-rump s=- r=${DF}`].map((k) => cappedKey(k, '1gbit'));
    const cells = fake(plan, (key, size) => (key.endsWith('@1gbit') ? (key.startsWith('linux-linux') ? 100 : 50) : rate(key, size)), capped);
    const r = paperRatios(plan, cells, '1gbit');
    const send = r.find((x) => x.name === 'send, % of native' && x.config === 'NetBSD-equivalent')!;
    expect(send.capped).to.be.closeTo(50, 1e-9);
    expect(send.uncapped).to.be.closeTo((0.2 + 1 + 1) / 3, 1e-9); // 2, 10, 10 MiB/s of 1000
    expect(send.paper).to.equal(10.3);
    const text = renderPaper({ status: 'ok', rate: '1gbit', how: 'tbf' }, r);
    expect(text).to.include('capped at 1gbit').and.include('50.0 %');
    expect(renderPaper({ status: 'skipped', reason: 'no tc' }, [])).to.equal('Paper mode: skipped — no tc');
  });
});
