/**
 * The well-behaved client's 8 MiB transfer (through TCP on the server's
 * lo0, sha256-checked) undisturbed and under each local attack of issue 10,
 * against a real `rump-server` process with its default options: medians
 * of several runs, and their ratio (the aim: within about 2x).
 *
 *   npx tsx packages/server/bench/quota.bench.ts [--runs N] [--only NAME]
 *
 * Attacks (test/daemon/attacks.ts): `copyins` four clients that never answer
 * COPYIN (256 connections each, a 1 MiB send outstanding on every one);
 * `lo0` a client filling lo0 connections it never reads, to its quota;
 * `sbmax` the same after raising kern.sbmax, with 1.8 MiB socket buffers;
 * `pipeline` eight clients pipelining PINGs without reading replies;
 * `partial` 200 sessions each holding a half-sent 256 KiB frame. Each
 * attack gets a fresh server; the undisturbed runs are made on that server
 * just before it. The server's RSS is printed beside.
 */
import { RumpConnection } from '@rumpnet/client';
import { fillLo0, goodTransfer, neverAnswerCopyins, partialFrames, pipelineNoRead, rssOf } from '../test/daemon/attacks.js';
import { cleanup, killAll, sleep, spawnServer, tmpSock } from '../test/daemon/helpers.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 5);
const ONLY = arg('--only');
const MiB = 1024 * 1024;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** An attack: starts it on `url`, resolves once it is in place; the returned function ends it. */
type Start = (url: string) => Promise<() => Promise<unknown>>;

const attacks: Record<string, Start> = {
  copyins: async (url) => {
    const a = await Promise.all([0, 1, 2, 3].map((i) => neverAnswerCopyins(url, 7000 + i, 256)));
    return () => Promise.all(a.map((x) => x.stop()));
  },
  lo0: async (url) => {
    const a = await fillLo0(url, 7200, { maxPairs: 128 });
    await a.done;
    return () => a.stop();
  },
  sbmax: async (url) => {
    const c = await RumpConnection.connect(url, { name: 'sbmax-raiser' });
    await c.call('ctl.sysctl', { name: 'kern.sbmax', value: 1 << 30 });
    const a = await fillLo0(url, 7400, { maxPairs: 16, bufBytes: 1800 * 1024, name: 'big-buffers' });
    await a.done;
    return async () => {
      await a.stop();
      await c.close();
    };
  },
  pipeline: async (url) => {
    const a = await Promise.all(Array.from({ length: 8 }, () => pipelineNoRead(url, 8000)));
    await Promise.all(a.map((x) => x.done));
    return () => Promise.all(a.map((x) => x.stop()));
  },
  partial: async (url) => {
    const a = await partialFrames(url, 200, 256 * 1024 + 4096);
    return async () => a.closeAll();
  },
};

async function main(): Promise<void> {
  const rows: string[][] = [];
  let port = 8000;
  for (const [name, start] of Object.entries(attacks)) {
    if (ONLY !== undefined && ONLY !== name) continue;
    const url = `unix://${tmpSock()}`;
    // The frame deadline is lengthened so the half-sent frames stay for the whole measurement.
    const srv = await spawnServer(['--log-level', 'error', '--frame-timeout', '600000', url]);
    const pid = srv.proc.pid!;
    try {
      for (let i = 0; i < 3; i++) await goodTransfer(url, port++); // warm-up (JIT)
      const alone: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const g = await goodTransfer(url, port++);
        if (!g.intact) throw new Error('undisturbed transfer corrupted');
        alone.push(g.ms);
      }
      const stop = await start(url);
      const rss = rssOf(pid);
      const under: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const g = await goodTransfer(url, port++);
        if (!g.intact) throw new Error(`transfer under ${name} corrupted`);
        under.push(g.ms);
      }
      await stop();
      const a = median(alone);
      const u = median(under);
      rows.push([name, a.toFixed(0), u.toFixed(0), (u / a).toFixed(2), (rss / MiB).toFixed(0)]);
      process.stdout.write(`${name}: alone ${a.toFixed(0)} ms, under attack ${u.toFixed(0)} ms (x${(u / a).toFixed(2)}), server RSS ${(rss / MiB).toFixed(0)} MiB\n`);
    } finally {
      srv.proc.kill('SIGTERM');
      await Promise.race([srv.exited, sleep(5000)]);
      killAll();
    }
  }
  const header = ['attack', 'alone ms (median)', 'under attack ms (median)', 'ratio', 'server RSS MiB'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  process.stdout.write(`\n8 MiB through lo0, ${RUNS} runs each\n${line(header)}\n| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |\n${rows.map(line).join('\n')}\n`);
  cleanup();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`quota.bench: ${(e as Error).stack ?? String(e)}\n`);
    killAll();
    process.exit(1);
  },
);
