/**
 * Small commander helpers shared by the examples: typed option parsers that
 * turn bad input into a usage error naming the flag.
 *
 * @module
 */
import { InvalidArgumentError } from 'commander';
import { parseBytes } from './select.js';

/** Option parser for a byte count (`64k`, `1MiB`, `4096`) within `[lo, hi]`. */
export function bytesArg(lo: number, hi: number) {
  return (v: string): number => {
    let n: number;
    try {
      n = parseBytes(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
    if (n < lo || n > hi) throw new InvalidArgumentError(`must be between ${lo} and ${hi} bytes, got ${n}`);
    return n;
  };
}

/** Option parser for an integer within `[lo, hi]`. */
export function intArg(lo: number, hi: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`must be an integer, got "${v}"`);
    const n = Number(v);
    if (n < lo || n > hi) throw new InvalidArgumentError(`must be between ${lo} and ${hi}, got ${n}`);
    return n;
  };
}

/** Option parser for a positive number of seconds up to `hi`. */
export function secondsArg(hi: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > hi) throw new InvalidArgumentError(`must be a number of seconds in (0, ${hi}], got "${v}"`);
    return n;
  };
}

/** Option parser for a number of seconds in [0, hi]: 0 means "none" (e.g. no warm-up). */
export function secondsOrZeroArg(hi: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > hi) throw new InvalidArgumentError(`must be a number of seconds in [0, ${hi}], got "${v}"`);
    return n;
  };
}

/** Option parser for a comma-separated list of byte counts. */
export function bytesListArg(lo: number, hi: number) {
  const one = bytesArg(lo, hi);
  return (v: string): number[] => v.split(',').filter((s) => s !== '').map(one);
}

/** Quantile `q` in [0, 1] of `xs` (nearest rank); NaN for an empty list. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** Prints one JSON object as a line on stdout (the benchmark harness parses these). */
export function jsonLine(obj: object): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}
