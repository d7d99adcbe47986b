/**
 * The server's resource limits from its configuration: the session limits
 * each client lives under, the cluster quota its sockets are charged to, and
 * the session cap — kept below the process's descriptor limit so that the
 * last descriptors stay free for the server itself (accepting and refusing,
 * logs, the tap). docs/ARCHITECTURE.md "Resource limits" says why each
 * default is what it is.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { QuotaConfig, ServerConfig } from './config.js';
import type { ServerLogger } from './log.js';
import type { SessionLimits } from './session/index.js';
import { MSIZE, type SbAccount } from './stackapi.js';

/**
 * Descriptors kept free below `RLIMIT_NOFILE` beside one per session: the
 * listener, stdio, the log, a tap or bus and its pcap file, the epoll and
 * event descriptors Node itself holds, and a connection being refused.
 */
export const FD_HEADROOM = 64;

/** The session limits that `config.quota` sets. */
export function sessionLimitsOf(q: QuotaConfig): Partial<SessionLimits> {
  return {
    maxClientFrame: q.maxClientFrame,
    maxInFlight: q.maxInFlight,
    maxBufferedBytes: q.maxQueuedBytes,
    replyBackpressureBytes: q.replyBackpressureBytes,
    maxWriteBufferedBytes: q.maxReplyBytes,
    copyinTimeoutMs: q.copyinTimeoutMs,
    maxCopyins: q.maxCopyins,
    handshakeTimeoutMs: q.handshakeTimeoutMs,
    frameTimeoutMs: q.frameTimeoutMs,
  };
}

/**
 * One client's cluster quota in bytes of socket-buffer storage: the clusters
 * of `--client-clusters` (default {@link defaultClientClusters}) at
 * MCLBYTES + MSIZE each, the way `sb_mbcnt` counts a full cluster.
 */
export function quotaBytes(cfg: Pick<ServerConfig, 'nmbclusters' | 'mclbytes' | 'quota'>): number {
  const clusters = cfg.quota.clientClusters ?? defaultClientClusters(cfg.nmbclusters);
  return clusters * (cfg.mclbytes + MSIZE);
}

/**
 * The default cluster quota of one client: a sixteenth of the pool (1024
 * clusters, 2 MiB of data at the default 16 384 × 2048), at least 64. Four
 * clients that hold all they may — the attacks of issue 10 came four at a
 * time — still leave three quarters of the pool to everyone else, while one
 * client's bulk transfer needs far less (two 64 KiB socket buffers are
 * about 60 clusters).
 */
export function defaultClientClusters(nmbclusters: number): number {
  return Math.max(64, Math.floor(nmbclusters / 16));
}

/** The soft `RLIMIT_NOFILE` of this process (from /proc/self/limits), or undefined when it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line === undefined ? null : /^Max open files\s+(\d+|unlimited)/.exec(line);
    if (m === null || m[1] === 'unlimited') return undefined;
    return Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * The session cap in force: `asked`, lowered (with a warning) so that
 * sessions can never take the last {@link FD_HEADROOM} descriptors of the
 * process. Each session holds one descriptor (its socket); a connection
 * over the cap holds one only while its refusal is written.
 */
export function effectiveMaxSessions(asked: number, log: Pick<ServerLogger, 'warn'>, nofile = openFileLimit()): number {
  if (nofile === undefined) return asked;
  const room = Math.max(1, nofile - FD_HEADROOM);
  if (asked <= room) return asked;
  log.warn({ asked, rlimitNofile: nofile, maxSessions: room }, '--max-sessions lowered below the descriptor limit');
  return room;
}

/**
 * The limits one principal (a Unix user, or a TCP peer address; see
 * `SessionAuth.principal`) lives under over all its sessions together —
 * on top of each session's own quota, so that N cooperating sessions of one
 * user do not hold N quotas (FreeBSD charges socket buffers per uid,
 * `chgsbsize()` against `RLIMIT_SBSIZE`, and counts processes per uid,
 * `RLIMIT_NPROC`, for the same reason).
 */
export interface UserLimits {
  /** Socket-buffer storage over all its sessions, bytes (`--user-clusters` × (MCLBYTES + MSIZE)). */
  readonly clusterBytes: number;
  /** Descriptors over all its sessions (`--user-fds`; EMFILE beyond). */
  readonly fds: number;
  /** Sessions at once (`--user-sessions`; refused with `code: 'busy'` beyond). */
  readonly sessions: number;
  /** Shared-region bytes (§7a) mapped over all its sessions (`--user-shm`; further offers answered `ok: false`). */
  readonly shmBytes: number;
  /** Memory of requests queued behind `--max-in-flight` over all its sessions (`--user-queued-bytes`; the session passing it is disconnected). */
  readonly queuedBytes: number;
}

