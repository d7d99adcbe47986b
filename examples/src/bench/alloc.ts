/**
 * Allocations per TCP segment on the stack's data path: two complete stacks
 * (`createNetStack`: ARP, IPv4/IPv6, TCP, sockets) in one process on a
 * `MemWire`, on a `ManualClock`, one bulk transfer A → B in steady state.
 *
 *   npx tsx examples/src/bench/alloc.ts                 # MTU 1500, IPv4 and IPv6
 *   npx tsx examples/src/bench/alloc.ts --mtu 9000 --family 4 --runs 5
 *   npx tsx examples/src/bench/alloc.ts --family 4 --no-lend   # fresh frames, receive copies
 *
 * What it prints, per family:
 * - **bytes / segment** and **objects / segment** of JavaScript heap, per
 *   data segment the sender emitted (`tcps_sndpack`), the ACKs, frames and
 *   both stacks' work for them included;
 *   (ArrayBuffer backing stores live outside the V8 heap and are not in
 *   this figure: they are the next one);
 * - **ArrayBuffer bytes / segment**: `process.memoryUsage().arrayBuffers`
 *   across the same windows — fresh frame slabs, `new Uint8Array(n)`
 *   (the WebAssembly cluster slabs are made before);
 * - MiB/s and CPU ms/MiB of the same transfer without instrumentation;
 * - the top allocation sites (function, file:line, share of bytes).
 *
 * How the figures are made, and why they are stable:
 * - Bytes: a forced minor GC (`gc({ type: 'minor' })`, exposed at run time
 *   with `v8.setFlagsFromString('--expose-gc')`), then `used_heap_size`, then a
 *   window of N segments driven synchronously (no event loop turn, nothing
 *   else runs), then `used_heap_size` again. With no GC inside the window
 *   the difference is exactly the bytes allocated in it; a window in which
 *   a GC ran (`v8.GCProfiler` saw one) is thrown away and the
 *   next one is half as long. The JIT is warmed up first (200,000
 *   segments, then 3 windows not counted), so the figure does not include
 *   compilation. Median of `runs` windows; in steady state consecutive
 *   windows usually agree to the byte, separate processes within a few
 *   per cent (the JIT's inlining and escape-analysis decisions differ).
 * - Objects: V8's sampling heap profiler (`HeapProfiler.startSampling`
 *   through `node:inspector`) with a sampling interval of 1 byte keeps
 *   every allocation as a sample (the profiler's own allocations are not
 *   JavaScript-heap objects of the program), collected objects included;
 *   samples / segments is the object count (within ~10 % between
 *   processes, for the same reason). The same profile gives the
 *   allocation sites. Under the profiler, optimized code takes a slower
 *   allocation path, so this is a separate window from the bytes one.
 * - Throughput: wall time and `process.cpuUsage()` of `mib` MiB, medians of
 *   `runs` runs, no profiler attached. The stacks share one thread: the
 *   cost of both ends.
 */
import { Session } from 'node:inspector/promises';
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pathToFileURL } from 'node:url';
import {
  AF_INET,
  AF_INET6,
  createNetStack,
  Ip6Address,
  ManualClock,
  MemWire,
  mFromBytes,
  SOCK,
  sockaddrIn,
  sockaddrIn6,
  type NetStack,
  type Socket,
  type SocketTable,
} from '@rumpnet/stack';

/** Options of {@link measureAllocations}. */
export interface AllocOptions {
  /** Link MTU (default 1500). */
  mtu?: number;
  /** Address family of the connection: 4 or 6 (default 4). */
  family?: 4 | 6;
  /** Byte windows (median) and throughput runs (median); default 7. */
  runs?: number;
  /** Data segments per window at most (default 2000; halved while a GC interrupts one). */
  segments?: number;
  /** MiB per throughput run (default 32; 0 skips the throughput figures). */
  mib?: number;
  /**
   * Lent frame buffers on the wire (default true): transmit frames from its
   * ring, data frames built in the receiver's clusters; false gives every
   * frame fresh memory and a receive copy, as before they existed.
   */
  lend?: boolean;
  /** Data segments before the first window, for the JIT to settle (default 200,000). */
  warmup?: number;
  /** Allocation sites to return (default 10; 0 skips the profile and the object count). */
  sites?: number;
}

