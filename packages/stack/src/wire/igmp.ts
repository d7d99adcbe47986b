/**
 * IGMP messages (RFC 2236 version 2, RFC 3376 version 3; version 1 queries
 * of RFC 1112 are recognised): parsing of untrusted bytes into a
 * {@link IgmpRepr}, and emission of the reports a host sends.
 *
 * Layout (RFC 3376 4.1, 4.2; RFC 2236 2):
 * - every message starts `type, max-resp-code | reserved, checksum(2)`,
 *   and the checksum covers the whole IGMP message;
 * - v1/v2 query, v1/v2 report, v2 leave: `group(4)` — 8 bytes;
 * - v3 query: `group(4), resv:4 S:1 QRV:3, QQIC, N(2), source[N]` — 12 + 4N;
 * - v3 report: `reserved(2), M(2)`, then M group records
 *   `type, aux-len (32-bit words), N(2), group(4), source[N], aux`.
 *
 * {@link igmpParse} only reads inside `b[o .. o + len)` and checks every
 * count against the length first, so hostile input gives an error string,
 * never an exception or an allocation larger than the message.
 *
 * @module
 */
import { internetChecksum, verifyChecksum } from './checksum.js';

/** IGMP message types. */
export const IgmpType = {
  /** Membership Query, every version (the length and code tell which). */
  QUERY: 0x11,
  /** Version 1 Membership Report (RFC 1112). */
  V1_REPORT: 0x12,
  /** Version 2 Membership Report (RFC 2236). */
  V2_REPORT: 0x16,
  /** Version 2 Leave Group (RFC 2236). */
  V2_LEAVE: 0x17,
  /** Version 3 Membership Report (RFC 3376 4.2). */
  V3_REPORT: 0x22,
} as const;

/** IGMPv3 group record types (RFC 3376 4.2.12). */
export const IgmpRecord = {
  MODE_IS_INCLUDE: 1,
  MODE_IS_EXCLUDE: 2,
  CHANGE_TO_INCLUDE: 3,
  CHANGE_TO_EXCLUDE: 4,
  ALLOW_NEW_SOURCES: 5,
  BLOCK_OLD_SOURCES: 6,
} as const;

/** Length of a v1/v2 message and of the fixed part of a v3 query. */
export const IGMP_MINLEN = 8;
/** Fixed part of a v3 query (RFC 3376 4.1). */
export const IGMP_V3_QUERY_MINLEN = 12;
/** Header of a v3 report, before its records. */
export const IGMP_V3_REPORT_HDRLEN = 8;
/** Fixed part of a v3 group record. */
export const IGMP_V3_RECORD_HDRLEN = 8;

/** One group record of a v3 report. */
export interface IgmpGroupRecord {
  /** One of {@link IgmpRecord}. */
  type: number;
  /** The group (host order, unsigned). */
  group: number;
  /** Source addresses. */
  sources: number[];
}

/** A parsed IGMP message. */
export type IgmpRepr =
  | {
      kind: 'query';
      /** 1: code 0 in 8 bytes (RFC 2236 4); 2: 8 bytes; 3: 12 bytes or more (RFC 3376 7.1). */
      version: 1 | 2 | 3;
      /** Group asked about; 0 for a general query. */
      group: number;
      /** Maximum response time in milliseconds (v1: 10 s, RFC 2236 4). */
      maxRespMs: number;
      /** v3: sources asked about (group-and-source-specific query). */
      sources: number[];
      /** v3: Querier's Robustness Variable (0 = not given). */
      qrv: number;
    }
  | { kind: 'report'; version: 1 | 2; group: number }
  | { kind: 'leave'; group: number }
  | { kind: 'v3report'; records: IgmpGroupRecord[] };

/** Why a message was refused: shorter than its fixed part, a bad checksum, counts past the end, an unknown type. */
export type IgmpError = 'tooshort' | 'badsum' | 'badlen' | 'unknowntype';

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/**
 * Decode a v3 Max Resp Code or QQIC (RFC 3376 4.1.1): below 128 the value
 * itself, else a floating-point form `(mant | 0x10) << (exp + 3)`.
 */
export function igmpDecodeCode(code: number): number {
  if (code < 128) return code;
  return ((code & 0x0f) | 0x10) << (((code >>> 4) & 7) + 3);
}

/**
 * Parse the IGMP message at `b[o .. o + len)`. The checksum is verified
 * over all `len` bytes (RFC 3376 4.1.2: the whole message).
 */
