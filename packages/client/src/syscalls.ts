/**
 * The syscall contract between rump clients and the rump server: every
 * system call's name, argument shape and result shape, and a schema table
 * the server validates arguments against (the client checks them too, so a
 * bug shows up at the caller). docs/PROTOCOL.md lists the same table.
 *
 * Defined once, here; the server imports it through `@rumpnet/client/protocol`.
 *
 * Numbers follow Linux where a number is needed (poll events, MSG_ flags), as
 * the stack's errno table does, because Node reports Linux's values here.
 */
import { isIPv6 } from 'node:net';

/** An IPv4 socket address, `struct sockaddr_in` in object form. */
export interface SockAddrIn {
  readonly family: 'inet';
  /** Dotted quad, e.g. `10.0.0.2`. */
  readonly address: string;
  /** 0..65535. */
  readonly port: number;
}

/**
 * An IPv6 socket address, `struct sockaddr_in6` in object form (RFC 3493
 * 3.3). `flowinfo` and `scopeId` are optional on the wire (0 when absent).
 */
export interface SockAddrIn6 {
  readonly family: 'inet6';
  /** RFC 4291 text without a zone, e.g. `2001:db8::1`, `::ffff:10.0.0.2`. */
  readonly address: string;
  /** 0..65535. */
  readonly port: number;
  /** `sin6_flowinfo`, 0..2^32-1. */
  readonly flowinfo?: number;
  /** `sin6_scope_id`, 0..2^32-1 (the interface of a link-local address). */
  readonly scopeId?: number;
}

/** A socket address of either family. */
export type SockAddr = SockAddrIn | SockAddrIn6;

/** `socket(2)` types by name. */
export type SockType = 'stream' | 'dgram' | 'raw';
/** `shutdown(2)` directions: SHUT_RD, SHUT_WR, SHUT_RDWR. */
export type ShutdownHow = 'rd' | 'wr' | 'rdwr';
/** Option levels: SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP. */
export type SockOptLevel = 'socket' | 'ip' | 'ipv6' | 'tcp' | 'udp';

/**
 * An IPv4 multicast membership request (`struct ip_mreq_source`, RFC 3678),
 * the value of `IP_ADD_MEMBERSHIP`, `IP_DROP_MEMBERSHIP` (no `sourceaddr`)
 * and `IP_ADD_SOURCE_MEMBERSHIP`, `IP_DROP_SOURCE_MEMBERSHIP`: dotted quads;
 * no `interface` (or `0.0.0.0`) lets the route choose.
 */
export interface IpMreqArg {
  multiaddr: string;
  interface?: string;
  sourceaddr?: string;
}

/**
 * An IPv6 multicast membership request (`struct ipv6_mreq`, RFC 3493 5.2),
 * the value of `IPV6_JOIN_GROUP` / `IPV6_LEAVE_GROUP` (Linux
 * `IPV6_ADD_MEMBERSHIP` / `IPV6_DROP_MEMBERSHIP`): the group as IPv6 text
 * without a zone, and an interface index (none or 0: the route chooses;
 * leaving with 0 leaves the group on whichever interface holds it).
 */
export interface Ip6MreqArg {
  multiaddr: string;
  ifindex?: number;
}

/**
 * A `setsockopt` value: an integer or a boolean for most options, a dotted
 * quad for `IP_MULTICAST_IF`, an {@link IpMreqArg} or {@link Ip6MreqArg} for the memberships.
 */
export type SockOptValue = number | boolean | string | IpMreqArg | Ip6MreqArg;

/** Flags of send/recv (Linux values). */
export const MsgFlag = {
  MSG_OOB: 0x1,
  MSG_PEEK: 0x2,
  MSG_DONTWAIT: 0x40,
  MSG_WAITALL: 0x100,
  MSG_NOSIGNAL: 0x4000,
} as const;

/** Poll events (Linux values, `<poll.h>`). */
export const PollEvent = {
  POLLIN: 0x1,
  POLLPRI: 0x2,
  POLLOUT: 0x4,
  POLLERR: 0x8,
  POLLHUP: 0x10,
  POLLNVAL: 0x20,
} as const;

/** One entry of a poll request. */
export interface PollFd {
  readonly fd: number;
  /** Bitmask of {@link PollEvent}. */
  readonly events: number;
}

/** One entry of a poll result. */
export interface PollResultFd {
  readonly fd: number;
  /** Bitmask of {@link PollEvent} that are true. */
  readonly revents: number;
}

