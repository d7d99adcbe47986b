/**
 * RACK-TLP loss detection (RFC 8985; Linux `tcp_recovery.c`, gVisor
 * `rack.go`).
 *
 * RACK ("recent acknowledgment") marks a segment lost by time, not by
 * counting: once a segment sent *later* has been delivered (ACKed or
 * SACKed), an earlier one still missing after RACK.rtt plus a reordering
 * window is lost (6.2). The window absorbs reordering that DupThresh would
 * take for loss: RACK.min_RTT/4 — 0 until reordering has been seen and
 * DupThresh segments are SACKed, so that a connection without reordering
 * reacts as fast as RFC 6675 — widened by one quarter min_RTT per round
 * trip that brought a D-SACK (the peer got a segment twice: we retransmitted
 * too early), for 16 recoveries, and capped at SRTT (6.2 step 4). What is
 * not yet old enough arms the reordering timer.
 *
 * TLP ("tail loss probe", 7): when the last segments of a flight are lost
 * no later segment is delivered, so nothing but the RTO would notice. After
 * PTO = 2*SRTT (plus a worst-case delayed ACK of 200 ms when one segment is
 * in flight, at least 10 ms as Linux, never after the RTO) one probe goes
 * out — new data if the window allows, else the last segment again — and
 * its ACK (with SACK) lets RACK find the tail that was lost. An ACK past the
 * probed sequence without a D-SACK means the probe repaired a loss: the
 * congestion controller reduces as for fast recovery (7.4).
 *
 * Sending in recovery is RFC 6675's pipe against cwnd, with pipe =
 * outstanding - SACKed - lost-not-yet-resent (Linux's `tcp_packets_in_flight`);
 * lost ranges go first, then new data.
 *
 * Choices and simplifications: RACK.min_RTT is the minimum over the
 * connection's life (not windowed); the D-SACK that widens the window is
 * any D-SACK, not only one for a RACK retransmission; DupThresh counts
 * SACKed bytes / SMSS.
 *
 * @module
 */
import { TcpFlag } from '../../../wire/tcp.js';
import { armAfterSendFailure, MAX_BURST, segmentRoom, sndBufSeq, tcpOutput, tcpSendSegment, usableWindow } from '../output.js';
import type { SackBlock } from '../sack.js';
import { seqGeq, seqGt, seqLeq, seqLt, seqOffset } from '../seq.js';
import type { TcpCb } from '../tcpcb.js';
import { ackAdvance, ccEnterRecovery, rtoReset, sackUsable, type LossRecovery } from './index.js';
import { XF, XmitLog } from './xmitlog.js';

/** RFC 8985 7.2 WCDelAckT: the worst-case delayed ACK a lone segment may wait for, ms. */
export const TLP_WCDELACK_MS = 200;
/** Shortest PTO, ms (Linux `TCP_TIMEOUT_MIN`): a near-zero SRTT would probe at once. */
export const TLP_MIN_PTO_MS = 10;
/** RFC 8985 6.2: DupThresh, in segments SACKed. */
const DUP_THRESH = 3;
/** RFC 8985 6.2 step 4: recoveries a widened reordering window lasts. */
const REO_WND_PERSIST = 16;

