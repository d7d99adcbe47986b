/**
 * The rump server: one stack, one listening socket, one process per client.
 * What NetBSD's `rump_server` does with `rumpuser_sp_init` plus the
 * `RUMP_SERVER` environment — build the kernel (here the `Stack` with its
 * cluster pool: MCLBYTES, MCLNUM, nmbclusters), attach the interface asked
 * for (a tap, the rootless bus, optionally recorded to pcap), then serve
 * system calls until told to halt.
 *
 * Life cycle of a client: the listener makes a session; the server gives it
 * a descriptor table at once (before any of its frames is read); when the
 * session closes — hang-up, protocol fault, server shutdown — the close hook
 * closes every descriptor of that table, which frees its sockets and their
 * mbufs and wakes any of its calls still blocked, and logs one line with the
 * client's counters.
 *
 * @example
 * ```ts
 * import { RumpServer, defaultConfig } from '@rumpnet/server';
 * const srv = await RumpServer.start(defaultConfig({ listen: { kind: 'unix', path: '/tmp/r.sock' }, mclnum: 1 }));
 * // RUMP_SERVER=unix:///tmp/r.sock node app.js
 * await srv.close('done');
 * ```
 *
 * @module
 */
import type { Link, PoolStats } from '@rumpnet/stack';
import { BusLink, OFFLOAD_OFF_ASKED, TapLink, withPcap } from '@rumpnet/tap-bridge';
import type { ServerConfig } from './config.js';
import { ctlHandlers, offloadNames } from './ctl/handlers.js';
import { guardHandlers } from './ctl/privilege.js';
import { SliceRunner } from './ctl/slices.js';
import { sessionLogger, silentServerLogger, type ServerLogger } from './log.js';
import { usageHandlers } from './ctl/usage.js';
import { ClientAccount, UserLedger, UserQueueShare, effectiveMaxSessions, quotaBytes, sessionLimitsOf, userLimitsOf } from './quota.js';
import { AdminPolicy, DEFAULT_LIMITS, RumpListener, type ClientSession, type SessionCounters, type SessionLimits, type StackParams, type SyscallHandlers } from './session/index.js';
import { ShmLedger } from './session/shm.js';
import { MSIZE, createNetStack, type NetStack, type SocketLayer, type Stack } from './stackapi.js';
import type { ClientProcess } from './syscalls/process.js';
import type { CtlCopyTotals } from './proto/index.js';
import { socketHandlers } from './syscalls/socket.js';
import { DhcpClient, ipv4ToString, type DhcpEvent } from '@rumpnet/stack';

/** Options of {@link RumpServer.start} besides the configuration. */
export interface RumpServerOptions {
  /** Logger (default: silent). The CLI passes pino at `--log-level`. */
  readonly log?: ServerLogger;
  /** Per-client protocol limits, over those of `config.quota` (tests shorten timeouts here). */
  readonly limits?: Partial<SessionLimits>;
  /** Banner software name (default `rump-server/0.1.0`). */
  readonly software?: string;
  /**
   * The interface to attach instead of opening `--tap`/`--bus` (tests hand
   * in an in-memory link). `--addr`, `--gateway` and `--pcap` still apply.
   */
  readonly link?: Link;
}

/** A snapshot of what the server holds, for `rumpctl` and leak checks. */
export interface ServerSnapshot {
  /** Clients connected. */
  readonly clients: number;
  /** Open descriptors over all clients. */
  readonly fds: number;
  /** Sockets alive in the stack (with or without a descriptor). */
  readonly sockets: number;
  /** The cluster pool's counters. */
  readonly pool: PoolStats;
  /** True when the pool has every cluster and mbuf back. */
  readonly poolAllFree: boolean;
}

