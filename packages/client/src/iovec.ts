/**
 * A gather list (`struct iovec[]`, as `writev(2)` takes it): several
 * buffers that one send-type call copies in from as if they were one, so
 * that writes queued behind a send go out in one system call without being
 * concatenated first. The server's COPYIN of `[off, off + n)` is answered
 * with views of the pieces that range covers — still no copy on this side.
 */
export class IoVec {
  /** Total bytes. */
  readonly length: number;
  /** Start offset of each piece (ascending; `starts[i]` is the sum of the lengths before piece i). */
  readonly #starts: number[];

  /** @param pieces the buffers, in order; empty ones are allowed and take no room. */
  constructor(readonly pieces: readonly Uint8Array[]) {
    let n = 0;
    this.#starts = pieces.map((p) => {
      const s = n;
      n += p.length;
      return s;
    });
    this.length = n;
  }

  /**
   * Views of the bytes `[off, off + n)`, in order (no copy).
   * @throws RangeError outside `[0, length]` or for a non-integer range.
   */
  slice(off: number, n: number): Uint8Array[] {
    if (!Number.isInteger(off) || !Number.isInteger(n) || off < 0 || n < 0 || off + n > this.length) {
      throw new RangeError(`range ${off}+${n} outside ${this.length} bytes`);
    }
    const out: Uint8Array[] = [];
    if (n === 0) return out;
    // The piece holding `off`: binary search over the starts (a gather list is short, but a COPYIN per cluster asks often).
    let lo = 0;
    let hi = this.pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid]! <= off) lo = mid;
      else hi = mid - 1;
    }
    let left = n;
    for (let i = lo; left > 0; i++) {
      const p = this.pieces[i]!;
      const from = i === lo ? off - this.#starts[i]! : 0;
      const take = Math.min(p.length - from, left);
      if (take > 0) out.push(p.subarray(from, from + take));
      left -= take;
    }
    return out;
  }

  /** The bytes from `off` to the end, as a gather list of views (what is left after a short send). */
  from(off: number): IoVec {
    return new IoVec(this.slice(off, this.length - off));
  }
}
