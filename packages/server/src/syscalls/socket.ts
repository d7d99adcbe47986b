/**
 * The socket system calls of the protocol contract, served from the
 * calling client's own descriptor table (`uipc_syscalls.c`: `sys_socket`,
 * `sys_bind`, ..., `sys_sendto`, `sys_recvfrom`).
 *
 * Data never travels in the request: a send builds a `uio` over the
 * client's buffer handle and hands the session's {@link CopySource} to
 * `sosend`, so each copy the socket layer makes — one per cluster at
 * MCLNUM 1, one per extended cluster at MCLNUM N (`fillFromUio`) — becomes
 * exactly one COPYIN request to the client. A receive hands the session's
 * sink to `soreceive`, which makes one COPYOUT per mbuf (NetBSD) or one per
 * call (coalesced), as the server's receive mode says.
 *
 * Errors: every failure is an errno (thrown as a StackError, which the
 * session turns into `{errno}`); nothing a client sends makes a handler
 * throw anything else.
 *
 * @module
 */
import { EWOULDBLOCK, Errno, StackError, makeUio } from '@rumpnet/stack';
import type { ClientSession, RxMode, SyscallContext, SyscallHandler } from '../session/index.js';
import type { SyscallArgs, SyscallResults } from '../proto/index.js';
import { MSIZE, SOCK_NONBLOCK } from '../stackapi.js';
import { abortable, type ClientProcess, type ProcessTable } from './process.js';
import { recvStream } from './rxstream.js';
import {
  sockDomain,
  check,
  fail,
  fromSockaddr,
  optLevel,
  optName,
  optValueIn,
  optValueOut,
  shutHow,
  sockType,
  toSockaddr,
} from './convert.js';

type Handler<K extends keyof SyscallArgs> = SyscallHandler<SyscallArgs[K], SyscallResults[K]>;

/** The socket syscall handlers, by wire name. */
export type SocketHandlers = { [K in SocketCall]: Handler<K> };

/** Names of the socket system calls (everything but the `ctl.*` calls). */
export type SocketCall = Exclude<keyof SyscallArgs, `ctl.${string}`>;

/** What the handlers need from the server. */
export interface SocketCallEnv extends ProcessTable {
  /** How receive data goes back: one COPYOUT per mbuf, or one per call. */
  readonly rxMode: RxMode;
  /** Most descriptors over all clients (`--max-files`): `socket` and `accept` fail with ENFILE at it. */
  readonly maxFiles?: number;
  /** Descriptors open over all clients now (needed with `maxFiles`). */
  openFiles?(): number;
  /** Why the caller's user may open no other descriptor (`--user-fds`, quota.ts), or undefined. */
  userFilesFull?(p: ClientProcess): string | undefined;
  /** `MCLBYTES`, for charging inline bytes as the clusters a COPYIN would pin (default 2048). */
  readonly mclbytes?: number;
}

/** Quota charge of `n` inline bytes: the clusters (and their mbufs) a COPYIN of them would pin. */
function chargeOf(n: number, mclbytes: number): number {
  return Math.max(1, Math.ceil(n / mclbytes)) * (mclbytes + MSIZE);
}

/**
 * Builds the socket syscall handlers over `env`'s process table.
 * Each handler finds the caller's process (EBADF if it has gone) and calls
 * its descriptor table.
 */
