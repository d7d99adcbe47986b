/**
 * TCP output (NetBSD `tcp_output.c`, RFC 9293 3.8, RFC 5681, RFC 6675).
 *
 * {@link tcpOutput} decides what may be sent now — new data within
 * min(peer window, cwnd), a FIN, a SYN, a window update, a forced ACK, a
 * zero-window probe — and {@link tcpSendSegment} builds one segment:
 *
 * - the payload is an `mCopym` of the send buffer's range: the clusters the
 *   user's data was copied into are shared, never copied again (small
 *   payloads are copied into the header mbuf, as BSD does below MHLEN);
 * - the TCP header is written at the end of a packet-header mbuf so that the
 *   IP and link headers can be prepended in the same mbuf (`max_linkhdr`);
 * - the checksum runs over the header and the shared clusters in one pass.
 *
 * During loss recovery the recovery algorithm (recovery/: RFC 6675 SACK,
 * RFC 8985 RACK) sends first, by its NextSeg(), while pipe < cwnd.
 *
 * TCP segmentation offload (FreeBSD `tcp_output`'s `tso` path): when the
 * route's interface offers it, new data goes out as one segment of up to
 * ~64 KiB (whole MSS multiples; a sub-MSS tail is sent, or held by Nagle,
 * as a segment of its own, like Linux's `tcp_mss_split_point`) with a
 * partial checksum — the pseudo-header sum only — and the packet header
 * flagged `M_CSUM_TSOv4` with `segsz` = MSS; the device cuts it. Never on a
 * SYN, with SACK blocks to carry, or for SACK retransmissions.
 *
 * Bigger TSO bursts (Linux `tcp_tso_should_defer`): when each ACK frees only
 * a few MSS of a window that is mostly in flight, sending at once gives
 * segments of 2-4 MSS and a device write each. {@link tsoShouldDefer} holds
 * such a send until more of the window is open — bounded: only with at
 * least {@link TSO_DEFER_MIN_FLIGHT_SEGS} segments in flight (their ACKs are
 * on the way and call us again), never on a FIN, a retransmission or in
 * recovery, and not when our last transmission is older than
 * {@link TSO_DEFER_MAX_MS}. Data the user adds while data is in flight is
 * coalesced per event-loop turn by `TcpProtocol.outputAfterSend` (Linux's
 * autocork) — the application-limited half of the same idea.
 *
 * @module
 */
import { Errno } from '../../kern/errno.js';
import { hopTrace } from '../../kern/hoptrace.js';
import { SS } from '../../socket/constants.js';
import { M_CSUM_TCPv4, M_CSUM_TSOv4, MHLEN, mFreem, mGethdr, type Mbuf } from '../../mbuf/index.js';
import { foldSum, pseudoHeaderSum } from '../../wire/checksum.js';
import { TCP_HEADER_LEN, TcpFlag, TcpRepr } from '../../wire/tcp.js';
import { ETHERNET_HEADER_LEN } from '../../wire/ethernet.js';
import { INET, INET6 } from '../../net/family.js';
import { tcpRcvSpace } from './ofo.js';
import { tcpSndbufAutoscale } from './sndbuf.js';
import { maxSackBlocks } from './sack.js';
import { recoveryOf } from './recovery/select.js';
import { seqAdd, seqGt, seqLt, seqOffset, seqSub } from './seq.js';
import { TCPS, TF, type TcpCb } from './tcpcb.js';
import { receiveWindow, shouldSendData, windowUpdateWorthSending, MAX_WINDOW_FIELD, type ReceiveWindow } from './window.js';

/**
 * Bytes left in front of the TCP header for the network and Ethernet
 * headers (`max_linkhdr` + `max_protohdr`): room for the larger fixed
 * header of either family, so one layout serves IPv4 and IPv6.
 */
export const TCP_HDR_ROOM = ETHERNET_HEADER_LEN + Math.max(INET.headerLen, INET6.headerLen);

