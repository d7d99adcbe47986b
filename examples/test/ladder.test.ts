/**
 * The ladder's configurations are the ones stated (examples/src/bench/
 * ladder.ts): rung 0 is the NetBSD-equivalent configuration, each rung
 * turns on exactly one change, the last is the server's own defaults; the
 * server arguments of each rung; the report's step and cumulative ratios
 * and the chart. What each rung measures (COPYINs per MiB, the copy
 * window's peak) is checked on the smoke run in bench.test.ts.
 */
import { expect } from 'chai';
import { parseServerArgs, type ServerConfig } from '@rumpnet/server';
import { LADDER, type RungResult } from '../src/bench/ladder.js';
import { ladderCells, ladderSpec, renderLadder } from '../src/bench/ladder-report.js';
import { renderSvg } from '../src/bench/charts.js';
import { PAPER_DEFAULT, RUMPNET_DEFAULT } from '../src/bench/plan.js';
import { paramArgs, type StackParams } from '../src/bench/rump.js';
import { clientEnv } from '../src/bench/runner.js';

const ALL = new Set(['--copy-window', '--inline-max', '--inline-recv-max', '--no-shm']);

/** The options in which two configurations differ (unset = the server's default). */
function changed(a: StackParams, b: StackParams): string[] {
  return (['mclbytes', 'mclnum', 'rxMode', 'copyWindow', 'inlineMax', 'inlineRecvMax', 'offload', 'readAhead', 'shm', 'writeGather', 'postedSend', 'rxStream'] as const).filter((k) => a[k] !== b[k]);
}

describe('bench ladder: the rungs', () => {
  it('starts at the NetBSD-equivalent configuration, with no inline receive either', () => {
    expect(LADDER[0]!.params).to.deep.equal({ ...PAPER_DEFAULT, readAhead: false, writeGather: false, postedSend: false, rxStream: false });
    expect(paramArgs(LADDER[0]!.params, ALL).args.join(' ')).to.equal('--mclbytes 2048 --mclnum 1 --rx-mode per-mbuf --copy-window 1 --inline-max 0 --inline-recv-max 0 --no-shm');
    expect(LADDER[0]!.params.offload).to.equal(false);
  });

  it('turns on one change per rung, in the stated order', () => {
    const steps = LADDER.map((r) => r.step);
    expect(steps).to.deep.equal(['NetBSD-equivalent', '+ MCLNUM 16', '+ coalesced receive', '+ tap offloads', '+ copy window 4', '+ inline writes', '+ inline receive', '+ client read-ahead', '+ shared memory', '+ client write gathering', '+ posted sends', '+ streamed receive (= defaults)']);
    const want = [['mclnum'], ['rxMode'], ['offload'], ['copyWindow'], ['inlineMax'], ['inlineRecvMax'], ['readAhead'], ['shm']];
    for (let i = 1; i <= 8; i++) expect(changed(LADDER[i - 1]!.params, LADDER[i]!.params), LADDER[i]!.step).to.deep.equal(want[i - 1]);
    expect(LADDER[1]!.params.mclnum).to.equal(16);
    expect(LADDER[4]!.params.copyWindow).to.equal(4);
    expect(LADDER[5]!.params.inlineMax).to.equal(2048);
    expect(paramArgs(LADDER[5]!.params, ALL).args.join(' ')).to.equal('--mclbytes 2048 --mclnum 16 --rx-mode coalesced --copy-window 4 --inline-max 2048 --inline-recv-max 0 --no-shm');
    // the shared-memory rung: its server gets no --no-shm and its clients offer a region
    expect(paramArgs(LADDER[8]!.params, ALL).args).to.not.include('--no-shm');
    expect(clientEnv({ url: 'u', params: LADDER[7]!.params }).RUMPNET_SHM).to.equal('0');
    expect(clientEnv({ url: 'u', params: LADDER[8]!.params }).RUMPNET_SHM).to.equal(undefined);
  });

  it("ends at the defaults: the server's own options, and the client's read-ahead on", () => {
    const last = LADDER.at(-1)!;
    expect(last.params).to.deep.equal(RUMPNET_DEFAULT);
    expect(LADDER[6]!.needs).to.equal('--inline-recv-max');
    const d = parseServerArgs(['--tap', 'x'], {}) as ServerConfig;
    // rung 6 is the defaults but for the client's read-ahead: its explicit values are the server's own
    const r6 = LADDER[6]!.params;
    expect([r6.mclbytes, r6.mclnum, r6.rxMode, r6.copyWindow, r6.inlineMax, r6.inlineRecvMax]).to.deep.equal([d.mclbytes, d.mclnum, d.rxMode, d.copyWindow, d.inlineMax, d.inlineRecvMax]);
    expect(d.offload).to.equal('auto');
    expect(r6.offload).to.equal(true);
    // read-ahead off (RUMPNET_READ_AHEAD=0) up to rung 6, write gathering off (RUMPNET_WRITE_GATHER=0) up to rung 7,
    // the client's defaults on the last
    for (const r of LADDER.slice(0, 7)) expect(clientEnv({ url: 'u', params: r.params }).RUMPNET_READ_AHEAD, r.step).to.equal('0');
    for (const r of LADDER.slice(0, 9)) expect(clientEnv({ url: 'u', params: r.params }).RUMPNET_WRITE_GATHER, r.step).to.equal('0');
    expect(clientEnv({ url: 'u', params: LADDER[7]!.params }).RUMPNET_READ_AHEAD).to.equal(undefined);
    // the last step turns write gathering on: rung 7's explicit values are the defaults' (above), its write gathering off
    expect(LADDER[7]!.params.writeGather).to.equal(false);
    expect(last.params.writeGather).to.equal(undefined);
    expect(clientEnv({ url: 'u', params: last.params })).to.deep.equal({ RUMP_SERVER: 'u' });
    // posted sends off (RUMPNET_POSTED_SEND=0) on every rung but the last two; the one before last turns them on alone
    for (const r of LADDER.slice(0, -2)) expect(clientEnv({ url: 'u', params: r.params }).RUMPNET_POSTED_SEND, r.step).to.equal('0');
    expect(changed(LADDER.at(-3)!.params, LADDER.at(-2)!.params)).to.deep.equal(['postedSend']);
    expect(LADDER.at(-2)!.needs).to.equal('--posted-window');
    // streamed receives off (RUMPNET_RX_STREAM=0) on every rung but the last, which turns them on alone
    for (const r of LADDER.slice(0, -1)) expect(clientEnv({ url: 'u', params: r.params }).RUMPNET_RX_STREAM, r.step).to.equal('0');
    expect(changed(LADDER.at(-2)!.params, last.params)).to.deep.equal(['rxStream']);
  });

  it('passes an option only where the daemon knows it, and says what it left out', () => {
    const r = paramArgs(LADDER[0]!.params, new Set(['--copy-window', '--inline-max']));
    expect(r.args).to.not.include('--inline-recv-max');
    expect(r.missing).to.deep.equal(['--inline-recv-max 0', '--no-shm']);
  });
});

