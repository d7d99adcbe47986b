/**
 * The shared-memory data path of the rump protocol (docs/PROTOCOL.md §7a),
 * both ends: a sealed memfd region the client creates and maps, the server
 * maps too, and through which the server's COPYOUT bytes travel instead of
 * the Unix socket — the socket carries only the small COPYOUT request that
 * says where they are (Kantee's suggestion for rump's copy cost).
 *
 * Layout of a region of `SHM_HEADER + ring` bytes (`ring` a power of two):
 *
 * | offset | size | written by | meaning |
 * |---:|---:|---|---|
 * | 0 | 16 | client | the token announced in the handshake (the server checks it) |
 * | 64 | 4 | client | u32 consumer position: bytes of the ring freed so far, mod 2^32 |
 * | 128 | 4 | server | u32 consumer position of the COPYIN ring |
 * | 4096 | ring | server | the ring: COPYOUT bytes at `position mod ring` |
 * | 4096 + ring | ring | client | the COPYIN ring (when offered, `copyin: true`): COPYIN replies' bytes |
 *
 * The server keeps the producer position to itself (the client never
 * writes what the server trusts); it reads the consumer position before each
 * allocation and treats anything impossible there as a fault.
 *
 * The native half is this package's own small addon (`addon/rumpshm.cc`,
 * built by node-gyp at install); when it is missing the client simply does
 * not offer a region and runs on the socket path.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bytes before the ring: the token and the consumer position, a page. */
export const SHM_HEADER = 4096;
/** Bytes of the token at offset 0. */
export const SHM_TOKEN_BYTES = 16;
/** Byte offset of the u32 consumer position of the COPYOUT ring (the client's; its own cache line). */
export const SHM_TAIL_OFFSET = 64;
/** Byte offset of the u32 consumer position of the COPYIN ring (the server's). */
export const SHM_IN_TAIL_OFFSET = 128;
/**
 * Byte offset of the streamed receives' slots (docs/PROTOCOL.md §7a,
 * "Streamed receive"): {@link SHM_STREAM_SLOTS} of 64 bytes each (a cache
 * line), at +0 the u32 bytes of the stream handed to the program so far
 * (the client's, mod 2^32), at +4 the u32 "waiting" flag (the server sets 1
 * when it stopped for want of window; the client clears it and rings).
 */
export const SHM_STREAM_OFFSET = 1024;
/** Streamed receives one region can carry at once. */
export const SHM_STREAM_SLOTS = 16;
/** Bytes of one stream slot. */
export const SHM_STREAM_SLOT_BYTES = 64;
/** Smallest ring a client offers and the server takes. */
export const SHM_MIN_RING = 64 * 1024;
/** Largest ring a client offers (the server's `--shm-max` may be lower). */
export const SHM_MAX_RING = 64 * 1024 * 1024;
/** The ring a client offers by default: 1 MiB, some sixteen 64 KiB receives. */
export const SHM_DEFAULT_RING = 1024 * 1024;

/** The addon's exports (`addon/rumpshm.cc`). */
export interface ShmAddon {
  readonly version: number;
  /** A sealed (shrink, grow, seal) memfd of `size` bytes mapped here; `seal` false only for tests. */
  createRegion(size: number, seal?: boolean): { fd: number; buffer: ArrayBuffer };
  /** Maps the memfd `fd` of process `pid` after checking type, seals and size; throws with a reason. */
  openPeerRegion(pid: number, fd: number, size: number): ArrayBuffer;
  /** Detaches the buffer and unmaps its memory now. */
  unmap(buffer: ArrayBuffer): void;
  closeFd(fd: number): void;
  /** The regions this process has mapped now. */
  mappings(): { count: number; bytes: number };
  /** Spins on poll(2) of `fd` up to `usec` µs: 1 readable, 0 not, -errno (busypoll.ts); absent from builds before it. */
  busyPoll?(fd: number, usec: number, yieldCpu?: boolean): number;
}

let addon: ShmAddon | null | undefined;
let addonWhy = '';

/**
 * The addon, or undefined when it was not built (then {@link shmUnavailable}
 * says why). It sits in `build/Release` of the package: `../build` from
 * `src/` (tsx), `../../build` from `dist/src/`.
 */