/** Base control bits by state (`tcp_outflags[]`). */
const OUTFLAGS: readonly number[] = [
  TcpFlag.RST | TcpFlag.ACK, // CLOSED
  0, // LISTEN
  TcpFlag.SYN, // SYN-SENT
  TcpFlag.SYN | TcpFlag.ACK, // SYN-RECEIVED
  TcpFlag.ACK, // ESTABLISHED
  TcpFlag.ACK, // CLOSE-WAIT
  TcpFlag.FIN | TcpFlag.ACK, // FIN-WAIT-1
  TcpFlag.FIN | TcpFlag.ACK, // CLOSING
  TcpFlag.FIN | TcpFlag.ACK, // LAST-ACK
  TcpFlag.ACK, // FIN-WAIT-2
  TcpFlag.ACK, // TIME-WAIT
];

/**
 * TSO deferral: hold a send only while what could go is below
 * 1/`TSO_WIN_DIVISOR` of min(peer window, cwnd) (Linux
 * `tcp_tso_win_divisor`, 3).
 */
export const TSO_WIN_DIVISOR = 3;
/**
 * TSO deferral needs this many segments in flight: the peer ACKs at least
 * every second full segment (RFC 5681 4.2, RFC 9293 3.8.6.3), so with three
 * outstanding an ACK — and with it the next `tcpOutput` — is certain
 * without waiting for the peer's delayed-ACK timer.
 */
export const TSO_DEFER_MIN_FLIGHT_SEGS = 3;
/** TSO deferral only while our last transmission is this recent (ms; Linux: 1 ms since the last departure). */
export const TSO_DEFER_MAX_MS = 1;

/** mGethdr options of a segment without data (see tcpSendSegment). */
const RESERVE_OK = { reserve: true } as const;

/** Upper bound on segments one call sends (bounds the loop; a full window at MSS 536 of 4 MiB is ~8000). */
export const MAX_BURST = 16384;

/** The timestamp clock (RFC 7323 5.4: 1 ms ticks), per-connection offset added. */
export function tcpTsNow(tp: TcpCb): number {
  return (Math.floor(tp.tcp.clock.now()) + tp.tsOffset) >>> 0;
}

/** Whether both sides agreed on timestamps. */
export function tsOn(tp: TcpCb): boolean {
  return (tp.flags & (TF.REQ_TSTMP | TF.RCVD_TSTMP)) === (TF.REQ_TSTMP | TF.RCVD_TSTMP);
}

/** The first sequence number of the send buffer's data (past the SYN). */
export function sndBufSeq(tp: TcpCb): number {
  return seqGt(tp.sndUna, tp.iss) ? tp.sndUna : seqAdd(tp.iss, 1);
}

/**
 * The receive window to advertise now, and its field value. Returns the
 * protocol's scratch result, its inputs left in `tp.tcp.rwIn`: both are
 * good until the next call.
 */
function rcvWindow(tp: TcpCb): ReceiveWindow {
  const so = tp.so;
  const i = tp.tcp.rwIn;
  i.space = tcpRcvSpace(tp);
  i.bufSize = so === null ? 0 : so.rcv.hiwat;
  i.rcvNxt = tp.rcvNxt;
  i.rcvAdv = tp.rcvAdv;
  i.mss = tp.ourMss;
  i.scale = tp.rcvScale;
  return receiveWindow(i, tp.tcp.rwOut);
}

/**
 * Send what the state, the windows and the buffers allow (`tcp_output`).
 * @param rexmt called by the retransmission timer (resend from snd_nxt = snd_una).
 * @param probe called by the persist timer: send one byte into a zero window.
 * @returns 0, or the errno of a segment that could not be built (ENOBUFS,
 *   EINVAL: nothing was sent or accounted for it; the retransmission timer
 *   is then armed if no timer runs, so the data or FIN is retried — BSD
 *   `tcp_output`'s `out:` path). A segment IP output refused is not
 *   reported here: {@link tcpSendSegment} counts it (`senderr`) and the
 *   retransmission timer resends it.
 */
