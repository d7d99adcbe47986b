/**
 * Reads V8 CPU profiles (`node --cpu-prof`, the `.cpuprofile` JSON of the
 * Chrome DevTools protocol's `Profiler.Profile`) and says where a process's
 * time went: every sample is given to one category by its stack, leaf
 * first — the first frame whose file or name decides it — so the
 * categories add up to all samples (100 %), idle included:
 *
 * - **tap I/O syscalls**: the tap driver (packages/tap-bridge: the addon's
 *   frame reads and writes, the virtio-net header);
 * - **Unix-socket I/O**: Node's stream and socket layer under the
 *   client/server connection (`node:net`, stream_base_commons: the
 *   `writev`/`read` system calls of the Unix socket);
 * - **copy path**: the syscall RPC — the server's sessions, syscalls and
 *   COPYIN/COPYOUT (packages/server), the client's wire and socket code
 *   (packages/client), and the stack's sosend/soreceive/uio;
 * - **TCP input** / **TCP output**: tcp_input and tcp_output with the IP and
 *   Ethernet layers under them (ether_output and ARP resolution are
 *   output), and TCP's other files (timers, subr, seq) by their caller;
 * - **checksum**: in_cksum (wire/checksum.ts, any `*cksum*` function);
 * - **mbuf/alloc**: mbufs, clusters and the pool (stack/src/mbuf), and the
 *   stack's `alloc*` functions (a frame for the link);
 * - **GC**: `(garbage collector)`; **idle**: `(idle)` — waiting in the
 *   event loop;
 * - **other**: everything else (`(program)`: native code V8 cannot name;
 *   the application — examples/src, decided here rather than by its
 *   caller; start-up).
 *
 * Samples can be limited to time windows given in the profile's clock,
 * which is CLOCK_MONOTONIC in µs — the clock of `process.hrtime` — so a
 * benchmark can cut out exactly its transfers from a long-lived process.
 *
 * @module
 */

/** A frame of the profile's call tree. */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber?: number;
  columnNumber?: number;
  scriptId?: string;
}

/** A node of the call tree. */
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

/** A `.cpuprofile`: the call tree, and the sampled leaf node and time step of each sample (µs). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The categories, in the order printed. */
export const CATEGORIES = ['tap I/O syscalls', 'Unix-socket I/O', 'copy path', 'TCP input', 'TCP output', 'checksum', 'mbuf/alloc', 'GC', 'idle', 'other'] as const;

/** A category of time. */
export type Category = (typeof CATEGORIES)[number];

const PKG = (pkg: string, rest: string): RegExp => new RegExp(`/packages/${pkg}/(?:dist/)?src/${rest}`);

