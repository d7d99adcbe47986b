/**
 * The user requests of SOCK_STREAM sockets (NetBSD `tcp_usrreq.c`): what
 * `connect`, `listen`, `send`, `shutdown`, `close` and the TCP socket
 * options do to a connection, plugged into the socket layer's protocol
 * switch exactly as UDP is.
 *
 * @module
 */
import { Errno } from '../../kern/errno.js';
import { mFreem, type Mbuf } from '../../mbuf/index.js';
import { AF_INET, IPPROTO, PR, SOCK, SOOPT, SS } from '../../socket/constants.js';
import type { InPcb } from '../../socket/inpcb.js';
import type { ProtoUserReqs, Protosw, SockoptValue } from '../../socket/protosw.js';
import { sockaddrIn, type Sockaddr } from '../../socket/sockaddr.js';
import { in6GetOpt, in6SetOpt } from '../../socket/in6opt.js';
import { soIsConnecting, soIsDisconnected, soIsDisconnecting, soReserve, type Socket } from '../../socket/socket.js';
import { CONGCTL_NAMES, congctlByName } from './congctl/index.js';
import { tcpOutput } from './output.js';
import type { TcpProtocol } from './protocol.js';
import { tcpClose, tcpDrop, tcpReleaseSocket } from './subr.js';
import { setState, TCPS, TF, type TcpCb } from './tcpcb.js';
import { RECOVERY_NAMES } from './recovery/index.js';
import { recoveryByIndex, recoveryByName } from './recovery/select.js';
import { TCPTV_KEEP_INIT } from './timers.js';

/** `IPPROTO_TCP` option names (Linux values). */
export const TCP_OPT = {
  NODELAY: 1,
  MAXSEG: 2,
  KEEPIDLE: 4,
  KEEPINTVL: 5,
  KEEPCNT: 6,
  CONGESTION: 13,
  /**
   * The connection's loss recovery, set by name ('newreno', 'sack', 'rack')
   * or `net.inet.tcp.recovery` number (0, 1, 2); read as that number. A
   * rumpnet option (number outside
   * Linux's range): Linux has only the system-wide `net.ipv4.tcp_recovery`.
   * A recovery under way finishes under the algorithm that began it.
   */
  RECOVERY: 0x5201,
} as const;

/** `IPPROTO_IP` option names used by TCP sockets (Linux values). */
export const IP_OPT = {
  TOS: 1,
  TTL: 2,
} as const;

function tcbOfSocket(so: Socket): TcpCb | null {
  const inp = so.pcb as InPcb | null;
  return inp === null ? null : (inp.ppcb as TcpCb | null);
}

function asInt(v: SockoptValue): number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return null;
}

/**
 * The user is done sending (`tcp_usrclosed`, RFC 9293 3.10.4 CLOSE):
 * ESTABLISHED -> FIN-WAIT-1, CLOSE-WAIT -> LAST-ACK; before a SYN was
 * received the connection simply closes.
 * @returns false when the connection was closed here.
 */
export function tcpUsrClosed(tp: TcpCb): boolean {
  switch (tp.state) {
    case TCPS.CLOSED:
    case TCPS.LISTEN:
    case TCPS.SYN_SENT:
      tcpClose(tp);
      return false;
    case TCPS.SYN_RECEIVED:
      // The FIN goes once the handshake completes.
      tp.flags |= TF.WANTFIN;
      break;
    case TCPS.ESTABLISHED:
      setState(tp, TCPS.FIN_WAIT_1);
      break;
    case TCPS.CLOSE_WAIT:
      setState(tp, TCPS.LAST_ACK);
      break;
    default:
      break;
  }
  if (tp.state >= TCPS.FIN_WAIT_2 && tp.so !== null) soIsDisconnected(tp.so);
  return true;
}

// The data path's user requests (PRU_SEND, PRU_RCVD) are one pair of
// functions for every stack, not closures made per stack like the others:
// callers (sosend, soreceive, a harness) then see one call target across
// stacks, so code optimized on one pair of stacks is not thrown away ("wrong
// call target") when the next pair's sockets call in.