/**
 * The default share of one user: a quarter of each server-wide resource —
 * the pool (`--nmbclusters`), all descriptors (`--max-files`), all sessions
 * (`--max-sessions`) — and never less than one client's own quota. A
 * quarter keeps one user alone below the pool's pressure watermark (3/4,
 * where windows stop growing for everyone), so it cannot bring the stack
 * into pressure however many sessions it opens; it still lets a user run
 * four clients that each use their whole quota (1/16 of the pool each).
 */
export function userLimitsOf(
  cfg: Pick<ServerConfig, 'nmbclusters' | 'mclbytes' | 'maxFds' | 'quota' | 'shmMax' | 'shmTotal'>,
  maxSessions: number,
): UserLimits {
  const q = cfg.quota;
  const clientClusters = q.clientClusters ?? defaultClientClusters(cfg.nmbclusters);
  const clusters = q.userClusters ?? Math.max(clientClusters, Math.floor(cfg.nmbclusters / 4));
  return {
    clusterBytes: clusters * (cfg.mclbytes + MSIZE),
    fds: q.userFds ?? Math.max(cfg.maxFds, Math.floor(q.maxFiles / 4)),
    sessions: q.userSessions ?? Math.max(1, Math.floor(maxSessions / 4)),
    // The shared regions: --shm-total is the server's whole budget, and a
    // session costs nothing to open — without a share, one user's
    // --user-sessions sessions (64 × a 4 MiB region) map all 256 MiB of it.
    shmBytes: q.userShm ?? Math.max(cfg.shmMax ?? 0, Math.floor((cfg.shmTotal ?? 0) / 4)),
    // Requests queued in the server's memory: each session may queue
    // --max-queued-bytes, so 64 sessions of one user held 512 MiB; four
    // sessions' worth lets a user's four busiest clients queue fully.
    queuedBytes: q.userQueuedBytes ?? 4 * q.maxQueuedBytes,
  };
}

/** Something with a descriptor count (a client's descriptor table). */
interface HasFds {
  readonly table: { readonly size: number };
}

/** One principal's aggregate: its sessions, their storage and descriptors. */
export class UserUsage {
  /** Sessions open now (counted from accept until their close hooks ran). */
  sessions = 0;
  /** Socket-buffer storage over all its sessions' accounts, bytes (lingering sockets included). */
  used = 0;
  /** Sessions refused at `--user-sessions`, and calls refused at `--user-fds`, since it first came. */
  refusedSessions = 0;
  refusedFds = 0;
  /** Shared-region bytes mapped over its sessions now, and offers refused at `--user-shm` since it first came. */
  shm = 0;
  refusedShm = 0;
  /** Memory of requests queued over its sessions now, and sessions disconnected for passing `--user-queued-bytes`. */
  queued = 0;
  queueRefused = 0;
  /** The processes of its sessions, for the descriptor count. */
  readonly procs = new Set<HasFds>();

  constructor(
    /** `uid N`, `tcp ADDRESS` or `unknown` (see `SessionAuth.principal`). */
    readonly principal: string,
    /** Admin sessions: counted and shown, but held to no per-user limit. */
    readonly exempt: boolean,
    /** Its limits (every one Infinity when exempt). */
    readonly limits: UserLimits,
    private readonly release: (u: UserUsage) => void,
  ) {}

  /** Descriptors open over its sessions now. */
  get fds(): number {
    let n = 0;
    for (const p of this.procs) n += p.table.size;
    return n;
  }

  /** Forgets the entry once nothing is left: no session, no storage (a lingering socket may outlive its session). */
  settle(): void {
    if (this.sessions === 0 && this.used <= 0 && this.procs.size === 0 && this.shm === 0 && this.queued === 0) this.release(this);
  }
}

const UNLIMITED: UserLimits = { clusterBytes: Infinity, fds: Infinity, sessions: Infinity, shmBytes: Infinity, queuedBytes: Infinity };

/**
 * A user's share of queued-request memory as one session sees it (see
 * `ClientSession.shareQueue`): `add` counts bytes queued and says whether
 * the user is now past `--user-queued-bytes`; `sub` gives them back.
 */
export class UserQueueShare {
  constructor(private readonly u: UserUsage) {}

  /** Counts `bytes` queued; true when the user is now over its limit. */
  add(bytes: number): boolean {
    this.u.queued += bytes;
    return this.u.queued > this.u.limits.queuedBytes;
  }

  /** Gives back `bytes` queued (dispatched, or the session ended). */
  sub(bytes: number): void {
    this.u.queued -= bytes;
    if (this.u.queued <= 0) {
      this.u.queued = 0;
      this.u.settle();
    }
  }

  /** One of the user's sessions was disconnected for passing the user's limit. */
  refused(): void {
    this.u.queueRefused++;
  }
}

/**
 * One session's {@link SbAccount}, chained to its user's aggregate: every
 * change of `used` moves the user's too, and `limit` is the session's quota
 * or as much as the user has left, whichever is less. The stack reads only
 * `limit - used` (sockbuf.ts `accountRoom`, `space`), so a session whose
 * user is at `--user-clusters` gets ENOBUFS and advertises no window exactly
 * as at its own quota, and nothing in the stack knows about users.
 */
