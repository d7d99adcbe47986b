/**
 * The Internet checksum's word sum in WebAssembly SIMD, for memory the
 * stack allocates itself: {@link checksumSlab} gives the cluster pool its
 * slab as the memory of a small WebAssembly instance, and `sum16`
 * (`checksum.ts`) sums any range of such a buffer there in one call — 64
 * bytes per step into 32-bit lanes, carries deferred, unaligned loads, the
 * odd head and tail included — several times as fast as the `Uint32Array`
 * loop (1448 bytes: ~60 ns with the call against ~230 ns), which it keeps
 * for every other buffer and where WebAssembly SIMD is missing. WebAssembly
 * memory is little-endian on every host, so the result is the big-endian
 * sum byte-swapped (RFC 1071 section 2(B)); `sum16` swaps it back.
 *
 * The module is built here from its bytes (no toolchain, nothing fetched);
 * its text form:
 *
 * ```wat
 * (module
 *   (import "e" "m" (memory 0))
 *   ;; Sum of the little-endian 16-bit words of the n bytes at p (any p, any
 *   ;; n; an odd last byte counts as a word's low byte), folded with
 *   ;; end-around carry to 16 bits (1..0xffff, or 0 for all-zero bytes).
 *   (func (export "s") (param $p i32) (param $n i32) (result i32)
 *     (local $end i32) (local $cend i32) (local $acc0 v128) (local $acc1 v128) (local $acc64 v128) (local $s i64)
 *     (local.set $end (i32.add (local.get $p) (local.get $n)))
 *     (local.set $acc64 (v128.const i64x2 0 0))
 *     (block $done (loop $chunk          ;; chunks of at most 256 KiB
 *       (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 64)) (local.get $end)))
 *       (local.set $cend (i32.add (local.get $p) (i32.const 262144)))
 *       (if (i32.gt_u (local.get $cend) (local.get $end)) (then (local.set $cend (local.get $end))))
 *       (local.set $acc0 (local.tee $acc1 (v128.const i32x4 0 0 0 0)))
 *       (loop $step                      ;; 64 bytes: 16-bit pairs added into 32-bit lanes
 *         (local.set $acc0 (i32x4.add (local.get $acc0) (i32x4.extadd_pairwise_i16x8_u (v128.load offset=0 (local.get $p)))))
 *         (local.set $acc1 (i32x4.add (local.get $acc1) (i32x4.extadd_pairwise_i16x8_u (v128.load offset=16 (local.get $p)))))
 *         (local.set $acc0 (i32x4.add (local.get $acc0) (i32x4.extadd_pairwise_i16x8_u (v128.load offset=32 (local.get $p)))))
 *         (local.set $acc1 (i32x4.add (local.get $acc1) (i32x4.extadd_pairwise_i16x8_u (v128.load offset=48 (local.get $p)))))
 *         (br_if $step (i32.le_u (i32.add (local.tee $p (i32.add (local.get $p) (i32.const 64))) (i32.const 64)) (local.get $cend))))
 *       ;; the chunk's lanes widened into 64 bits
 *       (local.set $acc64 (i64x2.add (i64x2.add (local.get $acc64) (i64x2.extend_low_i32x4_u (local.get $acc0))) (i64x2.extend_high_i32x4_u (local.get $acc0))))
 *       (local.set $acc64 (i64x2.add (i64x2.add (local.get $acc64) (i64x2.extend_low_i32x4_u (local.get $acc1))) (i64x2.extend_high_i32x4_u (local.get $acc1))))
 *       (br $chunk)))
 *     (block $done16 (loop $step16      ;; the last 16-byte steps
 *       (br_if $done16 (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
 *       (local.set $acc0 (i32x4.extadd_pairwise_i16x8_u (v128.load (local.get $p))))
 *       (local.set $acc64 (i64x2.add (i64x2.add (local.get $acc64) (i64x2.extend_low_i32x4_u (local.get $acc0))) (i64x2.extend_high_i32x4_u (local.get $acc0))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 16)))
 *       (br $step16)))
 *     (local.set $s (i64.add (i64x2.extract_lane 0 (local.get $acc64)) (i64x2.extract_lane 1 (local.get $acc64))))
 *     (block $done2 (loop $word
 *       (br_if $done2 (i32.gt_u (i32.add (local.get $p) (i32.const 2)) (local.get $end)))
 *       (local.set $s (i64.add (local.get $s) (i64.load16_u (local.get $p))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 2)))
 *       (br $word)))
 *     (if (i32.lt_u (local.get $p) (local.get $end))  ;; an odd last byte: the low byte of a word
 *       (then (local.set $s (i64.add (local.get $s) (i64.load8_u (local.get $p))))))
 *     ;; 2^32 ≡ 2^16 ≡ 1 (mod 0xffff): fold 64 → 32 → 16 bits, twice each
 *     (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffffffff)) (i64.shr_u (local.get $s) (i64.const 32))))
 *     (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffffffff)) (i64.shr_u (local.get $s) (i64.const 32))))
 *     (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffff)) (i64.shr_u (local.get $s) (i64.const 16))))
 *     (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffff)) (i64.shr_u (local.get $s) (i64.const 16))))
 *     (i32.wrap_i64 (local.get $s))))
 * ```
 *
 * Summing 16-bit pairs instead of 32-bit words gives the same folded sum
 * (2^16 ≡ 1 mod 0xffff, RFC 1071 section 2) with one widening instead of
 * two per 16 bytes. A 32-bit lane gains at most 2 × 0xffff per load, two
 * loads per step: the 4,096 steps of a 256 KiB chunk stay below 2^32
 * before the lanes are widened into 64 bits, which cannot overflow for
 * any slab (at most 2 GiB here).
 *
 * @module
 */

