/**
 * What `close(2)` owes the bytes a program wrote just before it: on a kernel
 * socket, `write()` has copied them into the socket buffer by the time it
 * returns, so `sock.write(x); sock.destroy()` sends x and then the FIN
 * (`soclose` → `tcp_usrclosed`: the send buffer drains before the FIN goes).
 * A rump write is a system call on its way to the server, so before the
 * client's close(2) the sends already accepted must arrive there first.
 *
 * They are given as long as they are moving. A send that sleeps on a full
 * send buffer (the peer does not read) would natively be partly in the
 * process still, and close(2) drops that part: here, once the buffer has
 * stayed full for {@link FLUSH_STALL_MS}, the close goes ahead — the server's
 * `soclose` fails the sleeping send (EBADF), and what it had copied in still
 * goes out before the FIN.
 */
import type { IoVec } from './iovec.js';
import type { RumpConnection } from './connection.js';
import { PollEvent } from './syscalls.js';

/** How long the send buffer may stay full (no progress) before close(2) stops waiting for the sends. */
export const FLUSH_STALL_MS = 500;
/** Bound on the wait rounds of one send (each round sees progress, or gives up). */
const MAX_ROUNDS = 100_000;

/** A send of `buf` on `fd` (the socket's own loop, which counts bytes). */
export type SendOn = (conn: RumpConnection, fd: number, buf: Buffer | IoVec) => Promise<void>;

/**
 * Waits for `inFlight`, then sends `chunks` one after the other (in order),
 * each for as long as it makes progress. Never rejects; resolves when the
 * descriptor may be closed.
 */
export async function lingerFlush(conn: RumpConnection, fd: number, inFlight: Promise<void> | undefined, chunks: readonly (Buffer | IoVec)[], send: SendOn): Promise<void> {
  if (inFlight !== undefined && !(await whileMoving(conn, fd, inFlight))) return;
  for (const c of chunks) {
    if (!(await whileMoving(conn, fd, send(conn, fd, c)))) return;
  }
}

/**
 * Resolves true when `op` succeeds, false when it fails or stalls: the send
 * buffer showed no room (`POLLOUT`) for {@link FLUSH_STALL_MS}.
 */
async function whileMoving(conn: RumpConnection, fd: number, op: Promise<void>): Promise<boolean> {
  let result: boolean | undefined;
  const settled = op.then(
    () => (result = true),
    () => (result = false),
  );
  for (let i = 0; i < MAX_ROUNDS && result === undefined; i++) {
    const room = conn.sys.poll([{ fd, events: PollEvent.POLLOUT }], FLUSH_STALL_MS).then(
      (r) => ((r.fds[0]?.revents ?? 0) & (PollEvent.POLLOUT | PollEvent.POLLERR | PollEvent.POLLHUP | PollEvent.POLLNVAL)) === PollEvent.POLLOUT,
      () => false,
    );
    const why = await Promise.race([settled.then(() => 'done' as const), room.then((ok) => (ok ? ('room' as const) : ('full' as const)))]);
    if (why === 'done' || result !== undefined) break;
    if (why === 'full') return false;
    // Room in the buffer: the send is moving. Let it, then look again.
    await Promise.race([settled, new Promise((r) => setTimeout(r, 5))]);
  }
  return result === true;
}
