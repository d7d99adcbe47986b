/**
 * Big-endian (network order) integer reads and writes on a `Uint8Array`.
 * Callers guarantee the bounds (a checked wire view or a buffer they sized);
 * out-of-range reads would yield 0 bits rather than throw, but no caller in
 * this package makes them.
 */

/** Read an unsigned 16-bit big-endian value at `buf[off]`. */
export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/** Read an unsigned 32-bit big-endian value at `buf[off]` (result in 0..2^32-1). */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Write the low 16 bits of `v` big-endian at `buf[off]`. */
export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

/** Write the low 32 bits of `v` big-endian at `buf[off]`. */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}
