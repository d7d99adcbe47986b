/**
 * TCP timers (NetBSD `tcp_timer.c`; smoltcp's `Timer` enum).
 *
 * Each connection has exactly one clock timer, armed for the earliest of its
 * deadlines; moving a deadline later (the retransmission timer restarted by
 * every ACK) costs a field write, not a new clock timer. The deadlines:
 *
 * - the main timer, a discriminated union ({@link TcpTimer}): idle,
 *   retransmit, persist (zero-window probes) or close (2*MSL in TIME-WAIT,
 *   the FIN-WAIT-2 idle limit). Retransmit and persist exclude each other as
 *   in BSD (`tcp_setpersist` asserts the rexmt timer is off);
 * - the delayed-ACK deadline (`TF_DELACK`, `tcp_delack_ticks`);
 * - the keepalive / connection-establishment deadline (`TCPT_KEEP`);
 * - RACK-TLP's reordering timer or tail loss probe ({@link RackTimer}).
 *
 * @module
 */
import { Errno } from '../../kern/errno.js';
import type { TimerHandle } from '../../kern/clock.js';
import { SOOPT } from '../../socket/constants.js';
import { tcpOutput } from './output.js';
import { rackTimerFire } from './recovery/rack.js';
import { recoveryOf } from './recovery/select.js';
import { tcpClose, tcpDrop, tcpRespondKeepalive } from './subr.js';
import { tcbClosed, TCPS, TF, type TcpCb } from './tcpcb.js';

/** The main timer of a connection: at most one of these runs at a time. */
export type TcpTimer =
  | { readonly kind: 'idle' }
  | { readonly kind: 'retransmit'; at: number }
  | { readonly kind: 'persist'; at: number }
  | { readonly kind: 'close'; at: number };

const IDLE: TcpTimer = { kind: 'idle' };

/**
 * RACK-TLP's timer (RFC 8985): the reordering timer (6.2 step 5, a range
 * may be lost once its RTT plus the reordering window has passed) or the
 * tail loss probe's PTO (7.2). They run beside the retransmission timer,
 * which stays armed behind them as the last resort.
 */
export type RackTimer = { readonly kind: 'idle' } | { readonly kind: 'reorder'; at: number } | { readonly kind: 'probe'; at: number };

const RACK_IDLE: RackTimer = { kind: 'idle' };

/** Most RTO expirations before a connection is dropped (`TCP_MAXRXTSHIFT`). */
export const TCP_MAXRXTSHIFT = 12;
/** Most SYN retransmissions (Linux `tcp_syn_retries` 6). */
export const TCP_SYN_MAXRXTSHIFT = 6;
/** Shortest persist (zero-window probe) interval (`TCPTV_PERSMIN`), ms. */
export const TCPTV_PERSMIN = 500;
/** Longest persist (zero-window probe) interval (`TCPTV_PERSMAX`), ms. */
export const TCPTV_PERSMAX = 60_000;
/** Connection-establishment limit (`TCPTV_KEEP_INIT`), ms. */
export const TCPTV_KEEP_INIT = 75_000;

/** The deadlines of one connection and its single clock timer. */
export class TcpTimers {
  /** The main timer. */
  main: TcpTimer = IDLE;
  /** Delayed-ACK deadline (Infinity = off). */
  delackAt = Infinity;
  /** Keepalive / establishment deadline (Infinity = off). */
  keepAt = Infinity;
  /** RACK's reordering timer or the tail loss probe (idle unless RACK is in use). */
  rack: RackTimer = RACK_IDLE;
  private readonly reorderT = { kind: 'reorder' as const, at: 0 };
  private readonly probeT = { kind: 'probe' as const, at: 0 };
  private handle: TimerHandle | null = null;
  private armedAt = Infinity;
  private readonly tp: TcpCb;
  private readonly fire: () => void;

  constructor(tp: TcpCb) {
    this.tp = tp;
    this.fire = () => this.onFire();
  }

  /** (Re)start the retransmission timer `ms` from now (RFC 6298 5.1, 5.3). */
  setRetransmit(ms: number): void {
    const at = this.tp.tcp.clock.now() + ms;
    const m = this.main;
    if (m.kind === 'retransmit') m.at = at;
    else this.main = { kind: 'retransmit', at };
    this.schedule(at);
  }

  /** Whether the retransmission timer runs. */
  get retransmitting(): boolean {
    return this.main.kind === 'retransmit';
  }

  /** Whether the persist timer runs. */
  get persisting(): boolean {
    return this.main.kind === 'persist';
  }

