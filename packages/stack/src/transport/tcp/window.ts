/**
 * Window decisions of RFC 1122 as pure functions: the receiver's
 * silly-window-syndrome avoidance (§4.2.3.3) and the sender's SWS/Nagle test
 * (§4.2.3.4, RFC 896). NetBSD does both inside `tcp_output()`; here they are
 * separated so they can be tested alone and `tcp_output` reads as policy.
 *
 * @packageDocumentation
 */
import { seqSub } from './seq.js';

/** Largest unscaled window field (RFC 9293 §3.1). */
export const MAX_WINDOW_FIELD = 0xffff;
/** Largest window shift (RFC 7323 §2.3). */
export const MAX_WINDOW_SHIFT = 14;

/** Inputs of {@link receiveWindow}. */
export interface ReceiveWindowInput {
  /** Free space in the receive buffer, bytes (RCV.BUFF - RCV.USER; NetBSD `sbspace()`). */
  space: number;
  /** Receive buffer size, bytes (RCV.BUFF; `sb_hiwat`). */
  bufSize: number;
  /** RCV.NXT. */
  rcvNxt: number;
  /** Right edge last advertised (NetBSD `rcv_adv`): RCV.NXT + RCV.WND as last sent. */
  rcvAdv: number;
  /** Effective MSS of segments we receive, bytes. */
  mss: number;
  /** Our window shift (Rcv.Wind.Shift), 0..14; 0 without window scaling. */
  scale: number;
}

/** The window to advertise. */
export interface ReceiveWindow {
  /** The 16-bit value for the header's window field. */
  field: number;
  /** The window in bytes it stands for (`field << scale`). */
  window: number;
}

/**
 * The receive window to advertise in the next segment.
 *
 * RFC 1122 §4.2.3.3: the right edge only moves when the increase would be at
 * least min(RCV.BUFF / 2, MSS) — small openings are held back so the sender
 * is never invited to send tiny segments. RFC 9293 §3.8.6.2.2 (and NetBSD
 * `tcp_output`): the window never shrinks, i.e. the right edge never moves
 * left, even if rounding to the window scale would make it. The result is
 * capped at what the field can express (65535 << scale).
 *
 * @param out Written and returned instead of a new object when given (the
 *   data path passes a reused one).
 */
export function receiveWindow(i: ReceiveWindowInput, out?: ReceiveWindow): ReceiveWindow {
  const scale = Math.min(Math.max(0, i.scale | 0), MAX_WINDOW_SHIFT);
  const unit = 1 << scale; // not 2 ** scale: a pow call per segment
  const maxWin = MAX_WINDOW_FIELD * unit;
  const space = Math.max(0, Math.min(Number.isFinite(i.space) ? i.space : 0, maxWin));
  const cur = Math.max(0, seqSub(i.rcvAdv, i.rcvNxt));
  let win = cur;
  if (space - cur >= Math.min(i.bufSize / 2, i.mss)) win = space;
  if (win < cur) win = cur;
  // Round down to the scale, unless that would pull the edge back.
  let field = Math.floor(win / unit);
  if (field * unit < cur) field = Math.ceil(cur / unit);
  if (field > MAX_WINDOW_FIELD) field = MAX_WINDOW_FIELD;
  if (out === undefined) return { field, window: field * unit };
  out.field = field;
  out.window = field * unit;
  return out;
}

/**
 * Whether a pure window update (an ACK sent only to open the window) is
 * worth sending: NetBSD `tcp_output` sends one when the right edge would
 * advance by at least two segments or by half the buffer — the same SWS
 * threshold seen from the update side (RFC 1122 §4.2.3.3).
 *
 * @param newWindow Window that would be advertised now ({@link receiveWindow}).
 */
export function windowUpdateWorthSending(i: ReceiveWindowInput, newWindow: number): boolean {
  const cur = Math.max(0, seqSub(i.rcvAdv, i.rcvNxt));
  const adv = newWindow - cur;
  if (adv <= 0) return false;
  return adv >= 2 * i.mss || 2 * adv >= i.bufSize;
}

/** Inputs of {@link shouldSendData}. */
export interface SendDecisionInput {
  /** Bytes that could go now: min(data queued past SND.NXT, usable window). */
  len: number;
  /** All bytes queued past SND.NXT, window or not. */
  unsent: number;
  /** Effective send MSS (Eff.snd.MSS), bytes. */
  mss: number;
  /** Largest window the peer has offered (NetBSD `max_sndwnd`). */
  maxSndWnd: number;
  /** Nothing is unacknowledged (SND.UNA == SND.MAX): Nagle allows a small segment. */
  idle: boolean;
  /** `TCP_NODELAY`: Nagle off. */
  nodelay: boolean;
  /** A probe or the override timer insists (persist, RFC 1122 §4.2.3.4 timeout). */
  force?: boolean;
  /** SND.NXT < SND.MAX: resending, never held back. */
  retransmitting?: boolean;
}

/**
 * RFC 1122 §4.2.3.4 sender SWS avoidance with Nagle (RFC 896), in NetBSD
 * `tcp_output` order: send when a full segment fits; or when everything
 * queued fits and either nothing is outstanding (Nagle) or `TCP_NODELAY` is
 * set; or when forced; or when at least half the largest window the peer has
 * offered can go (Fs = 1/2); or when retransmitting. Otherwise wait (the
 * caller keeps a persist or override timer running).
 *
 * @returns true to send `len` bytes now.
 */
export function shouldSendData(i: SendDecisionInput): boolean {
  if (!(i.len > 0)) return false;
  if (i.len >= i.mss) return true;
  if ((i.idle || i.nodelay) && i.len >= i.unsent) return true;
  if (i.force) return true;
  if (i.maxSndWnd > 0 && i.len >= i.maxSndWnd / 2) return true;
  return i.retransmitting === true;
}