export function tcpOutput(tp: TcpCb, rexmt = false, probe = false): number {
  if (tp.state === TCPS.CLOSED || tp.state === TCPS.LISTEN) return 0;
  const tcp = tp.tcp;
  const so = tp.so;
  let err = 0;
  // RFC 5681 4.1: restart after an idle period longer than the RTO.
  if (tp.sndMax === tp.sndUna && tp.lastSend !== undefined && tcp.clock.now() - tp.lastSend >= tp.rtt.rto) {
    tp.cc.onIdleRestart(tcp.clock.now());
  }
  // Autosized send buffer: grow it if the peer's window could take more (sndbuf.ts).
  if (!rexmt && !probe && so !== null && so.snd.autosize) tcpSndbufAutoscale(tp);
  // In loss recovery the algorithm's NextSeg() goes first (recovery/).
  const rec = tp.recoveryActive;
  if (rec !== null && !rexmt && !probe) rec.output(tp);
  const tsoRoom = probe ? 0 : tsoPayloadRoom(tp);
  for (let burst = 0; burst < MAX_BURST; burst++) {
    const sbcc = so === null ? 0 : so.snd.cc;
    let flags = OUTFLAGS[tp.state]!;
    const bufSeq = sndBufSeq(tp);
    // SYN: only while it is unsent or being resent.
    if ((flags & TcpFlag.SYN) !== 0 && tp.sndNxt !== tp.iss) flags &= ~TcpFlag.SYN;
    let off = (flags & TcpFlag.SYN) !== 0 ? 0 : seqSub(tp.sndNxt, bufSeq);
    if (off < 0) off = 0;
    let win = Math.min(tp.sndWnd, tp.cc.cwnd);
    if (probe && tp.sndWnd === 0) win = 1;
    // Bytes of the window already used by what is outstanding from bufSeq.
    let len = 0;
    if (tp.state >= TCPS.ESTABLISHED || tp.state === TCPS.SYN_RECEIVED) {
      if ((flags & TcpFlag.SYN) === 0 && haveSynAcked(tp)) {
        len = Math.min(sbcc, win) - off;
        if (len < 0) {
          // The window shrank below what was sent (RFC 9293 3.8.6.2.1): pull
          // snd_nxt back and probe if it closed.
          len = 0;
          if (win === 0) {
            tp.timers.stopMain();
            tp.rxtShift = 0;
            tp.sndNxt = tp.sndUna;
            if (so !== null && sbcc > 0) tp.timers.setPersist();
          }
        }
      }
    }
    let sendalot = false;
    const segRoom = segmentRoom(tp);
    if (tsoRoom > 0 && len > 0 && !rexmt && (flags & (TcpFlag.SYN | TcpFlag.FIN)) === 0 && tsoShouldDefer(tp, len, win, sbcc - off, tsoRoom)) {
      // Wait for the ACKs in flight to open more of the window: the next
      // tcpOutput (after their input batch) sends one bigger segment.
      tcp.stats.tsoDeferred++;
      len = 0;
    }
    if (len > segRoom) {
      if (tsoRoom > segRoom && segRoom === tp.maxseg && (flags & TcpFlag.SYN) === 0) {
        // TSO: as much as the device takes, in whole segments; a fractional
        // tail goes on the next turn, where Nagle and SWS avoidance judge it
        // exactly as without TSO (Linux's tcp_mss_split_point).
        let l = Math.min(len, tsoRoom);
        l -= l % segRoom;
        sendalot = l < len;
        len = l;
      } else {
        len = segRoom;
        sendalot = true;
      }
    }
    // FIN only with the last byte of the buffer, once.
    if ((flags & TcpFlag.FIN) !== 0) {
      if (off + len < sbcc) flags &= ~TcpFlag.FIN;
      else if ((tp.flags & TF.SENTFIN) !== 0 && tp.sndNxt !== tp.sndFin) flags &= ~TcpFlag.FIN;
    }
    let send = false;
    if (len > 0) {
      const d = tcp.sendIn;
      d.len = len;
      d.unsent = sbcc - off;
      d.mss = segRoom;
      d.maxSndWnd = tp.maxSndWnd;
      // A send still copying more of its data (SS_MORETOCOME, TSO only): a
      // sub-MSS tail waits for that data, as BSD's tcp_output does with
      // TF_MORETOCOME, instead of going alone because nothing is in flight.
      const more = so !== null && tsoRoom > 0 && (so.state & SS.MORETOCOME) !== 0;
      d.idle = !more && tp.sndMax === tp.sndUna;
      d.nodelay = !more && (tp.flags & TF.NODELAY) !== 0;
      d.force = probe;
      d.retransmitting = seqLt(tp.sndNxt, tp.sndMax);
      send = shouldSendData(d);
    }
    if (!send && (tp.flags & TF.ACKNOW) !== 0) send = true;
    if (!send && (flags & (TcpFlag.SYN | TcpFlag.RST)) !== 0) send = true;
    if (!send && (flags & TcpFlag.FIN) !== 0) send = true;
    if (!send && so !== null && haveSynAcked(tp) && tp.state < TCPS.TIME_WAIT) {
      // Window update (RFC 1122 4.2.3.3 from the update side).
      const w = rcvWindow(tp);
      if ((tp.flags & TF.WINUPD) !== 0 || windowUpdateWorthSending(tcp.rwIn, w.window)) {
        send = true;
        tcp.stats.sndwinup++;
      }
    }
    if (!send) {
      if (so !== null && sbcc > 0 && tp.sndWnd === 0 && !probe && haveSynAcked(tp) && !tp.timers.persisting) {
        // The peer offers no window while data waits or is outstanding
        // (RFC 9293 3.8.6.1; BSD `tcp_output` ends by `tcp_setpersist`
        // when neither timer runs): probe it with the persist timer rather
        // than retransmitting into it, which would count RTOs up to
        // ETIMEDOUT though the peer answers every probe.
        tp.timers.stopMain();
        tp.rxtShift = 0;
        tp.sndNxt = tp.sndUna;
        tp.timers.setPersist();
        tcp.stats.zeroWindowPersist++;
        break;
      }
      // Data waits for the window: make sure something will come back for it.
      if (so !== null && sbcc > off && tp.timers.main.kind === 'idle' && haveSynAcked(tp)) {
        if (tp.sndMax !== tp.sndUna) {
          // Something is outstanding: its ACK (or the RTO) will clock us.
          tp.timers.setRetransmit(tp.rtt.rto);
        } else {
          // Nothing outstanding and held back (zero window, or SWS): the
          // persist timer forces a probe (RFC 1122 4.2.3.4 override timer).
          tp.rxtShift = 0;
          tp.timers.setPersist();
        }
      }
      break;
    }
    const seq = (flags & TcpFlag.SYN) !== 0 ? tp.iss : (bufSeq + off) >>> 0;
    const e = tcpSendSegment(tp, seq, len, flags, probe);
    if (e !== 0) {
      err = e;
      armAfterSendFailure(tp);
      break;
    }
    probe = false;
    if (!sendalot) break;
  }
  tp.flags &= ~TF.WINUPD;
  return err;
}

