/**
 * The rump client's end of the protocol, like NetBSD's `librumpclient`
 * (`rumpclient.c`): connect, read the banner, handshake, then forward system
 * calls and serve the server's COPYIN/COPYOUT requests against the buffers
 * each call registered, until the call's response arrives.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import {
  DEFAULT_MAX_FRAME,
  FrameFlag,
  FrameReader,
  MAX_BANNER,
  MsgClass,
  MsgType,
  PROTOCOL_VERSION,
  TurnCork,
  encodeFrame,
  encodeFrameCopy,
  parseBanner,
  parseServerUrl,
  writeFrame,
  type FrameHandler,
  type FrameMeta,
  type MsgClassValue,
  type PayloadSink,
  type ServerAddress,
} from './wire.js';
import { checkArgs, SYSCALL_SCHEMAS, type SyscallSchema } from './syscalls.js';
import { RumpSyscalls } from './sys.js';
import { hopTrace } from './hoptrace.js';
import { IoVec } from './iovec.js';
import { PostedWindow } from './posted.js';
import { ShmClientRegion, settleShmOffer, shmCopyinOf, shmRingOf } from './shm.js';
import { StreamSink } from './rxstream.js';
import { BusyPoller, busyPollOf, busyPollerFor } from './busypoll.js';
import { emptyCounters, type ServerParams, type ClientCounters, type ConnectOptions, type CallOptions } from './connection-types.js';
export type { RxMode, ServerLimits, ServerParams, ClientCounters, RetryPolicy, ConnectOptions, CallOptions } from './connection-types.js';
import { ERR_RUMP_CLOSED, ERR_RUMP_PROTOCOL, ERR_RUMP_VERSION, RumpProtocolError, syscallError } from './errors.js';

const EFAULT = 14;
/**
 * Size of the connection's one socket read buffer: a 64 KiB COPYOUT with
 * its call's reply fits one read with room to spare (Node reads at most
 * 64 KiB at a time otherwise).
 */
const READ_BUFFER = 256 * 1024;
/**
 * Whether connections announce posted sends by default;
 * `RUMPNET_POSTED_SEND=0` in the environment turns them off (every send
 * waits for its RESP, for comparison). Read once.
 */
const POSTED_SEND = process.env.RUMPNET_POSTED_SEND !== '0';

interface Pending {
  readonly name: string;
  readonly syscall: string;
  readonly address: string | undefined;
  readonly port: number | undefined;
  readonly handles: number[];
  /** A receive-type call's buffer: where bytes inside its reply go (inline receive). */
  rxBuf?: Uint8Array;
  fault: boolean;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

interface Registered {
  readonly buf: Uint8Array | IoVec | StreamSink;
  readonly call: Pending;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * One client's connection to a rump server. Many calls may be in flight at
 * once; each is matched to its response by request number.
 *
 * Events: `'close'` (reason: Error | undefined) when the link goes away,
 * `'reconnect'` (params) after a transparent reconnect.
 */
export class RumpConnection extends EventEmitter {
  /** Counters for this connection. */
  readonly counters: ClientCounters = emptyCounters();
  /** The system calls, as typed promise wrappers over {@link RumpConnection.call}. */
  readonly sys: RumpSyscalls = new RumpSyscalls(this);
  private socket: net.Socket | undefined;
  private refed = true;
  private reader: FrameReader | undefined;
  /** Gathers the frames of one event-loop turn into one writev (see {@link TurnCork}). */
  private cork: TurnCork | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly handles = new Map<number, Registered>();
  /** A streamed receive's chunk arriving on the socket (no room in the ring), until its frame ends. */
  private streamChunk: { sink: StreamSink; chunk: Buffer } | undefined;
  /** Stream slots of streamed receives in flight. */
  private readonly streamSlots = new Set<number>();
  private nextReq = 1;
  private nextHandle = 1;
  private paramsValue: ServerParams | undefined;
  /** The posted-send window, when this connection has one (posted.ts). */
  private posted: PostedWindow | undefined;
  /** Receive requests of this turn held back so that a posted send may go before them (see {@link RumpConnection.sendRecv}). */
  private heldRecvs: Buffer[] = [];
  private closeReason: Error | undefined;
  private userClosed = false;
  private reopening: Promise<void> | undefined;
  /** The shared-memory region the server mapped (§7a), while connected. */
  private shm: ShmClientRegion | undefined;
  /** The busy poll's bound, µs (0: off; busypoll.ts). */
  private readonly busyPollUs: number;
  /** The busy poll of the socket now, when on (busypoll.ts). */
  private poller: BusyPoller | undefined;

  private constructor(
    private readonly address: ServerAddress,
    private readonly url: string,
    private readonly opts: ConnectOptions,
  ) {
    super();
    this.busyPollUs = busyPollOf(opts.busyPoll);
  }

