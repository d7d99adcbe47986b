/**
 * ICMP (RFC 792; NetBSD `sys/netinet/ip_icmp.c`): echo replies, the errors
 * we generate (rate-limited, RFC 1812 4.3.2.8; never about the packets
 * RFC 1122 3.2.2 forbids), errors we receive (validated, then handed to the
 * sending transport's `ctlinput`), and the `ping()` the stack offers.
 *
 * @module
 */
import { Errno, StackError } from '../kern/errno.js';
import type { TimerHandle } from '../kern/clock.js';
import {
  M_BCAST,
  M_MCAST,
  mCopydata,
  mFreem,
  mFromBytes,
  mLength,
  mMakeWritable,
  mPullup,
  type Mbuf,
} from '../mbuf/index.js';
import { ipv4IsLoopback, ipv4IsMulticast, ipv4IsReserved, ipv4ToString, readIpv4 } from '../wire/address.js';
import { InetChecksum, checksumAdjust, verifyChecksum } from '../wire/checksum.js';
import {
  ICMP_HEADER_LEN,
  IcmpField,
  IcmpPacket,
  IcmpRepr,
  IcmpType,
  TimeExceededCode,
  UnreachCode,
  icmpIsError,
  icmpQuoteLen,
  parseIcmpQuote,
} from '../wire/icmp.js';
import { IPV4_HEADER_LEN, IpProto } from '../wire/ipv4.js';
import type { NetContext } from './context.js';
import { PMTU_MIN, ipOutput, pmtuUpdate, selectSource } from './ipv4-output.js';
import type { IpPacketInfo, TransportError } from './protosw.js';
import { PpsRateCheck } from '../kern/ratecheck.js';

/** ICMP tunables (`net.inet.icmp.*`). */
export interface IcmpTunables {
  /** Errors per second we may send (token bucket); negative: unlimited, 0: none (NetBSD `icmperrppslim`, 100). */
  errppslimit: number;
  /** Answer echo requests sent to broadcast or multicast addresses (0 = no, the default: smurf amplification). */
  bmcastecho: number;
}

/** Options of {@link Icmp.ping}. */
export interface PingOptions {
  /** Data bytes after the ICMP header (default 56, as ping(8)). */
  size?: number;
  /** Echo identifier (default: the stack's, chosen at random). */
  id?: number;
  /** Sequence number (default: the next of a per-stack counter). */
  seq?: number;
  /** Milliseconds to wait for the reply (default 1000). */
  timeout?: number;
  /** TTL of the request. */
  ttl?: number;
  /** Set Don't Fragment (a too-large request then fails with EMSGSIZE). */
  df?: boolean;
}

/** A successful ping. */
export interface PingReply {
  /** Round-trip time in milliseconds (on the stack's clock). */
  rtt: number;
  /** Who answered (dotted quad). */
  from: string;
  /** TTL of the reply. */
  ttl: number;
  /** Data bytes in the reply (excluding the ICMP header). */
  bytes: number;
  /** Echo identifier and sequence number. */
  id: number;
  seq: number;
}

interface PendingPing {
  readonly sent: number;
  readonly size: number;
  readonly resolve: (r: PingReply) => void;
  readonly reject: (e: Error) => void;
  timer: TimerHandle | null;
}

/**
 * errno for an ICMP error (BSD `inetctlerrmap`): unreachables are
 * EHOSTUNREACH except protocol/port (ECONNREFUSED), fragmentation needed
 * (EMSGSIZE) and unknown / prohibited networks (ENETUNREACH); time exceeded
 * is EHOSTUNREACH; parameter problem ENOPROTOOPT.
 */
export function icmpErrno(type: number, code: number): number {
  if (type === IcmpType.DEST_UNREACH) {
    switch (code) {
      case UnreachCode.PROTOCOL:
      case UnreachCode.PORT:
        return Errno.ECONNREFUSED;
      case UnreachCode.FRAG_NEEDED:
        return Errno.EMSGSIZE;
      case UnreachCode.NET_UNKNOWN:
      case UnreachCode.NET_PROHIBITED:
      case UnreachCode.NET_TOS:
        return Errno.ENETUNREACH;
      default:
        return Errno.EHOSTUNREACH;
    }
  }
  if (type === IcmpType.PARAM_PROBLEM) return Errno.ENOPROTOOPT;
  return Errno.EHOSTUNREACH;
}

/** RFC 1191 section 7 plateau table, used when a router sends fragmentation needed without an MTU. */
const MTU_PLATEAUS = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** Longest original datagram we look at when parsing a quote (60-byte header + 8). */
const QUOTE_PARSE_MAX = 68;

