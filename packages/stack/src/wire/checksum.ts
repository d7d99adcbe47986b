/**
 * The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones'
 * complement sum of the data taken as big-endian 16-bit words.
 *
 * Three properties of that sum (RFC 1071 section 2) make it fast and
 * composable, and this module leans on all three:
 *
 * - **Deferred carries.** A JS number holds integers exactly up to 2^53, so we
 *   add whole 32-bit words into a plain number and fold the carries once at
 *   the end instead of after every addition.
 * - **Byte-order independence.** Summing little-endian words gives the
 *   byte-swapped result, so we can read the data through a `Uint32Array` in
 *   the machine's own order and swap the 16-bit result once.
 * - **Odd offsets.** A range that starts at an odd position of the whole
 *   message contributes the byte-swap of its own sum. That is how
 *   {@link InetChecksum} carries an odd byte across the segments of an mbuf
 *   chain without copying (NetBSD `in_cksum`'s `byte_swapped`).
 *
 * Sums returned by the `*Sum` functions are *partial*: non-negative integers
 * that may exceed 16 bits and are meant to be added together and passed as
 * `initial` to {@link internetChecksum} / {@link verifyChecksum}.
 * Nothing here throws (but {@link pseudoHeaderSum} given addresses of two
 * families, a caller's bug); ranges must lie inside the buffer (the caller
 * checked them, e.g. through a wire view's `newChecked`).
 */
import { wasmWordSum, type WasmWordSum } from './checksum-wasm.js';
import type { IpAddress } from './ip.js';
import { pseudoHeaderSum6 } from './ipv6.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Below this length the word path's setup costs more than it saves. */
const WORD_PATH_MIN = 96;
/** Below this length we do not build a new `Uint32Array` for an uncached buffer. */
const WORD_PATH_NEW_VIEW_MIN = 256;
/** Words added before an intermediate fold: 2^20 * (2^32 - 1) < 2^53. */
const WORDS_PER_FOLD = 1 << 20;
const EMPTY_WORDS = new Uint32Array(0);

// A two-entry cache of the last two ArrayBuffers summed: a Uint32Array over
// each, or its WebAssembly sum when it is a cluster slab made by
// checksumSlab (checksum-wasm.ts). The mbuf cluster pool carves every cluster
// from one slab, so on the data path this hits nearly always and the word
// path allocates nothing; two entries because two stacks in one process (a
// MemWire pair: the sender sums its own clusters, the receiver its own) take
// turns segment by segment, and a miss is a WeakMap lookup. It keeps the last
// two buffers reachable, which for slabs costs nothing.
let cachedBuffer: ArrayBufferLike | null = null;
let cachedWords: Uint32Array = new Uint32Array(0);
let cachedWasm: WasmWordSum | null = null;
let otherBuffer: ArrayBufferLike | null = null;
let otherWords: Uint32Array = cachedWords;
let otherWasm: WasmWordSum | null = null;

/**
 * Fold a non-negative integer sum (up to 2^53) to 16 bits with end-around
 * carry (2^16 ≡ 1 mod 0xffff, so each step keeps the value mod 0xffff).
 * A non-zero input never folds to 0: it gives 0xffff, the ones' complement
 * "negative zero". Integer ops once the value fits 32 bits.
 */

