/**
 * The per-hop trace (issue 12): an opt-in recorder of CLOCK_MONOTONIC
 * timestamps at the steps of a request's path through the processes of a
 * rump setup — the client's write, the server's socket read, the syscall's
 * dispatch, `tcp_output`, the tap write and read, `sorwakeup`, the reply's
 * socket write, the client's read — so that where an echo's microseconds go
 * can be measured instead of guessed.
 *
 * Off unless the environment names a directory in `RUMPNET_TRACE_HOPS`;
 * then {@link hopTrace} is a recorder, otherwise `undefined`, and every mark
 * site is `hopTrace?.mark('…')` — one load and compare when off.
 * `process.hrtime.bigint()` is CLOCK_MONOTONIC on Linux: one clock for every
 * process of the host, so the marks of several processes merge into one
 * timeline. Each process appends its marks to `<dir>/<pid>.hops` (JSON
 * lines) every {@link FLUSH_MS} ms and at exit: never on the marked path.
 *
 * The same recorder is shared through a global symbol, so the client
 * package's copy (`@rumpnet/client`'s hoptrace.ts, which cannot depend on
 * the stack) and this one fill one buffer in a process that loads both.
 *
 * @module
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';

/** What mark sites call. */
export interface HopTracer {
  /** Records `label` (a short constant string: `s.tapread`) at the current CLOCK_MONOTONIC time. */
  mark(label: string): void;
  /** Writes the marks recorded so far to the trace file (synchronously). */
  flush(): void;
}

/** Marks kept in memory before a forced flush. */
const CAPACITY = 1 << 16;
/** How often the recorder appends its marks to its file. */
const FLUSH_MS = 200;
const SYMBOL = Symbol.for('rumpnet.hoptrace');

class HopRecorder implements HopTracer {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  private namesWritten = 0;
  private readonly t = new Float64Array(CAPACITY);
  private readonly l = new Uint16Array(CAPACITY);
  private n = 0;
  private readonly file: string;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${process.pid}.hops`);
    const role = process.env.RUMPNET_TRACE_ROLE ?? basename(process.argv[1] ?? 'node');
    // The header says who this is before any mark: a reader can find the process at once.
    appendFileSync(this.file, `${JSON.stringify({ pid: process.pid, role })}\n`);
    setInterval(() => this.flush(), FLUSH_MS).unref();
    process.on('exit', () => this.flush());
  }

  mark(label: string): void {
    let id = this.ids.get(label);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(label, id);
      this.names.push(label);
    }
    if (this.n === CAPACITY) this.flush();
    this.t[this.n] = Number(process.hrtime.bigint());
    this.l[this.n++] = id;
  }

  flush(): void {
    if (this.n === 0) return;
    const rec: { names?: string[]; t: number[]; l: number[] } = { t: Array.from(this.t.subarray(0, this.n)), l: Array.from(this.l.subarray(0, this.n)) };
    if (this.namesWritten < this.names.length) {
      rec.names = this.names.slice(this.namesWritten);
      this.namesWritten = this.names.length;
    }
    this.n = 0;
    try {
      appendFileSync(this.file, `${JSON.stringify(rec)}\n`);
    } catch {
      /* a trace that cannot be written is lost, the process goes on */
    }
  }
}

function install(): HopTracer | undefined {
  const dir = typeof process === 'undefined' ? undefined : process.env.RUMPNET_TRACE_HOPS;
  if (dir === undefined || dir === '') return undefined;
  const g = globalThis as { [SYMBOL]?: HopTracer };
  g[SYMBOL] ??= new HopRecorder(dir);
  return g[SYMBOL];
}

/** The process's hop recorder when `RUMPNET_TRACE_HOPS` names a directory, else `undefined` (tracing off). */
export const hopTrace: HopTracer | undefined = install();
