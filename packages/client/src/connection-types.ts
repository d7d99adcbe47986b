/**
 * The shapes a {@link RumpConnection} deals in: what the server announced in
 * its handshake, the connection's counters, and the options of connecting
 * and of one call. Kept apart from connection.ts, which holds the behaviour.
 *
 * @module
 */
import type { IoVec } from './iovec.js';
import type { ShmOutcome } from './shm.js';
import type { BusyPollCounters } from './busypoll.js';

/** How the server receives data into clients: one COPYOUT per mbuf or one per call. */
export type RxMode = 'per-mbuf' | 'coalesced';

/** Limits the server enforces on each client, reported in the handshake. */
export interface ServerLimits {
  /** Largest frame the server accepts or sends. */
  readonly maxFrame: number;
  /** Largest number of requests a client may have in flight. */
  readonly maxInFlight: number;
  /** Largest number of unprocessed bytes the server buffers for a client. */
  readonly maxBufferedBytes: number;
  /** How long the server waits for a COPYIN reply before failing the call with EFAULT. */
  readonly copyinTimeoutMs: number;
}

/** What the server told the client in its handshake reply. */
export interface ServerParams {
  /** Protocol version (equal to {@link PROTOCOL_VERSION}). */
  readonly version: number;
  /** Server software from the banner. */
  readonly software: string;
  /** Bytes per mbuf cluster (`MCLBYTES`). */
  readonly mclbytes: number;
  /** Clusters per COPYIN (`MCLNUM`; 1 is NetBSD's behaviour). */
  readonly mclnum: number;
  /** COPYINs one send keeps outstanding (`--copy-window`; 1 is NetBSD's). Absent from servers before it. */
  readonly copyWindow?: number;
  /**
   * Most bytes a send may carry inline with its request (`--inline-max`);
   * 0 or absent (servers before it): every send is COPYINed.
   */
  readonly inlineMax?: number;
  /**
   * Most bytes a receive of this connection gets inside its reply instead of
   * by COPYOUT (`--inline-recv-max`): 0 or absent when this client did not
   * ask (`inlineRecv: false`) or the server has them off or predates them.
   */
  readonly inlineRecvMax?: number;
  /**
   * The posted-send window this connection got (`--posted-window` bytes,
   * `--posted-calls` requests): 0 or absent when this client did not ask
   * (`postedSend: false`), the server has them off or predates them.
   */
  readonly postedWindow?: number;
  readonly postedCalls?: number;
  /** Receive copy mode. */
  readonly rxMode: RxMode;
  /** Per-client limits. */
  readonly limits: ServerLimits;
  /** This connection's session number on the server. */
  readonly session: number;
  /**
   * The shared-memory data path (docs/PROTOCOL.md §7a): `ok` when the server
   * mapped the region this client offered — COPYOUT bytes then come through
   * it —, else the server's (or this client's) reason. Absent: not offered
   * to a server before it.
   */
  readonly shm?: ShmOutcome;
}

/** Counters of one connection (they survive reconnects); the busy poll's (busypoll.ts) among them. */
export interface ClientCounters extends BusyPollCounters {
  /** System calls sent. */
  syscalls: number;
  /** System calls answered with an errno. */
  errors: number;
  /** ERROR replies received, malformed frames and unknown requests seen. */
  protocolErrors: number;
  /** COPYIN requests served (and bytes sent in reply). */
  copyinRequests: number;
  copyinBytes: number;
  /** COPYOUT requests applied (and bytes written into buffers). */
  copyoutRequests: number;
  copyoutBytes: number;
  /** Copy requests refused: unknown handle or out-of-range offset/length. */
  copyFaults: number;
  /** Frames sent to the server (requests and replies to its COPYIN/PING): the messages of one direction. */
  framesSent: number;
  /** Frames received from the server (replies, its COPYIN/COPYOUT/PING requests, malformed ones). */
  framesReceived: number;
  /**
   * Writes to the socket: event-loop turns that sent at least one frame (a
   * turn's frames leave in one `writev`, see {@link TurnCork}), i.e. the
   * wake-ups this client causes in the server.
   */
  socketWrites: number;
  /** Reads from the socket that returned data: the wake-ups the server causes here. */
  socketReads: number;
  /**
   * Sends whose bytes went inline with the request (at most the server's
   * `inlineMax`): each avoided at least one COPYIN round trip. And their bytes.
   */
  inlineSends: number;
  inlineBytes: number;
  /**
   * Receives whose bytes came inside their reply (at most the server's
   * `inlineRecvMax`): each a COPYOUT frame fewer. And their bytes.
   */
  inlineRecvs: number;
  inlineRecvBytes: number;
  /**
   * Sends posted (no RESP awaited: completed when written) and their bytes;
   * posted sends that failed late (reported to their socket); sends that
   * could have been posted but went as ordinary ones because the window was full.
   */
  postedSends: number;
  postedBytes: number;
  postedLateErrors: number;
  postedFallbacks: number;
  /**
   * Stream recvs asked for before the previous one's bytes were delivered
   * (the socket's read-ahead of one, after a recv that came back full).
   */
  recvsAhead: number;
  /**
   * COPYOUTs whose bytes came through the shared-memory region instead of
   * the socket (docs/PROTOCOL.md §7a), and those bytes.
   */
  shmCopyouts: number;
  shmCopyoutBytes: number;
  /** COPYIN replies whose bytes went through the shared COPYIN ring (§7a). */
  shmCopyins: number;
  /** Chunks of streamed receives (§7a), and the doorbells rung when the server waited for window. */
  streamChunks: number;
  streamDoorbells: number;
}

