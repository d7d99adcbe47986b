/**
 * Opening a connection (RFC 9293 3.10.7.3 SYN-SENT, and the move to
 * ESTABLISHED from either side): the SYN's options, the handshake's RTT
 * sample, simultaneous open. Split from `input.ts` by concern, as NetBSD
 * keeps `tcp_input`'s SYN-SENT case apart from the synchronized states.
 *
 * @module
 */
import { Errno } from '../../kern/errno.js';
import { mFreem, type Mbuf } from '../../mbuf/index.js';
import { soIsConnected, soSetError } from '../../socket/socket.js';
import { TcpFlag, type TcpRepr } from '../../wire/tcp.js';
import { tcpOutput } from './output.js';
import { seqGt, seqLeq, seqLt } from './seq.js';
import { tcpClose, tcpRespondRst } from './subr.js';
import { setState, TCPS, TF, type TcpCb } from './tcpcb.js';

const ACK = TcpFlag.ACK;
const SYN = TcpFlag.SYN;
const RST = TcpFlag.RST;

/** Apply the options of a SYN we received (RFC 9293 3.7.1, RFC 7323, RFC 2018). */
export function applySynOptions(tp: TcpCb, seg: TcpRepr): void {
  const tcp = tp.tcp;
  if (seg.windowScale !== null && (tp.flags & TF.REQ_SCALE) !== 0) {
    tp.flags |= TF.RCVD_SCALE;
    tp.sndScale = Math.min(seg.windowScale, 14);
    tp.rcvScale = tp.requestRScale;
  } else {
    tp.flags &= ~(TF.REQ_SCALE | TF.RCVD_SCALE);
    tp.sndScale = 0;
    tp.rcvScale = 0;
  }
  if (seg.tsVal !== null && (tp.flags & TF.REQ_TSTMP) !== 0) {
    tp.flags |= TF.RCVD_TSTMP;
    tp.tsRecent = seg.tsVal;
    tp.tsRecentAge = tcp.clock.now();
  } else tp.flags &= ~(TF.REQ_TSTMP | TF.RCVD_TSTMP);
  if (seg.sackPermitted && (tp.flags & TF.REQ_SACK) !== 0) tp.flags |= TF.SACK_PERMIT;
  else tp.flags &= ~TF.SACK_PERMIT;
  tcp.setMss(tp, seg.mss);
}

/** Close with an error for the user but no RST (the peer reset us, or refused). */
export function tcpDropNoRst(tp: TcpCb, errno: number): void {
  if (tp.so !== null) soSetError(tp.so, errno);
  tp.tcp.stats.drops++;
  tcpClose(tp);
}

/** SYN-RECEIVED or SYN-SENT+SYN,ACK -> ESTABLISHED. */
export function establish(tp: TcpCb): void {
  const tcp = tp.tcp;
  setState(tp, TCPS.ESTABLISHED);
  tcp.stats.connects++;
  tp.timers.keepAt = Infinity;
  if ((tp.flags & TF.SYN_REXMT) !== 0) tp.rtt.onHandshakeLoss();
  tp.rxtShift = 0;
  const so = tp.so;
  if (so !== null) soIsConnected(so);
  // Keepalive (it checks SO_KEEPALIVE when it fires, so setting it later works).
  tp.timers.setKeep(tp.params.keepIdle);
  // A FIN the user asked for before the handshake finished.
  if ((tp.flags & TF.WANTFIN) !== 0) {
    tp.flags &= ~TF.WANTFIN;
    setState(tp, TCPS.FIN_WAIT_1);
  }
}

/** SYN-SENT (RFC 9293 3.10.7.3). Takes ownership of `m`. */
export function synSentInput(tp: TcpCb, seg: TcpRepr, m: Mbuf): void {
  const tcp = tp.tcp;
  const flags = seg.flags;
  mFreem(m);
  if ((flags & ACK) !== 0 && (seqLeq(seg.ack, tp.iss) || seqGt(seg.ack, tp.sndMax))) {
    // Unacceptable ACK: RST it unless it is one (RFC 9293 3.10.7.3 first).
    tcp.stats.rcvacktoomuch++;
    tcpRespondRst(tcp, seg, tp.inp.faddr, tp.inp.laddr);
    return;
  }
  if ((flags & RST) !== 0) {
    // RFC 5961 3.2 in SYN-SENT: only with an acceptable ACK.
    if ((flags & ACK) !== 0) {
      tcp.stats.rcvrst++;
      tcpDropNoRst(tp, Errno.ECONNREFUSED);
    } else tcp.stats.rcvbadrst++;
    return;
  }
  if ((flags & SYN) === 0) {
    tcp.stats.rcvbadsyn++;
    return;
  }
  tp.irs = seg.seq;
  tp.rcvNxt = (seg.seq + 1) >>> 0;
  tp.rcvAdv = tp.rcvNxt;
  tp.lastAckSent = tp.rcvNxt;
  applySynOptions(tp, seg);
  tp.flags |= TF.ACKNOW;
  if ((flags & ACK) !== 0) {
    // Our SYN is acknowledged: ESTABLISHED (RFC 9293 3.10.7.3 fourth).
    tp.sndUna = seg.ack;
    if (seqLt(tp.sndNxt, tp.sndUna)) tp.sndNxt = tp.sndUna;
    tp.sndWnd = seg.window; // RFC 7323 2.2: not scaled in a SYN
    tp.maxSndWnd = tp.sndWnd;
    tp.sndWl1 = seg.seq;
    tp.sndWl2 = seg.ack;
    tp.timers.stopMain();
    // RTT of the handshake (Karn: only if the SYN was not resent).
    if (tp.rtseq !== undefined && (tp.flags & TF.SYN_REXMT) === 0) {
      tp.rtt.sample(tcp.clock.now() - tp.rtttime);
      tcp.stats.rttupdated++;
    }
    tp.rtseq = undefined;
    establish(tp);
    tp.lastActivity = tcp.clock.now();
    tcpOutput(tp);
    return;
  }
  // Simultaneous open: SYN-SENT -> SYN-RECEIVED, resend our SYN as SYN,ACK.
  setState(tp, TCPS.SYN_RECEIVED);
  tp.sndWnd = seg.window;
  tp.sndWl1 = seg.seq;
  tp.sndWl2 = tp.iss;
  tp.sndNxt = tp.iss;
  tp.timers.stopMain();
  tcpOutput(tp);
}
