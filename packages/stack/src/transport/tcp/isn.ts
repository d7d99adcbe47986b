/**
 * Initial sequence numbers per RFC 6528, and ephemeral port selection per
 * RFC 6056 §3.3.4 (Algorithm 4, "double-hash"). NetBSD `tcp_new_iss1()`,
 * `portalgo.c`.
 *
 * RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), where M is a timer ticking every 4 µs and F a keyed hash. The
 * timer keeps ISNs of successive incarnations of one connection increasing
 * (so a SYN can reuse a TIME-WAIT pair, RFC 9293 §3.4.1); the hash keeps
 * them unpredictable from outside, which defeats blind spoofing.
 *
 * F is HMAC-SHA256 from `node:crypto`, truncated to 32 bits. It costs a few
 * microseconds per call (an HMAC object per call); connection setup is
 * nowhere near the data path, so a 1,000-connection test spends a few
 * milliseconds here. A faster keyed hash (SipHash) would need hand-written
 * 64-bit arithmetic for no measurable gain.
 *
 * @packageDocumentation
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Ip6Address } from '../../wire/ip.js';

/**
 * An IP address for hashing: a `number` is an IPv4 address in host order
 * (`0x0a000001` = 10.0.0.1); a `Uint8Array` is the address bytes (4 or 16).
 */
export type HashAddr = number | Uint8Array | Ip6Address;

/** Key length used when none is supplied: 256 bits (RFC 6528 §3 asks for >= 128). */
export const DEFAULT_KEY_BYTES = 32;

/** Ticks of RFC 6528's M per millisecond (one tick per 4 µs). */
export const ISN_TICKS_PER_MS = 250;

/** Largest tuple encoding: two length bytes, two 16-byte addresses, two ports. */
const TUPLE_MAX = 2 + 16 + 16 + 2 + 2;

/** Prefix of the timestamp-offset hash input (ASCII TSof), so it never equals the ISN offset of the same tuple. */
const TS_DOMAIN = Uint8Array.of(0x54, 0x53, 0x6f, 0x66);

/**
 * Writes `len(local), len(remote), local, localPort, remote, remotePort` into
 * `buf` and returns the encoded length. The length prefix keeps a v4 tuple
 * from ever colliding with a v6 one.
 */
function encodeTuple(
  buf: Uint8Array,
  local: HashAddr,
  localPort: number,
  remote: HashAddr | undefined,
  remotePort: number,
): number {
  let o = 0;
  const len = (a: HashAddr | undefined): number =>
    a === undefined ? 0 : typeof a === 'number' ? 4 : a instanceof Ip6Address ? 16 : Math.min(a.length, 16);
  buf[o++] = len(local);
  buf[o++] = len(remote);
  const put = (a: HashAddr | undefined): void => {
    if (a === undefined) return;
    if (typeof a === 'number') {
      buf[o++] = (a >>> 24) & 0xff;
      buf[o++] = (a >>> 16) & 0xff;
      buf[o++] = (a >>> 8) & 0xff;
      buf[o++] = a & 0xff;
    } else if (a instanceof Ip6Address) {
      a.writeTo(buf, o);
      o += 16;
    } else {
      const n = Math.min(a.length, 16);
      buf.set(a.subarray(0, n), o);
      o += n;
    }
  };
  put(local);
  buf[o++] = (localPort >>> 8) & 0xff;
  buf[o++] = localPort & 0xff;
  put(remote);
  buf[o++] = (remotePort >>> 8) & 0xff;
  buf[o++] = remotePort & 0xff;
  return o;
}

/** Options of an {@link IsnGenerator}. */
export interface IsnGeneratorOptions {
  /** Milliseconds on a monotonic scale — pass `clock.now`. */
  now: () => number;
  /** Secret key; default 32 random bytes. The generator keeps a copy. */
  key?: Uint8Array;
}

/**
 * RFC 6528 ISN generator, one per stack.
 *
 * @example
 * ```ts
 * const gen = new IsnGenerator({ now: () => clock.now() });
 * const iss = gen.isn(0x0a000001, 40000, 0x0a000002, 80);
 * ```
 */
export class IsnGenerator {
  private key: Buffer;
  private readonly now: () => number;
  private readonly buf = new Uint8Array(TUPLE_MAX);

  /** @throws RangeError if a supplied key is shorter than 16 bytes. */
  constructor(opts: IsnGeneratorOptions) {
    this.now = opts.now;
    this.key = IsnGenerator.checkKey(opts.key);
  }

  /**
   * The ISN for a connection (RFC 6528 §3): the 4-µs timer M plus the keyed
   * hash F of the 4-tuple, modulo 2^32. Ports are taken modulo 2^16.
   */
  isn(localAddr: HashAddr, localPort: number, remoteAddr: HashAddr, remotePort: number): number {
    return (this.timer() + this.offset(localAddr, localPort, remoteAddr, remotePort)) >>> 0;
  }

  /** F alone: the per-tuple offset, constant for a given key. */
  offset(localAddr: HashAddr, localPort: number, remoteAddr: HashAddr, remotePort: number): number {
    const n = encodeTuple(this.buf, localAddr, localPort & 0xffff, remoteAddr, remotePort & 0xffff);
    return createHmac('sha256', this.key).update(this.buf.subarray(0, n)).digest().readUInt32BE(0);
  }