/** One allocation site of the sampling heap profile. */
export interface AllocSite {
  /** `function file:line`. */
  site: string;
  /** Bytes allocated there per data segment. */
  bytesPerSegment: number;
  /** Objects allocated there per data segment. */
  objectsPerSegment: number;
}

/** What {@link measureAllocations} measured. */
export interface AllocResult {
  /** JavaScript heap bytes allocated per data segment (median of the windows). */
  bytesPerSegment: number;
  /**
   * ArrayBuffer backing-store bytes allocated per data segment (outside the
   * JavaScript heap: `process.memoryUsage().arrayBuffers` across the same
   * GC-free windows, median) — fresh frame slabs, `new Uint8Array(n)`.
   */
  arrayBufferBytesPerSegment: number;
  /** Heap objects allocated per data segment (sampling profile at 1-byte interval); NaN when `sites` is 0. */
  objectsPerSegment: number;
  /** Data segments in each byte window. */
  segments: number;
  /** Frames on the wire per data segment (data + ACKs). */
  framesPerSegment: number;
  /** The byte figure of each window, bytes per segment. */
  windows: number[];
  /** Throughput, MiB/s, median (NaN when `mib` is 0). */
  mibs: number;
  /** CPU milliseconds per MiB (user + system), median (NaN when `mib` is 0). */
  cpuMsPerMiB: number;
  /** Top allocation sites, by bytes. */
  sites: AllocSite[];
}

const MiB = 1024 * 1024;
const PORT = 5001;
/** Application writes are multiples of 16 KiB. */
const WRITE_SHIFT = 14;
const WRITE_UNIT = 1 << WRITE_SHIFT;

/** Two stacks on a MemWire with one connection A → B, driven by hand. */
class Bulk {
  readonly clock = new ManualClock(1000);
  readonly wire: MemWire;
  readonly a: NetStack;
  readonly b: NetStack;
  readonly ta: SocketTable;
  readonly tb: SocketTable;
  tx!: Socket;
  rx!: Socket;
  /** Bytes handed to the sender so far. */
  sent = 0;
  /** Bytes the receiver consumed so far. */
  received = 0;
  private readonly chunk: Uint8Array;
  private readonly views: Uint8Array[] = [];

  constructor(
    readonly mtu: number,
    readonly family: 4 | 6,
    lend = true,
  ) {
    // lend: the wire's transmit ring and the receivers' lent clusters (link/framering.ts, mbuf/lend.ts).
    this.wire = new MemWire({ clock: this.clock, switched: true, txRing: lend, rxBuffers: lend });
    const la = this.wire.attachLink({ name: 'wa', mtu, queueLimit: 1 << 16 });
    const lb = this.wire.attachLink({ name: 'wb', mtu, queueLimit: 1 << 16 });
    const mk = (): NetStack => createNetStack({ clock: this.clock, nmbclusters: 32768, mclnum: 16 });
    this.a = mk();
    this.b = mk();
    this.a.stack.attachLink(la, { addrs: ['10.0.0.1/24', 'fd00::1/64'] });
    this.b.stack.attachLink(lb, { addrs: ['10.0.0.2/24', 'fd00::2/64'] });
    this.ta = this.a.newProcess();
    this.tb = this.b.newProcess();
    this.chunk = new Uint8Array(256 * 1024);
    for (let i = 0; i < this.chunk.length; i++) this.chunk[i] = (i * 131 + 7) & 0xff;
    // Writes are whole 16 KiB units, through views made once: the
    // application side adds only the mbufs of the data it writes.
    for (let k = 0; k <= this.chunk.length >>> WRITE_SHIFT; k++) this.views.push(this.chunk.subarray(0, k << WRITE_SHIFT));
  }

