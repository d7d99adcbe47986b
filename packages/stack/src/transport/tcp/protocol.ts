/**
 * The TCP protocol instance of one stack: its pcb table, counters,
 * tunables (sysctl `net.inet.tcp.*`), ISN generator, SYN cache and the
 * entry points the IP layer calls (`input`, `ctlinput`) — what NetBSD
 * spreads over `tcp_subr.c` (`tcp_init`, `tcp_newtcpcb`, `tcp_ctlinput`,
 * `tcp_mss_*`) and the `inetsw` entry.
 *
 * @example
 * ```ts
 * const layer = new SocketLayer(host);
 * const tcp = new TcpProtocol(host, layer);   // registers SOCK_STREAM and proto 6
 * const table = new SocketTable(layer);
 * const fd = table.socket(AF_INET, SOCK.STREAM, 0).fd;
 * ```
 *
 * @module
 */
import { randomInt } from 'node:crypto';
import type { Clock } from '../../kern/clock.js';
import { Errno } from '../../kern/errno.js';
import { objectArray, SEQ_ZERO } from '../../kern/shape.js';
import type { Sysctl } from '../../kern/sysctl.js';
import type { ClusterPool, Mbuf } from '../../mbuf/index.js';
import type { IpOutput, IpOutputOptions, IpPacketInfo, TransportError, TransportProtocol } from '../../net/protosw.js';
import { AF, SOOPT } from '../../socket/constants.js';
import type { InetHost } from '../../socket/host.js';
import { InPcbTable, zoneFor } from '../../socket/inpcb.js';
import { DEFAULT_TUNABLES, type SocketLayer } from '../../socket/layer.js';
import type { Protosw } from '../../socket/protosw.js';
import type { Socket } from '../../socket/socket.js';
import { sockaddrFor, sockaddrIn6 } from '../../socket/sockaddr.js';
import { soSetError } from '../../socket/socket.js';
import { InetChecksum, pseudoHeaderSum } from '../../wire/checksum.js';
import type { Ip6Address } from '../../wire/ip.js';
import { newSackScratch, TCP_HEADER_LEN, TCP_MAX_SACK_BLOCKS, type SackScratch, type TcpRepr } from '../../wire/tcp.js';
import { familyOf, INET, type NetworkFamily } from '../../net/family.js';
import { RECOVERY_NAMES } from './recovery/index.js';
import { CONGCTL_NAMES, congctlByName, type CongestionControl } from './congctl/index.js';
import { tcpInput } from './input.js';
import { IsnGenerator } from './isn.js';
import { tcpOutput, tsOn, tsoPayloadRoom } from './output.js';
import { SackScoreboard, type SackBlock } from './sack.js';
import { seqGeq, seqLt } from './seq.js';
import { newTcpStats, type TcpStats } from './stats.js';
import { blankRepr, tcpClose } from './subr.js';
import { ReassBudget } from './reass-budget.js';
import { SynCache, type SynCacheEntry } from './syncache.js';
import { SynCookies } from './syncookie.js';
import { setState, TCPS, TCP_STATE_NAMES, TF, TcpCb } from './tcpcb.js';
import { makeTcpProtosw } from './usrreq.js';
import type { ReceiveWindow, ReceiveWindowInput, SendDecisionInput } from './window.js';
import type { IpAddress } from '../../wire/ip.js';

