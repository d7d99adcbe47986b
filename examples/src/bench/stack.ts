/**
 * The stack alone: two rumpnet stacks in one process over an in-memory wire
 * at MTU 1500 (packages/stack/bench/tcp.bench.ts, run as a child so that
 * its profile and garbage stay out of this process), and allocations per
 * segment: alloc.ts's {@link measureAllocations} (heap objects and bytes per
 * data segment of a bulk transfer between two stacks, GC-free windows).
 *
 * @module
 */
import { join } from 'node:path';
import { measureAllocations, type AllocOptions } from './alloc.js';
import { ROOT, Unavailable, runText, tsxLoader } from './procs.js';

/** The stack bench's script. */
export const STACK_BENCH = join(ROOT, 'packages/stack/bench/tcp.bench.ts');

/** Two stacks in one process, or why not. */
export type StackResult =
  | {
    status: 'ok';
    /** MiB per transfer. */
    mib: number;
    /** Median MiB/s at MTU 1500, and the runs. */
    mibps: number;
    runs: number[];
    /**
     * Median MiB/s at MTU 1500 on a wire with offloads (TSO, checksum
     * offload, large receive: virtio-net between guests), when the bench
     * printed it; beside the figure, never instead of it.
     */
    offloadMibps?: number;
    /**
     * Median MiB/s and CPU ms/MiB at MTU 1500 between two stacks made once
     * (a new connection per run), when the bench printed it: what a
     * long-lived process pays, without each run's fresh stacks; beside the
     * figure, never instead of it.
     */
    sameStacks?: { mibps: number; cpuMsPerMiB: number };
    /** Heap allocations per TCP data segment (objects), or null: not measured in this run. */
    allocsPerSegment: number | null;
    /** Heap bytes per data segment, with the allocations. */
    allocBytesPerSegment?: number;
    /** The largest allocation site, with the allocations. */
    allocTopSite?: string;
    /** Why allocations were not measured, when they were not. */
    allocReason?: string;
  }
  | { status: 'skipped'; reason: string };

/**
 * Reads the stack bench's output: `MTU 1500: 117.6 MiB/s (median; runs 77.3, 117.6, 198.8)`
 * and, where the bench measures it, a line naming allocations per segment
 * (`allocations per segment: 3.2`, any case). Throws when the MTU 1500 line
 * is missing.
 */
export function parseStackBench(out: string, mib: number): Extract<StackResult, { status: 'ok' }> {
  const m = /^MTU 1500: ([\d.]+) MiB\/s(?: \(median; runs ([\d., ]+)\))?/m.exec(out);
  if (!m) throw new Error(`no "MTU 1500: … MiB/s" line in the stack bench's output: ${out.trim().split('\n').slice(0, 2).join(' | ').slice(0, 200)}`);
  const a = /allocations? per segment\D{0,40}?([\d.]+)/i.exec(out);
  const o = /^MTU 1500 with wire offloads[^:\n]*: ([\d.]+) MiB\/s/m.exec(out);
  const same = /^MTU 1500, the same two stacks[^:\n]*: ([\d.]+) MiB\/s[^\n]*?, ([\d.]+) CPU ms\/MiB/m.exec(out);
  return {
    status: 'ok', mib, mibps: Number(m[1]), runs: m[2] ? m[2].split(',').map((x) => Number(x.trim())) : [Number(m[1])],
    allocsPerSegment: a ? Number(a[1]) : null,
    ...(o ? { offloadMibps: Number(o[1]) } : {}),
    ...(same ? { sameStacks: { mibps: Number(same[1]), cpuMsPerMiB: Number(same[2]) } } : {}),
  };
}

/**
 * Runs the stack bench with `mib` MiB per transfer (3 runs per MTU, then a
 * profile), bounded at `timeoutMs`, then measures allocations per segment
 * at MTU 1500 over IPv4 in this process with `alloc` (its windows run
 * synchronously: nothing else in this process runs inside them).
 */
export async function runStackBench(mib: number, alloc: AllocOptions, timeoutMs = 300_000): Promise<StackResult> {
  let r: Extract<StackResult, { status: 'ok' }>;
  try {
    const out = await runText(process.execPath, ['--import', tsxLoader(), STACK_BENCH, String(mib)], timeoutMs);
    r = parseStackBench(out, mib);
  } catch (e) {
    return { status: 'skipped', reason: e instanceof Unavailable ? e.message : `stack bench failed: ${(e as Error).message}` };
  }
  try {
    const a = await measureAllocations({ mtu: 1500, family: 4, mib: 0, sites: 3, ...alloc });
    r.allocsPerSegment = a.objectsPerSegment;
    r.allocBytesPerSegment = a.bytesPerSegment;
    if (a.sites[0]) r.allocTopSite = `${a.sites[0].site} (${a.sites[0].objectsPerSegment.toFixed(2)} objects/segment)`;
  } catch (e) {
    r.allocReason = `allocation bench failed: ${(e as Error).message}`;
  }
  return r;
}
