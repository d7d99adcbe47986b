/**
 * `ctl.usage` (`rumpctl usage`): every client's use of its quotas — the
 * clusters its sockets hold, its descriptors, copies in flight, replies
 * queued to it, a half-received frame — beside the limits in force, so an
 * operator can see who is near a limit before anyone hits it. Kept apart
 * from the other control calls (ctl/handlers.ts): it reads the accounting
 * the quotas keep and nothing else. Like `ctl.clients`, a session that is
 * not admin sees only its own row (`hidden` counts the others).
 *
 * @module
 */
import type { CtlUsageClient, CtlUsageResult, CtlUsageServer, CtlUsageUser } from '../proto/index.js';
import { ClientAccount, type UserUsage } from '../quota.js';
import { packHead } from '../proto/index.js';
import type { SessionLimits, SyscallHandler } from '../session/index.js';
import type { ClientProcess } from '../syscalls/process.js';
import { clientPage } from './listing.js';
import type { SliceRunner } from './slices.js';

/** The server-wide part of `ctl.usage` (the server fills it from its configuration and state). */
export type UsageServerInfo = Omit<CtlUsageServer, 'limits'> & { limits: SessionLimits };

/** What `ctl.usage` reads. */
export interface UsageEnv {
  /** Every client process now. */
  processes(): readonly ClientProcess[];
  /** The limits in force and the server's totals. */
  server(): UsageServerInfo;
  /** Every user's aggregate now (quota.ts); without it, no `users` rows. */
  users?(): readonly UserUsage[];
  /** Where the page is built (listing.ts, slices.ts); without one, in the caller's turn. */
  readonly runner?: SliceRunner;
}

/** One client's row of `ctl.usage`. */
export function usageOf(p: ClientProcess): CtlUsageClient {
  const u = p.session.usage();
  const k = p.session.counters;
  return {
    session: p.session.id,
    user: p.session.auth.principal,
    pid: p.session.peer?.pid ?? null,
    name: p.session.peer?.name ?? null,
    clusterBytes: Math.max(0, p.account.used),
    // The session's own quota; what its user has left is on the user's row.
    quotaBytes: p.account instanceof ClientAccount ? p.account.quota : p.account.limit,
    fds: p.table.size,
    copyinsInFlight: u.copyinsInFlight,
    copyinsWaiting: u.copyinsWaiting,
    replyBytes: u.replyBytes,
    replyFrames: u.replyFrames,
    inFlight: u.inFlight,
    streams: u.streams,
    queuedRequests: u.queuedRequests,
    queuedRequestBytes: u.queuedRequestBytes,
    partialFrameBytes: u.partialFrameBytes,
    backpressure: u.backpressure,
    framesIn: k.framesIn,
    framesOut: k.framesOut,
    backpressured: k.backpressured,
    shmBytes: u.shmBytes,
  };
}

/** Most per-user rows one `ctl.usage` reply carries (about 200 bytes each: well inside one head). */
export const MAX_USER_ROWS = 100;

/** One user's row of `ctl.usage`: its sessions together against the `--user-*` limits (null: exempt). */
export function userRowOf(u: UserUsage): CtlUsageUser {
  const lim = (n: number): number | null => (Number.isFinite(n) ? n : null);
  return {
    user: u.principal,
    exempt: u.exempt,
    sessions: u.sessions,
    clusterBytes: Math.max(0, u.used),
    quotaBytes: lim(u.limits.clusterBytes),
    fds: u.fds,
    maxFds: lim(u.limits.fds),
    maxSessions: lim(u.limits.sessions),
    refusedSessions: u.refusedSessions,
    refusedFds: u.refusedFds,
    shmBytes: u.shm,
    maxShmBytes: lim(u.limits.shmBytes),
    refusedShm: u.refusedShm,
    queuedBytes: u.queued,
    maxQueuedBytes: lim(u.limits.queuedBytes),
    queueRefused: u.queueRefused,
  };
}

/** The `ctl.usage` handler. */
export function usageHandlers(env: UsageEnv): { 'ctl.usage': SyscallHandler<{ cursor?: string; limit?: number }, CtlUsageResult> } {
  return {
    async 'ctl.usage'(session, a, ctx) {
      const s = env.server();
      // As ctl.clients: other clients' details are for admins; anyone sees itself.
      const all = env.processes();
      const mine = session.auth.admin ? all : all.filter((p) => p.session === session);
      const hidden = all.length - mine.length;
      // The per-user rows on the first page, busiest first and at most
      // MAX_USER_ROWS of them (they share the head with the page); a non-admin sees its own.
      const users = a.cursor !== undefined ? undefined : env.users?.()
        .filter((u) => session.auth.admin || (u.principal === session.auth.principal && u.exempt === session.auth.admin))
        .slice(0, MAX_USER_ROWS)
        .map(userRowOf);
      const server = { ...s, limits: { ...s.limits } as unknown as Record<string, number> };
      // Paged as ctl.clients: 256 rows of usage do not fit one 64 KiB head.
      const job = () => clientPage(mine, usageOf, a.cursor, a.limit, packHead({ server, users }).length);
      let page;
      if (env.runner !== undefined) page = await env.runner.run(session, job, ctx.signal);
      else for (const it = job(); ; ) {
        const r = it.next();
        if (r.done) {
          page = r.value;
          break;
        }
      }
      return {
        server,
        clients: page.rows,
        ...(users !== undefined ? { users } : {}),
        ...(hidden > 0 ? { hidden } : {}),
        ...(page.next !== undefined ? { next: page.next, total: page.total } : {}),
      };
    },
  };
}
