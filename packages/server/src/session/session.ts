/**
 * One client connection on the rump server: "each client is a process", as
 * in NetBSD's `rumpuser_sp.c` where each connection gets its own `spclient`
 * and lwp context. The session speaks the protocol (banner, handshake,
 * SYSCALL dispatch, COPYIN/COPYOUT to the client), enforces the per-client
 * limits, and never lets a misbehaving client crash the server or touch
 * another client: every fault becomes an errno for one call, an ERROR frame,
 * or a disconnect of that client alone.
 */
import type { Socket } from 'node:net';
import { Errno, StackError, hopTrace } from '@rumpnet/stack';
import {
  COPY_FRAME_OVERHEAD,
  FrameFlag,
  FrameReader,
  MsgClass,
  MsgType,
  PROTOCOL_VERSION,
  MAX_HEAD,
  TurnCork,
  encodeFrameCopy,
  encodeFramePacked,
  makeBanner,
  packHead,
  writeFrame,
  type FrameMeta,
  type PayloadSink,
} from '../proto/index.js';
import { SYSCALL_SCHEMAS, checkArgs, type SyscallSchema } from '../proto/index.js';
import { InlineSource, packedFrameWith, totalLength, type CopySink, type CopySource } from '../proto/copy.js';
import { CopyinTable } from './copyin.js';
import { PostedSends, lateErrorReply, orderedFd } from './posted.js';
import { CallContext } from './callctx.js';
import { NO_AUTH, type SessionAuth } from './admin.js';
import type { SessionCounters, SessionUsage } from './counters.js';
import { DEFAULT_LIMITS, FRAME_MEMORY_OVERHEAD, REQUEST_MEMORY_OVERHEAD, type SessionLimits } from './limits.js';
import { SHM_FULL, SessionShm } from './shm.js';
import { checkHandshake } from './handshake.js';

export type { SessionLimits } from './limits.js';
export { DEFAULT_LIMITS } from './limits.js';
export type { SessionCounters, SessionUsage } from './counters.js';
export type { RxMode, StackParams, ProtoLogger, SyscallContext, SyscallHandler, SyscallHandlers, PeerInfo, SessionOptions, CloseHook, QueueShare } from './types.js';
export { silentLogger } from './types.js';
import { silentLogger, type StackParams, type ProtoLogger, type SyscallHandlers, type PeerInfo, type SessionOptions, type CloseHook, type QueueShare } from './types.js';

/** A posted request: its number in arrival order and the inline bytes charged to the window. */
interface Post {
  readonly seq: number;
  readonly bytes: number;
}

interface Queued {
  readonly meta: FrameMeta;
  readonly post: Post | undefined;
  /** Inline bytes of a send-type request (counted in `bytes`: `meta.len` includes them). */
  readonly payload: Uint8Array | undefined;
  readonly bytes: number;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * An errno reply with the error's `reason` (a line meant for the user, e.g.
 * why a call needs admin), when the error carries one.
 */
function withReason(reply: { errno: number }, err: unknown): Record<string, unknown> {
  const reason = (err as { reason?: unknown } | null)?.reason;
  return typeof reason === 'string' ? { ...reply, reason: reason.slice(0, 512) } : reply;
}

function errnoOf(err: unknown): number | undefined {
  const e = (err as { errno?: unknown } | null)?.errno;
  return typeof e === 'number' && Number.isInteger(e) && e !== 0 ? Math.abs(e) : undefined;
}

/**
 * Unsent bytes to a client above which a `copyout` waits for 'drain'. Not
 * the socket's 16 KiB high-water mark: one coalesced COPYOUT is larger
 * than that, so every copyout would wait for a drain event (and, corked, for
 * the end of the turn) before its call could answer. A few hundred KiB in
 * flight bound the memory as well and let a recv's COPYOUT and RESP leave
 * together.
 */
const COPYOUT_BACKLOG = 512 * 1024;

/**
 * Builds the schema table a session validates against, and checks that
 * every handler has a schema (a configuration error, thrown at start).
 */
export function resolveSchemas(handlers: SyscallHandlers, extra?: Readonly<Record<string, SyscallSchema>>): ReadonlyMap<string, SyscallSchema> {
  const all = new Map<string, SyscallSchema>(Object.entries(SYSCALL_SCHEMAS));
  for (const [k, v] of Object.entries(extra ?? {})) all.set(k, v);
  for (const name of Object.keys(handlers)) {
    if (!all.has(name)) throw new TypeError(`syscall handler '${name}' has no schema`);
  }
  return all;
}

