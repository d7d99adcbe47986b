/**
 * TCP headers and options (RFC 9293 3.1; options from RFC 9293 3.2, RFC 7323
 * window scale and timestamps, RFC 2018 SACK).
 *
 * ```
 *  0              16              32
 * +---------------+---------------+
 * | source port   | dest port     |
 * +---------------+---------------+
 * |        sequence number        |
 * |     acknowledgment number     |
 * +----+---+------+---------------+
 * |doff|rsv|flags | window        |   flags: CWR ECE URG ACK PSH RST SYN FIN
 * +----+---+------+---------------+
 * | checksum      | urgent pointer|
 * +---------------+---------------+
 * | options (doff > 5) ...        |
 * ```
 * Options are walked strictly by default, like smoltcp: a length byte below
 * 2 or running past the header, or a known option with the wrong length,
 * makes the segment `'badOption'`. TCP input parses with `'lenient'`
 * instead, as BSD's `tcp_dooptions` and Linux's `tcp_parse_options` do: a
 * bad length byte ends the walk, a known option of the wrong length is
 * skipped, and the segment is processed with the options read so far
 * ({@link TcpRepr.optionsMalformed} says so, for the counter). Unknown
 * options are skipped by their length.
 */

import { foldSum, pseudoHeaderSum, sum16, internetChecksum } from './checksum.js';
import { readU32, writeU32 } from './bytes.js';
import { IpProto } from './ipv4.js';
import type { IpAddress } from './ip.js';

/** Length of a TCP header without options. */
export const TCP_HEADER_LEN = 20;
/** Largest TCP header: data offset 15. */
export const TCP_MAX_HEADER_LEN = 60;
/** Most SACK blocks an option can carry (4 × 8 + 2 = 34 of the 40 option bytes). */
export const TCP_MAX_SACK_BLOCKS = 4;

/** Byte offsets of the TCP header fields. */
export const TcpField = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  /** Data offset in the high 4 bits; reserved bits; the historic NS bit in bit 0. */
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const;

/** Control bits (byte 13). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  /** ECN-Echo (RFC 3168). */
  ECE: 0x40,
  /** Congestion Window Reduced (RFC 3168). */
  CWR: 0x80,
} as const;

/** Option kinds this module interprets (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/**
 * Why a TCP segment was refused (NetBSD `tcpstat` names in brackets).
 * - `truncated`: shorter than 20 bytes or than the data offset says [rcvshort].
 * - `badDataOffset`: data offset below 5 [rcvbadoff].
 * - `badChecksum`: the checksum does not verify [rcvbadsum].
 * - `badOption`: an option's length is below 2, runs past the header, or is wrong for its kind.
 */
export type TcpError = 'truncated' | 'badDataOffset' | 'badChecksum' | 'badOption';

/**
 * A view over a TCP segment in `buf[off .. off + len)` (`len` = the IP
 * payload length: TCP has no length field of its own). Owns nothing. After
 * {@link TcpPacket.newChecked}, `20 <= headerLen <= len`. The constructor
 * checks nothing and is for emitting.
 */
export class TcpPacket {
  /** Wrap without checking. Throws nothing. */
  constructor(
    readonly buf: Uint8Array,
    readonly off = 0,
    readonly len = buf.length - off,
  ) {}

  /** Validate without building a view: `null` when good, else the error. Allocates nothing. */
  static check(buf: Uint8Array, off = 0, len = buf.length - off): TcpError | null {
    if (off < 0 || len < TCP_HEADER_LEN || off + len > buf.length) return 'truncated';
    const hlen = (buf[off + TcpField.DATA_OFFSET] >>> 4) << 2;
    if (hlen < TCP_HEADER_LEN) return 'badDataOffset';
    if (hlen > len) return 'truncated';
    return null;
  }

  /** {@link TcpPacket.check}, then wrap: the view, or the error. Never throws. */
  static newChecked(buf: Uint8Array, off = 0, len = buf.length - off): TcpPacket | TcpError {
    const e = TcpPacket.check(buf, off, len);
    return e === null ? new TcpPacket(buf, off, len) : e;
  }

  /** Source port. */
  get srcPort(): number {
    return (this.buf[this.off] << 8) | this.buf[this.off + 1];
  }

