/**
 * TCP input (NetBSD `tcp_input.c`; RFC 9293 3.10.7 "SEGMENT ARRIVES", with
 * RFC 5961 for blind-attack protection, RFC 7323 for PAWS and RTTM, RFC
 * 5681/6582/6675 for loss recovery).
 *
 * A segment is checked (length, data offset, checksum over the chain,
 * options), demultiplexed to a connection or listener, and processed in the
 * RFC's order: PAWS, RST, SYN, sequence acceptability (trimming to the
 * window), ACK, segment text, FIN. Every drop bumps a named counter.
 *
 * Ownership: {@link tcpInput} owns the chain it is given; data ends in the
 * receive buffer or the reassembly queue, everything else is freed here.
 *
 * @module
 */
import { hopTrace } from '../../kern/hoptrace.js';
import { Errno } from '../../kern/errno.js';
import { M_CSUM_TCPv4, mAdj, mFreem, mLength, mPullup, type Mbuf } from '../../mbuf/index.js';
import type { IpPacketInfo } from '../../net/protosw.js';
import { SS } from '../../socket/constants.js';
import { soCantRcvMore, soRwakeup, soWwakeup } from '../../socket/socket.js';
import { newSackScratch, TCP_HEADER_LEN, TcpFlag, TcpRepr } from '../../wire/tcp.js';
import { tcpOutput, tcpTsNow, tsOn, sndBufSeq } from './output.js';
import { recoveryOf } from './recovery/select.js';
import type { TcpProtocol } from './protocol.js';
import { tcpOfoInsert, tcpOfoTrim } from './ofo.js';
import { ReassResult } from './reass.js';
import { tcpSndbufDrained } from './sndbuf.js';
import { seqGeq, seqGt, seqLeq, seqLt, seqOffset, seqSub } from './seq.js';
import { blankRepr, tcpClose, tcpDrop, tcpEnterTimeWait, tcpRespondRst } from './subr.js';
import { establish, synSentInput, tcpDropNoRst } from './synsent.js';
import { timeWaitInput } from './timewait.js';
import { haveEstablished, setState, tcbClosed, TCPS, TF, type TcpCb } from './tcpcb.js';
import type { IpAddress } from '../../wire/ip.js';

const ACK = TcpFlag.ACK;
const SYN = TcpFlag.SYN;
const FIN = TcpFlag.FIN;
const RST = TcpFlag.RST;

