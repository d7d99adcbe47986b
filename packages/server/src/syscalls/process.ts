/**
 * "Each client is a process": the server's view of one rump client — its
 * protocol session and its own descriptor table (`struct filedesc` of a
 * NetBSD process; the rump server gives each remote client its own process
 * context in `rumpuser_sp.c`). A descriptor number means something only in
 * its own table, so another client's numbers are EBADF here.
 *
 * @module
 */
import type { ClientSession } from '../session/index.js';
import type { SbAccount, SocketTable } from '../stackapi.js';

/** One rump client as a process of the server. */
export interface ClientProcess {
  /** The protocol session (counters, copies, close hooks). */
  readonly session: ClientSession;
  /** Its descriptor table; closed (`closeAll`) when the session ends. */
  readonly table: SocketTable;
  /** When the client connected (ms since the epoch, wall clock). */
  readonly since: number;
  /**
   * The cluster quota its sockets are charged to (`--client-clusters`):
   * buffer storage and clusters pinned by copies in flight, in bytes of
   * `sb_mbcnt` (MCLBYTES + MSIZE per cluster). Outlives the session while
   * its sockets linger (a TCP close finishing), until they are freed.
   */
  readonly account: SbAccount;
}

/** Looks up the process of a session; the syscall handlers' only way to a descriptor table. */
export interface ProcessTable {
  /** The process of `session`, or undefined once it has gone. */
  processOf(session: ClientSession): ClientProcess | undefined;
}

/** Races `p` against `signal`: rejects with the signal's reason (an ECONNABORTED StackError) when it fires first. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}
