/**
 * The client's end of a streamed receive (docs/PROTOCOL.md §7a, "Streamed
 * receive"): one `recvstream` call, after which the server pushes each
 * chunk the socket receives through the shared ring — no `recvfrom`
 * request per 64 KiB, the virtio/io_uring way.
 *
 * Each chunk's COPYOUT comes to this stream's {@link StreamSink}, which
 * copies it out of the ring into a Buffer of its own (the ring's space is
 * freed at once, as for any COPYOUT). The window is what the program has
 * not taken yet: the stream position handed to the program is stored in the
 * region's stream slot; while the program pushes back (a paused stream,
 * a full readable buffer) chunks queue here, the position stops, and after
 * `window` bytes the server stops receiving — the socket buffer fills and
 * TCP's window closes. When the server stopped for want of window it set
 * the slot's flag; the next position stored takes the flag and rings the
 * doorbell (a REQ PING numbered 0).
 *
 * `RUMPNET_RX_STREAM=0` in the environment ({@link rxStreamOn}) turns it off (one `recvfrom` per
 * read, with read-ahead, as before).
 *
 * @module
 */
import type { RumpConnection } from './connection.js';

/**
 * Whether stream sockets use streamed receives where the server offers them
 * (`RUMPNET_RX_STREAM=0`: never). Read at each stream's start (once per
 * socket), so a test may switch it.
 */
export function rxStreamOn(): boolean {
  return process.env.RUMPNET_RX_STREAM !== '0';
}

/**
 * Bytes the server may stream ahead of the program: 1 MiB (the default
 * ring; a smaller ring caps it), sixteen 64 KiB reads — what a kernel's
 * socket buffer would hold for a paused reader. In turns (docs/BENCHMARKS.md)
 * 256 KiB took 460 MiB/s, 512 KiB 533, 1 MiB 713: a small window makes the
 * server wait for the client's batch of frames and its doorbell.
 * `RUMPNET_RX_STREAM_WINDOW=<bytes>` sets it (for measurement);
 * `RUMPNET_RX_STREAM_CHUNK=<bytes>` makes the server's receives larger than
 * the program's reads (not like for like, so not the default).
 */
export const RX_STREAM_WINDOW = 1024 * 1024;

/** A positive integer from the environment, else `dflt`. */
function envBytes(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : dflt;
}

/** Largest chunk the server takes (its `STREAM_MAX_CHUNK`). */
const STREAM_CHUNK_LIMIT = 256 * 1024;

/** Where a stream's COPYOUTs go: registered under the call's buffer handle. */
export class StreamSink {
  constructor(
    /** Takes one chunk, in stream order. */
    readonly onChunk: (chunk: Buffer) => void,
  ) {}
}

/** What a {@link RxStream} hands its chunks and its end to (the socket). */
export interface RxStreamTarget {
  /** Hands one chunk to the program; false when it pushes back. */
  push(chunk: Buffer): boolean;
  /** The peer's FIN, after every chunk. */
  eof(): void;
  /** The stream failed (ECONNRESET, …), after every chunk before it. */
  fail(err: unknown): void;
}

/**
 * One socket's streamed receive: chunks pushed to the target while it takes
 * them, queued (at most the window) while it pushes back, the end delivered
 * after the last chunk.
 */
export class RxStream {
  private readonly queue: Buffer[] = [];
  /** Bytes handed to the program, mod 2^32 (the slot's position). */
  private handed = 0;
  /** The target takes chunks now. */
  private taking = true;
  private ending: { eof: true } | { err: unknown } | undefined;
  private ended = false;

  private constructor(
    private readonly conn: RumpConnection,
    private readonly slot: number,
    private readonly target: RxStreamTarget,
    /** The program's read size: a larger chunk is handed on in pieces of this (views, no copy). */
    private readonly readLen: number,
  ) {}

  /**
   * Starts a streamed receive of `chunk`-byte reads on `fd`, or returns
   * undefined when the connection has no stream slot free (no region, the
   * server does not offer streams, all slots in use, or switched off).
   */
  static open(conn: RumpConnection, fd: number, readLen: number, target: RxStreamTarget): RxStream | undefined {
    if (!rxStreamOn()) return undefined;
    let rx: RxStream | undefined;
    // The server's chunk: the read size, or larger with RUMPNET_RX_STREAM_CHUNK (the program still gets readLen pieces).
    const chunk = Math.min(STREAM_CHUNK_LIMIT, Math.max(readLen, envBytes('RUMPNET_RX_STREAM_CHUNK', readLen)));
    const window = Math.max(chunk, envBytes('RUMPNET_RX_STREAM_WINDOW', RX_STREAM_WINDOW));
    const call = conn.recvStream(fd, chunk, window, new StreamSink((b) => rx!.onChunk(b)));
    if (call === undefined) return undefined;
    rx = new RxStream(conn, call.slot, target, readLen);
    call.done.then(
      (r) => rx!.finish(r.eof === true ? { eof: true } : { err: new Error('recvstream ended without EOF') }),
      (err: unknown) => rx!.finish({ err }),
    );
    return rx;
  }

  /** Chunks waiting for the program. */
  get queued(): number {
    return this.queue.length;
  }

  private onChunk(b: Buffer): void {
    if (b.length > this.readLen) {
      // Bounded: a chunk is at most STREAM_CHUNK_LIMIT bytes.
      for (let o = 0; o < b.length; o += this.readLen) this.onChunk(b.subarray(o, Math.min(b.length, o + this.readLen)));
      return;
    }
    if (this.taking && this.queue.length === 0) this.hand(b);
    else this.queue.push(b);
  }

  private hand(b: Buffer): void {
    this.handed = (this.handed + b.length) >>> 0;
    this.taking = this.target.push(b);
    this.conn.streamConsumed(this.slot, this.handed);
  }

  /** The program wants more (`_read`): hand it what is queued, then the end if due. */
  resume(): void {
    this.taking = true;
    // Bounded by the queue (at most the window's chunks).
    while (this.taking && this.queue.length > 0) this.hand(this.queue.shift()!);
    if (this.queue.length === 0) this.end();
  }

  private finish(how: { eof: true } | { err: unknown }): void {
    this.ending = how;
    if (this.queue.length === 0) this.end();
  }

  private end(): void {
    const how = this.ending;
    if (how === undefined || this.ended) return;
    this.ended = true;
    if ('eof' in how) this.target.eof();
    else this.target.fail(how.err);
  }
}