  /** Start the persist timer (`tcp_setpersist`): RTO-based, backed off, clamped to 0.5..60 s. */
  setPersist(): void {
    const tp = this.tp;
    const base = tp.rtt.rto;
    const t = Math.min(TCPTV_PERSMAX, Math.max(TCPTV_PERSMIN, base * 2 ** tp.persistShift));
    const at = tp.tcp.clock.now() + t;
    this.main = { kind: 'persist', at };
    this.schedule(at);
  }

  /** Start the close timer (2*MSL, or the FIN-WAIT-2 idle limit). */
  setClose(ms: number): void {
    const at = this.tp.tcp.clock.now() + ms;
    this.main = { kind: 'close', at };
    this.schedule(at);
  }

  /** Stop the main timer (retransmit/persist/close). */
  stopMain(): void {
    this.main = IDLE;
  }

  /** Arm RACK's reordering timer or the tail loss probe `ms` from now (one object each, reused). */
  setRack(kind: 'reorder' | 'probe', ms: number): void {
    const t = kind === 'reorder' ? this.reorderT : this.probeT;
    t.at = this.tp.tcp.clock.now() + ms;
    this.rack = t;
    this.schedule(t.at);
  }

  /** Stop RACK's timer. */
  stopRack(): void {
    this.rack = RACK_IDLE;
  }

  /** Arm the delayed ACK unless armed. */
  setDelack(ms: number): void {
    if (this.delackAt !== Infinity) return;
    this.delackAt = this.tp.tcp.clock.now() + ms;
    this.schedule(this.delackAt);
  }

  /** Cancel the delayed ACK (an ACK is being sent). */
  clearDelack(): void {
    this.delackAt = Infinity;
  }

  /** Set the keepalive / establishment deadline `ms` from now. */
  setKeep(ms: number): void {
    this.keepAt = this.tp.tcp.clock.now() + ms;
    this.schedule(this.keepAt);
  }

  /** Cancel everything (the connection is closed). */
  cancelAll(): void {
    this.main = IDLE;
    this.rack = RACK_IDLE;
    this.delackAt = Infinity;
    this.keepAt = Infinity;
    if (this.handle !== null) this.tp.tcp.clock.clearTimeout(this.handle);
    this.handle = null;
    this.armedAt = Infinity;
  }

  private schedule(at: number): void {
    if (at >= this.armedAt) return;
    const clock = this.tp.tcp.clock;
    if (this.handle !== null) clock.clearTimeout(this.handle);
    this.armedAt = at;
    this.handle = clock.setTimeout(this.fire, Math.max(0, at - clock.now()));
  }

  private onFire(): void {
    this.handle = null;
    this.armedAt = Infinity;
    const tp = this.tp;
    if (tp.state === TCPS.CLOSED) return;
    // Timers may fire a fraction of a millisecond early on a real clock.
    const now = tp.tcp.clock.now() + 0.5;
    if (this.delackAt <= now) {
      this.delackAt = Infinity;
      tcpTimerDelack(tp);
      if (tcbClosed(tp)) return;
    }
    if (this.keepAt <= now) {
      this.keepAt = Infinity;
      tcpTimerKeep(tp);
      if (tcbClosed(tp)) return;
    }
    const rk = this.rack;
    if (rk.kind !== 'idle' && rk.at <= now) {
      this.rack = RACK_IDLE;
      rackTimerFire(tp, rk.kind);
      if (tcbClosed(tp)) return;
    }
    const m = this.main;
    if (m.kind !== 'idle' && m.at <= now) {
      this.main = IDLE;
      if (m.kind === 'retransmit') tcpTimerRexmt(tp);
      else if (m.kind === 'persist') tcpTimerPersist(tp);
      else tcpTimer2msl(tp);
      if (tcbClosed(tp)) return;
    }
    let next = Math.min(this.delackAt, this.keepAt);
    const mm = this.main;
    if (mm.kind !== 'idle' && mm.at < next) next = mm.at;
    const rr = this.rack;
    if (rr.kind !== 'idle' && rr.at < next) next = rr.at;
    if (next !== Infinity) this.schedule(next);
  }
}

/** The delayed ACK is due (`tcp_delack`). */
function tcpTimerDelack(tp: TcpCb): void {
  tp.tcp.stats.delack++;
  tp.flags |= TF.ACKNOW;
  tcpOutput(tp);
}

/**
 * The retransmission timer expired (`tcp_timer_rexmt`, RFC 6298 5.4–5.7):
 * back off, collapse the window to one segment (RFC 5681 3.1), forget SACK
 * state (RFC 6675 5.1), and resend from snd_una. Too many expirations drop
 * the connection with ETIMEDOUT (or the soft error ICMP gave us).
 */