/** RACK-TLP state of one connection (RFC 8985 section 5.2 / 7 variables). */
export class RackState {
  /** Send time per outstanding range. */
  readonly log = new XmitLog();
  /** RACK.xmit_ts: send time of the most recently sent segment delivered (-Infinity before any). */
  xmitTs = -Infinity;
  /** RACK.end_seq of that segment. */
  endSeq = 0;
  /** RACK.rtt: its RTT, ms. */
  rtt = 0;
  /** RACK.min_RTT, ms (Infinity before a sample). */
  minRtt = Infinity;
  /** RACK.fack: the highest end of a delivered segment (undefined when at or below snd_una). */
  fack: number | undefined = undefined;
  /** RACK.reordering_seen. */
  reorderingSeen = false;
  /** RACK.reo_wnd_mult. */
  reoWndMult = 1;
  /** RACK.reo_wnd_persist. */
  reoWndPersist = 0;
  /** RACK.dsack_round: snd_nxt when the window was last widened (undefined: none open). */
  dsackRound: number | undefined = undefined;
  /** RACK.reo_wnd as last computed, ms. */
  reoWnd = 0;
  /** TLP.end_seq: snd_nxt when the probe went (undefined: no probe outstanding). */
  tlpEndSeq: number | undefined = undefined;
  /** TLP.is_retrans. */
  tlpIsRetrans = false;
  /** @internal A probe is being sent (its new data must not re-arm the PTO). */
  probing = false;
  /** @internal The time used by the callbacks below during one ACK. */
  now = 0;
  /** @internal Largest wait RACK_detect_loss found (ms), 0 for none. */
  timeout = 0;
  private readonly range = { start: 0, end: 0 };

  /** RFC 8985 6.2 steps 2–3 for one delivered range (bound once: no closure per ACK). */
  readonly delivered = (start: number, end: number, ts: number, flags: number): void => {
    const rtt = this.now - ts;
    // Step 2: an ACK of a retransmitted range may be for the original; an
    // RTT below the minimum says it was (RFC 8985 6.2, Karn's ambiguity).
    if ((flags & XF.RETRANS) !== 0 && rtt < this.minRtt) return;
    if (rtt >= 0 && rtt < this.minRtt) this.minRtt = rtt;
    if (ts > this.xmitTs || (ts === this.xmitTs && seqGt(end, this.endSeq))) {
      this.xmitTs = ts;
      this.endSeq = end;
      this.rtt = rtt >= 0 ? rtt : 0;
    }
    // Step 3: delivered below the highest delivered, and never resent:
    // the network reordered it.
    if (this.fack === undefined || seqGt(end, this.fack)) this.fack = end;
    else if (seqLt(end, this.fack) && (flags & XF.RETRANS) === 0) this.reorderingSeen = true;
  };

  /** RFC 8985 6.2 step 5's test for one range (sent before RACK.segment and overdue?). */
  readonly overdue = (_start: number, end: number, ts: number): boolean => {
    if (ts > this.xmitTs || (ts === this.xmitTs && seqGeq(end, this.endSeq))) return false;
    const remaining = ts + this.rtt + this.reoWnd - this.now;
    if (remaining <= 0) return true;
    if (remaining > this.timeout) this.timeout = remaining;
    return false;
  };

  /** The first range marked lost, into a reused object. */
  firstLost(): { start: number; end: number } | undefined {
    return this.log.firstLost(this.range) ? this.range : undefined;
  }
}

/** The connection's RACK state, made on first use. */
export function rackOf(tp: TcpCb): RackState {
  let r = tp.rack;
  if (r === null) {
    r = new RackState();
    r.log.reset(tp.sndUna);
    tp.rack = r;
  }
  return r;
}

/** RFC 8985 6.2 step 4: the reordering window now, ms. */
function reoWnd(tp: TcpCb, r: RackState, dsack: boolean): number {
  if (r.dsackRound !== undefined && seqGeq(tp.sndUna, r.dsackRound)) r.dsackRound = undefined;
  if (r.dsackRound === undefined && dsack) {
    r.dsackRound = tp.sndMax;
    r.reoWndMult++;
    r.reoWndPersist = REO_WND_PERSIST;
    tp.tcp.stats.rackReoWndGrown++;
  }
  if (!r.reorderingSeen) {
    if (tp.recoveryActive !== null || tp.rxtShift > 0) return 0;
    if (r.log.sackedBytes >= DUP_THRESH * tp.maxseg) return 0;
  }
  const srtt = tp.rtt.srtt;
  const base = r.minRtt === Infinity ? (srtt ?? 0) : r.minRtt;
  const w = (r.reoWndMult * base) / 4;
  return srtt !== undefined && srtt < w ? srtt : w;
}

