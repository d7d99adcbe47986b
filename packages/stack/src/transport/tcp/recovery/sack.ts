/**
 * SACK-based loss recovery (RFC 6675; NetBSD `tcp_sack_newack`, gVisor
 * `sackRecovery`): loss is IsLost() over the scoreboard (DupThresh
 * discontiguous SACKed runs, or more than (DupThresh - 1) * SMSS SACKed
 * bytes above a hole), and in recovery segments go out while pipe < cwnd
 * in the order NextSeg() gives.
 *
 * @module
 */
import { TcpFlag } from '../../../wire/tcp.js';
import { armAfterSendFailure, MAX_BURST, segmentRoom, sndBufSeq, tcpOutput, tcpSendSegment, usableWindow } from '../output.js';
import { seqLt, seqOffset } from '../seq.js';
import type { TcpCb } from '../tcpcb.js';
import { ackAdvance, ccEnterRecovery, retransmitOne, rtoReset, sackUsable, type LossRecovery } from './index.js';

/**
 * RFC 6675 5 steps (C): while the pipe is below cwnd, send what NextSeg()
 * names — a lost hole (rule 1), new data (2), any hole (3), the rescue
 * retransmission (4).
 */
function sackOutput(tp: TcpCb): void {
  const sb = tp.sackSb;
  const so = tp.so;
  if (sb === null || so === null) return;
  const tcp = tp.tcp;
  const bufSeq = sndBufSeq(tp);
  const dataEnd = (bufSeq + so.snd.cc) >>> 0;
  for (let i = 0; i < MAX_BURST; i++) {
    const pipe = sb.pipe(tp.sndMax);
    if (pipe >= tp.cc.cwnd) break;
    const canNew = seqLt(tp.sndMax, dataEnd) && seqOffset(tp.sndMax, tp.sndUna) < tp.sndWnd;
    const seg = sb.nextSeg(tp.sndMax, canNew);
    if (seg === undefined) break;
    if (seg.kind === 'new') {
      // Rule 2: new data at snd_max; the normal path sends it.
      const room = Math.min(segmentRoom(tp), seqOffset(dataEnd, tp.sndMax), usableWindow(tp.sndUna, tp.sndWnd, tp.sndMax));
      if (room <= 0) break;
      tp.sndNxt = tp.sndMax;
      if (tcpSendSegment(tp, tp.sndMax, room, TcpFlag.ACK, false) !== 0) {
        armAfterSendFailure(tp);
        break;
      }
      continue;
    }
    let len = Math.min(seqOffset(seg.end, seg.start), segmentRoom(tp));
    // Never past the end of the data (a FIN beyond it is resent by the timer).
    const avail = seqOffset(dataEnd, seg.start);
    if (seqLt(dataEnd, seg.start) || avail === 0) break;
    len = Math.min(len, avail);
    tcp.stats.sackrexmit++;
    if (tcpSendSegment(tp, seg.start, len, TcpFlag.ACK, false) !== 0) {
      armAfterSendFailure(tp);
      break;
    }
    sb.markRetransmitted({ kind: seg.kind, start: seg.start, end: (seg.start + len) >>> 0 });
  }
}

/** Enter SACK recovery (RFC 6675 5 step 4) and resend the first segment presumed lost (step 4.3). */
function sackEnter(tp: TcpCb, r: LossRecovery): void {
  ccEnterRecovery(tp, r);
  tp.tcp.stats.sackrecovery++;
  const sb = tp.sackSb!;
  sb.startRecovery(tp.sndMax);
  const sent = retransmitOne(tp, tp.sndUna);
  if (sent > 0) sb.markRetransmitted({ kind: 'retransmit', start: tp.sndUna, end: (tp.sndUna + sent) >>> 0 });
  tcpOutput(tp);
}

/** RFC 6675: partial ACKs need nothing beyond pipe (the scoreboard moved). */
function sackPartial(): void {}

/** SACK recovery: DupThresh duplicate ACKs or IsLost(snd_una) start it; NextSeg() drives the sending. */
export const sackRecovery: LossRecovery = {
  name: 'sack',
  usesSack: true,
  onAckArrived(): void {},
  onDupAck(tp: TcpCb, ack: number, sackNews: number): void {
    const cc = tp.cc;
    // RFC 6675 5 step 3/4: DupThresh duplicates, or IsLost(HighACK + 1).
    const sackLoss = sackUsable(tp) && sackNews > 0 && tp.sackSb!.isLost(tp.sndUna);
    if (!cc.inRecovery && (tp.dupacks === 3 || sackLoss) && cc.canEnterRecovery(ack)) {
      sackEnter(tp, sackRecovery);
    } else if (cc.inRecovery) {
      tcpOutput(tp);
    }
  },
  onAck(tp: TcpCb, ack: number, acked: number, now: number): void {
    ackAdvance(tp, ack, acked, now, sackPartial);
  },
  onRto(tp: TcpCb): void {
    rtoReset(tp);
  },
  output: sackOutput,
  onSend(): void {},
};
