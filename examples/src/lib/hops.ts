/**
 * Reading the per-hop trace (`RUMPNET_TRACE_HOPS`, see `hoptrace.ts` in
 * @rumpnet/stack and @rumpnet/client) of a ping-pong run, and CPU time per
 * process: where one echo's microseconds go.
 *
 * Every traced process appends CLOCK_MONOTONIC marks to `<dir>/<pid>.hops`.
 * The echo client marks `app.write` before each write and `app.done` when
 * the whole echo is back, so the marks of all processes between the two
 * belong to that echo (one echo is in flight at a time). Inside an echo the
 * **critical path** is followed backwards from `app.done`: a mark's cause is
 * the previous mark of its own process, except for a wake-up mark (a socket
 * read `c.data`/`s.data`, a tap read `tap.read`, the end of a client busy
 * poll that saw the answer `c.spin.hit`) whose cause is the write
 * that woke it — the peer's socket write, or the server's own tap write
 * for the Linux side's answer — unless its own process was busy later than
 * that write. Each step of the path is then one of:
 *
 * - `js`: between two marks of one process (its JavaScript, and whatever
 *   the kernel does inside its system calls);
 * - `wake`: from one process's socket write to the first mark of the one it
 *   woke (the kernel's Unix socket, and waiting to be scheduled);
 * - `linux`: from the end of the tap write to the tap read of the answer
 *   (the Linux stack and its echo server, and the rump server's wake-up);
 * - `loop`: from a process's own last mark to its next wake-up mark when
 *   that last mark came after the write that woke it: the rest of its turn
 *   and, if the input was not there yet, waiting for it (the Linux side's
 *   answer carries no timestamp of its own);
 * - `write`: inside a socket write (`X` → `X.end`): the system call, and
 *   the time the writer lost the CPU to the process it woke;
 * - `busy`: from the echo's start to a process's first mark on the path
 *   when that process was still busy with the previous echo.
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One mark of one process. */
export interface HopMark {
  readonly t: number;
  readonly pid: number;
  readonly label: string;
}

/** A traced process: its pid, the role it named, and a short name for the report. */
export interface HopProc {
  readonly pid: number;
  readonly role: string;
  name: string;
}

/** All marks of a trace directory, merged in time order. */
export interface HopTraceData {
  readonly procs: Map<number, HopProc>;
  readonly marks: HopMark[];
}

/** Reads every `<pid>.hops` file of `dir` (lines that do not parse are skipped: a file may be cut by a kill). */
export function readHopTrace(dir: string): HopTraceData {
  const procs = new Map<number, HopProc>();
  const marks: HopMark[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.hops')) continue;
    const names: string[] = [];
    let pid = Number(f.slice(0, -5));
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (line === '') continue;
      let rec: { pid?: number; role?: string; names?: string[]; t?: number[]; l?: number[] };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        continue;
      }
      if (typeof rec.pid === 'number') {
        pid = rec.pid;
        procs.set(pid, { pid, role: String(rec.role ?? '?'), name: String(rec.role ?? pid) });
        continue;
      }
      if (rec.names) names.push(...rec.names);
      const t = rec.t ?? [];
      const l = rec.l ?? [];
      for (let i = 0; i < t.length; i++) marks.push({ t: t[i]!, pid, label: names[l[i]!] ?? '?' });
    }
  }
  marks.sort((a, b) => a.t - b.t);
  nameProcs(procs, marks);
  return { procs, marks };
}

/** Names processes by what they marked: the echo client (`app.*`), the rump server (`s.*`), other rump clients. */
function nameProcs(procs: Map<number, HopProc>, marks: readonly HopMark[]): void {
  const kinds = new Map<number, Set<string>>();
  for (const m of marks) {
    let k = kinds.get(m.pid);
    if (!k) kinds.set(m.pid, (k = new Set()));
    k.add(m.label.split('.')[0]!);
  }
  let servers = 0;
  let others = 0;
  for (const [pid, k] of kinds) {
    const p = procs.get(pid) ?? { pid, role: '?', name: String(pid) };
    procs.set(pid, p);
    if (k.has('app')) p.name = 'client';
    else if (k.has('s')) p.name = servers++ === 0 ? 'server' : `server${servers}`;
    else p.name = others++ === 0 ? 'peer' : `peer${others}`;
  }
}

