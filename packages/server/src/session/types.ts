/**
 * The shapes a {@link ClientSession} deals in: the stack parameters it
 * announces, what a syscall handler gets and returns, who the peer said it
 * is, and the session's options. Kept apart from session.ts, which holds the
 * behaviour.
 *
 * @module
 */
import type { CopySink, CopySource, InlineHold } from '../proto/copy.js';
import type { SyscallSchema } from '../proto/index.js';
import type { SessionAuth } from './admin.js';
import type { SessionLimits } from './limits.js';
import type { ShmPolicy } from './shm.js';
import type { ClientSession } from './session.js';

/** Receive copy mode: one COPYOUT per mbuf (NetBSD) or one per call (coalesced). */
export type RxMode = 'per-mbuf' | 'coalesced';

/** Stack parameters reported to clients in the handshake. */
export interface StackParams {
  /** Bytes per mbuf cluster (`MCLBYTES`: 2048 or 4096). */
  readonly mclbytes: number;
  /** Clusters per COPYIN (`MCLNUM`). */
  readonly mclnum: number;
  /** COPYINs one send keeps outstanding (`--copy-window`; 1 = NetBSD). Absent: 1. */
  readonly copyWindow?: number;
  /**
   * Most bytes a client may carry inline with a send-type SYSCALL request
   * instead of having them COPYINed (`--inline-max`); 0 or absent: off,
   * requests carry no payload (NetBSD's rump).
   */
  readonly inlineMax?: number;
  /**
   * Most bytes a receive may return inside its RESP instead of by COPYOUT
   * (`--inline-recv-max`), for clients that announce `inlineRecv` in their
   * handshake; 0 or absent: off, every receive is COPYOUTed (NetBSD's rump).
   */
  readonly inlineRecvMax?: number;
  /**
   * The posted-send window offered to clients that announce `postedSend`
   * (`--posted-window` bytes, `--posted-calls` requests): stream sends with
   * inline bytes that get no RESP (docs/PROTOCOL.md §6). 0 or absent: off.
   * Off as well whenever `inlineMax` is 0 (only inline sends are posted).
   */
  readonly postedWindow?: number;
  readonly postedCalls?: number;
  /** Receive copy mode. */
  readonly rxMode: RxMode;
}



/** The logger interface used (pino's `Logger` satisfies it). */
export interface ProtoLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A logger that drops everything. */
export const silentLogger: ProtoLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** What a handler gets besides its arguments. */
export interface SyscallContext {
  /** The client's request number (for logs). */
  readonly reqno: number;
  /** The syscall's wire name. */
  readonly name: string;
  /** Aborted when the session closes: a blocked call (accept, poll, recv) must give up then. */
  readonly signal: AbortSignal;
  /** The source of a send-type call's bytes (see {@link ClientSession.copySource}). */
  copySource(handle: number): CopySource;
  /** The sink of a receive-type call's bytes (see {@link ClientSession.copySink}). */
  copySink(handle: number): CopySink;
  /**
   * The sink of a receive-type call's bytes when its reply may carry them:
   * an {@link InlineSink} over {@link SyscallContext.copySink} holding up to
   * the session's inline receive limit (held bytes charged to `hold`), sent
   * in the RESP if the call succeeds — or the plain COPYOUT sink when the
   * client did not announce inline receives or the limit is 0. One per call.
   */
  receiveSink(handle: number, hold: InlineHold): CopySink;
  /**
   * The bytes the client carried inline with this request (at most the
   * announced `inlineMax`), or undefined when it carried none. Borrowed
   * for the call: copy them, do not keep them.
   */
  readonly inline?: Uint8Array;
  /**
   * A {@link CopySource} over {@link SyscallContext.inline} (address 0 is
   * its first byte): each copy it serves is a COPYIN request avoided,
   * counted as `copyinsAvoided`. EFAULT outside the bytes.
   * @throws StackError EFAULT when the request carried none.
   */
  inlineSource(): CopySource;
  /**
   * Turns this call into a long-lived stream (a `recvstream` that holds its
   * stream slot): from now on it no longer counts against `maxInFlight`,
   * so the client's ordinary calls are not stalled behind it — a stream is
   * bounded by its own slots (16 per session) instead. Idempotent.
   */
  detach?(): void;
  /**
   * True for a posted send (the client wants no reply): a blocking stream
   * send must then take all its bytes, since no short count can be told.
   */
  readonly posted?: boolean;
}

/**
 * A syscall implementation. Resolves with the result (sent as `{result}`);
 * rejects with anything carrying a numeric `errno` (a `StackError`) to fail
 * the call with that errno. Any other rejection is a server bug: logged,
 * counted, answered with an ERROR frame. A handler that never sleeps may
 * return (or throw) synchronously: its answer is then written before any
 * wakeup it caused can run — e.g. `shutdown`'s reply goes out before the
 * reply of the same client's `recvfrom` that its FIN, over lo0, ended (as
 * in a kernel, where the call returns before the woken reader is scheduled).
 */
export type SyscallHandler<A = any, R = unknown> = (session: ClientSession, args: A, ctx: SyscallContext) => Promise<R> | R;

/** The embedding server's syscall table: wire name → handler. */
export type SyscallHandlers = Readonly<Record<string, SyscallHandler>>;

/** Who the client said it is in the handshake. */
export interface PeerInfo {
  readonly version: number;
  readonly pid: number;
  readonly name: string;
  /** The client takes a receive's bytes inside its RESP (handshake `inlineRecv: true`). */
  readonly inlineRecv: boolean;
  /** The client posts small stream sends without waiting for their RESP (handshake `postedSend: true`). */
  readonly postedSend: boolean;
}

/** Options of a {@link ClientSession}. */
export interface SessionOptions {
  /** Session number, unique per listener. */
  readonly id: number;
  /** Syscall handlers. Each name needs a schema (built-in or in `schemas`). */
  readonly handlers: SyscallHandlers;
  /** Extra schemas, e.g. a test table; they override built-in ones of the same name. */
  readonly schemas?: Readonly<Record<string, SyscallSchema>>;
  /** Stack parameters reported in the handshake. */
  readonly params: StackParams;
  /** Limits (defaults: {@link DEFAULT_LIMITS}). */
  readonly limits?: Partial<SessionLimits>;
  /** Logger (default silent). */
  readonly log?: ProtoLogger;
  /** Software name in the banner. */
  readonly software?: string;
  /** The client's rights, decided by the listener from its credentials (default: none, not admin). */
  readonly auth?: SessionAuth;
  /** The shared-memory data path's limits (§7a; absent: off, every offer refused). */
  readonly shm?: ShmPolicy;
}

/**
 * A share of queued-request memory that several sessions draw on (the
 * server's per-user `--user-queued-bytes`, quota.ts `UserQueueShare`).
 */
export interface QueueShare {
  /** Counts `bytes` queued; true when the share is now over its limit. */
  add(bytes: number): boolean;
  /** Gives back `bytes` queued. */
  sub(bytes: number): void;
  /** A session was disconnected because the share was over (counted). */
  refused(): void;
}

/** Handler run when a session closes: the server closes that client's descriptors here. */
export type CloseHook = (session: ClientSession, reason: string) => void | Promise<void>;