export function socketHandlers(env: SocketCallEnv): SocketHandlers {
  const proc = (session: ClientSession): ClientProcess => env.processOf(session) ?? fail(Errno.EBADF, 'no process for session');

  /** ENFILE when the system-wide descriptor cap is reached (`falloc` failing on `maxfiles`). */
  const checkFiles = (p: ClientProcess): void => {
    if (env.maxFiles !== undefined && env.openFiles !== undefined && env.openFiles() >= env.maxFiles) {
      fail(Errno.ENFILE, `${env.maxFiles} descriptors open over all clients`);
    }
    // Per user, EMFILE as at RLIMIT_NOFILE: the limit is the caller's own, not the system's.
    // The reason travels to the client (session.ts withReason), so it can say which limit it hit.
    const user = env.userFilesFull?.(p);
    if (user !== undefined) throw Object.assign(new StackError(Errno.EMFILE, user), { reason: user });
  };

  /**
   * A descriptor made for a client whose session closed while the call ran
   * (its close hook already emptied the table) is closed again at once, so
   * nothing outlives its process.
   */
  const adopt = async (p: ClientProcess, fd: number): Promise<number> => {
    if (p.session.isClosed) {
      await p.table.close(fd);
      fail(Errno.ECONNABORTED, 'client gone');
    }
    return fd;
  };

  return {
    async socket(session, a) {
      const p = proc(session);
      checkFiles(p);
      const r = p.table.socket(sockDomain(a.domain), sockType(a.type) | (a.nonblock ? SOCK_NONBLOCK : 0), a.protocol ?? 0);
      check(r.errno);
      return { fd: await adopt(p, r.fd) };
    },

    async bind(session, a) {
      check(proc(session).table.bind(a.fd, toSockaddr(a.addr)));
      return {};
    },

    async listen(session, a) {
      check(proc(session).table.listen(a.fd, a.backlog));
      return {};
    },

    async accept(session, a) {
      const p = proc(session);
      checkFiles(p);
      // A one-shot non-blocking accept: nothing queued now is EAGAIN, whatever the listener's mode.
      const so = p.table.get(a.fd);
      if (a.nonblock && so !== null && so.listening && so.q.length === 0 && so.error === 0 && !so.closed) fail(EWOULDBLOCK);
      const r = await p.table.accept(a.fd, 0);
      check(r.errno);
      return { fd: await adopt(p, r.fd), addr: fromSockaddr(r.addr) };
    },

    async connect(session, a) {
      check(await proc(session).table.connect(a.fd, toSockaddr(a.addr)));
      return {};
    },

    async sendto(session, a, ctx: SyscallContext) {
      const p = proc(session);
      const inline = ctx.inline;
      // A buffer handle (COPYIN) or the bytes inline with the request, exactly `len` of them.
      if (inline === undefined && a.buf === undefined) fail(Errno.EINVAL, 'sendto: no buffer handle and no inline bytes');
      if (inline !== undefined && (a.buf !== undefined || inline.length !== a.len)) {
        fail(Errno.EINVAL, `sendto: ${inline.length} inline bytes for len ${a.len}${a.buf !== undefined ? ' and a buffer handle' : ''}`);
      }
      // The uio spans the client's whole buffer [0, len); the source turns
      // each copy sosend makes into one COPYIN request — or, inline, into a
      // copy from the request's bytes (a request avoided).
      const uio = makeUio([{ base: 0, len: a.len }], 'write');
      const addr = a.addr === undefined || a.addr === null ? null : toSockaddr(a.addr);
      // Inline bytes are held like clusters pinned by a COPYIN: charged to the
      // client's quota while the call runs (ENOBUFS when it has no room).
      const charge = inline === undefined ? 0 : chargeOf(inline.length, env.mclbytes ?? 2048);
      if (charge > 0) {
        if (p.account.used + charge > p.account.limit) fail(Errno.ENOBUFS, `inline send: quota of ${p.account.limit} bytes in use`);
        p.account.used += charge;
      }
      try {
        const source = inline === undefined ? ctx.copySource(a.buf!) : ctx.inlineSource();
        const r = await p.table.sendto(a.fd, uio, source, addr, a.flags ?? 0);
        check(r.errno);
        // A posted send cannot report a short count: it sends the rest, as a
        // blocking write does (bounded: each pass moves a byte or fails).
        let sent = r.bytes;
        while (ctx.posted === true && sent > 0 && sent < a.len) {
          const more = await p.table.sendto(a.fd, makeUio([{ base: sent, len: a.len - sent }], 'write'), source, addr, a.flags ?? 0);
          check(more.errno);
          if (more.bytes <= 0) fail(Errno.EIO, 'posted send made no progress');
          sent += more.bytes;
        }
        return { bytes: sent };
      } finally {
        p.account.used -= charge;
      }
    },

    async recvfrom(session, a, ctx: SyscallContext) {
      const p = proc(session);
      const uio = makeUio([{ base: 0, len: a.len }], 'read');
      // Up to the inline receive limit the bytes are held for the RESP instead
      // of COPYOUTed, charged to the client's quota like inline send bytes; a
      // client without room gets them by COPYOUT, as before (never ENOBUFS).
      let charged = 0;
      const hold = {
        grow: (total: number): boolean => {
          const want = total === 0 ? 0 : chargeOf(total, env.mclbytes ?? 2048);
          if (want > charged && p.account.used + (want - charged) > p.account.limit) return false;
          p.account.used += want - charged;
          charged = want;
          return true;
        },
        release: (): void => {
          p.account.used -= charged;
          charged = 0;
        },
      };
      const r = await p.table.recvfrom(a.fd, uio, ctx.receiveSink(a.buf, hold), a.flags ?? 0, env.rxMode === 'coalesced');
      check(r.errno);
      return {
        bytes: r.bytes,
        ...(r.addr !== null ? { addr: fromSockaddr(r.addr) } : {}),
        ...(r.flags !== 0 ? { flags: r.flags } : {}),
      };
    },

    recvstream: recvStream(proc),

    // Synchronous: answered before the peer's reads its FIN ends (see SyscallHandler).
    shutdown(session, a) {
      check(proc(session).table.shutdown(a.fd, shutHow(a.how)));
      return {};
    },

    async close(session, a) {
      check(await proc(session).table.close(a.fd));
      // A streamed receive waiting for window on this descriptor ends now (EBADF), not at its recheck.
      session.ringBell();
      return {};
    },

    async setsockopt(session, a) {
      const t = proc(session).table;
      check(t.setsockopt(a.fd, optLevel(a.level), optName(a.level, a.name), optValueIn(a.name, a.value)));
      return {};
    },

    async getsockopt(session, a) {
      const t = proc(session).table;
      const r = t.getsockopt(a.fd, optLevel(a.level), optName(a.level, a.name));
      check(r.errno);
      return { value: optValueOut(r.value, a.name) };
    },

    async getsockname(session, a) {
      const r = proc(session).table.getsockname(a.fd);
      check(r.errno);
      return { addr: fromSockaddr(r.addr) };
    },

    async getpeername(session, a) {
      const r = proc(session).table.getpeername(a.fd);
      check(r.errno);
      return { addr: fromSockaddr(r.addr) };
    },

    async poll(session, a, ctx: SyscallContext) {
      const t = proc(session).table;
      // Sockets closed by the client's departure wake poll by themselves
      // (POLLNVAL); the race covers a poll on nothing but a timeout.
      const r = await abortable(t.poll(a.fds, a.timeout), ctx.signal);
      check(r.errno);
      return { ready: r.nready, fds: a.fds.map((f, i) => ({ fd: f.fd, revents: r.revents[i] ?? 0 })) };
    },
  };
}