function tcpTimerRexmt(tp: TcpCb): void {
  const tcp = tp.tcp;
  const syn = tp.state < TCPS.ESTABLISHED;
  tp.rxtShift++;
  if (tp.rxtShift > (syn ? tcp.tun.synRetries : TCP_MAXRXTSHIFT)) {
    tcp.stats.timeoutdrop++;
    tcpDrop(tp, tp.softError !== 0 ? tp.softError : Errno.ETIMEDOUT);
    return;
  }
  tcp.stats.rexmttimeo++;
  if (syn) {
    tcp.stats.rexmttimeoSyn++;
    tp.flags |= TF.SYN_REXMT;
  }
  tp.rtt.backoff();
  if (!syn) {
    tp.cc.onRetransmitTimeout({
      flightSize: tp.flightSize,
      sndMax: tp.sndMax,
      now: tcp.clock.now(),
      repeated: tp.rxtShift > 1,
    });
  }
  // RFC 6675 5.1 / RFC 8985 6.3: the recovery forgets its state.
  recoveryOf(tp).onRto(tp);
  tp.rtseq = undefined; // Karn: no timing of what is resent
  tp.rexmtHigh = tp.sndMax;
  tp.sndNxt = tp.sndUna;
  if (tp.state === TCPS.SYN_SENT || tp.state === TCPS.SYN_RECEIVED) {
    // The SYN is resent by tcpOutput from snd_una = iss.
  }
  tcpOutput(tp, true);
}

/** Zero window: send a probe and back off (`tcp_timer_persist`, RFC 9293 3.8.6.1). */
function tcpTimerPersist(tp: TcpCb): void {
  const tcp = tp.tcp;
  tcp.stats.persisttimeo++;
  if (tp.persistShift < 12) tp.persistShift++;
  // Probe with the first unacknowledged byte (again, if the last probe was refused).
  if (tp.sndWnd > 0) {
    // The window is open (a SWS hold-back expired): just send, normally
    // timed by the retransmission timer from here on.
    tcpOutput(tp, false, true);
    if (!tcbClosed(tp) && tp.timers.main.kind === 'idle' && tp.sndMax !== tp.sndUna) tp.timers.setRetransmit(tp.rtt.rto);
    return;
  }
  tp.sndNxt = tp.sndUna;
  // Re-arm first (`tcp_setpersist` before `tcp_output`): the probe must not
  // start the retransmission timer.
  tp.timers.setPersist();
  tcpOutput(tp, false, true);
}

/**
 * Keepalive (`tcp_timer_keep`, RFC 9293 3.8.4): before ESTABLISHED it is the
 * connection-establishment limit; after, with SO_KEEPALIVE, probe an idle
 * peer every TCP_KEEPINTVL and drop it after TCP_KEEPCNT unanswered probes.
 */
function tcpTimerKeep(tp: TcpCb): void {
  const tcp = tp.tcp;
  tcp.stats.keeptimeo++;
  if (tp.state < TCPS.ESTABLISHED) {
    tcp.stats.timeoutdrop++;
    tcpDrop(tp, Errno.ETIMEDOUT);
    return;
  }
  const so = tp.so;
  const p = tp.params;
  if (tp.state > TCPS.CLOSE_WAIT) return;
  if (so === null || (so.options & SOOPT.KEEPALIVE) === 0) {
    // SO_KEEPALIVE may be set later: look again after another idle period.
    tp.timers.setKeep(p.keepIdle);
    return;
  }
  const idle = tcp.clock.now() - tp.lastActivity;
  if (idle + 1 < p.keepIdle) {
    tp.timers.setKeep(p.keepIdle - idle);
    return;
  }
  if (tp.keepProbes >= p.keepCnt) {
    tcp.stats.keepdrops++;
    tcpDrop(tp, Errno.ETIMEDOUT);
    return;
  }
  tp.keepProbes++;
  tcp.stats.keepprobe++;
  tcpRespondKeepalive(tp);
  tp.timers.setKeep(p.keepIntvl);
}

/** TIME-WAIT is over, or FIN-WAIT-2 stayed idle too long (`tcp_timer_2msl`). */
function tcpTimer2msl(tp: TcpCb): void {
  const tcp = tp.tcp;
  if (tp.state === TCPS.TIME_WAIT) tcp.stats.twTimeouts++;
  else if (tp.state === TCPS.FIN_WAIT_2 && tp.so !== null && !tp.detached) {
    // The user still holds the socket: a half-closed connection may last.
    return;
  }
  tcpClose(tp);
}
