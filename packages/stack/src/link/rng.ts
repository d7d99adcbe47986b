/**
 * A small, fast, seeded pseudo-random generator for the fault injector.
 *
 * Faults must be replayable: a test that fails with seed `s` must fail the same
 * way when run again with `s`. `Math.random()` cannot be seeded, so the wire
 * carries its own generator: xoshiro128** (Blackman and Vigna, 2018), 128 bits
 * of state in four 32-bit words, seeded through splitmix32 so that nearby seeds
 * (0, 1, 2, ...) still give unrelated streams. It is not cryptographic.
 */

/** A 32-bit seed, as printed by a failing test. */
export type Seed = number;

/** splitmix32 step: turns any 32-bit value into a well mixed one (used for seeding only). */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * xoshiro128** generator. Every method is deterministic given the seed and the
 * sequence of calls made before it.
 */
export class Rng {
  /** The seed this generator started from (print it so a failure can be replayed). */
  readonly seed: Seed;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** @param seed any number; only its low 32 bits are used. */
  constructor(seed: Seed) {
    this.seed = seed >>> 0;
    let x = this.seed;
    this.s0 = x = splitmix32(x);
    this.s1 = x = splitmix32(x);
    this.s2 = x = splitmix32(x);
    this.s3 = splitmix32(x);
    // The all-zero state is the one fixed point of xoshiro; splitmix32 never
    // produces four zeros in a row, but keep the guard explicit.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next unsigned 32-bit value. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** True with probability `p` (p <= 0 never draws, so it does not advance the stream). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    return this.next() < p;
  }

  /** An integer in [0, n) for 1 <= n <= 2^32 (multiply-shift; bias below 2^-32 * n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi], both inclusive. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /**
   * A new generator whose stream is independent of this one's, derived from
   * this generator's seed and `stream` (not from its current state, so forking
   * is itself replayable whatever was drawn before).
   */
  fork(stream: number): Rng {
    return new Rng(splitmix32((this.seed ^ Math.imul(stream + 1, 0x27d4eb2d)) >>> 0));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A fresh seed for callers that did not give one (from the platform's
 * cryptographic source, so two runs differ). Record it: it is the only way to
 * replay the run.
 */
export function randomSeed(): Seed {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
}