/** Any control call's arguments (kept for callers written against the loose placeholder). */
export type CtlArgs = Readonly<Record<string, unknown>>;

// ----- control calls (`ctl.*`, used by rumpctl, like NetBSD's rump.* tools) -----

/** `ctl.ifconfig`: show interfaces (`op` absent or `'show'`), or change `ifname`. */
export interface CtlIfconfigArgs {
  ifname?: string;
  /** `add`/`delete` an address (`addr`), `up`/`down`, set the `mtu`. */
  op?: 'show' | 'add' | 'delete' | 'up' | 'down' | 'mtu';
  /** `a.b.c.d/len` to add, `a.b.c.d` to delete. */
  addr?: string;
  mtu?: number;
}
/** One IPv4 address of an interface. */
export interface CtlIfAddr {
  address: string;
  prefixLen: number;
  broadcast: string;
}
/** An interface as `ifconfig` shows it. */
export interface CtlInterface {
  name: string;
  index: number;
  kind: 'ethernet' | 'loopback';
  mtu: number;
  up: boolean;
  /** `aa:bb:cc:dd:ee:ff`, or null for loopback. */
  mac: string | null;
  addrs: CtlIfAddr[];
  /** IPv6 addresses (RFC 5952 text, prefix length, DAD state: `preferred`, `tentative`, `deprecated`, `duplicated`); absent from older servers. */
  addrs6?: { address: string; prefixLen: number; state: string }[];
  /** The stack's interface counters (`ipackets`, `opackets`, ...) and the driver's (`rxFrames`, ...). */
  stats: Record<string, number>;
  /** Offloads on, BSD ifconfig's `options=` names (`TXCSUM`, `TSO4`, `RXCSUM`, `LRO`); absent from older servers. */
  options?: string[];
  /** Why a tap runs without offloads (`off (asked)`, or the kernel's refusal); absent when they are on or never possible. */
  offloadsOff?: string;
}
/** `ctl.route`: show, `add dest gateway|ifname`, `delete dest` (`dest` may be `default`). */
export interface CtlRouteArgs {
  op?: 'show' | 'add' | 'delete';
  dest?: string;
  gateway?: string;
}
/** A route as `netstat -rn` shows it. */
export interface CtlRoute {
  destination: string;
  gateway: string | null;
  ifname: string;
  flags: string;
  kind: string;
  use: number;
}
/** `ctl.arp`: show (`arp -an`), `add ip mac [ifname]` (`arp -s`), `delete ip` (`arp -d`). */
export interface CtlArpArgs {
  op?: 'show' | 'add' | 'delete';
  ip?: string;
  mac?: string;
  ifname?: string;
  /** Show the IPv6 neighbour cache instead (`ndp -an`; `state` is then a NUD state: incomplete, reachable, stale, delay, probe, static). Show only. */
  inet6?: boolean;
  /** Most entries returned (1..{@link CTL_ROWS_MAX}, default {@link CTL_ROWS_DEFAULT}); fewer when they would not fit a head. */
  limit?: number;
  /** Start after this point: the `next` of the previous page. */
  cursor?: string;
}
/** Result of `ctl.arp`: one page of the table after the operation. */
export interface CtlArpResult {
  entries: CtlArpEntry[];
  /** True when `entries` is not the whole table: ask again with `cursor: next`. */
  truncated?: boolean;
  /** Entries in the whole table. */
  total?: number;
  /** The cursor of the next page; absent on the last. */
  next?: string;
}
/** One ARP cache entry. */
export interface CtlArpEntry {
  ip: string;
  mac: string | null;
  ifname: string;
  state: string;
  expiresIn: number;
  held: number;
}
/** `ctl.netstat`: `sockets` (`-an`), `mbufs` (`-m`), `stats` (`-s`: the `*.stats` sysctl counters, optionally of one `proto`). */
export interface CtlNetstatArgs {
  what: 'sockets' | 'mbufs' | 'stats';
  /** For `stats`: `ip`, `icmp`, `igmp`, `udp`, `tcp`, `arp`, `ether`, `mbuf`, `ip6`, `icmp6`, `nd6`. */
  proto?: string;
  /** For `sockets`: most rows returned (1..{@link CTL_ROWS_MAX}, default {@link CTL_ROWS_DEFAULT}); fewer when they would not fit a head. */
  limit?: number;
  /** For `sockets`: start after this point — the `next` of the previous page (`s<id>`, `t<n>`). */
  cursor?: string;
}
/**
 * Default `limit` of a listing page (`ctl.netstat` sockets, `ctl.arp`): small
 * enough that the server packs one reply head in a millisecond or two; the
 * `next` cursor fetches the rest.
 */
