/**
 * Clients run as another local user, for the per-user limit tests
 * (userquota, userqueue, usershm): a Node process of `uid` (root only)
 * running a small ES module script against the daemon, which prints one
 * JSON line when it has done its part and holds its sessions until its
 * stdin closes. One place for the spawn, the report and the teardown, so
 * that each test file keeps only its script and its assertions.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { ROOT } from './helpers.js';

/** A client process of another user. */
export interface UserClient<R> {
  readonly proc: ChildProcessWithoutNullStreams;
  /** The script's first stdout line, parsed as JSON (rejects on exit before it, or after `timeoutMs`). */
  readonly report: Promise<R>;
  /** Resolves with the exit code when the process has gone. */
  readonly exited: Promise<number | null>;
}

/**
 * Runs `script` (an ES module, given `args` in `process.argv.slice(1)`) as
 * `uid`/`gid` `uid`, from the repository root so that `@rumpnet/client`
 * resolves, with a minimal environment (PATH, HOME=/tmp).
 */
export function runAsUser<R>(script: string, args: readonly string[], uid: number, timeoutMs = 30_000): UserClient<R> {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
    uid,
    gid: uid,
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  const report = new Promise<R>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`uid ${uid}: no report in time (stderr: ${err})`)), timeoutMs);
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        try {
          resolve(JSON.parse(out.slice(0, nl)) as R);
        } catch (e) {
          reject(new Error(`uid ${uid}: report is not JSON: ${out.slice(0, Math.min(nl, 200))} (${(e as Error).message})`));
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`uid ${uid}: exited ${code} before reporting (stderr: ${err})`));
    });
  });
  return { proc, report, exited };
}

/** Closes each client's stdin (its cue to close its sessions and exit) and waits for it; SIGKILL after 10 s. */
export async function stopUsers(users: readonly UserClient<unknown>[]): Promise<void> {
  for (const u of users) {
    u.proc.stdin.end();
    const t = setTimeout(() => u.proc.kill('SIGKILL'), 10_000);
    await u.exited;
    clearTimeout(t);
  }
}

/** Skips the suite with a one-line reason unless the test runs as root (it must start processes of other users). */
export function skipUnlessRoot(ctx: Mocha.Context): void {
  if (process.getuid?.() !== 0) {
    console.log('      (skipped: needs root, to run clients as two other users)');
    ctx.skip();
  }
}