/** One client connection. Created by {@link RumpListener}; usable over any stream socket. */
export class ClientSession {
  /** Session number. */
  readonly id: number;
  /** Counters of this client. */
  readonly counters: SessionCounters = {
    syscalls: 0, errors: 0, copyinRequests: 0, copyinBytes: 0, copyoutRequests: 0, copyoutBytes: 0,
    copyinPeak: 0, copyinsAvoided: 0, inlineBytes: 0, copyoutsAvoided: 0, inlineRecvBytes: 0, copyinTimeouts: 0, copyinWrongSize: 0, copyinRefused: 0, lateReplies: 0, protocolErrors: 0, internalErrors: 0, oversizeReplies: 0,
    backpressured: 0, payloadRequests: 0, framesIn: 0, framesOut: 0, postedSends: 0, postedErrors: 0, postedRefused: 0, shmCopyouts: 0, shmCopyoutBytes: 0, shmFallbacks: 0, shmFaults: 0, shmCopyins: 0, shmCopyinBytes: 0,
  };
  /** Stack parameters this session reports. */
  readonly params: StackParams;
  /** Effective limits. */
  readonly limits: SessionLimits;
  /** Resolves with the close reason once the session is closed and its close hooks ran. */
  readonly closed: Promise<string>;
  /** Who the peer is by its credentials, and whether it is admin (see admin.ts). */
  readonly auth: SessionAuth;

  private peerInfo: PeerInfo | undefined;
  /** Posted sends, when this client announced them and the server offers a window (posted.ts). */
  private posted: PostedSends | undefined;
  private readonly reader: FrameReader;
  private readonly schemas: ReadonlyMap<string, SyscallSchema>;
  private readonly handlers: SyscallHandlers;
  private readonly log: ProtoLogger;
  private readonly abort = new AbortController();
  /** The COPYINs outstanding and waiting for a slot (copyin.ts). */
  private readonly copyins: CopyinTable;
  /** Frames handed to the socket whose write callback has not run yet. */
  private unsentFrames = 0;
  /** Reading stopped because replies are backed up. */
  private paused = false;
  /** Fires when a half-received frame takes too long (see {@link SessionLimits.frameTimeoutMs}). */
  private frameTimer: NodeJS.Timeout | undefined;
  /** `counters.framesIn` when the frame timer was armed: a frame finished since means a new one started. */
  private frameTimerAt = 0;
  private readonly queue: Queued[] = [];
  /** Requests held behind running posted sends (see {@link ClientSession.take}), and whether their release is due. */
  private readonly behind: Queued[] = [];
  private behindFlush = false;
  /** Posted sends dispatched and not yet finished. */
  private postedActive = 0;
  private readonly hooks: CloseHook[] = [];
  private queuedBytes = 0;
  /** The user's share of queued-request memory (quota.ts), once the server has joined this session to its user. */
  private queueShare: QueueShare | undefined;
  private running = 0;
  /** Calls that became streams ({@link ClientSession.detachCall}): running, but not counted in `running`. */
  private streaming = 0;
  private nextReq = 1;
  private closing: string | undefined;
  private resolveClosed!: (reason: string) => void;
  private readonly handshakeTimer: NodeJS.Timeout;
  /** Batches the frames of one event-loop turn into one writev. */
  private readonly cork: TurnCork;
  /** The client's shared region (§7a): COPYOUT bytes go through it while it is mapped and has room. */
  private readonly shm: SessionShm;
  /** Streamed receives waiting for the client's doorbell. */
  private readonly bells = new Set<() => void>();

  constructor(
    private readonly socket: Socket,
    opts: SessionOptions,
  ) {
    this.id = opts.id;
    this.params = opts.params;
    this.auth = opts.auth ?? NO_AUTH;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.handlers = opts.handlers;
    this.schemas = resolveSchemas(opts.handlers, opts.schemas);
    this.log = opts.log ?? silentLogger;
    this.shm = new SessionShm(opts.shm, this.counters, this.log, this.id, this.auth);
    const session = this;
    this.copyins = new CopyinTable({
      id: this.id,
      counters: this.counters,
      limits: this.limits,
      log: this.log,
      get isClosed() {
        return session.closing !== undefined;
      },
      allocReq: () => this.allocReq(),
      sendCopyin: (reqno, head) => this.send(MsgClass.REQ, MsgType.COPYIN, reqno, head),
      protocolError: (reason) => this.protocolError(undefined, reason),
      shmTake: (s, n, dsts) => this.shm.take(s, n, dsts),
    });
    this.cork = new TurnCork(socket, 's.sockwrite');
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.reader = new FrameReader(
      {
        payloadSink: (meta) => this.payloadSink(meta),
        frame: (meta, payload) => this.onFrame(meta, payload),
        malformed: (meta, reason) => this.onMalformed(meta, reason),
        fatal: (reason) => this.disconnect(`bad framing: ${reason}`),
      },
      { maxFrame: Math.min(this.limits.maxFrame, this.limits.maxClientFrame), flagsAllowed: FrameFlag.POSTED },
    );
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.shutdown(`socket error: ${err.message}`));
    socket.on('close', () => this.shutdown(this.closing ?? 'client closed the connection'));
    this.handshakeTimer = setTimeout(() => this.disconnect('no handshake in time'), this.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    // The banner, like rump's "RUMPSP-..." line, lets a client check the version before speaking.
    socket.write(makeBanner(PROTOCOL_VERSION, opts.software ?? 'rump-server/0.1.0'));
  }

