/**
 * One `npm run bench -- --smoke --warmup 0.1 --native-client --profile --json` per test process
 * (a short warm-up, so that its path runs too),
 * shared by the tests that check the form of the benchmark's output
 * (bench.test.ts: the figures, ratios and charts; bench-native.test.ts: the
 * iperf3 section; the ladder and the profile). The smoke run is the slowest thing in `npm test` — a
 * minute or more idle, several at a load of 20 — so it runs once, when the
 * first of them asks, and its directory goes when the process exits.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proc, ROOT } from '../src/bench/procs.js';

/** What one smoke run left behind. */
export interface SmokeRun {
  /** Exit status of the benchmark. */
  code: number | null;
  /** The last lines of its output, for an assertion message. */
  tail: string;
  /** The results directory (results.json, report.txt, charts). */
  out: string;
  /** results.json as parsed (null when the run failed before writing it). */
  results: Record<string, any> | null;
  /** What `--json` printed on stdout (its last JSON line). */
  printed: Record<string, any> | null;
  /** report.txt: the report the run prints without `--json`. */
  report: string;
}

/** Longest the shared run may take (mocha's timeouts of the callers cover it). */
export const SMOKE_LIMIT_MS = 590_000;

let run: Promise<SmokeRun> | undefined;

/** The shared smoke run, started by the first caller. */
export function smokeRun(): Promise<SmokeRun> {
  run ??= (async () => {
    const out = mkdtempSync(join(tmpdir(), 'rumpnet-bench-test-'));
    process.once('exit', () => rmSync(out, { recursive: true, force: true }));
    const p = Proc.node(join(ROOT, 'examples/src/bench/index.ts'), ['--smoke', '--warmup', '0.1', '--native-client', '--profile', '--out', out, '--json'], { label: 'bench' });
    const code = await p.finish(SMOKE_LIMIT_MS);
    const read = (name: string): string | null => {
      try {
        return readFileSync(join(out, name), 'utf8');
      } catch {
        return null;
      }
    };
    const json = read('results.json');
    return {
      code,
      tail: p.tail(5),
      out,
      results: json === null ? null : (JSON.parse(json) as Record<string, any>),
      printed: (p.events.at(-1) as Record<string, any> | undefined) ?? null,
      report: read('report.txt') ?? '',
    };
  })();
  return run;
}
