/**
 * The rump server's configuration: parsed from the command line (with
 * commander) and the `RUMP_SERVER` environment variable, validated in one
 * place so that every bad argument gets a usage error naming it.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import ipaddr from 'ipaddr.js';
import { resolveAdminGroup, type AdminGroup } from './session/admin.js';

/** Where the server listens for rump clients. */
export type ListenUrl =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number };

/** A validated server configuration. */
export interface ServerConfig {
  listen: ListenUrl;
  /** Tap device to attach to (created if it does not exist), or null. */
  tap: string | null;
  /**
   * The tap's checksum/segmentation offloads: `'auto'` (default, also when
   * absent) probes and falls back when the kernel refuses, `'require'`
   * (`--offload`) fails to start then, `'off'` (`--no-offload`) never asks.
   */
  offload?: 'auto' | 'require' | 'off';
  /**
   * With a tap: µs to spin reading the tap for an answer after a turn that
   * wrote to it (`--busy-poll`, 0..1000; 0 or absent = off, the default).
   * See `TapLink.busyPollUs`.
   */
  busyPollUs?: number;
  /** Bus directory to join (rootless shared Ethernet segment), or null. */
  bus: string | null;
  /** Addresses for the tap or bus interface, `a.b.c.d/len`. */
  addrs: string[];
  gateway: string | null;
  /** Get the interface's address, netmask, router and lease by DHCP (`--dhcp`, RFC 2131). */
  dhcp?: boolean;
  mtu: number;
  mclbytes: 2048 | 4096;
  mclnum: number;
  /**
   * Copy requests a send keeps outstanding (`--copy-window`, 1..64): 1 is
   * NetBSD's one COPYIN at a time; more asks for the next clusters before
   * the reply to the previous request arrives (within the send buffer's
   * space and the client's `--max-copyins`).
   */
  copyWindow: number;
  /**
   * Most bytes a send may carry inline with its request (`--inline-max`,
   * 0..65536, 0 = off: every byte is COPYINed, as NetBSD's rump). Announced
   * in the handshake.
   */
  inlineMax: number;
  /**
   * Most bytes a receive may return inside its reply instead of by a
   * COPYOUT (`--inline-recv-max`, 0..65536, 0 = off: every receive is
   * COPYOUTed, as NetBSD's rump). Only for clients that announce they take
   * them; counted against the bytes the call returns, not the buffer asked.
   */
  inlineRecvMax: number;
  /**
   * Posted sends (docs/PROTOCOL.md §6): most inline bytes (`--posted-window`,
   * 0 = off, as `--no-posted-send`) and requests (`--posted-calls`) a client
   * may have posted — sent with no RESP awaited — and not yet acknowledged.
   * Only inline sends are posted: off whenever `inlineMax` is 0.
   */
  postedWindow: number;
  postedCalls: number;
  /**
   * Largest shared-memory region (header included) a client may offer for
   * its COPYOUT bytes (`--shm-max`, docs/PROTOCOL.md §7a); 0 = off
   * (`--no-shm`, the NetBSD-equivalent: every byte on the socket).
   */
  shmMax?: number;
  /** Most region bytes all sessions may map at once (`--shm-total`). */
  shmTotal?: number;
  nmbclusters: number;
  /** How receive data goes back to clients: one COPYOUT per mbuf (NetBSD) or coalesced. */
  rxMode: 'per-mbuf' | 'coalesced';
  pcap: string | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Mode bits of the Unix socket file (default 0600). */
  socketMode: number;
  /** Most open descriptors per client (EMFILE beyond), like RLIMIT_NOFILE. */
  maxFds: number;
  // --- the admin boundary (docs/PROTOCOL.md "Who may call what") ---
  /** Groups whose members are admin besides root and the server's uid (`--admin-group`, repeatable). */
  adminGroups?: AdminGroup[];
  /** TCP clients (no credentials) are admin (`--tcp-admin`); off by default. */
  tcpAdmin?: boolean;
  /** Per-client quotas and server-wide caps (`--max-sessions`, `--client-clusters`, ...). */
  quota: QuotaConfig;
}

/**
 * What one client may hold and what all may hold together — every limit of
 * docs/ARCHITECTURE.md "Resource limits" (server), settable at start.
 */
