/**
 * Who may administer the server: the rump server's counterpart of NetBSD's
 * kauth check for `KAUTH_NETWORK_*` requests and of the Unix rule that only
 * root (or the owner) may reconfigure a kernel. A session is **admin** when
 * the process at the other end of its Unix socket is root, runs as the
 * server's own user, or belongs to one of the admin groups given at start
 * (`--admin-group`). The credentials are the kernel's record of the peer at
 * connect(2) (`SO_PEERCRED`, `SO_PEERGROUPS`), never what the client says in
 * its handshake. A TCP client has no credentials: it is admin only when the
 * server was started with `--tcp-admin`.
 *
 * Decided once, when the connection is accepted: a peer cannot gain or lose
 * rights later in the session (as with a file opened before a setuid()).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { peerCredOf, type PeerCred } from '@rumpnet/tap-bridge';

/** A group whose members are admin, with its name when it has one. */
export interface AdminGroup {
  readonly gid: number;
  readonly name: string | null;
}

/** What the server grants, fixed at start. */
export interface AdminPolicyOptions {
  /** The server's effective uid (default `process.geteuid()`): its own user is admin. */
  readonly serverUid?: number;
  /** Groups whose members are admin (`--admin-group`). */
  readonly groups?: readonly AdminGroup[];
  /** Treat TCP clients (which carry no credentials) as admin (`--tcp-admin`). Off by default. */
  readonly tcpAdmin?: boolean;
}

/** What a session may do, and why — decided at accept. */
export interface SessionAuth {
  /** How the client reached us. */
  readonly transport: 'unix' | 'tcp' | 'other';
  /** The peer's credentials at connect(2), or null (TCP, or the kernel would not say). */
  readonly cred: PeerCred | null;
  /** True when the session may halt, write sysctls, change the configuration and see every client. */
  readonly admin: boolean;
  /** One line saying why (for logs and `rumpctl clients`), e.g. `uid 0 (root)`. */
  readonly why: string;
  /**
   * The party the per-user limits (`--user-*`, quota.ts `UserLedger`)
   * add this session up with: `uid N` for a Unix peer (the kernel's record,
   * so one user's sessions are one principal whatever they claim), `tcp
   * ADDRESS` for a TCP peer (no credentials: its remote address is all we
   * know), `unknown` when neither is known.
   */
  readonly principal: string;
}

/** The rights of a session made without a policy decision (not admin). */
export const NO_AUTH: SessionAuth = { transport: 'other', cred: null, admin: false, why: 'no credentials', principal: 'unknown' };

/**
 * The supplementary groups of `pid` from `/proc/<pid>/status` (`Groups:`),
 * or null. Only a fallback for kernels without `SO_PEERGROUPS`: unlike the
 * socket's record this is read now, not at connect(2), so it races with the
 * peer's exit, a setgroups(2) and pid reuse — hence it is cross-checked
 * against the uid the kernel recorded, and consulted only when an admin
 * group is configured.
 */
export function procGroups(pid: number, uid: number): number[] | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(text);
  if (uids === null || Number(uids[2]) !== uid) return null; // not the process that connected
  const m = /^Groups:[ \t]*([\d \t]*)$/m.exec(text);
  if (m === null) return null;
  return m[1]!.trim() === '' ? [] : m[1]!.trim().split(/\s+/).map(Number);
}

/** The admin policy of one server. */
export class AdminPolicy {
  /** The server's effective uid. */
  readonly serverUid: number;
  /** Admin groups. */
  readonly groups: readonly AdminGroup[];
  /** TCP clients are admin. */
  readonly tcpAdmin: boolean;
  /** Calls refused since start because the caller was not admin (counted by the guard). */
  refusals = 0;

  constructor(opts: AdminPolicyOptions = {}) {
    this.serverUid = opts.serverUid ?? process.geteuid?.() ?? 0;
    this.groups = opts.groups ?? [];
    this.tcpAdmin = opts.tcpAdmin === true;
  }

  /** Who is admin, in words: `root, uid 1000, or group wheel (10)`. */
  describe(): string {
    const who = ['root'];
    if (this.serverUid !== 0) who.push(`uid ${this.serverUid}`);
    for (const g of this.groups) who.push(`group ${g.name === null ? g.gid : `${g.name} (${g.gid})`}`);
    const list = who.length === 1 ? who[0]! : `${who.slice(0, -1).join(', ')} or ${who.at(-1)!}`;
    return this.tcpAdmin ? `${list}; any tcp:// client (--tcp-admin)` : list;
  }

  /**
   * Decides the rights of a client from its credentials (null: none known)
   * on `transport`; `remoteAddress` names a TCP peer's principal.
   */
  decide(transport: SessionAuth['transport'], cred: PeerCred | null, credError?: string, remoteAddress?: string): SessionAuth {
    if (transport === 'tcp') {
      const principal = `tcp ${remoteAddress ?? 'unknown'}`;
      return { transport, cred: null, admin: this.tcpAdmin, why: this.tcpAdmin ? 'tcp client (--tcp-admin)' : 'tcp client: no credentials', principal };
    }
    if (cred === null) return { transport, cred: null, admin: false, why: `no peer credentials${credError ? `: ${credError}` : ''}`, principal: 'unknown' };
    const principal = `uid ${cred.uid}`;
    if (cred.uid === 0) return { transport, cred, admin: true, why: 'uid 0 (root)', principal };
    if (cred.uid === this.serverUid) return { transport, cred, admin: true, why: `uid ${cred.uid} (the server's)`, principal };
    if (this.groups.length > 0) {
      const groups = cred.groups ?? procGroups(cred.pid, cred.uid) ?? [];
      const g = this.groups.find((a) => a.gid === cred.gid || groups.includes(a.gid));
      if (g !== undefined) return { transport, cred, admin: true, why: `uid ${cred.uid} in group ${g.name ?? g.gid}`, principal };
    }
    return { transport, cred, admin: false, why: `uid ${cred.uid}`, principal };
  }

  /**
   * Decides the rights of an accepted connection: reads `SO_PEERCRED` on a
   * Unix socket (a failure to read them leaves the client without rights and
   * says why), none on TCP.
   */
  decideSocket(sock: Socket, transport: 'unix' | 'tcp'): SessionAuth {
    if (transport === 'tcp') return this.decide('tcp', null, undefined, sock.remoteAddress);
    try {
      return this.decide('unix', peerCredOf(sock));
    } catch (e) {
      return this.decide('unix', null, (e as Error).message);
    }
  }
}

/**
 * Resolves `--admin-group` values: a number is a gid as it stands; a name
 * is looked up in `/etc/group` (the file `getgrnam(3)` reads without NSS
 * modules). Throws an Error naming the group when it does not exist.
 */
export function resolveAdminGroup(v: string, groupFile = '/etc/group'): AdminGroup {
  let lines: string[] = [];
  try {
    lines = readFileSync(groupFile, 'utf8').split('\n');
  } catch {
    /* no group file: only numbers resolve */
  }
  const entries = lines.map((l) => l.split(':')).filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!));
  if (/^\d+$/.test(v)) {
    const gid = Number(v);
    if (gid > 0xfffffffe) throw new Error(`group id ${v} is out of range`);
    return { gid, name: entries.find((f) => Number(f[2]) === gid)?.[0] ?? null };
  }
  const e = entries.find((f) => f[0] === v);
  if (e === undefined) throw new Error(`no group named "${v}" in ${groupFile}`);
  return { gid: Number(e[2]), name: v };
}
