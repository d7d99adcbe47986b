/**
 * ICMPv6 (RFC 4443) and the Neighbor Discovery messages it carries
 * (RFC 4861 section 4): types, codes, the 8-byte header, ND message bodies
 * and the ND option walk (RFC 4861 4.6).
 *
 * ```
 *  0               8              16                              32
 * +---------------+---------------+-------------------------------+
 * |     Type      |     Code      |           Checksum            |
 * +---------------+---------------+-------------------------------+
 * |             message body (id/seq, MTU, pointer, ND fields)    |
 * ```
 *
 * The checksum covers the IPv6 pseudo-header (RFC 4443 2.3), so it is
 * computed by the network layer, which knows the addresses:
 * {@link icmp6Checksum}.
 *
 * @module
 */
import { internetChecksum } from './checksum.js';
import type { Ip6Address } from './ip.js';
import { Ip6Next, pseudoHeaderSum6 } from './ipv6.js';

/** Length of the ICMPv6 header (type, code, checksum, 4 bytes of body). */
export const ICMP6_HEADER_LEN = 8;

/** ICMPv6 message types (RFC 4443 2.1, RFC 4861 4, RFC 3810 5). */
export const Icmp6Type = {
  DST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROB: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  MLD_QUERY: 130,
  MLD_REPORT: 131,
  MLD_DONE: 132,
  ROUTER_SOLICIT: 133,
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
  REDIRECT: 137,
  MLDV2_REPORT: 143,
} as const;

/** Destination unreachable codes (RFC 4443 3.1). */
export const Unreach6Code = {
  NOROUTE: 0,
  ADMIN: 1,
  BEYONDSCOPE: 2,
  ADDR: 3,
  NOPORT: 4,
} as const;

/** Time exceeded codes (RFC 4443 3.3). */
export const TimeExceed6Code = {
  HOPLIMIT: 0,
  REASSEMBLY: 1,
} as const;

/** Parameter problem codes (RFC 4443 3.4). */
export const ParamProb6Code = {
  /** Erroneous header field encountered. */
  HEADER: 0,
  /** Unrecognized Next Header type. */
  NEXTHEADER: 1,
  /** Unrecognized IPv6 option. */
  OPTION: 2,
} as const;

/** Whether `type` is an error message (RFC 4443 2.1: types 0..127). */
export function icmp6IsError(type: number): boolean {
  return type < 128;
}

/**
 * The ICMPv6 checksum of `buf[off .. off + len)` (the whole message, its
 * checksum field zero or holding the value to verify) with the IPv6
 * pseudo-header of `src` / `dst` (RFC 4443 2.3). A message whose checksum
 * field is right gives 0.
 */
export function icmp6Checksum(src: Ip6Address, dst: Ip6Address, buf: Uint8Array, off: number, len: number): number {
  return internetChecksum(buf, off, len, pseudoHeaderSum6(src, dst, Ip6Next.ICMPV6, len));
}

/** Fill the checksum field of the ICMPv6 message at `buf[off .. off + len)`. */
export function icmp6FillChecksum(src: Ip6Address, dst: Ip6Address, buf: Uint8Array, off: number, len: number): void {
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  const c = icmp6Checksum(src, dst, buf, off, len);
  buf[off + 2] = c >>> 8;
  buf[off + 3] = c & 0xff;
}

/** Neighbor Discovery option types (RFC 4861 4.6, RFC 7527 nonce). */
export const NdOptType = {
  SOURCE_LLADDR: 1,
  TARGET_LLADDR: 2,
  PREFIX_INFO: 3,
  REDIRECTED_HEADER: 4,
  MTU: 5,
  NONCE: 14,
} as const;

/** Fixed part of each ND message, after which options start (RFC 4861 4.1-4.5). */
export const NdMsgLen = {
  /** RS: header + reserved. */
  ROUTER_SOLICIT: 8,
  /** RA: header + cur hop limit, flags, lifetime, reachable time, retrans timer. */
  ROUTER_ADVERT: 16,
  /** NS: header + reserved + target. */
  NEIGHBOR_SOLICIT: 24,
  /** NA: header + flags + target. */
  NEIGHBOR_ADVERT: 24,
  /** Redirect: header + reserved + target + destination. */
  REDIRECT: 40,
} as const;

