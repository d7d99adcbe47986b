/**
 * ICMP messages for IPv4 (RFC 792), the parts a host needs: echo request and
 * reply; destination unreachable (with RFC 1191's next-hop MTU for
 * "fragmentation needed"); time exceeded; parameter problem; redirect and
 * source quench (parsed so they can be counted; RFC 6633 deprecates the
 * latter).
 *
 * ```
 *  0        8       16                31
 * +--------+--------+-----------------+
 * |  type  |  code  |    checksum     |
 * +--------+--------+-----------------+
 * |   rest of header (meaning by type) |  echo: ident, seq; unreach code 4: unused, MTU;
 * +-----------------------------------+  param problem: pointer; redirect: gateway
 * |  data: echo payload, or the original datagram's IP header + at least 8 bytes
 * ```
 * The checksum covers the whole ICMP message, so the view's length must be
 * the IP payload length exactly.
 */

import { readIpv4 } from './address.js';
import { readU32, writeU32 } from './bytes.js';
import { internetChecksum, verifyChecksum } from './checksum.js';
import { IPV4_HEADER_LEN } from './ipv4.js';

/** Length of the ICMP header (type, code, checksum, rest of header). */
export const ICMP_HEADER_LEN = 8;
/** Shortest original-datagram quote an error may carry: IP header + 64 bits (RFC 792). */
export const ICMP_QUOTE_MIN = IPV4_HEADER_LEN + 8;
/** Most of the original datagram an error we send quotes, so the whole error fits in 576 bytes (RFC 1812 4.3.2.3). */
export const ICMP_QUOTE_MAX = 576 - IPV4_HEADER_LEN - ICMP_HEADER_LEN;

/** ICMP message types this stack knows. */
export const IcmpType = {
  ECHO_REPLY: 0,
  DEST_UNREACH: 3,
  SOURCE_QUENCH: 4,
  REDIRECT: 5,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAM_PROBLEM: 12,
} as const;

/** Codes of destination unreachable (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1). */
export const UnreachCode = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  /** Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191). */
  FRAG_NEEDED: 4,
  SRC_ROUTE_FAILED: 5,
  NET_UNKNOWN: 6,
  HOST_UNKNOWN: 7,
  SRC_HOST_ISOLATED: 8,
  NET_PROHIBITED: 9,
  HOST_PROHIBITED: 10,
  NET_TOS: 11,
  HOST_TOS: 12,
  ADMIN_PROHIBITED: 13,
  HOST_PRECEDENCE: 14,
  PRECEDENCE_CUTOFF: 15,
} as const;

/** Codes of time exceeded. */
export const TimeExceededCode = {
  /** TTL reached zero in transit. */
  TTL: 0,
  /** Fragment reassembly time exceeded. */
  REASSEMBLY: 1,
} as const;

/** Byte offsets of the ICMP fields. */
export const IcmpField = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  /** Echo identifier; the pointer (1 byte) of a parameter problem; the gateway (4 bytes) of a redirect. */
  IDENT: 4,
  /** Echo sequence number; the next-hop MTU of fragmentation needed. */
  SEQ: 6,
  DATA: 8,
} as const;

/**
 * Why an ICMP message was refused.
 * - `truncated`: shorter than the 8-byte header.
 * - `badChecksum`: the checksum does not verify.
 * - `unknownType`: a type this stack does not handle (silently discarded, RFC 1122 3.2.2).
 * - `badOriginal`: an error message whose quoted datagram is not an IPv4 header plus at least 8 bytes.
 */
export type IcmpError = 'truncated' | 'badChecksum' | 'unknownType' | 'badOriginal';

/** Whether `type` is an error message that quotes an original datagram. */
export function icmpIsError(type: number): boolean {
  return (
    type === IcmpType.DEST_UNREACH ||
    type === IcmpType.TIME_EXCEEDED ||
    type === IcmpType.PARAM_PROBLEM ||
    type === IcmpType.SOURCE_QUENCH ||
    type === IcmpType.REDIRECT
  );
}

function isKnownType(type: number): boolean {
  return type === IcmpType.ECHO_REPLY || type === IcmpType.ECHO_REQUEST || icmpIsError(type);
}

/**
 * A view over an ICMP message in `buf[off .. off + len)` (`len` = the IP
 * payload length). Owns nothing. Use {@link IcmpPacket.newChecked} for
 * received bytes; the constructor checks nothing and is for emitting.
 */
export class IcmpPacket {
  /** Wrap without checking. Throws nothing. */
  constructor(
    readonly buf: Uint8Array,
    readonly off = 0,
    readonly len = buf.length - off,
  ) {}

