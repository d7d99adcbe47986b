/**
 * Microbenchmark of the mbuf layer (a script, not a test):
 *
 *   npx tsx packages/stack/bench/mbuf.bench.ts
 *
 * Prints the median of 7 runs (after a warm-up run) for: an mGetcl/mFreem
 * pair; a 64 KiB mCopyback growing an empty packet into 2048- and 4096-byte
 * clusters; and a 64 KiB fillFromUio (sosend's copy loop) with MCLNUM 1 vs
 * 16, from an in-process source and from one that costs an event-loop turn
 * per request (a stand-in for the rump client round trip). Ratios compare
 * MCLNUM 1 to 16.
 */
import type { CopySource } from '../src/mbuf/index.js';
import {
  BufferCopySource,
  ClusterPool,
  fillFromUio,
  makeUio,
  mCopyback,
  mFreem,
  mGetcl,
  mGethdr,
} from '../src/mbuf/index.js';

const RUNS = 7;
const KiB64 = 64 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Median ns per iteration of `body` over RUNS runs of `iters` iterations (one warm-up run first). */
async function measure(iters: number, body: () => void | Promise<void>): Promise<number> {
  const samples: number[] = [];
  for (let run = 0; run <= RUNS; run++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) {
      const p = body();
      if (p !== undefined) await p;
    }
    const ns = Number(process.hrtime.bigint() - t0) / iters;
    if (run > 0) samples.push(ns); // run 0 warms up the JIT
  }
  return median(samples);
}

function fmt(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
}

/** In-process copy that also waits one event-loop turn, like a reply from another process would. */
class RoundTripSource implements CopySource {
  constructor(private readonly inner: BufferCopySource) {}
  copyin(uaddr: number, dsts: readonly Uint8Array[]): Promise<void> {
    this.inner.copyin(uaddr, dsts);
    return new Promise((resolve) => setImmediate(resolve));
  }
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const out = (s: string): void => {
    lines.push(s);
    console.log(s);
  };
  out(`mbuf microbenchmark — node ${process.version}, median of ${RUNS} runs`);
  out('');

  {
    const pool = new ClusterPool({ nmbclusters: 64 });
    const ns = await measure(200_000, () => {
      mFreem(mGetcl(pool));
    });
    pool.assertAllFree();
    out(`mGetcl + mFreem pair                          ${fmt(ns).padStart(10)}`);
  }

  const src = new Uint8Array(KiB64).map((_, i) => i & 255);
  for (const mclbytes of [2048, 4096]) {
    const pool = new ClusterPool({ mclbytes, nmbclusters: (2 * KiB64) / mclbytes });
    const ns = await measure(5_000, () => {
      const m = mGethdr(pool)!;
      if (mCopyback(m, 0, src) !== 0) throw new Error('pool too small');
      mFreem(m);
    });
    pool.assertAllFree();
    const mbps = KiB64 / (ns / 1e9) / (1 << 20);
    out(`64 KiB mCopyback, MCLBYTES ${mclbytes}               ${fmt(ns).padStart(10)}  (${mbps.toFixed(0)} MiB/s)`);
  }
  out('');

  for (const roundTrip of [false, true]) {
    out(
      roundTrip
        ? '64 KiB fillFromUio, one event-loop turn per copy request (simulated round trip):'
        : '64 KiB fillFromUio, in-process source:',
    );
    for (const mclbytes of [2048, 4096]) {
      const perMclnum = new Map<number, number>();
      for (const mclnum of [1, 16]) {
        const pool = new ClusterPool({ mclbytes, nmbclusters: (2 * KiB64) / mclbytes });
        const mem = new BufferCopySource(src);
        const source: CopySource = roundTrip ? new RoundTripSource(mem) : mem;
        let requests = 0;
        const ns = await measure(roundTrip ? 200 : 3_000, async () => {
          const uio = makeUio([{ base: 0, len: KiB64 }], 'write');
          const r = await fillFromUio(pool, uio, source, { maxBytes: KiB64, mclnum });
          if (r.error !== 0) throw new Error(`fillFromUio: errno ${r.error}`);
          requests = r.requests;
          mFreem(r.m);
        });
        pool.assertAllFree();
        perMclnum.set(mclnum, ns);
        out(
          `  MCLBYTES ${mclbytes}, MCLNUM ${String(mclnum).padEnd(2)}: ${fmt(ns).padStart(10)}  ` +
            `${String(requests).padStart(2)} requests  (${(KiB64 / (ns / 1e9) / (1 << 20)).toFixed(0)} MiB/s)`,
        );
      }
      out(`  MCLBYTES ${mclbytes}: MCLNUM 1 / MCLNUM 16 = ${(perMclnum.get(1)! / perMclnum.get(16)!).toFixed(2)}x`);
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
