/**
 * Paged listings for `netstat -an` and `arp -an`, built in bounded units
 * for the {@link SliceRunner}. A page is what one reply head can carry
 * (MAX_HEAD, 64 KiB: about 570 socket rows) or `limit` rows, whichever is
 * less; the reply's `next` cursor names where the following page starts,
 * and `rumpctl` asks until there is none.
 *
 * Cursors are keys, not offsets, where the list has keys: socket ids only
 * grow (the socket layer numbers sockets as it creates them, `so.id`), so
 * "after socket 4711" stays right when sockets come and go between pages —
 * a row is never shown twice and a socket alive through the whole walk is
 * never missed. TCP connections that outlived their socket (TIME-WAIT,
 * LAST-ACK: no id) come after the sockets, by position; so do ARP entries.
 * Cursor text: `s<id>` (after that socket), `t<n>` (after n socketless
 * connections), `a<n>` (after n ARP entries), `c<session>` (after that
 * client: session numbers only grow too).
 *
 * @module
 */
import { Errno, type TcpConnInfo } from '@rumpnet/stack';
import type { CtlArpEntry, CtlClient, CtlSocket } from '../proto/index.js';
import { CTL_ROWS_DEFAULT, MAX_HEAD, packHead } from '../proto/index.js';
import { fail, fromSockaddr } from '../syscalls/convert.js';
import { SS, ipToString, type Socket, type SocketLayer, type Stack } from '../stackapi.js';
import type { ClientProcess } from '../syscalls/process.js';
import type { SliceJob } from './slices.js';

/** Bytes a page's rows may take: MAX_HEAD less room for the envelope (`result`, `next`, `total`, ...). */
export const PAGE_HEAD_BUDGET = MAX_HEAD - 512;
/** Sockets (or descriptors) looked at per unit of work. */
const SCAN_UNIT = 4096;
/** Rows built (and measured) per unit of work. */
const ROW_UNIT = 64;

/** One page of a listing. */
export interface Page<R> {
  readonly rows: R[];
  /** Where the next page starts; absent on the last page. */
  readonly next?: string;
  /** Rows in the whole listing when the page was made. */
  readonly total: number;
}

/** Parses a listing cursor (`s123`, `t4`, `a9`); EINVAL for anything else. */
export function parseCursor(cursor: string | undefined, kinds: string): { kind: string; n: number } | undefined {
  if (cursor === undefined) return undefined;
  const m = /^([a-z])(\d{1,15})$/.exec(cursor);
  if (m === null || !kinds.includes(m[1]!)) fail(Errno.EINVAL, `bad listing cursor "${cursor.slice(0, 32)}"`);
  return { kind: m[1]!, n: Number(m[2]) };
}

/** Bytes one row adds to a packed array of rows (msgpack arrays are their elements back to back). */
function rowBytes(row: unknown): number {
  return packHead(row).length;
}

/** A TCP connection's state name, if the socket's protocol keeps one (duck-typed: TCP is optional). */
export function socketState(so: Socket): string {
  if (so.listening) return 'LISTEN';
  const ppcb = (so.pcb as { ppcb?: unknown } | null)?.ppcb as { stateName?: unknown } | null | undefined;
  if (ppcb && typeof ppcb.stateName === 'string') return ppcb.stateName;
  if ((so.state & SS.ISCONNECTED) !== 0) return 'CONNECTED';
  if ((so.state & SS.ISCONNECTING) !== 0) return 'CONNECTING';
  return '';
}

/** The `netstat -an` row of a live socket. */
export function socketRow(so: Socket, owner: { session: number; fd: number } | undefined): CtlSocket {
  const u = so.proto.usrreqs;
  const closed = so.pcb === null;
  const peer = closed ? null : u.peeraddr(so);
  return {
    id: so.id,
    proto: so.proto.name,
    recvQ: so.rcv.cc,
    sendQ: so.snd.cc,
    local: fromSockaddr(closed ? null : u.sockaddr(so)),
    foreign: peer === null ? null : fromSockaddr(peer),
    state: socketState(so),
    session: owner?.session ?? null,
    fd: owner?.fd ?? null,
  };
}

/** The `netstat -an` row of a TCP connection without a socket (id 0, no owner). */
export function connRow(c: TcpConnInfo): CtlSocket {
  // The stack's address type is a u32 for IPv4 and an Ip6Address for IPv6.
  const family = typeof c.laddr === 'number' ? 'inet' : 'inet6';
  return {
    id: 0,
    proto: 'tcp',
    recvQ: c.rcvQ,
    sendQ: c.sndQ,
    local: { family, address: ipToString(c.laddr), port: c.lport },
    foreign: { family, address: ipToString(c.faddr), port: c.fport },
    state: c.state,
    session: null,
    fd: null,
  };
}

/** What a socket page reads. */
export interface SocketPageEnv {
  readonly layer: SocketLayer;
  readonly tcp?: { connections(): TcpConnInfo[] };
  processes(): readonly ClientProcess[];
}

/**
 * One page of `netstat -an` after `cursor`, at most `limit` rows (default
 * {@link CTL_ROWS_DEFAULT}) and {@link PAGE_HEAD_BUDGET} bytes, as a job of
 * bounded units: the socket scan, the owner lookup and the row building each
 * step a few thousand items or a few dozen rows at a time.
 */