/** NA flag bits in byte 4 (RFC 4861 4.4). */
export const NaFlag = {
  ROUTER: 0x80,
  SOLICITED: 0x40,
  OVERRIDE: 0x20,
} as const;

/** RA flag bits in byte 5 (RFC 4861 4.2). */
export const RaFlag = {
  MANAGED: 0x80,
  OTHER: 0x40,
} as const;

/** Prefix information option flags (RFC 4861 4.6.2). */
export const PrefixFlag = {
  ONLINK: 0x80,
  AUTONOMOUS: 0x40,
} as const;

/** Why an ND option list was refused (RFC 4861 4.6: a zero-length option, or one past the message). */
export type NdOptError = 'zerolen' | 'truncated';

/** Most prefix information options one RA may make us look at (more are ignored). */
export const ND_MAX_PREFIX_OPTS = 8;

/**
 * What {@link parseNdOptions} found, as absolute offsets into the message
 * buffer (-1: absent). Reused between packets: the ND input path allocates
 * nothing to read options.
 */
export class NdOptions {
  /** Offset of the source link-layer address (6 bytes), or -1. */
  srcLl = -1;
  /** Offset of the target link-layer address (6 bytes), or -1. */
  tgtLl = -1;
  /** MTU option value, or -1. */
  mtu = -1;
  /** Whether a nonce option (RFC 7527) was present. */
  nonce = false;
  /** Offsets of prefix information options (each 32 bytes); {@link NdOptions.nprefix} are valid. */
  readonly prefix: number[] = new Array<number>(ND_MAX_PREFIX_OPTS).fill(-1);
  /** How many entries of {@link NdOptions.prefix} are valid. */
  nprefix = 0;

  /** Forget the last parse. */
  reset(): void {
    this.srcLl = -1;
    this.tgtLl = -1;
    this.mtu = -1;
    this.nonce = false;
    this.nprefix = 0;
  }
}

/**
 * Walk the ND options in `buf[off .. end)` into `out` (reset first).
 * Options of unknown type are skipped (RFC 4861 4.6: "silently ignore");
 * a link-layer address option shorter than an Ethernet address is ignored;
 * a prefix option of the wrong length is ignored.
 * @returns null when the list is well formed, else why the message must be
 *   dropped (RFC 4861 7.1.1: "all included options have a length that is
 *   greater than zero").
 */
export function parseNdOptions(buf: Uint8Array, off: number, end: number, out: NdOptions): NdOptError | null {
  out.reset();
  let i = off;
  while (i < end) {
    if (i + 2 > end) return 'truncated';
    const type = buf[i]!;
    const len = buf[i + 1]! * 8;
    if (len === 0) return 'zerolen';
    if (i + len > end) return 'truncated';
    switch (type) {
      case NdOptType.SOURCE_LLADDR:
        if (len >= 8) out.srcLl = i + 2;
        break;
      case NdOptType.TARGET_LLADDR:
        if (len >= 8) out.tgtLl = i + 2;
        break;
      case NdOptType.MTU:
        if (len === 8) out.mtu = ((buf[i + 4]! << 24) | (buf[i + 5]! << 16) | (buf[i + 6]! << 8) | buf[i + 7]!) >>> 0;
        break;
      case NdOptType.PREFIX_INFO:
        if (len === 32 && out.nprefix < ND_MAX_PREFIX_OPTS) out.prefix[out.nprefix++] = i;
        break;
      case NdOptType.NONCE:
        out.nonce = true;
        break;
      default:
        break;
    }
    i += len;
  }
  return null;
}

