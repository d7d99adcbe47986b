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

/** One half-open connection (`struct syn_cache`). */
export interface SynCacheEntry {
  key: string;
  head: Socket;
  listener: TcpCb;
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
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
}

/** Resend schedule of the SYN-ACK: 1 s, doubling (RFC 6298 2.1 for the SYN). */
const SC_RTO_MS = 1000;

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
  input(lp: TcpCb, seg: TcpRepr, src: number, dst: number): TcpCb | null {
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
        // Listen queue full: keep the entry, the peer will resend (BSD drops the ACK).
        stats.listendrop++;
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
    if (this.entries.size >= tcp.tun.syncacheLimit) {
      stats.scOverflowed++;
      const oldest = this.entries.values().next().value as SynCacheEntry;
      this.remove(oldest);
    }
    const nHead = this.perHead.get(head) ?? 0;
    if (nHead >= tcp.tun.syncacheBucketLimit) {
      stats.scOverflowed++;
      for (const e of this.entries.values()) {
        if (e.head === head) {
          this.remove(e);
          break;
        }
      }
    }
    const e = tcp.syncacheEntry(lp, head, key, seg, src, dst);
    this.entries.set(key, e);
    this.perHead.set(head, (this.perHead.get(head) ?? 0) + 1);
    stats.scAdded++;
    this.sendSynAck(e);
    this.schedule(e.at);
    return null;
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
    tcpEmit(tcp, r, e.laddr, e.faddr);
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
        if (e.sends > tcp.tun.synackRetries) {
          tcp.stats.scTimedOut++;
          this.remove(e);
          continue;
        }
        this.sendSynAck(e);
      }
      if (e.at < next) next = e.at;
    }
    if (next !== Infinity) this.schedule(next);
  }
}