export function shmAddon(): ShmAddon | undefined {
  if (addon !== undefined) return addon ?? undefined;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '../build/Release/rumpshm.node'), join(here, '../../build/Release/rumpshm.node')];
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    addon = null;
    addonWhy = 'the rumpshm addon is not built (node-gyp rebuild in packages/client)';
    return undefined;
  }
  try {
    addon = createRequire(import.meta.url)(path) as ShmAddon;
  } catch (err) {
    addon = null;
    addonWhy = `the rumpshm addon does not load: ${(err as Error).message}`;
  }
  return addon ?? undefined;
}

/** Why {@link shmAddon} is undefined ('' when it loaded). */
export function shmUnavailable(): string {
  shmAddon();
  return addonWhy;
}

/** The regions this process has mapped now (0 without the addon): tests check that teardown left none. */
export function shmMappings(): { count: number; bytes: number } {
  return shmAddon()?.mappings() ?? { count: 0, bytes: 0 };
}

/** What a client announces in its handshake (`shm` key). */
export interface ShmAnnounce {
  /** The memfd's descriptor number in the client. */
  readonly fd: number;
  /** The region's size in bytes, header included. */
  readonly size: number;
  /** 32 hex digits, also written at offset 0 of the region. */
  readonly token: string;
  /** A COPYIN ring of the same size follows the COPYOUT ring (absent: none). */
  readonly copyin?: true;
}

/**
 * The client's region: created at connect, announced in the handshake, its
 * descriptor closed once the server answered (the mapping stays), unmapped
 * when the connection ends. The consumer of the ring: {@link consume} copies
 * a COPYOUT's bytes out and frees them, in order.
 */
export class ShmClientRegion {
  /** The ring's bytes. */
  readonly ring: Uint8Array;
  /** Ring size (a power of two). */
  readonly ringBytes: number;
  readonly size: number;
  readonly token: string;
  private fd: number;
  private readonly buffer: ArrayBuffer;
  private readonly words: Uint32Array;
  private readonly mask: number;
  /** The consumer position, mirrored into the header. */
  private tail = 0;
  /** The COPYIN ring (this client produces, the server consumes), if offered. */
  private readonly inRing: Uint8Array | undefined;
  /** Producer position of the COPYIN ring (this client's own). */
  private inHead = 0;
  /** True once the server said it reads COPYIN replies from the ring. */
  copyinOn = false;

  private constructor(private readonly native: ShmAddon, ringBytes: number, seal: boolean, copyin: boolean) {
    this.ringBytes = ringBytes;
    this.size = SHM_HEADER + (copyin ? 2 : 1) * ringBytes;
    const r = native.createRegion(this.size, seal);
    this.fd = r.fd;
    this.buffer = r.buffer;
    const tok = randomBytes(SHM_TOKEN_BYTES);
    new Uint8Array(this.buffer, 0, SHM_TOKEN_BYTES).set(tok);
    this.token = tok.toString('hex');
    this.words = new Uint32Array(this.buffer, 0, SHM_HEADER / 4);
    this.ring = new Uint8Array(this.buffer, SHM_HEADER, ringBytes);
    this.inRing = copyin ? new Uint8Array(this.buffer, SHM_HEADER + ringBytes, ringBytes) : undefined;
    this.mask = ringBytes - 1;
  }