export const CTL_ROWS_DEFAULT = 256;
/** Largest `limit` a listing ctl call takes. */
export const CTL_ROWS_MAX = 1_000_000;
/** One socket of the server (`netstat -an`). */
export interface CtlSocket {
  id: number;
  proto: string;
  recvQ: number;
  sendQ: number;
  local: SockAddr;
  foreign: SockAddr | null;
  state: string;
  /** Owning client session and descriptor, or null for a socket no descriptor refers to (unaccepted, closing). */
  session: number | null;
  fd: number | null;
}
/** The server's stack parameters. */
export interface CtlParams {
  mclbytes: number;
  mclnum: number;
  /** COPYINs one send keeps outstanding (absent from servers before the copy window). */
  copyWindow?: number;
  /** Bytes a send may carry inline (absent from servers before inline writes: 0). */
  inlineMax?: number;
  /** Bytes a receive may return inside its reply, for clients that ask (absent from servers before inline receives: 0). */
  inlineRecvMax?: number;
  rxMode: 'per-mbuf' | 'coalesced';
  nmbclusters: number;
}
/** A sysctl leaf. `old` is the previous value after a write. */
export interface CtlSysctlRow {
  name: string;
  value: number;
  writable: boolean;
  description: string;
  old?: number;
}
/** Result of `ctl.netstat`: the part asked for. */
export interface CtlNetstatResult {
  sockets?: CtlSocket[];
  /** With `sockets`: true when more rows follow (`limit`, or the reply head is full): ask again with `cursor: next`. */
  truncated?: boolean;
  /** With `sockets`: how many rows the whole listing has. */
  total?: number;
  /** With `sockets`: the cursor of the next page; absent on the last. */
  next?: string;
  /** `netstat -m`: the cluster pool's counters and the parameters. */
  mbufs?: { pool: Record<string, number>; params: CtlParams };
  stats?: CtlSysctlRow[];
}
/** `ctl.sysctl`: list leaves at or below `name` (all when absent), or write `value` to leaf `name`. */
export interface CtlSysctlArgs {
  name?: string;
  value?: number;
}
/** `ctl.ping`: `count` echo requests (1..100) to `dst`, `interval` ms apart. */
export interface CtlPingArgs {
  dst: string;
  count?: number;
  size?: number;
  /** Per-request timeout (ms, default 1000). */
  timeout?: number;
  interval?: number;
  ttl?: number;
}
/** One ping: a reply, or the errno it failed with (ETIMEDOUT, EHOSTUNREACH, ...). */
export interface CtlPingReply {
  seq: number;
  rtt?: number;
  from?: string;
  ttl?: number;
  bytes?: number;
  errno?: number;
}
/** One client of the server, with its copy counters (`rumpctl clients`). */
export interface CtlClient {
  session: number;
  /** The client's pid: the kernel's record (`SO_PEERCRED`) on a Unix socket, else what its handshake said. */
  pid: number | null;
  /** Its uid by `SO_PEERCRED`, null when unknown (TCP). */
  uid?: number | null;
  /** Whether it may halt, write sysctls, change the configuration and see every client. */
  admin?: boolean;
  name: string | null;
  /** Wall-clock ms since the epoch. */
  since: number;
  fds: number;
  inFlight: number;
  counters: Record<string, number>;
}
/** The server itself (`rumpctl clients` header). */
export interface CtlServerInfo extends CtlParams {
  software: string;
  pid: number;
  listen: string;
  uptimeMs: number;
  /** Live sockets in the stack, and open descriptors over all clients. */
  sockets: number;
  fds: number;
  /** Who is admin, in words (`root, uid 1000 or group wheel (10)`). */
  admin?: string;
  /** Calls refused since start because the caller was not admin. */
  adminRefusals?: number;
  /** Copy requests made and avoided since start, over every session (absent from servers before inline receives). */
  copies?: CtlCopyTotals;
  /** The shared-memory data path (docs/PROTOCOL.md §7a; absent from servers before it). */
  shm?: CtlShmInfo;
}

