/**
 * The SYN cache (NetBSD `syn_cache_*` in `tcp_input.c`; FreeBSD
 * `tcp_syncache.c`): a listener answers a SYN with a SYN-ACK from a small
 * entry instead of a full socket and control block, and makes the socket
 * only when the handshake's ACK arrives. The cache is bounded in total and
 * per listener; when full, the oldest entry is evicted (counted
 * `scOverflowed`), so a SYN flood costs bounded memory and cannot fill the
 * listen queue with half-open sockets.
 *
 * The SYN-ACK is retransmitted with exponential backoff from one clock
 * timer for the whole cache (armed at the earliest deadline).
 *
 * @module
 */
import type { TimerHandle } from '../../kern/clock.js';
import type { Socket } from '../../socket/socket.js';
import { TcpFlag, type TcpRepr } from '../../wire/tcp.js';
import type { TcpProtocol } from './protocol.js';
import { seqGt } from './seq.js';
import { blankRepr, tcpEmit, tcpRespondRst } from './subr.js';
import type { TcpCb } from './tcpcb.js';
import type { IpAddress } from '../../wire/ip.js';

/** One half-open connection (`struct syn_cache`). */
export interface SynCacheEntry {
  key: string;
  head: Socket;
  listener: TcpCb;
  laddr: IpAddress;
  lport: number;
  faddr: IpAddress;
  fport: number;
  /** The zone of a link-scoped `faddr`: the interface the SYN came in on (0 otherwise). */
  zone: number;
  irs: number;
  iss: number;
  /** Peer's options. */
  peerMss: number | null;
  peerWscale: number | null;
  sackOk: boolean;
  tsRecent: number | null;
  /** Our options. */
  requestRScale: number;
  ourMss: number;
  tsOffset: number;
  /** Window we advertised in the SYN-ACK (unscaled). */
  rcvWnd: number;
  /** SYN-ACKs sent. */
  sends: number;
  /** When to resend the SYN-ACK. */
  at: number;
  /**
   * When the peer's handshake ACK arrived while the listen queue was full
   * (-1: not yet). Such an entry is a connection the peer already believes
   * ESTABLISHED: it is never evicted for a newer SYN, and its SYN-ACK is
   * resent every {@link SC_ACKED_RETRY_MS} so the peer's answering ACK can
   * complete it as soon as `accept` makes room.
   */
  ackedAt: number;
}

/** Resend schedule of the SYN-ACK: 1 s, doubling (RFC 6298 2.1 for the SYN). */
const SC_RTO_MS = 1000;
/** Resend interval for an entry whose handshake ACK found the listen queue full. */
const SC_ACKED_RETRY_MS = 200;
/** How long such an entry waits for room in the listen queue before it is dropped. */
const SC_ACKED_MAX_MS = 75_000;

/** The SYN cache of one TCP instance. */
export class SynCache {
  private readonly tcp: TcpProtocol;
  /** Entries in insertion order (oldest first: the eviction order). */
  private readonly entries = new Map<string, SynCacheEntry>();
  private readonly perHead = new Map<Socket, number>();
  private handle: TimerHandle | null = null;
  private armedAt = Infinity;

  constructor(tcp: TcpProtocol) {
    this.tcp = tcp;
  }

