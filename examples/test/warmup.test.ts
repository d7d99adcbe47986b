/**
 * The benchmark's warm-up option (`--warmup <s>`, `Sweep.warmup`): its
 * defaults per mode, the override, and the parser's answer to bad values
 * (negative, not a number, empty, over the bound) — a clear error, never a
 * silent default. The warm-up transfers themselves run in the smoke run
 * (bench.test.ts).
 */
import { expect } from 'chai';
import { InvalidArgumentError } from 'commander';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { secondsOrZeroArg } from '../src/lib/cli.js';
import { sweepFor } from '../src/bench/plan.js';
import { ladderSweep } from '../src/bench/ladder.js';
import { ROOT, tsxLoader } from '../src/bench/procs.js';

describe('bench warm-up', () => {
  it('is 2 s in the full run, 1 s in --quick, none in --smoke, and --warmup overrides it', () => {
    expect(sweepFor('full').warmup).to.equal(2);
    expect(sweepFor('quick').warmup).to.equal(1);
    expect(sweepFor('smoke').warmup).to.equal(0);
    expect(sweepFor('full', { warmup: 0 }).warmup).to.equal(0);
    expect(sweepFor('smoke', { warmup: 0.5 }).warmup).to.equal(0.5);
  });

  it('reaches the ladder in every mode', () => {
    for (const m of ['smoke', 'quick', 'full'] as const) expect(ladderSweep(sweepFor(m, { warmup: 0.3 })).warmup).to.equal(0.3);
  });

  it('parses 0 and seconds up to the bound; refuses negative, non-numeric, empty and too long', () => {
    const p = secondsOrZeroArg(60);
    expect(p('0')).to.equal(0);
    expect(p('0.25')).to.equal(0.25);
    expect(p('60')).to.equal(60);
    for (const bad of ['-1', 'abc', '', ' ', '61', 'NaN', 'Infinity']) expect(() => p(bad), bad).to.throw(InvalidArgumentError, /seconds in \[0, 60\]/);
  });

  it('npm run bench -- --warmup -1 stops at once with the reason, before measuring anything', function () {
    this.timeout(60_000);
    const r = spawnSync(process.execPath, ['--import', tsxLoader(), join(ROOT, 'examples/src/bench/index.ts'), '--smoke', '--warmup', '-1'], { encoding: 'utf8', timeout: 50_000 });
    expect(r.status).to.not.equal(0);
    expect(r.stderr).to.match(/--warmup.*seconds in \[0, 60\], got "-1"/s);
  });
});