/** The server's shared-memory regions: its limits, what is mapped now, offers since start. */
export interface CtlShmInfo {
  /** `--shm-max` (0: off) and `--shm-total`. */
  maxBytes: number;
  totalBytes: number;
  /** Regions mapped now, and their bytes. */
  regions: number;
  bytes: number;
  /** Offers mapped and refused since start. */
  attached: number;
  refused: number;
}

/** A server's copy counters since start, summed over all its sessions, departed ones included. */
export interface CtlCopyTotals {
  copyinRequests: number;
  /** COPYINs served from bytes sent inline with the request, and those bytes. */
  copyinsAvoided: number;
  inlineBytes: number;
  copyoutRequests: number;
  /** COPYOUTs avoided by receives whose bytes rode in their reply, and those bytes. */
  copyoutsAvoided: number;
  inlineRecvBytes: number;
  /** Posted sends: stream sends that got no RESP (absent from servers before them). */
  postedSends?: number;
  /** COPYOUTs whose bytes went through a shared region (§7a), and those that found it full (absent from servers before it). */
  shmCopyouts?: number;
  shmFallbacks?: number;
}

/** One client's use of its quotas (`rumpctl usage`): each figure beside its limit in {@link CtlUsageServer}. */
export interface CtlUsageClient {
  session: number;
  /** The user its use is added up under (see {@link CtlUsageUser}). */
  user?: string;
  pid: number | null;
  name: string | null;
  /** Socket-buffer storage its sockets hold (bytes; a full cluster counts MCLBYTES + MSIZE), and its quota. */
  clusterBytes: number;
  quotaBytes: number;
  /** Open descriptors (limit: `maxFds`). */
  fds: number;
  /** COPYIN requests outstanding (limit: `maxCopyins`), and copies waiting for a slot. */
  copyinsInFlight: number;
  copyinsWaiting: number;
  /** Memory of replies queued to it (bytes + per-frame overhead), and frames queued. */
  replyBytes: number;
  replyFrames: number;
  /** Syscalls being served (limit: `maxInFlight`), requests queued behind them and their memory. */
  inFlight: number;
  queuedRequests: number;
  queuedRequestBytes: number;
  /** Streamed receives running (§7a): each holds one of its 16 stream slots, not an in-flight one (absent from servers before it). */
  streams?: number;
  /** Bytes of a half-received frame held. */
  partialFrameBytes: number;
  /** True while its requests are not read because its replies are backed up. */
  backpressure: boolean;
  /** Frames in and out, and times it was backpressured, since it connected. */
  framesIn: number;
  framesOut: number;
  backpressured: number;
  /** Bytes of its shared-memory region the server has mapped (§7a; limit `shmMaxBytes`; absent from servers before it). */
  shmBytes?: number;
}
/** One user's aggregate over its sessions (`rumpctl usage`): a Unix uid or a TCP peer address. */
export interface CtlUsageUser {
  /** `uid 65534`, `tcp 127.0.0.1` or `unknown`. */
  user: string;
  /** Admin sessions: counted, held to no per-user limit. */
  exempt: boolean;
  sessions: number;
  /** Socket-buffer storage over its sessions (bytes), and its limit (null when exempt). */
  clusterBytes: number;
  quotaBytes: number | null;
  fds: number;
  maxFds: number | null;
  maxSessions: number | null;
  /** Sessions refused at `--user-sessions` and descriptors refused at `--user-fds` since it came. */
  refusedSessions: number;
  refusedFds: number;
  /** Shared-region bytes mapped over its sessions, their limit (`--user-shm`; null when exempt) and offers refused at it (absent from servers before it). */
  shmBytes?: number;
  maxShmBytes?: number | null;
  refusedShm?: number;
  /** Memory of requests queued over its sessions, its limit (`--user-queued-bytes`; null when exempt), and sessions disconnected for passing it (absent from servers before it). */
  queuedBytes?: number;
  maxQueuedBytes?: number | null;
  queueRefused?: number;
}
/** The server's limits and totals (`rumpctl usage` header). */
export interface CtlUsageServer {
  sessions: number;
  maxSessions: number;
  /** Connections refused at the session cap since start. */
  refused: number;
  /** Descriptors over all clients, and the cap (ENFILE beyond). */
  files: number;
  maxFiles: number;
  clustersInUse: number;
  nmbclusters: number;
  /** Storage one full cluster counts for (MCLBYTES + MSIZE). */
  clusterBytes: number;
  clientQuotaBytes: number;
  maxFds: number;
  /** Per-user limits over all sessions of one user (`--user-clusters` in bytes, `--user-fds`, `--user-sessions`); admins are exempt. */
  userQuotaBytes?: number;
  userFds?: number;
  userSessions?: number;
  /** Shared-region bytes all sessions of one user may map (`--user-shm`; absent from servers before it). */
  userShmBytes?: number;
  /** Memory of requests queued over all sessions of one user (`--user-queued-bytes`; absent from servers before it). */
  userQueuedBytes?: number;
  /** Shared-memory regions (§7a): most per client (`--shm-max`, 0: off), most in all (`--shm-total`), mapped now. */
  shmMaxBytes?: number;
  shmTotalBytes?: number;
  shmBytes?: number;
  /** The session limits in force (names as `SessionLimits` on the server). */
  limits: Record<string, number>;
}
/** Result of `ctl.usage`. */
export interface CtlUsageResult {
  server: CtlUsageServer;
  clients: CtlUsageClient[];
  /** Per-user aggregates (an admin sees every user; others only their own). */
  users?: CtlUsageUser[];
  /** Clients left out because the caller is not admin (it sees only itself). */
  hidden?: number;
  /** The cursor of the next page (as `ctl.clients`); absent on the last. */
  next?: string;
  /** Clients in the whole listing, when paged. */
  total?: number;
}