/** Tunables (`net.inet.tcp.*`), read at each use so sysctl writes act at once. */
export interface TcpTunables {
  /** Default MSS when the route gives none (`tcp_mssdflt`). */
  mssdflt: number;
  /** Maximum segment lifetime, ms (`tcp_msl`); TIME-WAIT lasts twice this. */
  msl: number;
  /** Lower bound on the RTO, ms (`tcp_rttmin`). */
  rtoMinMs: number;
  /** RTO before the first sample, ms (RFC 6298 2.1: 1 s). */
  rtoInitMs: number;
  /** Delayed-ACK timeout, ms; 0 disables delayed ACKs. */
  delackMs: number;
  /** SYN retransmissions before connect fails (ETIMEDOUT). */
  synRetries: number;
  /** SYN-ACK retransmissions from the SYN cache. */
  synackRetries: number;
  /** Keepalive defaults, ms / count (`tcp_keepidle`, `tcp_keepintvl`, `tcp_keepcnt`). */
  keepIdle: number;
  keepIntvl: number;
  keepCnt: number;
  /** How long an orphaned FIN-WAIT-2 waits for the peer's FIN, ms. */
  finWait2Ms: number;
  /**
   * Out-of-order entries (holes: adjacent segments merge) kept per
   * connection (NetBSD `tcp_reass_maxqueuelen`). The storage they hold is
   * bounded by the receive buffer (`sb_mbmax`) besides.
   */
  reassMaxSegs: number;
  /**
   * Clusters all out-of-order queues together may hold
   * (`net.inet.tcp.reass.maxclusters`); default 1/8 of the pool.
   */
  reassMaxClusters: number;
  /** Mbufs all out-of-order queues together may hold (`net.inet.tcp.reass.maxmbufs`); default 1/16 of the mbuf limit. */
  reassMaxMbufs: number;
  /** SYN cache size, total and per listener. */
  syncacheLimit: number;
  syncacheBucketLimit: number;
  /**
   * RFC 5961 7: challenge ACKs per second, stack-wide, on average: each
   * second's budget is drawn uniformly from [limit/2, limit*3/2) (Linux's
   * fix for CVE-2016-5696), so its exact value says nothing.
   */
  ackLimit: number;
  /** Least time between two challenge ACKs of one connection, ms; 0 = no per-connection limit (Linux `tcp_invalid_ratelimit`). */
  invalidRatelimitMs: number;
  /** RFC 7323 window scaling / timestamps, RFC 2018 SACK: offer them (1) or not (0). */
  doWinscale: number;
  doTimestamps: number;
  doSack: number;
  /** Index into {@link CONGCTL_NAMES} of the default algorithm (`net.inet.tcp.congctl.selected`). */
  congctl: number;
  /**
   * Index into `RECOVERY_NAMES` of the default loss recovery
   * (`net.inet.tcp.recovery`: 0 newreno, 1 sack — the default —, 2 rack).
   */
  recovery: number;
  /** Skip inbound checksum verification (trusted in-process links only; default off). */
  noChecksum: boolean;
  /**
   * Use TCP segmentation offload (`net.inet.tcp.tso`, FreeBSD's name) when
   * the route's interface offers it (1, default) or never (0). Links offer
   * it only when asked (e.g. `TapLink.open({ offload: true })`).
   */
  tso: number;
  /** Drop segments with both SYN and FIN (`net.inet.tcp.drop_synfin`, default 1 as the BSDs). */
  dropSynfin: number;
  /** Ignore RSTs in TIME-WAIT (RFC 1337; `net.inet.tcp.rfc1337`, default 1 as FreeBSD; Linux's default is 0). */
  rfc1337: number;
  /** Answer SYNs with SYN cookies when the SYN cache is full (1, default, as FreeBSD and Linux) or drop them (0). */
  syncookies: number;
  /**
   * Send-buffer autosizing (`net.inet.tcp.sendbuf_auto`, FreeBSD's name; 1,
   * default): a socket whose send buffer was not sized by `SO_SNDBUF` grows
   * it while the peer's window could take more (sndbuf.ts), and gives the
   * growth back under memory pressure.
   */
  sendbufAuto: number;
  /** Step of one growth, bytes (`net.inet.tcp.sendbuf_inc`). */
  sendbufInc: number;
  /** Most an autosized send buffer grows to, bytes (`net.inet.tcp.sendbuf_max`; `kern.sbmax` still applies). */
  sendbufMax: number;
}

/** Default send and receive buffer: 1 MiB, room for a high bandwidth-delay product. */
export const TCP_DEFAULT_BUFSPACE = 1024 * 1024;

/**
 * In-order segments received in one input batch after which an ACK goes out
 * at once instead of at the batch's end: 44 full segments are 64 KiB, the
 * size of a GRO super-packet, so the peer never sees a stretch ACK larger
 * than a Linux receiver with GRO would send.
 */
export const BATCH_ACK_SEGS = 44;

/** Rounds of deferred output one flush runs (output looping back into input may defer more); the rest waits a turn. */
const DEFERRED_ROUNDS = 8;

/** Key of a tunables object's protocol (see {@link TUN_PROTO}). */
const TUN_OWNER: unique symbol = Symbol('TcpProtocol.tun owner');

/** A tunables object knows its protocol. */
interface TunOwner {
  [TUN_OWNER]: TcpProtocol;
}

/**
 * The prototype of every `TcpProtocol.tun`: `delackMs` and `tso` are
 * accessors over the protocol's {@link TcpProtocol.delackMsHot} and
 * {@link TcpProtocol.tsoHot}, which the per-segment code reads (why: the
 * note there). One shared prototype with shared accessor functions, so
 * that every tunables object has the same shape.
 */
const TUN_PROTO = {
  get delackMs(): number {
    return (this as unknown as TunOwner)[TUN_OWNER].delackMsHot;
  },
  set delackMs(v: number) {
    (this as unknown as TunOwner)[TUN_OWNER].delackMsHot = v;
  },
  get tso(): number {
    return (this as unknown as TunOwner)[TUN_OWNER].tsoHot;
  },
  set tso(v: number) {
    (this as unknown as TunOwner)[TUN_OWNER].tsoHot = v;
  },
};

/** Defaults of {@link TcpTunables} (those that depend on the pool's size are set by the constructor). */
export const TCP_DEFAULTS: Readonly<Omit<TcpTunables, 'reassMaxClusters' | 'reassMaxMbufs'>> = {
  mssdflt: 536,
  msl: 30_000,
  rtoMinMs: 200,
  rtoInitMs: 1000,
  delackMs: 40,
  synRetries: 6,
  synackRetries: 5,
  keepIdle: 2 * 3600 * 1000,
  keepIntvl: 75_000,
  keepCnt: 8,
  finWait2Ms: 60_000,
  reassMaxSegs: 1024,
  syncacheLimit: 4096,
  syncacheBucketLimit: 1024,
  ackLimit: 1000,
  invalidRatelimitMs: 500,
  doWinscale: 1,
  doTimestamps: 1,
  doSack: 1,
  congctl: 0,
  recovery: 1,
  noChecksum: false,
  tso: 1,
  dropSynfin: 1,
  rfc1337: 1,
  syncookies: 1,
  sendbufAuto: 1,
  sendbufInc: 16 * 1024,
  sendbufMax: 2 * 1024 * 1024,
};

/** One row of `netstat -p tcp`. */
export interface TcpConnInfo {
  state: string;
  laddr: IpAddress;
  lport: number;
  faddr: IpAddress;
  fport: number;
  sndQ: number;
  rcvQ: number;
  cwnd: number;
  srtt: number | undefined;
  /** False once the user has closed and TCP finishes alone (FIN-WAIT, LAST-ACK, TIME-WAIT): `netstat -an` still lists it. */
  hasSocket: boolean;
}

