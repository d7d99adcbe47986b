/**
 * UDP headers (RFC 768).
 *
 * ```
 *  0              16             32
 * +--------------+--------------+
 * | source port  |  dest port   |
 * +--------------+--------------+
 * |   length     |   checksum   |
 * +--------------+--------------+
 * ```
 * The checksum covers the IPv4 pseudo-header, the header and the data. A
 * received checksum of 0 means the sender computed none, which IPv4 allows
 * (RFC 768; RFC 1122 4.1.3.4), so it is accepted; a computed 0 is sent as
 * 0xffff. As in NetBSD `udp_input()`, the length field may be shorter than
 * the IP payload (the excess is trimmed) but not longer, nor below 8.
 */

import { pseudoHeaderSum, sum16, foldSum, udpChecksumValue } from './checksum.js';
import { IpProto } from './ipv4.js';
import type { IpAddress } from './ip.js';

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

/** Byte offsets of the UDP header fields. */
export const UdpField = {
  SRC_PORT: 0,
  DST_PORT: 2,
  LENGTH: 4,
  CHECKSUM: 6,
  PAYLOAD: 8,
} as const;

/**
 * Why a UDP datagram was refused (NetBSD `udpstat` names in brackets).
 * - `truncated`: shorter than 8 bytes, or than its length field [hdrops, badlen].
 * - `badLength`: length field below 8 [badlen].
 * - `badChecksum`: non-zero checksum that does not verify [badsum].
 */
export type UdpError = 'truncated' | 'badLength' | 'badChecksum';

/**
 * A view over a UDP datagram in `buf[off .. off + len)` (`len` = the IP
 * payload length). Owns nothing. After {@link UdpPacket.newChecked},
 * `8 <= length field <= len`. The constructor checks nothing and is for
 * emitting.
 */
export class UdpPacket {
  /** Wrap without checking. Throws nothing. */
  constructor(
    readonly buf: Uint8Array,
    readonly off = 0,
    readonly len = buf.length - off,
  ) {}

  /** Validate without building a view: `null` when good, else the error. Allocates nothing. */
  static check(buf: Uint8Array, off = 0, len = buf.length - off): UdpError | null {
    if (off < 0 || len < UDP_HEADER_LEN || off + len > buf.length) return 'truncated';
    const ulen = (buf[off + UdpField.LENGTH] << 8) | buf[off + UdpField.LENGTH + 1];
    if (ulen < UDP_HEADER_LEN) return 'badLength';
    if (ulen > len) return 'truncated';
    return null;
  }

  /** {@link UdpPacket.check}, then wrap: the view, or the error. Never throws. */
  static newChecked(buf: Uint8Array, off = 0, len = buf.length - off): UdpPacket | UdpError {
    const e = UdpPacket.check(buf, off, len);
    return e === null ? new UdpPacket(buf, off, len) : e;
  }

  /** Source port. */
  get srcPort(): number {
    return (this.buf[this.off] << 8) | this.buf[this.off + 1];
  }

  /** Destination port. */
  get dstPort(): number {
    return (this.buf[this.off + UdpField.DST_PORT] << 8) | this.buf[this.off + UdpField.DST_PORT + 1];
  }

  /** Length field: header plus data. */
  get length(): number {
    return (this.buf[this.off + UdpField.LENGTH] << 8) | this.buf[this.off + UdpField.LENGTH + 1];
  }

  /** Checksum field as stored (0 = none). */
  get checksum(): number {
    return (this.buf[this.off + UdpField.CHECKSUM] << 8) | this.buf[this.off + UdpField.CHECKSUM + 1];
  }

  /** Absolute offset of the data in {@link UdpPacket.buf}. */
  get payloadOffset(): number {
    return this.off + UDP_HEADER_LEN;
  }

  /** Data length according to the length field. */
  get payloadLen(): number {
    return this.length - UDP_HEADER_LEN;
  }

  /** The data as a subarray sharing the datagram's bytes (allocates the view object). */
  payload(): Uint8Array {
    return this.buf.subarray(this.off + UDP_HEADER_LEN, this.off + this.length);
  }