/** RFC 7323 5.5: a TS.Recent older than 24 days is invalid. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

/** Process one inbound segment (`tcp_input`). Takes ownership of `m`. */
export function tcpInput(tcp: TcpProtocol, m: Mbuf, info: IpPacketInfo): void {
  hopTrace?.mark('tcp.input');
  const stats = tcp.stats;
  stats.rcvtotal++;
  if (info.broadcast || info.multicast) {
    // RFC 1122 4.2.3.10: TCP is unicast only.
    stats.rcvbadsyn++;
    mFreem(m);
    return;
  }
  const tlen = m.pkthdr !== null ? m.pkthdr.len : mLength(m);
  if (tlen < TCP_HEADER_LEN) {
    stats.rcvshort++;
    mFreem(m);
    return;
  }
  let mm: Mbuf | null = m;
  if (mm.len < TCP_HEADER_LEN) {
    mm = mPullup(mm, TCP_HEADER_LEN);
    if (mm === null) {
      stats.rcvmemdrop++;
      return;
    }
  }
  const hlen = (mm.data[mm.off + 12]! >>> 4) << 2;
  if (hlen < TCP_HEADER_LEN) {
    stats.rcvbadoff++;
    mFreem(mm);
    return;
  }
  if (hlen > tlen) {
    stats.rcvshort++;
    mFreem(mm);
    return;
  }
  if (mm.len < hlen) {
    mm = mPullup(mm, hlen);
    if (mm === null) {
      stats.rcvmemdrop++;
      return;
    }
  }
  // Checksum over the whole chain (RFC 9293 3.1), pseudo-header included —
  // unless the interface vouched for it (M_CSUM_TCPv4 on input, NetBSD's
  // hardware-checked path in tcp_input).
  if (mm.pkthdr !== null && (mm.pkthdr.csumFlags & M_CSUM_TCPv4) !== 0) stats.rcvcsumoffload++;
  else {
    const ck = tcp.cksum.reset(tcp.pseudo(info.src, info.dst, tlen));
    for (let n: Mbuf | null = mm; n !== null; n = n.next) ck.add(n.data, n.off, n.len);
    if (!ck.verify() && !tcp.tun.noChecksum) {
      stats.rcvbadsum++;
      mFreem(mm);
      return;
    }
  }
  // A malformed option ends the option walk and the segment goes on with
  // what was read (BSD `tcp_dooptions`, Linux `tcp_parse_options`): dropping
  // it would make one bad byte hide a RST or a SYN.
  //
  // The header is parsed into the protocol's scratch Repr (no object per
  // segment). Nothing keeps `seg` or `seg.sack` past this call: the SYN
  // cache, TIME-WAIT, RST replies and the state machine copy the fields
  // they need, and SACK blocks are copied into the scoreboard's ranges. A
  // segment processed while another is (a synchronous path back into
  // input) gets its own Repr.
  const nested = tcp.inSegBusy;
  const seg = nested ? blankRepr() : tcp.inSeg;
  TcpRepr.parseInto(seg, mm.data, mm.off, hlen, tlen - hlen, 'lenient', nested ? newSackScratch() : tcp.inSack);
  if (seg.optionsMalformed === true) stats.rcvbadopt++;
  // SYN+FIN (with or without PSH/URG) is no legitimate segment, only a
  // fingerprinting and firewall-evasion probe: the BSDs drop it (`drop_synfin`).
  if ((seg.flags & (SYN | FIN)) === (SYN | FIN) && tcp.tun.dropSynfin !== 0) {
    stats.rcvsynfin++;
    mFreem(mm);
    return;
  }
  mAdj(mm, hlen);
  tcp.inSegBusy = true;
  const outerIfindex = tcp.inIfindex;
  tcp.inIfindex = info.ifindex;
  try {
    tcpInputSegment(tcp, seg, mm, info.src, info.dst);
  } finally {
    tcp.inSegBusy = nested;
    tcp.inIfindex = outerIfindex;
  }
}

/**
 * Process a parsed segment whose chain `m` now holds only its data
 * (demultiplex and the state machine). Takes ownership of `m`.
 */
export function tcpInputSegment(tcp: TcpProtocol, seg: TcpRepr, m: Mbuf, src: IpAddress, dst: IpAddress): void {
  const stats = tcp.stats;
  let inp = tcp.pcbs.lookupConnect(src, seg.srcPort, dst, seg.dstPort);
  let tp = inp === null ? null : (inp.ppcb as TcpCb | null);
  if (tp !== null && tp.state === TCPS.TIME_WAIT) {
    // TIME-WAIT has its own rules (timewait.ts): RFC 1337, RFC 6191.
    const v = timeWaitInput(tp, seg, m, dst);
    if (v === 'done') return;
    if (v === 'reopen') {
      inp = null;
      tp = null;
    }
  }
  if (inp === null) {
    inp = tcp.pcbs.lookupBind(dst, seg.dstPort);
    tp = inp === null ? null : (inp.ppcb as TcpCb | null);
  }
  if (tp === null || tp.state === TCPS.CLOSED) {
    stats.rcvnoport++;
    mFreem(m);
    tcpRespondRst(tcp, seg, src, dst);
    return;
  }
  if (tp.state === TCPS.LISTEN) {
    const ntp = tcp.syncache.input(tp, seg, src, dst);
    if (ntp === null) {
      mFreem(m);
      return;
    }
    // The handshake completed: go on with the ACK (and any data) in the new
    // connection, which is ESTABLISHED.
    tp = ntp;
  }
  tcpInputConn(tp, seg, m);
}

/**
 * Scale the peer's window field (never on a SYN, RFC 7323 2.2). A shift, not
 * `2 ** n`: the scale is at most 14 (RFC 7323 2.3, clamped where it is
 * set), and `2 ** n` with a variable `n` is a call to `pow` (~40 ns against
 * ~2, on every segment).
 */