  /** Connect A to B (ARP / neighbour discovery and DAD run on the ManualClock). */
  async connect(): Promise<void> {
    const v6 = this.family === 6;
    const af = v6 ? AF_INET6 : AF_INET;
    const lfd = this.tb.socket(af, SOCK.STREAM, 0).fd;
    const any = v6 ? sockaddrIn6(Ip6Address.parse('::')!, PORT) : sockaddrIn(0, PORT);
    if (this.tb.bind(lfd, any) !== 0 || this.tb.listen(lfd, 8) !== 0) throw new Error('listen failed');
    // Let IPv6 duplicate address detection finish before the first packet.
    for (let i = 0; i < 3000; i++) this.step();
    const afd = this.ta.socket(af, SOCK.STREAM, 0).fd;
    const to = v6 ? sockaddrIn6(Ip6Address.parse('fd00::2')!, PORT) : sockaddrIn(0x0a000002, PORT);
    const p = this.ta.connect(afd, to);
    for (let i = 0; i < 10_000 && this.tb.get(lfd)!.q.length === 0; i++) this.step();
    const err = await p;
    if (err !== 0) throw new Error(`connect failed: errno ${err}`);
    const acc = await this.tb.accept(lfd);
    if (acc.errno !== 0) throw new Error(`accept failed: errno ${acc.errno}`);
    this.tx = this.ta.get(afd)!;
    this.rx = this.tb.get(acc.fd)!;
  }

  /** Flush the wire; advance the clock 1 ms (timers: delayed ACK, RTO). */
  private step(): void {
    this.wire.flush();
    this.clock.advance(1);
  }

  /** Data segments A has sent so far. */
  get segments(): number {
    return this.a.tcp.stats.sndpack;
  }

  /**
   * Move data until A has sent `segs` more data segments (bounded): one
   * `send` of up to 256 KiB (whole 16 KiB units) when the send buffer has room, the receiver's
   * buffer drained, the wire flushed. Synchronous: nothing else runs.
   */
  pump(segs: number): void {
    const goal = this.segments + segs;
    const tx = this.tx;
    const rx = this.rx;
    const pool = this.a.stack.pool;
    for (let i = 0; i < 10_000_000 && this.segments < goal; i++) {
      let moved = false;
      const space = tx.snd.space();
      if (space >= WRITE_UNIT) {
        const k = Math.min(space, this.chunk.length) >>> WRITE_SHIFT;
        const n = k << WRITE_SHIFT;
        const m = mFromBytes(pool, this.views[k]!);
        if (m !== null) {
          if (tx.proto.usrreqs.send(tx, m, n, null, 0) !== 0) throw new Error('send failed');
          this.sent += n;
          moved = true;
        }
      }
      const cc = rx.rcv.cc;
      if (cc > 0) {
        rx.rcv.drop(cc);
        this.received += cc;
        rx.proto.usrreqs.rcvd(rx, 0);
        moved = true;
      }
      this.wire.flush();
      if (!moved && this.wire.inFlight() === 0) this.clock.advance(1);
    }
    if (this.segments < goal) throw new Error(`transfer stalled at ${this.segments}/${goal} segments`);
  }

  close(): void {
    this.a.close();
    this.b.close();
    this.wire.close();
  }
}

let gcFn: ((o?: { type: 'minor' | 'major' }) => void) | null = null;
/**
 * `gc()`, exposed at run time (the flag must be set before a context is
 * made). A minor GC (scavenge) empties the young generation without the
 * side effects of a full one (bytecode flushing, cleared feedback), which
 * would make the next window pay for recompilation.
 */