/**
 * A segment could not be built (no mbufs): with neither the retransmit nor
 * the persist timer running nothing would ever call `tcpOutput` again for
 * this data or FIN, so arm the retransmission timer (BSD `tcp_output`,
 * `out:` — "if (!TCP_TIMER_ISARMED(REXMT) && !TCP_TIMER_ISARMED(PERSIST))").
 */
export function armAfterSendFailure(tp: TcpCb): void {
  const k = tp.timers.main.kind;
  if (k === 'retransmit' || k === 'persist' || tp.state === TCPS.CLOSED) return;
  tp.tcp.stats.sendFailRearm++;
  tp.timers.setRetransmit(tp.rtt.rto);
}

/**
 * Bytes of the peer's window not yet used by what is in flight:
 * SND.UNA + SND.WND - SND.MAX in sequence space (mod 2^32, so correct across
 * the wrap), never below 0 (the window may have shrunk under us).
 */
export function usableWindow(sndUna: number, sndWnd: number, sndMax: number): number {
  const r = seqSub((sndUna + sndWnd) >>> 0, sndMax);
  return r > 0 ? r : 0;
}

/** Whether our SYN has been acknowledged (data may be sent). */
function haveSynAcked(tp: TcpCb): boolean {
  return seqGt(tp.sndUna, tp.iss);
}

/**
 * Whether to hold back `len` sendable bytes for a bigger TSO segment
 * (Linux `tcp_tso_should_defer`, our own bounds): only when the window,
 * not the data, limits the send (`unsent > len`), less than a full TSO
 * segment and less than 1/{@link TSO_WIN_DIVISOR} of the window `win` is
 * open, nothing is being retransmitted and no recovery runs, at least
 * {@link TSO_DEFER_MIN_FLIGHT_SEGS} segments are in flight (an ACK will call
 * `tcpOutput` again soon), and we sent less than {@link TSO_DEFER_MAX_MS}
 * ago (a quiet connection never waits). The caller has checked that TSO is
 * in use, and that no SYN or FIN rides on the segment.
 */