function peerWindow(tp: TcpCb, seg: TcpRepr): number {
  return (seg.flags & SYN) !== 0 ? seg.window : seg.window * (1 << tp.sndScale);
}

/** Our receive window for acceptability tests (`tp->rcv_wnd` as BSD computes it). */
function currentRcvWnd(tp: TcpCb): number {
  const adv = Math.max(0, seqSub(tp.rcvAdv, tp.rcvNxt));
  const space = tp.so === null ? 0 : Math.min(tp.so.rcv.space(), 0xffff * (1 << tp.rcvScale)); // scale ≤ 14: see peerWindow
  return Math.max(adv, space);
}

/**
 * A challenge ACK (RFC 5961 3.2, 4.2, 5.2), rate limited (RFC 5961 7) as
 * Linux has done since CVE-2016-5696: first per connection (at most one per
 * `net.inet.tcp.invalid_ratelimit` ms, Linux's per-socket
 * `tcp_invalid_ratelimit`), then by the stack-wide budget, which is drawn
 * at random each second ({@link TcpProtocol.challengeAckAllowed}). With one
 * fixed budget shared by all connections, an off-path attacker could count
 * the challenge ACKs its own connection gets and learn how many a victim
 * connection was sent — and so whether a guessed 4-tuple and sequence
 * number were in the window.
 */
export function challengeAck(tp: TcpCb): void {
  const tcp = tp.tcp;
  const now = tcp.clock.now();
  const gap = tcp.tun.invalidRatelimitMs;
  if (gap > 0 && tp.lastOowAck !== undefined && now - tp.lastOowAck < gap) {
    tcp.stats.challengeackConnLimited++;
    return;
  }
  if (!tcp.challengeAckAllowed()) {
    tcp.stats.challengeackRatelimited++;
    return;
  }
  tp.lastOowAck = now;
  tcp.stats.challengeack++;
  tp.flags |= TF.ACKNOW;
  tcpOutput(tp);
}

