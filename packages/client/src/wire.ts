/**
 * The rumpnet client/server wire format: the frame header, the banner and a
 * streaming frame reader. docs/PROTOCOL.md describes every byte.
 *
 * Defined once, here; the server imports it through `@rumpnet/client/protocol`.
 *
 * The shape follows NetBSD's `sp_common.c` (`struct rsp_hdr`: length, request
 * number, class, type), with one change: the header also carries the length of
 * a small msgpack "head", and whatever follows the head is raw payload. Bulk
 * data (COPYIN replies, COPYOUT requests) therefore travels unencoded and can
 * be scattered straight from the socket's chunks into its destination.
 */
import { Packr } from 'msgpackr';
import { hopTrace } from './hoptrace.js';

/** Protocol version spoken by this code; sent in the banner and the handshake. */
export const PROTOCOL_VERSION = 1;

/** First word of the server's banner line, like rump's `RUMPSP-`. */
export const BANNER_PREFIX = 'RUMPNET-SP';

/** Longest banner line accepted, newline included. */
export const MAX_BANNER = 256;

/** Size of the fixed frame header in bytes. */
export const HEADER_SIZE = 16;

/** Byte offsets of the header fields (all little-endian). */
export const Hdr = {
  /** u32: total frame length, header included. */
  LEN: 0,
  /** u32: request number; a response repeats the number of its request. */
  REQNO: 4,
  /** u8: {@link MsgClass}. */
  CLASS: 8,
  /** u8: {@link MsgType}. */
  TYPE: 9,
  /** u16: {@link FrameFlag} bits; a receiver refuses bits it does not know (malformed). */
  FLAGS: 10,
  /** u32: length of the msgpack head that follows the header. */
  HEADLEN: 12,
} as const;

/**
 * Frame flag bits (the header's `flags`). A reader accepts only the bits it
 * was built for ({@link FrameReaderLimits.flagsAllowed}); any other makes the
 * frame malformed.
 */
export const FrameFlag = {
  /**
   * A posted send (docs/PROTOCOL.md §6): a REQ SYSCALL `sendto` with its
   * bytes inline whose success gets no RESP — its completion rides on a later
   * RESP's `pd`, a failure comes late as its own RESP. Only after both ends
   * announced it in the handshake.
   */
  POSTED: 0x1,
} as const;

/** Message classes, as rump's `RUMPSP_REQ/RESP/ERROR`. */
export const MsgClass = { REQ: 0, RESP: 1, ERROR: 2 } as const;
/** A value of {@link MsgClass}. */
export type MsgClassValue = (typeof MsgClass)[keyof typeof MsgClass];

/** Message types, as rump's `RUMPSP_HANDSHAKE/SYSCALL/COPYIN/COPYOUT`. */
export const MsgType = { HANDSHAKE: 1, SYSCALL: 2, COPYIN: 3, COPYOUT: 4, PING: 5 } as const;
/** A value of {@link MsgType}. */
export type MsgTypeValue = (typeof MsgType)[keyof typeof MsgType];

/**
 * Default largest frame either side accepts (4 MiB plus room for the header
 * and head): far above the largest copy the socket layer asks for, MCLNUM
 * (at most 64) × MCLBYTES (at most 4096) = 256 KiB.
 */
export const DEFAULT_MAX_FRAME = 4 * 1024 * 1024 + 4096;

/**
 * Largest msgpack head accepted: heads carry arguments, never bulk data. A
 * receiver treats a larger head as fatal, so a sender must never produce
 * one (the server answers a syscall whose reply would not fit with
 * `E2BIG`, and bounds its listings: `limit` / `truncated`).
 */
export const MAX_HEAD = 64 * 1024;

/** Room a COPYIN reply or COPYOUT request needs beside its payload. */
export const COPY_FRAME_OVERHEAD = HEADER_SIZE + 64;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
/** As `packr`, but binary values come out as copies, never views of the input (for transient input buffers). */
const copyingPackr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', copyBuffers: true });

/** Encodes a head value with msgpack. The returned buffer is the caller's. */
export function packHead(head: unknown): Buffer {
  return packr.pack(head);
}

/**
 * Decodes a msgpack head. Throws on malformed input (callers turn that into
 * a protocol error). With `copy`, binary values are copies rather than views
 * of `bytes` (which the caller is about to overwrite).
 */