export interface QuotaConfig {
  /** Sessions open at once; more are refused with a clear ERROR before the handshake. */
  maxSessions: number;
  /** Descriptors over all clients (ENFILE beyond). */
  maxFiles: number;
  /**
   * Clusters one client's sockets may hold (send and receive buffers,
   * copies in flight), as socket-buffer storage: each cluster counts
   * MCLBYTES + MSIZE. `null`: a sixteenth of `--nmbclusters` (at least 64).
   */
  clientClusters: number | null;
  /**
   * Clusters all sessions of one user (Unix uid; TCP peer address) may hold
   * together. `null`: a quarter of `--nmbclusters`, at least one client's
   * (quota.ts `userLimitsOf` says why).
   */
  userClusters: number | null;
  /** Descriptors over all sessions of one user (EMFILE beyond). `null`: a quarter of `--max-files`, at least `--max-fds`. */
  userFds: number | null;
  /** Sessions of one user at once (refused beyond). `null`: a quarter of `--max-sessions`, at least 1. */
  userSessions: number | null;
  /**
   * Shared-region bytes (§7a) all sessions of one user may have mapped
   * together; an offer past it is answered `ok: false` and that session
   * runs on the socket. `null`: a quarter of `--shm-total`, at least one
   * `--shm-max` region.
   */
  userShm?: number | null;
  /**
   * Memory of requests queued behind `--max-in-flight` over all sessions of
   * one user; the session whose queueing passes it is disconnected as a
   * flood. `null`: four times `--max-queued-bytes`.
   */
  userQueuedBytes?: number | null;
  /** COPYIN requests outstanding per client; more wait for a slot. */
  maxCopyins: number;
  /** Milliseconds a COPYIN may stay unanswered (slot wait included); then EFAULT. */
  copyinTimeoutMs: number;
  /** Largest frame a client may send (bytes). */
  maxClientFrame: number;
  /** Milliseconds a frame may stay half-received. */
  frameTimeoutMs: number;
  /** Milliseconds allowed for the handshake. */
  handshakeTimeoutMs: number;
  /** Memory of queued replies at which reading a client's requests stops (backpressure). */
  replyBackpressureBytes: number;
  /** Memory of queued replies at which a client is disconnected. */
  maxReplyBytes: number;
  /** Syscalls one client has served at once. */
  maxInFlight: number;
  /** Memory of requests queued behind them before the client is disconnected. */
  maxQueuedBytes: number;
}

/** The default socket path when neither an argument nor `RUMP_SERVER` names one. */
export const DEFAULT_SOCKET = 'unix:///tmp/rumpnet.sock';

/** Thrown for a bad command line; `message` is the one-line reason, `exitCode` 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Most clusters the stack's `ClusterPool` accepts (its `nmbclusters` range is 1..2^20). */
export const NMBCLUSTERS_MAX = 1 << 20;

/**
 * Largest cluster slab (`nmbclusters * mclbytes`) we allocate: 2 GiB. The
 * slab is one ArrayBuffer allocated at start; beyond this the server would
 * fail (or swap) long after the command line looked fine.
 */
export const SLAB_MAX_BYTES = 2 ** 31;

function intIn(name: string, lo: number, hi: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}"`);
    const n = Number(v);
    if (n < lo || n > hi) throw new InvalidArgumentError(`${name} must be between ${lo} and ${hi}, got ${n}`);
    return n;
  };
}

/** Like {@link intIn}, with an optional K/M/G suffix (binary units): `512K`, `32M`. */
function bytesIn(name: string, lo: number, hi: number) {
  return (v: string): number => {
    const m = /^(\d+)([KMG]?)$/i.exec(v);
    if (!m) throw new InvalidArgumentError(`${name} must be a number of bytes like 1048576 or 1M, got "${v}"`);
    const n = Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]!.toUpperCase()]!;
    if (n < lo || n > hi) throw new InvalidArgumentError(`${name} must be between ${lo} and ${hi} bytes, got ${n}`);
    return n;
  };
}