  /** Destination port. */
  get dstPort(): number {
    return (this.buf[this.off + TcpField.DST_PORT] << 8) | this.buf[this.off + TcpField.DST_PORT + 1];
  }

  /** Sequence number (unsigned 32-bit). */
  get seq(): number {
    return readU32(this.buf, this.off + TcpField.SEQ);
  }

  /** Acknowledgment number (unsigned 32-bit; meaningful with ACK). */
  get ack(): number {
    return readU32(this.buf, this.off + TcpField.ACK);
  }

  /** Header length in bytes (data offset × 4). */
  get headerLen(): number {
    return (this.buf[this.off + TcpField.DATA_OFFSET] >>> 4) << 2;
  }

  /** The control bits ({@link TcpFlag}). */
  get flags(): number {
    return this.buf[this.off + TcpField.FLAGS];
  }

  /** Receive window as sent (not yet scaled). */
  get window(): number {
    return (this.buf[this.off + TcpField.WINDOW] << 8) | this.buf[this.off + TcpField.WINDOW + 1];
  }

  /** Checksum field as stored. */
  get checksum(): number {
    return (this.buf[this.off + TcpField.CHECKSUM] << 8) | this.buf[this.off + TcpField.CHECKSUM + 1];
  }

  /** Urgent pointer (meaningful with URG). */
  get urgent(): number {
    return (this.buf[this.off + TcpField.URGENT] << 8) | this.buf[this.off + TcpField.URGENT + 1];
  }

  /** Absolute offset of the options in {@link TcpPacket.buf}. */
  get optionsOffset(): number {
    return this.off + TCP_HEADER_LEN;
  }

  /** Length of the options region (header length − 20). */
  get optionsLen(): number {
    return this.headerLen - TCP_HEADER_LEN;
  }

  /** Absolute offset of the segment data in {@link TcpPacket.buf}. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }

  /** Segment data length. */
  get payloadLen(): number {
    return this.len - this.headerLen;
  }

  /** The data as a subarray sharing the segment's bytes (allocates the view object). */
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOffset, this.off + this.len);
  }

  /** Whether the checksum verifies for IPv4 `src`/`dst` over the whole segment. */
  verifyChecksum(src: IpAddress, dst: IpAddress): boolean {
    const s = pseudoHeaderSum(src, dst, IpProto.TCP, this.len) + sum16(this.buf, this.off, this.len);
    return foldSum(s) === 0xffff;
  }

  /** Compute and store the checksum over the whole segment. */
  fillChecksum(src: IpAddress, dst: IpAddress): void {
    const o = this.off + TcpField.CHECKSUM;
    this.buf[o] = 0;
    this.buf[o + 1] = 0;
    const c = internetChecksum(this.buf, this.off, this.len, pseudoHeaderSum(src, dst, IpProto.TCP, this.len));
    this.buf[o] = c >>> 8;
    this.buf[o + 1] = c;
  }
}

/**
 * A parsed TCP header with its options, flat. Absent options are `null`
 * (or `false`). Values are as on the wire: the window is not scaled and a
 * window scale above 14 is reported as sent (RFC 7323 2.3 says to use 14:
 * the TCP layer clamps it and may log).
 */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Control bits ({@link TcpFlag}). */
  flags: number;
  window: number;
  urgent: number;
  /** Maximum segment size option (RFC 9293 3.7.1). */
  mss: number | null;
  /** Window scale shift count (RFC 7323 2). */
  windowScale: number | null;
  /** SACK-permitted option (RFC 2018). */
  sackPermitted: boolean;
  /** SACK blocks as flat pairs `[left0, right0, left1, right1, ...]`, at most 4 pairs; `null` when absent. */
  sack: number[] | null;
  /** Timestamp value (RFC 7323 3); `null` when the option is absent. */
  tsVal: number | null;
  /** Timestamp echo reply; meaningful only when `tsVal` is not `null`. */
  tsEcr: number;
  /** Segment data length. */
  payloadLen: number;
  /**
   * Set (true) by a `'lenient'` parse that met a malformed option and
   * stopped or skipped there; absent otherwise (false after
   * {@link TcpRepr.parseInto}).
   */
  optionsMalformed?: boolean;
}

/** How {@link TcpRepr.parse} treats a malformed option: refuse the segment, or stop/skip and keep it. */
export type TcpOptionMode = 'strict' | 'lenient';