/** The TCP protocol of one stack. */
export class TcpProtocol implements TransportProtocol {
  /** IPPROTO_TCP. */
  readonly proto = 6;
  readonly host: InetHost;
  readonly layer: SocketLayer;
  readonly clock: Clock;
  readonly pool: ClusterPool;
  readonly ip: IpOutput;
  /** The pcb table (connections, listeners, TIME-WAITs). */
  readonly pcbs: InPcbTable;
  /** Counters, also `net.inet.tcp.stats.*`. */
  readonly stats: TcpStats = newTcpStats();
  /** Tunables, also `net.inet.tcp.*`. */
  readonly tun: TcpTunables;
  /**
   * @internal `tun.delackMs` and `tun.tso` as every segment reads them. Two
   * stacks made one after the other (a benchmark's or a test's fresh pair)
   * each deoptimized textInput, tcpInputConn and tcpOutput in their first
   * transfer on a map check at these two loads through `tun` — never at
   * loads from the protocol object — costing about a tenth of that
   * transfer's CPU in recompiles. `tun` keeps both as accessors over these
   * copies (see {@link TUN_PROTO}), so every writer — sysctl, tests,
   * `tun.delackMs = …` — updates them.
   */
  delackMsHot = TCP_DEFAULTS.delackMs;
  /** @internal `tun.tso`; see {@link TcpProtocol.delackMsHot}. */
  tsoHot = TCP_DEFAULTS.tso;
  /** RFC 6528 ISNs. */
  readonly isn: IsnGenerator;
  /** Half-open connections of listeners. */
  readonly syncache: SynCache;
  /** SYN cookies, for when the SYN cache is full (RFC 4987). */
  readonly syncookies: SynCookies;
  /** The protocol switch entry (SOCK_STREAM). */
  readonly protosw: Protosw;
  /** Every control block alive (established, closing, TIME-WAIT, listeners). */
  readonly tcbs = new Set<TcpCb>();
  /** What all out-of-order queues hold, against `net.inet.tcp.reass.maxclusters` / `maxmbufs`. */
  readonly reassBudget: ReassBudget;
  /** @internal The pool's `pressureEntered` count when the queues were last pruned for pressure. */
  private pressurePruned = -1;
  /** State-change trace (`old=>new`), null = off. */
  log: ((msg: string) => void) | null = null;
  // Scratch objects of the data path, reused for every segment: the header
  // Reprs, SACK arrays and blocks, checksum state, the window and send
  // decisions' inputs, IP output's options. With these (and the IP and
  // Ethernet layers' own) no parse or argument object is allocated per
  // segment. What a segment still allocates is its buffers: the header
  // mbuf and its packet header, the mbufs that share send-buffer clusters
  // (mCopym), the receive chain (m_devget), the outgoing frame's view, and
  // a typed-array view per data copy — about 1.3 KB of heap per data
  // segment in a bulk transfer, measured by examples/src/bench/alloc.ts
  // (docs/BENCHMARKS.md, issue 12).
  /** @internal The Repr every outgoing segment is built in (tcp/output.ts, subr.ts). */
  readonly outRepr: TcpRepr = blankRepr();
  /** @internal Checksum state of segments built and verified. */
  readonly cksum = new InetChecksum();
  /** @internal The SACK blocks of the segment being processed, as the scoreboard takes them. */
  readonly sackBlockScratch: SackBlock[] = [];
  /** @internal The block objects {@link sackBlockScratch} is filled with (one per block an option can carry). */
  readonly sackBlockPool: SackBlock[] = Array.from({ length: TCP_MAX_SACK_BLOCKS }, () => ({ start: 0, end: 0 }));
  /** @internal The Repr each inbound segment is parsed into (tcp/input.ts), and its SACK arrays. */
  readonly inSeg: TcpRepr = blankRepr();
  readonly inSack: SackScratch = newSackScratch();
  /** @internal Whether {@link inSeg} is in use by a segment being processed (a nested one gets its own). */
  inSegBusy = false;
  /** @internal The interface index the segment being processed arrived on (the zone of a link-local peer), 0 outside input. */
  inIfindex = 0;
  /** @internal Output scratch (tcp/output.ts): SACK arrays, the window computation's input and result, the send decision's input, IP output's options. */
  readonly outSack: SackScratch = newSackScratch();
  readonly rwIn: ReceiveWindowInput = { space: 0, bufSize: 0, rcvNxt: SEQ_ZERO, rcvAdv: SEQ_ZERO, mss: 0, scale: 0 };
  readonly rwOut: ReceiveWindow = { field: 0, window: 0 };
  readonly sendIn: SendDecisionInput = { len: 0, unsent: 0, mss: 0, maxSndWnd: SEQ_ZERO, idle: false, nodelay: false, force: false, retransmitting: false };
  readonly ipOpts: IpOutputOptions = { src: 0, dst: 0, proto: 6, df: true, ttl: undefined, tos: 0, ifindex: undefined };
  readonly emptyBlocks: readonly SackBlock[] = [];
  /** Start of the current one-second challenge-ACK window; `undefined` before the first. */
  private ackWindowStart: number | undefined = undefined;
  /** Challenge ACKs left in the current window. */
  private ackBudget = 0;
  /** @internal Nesting depth of link input batches ({@link inputBatchStart}). */
  private batchDepth = 0;
  /** @internal Connections whose `tcpOutput` waits for the end of the batch. */
  private deferred: TcpCb[] = objectArray();
  /** @internal The `setImmediate` that runs {@link deferred} outside an input batch, if one is pending. */
  private deferredTurn: ReturnType<typeof setImmediate> | null = null;

