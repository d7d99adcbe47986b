/**
 * The streamed receive (docs/PROTOCOL.md §7a, "Streamed receive"): one
 * `recvstream` call from the client, and the server keeps soreceiving into
 * the shared ring for as long as the stream lasts — no request per chunk.
 *
 * Flow control is a window over the stream's bytes: the client says in its
 * region's stream slot how many bytes it has handed to the program; the
 * server produces at most `window` bytes beyond that. While the program is
 * paused the client stops advancing, the server stops calling soreceive,
 * the socket buffer fills and TCP's window closes, as through a kernel.
 * When the window is spent the server sets the slot's "waiting" flag and
 * reads the position again (the client stores the position, then takes the
 * flag: one of the two sees the other), then sleeps until the client's
 * doorbell (a REQ PING numbered 0), a `close` in the session, or
 * {@link STREAM_RECHECK_MS} at most.
 *
 * The end comes in order after the data: the call's RESP (`eof` at the
 * peer's FIN), or its errno (ECONNRESET, …) — the stream's COPYOUTs precede
 * it on the connection. Closing the descriptor (close, or the session's
 * end) ends it; a consumed position the server never produced is a lying
 * client: the stream ends EFAULT (counted `shmFaults`).
 *
 * @module
 */
import { Errno, makeUio } from '@rumpnet/stack';
import type { ClientSession, SyscallContext, SyscallHandler } from '../session/index.js';
import type { SyscallArgs, SyscallResults } from '../proto/index.js';
import type { ClientProcess } from './process.js';
import { check, fail } from './convert.js';

/** Longest one chunk of a stream may be (a 256 KiB receive, as MCLNUM × MCLBYTES at most). */
export const STREAM_MAX_CHUNK = 256 * 1024;
/**
 * How long a stream waiting for window sleeps without a doorbell before it
 * looks again: a safety net only — the client's doorbell, a `close` of a
 * descriptor and the session's end all wake it at once — so a paused
 * reader costs one timer a second, not twenty.
 */
export const STREAM_RECHECK_MS = 1000;

/** The `recvstream` handler over the server's process table. */
export function recvStream(proc: (s: ClientSession) => ClientProcess): SyscallHandler<SyscallArgs['recvstream'], SyscallResults['recvstream']> {
  return async (session: ClientSession, a, ctx: SyscallContext) => {
    const p = proc(session);
    const shm = session.streams;
    if (shm === undefined) fail(Errno.EOPNOTSUPP, 'a streamed receive needs a shared region (§7a)');
    const so = p.table.get(a.fd);
    if (so === null) fail(Errno.EBADF, 'no such descriptor');
    if (a.len < 1 || a.len > STREAM_MAX_CHUNK || a.window < a.len || a.window > shm.ringBytes) {
      fail(Errno.EINVAL, `recvstream: chunk 1..${STREAM_MAX_CHUNK} and chunk ≤ window ≤ ring (${shm.ringBytes})`);
    }
    if (!shm.claimStream(a.slot)) fail(Errno.EBUSY, `recvstream: stream slot ${a.slot} is taken or does not exist`);
    // From here the call is a stream, bounded by its slot: it leaves --max-in-flight to the client's other calls.
    ctx.detach?.();
    const sink = ctx.copySink(a.buf);
    // Positions mod 2^32: bytes produced into the stream, and the consumed position last accepted.
    let produced = 0;
    let seen = 0;
    let total = 0;
    /** Room for one more chunk; EFAULT for a position the server never produced. */
    const room = (): boolean => {
      const c = shm.streamConsumed(a.slot);
      if (c === undefined) fail(Errno.EFAULT, 'recvstream: the shared region is gone');
      if (((c - seen) >>> 0) > ((produced - seen) >>> 0)) {
        shm.streamFault();
        fail(Errno.EFAULT, 'recvstream: consumed position beyond what was produced');
      }
      seen = c;
      return ((produced - c) >>> 0) + a.len <= a.window;
    };
    try {
      // Bounded by the stream: each pass delivers ≥ 1 byte, ends it, or waits on the client.
      for (;;) {
        while (!room()) {
          if (ctx.signal.aborted || session.isClosed) fail(Errno.ECONNABORTED, 'client gone');
          if (p.table.get(a.fd) !== so) fail(Errno.EBADF, 'descriptor closed');
          shm.streamWaiting(a.slot, true);
          if (room()) break;
          await session.doorbell(STREAM_RECHECK_MS);
        }
        shm.streamWaiting(a.slot, false);
        if (p.table.get(a.fd) !== so) fail(Errno.EBADF, 'descriptor closed');
        // One COPYOUT per chunk (coalesced), through the ring while it has room.
        const r = await p.table.recvfrom(a.fd, makeUio([{ base: 0, len: a.len }], 'read'), sink, 0, true);
        check(r.errno);
        if (r.bytes === 0) return { bytes: total, eof: true };
        produced = (produced + r.bytes) >>> 0;
        total += r.bytes;
      }
    } finally {
      shm.releaseStream(a.slot);
    }
  };
}