/** The state machine for one connection (everything but LISTEN). Takes ownership of `m`. */
export function tcpInputConn(tp: TcpCb, seg: TcpRepr, m: Mbuf): void {
  const tcp = tp.tcp;
  const stats = tcp.stats;
  const now = tcp.clock.now();
  let flags = seg.flags;
  let seq = seg.seq;
  let len = seg.payloadLen;
  const so = tp.so;

  if (tp.state === TCPS.SYN_SENT) {
    synSentInput(tp, seg, m);
    return;
  }
  tp.lastActivity = now;
  tp.keepProbes = 0;
  if (tp.timers.keepAt !== Infinity && tp.state >= TCPS.ESTABLISHED) tp.timers.keepAt = now + tp.params.keepIdle;

  // RFC 7323 5.3 PAWS: drop a segment whose timestamp is older than TS.Recent.
  if (seg.tsVal !== null && tsOn(tp) && (flags & RST) === 0 && tp.tsRecent !== undefined && seqLt(seg.tsVal, tp.tsRecent)) {
    if (now - tp.tsRecentAge > PAWS_IDLE_MS) {
      tp.tsRecent = undefined; // RFC 7323 5.5: TS.Recent too old to trust
    } else {
      stats.pawsdrop++;
      stats.rcvduppack++;
      mFreem(m);
      tp.flags |= TF.ACKNOW;
      tcpOutput(tp);
      return;
    }
  }

  const rcvWnd = currentRcvWnd(tp);
  // RFC 5961 3.2: a RST resets only with the exact expected sequence number;
  // in the window it draws a challenge ACK; elsewhere it is dropped.
  if ((flags & RST) !== 0) {
    mFreem(m);
    if (seq === tp.rcvNxt || (tp.state === TCPS.SYN_RECEIVED && seqGeq(seq, tp.rcvNxt) && seqLt(seq, tp.rcvNxt + Math.max(rcvWnd, 1)))) {
      stats.rcvrst++;
      resetReceived(tp);
    } else if (rcvWnd > 0 && seqInRcvWindow(seq, tp.rcvNxt, rcvWnd)) {
      stats.rcvbadrst++;
      challengeAck(tp);
    } else stats.rcvbadrst++;
    return;
  }

  // RFC 5961 4.2: a SYN in a synchronized state draws a challenge ACK,
  // whatever its sequence number (RFC 9293 3.10.7.4 fourth). (A segment for
  // a TIME-WAIT gets here only as a RST, with rfc1337 off: timewait.ts.)
  if ((flags & SYN) !== 0) {
    stats.rcvbadsyn++;
    mFreem(m);
    challengeAck(tp);
    return;
  }

  // Sequence acceptability (RFC 9293 3.10.7.4 first) and trimming.
  let todrop = seqSub(tp.rcvNxt, seq);
  if (todrop > 0) {
    if (todrop > len || (todrop === len && (flags & FIN) === 0)) {
      // Entirely old: a duplicate (or a keepalive probe). ACK it at once so
      // the peer resynchronizes (and D-SACK it, RFC 2883).
      if (len > 0) {
        stats.rcvduppack++;
        stats.rcvdupbyte += len;
        if ((tp.flags & TF.SACK_PERMIT) !== 0) {
          tp.sackRcv.onDuplicate(seq, (seq + len) >>> 0, tp.rcvNxt);
          tp.dsackPending = true;
        }
      } else if (todrop > 1 || (flags & FIN) === 0) {
        stats.rcvduppack++;
      }
      tp.flags |= TF.ACKNOW;
      // The ACK field may still carry news (a window update or an ACK of our FIN).
      if ((flags & ACK) === 0) {
        mFreem(m);
        tcpOutput(tp);
        return;
      }
      len = 0;
      flags &= ~FIN;
      seq = tp.rcvNxt;
      mEmpty(m);
    } else {
      stats.rcvpartduppack++;
      stats.rcvpartdupbyte += todrop;
      if (todrop >= len) {
        // All data old; the FIN is new.
        len = 0;
      } else {
        mAdj(m, todrop);
        len -= todrop;
      }
      seq = tp.rcvNxt;
      tp.flags |= TF.ACKNOW;
    }
  }

  // Data after the user closed (RFC 9293 3.10.7.4; BSD `tcps_rcvafterclose`): reset.
  if (len > 0 && tp.state > TCPS.CLOSE_WAIT && (so === null || (so.state & SS.NOFDREF) !== 0)) {
    stats.rcvafterclose++;
    mFreem(m);
    tcpDrop(tp, Errno.ECONNRESET);
    return;
  }

  // Beyond the right edge of the window: trim (RFC 9293: keep what fits).
  const over = seqSub((seq + len + ((flags & FIN) !== 0 ? 1 : 0)) >>> 0, (tp.rcvNxt + rcvWnd) >>> 0);
  if (over > 0) {
    stats.rcvpackafterwin++;
    if (over >= len + ((flags & FIN) !== 0 ? 1 : 0)) {
      // Nothing of it fits.
      if (rcvWnd === 0 && seq === tp.rcvNxt) {
        stats.rcvwinprobe++; // a zero-window probe: ACK it (RFC 9293 3.8.6.1)
      } else {
        stats.rcvbyteafterwin += len;
      }
      tp.flags |= TF.ACKNOW;
      if ((flags & ACK) === 0) {
        mFreem(m);
        tcpOutput(tp);
        return;
      }
      len = 0;
      flags &= ~FIN;
      mEmpty(m);
    } else {
      stats.rcvbyteafterwin += over;
      if ((flags & FIN) !== 0) {
        flags &= ~FIN;
        if (over > 1) mAdj(m, -(over - 1));
        len -= over - 1;
      } else {
        mAdj(m, -over);
        len -= over;
      }
    }
  }

  // RFC 7323 4.3: TS.Recent follows the segment that covers last_ack_sent.
  if (seg.tsVal !== null && tsOn(tp) && seqLeq(seq, tp.lastAckSent)) {
    const segEnd = (seq + len + ((flags & (SYN | FIN)) !== 0 ? 1 : 0)) >>> 0;
    if (seqLt(tp.lastAckSent, segEnd) || seq === tp.lastAckSent) {
      tp.tsRecent = seg.tsVal;
      tp.tsRecentAge = now;
    }
  }

  // ACK processing (RFC 9293 3.10.7.4 fifth).
  if ((flags & ACK) === 0) {
    mFreem(m);
    if ((tp.flags & TF.ACKNOW) !== 0) tcpOutput(tp);
    return;
  }
  const ack = seg.ack;
  if (tp.state === TCPS.SYN_RECEIVED) {
    // RFC 9293: SND.UNA < SEG.ACK =< SND.NXT moves us to ESTABLISHED.
    if (!(seqGt(ack, tp.sndUna) && seqLeq(ack, tp.sndMax))) {
      mFreem(m);
      tcp.stats.scBadack++;
      tcpRespondRst(tcp, seg, tp.inp.faddr, tp.inp.laddr);
      return;
    }
    establish(tp);
  }
  if (seqGt(ack, tp.sndMax)) {
    // Acknowledges something not yet sent: ACK and drop (RFC 9293; RFC 5961 5.2).
    stats.rcvacktoomuch++;
    mFreem(m);
    challengeAck(tp);
    return;
  }
  if (seqLt(ack, (tp.sndUna - tp.maxSndWnd) >>> 0)) {
    // RFC 5961 5.2: too old to be a plausible ACK (blind injection).
    stats.rcvduppack++;
    mFreem(m);
    challengeAck(tp);
    return;
  }
  const tiwin = peerWindow(tp, seg);
  const ourFinAcked = ackProcess(tp, seg, ack, tiwin, len, flags);
  if (tcbClosed(tp)) {
    mFreem(m);
    return;
  }

  // Window update (RFC 9293 3.10.7.4 fifth, ESTABLISHED).
  if (seqLt(tp.sndWl1, seq) || (tp.sndWl1 === seq && (seqLt(tp.sndWl2, ack) || (tp.sndWl2 === ack && tiwin > tp.sndWnd)))) {
    if (len === 0 && tp.sndWl2 === ack && tiwin > tp.sndWnd) stats.rcvwinupd++;
    const wasZero = tp.sndWnd === 0;
    tp.sndWnd = tiwin;
    tp.sndWl1 = seq;
    tp.sndWl2 = ack;
    if (tiwin > tp.maxSndWnd) tp.maxSndWnd = tiwin;
    if (wasZero && tiwin > 0 && tp.timers.persisting) {
      tp.timers.stopMain();
      tp.persistShift = 0;
    }
  }

  // State transitions driven by the ACK of our FIN.
  if (ourFinAcked) {
    switch (tp.state) {
      case TCPS.FIN_WAIT_1:
        // RFC 9293: FIN-WAIT-1 -> FIN-WAIT-2 when our FIN is acknowledged.
        setState(tp, TCPS.FIN_WAIT_2);
        if (so === null || (so.state & SS.NOFDREF) !== 0 || (so.state & SS.CANTRCVMORE) !== 0) {
          // Nobody will read: don't wait for the peer forever (BSD tcp_maxidle).
          tp.timers.setClose(tcp.tun.finWait2Ms);
        }
        break;
      case TCPS.CLOSING:
        // RFC 9293: CLOSING -> TIME-WAIT.
        tcpEnterTimeWait(tp);
        break;
      case TCPS.LAST_ACK:
        // RFC 9293: LAST-ACK -> CLOSED.
        mFreem(m);
        tcpClose(tp);
        return;
      default:
        break;
    }
  }

  // Segment text (RFC 9293 3.10.7.4 seventh) and FIN (eighth).
  let fin = (flags & FIN) !== 0;
  if (len > 0 || fin) {
    if (tp.state === TCPS.ESTABLISHED || tp.state === TCPS.FIN_WAIT_1 || tp.state === TCPS.FIN_WAIT_2 || tp.state === TCPS.SYN_RECEIVED) {
      fin = textInput(tp, seq, len, fin, m);
    } else {
      // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent FIN.
      mFreem(m);
      if (fin && tp.state === TCPS.TIME_WAIT) tp.timers.setClose(2 * tp.params.msl);
      tp.flags |= TF.ACKNOW;
      fin = false;
    }
  } else mFreem(m);
  if (fin) finReceived(tp);
  if (tcbClosed(tp)) return;

  if ((tp.flags & TF.DELACK) !== 0 && (tp.flags & TF.ACKNOW) === 0) tp.timers.setDelack(tcp.delackMsHot);
  // Now, or at the end of the link's input batch (one ACK per batch).
  tcp.outputAfterInput(tp);
}

