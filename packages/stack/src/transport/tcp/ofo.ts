/**
 * TCP's policy around its out-of-order queue (the `tcp_reass` half of
 * `tcp_input` that decides what may be held): what a connection may still
 * queue (its receive buffer's storage room, `sb_mbmax - sb_mbcnt`, shared
 * with in-order data — Linux charges its out-of-order queue to
 * `sk_rmem_alloc` the same way), the window that storage leaves to
 * advertise, pruning after in-order data arrived (Linux `tcp_prune_queue`),
 * and refusing new out-of-order data under memory pressure.
 *
 * The queue mechanics are in `reass.ts`, the stack-wide budget in
 * `reass-budget.ts`.
 *
 * @module
 */
import { mFreem, type Mbuf } from '../../mbuf/index.js';
import { ReassResult } from './reass.js';
import type { TcpCb } from './tcpcb.js';

/**
 * Storage the connection's out-of-order queue may still grow by: what the
 * receive buffer's storage limit leaves after in-order data and what is
 * already queued. 0 without a socket.
 */
export function tcpOfoRoom(tp: TcpCb): number {
  const so = tp.so;
  if (so === null) return 0;
  return Math.max(0, so.rcv.mbmax - so.rcv.mbcnt);
}

/**
 * Segments of window a connection is still offered under memory pressure
 * (Linux `tcp_adjust_rcv_ssthresh`: `rcv_ssthresh` falls to 4 * advmss):
 * enough to keep the ACK clock running, too little to hold much memory.
 */
export const PRESSURE_WINDOW_SEGS = 4;

/**
 * The receive space to build the advertised window from (`sbspace` less
 * the out-of-order queue's storage): queued out-of-order data holds memory
 * the window must not offer again. Under memory pressure the space is
 * clamped to {@link PRESSURE_WINDOW_SEGS} segments: windows stop growing
 * and shrink to that minimum as data arrives. The window's right edge never
 * moves left (window.ts), so neither rule takes back what was offered.
 */
export function tcpRcvSpace(tp: TcpCb): number {
  const so = tp.so;
  if (so === null) return 0;
  const rcv = so.rcv;
  const q = tp.reass.mbcnt;
  // rcv.space() also keeps to the owner's socket-buffer account (the server's per-client quota).
  const space = q === 0 ? rcv.space() : Math.max(0, Math.min(rcv.space(), rcv.mbmax - rcv.mbcnt - q));
  if (tp.tcp.pool.underPressure) return Math.min(space, PRESSURE_WINDOW_SEGS * tp.ourMss);
  return space;
}

/**
 * Queue out-of-order text (RFC 9293 3.10.7.4 seventh, `tcp_reass`), or
 * refuse it: under memory pressure (counted `rcvoopressure`; every queue is
 * pruned once per pressure episode), over the entry cap (`rcvoodrop`), the
 * receive buffer's room (`rcvoomemdrop`) or the stack-wide budget
 * (`rcvoobudgetdrop`). Takes ownership of `m` (null for a bare FIN).
 * @returns a {@link ReassResult} value.
 */
export function tcpOfoInsert(tp: TcpCb, seq: number, len: number, fin: boolean, m: Mbuf | null): number {
  const tcp = tp.tcp;
  const stats = tcp.stats;
  if (len > 0 && tcp.pool.underPressure) {
    // Linux refuses out-of-order data first under tcp_memory_pressure and
    // prunes the queues (tcp_prune_queue): it is the one kind of buffered
    // data the peer is bound to send again.
    stats.rcvoopressure++;
    mFreem(m);
    tcp.pressurePrune();
    return ReassResult.NOBUDGET;
  }
  const res = tp.reass.insert(seq, len, fin, m, tp.rcvNxt, tcpOfoRoom(tp));
  switch (res) {
    case ReassResult.FULL:
      stats.rcvoodrop++;
      break;
    case ReassResult.NOSPACE:
      stats.rcvoomemdrop++;
      break;
    case ReassResult.NOBUDGET:
      stats.rcvoobudgetdrop++;
      break;
    default:
      break;
  }
  return res;
}

/**
 * In-order data was appended to the receive buffer: when it and the
 * out-of-order queue together pass the buffer's storage limit, prune the
 * queue from its highest sequence numbers (Linux `tcp_prune_queue`). In-order
 * data is never dropped.
 */
export function tcpOfoTrim(tp: TcpCb): void {
  const so = tp.so;
  const q = tp.reass;
  if (so === null || q.mbcnt === 0) return;
  const room = so.rcv.mbmax - so.rcv.mbcnt;
  if (q.mbcnt > room) q.pruneTo(0, Math.max(0, room), Infinity, Infinity);
}
