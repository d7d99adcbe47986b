/**
 * Error numbers used inside the stack, as in BSD's `<sys/errno.h>` but with
 * Linux's values, because the client edge turns them into Node-shaped errors
 * (`code`, `errno`) and Node reports Linux's numbers on this platform.
 *
 * A number once given never changes: clients and the wire protocol depend on it.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOSPC: 28,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
} as const;

/** The name of an error number, e.g. `"ECONNREFUSED"`. */
export type ErrnoName = keyof typeof Errno;
/** A numeric error value from {@link Errno}. */
export type ErrnoValue = (typeof Errno)[ErrnoName];

/** `EWOULDBLOCK` is `EAGAIN` on Linux, as in BSD where both names exist. */
export const EWOULDBLOCK = Errno.EAGAIN;

const names = new Map<number, ErrnoName>(
  (Object.keys(Errno) as ErrnoName[]).map((k) => [Errno[k], k]),
);

/** The symbolic name for `errno`, or `"E<number>"` when it is not in the table. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

/**
 * An error carrying an errno, thrown only at API edges (never from the data
 * path, which returns errno values). `code` is the symbolic name.
 */
export class StackError extends Error {
  /** Symbolic name such as `"EADDRINUSE"`. */
  readonly code: string;
  /** Numeric value from {@link Errno}. */
  readonly errno: number;
  constructor(errno: number, message?: string) {
    super(message ?? errnoName(errno));
    this.name = 'StackError';
    this.errno = errno;
    this.code = errnoName(errno);
  }
}