/** Arguments of every system call, by wire name. Buffers travel as handles (numbers). */
export interface SyscallArgs {
  socket: { domain: 'inet' | 'inet6'; type: SockType; protocol?: number; nonblock?: boolean };
  bind: { fd: number; addr: SockAddr };
  listen: { fd: number; backlog: number };
  accept: { fd: number; nonblock?: boolean };
  connect: { fd: number; addr: SockAddr };
  /** `send` is `sendto` without `addr`. `buf` is a handle; the bytes are copied in. */
  sendto: { fd: number; buf?: number; len: number; flags?: number; addr?: SockAddr };
  /** `recv` is `recvfrom`. `buf` is a handle; the bytes are copied out before the response. */
  recvfrom: { fd: number; buf: number; len: number; flags?: number };
  /**
   * A streamed receive (§7a): the server soreceives up to `len` bytes at a
   * time into the shared ring (COPYOUTs to `buf`) while the stream slot
   * `slot` shows fewer than `window` bytes unconsumed, until EOF or an error.
   */
  recvstream: { fd: number; buf: number; len: number; window: number; slot: number };
  shutdown: { fd: number; how: ShutdownHow };
  close: { fd: number };
  setsockopt: { fd: number; level: SockOptLevel; name: string; value: SockOptValue };
  getsockopt: { fd: number; level: SockOptLevel; name: string };
  getsockname: { fd: number };
  getpeername: { fd: number };
  /** `timeout` in milliseconds, -1 waits forever, 0 only looks. */
  poll: { fds: PollFd[]; timeout: number };
  'ctl.ifconfig': CtlIfconfigArgs;
  'ctl.route': CtlRouteArgs;
  'ctl.netstat': CtlNetstatArgs;
  'ctl.arp': CtlArpArgs;
  'ctl.sysctl': CtlSysctlArgs;
  'ctl.ping': CtlPingArgs;
  'ctl.halt': Empty;
  /** Paged as the other listings: `cursor` is the previous page's `next`. */
  'ctl.clients': { cursor?: string; limit?: number };
  /** Paged as `ctl.clients`. */
  'ctl.usage': { cursor?: string; limit?: number };
}

/** An empty result. */
export type Empty = Record<string, never>;

/** Results of every system call, by wire name. */
export interface SyscallResults {
  socket: { fd: number };
  bind: Empty;
  listen: Empty;
  accept: { fd: number; addr: SockAddr };
  connect: Empty;
  /** Bytes accepted by the socket. */
  sendto: { bytes: number };
  /** Bytes copied out; `addr` for datagram sockets. */
  recvfrom: { bytes: number; addr?: SockAddr; flags?: number };
  /** Bytes streamed in all; `eof` when the stream ended at the peer's FIN. */
  recvstream: { bytes: number; eof?: boolean };
  shutdown: Empty;
  close: Empty;
  setsockopt: Empty;
  getsockopt: { value: number | boolean | string };
  getsockname: { addr: SockAddr };
  getpeername: { addr: SockAddr };
  poll: { ready: number; fds: PollResultFd[] };
  'ctl.ifconfig': { interfaces: CtlInterface[] };
  'ctl.route': { routes: CtlRoute[] };
  'ctl.netstat': CtlNetstatResult;
  'ctl.arp': CtlArpResult;
  'ctl.sysctl': { rows: CtlSysctlRow[] };
  'ctl.ping': { dst: string; sent: number; received: number; replies: CtlPingReply[] };
  'ctl.halt': Empty;
  /** `hidden`: clients left out because the caller is not admin (it sees only itself). */
  'ctl.clients': { server: CtlServerInfo; clients: CtlClient[]; hidden?: number; next?: string; total?: number };
  'ctl.usage': CtlUsageResult;
}