function cidr(v: string, prev: string[] = []): string[] {
  try {
    const [addr, len] = ipaddr.parseCIDR(v);
    if (addr.kind() !== 'ipv4') throw new Error('not IPv4');
    return [...prev, `${addr.toString()}/${len}`];
  } catch {
    throw new InvalidArgumentError(`--addr wants an IPv4 address with a prefix length like 10.0.0.2/24, got "${v}"`);
  }
}

function ipv4(v: string): string {
  if (!ipaddr.IPv4.isValidFourPartDecimal(v)) throw new InvalidArgumentError(`wants an IPv4 address like 10.0.0.1, got "${v}"`);
  return v;
}

/**
 * Parse a rump server URL: `unix:///abs/path`, a plain path, or (only when
 * explicitly asked) `tcp://127.0.0.1:PORT` — the control protocol is never
 * offered on a non-loopback address.
 */
export function parseListenUrl(url: string): ListenUrl {
  if (url.startsWith('unix://')) {
    const path = url.slice('unix://'.length);
    if (!path) throw new UsageError(`empty socket path in "${url}"`);
    return { kind: 'unix', path };
  }
  if (url.startsWith('tcp://')) {
    const m = /^tcp:\/\/([^:/]+):(\d+)$/.exec(url);
    if (!m) throw new UsageError(`tcp URL must be tcp://HOST:PORT, got "${url}"`);
    const host = m[1]!;
    const port = Number(m[2]);
    // 0 asks the kernel for a free port; the banner prints the one it gave.
    if (port > 65535) throw new UsageError(`port must be 0..65535 (0: any free one), got ${port}`);
    if (!ipaddr.IPv4.isValidFourPartDecimal(host) || !ipaddr.parse(host).range().startsWith('loopback')) {
      throw new UsageError(`the control protocol listens on loopback only; got host "${host}"`);
    }
    return { kind: 'tcp', host, port };
  }
  if (/^[a-z]+:\/\//.test(url)) throw new UsageError(`unsupported URL scheme in "${url}" (use unix:// or tcp://127.0.0.1:PORT)`);
  return { kind: 'unix', path: url };
}

/** `--admin-group NAME|GID`, repeatable: resolved now, so a typo is a usage error at start. */
function adminGroup(v: string, prev: AdminGroup[] = []): AdminGroup[] {
  try {
    return [...prev, resolveAdminGroup(v)];
  } catch (e) {
    throw new InvalidArgumentError(`--admin-group: ${(e as Error).message}`);
  }
}

/** Build the commander program (exported so `--help` text can be tested and documented). */
export function buildProgram(version: string): Command {
  return new Command('rump-server')
    .description('Host the rumpnet stack and serve socket system calls to rump clients over a Unix domain socket.')
    .version(version, '-V, --version')
    .argument('[url]', `where to listen (unix:///path or tcp://127.0.0.1:PORT); default $RUMP_SERVER or ${DEFAULT_SOCKET}`)
    .option('--tap <name>', 'attach a Linux tap device (created if missing; needs CAP_NET_ADMIN)')
    .option('--offload', 'with --tap: require the checksum and TCP segmentation offloads (IFF_VNET_HDR: TSO out, large receive in); fail to start if the kernel refuses [default: use them when the kernel accepts them]')
    .option('--no-offload', 'with --tap: no offloads, one write(2) per frame (the NetBSD-equivalent configuration)')
    .option('--busy-poll <us>', "with --tap: after a turn that wrote to the tap, spin up to this many µs for the answer instead of sleeping (Linux's SO_BUSY_POLL; costs that CPU; 0 = off)", intIn('--busy-poll', 0, 1000), 0)
    .option('--bus <dir>', 'join a rootless shared Ethernet bus in this directory')
    .option('--addr <cidr>', 'IPv4 address for the tap or bus interface, repeatable', cidr, [])
    .option('--gateway <ip>', 'default gateway', ipv4)
    .option('--dhcp', 'with --tap or --bus: get the address, netmask, router and lease by DHCP (RFC 2131), renewing it')
    .option('--mtu <n>', 'interface MTU', intIn('--mtu', 576, 65535), 1500)
    .addOption(new Option('--mclbytes <n>', 'mbuf cluster size').choices(['2048', '4096']).default('2048'))
    .option('--mclnum <n>', 'clusters per copyin request (1 = NetBSD behaviour)', intIn('--mclnum', 1, 64), 16)
    .option('--copy-window <n>', 'COPYIN requests one send keeps outstanding (1 = NetBSD: one round trip at a time)', intIn('--copy-window', 1, 64), 4)
    .option('--inline-max <bytes>', 'most bytes a send may carry with its request instead of a COPYIN round trip (0 = off, the NetBSD-equivalent)', intIn('--inline-max', 0, 65536), 2048)
    .option('--inline-recv-max <bytes>', 'most bytes a receive may return inside its reply instead of by a COPYOUT (0 = off, the NetBSD-equivalent)', intIn('--inline-recv-max', 0, 65536), 2048)
    .option('--posted-window <bytes>', 'most bytes of posted sends (inline stream sends answered without a reply) a client may have unacknowledged (0 = off)', intIn('--posted-window', 0, 1024 * 1024), 64 * 1024)
    .option('--posted-calls <n>', 'most posted sends a client may have unacknowledged', intIn('--posted-calls', 1, 4096), 64)
    .option('--no-posted-send', 'no posted sends: every send waits for its reply (as --posted-window 0)')
    .option('--shm-max <bytes>', 'largest shared-memory region a client may offer for its receive data (0 = off)', intIn('--shm-max', 0, 1 << 30), 4 * 1024 * 1024 + 4096)
    .option('--no-shm', 'no shared-memory data path: every COPYOUT carries its bytes on the socket (the NetBSD-equivalent)')
    .option('--shm-total <bytes>', 'most shared-memory region bytes all clients may have mapped at once', intIn('--shm-total', 0, 2 ** 40), 256 * 1024 * 1024)
    .option('--nmbclusters <n>', 'clusters in the pool, allocated at start', intIn('--nmbclusters', 64, NMBCLUSTERS_MAX), 16384)
    .addOption(new Option('--rx-mode <mode>', 'receive copyout: one per mbuf, or coalesced').choices(['per-mbuf', 'coalesced']).default('coalesced'))
    .option('--pcap <file>', 'write every frame of the tap/bus interface to a pcap file')
    .addOption(
      new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    )
    .option('--socket-mode <octal>', 'mode of the socket file', '600')
    .option('--max-fds <n>', 'most open descriptors per client (EMFILE beyond)', intIn('--max-fds', 1, 65536), 1024)
    // The admin boundary: halt, sysctl writes, configuration changes and other clients' details.
    .option('--admin-group <name|gid>', 'members of this group are admin too (besides root and the server\'s uid); repeatable', adminGroup, [])
    .option('--tcp-admin', 'make tcp:// clients admin (they carry no credentials: any local user could halt the server)')
    .option('--max-files <n>', 'most descriptors over all clients (ENFILE beyond)', intIn('--max-files', 1, 1 << 22), 65536)
    .option('--max-sessions <n>', 'most clients at once; more are refused with a clear error (kept below the process RLIMIT_NOFILE)', intIn('--max-sessions', 1, 1 << 20), 256)
    .option('--client-clusters <n>', "clusters one client's sockets may hold: buffers and copies in flight (ENOBUFS beyond) [default: nmbclusters/16, at least 64]", intIn('--client-clusters', 1, NMBCLUSTERS_MAX))
    .option('--user-clusters <n>', "clusters all sessions of one user (uid; tcp:// peer address) may hold together (ENOBUFS beyond; admins exempt) [default: nmbclusters/4, at least --client-clusters]", intIn('--user-clusters', 1, NMBCLUSTERS_MAX))
    .option('--user-fds <n>', 'descriptors over all sessions of one user (EMFILE beyond; admins exempt) [default: max-files/4, at least --max-fds]', intIn('--user-fds', 1, 1 << 22))
    .option('--user-sessions <n>', 'sessions of one user at once; more are refused naming the limit (admins exempt) [default: max-sessions/4, at least 1]', intIn('--user-sessions', 1, 1 << 20))
    .option('--user-shm <bytes>', "shared-memory region bytes all sessions of one user may have mapped; further offers are refused, those sessions run on the socket (admins exempt) [default: shm-total/4, at least --shm-max]", intIn('--user-shm', 0, 2 ** 40))
    .option('--user-queued-bytes <bytes>', "memory of requests queued over all sessions of one user; the session that passes it is disconnected (admins exempt) [default: 4 x max-queued-bytes]", bytesIn('--user-queued-bytes', 4096, 2 ** 40))
    .option('--max-copyins <n>', 'COPYIN requests outstanding per client; more wait for a slot', intIn('--max-copyins', 1, 65536), 64)
    .option('--copyin-timeout <ms>', 'how long a COPYIN may stay unanswered before the copy fails (EFAULT)', intIn('--copyin-timeout', 10, 600_000), 5000)
    .option('--max-frame <bytes>', 'largest frame a client may send (at least MCLNUM x MCLBYTES + 80)', bytesIn('--max-frame', 65_536 + 80, 64 * 1024 * 1024), 256 * 1024 + 4096)
    .option('--frame-timeout <ms>', 'how long a frame may stay half-received before the client is disconnected', intIn('--frame-timeout', 10, 600_000), 10_000)
    .option('--handshake-timeout <ms>', 'how long a new client may take to complete the handshake', intIn('--handshake-timeout', 10, 600_000), 10_000)
    .option('--reply-backpressure <bytes>', "replies queued to a client (memory) at which its requests stop being read", bytesIn('--reply-backpressure', 64 * 1024, 1024 ** 3), 1024 * 1024)
    .option('--max-reply-bytes <bytes>', 'replies queued to a client (memory) at which it is disconnected', bytesIn('--max-reply-bytes', 64 * 1024, 4 * 1024 ** 3), 32 * 1024 * 1024)
    .option('--max-in-flight <n>', 'syscalls one client has served at once; more are queued', intIn('--max-in-flight', 1, 65536), 256)
    .option('--max-queued-bytes <bytes>', 'requests queued behind them (memory) at which the client is disconnected', bytesIn('--max-queued-bytes', 4096, 1024 ** 3), 8 * 1024 * 1024)
    .addHelpText(
      'after',
      '\nAdmin boundary: every client may use sockets and read (ifconfig, route, netstat, sysctl, its own\n' +
        'line of clients). Halt, sysctl writes, ifconfig/route/arp changes and other clients\' details need\n' +
        'an admin: by SO_PEERCRED, root, the server\'s uid or an --admin-group member; tcp:// clients only\n' +
        'with --tcp-admin. Others get EPERM (docs/PROTOCOL.md section 13).\n',
    )
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
}

/**
 * Parse `argv` (without node and script) into a {@link ServerConfig}.
 * Throws {@link UsageError} for bad input; returns `'exit'` after `--help` or
 * `--version` printed their text.
 */
export function parseServerArgs(argv: string[], env: NodeJS.ProcessEnv = process.env, version = '0.0.0'): ServerConfig | 'exit' {
  const program = buildProgram(version);
  let printed = false;
  program.configureOutput({
    writeOut: (s) => {
      printed = true;
      process.stdout.write(s);
    },
    writeErr: () => {},
  });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (printed || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 'exit';
      throw new UsageError(e.message.replace(/^error: /, ''));
    }
    throw e;
  }
  const o = program.opts();
  if (o.tap && o.bus) throw new UsageError('--tap and --bus are alternatives: give one');
  if (o.nmbclusters * Number(o.mclbytes) > SLAB_MAX_BYTES) {
    throw new UsageError(
      `--nmbclusters ${o.nmbclusters} x --mclbytes ${o.mclbytes} is ${Number(((o.nmbclusters * Number(o.mclbytes)) / 2 ** 30).toFixed(2))} GiB of clusters; at most 2 GiB`,
    );
  }
  if ((o.addr as string[]).length > 0 && !o.tap && !o.bus) throw new UsageError('--addr needs an interface: add --tap NAME or --bus DIR');
  if (o.gateway && !o.tap && !o.bus) throw new UsageError('--gateway needs an interface: add --tap NAME or --bus DIR');
  if (o.pcap && !o.tap && !o.bus) throw new UsageError('--pcap records the tap or bus interface: add --tap NAME or --bus DIR');
  if (o.offload === true && !o.tap) throw new UsageError('--offload is a tap feature: add --tap NAME');
  if (o.busyPoll > 0 && !o.tap) throw new UsageError('--busy-poll is a tap feature: add --tap NAME');
  if (o.dhcp && !o.tap && !o.bus) throw new UsageError('--dhcp needs an interface: add --tap NAME or --bus DIR');
  if (o.dhcp && ((o.addr as string[]).length > 0 || o.gateway)) throw new UsageError('--dhcp configures the address and router itself: drop --addr and --gateway');
  if (!/^[0-7]{3}$/.test(o.socketMode)) throw new UsageError(`--socket-mode wants three octal digits like 600, got "${o.socketMode}"`);
  if (o.tap && !/^[A-Za-z0-9_.-]{1,15}$/.test(o.tap)) throw new UsageError(`--tap wants an interface name of 1-15 characters [A-Za-z0-9_.-], got "${o.tap}"`);
  if (o.maxFrame < o.mclnum * Number(o.mclbytes) + 80) {
    throw new UsageError(`--max-frame ${o.maxFrame} cannot carry one copy of --mclnum ${o.mclnum} x --mclbytes ${o.mclbytes} (needs ${o.mclnum * Number(o.mclbytes) + 80})`);
  }
  if (o.replyBackpressure > o.maxReplyBytes) {
    throw new UsageError(`--reply-backpressure ${o.replyBackpressure} must not exceed --max-reply-bytes ${o.maxReplyBytes}`);
  }
  const url: string = program.args[0] ?? env.RUMP_SERVER ?? DEFAULT_SOCKET;
  if (o.tcpAdmin && parseListenUrl(url).kind !== 'tcp') throw new UsageError('--tcp-admin applies to a tcp:// listener only');
  return {
    listen: parseListenUrl(url),
    tap: o.tap ?? null,
    offload: o.offload === true ? 'require' : o.offload === false ? 'off' : 'auto',
    busyPollUs: o.busyPoll,
    bus: o.bus ?? null,
    addrs: o.addr,
    gateway: o.gateway ?? null,
    dhcp: o.dhcp === true,
    mtu: o.mtu,
    mclbytes: Number(o.mclbytes) as 2048 | 4096,
    mclnum: o.mclnum,
    copyWindow: o.copyWindow,
    inlineMax: o.inlineMax,
    inlineRecvMax: o.inlineRecvMax,
    postedWindow: o.postedSend === false ? 0 : o.postedWindow,
    postedCalls: o.postedCalls,
    shmMax: o.shm === false ? 0 : o.shmMax,
    shmTotal: o.shmTotal,
    nmbclusters: o.nmbclusters,
    rxMode: o.rxMode,
    pcap: o.pcap ?? null,
    logLevel: o.logLevel,
    socketMode: parseInt(o.socketMode, 8),
    maxFds: o.maxFds,
    adminGroups: o.adminGroup as AdminGroup[],
    tcpAdmin: o.tcpAdmin === true,
    quota: {
      maxSessions: o.maxSessions,
      maxFiles: o.maxFiles,
      clientClusters: o.clientClusters ?? null,
      userClusters: o.userClusters ?? null,
      userFds: o.userFds ?? null,
      userSessions: o.userSessions ?? null,
      userShm: o.userShm ?? null,
      userQueuedBytes: o.userQueuedBytes ?? null,
      maxCopyins: o.maxCopyins,
      copyinTimeoutMs: o.copyinTimeout,
      maxClientFrame: o.maxFrame,
      frameTimeoutMs: o.frameTimeout,
      handshakeTimeoutMs: o.handshakeTimeout,
      replyBackpressureBytes: o.replyBackpressure,
      maxReplyBytes: o.maxReplyBytes,
      maxInFlight: o.maxInFlight,
      maxQueuedBytes: o.maxQueuedBytes,
    },
  };
}

/**
 * The configuration `rump-server` runs with when given no arguments
 * (loopback only, {@link DEFAULT_SOCKET}), with `overrides` applied — for
 * servers started in-process (tests, embedding). `quota` overrides merge
 * into the default quotas field by field.
 */
export function defaultConfig(overrides: Partial<Omit<ServerConfig, 'quota'>> & { quota?: Partial<QuotaConfig> } = {}): ServerConfig {
  const base = parseServerArgs([], {}) as ServerConfig;
  return { ...base, ...overrides, quota: { ...base.quota, ...overrides.quota } };
}