/** Rules, tried in order on one frame; the first that matches decides. */
const RULES: readonly [Category, (f: CallFrame) => boolean][] = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
  ['checksum', (f) => /cksum|checksum/i.test(f.functionName) || PKG('stack', 'wire/checksum\\.').test(f.url)],
  ['tap I/O syscalls', (f) => /\/packages\/tap-bridge\//.test(f.url)],
  ['mbuf/alloc', (f) => PKG('stack', 'mbuf/(?!uio\\.)').test(f.url) || (PKG('stack', '').test(f.url) && /^alloc/i.test(f.functionName))],
  ['copy path', (f) => PKG('stack', '(?:mbuf/uio|socket/sosend|socket/soreceive)\\.').test(f.url) || /\/packages\/(?:server|client)\//.test(f.url)],
  ['TCP output', (f) => PKG('stack', '(?:transport/tcp/(?:output|window|sndbuf)|net/(?:ipv4-output|ipv6-output))\\.').test(f.url) || (PKG('stack', 'net/(?:ethernet|arp)\\.').test(f.url) && /output|send|resolve|encap/i.test(f.functionName))],
  ['TCP input', (f) => PKG('stack', '(?:transport/tcp/(?:input|reass|sack|ofo|syncache|synsent|timewait)|net/(?:ipv4-input|ipv6-input|ethernet|arp))\\.').test(f.url)],
  ['Unix-socket I/O', (f) => /^node:(?:net|internal\/stream_base_commons|internal\/net|internal\/streams\/|stream)/.test(f.url)],
  // The application itself (write_server's loop, read_client's counting): its own time, not its caller's.
  ['other', (f) => /\/examples\/src\//.test(f.url)],
];

/** The category that decides `frame` alone, or null: look at its caller. */
export function frameCategory(frame: CallFrame): Category | null {
  for (const [c, test] of RULES) if (test(frame)) return c;
  return null;
}

/** A function's self time. */
export interface FunctionTime {
  /** `name (file:line)`, file relative to the repository where it is in it. */
  name: string;
  category: Category;
  us: number;
}

/** Where one process's time went over the chosen windows. */
export interface ProfileSummary {
  /** Samples counted, and the time they stand for (µs). */
  samples: number;
  us: number;
  /** Time per category (µs); adds up to `us`. */
  byCategory: Record<Category, number>;
  /** Functions by self time, most first. */
  top: FunctionTime[];
}

/** A time window in the profile's clock (µs, CLOCK_MONOTONIC). */
export interface Window {
  fromUs: number;
  toUs: number;
}

function shortUrl(url: string): string {
  const m = /\/(packages\/.*|examples\/.*)$/.exec(url);
  return m ? m[1]! : url.replace(/^file:\/\//, '');
}

/**
 * Sums the samples of `p` (only those inside `windows`, when given) by
 * category and by function. A sample stands for the time until the next
 * one (the last: until `endTime`). Throws on a profile that is not one.
 */
export function summarize(p: CpuProfile, windows?: readonly Window[]): ProfileSummary {
  if (!Array.isArray(p?.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas) || p.samples.length !== p.timeDeltas.length) {
    throw new Error('not a V8 CPU profile (nodes, samples and timeDeltas of equal length expected)');
  }
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cat = new Map<number, Category>();
  const categoryOf = (id: number): Category => {
    const known = cat.get(id);
    if (known !== undefined) return known;
    const path: number[] = []; // undecided frames, leaf first: they take the category found above them
    let c: Category | null = null;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const hit = cat.get(at);
      if (hit !== undefined) {
        c = hit;
        break;
      }
      const n = byId.get(at);
      c = n ? frameCategory(n.callFrame) : null;
      if (c !== null) {
        cat.set(at, c);
        break;
      }
      path.push(at);
    }
    const out = c ?? 'other';
    for (const x of path) cat.set(x, out);
    return out;
  };
  const byCategory = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const byFn = new Map<string, FunctionTime>();
  let t = p.startTime;
  let samples = 0;
  let total = 0;
  const inside = (ts: number): boolean => windows === undefined || windows.some((w) => ts >= w.fromUs && ts <= w.toUs);
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (!inside(t)) continue;
    const next = i + 1 < p.samples.length ? t + p.timeDeltas[i + 1]! : p.endTime;
    const us = Math.max(0, next - t);
    const id = p.samples[i]!;
    const node = byId.get(id);
    if (node === undefined) continue;
    const c = categoryOf(id);
    byCategory[c] += us;
    total += us;
    samples++;
    const f = node.callFrame;
    const name = f.url ? `${f.functionName || '(anonymous)'} (${shortUrl(f.url)}:${(f.lineNumber ?? -1) + 1})` : f.functionName || '(anonymous)';
    const e = byFn.get(name) ?? { name, category: c, us: 0 };
    e.us += us;
    byFn.set(name, e);
  }
  return { samples, us: total, byCategory, top: [...byFn.values()].sort((a, b) => b.us - a.us) };
}

/** Shares of each category in percent (adding up to 100; all zero when there was no sample). */
export function shares(s: ProfileSummary): Record<Category, number> {
  return Object.fromEntries(CATEGORIES.map((c) => [c, s.us > 0 ? (100 * s.byCategory[c]) / s.us : 0])) as Record<Category, number>;
}

/** Several summaries as one (a figure's transfers in several processes' profiles of one role). */
export function mergeSummaries(xs: readonly ProfileSummary[]): ProfileSummary {
  const byCategory = Object.fromEntries(CATEGORIES.map((c) => [c, xs.reduce((s, x) => s + x.byCategory[c], 0)])) as Record<Category, number>;
  const byFn = new Map<string, FunctionTime>();
  for (const x of xs) for (const f of x.top) {
    const e = byFn.get(f.name) ?? { ...f, us: 0 };
    e.us += f.us;
    byFn.set(f.name, e);
  }
  return { samples: xs.reduce((s, x) => s + x.samples, 0), us: xs.reduce((s, x) => s + x.us, 0), byCategory, top: [...byFn.values()].sort((a, b) => b.us - a.us) };
}
