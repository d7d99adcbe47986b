/**
 * ICMPv6 (RFC 4443; NetBSD `sys/netinet6/icmp6.c`): echo replies, the
 * errors we generate (rate-limited by a token bucket, RFC 4443 2.4 (f), and
 * never where 2.4 (e) forbids), errors we receive (their quote checked to
 * be a packet we sent, then handed to the sender: a pending ping6 or the
 * transport's `ctlinput`; packet too big updates the path MTU, RFC 8201),
 * Neighbor Discovery messages passed to `nd6.ts`, and `ping6()`.
 *
 * @module
 */
import { Errno, StackError } from '../kern/errno.js';
import type { TimerHandle } from '../kern/clock.js';
import { M_BCAST, M_MCAST, mAdj, mCopydata, mFreem, mFromBytes, mLength, mMakeWritable, mPullup, type Mbuf } from '../mbuf/index.js';
import { InetChecksum } from '../wire/checksum.js';
import {
  ICMP6_HEADER_LEN,
  Icmp6Type,
  ParamProb6Code,
  TimeExceed6Code,
  Unreach6Code,
  icmp6IsError,
} from '../wire/icmpv6.js';
import { Ip6Address } from '../wire/ip.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, Ip6Next, Ipv6Field, pseudoHeaderSum6 } from '../wire/ipv6.js';
import { IPV6_FRAG_HEADER_LEN } from '../wire/ipv6-ext.js';
import type { Ifnet } from './ifnet.js';
import type { Inet6 } from './inet6.js';
import { ip6Output, nextHop6, pmtuUpdate6 } from './ipv6-output.js';
import type { IpPacketInfo, TransportError } from './protosw.js';
import { PpsRateCheck } from '../kern/ratecheck.js';

/** ICMPv6 tunables (`net.inet6.icmp6.*`). */
export interface Icmp6Tunables {
  /** Errors per second we may send (token bucket); negative: unlimited, 0: none (NetBSD `icmp6errppslimit`, 100). */
  errppslimit: number;
}

/** Options of {@link Icmp6.ping}. */
export interface Ping6Options {
  /** Data bytes after the ICMPv6 header (default 56). */
  size?: number;
  /** Echo identifier (default: the stack's, chosen at random). */
  id?: number;
  /** Sequence number (default: the next of a counter). */
  seq?: number;
  /** Milliseconds to wait (default 1000). */
  timeout?: number;
  /** Hop limit of the request. */
  hopLimit?: number;
  /** Interface index of the zone (link-local and multicast destinations). */
  ifindex?: number;
  /** Do not fragment (`IPV6_DONTFRAG`): a request above the path MTU fails with EMSGSIZE. */
  dontFrag?: boolean;
}

/** A successful ping6. */
export interface Ping6Reply {
  /** Round-trip time in ms (stack clock). */
  rtt: number;
  /** Who answered (RFC 5952 text). */
  from: string;
  /** Hop limit of the reply. */
  hopLimit: number;
  /** Data bytes in the reply. */
  bytes: number;
  id: number;
  seq: number;
}

interface PendingPing6 {
  readonly dst: Ip6Address;
  readonly sent: number;
  readonly size: number;
  readonly resolve: (r: Ping6Reply) => void;
  readonly reject: (e: Error) => void;
  timer: TimerHandle | null;
}

/** Most bytes of the offending packet an error quotes: the message fits the IPv6 minimum MTU (RFC 4443 2.4 (c)). */
const QUOTE_MAX = IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMP6_HEADER_LEN;

/** errno for an ICMPv6 error (NetBSD `inet6ctlerrmap`). */
export function icmp6Errno(type: number, code: number): number {
  switch (type) {
    case Icmp6Type.DST_UNREACH:
      if (code === Unreach6Code.NOPORT) return Errno.ECONNREFUSED;
      if (code === Unreach6Code.ADMIN) return Errno.EACCES;
      return Errno.EHOSTUNREACH;
    case Icmp6Type.PACKET_TOO_BIG:
      return Errno.EMSGSIZE;
    case Icmp6Type.PARAM_PROB:
      return code === ParamProb6Code.NEXTHEADER ? Errno.ECONNREFUSED : Errno.ENOPROTOOPT;
    default:
      return Errno.EHOSTUNREACH;
  }
}

/**
 * The upper-layer protocol of the IPv6 packet in `q` (header at 0) and the
 * offset of its header, walking extension headers; `[-1, -1]` when it
 * cannot be found in `q` (a later fragment, a truncated quote).
 */
