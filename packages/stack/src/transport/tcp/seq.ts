/**
 * TCP sequence-number arithmetic (RFC 9293 §3.4, NetBSD `tcp_seq.h`, gVisor
 * `seqnum`).
 *
 * Sequence numbers live in a 32-bit circle: after 2^32 - 1 comes 0. Two
 * numbers are compared by the sign of their difference taken modulo 2^32 and
 * reinterpreted as a signed 32-bit integer, so `0x00000005` is *after*
 * `0xfffffff0` (the distance is +21), even though it is numerically smaller.
 * The comparison is only meaningful while the two numbers are less than 2^31
 * apart; TCP guarantees that by never letting a window exceed 2^30 (RFC 7323
 * §2.3) and by PAWS/MSL for old duplicates.
 *
 * Every value returned here is a plain JavaScript number in `[0, 2^32)`
 * (`>>> 0`), so results can be stored, compared with `===` and written to the
 * wire without further masking.
 *
 * @packageDocumentation
 */

/** One past the largest sequence number: the size of the sequence space. */
export const SEQ_MODULUS = 0x1_0000_0000;

/**
 * `a < b` in sequence space (NetBSD `SEQ_LT`): true when `b` is ahead of `a`
 * by less than 2^31.
 */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** `a <= b` in sequence space (NetBSD `SEQ_LEQ`). */
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a > b` in sequence space (NetBSD `SEQ_GT`). */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** `a >= b` in sequence space (NetBSD `SEQ_GEQ`). */
export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/**
 * `a + n` modulo 2^32 (NetBSD adds in `tcp_seq` and lets C wrap). `n` may be
 * negative (moving backwards) and may be any safe integer; the result is always in `[0, 2^32)`.
 */
export function seqAdd(a: number, n: number): number {
  // ToUint32 reduces any safe integer modulo 2^32 exactly, negatives included.
  return (a + n) >>> 0;
}

/**
 * Signed distance from `b` to `a` (`a - b`) as a 32-bit signed integer in
 * `[-2^31, 2^31)`: positive when `a` is after `b`. This is the number of bytes
 * in `[b, a)` when `seqGeq(a, b)`.
 */
export function seqSub(a: number, b: number): number {
  return (a - b) | 0;
}

/** The later of two sequence numbers (NetBSD `SEQ_MAX`). */
export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a >>> 0 : b >>> 0;
}

/** The earlier of two sequence numbers (NetBSD `SEQ_MIN`). */
export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a >>> 0 : b >>> 0;
}

/**
 * Whether `x` lies in the window `[lo, lo + len)` (RFC 9293 §3.4
 * "acceptable" tests are built from this). `len` is a byte count in
 * `[0, 2^31)`; an empty window contains nothing. The test is done on the
 * unsigned offset of `x` from `lo`, so it is correct across the 2^32 wrap.
 */
export function seqInWindow(x: number, lo: number, len: number): boolean {
  return ((x - lo) >>> 0) < len;
}

/**
 * Unsigned distance from `lo` forward to `x`, in `[0, 2^32)`: how many bytes
 * `x` is past `lo` when `x` is known not to be behind it.
 */
export function seqOffset(x: number, lo: number): number {
  return (x - lo) >>> 0;
}