  /** Validate without building a view: `null` when at least the header is there. Allocates nothing. */
  static check(buf: Uint8Array, off = 0, len = buf.length - off): IcmpError | null {
    if (off < 0 || len < ICMP_HEADER_LEN || off + len > buf.length) return 'truncated';
    return null;
  }

  /** {@link IcmpPacket.check}, then wrap: the view, or the error. Never throws. */
  static newChecked(buf: Uint8Array, off = 0, len = buf.length - off): IcmpPacket | IcmpError {
    const e = IcmpPacket.check(buf, off, len);
    return e === null ? new IcmpPacket(buf, off, len) : e;
  }

  /** Message type ({@link IcmpType}). */
  get type(): number {
    return this.buf[this.off + IcmpField.TYPE];
  }

  /** Message code. */
  get code(): number {
    return this.buf[this.off + IcmpField.CODE];
  }

  /** Checksum field as stored. */
  get checksum(): number {
    const o = this.off + IcmpField.CHECKSUM;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** Echo identifier (bytes 4-5). */
  get ident(): number {
    const o = this.off + IcmpField.IDENT;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** Echo sequence number (bytes 6-7). */
  get seqNo(): number {
    const o = this.off + IcmpField.SEQ;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** Next-hop MTU of "fragmentation needed" (bytes 6-7, RFC 1191; 0 from pre-1191 routers). */
  get nextHopMtu(): number {
    return this.seqNo;
  }

  /** Pointer to the offending octet of a parameter problem (byte 4). */
  get pointer(): number {
    return this.buf[this.off + IcmpField.IDENT];
  }

  /** Gateway address of a redirect (bytes 4-7). */
  get gateway(): number {
    return readIpv4(this.buf, this.off + IcmpField.IDENT);
  }

  /** Absolute offset of the data (echo payload or quoted datagram) in {@link IcmpPacket.buf}. */
  get dataOffset(): number {
    return this.off + ICMP_HEADER_LEN;
  }

  /** Length of the data. */
  get dataLen(): number {
    return this.len - ICMP_HEADER_LEN;
  }

  /** The data as a subarray sharing the message's bytes (allocates the view object). */
  data(): Uint8Array {
    return this.buf.subarray(this.off + ICMP_HEADER_LEN, this.off + this.len);
  }

  /** Whether the checksum over the whole message verifies. */
  verifyChecksum(): boolean {
    return verifyChecksum(this.buf, this.off, this.len);
  }

  /** Recompute and store the checksum over the whole message. */
  fillChecksum(): void {
    const o = this.off + IcmpField.CHECKSUM;
    this.buf[o] = 0;
    this.buf[o + 1] = 0;
    const c = internetChecksum(this.buf, this.off, this.len);
    this.buf[o] = c >>> 8;
    this.buf[o + 1] = c;
  }
}

/**
 * A parsed ICMP message, flat: the fields that do not apply to `type` are 0.
 * `data` is a subarray SHARING the packet's bytes (no copy: an echo reply
 * copies it once into the outgoing packet); it is valid while they are.
 */
export interface IcmpRepr {
  type: number;
  code: number;
  /** Echo identifier. */
  ident: number;
  /** Echo sequence number. */
  seqNo: number;
  /** Next-hop MTU (destination unreachable, code 4). */
  mtu: number;
  /** Parameter problem pointer. */
  pointer: number;
  /** Redirect gateway. */
  gateway: number;
  /** Echo payload, or the quoted original datagram of an error. */
  data: Uint8Array;
}

/** Parse, emit and size ICMP messages. */
export const IcmpRepr = {
  /**
   * Parse a checked message. With `checkChecksum` (the default) a bad
   * checksum is `'badChecksum'`. Error messages must quote at least an IPv4
   * header and 8 more bytes ({@link parseIcmpQuote}), else `'badOriginal'`.
   */
  parse(p: IcmpPacket, checkChecksum = true): IcmpRepr | IcmpError {
    const type = p.type;
    if (!isKnownType(type)) return 'unknownType';
    if (checkChecksum && !p.verifyChecksum()) return 'badChecksum';
    const data = p.data();
    const isEcho = type === IcmpType.ECHO_REQUEST || type === IcmpType.ECHO_REPLY;
    if (!isEcho && !quoteIsValid(data)) return 'badOriginal';
    const code = p.code;
    return {
      type,
      code,
      ident: isEcho ? p.ident : 0,
      seqNo: isEcho ? p.seqNo : 0,
      mtu: type === IcmpType.DEST_UNREACH && code === UnreachCode.FRAG_NEEDED ? p.nextHopMtu : 0,
      pointer: type === IcmpType.PARAM_PROBLEM ? p.pointer : 0,
      gateway: type === IcmpType.REDIRECT ? p.gateway : 0,
      data,
    };
  },

  /** Bytes the message takes: header plus data. */
  bufferLen(r: IcmpRepr): number {
    return ICMP_HEADER_LEN + r.data.length;
  },

  /**
   * Write the message (header and data) into `buf` at `off` and fill the
   * checksum. If `r.data` already sits at `off + 8` of the same buffer (built
   * in place) it is not copied. Returns the message length. Throws
   * `RangeError` only when `buf` is too small (a caller bug).
   */
  emit(r: IcmpRepr, buf: Uint8Array, off = 0): number {
    const len = ICMP_HEADER_LEN + r.data.length;
    buf[off + IcmpField.TYPE] = r.type;
    buf[off + IcmpField.CODE] = r.code;
    buf[off + IcmpField.CHECKSUM] = 0;
    buf[off + IcmpField.CHECKSUM + 1] = 0;
    let rest = 0;
    switch (r.type) {
      case IcmpType.ECHO_REQUEST:
      case IcmpType.ECHO_REPLY:
        rest = ((r.ident & 0xffff) << 16) | (r.seqNo & 0xffff);
        break;
      case IcmpType.DEST_UNREACH:
        rest = r.code === UnreachCode.FRAG_NEEDED ? r.mtu & 0xffff : 0;
        break;
      case IcmpType.PARAM_PROBLEM:
        rest = (r.pointer & 0xff) << 24;
        break;
      case IcmpType.REDIRECT:
        rest = r.gateway;
        break;
      default:
        rest = 0;
    }
    writeU32(buf, off + IcmpField.IDENT, rest);
    const dOff = off + ICMP_HEADER_LEN;
    if (r.data.buffer !== buf.buffer || r.data.byteOffset !== buf.byteOffset + dOff) buf.set(r.data, dOff);
    const c = internetChecksum(buf, off, len);
    buf[off + IcmpField.CHECKSUM] = c >>> 8;
    buf[off + IcmpField.CHECKSUM + 1] = c;
    return len;
  },
};

/**
 * The part of an offending datagram an ICMP error quotes, parsed enough to
 * find the socket it concerns (NetBSD `icmp_input` → `pr_ctlinput`).
 * `srcPort`/`dstPort` are the first four transport bytes (meaningful for
 * UDP and TCP); `seq` is bytes 4-7 (the TCP sequence number).
 */
export interface IcmpQuote {
  src: number;
  dst: number;
  protocol: number;
  /** Header length of the quoted IPv4 header. */
  headerLen: number;
  /** Total length the quoted header claims (the quote itself is usually shorter). */
  totalLen: number;
  srcPort: number;
  dstPort: number;
  seq: number;
}

/** Whether `data` holds an IPv4 header (version 4, IHL ≥ 5) and 8 more bytes. Allocates nothing. */
function quoteIsValid(data: Uint8Array): boolean {
  if (data.length < ICMP_QUOTE_MIN) return false;
  const vi = data[0];
  const hlen = (vi & 15) << 2;
  return vi >>> 4 === 4 && hlen >= IPV4_HEADER_LEN && data.length >= hlen + 8;
}

/**
 * Parse the quoted original datagram of an ICMP error (`data` of an
 * {@link IcmpRepr}): an IPv4 header (version 4, IHL ≥ 5) followed by at
 * least 8 bytes. The quote is truncated by design, so this does not apply
 * {@link Ipv4Packet} checks on total length. Never throws.
 */
export function parseIcmpQuote(data: Uint8Array): IcmpQuote | 'badOriginal' {
  if (!quoteIsValid(data)) return 'badOriginal';
  const hlen = (data[0] & 15) << 2;
  return {
    src: readIpv4(data, 12),
    dst: readIpv4(data, 16),
    protocol: data[9],
    headerLen: hlen,
    totalLen: (data[2] << 8) | data[3],
    srcPort: (data[hlen] << 8) | data[hlen + 1],
    dstPort: (data[hlen + 2] << 8) | data[hlen + 3],
    seq: readU32(data, hlen + 4),
  };
}

/**
 * How many bytes of an offending datagram of `totalLen` bytes an error we
 * send should quote: all of it up to {@link ICMP_QUOTE_MAX} (RFC 1812
 * 4.3.2.3; RFC 1122 3.2.2 asks for at least header + 8 bytes).
 */
export function icmpQuoteLen(totalLen: number): number {
  return totalLen < ICMP_QUOTE_MAX ? totalLen : ICMP_QUOTE_MAX;
}
