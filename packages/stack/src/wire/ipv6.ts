/**
 * IPv6 fixed headers (RFC 8200 section 3).
 *
 * ```
 *  0       4               12      16              24              32
 * +-------+---------------+-----------------------------------------+
 * |Version| Traffic Class |               Flow Label                |
 * +-------+---------------+-------+---------------+-----------------+
 * |         Payload Length        |  Next Header  |    Hop Limit    |
 * +-------------------------------+---------------+-----------------+
 * |                      Source Address (128 bits)                  |
 * |                   Destination Address (128 bits)                |
 * +-----------------------------------------------------------------+
 * ```
 * The checks mirror NetBSD `ip6_input()`: at least 40 bytes, version 6,
 * and a payload length that fits in the buffer (a frame may be longer:
 * Ethernet padding). A payload length of 0 before a hop-by-hop header
 * announces a Jumbo Payload option (RFC 2675); this stack takes no
 * jumbograms, so that is refused as `jumbo` (a 0-length payload cannot hold
 * a hop-by-hop header anyway).
 *
 * Extension headers are walked by the network layer, not here: the view
 * exposes the fixed header and where the payload starts.
 */

import { Ip6Address } from './ip.js';

/** Length of the IPv6 fixed header. */
export const IPV6_HEADER_LEN = 40;
/** Largest IPv6 payload without a jumbogram (the payload length field is 16 bits). */
export const IPV6_MAX_PAYLOAD_LEN = 65535;
/** Every IPv6 link carries at least this MTU (RFC 8200 5). */
export const IPV6_MIN_MTU = 1280;

/** Next Header values (IANA protocol numbers) that IPv6 names. */
export const Ip6Next = {
  HOPOPTS: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
} as const;

/** Byte offsets of the IPv6 fixed header fields. */
export const Ipv6Field = {
  VER_TC_FLOW: 0,
  PAYLOAD_LEN: 4,
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC: 8,
  DST: 24,
} as const;

/**
 * Why an IPv6 packet was refused (NetBSD `ip6stat` names in brackets).
 * - `truncated`: fewer than 40 bytes, or fewer than 40 + payload length [ip6s_toosmall, ip6s_tooshort].
 * - `badVersion`: version is not 6 [ip6s_badvers].
 * - `jumbo`: payload length 0 before a hop-by-hop header (a jumbogram, RFC 2675, not supported).
 */
export type Ipv6Error = 'truncated' | 'badVersion' | 'jumbo';

/**
 * A view over an IPv6 packet in `buf[off .. off + len)`. Owns nothing. Use
 * {@link Ipv6Packet.newChecked} for received bytes: afterwards
 * `40 + payloadLen <= len` and no accessor reads outside the buffer. The
 * constructor checks nothing and is for emitting.
 */
export class Ipv6Packet {
  /** Wrap without checking. Throws nothing. */
  constructor(
    readonly buf: Uint8Array,
    readonly off = 0,
    readonly len = buf.length - off,
  ) {}

  /** Validate without building a view: `null` when good, else the error. Allocates nothing. */
  static check(buf: Uint8Array, off = 0, len = buf.length - off): Ipv6Error | null {
    if (off < 0 || len < IPV6_HEADER_LEN || off + len > buf.length) return 'truncated';
    if (buf[off] >>> 4 !== 6) return 'badVersion';
    const plen = (buf[off + Ipv6Field.PAYLOAD_LEN] << 8) | buf[off + Ipv6Field.PAYLOAD_LEN + 1];
    if (plen === 0 && buf[off + Ipv6Field.NEXT_HEADER] === Ip6Next.HOPOPTS && len > IPV6_HEADER_LEN) return 'jumbo';
    if (IPV6_HEADER_LEN + plen > len) return 'truncated';
    return null;
  }

  /** {@link Ipv6Packet.check}, then wrap: the view, or the error. Never throws. */
  static newChecked(buf: Uint8Array, off = 0, len = buf.length - off): Ipv6Packet | Ipv6Error {
    const e = Ipv6Packet.check(buf, off, len);
    return e === null ? new Ipv6Packet(buf, off, len) : e;
  }

  /** Version field (6 once checked). */
  get version(): number {
    return this.buf[this.off] >>> 4;
  }

  /** Traffic class (8 bits: DSCP and ECN, RFC 2474 / RFC 3168). */
  get trafficClass(): number {
    return ((this.buf[this.off] & 0x0f) << 4) | (this.buf[this.off + 1] >>> 4);
  }

  /** Flow label (20 bits, RFC 6437). */
  get flowLabel(): number {
    const o = this.off;
    return ((this.buf[o + 1] & 0x0f) << 16) | (this.buf[o + 2] << 8) | this.buf[o + 3];
  }

