/**
 * The TCP control block (`struct tcpcb`, NetBSD `tcp_var.h`): the state of
 * one connection — RFC 9293 section 3.3.2's send and receive sequence
 * variables, the negotiated options, the RTT estimator, the congestion
 * controller, SACK state, the reassembly queue and the timers.
 *
 * States are an ordered union (BSD's numbering) so that "has received a SYN"
 * and "is synchronized" are comparisons, and every change goes through
 * {@link setState}, which logs `old=>new`.
 *
 * @module
 */
import type { InPcb } from '../../socket/inpcb.js';
import type { Socket } from '../../socket/socket.js';
import type { CongestionControl } from './congctl/index.js';
import { SEQ_ZERO } from '../../kern/shape.js';
import { ReassQueue } from './reass.js';
import { RttEstimator } from './rtt.js';
import { SackReceiver, SackScoreboard } from './sack.js';
import type { LossRecovery } from './recovery/index.js';
import type { RackState } from './recovery/rack.js';
import { recoveryByIndex } from './recovery/select.js';
import type { TcpProtocol } from './protocol.js';
import { TcpTimers } from './timers.js';

/** Connection states, in BSD's order (`TCPS_*`, `tcp_fsm.h`). */
export const TCPS = {
  CLOSED: 0,
  LISTEN: 1,
  SYN_SENT: 2,
  SYN_RECEIVED: 3,
  ESTABLISHED: 4,
  CLOSE_WAIT: 5,
  FIN_WAIT_1: 6,
  CLOSING: 7,
  LAST_ACK: 8,
  FIN_WAIT_2: 9,
  TIME_WAIT: 10,
} as const;

/** One TCP state (an ordered union: compare with `<`, `>=`). */
export type TcpState = (typeof TCPS)[keyof typeof TCPS];

/** State names as RFC 9293 spells them, by state number. */
export const TCP_STATE_NAMES: readonly string[] = [
  'CLOSED',
  'LISTEN',
  'SYN-SENT',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'CLOSE-WAIT',
  'FIN-WAIT-1',
  'CLOSING',
  'LAST-ACK',
  'FIN-WAIT-2',
  'TIME-WAIT',
];

/** Whether the connection has been closed (a function, so checks after calls are not narrowed away). */
export function tcbClosed(tp: { state: TcpState }): boolean {
  return tp.state === TCPS.CLOSED;
}

/** `TCPS_HAVERCVDSYN`: a SYN has been received (synchronized or about to be). */
export function haveRcvdSyn(s: TcpState): boolean {
  return s >= TCPS.SYN_RECEIVED;
}

/** `TCPS_HAVEESTABLISHED`: the connection has been established (data may flow). */
export function haveEstablished(s: TcpState): boolean {
  return s >= TCPS.ESTABLISHED;
}

/** `TCPS_HAVERCVDFIN`: the peer's FIN has been received. */
export function haveRcvdFin(s: TcpState): boolean {
  return s === TCPS.CLOSE_WAIT || s === TCPS.CLOSING || s === TCPS.LAST_ACK || s === TCPS.TIME_WAIT;
}

/** `t_flags` bits (NetBSD `TF_*`). */
export const TF = {
  /** Send an ACK at once. */
  ACKNOW: 0x0001,
  /** An ACK is being delayed. */
  DELACK: 0x0002,
  /** `TCP_NODELAY`: Nagle off. */
  NODELAY: 0x0004,
  /** Don't use TCP options (testing). */
  NOOPT: 0x0008,
  /** Our FIN has been sent. */
  SENTFIN: 0x0010,
  /** We asked for window scaling / the peer agreed. */
  REQ_SCALE: 0x0020,
  RCVD_SCALE: 0x0040,
  /** We asked for timestamps / the peer agreed. */
  REQ_TSTMP: 0x0080,
  RCVD_TSTMP: 0x0100,
  /** SACK permitted by both sides. */
  SACK_PERMIT: 0x0200,
  /** We offered SACK-permitted. */
  REQ_SACK: 0x0400,
  /** Send a window update even if small (the user read a lot). */
  WINUPD: 0x0800,
  /** The SYN or SYN-ACK was retransmitted (RFC 6298 5.7). */
  SYN_REXMT: 0x1000,
  /** The user asked to close; send FIN once the data is out. */
  WANTFIN: 0x2000,
  /** @internal Queued for `tcpOutput` at the end of the input batch (`TcpProtocol.inputBatchEnd`). */
  OUTPUT_DEFERRED: 0x4000,
} as const;