/** Little-endian 16-bit word sum of the `n` bytes at byte offset `p` of the instance's memory, folded (see the module note). */
export type WasmWordSum = (p: number, n: number) => number;

/** `s = (s & mask) + (s >> shift)` on the i64 local 7: 64 → 32 bits, then 32 → 16. */
const FOLD32 = [0x20, 0x07, 0x42, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x83, 0x20, 0x07, 0x42, 0x20, 0x88, 0x7c, 0x21, 0x07];
const FOLD16 = [0x20, 0x07, 0x42, 0xff, 0xff, 0x03, 0x83, 0x20, 0x07, 0x42, 0x10, 0x88, 0x7c, 0x21, 0x07];
const V128_ZERO = [0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
/** `i32x4.extadd_pairwise_i16x8_u`, `i32x4.add`, `i64x2.extend_{low,high}_i32x4_u`, `i64x2.add`. */
const EXTADD = [0xfd, 0x7f];
const I32X4_ADD = [0xfd, 0xae, 0x01];
const LOW = [0xfd, 0xc9, 0x01];
const HIGH = [0xfd, 0xca, 0x01];
const I64X2_ADD = [0xfd, 0xce, 0x01];

/** `acc64 += low(acc) + high(acc)` for the v128 local `acc` (acc64 is local 6). */
function widen(acc: number): number[] {
  return [0x20, 0x06, 0x20, acc, ...LOW, ...I64X2_ADD, 0x20, acc, ...HIGH, ...I64X2_ADD, 0x21, 0x06];
}

/** `acc += pairs of v128.load offset=off p` for the v128 local `acc`. */
function pairs(acc: number, off: number): number[] {
  return [0x20, acc, 0x20, 0x00, 0xfd, 0x00, 0x00, off, ...EXTADD, ...I32X4_ADD, 0x21, acc];
}

/** The function body of `s` (see the module note for its text). */
const BODY = [
  0x03, 0x02, 0x7f, 0x03, 0x7b, 0x01, 0x7e, // locals: end cend i32, acc0 acc1 acc64 v128, s i64
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x02, // end = p + n
  ...V128_ZERO, 0x21, 0x06, // acc64 = 0
  0x02, 0x40, 0x03, 0x40, // block $done loop $chunk
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x20, 0x02, 0x4b, 0x0d, 0x01, // br_if $done p + 64 > end
  0x20, 0x00, 0x41, 0x80, 0x80, 0x10, 0x6a, 0x22, 0x03, // cend = p + 256 KiB
  0x20, 0x02, 0x4b, 0x04, 0x40, 0x20, 0x02, 0x21, 0x03, 0x0b, // if cend > end: cend = end
  ...V128_ZERO, 0x22, 0x04, 0x21, 0x05, // acc0 = acc1 = 0
  0x03, 0x40, // loop $step
  ...pairs(0x04, 0x00), ...pairs(0x05, 0x10), ...pairs(0x04, 0x20), ...pairs(0x05, 0x30), // 64 bytes
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x22, 0x00, // p += 64
  0x41, 0xc0, 0x00, 0x6a, 0x20, 0x03, 0x4d, 0x0d, 0x00, // br_if $step p + 64 <= cend
  0x0b,
  ...widen(0x04), ...widen(0x05),
  0x0c, 0x00, 0x0b, 0x0b, // br $chunk
  0x02, 0x40, 0x03, 0x40, // block loop: the last 16-byte steps
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x20, 0x02, 0x4b, 0x0d, 0x01, // br_if p + 16 > end
  0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, ...EXTADD, 0x21, 0x04, // acc0 = pairs of v128.load p
  ...widen(0x04),
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // p += 16
  0x0c, 0x00, 0x0b, 0x0b,
  0x20, 0x06, 0xfd, 0x1d, 0x00, 0x20, 0x06, 0xfd, 0x1d, 0x01, 0x7c, 0x21, 0x07, // s = lane 0 + lane 1
  0x02, 0x40, 0x03, 0x40, // block loop
  0x20, 0x00, 0x41, 0x02, 0x6a, 0x20, 0x02, 0x4b, 0x0d, 0x01, // br_if p + 2 > end
  0x20, 0x07, 0x20, 0x00, 0x33, 0x01, 0x00, 0x7c, 0x21, 0x07, // s += i64.load16_u p
  0x20, 0x00, 0x41, 0x02, 0x6a, 0x21, 0x00, // p += 2
  0x0c, 0x00, 0x0b, 0x0b,
  0x20, 0x00, 0x20, 0x02, 0x49, 0x04, 0x40, // if p < end (an odd last byte)
  0x20, 0x07, 0x20, 0x00, 0x31, 0x00, 0x00, 0x7c, 0x21, 0x07, // s += i64.load8_u p
  0x0b,
  ...FOLD32, ...FOLD32, ...FOLD16, ...FOLD16,
  0x20, 0x07, 0xa7, 0x0b, // i32.wrap_i64 s; end
];

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, content: number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]), // type (i32, i32) -> i32
  ...section(2, [0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x00, 0x00]), // import "e" "m" (memory 0)
  ...section(3, [0x01, 0x00]),
  ...section(7, [0x01, 0x01, 0x73, 0x00, 0x00]), // export "s"
  ...section(10, [0x01, ...leb(BODY.length), ...BODY]),
]);

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Memory: new (desc: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer };
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** The compiled module, or null where WebAssembly (with SIMD) is unavailable. */
let module: object | null | undefined;