  /** The client's handshake, once done. */
  get peer(): PeerInfo | undefined {
    return this.peerInfo;
  }

  /** True once the session started closing. */
  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** Syscalls being served now. */
  get inFlight(): number {
    return this.running;
  }

  /** COPYIN requests waiting for their reply. */
  get pendingCopyins(): number {
    return this.copyins.inFlight;
  }

  /**
   * Memory of replies queued to the client and not yet taken by the kernel:
   * their bytes plus {@link FRAME_MEMORY_OVERHEAD} per frame, since many
   * small frames cost far more than their bytes.
   */
  get replyMemory(): number {
    return this.socket.writableLength + this.unsentFrames * FRAME_MEMORY_OVERHEAD;
  }

  /** What this session holds now (for `rumpctl usage`). */
  usage(): SessionUsage {
    return {
      copyinsInFlight: this.copyins.inFlight,
      copyinsWaiting: this.copyins.waiting,
      replyBytes: this.replyMemory,
      replyFrames: this.unsentFrames,
      inFlight: this.running,
      streams: this.streaming,
      queuedRequests: this.queue.length,
      queuedRequestBytes: this.queuedBytes,
      partialFrameBytes: this.reader.heldBytes,
      backpressure: this.paused,
      shmBytes: this.shm.bytes,
    };
  }

  /**
   * Charges this session's queued requests to `share` as well (its user's,
   * `--user-queued-bytes`): a session whose queueing takes the user past its
   * limit is disconnected as a flood, as one past `--max-queued-bytes` is,
   * so that N sessions of one user cannot hold N times `--max-queued-bytes`
   * of server memory. (Not paused: a paused socket would not see its
   * client hang up, and its queue would stay.)
   */
  shareQueue(share: QueueShare): void {
    this.queueShare = share;
    if (this.queuedBytes > 0) share.add(this.queuedBytes);
  }

  /** Registers a hook run once when the session closes (descriptor cleanup). */
  onClose(hook: CloseHook): void {
    this.hooks.push(hook);
  }

  /**
   * The {@link CopySource} for buffer `handle` of this client: each `copyin`
   * sends one COPYIN request and scatters the reply into the given views.
   */
  copySource(handle: number): CopySource {
    return { copyin: (uaddr, dsts) => this.copyins.copyin(handle, uaddr, dsts) };
  }

  /**
   * A {@link CopySource} over bytes a request carried inline: the copies the
   * socket layer makes are served from memory, each a COPYIN request (and
   * round trip) avoided, counted as `copyinsAvoided` and `inlineBytes`.
   * @throws StackError EFAULT when there are no inline bytes.
   */
  inlineSource(bytes: Uint8Array | undefined): CopySource {
    if (bytes === undefined) throw new StackError(Errno.EFAULT, 'no inline bytes');
    return new InlineSource(bytes, (n) => {
      this.counters.copyinsAvoided++;
      this.counters.inlineBytes += n;
    });
  }

  /** Bytes a request may carry inline (`inlineMax` announced in the handshake; 0: none). */
  get inlineMax(): number {
    return this.params.inlineMax ?? 0;
  }

  /**
   * Bytes a receive of this client may return inside its RESP: the server's
   * `inlineRecvMax` if the client announced `inlineRecv`, else 0 (announced
   * in the handshake reply).
   */
  get inlineRecvMax(): number {
    return this.peerInfo?.inlineRecv === true ? (this.params.inlineRecvMax ?? 0) : 0;
  }

  /**
   * The {@link CopySink} for buffer `handle` of this client: each `copyout`
   * sends one COPYOUT request. COPYOUT is fire-and-forget: the stream keeps
   * it ordered before the call's response, and the client applies it before
   * it reads that response, so no acknowledgement round trip is needed.
   */
  copySink(handle: number): CopySink {
    return { copyout: (uaddr, srcs) => this.copyout(handle, uaddr, srcs) };
  }