/** Empty the chain (its data is not wanted; the caller still owns and frees it). */
function mEmpty(m: Mbuf): void {
  mAdj(m, mLength(m));
}

/** Whether `seq` lies in `[rcvNxt, rcvNxt + wnd)`. */
function seqInRcvWindow(seq: number, rcvNxt: number, wnd: number): boolean {
  return seqOffset(seq, rcvNxt) < wnd;
}

/** A RST was accepted (RFC 9293 3.10.7.4 second, by state). */
function resetReceived(tp: TcpCb): void {
  switch (tp.state) {
    case TCPS.SYN_RECEIVED:
      // From an active open (simultaneous): connection refused.
      tcpDropNoRst(tp, Errno.ECONNREFUSED);
      break;
    case TCPS.ESTABLISHED:
    case TCPS.FIN_WAIT_1:
    case TCPS.FIN_WAIT_2:
    case TCPS.CLOSE_WAIT:
      tcpDropNoRst(tp, Errno.ECONNRESET);
      break;
    default:
      // CLOSING, LAST-ACK, TIME-WAIT: just close.
      tcpClose(tp);
  }
}

/**
 * The ACK field (RFC 9293 3.10.7.4 fifth; RFC 5681, RFC 6582, RFC 6675,
 * RFC 6298): duplicate ACK counting and fast retransmit/recovery, new data
 * acknowledged (RTT sample, cwnd growth, send buffer trimmed, timers).
 * @returns whether our FIN is now acknowledged.
 */