  /**
   * Connects to a rump server and completes the handshake.
   * `url` defaults to `process.env.RUMP_SERVER`. Rejects with Node's own
   * connect error (`connect ENOENT /path`, `ECONNREFUSED`) when nobody
   * listens, after the retries of `opts.retry`; with a
   * {@link RumpProtocolError} (`ERR_RUMP_VERSION`) on a version mismatch.
   */
  static async connect(url?: string, opts: ConnectOptions = {}): Promise<RumpConnection> {
    const u = url ?? process.env.RUMP_SERVER;
    if (u === undefined || u === '') {
      const err = new TypeError('no rump server given: pass a URL or set RUMP_SERVER') as TypeError & { code: string };
      err.code = 'ERR_INVALID_URL';
      throw err;
    }
    const conn = new RumpConnection(parseServerUrl(u), u, opts);
    await conn.open();
    return conn;
  }

  /** The server's handshake parameters. */
  get params(): ServerParams {
    if (!this.paramsValue) throw new RumpProtocolError(ERR_RUMP_CLOSED, 'not connected');
    return this.paramsValue;
  }

  /** True while the link to the server is up. */
  get connected(): boolean {
    return this.socket !== undefined;
  }

  /** Number of calls waiting for their response. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Posted sends not yet acknowledged by the server (0 without posted sends). */
  get postedInFlight(): number {
    return this.posted?.outstanding ?? 0;
  }

  /** Number of buffers registered for calls in flight. */
  get registeredBuffers(): number {
    return this.handles.size;
  }

  /**
   * Makes one system call. Resolves with the server's result; rejects with a
   * Node-shaped error ({@link syscallError}) for an errno, a
   * {@link RumpProtocolError} when the server refused the request as
   * malformed or the link failed, a `TypeError` (`ERR_INVALID_ARG_VALUE`)
   * when the arguments break the syscall's schema.
   */
  async call<R = unknown>(name: string, args: Record<string, unknown>, opts: CallOptions = {}): Promise<R> {
    if (!this.socket) await this.reopen();
    const sock = this.socket!;
    const wireArgs: Record<string, unknown> = { ...args };
    const schema: SyscallSchema | undefined = (SYSCALL_SCHEMAS as Record<string, SyscallSchema>)[name];
    const reqno = this.allocReq();
    const addr = isMap(args.addr) ? args.addr : undefined;
    const call: Pending = {
      name,
      syscall: opts.syscall ?? name,
      address: typeof addr?.address === 'string' ? addr.address : undefined,
      port: typeof addr?.port === 'number' ? addr.port : undefined,
      handles: [],
      fault: false,
      resolve: () => undefined,
      reject: () => undefined,
    };
    // A small send carries its bytes with the request: no handle, no COPYIN round trip.
    const inline = this.inlineOf(schema, args, opts);
    if (inline !== undefined) {
      delete wireArgs.buf;
      this.counters.inlineSends++;
      this.counters.inlineBytes += totalLength(inline);
    }
    if (schema?.copy === 'out' && opts.buffers?.buf instanceof Uint8Array) call.rxBuf = opts.buffers.buf;
    for (const [key, buf] of Object.entries(inline !== undefined ? {} : (opts.buffers ?? {}))) {
      const h = this.allocHandle();
      this.handles.set(h, { buf, call });
      call.handles.push(h);
      wireArgs[key] = h;
    }
    if (schema) {
      const why = checkArgs(schema, wireArgs);
      if (why !== undefined) {
        this.release(call);
        const err = new TypeError(`${name}: ${why}`) as TypeError & { code: string };
        err.code = 'ERR_INVALID_ARG_VALUE';
        throw err;
      }
    }
    this.counters.syscalls++;
    hopTrace?.mark(`c.call.${name}`);
    if (inline !== undefined && opts.posted === true && name === 'sendto' && this.postable(args.len as number)) {
      this.sendPosted(sock, reqno, wireArgs, inline, opts.onLateError);
      return { bytes: args.len } as R;
    }
    const result = new Promise<R>((resolve, reject) => {
      call.resolve = resolve as (v: unknown) => void;
      call.reject = reject;
    });
    this.pending.set(reqno, call);
    if (name === 'recvfrom' && this.posted !== undefined) this.sendRecv(reqno, { name, args: wireArgs });
    else this.send(sock, MsgClass.REQ, MsgType.SYSCALL, reqno, { name, args: wireArgs }, inline ?? []);
    return result;
  }