export function tsoShouldDefer(tp: TcpCb, len: number, win: number, unsent: number, tsoRoom: number): boolean {
  if (len >= tsoRoom || unsent <= len) return false;
  if (tp.recoveryActive !== null || tp.cc.phase === 'recovery' || seqLt(tp.sndNxt, tp.sndMax)) return false;
  if (seqSub(tp.sndMax, tp.sndUna) < TSO_DEFER_MIN_FLIGHT_SEGS * tp.maxseg) return false;
  if (len * TSO_WIN_DIVISOR >= win) return false;
  return tp.lastSend !== undefined && tp.tcp.clock.now() - tp.lastSend < TSO_DEFER_MAX_MS;
}

/**
 * Payload bytes one TSO segment may carry towards the peer now: the
 * route's TSO limit (`IpOutput.tsoMaxTowards`) less the network and TCP
 * headers (timestamps included), in whole MSS; 0 when TSO is off
 * (`net.inet.tcp.tso`), not offered, or not yet established.
 */
export function tsoPayloadRoom(tp: TcpCb): number {
  const tcp = tp.tcp;
  if (tcp.tsoHot === 0 || tp.state < TCPS.ESTABLISHED || tcp.ip.tsoMaxTowards === undefined) return 0;
  const max = tcp.ip.tsoMaxTowards(tp.inp.faddr);
  if (max === 0) return 0;
  const room = max - tp.inp.family.headerLen - TCP_HEADER_LEN - (tsOn(tp) ? 12 : 0);
  const whole = room - (room % tp.maxseg);
  return whole >= 2 * tp.maxseg ? whole : 0;
}

/** Payload bytes per segment given the options that ride on every segment (SACK blocks). */
export function segmentRoom(tp: TcpCb): number {
  let room = tp.maxseg;
  if ((tp.flags & TF.SACK_PERMIT) !== 0 && (tp.sackRcv.size > 0 || tp.dsackPending)) {
    const n = Math.min(tp.sackRcv.size + 1, maxSackBlocks(tsOn(tp)));
    room -= 4 + 8 * n;
  }
  return Math.max(1, room);
}

/**
 * Build and send one segment carrying `[seq, seq + len)` of the send buffer
 * (plus SYN/FIN as `flags` say), with the options the connection uses, and
 * update snd_nxt/snd_max and the timers (the second half of `tcp_output`).
 * @returns 0 once the segment was built and handed to IP output — also when
 *   IP output then refused it: the segment is accounted as sent (snd_nxt /
 *   snd_max advance, the retransmission timer runs when something is
 *   outstanding), `senderr` counts the failure, EMSGSIZE lowers the MSS and
 *   routing errors become the soft error. An errno (ENOBUFS, or EINVAL for
 *   a range outside the send buffer) when no segment could be built:
 *   nothing was accounted, and the caller must see that a timer runs
 *   (`tcpOutput` does).
 */
