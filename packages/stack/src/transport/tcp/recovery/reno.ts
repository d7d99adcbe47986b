/**
 * NewReno loss recovery (RFC 5681 3.2 fast retransmit / fast recovery,
 * RFC 6582 partial acknowledgments; NetBSD `tcp_newreno`, gVisor
 * `renoRecovery`). Used when SACK was not agreed, or when selected.
 *
 * @module
 */
import { tcpOutput } from '../output.js';
import type { TcpCb } from '../tcpcb.js';
import { ackAdvance, ccEnterRecovery, retransmitOne, rtoReset, type LossRecovery } from './index.js';

/** RFC 6582 3.2 step 3 (partial acknowledgments): retransmit the first unacknowledged segment. */
function renoPartial(tp: TcpCb, ack: number): void {
  tp.dupacks = 0;
  retransmitOne(tp, ack);
}

/** NewReno recovery: the DupThresh-th duplicate ACK starts it, one hole per partial ACK. */
export const renoRecovery: LossRecovery = {
  name: 'newreno',
  usesSack: false,
  onAckArrived(): void {},
  onDupAck(tp: TcpCb, ack: number): void {
    const cc = tp.cc;
    if (!cc.inRecovery && tp.dupacks === 3 && cc.canEnterRecovery(ack)) {
      // RFC 5681 3.2 step 2: fast retransmit the first unacknowledged segment.
      ccEnterRecovery(tp, renoRecovery);
      retransmitOne(tp, tp.sndUna);
      tcpOutput(tp);
    } else if (cc.inRecovery) {
      // RFC 5681 3.2 step 4: each further duplicate inflates cwnd by one SMSS.
      cc.onDupAck();
      tcpOutput(tp);
    }
  },
  onAck(tp: TcpCb, ack: number, acked: number, now: number): void {
    ackAdvance(tp, ack, acked, now, renoPartial);
  },
  onRto(tp: TcpCb): void {
    rtoReset(tp);
  },
  output(): void {},
  onSend(): void {},
};
