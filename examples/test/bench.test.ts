/**
 * `npm run bench -- --smoke` finishes and its output is well formed: the
 * results JSON parses, every measured number is positive, every skipped
 * configuration carries a reason and no values, the native baseline is
 * present, the report and a chart are written. Values are not judged.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { smokeRun } from './smoke-run.js';

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
  // A bound, not a judgement: the smoke run takes about a minute on an idle
  // machine and several at a load of 20 on 2 cores.
  this.timeout(600_000);
  let out: string;
  let results: J;
  let stdout: J;

  before(async () => {
    const r = await smokeRun();
    expect(r.code, r.tail).to.equal(0);
    out = r.out;
    stdout = r.printed!;
    results = r.results!;
  });

  it('writes results.json, the same as printed with --json', () => {
    expect(results.version).to.equal(1);
    expect(results.mode).to.equal('smoke');
    expect(stdout.startedAt).to.equal(results.startedAt);
    expect(Date.parse(results.finishedAt)).to.be.at.least(Date.parse(results.startedAt));
  });

  it('warms each group up with one untimed transfer: the sweep records it, the report says it, no cell counts it', () => {
    expect(results.sweep.warmup).to.equal(0.1);
    const report = readFileSync(join(out, 'report.txt'), 'utf8');
    expect(report).to.include('after one untimed 0.1 s transfer per group');
    expect(report).to.include('each server warmed up first by one untimed 0.1 s transfer');
    // The warm-up is not a run: every measured cell still has exactly --runs runs (checked below).
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
        if ('copyinPerMiB' in c) expect(c.copyinPerMiB).to.be.greaterThan(0);
        // A receive of at most --inline-recv-max bytes needs no COPYOUT: the two together are the receives.
        if ('copyoutPerMiB' in c) expect(c.copyoutPerMiB + (c.copyoutAvoidedPerMiB ?? 0)).to.be.greaterThan(0);
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
    expect((results.latency as J[]).map((l) => l.config)).to.deep.equal(['native', 'rump-lo0', 'rump-linux', 'rump-linux-netbsd', 'rump-linux-busypoll', 'rump-linux-spin']);
    for (const l of results.latency as J[]) {
      expectSkippedOrOk(l, ['p50us', 'p99us', 'count']);
      // Through a rump client, the hops per echo: at least the write's and the read's requests and the read's reply
      // (the write posted: no reply, docs/PROTOCOL.md §6).
      if (l.status === 'ok' && l.config !== 'native') expect(l.hops.framesSent + l.hops.framesReceived, JSON.stringify(l)).to.be.at.least(3);
      // The client's busy poll is counted through to the report, and only the rump-linux-spin row's client has it on.
      if (l.status === 'ok' && l.config !== 'native') expect(l.hops.busyPolls, JSON.stringify(l)).to.be.a('number');
      if (l.status === 'ok' && l.config !== 'native' && l.config !== 'rump-linux-spin') expect(l.hops.busyPolls, JSON.stringify(l)).to.equal(0);
      // CPU per echo of each process: the client's and the echo server's always, the rump server's through a rump client.
      if (l.status === 'ok') {
        expect(l.cpuUs.client, JSON.stringify(l)).to.be.greaterThan(0);
        expect(l.cpuUs.echo, JSON.stringify(l)).to.be.greaterThan(0);
        if (l.config !== 'native') expect(l.cpuUs.server, JSON.stringify(l)).to.be.greaterThan(0);
      }
    }
    expect((results.latency as J[])[0]!.status).to.equal('ok'); // native always runs
    expectSkippedOrOk(results.scale, ['rssAfterMiB', 'perConnectionKiB', 'serverSockets']);
    expect(results.availability.topology).to.be.oneOf(['tap', 'bus']);
    if (!results.availability.rumpTcp.ok) expect(results.availability.rumpTcp.reason).to.be.a('string').and.not.equal('');
  });

  it('prints the issue #12 table: six figures, both configurations, aims, met or n/a with a reason', () => {
    const t = results.table as J;
    expect((t.rows as J[]).map((r) => r.aim)).to.deep.equal(['≥ 10× real rump', '≥ 3× real rump', 'stay ≥ 3× real rump', '≥ 5× at any load', '≤ 2× native', '≥ 500 MiB/s']);
    for (const r of t.rows as J[]) {
      expect(r.io).to.be.a('string').and.match(/\d/);
      for (const k of ['netbsd', 'defaults', 'judged']) if (r[k] !== null) expect(r[k], `${r.figure} ${k}`).to.be.a('number').and.greaterThan(0);
      if (r.met === null) expect(r.note, r.figure).to.be.a('string').and.not.equal('');
      else expect(r.met).to.equal(r.aim.startsWith('≤') ? r.judged <= 2 : r.judged >= Number(/([\d.]+)/.exec(r.aim)![1]));
    }
    // The stack alone needs no root: always measured.
    expect(results.stack.status, results.stack.reason).to.equal('ok');
    expect((t.rows as J[])[5]!.defaults).to.be.greaterThan(0);
    // Allocations per segment (alloc.ts's measureAllocations), for both configurations alike.
    expect(results.stack.allocsPerSegment, results.stack.allocReason).to.be.a('number').and.at.least(0);
    for (const c of t.configs as J[]) expect(c.allocsPerSegment).to.equal(results.stack.allocsPerSegment);
    if (results.availability.topology === 'tap' && results.availability.rumpTcp.ok) {
      for (const r of (t.rows as J[]).slice(0, 3)) expect(r.netbsd !== null && r.defaults !== null, `${r.figure}: ${r.note}`).to.equal(true);
    }
    expect((t.configs as J[]).map((c) => c.config)).to.deep.equal(['NetBSD-equivalent', 'rumpnet defaults']);
    // NetBSD's copy path: one COPYIN per 2048-byte cluster, 512 per MiB, whatever else changed.
    const nb = (t.configs as J[])[0]!;
    if (nb.copyinPerMiB !== null) expect(nb.copyinPerMiB).to.be.closeTo(512, 0.5);
    expect((t.configs as J[])[0]!.used).to.match(/--mclnum 1 /);
    const report = readFileSync(join(out, 'report.txt'), 'utf8');
    expect(report).to.include('The issue #12 table').and.include('hops per echo:').and.include('allocations per segment:').and.include('copy requests per MiB');
    expect(report).to.match(/^figure +NetBSD-equiv\. +defaults +defaults \/ NetBSD-eq\. +aim +met +sizes$/m);
    expect(report).to.match(/^Paper mode: off/m);
  });

  it('measures the ladder: each rung its stated configuration, visible in its copy counts', () => {
    const rungs = results.ladder.rungs as J[];
    expect(rungs.map((r) => r.step)).to.deep.equal(['NetBSD-equivalent', '+ MCLNUM 16', '+ coalesced receive', '+ tap offloads', '+ copy window 4', '+ inline writes', '+ inline receive', '+ client read-ahead', '+ shared memory', '+ client write gathering', '+ posted sends', '+ streamed receive (= defaults)']);
    for (const r of rungs) {
      if (r.status === 'skipped') {
        expect(r.reason, r.step).to.be.a('string').and.not.equal('');
        continue;
      }
      for (const k of ['send64k', 'recv64k', 'send1k']) expectSkippedOrOk(r.points[k], ['median']);
      expectSkippedOrOk(r.echo, ['p50us', 'count']);
    }
    const report = readFileSync(join(out, 'report.txt'), 'utf8');
    expect(report).to.include('The ladder: one change at a time');
    if (results.availability.topology !== 'tap' || !results.availability.rumpTcp.ok) return;
    const args = rungs.map((r) => r.used as string);
    expect(args[0]).to.match(/^--mclbytes 2048 --mclnum 1 --rx-mode per-mbuf --copy-window 1 --inline-max 0 .*--no-offload/);
    expect(args[1]).to.match(/--mclnum 16 --rx-mode per-mbuf --copy-window 1 --inline-max 0 .*--no-offload/);
    expect(args[2]).to.match(/--mclnum 16 --rx-mode coalesced --copy-window 1 --inline-max 0 .*--no-offload/);
    for (const i of [3, 4, 5]) expect(args[i], rungs[i]!.step).to.not.include('--no-offload');
    expect(args[4]).to.include('--copy-window 4 --inline-max 0');
    expect(args[5]).to.include('--copy-window 4 --inline-max 2048 --inline-recv-max 0');
    expect(args[6]).to.include('--copy-window 4 --inline-max 2048 --inline-recv-max 2048');
    for (let i = 0; i <= 6; i++) expect(args[i], rungs[i]!.step).to.include('RUMPNET_READ_AHEAD=0');
    for (let i = 0; i <= 8; i++) expect(args[i], rungs[i]!.step).to.include('RUMPNET_WRITE_GATHER=0');
    // No shared memory up to its rung (the server's --no-shm, its clients' RUMPNET_SHM=0), the server's default from there.
    for (let i = 0; i <= 7; i++) expect(args[i], rungs[i]!.step).to.include('--no-shm');
    expect(args[8]).to.not.include('--no-shm');
    expect(args[9]).to.equal('--mclbytes 2048 --mclnum 16 --rx-mode coalesced; rump clients with RUMPNET_POSTED_SEND=0; rump clients with RUMPNET_RX_STREAM=0');
    expect(args[10]).to.equal('--mclbytes 2048 --mclnum 16 --rx-mode coalesced; rump clients with RUMPNET_RX_STREAM=0');
    expect(args[11]).to.equal('--mclbytes 2048 --mclnum 16 --rx-mode coalesced');
    const pt = (i: number, k: string): J => rungs[i]!.points[k];
    for (let i = 0; i <= 5; i++) for (const k of ['send64k', 'recv64k']) expect(pt(i, k).status, `${rungs[i]!.step} ${k}: ${pt(i, k).reason}`).to.equal('ok');
    // NetBSD's one COPYIN per cluster at rung 0; 64 KiB writes in 32 KiB requests from MCLNUM 16 on
    expect(pt(0, 'send64k').copyinPerMiB).to.be.closeTo(512, 0.5);
    // (a short transfer's last partial write may add a request: 32.8 seen in 0.2 s)
    for (let i = 1; i <= 5; i++) expect(pt(i, 'send64k').copyinPerMiB, rungs[i]!.step).to.be.within(31.5, 40);
    // NetBSD-equivalent 1 KiB writes: one send, and so one COPYIN, per write() (no write gathering)
    if (pt(0, 'send1k').status === 'ok') expect(pt(0, 'send1k').copyinPerMiB, 'one COPYIN per 1 KiB write').to.be.within(1000, 1030);
    // Window 1 up to the copy-window rung: never more than one COPYIN outstanding; then at most 4.
    for (let i = 0; i <= 3; i++) expect(rungs[i]!.copyinPeak, rungs[i]!.step).to.equal(1);
    expect(rungs[4]!.copyinPeak).to.be.within(1, 4);
    // Per-mbuf receive: a COPYOUT per mbuf; coalesced: one per read.
    for (const i of [0, 1]) expect(pt(i, 'recv64k').copyoutPerMiB, rungs[i]!.step).to.be.greaterThan(300);
    for (let i = 2; i <= 5; i++) expect(pt(i, 'recv64k').copyoutPerMiB, rungs[i]!.step).to.be.below(64);
    // Inline writes: the 64-byte echo's write goes with its request (fewer frames); none before that rung.
    // (1 KiB writes need not avoid any: the client gathers a turn's writes into one send, often > 2 KiB.)
    const hops = (i: number): number => rungs[i]!.echo.hops.framesSent + rungs[i]!.echo.hops.framesReceived;
    if (rungs[4]!.echo.status === 'ok' && rungs[5]!.echo.status === 'ok') expect(hops(5)).to.be.below(hops(4));
    for (let i = 0; i <= 4; i++) if (rungs[i]!.copyinsAvoidedPerMiB !== null) expect(rungs[i]!.copyinsAvoidedPerMiB, rungs[i]!.step).to.equal(0);
    if (rungs[6]!.status === 'ok' && rungs[6]!.echo.status === 'ok') expect(hops(6), 'inline receive: one frame fewer').to.be.below(hops(5));
    if (rungs[9]!.echo.status === 'ok' && rungs[10]!.status === 'ok' && rungs[10]!.echo.status === 'ok') expect(hops(10), 'posted sends: the write\'s reply gone').to.be.below(hops(9));
    expect(readFileSync(join(out, 'ladder.svg'), 'utf8')).to.match(/^<svg[\s\S]*NetBSD-equivalent[\s\S]*<\/svg>\s*$/);
  });

  it('profiles the defaults\' transfers: categories add up to 100 %, the server busy in TCP and I/O', () => {
    const p = results.profile as J;
    expect(p.status, p.reason).to.be.oneOf(['ok', 'skipped']);
    if (p.status === 'skipped') {
      expect(p.reason).to.be.a('string').and.not.equal('');
      return;
    }
    expect((p.figures as J[]).map((f) => f.figure)).to.deep.equal(['rump→Linux 64K', 'Linux→rump 64K', 'rump→Linux 1K']);
    for (const f of p.figures as J[]) {
      expect(f.status, f.reason).to.equal('ok');
      expect(f.mib).to.be.greaterThan(0);
      for (const pr of f.processes as J[]) {
        if (pr.cpuMsPerMiB !== null) expect(pr.cpuMsPerMiB, `${f.figure} ${pr.role}`).to.be.a('number').and.at.least(0);
        if (pr.role === 'Linux peer') continue;
        const s = pr.summary as J;
        expect(s, `${f.figure} ${pr.role}: no profile`).to.not.equal(null);
        expect(s.samples, `${f.figure} ${pr.role}`).to.be.greaterThan(0);
        const total = Object.values(s.byCategory as Record<string, number>).reduce((a, b) => a + b, 0);
        expect(total).to.be.closeTo(s.us, 1e-6);
      }
      const srv = (f.processes as J[])[0]!.summary.byCategory as Record<string, number>;
      // A server moving data through a tap spends time in TCP, in the tap driver and on the Unix socket.
      expect(srv['TCP input']! + srv['TCP output']!, f.figure).to.be.greaterThan(0);
      expect(srv['tap I/O syscalls'], f.figure).to.be.greaterThan(0);
      expect(srv['Unix-socket I/O'], f.figure).to.be.greaterThan(0);
    }
    expect(readFileSync(join(out, 'report.txt'), 'utf8')).to.match(/^Profile: rumpnet defaults/m).and.match(/^rump→Linux 64K: /m);
  });

  it('writes the report and the Figure 2 chart', () => {
    expect(readFileSync(join(out, 'report.txt'), 'utf8')).to.match(/Figure 2/).and.match(/Summary/);
    expect(readFileSync(join(out, 'fig2.svg'), 'utf8')).to.match(/^<svg[\s\S]*<\/svg>\s*$/);
  });
});