  /**
   * Disconnects the client: tells it why (an ERROR frame with request number
   * 0), closes the socket, fails pending copies with EFAULT, aborts running
   * handlers' signal and runs the close hooks.
   */
  disconnect(reason: string, level: 'warn' | 'info' = 'warn'): void {
    if (this.closing !== undefined) return;
    this.log[level]({ session: this.id, peer: this.peerInfo, reason }, 'disconnecting client');
    this.closing = reason;
    this.reader.stop();
    if (!this.socket.destroyed) {
      try {
        writeFrame(this.socket, MsgClass.ERROR, 0, 0, { reason });
      } catch {
        /* the socket may already be unwritable */
      }
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 200).unref();
    }
    this.shutdown(reason);
  }

  // ----- copies -----

  private copyout(handle: number, uaddr: number, srcs: readonly Uint8Array[]): Promise<void> | void {
    const total = totalLength(srcs);
    if (!Number.isInteger(uaddr) || uaddr < 0 || !Number.isInteger(handle) || handle < 1) {
      return Promise.reject(new StackError(Errno.EFAULT, 'copyout: bad address'));
    }
    if (total + COPY_FRAME_OVERHEAD > this.limits.maxFrame) {
      return Promise.reject(new StackError(Errno.EMSGSIZE, `copyout of ${total} bytes exceeds one frame`));
    }
    if (this.closing !== undefined) return Promise.reject(new StackError(Errno.EFAULT, 'copyout: client gone'));
    // Through the shared region (§7a): the bytes copied once into the ring, the request says where.
    const s = total > 0 ? this.shm.put(srcs, total) : SHM_FULL;
    // Else one pre-sized frame with the bytes copied in: the sources are only lent to us.
    const frame = s >= 0
      ? encodeFramePacked(MsgClass.REQ, MsgType.COPYOUT, this.allocReq(), packHead({ h: handle, o: uaddr, s, n: total }))
      : encodeFrameCopy(MsgClass.REQ, MsgType.COPYOUT, this.allocReq(), { h: handle, o: uaddr }, srcs);
    this.counters.copyoutRequests++;
    this.counters.copyoutBytes += total;
    hopTrace?.mark('s.copyout');
    this.cork.hold();
    this.write(frame);
    if (this.socket.writableLength <= COPYOUT_BACKLOG) return;
    if (this.checkWriteBacklog()) return Promise.reject(new StackError(Errno.EFAULT, 'copyout: client gone'));
    // Backpressure: the caller waits for the kernel to take the bytes.
    return new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.socket.off('drain', onDrain);
        reject(new StackError(Errno.EFAULT, 'copyout: client gone'));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  /**
   * Resolves at the client's next doorbell (a REQ PING numbered 0: it freed
   * window a streamed receive waits for, §7a), after `ms` at the latest, or
   * when the session closes.
   */
  doorbell(ms: number): Promise<void> {
    if (this.closing !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.bells.delete(done);
        resolve();
      }, ms);
      const done = (): void => {
        clearTimeout(t);
        resolve();
      };
      this.bells.add(done);
    });
  }

  /**
   * Wakes every streamed receive waiting for window, to look again now: the
   * client's doorbell, a descriptor of this session closed, the session's end.
   */
  ringBell(): void {
    const bells = [...this.bells];
    this.bells.clear();
    for (const b of bells) b();
  }

  /** The shared region's stream slots while it is mapped (streamed receives, §7a), else undefined. */
  get streams(): SessionShm | undefined {
    return this.shm.active ? this.shm : undefined;
  }

  /** Whether this session's COPYOUTs go through a shared region now. */
  get shmActive(): boolean {
    return this.shm.active;
  }

  // ----- input -----

  private onData(chunk: Buffer): void {
    hopTrace?.mark('s.data');
    if (this.closing !== undefined) return;
    this.reader.push(chunk);
    this.armFrameDeadline();
  }

  /**
   * Keeps the half-received-frame deadline: armed when a chunk leaves a
   * frame unfinished, re-armed when that is a newer frame than the one it
   * was armed for, cleared when the reader is between frames. Not armed
   * while reading is paused (the stall is then ours, not the client's).
   */
  private armFrameDeadline(): void {
    if (this.closing !== undefined || this.paused || this.reader.dead || this.reader.pendingBytes === 0) {
      if (this.frameTimer !== undefined) clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
      return;
    }
    if (this.frameTimer !== undefined && this.frameTimerAt === this.counters.framesIn) return;
    if (this.frameTimer !== undefined) clearTimeout(this.frameTimer);
    this.frameTimerAt = this.counters.framesIn;
    this.frameTimer = setTimeout(() => {
      this.frameTimer = undefined;
      this.disconnect(`frame not completed within ${this.limits.frameTimeoutMs} ms (${this.reader.pendingBytes} bytes received)`);
    }, this.limits.frameTimeoutMs);
    this.frameTimer.unref();
  }

  /**
   * Where a frame's payload goes. The server never gathers a client's
   * payload into memory: a COPYIN reply is scattered into its clusters, and
   * everything else that carries one (a request — requests carry none —, a
   * reply to nothing, an ERROR) is skipped as it arrives, so a half-sent
   * frame holds no buffer.
   */
  private payloadSink(meta: FrameMeta): PayloadSink | undefined {
    // Inline bytes of a SYSCALL request, within the announced threshold: gathered
    // (at most inlineMax bytes); anything longer is skipped unbuffered and refused.
    if (meta.cls === MsgClass.REQ && meta.type === MsgType.SYSCALL && this.peerInfo !== undefined && meta.payloadLen <= this.inlineMax) return undefined;
    if (meta.type !== MsgType.COPYIN || meta.cls !== MsgClass.RESP) return skip;
    // Scatter each socket chunk straight into the destination clusters.
    return this.copyins.payloadSink(meta);
  }

  private onFrame(meta: FrameMeta, payload: Uint8Array | undefined): void {
    this.counters.framesIn++;
    if (this.closing !== undefined) return;
    if (meta.flags !== 0) return this.onPosted(meta, payload);
    if (meta.cls !== MsgClass.REQ) return this.onReply(meta);
    if (meta.payloadLen > 0) {
      if (!this.peerInfo) {
        this.counters.payloadRequests++;
        return this.disconnect('handshake required first');
      }
      // A copy of at most inlineMax bytes: the reader's view may pin a whole socket chunk.
      if (meta.type === MsgType.SYSCALL && payload !== undefined && meta.payloadLen <= this.inlineMax) return this.take(meta, Uint8Array.from(payload), undefined);
      this.counters.payloadRequests++;
      return this.protocolError(
        meta,
        this.inlineMax === 0 || meta.type !== MsgType.SYSCALL
          ? 'requests carry no payload'
          : `inline payload of ${meta.payloadLen} bytes exceeds the announced inlineMax ${this.inlineMax}`,
      );
    }
    if (!this.peerInfo) return this.onHandshake(meta);
    switch (meta.type) {
      case MsgType.SYSCALL:
        return this.take(meta, undefined, undefined);
      case MsgType.PING:
        // Request number 0: a streamed receive's doorbell (§7a), not answered.
        if (meta.reqno === 0) return this.ringBell();
        return this.send(MsgClass.RESP, MsgType.PING, meta.reqno, undefined);
      case MsgType.HANDSHAKE:
        return this.protocolError(meta, 'handshake already done');
      default:
        return this.protocolError(meta, `unknown request type ${meta.type}`);
    }
  }

  /**
   * A frame with the POSTED flag: a `sendto` with inline bytes that wants no
   * reply. Numbered in arrival order (the client numbers its posts alike);
   * one past the window, or posted without the handshake's consent, or not
   * an inline sendto, is done at once: refused with ENOBUFS (a late error,
   * kept for the descriptor's next call) or an ERROR.
   */
  private onPosted(meta: FrameMeta, payload: Uint8Array | undefined): void {
    const p = this.posted;
    if (p === undefined || meta.cls !== MsgClass.REQ) return this.protocolError(meta.cls === MsgClass.REQ ? meta : undefined, 'posted flag not announced in the handshake, or on a frame other than a request');
    const h = isMap(meta.head) ? meta.head : {};
    const ok = meta.type === MsgType.SYSCALL && payload !== undefined && meta.payloadLen <= this.inlineMax && h.name === 'sendto';
    const a = p.arrive(ok ? meta.payloadLen : 0);
    if (!ok || a.over) {
      this.counters.postedRefused++;
      p.done(a.seq, ok ? meta.payloadLen : 0, !a.over);
      if (!ok) return this.protocolError(meta, 'only a sendto with its bytes inline may be posted');
      const fd = orderedFd('sendto', h.args);
      if (fd !== undefined) p.setError(fd, Errno.ENOBUFS);
      return this.finishCall(meta, 'sendto', { errno: Errno.ENOBUFS, reason: `posted sends beyond the window of ${p.window.calls} requests / ${p.window.bytes} bytes` });
    }
    this.counters.postedSends++;
    this.take(meta, Uint8Array.from(payload!), { seq: a.seq, bytes: meta.payloadLen });
  }

  private onReply(meta: FrameMeta): void {
    if (meta.type !== MsgType.COPYIN) return this.protocolError(undefined, `reply of unexpected type ${meta.type}`);
    this.copyins.onReply(meta);
  }

  private onHandshake(meta: FrameMeta): void {
    const h = meta.head;
    if (meta.type !== MsgType.HANDSHAKE || !isMap(h)) return this.disconnect('handshake required first');
    const ask = checkHandshake(h);
    if ('head' in ask) {
      this.send(MsgClass.ERROR, MsgType.HANDSHAKE, meta.reqno, ask.head);
      return this.disconnect(ask.reason);
    }
    clearTimeout(this.handshakeTimer);
    this.peerInfo = { version: ask.version, pid: ask.pid, name: ask.name, inlineRecv: ask.inlineRecv, postedSend: ask.postedSend };
    // Posted sends: only inline sends are posted, so no inline means none (the NetBSD-equivalent configuration).
    const pw = { bytes: this.params.postedWindow ?? 0, calls: this.params.postedCalls ?? 0 };
    if (this.peerInfo.postedSend && this.inlineMax > 0 && pw.bytes > 0 && pw.calls > 0) this.posted = new PostedSends(pw);
    // The shared region is reached through the pid the kernel recorded at connect(2), never the claimed one.
    const shm = ask.shm === undefined ? undefined : this.shm.attach(this.auth.cred?.pid, ask.shm);
    this.log.info({ session: this.id, peer: this.peerInfo, admin: this.auth.admin, cred: this.auth.why }, 'client connected');
    const l = this.limits;
    this.send(MsgClass.RESP, MsgType.HANDSHAKE, meta.reqno, {
      result: {
        version: PROTOCOL_VERSION,
        ...this.params,
        // What this session gets: 0 unless the client asked for inline receives.
        inlineRecvMax: this.inlineRecvMax,
        // What this session gets: 0 unless the client asked for posted sends and they are on.
        postedWindow: this.posted?.window.bytes ?? 0,
        postedCalls: this.posted?.window.calls ?? 0,
        ...(shm === undefined ? {} : { shm }),
        limits: {
          maxFrame: l.maxFrame,
          maxClientFrame: Math.min(l.maxFrame, l.maxClientFrame),
          maxInFlight: l.maxInFlight,
          maxBufferedBytes: l.maxBufferedBytes,
          copyinTimeoutMs: l.copyinTimeoutMs,
        },
        session: this.id,
      },
    });
  }

  private onMalformed(meta: FrameMeta, reason: string): void {
    this.counters.framesIn++;
    if (this.closing !== undefined) return;
    if (meta.cls === MsgClass.REQ) return this.protocolError(meta, reason);
    this.copyins.onMalformed(meta, reason);
    this.protocolError(undefined, reason);
  }

  /** Counts a protocol error, answers the request (if any) with ERROR, disconnects past the limit. */
  private protocolError(meta: FrameMeta | undefined, reason: string): void {
    this.counters.protocolErrors++;
    this.log.warn({ session: this.id, reqno: meta?.reqno, reason }, 'protocol error');
    if (!this.peerInfo) return this.disconnect(`before handshake: ${reason}`);
    if (meta) this.send(MsgClass.ERROR, meta.type, meta.reqno, { reason });
    if (this.counters.protocolErrors > this.limits.maxProtocolErrors) this.disconnect('too many protocol errors');
  }

  // ----- syscalls -----

  /**
   * Takes a request in arrival order, but lets a posted send that is still
   * running finish first before a receive is set up (and keeps everything
   * after that receive behind it, so no other order changes): the send's
   * segment leaves for the peer, who waits for it, before the receive's
   * setup, which will only block. Held at most until the posted sends of the
   * moment are done, or the end of this turn (a blocked one holds nothing).
   */
  private take(meta: FrameMeta, payload: Uint8Array | undefined, post: Post | undefined): void {
    const recv = post === undefined && this.postedActive > 0 && isMap(meta.head) && meta.head.name === 'recvfrom';
    if (this.behind.length === 0 && !recv) return this.enqueue(meta, payload, post);
    this.behind.push({ meta, payload, post, bytes: 0 });
    if (this.behindFlush) return;
    this.behindFlush = true;
    setImmediate(() => this.releaseBehind());
  }

  /** Dispatches the requests {@link ClientSession.take} held, in order. */
  private releaseBehind(): void {
    this.behindFlush = false;
    for (const q of this.behind.splice(0)) if (this.closing === undefined) this.enqueue(q.meta, q.payload, q.post);
  }

  private enqueue(meta: FrameMeta, payload: Uint8Array | undefined, post: Post | undefined): void {
    if (this.running < this.limits.maxInFlight) return void this.dispatch(meta, payload, post);
    // Over the in-flight limit: queue, counting the bytes (inline ones included) against the client's budget.
    const bytes = meta.len + REQUEST_MEMORY_OVERHEAD;
    this.queue.push({ meta, payload, post, bytes });
    this.queuedBytes += bytes;
    if (this.queuedBytes > this.limits.maxBufferedBytes) {
      this.disconnect(`flood: ${this.queue.length} requests (${this.queuedBytes} bytes) queued beyond ${this.limits.maxInFlight} in flight`);
      return;
    }
    if (this.queueShare?.add(bytes) === true) {
      this.queueShare.refused();
      this.disconnect(`flood: ${this.queue.length} requests (${this.queuedBytes} bytes) queued here take ${this.auth.principal}'s sessions past --user-queued-bytes`);
    }
  }

  private async dispatch(meta: FrameMeta, payload: Uint8Array | undefined, post?: Post): Promise<void> {
    const h = meta.head;
    // A posted request refused here is done all the same (its number must be acknowledged).
    if (post !== undefined) this.postedActive++;
    if (!isMap(h) || typeof h.name !== 'string') return this.refuse(meta, post, 'SYSCALL head must be {name, args}');
    const name = h.name;
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, name) ? this.handlers[name] : undefined;
    const schema = this.schemas.get(name);
    if (!schema) return this.refuse(meta, post, `unknown syscall '${name.slice(0, 64)}'`);
    const why = checkArgs(schema, h.args);
    if (why !== undefined) return this.refuse(meta, post, `${name}: ${why}`);
    if (payload !== undefined && schema.copy !== 'in') {
      this.counters.payloadRequests++;
      return this.refuse(meta, post, `${name}: only send-type calls carry inline bytes`);
    }
    this.counters.syscalls++;
    hopTrace?.mark(`s.sys.${name}`);
    if (!handler) return this.finishCall(meta, name, { errno: Errno.ENOSYS }, [], post);
    this.running++;
    const ctx = new CallContext(this, meta.reqno, name, this.abort.signal, schema.copy === 'out', payload, post !== undefined);
    let reply: Record<string, unknown>;
    // A call on a descriptor with posted sends still running waits for them (posted.ts).
    const fd = this.posted === undefined ? undefined : orderedFd(name, h.args);
    const link = fd !== undefined && post !== undefined ? this.posted!.link(fd) : undefined;
    try {
      const before = link !== undefined ? link.before : fd !== undefined ? this.posted!.pending(fd) : undefined;
      if (before !== undefined) await before;
      // A failed posted send's errno goes to the descriptor's next call (so_error); close just clears it.
      const late = fd === undefined ? undefined : this.posted!.takeError(fd);
      if (late !== undefined && name !== 'close') reply = lateErrorReply(name, h.args, late);
      else {
        const r = handler(this, h.args as Record<string, unknown>, ctx);
        // A synchronous result is answered now, before the microtasks of the
        // wakeups the call caused (see SyscallHandler); a promise is awaited.
        const result = r instanceof Promise ? await r : r;
        reply = { result: result ?? {} };
      }
    } catch (err) {
      const errno = errnoOf(err);
      if (errno !== undefined) reply = withReason({ errno }, err);
      else {
        this.counters.internalErrors++;
        this.log.error({ session: this.id, syscall: name, err }, 'syscall handler failed');
        reply = { internal: (err as Error)?.message ?? String(err) };
      }
    } finally {
      if (ctx.detached) this.streaming--;
      else this.running--;
      link?.finish();
    }
    // A successful receive's held bytes ride in its RESP: each a COPYOUT avoided.
    const rx = ctx.rx;
    const inline = rx === undefined ? [] : 'result' in reply ? rx.take() : (rx.discard(), []);
    this.finishCall(meta, name, reply, inline, post);
    this.drainQueue();
  }

  /** A request refused as malformed (ERROR); a posted one is done all the same (its number must be acknowledged). */
  private refuse(meta: FrameMeta, post: Post | undefined, reason: string): void {
    if (post !== undefined) this.postedDone(post);
    this.protocolError(meta, reason);
  }

  /**
   * Answers a call. A posted one is done first: on success it gets no reply
   * at all; a failure is its late RESP (the errno, also kept for the
   * descriptor's next call). Every RESP says how far posted sends are done
   * (`pd`), when that moved.
   */
  private finishCall(meta: FrameMeta, name: string, reply: Record<string, unknown>, inline: readonly Uint8Array[] = [], post?: Post): void {
    const p = this.posted;
    if (post !== undefined && p !== undefined) {
      this.postedDone(post);
      if ('result' in reply) return;
      this.counters.postedErrors++;
      const fd = orderedFd(name, (meta.head as { args?: unknown }).args);
      if (typeof reply.errno === 'number' && fd !== undefined) p.setError(fd, reply.errno);
    }
    if (this.closing !== undefined) return;
    if ('internal' in reply) {
      this.send(MsgClass.ERROR, MsgType.SYSCALL, meta.reqno, { reason: `internal error in ${name}` });
      return;
    }
    // Told once: only a RESP carries it (an E2BIG replacement keeps it, see send).
    const pd = p?.ack();
    if (pd !== undefined) reply.pd = pd;
    if (reply.errno !== undefined) this.counters.errors++;
    hopTrace?.mark(`s.resp.${name}`);
    this.send(MsgClass.RESP, MsgType.SYSCALL, meta.reqno, reply, inline);
  }

  /** A posted send is done: acknowledged from now on; the requests held behind it go (see {@link ClientSession.take}). */
  private postedDone(post: Post): void {
    this.posted?.done(post.seq, post.bytes, true);
    if (--this.postedActive === 0 && this.behind.length > 0) this.releaseBehind();
  }

  /**
   * A running call became a stream (see {@link SyscallContext.detach}): it
   * leaves the in-flight count, so that `--max-in-flight` below the
   * session's 16 stream slots never lets the streams stall its ordinary
   * calls; the queue moves up at once.
   */
  detachCall(): void {
    this.running--;
    this.streaming++;
    this.drainQueue();
  }

  private drainQueue(): void {
    while (this.closing === undefined && this.running < this.limits.maxInFlight && this.queue.length > 0) {
      const q = this.queue.shift()!;
      this.queuedBytes -= q.bytes;
      this.queueShare?.sub(q.bytes);
      void this.dispatch(q.meta, q.payload, q.post);
    }
  }

  // ----- output and teardown -----

  /**
   * Send one frame without payload. A head over {@link MAX_HEAD} would make
   * the client's reader fail the whole connection (the limit is fatal by
   * design, docs/PROTOCOL.md §3), so such a reply is replaced: a syscall's
   * RESP by `{ errno: E2BIG }` (that call fails, the session lives), any
   * other frame by an ERROR with a short reason. Counted `oversizeReplies`.
   */
  private send(cls: 0 | 1 | 2, type: number, reqno: number, head: unknown, payload: readonly Uint8Array[] = []): void {
    if (this.closing !== undefined || this.socket.destroyed) return;
    let h = head === undefined ? undefined : packHead(head);
    if (h !== undefined && h.length > MAX_HEAD) {
      this.counters.oversizeReplies++;
      this.log.warn({ session: this.id, type, reqno, headBytes: h.length }, 'reply head exceeds MAX_HEAD: answered E2BIG');
      if (cls === MsgClass.RESP && type === MsgType.SYSCALL) {
        this.counters.errors++;
        const pd = (head as { pd?: unknown }).pd;
        h = packHead(pd === undefined ? { errno: Errno.E2BIG } : { errno: Errno.E2BIG, pd });
        payload = [];
      } else {
        cls = MsgClass.ERROR;
        h = packHead({ errno: Errno.E2BIG, reason: `reply head of ${h.length} bytes exceeds ${MAX_HEAD}` });
      }
    }
    this.cork.hold();
    if (payload.length === 0) this.write(encodeFramePacked(cls, type, reqno, h));
    else {
      // An inline receive's bytes in its RESP: the COPYOUT it avoided.
      this.counters.copyoutsAvoided++;
      this.counters.inlineRecvBytes += totalLength(payload);
      this.write(packedFrameWith(cls, type, reqno, h, payload));
    }
    this.checkWriteBacklog();
  }

  /** Hands one frame to the socket, counted until its write callback runs. */
  private write(frame: Buffer): void {
    this.unsentFrames++;
    this.counters.framesOut++;
    this.socket.write(frame, this.onWritten);
  }

  /** A frame left for the kernel: maybe read the client's requests again. */
  private readonly onWritten = (): void => {
    this.unsentFrames--;
    if (this.paused && this.closing === undefined && this.replyMemory <= this.limits.replyBackpressureBytes / 2) {
      this.paused = false;
      this.socket.resume();
      this.armFrameDeadline();
    }
  };

  /**
   * Backpressure on a client that lets our replies pile up, measured as
   * memory ({@link replyMemory}): past `replyBackpressureBytes` stop reading
   * its requests (what it sends waits in its own socket buffer) until half
   * of that is left; past `maxWriteBufferedBytes` — reachable only through
   * calls already running — disconnect it. True when it disconnected.
   */
  private checkWriteBacklog(): boolean {
    const mem = this.replyMemory;
    if (mem > this.limits.maxWriteBufferedBytes) {
      this.disconnect(`client does not read: ${mem} bytes of replies queued (${this.unsentFrames} frames)`);
      return true;
    }
    if (mem > this.limits.replyBackpressureBytes && !this.paused && this.closing === undefined) {
      this.paused = true;
      this.counters.backpressured++;
      this.socket.pause();
      this.armFrameDeadline();
      this.log.debug({ session: this.id, replyBytes: mem, frames: this.unsentFrames }, 'replies backed up: not reading requests');
    }
    return false;
  }

  private shutdown(reason: string): void {
    if (this.closing === undefined) this.closing = reason;
    if (this.abort.signal.aborted) return;
    this.abort.abort(new StackError(Errno.ECONNABORTED, reason));
    clearTimeout(this.handshakeTimer);
    if (this.frameTimer !== undefined) clearTimeout(this.frameTimer);
    this.frameTimer = undefined;
    this.reader.stop();
    this.socket.destroy();
    this.shm.detach();
    this.ringBell();
    this.copyins.failAll();
    this.queue.length = 0;
    this.behind.length = 0;
    this.queueShare?.sub(this.queuedBytes);
    this.queuedBytes = 0;
    this.log.info({ session: this.id, peer: this.peerInfo, reason }, 'session closed');
    const hooks = this.hooks.splice(0);
    void (async () => {
      for (const hook of hooks) {
        try {
          await hook(this, reason);
        } catch (err) {
          this.log.error({ session: this.id, err }, 'close hook failed');
        }
      }
      this.resolveClosed(reason);
    })();
  }

  private allocReq(): number {
    for (let i = 0; i < 0x10000; i++) {
      const r = this.nextReq;
      this.nextReq = this.nextReq >= 0xffffffff ? 1 : this.nextReq + 1;
      if (!this.copyins.has(r)) return r;
    }
    throw new StackError(Errno.ENOBUFS, 'no free request number');
  }
}

function skip(): void {
  /* payload of a reply that already failed */
}
