/**
 * Runs Node.js's own `node:net` and `node:dgram` tests (`test/parallel/test-net-*`,
 * `test-dgram-*`) twice — natively, and as UNMODIFIED programs under the
 * hijack (`NODE_OPTIONS=--import <hijack>`) against a rump server on a Unix
 * socket — and prints, per module, how many of the tests that pass natively
 * also pass under the hijack (docs/NODE-TESTS.md).
 *
 * The tests are not part of this repository (they are Node's): fetch Node
 * v20's `test/` folder (`denoland/node_test` holds it), copy `parallel/`'s
 * net and dgram tests and `common/` to a scratch directory and name it:
 *
 * ```sh
 * npm run build
 * npx tsx tools/node-tests/run.ts /work/nodetests/test [--jobs 2] [--timeout 20000] [--filter net-socket] [--json out.json]
 * ```
 *
 * Proof that the rump stack was used: each job slot has its own rump server,
 * and its protocol counters (`rumpctl netstat -s`: the tcp, udp and ip
 * stats) are read before and after every hijacked test; a test that passes
 * without moving them is counted apart ("stack untouched": argument
 * validation and the like never reach a socket).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { RumpConnection } from '@rumpnet/client';

const root = fileURLToPath(new URL('../..', import.meta.url));
const serverCli = join(root, 'packages/server/dist/src/cli.js');
const hijack = join(root, 'packages/client/dist/src/hijack-register.js');

/** How one run of one test ended. */
interface RunResult {
  ok: boolean;
  /** Exit code, or the signal name, or 'timeout'. */
  status: string;
  /** The last lines of stderr (the failure's reason). */
  tail: string;
  ms: number;
}

/** One test's outcome, both ways. */
interface TestResult {
  file: string;
  module: 'net' | 'dgram';
  native: RunResult;
  hijack?: RunResult;
  /** Sum of the rump server's counters moved by the hijacked run. */
  rumpDelta?: number;
}

/** A rump server for one job slot. */
interface Slot {
  id: number;
  url: string;
  proc: ChildProcess;
  dir: string;
}

const program = new Command('node-tests')
  .description("Node's net/dgram tests natively and under the rumpnet hijack")
  .argument('<testdir>', "Node's test/ folder (holding parallel/ and common/)")
  .option('--jobs <n>', 'tests run at once (each slot has its own rump server)', (v) => Number(v), Math.max(1, Math.min(3, cpus().length)))
  .option('--timeout <ms>', 'bound on one run of one test', (v) => Number(v), 20_000)
  .option('--filter <regex>', 'only test files whose name matches')
  .option('--json <file>', 'write every result as JSON here')
  .parse();

const testdir = resolve(program.args[0]!);
const opts = program.opts<{ jobs: number; timeout: number; filter?: string; json?: string }>();
for (const f of [serverCli, hijack]) {
  if (!existsSync(f)) {
    console.error(`node-tests: ${f} is missing: run \`npm run build\` first`);
    process.exit(2);
  }
}
const parallel = join(testdir, 'parallel');
if (!existsSync(parallel) || !existsSync(join(testdir, 'common'))) {
  console.error(`node-tests: ${testdir} has no parallel/ and common/ (Node's test folder)`);
  process.exit(2);
}
const filter = opts.filter !== undefined ? new RegExp(opts.filter) : undefined;
const files = readdirSync(parallel)
  .filter((f) => /^test-(net|dgram)-.*\.m?js$/.test(f))
  .filter((f) => filter === undefined || filter.test(f))
  .sort();

/** The `// Flags:` line of a Node test (tools/test.py passes them to node). */
function flagsOf(file: string): string[] {
  const m = /^\/\/ Flags: (.*)$/m.exec(readFileSync(file, 'utf8'));
  return m ? m[1]!.trim().split(/\s+/) : [];
}

/** Runs `node args` in the test folder, bounded by the timeout; kills the whole process group on expiry. */
function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: testdir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let err = '';
    const keep = (c: Buffer): void => {
      err = (err + c.toString()).slice(-8192);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, opts.timeout);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // Children a test left behind (its own process group) go too.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      const status = timedOut ? 'timeout' : signal !== null ? signal : String(code);
      const tail = err.trim().split('\n').slice(-12).join('\n');
      done({ ok: !timedOut && code === 0, status, tail, ms: Date.now() - t0 });
    });
  });
}