  /** Entries held. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * A segment for listener `lp` (RFC 9293 3.10.7.2 LISTEN, with the cache
   * standing in for SYN-RECEIVED). Returns the new ESTABLISHED connection
   * when this segment completes a handshake (the caller goes on processing
   * it there), else null; the caller frees the segment's data.
   */
  input(lp: TcpCb, seg: TcpRepr, src: IpAddress, dst: IpAddress): TcpCb | null {
    const tcp = this.tcp;
    const stats = tcp.stats;
    const head = lp.so;
    if (head === null) return null;
    const flags = seg.flags;
    const key = `${src}:${seg.srcPort}:${dst}:${seg.dstPort}`;
    if ((flags & TcpFlag.RST) !== 0) {
      // RFC 9293: a RST in LISTEN is ignored; one matching a cache entry's
      // sequence space aborts it (SYN-RECEIVED -> LISTEN).
      const e = this.entries.get(key);
      if (e !== undefined && seg.seq === ((e.irs + 1) >>> 0)) {
        stats.scReset++;
        this.remove(e);
      } else stats.rcvbadrst++;
      return null;
    }
    if ((flags & TcpFlag.ACK) !== 0) {
      const e = this.entries.get(key);
      if (e === undefined && (flags & TcpFlag.SYN) === 0 && tcp.tun.syncookies !== 0 && tcp.syncookies.recentlySent()) {
        // No entry, but cookies went out lately: this may be the ACK of one.
        return this.cookieAck(lp, head, key, seg, src, dst);
      }
      if (e === undefined || (flags & TcpFlag.SYN) !== 0 || seg.ack !== ((e.iss + 1) >>> 0)) {
        // RFC 9293 3.10.7.2: an ACK in LISTEN gets <SEQ=SEG.ACK><CTL=RST>.
        stats.scBadack++;
        tcpRespondRst(tcp, seg, src, dst);
        return null;
      }
      if (seqGt(seg.seq, (e.irs + 1 + e.rcvWnd * 2 ** e.requestRScale) >>> 0)) {
        stats.scBadack++;
        return null;
      }
      // Completed: the socket and control block are made now.
      const ntp = tcp.syncacheComplete(e, seg);
      if (ntp === null) {
        // Listen queue full: keep the entry, drop the ACK (BSD). The peer
        // believes the connection is up and will not resend on its own, so
        // mark the entry: it is not evicted, and its SYN-ACK is resent soon
        // so the peer's ACK completes it once accept() makes room.
        stats.listendrop++;
        if (e.ackedAt < 0) e.ackedAt = tcp.clock.now();
        e.at = tcp.clock.now() + SC_ACKED_RETRY_MS;
        this.schedule(e.at);
        return null;
      }
      this.remove(e);
      stats.scCompleted++;
      return ntp;
    }
    if ((flags & TcpFlag.SYN) === 0) {
      stats.rcvbadsyn++;
      return null;
    }
    const old = this.entries.get(key);
    if (old !== undefined) {
      // A retransmitted SYN: answer again (RFC 9293 SYN-RECEIVED behaviour).
      stats.scDupesyn++;
      this.sendSynAck(old);
      return null;
    }
    if (head.q.length >= head.qlimit) {
      stats.listendrop++;
      return null;
    }
    if (tcp.pool.underPressure) {
      // Memory pressure: a new half-open connection's entry is the first
      // thing to refuse; established ones keep what they have. A cookie holds
      // no memory, so with cookies on the SYN is still answered; without,
      // the peer resends it after its RTO.
      stats.scPressure++;
      if (tcp.tun.syncookies !== 0) this.sendCookie(lp, head, key, seg, src, dst);
      else stats.listendrop++;
      return null;
    }
    // Full: evict the oldest half-open entry whose SYN-ACK has gone
    // unanswered for a whole RTO (likely a spoofed SYN: the flood defence);
    // never a fresh one (its ACK may be on the way: evicting it would reset a
    // peer that is connecting right now) nor one the peer has already ACKed.
    // With none to evict, drop this SYN: the peer resends it after its RTO,
    // as with Linux's full SYN queue.
    // With SYN cookies on, the SYN is answered all the same, from a cookie
    // (syncookie.ts) instead of an entry.
    if (this.entries.size >= tcp.tun.syncacheLimit && !this.evictOldest(null)) {
      stats.scOverflowed++;
      if (tcp.tun.syncookies !== 0) this.sendCookie(lp, head, key, seg, src, dst);
      else stats.listendrop++;
      return null;
    }
    if ((this.perHead.get(head) ?? 0) >= tcp.tun.syncacheBucketLimit && !this.evictOldest(head)) {
      stats.scOverflowed++;
      if (tcp.tun.syncookies !== 0) this.sendCookie(lp, head, key, seg, src, dst);
      else stats.listendrop++;
      return null;
    }
    const e = tcp.syncacheEntry(lp, head, key, seg, src, dst);
    this.entries.set(key, e);
    this.perHead.set(head, (this.perHead.get(head) ?? 0) + 1);
    stats.scAdded++;
    this.sendSynAck(e);
    this.schedule(e.at);
    return null;
  }

  /**
   * Answer a SYN with a cookie SYN-ACK (RFC 4987 3.6): the entry is built
   * as for the cache, its ISS replaced by the cookie, and not kept.
   */
  private sendCookie(lp: TcpCb, head: Socket, key: string, seg: TcpRepr, src: IpAddress, dst: IpAddress): void {
    const tcp = this.tcp;
    const e = tcp.syncacheEntry(lp, head, key, seg, src, dst);
    e.iss = tcp.syncookies.encode(dst, seg.dstPort, src, seg.srcPort, seg.seq, seg.mss, e.peerWscale, e.sackOk);
    tcp.stats.scCookiesSent++;
    this.sendSynAck(e);
  }