function ackProcess(tp: TcpCb, seg: TcpRepr, ack: number, tiwin: number, len: number, flags: number): boolean {
  const tcp = tp.tcp;
  const stats = tcp.stats;
  const now = tcp.clock.now();
  const sb = tp.sackSb;
  let sackNews = 0;
  if (sb !== null && seg.sack !== null) {
    stats.sackblocksRcvd += seg.sack.length >>> 1;
    // The protocol's block objects, refilled (the scoreboard and RACK copy the edges).
    const blocks = tcp.sackBlockScratch;
    const pool = tcp.sackBlockPool;
    const n = seg.sack.length >>> 1;
    blocks.length = n;
    for (let i = 0; i < n; i++) {
      const b = pool[i]!;
      b.start = seg.sack[2 * i]!;
      b.end = seg.sack[2 * i + 1]!;
      blocks[i] = b;
    }
    sackNews = sb.update(ack, blocks, tp.sndMax);
  } else if (sb !== null && seqGt(ack, tp.sndUna)) {
    sb.update(ack, tcp.emptyBlocks, tp.sndMax);
  }

  const rec = recoveryOf(tp);
  rec.onAckArrived(tp, ack, sb !== null && seg.sack !== null ? tcp.sackBlockScratch : tcp.emptyBlocks, sackNews);
  if (seqLeq(ack, tp.sndUna)) {
    // RFC 5681 2 "duplicate acknowledgment": nothing new, no data, same
    // window, something outstanding.
    if (
      ack === tp.sndUna &&
      len === 0 &&
      (flags & (FIN | SYN)) === 0 &&
      tiwin === tp.sndWnd &&
      tp.sndMax !== tp.sndUna &&
      tp.timers.retransmitting // not zero-window probes (BSD: REXMT armed)
    ) {
      stats.rcvdupack++;
      tp.dupacks++;
      rec.onDupAck(tp, ack, sackNews);
    } else if (ack === tp.sndUna && len === 0 && tp.sndMax === tp.sndUna) {
      tp.dupacks = 0;
    }
    return false;
  }

  // New data acknowledged: the recovery in charge decides (recovery/).
  const acked = seqOffset(ack, tp.sndUna);
  stats.rcvackpack++;
  stats.rcvackbyte += acked;
  rec.onAck(tp, ack, acked, now);
  // RTT (RFC 7323 4.1 with timestamps, else the timed segment, Karn). TSecr
  // is valid on any ACK (RFC 7323 3.2) — 0 included: our clock plus offset
  // passes through 0 like any other value; the range check below rejects
  // an echo we never sent.
  if (seg.tsVal !== null && tsOn(tp)) {
    const r = seqSub(tcpTsNow(tp), seg.tsEcr);
    if (r >= 0 && r < 60_000) {
      const expected = Math.max(1, Math.ceil(tp.flightSize / (2 * tp.maxseg)));
      tp.rtt.timestampSample(r, expected);
      stats.rttupdated++;
    }
  } else if (tp.rtseq !== undefined && seqGt(ack, tp.rtseq)) {
    tp.rtt.sample(now - tp.rtttime);
    stats.rttupdated++;
    tp.rtseq = undefined;
  }
  tp.rxtShift = 0;
  // Trim the send buffer (the SYN and FIN occupy sequence space, not buffer).
  let ourFinAcked = false;
  const so = tp.so;
  const bufSeq = sndBufSeq(tp);
  let dataAcked = seqGt(ack, bufSeq) ? seqOffset(ack, bufSeq) : 0;
  if (so !== null) {
    if (dataAcked > so.snd.cc) dataAcked = so.snd.cc;
    if (dataAcked > 0) {
      so.snd.drop(dataAcked);
      // Under memory pressure an autosized buffer gives its growth back as it drains (sndbuf.ts).
      if (so.snd.autosize) tcpSndbufDrained(tp);
      soWwakeup(so);
    }
  }
  if ((tp.flags & TF.SENTFIN) !== 0 && seqGt(ack, tp.sndFin)) ourFinAcked = true;
  tp.sndUna = ack;
  if (seqLt(tp.sndNxt, tp.sndUna)) tp.sndNxt = tp.sndUna;
  if (seqLt(tp.rexmtHigh, tp.sndUna)) tp.rexmtHigh = tp.sndUna;
  // RFC 6298 5.2/5.3: stop the timer when all is acknowledged, else restart.
  if (ack === tp.sndMax) {
    if (tp.timers.retransmitting) tp.timers.stopMain();
  } else if (!tp.timers.persisting || tp.sndWnd > 0) {
    tp.timers.setRetransmit(tp.rtt.rto);
  }
  return ourFinAcked;
}