  /**
   * Make TCP for `layer` on `host`: registers the SOCK_STREAM protocol with
   * the socket layer, protocol 6 with the IP layer (when the host can), and
   * the sysctl nodes. Raises the layer's TCP buffer defaults to
   * {@link TCP_DEFAULT_BUFSPACE} when they are still the layer's own.
   * @throws Error when TCP is already registered on the layer (set-up error).
   */
  constructor(host: InetHost, layer: SocketLayer, tunables: Partial<TcpTunables> = {}) {
    this.host = host;
    this.layer = layer;
    this.clock = host.clock;
    this.pool = host.pool;
    this.ip = host.ip;
    // Inherits the delackMs/tso accessors; Object.assign's [[Set]] runs them.
    const tun = Object.create(TUN_PROTO) as TcpTunables & TunOwner;
    tun[TUN_OWNER] = this;
    this.tun = Object.assign(tun, TCP_DEFAULTS, {
      reassMaxClusters: Math.max(16, this.pool.nmbclusters >> 3),
      reassMaxMbufs: Math.max(16, this.pool.nmbufs >> 4),
    }, tunables);
    this.reassBudget = new ReassBudget(() => this.tun.reassMaxClusters, () => this.tun.reassMaxMbufs, this.stats);
    this.pcbs = new InPcbTable(layer, 'tcp');
    this.isn = new IsnGenerator({ now: () => this.clock.now() });
    this.syncache = new SynCache(this);
    this.syncookies = new SynCookies(this.clock);
    const lt = layer.tunables;
    if (lt.tcpSendspace === DEFAULT_TUNABLES.tcpSendspace) lt.tcpSendspace = TCP_DEFAULT_BUFSPACE;
    if (lt.tcpRecvspace === DEFAULT_TUNABLES.tcpRecvspace) lt.tcpRecvspace = TCP_DEFAULT_BUFSPACE;
    this.protosw = makeTcpProtosw(this);
    layer.addProtocol(this.protosw);
    // AF_INET6 sockets share the pcb table (one port space) and the code.
    layer.addProtocol({ ...this.protosw, domain: AF.INET6, name: 'tcp6' });
    host.registerProtocol?.(this);
    if (host.sysctl !== undefined) this.registerSysctl(host.sysctl);
  }

  private registerSysctl(sc: Sysctl): void {
    const t = this.tun;
    const node = (name: string, key: Exclude<keyof TcpTunables, 'noChecksum'>, min: number, max: number, description: string) =>
      sc.addInt(`net.inet.tcp.${name}`, { get: () => t[key], set: (v) => (t[key] = v), min, max, description });
    node('mssdflt', 'mssdflt', 64, 65535, 'Default MSS');
    node('msl', 'msl', 0, 600_000, 'Maximum segment lifetime (ms); TIME-WAIT is 2*MSL');
    node('rttmin', 'rtoMinMs', 1, 60_000, 'Minimum retransmission timeout (ms)');
    node('rtoinit', 'rtoInitMs', 1, 60_000, 'Initial retransmission timeout (ms)');
    node('delack_ms', 'delackMs', 0, 500, 'Delayed ACK timeout (ms), 0 = off');
    node('syn_retries', 'synRetries', 1, 20, 'SYN retransmissions');
    node('synack_retries', 'synackRetries', 1, 20, 'SYN-ACK retransmissions');
    node('keepidle', 'keepIdle', 1000, 0x7fffffff, 'Keepalive idle time (ms)');
    node('keepintvl', 'keepIntvl', 1000, 0x7fffffff, 'Keepalive probe interval (ms)');
    node('keepcnt', 'keepCnt', 1, 127, 'Keepalive probes before drop');
    node('fin_wait2_ms', 'finWait2Ms', 1000, 0x7fffffff, 'Orphaned FIN-WAIT-2 limit (ms)');
    node('reass_maxseg', 'reassMaxSegs', 1, 65536, 'Out-of-order entries (holes) per connection');
    node('reass.maxclusters', 'reassMaxClusters', 0, 1 << 20, 'Clusters all out-of-order queues may hold together');
    node('reass.maxmbufs', 'reassMaxMbufs', 0, 1 << 22, 'Mbufs all out-of-order queues may hold together');
    sc.addInt('net.inet.tcp.reass.clusters', { get: () => this.reassBudget.clusters, description: 'Clusters held by out-of-order queues now' });
    sc.addInt('net.inet.tcp.reass.mbufs', { get: () => this.reassBudget.mbufs, description: 'Mbufs held by out-of-order queues now' });
    sc.addInt('net.inet.tcp.reass.queues', { get: () => this.reassBudget.activeQueues, description: 'Connections holding out-of-order data now' });
    node('syncache.limit', 'syncacheLimit', 1, 1 << 20, 'SYN cache entries');
    node('syncache.bucketlimit', 'syncacheBucketLimit', 1, 1 << 20, 'SYN cache entries per listener');
    node('ackratelimit', 'ackLimit', 1, 1 << 20, 'RFC 5961 challenge ACKs per second, stack-wide (mean of a per-second random budget)');
    node('invalid_ratelimit', 'invalidRatelimitMs', 0, 60_000, 'Least ms between two challenge ACKs of one connection (0 = no limit)');
    node('win_scale', 'doWinscale', 0, 1, 'Use RFC 7323 window scaling');
    node('timestamps', 'doTimestamps', 0, 1, 'Use RFC 7323 timestamps');
    node('sack.enable', 'doSack', 0, 1, 'Use RFC 2018 SACK');
    node('tso', 'tso', 0, 1, 'Use TCP segmentation offload where the interface offers it');
    node('drop_synfin', 'dropSynfin', 0, 1, 'Drop segments with both SYN and FIN set');
    node('rfc1337', 'rfc1337', 0, 1, 'Ignore RSTs in TIME-WAIT (RFC 1337)');
    node('syncookies', 'syncookies', 0, 1, 'Answer SYNs with SYN cookies when the SYN cache is full (RFC 4987)');
    node('sendbuf_auto', 'sendbufAuto', 0, 1, 'Grow send buffers not sized by SO_SNDBUF as the peer window allows; give the growth back under memory pressure');
    node('sendbuf_inc', 'sendbufInc', 1024, 1 << 24, 'Step of one send-buffer growth (bytes)');
    node('sendbuf_max', 'sendbufMax', 4096, 1 << 30, 'Most an autosized send buffer grows to (bytes)');
    sc.addInt('net.inet.tcp.congctl.selected', {
      get: () => t.congctl,
      set: (v) => (t.congctl = v),
      min: 0,
      max: CONGCTL_NAMES.length - 1,
      description: `Default congestion control: ${CONGCTL_NAMES.map((n, i) => `${i}=${n}`).join(', ')}`,
    });
    sc.addInt('net.inet.tcp.recovery', {
      get: () => t.recovery,
      set: (v) => (t.recovery = v),
      min: 0,
      max: RECOVERY_NAMES.length - 1,
      description: `Default loss recovery: ${RECOVERY_NAMES.map((n, i) => `${i}=${n}`).join(', ')}`,
    });
    sc.addStats('net.inet.tcp.stats', this.stats);
  }