/** Opens the configured interface (tap or bus), wrapped for pcap if asked; null for loopback only. */
function openLink(cfg: ServerConfig, given: Link | undefined): Link | null {
  let link: Link | null = given ?? null;
  // Offloads where the kernel accepts them (cfg.offload 'auto'); TapLink
  // falls back to a plain tap and keeps the reason (offloadsOff).
  if (link === null && cfg.tap !== null) {
    const tap = TapLink.open({ name: cfg.tap, mtu: cfg.mtu, offload: cfg.offload ?? 'auto' });
    tap.busyPollUs = cfg.busyPollUs ?? 0;
    link = tap;
  }
  if (link === null && cfg.bus !== null) link = BusLink.open({ dir: cfg.bus, mtu: cfg.mtu, name: 'bus0' });
  if (link !== null && cfg.pcap !== null) link = withPcap(link, cfg.pcap);
  return link;
}

/** A running rump server. */
export class RumpServer {
  /** The configuration it runs with. */
  readonly config: ServerConfig;
  /** The stack (pool, interfaces, routes, sysctl). */
  readonly stack: Stack;
  /** The socket layer every client's descriptor table lives in. */
  readonly layer: SocketLayer;
  /** Parameters reported to clients in the handshake. */
  readonly params: StackParams;
  /** Banner software name. */
  readonly software: string;
  /** Copy counters of the sessions that have closed (see {@link RumpServer.copyTotals}). */
  private readonly departedCopies: CopyTotals = { copyinRequests: 0, copyinsAvoided: 0, inlineBytes: 0, copyoutRequests: 0, copyoutsAvoided: 0, inlineRecvBytes: 0, postedSends: 0, shmCopyouts: 0, shmFallbacks: 0 };
  /** Resolves once {@link RumpServer.close} has finished (also after `ctl.halt`), with the reason. */
  readonly done: Promise<string>;

  /** The stack with its socket layer and transports (for embedding and tests). */
  readonly net: NetStack;
  /** Who is admin: root, the server's uid, `--admin-group`s, TCP clients with `--tcp-admin`. */
  readonly admin: AdminPolicy;
  /** Where long control replies (listings) are built, in slices shared round-robin between clients. */
  readonly runner = new SliceRunner();
  private listenerRef: RumpListener | undefined;
  /** The session cap in force: `--max-sessions`, kept below the process's descriptor limit. */
  readonly maxSessions: number;
  /** Each client's cluster quota in bytes of socket-buffer storage (`--client-clusters` × (MCLBYTES + MSIZE)). */
  readonly clientQuotaBytes: number;
  /** The shared-memory regions the sessions map (§7a): `--shm-max` each, `--shm-total` in all. */
  readonly shm: ShmLedger;
  /** The session limits in force. */
  readonly sessionLimits: SessionLimits;
  /** Every user's sessions, storage and descriptors together, against the `--user-*` limits. */
  readonly users: UserLedger;
  private readonly procs = new Map<number, ClientProcess>();
  private readonly log: ServerLogger;
  private readonly startedAt = Date.now();
  private closing: Promise<void> | undefined;
  private resolveDone!: (reason: string) => void;

  private constructor(config: ServerConfig, opts: RumpServerOptions) {
    this.config = config;
    this.log = opts.log ?? silentServerLogger();
    this.software = opts.software ?? 'rump-server/0.1.0';
    this.done = new Promise((r) => (this.resolveDone = r));
    this.params = { mclbytes: config.mclbytes, mclnum: config.mclnum, copyWindow: config.copyWindow, inlineMax: config.inlineMax, inlineRecvMax: config.inlineRecvMax, postedWindow: config.postedWindow, postedCalls: config.postedCalls, rxMode: config.rxMode };
    // The whole kernel at once: Stack (pool, lo0, ARP, IPv4, ICMP), socket layer, UDP, TCP.
    this.net = createNetStack({
      mclbytes: config.mclbytes,
      mclnum: config.mclnum,
      nmbclusters: config.nmbclusters,
      sockets: { copyWindow: config.copyWindow },
    });
    this.stack = this.net.stack;
    this.layer = this.net.sockets;
    this.admin = new AdminPolicy({ groups: config.adminGroups ?? [], tcpAdmin: config.tcpAdmin === true });
    this.maxSessions = effectiveMaxSessions(config.quota.maxSessions, this.log);
    this.clientQuotaBytes = quotaBytes(config);
    this.users = new UserLedger(userLimitsOf(config, this.maxSessions));
    this.shm = new ShmLedger(config.shmMax ?? 0, config.shmTotal ?? 0, this.users);
    this.sessionLimits = { ...DEFAULT_LIMITS, ...sessionLimitsOf(config.quota), ...opts.limits };
  }

