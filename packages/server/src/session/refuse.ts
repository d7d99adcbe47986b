/**
 * Turning a client away before its session starts: the server is at its
 * session cap. The refusal is a protocol-level answer, not a silent close —
 * the banner (so a client knows it reached a rump server) and then a
 * connection-level ERROR frame (reqno 0, docs/PROTOCOL.md §5) saying why —
 * and it is over at once: written and closed in the same turn, so refused
 * connections never hold descriptors the server needs.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { MsgClass, MsgType, PROTOCOL_VERSION, encodeFrame, makeBanner } from '../proto/index.js';

/** How long a refused socket may take to flush its refusal before it is destroyed anyway. */
const REFUSE_LINGER_MS = 200;

/** The head of the ERROR frame a refused client reads (`code: 'busy'`). */
export interface Refusal {
  readonly reason: string;
  readonly code: 'busy';
  /** The cap that was reached (`--max-sessions`, or `--user-sessions` when `limit` says so). */
  readonly maxSessions: number;
  /** Which limit: absent for the server-wide cap, `user-sessions` for the per-user one. */
  readonly limit?: 'user-sessions';
  /** The principal refused at its per-user limit (`uid 65534`, `tcp 127.0.0.1`). */
  readonly user?: string;
}

/**
 * Writes the banner and an ERROR frame with `refusal` to `sock`, then closes
 * it: destroyed as soon as the bytes are written (they fit the kernel's
 * socket buffer, so that is at once), and after {@link REFUSE_LINGER_MS} at
 * the latest. Never throws.
 */
export function refuseConnection(sock: Socket, software: string, refusal: Refusal): void {
  const done = (): void => void sock.destroy();
  sock.on('error', done);
  const t = setTimeout(done, REFUSE_LINGER_MS);
  t.unref();
  try {
    sock.cork();
    sock.write(makeBanner(PROTOCOL_VERSION, software));
    sock.end(encodeFrame(MsgClass.ERROR, MsgType.HANDSHAKE, 0, refusal), () => {
      clearTimeout(t);
      done();
    });
  } catch {
    done();
  }
}
