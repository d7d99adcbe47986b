/**
 * TCP odds and ends shared by input, output, timers and user requests
 * (NetBSD `tcp_subr.c`): segments sent without a connection's send path
 * (`tcp_respond`: RSTs, keepalive probes, SYN cache SYN-ACKs), and the ends
 * of a connection (`tcp_drop`, `tcp_close`, TIME-WAIT entry).
 *
 * @module
 */
import { Errno } from '../../kern/errno.js';
import { SEQ_ZERO } from '../../kern/shape.js';
import { MHLEN, mGethdr } from '../../mbuf/index.js';
import { SS } from '../../socket/constants.js';
import { zoneFor, type InPcb } from '../../socket/inpcb.js';
import { soIsDisconnected, soSetError } from '../../socket/socket.js';
import { pseudoHeaderSum } from '../../wire/checksum.js';
import { TcpFlag, TcpRepr } from '../../wire/tcp.js';
import { tcpSendSegment, tcpTsNow, tsOn } from './output.js';
import type { TcpProtocol } from './protocol.js';
import { haveRcvdSyn, setState, TCPS, TF, type TcpCb } from './tcpcb.js';
import type { IpAddress } from '../../wire/ip.js';

/** A TcpRepr with every option absent, for building bare segments. */
export function blankRepr(): TcpRepr {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: SEQ_ZERO,
    ack: SEQ_ZERO,
    flags: 0,
    window: 0,
    urgent: 0,
    mss: null,
    windowScale: null,
    sackPermitted: false,
    sack: null,
    tsVal: null,
    tsEcr: SEQ_ZERO,
    payloadLen: 0,
  };
}

/**
 * Emit a header-only segment described by `r` from `src` to `dst`
 * (`tcp_respond`). The repr's payloadLen must be 0. Counts it.
 * @returns 0 or an errno (ENOBUFS, or from IP output).
 */
export function tcpEmit(tcp: TcpProtocol, r: TcpRepr, src: IpAddress, dst: IpAddress, zone = 0): number {
  const hlen = TcpRepr.headerLen(r);
  // RSTs, keepalives, SYN-ACKs: one small mbuf, which may come from the
  // reserve so the stack can always answer.
  const m = mGethdr(tcp.pool, { reserve: true });
  if (m === null) {
    tcp.stats.senderr++;
    return Errno.ENOBUFS;
  }
  m.off = MHLEN - hlen;
  m.len = hlen;
  m.pkthdr!.len = hlen;
  TcpRepr.emit(r, m.data, m.off, src, dst, 'fill');
  tcp.stats.sndtotal++;
  if ((r.flags & TcpFlag.RST) !== 0) tcp.stats.sndrst++;
  else if ((r.flags & (TcpFlag.SYN | TcpFlag.FIN)) !== 0) tcp.stats.sndctrl++;
  else tcp.stats.sndacks++;
  return tcp.ip.output(m, zone !== 0 ? { src, dst, proto: 6, df: true, ifindex: zone } : { src, dst, proto: 6, df: true });
}

/**
 * Answer a segment that belongs to no connection (or must be refused) with
 * a RST (RFC 9293 3.10.7.1): if it had ACK, `<SEQ=SEG.ACK><CTL=RST>`; else
 * `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. Never answers a RST, nor a
 * broadcast or multicast (RFC 1122 4.2.3.10).
 * @param src the segment's source (our reply's destination); `dst` ours.
 */
export function tcpRespondRst(tcp: TcpProtocol, seg: TcpRepr, src: IpAddress, dst: IpAddress): void {
  if ((seg.flags & TcpFlag.RST) !== 0) return;
  const r = blankRepr();
  r.srcPort = seg.dstPort;
  r.dstPort = seg.srcPort;
  if ((seg.flags & TcpFlag.ACK) !== 0) {
    r.seq = seg.ack;
    r.flags = TcpFlag.RST;
  } else {
    let len = seg.payloadLen;
    if ((seg.flags & TcpFlag.SYN) !== 0) len++;
    if ((seg.flags & TcpFlag.FIN) !== 0) len++;
    r.seq = 0;
    r.ack = (seg.seq + len) >>> 0;
    r.flags = TcpFlag.RST | TcpFlag.ACK;
  }
  // The segment being answered came in on tcp.inIfindex: a link-local peer is reached by that link.
  tcpEmit(tcp, r, dst, src, zoneFor(src, tcp.inIfindex));
}

