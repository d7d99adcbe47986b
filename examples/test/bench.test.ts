/**
 * `npm run bench -- --smoke` finishes and its output is well formed: the
 * results JSON parses, every measured number is positive, every skipped
 * configuration carries a reason and no values, the native baseline is
 * present, the report and a chart are written. Values are not judged.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proc, ROOT } from '../src/bench/procs.js';

type J = Record<string, any>; // results.json as parsed: checked field by field below

function expectSkippedOrOk(x: J, numbers: string[]): void {
  expect(x.status, JSON.stringify(x)).to.be.oneOf(['ok', 'skipped']);
  if (x.status === 'skipped') {
    expect(x.reason, JSON.stringify(x)).to.be.a('string').and.not.equal('');
    for (const k of numbers) expect(x, `skipped point has ${k}`).to.not.have.property(k);
  } else {
    for (const k of numbers) expect(x[k], `${k} of ${JSON.stringify(x)}`).to.be.a('number').and.greaterThan(0);
  }
}

describe('npm run bench -- --smoke', function () {
  this.timeout(180_000);
  let out: string;
  let results: J;
  let stdout: J;

  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'rumpnet-bench-test-'));
    const p = Proc.node(join(ROOT, 'examples/src/bench/index.ts'), ['--smoke', '--out', out, '--json'], { label: 'bench' });
    const code = await p.finish(170_000);
    expect(code, p.tail(5)).to.equal(0);
    stdout = p.events.at(-1)!;
    results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as J;
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('writes results.json, the same as printed with --json', () => {
    expect(results.version).to.equal(1);
    expect(results.mode).to.equal('smoke');
    expect(stdout.startedAt).to.equal(results.startedAt);
    expect(Date.parse(results.finishedAt)).to.be.at.least(Date.parse(results.startedAt));
  });

  it('has a cell for every planned group and size, each ok with positive numbers or skipped with a reason', () => {
    const planned = (results.groups as J[]).reduce((n, g) => n + (g.sizes as number[]).length, 0);
    expect(results.cells).to.have.length(planned);
    for (const c of results.cells as J[]) {
      expectSkippedOrOk(c, ['median', 'min', 'max']);
      if (c.status === 'ok') {
        expect(c.runs).to.have.length(results.sweep.runs);
        for (const r of c.runs as number[]) expect(r).to.be.greaterThan(0);
        expect(c.min).to.be.at.most(c.median);
        expect(c.median).to.be.at.most(c.max);
        for (const k of ['copyinPerMiB', 'copyoutPerMiB']) if (k in c) expect(c[k]).to.be.greaterThan(0);
      }
    }
  });

  it('measures the native (Linux→Linux) baseline at every size', () => {
    const native = (results.cells as J[]).filter((c) => c.config === 'linux-linux');
    expect(native).to.have.length(results.sweep.sizes.length);
    for (const c of native) expect(c.status, c.reason).to.equal('ok');
  });

  it('gives the six paper ratios, each a number or a reason', () => {
    expect((results.ratios as J[]).map((r) => r.paper)).to.deep.equal([10.3, 24.7, 40.3, 66.1, 129.2, 95.9]);
    for (const r of results.ratios as J[]) {
      if (r.ours === null) expect(r.reason).to.be.a('string').and.not.equal('');
      else expect(Number.isFinite(r.ours)).to.equal(true);
    }
  });

  it('reports latency, scale and availability in the same shape', () => {
    expect(results.latency).to.have.length(3);
    for (const l of results.latency as J[]) expectSkippedOrOk(l, ['p50us', 'p99us', 'count']);
    expect((results.latency as J[])[0]!.status).to.equal('ok'); // native always runs
    expectSkippedOrOk(results.scale, ['rssAfterMiB', 'perConnectionKiB', 'serverSockets']);
    expect(results.availability.topology).to.be.oneOf(['tap', 'bus']);
    if (!results.availability.rumpTcp.ok) expect(results.availability.rumpTcp.reason).to.be.a('string').and.not.equal('');
  });

  it('writes the report and the Figure 2 chart', () => {
    expect(readFileSync(join(out, 'report.txt'), 'utf8')).to.match(/Figure 2/).and.match(/Summary/);
    expect(readFileSync(join(out, 'fig2.svg'), 'utf8')).to.match(/^<svg[\s\S]*<\/svg>\s*$/);
  });
});