async function startSlot(id: number): Promise<Slot> {
  const dir = mkdtempSync(join(tmpdir(), `rumpnet-nodetests-${id}-`));
  const url = `unix://${join(dir, 'rump.sock')}`;
  const proc = spawn(process.execPath, [serverCli, '--log-level', 'warn', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`rump server ${id} did not start in 30 s: ${out}`)), 30_000);
    const on = (c: Buffer): void => {
      out += c.toString();
      if (out.includes('listening on')) {
        clearTimeout(t);
        ok();
      }
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.once('exit', (code) => {
      clearTimeout(t);
      fail(new Error(`rump server ${id} exited (${code}): ${out}`));
    });
  });
  return { id, url, proc, dir };
}

async function stopSlot(s: Slot): Promise<void> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) {
    const gone = new Promise((r) => s.proc.once('exit', r));
    s.proc.kill('SIGTERM');
    const t = setTimeout(() => s.proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
  rmSync(s.dir, { recursive: true, force: true });
}

/** Sum of the server's tcp/udp/ip protocol counters (`netstat -s`): it moves whenever a socket sends, receives, binds or connects. */
async function rumpCounters(url: string): Promise<number> {
  const conn = await RumpConnection.connect(url, { name: 'node-tests' });
  try {
    const r = await conn.call<{ stats?: { name: string; value: number }[] }>('ctl.netstat', { what: 'stats' }, { syscall: 'netstat' });
    return (r.stats ?? []).filter((row) => /^net\.inet6?\.(ip6?|tcp|udp)\.stats\./.test(row.name)).reduce((a, row) => a + (Number(row.value) || 0), 0);
  } finally {
    await conn.close();
  }
}

async function runOne(file: string, slot: Slot): Promise<TestResult> {
  const path = join(parallel, file);
  const flags = flagsOf(path);
  const mod = file.startsWith('test-net-') ? 'net' : 'dgram';
  // common/tmpdir.js keys its scratch directory on TEST_THREAD_ID: one per slot.
  const base = { ...process.env, TEST_THREAD_ID: String(slot.id) } as NodeJS.ProcessEnv;
  delete base.NODE_OPTIONS;
  delete base.RUMP_SERVER;
  const native = await runNode([...flags, path], base);
  const res: TestResult = { file, module: mod, native };
  if (!native.ok) return res; // the yardstick is the tests that pass natively
  const before = await rumpCounters(slot.url);
  // NODE_OPTIONS, so the child processes a test spawns are hijacked too (as a user's would be).
  res.hijack = await runNode([...flags, path], { ...base, RUMP_SERVER: slot.url, NODE_OPTIONS: `--import=${hijack}` });
  res.rumpDelta = (await rumpCounters(slot.url)) - before;
  return res;
}

async function main(): Promise<void> {
  console.log(`node-tests: ${files.length} tests from ${parallel}, ${opts.jobs} at a time, ${opts.timeout} ms each, node ${process.version}`);
  const slots: Slot[] = [];
  const results: TestResult[] = [];
  try {
    for (let i = 0; i < opts.jobs; i++) slots.push(await startSlot(i));
    let next = 0;
    await Promise.all(
      slots.map(async (slot) => {
        for (let i = next++; i < files.length; i = next++) {
          const r = await runOne(files[i]!, slot);
          results.push(r);
          const h = r.hijack;
          const mark = !r.native.ok ? 'native-fail' : h!.ok ? (r.rumpDelta! > 0 ? 'PASS' : 'PASS (stack untouched)') : `FAIL ${h!.status}`;
          console.log(`[${results.length}/${files.length}] ${r.file}: ${mark}`);
        }
      }),
    );
  } finally {
    await Promise.all(slots.map(stopSlot));
  }
  results.sort((a, b) => a.file.localeCompare(b.file));
  console.log('');
  for (const mod of ['net', 'dgram'] as const) {
    const mine = results.filter((r) => r.module === mod);
    const nativeOk = mine.filter((r) => r.native.ok);
    const pass = nativeOk.filter((r) => r.hijack!.ok);
    const used = pass.filter((r) => r.rumpDelta! > 0);
    const pct = nativeOk.length > 0 ? ((100 * pass.length) / nativeOk.length).toFixed(1) : '-';
    console.log(
      `${mod}: ${mine.length} tests, ${nativeOk.length} pass natively; ${pass.length} of those pass under the hijack (${pct} %), ` +
        `${used.length} of them moved the rump server's counters`,
    );
    for (const r of nativeOk.filter((x) => !x.hijack!.ok)) {
      const why = r.hijack!.tail.split('\n').find((l) => /Error|error|assert|Assert|code:/.test(l)) ?? r.hijack!.tail.split('\n').pop() ?? '';
      console.log(`  FAIL ${r.file} (${r.hijack!.status}): ${why.trim().slice(0, 160)}`);
    }
  }
  if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify(results, null, 1));
}

await main();
