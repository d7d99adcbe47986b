/**
 * `sosend()` (NetBSD `sys/kern/uipc_socket.c`): move a user's data into the
 * stack and hand it to the protocol.
 *
 * The bytes are never passed in: they are pulled through the uio from a
 * {@link CopySource}, and each pull is one copy request — in a rump server,
 * one round trip to the client. The copy loop is `fillFromUio`: with
 * `MCLNUM` 1 it takes one cluster per request (NetBSD); with `MCLNUM` N it
 * takes an extended cluster of up to N clusters and fills it with one
 * request, asking for as much as the socket buffer can take (the paper's
 * batched copyin, section 5.2). Data below `MINCLSIZE` goes into small mbufs.
 *
 * @module
 */
import { EWOULDBLOCK, Errno } from '../kern/errno.js';
import { MSIZE, fillFromUio, mFreem } from '../mbuf/index.js';
import type { CopySource, Mbuf, Uio } from '../mbuf/index.js';
import { MSG, PR, SS } from './constants.js';
import type { Sockaddr } from './sockaddr.js';
import type { Socket } from './socket.js';

/** Options of {@link soSend}. */
export interface SendOptions {
  /** Destination for an unconnected datagram socket (`sendto`). */
  addr?: Sockaddr | null;
  /** `MSG_*` flags: `DONTWAIT`, `EOR`, `NOSIGNAL` (there are no signals: EPIPE is returned either way). */
  flags?: number;
}

/** What {@link soSend} did. */
export interface SendResult {
  /** 0 or an errno. A stream send that moved some bytes before blocking reports them with errno 0. */
  errno: number;
  /** Bytes accepted by the protocol. */
  bytes: number;
  /** Copy requests made to the source (copyins). */
  requests: number;
}

/**
 * Send `uio.resid` bytes from `source` on `so`.
 *
 * Checks, in BSD's order: a datagram larger than the send buffer or the
 * protocol's maximum (UDP 65507) is EMSGSIZE before anything is copied;
 * then EPIPE after `shutdown(SHUT_WR)`, a pending `so_error` (reported once
 * and cleared), ENOTCONN (connection-oriented, not connected) or
 * EDESTADDRREQ (datagram, not connected, no address). It then waits for
 * room — EWOULDBLOCK at once when non-blocking or `MSG_DONTWAIT`, or after
 * `SO_SNDTIMEO` — copies and hands the chain to the protocol's `send`.
 * Datagrams are atomic: the whole datagram, in one record, or an error.
 * A stream send loops, one extended cluster at a time, until all is sent.
 *
 * Never throws for anything a user or the network does; a failed copy is
 * its errno (EFAULT), with everything it took freed. The uio advances by the
 * bytes copied.
 */
export async function soSend(so: Socket, uio: Uio, source: CopySource, opts: SendOptions = {}): Promise<SendResult> {
  const res: SendResult = { errno: 0, bytes: 0, requests: 0 };
  const pr = so.proto;
  const flags = opts.flags ?? 0;
  const addr = opts.addr ?? null;
  const atomic = (pr.flags & PR.ATOMIC) !== 0;
  if (so.closed) {
    res.errno = Errno.EBADF;
    return res;
  }
  if ((flags & MSG.OOB) !== 0) {
    res.errno = Errno.EOPNOTSUPP;
    return res;
  }
  if (atomic && (uio.resid > so.snd.hiwat || (pr.maxSend > 0 && uio.resid > pr.maxSend))) {
    res.errno = Errno.EMSGSIZE;
    return res;
  }
  const host = so.layer.host;
  const nowait = (so.state & SS.NBIO) !== 0 || (flags & MSG.DONTWAIT) !== 0;
  const lk = await so.snd.lock.acquire(nowait);
  if (lk !== 0) {
    res.errno = lk;
    return res;
  }
  try {
    // Each pass either sends (resid shrinks) or sleeps until woken, timed
    // out or aborted; so the loop ends.
    for (;;) {
      if (so.closed) {
        res.errno = Errno.EBADF;
        break;
      }
      if ((so.state & SS.CANTSENDMORE) !== 0) {
        res.errno = Errno.EPIPE;
        break;
      }
      if (so.error !== 0) {
        res.errno = so.takeError();
        break;
      }
      if ((so.state & SS.ISCONNECTED) === 0) {
        if ((pr.flags & PR.CONNREQUIRED) !== 0) {
          res.errno = Errno.ENOTCONN;
          break;
        } else if (addr === null) {
          res.errno = Errno.EDESTADDRREQ;
          break;
        }
      }
      const space = so.snd.space();
      const fits = atomic ? uio.resid <= space : space >= uio.resid || space >= so.snd.lowat;
      if (!fits || (!atomic && space === 0)) {
        // The owner's quota (SbAccount), not this buffer, is what is short,
        // and nothing of this socket's will drain to make room: waiting would
        // be forever. ENOBUFS, to this owner alone (FreeBSD's sbreserve
        // failing chgsbsize()).
        const need = atomic ? uio.resid : Math.min(uio.resid, Math.max(1, so.snd.lowat));
        if (so.snd.cc === 0 && so.snd.accountRoom() < need) {
          res.errno = Errno.ENOBUFS;
          break;
        }
        if (nowait) {
          res.errno = EWOULDBLOCK;
          break;
        }
        const w = await so.snd.wq.wait(host.clock, so.snd.timeoutMs);
        if (w !== 0) {
          res.errno = w;
          break;
        }
        continue;
      }
      let m: Mbuf | null = null;
      let len = 0;
      if (uio.resid > 0) {
        // A stream takes what sbspace allows, up to one extended cluster per
        // request of the copy window (window 1: one request, NetBSD). Nothing
        // beyond the space is asked for: the clusters are charged when the
        // copies arrive, and the buffer must take them all.
        const window = so.layer.tunables.copyWindow;
        const chunk = atomic ? uio.resid : Math.min(uio.resid, space, window * so.layer.mclnum * host.pool.mclbytes);
        // Clusters pinned while the copy waits for its source (a rump
        // client's COPYIN reply) are the owner's too, until the append below
        // charges them as buffer storage.
        const acct = so.snd.account;
        const pin = acct === null ? 0 : Math.ceil(chunk / host.pool.mclbytes) * (MSIZE + host.pool.mclbytes);
        if (acct !== null) acct.used += pin;
        let f;
        try {
          f = await fillFromUio(host.pool, uio, source, { maxBytes: chunk, mclnum: so.layer.mclnum, window });
        } finally {
          if (acct !== null) acct.used -= pin;
        }
        res.requests += f.requests;
        if (f.error !== 0 && (atomic || f.m === null)) {
          mFreem(f.m);
          res.errno = f.error;
          break;
        }
        m = f.m;
        len = f.len;
        if (f.error !== 0) res.errno = f.error; // stream: send what was copied, then stop
      } else if (!atomic) {
        break; // nothing to send on a stream
      }
      // The copy may have awaited a client: the socket may have changed.
      if (so.closed) {
        mFreem(m);
        res.errno = Errno.EBADF;
        break;
      }
      const err = pr.usrreqs.send(so, m, len, addr, flags);
      if (err !== 0) {
        res.errno = err;
        break;
      }
      res.bytes += len;
      if (res.errno !== 0 || uio.resid === 0 || atomic) break;
    }
  } finally {
    so.snd.lock.release();
  }
  // sendit(): a stream send interrupted after moving data reports the data.
  if (res.bytes > 0 && !atomic && (res.errno === EWOULDBLOCK || res.errno === Errno.EINTR || res.errno === Errno.ENOBUFS)) {
    res.errno = 0;
  }
  return res;
}
