/**
 * Stream plumbing of a rump {@link Socket} that needs none of its state:
 * gathering queued writes into sends, pushing reads as net's `onStreamRead`
 * does, net's after-FIN write rule and its abort-signal option.
 */
import { Duplex } from 'node:stream';
import { codedError } from './shared.js';
import { IoVec } from './iovec.js';
import type { Socket } from './socket.js';

/**
 * `_writev` concatenates queued small chunks into one buffer up to this many
 * bytes (a copy is cheap at that size, and a small send may then go inline).
 */
export const GATHER_MAX = 64 * 1024;
/**
 * Most bytes one send of `_writev` carries: chunks queued behind a send in
 * flight go out together up to this much — larger runs as a gather list
 * ({@link IoVec}, no copy), so that 64 KiB writes cost one syscall round
 * trip per 256 KiB rather than one each. The socket's write mark
 * (256 KiB) is what queues that much.
 */
export const SEND_MAX = 256 * 1024;
/**
 * Groups chunks for `_writev`, in order: runs of up to {@link SEND_MAX}
 * bytes (a larger chunk alone); a run of one chunk is the chunk, a run of
 * at most {@link GATHER_MAX} bytes is concatenated, a longer one is a
 * gather list of the chunks themselves (small ones concatenated in runs).
 */
export function gather(chunks: readonly Buffer[]): (Buffer | IoVec)[] {
  const groups: (Buffer | IoVec)[] = [];
  let run: Buffer[] = [];
  let runLen = 0;
  const close = (): void => {
    if (run.length === 1) groups.push(run[0]!);
    else if (run.length > 1) groups.push(runLen <= GATHER_MAX ? Buffer.concat(run, runLen) : new IoVec(packSmall(run)));
    run = [];
    runLen = 0;
  };
  for (const chunk of chunks) {
    if (runLen + chunk.length > SEND_MAX) close();
    run.push(chunk);
    runLen += chunk.length;
  }
  close();
  return groups;
}

/**
 * The pieces of a gather list: chunks of at least `GATHER_MAX / 4` as they
 * are, runs of smaller ones concatenated up to {@link GATHER_MAX} — so that
 * a burst of tiny writes is a few pieces (a COPYIN reply's `writev` stays
 * far below IOV_MAX), not thousands.
 */
function packSmall(chunks: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let small: Buffer[] = [];
  let smallLen = 0;
  const flush = (): void => {
    if (small.length > 0) out.push(small.length === 1 ? small[0]! : Buffer.concat(small, smallLen));
    small = [];
    smallLen = 0;
  };
  for (const c of chunks) {
    if (c.length >= GATHER_MAX / 4) {
      flush();
      out.push(c);
      continue;
    }
    if (smallLen + c.length > GATHER_MAX) flush();
    small.push(c);
    smallLen += c.length;
  }
  flush();
  return out;
}

/** The chunks `write()` accepted that the Writable has not yet passed to `_write` (Node's `writableBuffer`). */
export function acceptedChunks(s: Duplex): Buffer[] {
  const buffered = (s as unknown as { writableBuffer?: { chunk: unknown }[] }).writableBuffer ?? [];
  return buffered.map((b) => b.chunk).filter((c): c is Buffer => Buffer.isBuffer(c) && c.length > 0);
}

/**
 * Pushes to the readable side as net's `onStreamRead` does: an exception from
 * a `'data'` (or `'end'`) listener is the program's uncaught exception, and
 * reading goes on — it must not kill the recv loop that called push().
 */
export function deliver(s: Duplex, chunk: Buffer | null): boolean {
  try {
    return s.push(chunk);
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
    return s.readableLength < s.readableHighWaterMark;
  }
}

/** net's `onReadableStreamEnd`: without allowHalfOpen, a write after the peer's FIN is EPIPE. */
export function onReadableStreamEnd(this: Duplex): void {
  if (!this.allowHalfOpen) this.write = writeAfterFIN as Duplex['write'];
}

/** net's `writeAfterFIN`. */
export function writeAfterFIN(this: Duplex, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (!this.writableEnded) return Duplex.prototype.write.call(this, chunk, encoding as BufferEncoding, cb as () => void);
  const done = typeof encoding === 'function' ? encoding : cb;
  const er = codedError(Error, 'EPIPE', 'This socket has been ended by the other party');
  if (typeof done === 'function') process.nextTick(done as (e: Error) => void, er);
  this.destroy(er);
  return false;
}

/** net's `addClientAbortSignalOption`: destroy with an AbortError when the signal fires (next tick if it has). */
export function watchSignal(s: Duplex, signal: AbortSignal): void {
  const onAbort = (): void => {
    const err = new Error('The operation was aborted', { cause: signal.reason }) as Error & { code: string };
    err.name = 'AbortError';
    err.code = 'ABORT_ERR';
    s.destroy(err);
  };
  if (signal.aborted) return void process.nextTick(onAbort);
  signal.addEventListener('abort', onAbort, { once: true });
  s.once('close', () => signal.removeEventListener('abort', onAbort));
}