/**
 * Queue segment text (RFC 9293 3.10.7.4 seventh; `tcp_reass`): in order
 * into the receive buffer (delayed ACK, every second segment), else into
 * the reassembly queue (immediate duplicate ACK with SACK blocks, RFC 5681
 * 4.2). Takes ownership of `m`.
 * @returns whether a FIN is now in order (to be processed).
 */
function textInput(tp: TcpCb, seq: number, len: number, fin: boolean, m: Mbuf): boolean {
  const tcp = tp.tcp;
  const stats = tcp.stats;
  const so = tp.so;
  if (len > 0 && seq === tp.rcvNxt && overAccount(tp, len)) {
    stats.rcvquotadrop++;
    stats.rcvquotabyte += len;
    mFreem(m);
    tp.flags |= TF.ACKNOW;
    return false;
  }
  if (seq === tp.rcvNxt && tp.reass.length === 0) {
    if (len > 0) {
      stats.rcvpack++;
      stats.rcvbyte += len;
      tp.rcvNxt = (tp.rcvNxt + len) >>> 0;
      tp.segsSinceAck++;
      deliver(tp, m);
      if ((tp.flags & TF.DELACK) !== 0 || fin || tcp.delackMsHot === 0) tp.flags |= TF.ACKNOW;
      else tp.flags |= TF.DELACK;
      if (so !== null) soRwakeup(so);
    } else mFreem(m);
    return fin;
  }
  if (seq === tp.rcvNxt) {
    // Fills (part of) the hole at the front: deliver, then what follows.
    if (len > 0) {
      stats.rcvpack++;
      stats.rcvbyte += len;
      tp.rcvNxt = (tp.rcvNxt + len) >>> 0;
      deliver(tp, m);
    } else mFreem(m);
    if (!fin) {
      tp.reass.trimBelow(tp.rcvNxt);
      for (let i = 0; i < 100_000; i++) {
        const q = tp.reass.takeAt(tp.rcvNxt);
        if (q === null) break;
        tp.rcvNxt = (tp.rcvNxt + q.len) >>> 0;
        if (q.m !== null) deliver(tp, q.m);
        if (q.fin) {
          fin = true;
          break;
        }
      }
    }
    tp.sackRcv.onAdvance(tp.rcvNxt);
    tcpOfoTrim(tp);
    tp.flags |= TF.ACKNOW;
    if (so !== null) soRwakeup(so);
    return fin;
  }
  // Out of order.
  stats.rcvoopack++;
  stats.rcvoobyte += len;
  // Charged and bounded (ofo.ts): refusals are counted there.
  const res = tcpOfoInsert(tp, seq, len, fin, len > 0 ? m : (mFreem(m), null));
  if (res === ReassResult.DUPLICATE) {
    stats.rcvduppack++;
    if ((tp.flags & TF.SACK_PERMIT) !== 0) {
      tp.sackRcv.onDuplicate(seq, (seq + len) >>> 0, tp.rcvNxt);
      tp.dsackPending = true;
    }
  } else if (res === ReassResult.QUEUED && (tp.flags & TF.SACK_PERMIT) !== 0 && len > 0) {
    tp.sackRcv.onOutOfOrder(seq, (seq + len) >>> 0, tp.rcvNxt);
  }
  tp.flags |= TF.ACKNOW;
  return false;
}

