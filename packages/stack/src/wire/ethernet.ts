/**
 * Ethernet II frames (IEEE 802.3 with an EtherType), optionally carrying one
 * IEEE 802.1Q VLAN tag, which is recognised and reported but not acted on.
 *
 * ```
 *  0                   6                  12        14
 * +-------------------+-------------------+---------+---------
 * | destination MAC   | source MAC        | type    | payload
 * +-------------------+-------------------+---------+---------
 * tagged:                                 | 0x8100  | TCI | type | payload
 * ```
 * Frames from real NICs are padded to 60 bytes; the network layer's length
 * field, not the frame length, says where its data ends. We do not require
 * the minimum size, because loopback-style links carry short frames.
 */

import { MAC_LEN, macEquals, macIsMulticast } from './address.js';

/** EtherType of IPv4 (RFC 894). */
export const ETHERTYPE_IPV4 = 0x0800;
/** EtherType of ARP (RFC 826). */
export const ETHERTYPE_ARP = 0x0806;
/** EtherType of an IEEE 802.1Q VLAN tag. */
export const ETHERTYPE_VLAN = 0x8100;
/** EtherType of an IEEE 802.1ad service tag (QinQ outer tag). */
export const ETHERTYPE_QINQ = 0x88a8;
/** EtherType of IPv6 (not spoken by this stack; named for counters and logs). */
export const ETHERTYPE_IPV6 = 0x86dd;

/** Length of an untagged Ethernet II header. */
export const ETHERNET_HEADER_LEN = 14;
/** Length of the 802.1Q tag inserted after the source address. */
export const VLAN_TAG_LEN = 4;

/** Byte offsets of the Ethernet II header fields. */
export const EthernetField = {
  DST: 0,
  SRC: 6,
  ETHERTYPE: 12,
  /** Tag control information (PCP 3 bits, DEI 1, VID 12) of a tagged frame. */
  VLAN_TCI: 14,
  /** The real EtherType of a tagged frame. */
  VLAN_ETHERTYPE: 16,
} as const;

/**
 * Why an Ethernet frame was refused.
 * - `truncated`: shorter than the header (14 bytes, 18 with a VLAN tag).
 * - `notEthernetII`: the type field is an IEEE 802.3 length (< 0x0600), an LLC frame.
 */
export type EthernetError = 'truncated' | 'notEthernetII';

