/**
 * Loss recovery behind one interface (gVisor's `lossRecovery`, with
 * `renoRecovery`, `sackRecovery` and RACK beside them).
 *
 * Input and the timers tell the connection's {@link LossRecovery} what
 * happened — a duplicate ACK, an ACK that moves snd_una, a retransmission
 * timeout — and output asks it, while recovery runs, what to resend. The
 * congestion controller (congctl/) still decides *how much* may be in
 * flight; the recovery decides *when* a segment counts as lost and *which*
 * one goes next:
 *
 * - {@link renoRecovery}: RFC 5681 fast retransmit on the third duplicate
 *   ACK, RFC 6582 NewReno partial ACKs (one hole per round trip);
 * - {@link sackRecovery}: RFC 6675 — IsLost() by DupThresh over the SACK
 *   scoreboard, pipe and NextSeg();
 * - {@link rackRecovery}: RFC 8985 RACK-TLP — loss by send time and a
 *   reordering window, a tail loss probe instead of waiting for an RTO.
 *
 * The algorithm is chosen per connection (`net.inet.tcp.recovery`, the
 * `TCP_RECOVERY` socket option); SACK and RACK need the peer's SACK
 * (RFC 2018) and fall back to NewReno without it, as gVisor and Linux do.
 * A recovery under way ends under the algorithm that began it
 * (`tp.recoveryActive`), so switching in between is safe.
 *
 * @module
 */
import { TcpFlag } from '../../../wire/tcp.js';
import { seqOffset } from '../seq.js';
import { tcpSendSegment, sndBufSeq } from '../output.js';
import { TF, type TcpCb } from '../tcpcb.js';
import type { SackBlock } from '../sack.js';

/** Names of the loss recovery algorithms, by their `net.inet.tcp.recovery` number. */
export const RECOVERY_NAMES = ['newreno', 'sack', 'rack'] as const;

/** A loss recovery algorithm's name. */
export type RecoveryName = (typeof RECOVERY_NAMES)[number];

/**
 * One loss recovery algorithm. Implementations are stateless singletons:
 * the per-connection state lives in the control block (dupacks, the SACK
 * scoreboard, RACK's {@link RackState}), so choosing one costs nothing per
 * connection.
 */
export interface LossRecovery {
  /** Registry name. */
  readonly name: RecoveryName;
  /** Whether it works from the SACK scoreboard (pipe, not cwnd inflation, during recovery). */
  readonly usesSack: boolean;
  /**
   * Every ACK that passed the acceptability tests, before the duplicate /
   * new-data split (RACK records deliveries here): `blocks` are the ACK's
   * SACK blocks (validated by the scoreboard, which has taken them in),
   * `sackNews` the bytes they newly SACKed.
   */
  onAckArrived(tp: TcpCb, ack: number, blocks: readonly SackBlock[], sackNews: number): void;
  /**
   * A duplicate ACK (RFC 5681 section 2 definition; `tp.dupacks` already
   * counts it).
   */
  onDupAck(tp: TcpCb, ack: number, sackNews: number): void;
  /**
   * An ACK moved snd_una to `ack` by `acked` bytes (called before the send
   * buffer is trimmed and snd_una is updated): the congestion controller's
   * growth, partial and full ACKs in recovery.
   */
  onAck(tp: TcpCb, ack: number, acked: number, now: number): void;
  /** The retransmission timer fired (RFC 6298 5.4–5.7): forget recovery state. */
  onRto(tp: TcpCb): void;
  /**
   * During recovery, called by `tcpOutput` before new data: send what the
   * algorithm's NextSeg() names while the pipe allows.
   */
  output(tp: TcpCb): void;
  /** A segment `[seq, seq+len)` left (new or retransmitted); RACK records its send time. */
  onSend(tp: TcpCb, seq: number, len: number, now: number): void;
}

/** Whether the connection can run SACK-based recovery (SACK agreed, scoreboard made). */
export function sackUsable(tp: TcpCb): boolean {
  return tp.sackSb !== null && (tp.flags & TF.SACK_PERMIT) !== 0;
}

/**
 * RFC 6582 3.2 / RFC 6675 5: leave or continue a recovery on an ACK that
 * advances snd_una; outside recovery, grow cwnd. `onPartial` runs on a
 * partial ACK after the controller deflated.
 */
export function ackAdvance(tp: TcpCb, ack: number, acked: number, now: number, onPartial: (tp: TcpCb, ack: number) => void): void {
  const cc = tp.cc;
  if (cc.inRecovery) {
    if (cc.isFullAck(ack)) {
      cc.exitRecovery(seqOffset(tp.sndMax, ack), now);
      endRecovery(tp);
    } else {
      cc.onPartialAck(acked);
      tp.tcp.stats.newrenoPartial++;
      onPartial(tp, ack);
    }
  } else {
    tp.dupacks = 0;
    cc.onAck(acked, now, tp.rtt.srtt);
  }
}

/** A recovery ended by a full ACK (RFC 6675 5 (A)): scoreboard and tcb forget it. */
export function endRecovery(tp: TcpCb): void {
  tp.recoveryActive = null;
  tp.sackSb?.endRecovery();
  tp.dupacks = 0;
}

/** The common part of an RTO for every algorithm (RFC 6675 5.1: SACK state is forgotten). */
export function rtoReset(tp: TcpCb): void {
  tp.sackSb?.clear();
  tp.recoveryActive = null;
  tp.dupacks = 0;
}

/**
 * Resend one segment from `seq` (fast retransmit, NewReno partial ACK,
 * tail loss probe); returns the bytes resent (0 when only the FIN is left:
 * snd_nxt is pulled back so the normal path resends it).
 */
export function retransmitOne(tp: TcpCb, seq: number, maxLen = tp.maxseg): number {
  const so = tp.so;
  if (so === null) return 0;
  const bufSeq = sndBufSeq(tp);
  const off = seqOffset(seq, bufSeq);
  const avail = so.snd.cc - off;
  if (avail <= 0) {
    tp.sndNxt = seq;
    return 0;
  }
  const len = Math.min(avail, maxLen, seqOffset(tp.sndMax, seq));
  if (len <= 0) return 0;
  tcpSendSegment(tp, seq, len, TcpFlag.ACK, false);
  tp.timers.setRetransmit(tp.rtt.rto);
  return len;
}

/** Enter recovery in the congestion controller (RFC 5681 3.2 step 2, RFC 6675 5 step 4) on behalf of `r`. */
export function ccEnterRecovery(tp: TcpCb, r: LossRecovery): void {
  const tcp = tp.tcp;
  tcp.stats.fastretrans++;
  tp.cc.enterRecovery({ flightSize: tp.flightSize, sndMax: tp.sndMax, now: tcp.clock.now(), sack: r.usesSack });
  tp.rtseq = undefined;
  tp.recoveryActive = r;
}