export function unpackHead(bytes: Uint8Array, copy = false): unknown {
  return (copy ? copyingPackr : packr).unpack(bytes);
}

/** The header fields of one frame plus its decoded head. */
export interface FrameMeta {
  /** Total frame length in bytes. */
  readonly len: number;
  /** Request number. */
  readonly reqno: number;
  /** Raw class byte (validated to be a {@link MsgClass}). */
  readonly cls: number;
  /** Raw type byte (not validated here: an unknown type is the endpoint's call). */
  readonly type: number;
  /** Raw flags. */
  readonly flags: number;
  /** Decoded msgpack head, `undefined` when the head is empty. */
  readonly head: unknown;
  /** Number of raw payload bytes after the head. */
  readonly payloadLen: number;
}

/**
 * Encodes a frame's header and head into one new Buffer with `extra` spare
 * bytes at the end (for a payload the caller copies in).
 */
export function encodeFrame(
  cls: MsgClassValue,
  type: number,
  reqno: number,
  head: unknown,
  payloadLen = 0,
  extra = 0,
  flags = 0,
): Buffer {
  return encodeFramePacked(cls, type, reqno, head === undefined ? undefined : packHead(head), payloadLen, extra, flags);
}

/**
 * {@link encodeFrame} for a head already packed with {@link packHead} (a
 * sender that must check the head's size against {@link MAX_HEAD} first
 * packs it once). `h` is copied; the returned Buffer is the caller's.
 */
export function encodeFramePacked(
  cls: MsgClassValue,
  type: number,
  reqno: number,
  h: Uint8Array | undefined,
  payloadLen = 0,
  extra = 0,
  flags = 0,
): Buffer {
  const headLen = h ? h.length : 0;
  const out = Buffer.allocUnsafe(HEADER_SIZE + headLen + extra);
  out.writeUInt32LE(HEADER_SIZE + headLen + payloadLen, Hdr.LEN);
  out.writeUInt32LE(reqno >>> 0, Hdr.REQNO);
  out.writeUInt8(cls, Hdr.CLASS);
  out.writeUInt8(type, Hdr.TYPE);
  out.writeUInt16LE(flags, Hdr.FLAGS);
  out.writeUInt32LE(headLen, Hdr.HEADLEN);
  if (h) out.set(h, HEADER_SIZE);
  return out;
}

/** The part of `net.Socket` the writer needs. */
export interface FrameWritable {
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
}

/**
 * Writes one frame: header and head in one small buffer, then each payload
 * view as its own write inside a cork, so Node hands them to `writev` without
 * concatenating. The payload views are referenced, not copied, until the
 * kernel has taken them: the caller must not change them until then.
 * Returns `socket.write`'s backpressure verdict. `flags`: {@link FrameFlag} bits.
 */
export function writeFrame(
  out: FrameWritable,
  cls: MsgClassValue,
  type: number,
  reqno: number,
  head: unknown,
  payload: readonly Uint8Array[] = [],
  flags = 0,
): boolean {
  let payloadLen = 0;
  for (const p of payload) payloadLen += p.length;
  const hdr = encodeFrame(cls, type, reqno, head, payloadLen, 0, flags);
  if (payload.length === 0) return out.write(hdr);
  out.cork();
  let ok = out.write(hdr);
  for (const p of payload) if (p.length > 0) ok = out.write(p);
  out.uncork();
  return ok;
}

/**
 * Gathers every frame an endpoint writes during one turn of the event loop
 * into one `writev`: the first {@link TurnCork.hold} of a turn corks the
 * socket and a `setImmediate` uncorks it, i.e. after the poll phase has run
 * every handler that had input and the promise continuations they started.
 *
 * Why: a rump server answers a burst of work — a recv's COPYOUT and its
 * RESP, the COPYIN requests of several senders, each SYSCALL reply — with
 * many small frames. Written one by one, each is a `write(2)` that wakes the
 * peer process; on a loaded two-core host that costs tens of microseconds
 * a frame (a third of the server's time in the lo0 benchmark). Corked, a
 * turn's frames cost one system call and one wake-up. The delay is at most
 * the rest of the current turn (no timer), so round-trip latency stays.
 *
 * Node counts `cork()` calls, so the per-frame cork inside
 * {@link writeFrame} nests inside this one; `end()` uncorks everything.
 */
export class TurnCork {
  private held = false;