export function* socketPage(env: SocketPageEnv, cursor: string | undefined, limit = CTL_ROWS_DEFAULT): SliceJob<Page<CtlSocket>> {
  const at = parseCursor(cursor, 'st');
  const rows: CtlSocket[] = [];
  let bytes = 0;
  const fits = (row: CtlSocket): boolean => {
    const b = rowBytes(row);
    if (rows.length >= limit || bytes + b > PAGE_HEAD_BUDGET) return false;
    rows.push(row);
    bytes += b;
    return true;
  };
  const live = env.layer.count;
  let socketless: TcpConnInfo[] | undefined;
  const conns = (): TcpConnInfo[] => (socketless ??= (env.tcp?.connections() ?? []).filter((c) => !c.hasSocket));

  if (at === undefined || at.kind === 's') {
    const after = at?.n ?? 0;
    // The live set is kept in creation order, which is id order; sort only if that ever stops being true.
    let all = env.layer.sockets();
    yield;
    for (let i = 1; i < all.length; i++) {
      if (all[i]!.id < all[i - 1]!.id) {
        all = all.sort((a, b) => a.id - b.id);
        yield;
        break;
      }
    }
    // Skip to the cursor, a unit at a time.
    let i = 0;
    while (i < all.length && all[i]!.id <= after) {
      const stop = Math.min(all.length, i + SCAN_UNIT);
      while (i < stop && all[i]!.id <= after) i++;
      if (i < stop) break;
      yield;
    }
    // The page's sockets (rows need their owners, found in a second pass).
    const page = all.slice(i, i + Math.min(limit, 2048));
    const owner = new Map<Socket, { session: number; fd: number }>();
    const want = new Set(page);
    for (const p of env.processes()) {
      const fds = p.table.fds();
      for (let k = 0; k < fds.length; k += SCAN_UNIT) {
        for (const fd of fds.slice(k, k + SCAN_UNIT)) {
          const so = p.table.get(fd);
          if (so !== null && want.has(so)) owner.set(so, { session: p.session.id, fd });
        }
        yield;
      }
    }
    let n = 0;
    for (const so of page) {
      if (!fits(socketRow(so, owner.get(so)))) {
        return { rows, next: `s${rows.length > 0 ? rows.at(-1)!.id : after}`, total: live + conns().length };
      }
      if (++n % ROW_UNIT === 0) yield;
    }
    if (i + page.length < all.length) {
      return { rows, next: `s${rows.length > 0 ? rows.at(-1)!.id : after}`, total: live + conns().length };
    }
    yield;
  }
  // Then the connections that outlived their socket.
  const skip = at?.kind === 't' ? at.n : 0;
  const list = conns();
  let k = skip;
  for (; k < list.length; k++) {
    if (!fits(connRow(list[k]!))) break;
    if ((k - skip + 1) % ROW_UNIT === 0) yield;
  }
  return k < list.length ? { rows, next: `t${k}`, total: live + list.length } : { rows, total: live + list.length };
}

/**
 * One page of `arp -an` (or, with `inet6`, of `ndp -an`: the IPv6 neighbour
 * cache in the same row shape) after `cursor` (`a<n>`), at most `limit`
 * entries and {@link PAGE_HEAD_BUDGET} bytes.
 */
export function* arpPage(stack: Stack, cursor: string | undefined, limit = CTL_ROWS_DEFAULT, inet6 = false): SliceJob<Page<CtlArpEntry>> {
  const skip = parseCursor(cursor, 'a')?.n ?? 0;
  const all: CtlArpEntry[] = inet6
    ? stack.ndpList().map((e) => ({ ip: e.ip, mac: e.mac, ifname: e.ifname, state: e.router ? `${e.state} router` : e.state, expiresIn: e.expiresIn, held: e.held }))
    : stack.arpList();
  yield;
  const rows: CtlArpEntry[] = [];
  let bytes = 0;
  let k = skip;
  for (; k < all.length && rows.length < limit; k++) {
    const row: CtlArpEntry = { ...all[k]! };
    const b = rowBytes(row);
    if (bytes + b > PAGE_HEAD_BUDGET) break;
    rows.push(row);
    bytes += b;
    if ((k - skip + 1) % ROW_UNIT === 0) yield;
  }
  return k < all.length ? { rows, next: `a${k}`, total: all.length } : { rows, total: all.length };
}

/**
 * One page of `rumpctl clients` (or `usage`) after `cursor` (`c<session>`): the rows
 * `row` makes of `procs` (in session order), at most `limit` and
 * {@link PAGE_HEAD_BUDGET} bytes less `reserve` (the server line beside them).
 */
export function* clientPage<R extends { session: number } = CtlClient>(
  procs: readonly ClientProcess[],
  row: (p: ClientProcess) => R,
  cursor: string | undefined,
  limit = CTL_ROWS_DEFAULT,
  reserve = 0,
): SliceJob<Page<R>> {
  const after = parseCursor(cursor, 'c')?.n ?? 0;
  const list = [...procs].filter((p) => p.session.id > after).sort((a, b) => a.session.id - b.session.id);
  yield;
  const rows: R[] = [];
  let bytes = reserve;
  let k = 0;
  for (; k < list.length && rows.length < limit; k++) {
    const r = row(list[k]!);
    const b = rowBytes(r);
    if (bytes + b > PAGE_HEAD_BUDGET) break;
    rows.push(r);
    bytes += b;
    if ((k + 1) % ROW_UNIT === 0) yield;
  }
  const total = procs.length;
  return k < list.length ? { rows, next: `c${rows.at(-1)?.session ?? after}`, total } : { rows, total };
}
