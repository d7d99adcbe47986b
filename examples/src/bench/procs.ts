/**
 * Child processes of the benchmark: the examples (write_server, read_client,
 * echo), the rump server daemon and the scale holder, started natively on
 * the host, or inside the benchmark's network namespace, with their JSON
 * output lines collected and bounded waits on them.
 *
 * Every process started here is remembered and killed when the benchmark
 * exits or is interrupted, so a failed point never leaves a server behind.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The examples' sources (run through tsx). */
export const EXAMPLES = join(ROOT, 'examples/src');
/** The rump server's command line, from source (it imports the stack's build). */
export const SERVER_CLI = join(ROOT, 'packages/server/src/cli.ts');

/** Exit status of an example whose rump API is missing (lib/select.ts). */
export const EXIT_UNAVAILABLE = 3;

/** Something the benchmark needs is not there; the point is reported as skipped with `message`. */
export class Unavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unavailable';
  }
}

/** The tsx loader as a URL, so that children find it from any working directory. */
export function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

/** How to start a process inside the namespace (the Netns harness's `spawn`). */
export interface Spawner {
  spawn(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdio?: ['ignore', 'pipe', 'pipe'] }): ChildProcess;
}

/** Options of {@link Proc.node}. */
export interface ProcOptions {
  /** Extra environment. */
  env?: NodeJS.ProcessEnv;
  /** Start inside this namespace (default: on the host). */
  ns?: Spawner | null;
  /** Label for messages. */
  label?: string;
  /** Flags for node itself, before the script (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
}

const live = new Set<Proc>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const p of live) p.child.kill('SIGKILL');
  });
}

type Json = Record<string, unknown>;

/**
 * A child process whose stdout and stderr lines are kept (the last 200
 * of each) and whose JSON lines can be awaited.
 */
export class Proc {
  readonly child: ChildProcess;
  readonly label: string;
  /** JSON objects printed on stdout, in order. */
  readonly events: Json[] = [];
  /** JSON objects printed on stderr (the server's pino log), in order. */
  readonly logs: Json[] = [];
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  /** Resolves with the exit code (or -1 for a signal) once it has exited. */
  readonly exited: Promise<number>;
  exitCode: number | null = null;
  private readonly waiters = new Set<() => void>();

  private constructor(child: ChildProcess, label: string) {
    this.child = child;
    this.label = label;
    live.add(this);
    hookExit();
    const lines = (stream: NodeJS.ReadableStream | null, keep: string[], json: Json[]): void => {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          keep.push(line);
          if (keep.length > 200) keep.shift();
          if (line.startsWith('{')) {
            try {
              json.push(JSON.parse(line) as Json);
            } catch {
              /* not JSON after all: kept as text */
            }
          }
          this.notify();
        }
      });
    };
    lines(child.stdout, this.stdoutLines, this.events);
    lines(child.stderr, this.stderrLines, this.logs);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null): void => {
        this.exitCode = code ?? -1;
        live.delete(this);
        this.notify();
        resolve(this.exitCode);
      };
      child.once('exit', done);
      child.once('error', () => done(-1));
    });
  }

  /** Starts `node --import tsx script args` (on the host or in `opts.ns`). */
  static node(script: string, args: readonly string[], opts: ProcOptions = {}): Proc {
    const argv = [...(opts.nodeArgs ?? []), '--import', tsxLoader(), script, ...args];
    const env = { ...process.env, ...opts.env };
    const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
    const child = opts.ns ? opts.ns.spawn(process.execPath, argv, { env, cwd: ROOT, stdio }) : spawn(process.execPath, argv, { env, cwd: ROOT, stdio });
    return new Proc(child, opts.label ?? script.split('/').pop()!);
  }

  /** Starts a native command (on the host or in `opts.ns`). */
  static command(cmd: string, args: readonly string[], opts: ProcOptions = {}): Proc {
    const env = { ...process.env, ...opts.env };
    const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
    const child = opts.ns ? opts.ns.spawn(cmd, args, { env, cwd: ROOT, stdio }) : spawn(cmd, args, { env, cwd: ROOT, stdio });
    return new Proc(child, opts.label ?? cmd.split('/').pop()!);
  }

  /** Starts one of the examples (`write_server`, `read_client`, ...). */
  static example(name: string, args: readonly string[], opts: ProcOptions = {}): Proc {
    return Proc.node(join(EXAMPLES, `${name}.ts`), args, { label: name, ...opts });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The last lines of stderr (or stdout), for an error message. */
  tail(n = 3): string {
    const lines = this.stderrLines.filter((l) => !l.startsWith('{')).slice(-n);
    return (lines.length ? lines : this.stdoutLines.slice(-n)).join(' | ').slice(0, 400);
  }

  /**
   * Resolves with the first stdout JSON event matching `pred` (including
   * those already seen). Rejects when the process exits first (an
   * {@link Unavailable} for exit status 3) or after `timeoutMs`.
   */
  waitFor(pred: (e: Json) => boolean, timeoutMs: number, what = 'event'): Promise<Json> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const e = this.events.find(pred);
        if (e !== undefined) return finish(null, e);
        if (this.exitCode !== null) {
          const msg = `${this.label} exited with status ${this.exitCode} before ${what}${this.tail() ? `: ${this.tail()}` : ''}`;
          return finish(this.exitCode === EXIT_UNAVAILABLE ? new Unavailable(this.tail(1).replace(/^[a-z_]+: unavailable: /, '')) : new Error(msg));
        }
      };
      const timer = setTimeout(() => finish(new Error(`${this.label}: no ${what} after ${timeoutMs} ms${this.tail() ? `: ${this.tail()}` : ''}`)), timeoutMs);
      const finish = (err: Error | null, e?: Json): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(e!);
      };
      this.waiters.add(check);
      check();
    });
  }

  /**
   * Resolves with the exit code once the process ends; kills it (SIGKILL)
   * and rejects after `timeoutMs`.
   */
  async finish(timeoutMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`${this.label} still running after ${timeoutMs} ms${this.tail() ? `: ${this.tail()}` : ''}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 1500): Promise<void> {
    if (this.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  /** Resident set size of the process in bytes (Linux /proc), or null. */
  rssBytes(): number | null {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }
}

/**
 * Runs `cmd args` to the end and resolves with its stdout (stderr appended);
 * kills it and rejects after `timeoutMs`, rejects on a non-zero exit.
 */
export function runText(cmd: string, args: readonly string[], timeoutMs: number, ns: Spawner | null = null): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
    const child = ns ? ns.spawn(cmd, args, { stdio }) : spawn(cmd, args, { stdio });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { if (out.length < 1 << 20) out += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { if (err.length < 1 << 16) err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out + err);
      else reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}… exited with ${signal ?? `status ${code}`}${err ? `: ${err.trim().split('\n').slice(-2).join(' | ')}` : ''}`));
    });
  });
}

/** Kills every process still running (the benchmark's final cleanup). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(500)));
}
