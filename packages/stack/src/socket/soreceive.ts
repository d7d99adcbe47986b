/**
 * `soreceive()` (NetBSD `sys/kern/uipc_socket.c`): wait for data and copy
 * it out to the user through the uio, one copy request per mbuf as NetBSD
 * does (`uiomove` per mbuf), or one coalesced request per call (the
 * receive-side batching the paper left as future work).
 *
 * Safety across the awaited copy: the bytes being copied are first shared
 * into a private chain (`mCopym` takes cluster references, no byte copy),
 * so a socket closed (and its buffer flushed) while a remote client is
 * still answering a copyout never lets a cluster be reused under it.
 *
 * @module
 */
import { EWOULDBLOCK, Errno } from '../kern/errno.js';
import { copyChainToUio, mCopym, mFreem } from '../mbuf/index.js';
import type { CopySink, Mbuf, Uio } from '../mbuf/index.js';
import { MSG, PR, SS } from './constants.js';
import type { Sockaddr } from './sockaddr.js';
import type { Socket } from './socket.js';

/** Options of {@link soReceive}. */
export interface ReceiveOptions {
  /** `MSG_*` flags: `PEEK`, `WAITALL`, `DONTWAIT`, `TRUNC` (return the datagram's real length). */
  flags?: number;
  /** One copyout for the whole call (true) or one per mbuf (false, NetBSD; the default). */
  coalesce?: boolean;
}

/** What {@link soReceive} did. */
export interface ReceiveResult {
  /** 0 or an errno. */
  errno: number;
  /**
   * Bytes copied out; 0 with errno 0 is end of file on a stream (or a
   * zero-length datagram). With `MSG_TRUNC` asked, a datagram's full length.
   */
  bytes: number;
  /** The sender, for datagram protocols (`PR_ADDR`); else null. */
  addr: Sockaddr | null;
  /** `MSG_TRUNC` when a datagram was longer than the uio (the rest is discarded). */
  flags: number;
  /** Copy requests made to the sink (copyouts). */
  requests: number;
}

/**
 * Receive on `so` into `uio` through `sink`.
 *
 * Waits (unless non-blocking / `MSG_DONTWAIT`: EWOULDBLOCK) until data is
 * there — for a stream at least `SO_RCVLOWAT` bytes, or all of `uio` with
 * `MSG_WAITALL` — or end of file (returns 0 bytes), or a pending error
 * (returned once and cleared unless peeking; data already queued is
 * delivered first), or ENOTCONN for an unconnected stream. A datagram is
 * taken whole: what does not fit the uio is dropped and `MSG_TRUNC` set.
 * `MSG_PEEK` copies without consuming. Never throws for anything a user or
 * the network does.
 */
export async function soReceive(so: Socket, uio: Uio, sink: CopySink, opts: ReceiveOptions = {}): Promise<ReceiveResult> {
  const res: ReceiveResult = { errno: 0, bytes: 0, addr: null, flags: 0, requests: 0 };
  const flags = opts.flags ?? 0;
  const coalesce = opts.coalesce ?? false;
  const pr = so.proto;
  const atomic = (pr.flags & PR.ATOMIC) !== 0;
  const peek = (flags & MSG.PEEK) !== 0;
  if (so.closed) {
    res.errno = Errno.EBADF;
    return res;
  }
  if ((flags & MSG.OOB) !== 0) {
    res.errno = Errno.EOPNOTSUPP;
    return res;
  }
  if (!atomic && uio.resid === 0) return res;
  const nowait = (so.state & SS.NBIO) !== 0 || (flags & MSG.DONTWAIT) !== 0;
  const waitall = (flags & MSG.WAITALL) !== 0 && !peek && !nowait;
  const clock = so.layer.host.clock;
  const lk = await so.rcv.lock.acquire(nowait);
  if (lk !== 0) {
    res.errno = lk;
    return res;
  }
  try {
    // Each pass copies data or sleeps until woken, timed out or aborted.
    for (;;) {
      if (so.closed) {
        res.errno = Errno.EBADF;
        break;
      }
      const rcv = so.rcv;
      const have = atomic ? rcv.records > 0 : rcv.cc > 0;
      // Streams: take what is there once it reaches the low-water mark (or
      // fills the uio); MSG_WAITALL takes pieces as they come and loops.
      const enough =
        have && (atomic || nowait || waitall || rcv.cc >= uio.resid || rcv.cc >= Math.max(1, rcv.lowat));
      if (!enough) {
        if (so.error !== 0) {
          if (!have) {
            if (res.bytes === 0) res.errno = peek ? so.error : so.takeError();
            break;
          }
        } else if ((so.state & SS.CANTRCVMORE) !== 0) {
          if (!have) break; // EOF: what was copied so far (0 = end of file)
        } else if ((so.state & SS.ISCONNECTED) === 0 && (pr.flags & PR.CONNREQUIRED) !== 0) {
          if (res.bytes === 0) res.errno = Errno.ENOTCONN;
          break;
        } else if (nowait) {
          if (res.bytes === 0) res.errno = EWOULDBLOCK;
          break;
        } else {
          const w = await rcv.wq.wait(clock, rcv.timeoutMs);
          if (w !== 0) {
            if (res.bytes === 0 || w !== EWOULDBLOCK) res.errno = w;
            break;
          }
          continue;
        }
        // A pending error or EOF with data still queued: deliver the data first.
      }
      if (atomic) {
        await takeDatagram(so, uio, sink, coalesce, flags, res);
        break;
      }
      const n = Math.min(rcv.cc, uio.resid);
      const moved = await takeStream(so, uio, sink, coalesce, n, peek, res);
      if (!moved || !waitall || uio.resid === 0) break;
    }
  } finally {
    so.rcv.lock.release();
  }
  if (res.bytes > 0 && res.errno === EWOULDBLOCK) res.errno = 0;
  return res;
}

