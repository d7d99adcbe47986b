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
import type { SockBuf } from './sockbuf.js';
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
      const space = atomic ? so.snd.space() : Math.min(so.snd.space(), streamAccountRoom(so.snd));
      const fits = atomic ? uio.resid <= space : space >= uio.resid || space >= so.snd.lowat;
      if (!fits || (!atomic && space === 0)) {
        // The owner's quota (SbAccount), not this buffer, is what is short,
        // and nothing of this socket's will drain to make room. ENOBUFS, to
        // this owner alone (FreeBSD's sbreserve failing chgsbsize()) — unless
        // a blocking stream send can wait for storage the owner holds
        // elsewhere to drain (see accountWait).
        const need = atomic ? uio.resid : Math.min(uio.resid, Math.max(1, so.snd.lowat));
        if (so.snd.cc === 0 && (atomic ? so.snd.accountRoom() : streamAccountRoom(so.snd)) < need) {
          const w = atomic || nowait ? Errno.ENOBUFS : await accountWait(so, need);
          if (w !== 0) {
            res.errno = w;
            break;
          }
          continue;
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
      // NetBSD sets SS_MORETOCOME around pr_send when the uio has more; here
      // it stays set until the next pass's append, across its copy: that copy
      // is a round trip to the client, and ACKs returning meanwhile would
      // otherwise send this pass's sub-MSS tail as a segment (and a device
      // write) of its own. TCP honours it only with TSO (output.ts).
      if (!atomic && uio.resid > 0 && res.errno === 0) so.state |= SS.MORETOCOME;
      else so.state &= ~SS.MORETOCOME;
      const err = pr.usrreqs.send(so, m, len, addr, flags);
      if (err !== 0) {
        res.errno = err;
        break;
      }
      res.bytes += len;
      if (res.errno !== 0 || uio.resid === 0 || atomic) break;
    }
  } finally {
    if ((so.state & SS.MORETOCOME) !== 0) {
      // The call ended before its last append (an error, a timeout, the
      // socket going): what the protocol held for it may go now.
      so.state &= ~SS.MORETOCOME;
      if (!so.closed && (so.state & SS.ISCONNECTED) !== 0) pr.usrreqs.send(so, null, 0, null, 0);
    }
    so.snd.lock.release();
  }
  // sendit(): a stream send interrupted after moving data reports the data.
  if (res.bytes > 0 && !atomic && (res.errno === EWOULDBLOCK || res.errno === Errno.EINTR || res.errno === Errno.ENOBUFS)) {
    res.errno = 0;
  }
  return res;
}

/**
 * The part of the owner's headroom a stream send buffer may take: it may
 * hold at most half of what the owner's other storage leaves of its limit.
 * The other half stays for receive buffers of the same owner — its own
 * reader on lo0 above all: a send buffer that took all the headroom would
 * leave that reader no window (sbspace counts the account), so the data
 * could never move out of the send buffer and neither side would drain.
 */
function streamAccountRoom(sb: SockBuf): number {
  const a = sb.account;
  if (a === null) return Infinity;
  const share = Math.floor((a.limit - a.used + sb.mbcnt) / 2) - sb.mbcnt;
  return Math.max(0, Math.min(share, sb.accountRoom()));
}

/**
 * Longest a blocking stream send waits for its owner's account to give
 * storage back, ms, before ENOBUFS: storage held in the owner's other
 * buffers drains when the owner reads its receive buffers or its peers
 * acknowledge its sends; if none of it moves for this long, nothing will.
 */
export const ACCOUNT_DRAIN_WAIT_MS = 5000;

/**
 * Wait for the account of `so`'s send buffer to drain enough for `need`
 * bytes: 0 to look again, ENOBUFS when nothing of the owner's drained within
 * {@link ACCOUNT_DRAIN_WAIT_MS} (or it holds nothing that could), or the
 * errno of the socket's teardown. The owner that writes a large buffer to
 * its own reader (both ends charged to it) waits for its reads instead of
 * failing; an owner whose storage sits in buffers it never reads gets
 * ENOBUFS after the bound, and other owners are never involved.
 */
async function accountWait(so: Socket, need: number): Promise<number> {
  const acct = so.snd.account!;
  // Everything the owner holds is its own send buffer's (empty): nothing can drain.
  if (acct.used <= so.snd.mbcnt) return Errno.ENOBUFS;
  const before = acct.used;
  const set = (acct.drainWaiters ??= new Set());
  set.add(so.snd);
  const timeout = so.snd.timeoutMs > 0 ? Math.min(so.snd.timeoutMs, ACCOUNT_DRAIN_WAIT_MS) : ACCOUNT_DRAIN_WAIT_MS;
  const w = await so.snd.wq.wait(so.layer.host.clock, timeout);
  set.delete(so.snd);
  if (w === EWOULDBLOCK) {
    // Timed out: go on only if something drained meanwhile (a wakeup not
    // routed here, e.g. another session of the same user giving back).
    if (acct.used < before || streamAccountRoom(so.snd) >= need) return 0;
    // SO_SNDTIMEO shorter than the bound: the user's timeout, as for a full buffer.
    return timeout < ACCOUNT_DRAIN_WAIT_MS ? EWOULDBLOCK : Errno.ENOBUFS;
  }
  return w;
}