  /** The default loss recovery's name (`net.inet.tcp.recovery`). */
  get recoveryName(): string {
    return RECOVERY_NAMES[this.tun.recovery] ?? 'sack';
  }

  /** Select the default loss recovery by name (ENOENT when unknown). */
  setRecovery(name: string): number {
    const i = (RECOVERY_NAMES as readonly string[]).indexOf(name);
    if (i < 0) return Errno.ENOENT;
    this.tun.recovery = i;
    return 0;
  }

  /** The default congestion control's name. */
  get congctlName(): string {
    return CONGCTL_NAMES[this.tun.congctl] ?? CONGCTL_NAMES[0];
  }

  /** Select the default congestion control by name (ENOENT when unknown, as Linux). */
  setCongctl(name: string): number {
    const i = (CONGCTL_NAMES as readonly string[]).indexOf(name);
    if (i < 0) return Errno.ENOENT;
    this.tun.congctl = i;
    return 0;
  }

  /**
   * The stack is shutting down (`Stack.close` calls this): forget the SYN
   * cache, abort every connection that still has a socket (its waiters fail
   * with ECONNABORTED) and close every control block — including those
   * finishing a graceful close after their user went (LAST-ACK, FIN-WAIT,
   * TIME-WAIT) — so their timers stop and every queued mbuf (send buffer,
   * reassembly queue) goes back to the pool. The RSTs this would send go
   * nowhere: the stack's links are closing.
   */
  close(): void {
    this.syncache.clear();
    if (this.deferredTurn !== null) clearImmediate(this.deferredTurn);
    this.deferredTurn = null;
    for (const tp of [...this.tcbs]) {
      const so = tp.so;
      if (so !== null && !so.closed) this.layer.abort(so);
      if (this.tcbs.has(tp)) tcpClose(tp);
    }
  }

  /**
   * @internal The pool is under memory pressure: prune every out-of-order
   * queue, once per pressure episode (Linux prunes out-of-order queues
   * before anything else under `tcp_memory_pressure`). Counted.
   */
  pressurePrune(): void {
    const epoch = this.pool.pressureEntered;
    if (epoch === this.pressurePruned) return;
    this.pressurePruned = epoch;
    if (this.reassBudget.activeQueues === 0) return;
    this.stats.rcvoopressureprune++;
    this.reassBudget.pruneAll();
  }

  /** `pr_input`: one inbound segment. Takes ownership of `m`. */
  input(m: Mbuf, info: IpPacketInfo): void {
    tcpInput(this, m, info);
  }

  /**
   * A driver is about to hand over a batch of frames (every frame one
   * wake-up read from the tap). Until {@link inputBatchEnd}, the output a
   * segment would trigger at the end of `tcp_input` — an ACK, or new data
   * the ACK made room for — is deferred and done once per connection when
   * the batch ends: one cumulative ACK for the batch (what LRO/GRO give a
   * kernel: Linux sees "stretch ACKs" of a GRO super-packet all the time)
   * and one burst of data per batch of ACKs, instead of one ACK frame per
   * two segments and one `tcp_output` per ACK. The ACK never waits longer
   * than the batch (microseconds), and in-batch ACKs still go out every
   * {@link BATCH_ACK_SEGS} segments so a huge batch cannot starve the peer.
   * Nests; only the outermost end flushes.
   */
  inputBatchStart(): void {
    this.batchDepth++;
  }

  /** The end of a batch (see {@link inputBatchStart}): run the deferred output. */
  inputBatchEnd(): void {
    if (this.batchDepth === 0 || --this.batchDepth > 0) return;
    this.runDeferred();
  }

