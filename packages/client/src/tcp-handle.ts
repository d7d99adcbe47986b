/**
 * The `_handle` of a rump {@link Socket}: what Node's `TCPWrap` is to a
 * native `net.Socket`. Node's socket calls its handle's `setNoDelay` and
 * `setKeepAlive` (and programs look at `socket._handle`: null before
 * `connect()` and after `'close'`, the owner of the socket options in
 * between), so the rump socket does too, and the handle turns the calls into
 * `setsockopt(2)` on the rump server's descriptor.
 *
 * The handle exists from `connect()` (or `accept`) on, while the descriptor
 * comes later (`socket(2)` is a round trip): options asked for before it
 * are set once it is known, in the order they were asked.
 */
import type { RumpConnection } from './connection.js';
import { ignore } from './shared.js';

type Op = (conn: RumpConnection, fd: number) => Promise<unknown>;

/** A rump socket's handle (Node's `TCPWrap` surface that `net` and programs use). */
export class RumpTcpHandle {
  #conn: RumpConnection | undefined;
  #fd: number | undefined;
  #pending: Op[] = [];
  #closed = false;

  /** The rump server's descriptor once known, else -1 (`handle.fd`). */
  get fd(): number {
    return this.#fd ?? -1;
  }

  /** The descriptor is known: options asked for before it are set now. */
  attach(conn: RumpConnection, fd: number): void {
    this.#conn = conn;
    this.#fd = fd;
    for (const op of this.#pending.splice(0)) op(conn, fd).catch(ignore);
  }

  /** `TCP_NODELAY` (best effort, as libuv's `uv_tcp_nodelay` errors are ignored by `net`). Returns 0. */
  setNoDelay(enable: boolean): number {
    this.#do((conn, fd) => conn.sys.setsockopt(fd, 'tcp', 'TCP_NODELAY', enable));
    return 0;
  }

  /**
   * `SO_KEEPALIVE` and, when on with a delay, `TCP_KEEPIDLE` in whole
   * seconds (`uv_tcp_keepalive`: Node passes seconds). Returns 0.
   */
  setKeepAlive(enable: boolean, delaySecs = 0): number {
    this.#do(async (conn, fd) => {
      await conn.sys.setsockopt(fd, 'socket', 'SO_KEEPALIVE', enable);
      if (enable && delaySecs > 0) await conn.sys.setsockopt(fd, 'tcp', 'TCP_KEEPIDLE', Math.floor(delaySecs));
    });
    return 0;
  }

  /** True once {@link RumpTcpHandle.close} was called (further options are dropped). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Marks the handle closed; the socket that owns it closes the descriptor
   * (its `_destroy`). `cb` runs on the next tick, as a handle close callback does.
   */
  close(cb?: () => void): void {
    this.#closed = true;
    this.#pending = [];
    if (cb) process.nextTick(cb);
  }

  #do(op: Op): void {
    if (this.#closed) return;
    if (this.#conn !== undefined && this.#fd !== undefined) op(this.#conn, this.#fd).catch(ignore);
    else this.#pending.push(op);
  }
}
