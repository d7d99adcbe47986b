/**
 * The copy interface between the stack's socket layer and a client's memory,
 * the rump equivalent of `copyin(9)`/`copyout(9)` (NetBSD's rump server
 * implements them as requests to the client in `rumpuser_sp.c`).
 *
 * These shapes are the contract the socket layer codes against; the lead
 * unifies them with `packages/stack/src/mbuf/uio.ts`.
 */

import { Errno, StackError } from '@rumpnet/stack';
import { encodeFramePacked, type MsgClassValue } from '@rumpnet/client/protocol';

/**
 * Where a send-type call's bytes come from. ONE `copyin` call is ONE COPYIN
 * request: it fills `dsts` in order with consecutive bytes starting at
 * `uaddr` (a byte offset into the client buffer the source stands for).
 * The views are written in place (no intermediate copy when the transport
 * allows). It rejects with a `StackError` carrying an errno — `EFAULT` when
 * the client refuses, replies with the wrong size, goes away or does not
 * answer in time; `EMSGSIZE` when the request could not fit in one frame —
 * and then the contents of `dsts` are unspecified.
 */
export interface CopySource {
  copyin(uaddr: number, dsts: readonly Uint8Array[]): Promise<void> | void;
}

/**
 * Where a receive-type call's bytes go. ONE `copyout` call is ONE COPYOUT
 * request: `srcs` in order, consecutively, at `uaddr` of the client buffer.
 * The sources are only borrowed for the duration of the call (the bytes are
 * copied into the outgoing frame before it returns), so the caller may free
 * or reuse them — mbuf clusters go back to the pool — as soon as it returns.
 * A returned promise means "wait before the next copyout" (the transport's
 * write buffer is full); it rejects with `EFAULT` when the client is gone.
 */
export interface CopySink {
  copyout(uaddr: number, srcs: readonly Uint8Array[]): Promise<void> | void;
}

/**
 * A {@link CopySource} over bytes a client sent inline with its request
 * (address 0 is their first byte): the socket layer makes the same copies
 * as from a COPYIN source, but each is a memory copy, not a round trip.
 * `onCopy` hears each copy's length (the session counts them as COPYIN
 * requests avoided). Out-of-range copies throw `EFAULT`.
 */
export class InlineSource implements CopySource {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly onCopy: (n: number) => void,
  ) {}

  /** Fill `dsts` from `uaddr` of the inline bytes. @throws StackError EFAULT outside them. */
  copyin(uaddr: number, dsts: readonly Uint8Array[]): void {
    const n = totalLength(dsts);
    if (!Number.isInteger(uaddr) || uaddr < 0 || uaddr + n > this.bytes.length) {
      throw new StackError(Errno.EFAULT, `inline copy ${uaddr}+${n} outside ${this.bytes.length} bytes`);
    }
    let p = uaddr;
    for (const d of dsts) {
      d.set(this.bytes.subarray(p, p + d.length));
      p += d.length;
    }
    this.onCopy(n);
  }
}

/** Total length of a list of views. */
export function totalLength(views: readonly Uint8Array[]): number {
  let n = 0;
  for (const v of views) n += v.length;
  return n;
}

/**
 * Scatters a stream of pieces into `dsts`, in order: the copy from socket
 * chunks straight into mbuf clusters. `write` must be given pieces whose
 * total does not exceed the total length of `dsts`.
 */
export class Scatter {
  private di = 0;
  private doff = 0;
  constructor(private readonly dsts: readonly Uint8Array[]) {}

  /** Copies `piece` into the destinations at the cursor and advances it. */
  write(piece: Uint8Array): void {
    let p = 0;
    while (p < piece.length && this.di < this.dsts.length) {
      const d = this.dsts[this.di]!;
      const take = Math.min(d.length - this.doff, piece.length - p);
      d.set(piece.subarray(p, p + take), this.doff);
      p += take;
      this.doff += take;
      if (this.doff === d.length) {
        this.di++;
        this.doff = 0;
      }
    }
  }
}

/**
 * The memory an {@link InlineSink} holds, charged where the server charges
 * a client's memory (its cluster quota): `grow` asks to hold `total` bytes
 * in all (more than before; false refuses, and nothing more is held),
 * `release` gives all of it back.
 */
export interface InlineHold {
  grow(total: number): boolean;
  release(): void;
}

/**
 * Holds the bytes a receive returns so that they can ride in the call's
 * reply instead of COPYOUT requests (inline receive, `--inline-recv-max`).
 * NetBSD's rump has no such thing: its `copyout(9)` is always a request to
 * the client. Here each held copy is a COPYOUT (and a frame, a hop) avoided.
 *
 * The sink holds copies while they stay contiguous from address 0, within
 * `limit` bytes, and `hold` grants the memory; the first copy that breaks
 * any of these flushes what is held to `target` as one COPYOUT at 0, then
 * passes this and every later copy through. So a receive of at most `limit`
 * bytes costs no COPYOUT, and a larger one costs what it did before (one
 * more only if it came in several copies — per-mbuf mode — of which the
 * first ones were held).
 *
 * Owns copies of the held bytes (the sources are only lent). `take` hands
 * them over for the reply; `discard` drops them (a failed call). Either
 * releases the memory.
 */
export class InlineSink implements CopySink {
  private readonly held: Uint8Array[] = [];
  private heldBytes = 0;
  private passing = false;

  /**
   * @param limit most bytes held (the session's inline receive limit).
   * @param target the COPYOUT sink of the same buffer, for what is not held.
   * @param hold where the held bytes are charged.
   */
  constructor(
    private readonly limit: number,
    private readonly target: CopySink,
    private readonly hold: InlineHold,
  ) {}

  /** Holds `srcs` (a copy of them) or passes them on as a COPYOUT; see the class. */
  copyout(uaddr: number, srcs: readonly Uint8Array[]): Promise<void> | void {
    if (this.passing) return this.target.copyout(uaddr, srcs);
    const n = totalLength(srcs);
    if (uaddr === this.heldBytes && this.heldBytes + n <= this.limit && this.hold.grow(this.heldBytes + n)) {
      for (const s of srcs) if (s.length > 0) this.held.push(s.slice());
      this.heldBytes += n;
      return;
    }
    const held = this.take();
    if (held.length === 0) return this.target.copyout(uaddr, srcs);
    const r = this.target.copyout(0, held);
    return r === undefined ? this.target.copyout(uaddr, srcs) : r.then(() => this.target.copyout(uaddr, srcs));
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * The held bytes, in order (empty when none), for the reply's payload;
   * releases their charge, and every later copy passes through.
   */
  take(): Uint8Array[] {
    this.passing = true;
    if (this.heldBytes > 0) this.hold.release();
    this.heldBytes = 0;
    return this.held.splice(0);
  }

  /** Drops the held bytes (the call failed: its reply carries none). */
  discard(): void {
    this.take();
  }
}

/**
 * One frame of a packed head `h` with `payload` copied once after it (an
 * inline receive's RESP: the held bytes go out in the reply's own frame).
 * The frame is the caller's; the payload views may be reused at once.
 */
export function packedFrameWith(cls: MsgClassValue, type: number, reqno: number, h: Uint8Array | undefined, payload: readonly Uint8Array[]): Buffer {
  const n = totalLength(payload);
  const frame = encodeFramePacked(cls, type, reqno, h, n, n);
  let at = frame.length - n;
  for (const p of payload) {
    frame.set(p, at);
    at += p.length;
  }
  return frame;
}
