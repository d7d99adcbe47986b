/**
 * Internet checksum throughput: `internetChecksum` (word path, deferred
 * carries) against the naive byte-pair loop with a fold per step, the shape
 * most first implementations take.
 *
 * Run: `npx tsx packages/stack/bench/checksum.bench.ts`
 *
 * Each cell is the median of RUNS (9) timed runs of about TARGET_MS (20 ms)
 * each, after a warm-up; the three cells of a row take turns run by run. Columns:
 * - `slab`: the data lives in a cluster pool's kind of slab (`checksumSlab`:
 *   WebAssembly memory, whose words are summed with WebAssembly SIMD —
 *   the data path's case).
 * - `own buf`: two separate ArrayBuffers used alternately, defeating the
 *   one-entry view cache (worst case: a new Uint32Array per call >= 256 bytes).
 */
import { internetChecksum } from '../src/wire/checksum.js';
import { checksumSlab } from '../src/wire/checksum-wasm.js';

const SIZES = [20, 64, 576, 1460, 9000, 65536];
const RUNS = 9;
const TARGET_MS = 20;

/** Reference: one 16-bit word at a time, carry folded every step. */
function naive(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) {
    s += (b[i] << 8) | b[i + 1];
    s = (s & 0xffff) + (s >>> 16);
  }
  if (i < end) {
    s += b[i] << 8;
    s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

type Fn = (b: Uint8Array, off: number, len: number) => number;
type Loop = (fn: Fn, bufs: Uint8Array[], len: number, iters: number) => number;

/**
 * A fresh copy of the timing loop for every cell: code made by `new Function`
 * has its own type feedback, so the call to `fn` stays monomorphic and can be
 * inlined, and one function's warm-up does not skew another's numbers.
 */
function freshLoop(): Loop {
  return new Function(
    'fn',
    'bufs',
    'len',
    'iters',
    'let x = 0; for (let i = 0; i < iters; i++) x ^= fn(bufs[i & 1], 0, len); return x;',
  ) as Loop;
}

let sink = 0;

interface Cell {
  loop: Loop;
  fn: Fn;
  bufs: Uint8Array[];
  iters: number;
  samples: number[];
}

/** Calibrate a cell's iteration count to about TARGET_MS per run (this also warms up the JIT). */
function prepare(fn: Fn, bufs: Uint8Array[], len: number): Cell {
  const loop = freshLoop();
  let iters = 16;
  for (;;) {
    const t0 = process.hrtime.bigint();
    sink ^= loop(fn, bufs, len, iters);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > TARGET_MS / 4 || iters > 1 << 26) {
      iters = Math.max(16, Math.round((iters * TARGET_MS) / Math.max(ms, 0.001)));
      break;
    }
    iters *= 4;
  }
  sink ^= loop(fn, bufs, len, iters);
  return { loop, fn, bufs, iters, samples: [] };
}

/**
 * ns per call for each cell: the runs of the cells are interleaved, so a
 * burst of load from other processes on the machine hits all of them alike;
 * each cell reports the median of its RUNS runs.
 */
function measureAll(cells: Cell[], len: number): number[] {
  for (let r = 0; r < RUNS; r++) {
    for (const c of cells) {
      const t0 = process.hrtime.bigint();
      sink ^= c.loop(c.fn, c.bufs, len, c.iters);
      c.samples.push(Number(process.hrtime.bigint() - t0) / c.iters);
    }
  }
  return cells.map((c) => {
    const s = c.samples.slice().sort((a, b) => a - b);
    return s[s.length >> 1];
  });
}

function fill(b: Uint8Array): void {
  for (let i = 0; i < b.length; i++) b[i] = (i * 2654435761) >>> 24;
}

const slab = checksumSlab(4 << 20);
const slabA = new Uint8Array(slab, 2048, 65536);
const slabB = new Uint8Array(slab, 2048 + 65536 + 2048, 65536);
const ownA = new Uint8Array(65536);
const ownB = new Uint8Array(65536);
for (const b of [slabA, slabB, ownA, ownB]) fill(b);

// Both must agree before anything is timed.
for (const n of SIZES) {
  if (internetChecksum(slabA, 0, n) !== naive(slabA, 0, n)) throw new Error(`mismatch at ${n}`);
}

const fmt = (ns: number): string => (ns < 100 ? ns.toFixed(1) : ns.toFixed(0)).padStart(8);
const gbps = (len: number, ns: number): string => (len / ns).toFixed(2).padStart(6);

console.log(`node ${process.version}, ${RUNS} runs per cell, median; ns per call and GB/s`);
console.log('   bytes |  naive ns   GB/s |   slab ns   GB/s |  own buf ns  GB/s | speed-up slab  own');
for (const n of SIZES) {
  const cells = [
    prepare(naive, [slabA, slabB], n),
    prepare(internetChecksum, [slabA, slabB], n),
    prepare(internetChecksum, [ownA, ownB], n),
  ];
  const [tn, ts, to] = measureAll(cells, n);
  console.log(
    `${String(n).padStart(8)} | ${fmt(tn)} ${gbps(n, tn)} | ${fmt(ts)} ${gbps(n, ts)} | ${fmt(to)}   ${gbps(n, to)} |      ${(tn / ts).toFixed(1).padStart(5)}x ${(tn / to).toFixed(1).padStart(5)}x`,
  );
}
if (sink === 0.5) console.log('');
