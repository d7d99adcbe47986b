/**
 * IPv4 headers (RFC 791).
 *
 * ```
 *  0       4       8              16    19                       32
 * +-------+-------+---------------+-------------------------------+
 * |Version|  IHL  |  DSCP   | ECN |         Total Length          |
 * +-------+-------+---------------+-----+-------------------------+
 * |        Identification         |Flags|    Fragment Offset      |
 * +---------------+---------------+-----+-------------------------+
 * |      TTL      |   Protocol    |        Header Checksum        |
 * +---------------+---------------+-------------------------------+
 * |                        Source Address                         |
 * |                      Destination Address                      |
 * |                Options (IHL > 5)  ...  padding                |
 * +---------------------------------------------------------------+
 * ```
 * The checks mirror NetBSD `ip_input()`: header no shorter than 20 bytes,
 * version 4, IHL at least 5 and inside the buffer, total length at least the
 * header and not beyond the buffer (a frame may be longer: Ethernet padding).
 */

import { readIpv4, writeIpv4 } from './address.js';
import { internetChecksum, verifyChecksum } from './checksum.js';

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LEN = 20;
/** Largest IPv4 header: IHL 15. */
export const IPV4_MAX_HEADER_LEN = 60;
/** Largest IPv4 datagram (the total length field is 16 bits). */
export const IPV4_MAX_PACKET_LEN = 65535;

/** IP protocol numbers this stack names (IANA "Assigned Internet Protocol Numbers"). */
export const IpProto = {
  ICMP: 1,
  TCP: 6,
  UDP: 17,
} as const;

/** Byte offsets of the IPv4 header fields. */
export const Ipv4Field = {
  VER_IHL: 0,
  DSCP_ECN: 1,
  LENGTH: 2,
  IDENT: 4,
  FLG_OFF: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
  OPTIONS: 20,
} as const;

/** Flag bits of the flags/fragment-offset word. */
export const Ipv4Flag = {
  /** Reserved, must be zero (RFC 791). */
  RESERVED: 0x8000,
  /** Don't Fragment. */
  DF: 0x4000,
  /** More Fragments. */
  MF: 0x2000,
} as const;

/** Mask of the fragment offset (in 8-byte units) in the flags/offset word. */
const FRAG_OFFSET_MASK = 0x1fff;

/**
 * Why an IPv4 packet was refused (NetBSD `ipstat` names in brackets).
 * - `truncated`: the buffer is shorter than 20 bytes, than the IHL, or than the total length [toosmall, tooshort].
 * - `badVersion`: version is not 4 [badvers].
 * - `badIhl`: IHL below 5 [badhlen].
 * - `badLength`: total length below the header length [badlen].
 * - `badChecksum`: the header checksum does not verify [badsum] (from {@link Ipv4Repr.parse}).
 */
export type Ipv4Error = 'truncated' | 'badVersion' | 'badIhl' | 'badLength' | 'badChecksum';

/**
 * A view over an IPv4 packet in `buf[off .. off + len)`. Owns nothing. Use
 * {@link Ipv4Packet.newChecked} for received bytes: afterwards
 * `headerLen <= totalLen <= len`, and no accessor reads outside the buffer.
 * The constructor checks nothing and is for emitting.
 */
export class Ipv4Packet {
  /** Wrap without checking. Throws nothing. */
  constructor(
    readonly buf: Uint8Array,
    readonly off = 0,
    readonly len = buf.length - off,
  ) {}

  /** Validate without building a view: `null` when good, else the error. Allocates nothing. */
  static check(buf: Uint8Array, off = 0, len = buf.length - off): Ipv4Error | null {
    if (off < 0 || len < IPV4_HEADER_LEN || off + len > buf.length) return 'truncated';
    const vi = buf[off];
    if (vi >>> 4 !== 4) return 'badVersion';
    const hlen = (vi & 15) << 2;
    if (hlen < IPV4_HEADER_LEN) return 'badIhl';
    if (hlen > len) return 'truncated';
    const total = (buf[off + Ipv4Field.LENGTH] << 8) | buf[off + Ipv4Field.LENGTH + 1];
    if (total < hlen) return 'badLength';
    if (total > len) return 'truncated';
    return null;
  }

  /** {@link Ipv4Packet.check}, then wrap: the view, or the error. Never throws. */
  static newChecked(buf: Uint8Array, off = 0, len = buf.length - off): Ipv4Packet | Ipv4Error {
    const e = Ipv4Packet.check(buf, off, len);
    return e === null ? new Ipv4Packet(buf, off, len) : e;
  }