/** The kinds of step on an echo's critical path (see the module comment). */
export type StepKind = 'js' | 'wake' | 'linux' | 'loop' | 'write' | 'busy';

/** One step of an echo's critical path. */
export interface HopStep {
  /** `proc:label` of the step's start and end. */
  readonly from: string;
  readonly to: string;
  readonly kind: StepKind;
  /** The process the time is charged to (the receiver, for a wake). */
  readonly proc: string;
  readonly us: number;
}

const WAKES: Record<string, (m: HopMark) => boolean> = {
  's.data': (m) => m.label === 'c.sockwrite',
  'c.data': (m) => m.label === 's.sockwrite',
  // The client's busy poll saw the server's answer arrive (RUMPNET_BUSY_POLL): its "wake-up" without a sleep.
  'c.spin.hit': (m) => m.label === 's.sockwrite',
  'tap.read': (m) => m.label === 'tap.write.end',
};

/** The critical path of one echo (marks `[lo, hi]` of `marks`, `lo` its `app.write`, `hi` its `app.done`), in order. */
export function criticalPath(marks: readonly HopMark[], lo: number, hi: number, procs: Map<number, HopProc>): HopStep[] {
  const name = (m: HopMark): string => procs.get(m.pid)?.name ?? String(m.pid);
  const key = (m: HopMark): string => `${name(m)}:${m.label}`;
  const prevOwn = (i: number): number => {
    for (let j = i - 1; j >= lo; j--) if (marks[j]!.pid === marks[i]!.pid) return j;
    return -1;
  };
  const steps: HopStep[] = [];
  // Bounded: every pass moves to an earlier mark.
  for (let i = hi; i > lo; ) {
    const m = marks[i]!;
    const own = prevOwn(i);
    const woke = WAKES[m.label];
    let cause = own;
    let kind: StepKind = m.label.endsWith('.end') ? 'write' : 'js';
    if (woke) {
      let w = -1;
      for (let j = i - 1; j >= lo; j--) {
        const c = marks[j]!;
        const sameProc = c.pid === m.pid;
        if (woke(c) && (m.label === 'tap.read' ? sameProc : !sameProc)) {
          w = j;
          break;
        }
      }
      if (w >= 0 && (own < 0 || marks[w]!.t >= marks[own]!.t)) {
        cause = w;
        kind = m.label === 'tap.read' ? 'linux' : 'wake';
      } else kind = 'loop';
    }
    if (cause < 0) {
      if (m.pid !== marks[lo]!.pid) steps.push({ from: key(marks[lo]!), to: key(m), kind: 'busy', proc: name(m), us: (m.t - marks[lo]!.t) / 1000 });
      break;
    }
    const c = marks[cause]!;
    steps.push({ from: key(c), to: key(m), kind, proc: name(m), us: (m.t - c.t) / 1000 });
    i = cause;
  }
  return steps.reverse();
}

