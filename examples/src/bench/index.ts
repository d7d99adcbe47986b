/**
 * `npm run bench` — the paper's evaluation, reproduced: throughput of the
 * write_server/read_client pair for Linux→Linux, rump→Linux, Linux→rump and
 * rump→rump (Figure 2), the MCLBYTES/MCLNUM sweeps (Figures 5-7), receive
 * copyout modes, the copy-window sweep (MCLNUM 1 and 16), the paper's summary ratios beside ours, copy requests per
 * MiB, echo latency, idle-connection scale and the cluster pool's peak; and
 * issue #12's table: each figure with the NetBSD-equivalent configuration
 * and rumpnet's defaults side by side, its aim and whether it is met, copy
 * requests per MiB, hops per echo and allocations per segment; the ladder
 * (ladder.ts: each change from the NetBSD-equivalent configuration to the
 * defaults, one at a time, in turns) and the profile (profile-run.ts: the
 * defaults' transfers under `node --cpu-prof`, by category).
 *
 *   npm run bench                 # full: 7 sizes, 5 runs of 2 s, all sweeps (long)
 *   npm run bench -- --quick      # < 3 minutes
 *   npm run bench -- --smoke      # < 1 minute, Figure 2 only (the test's mode)
 *   npm run bench -- --quick --paper   # also "% of native" with Linux capped at 1 Gbit/s
 *   npm run bench -- --quick --profile # also the profile (on in the full run; --no-profile)
 *   npm run bench -- --quick --no-netns --out /tmp/r
 *   npm run bench -- --quick --native-client   # + iperf3 as a rump client (native.ts)
 *   npm run bench -- --quick --trace-hops      # + the echo's profile, hop by hop (echotrace.ts)
 *
 * With root it creates a network namespace with a tap per rump server (no
 * packet leaves it); without, it runs what it can and says why the rest is
 * skipped. Writes results.json, report.txt and SVG charts to
 * results/<timestamp>/ (or --out), and the report on stdout; a progress bar
 * on stderr when that is a terminal.
 */
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { intArg, secondsArg, secondsOrZeroArg } from '../lib/cli.js';
import { issueTableSpec, renderFigures, renderSvg } from './charts.js';
import { buildPlan, PAPER_DEFAULT, RUMPNET_DEFAULT, sweepFor, type Group, type Mode, type Plan } from './plan.js';
import { ROOT, stopAll } from './procs.js';
import { ratios, renderReport } from './report.js';
import { renderNative, runNative, type NativeResult } from './native.js';
import { renderEchoTrace, runEchoTrace, type EchoTrace } from './echotrace.js';
import { describeParams, serverOptions } from './rump.js';
import { probe, runGroup, runLatency, runPaired, runScale, type Cell, type PoolUse } from './runner.js';
import { runStackBench } from './stack.js';
import { cappedKey, issueTable, paperRatios, renderIssueTable, renderPaper, type PaperMode } from './table.js';
import { Topology } from './topology.js';
import { ladderSteps, ladderSweep, runLadder, type RungResult } from './ladder.js';
import { ladderSpec, renderLadder } from './ladder-report.js';
import { profileSweep, renderProfile, runProfile, type ProfileResult } from './profile-run.js';

/** The paper's link: the Linux side's ceiling in paper mode. */
const PAPER_RATE = '1gbit';

/** MiB per transfer of the stack bench, by mode. */
const STACK_MIB: Record<Mode, number> = { smoke: 32, quick: 32, full: 64 };

/** Figure 2's groups again, under the cap (their keys marked with the rate). */
function cappedGroups(plan: Plan): Group[] {
  const names = ['Linux→Linux', 'rump→Linux', 'Linux→rump', 'rump→Linux, rumpnet defaults', 'Linux→rump, rumpnet defaults'];
  return names.flatMap((n) => {
    const s = plan.series.find((x) => x.figure === 'fig2' && x.name === n);
    const g = s && plan.groups.find((x) => x.key === s.group);
    return g ? [{ ...g, key: cappedKey(g.key, PAPER_RATE), sizes: [...plan.sweep.sizes] }] : [];
  });
}

/** Version of the results.json layout. */
export const RESULTS_VERSION = 1;