function getModule(): object | null {
  if (module === undefined) {
    try {
      module = wasm !== undefined && wasm.validate(MODULE_BYTES) ? new wasm.Module(MODULE_BYTES) : null;
    } catch {
      module = null;
    }
  }
  return module;
}

/** Largest slab given WebAssembly memory (32-bit offsets with room to spare). */
const WASM_SLAB_MAX = 2 ** 31;
const PAGE = 65536;

/** Word-sum functions of the slabs made by {@link checksumSlab}, by their buffer. */
const sums = new WeakMap<ArrayBufferLike, WasmWordSum>();

/**
 * A zeroed buffer of at least `bytes` bytes (rounded up to 64 KiB pages when
 * it is WebAssembly memory) whose whole words `sum16` adds in WebAssembly:
 * what the cluster pool allocates its slab with. A plain `ArrayBuffer` of
 * exactly `bytes` where WebAssembly SIMD is missing, the size is above
 * 2 GiB, or the memory cannot be reserved; the checksum is the same
 * either way.
 */
export function checksumSlab(bytes: number): ArrayBuffer {
  const mod = bytes > 0 && bytes <= WASM_SLAB_MAX ? getModule() : null;
  if (mod !== null) {
    try {
      const pages = Math.ceil(bytes / PAGE);
      const memory = new wasm!.Memory({ initial: pages, maximum: pages });
      const inst = new wasm!.Instance(mod, { e: { m: memory } });
      sums.set(memory.buffer, inst.exports.s as WasmWordSum);
      return memory.buffer;
    } catch {
      // Address space for another memory refused: a plain buffer does.
    }
  }
  return new ArrayBuffer(bytes);
}

/** The WebAssembly word sum over `buf` when {@link checksumSlab} made it, else null. */
export function wasmWordSum(buf: ArrayBufferLike): WasmWordSum | null {
  return sums.get(buf) ?? null;
}