  /**
   * @param out the stream to cork
   * @param traceLabel the hop-trace mark made when a release writes the turn's frames (see hoptrace.ts)
   * @param beforeRelease called at the end of the turn just before the frames leave (a writer that held frames back writes them here)
   * @param afterRelease called once the frames were written at the end of the turn (the client's busy poll spins here)
   */
  constructor(
    private readonly out: FrameWritable,
    private readonly traceLabel = 'sockwrite',
    private readonly beforeRelease?: () => void,
    private readonly afterRelease?: () => void,
  ) {}

  /** True between {@link TurnCork.hold} and the end of the turn (frames written now leave together). */
  get holding(): boolean {
    return this.held;
  }

  /** Corks the stream until the end of this event-loop turn (once per turn). */
  hold(): void {
    if (this.held) return;
    this.held = true;
    this.out.cork();
    setImmediate(this.release);
  }

  /** Uncorks now (the turn's end, or before a goodbye). Idempotent. */
  readonly release = (): void => {
    if (!this.held) return;
    this.beforeRelease?.();
    this.held = false;
    // Two marks: the write(2) starts (the peer can wake from here) and returns (a long
    // gap: this process was preempted by the one it woke).
    hopTrace?.mark(this.traceLabel);
    this.out.uncork();
    hopTrace?.mark(`${this.traceLabel}.end`);
    this.afterRelease?.();
  };
}

/**
 * Builds one frame in a single pre-sized Buffer with the payload copied in.
 * Used where the sources are lent only for the duration of the call (mbuf
 * clusters handed to `copyout`, a posted send's bytes, whose write has
 * completed when it returns): after this returns they may be reused.
 */