/** A malformed option: `'badOption'` when strict, else marked on `r` and the walk goes on (or stops). */
function badOption(r: TcpRepr, strict: boolean): TcpError | null {
  if (strict) return 'badOption';
  r.optionsMalformed = true;
  return null;
}

/**
 * Reusable SACK block arrays for {@link TcpRepr.parseInto}: `bufs[n]` holds
 * n blocks (2n numbers), so a parse picks the one of the right length and
 * allocates nothing.
 */
export type SackScratch = readonly number[][];

/** A {@link SackScratch}: arrays for 1..{@link TCP_MAX_SACK_BLOCKS} blocks. */
export function newSackScratch(): SackScratch {
  const bufs: number[][] = [];
  for (let n = 0; n <= TCP_MAX_SACK_BLOCKS; n++) bufs.push(new Array<number>(2 * n).fill(0));
  return bufs;
}

/**
 * Walk the options in `b[start .. end)` into `r` (whose option fields must
 * start out absent). Returns `null` or `'badOption'`. In `'lenient'` mode
 * nothing is refused: a length byte below 2 or past the end stops the walk
 * (`tcp_dooptions`: `if (optlen < 2 || optlen > cnt) break`), a known kind
 * with the wrong length is skipped (`continue`), and `r.optionsMalformed` is
 * set. SACK blocks go into a fresh array, or into `sackBufs` when given.
 * Bounded: every step advances at least one byte.
 */
function parseOptions(b: Uint8Array, start: number, end: number, r: TcpRepr, mode: TcpOptionMode, sackBufs: SackScratch | null): TcpError | null {
  const strict = mode === 'strict';
  let i = start;
  while (i < end) {
    const kind = b[i];
    if (kind === TcpOptionKind.EOL) break;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return badOption(r, strict);
    const olen = b[i + 1];
    if (olen < 2 || i + olen > end) return badOption(r, strict);
    let ok = true;
    switch (kind) {
      case TcpOptionKind.MSS:
        if (olen !== 4) ok = false;
        else r.mss = (b[i + 2] << 8) | b[i + 3];
        break;
      case TcpOptionKind.WINDOW_SCALE:
        if (olen !== 3) ok = false;
        else r.windowScale = b[i + 2];
        break;
      case TcpOptionKind.SACK_PERMITTED:
        if (olen !== 2) ok = false;
        else r.sackPermitted = true;
        break;
      case TcpOptionKind.SACK: {
        const n = (olen - 2) >>> 3;
        if (n === 0 || n > TCP_MAX_SACK_BLOCKS || olen !== 2 + n * 8) {
          ok = false;
          break;
        }
        const blocks = sackBufs !== null ? sackBufs[n]! : new Array<number>(2 * n);
        for (let k = 0; k < n; k++) {
          const o = i + 2 + k * 8;
          blocks[2 * k] = readU32(b, o);
          blocks[2 * k + 1] = readU32(b, o + 4);
        }
        r.sack = blocks;
        break;
      }
      case TcpOptionKind.TIMESTAMPS:
        if (olen !== 10) ok = false;
        else {
          r.tsVal = readU32(b, i + 2);
          r.tsEcr = readU32(b, i + 6);
        }
        break;
      default:
        break; // unknown: skipped by its length (RFC 9293 3.2, "must be prepared")
    }
    if (!ok) {
      const e = badOption(r, strict);
      if (e !== null) return e;
    }
    i += olen;
  }
  return null;
}

/** Option bytes other than SACK that the Repr emits (Linux `tcp_options_write` layout). */
function fixedOptionsLen(r: TcpRepr): number {
  let n = 0;
  if (r.mss !== null) n += 4;
  if (r.tsVal !== null) n += 12; // SACK-permitted rides in the timestamp's NOP NOP slot
  else if (r.sackPermitted) n += 4;
  if (r.windowScale !== null) n += 4;
  return n;
}

/** SACK blocks that fit beside the other options in 40 bytes (3 with timestamps, RFC 2018 3). */
function sackBlocksToEmit(r: TcpRepr): number {
  if (r.sack === null) return 0;
  const want = Math.min(r.sack.length >>> 1, TCP_MAX_SACK_BLOCKS);
  const room = (TCP_MAX_HEADER_LEN - TCP_HEADER_LEN - fixedOptionsLen(r) - 4) >> 3;
  return Math.max(0, Math.min(want, room));
}