  /**
   * Posts a stream send of `buf` on `fd` now, if it can be (docs/PROTOCOL.md
   * §6): the server granted posted sends, the bytes fit inline and the
   * window has room. True: the send is done — its frame holds a copy of the
   * bytes, so the caller may reuse `buf` at once, as after a native write;
   * its error, if any, comes to `onLateError` and to the descriptor's next
   * call. False: nothing was sent; make an ordinary call. Synchronous: the
   * Node socket completes a small write without a promise.
   */
  post(fd: number, buf: Uint8Array | IoVec, onLateError?: (err: Error) => void): boolean {
    const sock = this.socket;
    if (sock === undefined || !this.postable(buf.length, false)) return false;
    const reqno = this.allocReq();
    this.counters.syscalls++;
    this.counters.inlineSends++;
    this.counters.inlineBytes += buf.length;
    hopTrace?.mark('c.call.sendto');
    this.sendPosted(sock, reqno, { fd, len: buf.length, flags: 0 }, buf instanceof IoVec ? buf.slice(0, buf.length) : [buf], onLateError);
    return true;
  }

  /**
   * Whether a send of `len` bytes may be posted now; with `count`, a send
   * that only the full window keeps from it is counted as a fallback (once:
   * by the ordinary call it then becomes).
   */
  private postable(len: number, count = true): boolean {
    const pw = this.posted;
    if (pw === undefined || !Number.isInteger(len) || len <= 0 || len > (this.paramsValue?.inlineMax ?? 0)) return false;
    if (pw.fits(len)) return true;
    if (count) this.counters.postedFallbacks++;
    return false;
  }

  /**
   * Sends a receive's request at the end of the turn, after the posted sends
   * made later in the same turn: a stream reader asks for its next recv as
   * it delivers the last one, before the program writes its reply to it, and
   * the server takes a turn's frames in order — the send, which the peer
   * waits for, should not wait behind setting up a receive that will only
   * block. Only posted sends overtake it: any other frame written in the
   * turn first writes the held receives, so every other order stays.
   */
  private sendRecv(reqno: number, head: unknown): void {
    this.counters.framesSent++;
    const cork = this.cork;
    if (cork === undefined || !cork.holding) this.counters.socketWrites++;
    cork?.hold();
    this.heldRecvs.push(encodeFrame(MsgClass.REQ, MsgType.SYSCALL, reqno, head));
  }

  /** Writes the receive requests held back this turn (see {@link RumpConnection.sendRecv}). */
  private flushHeld(): void {
    if (this.heldRecvs.length === 0) return;
    const held = this.heldRecvs;
    this.heldRecvs = [];
    const sock = this.socket;
    if (sock === undefined || sock.writableEnded) return;
    for (const f of held) sock.write(f);
  }

  /** Writes a posted `sendto` (the POSTED flag, the bytes copied into the frame) and charges the window. */
  private sendPosted(sock: net.Socket, reqno: number, args: Record<string, unknown>, bytes: readonly Uint8Array[], onLateError: ((err: Error) => void) | undefined): void {
    const len = totalLength(bytes);
    this.posted!.post(reqno, len, onLateError);
    this.counters.postedSends++;
    this.counters.postedBytes += len;
    this.counters.framesSent++;
    const cork = this.cork;
    if (cork === undefined || !cork.holding) this.counters.socketWrites++;
    cork?.hold();
    sock.write(encodeFrameCopy(MsgClass.REQ, MsgType.SYSCALL, reqno, { name: 'sendto', args }, bytes, FrameFlag.POSTED));
  }

  /**
   * The bytes to send inline with a send-type call, or undefined: only when
   * the server announced `inlineMax`, the call copies in from one buffer
   * `buf`, and its `len` bytes fit the threshold (and the buffer). The
   * payload's pieces: views of the buffer (or of a gather list's pieces).
   */
  private inlineOf(schema: SyscallSchema | undefined, args: Record<string, unknown>, opts: CallOptions): Uint8Array[] | undefined {
    const max = this.paramsValue?.inlineMax ?? 0;
    if (max <= 0 || opts.inline === false || schema?.copy !== 'in') return undefined;
    const buf = opts.buffers?.buf;
    const len = args.len;
    if (buf === undefined || Object.keys(opts.buffers!).length !== 1) return undefined;
    if (typeof len !== 'number' || !Number.isInteger(len) || len <= 0 || len > max || len > buf.length) return undefined;
    return buf instanceof IoVec ? buf.slice(0, len) : [buf.subarray(0, len)];
  }

  /** Measures one protocol round trip (PING); resolves with milliseconds. */
  async ping(): Promise<number> {
    if (!this.socket) await this.reopen();
    const t0 = performance.now();
    const reqno = this.allocReq();
    await new Promise((resolve, reject) => {
      this.pending.set(reqno, {
        name: 'ping', syscall: 'ping', address: undefined, port: undefined, handles: [], fault: false, resolve, reject,
      });
      this.send(this.socket!, MsgClass.REQ, MsgType.PING, reqno, undefined);
    });
    return performance.now() - t0;
  }

  /** Closes the connection; calls in flight reject with `ERR_RUMP_CLOSED`. Resolves when the socket is closed. */
  /**
   * Let the connection keep the event loop alive (the default), like
   * `net.Socket.ref()`. The setting survives a reconnect.
   */
  ref(): this {
    this.refed = true;
    this.socket?.ref();
    return this;
  }