/** Per-connection tunables copied from the protocol's sysctls at creation. */
export interface TcpConnParams {
  keepIdle: number;
  keepIntvl: number;
  keepCnt: number;
  msl: number;
}

/**
 * The control block. Fields keep BSD's names in camelCase (`snd_una` →
 * `sndUna`); sequence numbers are unsigned 32-bit numbers.
 */
export class TcpCb {
  /** The protocol instance (stats, output, tunables). */
  readonly tcp: TcpProtocol;
  /** The internet pcb: addresses and ports. */
  readonly inp: InPcb;
  /** The socket, or null once the user has gone and the socket was freed (TIME-WAIT). */
  so: Socket | null;
  /** Connection state. Change only through {@link setState}. */
  state: TcpState = TCPS.CLOSED;
  /** `TF_*` bits. */
  flags = 0;

  // Send sequence space (RFC 9293 3.3.2).
  iss = SEQ_ZERO;
  sndUna = SEQ_ZERO;
  sndNxt = SEQ_ZERO;
  /** Highest sequence number sent + 1 (BSD `snd_max`). */
  sndMax = SEQ_ZERO;
  /** Peer's window, bytes (already scaled). */
  sndWnd = SEQ_ZERO;
  sndWl1 = SEQ_ZERO;
  sndWl2 = SEQ_ZERO;
  /** Largest window the peer offered (`max_sndwnd`). */
  maxSndWnd = SEQ_ZERO;
  /** Sequence number of our FIN, valid with TF.SENTFIN. */
  sndFin = SEQ_ZERO;

  // Receive sequence space.
  irs = SEQ_ZERO;
  rcvNxt = SEQ_ZERO;
  /** Right edge last advertised (`rcv_adv`). */
  rcvAdv = SEQ_ZERO;
  /** Window last advertised, bytes. */
  rcvWnd = SEQ_ZERO;

  // Options.
  /** Effective send MSS (`t_maxseg`), payload bytes per segment excluding options. */
  maxseg = 536;
  /** MSS we advertised (what we can receive). */
  ourMss = 536;
  /** Peer's shift / our shift (`snd_scale`, `rcv_scale`). */
  sndScale = 0;
  rcvScale = 0;
  /** The shift we offer (`request_r_scale`). */
  requestRScale = 0;
  /**
   * RFC 7323 TS.Recent and when it was set (`ts_recent`, `ts_recent_age`);
   * `undefined` until a timestamp is recorded (or after it aged out, RFC
   * 7323 5.5) — 0 is a valid timestamp, not "none".
   */
  tsRecent: number | undefined = undefined;
  tsRecentAge = 0;
  /** Offset added to our clock for TSval (per connection, RFC 7323 7.1). */
  tsOffset = SEQ_ZERO;
  /** RCV.NXT as last sent in an ACK (`last_ack_sent`), for TS.Recent updates. */
  lastAckSent = SEQ_ZERO;

  // Retransmission.
  readonly rtt: RttEstimator;
  /** Segment being timed and when it was sent (`t_rtseq`, `t_rtttime`); `undefined` when none is (0 is a sequence number like any other). */
  rtseq: number | undefined = undefined;
  rtttime = 0;
  /** Duplicate ACK count (`t_dupacks`). */
  dupacks = 0;
  /** Congestion controller. */
  cc: CongestionControl;
  /** Last time data was sent or received (idle detection for keepalive and RFC 5681 4.1). */
  lastActivity = 0;
  /** Last time we sent data (restart after idle); `undefined` before the first send. */
  lastSend: number | undefined = undefined;
  /** Keepalive probes sent without answer. */
  keepProbes = 0;
  /** Persist backoff shift. */
  persistShift = 0;
  /** RTO expirations of the current segment (for giving up, `t_rxtshift`). */
  rxtShift = 0;
  /** The earliest sequence number retransmitted since the last RTO (Karn: timing off below it). */
  rexmtHigh = SEQ_ZERO;