/**
 * A keepalive probe (RFC 9293 3.8.4, BSD style): `<SEQ=SND.UNA-1><ACK=RCV.NXT>`
 * with no data, which makes the peer answer with an ACK.
 */
export function tcpRespondKeepalive(tp: TcpCb): void {
  const r = blankRepr();
  r.srcPort = tp.inp.lport;
  r.dstPort = tp.inp.fport;
  r.seq = (tp.sndUna - 1) >>> 0;
  r.ack = tp.rcvNxt;
  r.flags = TcpFlag.ACK;
  r.window = Math.min(0xffff, Math.floor(tp.rcvWnd / 2 ** tp.rcvScale));
  if (tsOn(tp)) {
    r.tsVal = tcpTsNow(tp);
    r.tsEcr = tp.tsRecent ?? 0;
  }
  tcpEmit(tp.tcp, r, tp.inp.laddr, tp.inp.faddr, tp.inp.zone);
}

/** The tcb of a socket's pcb, or null. */
export function tcbOf(inp: InPcb | null): TcpCb | null {
  return inp === null ? null : (inp.ppcb as TcpCb | null);
}

/**
 * Let go of the socket (the user has closed it, or TIME-WAIT needs none):
 * the tcb lives on alone; a socket without a descriptor is freed.
 */
export function tcpReleaseSocket(tp: TcpCb): void {
  const so = tp.so;
  if (so === null) return;
  tp.so = null;
  if (so.pcb === tp.inp) so.pcb = null;
  if ((so.state & SS.NOFDREF) !== 0) so.layer.free(so);
}

/**
 * Close the connection and free its state (`tcp_close`): timers, queues,
 * the pcb; the socket learns it is disconnected and is freed when its user
 * has gone.
 */
export function tcpClose(tp: TcpCb): void {
  const tcp = tp.tcp;
  if (tp.state === TCPS.CLOSED && !tcp.tcbs.has(tp)) return;
  tp.timers.cancelAll();
  tp.reass.flush();
  tp.sackRcv.clear();
  setState(tp, TCPS.CLOSED);
  tcp.tcbs.delete(tp);
  tcp.stats.closed++;
  const so = tp.so;
  tcp.pcbs.detach(tp.inp);
  tp.inp.ppcb = null;
  if (so !== null) {
    tp.so = null;
    soIsDisconnected(so);
    if ((so.state & SS.NOFDREF) !== 0) so.layer.free(so);
  }
}

/**
 * Drop the connection with an error (`tcp_drop`): a synchronized
 * connection gets a RST (RFC 9293 3.10.7), the socket gets `errno`.
 */
export function tcpDrop(tp: TcpCb, errno: number): void {
  const tcp = tp.tcp;
  if (haveRcvdSyn(tp.state) && tp.state !== TCPS.TIME_WAIT) {
    tcpSendSegment(tp, tp.sndNxt, 0, TcpFlag.RST | TcpFlag.ACK, false);
    tcp.stats.sndrst++;
    tcp.stats.drops++;
  } else tcp.stats.conndrops++;
  if (tp.so !== null && errno !== 0) soSetError(tp.so, errno);
  tcpClose(tp);
}

/**
 * Enter TIME-WAIT (RFC 9293 3.10.7.4): only the 2*MSL timer runs; the
 * socket is disconnected and released if its user has gone.
 */
export function tcpEnterTimeWait(tp: TcpCb): void {
  setState(tp, TCPS.TIME_WAIT);
  tp.timers.stopMain();
  tp.timers.clearDelack();
  tp.timers.keepAt = Infinity;
  tp.timers.setClose(2 * tp.params.msl);
  tp.flags &= ~TF.WANTFIN;
  tp.reass.flush();
  const so = tp.so;
  if (so !== null) {
    soIsDisconnected(so);
    if ((so.state & SS.NOFDREF) !== 0) tcpReleaseSocket(tp);
  }
}

/** Prepare a pseudo-header sum (exported for tests of checksums on crafted segments). */
export function tcpPseudo(src: IpAddress, dst: IpAddress, len: number): number {
  return pseudoHeaderSum(src, dst, 6, len);
}