describe('bench ladder: the report', () => {
  const ok = (median: number, extra = {}) => ({ status: 'ok' as const, runs: [median], median, ...extra });
  const rung = (i: number, s64: number, r64: number, s1: number, p50: number): RungResult => ({
    step: LADDER[i]!.step, used: `args of ${i}`, offload: i >= 3, status: 'ok',
    points: { send64k: ok(s64, { copyinPerMiB: i === 0 ? 512 : 32 }), recv64k: ok(r64, { copyoutPerMiB: i < 2 ? 742 : 16 }), send1k: ok(s1) },
    copyinPeak: i < 4 ? 1 : 4, copyinsAvoidedPerMiB: i >= 5 ? 1024 : 0, copyoutAvoidedPerMiB: null,
    echo: { status: 'ok', count: 100, p50us: p50, p99us: p50 * 3, hops: { framesSent: 2, framesReceived: i >= 5 ? 3 : 5, socketWrites: 1, socketReads: 2 } },
  });
  const rs: RungResult[] = [rung(0, 10, 50, 2, 800), rung(1, 20, 50, 2, 800), rung(2, 20, 75, 2, 700), rung(3, 40, 75, 3, 700), rung(4, 40, 75, 3, 700), rung(5, 40, 75, 6, 400),
    { ...rung(6, 0, 0, 0, 1), status: 'skipped', reason: 'this rump-server has no --inline-recv-max option yet', points: { send64k: { status: 'skipped', reason: 'x' }, recv64k: { status: 'skipped', reason: 'x' }, send1k: { status: 'skipped', reason: 'x' } }, echo: { status: 'skipped', reason: 'x' } }];

  it('gives step and cumulative ratios, above 1× better for throughput and echo alike', () => {
    const c = ladderCells(rs);
    expect(c[0]!.send64k).to.deep.equal({ value: 10, step: null, cumulative: null });
    expect(c[1]!.send64k.step).to.equal(2);
    expect(c[3]!.send64k).to.deep.equal({ value: 40, step: 2, cumulative: 4 });
    expect(c[2]!.recv64k.step).to.equal(1.5);
    expect(c[5]!.echo.step).to.equal(700 / 400);
    expect(c[5]!.echo.cumulative).to.equal(2);
    expect(c[6]!.send64k).to.deep.equal({ value: null, step: null, cumulative: null });
  });

  it('prints every rung, its counts and server options, and why a rung was skipped', () => {
    const t = renderLadder(rs, '1 turn');
    expect(t).to.include('0 NetBSD-equivalent').and.include('5 + inline writes').and.include('4.00×').and.include('512.0').and.include('742.0');
    expect(t).to.include('6 + inline receive: skipped — this rump-server has no --inline-recv-max option yet');
    expect(t).to.include('rump-server args of 3');
  });

  it('draws a panel per figure, a bar per rung with its full name, in the ladder\'s order', async () => {
    const svg = await renderSvg(ladderSpec(rs)!);
    for (const r of rs.slice(0, 6)) expect(svg).to.include(r.step.replace('&', '&amp;'));
    expect(svg).to.include('rump→Linux 64K (MiB/s)').and.include('64-byte echo p50 (µs)').and.include('40.0 (4.00×)');
    expect(svg).to.not.include('…');
    expect(svg.indexOf('0 NetBSD-equivalent')).to.be.lessThan(svg.indexOf('5 + inline writes'));
  });
});