  /**
   * Builds the stack from `config`, attaches its interface and starts
   * listening. Rejects (after freeing what it built) when the interface
   * cannot be opened (a TapError: no tap permission, ...) or the socket path
   * is taken (`EADDRINUSE`), not a socket (`EEXIST`), or not allowed.
   */
  static async start(config: ServerConfig, opts: RumpServerOptions = {}): Promise<RumpServer> {
    const srv = new RumpServer(config, opts);
    try {
      const link = openLink(config, opts.link);
      if (link !== null) {
        const ifp = srv.stack.attachLink(link, { addrs: config.addrs, up: true });
        if (config.gateway !== null) srv.stack.setDefaultGateway(config.gateway);
        if (config.dhcp === true) srv.startDhcp(ifp.name);
      }
      srv.listenerRef = await RumpListener.listen(srv.urlOf(config), {
        handlers: srv.handlers(),
        params: srv.params,
        limits: srv.sessionLimits,
        maxSessions: srv.maxSessions,
        log: sessionLogger(srv.log),
        software: srv.software,
        mode: config.socketMode,
        admin: srv.admin,
        admit: (auth) => srv.users.refusal(auth.principal, auth.admin),
        shm: srv.shm,
        onSession: (s) => srv.adopt(s),
      });
    } catch (e) {
      srv.net.close();
      throw e;
    }
    const offloads = srv.offloadSummary();
    for (const o of offloads) {
      // A refusal is worth a warning: the server runs, but with ~45 writes per 64 KiB instead of one.
      if (o.off !== undefined && o.off !== OFFLOAD_OFF_ASKED) srv.log.warn({ ifname: o.ifname, reason: o.off }, 'tap offloads refused: running without (no TSO, no large receive)');
    }
    srv.log.info(
      {
        listen: srv.url,
        interfaces: srv.stack.ifnetList().map((i) => i.name),
        offloads: Object.fromEntries(offloads.map((o) => [o.ifname, o.text])),
        ...srv.params,
        nmbclusters: config.nmbclusters,
        admin: srv.admin.describe(),
      },
      'rump server started',
    );
    if (srv.admin.tcpAdmin && config.listen.kind === 'tcp') {
      srv.log.warn({ listen: srv.url }, '--tcp-admin: every local user who can reach this port may halt the server and write sysctls');
    }
    return srv;
  }

  /** The DHCP client of the interface (`--dhcp`), or null. */
  dhcp: DhcpClient | null = null;

  /** Start `--dhcp` on `ifname`: its leases and their changes go to the log. */
  private startDhcp(ifname: string): void {
    const c = new DhcpClient(this.stack, ifname, { table: this.net.newProcess(), hostname: this.stack.hostname });
    c.on('event', (e: DhcpEvent) => {
      if (e.type === 'state') this.log.debug({ ifname, from: e.from, to: e.to }, 'dhcp state');
      else if (e.type === 'expired' || e.type === 'nak') this.log.warn({ ifname, addr: ipv4ToString(e.addr) }, `dhcp: lease ${e.type === 'nak' ? 'refused (NAK)' : 'expired'}`);
      else if (e.type === 'bound' || e.type === 'renewed' || e.type === 'rebound') {
        const l = e.lease;
        this.log.info(
          { ifname, addr: `${ipv4ToString(l.addr)}/${l.prefixLen}`, router: l.router === null ? null : ipv4ToString(l.router), server: ipv4ToString(l.server), leaseSecs: l.leaseSecs, t1Secs: l.t1Secs, t2Secs: l.t2Secs },
          `dhcp: ${e.type}`,
        );
      }
    });
    c.start();
    this.dhcp = c;
  }