/** Every system call name of the contract. */
export type SyscallName = keyof SyscallArgs;

/** Checks one argument value; returns why it is wrong, or undefined when it is right. */
export type Check = (v: unknown) => string | undefined;

/** How a syscall moves data through its buffer handles. */
export type CopyKind = 'none' | 'in' | 'out';

/** The schema of one syscall. */
export interface SyscallSchema {
  /** Checks per argument name, or `'loose'` for any map (control calls). Unlisted keys are refused. */
  readonly args: Readonly<Record<string, Check>> | 'loose';
  /** Argument names that are buffer handles. */
  readonly buffers: readonly string[];
  /** Direction of copies: `in` (COPYIN, send-type), `out` (COPYOUT, receive-type). */
  readonly copy: CopyKind;
}

const MAX_INT = 0x7fffffff;

/** Argument checks, small and composable. */
export const T = {
  /** An integer in [-2^31, 2^31). */
  int: ((v) => (Number.isInteger(v) && (v as number) >= -MAX_INT - 1 && (v as number) <= MAX_INT ? undefined : 'an int32')) as Check,
  /** A descriptor: an integer in [0, 2^31). */
  fd: ((v) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_INT ? undefined : 'a descriptor')) as Check,
  /** A buffer handle: an integer in [1, 2^32). */
  handle: ((v) => (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 0xffffffff ? undefined : 'a buffer handle')) as Check,
  /** A length: an integer in [0, 2^31). */
  len: ((v) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_INT ? undefined : 'a length')) as Check,
  bool: ((v) => (typeof v === 'boolean' ? undefined : 'a boolean')) as Check,
  /** A short string (names of options). */
  name: ((v) => (typeof v === 'string' && v.length > 0 && v.length <= 64 ? undefined : 'a name')) as Check,
  /** One of the given strings. */
  oneOf: (...allowed: string[]): Check => (v) =>
    typeof v === 'string' && allowed.includes(v) ? undefined : `one of ${allowed.join('|')}`,
  /** Either check. */
  or: (a: Check, b: Check): Check => (v) => (a(v) === undefined || b(v) === undefined ? undefined : `${a(v)} or ${b(v)}`),
  /** A socket address of either family. */
  sockaddr: ((v) => sockaddrProblem(v)) as Check,
  /** An IPv4 multicast membership request {@link IpMreqArg}: dotted quads, `multiaddr` required. */
  mreq: ((v) => {
    const want = 'a membership { multiaddr, interface?, sourceaddr? } of dotted quads, or { multiaddr: IPv6, ifindex? }';
    if (!isPlainObject(v)) return want;
    if (typeof v.multiaddr === 'string' && isIPv6(v.multiaddr) && !v.multiaddr.includes('%')) {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'multiaddr') continue;
        if (k !== 'ifindex' || (x !== undefined && !(Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff))) return want;
      }
      return undefined;
    }
    for (const [k, x] of Object.entries(v)) {
      if (!['multiaddr', 'interface', 'sourceaddr'].includes(k)) return want;
      if (x !== undefined && !(typeof x === 'string' && isDottedQuad(x))) return want;
    }
    return typeof v.multiaddr === 'string' ? undefined : want;
  }) as Check,
  /** A poll descriptor list (at most 1024 entries, like a sane RLIMIT_NOFILE). */
  pollfds: ((v) => {
    if (!Array.isArray(v) || v.length > 1024) return 'an array of at most 1024 {fd, events}';
    for (const e of v) {
      if (!isPlainObject(e)) return 'entries {fd, events}';
      const keys = Object.keys(e);
      if (keys.length !== 2 || T.fd(e.fd) !== undefined || T.int(e.events) !== undefined) return 'entries {fd, events}';
    }
    return undefined;
  }) as Check,
} as const;

