/**
 * The Internet checksum's word sum in WebAssembly SIMD, for memory the
 * stack allocates itself: {@link checksumSlab} gives the cluster pool its
 * slab as the memory of a small WebAssembly instance, and `sum16`
 * (`checksum.ts`) sums whole words of such a buffer there — 16 bytes per
 * step, 64-bit lanes, carries deferred — about three times as fast as the
 * `Uint32Array` loop (1448 bytes: ~80 ns against ~230 ns), which it keeps
 * for every other buffer and where WebAssembly SIMD is missing.
 *
 * The module is built here from its bytes (no toolchain, nothing fetched);
 * its text form:
 *
 * ```wat
 * (module
 *   (import "e" "m" (memory 0))
 *   ;; Sum of the n/4 little-endian 32-bit words at p (both multiples of 4),
 *   ;; folded with end-around carry to 16 bits (1..0xffff, or 0 for none).
 *   (func (export "s") (param $p i32) (param $n i32) (result i32)
 *     (local $end i32) (local $acc v128) (local $x v128) (local $s i64)
 *     (local.set $end (i32.add (local.get $p) (local.get $n)))
 *     (local.set $acc (v128.const i64x2 0 0))
 *     (block $done (loop $step
 *       (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
 *       (local.set $x (v128.load (local.get $p)))
 *       (local.set $acc (i64x2.add (i64x2.add (local.get $acc)
 *         (i64x2.extend_low_i32x4_u (local.get $x))) (i64x2.extend_high_i32x4_u (local.get $x))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 16)))
 *       (br $step)))
 *     (local.set $s (i64.add (i64x2.extract_lane 0 (local.get $acc)) (i64x2.extract_lane 1 (local.get $acc))))
 *     (block $done2 (loop $word
 *       (br_if $done2 (i32.ge_u (local.get $p) (local.get $end)))
 *       (local.set $s (i64.add (local.get $s) (i64.load32_u (local.get $p))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 4)))
 *       (br $word)))
 *     ;; 2^32 ≡ 2^16 ≡ 1 (mod 0xffff): fold 64 → 32 → 16 bits, twice each
 *     (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffffffff)) (i64.shr_u (local.get $s) (i64.const 32))))
 *     (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffffffff)) (i64.shr_u (local.get $s) (i64.const 32))))
 *     (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffff)) (i64.shr_u (local.get $s) (i64.const 16))))
 *     (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffff)) (i64.shr_u (local.get $s) (i64.const 16))))
 *     (i32.wrap_i64 (local.get $s))))
 * ```
 *
 * A lane gains at most 2^32 per 16 bytes, so it cannot overflow below
 * 2^32 steps (64 GiB); slabs are at most 2 GiB here.
 *
 * @module
 */

/** Word sum of `n` bytes at byte offset `p` of the instance's memory (see the module note). */
export type WasmWordSum = (p: number, n: number) => number;

const FOLD32 = [0x20, 0x05, 0x42, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x83, 0x20, 0x05, 0x42, 0x20, 0x88, 0x7c, 0x21, 0x05];
const FOLD16 = [0x20, 0x05, 0x42, 0xff, 0xff, 0x03, 0x83, 0x20, 0x05, 0x42, 0x10, 0x88, 0x7c, 0x21, 0x05];

/** The function body of `s` (see the module note for its text). */
const BODY = [
  0x03, 0x01, 0x7f, 0x02, 0x7b, 0x01, 0x7e, // locals: end i32, acc x v128, s i64
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x02, // end = p + n
  0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x03, // acc = 0
  0x02, 0x40, 0x03, 0x40, // block loop
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x20, 0x02, 0x4b, 0x0d, 0x01, // br_if p + 16 > end
  0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x21, 0x04, // x = v128.load p
  0x20, 0x03, // acc
  0x20, 0x04, 0xfd, 0xc9, 0x01, 0xfd, 0xce, 0x01, // + extend_low_u x
  0x20, 0x04, 0xfd, 0xca, 0x01, 0xfd, 0xce, 0x01, // + extend_high_u x
  0x21, 0x03,
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // p += 16
  0x0c, 0x00, 0x0b, 0x0b,
  0x20, 0x03, 0xfd, 0x1d, 0x00, 0x20, 0x03, 0xfd, 0x1d, 0x01, 0x7c, 0x21, 0x05, // s = lane 0 + lane 1
  0x02, 0x40, 0x03, 0x40, // block loop
  0x20, 0x00, 0x20, 0x02, 0x4f, 0x0d, 0x01, // br_if p >= end
  0x20, 0x05, 0x20, 0x00, 0x35, 0x02, 0x00, 0x7c, 0x21, 0x05, // s += i64.load32_u p
  0x20, 0x00, 0x41, 0x04, 0x6a, 0x21, 0x00, // p += 4
  0x0c, 0x00, 0x0b, 0x0b,
  ...FOLD32, ...FOLD32, ...FOLD16, ...FOLD16,
  0x20, 0x05, 0xa7, 0x0b, // i32.wrap_i64 s; end
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
