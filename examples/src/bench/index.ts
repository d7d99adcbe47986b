/**
 * `npm run bench` — the paper's evaluation, reproduced: throughput of the
 * write_server/read_client pair for Linux→Linux, rump→Linux, Linux→rump and
 * rump→rump (Figure 2), the MCLBYTES/MCLNUM sweeps (Figures 5-7), receive
 * copyout modes, the paper's summary ratios beside ours, copy requests per
 * MiB, echo latency, idle-connection scale and the cluster pool's peak.
 *
 *   npm run bench                 # full: 7 sizes, 5 runs of 2 s, all sweeps (long)
 *   npm run bench -- --quick      # < 3 minutes
 *   npm run bench -- --smoke      # < 1 minute, Figure 2 only (the test's mode)
 *   npm run bench -- --quick --no-netns --out /tmp/r
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
import { intArg, secondsArg } from '../lib/cli.js';
import { renderFigures } from './charts.js';
import { buildPlan, sweepFor, type Mode } from './plan.js';
import { ROOT, stopAll } from './procs.js';
import { ratios, renderReport } from './report.js';
import { probe, runGroup, runLatency, runScale, type Cell, type PoolUse } from './runner.js';
import { Topology } from './topology.js';

/** Version of the results.json layout. */
export const RESULTS_VERSION = 1;

async function main(): Promise<void> {
  const o = new Command('bench')
    .description("Reproduce the paper's evaluation on rumpnet.")
    .option('--quick', 'a short run (< 3 minutes)')
    .option('--smoke', 'the shortest run: Figure 2 at two sizes, one run each')
    .option('--runs <n>', 'runs per point (median, min–max)', intArg(1, 100))
    .option('--seconds <s>', 'seconds per transfer', secondsArg(60))
    .option('--no-netns', 'do not create a network namespace even as root')
    .option('--no-offload', "run tap servers with --no-offload (a plain tap, one write per frame: the NetBSD-equivalent configuration); default: the servers' offloads where the kernel accepts them")
    .option('--out <dir>', 'results directory (default results/<timestamp>)')
    .option('--json', 'print results.json on stdout instead of the report')
    .parse()
    .opts<{ quick?: boolean; smoke?: boolean; runs?: number; seconds?: number; netns: boolean; offload?: boolean; out?: string; json?: boolean }>();
  const mode: Mode = o.smoke ? 'smoke' : o.quick ? 'quick' : 'full';
  const sweep = sweepFor(mode, { ...(o.runs ? { runs: o.runs } : {}), ...(o.seconds ? { seconds: o.seconds } : {}) });
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
    const total = plan.groups.reduce((n, g) => n + g.sizes.length, 0) + 2;
    const bar = new SingleBar({ stream: process.stderr, format: 'bench [{bar}] {value}/{total} {what}', hideCursor: true }, Presets.shades_classic);
    bar.start(total, 0, { what: '' });
    const cells: Cell[] = [];
    const pools: PoolUse[] = [];
    for (const g of plan.groups) {
      bar.update({ what: g.key });
      cells.push(...(await runGroup(topo, avail, g, sweep, pools, () => bar.increment())));
    }
    bar.update({ what: 'latency' });
    const latency = await runLatency(topo, avail, sweep.latencyCount);
    bar.increment();
    bar.update({ what: 'scale' });
    const scale = await runScale(topo, avail, sweep.scaleConnections);
    bar.increment();
    bar.stop();
    const finishedAt = new Date();
    const summary = ratios(plan, cells);
    const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: `${process.platform} ${process.arch}`, root: process.getuid?.() === 0 };
    const header = `rumpnet benchmark (${mode}) — ${startedAt.toISOString()}, ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s; ${machine.cpus} × ${machine.cpu}, node ${machine.node}`;
    const report = renderReport({ plan, cells, ratios: summary, latency, scale, pools, avail, header });
    const results = {
      version: RESULTS_VERSION, mode, startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(),
      command: `npm run bench --${mode === 'full' ? '' : ` --${mode}`}`, machine, sweep, availability: avail,
      groups: plan.groups, series: plan.series, cells, ratios: summary, latency, scale, pools,
    };
    writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(outDir, 'report.txt'), `${report}\n`);
    const charts = await renderFigures(plan, cells);
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