  // Output may loop back into input (loopback, a synchronous wire): with
  // the depth at 0 that input runs undeferred or in a batch of its own.
  // Whatever happens (an exception from one connection's output, or the
  // round cap reached by output that keeps deferring more), no connection
  // may be left flagged OUTPUT_DEFERRED with nothing scheduled to run it:
  // `outputAfterInput` would never queue it again and it would stall.
  private runDeferred(): void {
    try {
      for (let round = 0; round < DEFERRED_ROUNDS && this.deferred.length > 0; round++) {
        const list = this.deferred;
        this.deferred = objectArray();
        let i = 0;
        try {
          for (; i < list.length; i++) {
            const tp = list[i]!;
            tp.flags &= ~TF.OUTPUT_DEFERRED;
            if (tp.state !== TCPS.CLOSED && this.tcbs.has(tp)) tcpOutput(tp);
          }
        } finally {
          // On an exception the ones not yet run go back to the front (flags still set).
          if (i + 1 < list.length) this.deferred = list.slice(i + 1).concat(this.deferred);
        }
      }
    } finally {
      if (this.deferred.length > 0) {
        this.stats.deferredRearm++;
        this.scheduleDeferredTurn();
      }
    }
  }

  /** Run {@link deferred} at the end of this event-loop turn (or of the input batch running then). */
  private scheduleDeferredTurn(): void {
    if (this.deferredTurn !== null) return;
    this.deferredTurn = setImmediate(() => {
      this.deferredTurn = null;
      // An input batch that ends first runs the list itself.
      if (this.batchDepth === 0) this.runDeferred();
    });
  }

  /**
   * @internal Called where `tcp_input` ends with `tcp_output`: outside a
   * batch (or when an ACK is overdue) that is done now, else deferred.
   */
  outputAfterInput(tp: TcpCb): void {
    if (this.batchDepth === 0 || tp.segsSinceAck >= BATCH_ACK_SEGS) {
      tcpOutput(tp);
      return;
    }
    if ((tp.flags & TF.OUTPUT_DEFERRED) === 0) {
      tp.flags |= TF.OUTPUT_DEFERRED;
      this.deferred.push(tp);
    }
  }

  /**
   * @internal Called where `pru_send` ends with `tcp_output`. With TSO in
   * use and data in flight, the output waits for the end of the event-loop
   * turn (the end of the input batch if one runs, else a `setImmediate`):
   * `soSend` appends one copy chunk per call (one cluster by default), and
   * sending after each would cut the stream into TSO segments of a chunk or
   * two; once per turn, what the writer added in that turn goes out as full
   * TSO segments. Linux's `tcp_should_autocork` (hold while earlier data
   * is still in the device) and BSD's `PRUS_MORETOCOME` do the same. Never
   * waits with nothing in flight (the first write of a burst goes now), nor
   * without TSO (Nagle and the state machine stay exactly as they were).
   */
  outputAfterSend(tp: TcpCb): void {
    if (tp.sndMax === tp.sndUna || (tp.flags & TF.NODELAY) !== 0 || tsoPayloadRoom(tp) === 0) {
      tcpOutput(tp);
      return;
    }
    this.stats.sndCorked++;
    if ((tp.flags & TF.OUTPUT_DEFERRED) === 0) {
      tp.flags |= TF.OUTPUT_DEFERRED;
      this.deferred.push(tp);
    }
    if (this.batchDepth === 0) this.scheduleDeferredTurn();
  }

  /** @internal Pseudo-header partial sum. */
  pseudo(src: IpAddress, dst: IpAddress, len: number): number {
    return pseudoHeaderSum(src, dst, 6, len);
  }

  /**
   * `pr_ctlinput` (`tcp_ctlinput`): an ICMP error about a segment we sent.
   * The quoted sequence number must lie in [SND.UNA, SND.MAX) (RFC 5927 4.1)
   * or the message is ignored (counted). Fragmentation-needed lowers the
   * MSS and resends (RFC 1191); other errors are soft, except a refusal of
   * our SYN, which fails connect.
   */
  ctlinput(err: TransportError): void {
    const inp = this.pcbs.lookupConnect(err.dst, err.dstPort, err.src, err.srcPort);
    const tp = inp === null ? null : (inp.ppcb as TcpCb | null);
    if (tp === null || tp.state === TCPS.LISTEN || tp.state === TCPS.CLOSED) return;
    this.stats.ctlinputErrors++;
    const quotedSeq = err.quoted.length >= 8;
    if (quotedSeq) {
      const q = err.quoted;
      const seq = ((q[4]! << 24) | (q[5]! << 16) | (q[6]! << 8) | q[7]!) >>> 0;
      if (!(seqGeq(seq, tp.sndUna) && seqLt(seq, tp.sndMax))) {
        this.stats.pmtuBadseq++;
        return;
      }
    }
    if (err.errno === Errno.EMSGSIZE) {
      // Validated (RFC 5927 4.1): only now may the route's shared PMTU cache
      // learn it (NetBSD `tcp_ctlinput` calls `icmp_mtudisc` after its check).
      if (quotedSeq && err.mtu > 0) this.ip.pmtuUpdate?.(err.dst, err.mtu);
      this.mtuDisc(tp, err.mtu > 0 ? err.mtu : this.ip.mtuTowards(tp.inp.faddr));
      tcpOutput(tp);
      return;
    }
    if (tp.state === TCPS.SYN_SENT && (err.errno === Errno.ECONNREFUSED || err.errno === Errno.EHOSTUNREACH || err.errno === Errno.ENETUNREACH) && tp.rxtShift > 2) {
      this.stats.drops++;
      if (tp.so !== null) soSetError(tp.so, err.errno);
      tp.tcp.dropConn(tp);
      return;
    }
    tp.softError = err.errno;
  }

