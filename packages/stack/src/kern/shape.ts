/**
 * Object shapes for the optimizing compiler's sake: helpers that make a new
 * stack's objects look, to V8, like the ones its code was optimized for, so
 * that a second pair of stacks in one process (a test suite, the benchmark's
 * fresh pairs) does not throw optimized code away mid-transfer.
 *
 * @module
 */

/**
 * An empty array whose elements kind is already "objects" (V8's
 * `PACKED_ELEMENTS`), for the queues of the data path (frames pending on a
 * wire, connections with deferred output). A literal `[]` starts as an
 * array of small integers and changes kind at its first `push` of an
 * object; code optimized on the arrays of earlier stacks, which had long
 * changed, then meets a new stack's fresh arrays and is deoptimized ("not a
 * Smi") and compiled again — tens of milliseconds of compilation for a
 * function the size of `tcpInputConn`, in every new pair's first transfer.
 */
export function objectArray<T extends object>(): T[] {
  const a: (T | null)[] = [null];
  a.pop();
  return a as T[];
}

/**
 * Zero as a heap number (`-0`): the initial value of fields that hold
 * 32-bit sequence numbers, timestamps and windows (0 .. 2^32 - 1). V8 keeps
 * a field that has only held small integers (below 2^31 on 64-bit) as one;
 * the first value of 2^31 or more — half of all random initial sequence
 * numbers — turns it into a double field, deprecates the object's shape and
 * throws away every piece of optimized code that read it (tcpOutput,
 * tcpInputConn, tcpSendSegment and all they inline: hundreds of
 * milliseconds of compilation), at a random moment of some later
 * connection. Born a double, the field never changes kind. `-0` behaves as
 * 0 in everything the stack does with these fields (`===`, arithmetic,
 * `>>> 0`, `| 0`, comparisons, formatting).
 */
export const SEQ_ZERO = -0;
