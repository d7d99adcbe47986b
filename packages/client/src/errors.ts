/**
 * Node-shaped errors at the client edge. The server sends positive errno
 * values (the stack's Linux-valued table); the client turns them into the
 * errors Node's own `net` raises (`lib/internal/errors.js`,
 * `exceptionWithHostPort`): message `connect ECONNREFUSED 10.0.0.2:80`,
 * `code`, a NEGATIVE `errno`, `syscall`, and `address`/`port` when known.
 * The client imports nothing from the stack: names come from
 * `os.constants.errno`, reversed.
 */
import { constants } from 'node:os';

const byNumber = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  // Aliases (EWOULDBLOCK = EAGAIN, EDEADLOCK = EDEADLK): keep the first, the canonical one.
  if (!byNumber.has(value)) byNumber.set(value, name);
}

/** The symbolic name of a positive errno value, `E<n>` when unknown. */
export function errnoCode(errno: number): string {
  return byNumber.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/** The positive errno value of a symbolic name, undefined when unknown. */
export function errnoValue(code: string): number | undefined {
  return (constants.errno as Record<string, number>)[code];
}

/** An error from a system call, shaped like Node's `ErrnoException`. */
export interface RumpSyscallError extends Error {
  /** Symbolic name, e.g. `ECONNREFUSED`. */
  code: string;
  /** Negative errno, as Node reports it (`-111`). */
  errno: number;
  /** The call that failed, e.g. `connect`. */
  syscall: string;
  /** Peer or local address the call named, when it named one. */
  address?: string;
  /** Port the call named, when it named one. */
  port?: number;
  /** The server's one-line explanation, when it sent one (e.g. why a call needs admin). */
  reason?: string;
}

/**
 * Builds a Node-shaped error for a positive (or negative) errno value.
 * With an address the message is `syscall CODE address:port`, else `syscall CODE`.
 */
export function syscallError(errno: number, syscall: string, address?: string, port?: number): RumpSyscallError {
  const code = errnoCode(errno);
  let where = '';
  if (address !== undefined) where = port !== undefined && port > 0 ? ` ${address}:${port}` : ` ${address}`;
  const err = new Error(`${syscall} ${code}${where}`) as RumpSyscallError;
  err.code = code;
  err.errno = -Math.abs(errno);
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (address !== undefined && port !== undefined && port > 0) err.port = port;
  return err;
}

/** Error code of {@link RumpProtocolError}: the peer broke the protocol or refused a request as malformed. */
export const ERR_RUMP_PROTOCOL = 'ERR_RUMP_PROTOCOL';
/** Error code of a version mismatch between client and server. */
export const ERR_RUMP_VERSION = 'ERR_RUMP_VERSION';
/**
 * Error code of a call made on (or cut short by) a closed connection —
 * whether the server closed it cleanly or the transport failed under it
 * (EPIPE, ECONNRESET: the original error is the `cause`). Which of these a
 * dying server produces depends on timing; the code a user sees does not.
 */
export const ERR_RUMP_CLOSED = 'ERR_RUMP_CLOSED';

/** A protocol-level failure (ERROR class reply, bad frame, version mismatch, closed connection). */
export class RumpProtocolError extends Error {
  /** One of {@link ERR_RUMP_PROTOCOL}, {@link ERR_RUMP_VERSION}, {@link ERR_RUMP_CLOSED}. */
  readonly code: string;
  /** Extra detail the server sent with an ERROR reply, if any. */
  readonly detail: Readonly<Record<string, unknown>> | undefined;
  /** @param cause the underlying error (e.g. a transport's `write EPIPE`), kept as `Error.cause`. */
  constructor(code: string, message: string, detail?: Readonly<Record<string, unknown>>, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RumpProtocolError';
    this.code = code;
    this.detail = detail;
  }
}
