/**
 * Loading and typing of the native addon (`native/tapbridge.cc`), and the
 * error type its failures become.
 *
 * @internal The shapes here are the addon's raw face; the package's public
 * classes ({@link TapDevice}, `TapLink`, `BusLink`) wrap them.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What `openTap` returns: the device fd, its control socket and the actual name. */
export interface NativeTap {
  fd: number;
  /** An AF_INET datagram socket in the tap's namespace, for SIOC[GS]IF* ioctls. */
  ctlFd: number;
  name: string;
  /** Size of the virtio_net_hdr in front of each frame (0 without `IFF_VNET_HDR`). */
  vnetHdrSize: number;
}

/**
 * The addon's poller over one non-blocking fd. It owns the fd. Frames of a
 * wake-up are at `buffer[meta[2i] .. meta[2i] + meta[2i+1])`, valid only
 * during the `onFrames` call that announced them.
 */
export interface NativeFrameIo {
  readonly buffer: ArrayBuffer;
  readonly meta: Int32Array;
  readonly maxBatch: number;
  readonly fd: number;
  /** errno of the failure that ended the last `writeBatch`, 0 if none. */
  readonly lastErrno: number;
  /** How many readable wake-ups the poller has had. */
  readonly wakeups: number;
  start(): number;
  pause(): number;
  wantWritable(on: boolean): number;
  /** Bytes written, or a negative errno. */
  write(frame: Uint8Array): number;
  /** Frames written from `start` before the first failure (see `lastErrno`). */
  writeBatch(frames: readonly Uint8Array[], start: number): number;
  /**
   * One frame behind a `virtio_net_hdr` with these fields (the fd must carry
   * them: {@link NativeFrameIo.setVnetHdr}); bytes written or a negative errno.
   */
  writeGso(frame: Uint8Array, flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): number;
  /** Frames on the fd carry a `virtio_net_hdr` of this size (0, 10, 12): `write`/`writeBatch` send a zero one. */
  setVnetHdr(size: number): void;
  /** 0 or a negative errno. */
  sendto(path: string, frame: Uint8Array): number;
  /**
   * Spins on non-blocking reads for at most `usec` µs (≤ 1000): the number of
   * frames then in the buffer (announced in `meta` as for `onFrames`; the
   * caller delivers them), 0 when none came in time, or a negative errno.
   */
  busyPoll(usec: number): number;
  close(): void;
  ref(): void;
  unref(): void;
}

/** The addon's exports. */
export interface NativeAddon {
  version: number;
  openTap(opts: { name?: string; vnetHdr?: boolean; multiQueue?: boolean; netns?: string; offload?: number }): NativeTap;
  setMtu(ctlFd: number, ifname: string, mtu: number): void;
  getMtu(ctlFd: number, ifname: string): number;
  setMac(ctlFd: number, ifname: string, mac: Uint8Array): void;
  getMac(ctlFd: number, ifname: string): Uint8Array;
  getFlags(ctlFd: number, ifname: string): number;
  setUp(ctlFd: number, ifname: string, up: boolean): void;
  closeFd(fd: number): void;
  openUnixDgram(path: string, bufBytes: number): number;
  probeUnixDgram(path: string): number;
  /** SO_PEERCRED (+ SO_PEERGROUPS, null when unknown) of a Unix domain socket; throws ENOTSUP for others. */
  peerCred(fd: number): { pid: number; uid: number; gid: number; groups: number[] | null };
  FrameIo: new (
    fd: number,
    onFrames: (count: number, errno: number) => void,
    onWritable: () => void,
    maxBatch?: number,
    frameMax?: number,
  ) => NativeFrameIo;
}

/** Linux errno values the TypeScript side tests for: the stack's table. */
export { Errno as E } from '@rumpnet/stack';

/**
 * An error from the tap or bus driver's control path (open, ioctl, bind).
 * Shaped like Node's system errors: `code` (`'ENOENT'`, `'EPERM'`, `'EBUSY'`,
 * `'EINVAL'`, ...), `errno` (negative, as Node reports it) and `syscall`. A
 * code once given never changes.
 */
export class TapError extends Error {
  /** Symbolic errno name, e.g. `'EBUSY'`. */
  readonly code: string;
  /** Negative errno value, as in Node's `SystemError`. */
  readonly errno: number;
  /** The failing system call, e.g. `'ioctl'`. */
  readonly syscall: string;

  constructor(message: string, code: string, errno: number, syscall: string) {
    super(message);
    this.name = 'TapError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** Runs a native call, turning the addon's plain Errors into {@link TapError}s. */
export function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const err = e as { message?: string; code?: unknown; errno?: unknown; syscall?: unknown };
    if (e instanceof Error && typeof err.code === 'string') {
      throw new TapError(e.message, err.code, Number(err.errno), String(err.syscall));
    }
    throw e;
  }
}

let addon: NativeAddon | undefined;

/**
 * The addon, loaded on first use. It sits in `build/Release` of the package,
 * which is `../build` from `src/` (run through tsx) and `../../build` from
 * `dist/src/` (compiled).
 *
 * @throws Error when the addon was not built (`npx node-gyp rebuild`).
 */
export function native(): NativeAddon {
  if (addon !== undefined) return addon;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '../build/Release/tapbridge.node'), join(here, '../../build/Release/tapbridge.node')];
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    throw new Error(
      `@rumpnet/tap-bridge: native addon not built (looked in ${candidates.join(', ')}); run "npx node-gyp rebuild" in packages/tap-bridge`,
    );
  }
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  return addon;
}