/**
 * Whether `len` in-order bytes would pass what the socket's owner may hold
 * (its `SbAccount`: the server's per-client and per-user quota). Each
 * connection's window keeps to the account's room when it is advertised,
 * but that room is shared by all the owner's sockets and a window once
 * advertised cannot be taken back (RFC 9293 3.8.6.2.2): without this, N
 * connections of one owner that stop reading would hold N windows
 * (tested: 16 streams of 1 MiB buffers held 5× their quota). So the bytes
 * are dropped unacknowledged, as Linux drops in-window data it cannot
 * charge (`tcp_try_rmem_schedule`, TCPRcvQDrop), and the peer retransmits
 * once the reader made room. Without an account (no quota) never.
 */
function overAccount(tp: TcpCb, len: number): boolean {
  const so = tp.so;
  return so !== null && so.rcv.account !== null && (so.state & SS.CANTRCVMORE) === 0 && so.rcv.accountRoom() < len;
}

/** Hand in-order data to the socket (`sbappendstream`), or drop it when nobody reads. */
function deliver(tp: TcpCb, m: Mbuf): void {
  const so = tp.so;
  if (so === null || (so.state & SS.CANTRCVMORE) !== 0) {
    mFreem(m);
    return;
  }
  so.rcv.appendStream(m);
}

/** The peer's FIN is in order (RFC 9293 3.10.7.4 eighth). */
function finReceived(tp: TcpCb): void {
  tp.rcvNxt = (tp.rcvNxt + 1) >>> 0;
  tp.flags |= TF.ACKNOW;
  tp.flags &= ~TF.DELACK;
  const so = tp.so;
  if (so !== null) soCantRcvMore(so);
  switch (tp.state) {
    case TCPS.SYN_RECEIVED:
    case TCPS.ESTABLISHED:
      // RFC 9293: ESTABLISHED -> CLOSE-WAIT.
      setState(tp, TCPS.CLOSE_WAIT);
      break;
    case TCPS.FIN_WAIT_1:
      // RFC 9293: FIN-WAIT-1 -> CLOSING (our FIN not yet acknowledged: simultaneous close).
      setState(tp, TCPS.CLOSING);
      break;
    case TCPS.FIN_WAIT_2:
      // RFC 9293: FIN-WAIT-2 -> TIME-WAIT.
      tcpEnterTimeWait(tp);
      break;
    default:
      break;
  }
}

/** Whether the connection is established enough for data (exported for usrreq). */
export function canSendData(tp: TcpCb): boolean {
  return haveEstablished(tp.state) || tp.state === TCPS.SYN_SENT || tp.state === TCPS.SYN_RECEIVED;
}
