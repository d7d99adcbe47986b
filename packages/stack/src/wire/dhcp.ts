/**
 * DHCP messages (RFC 2131 section 2, options RFC 2132) — the BOOTP layout
 * (RFC 951) with the magic cookie and a list of options.
 *
 * ```
 *  op(1) htype(1) hlen(1) hops(1) | xid(4) | secs(2) flags(2)
 *  ciaddr(4) yiaddr(4) siaddr(4) giaddr(4) | chaddr(16) | sname(64) | file(128)
 *  magic cookie 99.130.83.99 (4) | options: code(1) len(1) data ... 255
 * ```
 * Received messages are read through {@link DhcpRepr.parse}, which checks
 * every length before it reads (a truncated option list is refused, not
 * read past); options are kept as byte strings by code, the last copy of a
 * repeated code winning (RFC 3396 concatenation is not needed for the
 * options a client uses). The `sname`/`file` overload (option 52) is not
 * followed: a client needs nothing from there.
 */

/** BOOTP/DHCP server and client ports. */
export const DHCP_SERVER_PORT = 67;
/** The client's port. */
export const DHCP_CLIENT_PORT = 68;
/** Bytes before the options: the fixed BOOTP fields and the magic cookie. */
export const DHCP_FIXED_LEN = 240;
/** The magic cookie (RFC 2131 3). */
export const DHCP_MAGIC = 0x63825363;
/** The broadcast bit of `flags` (RFC 2131 4.1): answer by broadcast. */
export const DHCP_FLAG_BROADCAST = 0x8000;

/** `op` values. */
export const BootpOp = { REQUEST: 1, REPLY: 2 } as const;

/** DHCP message types (option 53, RFC 2132 9.6). */
export const DhcpType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/** Option codes this stack reads or writes (RFC 2132). */
export const DhcpOpt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_LIST: 55,
  MESSAGE: 56,
  MAX_SIZE: 57,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  CLIENT_ID: 61,
  END: 255,
} as const;

/** A parsed DHCP message. Addresses are host-order IPv4 numbers. */
export interface DhcpRepr {
  op: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** Client hardware address (the first `hlen` bytes of chaddr; 6 for Ethernet). */
  chaddr: Uint8Array;
  /** Options by code (without PAD and END). */
  options: Map<number, Uint8Array>;
}

/** Why a DHCP message was refused. */
export type DhcpError = 'truncated' | 'badCookie' | 'badHardware' | 'badOption';

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Parse, emit and read options of DHCP messages. */
export const DhcpRepr = {
  /**
   * Parse `buf[off .. off + len)`. Never throws; never reads outside the
   * range. Ethernet hardware only (htype 1, hlen 6).
   */
  parse(buf: Uint8Array, off = 0, len = buf.length - off): DhcpRepr | DhcpError {
    if (off < 0 || len < DHCP_FIXED_LEN || off + len > buf.length) return 'truncated';
    const b = buf.subarray(off, off + len);
    if (b[1] !== 1 || b[2] !== 6) return 'badHardware';
    if (rd32(b, 236) !== DHCP_MAGIC) return 'badCookie';
    const options = new Map<number, Uint8Array>();
    let i = DHCP_FIXED_LEN;
    for (;;) {
      if (i >= b.length) return 'badOption'; // no END
      const code = b[i]!;
      if (code === DhcpOpt.END) break;
      if (code === DhcpOpt.PAD) {
        i++;
        continue;
      }
      if (i + 1 >= b.length) return 'badOption';
      const n = b[i + 1]!;
      if (i + 2 + n > b.length) return 'badOption';
      options.set(code, b.slice(i + 2, i + 2 + n));
      i += 2 + n;
    }
    return {
      op: b[0]!,
      xid: rd32(b, 4),
      secs: (b[8]! << 8) | b[9]!,
      flags: (b[10]! << 8) | b[11]!,
      ciaddr: rd32(b, 12),
      yiaddr: rd32(b, 16),
      siaddr: rd32(b, 20),
      giaddr: rd32(b, 24),
      chaddr: b.slice(28, 34),
      options,
    };
  },

  /** Bytes {@link DhcpRepr.emit} writes: the fixed part, each option, END, padded to BOOTP's 300-byte minimum (RFC 1542 2.1). */
  bufferLen(r: DhcpRepr): number {
    let n = DHCP_FIXED_LEN + 1;
    for (const v of r.options.values()) n += 2 + v.length;
    return Math.max(n, 300);
  },

  /**
   * Write `r` at `buf[off ..]`; returns the bytes written.
   * @throws RangeError when it does not fit, an option is longer than 255
   *   bytes or chaddr is not 6 bytes.
   */
  emit(r: DhcpRepr, buf: Uint8Array, off = 0): number {
    const n = DhcpRepr.bufferLen(r);
    if (off < 0 || off + n > buf.length) throw new RangeError('no room for the DHCP message');
    if (r.chaddr.length !== 6) throw new RangeError('chaddr must be 6 bytes (Ethernet)');
    const b = buf.subarray(off, off + n);
    b.fill(0);
    b[0] = r.op;
    b[1] = 1;
    b[2] = 6;
    wr32(b, 4, r.xid);
    b[8] = r.secs >>> 8;
    b[9] = r.secs & 0xff;
    b[10] = r.flags >>> 8;
    b[11] = r.flags & 0xff;
    wr32(b, 12, r.ciaddr);
    wr32(b, 16, r.yiaddr);
    wr32(b, 20, r.siaddr);
    wr32(b, 24, r.giaddr);
    b.set(r.chaddr, 28);
    wr32(b, 236, DHCP_MAGIC);
    let i = DHCP_FIXED_LEN;
    for (const [code, v] of r.options) {
      if (v.length > 255) throw new RangeError(`option ${code} longer than 255 bytes`);
      b[i] = code;
      b[i + 1] = v.length;
      b.set(v, i + 2);
      i += 2 + v.length;
    }
    b[i] = DhcpOpt.END;
    return n;
  },

  /** The message type (option 53), or 0 when absent or malformed. */
  type(r: DhcpRepr): number {
    const v = r.options.get(DhcpOpt.MESSAGE_TYPE);
    return v !== undefined && v.length === 1 ? v[0]! : 0;
  },

  /** An option holding one IPv4 address (or the first of a list), or null when absent or shorter than 4 bytes. */
  addr(r: DhcpRepr, code: number): number | null {
    const v = r.options.get(code);
    return v !== undefined && v.length >= 4 ? rd32(v, 0) : null;
  },

  /** An option holding a list of IPv4 addresses (routers, DNS servers): every whole 4 bytes. */
  addrs(r: DhcpRepr, code: number): number[] {
    const v = r.options.get(code);
    const out: number[] = [];
    if (v !== undefined) for (let i = 0; i + 4 <= v.length; i += 4) out.push(rd32(v, i));
    return out;
  },

  /** An option holding a 32-bit number (seconds), or null. */
  u32(r: DhcpRepr, code: number): number | null {
    const v = r.options.get(code);
    return v !== undefined && v.length === 4 ? rd32(v, 0) : null;
  },
};

/** An option value of one 32-bit number (an address or seconds), for {@link DhcpRepr.emit}. */
export function dhcpU32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  wr32(b, 0, v);
  return b;
}