  /** @internal Close without RST (helper for ctlinput). */
  dropConn(tp: TcpCb): void {
    tcpClose(tp);
  }

  /**
   * The path MTU fell to `mtu` (RFC 1191 6.4, `tcp_mtudisc`): lower the
   * MSS, tell the congestion controller and scoreboard, and resend from
   * snd_una in the new size.
   */
  mtuDisc(tp: TcpCb, mtu: number): void {
    const fam = tp.inp.family;
    if (!(mtu >= fam.minMtu)) return;
    const optlen = tsOn(tp) ? 12 : 0;
    const mss = Math.max(64, mtu - fam.headerLen - TCP_HEADER_LEN - optlen);
    if (mss >= tp.maxseg) return;
    this.stats.pmtuUpdates++;
    this.setMaxseg(tp, mss);
    tp.sndNxt = tp.sndUna;
    tp.rtseq = undefined;
  }

  /** Change the send MSS of a connection: the control block, its congestion control and its SACK scoreboard together. */
  setMaxseg(tp: TcpCb, mss: number): void {
    tp.maxseg = mss;
    tp.cc.setMss(mss);
    tp.sackSb?.setMss(mss);
  }

  /** MSS we can receive towards `faddr`: the route's MTU minus the family's network header and TCP's. */
  ourMssFor(faddr: IpAddress, fam: NetworkFamily = INET): number {
    const mtu = this.ip.mtuTowards(faddr);
    const hdrs = fam.headerLen + TCP_HEADER_LEN;
    return mtu > hdrs ? mtu - hdrs : this.tun.mssdflt;
  }

  /**
   * Set the send MSS from the peer's MSS option and our route (`tcp_mss_from_peer`):
   * min(peer's offer (536 when absent, RFC 9293 3.7.1), our MTU) minus the
   * timestamp option when used.
   */
  setMss(tp: TcpCb, peerMss: number | null): void {
    const offer = peerMss === null || peerMss === 0 ? this.tun.mssdflt : peerMss;
    let mss = Math.min(offer, this.ourMssFor(tp.inp.faddr, tp.inp.family));
    if (tsOn(tp)) mss -= 12;
    tp.maxseg = Math.max(64, mss);
    tp.cc.setMss(tp.maxseg);
    if ((tp.flags & TF.SACK_PERMIT) !== 0) {
      tp.sackSb = new SackScoreboard({ mss: tp.maxseg }, tp.sndUna);
    }
  }

  /** The window shift to offer for a receive buffer of `hiwat` bytes (RFC 7323 2.3). */
  static scaleFor(hiwat: number): number {
    let s = 0;
    while (s < 14 && 0xffff * 2 ** s < hiwat) s++;
    return s;
  }

  /** A congestion controller for a new connection. */
  newCongctl(name: string | null, mss: number): CongestionControl {
    const make = congctlByName(name ?? this.congctlName) ?? congctlByName('newreno')!;
    return make({ mss });
  }

  /** @internal Make the control block for a socket (`tcp_newtcpcb`). */
  newTcpcb(so: Socket): TcpCb {
    const inp = this.pcbs.alloc(so);
    const tp = new TcpCb(this, inp, this.newCongctl(null, this.tun.mssdflt), {
      keepIdle: this.tun.keepIdle,
      keepIntvl: this.tun.keepIntvl,
      keepCnt: this.tun.keepCnt,
      msl: this.tun.msl,
    });
    inp.ppcb = tp;
    tp.maxseg = this.tun.mssdflt;
    this.tcbs.add(tp);
    return tp;
  }

  /** @internal The options a new connection asks for (`TF_REQ_*`), from the sysctls. */
  requestFlags(): number {
    let f = 0;
    if (this.tun.doWinscale !== 0) f |= TF.REQ_SCALE;
    if (this.tun.doTimestamps !== 0) f |= TF.REQ_TSTMP;
    if (this.tun.doSack !== 0) f |= TF.REQ_SACK;
    return f;
  }

  /** @internal A SYN cache entry for a SYN to listener `lp`. */
  syncacheEntry(lp: TcpCb, head: Socket, key: string, seg: TcpRepr, src: IpAddress, dst: IpAddress): SynCacheEntry {
    const req = lp.flags & (TF.REQ_SCALE | TF.REQ_TSTMP | TF.REQ_SACK | TF.NOOPT);
    const noopt = (req & TF.NOOPT) !== 0;
    const wantScale = !noopt && (req & TF.REQ_SCALE) !== 0 && seg.windowScale !== null;
    const rscale = wantScale ? TcpProtocol.scaleFor(head.rcv.hiwat) : 0;
    return {
      key,
      head,
      listener: lp,
      laddr: dst,
      lport: seg.dstPort,
      faddr: src,
      fport: seg.srcPort,
      zone: zoneFor(src, this.inIfindex),
      irs: seg.seq,
      iss: this.isn.isn(dst, seg.dstPort, src, seg.srcPort),
      peerMss: seg.mss,
      peerWscale: wantScale ? Math.min(seg.windowScale!, 14) : null,
      sackOk: !noopt && (req & TF.REQ_SACK) !== 0 && seg.sackPermitted,
      tsRecent: !noopt && (req & TF.REQ_TSTMP) !== 0 && seg.tsVal !== null ? seg.tsVal : null,
      requestRScale: rscale,
      ourMss: this.ourMssFor(src, familyOf(src)),
      tsOffset: this.isn.tsOffset(dst, seg.dstPort, src, seg.srcPort),
      rcvWnd: Math.min(0xffff, head.rcv.hiwat),
      sends: 0,
      at: 0,
      ackedAt: -1,
    };
  }