function isTagType(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

/**
 * A view over an Ethernet II frame in `buf[off .. off + len)`. Owns nothing:
 * the bytes stay the caller's, and the view is valid while they are.
 *
 * Build it with {@link EthernetFrame.newChecked} for received bytes (after
 * which no accessor reads out of bounds); the constructor itself checks
 * nothing and is for emitting into a buffer the caller sized with
 * {@link EthernetRepr.bufferLen}.
 */
export class EthernetFrame {
  /**
   * Wrap without checking. `len` defaults to the rest of `buf`. Throws nothing.
   */
  constructor(
    readonly buf: Uint8Array,
    readonly off = 0,
    readonly len = buf.length - off,
  ) {}

  /**
   * Validate `buf[off .. off + len)` as an Ethernet frame without building a
   * view: `null` when good, else the error. Allocates nothing.
   */
  static check(buf: Uint8Array, off = 0, len = buf.length - off): EthernetError | null {
    if (off < 0 || len < ETHERNET_HEADER_LEN || off + len > buf.length) return 'truncated';
    const t = (buf[off + EthernetField.ETHERTYPE] << 8) | buf[off + EthernetField.ETHERTYPE + 1];
    if (isTagType(t)) {
      if (len < ETHERNET_HEADER_LEN + VLAN_TAG_LEN) return 'truncated';
      const inner = (buf[off + EthernetField.VLAN_ETHERTYPE] << 8) | buf[off + EthernetField.VLAN_ETHERTYPE + 1];
      if (inner < 0x0600) return 'notEthernetII';
    } else if (t < 0x0600) {
      return 'notEthernetII';
    }
    return null;
  }

  /** {@link EthernetFrame.check}, then wrap: the view, or the error. Never throws. */
  static newChecked(buf: Uint8Array, off = 0, len = buf.length - off): EthernetFrame | EthernetError {
    const e = EthernetFrame.check(buf, off, len);
    return e === null ? new EthernetFrame(buf, off, len) : e;
  }

  /** The type field right after the source address (0x8100 for a tagged frame). */
  get outerEthertype(): number {
    const o = this.off + EthernetField.ETHERTYPE;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** Whether the frame carries an 802.1Q (or 802.1ad) tag. */
  get isTagged(): boolean {
    return isTagType(this.outerEthertype);
  }

  /** The tag control information of a tagged frame, or -1 when untagged. */
  get vlanTci(): number {
    if (!this.isTagged) return -1;
    const o = this.off + EthernetField.VLAN_TCI;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** The VLAN id (12 bits) of a tagged frame, or -1 when untagged. */
  get vlanId(): number {
    const t = this.vlanTci;
    return t < 0 ? -1 : t & 0x0fff;
  }

  /** The EtherType of the payload, looking through one VLAN tag. */
  get ethertype(): number {
    const outer = this.outerEthertype;
    if (!isTagType(outer)) return outer;
    const o = this.off + EthernetField.VLAN_ETHERTYPE;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  /** Header length: 14, or 18 with a tag. */
  get headerLen(): number {
    return this.isTagged ? ETHERNET_HEADER_LEN + VLAN_TAG_LEN : ETHERNET_HEADER_LEN;
  }

  /** Absolute offset in {@link EthernetFrame.buf} where the payload starts. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }

  /** Payload length (padding included: the frame does not know its payload's real length). */
  get payloadLen(): number {
    return this.len - this.headerLen;
  }

  /** The payload as a subarray sharing the frame's bytes (allocates the view object). */
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOffset, this.off + this.len);
  }

  /** The destination MAC as a subarray sharing the frame's bytes (allocates the view object). */
  dst(): Uint8Array {
    return this.buf.subarray(this.off + EthernetField.DST, this.off + EthernetField.DST + MAC_LEN);
  }

  /** The source MAC as a subarray sharing the frame's bytes (allocates the view object). */
  src(): Uint8Array {
    return this.buf.subarray(this.off + EthernetField.SRC, this.off + EthernetField.SRC + MAC_LEN);
  }

  /** Whether the destination is `mac` (6 bytes). Allocates nothing. */
  dstIs(mac: Uint8Array): boolean {
    return macEquals(this.buf, mac, this.off + EthernetField.DST, 0);
  }

  /** Whether the destination is a group address (multicast or broadcast). */
  get dstIsMulticast(): boolean {
    return macIsMulticast(this.buf, this.off + EthernetField.DST);
  }

  /** Whether the source is a group address, which no real station sends from (a martian). */
  get srcIsMulticast(): boolean {
    return macIsMulticast(this.buf, this.off + EthernetField.SRC);
  }

  /** Write the destination MAC (6 bytes from `mac`). */
  setDst(mac: Uint8Array): void {
    this.buf.set(mac.subarray(0, MAC_LEN), this.off + EthernetField.DST);
  }

  /** Write the source MAC (6 bytes from `mac`). */
  setSrc(mac: Uint8Array): void {
    this.buf.set(mac.subarray(0, MAC_LEN), this.off + EthernetField.SRC);
  }

  /** Write the type field right after the source address. */
  setOuterEthertype(t: number): void {
    const o = this.off + EthernetField.ETHERTYPE;
    this.buf[o] = t >>> 8;
    this.buf[o + 1] = t;
  }
}

/**
 * A parsed Ethernet II header. MACs are fresh 6-byte copies owned by the
 * Repr, so it outlives the frame's buffer.
 */
export interface EthernetRepr {
  dst: Uint8Array;
  src: Uint8Array;
  /** EtherType of the payload (inside the tag when tagged). */
  ethertype: number;
  /** 802.1Q tag control information (PCP, DEI, VID), or `null` when untagged. */
  vlanTci: number | null;
}

/** Parse, emit and size Ethernet II headers. */
export const EthernetRepr = {
  /** Parse a checked frame. Cannot fail once the view is checked (the checks are all in `check`). */
  parse(f: EthernetFrame): EthernetRepr {
    return {
      dst: f.dst().slice(),
      src: f.src().slice(),
      ethertype: f.ethertype,
      vlanTci: f.isTagged ? f.vlanTci : null,
    };
  },

  /** Header length the Repr emits: 14, or 18 with a tag. */
  headerLen(r: EthernetRepr): number {
    return r.vlanTci === null ? ETHERNET_HEADER_LEN : ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
  },

  /** Bytes needed for the header plus `payloadLen` bytes of payload. */
  bufferLen(r: EthernetRepr, payloadLen: number): number {
    return EthernetRepr.headerLen(r) + payloadLen;
  },

  /**
   * Write the header into `buf` at `off` (the caller made room:
   * {@link EthernetRepr.headerLen} bytes). Returns the header length. A
   * tag is always written as 802.1Q (0x8100). Throws `RangeError` only when
   * `buf` is too small, a caller bug (size it with `bufferLen`).
   */
  emit(r: EthernetRepr, buf: Uint8Array, off = 0): number {
    buf.set(r.dst.subarray(0, MAC_LEN), off + EthernetField.DST);
    buf.set(r.src.subarray(0, MAC_LEN), off + EthernetField.SRC);
    let o = off + EthernetField.ETHERTYPE;
    if (r.vlanTci !== null) {
      buf[o] = ETHERTYPE_VLAN >>> 8;
      buf[o + 1] = ETHERTYPE_VLAN & 0xff;
      buf[o + 2] = r.vlanTci >>> 8;
      buf[o + 3] = r.vlanTci;
      o += VLAN_TAG_LEN;
    }
    buf[o] = r.ethertype >>> 8;
    buf[o + 1] = r.ethertype;
    return o + 2 - off;
  },
};