function gc(type: 'minor' | 'major' = 'minor'): void {
  if (gcFn === null) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
  }
  gcFn({ type });
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** GC-free windows: bytes of heap and of ArrayBuffers allocated per segment. */
async function byteWindows(bulk: Bulk, runs: number, maxSegs: number): Promise<{ heap: number[]; ab: number[]; segs: number; frames: number }> {
  const heap: number[] = [];
  const ab: number[] = [];
  let segs = maxSegs;
  let frames = 0;
  // The first windows still see the JIT at work (a function optimized or
  // deoptimized mid-window); from the fourth on a window is usually
  // byte-for-byte the same as the one before it.
  const skip = 3;
  for (let tries = 0; heap.length < runs + skip && tries < (runs + skip) * 8; tries++) {
      gc();
      await tick();
      const gcp = new GCProfiler();
      const seg0 = bulk.segments;
      const fr0 = bulk.wire.statsRef().delivered;
      const a0 = process.memoryUsage().arrayBuffers;
      const h0 = getHeapStatistics().used_heap_size;
      gcp.start();
      bulk.pump(segs);
      const gcs = gcp.stop().statistics.length;
      const h1 = getHeapStatistics().used_heap_size;
      const a1 = process.memoryUsage().arrayBuffers;
      const n = bulk.segments - seg0;
      const fr = bulk.wire.statsRef().delivered - fr0;
      if (gcs !== 0) {
        segs = Math.max(16, segs >> 1); // a scavenge ran: the window did not fit the young generation
        continue;
      }
      heap.push((h1 - h0) / n);
      ab.push((a1 - a0) / n);
      frames = fr / n;
  }
  if (heap.length <= skip) throw new Error('no GC-free window (heap too small?)');
  return { heap: heap.slice(skip), ab: ab.slice(skip), segs, frames };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** One window under the sampling heap profiler at a 1-byte interval: objects and sites. */
async function profileWindow(bulk: Bulk, segs: number, top: number): Promise<{ objects: number; sites: AllocSite[] }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    gc();
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 1,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    const seg0 = bulk.segments;
    bulk.pump(segs);
    const n = bulk.segments - seg0;
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as {
      profile: { head: ProfileNode; samples: { size: number; nodeId: number }[] };
    };
    await session.post('HeapProfiler.disable');
    // A site is the allocating function; a native one (subarray, ...) is
    // named with the JavaScript function that called it.
    const site = new Map<number, string>();
    const name = (f: ProfileNode['callFrame']): string => {
      const url = f.url.replace(/^.*\/(packages|node_modules|examples)\//, '$1/').replace(/^file:\/\//, '');
      return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : '(native)'}`;
    };
    const walk = (node: ProfileNode, parent: string): void => {
      const own = name(node.callFrame);
      const key = node.callFrame.url === '' && parent !== '' ? `${node.callFrame.functionName || '(native)'} ← ${parent}` : own;
      site.set(node.id, key);
      for (const c of node.children) walk(c, node.callFrame.url === '' ? parent : own);
    };
    walk(profile.head, '');
    const agg = new Map<string, { bytes: number; objects: number }>();
    let objects = 0;
    for (const s of profile.samples) {
      const key = site.get(s.nodeId) ?? '(unknown)';
      if (key.includes('node:inspector')) continue; // the profiler's own calls
      objects++;
      const a = agg.get(key) ?? { bytes: 0, objects: 0 };
      a.bytes += s.size;
      a.objects++;
      agg.set(key, a);
    }
    const sites = [...agg.entries()]
      .sort((x, y) => y[1].bytes - x[1].bytes)
      .slice(0, top)
      .map(([site, a]) => ({ site, bytesPerSegment: a.bytes / n, objectsPerSegment: a.objects / n }));
    return { objects: objects / n, sites };
  } finally {
    session.disconnect();
  }
}

/** Throughput of `mib` MiB on a fresh pair, without instrumentation. */
async function throughput(mtu: number, family: 4 | 6, mib: number, lend: boolean): Promise<{ mibs: number; cpuMsPerMiB: number }> {
  const bulk = new Bulk(mtu, family, lend);
  try {
    await bulk.connect();
    bulk.pump(64); // slow start out of the way
    const r0 = bulk.received;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const target = r0 + mib * MiB;
    for (let i = 0; i < 1_000_000 && bulk.received < target; i++) bulk.pump(256);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const moved = (bulk.received - r0) / MiB;
    return { mibs: moved / (wall / 1000), cpuMsPerMiB: (cpu.user + cpu.system) / 1000 / moved };
  } finally {
    bulk.close();
  }
}

/**
 * Measure heap allocations per data segment of a steady bulk TCP transfer
 * between two stacks in one process (see the module comment for the
 * method), plus throughput and the top allocation sites. Takes a few
 * seconds; forces garbage collections (exposes `gc` in this process).
 *
 * @example
 * ```ts
 * const r = await measureAllocations({ mtu: 1500, family: 4 });
 * console.log(`${r.bytesPerSegment.toFixed(0)} B, ${r.objectsPerSegment.toFixed(1)} objects per segment`);
 * ```
 * @throws Error if the transfer stalls or no GC-free window could be had.
 */
export async function measureAllocations(opts: AllocOptions = {}): Promise<AllocResult> {
  const mtu = opts.mtu ?? 1500;
  const family = opts.family ?? 4;
  const runs = opts.runs ?? 7;
  const top = opts.sites ?? 10;
  const mib = opts.mib ?? 32;
  const lend = opts.lend ?? true;
  const bulk = new Bulk(mtu, family, lend);
  let w: Awaited<ReturnType<typeof byteWindows>>;
  let prof: { objects: number; sites: AllocSite[] } = { objects: NaN, sites: [] };
  try {
    await bulk.connect();
    bulk.pump(opts.warmup ?? 200_000); // the JIT settles, the windows open and stay open
    w = await byteWindows(bulk, runs, opts.segments ?? 2000);
    if (top > 0) prof = await profileWindow(bulk, w.segs, top);
  } finally {
    bulk.close();
  }
  const tp = [];
  if (mib > 0) for (let i = 0; i < runs; i++) tp.push(await throughput(mtu, family, mib, lend));
  return {
    bytesPerSegment: median(w.heap),
    arrayBufferBytesPerSegment: median(w.ab),
    objectsPerSegment: prof.objects,
    segments: w.segs,
    framesPerSegment: w.frames,
    windows: w.heap,
    mibs: median(tp.map((t) => t.mibs)),
    cpuMsPerMiB: median(tp.map((t) => t.cpuMsPerMiB)),
    sites: prof.sites,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const mtu = arg('--mtu', 1500);
  const runs = arg('--runs', 7);
  const mib = arg('--mib', 32);
  const fam = arg('--family', 0);
  const sites = arg('--sites', 10);
  const lend = !args.includes('--no-lend');
  const families: (4 | 6)[] = fam === 4 ? [4] : fam === 6 ? [6] : [4, 6];
  console.log(`alloc bench: MTU ${mtu}, ${runs} runs, ${mib} MiB per throughput run, lent frame buffers ${lend ? 'on' : 'off (--no-lend)'}, node ${process.version}`);
  for (const family of families) {
    const r = await measureAllocations({ mtu, family, runs, mib, sites, lend });
    console.log(
      `\nIPv${family}: ${r.bytesPerSegment.toFixed(0)} heap bytes/segment (windows of ${r.segments} segments: ${r.windows.map((x) => x.toFixed(0)).join(', ')}), ` +
        `${r.objectsPerSegment.toFixed(2)} objects/segment, ${r.arrayBufferBytesPerSegment.toFixed(0)} ArrayBuffer bytes/segment, ` +
        `${r.framesPerSegment.toFixed(2)} frames/segment; ${r.mibs.toFixed(1)} MiB/s, ${r.cpuMsPerMiB.toFixed(2)} CPU ms/MiB`,
    );
    console.log('  top allocation sites (bytes/segment, objects/segment):');
    for (const s of r.sites) console.log(`  ${s.bytesPerSegment.toFixed(1).padStart(8)} ${s.objectsPerSegment.toFixed(2).padStart(6)}  ${s.site}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