async function main(): Promise<void> {
  const o = new Command('bench')
    .description("Reproduce the paper's evaluation on rumpnet.")
    .option('--quick', 'a short run (< 3 minutes)')
    .option('--smoke', 'the shortest run: Figure 2 at two sizes, one run each')
    .option('--runs <n>', 'runs per point (median, min–max)', intArg(1, 100))
    .option('--seconds <s>', 'seconds per transfer', secondsArg(60))
    .option('--warmup <s>', 'seconds of one untimed transfer per group before its runs, so that the measured runs see warm processes (0: none; default 2, --quick 1, --smoke 0)', secondsOrZeroArg(60))
    .option('--no-netns', 'do not create a network namespace even as root')
    .option('--no-offload', "run tap servers with --no-offload (a plain tap, one write per frame: the NetBSD-equivalent configuration); default: the servers' offloads where the kernel accepts them")
    .option('--paper', "paper mode: also measure Figure 2 with the Linux side capped at 1 Gbit/s (tc tbf in the namespace), the paper's gigabit ceiling")
    .option('--no-ladder', 'leave out the ladder (each change of issue #12 turned on one at a time, measured in turns)')
    .option('--profile', "profile rumpnet defaults' table transfers (node --cpu-prof of the servers and rump clients): where the time goes, CPU ms per MiB per process; on by default in the full run")
    .option('--no-profile', 'leave the profile out of the full run')
    .option('--native-client', 'also run iperf3 as a rump client through the LD_PRELOAD hijack (rumprun-native), beside the Node figures at 64 KiB')
    .option('--trace-hops', "also trace the 64-byte echo hop by hop (RUMPNET_TRACE_HOPS) and print where its time goes: the echo's profile")
    .option('--out <dir>', 'results directory (default results/<timestamp>)')
    .option('--json', 'print results.json on stdout instead of the report')
    .parse()
    .opts<{ quick?: boolean; smoke?: boolean; runs?: number; seconds?: number; warmup?: number; netns: boolean; ladder: boolean; profile?: boolean; offload?: boolean; paper?: boolean; out?: string; json?: boolean; nativeClient?: boolean; traceHops?: boolean }>();
  const mode: Mode = o.smoke ? 'smoke' : o.quick ? 'quick' : 'full';
  const sweep = sweepFor(mode, { ...(o.runs ? { runs: o.runs } : {}), ...(o.seconds ? { seconds: o.seconds } : {}), ...(o.warmup !== undefined ? { warmup: o.warmup } : {}) });
  const startedAt = new Date();
  const outDir = o.out ?? join(ROOT, 'results', startedAt.toISOString().replace(/[:.]/g, '-'));
  mkdirSync(outDir, { recursive: true });

  const topo = await Topology.create({ noNetns: !o.netns, offload: o.offload !== false });
  const onSignal = (): void => {
    void stopAll().finally(() => topo.destroy().finally(() => process.exit(130)));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const avail = await probe(topo);
    const plan = buildPlan(sweep, { linuxPeer: topo.linuxPeer });
    const capped = o.paper ? cappedGroups(plan) : [];
    const ls = ladderSweep(sweep);
    const profiling = o.profile ?? mode === 'full';
    const total = [...plan.groups, ...capped].reduce((n, g) => n + g.sizes.length, 0) + 3 + (o.ladder ? ladderSteps(ls) : 0) + (profiling ? 1 : 0);
    const bar = new SingleBar({ stream: process.stderr, format: 'bench [{bar}] {value}/{total} {what}', hideCursor: true }, Presets.shades_classic);
    bar.start(total, 0, { what: '' });
    const cells: Cell[] = [];
    const pools: PoolUse[] = [];
    for (const g of plan.groups.filter((x) => !x.paired)) {
      bar.update({ what: g.key });
      cells.push(...(await runGroup(topo, avail, g, sweep, pools, () => bar.increment())));
    }
    bar.update({ what: 'the issue table, configurations in turns' });
    cells.push(...(await runPaired(topo, avail, plan.groups.filter((x) => x.paired), sweep, pools, () => bar.increment())));
    let ladder: RungResult[] | undefined;
    if (o.ladder) {
      ladder = await runLadder(topo, avail, ls, (what) => {
        bar.update({ what });
        bar.increment();
      });
    }
    let profile: ProfileResult | undefined;
    if (profiling) {
      bar.update({ what: 'profile (node --cpu-prof)' });
      profile = await runProfile(topo, avail, profileSweep(sweep), outDir);
      bar.increment();
    }
    bar.update({ what: 'latency' });
    const latency = await runLatency(topo, avail, sweep.latencyCount, sweep.echoTurns);
    let echoTrace: EchoTrace[] | undefined;
    if (o.traceHops) {
      bar.update({ what: "the echo's profile (hop trace)" });
      echoTrace = await runEchoTrace(topo, avail, mode === 'full' ? 5000 : 2000);
    }
    bar.increment();
    bar.update({ what: 'scale' });
    const scale = await runScale(topo, avail, sweep.scaleConnections);
    bar.increment();
    bar.update({ what: 'two stacks in one process' });
    const stack = await runStackBench(STACK_MIB[mode], mode === 'full' ? { runs: 7 } : { runs: 3, warmup: mode === 'smoke' ? 20_000 : 100_000 });
    bar.increment();
    // before --paper caps the Linux side: iperf3 is compared with the uncapped Node figures
    let native: NativeResult | undefined;
    if (o.nativeClient) {
      bar.update({ what: 'native client (iperf3)' });
      native = await runNative(topo, avail, sweep, cells);
    }
    let paper: PaperMode = { status: 'off' };
    if (o.paper) {
      const why = await topo.capLinux(PAPER_RATE);
      if (why !== null) {
        paper = { status: 'skipped', reason: why };
        for (const g of capped) for (const _ of g.sizes) bar.increment();
      } else {
        paper = { status: 'ok', rate: PAPER_RATE, how: topo.capHow };
        for (const g of capped) {
          bar.update({ what: g.key });
          cells.push(...(await runGroup(topo, avail, g, sweep, pools, () => bar.increment())));
        }
      }
    }
    bar.stop();
    const supported = await serverOptions();
    const used = { netbsd: describeParams(PAPER_DEFAULT, supported, topo.kind === 'tap' && topo.offloadOf(PAPER_DEFAULT)), defaults: describeParams(RUMPNET_DEFAULT, supported, topo.kind === 'tap' && topo.offloadOf(RUMPNET_DEFAULT)) };
    const table = issueTable(plan, cells, latency, stack, used);
    const paperTable = paper.status === 'ok' ? paperRatios(plan, cells, paper.rate) : [];
    const finishedAt = new Date();
    const summary = ratios(plan, cells);
    const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: `${process.platform} ${process.arch}`, root: process.getuid?.() === 0 };
    const header = `rumpnet benchmark (${mode}) — ${startedAt.toISOString()}, ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s; ${machine.cpus} × ${machine.cpu}, node ${machine.node}`;
    const ladderWhat = `${ls.runs} turn(s) of ${ls.seconds} s per figure${ls.warmup > 0 ? ` after one untimed ${ls.warmup} s transfer each way per rung` : ''}, ${ls.echoTurns} × ${ls.echoes} echoes`;
    const issue = `${renderIssueTable(table)}\n\n${renderPaper(paper, paperTable)}${ladder ? `\n\n${renderLadder(ladder, ladderWhat)}` : ''}${profile ? `\n\n${renderProfile(profile)}` : ''}`;
    const report = renderReport({ plan, cells, ratios: summary, latency, scale, pools, avail, header, issue }) + (echoTrace ? `\n\n${renderEchoTrace(echoTrace)}` : '') + (native ? `\n\n${renderNative(native)}` : '');
    const results = {
      version: RESULTS_VERSION, mode, startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(),
      command: `npm run bench --${mode === 'full' ? '' : ` --${mode}`}${o.paper ? ' --paper' : ''}${o.ladder ? '' : ' --no-ladder'}${o.profile === true && mode !== 'full' ? ' --profile' : ''}${o.profile === false && mode === 'full' ? ' --no-profile' : ''}${o.offload === false ? ' --no-offload' : ''}${o.nativeClient ? ' --native-client' : ''}${o.traceHops ? ' --trace-hops' : ''}`, machine, sweep, availability: avail,
      groups: [...plan.groups, ...capped], series: plan.series, cells, ratios: summary, latency, scale, pools,
      table, stack, paper, paperRatios: paperTable, ...(native ? { native } : {}), ...(echoTrace ? { echoTrace } : {}), ...(ladder ? { ladder: { sweep: ls, rungs: ladder } } : {}), ...(profile ? { profile } : {}),
    };
    writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(outDir, 'report.txt'), `${report}\n`);
    const charts = await renderFigures(plan, cells);
    const tableChart = issueTableSpec(table);
    if (tableChart) charts.set('issue12.svg', await renderSvg(tableChart));
    const ladderChart = ladder ? ladderSpec(ladder) : null;
    if (ladderChart) charts.set('ladder.svg', await renderSvg(ladderChart));
    for (const [name, svg] of charts) writeFileSync(join(outDir, name), svg);
    process.stdout.write(o.json ? `${JSON.stringify(results)}\n` : `${report}\n\nresults: ${outDir} (results.json, report.txt${charts.size ? `, ${[...charts.keys()].join(', ')}` : ''})\n`);
  } finally {
    await stopAll();
    await topo.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