  /**
   * The ACK of a cookie SYN-ACK, perhaps: rebuild the entry from the cookie
   * (`SEG.ACK - 1`, with the peer's ISN `SEG.SEQ - 1`) and complete the
   * handshake, or answer a RST when the cookie does not check out.
   */
  private cookieAck(lp: TcpCb, head: Socket, key: string, seg: TcpRepr, src: IpAddress, dst: IpAddress): TcpCb | null {
    const tcp = this.tcp;
    const stats = tcp.stats;
    const irs = (seg.seq - 1) >>> 0;
    const iss = (seg.ack - 1) >>> 0;
    const st = tcp.syncookies.decode(dst, seg.dstPort, src, seg.srcPort, irs, iss);
    if (st === null) {
      stats.scCookiesBad++;
      stats.scBadack++;
      tcpRespondRst(tcp, seg, src, dst);
      return null;
    }
    // The SYN as the cookie remembers it; timestamps are on when the ACK carries them.
    const syn: TcpRepr = { ...blankRepr(), srcPort: seg.srcPort, dstPort: seg.dstPort, seq: irs, flags: TcpFlag.SYN, mss: st.mss, windowScale: st.wscale, sackPermitted: st.sackOk, tsVal: seg.tsVal, tsEcr: 0 };
    const e = tcp.syncacheEntry(lp, head, key, syn, src, dst);
    e.iss = iss;
    e.sends = 1;
    const ntp = tcp.syncacheComplete(e, seg);
    if (ntp === null) {
      // Listen queue full. The peer believes it is connected and may send
      // nothing more (a server-speaks-first protocol): keep the cookie's
      // connection as an ACKed entry, like one of the cache's own (never
      // evicted, SYN-ACK resent until accept() makes room). Only real
      // handshakes get here (an off-path attacker cannot complete one), so
      // the overshoot is bounded by real clients, and capped at four times
      // the cache's size.
      stats.listendrop++;
      if (this.entries.size < 4 * tcp.tun.syncacheLimit) {
        const now = tcp.clock.now();
        e.ackedAt = now;
        e.at = now + SC_ACKED_RETRY_MS;
        this.entries.set(key, e);
        this.perHead.set(head, (this.perHead.get(head) ?? 0) + 1);
        this.schedule(e.at);
      }
      return null;
    }
    stats.scCookiesOk++;
    stats.scCompleted++;
    return ntp;
  }

  /** Evict the oldest stale, un-ACKed entry (of `head`, or of any listener); false when there is none. */
  private evictOldest(head: Socket | null): boolean {
    const now = this.tcp.clock.now();
    for (const e of this.entries.values()) {
      if ((head === null || e.head === head) && e.ackedAt < 0 && (e.sends > 1 || now >= e.at)) {
        this.tcp.stats.scOverflowed++;
        this.remove(e);
        return true;
      }
    }
    return false;
  }

  /** Forget every entry of listener `head` (it closed). */
  dropHead(head: Socket): void {
    for (const e of [...this.entries.values()]) if (e.head === head) this.remove(e);
  }

  /** Forget everything (the stack is closing). */
  clear(): void {
    this.entries.clear();
    this.perHead.clear();
    if (this.handle !== null) this.tcp.clock.clearTimeout(this.handle);
    this.handle = null;
    this.armedAt = Infinity;
  }

  private remove(e: SynCacheEntry): void {
    if (!this.entries.delete(e.key)) return;
    const n = (this.perHead.get(e.head) ?? 1) - 1;
    if (n <= 0) this.perHead.delete(e.head);
    else this.perHead.set(e.head, n);
  }

  /** Send (or resend) the SYN-ACK of an entry. */
  private sendSynAck(e: SynCacheEntry): void {
    const tcp = this.tcp;
    const r = blankRepr();
    r.srcPort = e.lport;
    r.dstPort = e.fport;
    r.seq = e.iss;
    r.ack = (e.irs + 1) >>> 0;
    r.flags = TcpFlag.SYN | TcpFlag.ACK;
    r.window = e.rcvWnd;
    r.mss = e.ourMss;
    if (e.peerWscale !== null) r.windowScale = e.requestRScale;
    r.sackPermitted = e.sackOk;
    if (e.tsRecent !== null) {
      r.tsVal = (Math.floor(tcp.clock.now()) + e.tsOffset) >>> 0;
      r.tsEcr = e.tsRecent;
    }
    if (e.sends > 0) tcp.stats.scRetransmitted++;
    e.sends++;
    e.at = tcp.clock.now() + SC_RTO_MS * 2 ** (e.sends - 1);
    tcpEmit(tcp, r, e.laddr, e.faddr, e.zone);
  }

  private schedule(at: number): void {
    if (at >= this.armedAt) return;
    const clock = this.tcp.clock;
    if (this.handle !== null) clock.clearTimeout(this.handle);
    this.armedAt = at;
    this.handle = clock.setTimeout(() => this.onTimer(), Math.max(0, at - clock.now()));
  }

  private onTimer(): void {
    this.handle = null;
    this.armedAt = Infinity;
    const tcp = this.tcp;
    const now = tcp.clock.now() + 0.5;
    let next = Infinity;
    for (const e of [...this.entries.values()]) {
      if (e.at <= now) {
        const acked = e.ackedAt >= 0;
        if (acked ? now - e.ackedAt > SC_ACKED_MAX_MS : e.sends > tcp.tun.synackRetries) {
          tcp.stats.scTimedOut++;
          this.remove(e);
          continue;
        }
        this.sendSynAck(e);
        if (acked) e.at = tcp.clock.now() + SC_ACKED_RETRY_MS;
      }
      if (e.at < next) next = e.at;
    }
    if (next !== Infinity) this.schedule(next);
  }
}
