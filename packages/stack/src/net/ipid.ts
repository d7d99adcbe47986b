/**
 * IPv4 Identification values (RFC 791, RFC 6864).
 *
 * The ID only has to be unique per (source, destination, protocol) for as
 * long as fragments of a datagram may be in flight (RFC 6864 section 4.1).
 * A single global counter satisfies that but leaks our traffic rate to any
 * peer and enables idle scans; a fully random ID (NetBSD `ip_randomid`)
 * repeats too early under load. We do what Linux does (`ip_idents_reserve`):
 * 2048 counters, a destination picks one by a keyed hash, and each counter
 * starts at a random value. Consecutive datagrams to one destination get
 * consecutive IDs (unique for 65536 datagrams); different destinations
 * cannot observe each other's counters.
 *
 * @module
 */

const BUCKETS = 2048;
const SHIFT = 32 - 11; // log2(BUCKETS) = 11

/** Per-destination hashed IP ID counters. */
export class IpIdGenerator {
  private readonly counters = new Uint16Array(BUCKETS);
  private readonly key: number;

  /** @param random source of random 32-bit words (the platform's crypto by default). */
  constructor(random: () => number = cryptoU32) {
    for (let i = 0; i < BUCKETS; i++) this.counters[i] = random() & 0xffff;
    // A signed 32-bit key: always a Smi, so a key of 2^31 or more in some
    // stack cannot turn the field into a heap number and deoptimize every
    // caller of next() (the XOR below reads the same 32 bits).
    this.key = random() | 0;
  }

  /** The next ID for a datagram to `dst` (0..65535). Allocates nothing. */
  next(dst: number): number {
    const h = Math.imul((dst ^ this.key) >>> 0, 0x9e3779b1) >>> SHIFT;
    const id = this.counters[h]!;
    this.counters[h] = id + 1; // Uint16Array wraps at 65536
    return id;
  }
}

function cryptoU32(): number {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
}