/**
 * RFC 8985 6.2 step 5 (RACK_detect_loss): mark what is overdue, arm the
 * reordering timer for what is not yet. Returns bytes newly marked.
 */
function detectLoss(tp: TcpCb, r: RackState): number {
  r.timeout = 0;
  const newly = r.log.markLost(r.overdue);
  if (newly > 0) tp.tcp.stats.rackLost++;
  const timers = tp.timers;
  if (r.timeout > 0) timers.setRack('reorder', r.timeout);
  else if (timers.rack.kind === 'reorder') timers.stopRack();
  return newly;
}

/** Enter recovery when RACK found losses (RFC 8985 6.2: "enter fast recovery"). */
function maybeEnterRecovery(tp: TcpCb, r: RackState, ack: number): boolean {
  const cc = tp.cc;
  if (cc.inRecovery || r.log.lostBytes <= 0 || !cc.canEnterRecovery(ack)) return false;
  ccEnterRecovery(tp, rackRecovery);
  tp.tcp.stats.rackRecovery++;
  tp.sackSb?.startRecovery(tp.sndMax);
  if (tp.timers.rack.kind === 'probe') tp.timers.stopRack();
  // A probe outstanding belongs to this loss episode: the recovery's
  // reduction is its congestion response (no second one in 7.4).
  r.tlpEndSeq = undefined;
  return true;
}

/**
 * RFC 8985 7.4: what an ACK says about an outstanding probe. `advanced`:
 * the ACK moves snd_una.
 */
function tlpProcessAck(tp: TcpCb, r: RackState, ack: number, dsack: boolean, nblocks: number): void {
  const end = r.tlpEndSeq;
  if (end === undefined || seqLt(ack, end)) return;
  const stats = tp.tcp.stats;
  if (!r.tlpIsRetrans) {
    r.tlpEndSeq = undefined; // new data probed: RACK judges what it reveals
  } else if (dsack) {
    r.tlpEndSeq = undefined; // original and probe both arrived: no loss
    stats.tlpSpurious++;
  } else if (seqGt(ack, end)) {
    // The probe repaired a loss: respond as fast recovery would (7.4.2).
    r.tlpEndSeq = undefined;
    stats.tlpRecoveries++;
    const cc = tp.cc;
    if (!cc.inRecovery) {
      const now = tp.tcp.clock.now();
      cc.enterRecovery({ flightSize: tp.flightSize, sndMax: tp.sndMax, now, sack: true });
      cc.exitRecovery(seqOffset(tp.sndMax, ack), now);
    }
  } else if (ack === tp.sndUna && nblocks === 0) {
    r.tlpEndSeq = undefined; // a pure duplicate: original and probe both arrived
  }
}

/**
 * RFC 8985 7.2: arm the PTO after new data went out or new data was
 * ACKed — not in recovery, after an RTO, with SACKed data outstanding (RACK
 * has what it needs) or while the reordering timer runs.
 */
function armTlp(tp: TcpCb, r: RackState, flight: number): void {
  const timers = tp.timers;
  if (timers.rack.kind === 'reorder') return;
  // A zero window is the persist timer's (RFC 9293 3.8.6.1): a probe would only be dropped.
  const shut = tp.sndWnd === 0 || timers.persisting;
  if (shut || flight <= 0 || tp.recoveryActive !== null || tp.rxtShift > 0 || r.log.sackedBytes > 0 || !sackUsable(tp)) {
    if (timers.rack.kind === 'probe') timers.stopRack();
    return;
  }
  const srtt = tp.rtt.srtt;
  let pto = srtt !== undefined ? 2 * srtt : 1000;
  if (flight <= tp.maxseg) pto += TLP_WCDELACK_MS;
  if (pto < TLP_MIN_PTO_MS) pto = TLP_MIN_PTO_MS;
  const m = timers.main;
  if (m.kind === 'retransmit') {
    const left = m.at - tp.tcp.clock.now();
    if (left < pto) pto = left > 0 ? left : 0;
  }
  timers.setRack('probe', pto);
}