/** A prefix information option (RFC 4861 4.6.2) read from `buf[off ..]` (32 bytes, checked by {@link parseNdOptions}). */
export interface PrefixInfo {
  prefixLen: number;
  onLink: boolean;
  autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  validLifetime: number;
  /** Seconds; 0xffffffff is infinity. */
  preferredLifetime: number;
  /** Offset of the 16-byte prefix in the buffer. */
  prefixOffset: number;
}

/** Read the prefix information option at `buf[off ..]` (an offset from {@link NdOptions.prefix}). */
export function readPrefixInfo(buf: Uint8Array, off: number): PrefixInfo {
  const u32 = (o: number): number => ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
  return {
    prefixLen: buf[off + 2]!,
    onLink: (buf[off + 3]! & PrefixFlag.ONLINK) !== 0,
    autonomous: (buf[off + 3]! & PrefixFlag.AUTONOMOUS) !== 0,
    validLifetime: u32(off + 4),
    preferredLifetime: u32(off + 8),
    prefixOffset: off + 16,
  };
}

/**
 * Write a Neighbor Solicitation (RFC 4861 4.3) for `target` at `buf[off ..]`,
 * with a source link-layer address option when `srcMac` is given (never for
 * DAD, whose source is `::`). The checksum is left 0.
 * @returns bytes written (24, or 32 with the option).
 * @throws RangeError when it does not fit.
 */
export function emitNeighborSolicit(buf: Uint8Array, off: number, target: Ip6Address, srcMac: Uint8Array | null): number {
  const len = NdMsgLen.NEIGHBOR_SOLICIT + (srcMac !== null ? 8 : 0);
  if (off < 0 || off + len > buf.length) throw new RangeError('no room for a neighbor solicitation');
  buf.fill(0, off, off + len);
  buf[off] = Icmp6Type.NEIGHBOR_SOLICIT;
  target.writeTo(buf, off + 8);
  if (srcMac !== null) writeLlOpt(buf, off + 24, NdOptType.SOURCE_LLADDR, srcMac);
  return len;
}

/**
 * Write a Neighbor Advertisement (RFC 4861 4.4) for `target` with `flags`
 * ({@link NaFlag}) and, when `tgtMac` is given, a target link-layer address
 * option. The checksum is left 0.
 * @returns bytes written (24 or 32). @throws RangeError when it does not fit.
 */
export function emitNeighborAdvert(buf: Uint8Array, off: number, target: Ip6Address, flags: number, tgtMac: Uint8Array | null): number {
  const len = NdMsgLen.NEIGHBOR_ADVERT + (tgtMac !== null ? 8 : 0);
  if (off < 0 || off + len > buf.length) throw new RangeError('no room for a neighbor advertisement');
  buf.fill(0, off, off + len);
  buf[off] = Icmp6Type.NEIGHBOR_ADVERT;
  buf[off + 4] = flags & 0xe0;
  target.writeTo(buf, off + 8);
  if (tgtMac !== null) writeLlOpt(buf, off + 24, NdOptType.TARGET_LLADDR, tgtMac);
  return len;
}

/**
 * Write a Router Solicitation (RFC 4861 4.1), with a source link-layer
 * option when `srcMac` is given. @returns bytes written (8 or 16).
 * @throws RangeError when it does not fit.
 */
export function emitRouterSolicit(buf: Uint8Array, off: number, srcMac: Uint8Array | null): number {
  const len = NdMsgLen.ROUTER_SOLICIT + (srcMac !== null ? 8 : 0);
  if (off < 0 || off + len > buf.length) throw new RangeError('no room for a router solicitation');
  buf.fill(0, off, off + len);
  buf[off] = Icmp6Type.ROUTER_SOLICIT;
  if (srcMac !== null) writeLlOpt(buf, off + 8, NdOptType.SOURCE_LLADDR, srcMac);
  return len;
}

function writeLlOpt(buf: Uint8Array, off: number, type: number, mac: Uint8Array): void {
  buf[off] = type;
  buf[off + 1] = 1;
  for (let i = 0; i < 6; i++) buf[off + 2 + i] = mac[i]!;
}
