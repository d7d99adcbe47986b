/**
 * Which calls need an admin session, checked in one place before any
 * handler runs — as NetBSD asks kauth before `sysctl` writes, `SIOCAIFADDR`,
 * route changes and `reboot(2)`. Reading is open to every client (ifconfig,
 * route, arp, netstat, sysctl, ping, its own line of `clients`); changing
 * what every other client depends on is not.
 *
 * | call | needs admin when |
 * |---|---|
 * | `ctl.halt` | always |
 * | `ctl.sysctl` | `value` is given (a write) |
 * | `ctl.ifconfig` | `op` is `add`, `delete`, `up`, `down` or `mtu` |
 * | `ctl.route`, `ctl.arp` | `op` is `add` or `delete` |
 * | `socket` | `type` is `raw` (a raw socket forges any packet: `KAUTH_REQ_NETWORK_SOCKET_RAWSOCK`) |
 *
 * `ctl.clients` (and any listing of clients in {@link OWN_ROWS_ONLY}) is not
 * refused: a non-admin gets only its own row, and `hidden` counts the others.
 *
 * @module
 */
import { Errno, StackError } from '@rumpnet/stack';
import type { ClientSession, SyscallHandlers } from '../session/index.js';
import type { AdminPolicy } from '../session/index.js';

/**
 * What call `name` with `args` would do that needs admin (e.g.
 * `'sysctl write'`), or undefined when any client may make it.
 */
export function privilegeNeeded(name: string, args: Readonly<Record<string, unknown>>): string | undefined {
  const op = args.op;
  const changes = op !== undefined && op !== 'show';
  switch (name) {
    case 'ctl.halt':
      return 'halt';
    case 'ctl.sysctl':
      return args.value !== undefined ? 'sysctl write' : undefined;
    case 'ctl.ifconfig':
    case 'ctl.route':
    case 'ctl.arp':
      return changes ? `${name.slice(4)} ${String(op)}` : undefined;
    case 'socket':
      return args.type === 'raw' ? 'raw socket' : undefined;
    default:
      return undefined;
  }
}

/**
 * Calls whose result lists clients (`clients: [{ session, ... }]`): a
 * non-admin's reply keeps only the caller's own row.
 */
export const OWN_ROWS_ONLY: ReadonlySet<string> = new Set(['ctl.clients', 'ctl.usage']);

/** `result` with its `clients` rows cut to `session`'s own, and `hidden` counting the rest. */
export function ownRowsOnly(result: unknown, session: ClientSession): unknown {
  const r = result as { clients?: unknown } | null;
  if (r === null || typeof r !== 'object' || !Array.isArray(r.clients)) return result;
  const mine = r.clients.filter((c) => (c as { session?: unknown } | null)?.session === session.id);
  const hidden = r.clients.length - mine.length;
  return hidden > 0 ? { ...r, clients: mine, hidden } : result;
}

/** An EPERM whose `reason` the session sends with the errno, for the user to read. */
export class AdminRequired extends StackError {
  /** Why, in one line (sent to the client beside the errno). */
  readonly reason: string;
  constructor(what: string, policy: AdminPolicy, session: ClientSession) {
    const reason = `${what} needs admin: ${policy.describe()}; this client is ${session.auth.why}`;
    super(Errno.EPERM, reason);
    this.reason = reason;
  }
}

/** Where refusals are logged (pino's logger fits). */
export interface RefusalLog {
  warn(obj: object, msg: string): void;
}

/**
 * Wraps every handler of `handlers` with the admin check: a call
 * {@link privilegeNeeded} names, made by a session that is not admin, is
 * refused with EPERM ({@link AdminRequired}) and logged; the handler never
 * runs. A non-admin's listing of clients is cut to its own row
 * ({@link OWN_ROWS_ONLY}).
 */
export function guardHandlers(handlers: SyscallHandlers, policy: AdminPolicy, log: RefusalLog): SyscallHandlers {
  const out: Record<string, SyscallHandlers[string]> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    out[name] = (session, args, ctx) => {
      if (!session.auth.admin) {
        const what = privilegeNeeded(name, (args ?? {}) as Record<string, unknown>);
        if (what !== undefined) {
          policy.refusals++;
          log.warn(
            { session: session.id, peer: session.peer, cred: session.auth.cred, call: name, what, why: session.auth.why },
            'refused: needs admin',
          );
          return Promise.reject(new AdminRequired(what, policy, session));
        }
      }
      const result = handler(session, args, ctx);
      return session.auth.admin || !OWN_ROWS_ONLY.has(name) ? result : Promise.resolve(result).then((r) => ownRowsOnly(r, session));
    };
  }
  return out;
}