/** Marks an argument optional (absent or undefined/null is fine). */
export function opt(c: Check): Check {
  const o: Check = (v) => (v === undefined || v === null ? undefined : c(v));
  optional.add(o);
  return o;
}
const optional = new WeakSet<Check>();

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function sockaddrProblem(v: unknown): string | undefined {
  const want = "a sockaddr {family: 'inet', address: 'a.b.c.d', port} or {family: 'inet6', address: 'x::y', port, flowinfo?, scopeId?}";
  if (!isPlainObject(v)) return want;
  if (!Number.isInteger(v.port) || (v.port as number) < 0 || (v.port as number) > 65535) return want;
  if (v.family === 'inet') {
    if (Object.keys(v).length !== 3) return want;
    if (typeof v.address !== 'string' || !isDottedQuad(v.address)) return want;
    return undefined;
  }
  if (v.family !== 'inet6') return want;
  for (const k of Object.keys(v)) if (!['family', 'address', 'port', 'flowinfo', 'scopeId'].includes(k)) return want;
  if (typeof v.address !== 'string' || v.address.includes('%') || !isIPv6(v.address)) return want; // a zone travels as scopeId
  for (const k of ['flowinfo', 'scopeId']) {
    const n = v[k];
    if (n !== undefined && !(Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff)) return want;
  }
  return undefined;
}

/** True for a canonical dotted-quad IPv4 address (no leading zeros, octets ≤ 255). */
export function isDottedQuad(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return false;
  for (let i = 1; i <= 4; i++) {
    const o = m[i]!;
    if (Number(o) > 255 || (o.length > 1 && o[0] === '0')) return false;
  }
  return true;
}

const plain = (args: Record<string, Check>): SyscallSchema => ({ args, buffers: [], copy: 'none' });

// Checks of the control calls' arguments.
const intIn = (lo: number, hi: number): Check => (v) =>
  Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi ? undefined : `an integer in ${lo}..${hi}`;
const ifname: Check = (v) => (typeof v === 'string' && /^[A-Za-z0-9_.-]{1,15}$/.test(v) ? undefined : 'an interface name');
const rowLimit: Check = (v) =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= CTL_ROWS_MAX ? undefined : `an integer in 1..${CTL_ROWS_MAX}`;
const ipv4: Check = (v) => (typeof v === 'string' && isDottedQuad(v) ? undefined : 'an IPv4 address a.b.c.d');
/** Whether `s` looks like IPv6 text with an optional zone (`fe80::1%tap0`); its exact syntax is the stack's to judge (EINVAL). */
const isIp6Text = (s: string): boolean => s.includes(':') && /^[0-9A-Fa-f:.]{2,45}(%[A-Za-z0-9_.-]{1,15})?$/.test(s);
/** IPv4 or IPv6. */
const ipHost: Check = (v) =>
  typeof v === 'string' && (isDottedQuad(v) || isIp6Text(v)) ? undefined : 'an IPv4 address a.b.c.d or an IPv6 address';
/** `a.b.c.d`, `a.b.c.d/len`, an IPv6 address or prefix (`fd00::/64`), or `default` (routes). */
const prefix: Check = (v) => {
  if (v === 'default') return undefined;
  if (typeof v !== 'string') return 'a.b.c.d/len';
  const [a, len, more] = v.split('/');
  if (more !== undefined) return 'a.b.c.d/len';
  if (isDottedQuad(a!) && (len === undefined || /^(\d|[12]\d|3[0-2])$/.test(len))) return undefined;
  if (isIp6Text(a!) && (len === undefined || /^(\d{1,2}|1[01]\d|12[0-8])$/.test(len))) return undefined;
  return 'a.b.c.d/len or an IPv6 prefix';
};
const mac: Check = (v) => (typeof v === 'string' && /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(v) ? undefined : 'a MAC aa:bb:cc:dd:ee:ff');
const gatewayOrIf: Check = (v) =>
  ipHost(v) === undefined || ifname(v) === undefined ? undefined : 'a gateway address or an interface name';
const listCursor: Check = (v) => (typeof v === 'string' && /^[a-z]\d{1,15}$/.test(v) ? undefined : 'a listing cursor (the previous reply\'s next)');
const sysctlName: Check = (v) => (typeof v === 'string' && /^[A-Za-z0-9_.]{1,128}$/.test(v) ? undefined : 'a sysctl name');
const level = T.oneOf('socket', 'ip', 'ipv6', 'tcp', 'udp');