  /**
   * Let the process exit while the connection is open and idle, like
   * `net.Socket.unref()`; calls in flight still complete if the process lives.
   */
  unref(): this {
    this.refed = false;
    this.socket?.unref();
    return this;
  }

  async close(): Promise<void> {
    this.userClosed = true;
    const sock = this.socket;
    if (!sock) return;
    // Requests of this turn held back (sendRecv) go before the end, as they would have.
    this.flushHeld();
    await new Promise<void>((resolve) => {
      sock.once('close', () => resolve());
      sock.end();
      // A peer that does not finish the close cannot keep us waiting.
      setTimeout(() => sock.destroy(), 1000).unref();
    });
  }

  // ----- connecting -----

  private async open(): Promise<void> {
    const retry = this.opts.retry ?? { attempts: 0, intervalMs: 0 };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.openOnce();
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        const retriable = code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EAGAIN' || code === 'ECONNRESET';
        if (!retriable || attempt >= retry.attempts || this.userClosed) throw err;
        await new Promise((r) => setTimeout(r, retry.intervalMs));
      }
    }
  }

  private async reopen(): Promise<void> {
    if (this.userClosed || !this.opts.reconnect || !this.paramsValue) {
      throw this.closeReason ?? new RumpProtocolError(ERR_RUMP_CLOSED, `connection to ${this.url} is closed`);
    }
    this.reopening ??= this.open().finally(() => {
      this.reopening = undefined;
    });
    await this.reopening;
    this.emit('reconnect', this.paramsValue);
  }

