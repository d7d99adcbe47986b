/**
 * The control calls (`ctl.*`) behind `rumpctl`, the rump server's
 * counterpart of NetBSD's `rump.ifconfig`, `rump.route`, `rump.netstat`,
 * `rump.arp`, `rump.ping`, `rump.sysctl` and `rump.halt` — tools that run as
 * rump clients and configure the stack inside the server through the same
 * protocol as any socket call.
 *
 * Every change goes through the `Stack` methods, which throw a StackError
 * carrying an errno for a bad request (ENODEV, EEXIST, ENETUNREACH, ...);
 * the session answers those as errno replies.
 *
 * @module
 */
import { Errno, type LinkOffloads, type TcpConnInfo } from '@rumpnet/stack';
import type {
  CtlClient,
  CtlCopyTotals,
  CtlShmInfo,
  CtlInterface,
  CtlParams,
  CtlPingReply,
  CtlServerInfo,
  CtlSysctlRow,
  SyscallArgs,
  SyscallResults,
} from '../proto/index.js';
import { packHead } from '../proto/index.js';
import type { SyscallHandler } from '../session/index.js';
import { inetNtoa, type SocketLayer, type Stack } from '../stackapi.js';
import type { ClientProcess } from '../syscalls/process.js';
import { fail } from '../syscalls/convert.js';
import { arpPage, clientPage, socketPage } from './listing.js';
import type { SliceRunner } from './slices.js';

type Handler<K extends keyof SyscallArgs> = SyscallHandler<SyscallArgs[K], SyscallResults[K]>;

/** Names of the control calls. */
export type CtlCall = Extract<keyof SyscallArgs, `ctl.${string}`>;

/** The control handlers, by wire name (`ctl.usage` lives in ctl/usage.ts). */
export type CtlHandlers = { [K in Exclude<CtlCall, 'ctl.usage'>]: Handler<K> };

/** What the control calls need from the server. */
export interface CtlEnv {
  readonly stack: Stack;
  readonly layer: SocketLayer;
  /** TCP's connection list, for the connections that outlive their socket (TIME-WAIT, LAST-ACK, ...). */
  readonly tcp?: { connections(): TcpConnInfo[] };
  readonly params: CtlParams;
  /** Banner software name, e.g. `rump-server/0.1.0`. */
  readonly software: string;
  /** The URL clients connect to. */
  readonly listenUrl: string;
  /** When the server started (wall clock, ms). */
  readonly startedAt: number;
  /** Every client process now. */
  processes(): readonly ClientProcess[];
  /** Shut the server down (after the halt reply has been sent). */
  halt(reason: string): void;
  /** Where listings are built, in slices shared round-robin between clients. */
  readonly runner: SliceRunner;
  /** Who is admin, in words, and how many calls were refused for want of it (privilege.ts). */
  readonly admin?: { describe(): string; readonly refusals: number };
  /** The server's copy counters since start, over every session. */
  copyTotals?(): CtlCopyTotals;
  /** The shared-memory regions (§7a). */
  shm?(): CtlShmInfo;
}

/** Resolves after `ms` unless `signal` fires first (then resolves early). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function macText(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The `*.stats` sysctl groups each `netstat -s` protocol reads (NetBSD's
 * netstat reads the same counters through sysctl).
 */
const STATS_PREFIX: Readonly<Record<string, string>> = {
  ip: 'net.inet.ip.stats',
  icmp: 'net.inet.icmp.stats',
  igmp: 'net.inet.igmp.stats',
  udp: 'net.inet.udp.stats',
  tcp: 'net.inet.tcp.stats',
  arp: 'net.inet.arp.stats',
  ether: 'net.link.ether.stats',
  mbuf: 'kern.mbuf.stats',
  ip6: 'net.inet6.ip6.stats',
  icmp6: 'net.inet6.icmp6.stats',
  nd6: 'net.inet6.nd6.stats',
};

/**
 * BSD ifconfig's `options=` names (FreeBSD `IFCAP_*`) of what a link
 * offloads: TXCSUM and TSO4 out, RXCSUM and LRO in. Empty without offloads.
 */
export function offloadNames(o: LinkOffloads | undefined): string[] {
  if (o === undefined) return [];
  const n: string[] = [];
  // A tso4 link also takes partial checksums (Link.outputGso's contract).
  if (o.tso4 === true) n.push('TXCSUM', 'TSO4');
  if (o.rxCsum === true) n.push('RXCSUM');
  if (o.lro === true) n.push('LRO');
  return n;
}

