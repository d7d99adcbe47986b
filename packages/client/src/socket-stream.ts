/**
 * Stream plumbing of a rump {@link Socket} that needs none of its state:
 * gathering queued writes into sends, pushing reads as net's `onStreamRead`
 * does, net's after-FIN write rule and its abort-signal option.
 */
import { Duplex } from 'node:stream';
import { codedError } from './shared.js';
import type { Socket } from './socket.js';

/**
 * `_writev` gathers queued chunks into one send up to this many bytes;
 * a chunk this large or larger goes as it is. Gathering small writes saves
 * sends (and, at MCLNUM N, fills whole extended clusters per COPYIN);
 * copying big ones would only cost a memcpy and a large allocation each.
 */
export const GATHER_MAX = 64 * 1024;
/** Groups chunks for `_writev`: runs of small ones concatenated up to {@link GATHER_MAX}, large ones alone. */
export function gather(chunks: readonly Buffer[]): Buffer[] {
  const groups: Buffer[] = [];
  let run: Buffer[] = [];
  let runLen = 0;
  const close = (): void => {
    if (run.length > 0) groups.push(run.length === 1 ? run[0]! : Buffer.concat(run, runLen));
    run = [];
    runLen = 0;
  };
  for (const chunk of chunks) {
    if (runLen + chunk.length > GATHER_MAX) close();
    run.push(chunk);
    runLen += chunk.length;
  }
  close();
  return groups;
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