export class ClientAccount implements SbAccount {
  private own = 0;

  constructor(
    /** The session's own quota (`--client-clusters` in bytes). */
    readonly quota: number,
    /** Its user's aggregate. */
    readonly user: UserUsage,
  ) {}

  /** Storage charged to this session now, bytes. */
  get used(): number {
    return this.own;
  }
  set used(v: number) {
    this.user.used += v - this.own;
    this.own = v;
    if (v <= 0) this.user.settle();
  }

  /** The most this session may hold now: its quota, or what its user has left on top of what it holds. */
  get limit(): number {
    const room = this.user.limits.clusterBytes - this.user.used;
    return Math.min(this.quota, this.own + Math.max(0, room));
  }
}

/** Why a principal's new session is refused, or null to admit it. */
export interface UserRefusal {
  readonly reason: string;
  readonly limit: number;
}

/**
 * The per-user aggregates of one server: which principals have sessions,
 * what they hold together, and the checks against {@link UserLimits}.
 * Admin sessions (root, the server's uid, `--admin-group`, `--tcp-admin`)
 * are exempt: they are the operator, who must be able to inspect and halt a
 * server that users have filled — so they are counted under their own
 * entry (`uid 0 (admin)`) and held only to the per-session quotas.
 */
export class UserLedger {
  private readonly users = new Map<string, UserUsage>();

  constructor(
    /** The limits of every non-admin principal. */
    readonly limits: UserLimits,
  ) {}

  private keyOf(principal: string, exempt: boolean): string {
    return exempt ? `${principal} (admin)` : principal;
  }

  /** The entry of `principal` (made if new; it lives while it has sessions or storage). */
  entry(principal: string, exempt: boolean): UserUsage {
    const key = this.keyOf(principal, exempt);
    let u = this.users.get(key);
    if (u === undefined) {
      u = new UserUsage(principal, exempt, exempt ? UNLIMITED : this.limits, () => this.users.delete(key));
      this.users.set(key, u);
    }
    return u;
  }

  /**
   * Why a new session of `principal` is refused, or null to admit it: at
   * `--user-sessions` the connection is refused, the way `fork(2)` fails at
   * `RLIMIT_NPROC` — the user's own sessions go on, other users never notice.
   * The listener asks this and then {@link UserLedger.join}s in the same
   * turn, so no other connection slips in between.
   */
  refusal(principal: string, exempt: boolean): UserRefusal | null {
    const u = this.entry(principal, exempt);
    if (u.sessions < u.limits.sessions) return null;
    u.refusedSessions++;
    return {
      reason: `user limit: ${principal} has ${u.sessions} sessions open (the --user-sessions limit); close one and try again`,
      limit: u.limits.sessions,
    };
  }

  /** Counts a new session of `principal` whose process is `proc`; returns its user's entry. */
  join(principal: string, exempt: boolean, proc: HasFds): UserUsage {
    const u = this.entry(principal, exempt);
    u.sessions++;
    u.procs.add(proc);
    return u;
  }

  /** A session of `u` whose process is `proc` has closed (its close hooks ran). */
  leave(u: UserUsage, proc: HasFds): void {
    u.sessions--;
    u.procs.delete(proc);
    u.settle();
  }

  /** Why `u` may open no other descriptor (`--user-fds`), or undefined when it may. */
  fdsFull(u: UserUsage): string | undefined {
    if (u.fds < u.limits.fds) return undefined;
    u.refusedFds++;
    return `user limit: ${u.principal} has ${u.fds} descriptors open over its sessions (the --user-fds limit)`;
  }

  /**
   * Charges a shared region of `bytes` to `principal` (its session's offer,
   * §7a); why not when that would pass `--user-shm` (counted `refusedShm`).
   * The region is then refused as one over `--shm-total` is: that session
   * runs on the socket, the user's other sessions and other users go on.
   */
  chargeShm(principal: string, exempt: boolean, bytes: number): string | undefined {
    const u = this.entry(principal, exempt);
    if (u.shm + bytes <= u.limits.shmBytes) {
      u.shm += bytes;
      return undefined;
    }
    u.refusedShm++;
    const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    return `user limit: ${principal} has ${mib(u.shm)} of shared regions mapped over its sessions (the --user-shm limit, ${mib(u.limits.shmBytes)})`;
  }

  /** Gives back a region {@link UserLedger.chargeShm} charged (its session ended or unmapped it). */
  releaseShm(principal: string, exempt: boolean, bytes: number): void {
    const u = this.entry(principal, exempt);
    u.shm -= bytes;
    u.settle();
  }

  /** Every principal now, busiest (most storage) first. */
  list(): UserUsage[] {
    return [...this.users.values()].sort((a, b) => b.used - a.used || b.sessions - a.sessions);
  }

  /** Principals known now. */
  get size(): number {
    return this.users.size;
  }
}