  /**
   * @internal The handshake of a cached entry completed: make the socket
   * (`sonewconn`) and its ESTABLISHED control block. Null when the listen
   * queue is full.
   */
  syncacheComplete(e: SynCacheEntry, seg: TcpRepr): TcpCb | null {
    const head = e.head;
    if (head.q.length >= head.qlimit) return null;
    const so = this.layer.newConn(head, false);
    if (so === null) return null;
    const tp = (so.pcb as { ppcb: TcpCb }).ppcb;
    const inp = tp.inp;
    // The connection speaks the SYN's family: IPv4 on a dual-stack [::] listener.
    inp.family = familyOf(e.laddr);
    inp.laddr = e.laddr;
    inp.lport = e.lport;
    const err = this.pcbs.connect(inp, e.zone !== 0 ? sockaddrIn6(e.faddr as Ip6Address, e.fport, 0, e.zone) : sockaddrFor(e.faddr, e.fport));
    if (err !== 0) {
      this.layer.abort(so);
      return null;
    }
    tp.flags |= e.listener.flags & (TF.NODELAY | TF.NOOPT);
    tp.params.keepIdle = e.listener.params.keepIdle;
    tp.params.keepIntvl = e.listener.params.keepIntvl;
    tp.params.keepCnt = e.listener.params.keepCnt;
    tp.cc = this.newCongctl(e.listener.cc.name, this.tun.mssdflt);
    // Inherited from the listener, as its congestion control is.
    tp.recovery = e.listener.recovery;
    tp.iss = e.iss;
    tp.irs = e.irs;
    tp.sndUna = e.iss;
    tp.sndNxt = (e.iss + 1) >>> 0;
    tp.sndMax = tp.sndNxt;
    tp.rexmtHigh = tp.sndNxt;
    tp.rcvNxt = (e.irs + 1) >>> 0;
    tp.rcvAdv = (tp.rcvNxt + e.rcvWnd) >>> 0;
    tp.lastAckSent = tp.rcvNxt;
    tp.ourMss = e.ourMss;
    tp.tsOffset = e.tsOffset;
    if (e.peerWscale !== null) {
      tp.flags |= TF.REQ_SCALE | TF.RCVD_SCALE;
      tp.sndScale = e.peerWscale;
      tp.rcvScale = e.requestRScale;
      tp.requestRScale = e.requestRScale;
    }
    if (e.tsRecent !== null) {
      tp.flags |= TF.REQ_TSTMP | TF.RCVD_TSTMP;
      tp.tsRecent = e.tsRecent;
      tp.tsRecentAge = this.clock.now();
    }
    if (e.sackOk) tp.flags |= TF.REQ_SACK | TF.SACK_PERMIT;
    this.setMss(tp, e.peerMss);
    tp.sndWnd = seg.window * 2 ** tp.sndScale;
    tp.maxSndWnd = tp.sndWnd;
    tp.sndWl1 = (seg.seq - 1) >>> 0;
    tp.sndWl2 = seg.ack;
    // SYN-RECEIVED as a formality: input's ACK step moves it to ESTABLISHED.
    setState(tp, TCPS.SYN_RECEIVED);
    tp.lastActivity = this.clock.now();
    this.stats.accepts++;
    return tp;
  }

  /**
   * RFC 5961 7, stack-wide: whether another challenge ACK may go this
   * second. Each second's budget is random in [limit/2, limit/2 + limit)
   * (Linux `tcp_send_challenge_ack` after CVE-2016-5696), so counting the
   * challenge ACKs one connection gets does not reveal how many others got.
   */
  challengeAckAllowed(): boolean {
    const now = this.clock.now();
    if (this.ackWindowStart === undefined || now - this.ackWindowStart >= 1000) {
      const limit = this.tun.ackLimit;
      this.ackWindowStart = now;
      this.ackBudget = ((limit + 1) >>> 1) + randomInt(limit);
    }
    if (this.ackBudget <= 0) return false;
    this.ackBudget--;
    return true;
  }

  /** Connections for `netstat -p tcp`. */
  connections(): TcpConnInfo[] {
    const out: TcpConnInfo[] = [];
    for (const tp of this.tcbs) {
      out.push({
        state: TCP_STATE_NAMES[tp.state]!,
        laddr: tp.inp.laddr,
        lport: tp.inp.lport,
        faddr: tp.inp.faddr,
        fport: tp.inp.fport,
        sndQ: tp.so?.snd.cc ?? 0,
        rcvQ: tp.so?.rcv.cc ?? 0,
        cwnd: tp.cc.cwnd,
        srtt: tp.rtt.srtt,
        hasSocket: tp.so !== null,
      });
    }
    return out;
  }

  /** Count of connections per state name (tests, `netstat -s`). */
  stateCounts(): Record<string, number> {
    const r: Record<string, number> = {};
    for (const tp of this.tcbs) r[tp.stateName] = (r[tp.stateName] ?? 0) + 1;
    return r;
  }

  /** Whether keepalive is on for a connection's socket. */
  static keepalive(tp: TcpCb): boolean {
    return tp.so !== null && (tp.so.options & SOOPT.KEEPALIVE) !== 0;
  }
}

