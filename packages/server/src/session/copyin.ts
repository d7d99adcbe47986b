/**
 * The COPYIN requests of one session: the server's `copyin(9)` reaching into
 * a client's buffer (NetBSD's rump server does it in `rumpuser_sp.c`). Each
 * `copyin` is one COPYIN request, matched to its reply by request number —
 * several may be outstanding at once (the socket layer's copy window), in
 * any order of reply — with at most `maxCopyins` sent at a time (further
 * ones wait for a slot) and one deadline each, from the ask to the reply.
 * A reply's payload is scattered straight into the destination clusters as
 * it arrives.
 *
 * @module
 */
import { Errno, StackError } from '@rumpnet/stack';
import { COPY_FRAME_OVERHEAD, MsgClass, type FrameMeta, type PayloadSink } from '../proto/index.js';
import { Scatter, totalLength } from '../proto/copy.js';
import type { SessionCounters } from './counters.js';
import type { SessionLimits } from './limits.js';

/** What the table needs from its session. */
export interface CopyinHost {
  readonly id: number;
  readonly counters: SessionCounters;
  readonly limits: SessionLimits;
  readonly log: { warn(obj: object, msg: string): void };
  /** True once the session started closing. */
  readonly isClosed: boolean;
  /** A fresh server request number (not in use). */
  allocReq(): number;
  /** Sends the REQ COPYIN frame. */
  sendCopyin(reqno: number, head: { h: number; o: number; n: number }): void;
  /** A reply to nothing, or of the wrong type: counted, maybe disconnecting. */
  protocolError(reason: string): void;
  /**
   * A reply whose bytes are in the shared COPYIN ring (§7a) at position `s`:
   * scatters its `n` bytes into `dsts` (none: only frees them) and frees
   * them; false when there is no such ring or `s`/`n` are impossible.
   */
  shmTake?(s: unknown, n: unknown, dsts: readonly Uint8Array[] | undefined): boolean;
}

interface PendingCopyin {
  readonly handle: number;
  readonly uaddr: number;
  readonly total: number;
  /** The server's request number once sent; 0 while it waits for a slot. */
  reqno: number;
  readonly dsts: readonly Uint8Array[];
  readonly timer: NodeJS.Timeout;
  done: boolean;
  resolve(): void;
  reject(e: Error): void;
}

/** Request numbers of timed-out copies remembered, so that their late replies are told from bogus ones. */
const LATE_MEMORY = 256;

function skip(): void {
  /* payload of a reply that already failed */
}

/** The outstanding and waiting COPYINs of one session. */
export class CopyinTable {
  private readonly copyins = new Map<number, PendingCopyin>();
  /** Copies waiting for one of the {@link SessionLimits.maxCopyins} slots, oldest first. */
  private readonly wait: PendingCopyin[] = [];
  private readonly late = new Set<number>();

  constructor(private readonly host: CopyinHost) {}

  /** COPYIN requests sent and not answered. */
  get inFlight(): number {
    return this.copyins.size;
  }

  /** Copies waiting for a slot. */
  get waiting(): number {
    return this.wait.length;
  }

  /** Whether `reqno` is an outstanding COPYIN's number. */
  has(reqno: number): boolean {
    return this.copyins.has(reqno);
  }

  /**
   * One COPYIN of `dsts`' total length from `uaddr` of buffer `handle`,
   * scattered into `dsts` in order. Rejects with `EFAULT` (bad address,
   * refused, wrong size, no reply within `copyinTimeoutMs`, client gone)
   * or `EMSGSIZE` (more than one frame).
   */
  copyin(handle: number, uaddr: number, dsts: readonly Uint8Array[]): Promise<void> {
    const h = this.host;
    const total = totalLength(dsts);
    if (!Number.isInteger(uaddr) || uaddr < 0 || !Number.isInteger(handle) || handle < 1) {
      return Promise.reject(new StackError(Errno.EFAULT, 'copyin: bad address'));
    }
    if (total === 0) return Promise.resolve();
    if (total + COPY_FRAME_OVERHEAD > Math.min(h.limits.maxFrame, h.limits.maxClientFrame)) {
      return Promise.reject(new StackError(Errno.EMSGSIZE, `copyin of ${total} bytes exceeds one frame`));
    }
    if (h.isClosed) return Promise.reject(new StackError(Errno.EFAULT, 'copyin: client gone'));
    return new Promise<void>((resolve, reject) => {
      // One deadline from the ask to the reply, a wait for a slot included:
      // the clusters behind `dsts` stay pinned no longer than copyinTimeoutMs.
      const timer = setTimeout(() => this.timedOut(p), h.limits.copyinTimeoutMs);
      const p: PendingCopyin = { handle, uaddr, total, reqno: 0, dsts, timer, done: false, resolve, reject };
      if (this.copyins.size < h.limits.maxCopyins && this.wait.length === 0) this.issue(p);
      else this.wait.push(p);
    });
  }

  /**
   * Where a COPYIN reply's payload goes: scattered into its clusters piece
   * by piece; skipped (never gathered) for a reply to nothing or of the
   * wrong size, which {@link CopyinTable.onReply} then handles.
   */
  payloadSink(meta: FrameMeta): PayloadSink {
    const p = this.copyins.get(meta.reqno);
    if (!p) return skip; // counted in onReply
    // A reply of the wrong size is skipped here and failed (EFAULT) in onReply.
    if (meta.payloadLen !== p.total) return skip;
    const scatter = new Scatter(p.dsts);
    return (piece) => {
      if (!p.done) scatter.write(piece);
    };
  }