  private openOnce(): Promise<void> {
    const a = this.address;
    // Every read of the socket lands in one buffer of this connection (net's
    // `onread`) instead of a fresh 64 KiB one per read: a receive streams
    // 64 KiB COPYOUTs, and a new buffer per read was half the garbage the
    // collector had to clear (the frame reader copies what it keeps).
    const rbuf = Buffer.allocUnsafe(READ_BUFFER);
    const onread = { buffer: rbuf, callback: (n: number, buf: Uint8Array): boolean => (onChunk(buf.subarray(0, n) as Buffer), true) };
    let onChunk: (chunk: Buffer) => void = () => undefined;
    const sock = a.kind === 'unix' ? net.connect({ path: a.path, onread }) : net.connect({ host: a.host, port: a.port, onread });
    if (a.kind === 'tcp') sock.setNoDelay(true);
    const timeoutMs = this.opts.handshakeTimeoutMs ?? 5000;
    return new Promise<void>((resolve, reject) => {
      let banner = '';
      let bannerDone = false;
      let settled = false;
      const timer = setTimeout(() => fail(new RumpProtocolError(ERR_RUMP_PROTOCOL, `no handshake from ${this.url} within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        reject(err);
      };
      // A server that refuses us (at its session cap) says why in an ERROR
      // frame and closes; our handshake write then fails (EPIPE): report its reason.
      const onError = (err: Error): void => fail((bannerDone ? this.closeReason : undefined) ?? err);
      sock.once('error', onError);
      onChunk = (chunk: Buffer): void => {
        hopTrace?.mark('c.data');
        this.counters.socketReads++;
        this.poller?.onData();
        if (bannerDone) return this.reader?.push(chunk);
        const nl = chunk.indexOf(0x0a);
        banner += chunk.toString('latin1', 0, nl < 0 ? chunk.length : nl);
        if (banner.length >= MAX_BANNER) return fail(new RumpProtocolError(ERR_RUMP_PROTOCOL, `${this.url} sent no rump banner`));
        if (nl < 0) return;
        bannerDone = true;
        const b = parseBanner(banner);
        if (!b) return fail(new RumpProtocolError(ERR_RUMP_PROTOCOL, `${this.url} is not a rump server (banner '${banner}')`));
        const mine = this.opts.protocolVersion ?? PROTOCOL_VERSION;
        if (b.version !== mine) {
          return fail(new RumpProtocolError(ERR_RUMP_VERSION, `protocol version mismatch: server ${b.software} speaks ${b.version}, this client speaks ${mine}`, { server: b.version, client: mine }));
        }
        this.attach(sock, b.software, (err) => (err ? fail(err) : (settled = true, clearTimeout(timer), sock.off('error', onError), resolve())));
        const rest = chunk.subarray(nl + 1);
        if (rest.length > 0) this.reader!.push(rest);
      };
      sock.once('close', () => fail(this.closeReason ?? new RumpProtocolError(ERR_RUMP_CLOSED, `${this.url} closed the connection during the handshake`)));
    });
  }

  /** Wires a socket whose banner was accepted and sends the handshake. */
  private attach(sock: net.Socket, software: string, done: (err?: Error) => void): void {
    this.closeReason = undefined;
    const handler: FrameHandler = {
      payloadSink: (meta) => this.payloadSink(meta),
      frame: (meta, payload) => this.onFrame(meta, payload),
      malformed: (meta, reason) => this.onMalformed(meta, reason),
      fatal: (reason) => this.fail(new RumpProtocolError(ERR_RUMP_PROTOCOL, `bad frame from server: ${reason}`)),
    };
    this.reader = new FrameReader(handler, { maxFrame: this.opts.maxFrame ?? DEFAULT_MAX_FRAME, transientChunks: true });
    this.socket = sock;
    this.cork = new TurnCork(sock, 'c.sockwrite', () => this.flushHeld(), () => this.afterWrite());
    this.poller = busyPollerFor(this.busyPollUs, sock, this.counters);
    if (!this.refed) sock.unref();
    // A transport error (EPIPE when a write races the server's death,
    // ECONNRESET, ...) ends the connection exactly as the server's close
    // does: whichever of 'error' and 'close' comes first, calls in flight
    // fail with ERR_RUMP_CLOSED, the transport's error kept as the cause.
    sock.on('error', (err) => this.fail(this.transportLost(err)));
    sock.once('close', () => this.detach(sock));
    const reqno = this.allocReq();
    // A shared-memory region for COPYOUT bytes, offered over a Unix socket (§7a).
    const ring = this.address.kind === 'unix' ? shmRingOf(this.opts.shm) : 0;
    const region = ring > 0 ? ShmClientRegion.create(ring, true, shmCopyinOf(this.opts.shmCopyin)) : 'not offered';
    const offered = region instanceof ShmClientRegion ? region : undefined;
    const dropRegion = (): void => offered?.close();
    this.pending.set(reqno, {
      name: 'handshake', syscall: 'handshake', address: undefined, port: undefined, handles: [], fault: false,
      resolve: (v) => {
        const p = v as Omit<ServerParams, 'software'>;
        if (!isMap(p) || p.version !== (this.opts.protocolVersion ?? PROTOCOL_VERSION)) {
          dropRegion();
          return done(new RumpProtocolError(ERR_RUMP_PROTOCOL, 'bad handshake reply'));
        }
        const shm = settleShmOffer(region, p.shm);
        if (sock === this.socket) this.shm = shm.region;
        else shm.region?.close();
        this.paramsValue = { ...p, shm: shm.outcome, software };
        const pw = p.postedWindow;
        const pc = p.postedCalls;
        this.posted = this.opts.postedSend !== false && POSTED_SEND && typeof pw === 'number' && typeof pc === 'number' && pw > 0 && pc > 0 ? new PostedWindow(pw, pc) : undefined;
        done();
      },
      reject: (err) => (dropRegion(), done(err)),
    });
    const name = this.opts.name ?? (process.argv[1] ? process.argv[1].replace(/^.*\//, '') : 'node');
    this.send(sock, MsgClass.REQ, MsgType.HANDSHAKE, reqno, {
      version: this.opts.protocolVersion ?? PROTOCOL_VERSION,
      pid: process.pid,
      name,
      // The server may put a receive's bytes inside its reply (docs/PROTOCOL.md §6).
      inlineRecv: this.opts.inlineRecv !== false,
      // Small stream sends may go without waiting for their RESP (docs/PROTOCOL.md §6).
      postedSend: this.opts.postedSend ?? POSTED_SEND,
      ...(offered !== undefined ? { shm: offered.announce() } : {}),
    });
  }

  /** The error a broken transport means for the user: the connection is closed. */
  private transportLost(err: Error): RumpProtocolError {
    const code = (err as NodeJS.ErrnoException).code;
    return new RumpProtocolError(ERR_RUMP_CLOSED, `connection to ${this.url} lost (${err.message})`, code === undefined ? undefined : { code }, err);
  }

  private fail(err: Error): void {
    this.closeReason ??= err;
    this.reader?.stop();
    this.socket?.destroy();
  }

  private detach(sock: net.Socket): void {
    if (this.socket !== sock) return;
    this.socket = undefined;
    this.reader = undefined;
    this.cork = undefined;
    this.poller = undefined;
    this.posted = undefined;
    this.shm?.close();
    this.shm = undefined;
    this.heldRecvs = [];
    const reason = this.closeReason ?? new RumpProtocolError(ERR_RUMP_CLOSED, `connection to ${this.url} closed`);
    this.closeReason = reason;
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.handles.clear();
    for (const c of calls) c.reject(reason);
    this.emit('close', this.userClosed ? undefined : reason);
  }

  // ----- frames -----

  private payloadSink(meta: FrameMeta): PayloadSink | undefined {
    if (meta.cls === MsgClass.RESP && meta.type === MsgType.SYSCALL && meta.payloadLen > 0) return this.inlineRecvSink(meta);
    if (meta.cls !== MsgClass.REQ || meta.type !== MsgType.COPYOUT) return undefined;
    // COPYOUT: write the bytes straight into the registered buffer.
    const h = isMap(meta.head) ? meta.head : {};
    const reg = typeof h.h === 'number' ? this.handles.get(h.h) : undefined;
    const off = h.o;
    if (reg?.buf instanceof StreamSink) {
      // A streamed receive's chunk that had no room in the ring: a Buffer of its own, handed on at the frame's end.
      const chunk = Buffer.allocUnsafe(meta.payloadLen);
      this.streamChunk = { sink: reg.buf, chunk };
      return (piece, at) => chunk.set(piece, at);
    }
    if (!reg || typeof off !== 'number' || !Number.isInteger(off) || off < 0 || off + meta.payloadLen > reg.buf.length) {
      this.counters.copyFaults++;
      if (reg) reg.call.fault = true;
      return () => undefined;
    }
    const buf = reg.buf;
    if (buf instanceof IoVec) {
      // A gather list is a send's: nothing may be copied out into it.
      this.counters.copyFaults++;
      reg.call.fault = true;
      return () => undefined;
    }
    return (piece, at) => buf.set(piece, off + at);
  }

  /**
   * Inline receive: a receive's RESP carries the bytes it returns, written
   * straight into the call's buffer from offset 0 as they arrive (as a
   * COPYOUT at 0 would). Bytes for a call that is no receive, that we did
   * not ask for, or that overrun its buffer are a fault: the call fails
   * `EFAULT` (counted `copyFaults`), the bytes are skipped.
   */
  private inlineRecvSink(meta: FrameMeta): PayloadSink {
    const call = this.pending.get(meta.reqno);
    const buf = call?.rxBuf;
    if (call === undefined || buf === undefined || this.opts.inlineRecv === false || meta.payloadLen > buf.length) {
      this.counters.copyFaults++;
      if (call) call.fault = true;
      return () => undefined;
    }
    this.counters.inlineRecvs++;
    this.counters.inlineRecvBytes += meta.payloadLen;
    return (piece, at) => buf.set(piece, at);
  }

  private onFrame(meta: FrameMeta, payload: Uint8Array | undefined): void {
    this.counters.framesReceived++;
    if (meta.cls === MsgClass.REQ) return this.onServerRequest(meta, payload);
    const call = this.pending.get(meta.reqno);
    const head = isMap(meta.head) ? meta.head : {};
    if (!call) {
      // A posted send's late error, or a reply to nothing we asked: counted and
      // ignored (the server may have given up on it).
      if (this.posted?.has(meta.reqno)) this.onLateError(meta, head);
      else if (meta.reqno !== 0 || meta.cls !== MsgClass.ERROR) this.counters.protocolErrors++;
      else this.closeReason = this.errorFrom(meta.head, 'server closed the connection');
      this.onPostedAck(head);
      return;
    }
    this.pending.delete(meta.reqno);
    this.release(call);
    this.onPostedAck(head);
    if (meta.cls === MsgClass.ERROR) {
      this.counters.protocolErrors++;
      return call.reject(this.errorFrom(head, `server refused ${call.name}`));
    }
    if (typeof head.errno === 'number') {
      this.counters.errors++;
      const err = syscallError(head.errno, call.syscall, call.address, call.port);
      if (typeof head.reason === 'string') err.reason = head.reason;
      return call.reject(err);
    }
    if (call.fault) {
      this.counters.errors++;
      return call.reject(syscallError(EFAULT, call.syscall, call.address, call.port));
    }
    hopTrace?.mark(`c.resp.${call.name}`);
    call.resolve(head.result);
  }

  /** A RESP head's `pd`: posted sends done up to that number. */
  private onPostedAck(head: Record<string, unknown>): void {
    if (head.pd === undefined) return;
    if (this.posted === undefined || typeof head.pd !== 'number' || !this.posted.ack(head.pd)) this.counters.protocolErrors++;
  }

  /**
   * A posted send failed (its late RESP or ERROR): told to its socket; the
   * server keeps the errno for that descriptor's next call too.
   */
  private onLateError(meta: FrameMeta, head: Record<string, unknown>): void {
    this.counters.postedLateErrors++;
    let err: Error;
    if (meta.cls === MsgClass.RESP && typeof head.errno === 'number') {
      const e = syscallError(head.errno, 'write', undefined, undefined);
      if (typeof head.reason === 'string') e.reason = head.reason;
      err = e;
    } else err = this.errorFrom(head, 'server refused a posted send');
    this.posted!.lateErrorHandler(meta.reqno)?.(err);
  }

  private errorFrom(head: unknown, fallback: string): RumpProtocolError {
    const h = isMap(head) ? head : {};
    const reason = typeof h.reason === 'string' ? h.reason : fallback;
    const code = h.code === 'version' ? ERR_RUMP_VERSION : ERR_RUMP_PROTOCOL;
    return new RumpProtocolError(code, reason, h);
  }

  private onServerRequest(meta: FrameMeta, _payload: Uint8Array | undefined): void {
    const sock = this.socket!;
    const h = isMap(meta.head) ? meta.head : {};
    switch (meta.type) {
      case MsgType.COPYIN: {
        // The server's copyin(): answer with exactly the bytes asked for, a view of the caller's buffer.
        const reg = typeof h.h === 'number' ? this.handles.get(h.h) : undefined;
        const off = h.o;
        const n = h.n;
        if (!reg || reg.buf instanceof StreamSink || typeof off !== 'number' || typeof n !== 'number' || !Number.isInteger(off) || !Number.isInteger(n) || off < 0 || n < 0 || off + n > reg.buf.length) {
          this.counters.copyFaults++;
          this.send(sock, MsgClass.ERROR, MsgType.COPYIN, meta.reqno, { errno: EFAULT, reason: 'bad address' });
          return;
        }
        this.counters.copyinRequests++;
        this.counters.copyinBytes += n;
        const pieces = reg.buf instanceof IoVec ? reg.buf.slice(off, n) : [reg.buf.subarray(off, off + n)];
        // Through the shared COPYIN ring when it has room (§7a): the reply says where.
        const s = this.shm?.produce(pieces, n) ?? -1;
        if (s >= 0) {
          this.counters.shmCopyins++;
          return this.send(sock, MsgClass.RESP, MsgType.COPYIN, meta.reqno, { s, n });
        }
        this.send(sock, MsgClass.RESP, MsgType.COPYIN, meta.reqno, undefined, pieces);
        return;
      }
      case MsgType.COPYOUT: {
        if (meta.payloadLen === 0 && h.s !== undefined) return this.shmCopyout(h);
        const sc = this.streamChunk;
        this.streamChunk = undefined;
        if (sc !== undefined) {
          this.counters.copyoutRequests++;
          this.counters.copyoutBytes += meta.payloadLen;
          this.counters.streamChunks++;
          return sc.sink.onChunk(sc.chunk);
        }
        // Bytes were already written by the payload sink; COPYOUT is fire-and-forget.
        if (typeof h.h === 'number' && this.handles.has(h.h)) {
          this.counters.copyoutRequests++;
          this.counters.copyoutBytes += meta.payloadLen;
        }
        return;
      }
      case MsgType.PING:
        this.send(sock, MsgClass.RESP, MsgType.PING, meta.reqno, undefined);
        return;
      default:
        this.counters.protocolErrors++;
        this.send(sock, MsgClass.ERROR, meta.type, meta.reqno, { reason: `unknown request type ${meta.type}` });
    }
  }

  /**
   * A COPYOUT whose bytes are in the shared region (§7a), head `{ h, o, s,
   * n }`: copy them from ring position `s` into the buffer and free the
   * space. A COPYOUT the client cannot apply is a fault of its call, as on
   * the socket path — its space is freed all the same, so the ring goes on.
   */
  private shmCopyout(h: Record<string, unknown>): void {
    const reg = typeof h.h === 'number' ? this.handles.get(h.h) : undefined;
    const off = h.o;
    const n = h.n;
    const buf = reg?.buf;
    if (buf instanceof StreamSink) return this.shmStreamChunk(reg!.call, buf, h);
    const fits = buf instanceof Uint8Array && typeof off === 'number' && typeof n === 'number' && Number.isInteger(off) && off >= 0 && off + n <= buf.length;
    const shm = this.shm;
    if (shm === undefined || !shm.consume(h.s, n, fits ? buf : undefined, fits ? off : 0) || !fits) {
      this.counters.copyFaults++;
      if (reg) reg.call.fault = true;
      return;
    }
    this.counters.copyoutRequests++;
    this.counters.copyoutBytes += n as number;
    this.counters.shmCopyouts++;
    this.counters.shmCopyoutBytes += n as number;
  }

  /** A streamed receive's chunk in the ring: copied into a Buffer of its own (the ring freed) and handed on. */
  private shmStreamChunk(call: Pending, sink: StreamSink, h: Record<string, unknown>): void {
    const n = h.n;
    const chunk = typeof n === 'number' && Number.isInteger(n) && n > 0 && this.shm !== undefined && n <= this.shm.ringBytes ? Buffer.allocUnsafe(n) : undefined;
    if (chunk === undefined || !this.shm!.consume(h.s, n, chunk, 0)) {
      // A position this client was never given: the stream cannot go on in order; it fails EFAULT at its end.
      this.counters.copyFaults++;
      call.fault = true;
      return;
    }
    this.counters.copyoutRequests++;
    this.counters.copyoutBytes += n as number;
    this.counters.shmCopyouts++;
    this.counters.shmCopyoutBytes += n as number;
    this.counters.streamChunks++;
    sink.onChunk(chunk);
  }

  /**
   * Starts a streamed receive on `fd` (docs/PROTOCOL.md §7a): its chunks of
   * up to `chunk` bytes come to `sink`, at most `window` bytes ahead of what
   * {@link streamConsumed} says was handed on. Undefined when this
   * connection cannot stream (no region, the server offers no stream slots,
   * every slot busy); else the slot and the call, which ends at EOF (`eof`)
   * or with the stream's error.
   */
  recvStream(fd: number, chunk: number, window: number, sink: StreamSink): { slot: number; done: Promise<{ bytes: number; eof?: boolean }> } | undefined {
    const region = this.shm;
    const slots = this.paramsValue?.shm?.stream ?? 0;
    if (region === undefined) return undefined;
    // The window fits the ring (a small ring streams with less ahead).
    window = Math.min(window, region.ringBytes);
    if (slots <= 0 || window < chunk) return undefined;
    let slot = 0;
    while (slot < slots && this.streamSlots.has(slot)) slot++;
    if (slot >= slots) return undefined;
    this.streamSlots.add(slot);
    region.streamReset(slot);
    const done = this.call<{ bytes: number; eof?: boolean }>('recvstream', { fd, buf: 0, len: chunk, window, slot }, { buffers: { buf: sink as unknown as Uint8Array }, syscall: 'read' });
    const free = (): void => void this.streamSlots.delete(slot);
    done.then(free, free);
    return { slot, done };
  }

  /** A stream's position handed on (see {@link recvStream}); rings the doorbell when the server waits for it. */
  streamConsumed(slot: number, pos: number): void {
    if (this.shm?.streamConsumed(slot, pos) !== true || !this.socket) return;
    this.counters.streamDoorbells++;
    this.send(this.socket, MsgClass.REQ, MsgType.PING, 0, undefined);
  }

  private onMalformed(meta: FrameMeta, reason: string): void {
    this.counters.protocolErrors++;
    this.counters.framesReceived++;
    if (meta.cls === MsgClass.REQ && this.socket) {
      this.send(this.socket, MsgClass.ERROR, meta.type, meta.reqno, { reason });
    } else {
      // A malformed reply still ends its call: the result cannot be read.
      const call = this.pending.get(meta.reqno);
      if (call) {
        this.pending.delete(meta.reqno);
        this.release(call);
        call.reject(new RumpProtocolError(ERR_RUMP_PROTOCOL, `malformed reply: ${reason}`));
      }
    }
  }

  /**
   * Sends one frame, counted. Every frame goes out corked until the end of
   * the turn (see {@link TurnCork}), so the first frame of a turn is the
   * one `writev` that carries them all: counted as a socket write.
   */
  private send(sock: net.Socket, cls: MsgClassValue, type: number, reqno: number, head: unknown, payload?: readonly Uint8Array[], flags = 0): void {
    this.counters.framesSent++;
    const cork = this.cork;
    if (cork === undefined || !cork.holding) this.counters.socketWrites++;
    cork?.hold();
    this.flushHeld();
    writeFrame(sock, cls, type, reqno, head, payload, flags);
  }

  /**
   * The turn's frames were written: if a call waits for its answer, busy
   * poll for it (busypoll.ts) before the loop goes back to epoll. Posted
   * sends wait for nothing; a turn that only answered the server's COPYIN
   * spins too while the call it served waits.
   */
  private afterWrite(): void {
    // A destroyed socket's descriptor is closed (and its number may be reused): no spin on it.
    if (this.poller !== undefined && this.pending.size > 0 && this.socket !== undefined && !this.socket.destroyed) this.poller.afterWrite();
  }

  // ----- numbers -----

  private release(call: Pending): void {
    for (const h of call.handles) this.handles.delete(h);
  }

  private allocReq(): number {
    // 0 is reserved for connection-level ERROR frames.
    for (let i = 0; i < 0x10000; i++) {
      const r = this.nextReq;
      this.nextReq = this.nextReq >= 0xffffffff ? 1 : this.nextReq + 1;
      if (!this.pending.has(r) && this.posted?.has(r) !== true) return r;
    }
    throw new RumpProtocolError(ERR_RUMP_PROTOCOL, 'no free request number');
  }

  private allocHandle(): number {
    for (let i = 0; i < 0x10000; i++) {
      const h = this.nextHandle;
      this.nextHandle = this.nextHandle >= 0xffffffff ? 1 : this.nextHandle + 1;
      if (!this.handles.has(h)) return h;
    }
    throw new RumpProtocolError(ERR_RUMP_PROTOCOL, 'no free buffer handle');
  }
}

/** Total bytes of a list of views. */
function totalLength(views: readonly Uint8Array[]): number {
  let n = 0;
  for (const v of views) n += v.length;
  return n;
}