export function tcpSendSegment(tp: TcpCb, seq: number, len: number, flags: number, probe: boolean): number {
  const tcp = tp.tcp;
  const so = tp.so;
  const pool = tcp.pool;
  const r = tcp.outRepr;
  const syn = (flags & TcpFlag.SYN) !== 0;
  r.srcPort = tp.inp.lport;
  r.dstPort = tp.inp.fport;
  r.seq = seq;
  r.flags = flags;
  r.urgent = 0;
  TcpRepr.clearOptions(r);
  r.payloadLen = len;
  if ((tp.flags & TF.NOOPT) === 0) {
    if (syn) {
      r.mss = tp.ourMss;
      if ((tp.flags & TF.REQ_SCALE) !== 0 && (tp.state === TCPS.SYN_SENT || (tp.flags & TF.RCVD_SCALE) !== 0)) {
        r.windowScale = tp.requestRScale;
      }
      if ((tp.flags & TF.REQ_SACK) !== 0 && (tp.state === TCPS.SYN_SENT || (tp.flags & TF.SACK_PERMIT) !== 0)) {
        r.sackPermitted = true;
      }
      if ((tp.flags & TF.REQ_TSTMP) !== 0 && (tp.state === TCPS.SYN_SENT || (tp.flags & TF.RCVD_TSTMP) !== 0)) {
        r.tsVal = tcpTsNow(tp);
        r.tsEcr = tp.tsRecent ?? 0;
      }
    } else if (tsOn(tp)) {
      r.tsVal = tcpTsNow(tp);
      r.tsEcr = tp.tsRecent ?? 0;
    }
    if (!syn && (tp.flags & TF.SACK_PERMIT) !== 0 && (tp.sackRcv.size > 0 || tp.dsackPending) && (flags & TcpFlag.ACK) !== 0) {
      tp.dsackPending = false;
      const blocks = tp.sackRcv.blocksToSend(maxSackBlocks(r.tsVal !== null));
      if (blocks.length > 0) {
        // The protocol's array for this many blocks (emit reads it below, nothing keeps it).
        const flat = tcp.outSack[blocks.length]!;
        for (let k = 0; k < blocks.length; k++) {
          flat[2 * k] = blocks[k]!.start;
          flat[2 * k + 1] = blocks[k]!.end;
        }
        r.sack = flat;
        tcp.stats.sackblocksSent += blocks.length;
      }
    }
  }
  // Window: never scaled on a SYN (RFC 7323 2.2).
  let rw = 0;
  if ((flags & TcpFlag.RST) === 0) {
    if (syn) {
      const space = so === null ? 0 : so.rcv.space();
      rw = Math.min(space, MAX_WINDOW_FIELD);
      r.window = rw;
    } else {
      const w = rcvWindow(tp);
      r.window = w.field;
      rw = w.window;
    }
  } else r.window = 0;
  if ((flags & TcpFlag.ACK) !== 0) r.ack = tp.rcvNxt;
  else r.ack = 0;
  const hlen = TcpRepr.headerLen(r);
  // A bare ACK or control segment may take the pool's mbuf reserve: the
  // peer must hear from us even when the pool is short (data waits).
  const m = mGethdr(pool, len === 0 ? RESERVE_OK : undefined);
  if (m === null) {
    tcp.stats.senderr++;
    return Errno.ENOBUFS;
  }
  m.off = MHLEN - hlen;
  m.len = hlen;
  let tlen = hlen;
  if (len > 0) {
    if (so === null) {
      mFreem(m);
      return Errno.EINVAL;
    }
    const boff = seqOffset(seq, sndBufSeq(tp));
    if (boff + len > so.snd.cc) {
      // A bug upstream; never read past the buffer.
      mFreem(m);
      tcp.stats.senderr++;
      return Errno.EINVAL;
    }
    if (len <= m.off - TCP_HDR_ROOM) {
      // Small payload: copy next to the header (BSD: below MHLEN), header moves up.
      m.off -= len;
      so.snd.copydata(boff, len, m.data, m.off + hlen);
      m.len += len;
    } else {
      // Through the send buffer's seek hint: consecutive segments walk on
      // from where the last one ended instead of from the head.
      const d = so.snd.copym(boff, len);
      if (d === null) {
        mFreem(m);
        tcp.stats.senderr++;
        return Errno.ENOBUFS;
      }
      m.next = d;
    }
    tlen += len;
  }
  m.pkthdr!.len = tlen;
  const src = tp.inp.laddr;
  const dst = tp.inp.faddr;
  TcpRepr.emit(r, m.data, m.off, src, dst, 'defer');
  // Longer than one MSS: only tcpOutput's TSO path builds such a segment.
  const tso = len > tp.maxseg;
  if (tso) {
    // Partial checksum (Linux CHECKSUM_PARTIAL): the folded pseudo-header
    // sum over the whole length, not complemented; the device adds the
    // bytes and fixes the length per segment.
    const p = foldSum(pseudoHeaderSum(src, dst, 6, tlen));
    m.data[m.off + 16] = p >>> 8;
    m.data[m.off + 17] = p & 0xff;
    m.pkthdr!.csumFlags = M_CSUM_TCPv4 | M_CSUM_TSOv4;
    m.pkthdr!.segsz = tp.maxseg;
  } else {
    const ck = tcp.cksum.reset(pseudoHeaderSum(src, dst, 6, tlen));
    for (let n: Mbuf | null = m; n !== null; n = n.next) ck.add(n.data, n.off, n.len);
    const c = ck.finish();
    m.data[m.off + 16] = c >>> 8;
    m.data[m.off + 17] = c & 0xff;
  }

  // Accounting (before output: a synchronous loopback may answer at once).
  const now = tcp.clock.now();
  const stats = tcp.stats;
  stats.sndtotal++;
  if (len > 0) {
    if (seqLt(seq, tp.sndMax)) {
      stats.sndrexmitpack++;
      stats.sndrexmitbyte += len;
    } else {
      stats.sndpack++;
      stats.sndbyte += len;
    }
    if (tso) {
      stats.tsoSegments++;
      stats.tsoBytes += len;
    }
    if (probe) stats.sndprobe++;
  } else if ((flags & (TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST)) !== 0) stats.sndctrl++;
  else stats.sndacks++;
  if ((flags & TcpFlag.ACK) !== 0) {
    tp.flags &= ~(TF.ACKNOW | TF.DELACK);
    tp.timers.clearDelack();
    tp.segsSinceAck = 0;
    tp.lastAckSent = tp.rcvNxt;
  }
  if (rw > 0 && seqGt((tp.rcvNxt + rw) >>> 0, tp.rcvAdv)) tp.rcvAdv = (tp.rcvNxt + rw) >>> 0;
  tp.rcvWnd = rw;
  // seqAdd, not an inline `>>> 0`: its one feedback, shared with every
  // other sequence sum, has seen sums of 2^31 and more long before this
  // connection's first one (an inline site that had not would deoptimize
  // tcpSendSegment then, at a random moment of some later connection).
  let end = seqAdd(seq, len);
  if (syn) end = seqAdd(end, 1);
  if ((flags & TcpFlag.FIN) !== 0) {
    if ((tp.flags & TF.SENTFIN) === 0) {
      tp.flags |= TF.SENTFIN;
      tp.sndFin = end;
    }
    end = seqAdd(end, 1);
  }
  // Only a segment sent from snd_nxt advances it; retransmissions from
  // elsewhere (fast retransmit, SACK holes) leave it where it is.
  if (seq === tp.sndNxt && seqGt(end, tp.sndNxt)) tp.sndNxt = end;
  if (seqGt(end, tp.sndMax)) {
    // New sequence space: time it unless timestamps do (RFC 6298 3, Karn).
    if (tp.rtseq === undefined && !tsOn(tp) && !seqLt(seq, tp.rexmtHigh)) {
      tp.rtseq = seq;
      tp.rtttime = now;
    }
    tp.sndMax = end;
  }
  if (len > 0) {
    tp.lastSend = now;
    // Send times per range (RACK, RFC 8985 6.1); a no-op for the others.
    recoveryOf(tp).onSend(tp, seq, len, now);
  }
  // RFC 6298 5.1: start the timer when something is outstanding. A probe
  // keeps the persist timer; any other send finding it armed (data held
  // back with nothing in flight: Nagle, SWS avoidance, SS_MORETOCOME) turns
  // it into the retransmission timer, as NetBSD's tcp_output does.
  const k = tp.timers.main.kind;
  if (tp.sndMax !== tp.sndUna && (k === 'idle' || (k === 'persist' && !probe))) {
    if (k === 'persist') tp.rxtShift = 0;
    tp.timers.setRetransmit(tp.rtt.rto);
  }
  // The options object is the protocol's, refilled: IP output reads it during the call only.
  const o = tcp.ipOpts;
  o.src = src;
  o.dst = dst;
  o.ttl = tp.inp.ttl || undefined;
  o.tos = tp.inp.tos;
  o.ifindex = tp.inp.zone || undefined;
  hopTrace?.mark(len > 0 ? 'tcp.output' : 'tcp.output.ack');
  const e = tcp.ip.output(m, o);
  if (e !== 0) {
    // The segment is lost locally; the retransmission timer covers it. A
    // routing error is soft while the connection can retry (RFC 1122
    // 4.2.3.9); a local EMSGSIZE means the route's MTU fell below our MSS.
    stats.senderr++;
    if (e === Errno.EMSGSIZE) tcp.mtuDisc(tp, tcp.ip.mtuTowards(dst));
    else if (e !== Errno.ENOBUFS) tp.softError = e;
  }
  return 0;
}