  /**
   * Whether the checksum verifies for IPv4 `src`/`dst` over the length the
   * length field gives; a zero checksum field ("none sent") verifies.
   */
  verifyChecksum(src: IpAddress, dst: IpAddress): boolean {
    if (this.checksum === 0) return true;
    const ulen = this.length;
    const s = pseudoHeaderSum(src, dst, IpProto.UDP, ulen) + sum16(this.buf, this.off, ulen);
    return foldSum(s) === 0xffff;
  }

  /** Compute and store the checksum over header and data (length field must be final). */
  fillChecksum(src: IpAddress, dst: IpAddress): void {
    const o = this.off + UdpField.CHECKSUM;
    this.buf[o] = 0;
    this.buf[o + 1] = 0;
    const c = computeUdpChecksum(this.buf, this.off, this.length, src, dst);
    this.buf[o] = c >>> 8;
    this.buf[o + 1] = c;
  }
}

/**
 * The checksum to store for the datagram `buf[off .. off + ulen)` (its
 * checksum field must read 0) from `src` to `dst`: never 0, which would mean
 * "none".
 */
function computeUdpChecksum(buf: Uint8Array, off: number, ulen: number, src: IpAddress, dst: IpAddress): number {
  const s = pseudoHeaderSum(src, dst, IpProto.UDP, ulen) + sum16(buf, off, ulen);
  return udpChecksumValue(~foldSum(s) & 0xffff);
}

/** A parsed UDP header. */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Data length (length field − 8). */
  payloadLen: number;
}

/** Parse, emit and size UDP headers. */
export const UdpRepr = {
  /**
   * Parse a checked datagram carried from IPv4 `src` to `dst`. With
   * `checkChecksum` (the default) a non-zero checksum that fails is
   * `'badChecksum'`; a zero one is accepted. Port 0 is not refused here: the
   * UDP layer decides (and counts) what to do with it.
   */
  parse(p: UdpPacket, src: IpAddress, dst: IpAddress, checkChecksum = true): UdpRepr | UdpError {
    if (checkChecksum && !p.verifyChecksum(src, dst)) return 'badChecksum';
    return { srcPort: p.srcPort, dstPort: p.dstPort, payloadLen: p.payloadLen };
  },

  /** Always 8. */
  headerLen(_r?: UdpRepr): number {
    return UDP_HEADER_LEN;
  },

  /** Header plus data. */
  bufferLen(r: UdpRepr): number {
    return UDP_HEADER_LEN + r.payloadLen;
  },

  /**
   * Write the header into `buf` at `off`. The data must already sit at
   * `off + 8` (built front to back in headroom) when `checksum` is `'fill'`
   * (the default): the checksum is then computed over it with the IPv4
   * pseudo-header of `src`/`dst`. With `'zero'` the field is 0 ("none"), and
   * with `'defer'` it is 0 for the caller to fill later (e.g. with an
   * {@link InetChecksum} over an mbuf chain, then {@link udpChecksumValue}).
   * Returns 8. Throws `RangeError` only when `buf` is too small.
   */
  emit(r: UdpRepr, buf: Uint8Array, off: number, src: IpAddress, dst: IpAddress, checksum: 'fill' | 'zero' | 'defer' = 'fill'): number {
    const ulen = UDP_HEADER_LEN + r.payloadLen;
    buf[off] = r.srcPort >>> 8;
    buf[off + 1] = r.srcPort;
    buf[off + UdpField.DST_PORT] = r.dstPort >>> 8;
    buf[off + UdpField.DST_PORT + 1] = r.dstPort;
    buf[off + UdpField.LENGTH] = ulen >>> 8;
    buf[off + UdpField.LENGTH + 1] = ulen;
    buf[off + UdpField.CHECKSUM] = 0;
    buf[off + UdpField.CHECKSUM + 1] = 0;
    if (checksum === 'fill') {
      const c = computeUdpChecksum(buf, off, ulen, src, dst);
      buf[off + UdpField.CHECKSUM] = c >>> 8;
      buf[off + UdpField.CHECKSUM + 1] = c;
    }
    return UDP_HEADER_LEN;
  },
};
