/**
 * `sosetopt()` / `sogetopt()` (NetBSD `uipc_socket.c`): socket-level
 * options handled here, every other level passed to the protocol's
 * `ctloutput`.
 *
 * Values: boolean options take a number (non-zero = on) or a boolean and
 * read back as 0/1; `SO_LINGER` is `{ onoff, linger }` (seconds);
 * `SO_RCVTIMEO`/`SO_SNDTIMEO` are milliseconds (0 = none) rather than a
 * `struct timeval`; buffer sizes are bytes and are not doubled (BSD, not
 * Linux). `SO_ERROR` reads and clears the pending error. Read-only options
 * (`SO_TYPE`, `SO_ERROR`, `SO_ACCEPTCONN`, `SO_PROTOCOL`, `SO_DOMAIN`) and
 * unknown names give ENOPROTOOPT on set.
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import { MSIZE } from '../mbuf/index.js';
import { AF, SO, SOL_SOCKET, SOOPT } from './constants.js';
import type { SockoptValue } from './protosw.js';
import type { Socket } from './socket.js';

const FLAG_OPTS: ReadonlyMap<number, number> = new Map([
  [SO.DEBUG, SOOPT.DEBUG],
  [SO.REUSEADDR, SOOPT.REUSEADDR],
  [SO.REUSEPORT, SOOPT.REUSEPORT],
  [SO.KEEPALIVE, SOOPT.KEEPALIVE],
  [SO.DONTROUTE, SOOPT.DONTROUTE],
  [SO.BROADCAST, SOOPT.BROADCAST],
  [SO.OOBINLINE, SOOPT.OOBINLINE],
]);

function asInt(v: SockoptValue): number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return null;
}

/**
 * Set an option. @returns 0 or an errno: EINVAL (bad value), ENOBUFS
 * (buffer size refused by `kern.sbmax`), ENOPROTOOPT (unknown or read-only),
 * or the protocol's answer for other levels.
 */
export function soSetopt(so: Socket, level: number, name: number, value: SockoptValue): number {
  if (so.closed) return Errno.EBADF;
  if (level !== SOL_SOCKET) return so.proto.usrreqs.ctloutputSet(so, level, name, value);
  const flag = FLAG_OPTS.get(name);
  if (flag !== undefined) {
    const v = asInt(value);
    if (v === null) return Errno.EINVAL;
    if (v !== 0) so.options |= flag;
    else so.options &= ~flag;
    return 0;
  }
  const mcl = so.layer.host.pool.mclbytes;
  const sbmax = so.layer.tunables.sbmax;
  switch (name) {
    case SO.LINGER: {
      if (typeof value !== 'object' || value instanceof Uint8Array || !('linger' in value)) return Errno.EINVAL;
      const l = value.linger;
      if (!Number.isInteger(l) || l < 0 || l > 0x7fffffff) return Errno.EINVAL;
      so.linger = l;
      if (value.onoff) so.options |= SOOPT.LINGER;
      else so.options &= ~SOOPT.LINGER;
      return 0;
    }
    case SO.SNDBUF:
    case SO.RCVBUF: {
      const v = asInt(value);
      if (v === null || v < 1) return Errno.EINVAL;
      const sb = name === SO.SNDBUF ? so.snd : so.rcv;
      // A buffer whose contents in full clusters could not fit in what the
      // owner's account has left (besides this buffer's own) is refused, as
      // FreeBSD's sbreserve() refuses one past RLIMIT_SBSIZE.
      const a = sb.account;
      if (a !== null && Math.ceil(v / mcl) * (mcl + MSIZE) > a.limit - (a.used - sb.mbcnt)) return Errno.ENOBUFS;
      if (!sb.reserve(v, sbmax, mcl)) return Errno.ENOBUFS;
      // Sized by the user: the protocol no longer sizes it (FreeBSD clears SB_AUTOSIZE).
      sb.autosize = false;
      // The send low-water mark follows a shrinking buffer (sbreserve).
      so.notify();
      return 0;
    }
    case SO.SNDLOWAT:
    case SO.RCVLOWAT: {
      const v = asInt(value);
      if (v === null || v < 0) return Errno.EINVAL;
      const sb = name === SO.SNDLOWAT ? so.snd : so.rcv;
      sb.lowat = Math.max(name === SO.RCVLOWAT ? 1 : 0, Math.min(v, sb.hiwat));
      so.notify();
      return 0;
    }
    case SO.SNDTIMEO:
    case SO.RCVTIMEO: {
      const v = asInt(value);
      if (v === null || v < 0) return Errno.EINVAL;
      (name === SO.SNDTIMEO ? so.snd : so.rcv).timeoutMs = v;
      return 0;
    }
    default:
      return Errno.ENOPROTOOPT;
  }
}

/**
 * Read an option. @returns its value, or `{ errno }` (ENOPROTOOPT for an
 * unknown name; the protocol's answer for other levels). `SO_ERROR` clears
 * the pending error.
 */
export function soGetopt(so: Socket, level: number, name: number): SockoptValue | { errno: number } {
  if (so.closed) return { errno: Errno.EBADF };
  if (level !== SOL_SOCKET) return so.proto.usrreqs.ctloutputGet(so, level, name);
  const flag = FLAG_OPTS.get(name);
  if (flag !== undefined) return (so.options & flag) !== 0 ? 1 : 0;
  switch (name) {
    case SO.LINGER:
      return { onoff: (so.options & SOOPT.LINGER) !== 0, linger: so.linger };
    case SO.SNDBUF:
      return so.snd.hiwat;
    case SO.RCVBUF:
      return so.rcv.hiwat;
    case SO.SNDLOWAT:
      return so.snd.lowat;
    case SO.RCVLOWAT:
      return so.rcv.lowat;
    case SO.SNDTIMEO:
      return so.snd.timeoutMs;
    case SO.RCVTIMEO:
      return so.rcv.timeoutMs;
    case SO.TYPE:
      return so.type;
    case SO.ERROR:
      return so.takeError();
    case SO.ACCEPTCONN:
      return so.listening ? 1 : 0;
    case SO.PROTOCOL:
      return so.proto.protocol;
    case SO.DOMAIN:
      return AF.INET;
    default:
      return { errno: Errno.ENOPROTOOPT };
  }
}