/**
 * RFC 8985 7.3: the PTO expired — send one probe: a new segment if the
 * window and the buffer allow, else the last segment again. Then the RTO
 * runs (restarted), the last resort if the probe is lost too.
 */
function tlpSendProbe(tp: TcpCb, r: RackState): void {
  const so = tp.so;
  if (so === null || tp.recoveryActive !== null || r.tlpEndSeq !== undefined || tp.sndMax === tp.sndUna) return;
  // The window closed after the PTO was armed (the ACK's window is taken
  // after its ACK field): zero windows are the persist timer's.
  if (tp.sndWnd === 0 || tp.timers.persisting) return;
  const tcp = tp.tcp;
  const bufSeq = sndBufSeq(tp);
  const dataEnd = (bufSeq + so.snd.cc) >>> 0;
  const room = segmentRoom(tp);
  let err = -1;
  r.probing = true;
  if (seqLt(tp.sndMax, dataEnd) && usableWindow(tp.sndUna, tp.sndWnd, tp.sndMax) > 0) {
    const len = Math.min(room, seqOffset(dataEnd, tp.sndMax), usableWindow(tp.sndUna, tp.sndWnd, tp.sndMax));
    tp.sndNxt = tp.sndMax;
    err = tcpSendSegment(tp, tp.sndMax, len, TcpFlag.ACK, false);
    r.tlpIsRetrans = false;
    if (err === 0) tcp.stats.tlpProbesNew++;
  } else {
    // The highest-sequence segment outstanding (data only: a lone FIN is the RTO's).
    const top = seqLt(dataEnd, tp.sndMax) ? dataEnd : tp.sndMax;
    if (seqGt(top, tp.sndUna) && seqGt(top, bufSeq)) {
      const fromUna = seqOffset(top, seqGt(tp.sndUna, bufSeq) ? tp.sndUna : bufSeq);
      const len = Math.min(room, fromUna);
      err = tcpSendSegment(tp, (top - len) >>> 0, len, TcpFlag.ACK, false);
      r.tlpIsRetrans = true;
    }
  }
  r.probing = false;
  if (err !== 0) {
    if (err > 0) armAfterSendFailure(tp);
    return;
  }
  tcp.stats.tlpProbes++;
  r.tlpEndSeq = tp.sndMax;
  tp.timers.setRetransmit(tp.rtt.rto);
}

/**
 * Recovery output: while pipe (outstanding - SACKed - lost and not resent)
 * is below cwnd, resend the lowest lost range, else send new data.
 */
function rackOutput(tp: TcpCb): void {
  const so = tp.so;
  if (so === null) return;
  const r = rackOf(tp);
  const log = r.log;
  const tcp = tp.tcp;
  const bufSeq = sndBufSeq(tp);
  const dataEnd = (bufSeq + so.snd.cc) >>> 0;
  for (let i = 0; i < MAX_BURST; i++) {
    const pipe = seqOffset(tp.sndMax, tp.sndUna) - log.sackedBytes - log.lostBytes;
    if (pipe >= tp.cc.cwnd) break;
    const lost = r.firstLost();
    if (lost !== undefined) {
      if (!seqLt(lost.start, dataEnd)) break;
      const len = Math.min(seqOffset(lost.end, lost.start), segmentRoom(tp), seqOffset(dataEnd, lost.start));
      if (len <= 0) break;
      tcp.stats.rackRexmit++;
      if (tcpSendSegment(tp, lost.start, len, TcpFlag.ACK, false) !== 0) {
        armAfterSendFailure(tp);
        break;
      }
      continue;
    }
    const canNew = seqLt(tp.sndMax, dataEnd) && seqOffset(tp.sndMax, tp.sndUna) < tp.sndWnd;
    if (!canNew) break;
    const room = Math.min(segmentRoom(tp), seqOffset(dataEnd, tp.sndMax), usableWindow(tp.sndUna, tp.sndWnd, tp.sndMax));
    if (room <= 0) break;
    tp.sndNxt = tp.sndMax;
    if (tcpSendSegment(tp, tp.sndMax, room, TcpFlag.ACK, false) !== 0) {
      armAfterSendFailure(tp);
      break;
    }
  }
}

