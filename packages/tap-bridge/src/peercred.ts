/**
 * The credentials of the process at the other end of a Unix domain stream
 * socket (`SO_PEERCRED`, and `SO_PEERGROUPS` for its supplementary groups),
 * read by the addon: Node has no getsockopt. The rump server decides who may
 * administer it from these (docs/PROTOCOL.md, "Who may call what").
 *
 * The kernel records them when the peer calls connect(2), so they describe
 * the process as it was then — a peer that exits, changes its ids or hands
 * the descriptor to another process afterwards cannot change them. That is
 * the moment an access decision wants, and nothing here reads `/proc`, which
 * would race with the peer's exit and pid reuse.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { TapError, call, native } from './native.js';

/** A peer's credentials as the kernel recorded them at connect(2). */
export interface PeerCred {
  /** The peer's process id then (0 if it was in another pid namespace the kernel cannot map). */
  readonly pid: number;
  /** Its effective user id. */
  readonly uid: number;
  /** Its effective group id. */
  readonly gid: number;
  /**
   * Its supplementary groups (`SO_PEERGROUPS`, Linux 4.13 and later), or
   * null when the kernel cannot say.
   */
  readonly groups: readonly number[] | null;
}

/**
 * The credentials of the peer of Unix domain socket `fd`.
 *
 * @throws TapError `ENOTSUP` when `fd` is not a Unix domain socket (TCP peers
 * carry no credentials), `EBADF`/`ENOTSOCK` for a bad descriptor; Error when
 * the addon is not built.
 */
export function peerCred(fd: number): PeerCred {
  return call(() => native().peerCred(fd));
}

/**
 * The file descriptor under a connected `net.Socket` (libuv's `Pipe` or
 * `TCP` handle exposes it on Unix as `_handle.fd`).
 *
 * @throws TapError `EBADF` when the socket has no descriptor (destroyed, not
 * yet connected, or a platform where libuv hides it).
 */
export function socketFd(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new TapError('the socket has no file descriptor (destroyed, or the platform hides it)', 'EBADF', -9, 'getsockopt');
  }
  return fd;
}

/**
 * {@link peerCred} of a connected `net.Socket` on a Unix domain socket.
 *
 * @throws TapError as {@link peerCred} and {@link socketFd}.
 */
export function peerCredOf(sock: Socket): PeerCred {
  return peerCred(socketFd(sock));
}