/** Reconnect policy, like `rumpclient_setconnretry`. */
export interface RetryPolicy {
  /** Further attempts after the first failure (0: none, Infinity: forever). */
  readonly attempts: number;
  /** Pause between attempts in milliseconds. */
  readonly intervalMs: number;
}

/** Options of {@link RumpConnection.connect}. */
export interface ConnectOptions {
  /** Client name sent in the handshake (default: the script's base name). */
  readonly name?: string;
  /** Retry policy for connecting (default: no retries). */
  readonly retry?: RetryPolicy;
  /** After a lost connection, let the next call reconnect with {@link ConnectOptions.retry} (default false). */
  readonly reconnect?: boolean;
  /** Time allowed for banner and handshake (default 5000 ms). */
  readonly handshakeTimeoutMs?: number;
  /** Largest frame this client accepts (default {@link DEFAULT_MAX_FRAME}). */
  readonly maxFrame?: number;
  /** Protocol version to announce; only tests change it. */
  readonly protocolVersion?: number;
  /**
   * Announce in the handshake that receives may return their bytes inside
   * the reply (default true); false: every receive's bytes come by COPYOUT.
   */
  readonly inlineRecv?: boolean;
  /**
   * Announce posted sends in the handshake (default true, unless
   * `RUMPNET_POSTED_SEND=0`): a call made with {@link CallOptions.posted}
   * may then complete without waiting for its RESP.
   */
  readonly postedSend?: boolean;
  /**
   * Offer the server a shared-memory region for COPYOUT bytes (§7a): true
   * (a ring of 1 MiB), a ring size in bytes (a power of
   * two), or false. Default: on over a Unix socket unless the environment
   * says `RUMPNET_SHM=0` (`RUMPNET_SHM=<bytes>` sets the ring).
   */
  readonly shm?: boolean | number;
  /**
   * Offer a second ring for COPYIN replies too (§7a). Default off (it did
   * not pay on the send path: docs/BENCHMARKS.md); `RUMPNET_SHM_COPYIN=1`
   * turns it on where this option is not given.
   */
  readonly shmCopyin?: boolean;
  /**
   * Busy poll (busypoll.ts, docs/ARCHITECTURE.md "Client busy poll"): after a
   * turn that wrote while a call waits for its answer, spin up to this many
   * µs (0..1000, adaptive below it) on the socket instead of sleeping —
   * costs that CPU, saves a wake-up. Default: `RUMPNET_BUSY_POLL`, else 0
   * (off). A bad value makes `connect` throw a TypeError.
   */
  readonly busyPoll?: number;
}

/** Options of one {@link RumpConnection.call}. */
export interface CallOptions {
  /**
   * Buffers by argument name. Each is registered under a fresh handle that
   * replaces the argument; the server copies from/into it (COPYIN/COPYOUT)
   * until the response. The buffer stays the caller's, but it must not be
   * changed (send) or read (receive) until the promise settles. A send may
   * give a gather list ({@link IoVec}): its COPYINs are answered with views
   * of the pieces; a receive into one is refused (EFAULT).
   */
  readonly buffers?: Readonly<Record<string, Uint8Array | IoVec>>;
  /** Name used in a Node-shaped error (default: the wire name). */
  readonly syscall?: string;
  /**
   * false: never send the bytes inline, always by COPYIN (default true:
   * a send of at most the server's `inlineMax` bytes carries them).
   */
  readonly inline?: boolean;
  /**
   * A stream send that may be posted (docs/PROTOCOL.md §6): when its bytes
   * go inline, the server granted posted sends and the window has room, it
   * is written with no RESP awaited and resolves at once with
   * `{ bytes: len }`. Its error, if any, comes late: to `onLateError`, and to
   * the descriptor's next call. Otherwise it is an ordinary call.
   */
  readonly posted?: boolean;
  /** Called with a posted send's late error (a Node-shaped error named after {@link CallOptions.syscall}). */
  readonly onLateError?: (err: Error) => void;
}

/** A fresh set of counters, all zero. */
export const emptyCounters = (): ClientCounters => ({
  syscalls: 0,
  errors: 0,
  protocolErrors: 0,
  copyinRequests: 0,
  copyinBytes: 0,
  copyoutRequests: 0,
  copyoutBytes: 0,
  copyFaults: 0,
  framesSent: 0,
  framesReceived: 0,
  socketWrites: 0,
  socketReads: 0,
  recvsAhead: 0,
  inlineSends: 0,
  inlineBytes: 0,
  inlineRecvs: 0,
  inlineRecvBytes: 0,
  postedSends: 0,
  postedBytes: 0,
  postedLateErrors: 0,
  postedFallbacks: 0,
  shmCopyouts: 0,
  shmCopyoutBytes: 0,
  streamChunks: 0,
  streamDoorbells: 0,
  shmCopyins: 0,
  busyPolls: 0,
  busyPollHits: 0,
  busyPollUs: 0,
  busyPollWindowUs: 0,
});