/** Nothing more on a partial ACK: RACK has marked what is lost. */
function rackPartial(): void {}

/** RACK-TLP recovery (RFC 8985): loss by send time and a reordering window, tail loss probes. */
export const rackRecovery: LossRecovery = {
  name: 'rack',
  usesSack: true,
  onAckArrived(tp: TcpCb, ack: number, blocks: readonly SackBlock[], _sackNews: number): void {
    const r = rackOf(tp);
    r.now = tp.tcp.clock.now();
    const log = r.log;
    if (seqGt(ack, tp.sndUna)) {
      log.ack(ack, r.delivered);
      if (r.fack !== undefined && seqLeq(r.fack, ack)) r.fack = undefined;
    }
    for (let i = 0; i < blocks.length; i++) log.sack(blocks[i]!.start, blocks[i]!.end, r.delivered);
    const dsack = tp.sackSb !== null && tp.sackSb.lastUpdateHadDsack;
    tlpProcessAck(tp, r, ack, dsack, blocks.length);
    r.reoWnd = reoWnd(tp, r, dsack);
    if (log.size > 0 && r.xmitTs !== -Infinity) detectLoss(tp, r);
  },
  onDupAck(tp: TcpCb, ack: number): void {
    const r = rackOf(tp);
    if (maybeEnterRecovery(tp, r, ack) || tp.cc.inRecovery) tcpOutput(tp);
  },
  onAck(tp: TcpCb, ack: number, acked: number, now: number): void {
    const r = rackOf(tp);
    const was = tp.recoveryActive !== null;
    ackAdvance(tp, ack, acked, now, rackPartial);
    // RFC 8985 6.2 step 4: a widened window lasts REO_WND_PERSIST recoveries.
    if (was && tp.recoveryActive === null && r.reoWndPersist > 0 && --r.reoWndPersist === 0) r.reoWndMult = 1;
    // Sent through tcpOutput after this ACK's input (the send buffer is trimmed by then).
    maybeEnterRecovery(tp, r, ack);
    if (ack === tp.sndMax) {
      if (tp.timers.rack.kind !== 'idle') tp.timers.stopRack();
    } else armTlp(tp, r, seqOffset(tp.sndMax, ack));
  },
  onRto(tp: TcpCb): void {
    rtoReset(tp);
    const r = rackOf(tp);
    // RFC 8985 6.3: everything outstanding is resent from snd_una; marks go.
    r.log.clearMarks();
    r.tlpEndSeq = undefined;
    r.fack = undefined;
    tp.timers.stopRack();
  },
  output: rackOutput,
  onSend(tp: TcpCb, seq: number, len: number, now: number): void {
    const r = rackOf(tp);
    const fresh = !seqLt(seq, r.log.end);
    r.log.record(seq, len, now);
    if (fresh && !r.probing && tp.recoveryActive === null) armTlp(tp, r, seqOffset(tp.sndMax, tp.sndUna));
  },
};

/** RACK's timer fired (timers.ts): the reordering timer or the PTO. */
export function rackTimerFire(tp: TcpCb, kind: 'reorder' | 'probe'): void {
  const r = tp.rack;
  if (r === null) return;
  if (kind === 'probe') {
    tlpSendProbe(tp, r);
    return;
  }
  tp.tcp.stats.rackReoTimeouts++;
  r.now = tp.tcp.clock.now();
  r.reoWnd = reoWnd(tp, r, false);
  detectLoss(tp, r);
  if (r.log.lostBytes > 0) {
    maybeEnterRecovery(tp, r, tp.sndUna);
    tcpOutput(tp);
  }
}