/** PRU_SEND: append `m` to the send buffer and output (`tcp_usrreq` PRU_SEND). */
function tcpUsrSend(so: Socket, m: Mbuf | null, _len: number): number {
  const tp = tcbOfSocket(so);
  if (tp === null) {
    mFreem(m);
    return Errno.ENOTCONN;
  }
  if (tp.state > TCPS.CLOSE_WAIT && tp.state !== TCPS.SYN_RECEIVED) {
    mFreem(m);
    return Errno.EPIPE;
  }
  so.snd.appendStream(m);
  tp.tcp.outputAfterSend(tp);
  return 0;
}

/** PRU_RCVD: the application took data; a window update may be due. */
function tcpUsrRcvd(so: Socket): void {
  const tp = tcbOfSocket(so);
  if (tp === null || tp.state < TCPS.ESTABLISHED) return;
  tcpOutput(tp);
}

/** Build the SOCK_STREAM protocol switch entry of `tcp`. */
export function makeTcpProtosw(tcp: TcpProtocol): Protosw {
  const usrreqs: ProtoUserReqs = {
    attach(so: Socket): number {
      if (so.snd.hiwat === 0 || so.rcv.hiwat === 0) {
        const t = so.layer.tunables;
        const e = soReserve(so, t.tcpSendspace, t.tcpRecvspace);
        if (e !== 0) return e;
        // TCP's default send buffer is TCP's to size (sndbuf.ts).
        so.snd.autosize = tcp.tun.sendbufAuto !== 0;
        so.snd.autoBase = so.snd.hiwat;
      }
      const tp = tcp.newTcpcb(so);
      tp.flags |= tcp.requestFlags();
      return 0;
    },

    detach(so: Socket): void {
      const tp = tcbOfSocket(so);
      if (tp === null) return;
      if (tp.state === TCPS.LISTEN) {
        tcp.syncache.dropHead(so);
        tcpClose(tp);
        return;
      }
      if (tp.state < TCPS.ESTABLISHED && (tp.flags & TF.WANTFIN) === 0) {
        // Nothing to finish (SO_LINGER does not apply before a connection).
        tcpDrop(tp, 0);
        return;
      }
      // The user has gone; the connection finishes its close alone and
      // keeps the socket's send buffer until then (`so.pcb` stays set, so
      // the socket layer's `free` waits for us).
      tp.detached = true;
      so.rcv.flush();
      if (tp.state === TCPS.TIME_WAIT) tcpReleaseSocket(tp);
      else if (tp.state === TCPS.FIN_WAIT_2) tp.timers.setClose(tcp.tun.finWait2Ms);
    },

    bind(so: Socket, nam: Sockaddr): number {
      const inp = so.pcb as InPcb | null;
      if (inp === null) return Errno.EINVAL;
      return tcp.pcbs.bind(inp, nam);
    },

    listen(so: Socket): number {
      const tp = tcbOfSocket(so);
      if (tp === null) return Errno.EINVAL;
      if (tp.state !== TCPS.CLOSED && tp.state !== TCPS.LISTEN) return Errno.EINVAL;
      if (tp.inp.lport === 0) {
        const e = tcp.pcbs.bind(tp.inp, null);
        if (e !== 0) return e;
      }
      setState(tp, TCPS.LISTEN);
      return 0;
    },

    connect(so: Socket, nam: Sockaddr): number {
      const tp = tcbOfSocket(so);
      if (tp === null) return Errno.EINVAL;
      if (tp.state !== TCPS.CLOSED) return tp.state === TCPS.SYN_SENT ? Errno.EALREADY : Errno.EISCONN;
      const e = tcp.pcbs.connect(tp.inp, nam);
      if (e !== 0) return e;
      const inp = tp.inp;
      tp.iss = tcp.isn.isn(inp.laddr, inp.lport, inp.faddr, inp.fport);
      tp.sndUna = tp.sndNxt = tp.sndMax = tp.iss;
      tp.rexmtHigh = tp.iss;
      tp.sndWl2 = tp.iss;
      tp.tsOffset = tcp.isn.tsOffset(inp.laddr, inp.lport, inp.faddr, inp.fport);
      tp.requestRScale = (tp.flags & TF.REQ_SCALE) !== 0 ? tcpScaleFor(so.rcv.hiwat) : 0;
      tp.ourMss = tcp.ourMssFor(inp.faddr, inp.family);
      tp.cc = tcp.newCongctl(tp.cc.name, tp.ourMss);
      setState(tp, TCPS.SYN_SENT);
      soIsConnecting(so);
      tp.timers.setKeep(TCPTV_KEEP_INIT);
      tcp.stats.connattempt++;
      tcpOutput(tp);
      return 0;
    },

    disconnect(so: Socket): number {
      const tp = tcbOfSocket(so);
      if (tp === null) return Errno.ENOTCONN;
      if (tp.state < TCPS.ESTABLISHED && (tp.flags & TF.WANTFIN) === 0 && tp.state !== TCPS.SYN_RECEIVED) {
        tcpClose(tp);
        return 0;
      }
      if ((so.options & SOOPT.LINGER) !== 0 && so.linger === 0) {
        // SO_LINGER with 0: abort with a RST (RFC 9293 3.10.5 ABORT).
        tcpDrop(tp, 0);
        return 0;
      }
      soIsDisconnecting(so);
      so.rcv.flush();
      if (tcpUsrClosed(tp)) tcpOutput(tp);
      return 0;
    },

    accept(): number {
      return 0;
    },

    shutdown(so: Socket): number {
      const tp = tcbOfSocket(so);
      if (tp === null) return Errno.ENOTCONN;
      if (tcpUsrClosed(tp)) tcpOutput(tp);
      return 0;
    },

    abort(so: Socket): void {
      const tp = tcbOfSocket(so);
      if (tp === null) return;
      tcpDrop(tp, Errno.ECONNABORTED);
    },

    send: tcpUsrSend,
    rcvd: tcpUsrRcvd,

    sockaddr(so: Socket): Sockaddr {
      const inp = so.pcb as InPcb | null;
      return inp === null ? sockaddrIn(0, 0) : inp.table.sockaddrOf(inp, inp.laddr, inp.lport);
    },

    peeraddr(so: Socket): Sockaddr | null {
      const inp = so.pcb as InPcb | null;
      if (inp === null || inp.fport === 0) return null;
      return inp.table.sockaddrOf(inp, inp.faddr, inp.fport);
    },

    ctloutputSet(so: Socket, level: number, name: number, value: SockoptValue): number {
      const tp = tcbOfSocket(so);
      if (tp === null) return Errno.EINVAL;
      if (level === IPPROTO.IPV6) return in6SetOpt(tp.inp, name, value);
      if (level === IPPROTO.IP) {
        const v = asInt(value);
        if (v === null || v < 0 || v > 255) return Errno.EINVAL;
        if (name === IP_OPT.TOS) tp.inp.tos = v;
        else if (name === IP_OPT.TTL) tp.inp.ttl = v;
        else return Errno.ENOPROTOOPT;
        return 0;
      }
      if (level !== IPPROTO.TCP) return Errno.ENOPROTOOPT;
      if (name === TCP_OPT.CONGESTION) {
        const text = value instanceof Uint8Array ? new TextDecoder().decode(value).replace(/\0.*$/s, '') : null;
        if (text === null) return Errno.EINVAL;
        if (congctlByName(text) === undefined) return Errno.ENOENT;
        // Switching keeps the window in bytes (RFC 9438 allows a carry-over),
        // and a loss recovery under way goes on under the new algorithm
        // (Linux keeps icsk_ca_state across tcp_set_congestion_control):
        // otherwise the tcb would stay in SACK recovery while the controller
        // is not, and nothing would end it before an RTO.
        const old = tp.cc;
        const recovery = old.recover === undefined ? undefined : { recover: old.recover, active: old.inRecovery, sack: tp.sackRecovery };
        tp.cc = congctlByName(text)!({ mss: tp.maxseg, cwnd: old.cwnd, ssthresh: old.ssthresh, recovery });
        return 0;
      }
      if (name === TCP_OPT.RECOVERY) {
        const text = value instanceof Uint8Array ? new TextDecoder().decode(value).replace(/\0.*$/s, '') : null;
        const n = asInt(value);
        const r = text !== null ? recoveryByName(text) : n !== null && n >= 0 && n < RECOVERY_NAMES.length ? recoveryByIndex(n) : null;
        if (r === undefined) return Errno.ENOENT;
        if (r === null) return Errno.EINVAL;
        // RACK's send-time log is only kept while RACK acts: unless its
        // recovery is under way, a later RACK starts a fresh one.
        if (r !== tp.recovery && tp.recoveryActive?.name !== 'rack') tp.rack = null;
        tp.recovery = r;
        return 0;
      }
      const v = asInt(value);
      if (v === null) return Errno.EINVAL;
      switch (name) {
        case TCP_OPT.NODELAY:
          if (v !== 0) tp.flags |= TF.NODELAY;
          else tp.flags &= ~TF.NODELAY;
          if (v !== 0 && tp.state >= TCPS.ESTABLISHED) tcpOutput(tp);
          return 0;
        case TCP_OPT.MAXSEG:
          if (v < 64 || v > 65535) return Errno.EINVAL;
          if (tp.state < TCPS.ESTABLISHED) tp.ourMss = Math.min(tp.ourMss, v);
          // Congestion control and the SACK scoreboard count in segments of
          // this size too (their windows, IsLost's DupThresh bytes).
          if (v < tp.maxseg) tcp.setMaxseg(tp, v);
          return 0;
        case TCP_OPT.KEEPIDLE:
        case TCP_OPT.KEEPINTVL:
          if (v < 1 || v > 32767) return Errno.EINVAL;
          if (name === TCP_OPT.KEEPIDLE) {
            tp.params.keepIdle = v * 1000;
            if (tp.state >= TCPS.ESTABLISHED && tp.state <= TCPS.CLOSE_WAIT) tp.timers.setKeep(tp.params.keepIdle);
          } else tp.params.keepIntvl = v * 1000;
          return 0;
        case TCP_OPT.KEEPCNT:
          if (v < 1 || v > 127) return Errno.EINVAL;
          tp.params.keepCnt = v;
          return 0;
        default:
          return Errno.ENOPROTOOPT;
      }
    },

    ctloutputGet(so: Socket, level: number, name: number): SockoptValue | { errno: number } {
      const tp = tcbOfSocket(so);
      if (tp === null) return { errno: Errno.EINVAL };
      if (level === IPPROTO.IPV6) return in6GetOpt(tp.inp, name);
      if (level === IPPROTO.IP) {
        if (name === IP_OPT.TOS) return tp.inp.tos;
        if (name === IP_OPT.TTL) return tp.inp.ttl || 64;
        return { errno: Errno.ENOPROTOOPT };
      }
      if (level !== IPPROTO.TCP) return { errno: Errno.ENOPROTOOPT };
      switch (name) {
        case TCP_OPT.NODELAY:
          return (tp.flags & TF.NODELAY) !== 0 ? 1 : 0;
        case TCP_OPT.MAXSEG:
          return tp.maxseg;
        case TCP_OPT.KEEPIDLE:
          return Math.floor(tp.params.keepIdle / 1000);
        case TCP_OPT.KEEPINTVL:
          return Math.floor(tp.params.keepIntvl / 1000);
        case TCP_OPT.KEEPCNT:
          return tp.params.keepCnt;
        case TCP_OPT.CONGESTION:
          return new TextEncoder().encode(tp.cc.name);
        case TCP_OPT.RECOVERY:
          // A number (as the sysctl), so that it has a wire form for rump clients.
          return (RECOVERY_NAMES as readonly string[]).indexOf(tp.recovery.name);
        default:
          return { errno: Errno.ENOPROTOOPT };
      }
    },
  };
  return {
    type: SOCK.STREAM,
    domain: AF_INET,
    protocol: IPPROTO.TCP,
    flags: PR.CONNREQUIRED | PR.WANTRCVD | PR.LISTEN,
    maxSend: 0,
    usrreqs,
    name: 'tcp',
  };
}

/** The window shift to offer for a receive buffer of `hiwat` bytes (RFC 7323 2.3). */
export function tcpScaleFor(hiwat: number): number {
  let s = 0;
  while (s < 14 && 0xffff * 2 ** s < hiwat) s++;
  return s;
}

/** Names of the congestion controls a socket may select with TCP_CONGESTION. */
export const TCP_CONGESTION_NAMES: readonly string[] = CONGCTL_NAMES;

/** Whether a socket state means the connection is still being set up. */
export function soConnecting(so: Socket): boolean {
  return (so.state & SS.ISCONNECTING) !== 0;
}
