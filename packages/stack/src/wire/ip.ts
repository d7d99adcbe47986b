/**
 * One address type for both IP families, in the spirit of smoltcp's
 * `IpAddress` (`src/wire/ip.rs`) and gVisor's `tcpip.Address`.
 *
 * - An **IPv4** address stays what the data path has always used: an
 *   unsigned 32-bit `number` (host order). Comparing, masking and hashing it
 *   allocates nothing, and IPv4 code that never meets IPv6 does not change.
 * - An **IPv6** address is an immutable {@link Ip6Address}: four unsigned
 *   32-bit words, most significant first. Made once (a route, a pcb, a
 *   neighbour entry), compared word by word; the IPv6 input path compares
 *   received bytes with {@link ip6EqualsBytes} instead of building one per
 *   packet.
 *
 * {@link IpAddress} is the union; `typeof a === 'number'` tells the family
 * without a property load, so a family switch costs one type check.
 *
 * Text forms are parsed with ipaddr.js (user-typed addresses are where the
 * edge cases live: `::`, embedded IPv4, zone ids) and printed in RFC 5952
 * canonical form.
 *
 * @module
 */
import ipaddr from 'ipaddr.js';
import { ipv4ToString, parseIpv4 } from './address.js';

/** Length of an IPv6 address in bytes. */
export const IPV6_ADDR_LEN = 16;

/**
 * An IPv6 address (RFC 4291): 128 bits as four unsigned 32-bit words, `w0`
 * the most significant (bytes 0..3 on the wire). Immutable; construct with
 * {@link Ip6Address.fromBytes}, {@link Ip6Address.fromWords} or
 * {@link Ip6Address.parse}.
 */
export class Ip6Address {
  /** Bits 0..31 (wire bytes 0..3), unsigned. */
  readonly w0: number;
  /** Bits 32..63, unsigned. */
  readonly w1: number;
  /** Bits 64..95, unsigned. */
  readonly w2: number;
  /** Bits 96..127, unsigned. */
  readonly w3: number;

  private constructor(w0: number, w1: number, w2: number, w3: number) {
    this.w0 = w0 >>> 0;
    this.w1 = w1 >>> 0;
    this.w2 = w2 >>> 0;
    this.w3 = w3 >>> 0;
    Object.freeze(this);
  }

  /** The address from four words, most significant first (each reduced with `>>> 0`). */
  static fromWords(w0: number, w1: number, w2: number, w3: number): Ip6Address {
    return new Ip6Address(w0, w1, w2, w3);
  }

  /**
   * The address in `buf[off .. off + 16)`.
   * @throws RangeError when fewer than 16 bytes are there (callers on the
   *   data path read only through a checked view, where that cannot happen).
   */
  static fromBytes(buf: Uint8Array, off = 0): Ip6Address {
    if (off < 0 || off + IPV6_ADDR_LEN > buf.length) throw new RangeError(`an IPv6 address needs 16 bytes at ${off}`);
    return new Ip6Address(rd32(buf, off), rd32(buf, off + 4), rd32(buf, off + 8), rd32(buf, off + 12));
  }

