/**
 * ARP packets (RFC 826) for the one combination this stack speaks: Ethernet
 * hardware addresses resolving IPv4 protocol addresses. Anything else
 * (other hardware or protocol types, other address lengths, RARP or InARP
 * opcodes) is a parse error, which the caller counts and drops.
 *
 * ```
 *  0      2      4    5    6      8         14       18        24       28
 * +------+------+----+----+------+---------+--------+---------+--------+
 * | htype| ptype|hlen|plen| oper | sha (6) | spa (4)| tha (6) | tpa (4)|
 * +------+------+----+----+------+---------+--------+---------+--------+
 * ```
 */

import { MAC_LEN, readIpv4, writeIpv4 } from './address.js';

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
/** ARP hardware type for Ethernet. */
export const ARP_HTYPE_ETHERNET = 1;
/** ARP protocol type for IPv4 (the IPv4 EtherType). */
export const ARP_PTYPE_IPV4 = 0x0800;

/** ARP opcodes this stack understands. */
export const ArpOp = {
  REQUEST: 1,
  REPLY: 2,
} as const;
/** An ARP opcode this stack understands. */
export type ArpOp = (typeof ArpOp)[keyof typeof ArpOp];

/** Byte offsets of the ARP fields (Ethernet/IPv4 layout). */
export const ArpField = {
  HTYPE: 0,
  PTYPE: 2,
  HLEN: 4,
  PLEN: 5,
  OPER: 6,
  SHA: 8,
  SPA: 14,
  THA: 18,
  TPA: 24,
} as const;

/**
 * Why an ARP packet was refused.
 * - `truncated`: shorter than the 8-byte fixed part, or than the 28 bytes its address lengths imply.
 * - `badHardware`: hardware type is not Ethernet or hardware address length is not 6.
 * - `badProtocol`: protocol type is not IPv4 or protocol address length is not 4.
 * - `badOperation`: opcode is neither request (1) nor reply (2).
 */
export type ArpError = 'truncated' | 'badHardware' | 'badProtocol' | 'badOperation';

/**
 * A view over an ARP packet in `buf[off .. off + len)`. Owns nothing. Use
 * {@link ArpPacket.newChecked} for received bytes; the constructor checks
 * nothing and is for emitting.
 */
export class ArpPacket {
  /** Wrap without checking. Throws nothing. */
  constructor(
    readonly buf: Uint8Array,
    readonly off = 0,
    readonly len = buf.length - off,
  ) {}

  /**
   * Validate without building a view: `null` when the packet is a
   * well-formed Ethernet/IPv4 ARP packet of a known opcode, else the error.
   * Trailing bytes (Ethernet padding) are allowed. Allocates nothing.
   */
  static check(buf: Uint8Array, off = 0, len = buf.length - off): ArpError | null {
    if (off < 0 || len < 8 || off + len > buf.length) return 'truncated';
    const b = buf;
    if (((b[off] << 8) | b[off + 1]) !== ARP_HTYPE_ETHERNET || b[off + ArpField.HLEN] !== MAC_LEN) {
      return 'badHardware';
    }
    if (((b[off + 2] << 8) | b[off + 3]) !== ARP_PTYPE_IPV4 || b[off + ArpField.PLEN] !== 4) {
      return 'badProtocol';
    }
    if (len < ARP_LEN) return 'truncated';
    const op = (b[off + ArpField.OPER] << 8) | b[off + ArpField.OPER + 1];
    if (op !== ArpOp.REQUEST && op !== ArpOp.REPLY) return 'badOperation';
    return null;
  }

  /** {@link ArpPacket.check}, then wrap: the view, or the error. Never throws. */
  static newChecked(buf: Uint8Array, off = 0, len = buf.length - off): ArpPacket | ArpError {
    const e = ArpPacket.check(buf, off, len);
    return e === null ? new ArpPacket(buf, off, len) : e;
  }

  /** Opcode (1 request, 2 reply once checked). */
  get operation(): number {
    return (this.buf[this.off + ArpField.OPER] << 8) | this.buf[this.off + ArpField.OPER + 1];
  }

  /** Sender protocol (IPv4) address. */
  get senderIp(): number {
    return readIpv4(this.buf, this.off + ArpField.SPA);
  }

  /** Target protocol (IPv4) address. */
  get targetIp(): number {
    return readIpv4(this.buf, this.off + ArpField.TPA);
  }

  /** Absolute offset of the sender hardware address in {@link ArpPacket.buf} (6 bytes). */
  get senderMacOffset(): number {
    return this.off + ArpField.SHA;
  }

  /** Absolute offset of the target hardware address in {@link ArpPacket.buf} (6 bytes). */
  get targetMacOffset(): number {
    return this.off + ArpField.THA;
  }

  /** Sender hardware address as a subarray sharing the packet's bytes (allocates the view object). */
  senderMac(): Uint8Array {
    return this.buf.subarray(this.off + ArpField.SHA, this.off + ArpField.SHA + MAC_LEN);
  }

  /** Target hardware address as a subarray sharing the packet's bytes (allocates the view object). */
  targetMac(): Uint8Array {
    return this.buf.subarray(this.off + ArpField.THA, this.off + ArpField.THA + MAC_LEN);
  }
}

/** A parsed Ethernet/IPv4 ARP packet. MACs are fresh copies owned by the Repr. */
export interface ArpRepr {
  operation: ArpOp;
  senderMac: Uint8Array;
  senderIp: number;
  targetMac: Uint8Array;
  targetIp: number;
}

/** Parse, emit and size ARP packets. */
export const ArpRepr = {
  /** Parse a checked packet (all checks are in `check`, so this cannot fail). */
  parse(p: ArpPacket): ArpRepr {
    return {
      operation: p.operation as ArpOp,
      senderMac: p.senderMac().slice(),
      senderIp: p.senderIp,
      targetMac: p.targetMac().slice(),
      targetIp: p.targetIp,
    };
  },

  /** Always {@link ARP_LEN}: the Repr has no variable part. */
  bufferLen(_r?: ArpRepr): number {
    return ARP_LEN;
  },

  /**
   * Write the packet into `buf[off .. off + 28)`. Returns 28. Throws
   * `RangeError` only when `buf` is too small (a caller bug).
   */
  emit(r: ArpRepr, buf: Uint8Array, off = 0): number {
    buf[off] = 0;
    buf[off + 1] = ARP_HTYPE_ETHERNET;
    buf[off + 2] = ARP_PTYPE_IPV4 >>> 8;
    buf[off + 3] = ARP_PTYPE_IPV4 & 0xff;
    buf[off + ArpField.HLEN] = MAC_LEN;
    buf[off + ArpField.PLEN] = 4;
    buf[off + ArpField.OPER] = 0;
    buf[off + ArpField.OPER + 1] = r.operation;
    buf.set(r.senderMac.subarray(0, MAC_LEN), off + ArpField.SHA);
    writeIpv4(buf, off + ArpField.SPA, r.senderIp);
    buf.set(r.targetMac.subarray(0, MAC_LEN), off + ArpField.THA);
    writeIpv4(buf, off + ArpField.TPA, r.targetIp);
    return ARP_LEN;
  },
};