/** Interface list for `ifconfig`. */
export function interfaces(stack: Stack, only?: string): CtlInterface[] {
  const list = only === undefined ? stack.ifnetList() : [stack.ifnet(only)];
  return list.map((ifp) => ({
    name: ifp.name,
    index: ifp.index,
    kind: ifp.isLoopback ? 'loopback' : 'ethernet',
    mtu: ifp.mtu,
    up: ifp.up,
    mac: ifp.isLoopback ? null : macText(ifp.mac),
    addrs: ifp.addrs.map((a) => ({ address: inetNtoa(a.addr), prefixLen: a.prefixLen, broadcast: inetNtoa(a.broadcast) })),
    addrs6: ifp.addrs6.map((a) => ({ address: a.addr.toString(), prefixLen: a.prefixLen, state: a.state })),
    stats: { ...ifp.stats, ...ifp.link.stats() } as unknown as Record<string, number>,
    options: offloadNames(ifp.link.offloads),
    ...(ifp.link.offloadsOff !== undefined ? { offloadsOff: ifp.link.offloadsOff } : {}),
  }));
}

/** Every client with its counters (`rumpctl clients`). */
export function clientList(procs: readonly ClientProcess[]): CtlClient[] {
  return procs.map(clientRow);
}

/** One client's row of `rumpctl clients`. */
export function clientRow(p: ClientProcess): CtlClient {
  return {
    session: p.session.id,
    // The kernel's record (SO_PEERCRED) when there is one; else what the client said.
    pid: p.session.auth.cred?.pid || (p.session.peer?.pid ?? null),
    uid: p.session.auth.cred?.uid ?? null,
    admin: p.session.auth.admin,
    name: p.session.peer?.name ?? null,
    since: p.since,
    fds: p.table.size,
    inFlight: p.session.inFlight,
    counters: { ...p.session.counters } as unknown as Record<string, number>,
  };
}

/** The server's own line of `rumpctl clients`. */
export function serverInfo(env: CtlEnv): CtlServerInfo {
  return {
    ...env.params,
    software: env.software,
    pid: process.pid,
    listen: env.listenUrl,
    uptimeMs: Date.now() - env.startedAt,
    sockets: env.layer.count,
    fds: env.processes().reduce((n, p) => n + p.table.size, 0),
    ...(env.admin !== undefined ? { admin: env.admin.describe(), adminRefusals: env.admin.refusals } : {}),
    ...(env.copyTotals !== undefined ? { copies: env.copyTotals() } : {}),
    ...(env.shm !== undefined ? { shm: env.shm() } : {}),
  };
}