export function quotedUpperLayer(q: Uint8Array, len = q.length): [number, number] {
  if (len < IPV6_HEADER_LEN) return [-1, -1];
  let nxt = q[Ipv6Field.NEXT_HEADER]!;
  let off = IPV6_HEADER_LEN;
  for (let n = 0; n < 16; n++) {
    if (nxt === Ip6Next.HOPOPTS || nxt === Ip6Next.DSTOPTS || nxt === Ip6Next.ROUTING) {
      if (off + 2 > len) return [-1, -1];
      const next = q[off]!;
      off += (q[off + 1]! + 1) << 3;
      nxt = next;
    } else if (nxt === Ip6Next.FRAGMENT) {
      if (off + IPV6_FRAG_HEADER_LEN > len) return [-1, -1];
      if ((((q[off + 2]! << 8) | q[off + 3]!) & 0xfff8) !== 0) return [-1, -1];
      nxt = q[off]!;
      off += IPV6_FRAG_HEADER_LEN;
    } else {
      return off <= len ? [nxt, off] : [-1, -1];
    }
  }
  return [-1, -1];
}

/** ICMPv6 of one stack. */
export class Icmp6 {
  private readonly errRate: PpsRateCheck;
  private readonly pings = new Map<string, PendingPing6>();
  private readonly pingId: number;
  private pingSeq = 0;
  private readonly ck = new InetChecksum();

  constructor(
    private readonly in6: Inet6,
    readonly tun: Icmp6Tunables,
  ) {
    this.errRate = new PpsRateCheck(in6.net.clock, () => this.tun.errppslimit);
    this.pingId = globalThis.crypto.getRandomValues(new Uint16Array(1))[0]!;
  }

  /**
   * Process one ICMPv6 message (`icmp6_input`). `m` starts at the IPv6
   * header and the message at byte `off`; ownership passes here. Never
   * throws on bad input.
   */
  input(m: Mbuf, off: number, info: IpPacketInfo<Ip6Address>, ifp: Ifnet): void {
    const st = this.in6.icmp6stat;
    st.received++;
    const len = m.pkthdr!.len - off;
    if (len < ICMP6_HEADER_LEN) return this.drop(m, 'tooshort');
    if (!this.checksumOk(m, off, len, info)) return this.drop(m, 'checksum');
    // ND and error messages are read in one piece; echo data stays where it is.
    const type0 = m.len > off ? m.data[m.off + off]! : -1;
    const want = type0 === Icmp6Type.ECHO_REQUEST || type0 === Icmp6Type.ECHO_REPLY ? off + ICMP6_HEADER_LEN : off + len;
    const pm = mPullup(m, Math.min(want, m.pool.mclbytes));
    if (pm === null) {
      st.nobufs++;
      return;
    }
    m = pm;
    const type = m.data[m.off + off]!;
    switch (type) {
      case Icmp6Type.ECHO_REQUEST:
        st.echo++;
        return this.reflect(m, off, len, info, ifp);
      case Icmp6Type.ECHO_REPLY:
        st.echoreply++;
        return this.echoReply(m, off, len, info);
      case Icmp6Type.DST_UNREACH:
        st.unreach++;
        return this.errorInput(m, off, len);
      case Icmp6Type.PACKET_TOO_BIG:
        st.pkttoobig++;
        return this.errorInput(m, off, len);
      case Icmp6Type.TIME_EXCEEDED:
        st.timxceed++;
        return this.errorInput(m, off, len);
      case Icmp6Type.PARAM_PROB:
        st.paramprob++;
        return this.errorInput(m, off, len);
      case Icmp6Type.ROUTER_SOLICIT:
      case Icmp6Type.ROUTER_ADVERT:
      case Icmp6Type.NEIGHBOR_SOLICIT:
      case Icmp6Type.NEIGHBOR_ADVERT:
      case Icmp6Type.REDIRECT:
        this.in6.nd.input(m, off, len, info, ifp);
        return;
      case Icmp6Type.MLD_QUERY:
        this.in6.mld.queryInput(m.data, m.off + off, Math.min(len, m.len - off), info.src, info.ttl, ifp);
        mFreem(m);
        return;
      case Icmp6Type.MLD_REPORT:
      case Icmp6Type.MLD_DONE:
      case Icmp6Type.MLDV2_REPORT:
        return this.drop(m, 'mld');
      default:
        // RFC 4443 2.4 (a, b): unknown errors go up, unknown informational messages are discarded.
        return this.drop(m, 'unknowntype');
    }
  }