/** ICMP of one stack. */
export class Icmp {
  private readonly errRate: PpsRateCheck;
  private readonly pings = new Map<string, PendingPing>();
  private readonly pingId: number;
  private pingSeq = 0;

  constructor(
    private readonly ctx: NetContext,
    readonly tun: IcmpTunables,
  ) {
    this.errRate = new PpsRateCheck(ctx.clock, () => this.tun.errppslimit);
    this.pingId = globalThis.crypto.getRandomValues(new Uint16Array(1))[0]!;
  }

  /**
   * Process one ICMP message (`icmp_input`). `m` starts at the ICMP header;
   * ownership passes here. Never throws on bad input.
   */
  input(m: Mbuf, info: IpPacketInfo<number>): void {
    const st = this.ctx.icmpstat;
    st.received++;
    const len = mLength(m);
    if (len < ICMP_HEADER_LEN) return this.drop(m, 'tooshort');
    const ck = new InetChecksum();
    for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) ck.add(mm.data, mm.off, mm.len);
    if (!ck.verify()) return this.drop(m, 'checksum');
    const pm = mPullup(m, ICMP_HEADER_LEN);
    if (pm === null) {
      st.nobufs++;
      return;
    }
    m = pm;
    const p = IcmpPacket.newChecked(m.data, m.off, ICMP_HEADER_LEN);
    if (typeof p === 'string') return this.drop(m, 'tooshort');
    const type = p.type;
    switch (type) {
      case IcmpType.ECHO_REQUEST:
        st.echo++;
        return this.reflect(m, info);
      case IcmpType.ECHO_REPLY:
        st.echoreply++;
        return this.echoReply(m, info, p.ident, p.seqNo, len);
      case IcmpType.DEST_UNREACH:
        st.unreach++;
        return this.errorInput(m, type, p.code, p.code === UnreachCode.FRAG_NEEDED ? p.nextHopMtu : 0, len);
      case IcmpType.TIME_EXCEEDED:
        st.timxceed++;
        return this.errorInput(m, type, p.code, 0, len);
      case IcmpType.PARAM_PROBLEM:
        st.paramprob++;
        return this.errorInput(m, type, p.code, 0, len);
      case IcmpType.REDIRECT:
        // A host with static routes ignores redirects (RFC 1122 3.2.2.2 allows
        // updating; we choose not to let the wire rewrite our routing table).
        return this.drop(m, 'redirect');
      case IcmpType.SOURCE_QUENCH:
        return this.drop(m, 'sourcequench'); // RFC 6633: ignore
      default:
        return this.drop(m, 'unknowntype');
    }
  }

  private drop(m: Mbuf, counter: keyof NetContext['icmpstat']): void {
    this.ctx.icmpstat[counter]++;
    mFreem(m);
  }

  /** Answer an echo request in place: type 0, checksum adjusted, addresses swapped (`icmp_reflect`). */
  private reflect(m: Mbuf, info: IpPacketInfo<number>): void {
    const st = this.ctx.icmpstat;
    if ((info.broadcast || info.multicast) && this.tun.bmcastecho === 0) return this.drop(m, 'bmcastecho');
    if (mMakeWritable(m, 0, ICMP_HEADER_LEN) !== 0) return this.drop(m, 'nobufs');
    const b = m.data;
    const o = m.off;
    const oldWord = (b[o]! << 8) | b[o + 1]!;
    b[o + IcmpField.TYPE] = IcmpType.ECHO_REPLY;
    const ck = (b[o + 2]! << 8) | b[o + 3]!;
    const nck = checksumAdjust(ck, oldWord, (IcmpType.ECHO_REPLY << 8) | b[o + 1]!);
    b[o + 2] = nck >>> 8;
    b[o + 3] = nck & 0xff;
    // Reply from the address the request was sent to, unless that was a broadcast or group.
    const src = info.broadcast || info.multicast ? (selectSource(this.ctx, info.src) ?? 0) : info.dst;
    st.reflect++;
    ipOutput(this.ctx, m, { src, dst: info.src, proto: IpProto.ICMP });
  }

  private echoReply(m: Mbuf, info: IpPacketInfo<number>, id: number, seq: number, len: number): void {
    const st = this.ctx.icmpstat;
    const key = pingKey(info.src, id, seq);
    const p = this.pings.get(key);
    if (p === undefined) return this.drop(m, 'pingunmatched');
    const dataLen = len - ICMP_HEADER_LEN;
    if (dataLen !== p.size || !patternOk(m, ICMP_HEADER_LEN, dataLen)) return this.drop(m, 'pingbaddata');
    mFreem(m);
    st.pingmatched++;
    this.pings.delete(key);
    if (p.timer !== null) this.ctx.clock.clearTimeout(p.timer);
    p.resolve({ rtt: this.ctx.clock.now() - p.sent, from: ipv4ToString(info.src), ttl: info.ttl, bytes: dataLen, id, seq });
  }

  /** An error message about a packet we sent: validate the quote, then tell its sender. */
  private errorInput(m: Mbuf, type: number, code: number, mtu: number, len: number): void {
    const st = this.ctx.icmpstat;
    const qlen = Math.min(len - ICMP_HEADER_LEN, QUOTE_PARSE_MAX);
    if (qlen < IPV4_HEADER_LEN + 8) return this.drop(m, 'tooshort');
    const q = new Uint8Array(qlen);
    mCopydata(m, ICMP_HEADER_LEN, qlen, q);
    mFreem(m);
    const quote = parseIcmpQuote(q);
    if (typeof quote === 'string') {
      st.tooshort++;
      return;
    }
    // The quoted packet must be one we sent: its source one of our addresses.
    if (!this.ctx.localAddrs.has(quote.src)) {
      st.notours++;
      return;
    }
    if (type === IcmpType.DEST_UNREACH && code === UnreachCode.FRAG_NEEDED) {
      // RFC 1191 5: an old router sends 0; guess the next plateau below the datagram's length.
      if (mtu < 68) mtu = MTU_PLATEAUS.find((p) => p < quote.totalLen) ?? 68;
      // Never below the minimum PMTU: a spoofed tiny MTU would shrink a connection to 28-byte segments.
      if (mtu < PMTU_MIN) {
        st.pmtuclamped++;
        mtu = PMTU_MIN;
      }
      // The cache is NOT updated here: only the sender can tell whether the
      // quote is about data in flight (RFC 5927 4.1, TCP's sequence check).
      // TCP calls IpOutput.pmtuUpdate after validating; UDP never sets DF,
      // so a fragmentation-needed about a UDP datagram is not believed.
    }
    this.notify(q, icmpErrno(type, code), type, code, mtu);
  }

  /**
   * Deliver an error about the packet quoted in `q` (IP header + at least 8
   * bytes) to whoever sent it: a pending ping, or the transport's
   * `ctlinput` (`pr_ctlinput`). `type`/`code` -1 for a local error (ARP).
   */
  notify(q: Uint8Array, errno: number, type: number, code: number, mtu: number): void {
    const st = this.ctx.icmpstat;
    const quote = parseIcmpQuote(q);
    if (typeof quote === 'string') {
      st.tooshort++;
      return;
    }
    const h = quote.headerLen;
    if (quote.protocol === IpProto.ICMP) {
      // Our echo request failed: fail the ping now rather than at its timeout.
      if (q[h] === IcmpType.ECHO_REQUEST) {
        const key = pingKey(quote.dst, (q[h + 4]! << 8) | q[h + 5]!, (q[h + 6]! << 8) | q[h + 7]!);
        const p = this.pings.get(key);
        if (p !== undefined) {
          st.ctlinput++;
          this.pings.delete(key);
          if (p.timer !== null) this.ctx.clock.clearTimeout(p.timer);
          // A matching id/seq validates the quote as well as TCP's sequence check does.
          if (errno === Errno.EMSGSIZE && type === IcmpType.DEST_UNREACH) pmtuUpdate(this.ctx, quote.dst, mtu);
          p.reject(new StackError(errno, `ping ${ipv4ToString(quote.dst)}: ${new StackError(errno).code}`));
        }
      }
      return;
    }
    const tp = this.ctx.protocol(quote.protocol);
    if (tp?.ctlinput === undefined) {
      st.noproto++;
      return;
    }
    const err: TransportError = {
      errno,
      icmpType: type,
      icmpCode: code,
      mtu,
      src: quote.src,
      dst: quote.dst,
      srcPort: quote.srcPort,
      dstPort: quote.dstPort,
      quoted: q.slice(h, h + 8),
    };
    st.ctlinput++;
    tp.ctlinput(err);
  }

  /**
   * A held packet (IP header in front) could not be sent because ARP failed:
   * tell its sender with `errno` (EHOSTDOWN / EHOSTUNREACH) and free it.
   */
  localUnreachable(m: Mbuf, errno: number): void {
    const n = Math.min(mLength(m), QUOTE_PARSE_MAX);
    const q = new Uint8Array(n);
    mCopydata(m, 0, n, q);
    mFreem(m);
    if (n >= IPV4_HEADER_LEN + 8) this.notify(q, errno, -1, -1, 0);
  }

  /**
   * Send an ICMP error about `m` (`icmp_error`), which starts at the
   * offending packet's IP header (contiguous in the first mbuf, as IP input
   * leaves it). Ownership of `m` passes here. Nothing is sent, and a counter
   * says why, when RFC 1122 3.2.2 forbids it (the packet is an ICMP error, a
   * broadcast / multicast, a non-first fragment, from a martian source) or
   * the rate limit is reached.
   * @param mtu next-hop MTU for fragmentation needed, else 0.
   * @param bmcast the packet was addressed to a broadcast or multicast IP address.
   */
  error(m: Mbuf, type: number, code: number, mtu = 0, bmcast = false): void {
    const st = this.ctx.icmpstat;
    const total = mLength(m);
    if (m.len < IPV4_HEADER_LEN || total < IPV4_HEADER_LEN) return this.drop(m, 'oldshort');
    const b = m.data;
    const o = m.off;
    const hlen = (b[o]! & 15) << 2;
    if (hlen < IPV4_HEADER_LEN || hlen > m.len) return this.drop(m, 'oldshort');
    const src = readIpv4(b, o + 12);
    const dst = readIpv4(b, o + 16);
    const proto = b[o + 9]!;
    const fragOff = ((b[o + 6]! << 8) | b[o + 7]!) & 0x1fff;
    if (fragOff !== 0) return this.drop(m, 'fragerr');
    if (bmcast || (m.flags & (M_BCAST | M_MCAST)) !== 0 || ipv4IsMulticast(dst) || dst === 0xffffffff) {
      return this.drop(m, 'bmcasterr');
    }
    if (src === 0 || src >>> 24 === 0 || ipv4IsMulticast(src) || ipv4IsReserved(src)) return this.drop(m, 'martianerr');
    if (ipv4IsLoopback(src) && !ipv4IsLoopback(dst)) return this.drop(m, 'martianerr');
    if (proto === IpProto.ICMP) {
      // Only queries (echo) may provoke an error; an error (or an unreadable type) may not.
      if (total < hlen + 1) return this.drop(m, 'oldicmp');
      const t = new Uint8Array(1);
      mCopydata(m, hlen, 1, t);
      if (icmpIsError(t[0]!) || (t[0] !== IcmpType.ECHO_REQUEST && t[0] !== IcmpType.ECHO_REPLY)) {
        return this.drop(m, 'oldicmp');
      }
    }
    if (!this.errRate.check()) return this.drop(m, 'ratelimited');
    // Quote the header and as much of the datagram as fits 576 bytes (RFC 1812 4.3.2.3).
    const qlen = icmpQuoteLen(total);
    const msg = new Uint8Array(ICMP_HEADER_LEN + qlen);
    mCopydata(m, 0, qlen, msg, ICMP_HEADER_LEN);
    mFreem(m);
    IcmpRepr.emit(
      { type, code, ident: 0, seqNo: 0, mtu, pointer: 0, gateway: 0, data: msg.subarray(ICMP_HEADER_LEN) },
      msg,
      0,
    );
    const out = mFromBytes(this.ctx.pool, msg, { headroom: 64 });
    if (out === null) {
      st.nobufs++;
      return;
    }
    st.error++;
    // From the address the offending packet was sent to when it is ours, else the route's choice.
    const from = this.ctx.localAddrs.has(dst) ? dst : (selectSource(this.ctx, src) ?? 0);
    ipOutput(this.ctx, out, { src: from, dst: src, proto: IpProto.ICMP });
  }

  /**
   * `icmpError` for a transport: `m` is the packet as the transport received
   * it from IP input (starting at the transport header, before the
   * transport trimmed anything), and the IP header is recovered from the
   * first mbuf's leading space, where IP input left it. If it cannot be
   * recovered (the transport reshaped the chain), nothing is sent
   * (`oldshort`). Ownership of `m` passes here.
   */
  errorFromTransport(m: Mbuf, type: number, code: number, mtu = 0): void {
    const len = mLength(m);
    // Find a header that ends exactly where the data starts and describes exactly this data.
    for (let hlen = IPV4_HEADER_LEN; hlen <= 60 && hlen <= m.off; hlen += 4) {
      const b = m.data;
      const h = m.off - hlen;
      if (b[h] !== (0x40 | (hlen >>> 2))) continue;
      if (((b[h + 2]! << 8) | b[h + 3]!) !== hlen + len) continue;
      if (!verifyChecksum(b, h, hlen)) continue;
      m.off = h;
      m.len += hlen;
      if (m.pkthdr !== null) m.pkthdr.len += hlen;
      // IP input accepted it, so a destination that is not one of ours was a broadcast or group.
      this.error(m, type, code, mtu, !this.ctx.localAddrs.has(readIpv4(b, h + 16)));
      return;
    }
    this.drop(m, 'oldshort');
  }

  /** Send time exceeded (reassembly) for a datagram whose reassembly timed out (RFC 1122 3.3.2). */
  reassTimeout(first: Mbuf): void {
    this.error(first, IcmpType.TIME_EXCEEDED, TimeExceededCode.REASSEMBLY);
  }


  /**
   * Send an echo request to `dst` and wait for the matching reply.
   * @returns the reply's round-trip time and details.
   * @throws (rejects with) StackError: ETIMEDOUT when no reply came in time;
   *   the send's errno (ENETUNREACH, EMSGSIZE with `df`, ...); EHOSTDOWN /
   *   EHOSTUNREACH when ARP failed or an ICMP error came back; EINVAL for a
   *   size outside 0..65507; EALREADY when the same id/seq to `dst` is pending.
   */
  ping(dst: number, opts: PingOptions = {}): Promise<PingReply> {
    const size = opts.size ?? 56;
    const id = (opts.id ?? this.pingId) & 0xffff;
    const seq = (opts.seq ?? this.pingSeq++) & 0xffff;
    const timeout = opts.timeout ?? 1000;
    return new Promise<PingReply>((resolve, reject) => {
      if (!Number.isInteger(size) || size < 0 || size > 65507) {
        reject(new StackError(Errno.EINVAL, `ping: size ${size} outside 0..65507`));
        return;
      }
      const key = pingKey(dst >>> 0, id, seq);
      if (this.pings.has(key)) {
        reject(new StackError(Errno.EALREADY, 'ping: same id/seq already pending'));
        return;
      }
      const msg = new Uint8Array(ICMP_HEADER_LEN + size);
      for (let i = 0; i < size; i++) msg[ICMP_HEADER_LEN + i] = i & 0xff;
      IcmpRepr.emit(
        { type: IcmpType.ECHO_REQUEST, code: 0, ident: id, seqNo: seq, mtu: 0, pointer: 0, gateway: 0, data: msg.subarray(8) },
        msg,
      );
      const m = mFromBytes(this.ctx.pool, msg, { headroom: 64 });
      if (m === null) {
        this.ctx.icmpstat.nobufs++;
        reject(new StackError(Errno.ENOBUFS, 'ping: no buffers'));
        return;
      }
      const p: PendingPing = { sent: this.ctx.clock.now(), size, resolve, reject, timer: null };
      this.pings.set(key, p);
      this.ctx.icmpstat.outecho++;
      const err = ipOutput(this.ctx, m, { src: 0, dst: dst >>> 0, proto: IpProto.ICMP, ttl: opts.ttl, df: opts.df });
      if (err !== 0) {
        this.pings.delete(key);
        reject(new StackError(err, `ping ${ipv4ToString(dst)}: ${new StackError(err).code}`));
        return;
      }
      // The send may already have failed synchronously through notify().
      if (this.pings.get(key) !== p) return;
      p.timer = this.ctx.clock.setTimeout(() => {
        if (this.pings.get(key) !== p) return;
        this.pings.delete(key);
        reject(new StackError(Errno.ETIMEDOUT, `ping ${ipv4ToString(dst)}: no reply in ${timeout} ms`));
      }, timeout);
    });
  }

  /** Fail every pending ping (stack close) and stop their timers. */
  close(): void {
    for (const p of this.pings.values()) {
      if (p.timer !== null) this.ctx.clock.clearTimeout(p.timer);
      p.reject(new StackError(Errno.ENETDOWN, 'ping: stack closed'));
    }
    this.pings.clear();
  }
}

function pingKey(addr: number, id: number, seq: number): string {
  return `${addr >>> 0}/${id}/${seq}`;
}

/** Whether bytes `[off, off + n)` of the chain hold ping's pattern (byte i = i mod 256). */
function patternOk(m: Mbuf, off: number, n: number): boolean {
  let i = -off;
  for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) {
    for (let k = 0; k < mm.len; k++, i++) {
      if (i >= 0 && i < n && mm.data[mm.off + k] !== (i & 0xff)) return false;
    }
  }
  return true;
}
