/**
 * The low-level promise API: one method per system call of the contract,
 * thin typed wrappers over {@link RumpConnection.call}. Errors are
 * Node-shaped (`code`, negative `errno`, `syscall`, `address`, `port`).
 * The `net`/`dgram`-shaped API is built on these.
 */
import type { RumpConnection } from './connection.js';
import type {
  PollFd,
  PollResultFd,
  ShutdownHow,
  SockAddr,
  SockAddrIn,
  SockAddrIn6,
  SockOptLevel,
  SockOptValue,
  SockType,
  SyscallArgs,
  SyscallName,
  SyscallResults,
} from './syscalls.js';

/** Builds an IPv4 socket address. */
export function inet(address: string, port: number): SockAddrIn {
  return { family: 'inet', address, port };
}

/** Builds an IPv6 socket address (`::ffff:a.b.c.d` reaches IPv4 from a dual-stack socket). */
export function inet6(address: string, port: number, opts: { flowinfo?: number; scopeId?: number } = {}): SockAddrIn6 {
  return { family: 'inet6', address, port, ...opts };
}

/** Result of {@link RumpSyscalls.recvfrom}. */
export interface RecvResult {
  /** Bytes written into the buffer (0 at end of stream). */
  readonly bytes: number;
  /** Sender, for datagram sockets. */
  readonly addr?: SockAddr;
  /** `MSG_*` flags of the result (`MSG_TRUNC` 0x20 for a datagram cut to the buffer), when any. */
  readonly flags?: number;
}

/** System calls on one connection. Descriptors are the server's, private to this client. */
export class RumpSyscalls {
  constructor(private readonly conn: RumpConnection) {}

  private do<K extends SyscallName>(name: K, args: SyscallArgs[K], syscall?: string, buffers?: Record<string, Uint8Array>): Promise<SyscallResults[K]> {
    const opts = { ...(syscall ? { syscall } : {}), ...(buffers ? { buffers } : {}) };
    return this.conn.call<SyscallResults[K]>(name, args as Record<string, unknown>, opts);
  }

  /** `socket(2)`: a new descriptor, `AF_INET` unless `opts.domain` says `'inet6'`. */
  async socket(type: SockType, opts: { protocol?: number; nonblock?: boolean; domain?: 'inet' | 'inet6' } = {}): Promise<number> {
    const { domain = 'inet', ...rest } = opts;
    return (await this.do('socket', { domain, type, ...rest })).fd;
  }

  /** `bind(2)`. */
  async bind(fd: number, addr: SockAddr): Promise<void> {
    await this.do('bind', { fd, addr });
  }

  /** `listen(2)`. */
  async listen(fd: number, backlog = 511): Promise<void> {
    await this.do('listen', { fd, backlog });
  }

  /** `accept(2)`: waits (unless non-blocking) for a connection; resolves with its descriptor and peer. */
  async accept(fd: number, opts: { nonblock?: boolean } = {}): Promise<{ fd: number; addr: SockAddr }> {
    return this.do('accept', { fd, ...opts });
  }

  /** `connect(2)`. Errors carry the peer: `connect ECONNREFUSED 10.0.0.2:80`. */
  async connect(fd: number, addr: SockAddr): Promise<void> {
    await this.do('connect', { fd, addr });
  }

  /**
   * `send(2)`: the server copies `buf[0, len)` in with COPYIN requests while
   * the call is in flight; do not change `buf` until it settles. Resolves
   * with the number of bytes the socket took.
   */
  async send(fd: number, buf: Uint8Array, flags = 0, len = buf.length): Promise<number> {
    return (await this.do('sendto', { fd, buf: 0, len, flags }, 'send', { buf })).bytes;
  }

  /** `sendto(2)`: {@link RumpSyscalls.send} to an address (datagram sockets). */
  async sendto(fd: number, buf: Uint8Array, addr: SockAddr, flags = 0, len = buf.length): Promise<number> {
    return (await this.do('sendto', { fd, buf: 0, len, flags, addr }, 'sendto', { buf })).bytes;
  }

  /**
   * `recv(2)`: the server writes into `buf` with COPYOUT requests before its
   * response, or — up to its `inlineRecvMax` bytes — inside the response;
   * resolves with the byte count (0 at end of stream).
   */
  async recv(fd: number, buf: Uint8Array, flags = 0, len = buf.length): Promise<number> {
    return (await this.do('recvfrom', { fd, buf: 0, len, flags }, 'recv', { buf })).bytes;
  }

  /** `recvfrom(2)`: {@link RumpSyscalls.recv} with the sender's address. */
  async recvfrom(fd: number, buf: Uint8Array, flags = 0, len = buf.length): Promise<RecvResult> {
    return this.do('recvfrom', { fd, buf: 0, len, flags }, 'recvfrom', { buf });
  }

  /** `shutdown(2)`. */
  async shutdown(fd: number, how: ShutdownHow): Promise<void> {
    await this.do('shutdown', { fd, how });
  }

  /** `close(2)`. */
  async close(fd: number): Promise<void> {
    await this.do('close', { fd });
  }

  /** `setsockopt(2)`, options by name (e.g. `'socket', 'SO_REUSEADDR', true`). */
  async setsockopt(fd: number, level: SockOptLevel, name: string, value: SockOptValue): Promise<void> {
    await this.do('setsockopt', { fd, level, name, value });
  }

  /** `getsockopt(2)`. */
  async getsockopt(fd: number, level: SockOptLevel, name: string): Promise<number | boolean | string> {
    return (await this.do('getsockopt', { fd, level, name })).value;
  }

  /** `getsockname(2)`. */
  async getsockname(fd: number): Promise<SockAddr> {
    return (await this.do('getsockname', { fd })).addr;
  }

  /** `getpeername(2)`. */
  async getpeername(fd: number): Promise<SockAddr> {
    return (await this.do('getpeername', { fd })).addr;
  }

  /** `poll(2)`: `timeout` in ms (-1 forever). Resolves with the ready count and each descriptor's revents. */
  async poll(fds: PollFd[], timeout: number): Promise<{ ready: number; fds: PollResultFd[] }> {
    return this.do('poll', { fds, timeout });
  }
}