  private drop(m: Mbuf, counter: keyof Inet6['icmp6stat']): void {
    this.in6.icmp6stat[counter]++;
    mFreem(m);
  }

  private checksumOk(m: Mbuf, off: number, len: number, info: IpPacketInfo<Ip6Address>): boolean {
    const ck = this.ck.reset(pseudoHeaderSum6(info.src, info.dst, Ip6Next.ICMPV6, len));
    let skip = off;
    for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) {
      if (skip >= mm.len) {
        skip -= mm.len;
        continue;
      }
      ck.add(mm.data, mm.off + skip, mm.len - skip);
      skip = 0;
    }
    return ck.verify();
  }

  /** Answer an echo request (RFC 4443 4.2) with the same data, from the address it was sent to (or one we pick, for multicast). */
  private reflect(m: Mbuf, off: number, len: number, info: IpPacketInfo<Ip6Address>, ifp: Ifnet): void {
    const st = this.in6.icmp6stat;
    if (info.src.isUnspecified) return this.drop(m, 'badsrcerr');
    mAdj(m, off);
    if (mMakeWritable(m, 0, ICMP6_HEADER_LEN) !== 0) return this.drop(m, 'nobufs');
    const zone = zoneOf(ifp, info.src);
    const src = info.multicast ? this.in6.selectSourceFor(info.src, zone) : info.dst;
    if (src === null) return this.drop(m, 'nobufs');
    m.data[m.off] = Icmp6Type.ECHO_REPLY;
    m.data[m.off + 1] = 0;
    this.fillChecksum(m, len, src, info.src);
    st.reflect++;
    ip6Output(this.in6, m, { src, dst: info.src, proto: Ip6Next.ICMPV6, ifindex: zone });
  }

  /** Write the checksum of the ICMPv6 message `m` (starting at its header, `len` bytes). */
  private fillChecksum(m: Mbuf, len: number, src: Ip6Address, dst: Ip6Address): void {
    m.data[m.off + 2] = 0;
    m.data[m.off + 3] = 0;
    const ck = this.ck.reset(pseudoHeaderSum6(src, dst, Ip6Next.ICMPV6, len));
    for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) ck.add(mm.data, mm.off, mm.len);
    const c = ck.finish();
    m.data[m.off + 2] = c >>> 8;
    m.data[m.off + 3] = c & 0xff;
  }

  private echoReply(m: Mbuf, off: number, len: number, info: IpPacketInfo<Ip6Address>): void {
    const st = this.in6.icmp6stat;
    if (len < ICMP6_HEADER_LEN) return this.drop(m, 'tooshort');
    const b = m.data;
    const o = m.off + off;
    const id = (b[o + 4]! << 8) | b[o + 5]!;
    const seq = (b[o + 6]! << 8) | b[o + 7]!;
    const key = pingKey(info.src, id, seq);
    const p = this.pings.get(key);
    if (p === undefined) return this.drop(m, 'pingunmatched');
    const dataLen = len - ICMP6_HEADER_LEN;
    if (dataLen !== p.size || !patternOk(m, off + ICMP6_HEADER_LEN, dataLen)) return this.drop(m, 'pingbaddata');
    mFreem(m);
    st.pingmatched++;
    this.pings.delete(key);
    if (p.timer !== null) this.in6.net.clock.clearTimeout(p.timer);
    p.resolve({ rtt: this.in6.net.clock.now() - p.sent, from: info.src.toString(), hopLimit: info.ttl, bytes: dataLen, id, seq });
  }

  /** An error about a packet we sent: check the quote, then tell its sender (`icmp6_notify_error`). */
  private errorInput(m: Mbuf, off: number, len: number): void {
    const st = this.in6.icmp6stat;
    const qlen = Math.min(len - ICMP6_HEADER_LEN, QUOTE_MAX);
    if (qlen < IPV6_HEADER_LEN) return this.drop(m, 'tooshort');
    const b = m.data;
    const o = m.off + off;
    const type = b[o]!;
    const code = b[o + 1]!;
    const param = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
    const q = new Uint8Array(qlen);
    mCopydata(m, off + ICMP6_HEADER_LEN, qlen, q);
    mFreem(m);
    // The quoted packet must be one we sent: its source one of our addresses.
    if (this.in6.findLocal(q, Ipv6Field.SRC) === null) {
      st.notours++;
      return;
    }
    let mtu = 0;
    if (type === Icmp6Type.PACKET_TOO_BIG) {
      // RFC 8201 4: below 1280 is raised to 1280 (pmtuUpdate6 counts it).
      mtu = param;
      const r = pmtuUpdate6(this.in6, Ip6Address.fromBytes(q, Ipv6Field.DST), mtu);
      if (r > 0) mtu = r;
    }
    this.notify(q, icmp6Errno(type, code), type, code, mtu);
  }

  /**
   * Deliver an error about the IPv6 packet quoted in `q` (header at 0) to
   * whoever sent it: a pending ping6, or the transport's `ctlinput`.
   * `type`/`code` -1 for a local failure (ND).
   */
  notify(q: Uint8Array, errno: number, type: number, code: number, mtu: number): void {
    const st = this.in6.icmp6stat;
    const [proto, uoff] = quotedUpperLayer(q);
    if (proto < 0) {
      st.tooshort++;
      return;
    }
    const src = Ip6Address.fromBytes(q, Ipv6Field.SRC);
    const dst = Ip6Address.fromBytes(q, Ipv6Field.DST);
    if (proto === Ip6Next.ICMPV6) {
      if (uoff + 8 <= q.length && q[uoff] === Icmp6Type.ECHO_REQUEST) {
        const key = pingKey(dst, (q[uoff + 4]! << 8) | q[uoff + 5]!, (q[uoff + 6]! << 8) | q[uoff + 7]!);
        const p = this.pings.get(key);
        if (p !== undefined) {
          st.ctlinput++;
          this.pings.delete(key);
          if (p.timer !== null) this.in6.net.clock.clearTimeout(p.timer);
          p.reject(new StackError(errno, `ping6 ${dst.toString()}: ${new StackError(errno).code}`));
        }
      }
      return;
    }
    const tp = this.in6.net.protocol(proto);
    if (tp?.ctlinput === undefined) {
      st.noproto++;
      return;
    }
    const has4 = uoff + 4 <= q.length;
    const err: TransportError = {
      errno,
      icmpType: type,
      icmpCode: code,
      mtu,
      src,
      dst,
      srcPort: has4 ? (q[uoff]! << 8) | q[uoff + 1]! : 0,
      dstPort: has4 ? (q[uoff + 2]! << 8) | q[uoff + 3]! : 0,
      quoted: q.slice(uoff, uoff + 8),
    };
    st.ctlinput++;
    tp.ctlinput(err);
  }

  /** A held packet (IPv6 header in front) could not be sent: neighbour discovery failed. Tell its sender; ownership passes. */
  localUnreachable(m: Mbuf, errno: number): void {
    const n = Math.min(mLength(m), 128);
    const q = new Uint8Array(n);
    mCopydata(m, 0, n, q);
    mFreem(m);
    if (n >= IPV6_HEADER_LEN) this.notify(q, errno, -1, -1, 0);
  }

  /**
   * Send an ICMPv6 error about `m` (`icmp6_error`), which starts at the
   * offending packet's IPv6 header (40 bytes contiguous). Ownership passes.
   * Not sent, and counted, where RFC 4443 2.4 (e) forbids it: about an
   * ICMPv6 error or a redirect; to a multicast destination or from a
   * link-layer multicast or broadcast — except packet too big, and
   * parameter problem code 2 when `optionException` (an unrecognised option
   * of type `10xxxxxx`); from `::` or a multicast source; and past the rate
   * limit (2.4 (f)).
   * @param param pointer (parameter problem) or MTU (packet too big), else 0.
   */
  error(m: Mbuf, type: number, code: number, param = 0, optionException = false): void {
    const st = this.in6.icmp6stat;
    const total = mLength(m);
    if (m.len < IPV6_HEADER_LEN || total < IPV6_HEADER_LEN) return this.drop(m, 'oldshort');
    const b = m.data;
    const o = m.off;
    const mcastOk = type === Icmp6Type.PACKET_TOO_BIG || (type === Icmp6Type.PARAM_PROB && code === ParamProb6Code.OPTION && optionException);
    if (!mcastOk && (b[o + Ipv6Field.DST] === 0xff || (m.flags & (M_MCAST | M_BCAST)) !== 0)) return this.drop(m, 'bmcasterr');
    if (b[o + Ipv6Field.SRC] === 0xff || isZero16(b, o + Ipv6Field.SRC)) return this.drop(m, 'badsrcerr');
    // RFC 4443 2.4 (e.1, e.2): never about an error or a redirect.
    const head = new Uint8Array(Math.min(total, QUOTE_MAX));
    mCopydata(m, 0, head.length, head);
    const [proto, uoff] = quotedUpperLayer(head);
    if (proto === Ip6Next.ICMPV6) {
      const t = uoff < head.length ? head[uoff]! : -1;
      if (t < 0 || icmp6IsError(t) || t === Icmp6Type.REDIRECT) return this.drop(m, 'oldicmp');
    }
    if (!this.errRate.check()) return this.drop(m, 'ratelimited');
    const src = Ip6Address.fromBytes(head, Ipv6Field.SRC);
    const dst = Ip6Address.fromBytes(head, Ipv6Field.DST);
    const rcvif = m.pkthdr?.rcvif;
    mFreem(m);
    const ifp = this.in6.net.ifnetList().find((i) => i.name === rcvif);
    const zone = ifp !== undefined ? zoneOf(ifp, src) : 0;
    const msg = new Uint8Array(ICMP6_HEADER_LEN + head.length);
    msg[0] = type;
    msg[1] = code;
    msg[4] = param >>> 24;
    msg[5] = (param >>> 16) & 0xff;
    msg[6] = (param >>> 8) & 0xff;
    msg[7] = param & 0xff;
    msg.set(head, ICMP6_HEADER_LEN);
    // From the address the packet was sent to when it is ours (unicast), else the route's choice.
    const from = dst.isMulticast || this.in6.findLocal(head, Ipv6Field.DST) === null ? this.in6.selectSourceFor(src, zone) : dst;
    if (from === null) return;
    const out = mFromBytes(this.in6.net.pool, msg, { headroom: 64 });
    if (out === null) {
      st.nobufs++;
      return;
    }
    this.fillChecksum(out, msg.length, from, src);
    st.error++;
    ip6Output(this.in6, out, { src: from, dst: src, proto: Ip6Next.ICMPV6, ifindex: zone });
  }

  /**
   * `icmp6_error` for a transport: `m` is an IPv6 packet as the transport got
   * it from IPv6 input (starting at the transport header, untrimmed), whose
   * IPv6 header and extension headers IPv6 input left in the first mbuf's
   * leading space. The ICMPv4 `type`/`code` a transport speaks (BSD's
   * transports call `icmp_error` or `icmp6_error` by family; ours name the
   * v4 message) map to their ICMPv6 equivalents (RFC 4443 3.1: port
   * unreachable is destination unreachable code 4).
   * @returns false, with `m` untouched and still the caller's, when no IPv6
   *   header that describes exactly this data is found in front of it
   *   (an IPv4 packet); true when the error went on (ownership passed).
   */
  errorFromTransport(m: Mbuf, type: number, code: number): boolean {
    const len = mLength(m);
    const b = m.data;
    for (let k = IPV6_HEADER_LEN; k <= m.off && k <= 1024; k += 8) {
      const h = m.off - k;
      if (b[h]! >>> 4 !== 6 || ((b[h + 4]! << 8) | b[h + 5]!) !== k - IPV6_HEADER_LEN + len) continue;
      // The chain from that header must lead exactly to where the transport's data starts.
      const [, uoff] = quotedUpperLayer(b.subarray(h, m.off + Math.min(m.len, 8)));
      if (uoff !== k) continue;
      m.off = h;
      m.len += k;
      if (m.pkthdr !== null) m.pkthdr.len += k;
      const [t6, c6] = icmp4to6(type, code);
      this.error(m, t6, c6);
      return true;
    }
    return false;
  }

  /** Time exceeded (reassembly) for a datagram that timed out (RFC 8200 4.5). Ownership of `first` passes. */
  reassTimeout(first: Mbuf): void {
    this.error(first, Icmp6Type.TIME_EXCEEDED, TimeExceed6Code.REASSEMBLY);
  }


  /**
   * Send an echo request to `dst` and wait for the reply (`ping6 -c 1`).
   * @throws (rejects with) StackError: ETIMEDOUT, EINVAL (size outside
   *   0..65487), EALREADY (same id/seq pending), the send's errno, or the
   *   errno of an ICMPv6 error / ND failure about the request.
   */
  ping(dst: Ip6Address, opts: Ping6Options = {}): Promise<Ping6Reply> {
    const size = opts.size ?? 56;
    const id = (opts.id ?? this.pingId) & 0xffff;
    const seq = (opts.seq ?? this.pingSeq++) & 0xffff;
    const timeout = opts.timeout ?? 1000;
    return new Promise<Ping6Reply>((resolve, reject) => {
      if (!Number.isInteger(size) || size < 0 || size > 65535 - ICMP6_HEADER_LEN) {
        reject(new StackError(Errno.EINVAL, `ping6: size ${size} outside 0..${65535 - ICMP6_HEADER_LEN}`));
        return;
      }
      const key = pingKey(dst, id, seq);
      if (this.pings.has(key)) {
        reject(new StackError(Errno.EALREADY, 'ping6: same id/seq already pending'));
        return;
      }
      const zone = opts.ifindex ?? 0;
      const nh = nextHop6(this.in6, dst, zone);
      const src = typeof nh === 'number' ? null : this.in6.selectSourceFor(dst, zone);
      if (src === null) {
        const err = typeof nh === 'number' ? nh : Errno.EADDRNOTAVAIL;
        reject(new StackError(err, `ping6 ${dst.toString()}: ${new StackError(err).code}`));
        return;
      }
      const msg = new Uint8Array(ICMP6_HEADER_LEN + size);
      msg[0] = Icmp6Type.ECHO_REQUEST;
      msg[4] = id >>> 8;
      msg[5] = id & 0xff;
      msg[6] = seq >>> 8;
      msg[7] = seq & 0xff;
      for (let i = 0; i < size; i++) msg[ICMP6_HEADER_LEN + i] = i & 0xff;
      const m = mFromBytes(this.in6.net.pool, msg, { headroom: 64 });
      if (m === null) {
        this.in6.icmp6stat.nobufs++;
        reject(new StackError(Errno.ENOBUFS, 'ping6: no buffers'));
        return;
      }
      this.fillChecksum(m, msg.length, src, dst);
      const p: PendingPing6 = { dst, sent: this.in6.net.clock.now(), size, resolve, reject, timer: null };
      this.pings.set(key, p);
      this.in6.icmp6stat.outecho++;
      const err = ip6Output(this.in6, m, {
        src,
        dst,
        proto: Ip6Next.ICMPV6,
        hopLimit: opts.hopLimit,
        ifindex: zone,
        dontFrag: opts.dontFrag,
      });
      if (err !== 0) {
        this.pings.delete(key);
        reject(new StackError(err, `ping6 ${dst.toString()}: ${new StackError(err).code}`));
        return;
      }
      if (this.pings.get(key) !== p) return;
      p.timer = this.in6.net.clock.setTimeout(() => {
        if (this.pings.get(key) !== p) return;
        this.pings.delete(key);
        reject(new StackError(Errno.ETIMEDOUT, `ping6 ${dst.toString()}: no reply in ${timeout} ms`));
      }, timeout);
    });
  }

  /** Fail every pending ping6 (stack close). */
  close(): void {
    for (const p of this.pings.values()) {
      if (p.timer !== null) this.in6.net.clock.clearTimeout(p.timer);
      p.reject(new StackError(Errno.ENETDOWN, 'ping6: stack closed'));
    }
    this.pings.clear();
  }
}

/** The ICMPv6 message standing for an ICMPv4 one a transport names (RFC 4443 3; SIIT's mapping, RFC 7915 4.2). */
export function icmp4to6(type: number, code: number): [number, number] {
  if (type === 3) return code === 3 ? [Icmp6Type.DST_UNREACH, Unreach6Code.NOPORT] : code === 2 ? [Icmp6Type.PARAM_PROB, ParamProb6Code.NEXTHEADER] : [Icmp6Type.DST_UNREACH, Unreach6Code.NOROUTE];
  if (type === 11) return [Icmp6Type.TIME_EXCEEDED, code];
  return [Icmp6Type.PARAM_PROB, ParamProb6Code.HEADER];
}

/** The zone (interface index) a reply to `peer` must leave through: that of `ifp` for link-scoped peers, else 0. */
export function zoneOf(ifp: Ifnet, peer: Ip6Address): number {
  return !ifp.isLoopback && (peer.isLinkLocal || peer.isMulticast) ? ifp.index : 0;
}

function pingKey(a: Ip6Address, id: number, seq: number): string {
  return `${a.toString()}/${id}/${seq}`;
}

function isZero16(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 16; i++) if (b[o + i] !== 0) return false;
  return true;
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