  /**
   * A new region with a ring of `ringBytes` (a power of two within
   * {@link SHM_MIN_RING}..{@link SHM_MAX_RING}), or a string saying why
   * there is none (no addon, a refused size, the kernel's error).
   * `seal: false` makes an unsealed one (tests: the server must refuse it);
   * `copyin: false` one without the COPYIN ring.
   */
  static create(ringBytes: number = SHM_DEFAULT_RING, seal = true, copyin = true): ShmClientRegion | string {
    const native = shmAddon();
    if (native === undefined) return shmUnavailable();
    if (!Number.isInteger(ringBytes) || ringBytes < SHM_MIN_RING || ringBytes > SHM_MAX_RING || (ringBytes & (ringBytes - 1)) !== 0) {
      return `ring of ${ringBytes} bytes: a power of two from ${SHM_MIN_RING} to ${SHM_MAX_RING} expected`;
    }
    try {
      return new ShmClientRegion(native, ringBytes, seal, copyin);
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** The handshake's `shm` announcement. */
  announce(): ShmAnnounce {
    return { fd: this.fd, size: this.size, token: this.token, ...(this.inRing !== undefined ? { copyin: true as const } : {}) };
  }

  /** Closes the descriptor (after the handshake: the server has its own mapping or none). */
  closeFd(): void {
    if (this.fd < 0) return;
    this.native.closeFd(this.fd);
    this.fd = -1;
  }

  /**
   * Applies one COPYOUT through the ring: the `n` bytes at position `s` go
   * to `dst` at `at` (no copy when `dst` is undefined — a COPYOUT the client
   * cannot apply still frees its space), and everything up to `s + n` is
   * freed. False (nothing copied, nothing freed) when `s`/`n` cannot be a
   * position the server handed out after the ones already freed.
   */
  consume(s: unknown, n: unknown, dst: Uint8Array | undefined, at: number): boolean {
    if (typeof s !== 'number' || typeof n !== 'number' || !Number.isInteger(s) || !Number.isInteger(n)) return false;
    if (s < 0 || s > 0xffffffff || n <= 0 || n > this.ringBytes) return false;
    const ahead = (s - this.tail) >>> 0;
    const off = s & this.mask;
    if (ahead + n > this.ringBytes || off + n > this.ringBytes) return false;
    if (dst !== undefined) dst.set(this.ring.subarray(off, off + n), at);
    this.tail = (s + n) >>> 0;
    // After the bytes are read: the server may reuse the space once it sees this.
    Atomics.store(this.words, SHM_TAIL_OFFSET / 4, this.tail);
    return true;
  }

  /**
   * Places a COPYIN reply's `n` bytes — `pieces`, consecutive — in the
   * COPYIN ring: their position (for the RESP's `s`), or -1 when the server
   * does not take replies through the ring or it has no room now (the reply
   * then carries the bytes on the socket). A FIFO as the COPYOUT ring: a
   * reply that would cross the end starts at 0. The server frees space by
   * its consumer position in the header, in the order the replies are sent.
   */
  produce(pieces: readonly Uint8Array[], n: number): number {
    const ring = this.inRing;
    if (ring === undefined || !this.copyinOn || n <= 0 || n > this.ringBytes) return -1;
    const tail = Atomics.load(this.words, SHM_IN_TAIL_OFFSET / 4);
    const used = (this.inHead - tail) >>> 0;
    let off = this.inHead & this.mask;
    const pad = off + n > this.ringBytes ? this.ringBytes - off : 0;
    if (used > this.ringBytes || used + pad + n > this.ringBytes) return -1;
    if (pad > 0) {
      this.inHead = (this.inHead + pad) >>> 0;
      off = 0;
    }
    const s = this.inHead;
    for (const p of pieces) {
      ring.set(p, off);
      off += p.length;
    }
    this.inHead = (this.inHead + n) >>> 0;
    return s;
  }

  /** Readies stream slot `slot` for a new streamed receive: nothing consumed, nobody waiting. */
  streamReset(slot: number): void {
    const i = (SHM_STREAM_OFFSET + slot * SHM_STREAM_SLOT_BYTES) / 4;
    Atomics.store(this.words, i, 0);
    Atomics.store(this.words, i + 1, 0);
  }

  /**
   * Stores how many bytes of the stream in `slot` the program has been
   * handed (`pos`, mod 2^32), then takes the server's "waiting" flag: true
   * when it was set, i.e. the server stopped for want of window and this
   * client must ring the doorbell. The store comes before the flag's read
   * (both sequentially consistent; the server sets the flag, then reads the
   * position), so either the server sees the new position or this sees
   * the flag: no lost wake-up.
   */
  streamConsumed(slot: number, pos: number): boolean {
    const i = (SHM_STREAM_OFFSET + slot * SHM_STREAM_SLOT_BYTES) / 4;
    Atomics.store(this.words, i, pos >>> 0);
    return Atomics.compareExchange(this.words, i + 1, 1, 0) === 1;
  }

  /** Whether the server has said (slot `slot`'s flag) that it waits for window. */
  streamWaiting(slot: number): boolean {
    return Atomics.load(this.words, (SHM_STREAM_OFFSET + slot * SHM_STREAM_SLOT_BYTES) / 4 + 1) === 1;
  }

  /** Unmaps the region and closes the descriptor (idempotent). */
  close(): void {
    this.closeFd();
    this.native.unmap(this.buffer);
  }
}

/**
 * The server's mapping of a client's region: reached through
 * `/proc/<pid>/fd/<fd>` of the peer (pid from the socket's credentials),
 * checked for type, seals and size by the addon, then for the token here.
 * Throws an Error whose message is the reason for the handshake reply.
 */
export function openPeerRegion(pid: number, ann: ShmAnnounce): ArrayBuffer {
  const native = shmAddon();
  if (native === undefined) throw new Error(shmUnavailable());
  const buf = native.openPeerRegion(pid, ann.fd, ann.size);
  const tok = Buffer.from(buf, 0, SHM_TOKEN_BYTES).toString('hex');
  if (tok !== ann.token) {
    native.unmap(buf);
    throw new Error('shm: the region does not hold the announced token');
  }
  return buf;
}

/** Unmaps a mapping made by {@link openPeerRegion} (idempotent). */
export function unmapRegion(buf: ArrayBuffer): void {
  shmAddon()?.unmap(buf);
}

/** The ring a connection offers: from the option, else `RUMPNET_SHM` (`0`/`off`: none, `<bytes>`: the ring); 0: none. */
export function shmRingOf(opt: boolean | number | undefined): number {
  if (opt === false) return 0;
  if (typeof opt === 'number') return opt;
  const env = process.env.RUMPNET_SHM;
  if (opt === undefined && env !== undefined && env !== '') {
    if (env === '0' || env === 'off') return 0;
    const n = Number(env);
    if (Number.isInteger(n) && n > 1) return n;
  }
  return SHM_DEFAULT_RING;
}

/**
 * Whether a connection's region carries a COPYIN ring: the option, else
 * `RUMPNET_SHM_COPYIN=1`; off by default (docs/BENCHMARKS.md: on the send
 * path the ring's cheaper replies cost the server more wake-ups than the
 * copies they save).
 */
export function shmCopyinOf(opt: boolean | undefined): boolean {
  if (opt !== undefined) return opt;
  const env = process.env.RUMPNET_SHM_COPYIN;
  return env === '1' || env === 'on';
}

/** What became of a connection's offer: the handshake's `params.shm`. */
export interface ShmOutcome {
  /** The server mapped the region: COPYOUT bytes come through it. */
  readonly ok: boolean;
  /** The ring's size, when ok. */
  readonly ring?: number;
  /** COPYIN replies go through a second ring too (the server takes them so). */
  readonly copyin?: boolean;
  /** Why not (the server's reason, or this client's). */
  readonly reason?: string;
  /** Stream slots the server offers for streamed receives (0 or absent: none). */
  readonly stream?: number;
}

/**
 * Settles an offer once the handshake reply `reply` (its `shm`) is in:
 * the descriptor is closed either way (the server has its own mapping or
 * none), the region kept only when the server took it, else unmapped.
 * `region` is the offered one, or why none was offered.
 */
export function settleShmOffer(region: ShmClientRegion | string, reply: unknown): { region: ShmClientRegion | undefined; outcome: ShmOutcome } {
  if (typeof region === 'string') return { region: undefined, outcome: { ok: false, reason: region } };
  region.closeFd();
  const got = typeof reply === 'object' && reply !== null ? (reply as { ok?: unknown; reason?: unknown; copyin?: unknown; stream?: unknown }) : undefined;
  if (got?.ok === true) {
    region.copyinOn = got.copyin === true && region.announce().copyin === true;
    const stream = Number.isInteger(got.stream) && (got.stream as number) > 0 ? Math.min(got.stream as number, SHM_STREAM_SLOTS) : 0;
    return { region, outcome: { ok: true, ring: region.ringBytes, copyin: region.copyinOn, ...(stream > 0 ? { stream } : {}) } };
  }
  region.close();
  return { region: undefined, outcome: { ok: false, reason: typeof got?.reason === 'string' ? got.reason.slice(0, 512) : 'the server did not answer the offer' } };
}