  /** A complete RESP or ERROR COPYIN from the client. */
  onReply(meta: FrameMeta): void {
    const h = this.host;
    const p = this.copyins.get(meta.reqno);
    const hd = meta.head;
    if (meta.cls === MsgClass.RESP && meta.payloadLen === 0 && typeof hd === 'object' && hd !== null && (hd as { s?: unknown }).s !== undefined) {
      return this.onRingReply(meta, p, hd as { s?: unknown; n?: unknown });
    }
    if (!p) {
      // A reply after its timeout is expected now and then; anything else is a protocol error.
      if (this.late.delete(meta.reqno)) h.counters.lateReplies++;
      else h.protocolError(`reply to unknown request ${meta.reqno}`);
      return;
    }
    if (meta.cls === MsgClass.ERROR) {
      // The client refused (unknown handle, range outside its buffer): a bad user address.
      h.counters.copyinRefused++;
      return this.settle(meta.reqno, p, new StackError(Errno.EFAULT, 'copyin refused by client'));
    }
    if (meta.payloadLen !== p.total) {
      h.counters.copyinWrongSize++;
      h.log.warn({ session: h.id, reqno: meta.reqno, expected: p.total }, 'copyin reply: wrong size');
      return this.settle(meta.reqno, p, new StackError(Errno.EFAULT, 'copyin reply: wrong size'));
    }
    h.counters.copyinBytes += p.total;
    this.settle(meta.reqno, p, undefined);
  }

  /**
   * A RESP COPYIN `{ s, n }` whose bytes are in the shared COPYIN ring:
   * scattered from there (a late reply's space is only freed); a position the
   * ring never had, or a length that is not the copy's, fails it `EFAULT`.
   */
  private onRingReply(meta: FrameMeta, p: PendingCopyin | undefined, hd: { s?: unknown; n?: unknown }): void {
    const h = this.host;
    const fits = p !== undefined && !p.done && hd.n === p.total;
    const ok = h.shmTake?.(hd.s, hd.n, fits ? p.dsts : undefined) ?? false;
    if (!p) {
      if (this.late.delete(meta.reqno)) h.counters.lateReplies++;
      else h.protocolError(`reply to unknown request ${meta.reqno}`);
      return;
    }
    if (!ok || !fits) {
      h.counters.copyinWrongSize++;
      h.log.warn({ session: h.id, reqno: meta.reqno, expected: p.total, s: hd.s, n: hd.n }, 'copyin reply through the ring: bad position or size');
      return this.settle(meta.reqno, p, new StackError(Errno.EFAULT, 'copyin reply: bad ring position or size'));
    }
    h.counters.copyinBytes += p.total;
    this.settle(meta.reqno, p, undefined);
  }

  /** A reply whose head did not decode: its copy (if any) fails with EFAULT. */
  onMalformed(meta: FrameMeta, reason: string): void {
    const p = this.copyins.get(meta.reqno);
    if (p && !p.done) this.settle(meta.reqno, p, new StackError(Errno.EFAULT, `malformed copyin reply: ${reason}`));
  }

  /** The session closed: every copy, sent or waiting, fails with EFAULT. */
  failAll(): void {
    for (const p of this.wait.splice(0)) {
      clearTimeout(p.timer);
      p.done = true;
      p.reject(new StackError(Errno.EFAULT, 'client gone'));
    }
    for (const [reqno, p] of [...this.copyins]) this.settle(reqno, p, new StackError(Errno.EFAULT, 'client gone'));
  }

  /** Sends the COPYIN request of `p` (a slot is free). */
  private issue(p: PendingCopyin): void {
    const h = this.host;
    p.reqno = h.allocReq();
    this.copyins.set(p.reqno, p);
    h.counters.copyinRequests++;
    if (this.copyins.size > h.counters.copyinPeak) h.counters.copyinPeak = this.copyins.size;
    h.sendCopyin(p.reqno, { h: p.handle, o: p.uaddr, n: p.total });
  }

  private timedOut(p: PendingCopyin): void {
    if (p.done) return;
    const h = this.host;
    p.done = true;
    if (p.reqno === 0) {
      const i = this.wait.indexOf(p);
      if (i >= 0) this.wait.splice(i, 1);
    } else {
      this.copyins.delete(p.reqno);
      this.late.add(p.reqno);
      if (this.late.size > LATE_MEMORY) this.late.delete(this.late.values().next().value!);
    }
    h.counters.copyinTimeouts++;
    h.log.warn({ session: h.id, reqno: p.reqno, handle: p.handle, uaddr: p.uaddr, total: p.total, queued: p.reqno === 0 }, 'copyin timed out');
    p.reject(new StackError(Errno.EFAULT, 'copyin: no reply in time'));
    this.pump();
  }

  private settle(reqno: number, p: PendingCopyin, err: Error | undefined): void {
    clearTimeout(p.timer);
    p.done = true;
    this.copyins.delete(reqno);
    if (err) p.reject(err);
    else p.resolve();
    this.pump();
  }

  /** Sends waiting copies while slots are free. */
  private pump(): void {
    const h = this.host;
    while (!h.isClosed && this.copyins.size < h.limits.maxCopyins && this.wait.length > 0) this.issue(this.wait.shift()!);
  }
}