export function foldSum(s: number): number {
  while (s > 0xffffffff) {
    const hi = Math.floor(s / 0x10000);
    s = s - hi * 0x10000 + hi;
  }
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** Swap the two bytes of a 16-bit value. */
function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/** Unfolded big-endian word sum of `b[start..end)`; a trailing odd byte counts as the high byte. */
function sumBytes(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  let i = start;
  const end16 = start + ((end - start) & ~15);
  for (; i < end16; i += 16) {
    s +=
      ((b[i] << 8) | b[i + 1]) +
      ((b[i + 2] << 8) | b[i + 3]) +
      ((b[i + 4] << 8) | b[i + 5]) +
      ((b[i + 6] << 8) | b[i + 7]) +
      ((b[i + 8] << 8) | b[i + 9]) +
      ((b[i + 10] << 8) | b[i + 11]) +
      ((b[i + 12] << 8) | b[i + 13]) +
      ((b[i + 14] << 8) | b[i + 15]);
  }
  for (; i + 1 < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < end) s += b[i] << 8;
  return s;
}

/** Folded native-order sum of `n` 32-bit words starting at word index `j`. */
function sumWords(w: Uint32Array, j: number, n: number): number {
  let total = 0;
  while (n > 0) {
    const chunk = n < WORDS_PER_FOLD ? n : WORDS_PER_FOLD;
    const end = j + chunk;
    const end4 = j + (chunk & ~3);
    let s = 0;
    for (; j < end4; j += 4) s += w[j] + w[j + 1] + w[j + 2] + w[j + 3];
    for (; j < end; j++) s += w[j];
    total += foldSum(s);
    n -= chunk;
  }
  return foldSum(total);
}

/**
 * Ones' complement sum of `buf[off .. off + len)` as if it started at an even
 * position of the message, folded to 16 bits (0 only for all-zero data). A
 * trailing odd byte is padded with a zero byte (RFC 1071). Allocates nothing
 * on the data path (see the module note on the view cache).
 */
export function sum16(buf: Uint8Array, off: number, len: number): number {
  if (len < WORD_PATH_MIN) return foldSum(sumBytes(buf, off, off + len));
  const ab = buf.buffer;
  if (ab !== cachedBuffer) {
    if (ab === otherBuffer) {
      const w = cachedWords;
      const f = cachedWasm;
      otherBuffer = cachedBuffer;
      cachedBuffer = ab;
      cachedWords = otherWords;
      otherWords = w;
      cachedWasm = otherWasm;
      otherWasm = f;
    } else {
      if (len < WORD_PATH_NEW_VIEW_MIN) return foldSum(sumBytes(buf, off, off + len));
      otherBuffer = cachedBuffer;
      otherWords = cachedWords;
      otherWasm = cachedWasm;
      cachedBuffer = ab;
      cachedWasm = wasmWordSum(ab);
      cachedWords = cachedWasm !== null ? EMPTY_WORDS : new Uint32Array(ab, 0, ab.byteLength >>> 2);
    }
  }
  // WebAssembly sums the whole range, odd head and tail included, as
  // little-endian words (its memory's order on every host): the big-endian
  // sum byte-swapped.
  if (cachedWasm !== null) return swap16(cachedWasm(buf.byteOffset + off, len));
  const abs = buf.byteOffset + off;
  const head = (4 - (abs & 3)) & 3; // bytes before the first aligned word
  const nWords = (len - head) >>> 2;
  const tailStart = off + head + nWords * 4;
  const oddHead = (head & 1) === 1;

  let s = sumBytes(buf, off, off + head);
  // The words' sum in machine order; in big-endian terms a little-endian sum
  // is byte-swapped, and a range at an odd offset swaps once more.
  const mid = sumWords(cachedWords, (abs + head) >>> 2, nWords);
  s += oddHead === LITTLE_ENDIAN ? mid : swap16(mid);
  const tail = foldSum(sumBytes(buf, tailStart, off + len));
  s += oddHead ? swap16(tail) : tail;
  return foldSum(s);
}

/**
 * Internet checksum of `buf[off .. off + len)`, ready to store in a header
 * (compute it with the checksum field zeroed). `initial` is a partial sum to
 * include, e.g. {@link pseudoHeaderSum}. Returns 0..0xffff.
 */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~foldSum(initial + sum16(buf, off, len)) & 0xffff;
}

/**
 * Whether `buf[off .. off + len)`, checksum field included, plus the partial
 * sum `initial`, sums to 0xffff, i.e. the stored checksum is right.
 */
export function verifyChecksum(buf: Uint8Array, off: number, len: number, initial = 0): boolean {
  return foldSum(initial + sum16(buf, off, len)) === 0xffff;
}

/**
 * Partial sum of the pseudo-header that UDP and TCP checksums cover, for
 * either family: IPv4 (RFC 768, RFC 9293 3.1: source, destination,
 * zero+protocol, transport length) when the addresses are numbers, IPv6
 * (RFC 8200 8.1, {@link pseudoHeaderSum6}) when they are `Ip6Address`es.
 * Both addresses must be of one family.
 */
export function pseudoHeaderSum(src: IpAddress, dst: IpAddress, protocol: number, length: number): number {
  if (typeof src === 'number' && typeof dst === 'number') {
    return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (protocol & 0xff) + (length & 0xffff);
  }
  if (typeof src === 'number' || typeof dst === 'number') throw new TypeError('pseudo-header of mixed address families');
  return pseudoHeaderSum6(src, dst, protocol, length);
}