/** Builds the control handlers over `env`. */
export function ctlHandlers(env: CtlEnv): CtlHandlers {
  const { stack } = env;
  const sysRows = (prefix: string): CtlSysctlRow[] => stack.sysctl.list(prefix).map((r) => ({ ...r }));
  return {
    async 'ctl.ifconfig'(_s, a) {
      const op = a.op ?? 'show';
      if (op !== 'show') {
        if (a.ifname === undefined) fail(Errno.EINVAL, `ifconfig ${op} needs an interface`);
        switch (op) {
          case 'add':
            if (a.addr === undefined || !a.addr.includes('/')) fail(Errno.EINVAL, 'ifconfig add needs a.b.c.d/len');
            stack.addAddress(a.ifname, a.addr);
            break;
          case 'delete':
            if (a.addr === undefined) fail(Errno.EINVAL, 'ifconfig delete needs an address');
            stack.removeAddress(a.ifname, a.addr);
            break;
          case 'up':
          case 'down':
            stack.setUp(a.ifname, op === 'up');
            break;
          case 'mtu':
            if (a.mtu === undefined) fail(Errno.EINVAL, 'ifconfig mtu needs a value');
            stack.setMtu(a.ifname, a.mtu);
            break;
        }
      }
      return { interfaces: interfaces(stack, a.ifname) };
    },

    async 'ctl.route'(_s, a) {
      const op = a.op ?? 'show';
      if (op !== 'show' && a.dest === undefined) fail(Errno.EINVAL, `route ${op} needs a destination`);
      if (op === 'add') {
        if (a.gateway === undefined) fail(Errno.EINVAL, 'route add needs a gateway or an interface');
        stack.addRoute(a.dest!, a.gateway);
      } else if (op === 'delete') stack.deleteRoute(a.dest!);
      return { routes: stack.routeList().map((r) => ({ ...r })) };
    },

    async 'ctl.arp'(session, a, ctx) {
      const op = a.op ?? 'show';
      if (a.inet6 === true && op !== 'show') fail(Errno.EINVAL, 'the IPv6 neighbour cache is shown only (ndp -an)');
      if (op === 'add') {
        if (a.ip === undefined || a.mac === undefined) fail(Errno.EINVAL, 'arp add needs an address and a MAC');
        stack.arpAdd(a.ip, a.mac, a.ifname);
      } else if (op === 'delete') {
        if (a.ip === undefined) fail(Errno.EINVAL, 'arp delete needs an address');
        stack.arpDelete(a.ip);
      }
      const page = await env.runner.run(session, () => arpPage(stack, a.cursor, a.limit, a.inet6 === true), ctx.signal);
      return page.next === undefined ? { entries: page.rows, total: page.total } : { entries: page.rows, total: page.total, next: page.next, truncated: true };
    },

    async 'ctl.netstat'(session, a, ctx) {
      switch (a.what) {
        case 'sockets': {
          // Paged and sliced: never more than a few ms of the loop at a time (listing.ts, slices.ts).
          const page = await env.runner.run(session, () => socketPage(env, a.cursor, a.limit), ctx.signal);
          return page.next === undefined
            ? { sockets: page.rows, total: page.total }
            : { sockets: page.rows, total: page.total, next: page.next, truncated: true };
        }
        case 'mbufs':
          return { mbufs: { pool: { ...stack.pool.stats() } as unknown as Record<string, number>, params: { ...env.params } } };
        case 'stats': {
          const prefixes = a.proto === undefined ? Object.values(STATS_PREFIX) : [STATS_PREFIX[a.proto]!];
          return { stats: prefixes.flatMap((p) => sysRows(p)) };
        }
      }
    },

    async 'ctl.sysctl'(_s, a) {
      if (a.value === undefined) {
        const rows = sysRows(a.name ?? '');
        if (rows.length === 0 && a.name !== undefined) fail(Errno.ENOENT, `no sysctl ${a.name}`);
        return { rows };
      }
      if (a.name === undefined) fail(Errno.EINVAL, 'sysctl write needs a name');
      const old = stack.sysctl.set(a.name, a.value);
      const row = sysRows(a.name)[0];
      if (row === undefined) fail(Errno.ENOENT, `no sysctl ${a.name}`);
      return { rows: [{ ...row, old }] };
    },

    async 'ctl.ping'(_s, a, ctx) {
      const count = a.count ?? 1;
      const interval = a.interval ?? 1000;
      const replies: CtlPingReply[] = [];
      // Bounded: at most 100 requests, each with its own timeout, and the
      // client's departure stops the loop.
      // The stack numbers the requests (icmp_seq) from its own counter, so
      // two clients pinging one host at once never collide.
      for (let i = 0; i < count && !ctx.signal.aborted; i++) {
        if (i > 0) await pause(interval, ctx.signal);
        if (ctx.signal.aborted) break;
        try {
          const r = await stack.ping(a.dst, {
            ...(a.size !== undefined ? { size: a.size } : {}),
            ...(a.timeout !== undefined ? { timeout: a.timeout } : {}),
            ...(a.ttl !== undefined ? { ttl: a.ttl } : {}),
          });
          replies.push({ seq: r.seq, rtt: r.rtt, from: r.from, ttl: r.ttl, bytes: r.bytes });
        } catch (e) {
          const errno = (e as { errno?: unknown }).errno;
          replies.push({ seq: i, errno: typeof errno === 'number' ? errno : Errno.EIO });
        }
      }
      return { dst: a.dst, sent: replies.length, received: replies.filter((r) => r.errno === undefined).length, replies };
    },

    async 'ctl.halt'(session) {
      // After this reply is written: the session writes it when the handler resolves.
      setImmediate(() => env.halt(`halt requested by client ${session.id}`));
      return {};
    },

    async 'ctl.clients'(session, a, ctx) {
      // Other clients' details are for admins (the guard in privilege.ts cuts any list too).
      const all = env.processes();
      const visible = session.auth.admin ? all : all.filter((p) => p.session === session);
      const hidden = all.length - visible.length;
      const server = serverInfo(env);
      const reserve = packHead(server).length;
      const page = await env.runner.run(session, () => clientPage(visible, clientRow, a.cursor, a.limit, reserve), ctx.signal);
      return {
        server,
        clients: page.rows,
        ...(hidden > 0 ? { hidden } : {}),
        ...(page.next !== undefined ? { next: page.next, total: page.total } : {}),
      };
    },
  };
}