/** The schema table: one entry per system call of the contract. */
export const SYSCALL_SCHEMAS: Readonly<Record<SyscallName, SyscallSchema>> = {
  socket: plain({ domain: T.oneOf('inet', 'inet6'), type: T.oneOf('stream', 'dgram', 'raw'), protocol: opt(T.int), nonblock: opt(T.bool) }),
  bind: plain({ fd: T.fd, addr: T.sockaddr }),
  listen: plain({ fd: T.fd, backlog: T.int }),
  accept: plain({ fd: T.fd, nonblock: opt(T.bool) }),
  connect: plain({ fd: T.fd, addr: T.sockaddr }),
  // `buf` is absent when the bytes travel inline with the request (at most the server's inlineMax).
  sendto: { args: { fd: T.fd, buf: opt(T.handle), len: T.len, flags: opt(T.int), addr: opt(T.sockaddr) }, buffers: ['buf'], copy: 'in' },
  recvfrom: { args: { fd: T.fd, buf: T.handle, len: T.len, flags: opt(T.int) }, buffers: ['buf'], copy: 'out' },
  recvstream: { args: { fd: T.fd, buf: T.handle, len: T.len, window: T.len, slot: T.int }, buffers: ['buf'], copy: 'out' },
  shutdown: plain({ fd: T.fd, how: T.oneOf('rd', 'wr', 'rdwr') }),
  close: plain({ fd: T.fd }),
  setsockopt: plain({ fd: T.fd, level, name: T.name, value: T.or(T.or(T.int, T.bool), T.or(ipv4, T.mreq)) }),
  getsockopt: plain({ fd: T.fd, level, name: T.name }),
  getsockname: plain({ fd: T.fd }),
  getpeername: plain({ fd: T.fd }),
  poll: plain({ fds: T.pollfds, timeout: T.int }),
  'ctl.ifconfig': plain({
    ifname: opt(ifname),
    op: opt(T.oneOf('show', 'add', 'delete', 'up', 'down', 'mtu')),
    addr: opt(prefix),
    mtu: opt(intIn(68, 65535)),
  }),
  'ctl.route': plain({ op: opt(T.oneOf('show', 'add', 'delete')), dest: opt(prefix), gateway: opt(gatewayOrIf) }),
  'ctl.netstat': plain({
    what: T.oneOf('sockets', 'mbufs', 'stats'),
    proto: opt(T.oneOf('ip', 'icmp', 'igmp', 'udp', 'tcp', 'arp', 'ether', 'mbuf', 'ip6', 'icmp6', 'nd6')),
    limit: opt(rowLimit),
    cursor: opt(listCursor),
  }),
  'ctl.arp': plain({
    op: opt(T.oneOf('show', 'add', 'delete')),
    ip: opt(ipv4),
    mac: opt(mac),
    ifname: opt(ifname),
    inet6: opt(T.bool),
    limit: opt(rowLimit),
    cursor: opt(listCursor),
  }),
  'ctl.sysctl': plain({ name: opt(sysctlName), value: opt(T.int) }),
  'ctl.ping': plain({
    dst: ipHost,
    count: opt(intIn(1, 100)),
    size: opt(intIn(0, 65507)),
    timeout: opt(intIn(1, 60_000)),
    interval: opt(intIn(0, 60_000)),
    ttl: opt(intIn(1, 255)),
  }),
  'ctl.halt': plain({}),
  'ctl.clients': plain({ cursor: opt(listCursor), limit: opt(rowLimit) }),
  'ctl.usage': plain({ cursor: opt(listCursor), limit: opt(rowLimit) }),
};

/**
 * Validates `args` against `schema`: a plain map, every required key present,
 * every value passing its check, no unknown keys. Returns the first problem
 * as text, or undefined when the arguments are well formed.
 */
export function checkArgs(schema: SyscallSchema, args: unknown): string | undefined {
  if (!isPlainObject(args)) return 'arguments must be a map';
  if (schema.args === 'loose') return undefined;
  const spec = schema.args;
  for (const key of Object.keys(args)) {
    if (!Object.prototype.hasOwnProperty.call(spec, key)) return `unknown argument '${key}'`;
  }
  for (const key of Object.keys(spec)) {
    const check = spec[key]!;
    const v = args[key];
    if (v === undefined && !optional.has(check)) return `missing argument '${key}'`;
    const why = check(v);
    if (why !== undefined) return `argument '${key}' must be ${why}`;
  }
  return undefined;
}