  /**
   * Each interface's offloads in words, as the banner and the start log
   * say them: `options=TXCSUM,TSO4,RXCSUM,LRO`, `off: <why>`, or
   * `none` (loopback, the bus). `off` is the link's reason when off.
   */
  offloadSummary(): { ifname: string; text: string; off?: string }[] {
    return this.stack.ifnetList().map((i) => {
      const l = i.link;
      if (l.offloadsOff !== undefined) return { ifname: i.name, text: `off: ${l.offloadsOff}`, off: l.offloadsOff };
      const opts = offloadNames(l.offloads);
      return { ifname: i.name, text: opts.length > 0 ? `options=${opts.join(',')}` : 'none' };
    });
  }

  /** The listener (open until {@link RumpServer.close}). */
  get listener(): RumpListener {
    return this.listenerRef!;
  }

  /** The URL clients connect to (`unix:///path` or `tcp://127.0.0.1:PORT`). */
  get url(): string {
    return this.listener.url;
  }

  /** Every client process now, in connection order. */
  processes(): ClientProcess[] {
    return [...this.procs.values()];
  }

  /** Descriptors open over all clients (what `--max-files` caps). */
  openFiles(): number {
    let fds = 0;
    for (const p of this.procs.values()) fds += p.table.size;
    return fds;
  }

  /** The server-wide side of `rumpctl usage`: the limits in force and the totals against them. */
  quotaInfo(): import('./ctl/usage.js').UsageServerInfo {
    const pool = this.stack.pool.stats();
    return {
      sessions: this.procs.size,
      maxSessions: this.maxSessions,
      refused: this.listenerRef?.refused ?? 0,
      files: this.openFiles(),
      maxFiles: this.config.quota.maxFiles,
      clustersInUse: pool.clustersInUse,
      nmbclusters: this.config.nmbclusters,
      clusterBytes: this.config.mclbytes + MSIZE,
      clientQuotaBytes: this.clientQuotaBytes,
      maxFds: this.config.maxFds,
      userQuotaBytes: this.users.limits.clusterBytes,
      userFds: this.users.limits.fds,
      userSessions: this.users.limits.sessions,
      userShmBytes: this.users.limits.shmBytes,
      userQueuedBytes: this.users.limits.queuedBytes,
      shmMaxBytes: this.shm.maxBytes,
      shmTotalBytes: this.shm.totalBytes,
      shmBytes: this.shm.bytes,
      limits: this.sessionLimits,
    };
  }

  /** What the server holds now (see {@link ServerSnapshot}). */
  snapshot(): ServerSnapshot {
    const fds = this.openFiles();
    return {
      clients: this.procs.size,
      fds,
      sockets: this.layer.count,
      pool: this.stack.pool.stats(),
      poolAllFree: this.stack.pool.isAllFree(),
    };
  }

  /**
   * Shuts down: stops listening, disconnects every client (their close
   * hooks close all their sockets), removes the socket file, closes the
   * stack (timers, queues, the interface: tap, bus, pcap file). Idempotent;
   * resolves when everything is closed.
   */
  close(reason = 'shutdown'): Promise<void> {
    this.closing ??= (async () => {
      this.log.info({ reason, clients: this.procs.size }, 'rump server shutting down');
      if (this.listenerRef !== undefined) await this.listenerRef.close();
      await this.dhcp?.stop();
      this.net.close();
      const pool = this.stack.pool.stats();
      this.log.info(
        { reason, poolAllFree: this.stack.pool.isAllFree(), clustersInUse: pool.clustersInUse, mbufsInUse: pool.mbufsInUse },
        'rump server stopped',
      );
      this.resolveDone(reason);
    })();
    return this.closing;
  }

  // ----- internals -----

