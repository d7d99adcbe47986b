/**
 * IPv6 extension headers (RFC 8200 section 4): the hop-by-hop and
 * destination options TLV walk (4.2), the routing header's fixed part (4.4)
 * and the fragment header (4.5).
 *
 * Every extension header but the fragment header starts with Next Header
 * and Hdr Ext Len (in 8-octet units, not counting the first 8 octets); the
 * fragment header is always 8 bytes. These helpers read from a buffer the
 * caller has made contiguous and checked the length of; they allocate
 * nothing.
 *
 * @module
 */

/** Length of the fragment header (RFC 8200 4.5). */
export const IPV6_FRAG_HEADER_LEN = 8;

/** Option types the options walk knows (RFC 8200 4.2, RFC 2711, RFC 2675). */
export const Ip6OptType = {
  PAD1: 0,
  PADN: 1,
  /** Router alert (RFC 2711), in hop-by-hop headers: MLD reports carry it. */
  ROUTER_ALERT: 5,
  /** Jumbo payload (RFC 2675): refused, this stack takes no jumbograms. */
  JUMBO: 0xc2,
} as const;

/**
 * What to do about an options header (RFC 8200 4.2, the two high-order bits
 * of an unrecognised option's type):
 * - `OPT_OK`: every option recognised or skippable (`00`);
 * - `OPT_DISCARD`: drop silently (`01`, or a malformed option list);
 * - `OPT_ICMP`: drop and send parameter problem code 2 (`10`);
 * - `OPT_ICMP_UNICAST`: the same, but only when the destination was not multicast (`11`).
 */
export const OptAction = {
  OPT_OK: 0,
  OPT_DISCARD: 1,
  OPT_ICMP: 2,
  OPT_ICMP_UNICAST: 3,
  /** The option list overruns its header, or a Pad option is out of place: discard (Linux `ip6_parse_tlv` "bad"). */
  OPT_MALFORMED: 4,
} as const;

/**
 * Scratch result of {@link walkIp6Options}: the action and, for the ICMP
 * actions, the absolute offset of the offending option's type byte (the
 * parameter problem pointer is computed from it by the caller).
 */
export class OptWalk {
  /** One of {@link OptAction}. */
  action = 0;
  /** Absolute offset of the unrecognised option, or -1. */
  at = -1;
  /** Whether a router alert option was seen (hop-by-hop). */
  routerAlert = false;
}

/**
 * Walk the options of a hop-by-hop or destination options header at
 * `buf[off .. off + len)` (the header with its 2-byte prefix; `len` from
 * Hdr Ext Len). `out` is reset and filled; allocates nothing.
 */
export function walkIp6Options(buf: Uint8Array, off: number, len: number, out: OptWalk): OptWalk {
  out.action = OptAction.OPT_OK;
  out.at = -1;
  out.routerAlert = false;
  const end = off + len;
  let i = off + 2;
  while (i < end) {
    const t = buf[i]!;
    if (t === Ip6OptType.PAD1) {
      i++;
      continue;
    }
    if (i + 2 > end) {
      out.action = OptAction.OPT_MALFORMED;
      return out;
    }
    const olen = buf[i + 1]!;
    if (i + 2 + olen > end) {
      out.action = OptAction.OPT_MALFORMED;
      return out;
    }
    switch (t) {
      case Ip6OptType.PADN:
        break;
      case Ip6OptType.ROUTER_ALERT:
        if (olen !== 2) {
          out.action = OptAction.OPT_MALFORMED;
          return out;
        }
        out.routerAlert = true;
        break;
      default: {
        // RFC 8200 4.2: the two high-order bits of an unrecognised option's type.
        const act = t >>> 6;
        if (act !== 0) {
          out.action = act === 1 ? OptAction.OPT_DISCARD : act === 2 ? OptAction.OPT_ICMP : OptAction.OPT_ICMP_UNICAST;
          out.at = i;
          return out;
        }
      }
    }
    i += 2 + olen;
  }
  return out;
}

/** Bytes an extension header with Hdr Ext Len `b` takes (RFC 8200 4.3: `(b + 1) * 8`). */
export function extHeaderLen(hdrExtLen: number): number {
  return (hdrExtLen + 1) << 3;
}

/** A parsed fragment header (RFC 8200 4.5). */
export interface FragHeader6 {
  /** Next Header of the fragmentable part. */
  nextHeader: number;
  /** Fragment offset in bytes (the field times 8). */
  offset: number;
  /** M flag: more fragments follow. */
  more: boolean;
  /** Identification (32 bits, unsigned). */
  ident: number;
}

/** Fragment offset in bytes of the fragment header at `buf[off ..]`. */
export function fragOffset6(buf: Uint8Array, off: number): number {
  return ((buf[off + 2]! << 8) | buf[off + 3]!) & 0xfff8;
}

/** M flag of the fragment header at `buf[off ..]`. */
export function fragMore6(buf: Uint8Array, off: number): boolean {
  return (buf[off + 3]! & 1) !== 0;
}

/** Identification of the fragment header at `buf[off ..]`. */
export function fragIdent6(buf: Uint8Array, off: number): number {
  return ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
}

/**
 * Write a fragment header at `buf[off .. off + 8)`.
 * @throws RangeError when it does not fit or the offset is not a multiple of 8 below 65536.
 */
export function emitFragHeader6(buf: Uint8Array, off: number, f: FragHeader6): void {
  if (off < 0 || off + IPV6_FRAG_HEADER_LEN > buf.length) throw new RangeError(`no room for a fragment header at ${off}`);
  if ((f.offset & 7) !== 0 || f.offset < 0 || f.offset > 0xfff8) throw new RangeError(`fragment offset ${f.offset}`);
  buf[off] = f.nextHeader;
  buf[off + 1] = 0;
  buf[off + 2] = f.offset >>> 8;
  buf[off + 3] = (f.offset & 0xf8) | (f.more ? 1 : 0);
  buf[off + 4] = f.ident >>> 24;
  buf[off + 5] = (f.ident >>> 16) & 0xff;
  buf[off + 6] = (f.ident >>> 8) & 0xff;
  buf[off + 7] = f.ident & 0xff;
}
