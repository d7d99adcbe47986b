/**
 * The benchmarks' data check (`Flow` with `check: 'pattern'`): every
 * received byte compared with the pattern at its stream offset, across the
 * pattern's wrap-around; one wrong byte anywhere is caught.
 */
import { expect } from 'chai';
import { matchesPattern, pattern } from './harness.js';

describe('harness: matchesPattern', () => {
  const pat = pattern(1000);
  const stream = (from: number, n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = pat[(from + i) % pat.length]!;
    return b;
  };

  it('accepts the pattern at any offset, across the wrap-around', () => {
    for (const [from, n] of [[0, 1000], [990, 30], [2999, 2500], [123456, 1]]) {
      expect(matchesPattern(pat, from!, stream(from!, n!))).to.equal(true);
    }
  });

  it('rejects one wrong byte anywhere, and bytes from the wrong offset', () => {
    for (const at of [0, 9, 10, 11, 2499]) {
      const b = stream(2990, 2500);
      b[at]! ^= 1;
      expect(matchesPattern(pat, 2990, b), `byte ${at}`).to.equal(false);
    }
    expect(matchesPattern(pat, 2991, stream(2990, 100))).to.equal(false);
  });
});