/**
 * Finish a partial checksum as a device does for Linux `CHECKSUM_PARTIAL`
 * (virtio `VIRTIO_NET_HDR_F_NEEDS_CSUM`): the 16-bit field at
 * `start + offset` holds the folded pseudo-header sum (not complemented);
 * sum `buf[start .. end)` with it in place, complement, and store the
 * result there. In place; throws nothing (a range outside `buf` is left
 * alone).
 */
export function completePartialChecksum(buf: Uint8Array, start: number, offset: number, end = buf.length): void {
  const at = start + offset;
  if (start < 0 || at + 2 > end || end > buf.length) return;
  const c = ~sum16(buf, start, end - start) & 0xffff;
  buf[at] = c >>> 8;
  buf[at + 1] = c & 0xff;
}

/**
 * Incrementally update checksum `hc` after one 16-bit word of the covered
 * data changed from `oldWord` to `newWord` (RFC 1624 eqn. 3:
 * HC' = ~(~HC + ~m + m')), e.g. a TTL decrement. Returns the new checksum.
 */
export function checksumAdjust(hc: number, oldWord: number, newWord: number): number {
  const s = (~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~foldSum(s) & 0xffff;
}

/**
 * {@link checksumAdjust} for a 32-bit field at an even offset (an IPv4
 * address, a sequence number): both halves at once.
 */
export function checksumAdjust32(hc: number, oldValue: number, newValue: number): number {
  const s =
    (~hc & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  return ~foldSum(s) & 0xffff;
}

/**
 * Map a computed UDP checksum to what goes on the wire: a computed 0 is sent
 * as 0xffff, because 0 in the field means "no checksum" (RFC 768).
 */
export function udpChecksumValue(c: number): number {
  return c === 0 ? 0xffff : c;
}

/**
 * A running Internet checksum over several byte ranges, e.g. the mbufs of a
 * chain, with the odd byte of one range carried into the next. Reuse one
 * instance per layer (call {@link InetChecksum.reset}) to stay allocation-free.
 *
 * @example
 * ```ts
 * const ck = new InetChecksum();
 * ck.reset(pseudoHeaderSum(src, dst, 17, udpLen));
 * for (let m = chain; m; m = m.next) ck.add(m.buf, m.off, m.len);
 * const c = udpChecksumValue(ck.finish());
 * ```
 */
export class InetChecksum {
  private acc = 0;
  private odd = false;

  /** Start over with the partial sum `initial` (e.g. a pseudo-header sum). Returns `this`. */
  reset(initial = 0): this {
    this.acc = initial;
    this.odd = false;
    return this;
  }

  /** Add `buf[off .. off + len)` as the next range of the message. Returns `this`. */
  add(buf: Uint8Array, off: number, len: number): this {
    const s = sum16(buf, off, len);
    this.acc = foldSum(this.acc + (this.odd ? swap16(s) : s));
    if ((len & 1) === 1) this.odd = !this.odd;
    return this;
  }

  /** The folded ones' complement sum so far (what {@link verifyChecksum} compares with 0xffff). */
  sum(): number {
    return foldSum(this.acc);
  }

  /** Whether the ranges added so far (checksum field included) verify. */
  verify(): boolean {
    return foldSum(this.acc) === 0xffff;
  }

  /** The checksum to store: the ones' complement of {@link InetChecksum.sum}. */
  finish(): number {
    return ~foldSum(this.acc) & 0xffff;
  }
}

/**
 * Internet checksum over several ranges given as subarrays, in order, with
 * odd lengths handled across boundaries. Convenience for tests and cold
 * paths; the hot path uses {@link InetChecksum} to avoid the array.
 */
export function checksumRanges(ranges: readonly Uint8Array[], initial = 0): number {
  let acc = initial;
  let odd = false;
  for (let k = 0; k < ranges.length; k++) {
    const r = ranges[k];
    const s = sum16(r, 0, r.length);
    acc = foldSum(acc + (odd ? swap16(s) : s));
    if ((r.length & 1) === 1) odd = !odd;
  }
  return ~foldSum(acc) & 0xffff;
}