  /** Version field (4 once checked). */
  get version(): number {
    return this.buf[this.off] >>> 4;
  }

  /** Header length in bytes (IHL × 4). */
  get headerLen(): number {
    return (this.buf[this.off] & 15) << 2;
  }

  /** Differentiated services code point (6 bits, RFC 2474). */
  get dscp(): number {
    return this.buf[this.off + Ipv4Field.DSCP_ECN] >>> 2;
  }

  /** Explicit congestion notification (2 bits, RFC 3168). */
  get ecn(): number {
    return this.buf[this.off + Ipv4Field.DSCP_ECN] & 3;
  }

  /** Total length of the datagram (header + payload). */
  get totalLen(): number {
    const o = this.off + Ipv4Field.LENGTH;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** Identification. */
  get ident(): number {
    const o = this.off + Ipv4Field.IDENT;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  private get flagsOffset(): number {
    const o = this.off + Ipv4Field.FLG_OFF;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** Don't Fragment flag. */
  get dontFrag(): boolean {
    return (this.flagsOffset & Ipv4Flag.DF) !== 0;
  }

  /** More Fragments flag. */
  get moreFrags(): boolean {
    return (this.flagsOffset & Ipv4Flag.MF) !== 0;
  }

  /** Fragment offset in bytes (the field × 8). */
  get fragOffset(): number {
    return (this.flagsOffset & FRAG_OFFSET_MASK) << 3;
  }

  /** Whether this datagram is a fragment (MF set or a non-zero offset). */
  get isFragment(): boolean {
    return (this.flagsOffset & (Ipv4Flag.MF | FRAG_OFFSET_MASK)) !== 0;
  }

  /** Time to live. */
  get ttl(): number {
    return this.buf[this.off + Ipv4Field.TTL];
  }

  /** Protocol of the payload ({@link IpProto}). */
  get protocol(): number {
    return this.buf[this.off + Ipv4Field.PROTOCOL];
  }

  /** Header checksum field as stored. */
  get checksum(): number {
    const o = this.off + Ipv4Field.CHECKSUM;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** Source address (unsigned 32-bit). */
  get src(): number {
    return readIpv4(this.buf, this.off + Ipv4Field.SRC);
  }

  /** Destination address (unsigned 32-bit). */
  get dst(): number {
    return readIpv4(this.buf, this.off + Ipv4Field.DST);
  }

  /** Absolute offset of the options in {@link Ipv4Packet.buf}. */
  get optionsOffset(): number {
    return this.off + Ipv4Field.OPTIONS;
  }

  /** Length of the options in bytes (header length − 20). */
  get optionsLen(): number {
    return this.headerLen - IPV4_HEADER_LEN;
  }

  /** Absolute offset of the payload in {@link Ipv4Packet.buf}. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }

  /** Payload length according to the header (total length − header length). */
  get payloadLen(): number {
    return this.totalLen - this.headerLen;
  }

  /** The payload as a subarray sharing the packet's bytes (allocates the view object). */
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOffset, this.off + this.totalLen);
  }

  /** Whether the header checksum verifies. */
  verifyChecksum(): boolean {
    return verifyChecksum(this.buf, this.off, this.headerLen);
  }

  /** Recompute and store the header checksum (after the other fields are final). */
  fillChecksum(): void {
    const o = this.off + Ipv4Field.CHECKSUM;
    this.buf[o] = 0;
    this.buf[o + 1] = 0;
    const c = internetChecksum(this.buf, this.off, this.headerLen);
    this.buf[o] = c >>> 8;
    this.buf[o + 1] = c;
  }

  /** Store the total length field (e.g. when trimming or fragmenting). Does not refresh the checksum. */
  setTotalLen(n: number): void {
    const o = this.off + Ipv4Field.LENGTH;
    this.buf[o] = n >>> 8;
    this.buf[o + 1] = n;
  }

  /**
   * Store flags and fragment offset (bytes; must be a multiple of 8, as
   * RFC 791 fragments are). Does not refresh the checksum.
   */
  setFragment(dontFrag: boolean, moreFrags: boolean, fragOffset: number): void {
    const w = (dontFrag ? Ipv4Flag.DF : 0) | (moreFrags ? Ipv4Flag.MF : 0) | ((fragOffset >>> 3) & FRAG_OFFSET_MASK);
    const o = this.off + Ipv4Field.FLG_OFF;
    this.buf[o] = w >>> 8;
    this.buf[o + 1] = w;
  }
}

/**
 * A parsed IPv4 header. `options` is a fresh copy of the option bytes
 * (padding included), or `null` when IHL is 5.
 */
export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  dscp: number;
  ecn: number;
  ident: number;
  dontFrag: boolean;
  moreFrags: boolean;
  /** Fragment offset in bytes (multiple of 8). */
  fragOffset: number;
  /** Payload length (total length − header length). */
  payloadLen: number;
  options: Uint8Array | null;
}

/** Parse, emit and size IPv4 headers. */
export const Ipv4Repr = {
  /**
   * Parse a checked packet; with `checkChecksum` (the default) a bad header
   * checksum is `'badChecksum'`. Options are copied, not interpreted (a host
   * may ignore the ones it does not implement, RFC 1122 3.2.1.8).
   */
  parse(p: Ipv4Packet, checkChecksum = true): Ipv4Repr | Ipv4Error {
    if (checkChecksum && !p.verifyChecksum()) return 'badChecksum';
    const optLen = p.optionsLen;
    return {
      src: p.src,
      dst: p.dst,
      protocol: p.protocol,
      ttl: p.ttl,
      dscp: p.dscp,
      ecn: p.ecn,
      ident: p.ident,
      dontFrag: p.dontFrag,
      moreFrags: p.moreFrags,
      fragOffset: p.fragOffset,
      payloadLen: p.payloadLen,
      options: optLen === 0 ? null : p.buf.slice(p.optionsOffset, p.optionsOffset + optLen),
    };
  },

  /** Header length the Repr emits: 20 plus the options rounded up to 4, at most 60. */
  headerLen(r: Ipv4Repr): number {
    const n = r.options === null ? 0 : Math.min(r.options.length, IPV4_MAX_HEADER_LEN - IPV4_HEADER_LEN);
    return IPV4_HEADER_LEN + ((n + 3) & ~3);
  },

  /** Bytes for header plus payload (the total length field). */
  bufferLen(r: Ipv4Repr): number {
    return Ipv4Repr.headerLen(r) + r.payloadLen;
  },

  /**
   * Write the header into `buf` at `off` (the payload, if any, goes after
   * it, at `off + headerLen`). Options longer than 40 bytes are cut at 40;
   * shorter ones are padded with End-of-Option-List zeros. With `fillChecksum`
   * (the default) the header checksum is computed. Returns the header
   * length. Throws `RangeError` only when `buf` is too small (a caller bug).
   */
  emit(r: Ipv4Repr, buf: Uint8Array, off = 0, fillChecksum = true): number {
    const hlen = Ipv4Repr.headerLen(r);
    const total = hlen + r.payloadLen;
    buf[off] = 0x40 | (hlen >>> 2);
    buf[off + Ipv4Field.DSCP_ECN] = ((r.dscp & 0x3f) << 2) | (r.ecn & 3);
    buf[off + Ipv4Field.LENGTH] = total >>> 8;
    buf[off + Ipv4Field.LENGTH + 1] = total;
    buf[off + Ipv4Field.IDENT] = r.ident >>> 8;
    buf[off + Ipv4Field.IDENT + 1] = r.ident;
    const w = (r.dontFrag ? Ipv4Flag.DF : 0) | (r.moreFrags ? Ipv4Flag.MF : 0) | ((r.fragOffset >>> 3) & FRAG_OFFSET_MASK);
    buf[off + Ipv4Field.FLG_OFF] = w >>> 8;
    buf[off + Ipv4Field.FLG_OFF + 1] = w;
    buf[off + Ipv4Field.TTL] = r.ttl;
    buf[off + Ipv4Field.PROTOCOL] = r.protocol;
    buf[off + Ipv4Field.CHECKSUM] = 0;
    buf[off + Ipv4Field.CHECKSUM + 1] = 0;
    writeIpv4(buf, off + Ipv4Field.SRC, r.src);
    writeIpv4(buf, off + Ipv4Field.DST, r.dst);
    if (hlen > IPV4_HEADER_LEN) {
      const opts = r.options as Uint8Array;
      const n = Math.min(opts.length, hlen - IPV4_HEADER_LEN);
      buf.set(opts.subarray(0, n), off + IPV4_HEADER_LEN);
      buf.fill(0, off + IPV4_HEADER_LEN + n, off + hlen);
    }
    if (fillChecksum) {
      const c = internetChecksum(buf, off, hlen);
      buf[off + Ipv4Field.CHECKSUM] = c >>> 8;
      buf[off + Ipv4Field.CHECKSUM + 1] = c;
    }
    return hlen;
  },
};