/** Copy out the first record of a datagram socket; consume it unless peeking. */
async function takeDatagram(
  so: Socket,
  uio: Uio,
  sink: CopySink,
  coalesce: boolean,
  flags: number,
  res: ReceiveResult,
): Promise<void> {
  const peek = (flags & MSG.PEEK) !== 0;
  const first = so.rcv.first!;
  res.addr = first.addr === null ? null : { ...first.addr };
  const len = first.len;
  const n = Math.min(len, uio.resid);
  let chain: Mbuf | null;
  if (peek) {
    chain = first.m === null || n === 0 ? null : mCopym(first.m, 0, n);
    if (first.m !== null && n > 0 && chain === null) {
      res.errno = Errno.ENOBUFS;
      return;
    }
  } else {
    const r = so.rcv.takeRecord()!;
    chain = r.m;
    r.m = null;
  }
  if (n < len) res.flags |= MSG.TRUNC;
  if (n > 0) {
    const c = await copyChainToUio(chain, 0, n, uio, sink, { coalesce });
    res.requests += c.requests;
    res.bytes = c.bytes;
    if (c.error !== 0) res.errno = c.error;
  }
  mFreem(chain);
  if ((flags & MSG.TRUNC) !== 0 && res.errno === 0) res.bytes = len;
  if (!peek && (so.proto.flags & PR.WANTRCVD) !== 0 && !so.closed) so.proto.usrreqs.rcvd(so, flags);
}

/**
 * Copy out `n` bytes of a stream socket's buffer; drop them unless peeking.
 * @returns whether any byte moved.
 */
async function takeStream(
  so: Socket,
  uio: Uio,
  sink: CopySink,
  coalesce: boolean,
  n: number,
  peek: boolean,
  res: ReceiveResult,
): Promise<boolean> {
  const shared = mCopym(so.rcv.mb!, 0, n);
  if (shared === null) {
    if (res.bytes === 0) res.errno = Errno.ENOBUFS;
    return false;
  }
  const flushes = so.rcv.flushes;
  const c = await copyChainToUio(shared, 0, n, uio, sink, { coalesce });
  mFreem(shared);
  res.requests += c.requests;
  res.bytes += c.bytes;
  // While the copyout was awaited, shutdown(SHUT_RD) (sorflush) or close
  // may have discarded the buffer: the bytes just copied are not in it any
  // more and dropping them again would take the wrong ones or underflow.
  if (!peek && !so.closed && c.bytes > 0 && so.rcv.flushes === flushes) {
    so.rcv.drop(c.bytes);
    if ((so.proto.flags & PR.WANTRCVD) !== 0) so.proto.usrreqs.rcvd(so, 0);
  }
  if (c.error !== 0) {
    res.errno = c.error;
    return false;
  }
  return c.bytes > 0;
}