  /**
   * Parse RFC 4291 section 2.2 text (`"fe80::1"`, `"::ffff:10.0.0.1"`, full
   * form), without a zone id (see {@link parseIp6WithZone}). Never throws.
   * @returns the address, or null when `s` is not an IPv6 address.
   */
  static parse(s: string): Ip6Address | null {
    if (typeof s !== 'string' || s.length < 2 || s.length > 45 || s.includes('%')) return null;
    // An embedded dotted quad (RFC 4291 2.2 form 3) becomes two hex groups
    // first: ipaddr.js reads "::a.b.c.d" as the v4-mapped "::ffff:a.b.c.d",
    // which is a different address.
    const dot = s.indexOf('.');
    if (dot >= 0) {
      const colon = s.lastIndexOf(':');
      if (colon < 0 || colon > dot) return null;
      const v4 = parseIpv4(s.slice(colon + 1));
      if (v4 === null) return null;
      s = `${s.slice(0, colon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
    }
    if (!ipaddr.IPv6.isValid(s)) return null;
    return Ip6Address.fromParts(ipaddr.IPv6.parse(s).parts);
  }

  /** @internal From eight 16-bit groups. */
  static fromParts(p: readonly number[]): Ip6Address {
    return new Ip6Address(
      (p[0] << 16) | p[1],
      (p[2] << 16) | p[3],
      (p[4] << 16) | p[5],
      (p[6] << 16) | p[7],
    );
  }

  /** Write the 16 bytes at `buf[off ..]`. @throws RangeError when they do not fit. */
  writeTo(buf: Uint8Array, off = 0): void {
    if (off < 0 || off + IPV6_ADDR_LEN > buf.length) throw new RangeError(`no room for an IPv6 address at ${off}`);
    wr32(buf, off, this.w0);
    wr32(buf, off + 4, this.w1);
    wr32(buf, off + 8, this.w2);
    wr32(buf, off + 12, this.w3);
  }

  /** A new 16-byte array holding the address. */
  toBytes(): Uint8Array {
    const b = new Uint8Array(IPV6_ADDR_LEN);
    this.writeTo(b, 0);
    return b;
  }

  /** Whether `o` is the same address. */
  equals(o: Ip6Address): boolean {
    return this.w0 === o.w0 && this.w1 === o.w1 && this.w2 === o.w2 && this.w3 === o.w3;
  }

  /** `::`, the unspecified address (RFC 4291 2.5.2). */
  get isUnspecified(): boolean {
    return (this.w0 | this.w1 | this.w2 | this.w3) === 0;
  }

  /** `::1` (RFC 4291 2.5.3). */
  get isLoopback(): boolean {
    return (this.w0 | this.w1 | this.w2) === 0 && this.w3 === 1;
  }

  /** `ff00::/8` (RFC 4291 2.7). */
  get isMulticast(): boolean {
    return this.w0 >>> 24 === 0xff;
  }

  /** Unicast link-local, `fe80::/10` (RFC 4291 2.5.6). */
  get isLinkLocal(): boolean {
    return this.w0 >>> 22 === 0x3fa;
  }

  /** Multicast with link-local scope, `ff02::/16` (and other `ffx2::`). */
  get isMulticastLinkLocal(): boolean {
    return this.w0 >>> 24 === 0xff && ((this.w0 >>> 16) & 0xf) === 2;
  }

  /** An IPv4-mapped address `::ffff:a.b.c.d` (RFC 4291 2.5.5.2). */
  get isV4Mapped(): boolean {
    return this.w0 === 0 && this.w1 === 0 && this.w2 === 0xffff;
  }

  /** The IPv4 address inside a v4-mapped address, else null. */
  get v4(): number | null {
    return this.isV4Mapped ? this.w3 : null;
  }

  /** A 32-bit hash (for tables; collisions are resolved by {@link Ip6Address.equals}). */
  hash(): number {
    let h = Math.imul(this.w0 ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ this.w1 ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ this.w2 ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ this.w3 ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** RFC 5952 canonical text: lower case, longest run of zero groups as `::`, `::ffff:a.b.c.d` for mapped. */
  toString(): string {
    if (this.isV4Mapped) return `::ffff:${ipv4ToString(this.w3)}`;
    const g = [
      this.w0 >>> 16, this.w0 & 0xffff, this.w1 >>> 16, this.w1 & 0xffff,
      this.w2 >>> 16, this.w2 & 0xffff, this.w3 >>> 16, this.w3 & 0xffff,
    ];
    // RFC 5952 4.2: the longest run of two or more zero groups (the first of equals) becomes "::".
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      if (g[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) {
        best = i;
        bestLen = j - i;
      }
      i = j;
    }
    const hex = (a: number, b: number): string => g.slice(a, b).map((x) => x.toString(16)).join(':');
    if (best < 0) return hex(0, 8);
    return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
  }
}

/** `::`. */
export const IP6_ANY: Ip6Address = Ip6Address.fromWords(0, 0, 0, 0);
/** `::1`, the address lo0 carries. */
export const IP6_LOOPBACK: Ip6Address = Ip6Address.fromWords(0, 0, 0, 1);
/** `ff02::1`, all nodes on the link (RFC 4291 2.7.1). */
export const IP6_ALL_NODES: Ip6Address = Ip6Address.fromWords(0xff020000, 0, 0, 1);
/** `ff02::2`, all routers on the link. */
export const IP6_ALL_ROUTERS: Ip6Address = Ip6Address.fromWords(0xff020000, 0, 0, 2);

/**
 * An address of either family: an IPv4 address as an unsigned 32-bit
 * number, or an {@link Ip6Address}.
 */
export type IpAddress = number | Ip6Address;

/** IP version of an address: 4 or 6. */
export function ipVersion(a: IpAddress): 4 | 6 {
  return typeof a === 'number' ? 4 : 6;
}

/** Whether two addresses are equal (different families are never equal; no v4-mapped folding). */
export function ipEquals(a: IpAddress, b: IpAddress): boolean {
  if (typeof a === 'number') return typeof b === 'number' && a >>> 0 === b >>> 0;
  return typeof b !== 'number' && a.equals(b);
}

/** A 32-bit hash of either family (IPv4 addresses hash to themselves). */
export function ipHash(a: IpAddress): number {
  return typeof a === 'number' ? a >>> 0 : a.hash();
}

/** Text of either family: a dotted quad or RFC 5952 text. */
export function ipToString(a: IpAddress): string {
  return typeof a === 'number' ? ipv4ToString(a) : a.toString();
}

/** Whether the address is the family's unspecified address (0.0.0.0 or `::`). */
export function ipIsUnspecified(a: IpAddress): boolean {
  return typeof a === 'number' ? a === 0 : a.isUnspecified;
}

/** Whether the address is a loopback address (127/8 or `::1`). */
export function ipIsLoopback(a: IpAddress): boolean {
  return typeof a === 'number' ? a >>> 24 === 127 : a.isLoopback;
}

/** Whether the address is multicast (224/4 or ff00::/8). */
export function ipIsMulticast(a: IpAddress): boolean {
  return typeof a === 'number' ? a >>> 28 === 0xe : a.isMulticast;
}

/**
 * Parse either family: a strict dotted quad (see `parseIpv4`) or RFC 4291
 * text. Never throws.
 * @returns the address, or null.
 */
export function parseIp(s: string): IpAddress | null {
  if (typeof s !== 'string') return null;
  return s.includes(':') ? Ip6Address.parse(s) : parseIpv4(s);
}

/**
 * Parse IPv6 text with an optional zone (`"fe80::1%tap0"`, RFC 4007 11).
 * Never throws.
 * @returns the address and the zone (`''` when none), or null.
 */
export function parseIp6WithZone(s: string): { addr: Ip6Address; zone: string } | null {
  if (typeof s !== 'string') return null;
  const pct = s.indexOf('%');
  if (pct < 0) {
    const a = Ip6Address.parse(s);
    return a === null ? null : { addr: a, zone: '' };
  }
  const zone = s.slice(pct + 1);
  if (zone.length === 0 || zone.length > 15 || !/^[A-Za-z0-9_.-]+$/.test(zone)) return null;
  const a = Ip6Address.parse(s.slice(0, pct));
  return a === null ? null : { addr: a, zone };
}

/** `::ffff:a.b.c.d` for an IPv4 address (RFC 4291 2.5.5.2), as dual-stack sockets see IPv4 peers. */
export function ip6MapV4(a: number): Ip6Address {
  return Ip6Address.fromWords(0, 0, 0xffff, a);
}

/**
 * Whether the 16 bytes at `buf[off ..]` are the address `a`. Allocates
 * nothing: the IPv6 input path matches destinations with it. Bytes beyond
 * the array read as 0.
 */
export function ip6EqualsBytes(a: Ip6Address, buf: Uint8Array, off: number): boolean {
  return rd32(buf, off) === a.w0 && rd32(buf, off + 4) === a.w1 && rd32(buf, off + 8) === a.w2 && rd32(buf, off + 12) === a.w3;
}

/**
 * A small direct-mapped cache of {@link Ip6Address} objects read from packet
 * bytes, so that a steady stream between the same two addresses builds no
 * address object per packet (IPv6 input hands `Ip6Address`es to the
 * transports). Sharing is safe because an `Ip6Address` is immutable: a
 * transport that keeps one (a pcb, the SYN cache, a neighbour entry) keeps
 * a value, whichever packet it came from. A miss replaces the slot.
 */
export class Ip6AddressCache {
  private readonly slots: (Ip6Address | null)[];
  private readonly mask: number;
  /** Lookups answered from the cache. */
  hits = 0;
  /** Lookups that built a new address. */
  misses = 0;

  /** @param size Slots, a power of two (default 16). @throws RangeError otherwise. */
  constructor(size = 16) {
    if (!Number.isInteger(size) || size < 1 || (size & (size - 1)) !== 0) throw new RangeError(`Ip6AddressCache: size ${size} is not a power of two`);
    this.slots = new Array<Ip6Address | null>(size).fill(null);
    this.mask = size - 1;
  }

  /**
   * The address in `buf[off .. off + 16)`: the cached object when it holds
   * the same address, else a new one (then cached). The caller has checked
   * that the 16 bytes are there.
   */
  fromBytes(buf: Uint8Array, off: number): Ip6Address {
    const w0 = rd32(buf, off);
    const w1 = rd32(buf, off + 4);
    const w2 = rd32(buf, off + 8);
    const w3 = rd32(buf, off + 12);
    const i = (w3 ^ (w3 >>> 8) ^ w1) & this.mask;
    const a = this.slots[i]!;
    if (a !== null && a.w3 === w3 && a.w2 === w2 && a.w1 === w1 && a.w0 === w0) {
      this.hits++;
      return a;
    }
    this.misses++;
    const n = Ip6Address.fromWords(w0, w1, w2, w3);
    this.slots[i] = n;
    return n;
  }
}

function rd32(b: Uint8Array, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
