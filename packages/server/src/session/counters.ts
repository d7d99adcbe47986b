/**
 * What a session counts (monotonic counters, read by `rumpctl clients`)
 * and what it holds at a moment (read by `rumpctl usage`).
 *
 * @module
 */

/** Per-client counters (all monotonic). */
export interface SessionCounters {
  /** Syscalls dispatched to a handler. */
  syscalls: number;
  /** Syscalls answered with an errno. */
  errors: number;
  /** COPYIN requests sent, and bytes received in valid replies. */
  copyinRequests: number;
  copyinBytes: number;
  /** Most COPYIN requests outstanding at once so far (a high-water mark: 1 with `--copy-window 1`). */
  copyinPeak: number;
  /** Copies served from bytes the client sent inline with its request: COPYIN requests (round trips) avoided, and their bytes. */
  copyinsAvoided: number;
  inlineBytes: number;
  /**
   * Receives whose bytes rode inside their RESP (inline receive): COPYOUT
   * requests (frames) avoided, and their bytes.
   */
  copyoutsAvoided: number;
  inlineRecvBytes: number;
  /** COPYOUT requests sent, and their payload bytes. */
  copyoutRequests: number;
  copyoutBytes: number;
  /** COPYINs failed by timeout, by a reply of the wrong size, or refused by the client. */
  copyinTimeouts: number;
  copyinWrongSize: number;
  copyinRefused: number;
  /** COPYIN replies that came after their timeout (dropped). */
  lateReplies: number;
  /** Malformed frames, unknown types/syscalls, bad arguments, replies to nothing. */
  protocolErrors: number;
  /** Handlers that threw something other than an errno (server bugs, logged). */
  internalErrors: number;
  /** Replies whose head would exceed MAX_HEAD (the client would drop the connection): answered with E2BIG instead. */
  oversizeReplies: number;
  /** Times reading this client's requests stopped because its replies were backed up (backpressure). */
  backpressured: number;
  /** Requests that carried a payload they may not (none without inline, or more than inlineMax): skipped unbuffered, counted as protocol errors too. */
  payloadRequests: number;
  /** Frames received from the client (complete or malformed). */
  framesIn: number;
  /** Frames sent to the client. */
  framesOut: number;
  /** Posted sends accepted (stream sends with inline bytes and no RESP, docs/PROTOCOL.md §6). */
  postedSends: number;
  /** Posted sends that failed: each answered late, its errno kept for the descriptor's next call. */
  postedErrors: number;
  /** Posted requests refused on arrival: past the announced window (ENOBUFS), or not an inline sendto. */
  postedRefused: number;
  /**
   * COPYOUTs whose bytes went through the shared region (§7a), and those
   * bytes (both also counted in `copyoutRequests`/`copyoutBytes`); copies
   * that found the ring full and went on the socket; clients that broke the
   * ring's rules (the shared path then ends for that session).
   */
  shmCopyouts: number;
  shmCopyoutBytes: number;
  shmFallbacks: number;
  shmFaults: number;
  /** COPYIN replies whose bytes came through the shared COPYIN ring (§7a), and those bytes (also in `copyinRequests`/`copyinBytes`). */
  shmCopyins: number;
  shmCopyinBytes: number;
}

/** What a session holds right now, for `rumpctl usage` (see {@link ClientSession.usage}). */
export interface SessionUsage {
  /** COPYIN requests outstanding, and copies waiting for a slot. */
  readonly copyinsInFlight: number;
  readonly copyinsWaiting: number;
  /** Memory of replies queued to the client: bytes plus a per-frame overhead. */
  readonly replyBytes: number;
  /** Frames queued to the client, not yet taken by the kernel. */
  readonly replyFrames: number;
  /** Syscalls being served, and requests queued behind them (with their memory). */
  readonly inFlight: number;
  /** Streamed receives running (§7a): each holds a stream slot, not an in-flight one. */
  readonly streams: number;
  readonly queuedRequests: number;
  readonly queuedRequestBytes: number;
  /** Bytes the reader holds for a half-received frame (a split head; payloads are never gathered). */
  readonly partialFrameBytes: number;
  /** True while reading the client's requests is stopped (backpressure). */
  readonly backpressure: boolean;
  /** Bytes of the client's shared-memory region mapped now (§7a; 0: none). */
  readonly shmBytes: number;
}