  /**
   * The timestamp offset of a connection (RFC 7323 §7.1): a keyed hash of
   * the 4-tuple added to the timestamp clock, so TSval reveals neither our
   * uptime nor a clock shared across connections, and is the same for every
   * incarnation of one 4-tuple (TSval keeps increasing across them, which
   * the RFC 6191 TIME-WAIT test relies on). Domain-separated from the ISN's
   * hash (Linux keys the two with different secrets).
   */
  tsOffset(localAddr: HashAddr, localPort: number, remoteAddr: HashAddr, remotePort: number): number {
    const n = encodeTuple(this.buf, localAddr, localPort & 0xffff, remoteAddr, remotePort & 0xffff);
    return createHmac('sha256', this.key).update(TS_DOMAIN).update(this.buf.subarray(0, n)).digest().readUInt32BE(0);
  }

  /** M: the 4-µs timer, modulo 2^32. */
  timer(): number {
    const t = this.now();
    return Number.isFinite(t) ? Math.floor(t * ISN_TICKS_PER_MS) >>> 0 : 0;
  }

  /**
   * Replace the secret. RFC 6528 §3 allows changing it, but ISNs of a tuple
   * then jump arbitrarily, which breaks the "higher ISN" test for TIME-WAIT
   * reuse until the old incarnations are gone: only rekey at boot or after
   * 2*MSL of quiet.
   *
   * @throws RangeError if the key is shorter than 16 bytes.
   */
  rekey(key?: Uint8Array): void {
    this.key = IsnGenerator.checkKey(key);
  }

  private static checkKey(key: Uint8Array | undefined): Buffer {
    if (key === undefined) return randomBytes(DEFAULT_KEY_BYTES);
    if (key.length < 16) throw new RangeError(`IsnGenerator: key of ${key.length} bytes < 16`);
    return Buffer.from(key);
  }
}

/** Options of an {@link EphemeralPortPicker}. */
export interface EphemeralPortOptions {
  /** Lowest port; default 32768 (Linux `ip_local_port_range`). */
  min?: number;
  /** Highest port; default 60999 (Linux). RFC 6056 §3.2 suggests 1024–65535. */
  max?: number;
  /** Secret key; default 32 random bytes. */
  key?: Uint8Array;
  /** Size of Algorithm 4's perturbation table; default 256. */
  tableSize?: number;
}

/**
 * RFC 6056 Algorithm 4 (double-hash port selection): the search for a free
 * port starts at a keyed hash of the destination plus a per-bucket counter,
 * so ports are hard to guess from outside yet successive connections to one
 * destination walk through different ports (reuse of a recent tuple is
 * unlikely).
 *
 * @example
 * ```ts
 * const picker = new EphemeralPortPicker();
 * const port = picker.pick(localIp, remoteIp, 80, (p) => !inUse.has(p));
 * if (port === undefined) return Errno.EADDRNOTAVAIL;
 * ```
 */
export class EphemeralPortPicker {
  /** Lowest port handed out. */
  readonly min: number;
  /** Highest port handed out. */
  readonly max: number;
  private readonly key: Buffer;
  private readonly table: Uint16Array;
  private readonly buf = new Uint8Array(TUPLE_MAX);

  /** @throws RangeError on an empty or out-of-range port range, or a short key. */
  constructor(opts: EphemeralPortOptions = {}) {
    this.min = opts.min ?? 32768;
    this.max = opts.max ?? 60999;
    const { min, max } = this;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
      throw new RangeError(`EphemeralPortPicker: bad range ${this.min}-${this.max}`);
    }
    if (opts.key !== undefined && opts.key.length < 16) throw new RangeError('EphemeralPortPicker: key < 16 bytes');
    this.key = opts.key !== undefined ? Buffer.from(opts.key) : randomBytes(DEFAULT_KEY_BYTES);
    const size = opts.tableSize ?? 256;
    if (!Number.isInteger(size) || size < 1 || size > 65536) {
      throw new RangeError(`EphemeralPortPicker: bad table size ${size}`);
    }
    this.table = new Uint16Array(size);
    // RFC 6056 Algorithm 4: the table starts random.
    const seed = randomBytes(size * 2);
    for (let i = 0; i < size; i++) this.table[i] = seed.readUInt16BE(i * 2);
  }

  /**
   * Choose a port for a connection from `localAddr` to `remoteAddr:remotePort`
   * (pass `undefined` remote values for a bind before connect). Tries each
   * port of the range at most once, asking `isFree`.
   *
   * @returns a port `isFree` accepted, or undefined when none is (the caller
   *   answers EADDRNOTAVAIL).
   */
  pick(
    localAddr: HashAddr,
    remoteAddr: HashAddr | undefined,
    remotePort: number | undefined,
    isFree: (port: number) => boolean,
  ): number | undefined {
    const n = encodeTuple(this.buf, localAddr, 0, remoteAddr, (remotePort ?? 0) & 0xffff);
    const h = createHmac('sha256', this.key).update(this.buf.subarray(0, n)).digest();
    // F and G of the RFC: two independent 32-bit words of one keyed hash.
    const offset = h.readUInt32BE(0);
    const index = h.readUInt32BE(4) % this.table.length;
    const count = this.max - this.min + 1;
    const start = this.table[index]!;
    // Count in plain numbers so that the 16-bit counter wrapping mid-search
    // cannot make the walk skip or repeat ports.
    for (let i = 0; i < count; i++) {
      const port = this.min + ((offset + start + i) % count);
      if (isFree(port)) {
        this.table[index] = (start + i + 1) & 0xffff;
        return port;
      }
    }
    this.table[index] = (start + count) & 0xffff;
    return undefined;
  }
}