  private urlOf(c: ServerConfig): string {
    return c.listen.kind === 'unix' ? `unix://${c.listen.path}` : `tcp://${c.listen.host}:${c.listen.port}`;
  }

  private handlers(): SyscallHandlers {
    const procs = this.procs;
    const processOf = (s: ClientSession): ClientProcess | undefined => procs.get(s.id);
    return guardHandlers({
      ...socketHandlers({ processOf, rxMode: this.params.rxMode, mclbytes: this.config.mclbytes, maxFiles: this.config.quota.maxFiles, openFiles: () => this.openFiles(), userFilesFull: (p) => (p.account instanceof ClientAccount ? this.users.fdsFull(p.account.user) : undefined) }),
      ...usageHandlers({ processes: () => this.processes(), server: () => this.quotaInfo(), users: () => this.users.list(), runner: this.runner }),
      ...ctlHandlers({
        stack: this.stack,
        layer: this.layer,
        tcp: this.net.tcp,
        params: { ...this.params, nmbclusters: this.config.nmbclusters },
        software: this.software,
        listenUrl: this.urlOf(this.config),
        startedAt: this.startedAt,
        processes: () => this.processes(),
        halt: (reason) => void this.close(reason),
        runner: this.runner,
        admin: this.admin,
        copyTotals: () => this.copyTotals(),
        shm: () => {
          const m = this.shm;
          return { maxBytes: m.maxBytes, totalBytes: m.totalBytes, regions: m.regions, bytes: m.bytes, attached: m.attached, refused: m.refused };
        },
      }),
    } as SyscallHandlers, this.admin, this.log);
  }

  /**
   * The server's copy counters since start: every session's, departed ones
   * included (a client that came and went still made its copies).
   */
  copyTotals(): CopyTotals {
    const t = { ...this.departedCopies };
    for (const p of this.procs.values()) addCopies(t, p.session.counters);
    return t;
  }

  /** A new client: its own descriptor table now, its cleanup when it goes. */
  private adopt(session: ClientSession): void {
    // Its user's aggregate (quota.ts): joined in the turn the listener admitted it.
    const holder: { table: { size: number } } = { table: { size: 0 } };
    const user = this.users.join(session.auth.principal, session.auth.admin, holder);
    const account = new ClientAccount(this.clientQuotaBytes, user);
    session.shareQueue(new UserQueueShare(user));
    const proc: ClientProcess = { session, table: this.net.newProcess({ maxFds: this.config.maxFds, account }), since: Date.now(), account };
    holder.table = proc.table;
    this.procs.set(session.id, proc);
    session.onClose(async (s, reason) => {
      const fds = proc.table.size;
      // The client is gone: every descriptor it held is closed, non-blocking
      // (nobody lingers for a departed process), as exit(2) closes a
      // process's files.
      await proc.table.closeAll();
      this.procs.delete(s.id);
      this.users.leave(user, holder);
      addCopies(this.departedCopies, s.counters);
      this.log.info({ session: s.id, peer: s.peer, reason, fdsClosed: fds, counters: { ...s.counters } }, 'client disconnected');
    });
  }
}

/** A server's copy counters since start (`rumpctl clients`, the benchmark). */
export type CopyTotals = CtlCopyTotals;

/** Adds one session's copy counters to `t`. */
function addCopies(t: CopyTotals, c: SessionCounters): void {
  t.copyinRequests += c.copyinRequests;
  t.copyinsAvoided += c.copyinsAvoided;
  t.inlineBytes += c.inlineBytes;
  t.copyoutRequests += c.copyoutRequests;
  t.copyoutsAvoided += c.copyoutsAvoided;
  t.inlineRecvBytes += c.inlineRecvBytes;
  t.postedSends = (t.postedSends ?? 0) + c.postedSends;
  t.shmCopyouts = (t.shmCopyouts ?? 0) + c.shmCopyouts;
  t.shmFallbacks = (t.shmFallbacks ?? 0) + c.shmFallbacks;
}