export function igmpParse(b: Uint8Array, o: number, len: number): IgmpRepr | IgmpError {
  if (len < IGMP_MINLEN || o < 0 || o + len > b.length) return 'tooshort';
  if (!verifyChecksum(b, o, len)) return 'badsum';
  const type = b[o]!;
  const code = b[o + 1]!;
  switch (type) {
    case IgmpType.QUERY: {
      const group = rd32(b, o + 4);
      if (len < IGMP_V3_QUERY_MINLEN) {
        // RFC 3376 7.1: 8 bytes is v1 (code 0) or v2; 9..11 bytes is ignored.
        if (len !== IGMP_MINLEN) return 'badlen';
        if (code === 0) return { kind: 'query', version: 1, group, maxRespMs: 10_000, sources: [], qrv: 0 };
        return { kind: 'query', version: 2, group, maxRespMs: code * 100, sources: [], qrv: 0 };
      }
      const n = (b[o + 10]! << 8) | b[o + 11]!;
      if (IGMP_V3_QUERY_MINLEN + 4 * n > len) return 'badlen';
      const sources: number[] = [];
      for (let i = 0; i < n; i++) sources.push(rd32(b, o + 12 + 4 * i));
      return { kind: 'query', version: 3, group, maxRespMs: igmpDecodeCode(code) * 100, sources, qrv: b[o + 8]! & 7 };
    }
    case IgmpType.V1_REPORT:
    case IgmpType.V2_REPORT:
      return { kind: 'report', version: type === IgmpType.V1_REPORT ? 1 : 2, group: rd32(b, o + 4) };
    case IgmpType.V2_LEAVE:
      return { kind: 'leave', group: rd32(b, o + 4) };
    case IgmpType.V3_REPORT: {
      const m = (b[o + 6]! << 8) | b[o + 7]!;
      const records: IgmpGroupRecord[] = [];
      let p = o + IGMP_V3_REPORT_HDRLEN;
      const end = o + len;
      for (let i = 0; i < m; i++) {
        if (p + IGMP_V3_RECORD_HDRLEN > end) return 'badlen';
        const rtype = b[p]!;
        const aux = b[p + 1]! * 4;
        const ns = (b[p + 2]! << 8) | b[p + 3]!;
        const next = p + IGMP_V3_RECORD_HDRLEN + 4 * ns + aux;
        if (next > end) return 'badlen';
        const sources: number[] = [];
        for (let k = 0; k < ns; k++) sources.push(rd32(b, p + 8 + 4 * k));
        records.push({ type: rtype, group: rd32(b, p + 4), sources });
        p = next;
      }
      return { kind: 'v3report', records };
    }
    default:
      return 'unknowntype';
  }
}

/** Bytes of a v3 report carrying `records`. */
export function igmpV3ReportLen(records: readonly IgmpGroupRecord[]): number {
  let n = IGMP_V3_REPORT_HDRLEN;
  for (const r of records) n += IGMP_V3_RECORD_HDRLEN + 4 * r.sources.length;
  return n;
}

/** Emit a v3 Membership Report (RFC 3376 4.2) with its checksum. @returns the message. */
export function igmpEmitV3Report(records: readonly IgmpGroupRecord[]): Uint8Array {
  const msg = new Uint8Array(igmpV3ReportLen(records));
  msg[0] = IgmpType.V3_REPORT;
  msg[6] = records.length >>> 8;
  msg[7] = records.length & 0xff;
  let p = IGMP_V3_REPORT_HDRLEN;
  for (const r of records) {
    msg[p] = r.type;
    msg[p + 2] = r.sources.length >>> 8;
    msg[p + 3] = r.sources.length & 0xff;
    wr32(msg, p + 4, r.group);
    for (let k = 0; k < r.sources.length; k++) wr32(msg, p + 8 + 4 * k, r.sources[k]!);
    p += IGMP_V3_RECORD_HDRLEN + 4 * r.sources.length;
  }
  fillIgmpChecksum(msg);
  return msg;
}

/** Emit an 8-byte v1/v2 message (`type` one of {@link IgmpType}) about `group`, with its checksum. */
export function igmpEmitV2(type: number, group: number, maxRespCode = 0): Uint8Array {
  const msg = new Uint8Array(IGMP_MINLEN);
  msg[0] = type;
  msg[1] = maxRespCode;
  wr32(msg, 4, group);
  fillIgmpChecksum(msg);
  return msg;
}

/** Emit a query (tests play the querier with it): v2 in 8 bytes, v3 with `sources`. */
export function igmpEmitQuery(version: 2 | 3, group: number, maxRespCode: number, sources: readonly number[] = []): Uint8Array {
  if (version === 2) return igmpEmitV2(IgmpType.QUERY, group, maxRespCode);
  const msg = new Uint8Array(IGMP_V3_QUERY_MINLEN + 4 * sources.length);
  msg[0] = IgmpType.QUERY;
  msg[1] = maxRespCode;
  wr32(msg, 4, group);
  msg[8] = 2; // QRV 2
  msg[9] = 125; // QQIC: 125 s
  msg[10] = sources.length >>> 8;
  msg[11] = sources.length & 0xff;
  for (let k = 0; k < sources.length; k++) wr32(msg, 12 + 4 * k, sources[k]!);
  fillIgmpChecksum(msg);
  return msg;
}

function fillIgmpChecksum(msg: Uint8Array): void {
  msg[2] = 0;
  msg[3] = 0;
  const c = internetChecksum(msg, 0, msg.length);
  msg[2] = c >>> 8;
  msg[3] = c & 0xff;
}