  /** Payload length: the bytes after the fixed header, extension headers included. */
  get payloadLen(): number {
    const o = this.off + Ipv6Field.PAYLOAD_LEN;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** The first Next Header value ({@link Ip6Next}). */
  get nextHeader(): number {
    return this.buf[this.off + Ipv6Field.NEXT_HEADER];
  }

  /** Hop limit. */
  get hopLimit(): number {
    return this.buf[this.off + Ipv6Field.HOP_LIMIT];
  }

  /** Absolute offset of the source address in {@link Ipv6Packet.buf} (compare in place with `ip6EqualsBytes`). */
  get srcOffset(): number {
    return this.off + Ipv6Field.SRC;
  }

  /** Absolute offset of the destination address. */
  get dstOffset(): number {
    return this.off + Ipv6Field.DST;
  }

  /** Source address (allocates an {@link Ip6Address}). */
  get src(): Ip6Address {
    return Ip6Address.fromBytes(this.buf, this.off + Ipv6Field.SRC);
  }

  /** Destination address (allocates an {@link Ip6Address}). */
  get dst(): Ip6Address {
    return Ip6Address.fromBytes(this.buf, this.off + Ipv6Field.DST);
  }

  /** Absolute offset of the payload (the first extension header or the upper-layer header). */
  get payloadOffset(): number {
    return this.off + IPV6_HEADER_LEN;
  }
}

/** A parsed IPv6 fixed header. */
export interface Ipv6Repr {
  src: Ip6Address;
  dst: Ip6Address;
  /** First Next Header value. */
  nextHeader: number;
  /** Bytes after the fixed header (extension headers + upper layer). */
  payloadLen: number;
  hopLimit: number;
  /** Traffic class (DSCP << 2 | ECN). */
  trafficClass: number;
  /** Flow label (20 bits). */
  flowLabel: number;
}

/** Parse, emit and size IPv6 fixed headers. */
export const Ipv6Repr = {
  /** The parsed form of a checked view. Never throws (a checked view holds 40 bytes). */
  parse(p: Ipv6Packet): Ipv6Repr {
    return {
      src: p.src,
      dst: p.dst,
      nextHeader: p.nextHeader,
      payloadLen: p.payloadLen,
      hopLimit: p.hopLimit,
      trafficClass: p.trafficClass,
      flowLabel: p.flowLabel,
    };
  },

  /** Bytes the fixed header takes: always 40. */
  headerLen(_r?: Ipv6Repr): number {
    return IPV6_HEADER_LEN;
  },

  /** Bytes of the whole packet (header + payload). */
  bufferLen(r: Ipv6Repr): number {
    return IPV6_HEADER_LEN + r.payloadLen;
  },

  /**
   * Write the fixed header at `buf[off .. off + 40)`.
   * @throws RangeError when the header does not fit, the payload length is
   *   outside 0..65535, or a field is out of range.
   */
  emit(r: Ipv6Repr, buf: Uint8Array, off = 0): void {
    if (off < 0 || off + IPV6_HEADER_LEN > buf.length) throw new RangeError(`no room for an IPv6 header at ${off}`);
    if (!(r.payloadLen >= 0 && r.payloadLen <= IPV6_MAX_PAYLOAD_LEN)) throw new RangeError(`IPv6 payload length ${r.payloadLen}`);
    if (!(r.flowLabel >= 0 && r.flowLabel <= 0xfffff)) throw new RangeError(`flow label ${r.flowLabel}`);
    const tc = r.trafficClass & 0xff;
    buf[off] = 0x60 | (tc >>> 4);
    buf[off + 1] = ((tc & 0x0f) << 4) | (r.flowLabel >>> 16);
    buf[off + 2] = (r.flowLabel >>> 8) & 0xff;
    buf[off + 3] = r.flowLabel & 0xff;
    buf[off + 4] = r.payloadLen >>> 8;
    buf[off + 5] = r.payloadLen & 0xff;
    buf[off + 6] = r.nextHeader & 0xff;
    buf[off + 7] = r.hopLimit & 0xff;
    r.src.writeTo(buf, off + Ipv6Field.SRC);
    r.dst.writeTo(buf, off + Ipv6Field.DST);
  },
};

/**
 * Partial sum of the IPv6 pseudo-header that TCP, UDP and ICMPv6 checksums
 * cover (RFC 8200 8.1): source, destination, the 32-bit upper-layer packet
 * length and the next-header value (that of the upper layer, not of the
 * first extension header). Fold and complement as for IPv4.
 */
export function pseudoHeaderSum6(src: Ip6Address, dst: Ip6Address, nextHeader: number, length: number): number {
  return (
    (src.w0 >>> 16) + (src.w0 & 0xffff) + (src.w1 >>> 16) + (src.w1 & 0xffff) +
    (src.w2 >>> 16) + (src.w2 & 0xffff) + (src.w3 >>> 16) + (src.w3 & 0xffff) +
    (dst.w0 >>> 16) + (dst.w0 & 0xffff) + (dst.w1 >>> 16) + (dst.w1 & 0xffff) +
    (dst.w2 >>> 16) + (dst.w2 & 0xffff) + (dst.w3 >>> 16) + (dst.w3 & 0xffff) +
    (length >>> 16) + (length & 0xffff) + (nextHeader & 0xff)
  );
}