/** The breakdown of a traced run (see {@link hopBreakdown}). */
export interface HopBreakdown {
  /** Echoes found in the trace. */
  readonly echoes: number;
  /** Median echo time (app.write → app.done), µs. */
  readonly p50us: number;
  /** The most common critical path: its steps with median times, and how many echoes took it. */
  readonly path: { from: string; to: string; kind: StepKind; proc: string; p50us: number }[];
  readonly pathEchoes: number;
  /** Per echo, medians over all echoes: time by kind and process (`js:server`, `wake:client`, `linux:server`...). */
  readonly totals: Record<string, number>;
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Splits the trace into echoes by the client's `app.write`/`app.done` marks
 * (the first `skip` echoes are warm-up and left out), follows each one's
 * critical path, and summarises: the commonest path with each step's median,
 * and per-kind, per-process totals (medians of per-echo sums).
 */
export function hopBreakdown(data: HopTraceData, skip = 0): HopBreakdown {
  const { marks, procs } = data;
  const echoes: { total: number; steps: HopStep[] }[] = [];
  let start = -1;
  let seen = 0;
  for (let i = 0; i < marks.length; i++) {
    const m = marks[i]!;
    if (m.label === 'app.write') start = i;
    else if (m.label === 'app.done' && start >= 0 && m.pid === marks[start]!.pid) {
      if (seen++ >= skip) echoes.push({ total: (m.t - marks[start]!.t) / 1000, steps: criticalPath(marks, start, i, procs) });
      start = -1;
    }
  }
  const bySig = new Map<string, HopStep[][]>();
  for (const e of echoes) {
    const sig = e.steps.map((s) => `${s.from}>${s.to}`).join('|');
    const list = bySig.get(sig) ?? [];
    list.push(e.steps);
    bySig.set(sig, list);
  }
  let best: HopStep[][] = [];
  for (const l of bySig.values()) if (l.length > best.length) best = l;
  const path = (best[0] ?? []).map((s, k) => ({ from: s.from, to: s.to, kind: s.kind, proc: s.proc, p50us: median(best.map((p) => p[k]!.us)) }));
  const keys = new Set<string>();
  for (const e of echoes) for (const s of e.steps) keys.add(`${s.kind}:${s.proc}`);
  const totals: Record<string, number> = {};
  for (const k of [...keys].sort()) {
    totals[k] = median(echoes.map((e) => e.steps.filter((s) => `${s.kind}:${s.proc}` === k).reduce((a, s) => a + s.us, 0)));
  }
  return { echoes: echoes.length, p50us: median(echoes.map((e) => e.total)), path, pathEchoes: best.length, totals };
}

/** The breakdown as text lines: the path step by step, then the totals. */
export function renderHopBreakdown(b: HopBreakdown): string[] {
  const out = [`hop trace: ${b.echoes} echoes, p50 ${b.p50us.toFixed(1)} µs traced; commonest critical path (${b.pathEchoes} echoes), median per step:`];
  const w = Math.max(10, ...b.path.map((s) => s.from.length));
  for (const s of b.path) out.push(`  ${s.from.padEnd(w)} → ${s.to.padEnd(w)} ${s.kind.padEnd(5)} ${s.p50us.toFixed(1).padStart(8)} µs`);
  const sum = b.path.reduce((a, s) => a + s.p50us, 0);
  out.push(`  ${'(sum of step medians)'.padEnd(2 * w + 3)} ${''.padEnd(5)} ${sum.toFixed(1).padStart(8)} µs`);
  out.push('per echo, median of all echoes: ' + Object.entries(b.totals).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ') + ' µs');
  out.push('  js: between two marks of one process; wake: socket write → first mark of the woken process; linux: tap write done → tap read (Linux, and the server waking);');
  out.push('  write: inside a socket write (incl. losing the CPU to the woken process); loop: own last mark → next wake-up when that came after the waking write; busy: still on the previous echo');
  return out;
}

/** CPU time of a process so far, ns: the sum of its threads' `se.sum_exec_runtime` (/proc/<pid>/task/* /schedstat); undefined when gone. */
export function cpuNs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        /* a thread that just ended */
      }
    }
    return ns;
  } catch {
    return undefined;
  }
}

/** The pids of the processes tracing into `dir` (from the file names). */
export function tracedPids(dir: string): number[] {
  try {
    return readdirSync(dir).filter((f) => /^\d+\.hops$/.test(f)).map((f) => Number(f.slice(0, -5)));
  } catch {
    return [];
  }
}

/** The raw marks of echoes `from .. from + n - 1` (after `skip`), one line each: `+µs proc:label`, for reading a trace by eye. */
export function echoTimelines(data: HopTraceData, from: number, n: number): string[] {
  const { marks, procs } = data;
  const out: string[] = [];
  let start = -1;
  let seen = 0;
  for (let i = 0; i < marks.length && seen < from + n; i++) {
    const m = marks[i]!;
    if (m.label === 'app.write') start = i;
    else if (m.label === 'app.done' && start >= 0) {
      if (seen++ >= from) {
        const t0 = marks[start]!.t;
        out.push(`echo ${seen - 1}: ` + marks.slice(start, i + 1).map((x) => `+${((x.t - t0) / 1000).toFixed(1)} ${procs.get(x.pid)?.name ?? x.pid}:${x.label}`).join(' '));
      }
      start = -1;
    }
  }
  return out;
}
