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