  // SACK.
  readonly sackRcv: SackReceiver;
  sackSb: SackScoreboard | null = null;
  /** A D-SACK block (RFC 2883) waits to be reported in the next ACK. */
  dsackPending = false;
  /**
   * The loss recovery selected for this connection (`net.inet.tcp.recovery`,
   * `TCP_RECOVERY`); see recovery/select.ts `recoveryOf` for the one acting.
   */
  recovery: LossRecovery;
  /** RACK-TLP state (send times per range), made when RACK first acts on the connection. */
  rack: RackState | null = null;
  /** The loss recovery under way, `null` outside recovery (replaces BSD's `TF_SACK_RECOVERY`-like flag). */
  recoveryActive: LossRecovery | null = null;

  /** Out-of-order segments. */
  readonly reass: ReassQueue;
  /** The timers. */
  readonly timers: TcpTimers;
  /** Per-connection tunables. */
  readonly params: TcpConnParams;
  /** Soft error to report if the connection times out (`t_softerror`, e.g. EHOSTUNREACH). */
  softError = 0;
  /** Whether the stack's (not the user's) close left this tcb to finish alone. */
  detached = false;
  /** When the last challenge ACK (RFC 5961) or TIME-WAIT ACK to junk went out, for the per-connection limit (Linux `last_oow_ack_time`); `undefined` before the first. */
  lastOowAck: number | undefined = undefined;
  /** Segments received since the last ACK we sent (delayed ACK every 2nd full segment). */
  segsSinceAck = 0;

  /** @internal Created by {@link TcpProtocol.newTcpcb}. */
  constructor(tcp: TcpProtocol, inp: InPcb, cc: CongestionControl, params: TcpConnParams) {
    this.tcp = tcp;
    this.inp = inp;
    this.so = inp.so;
    this.cc = cc;
    this.params = params;
    this.rtt = new RttEstimator({ minRto: tcp.tun.rtoMinMs, initialRto: tcp.tun.rtoInitMs });
    this.sackRcv = new SackReceiver();
    this.reass = new ReassQueue({
      maxSegs: () => tcp.tun.reassMaxSegs,
      budget: tcp.reassBudget,
      counters: tcp.stats,
      onPrune: (seq) => this.sackRcv.onRenege(seq),
    });
    this.timers = new TcpTimers(this);
    this.recovery = recoveryByIndex(tcp.tun.recovery);
  }

  /** In SACK-based loss recovery (RFC 6675 or RACK): a recovery under way that works from the scoreboard. */
  get sackRecovery(): boolean {
    return this.recoveryActive !== null && this.recoveryActive.usesSack;
  }

  /** The state's RFC name. */
  get stateName(): string {
    return TCP_STATE_NAMES[this.state]!;
  }

  /** Bytes sent and not yet acknowledged (RFC 5681 FlightSize). */
  get flightSize(): number {
    return (this.sndMax - this.sndUna) >>> 0;
  }
}

/**
 * Change state — the one place it happens. Logs `old=>new` through the
 * protocol's trace hook (a `tcp_trace`-like ring in tests and debugging).
 */
export function setState(tp: TcpCb, next: TcpState): void {
  const old = tp.state;
  if (old === next) return;
  tp.state = next;
  const log = tp.tcp.log;
  if (log !== null) {
    log(`tcp ${tp.inp.lport}->${tp.inp.fport}: ${TCP_STATE_NAMES[old]}=>${TCP_STATE_NAMES[next]}`);
  }
}