export function encodeFrameCopy(
  cls: MsgClassValue,
  type: number,
  reqno: number,
  head: unknown,
  payload: readonly Uint8Array[],
  flags = 0,
): Buffer {
  let payloadLen = 0;
  for (const p of payload) payloadLen += p.length;
  const out = encodeFrame(cls, type, reqno, head, payloadLen, payloadLen, flags);
  let at = out.length - payloadLen;
  for (const p of payload) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The banner line a server sends first, e.g. `RUMPNET-SP 1 rump-server/0.1.0\n`. */
export function makeBanner(version: number, software: string): string {
  return `${BANNER_PREFIX} ${version} ${software.replace(/\s+/g, '_')}\n`;
}

/** A parsed banner. */
export interface Banner {
  /** Protocol version the server speaks. */
  readonly version: number;
  /** Free-form server software name. */
  readonly software: string;
}

/** Parses a banner line (without its newline); `undefined` when it is not one. */
export function parseBanner(line: string): Banner | undefined {
  const m = /^RUMPNET-SP (\d{1,6}) (\S{1,128})$/.exec(line);
  if (!m) return undefined;
  return { version: Number(m[1]), software: m[2]! };
}

/**
 * Where a frame's payload goes when its receiver wants it streamed instead of
 * gathered: called once per contiguous piece, in order, `offset` counting
 * from the start of the payload. `piece` is a transient view of socket data:
 * copy it out before returning.
 */
export type PayloadSink = (piece: Uint8Array, offset: number) => void;

/** The receiver of a {@link FrameReader}. */
export interface FrameHandler {
  /**
   * Called once header and head are in, before any payload byte, when the
   * frame has a payload. Return a sink to receive the payload piecewise (no
   * gathering copy), or `undefined` to have it gathered and passed to
   * {@link FrameHandler.frame}.
   */
  payloadSink(meta: FrameMeta): PayloadSink | undefined;
  /** A complete frame. `payload` is undefined when it was streamed to a sink or is empty. */
  frame(meta: FrameMeta, payload: Uint8Array | undefined): void;
  /**
   * A frame whose framing was sound but whose head did not decode. The reader
   * has skipped it and stays in sync.
   */
  malformed(meta: FrameMeta, reason: string): void;
  /** The byte stream cannot be framed any more (bad length or class); the reader stops. */
  fatal(reason: string): void;
}

/** Limits a {@link FrameReader} enforces. */
export interface FrameReaderLimits {
  /** Largest total frame length accepted. */
  readonly maxFrame: number;
  /** Largest head accepted. */
  readonly maxHead?: number;
  /**
   * The chunks pushed are overwritten after `push` returns (one read buffer
   * reused for every socket read): nothing handed to the handler may be a
   * view of them — binary head values and whole payloads without a sink are
   * copied (payloads with a sink are consumed inside `push`).
   */
  readonly transientChunks?: boolean;
  /** {@link FrameFlag} bits this reader accepts (default none: any flag makes a frame malformed). */
  readonly flagsAllowed?: number;
}

const enum RS {
  Header,
  Head,
  Payload,
  Dead,
}

/**
 * Parses frames out of a stream of chunks in one linear pass. Header bytes
 * split across chunks go through a 16-byte scratch; an unsplit head or
 * payload is a zero-copy view. A split head is kept as copies of the pieces
 * that came (joined once when complete), so a peer that announces a large
 * head and stalls costs only what it sent; a split gathered payload is
 * copied once into a buffer of exactly its size (receivers that must not
 * hold a peer's payload give a sink). {@link FrameReader.stop} drops
 * whatever a half-received frame held.
 */
export class FrameReader {
  private state: RS = RS.Header;
  private readonly scratch = Buffer.alloc(HEADER_SIZE);
  private have = 0;
  private len = 0;
  private reqno = 0;
  private cls = 0;
  private type = 0;
  private flags = 0;
  private headLen = 0;
  private headParts: Buffer[] = [];
  private meta: FrameMeta | undefined;
  private malformedReason: string | undefined;
  private sink: PayloadSink | undefined;
  private gather: Buffer | undefined;
  private gathered: Uint8Array | undefined;
  private readonly maxFrame: number;
  private readonly maxHead: number;
  private readonly transient: boolean;
  private readonly flagsAllowed: number;

  constructor(
    private readonly handler: FrameHandler,
    limits: FrameReaderLimits,
  ) {
    this.maxFrame = limits.maxFrame;
    this.maxHead = limits.maxHead ?? MAX_HEAD;
    this.transient = limits.transientChunks === true;
    this.flagsAllowed = limits.flagsAllowed ?? 0;
  }

  /** Bytes of the current, incomplete frame held by the reader (for buffer limits). */
  get pendingBytes(): number {
    if (this.state === RS.Header) return this.have;
    return HEADER_SIZE + this.have;
  }

  /**
   * Bytes the reader holds for the current, incomplete frame: the copied
   * pieces of a split head and a split gathered payload (a payload going to
   * a sink, or skipped, holds nothing).
   */
  get heldBytes(): number {
    let n = 0;
    for (const p of this.headParts) n += p.length;
    return n + (this.gather !== undefined ? this.gather.length : 0);
  }

  /** True once a fatal error stopped the reader. */
  get dead(): boolean {
    return this.state === RS.Dead;
  }

  /** Stops the reader; further input is ignored, and a half-received frame's buffers are dropped. */
  stop(): void {
    this.state = RS.Dead;
    this.headParts = [];
    this.gather = undefined;
    this.gathered = undefined;
    this.sink = undefined;
    this.meta = undefined;
  }

  /** Feeds one chunk. Never throws on bad input: it reports through the handler. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      switch (this.state) {
        case RS.Dead:
          return;
        case RS.Header: {
          const take = Math.min(HEADER_SIZE - this.have, n - pos);
          this.scratch.set(chunk.subarray(pos, pos + take), this.have);
          this.have += take;
          pos += take;
          if (this.have === HEADER_SIZE) this.headerDone();
          break;
        }
        case RS.Head: {
          const want = this.headLen - this.have;
          if (this.have === 0 && n - pos >= want) {
            // Whole head in this chunk: a view, no copy.
            this.headDone(chunk.subarray(pos, pos + want));
            pos += want;
            break;
          }
          // Split: copy what came (the chunk is transient); join once complete.
          const take = Math.min(want, n - pos);
          this.headParts.push(Buffer.from(chunk.subarray(pos, pos + take)));
          this.have += take;
          pos += take;
          if (this.have === this.headLen) this.headDone(Buffer.concat(this.headParts, this.headLen));
          break;
        }
        case RS.Payload: {
          const total = this.meta!.payloadLen;
          const want = total - this.have;
          const take = Math.min(want, n - pos);
          const piece = chunk.subarray(pos, pos + take);
          if (this.sink) {
            this.sink(piece, this.have);
          } else if (this.have === 0 && take === total) {
            this.gathered = this.transient ? Buffer.from(piece) : piece;
          } else {
            this.gather ??= Buffer.allocUnsafe(total);
            this.gather.set(piece, this.have);
          }
          this.have += take;
          pos += take;
          if (this.have === total) this.finish();
          break;
        }
      }
    }
  }

  private headerDone(): void {
    const s = this.scratch;
    this.len = s.readUInt32LE(Hdr.LEN);
    this.reqno = s.readUInt32LE(Hdr.REQNO);
    this.cls = s.readUInt8(Hdr.CLASS);
    this.type = s.readUInt8(Hdr.TYPE);
    this.flags = s.readUInt16LE(Hdr.FLAGS);
    this.headLen = s.readUInt32LE(Hdr.HEADLEN);
    this.have = 0;
    if (this.len < HEADER_SIZE) return this.die(`frame length ${this.len} shorter than the header`);
    if (this.len > this.maxFrame) return this.die(`frame length ${this.len} exceeds the limit ${this.maxFrame}`);
    if (this.headLen > this.len - HEADER_SIZE) return this.die(`head length ${this.headLen} exceeds the frame`);
    if (this.headLen > this.maxHead) return this.die(`head length ${this.headLen} exceeds the limit ${this.maxHead}`);
    if (this.cls > MsgClass.ERROR) return this.die(`unknown class ${this.cls}`);
    if (this.headLen === 0) return this.headDone(undefined);
    this.state = RS.Head;
  }

  private headDone(bytes: Uint8Array | undefined): void {
    let head: unknown;
    this.malformedReason = undefined;
    if (bytes) {
      try {
        head = unpackHead(bytes, this.transient);
      } catch (err) {
        this.malformedReason = `undecodable head: ${(err as Error).message}`;
      }
    }
    if ((this.flags & ~this.flagsAllowed) !== 0) this.malformedReason ??= `unknown flags 0x${this.flags.toString(16)}`;
    this.headParts = [];
    this.have = 0;
    this.meta = {
      len: this.len,
      reqno: this.reqno,
      cls: this.cls,
      type: this.type,
      flags: this.flags,
      head,
      payloadLen: this.len - HEADER_SIZE - this.headLen,
    };
    this.sink = undefined;
    if (this.meta.payloadLen === 0) return this.finish();
    // A malformed frame's payload is skipped through a discarding sink.
    this.sink = this.malformedReason === undefined ? this.handler.payloadSink(this.meta) : discard;
    this.state = RS.Payload;
  }

  private finish(): void {
    const meta = this.meta!;
    const payload = this.sink ? undefined : (this.gathered ?? this.gather);
    const reason = this.malformedReason;
    this.meta = undefined;
    this.sink = undefined;
    this.gather = undefined;
    this.gathered = undefined;
    this.malformedReason = undefined;
    this.have = 0;
    this.state = RS.Header;
    if (reason !== undefined) this.handler.malformed(meta, reason);
    else this.handler.frame(meta, payload);
  }

  private die(reason: string): void {
    this.stop();
    this.handler.fatal(reason);
  }
}

function discard(): void {
  /* bytes of a frame being skipped */
}

/** Where a rump server listens: a Unix domain socket path or a loopback TCP port. */
export type ServerAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/**
 * Parses a server URL as rump's `RUMP_SERVER` does: `unix:///abs/path`,
 * `unix://relative/path`, a plain path, or `tcp://127.0.0.1:PORT`.
 * Throws a `TypeError` with code `ERR_INVALID_URL` for anything else.
 */
export function parseServerUrl(url: string): ServerAddress {
  const bad = (why: string): never => {
    const err = new TypeError(`invalid rump server URL '${url}': ${why}`) as TypeError & { code: string };
    err.code = 'ERR_INVALID_URL';
    throw err;
  };
  if (typeof url !== 'string' || url.length === 0) return bad('empty');
  if (url.startsWith('unix://')) {
    const path = url.slice('unix://'.length);
    if (path.length === 0) bad('no path');
    return { kind: 'unix', path };
  }
  if (url.startsWith('tcp://')) {
    const m = /^tcp:\/\/([0-9.]+|\[[0-9a-fA-F:]+\]|localhost):(\d{1,5})\/?$/.exec(url);
    if (!m) return bad('expected tcp://HOST:PORT');
    const port = Number(m[2]);
    if (port > 65535) bad('port out of range'); // 0 lets a listener take an ephemeral port
    return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return bad('unsupported scheme');
  return { kind: 'unix', path: url };
}