/** Parse, emit and size TCP headers. */
export const TcpRepr = {
  /**
   * Parse a checked segment carried from IPv4 `src` to `dst`. With
   * `checkChecksum` (the default) a bad checksum is `'badChecksum'`;
   * malformed options are `'badOption'` in `'strict'` mode (the default),
   * and set {@link TcpRepr.optionsMalformed} in `'lenient'` mode. Never throws.
   */
  parse(p: TcpPacket, src: IpAddress, dst: IpAddress, checkChecksum = true, options: TcpOptionMode = 'strict'): TcpRepr | TcpError {
    if (checkChecksum && !p.verifyChecksum(src, dst)) return 'badChecksum';
    const r: TcpRepr = {
      srcPort: p.srcPort,
      dstPort: p.dstPort,
      seq: p.seq,
      ack: p.ack,
      flags: p.flags,
      window: p.window,
      urgent: p.urgent,
      mss: null,
      windowScale: null,
      sackPermitted: false,
      sack: null,
      tsVal: null,
      tsEcr: 0,
      payloadLen: p.payloadLen,
    };
    const e = parseOptions(p.buf, p.optionsOffset, p.off + p.headerLen, r, options, null);
    return e === null ? r : e;
  },

  /** Set every option of a reused `r` to "not present" (before a parse or a build fills them). */
  clearOptions(r: TcpRepr): void {
    r.mss = null;
    r.windowScale = null;
    r.sackPermitted = false;
    r.sack = null;
    r.tsVal = null;
    r.tsEcr = 0;
  },

  /**
   * Parse the header at `buf[off .. off + hlen)` into `r`, overwriting
   * every field (the data path's form: no view and no Repr per segment).
   * The caller has checked that `20 <= hlen`, that the header lies within
   * `buf` and that the data offset field says `hlen`; the checksum is its
   * business too. `r.optionsMalformed` ends false unless a `'lenient'`
   * parse met a malformed option. SACK blocks land in `sackBufs` (one of
   * its arrays becomes `r.sack`), so `r.sack` is only good until the next
   * parse with the same scratch. Never throws.
   * @returns null, or `'badOption'` (strict mode only).
   */
  parseInto(r: TcpRepr, buf: Uint8Array, off: number, hlen: number, payloadLen: number, options: TcpOptionMode, sackBufs: SackScratch): TcpError | null {
    r.srcPort = (buf[off] << 8) | buf[off + 1];
    r.dstPort = (buf[off + TcpField.DST_PORT] << 8) | buf[off + TcpField.DST_PORT + 1];
    r.seq = readU32(buf, off + TcpField.SEQ);
    r.ack = readU32(buf, off + TcpField.ACK);
    r.flags = buf[off + TcpField.FLAGS];
    r.window = (buf[off + TcpField.WINDOW] << 8) | buf[off + TcpField.WINDOW + 1];
    r.urgent = (buf[off + TcpField.URGENT] << 8) | buf[off + TcpField.URGENT + 1];
    TcpRepr.clearOptions(r);
    r.payloadLen = payloadLen;
    r.optionsMalformed = false;
    if (hlen === TCP_HEADER_LEN) return null;
    return parseOptions(buf, off + TCP_HEADER_LEN, off + hlen, r, options, sackBufs);
  },

  /**
   * Header length the Repr emits: 20 plus the options, already a multiple
   * of 4. SACK blocks beyond what fits in 40 option bytes are left out.
   */
  headerLen(r: TcpRepr): number {
    const nSack = sackBlocksToEmit(r);
    return TCP_HEADER_LEN + fixedOptionsLen(r) + (nSack > 0 ? 4 + nSack * 8 : 0);
  },

  /** Header plus data. */
  bufferLen(r: TcpRepr): number {
    return TcpRepr.headerLen(r) + r.payloadLen;
  },

  /**
   * Write the header and options into `buf` at `off`, in Linux's aligned
   * layout (MSS; SACK-permitted + timestamps, or NOP NOP + either; NOP +
   * window scale; NOP NOP + SACK), so that Linux's segments round-trip byte
   * for byte. The data must already sit at `off + headerLen` when `checksum`
   * is `'fill'` (the default); with `'defer'` the field is left 0 for the
   * caller (e.g. an {@link InetChecksum} over an mbuf chain). Returns the
   * header length. Throws `RangeError` only when `buf` is too small.
   */
  emit(r: TcpRepr, buf: Uint8Array, off: number, src: IpAddress, dst: IpAddress, checksum: 'fill' | 'defer' = 'fill'): number {
    const hlen = TcpRepr.headerLen(r);
    buf[off] = r.srcPort >>> 8;
    buf[off + 1] = r.srcPort;
    buf[off + TcpField.DST_PORT] = r.dstPort >>> 8;
    buf[off + TcpField.DST_PORT + 1] = r.dstPort;
    writeU32(buf, off + TcpField.SEQ, r.seq);
    writeU32(buf, off + TcpField.ACK, r.ack);
    buf[off + TcpField.DATA_OFFSET] = (hlen >>> 2) << 4;
    buf[off + TcpField.FLAGS] = r.flags;
    buf[off + TcpField.WINDOW] = r.window >>> 8;
    buf[off + TcpField.WINDOW + 1] = r.window;
    buf[off + TcpField.CHECKSUM] = 0;
    buf[off + TcpField.CHECKSUM + 1] = 0;
    buf[off + TcpField.URGENT] = r.urgent >>> 8;
    buf[off + TcpField.URGENT + 1] = r.urgent;

    let i = off + TCP_HEADER_LEN;
    if (r.mss !== null) {
      buf[i] = TcpOptionKind.MSS;
      buf[i + 1] = 4;
      buf[i + 2] = r.mss >>> 8;
      buf[i + 3] = r.mss;
      i += 4;
    }
    if (r.tsVal !== null) {
      if (r.sackPermitted) {
        buf[i] = TcpOptionKind.SACK_PERMITTED;
        buf[i + 1] = 2;
      } else {
        buf[i] = TcpOptionKind.NOP;
        buf[i + 1] = TcpOptionKind.NOP;
      }
      buf[i + 2] = TcpOptionKind.TIMESTAMPS;
      buf[i + 3] = 10;
      writeU32(buf, i + 4, r.tsVal);
      writeU32(buf, i + 8, r.tsEcr);
      i += 12;
    } else if (r.sackPermitted) {
      buf[i] = TcpOptionKind.NOP;
      buf[i + 1] = TcpOptionKind.NOP;
      buf[i + 2] = TcpOptionKind.SACK_PERMITTED;
      buf[i + 3] = 2;
      i += 4;
    }
    if (r.windowScale !== null) {
      buf[i] = TcpOptionKind.NOP;
      buf[i + 1] = TcpOptionKind.WINDOW_SCALE;
      buf[i + 2] = 3;
      buf[i + 3] = r.windowScale;
      i += 4;
    }
    const nSack = sackBlocksToEmit(r);
    if (nSack > 0) {
      const blocks = r.sack as number[];
      buf[i] = TcpOptionKind.NOP;
      buf[i + 1] = TcpOptionKind.NOP;
      buf[i + 2] = TcpOptionKind.SACK;
      buf[i + 3] = 2 + nSack * 8;
      i += 4;
      for (let k = 0; k < nSack; k++) {
        writeU32(buf, i, blocks[2 * k] >>> 0);
        writeU32(buf, i + 4, blocks[2 * k + 1] >>> 0);
        i += 8;
      }
    }
    if (checksum === 'fill') {
      const tlen = hlen + r.payloadLen;
      const c = internetChecksum(buf, off, tlen, pseudoHeaderSum(src, dst, IpProto.TCP, tlen));
      buf[off + TcpField.CHECKSUM] = c >>> 8;
      buf[off + TcpField.CHECKSUM + 1] = c;
    }
    return hlen;
  },
};

/** Format control bits like tcpdump (`"S."`, `"P."`, `"F."`, `"R"`), for logs and test messages. */
export function tcpFlagsToString(flags: number): string {
  let s = '';
  if (flags & TcpFlag.FIN) s += 'F';
  if (flags & TcpFlag.SYN) s += 'S';
  if (flags & TcpFlag.RST) s += 'R';
  if (flags & TcpFlag.PSH) s += 'P';
  if (flags & TcpFlag.URG) s += 'U';
  if (flags & TcpFlag.ECE) s += 'E';
  if (flags & TcpFlag.CWR) s += 'W';
  if (flags & TcpFlag.ACK) s += '.';
  return s === '' ? 'none' : s;
}
