/**
 * Segments arriving in TIME-WAIT (RFC 9293 3.10.7.4 by state, RFC 1337,
 * RFC 6191) — FreeBSD's `tcp_twcheck`, Linux's
 * `tcp_timewait_state_process`. A TIME-WAIT holds no data and no socket; it
 * exists to ACK a retransmitted FIN and to keep old duplicates of this
 * 4-tuple from being taken for a new connection's. The choices, and how
 * they compare with NetBSD and Linux, are in README.md ("TIME-WAIT").
 *
 * @module
 */
import { mFreem, type Mbuf } from '../../mbuf/index.js';
import { TcpFlag, type TcpRepr } from '../../wire/tcp.js';
import type { IpAddress } from '../../wire/ip.js';
import { tcpOutput, tsOn } from './output.js';
import { seqGt, seqLt } from './seq.js';
import { tcpClose } from './subr.js';
import { TCPS, TF, type TcpCb } from './tcpcb.js';

const { SYN, ACK, FIN, RST } = TcpFlag;

/** What {@link timeWaitInput} did with a segment. */
export type TimeWaitVerdict =
  /** Handled (ACKed, ignored or dropped, each counted); the chain was freed. */
  | 'done'
  /** A new SYN was accepted (RFC 6191): the TIME-WAIT is closed, the segment goes to the listener. */
  | 'reopen'
  /** Not handled here (a RST with `net.inet.tcp.rfc1337` off): the caller's general path goes on. */
  | 'continue';

/**
 * A segment for connection `tp` in TIME-WAIT, from `src` to `dst`. Frees
 * `m` when the verdict is `'done'`; otherwise the caller still owns it.
 */
export function timeWaitInput(tp: TcpCb, seg: TcpRepr, m: Mbuf, dst: IpAddress): TimeWaitVerdict {
  const tcp = tp.tcp;
  const stats = tcp.stats;
  const flags = seg.flags;
  if ((flags & RST) !== 0) {
    // RFC 1337 (TIME-WAIT assassination): a RST must not end TIME-WAIT early,
    // or an old duplicate could be accepted by the next incarnation.
    // FreeBSD ignores it always; Linux only with tcp_rfc1337 = 1.
    if (tcp.tun.rfc1337 === 0) return 'continue';
    stats.twRstIgnored++;
    mFreem(m);
    return 'done';
  }
  if ((flags & (SYN | ACK)) === SYN && synMayReopen(tp, seg, dst)) {
    stats.twReused++;
    tcpClose(tp);
    return 'reopen';
  }
  mFreem(m);
  if ((flags & SYN) !== 0) {
    // RFC 9293 3.10.7.4 fourth / RFC 5961 4.2: ACK, stay in TIME-WAIT (an
    // old duplicate, or nobody listens to take the new connection).
    twAck(tp);
    return 'done';
  }
  // RFC 7323 5.3 PAWS: an old duplicate of this incarnation.
  if (seg.tsVal !== null && tsOn(tp) && tp.tsRecent !== undefined && seqLt(seg.tsVal, tp.tsRecent)) {
    stats.pawsdrop++;
    twAck(tp);
    return 'done';
  }
  const len = seg.payloadLen;
  if ((flags & FIN) !== 0 && ((seg.seq + len + 1) >>> 0) === tp.rcvNxt) {
    // "The only thing that can arrive in this state is a retransmission of
    // the remote FIN. Acknowledge it, and restart the 2 MSL timeout."
    stats.twFinRexmt++;
    tp.timers.setClose(2 * tp.params.msl);
    tp.flags |= TF.ACKNOW;
    tcpOutput(tp);
    return 'done';
  }
  if (len === 0 && (flags & (ACK | FIN | SYN)) === ACK && seg.seq === tp.rcvNxt) {
    // A duplicate of the peer's last ACK: nothing to say (FreeBSD).
    stats.rcvduppack++;
    return 'done';
  }
  // Anything else — data (in the window or not), a FIN that is not the
  // peer's, an ACK out of the window: its text is ignored (RFC 9293: "This
  // should not occur since a FIN has been received") and it is answered
  // with an ACK that resynchronizes the peer. The TIME-WAIT stays.
  if (len > 0) {
    stats.twData++;
    stats.rcvduppack++;
  }
  twAck(tp);
  return 'done';
}

/**
 * RFC 6191 (and RFC 1122 4.2.2.13): a SYN may open a new incarnation of a
 * 4-tuple in TIME-WAIT when it is provably newer — its timestamp is above
 * TS.Recent when both incarnations use timestamps, else its sequence number
 * is above RCV.NXT — and only when a listener is there to take it: without
 * one the SYN would be refused anyway, and closing the TIME-WAIT would only
 * let old duplicates through.
 */
function synMayReopen(tp: TcpCb, seg: TcpRepr, dst: IpAddress): boolean {
  const tcp = tp.tcp;
  const linp = tcp.pcbs.lookupBind(dst, seg.dstPort);
  const lp = linp === null ? null : (linp.ppcb as TcpCb | null);
  if (lp === null || lp.state !== TCPS.LISTEN || lp.so === null) {
    tcp.stats.twSynNoListener++;
    return false;
  }
  const newUsesTs = seg.tsVal !== null && (lp.flags & TF.REQ_TSTMP) !== 0 && (lp.flags & TF.NOOPT) === 0;
  const newer =
    tsOn(tp) && tp.tsRecent !== undefined && newUsesTs ? seqGt(seg.tsVal!, tp.tsRecent) : seqGt(seg.seq, tp.rcvNxt);
  if (!newer) tcp.stats.twSynOld++;
  return newer;
}

/**
 * An ACK from TIME-WAIT, at most one per `net.inet.tcp.invalid_ratelimit`
 * ms per connection (Linux `tcp_timewait_check_oow_rate_limit`): a peer
 * or an attacker sending junk cannot make us answer each segment.
 */
function twAck(tp: TcpCb): void {
  const tcp = tp.tcp;
  const now = tcp.clock.now();
  const gap = tcp.tun.invalidRatelimitMs;
  if (gap > 0 && tp.lastOowAck !== undefined && now - tp.lastOowAck < gap) {
    tcp.stats.twAckLimited++;
    return;
  }
  tp.lastOowAck = now;
  tcp.stats.twAcks++;
  tp.flags |= TF.ACKNOW;
  tcpOutput(tp);
}
