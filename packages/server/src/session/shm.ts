/**
 * The server's end of the shared-memory data path (docs/PROTOCOL.md §7a):
 * the handshake's `shm` offer checked and mapped, the ring the COPYOUT bytes
 * are written into, and the server-wide ledger that bounds the memory all
 * sessions map.
 *
 * Trust: the region is the client's memory and the client may write any of
 * it at any time. The server therefore keeps the producer position to
 * itself, reads the consumer position once per allocation and refuses any
 * value it could not have produced (a consumer ahead of the producer) — a
 * fault that ends the shared path for that session (counted `shmFaults`),
 * never the server. A client that scribbles over ring bytes it has not
 * consumed yet only spoils its own receives. The mapping cannot shrink under
 * the server (the addon requires the SHRINK and GROW seals), so no access
 * can fault.
 *
 * @module
 */
import type { SessionCounters } from './counters.js';
import { openPeerRegion, unmapRegion, SHM_HEADER, SHM_IN_TAIL_OFFSET, SHM_MIN_RING, SHM_STREAM_OFFSET, SHM_STREAM_SLOTS, SHM_STREAM_SLOT_BYTES, SHM_TAIL_OFFSET, type ShmAnnounce } from '@rumpnet/client/shm';
import { Scatter } from '../proto/copy.js';

/** Whose region it is: the session's principal, and whether it is admin (exempt from per-user shares). */
export interface ShmOwner {
  readonly principal: string;
  readonly admin: boolean;
}

/** Where the sessions' regions are charged: the server's total, fixed at start, and each user's share. */
export interface ShmPolicy {
  /** Largest region (header included) one session may map; 0: the shared path is off (`--no-shm`). */
  readonly maxBytes: number;
  /** Charges `bytes` against the server's total (and `owner`'s share); why not when they do not fit, else undefined. */
  reserve(bytes: number, owner?: ShmOwner): string | undefined;
  /** Gives back what {@link ShmPolicy.reserve} charged. */
  release(bytes: number, owner?: ShmOwner): void;
  /** Maps the region (default: the client package's addon); tests may replace it. */
  open?(pid: number, ann: ShmAnnounce): ArrayBuffer;
  /** Hears each offer's outcome (mapped or refused), for the server's counters. */
  noted?(ok: boolean): void;
}

/** The per-user shares {@link ShmLedger} charges besides the total (quota.ts `UserLedger`). */
export interface ShmShares {
  chargeShm(principal: string, exempt: boolean, bytes: number): string | undefined;
  releaseShm(principal: string, exempt: boolean, bytes: number): void;
}

/**
 * The server-wide ledger of mapped region bytes (`--shm-total`): every
 * session's region is charged here while mapped, so many clients cannot map
 * more than the total between them — and to its user's share
 * (`--user-shm`), so that one user's many sessions cannot map all of it.
 * Also counts offers taken and refused.
 */
export class ShmLedger implements ShmPolicy {
  /** Bytes mapped now, and regions. */
  bytes = 0;
  regions = 0;
  /** Offers mapped, and offers refused (any reason), since start. */
  attached = 0;
  refused = 0;

  /**
   * @param maxBytes largest region of one session (0: off).
   * @param totalBytes most bytes all sessions may map at once.
   */
  constructor(
    readonly maxBytes: number,
    readonly totalBytes: number,
    /** The users' shares (absent: only the total). */
    private readonly shares?: ShmShares,
  ) {}

  /** Charges a region; why not over the total or over its owner's share. */
  reserve(bytes: number, owner?: ShmOwner): string | undefined {
    if (this.bytes + bytes > this.totalBytes) return "the server's shared-memory total (--shm-total) is spent";
    if (owner !== undefined && this.shares !== undefined) {
      const why = this.shares.chargeShm(owner.principal, owner.admin, bytes);
      if (why !== undefined) return why;
    }
    this.bytes += bytes;
    this.regions++;
    return undefined;
  }

  /** Counts an offer's outcome. */
  noted(ok: boolean): void {
    if (ok) this.attached++;
    else this.refused++;
  }

  /** Gives a region back. */
  release(bytes: number, owner?: ShmOwner): void {
    this.bytes -= bytes;
    this.regions--;
    if (owner !== undefined) this.shares?.releaseShm(owner.principal, owner.admin, bytes);
  }
}

/** A ring position handed out: `s` (mod 2^32) is what the COPYOUT request carries. */
export const SHM_FULL = -1;
/** {@link ShmRing.put}: the client's consumer position is impossible. */
export const SHM_FAULT = -2;

/**
 * The producer side of one session's ring. Space is handed out in order
 * and freed in order (the client applies COPYOUTs in stream order and
 * advances its consumer position past each), so the ring is a byte FIFO: a
 * copy that would wrap starts at 0 instead, the skipped tail counted as
 * used until the consumer passes it.
 */
export class ShmRing {
  private readonly data: Uint8Array;
  private readonly words: Uint32Array;
  private readonly mask: number;
  /** Producer position (mod 2^32): the server's own, never read from the region. */
  private head = 0;
  /** The consumer position last accepted. */
  private tail = 0;
  private mapped: ArrayBuffer | undefined;
  /** The COPYIN ring (the client produces, the server consumes), when the client offered one. */
  private readonly inData: Uint8Array | undefined;
  /** Consumer position of the COPYIN ring: the server's own, mirrored into the header. */
  private inTail = 0;

  constructor(
    buffer: ArrayBuffer,
    /** Ring size in bytes (a power of two). */
    readonly ringBytes: number,
    /** A COPYIN ring of the same size follows the COPYOUT ring. */
    readonly copyin = false,
  ) {
    this.mapped = buffer;
    this.data = new Uint8Array(buffer, SHM_HEADER, ringBytes);
    this.inData = copyin ? new Uint8Array(buffer, SHM_HEADER + ringBytes, ringBytes) : undefined;
    this.words = new Uint32Array(buffer, 0, SHM_HEADER / 4);
    this.mask = ringBytes - 1;
  }

  /** Region size, header included (what the ledger is charged). */
  get size(): number {
    return SHM_HEADER + (this.copyin ? 2 : 1) * this.ringBytes;
  }

  /**
   * Takes a COPYIN reply's `n` bytes at position `s` of the COPYIN ring:
   * scattered into `dsts` (undefined: only freed — a late reply), then freed
   * with everything before them. False when there is no COPYIN ring or the
   * position cannot be one the client placed after what was freed (the
   * client's bytes are read only inside the ring, whatever it claims).
   */
  take(s: unknown, n: unknown, dsts: readonly Uint8Array[] | undefined): boolean {
    const ring = this.inData;
    if (ring === undefined || this.mapped === undefined) return false;
    if (typeof s !== 'number' || typeof n !== 'number' || !Number.isInteger(s) || !Number.isInteger(n)) return false;
    if (s < 0 || s > 0xffffffff || n <= 0 || n > this.ringBytes) return false;
    const off = s & this.mask;
    if (((s - this.inTail) >>> 0) + n > this.ringBytes || off + n > this.ringBytes) return false;
    if (dsts !== undefined) new Scatter(dsts).write(ring.subarray(off, off + n));
    this.inTail = (s + n) >>> 0;
    Atomics.store(this.words, SHM_IN_TAIL_OFFSET / 4, this.inTail);
    return true;
  }

  /** Bytes handed out and not yet freed by the client (as last seen). */
  get used(): number {
    return (this.head - this.tail) >>> 0;
  }

  /**
   * Copies `srcs` (`n` bytes in all, n > 0) into free ring space: the
   * position to announce, {@link SHM_FULL} when there is no room (the caller
   * sends the bytes on the socket instead), or {@link SHM_FAULT} when the
   * client's consumer position is one the server never produced.
   */
  put(srcs: readonly Uint8Array[], n: number): number {
    if (this.mapped === undefined) return SHM_FULL;
    const tail = Atomics.load(this.words, SHM_TAIL_OFFSET / 4);
    // The consumer may only move forward, and never past the producer.
    if (((tail - this.tail) >>> 0) > ((this.head - this.tail) >>> 0)) return SHM_FAULT;
    this.tail = tail;
    const used = (this.head - tail) >>> 0;
    let off = this.head & this.mask;
    const pad = off + n > this.ringBytes ? this.ringBytes - off : 0;
    if (n > this.ringBytes || used + pad + n > this.ringBytes) return SHM_FULL;
    if (pad > 0) {
      this.head = (this.head + pad) >>> 0;
      off = 0;
    }
    const s = this.head;
    for (const src of srcs) {
      this.data.set(src, off);
      off += src.length;
    }
    this.head = (this.head + n) >>> 0;
    return s;
  }

  /** Stream slot `slot`'s consumed position (the client's word), or undefined once unmapped. */
  streamConsumed(slot: number): number | undefined {
    if (this.mapped === undefined) return undefined;
    return Atomics.load(this.words, (SHM_STREAM_OFFSET + slot * SHM_STREAM_SLOT_BYTES) / 4);
  }

  /** Sets (or clears) stream slot `slot`'s "waiting" flag; sequentially consistent, before the position is read again. */
  streamWaiting(slot: number, on: boolean): void {
    if (this.mapped === undefined) return;
    Atomics.exchange(this.words, (SHM_STREAM_OFFSET + slot * SHM_STREAM_SLOT_BYTES) / 4 + 1, on ? 1 : 0);
  }

  /** Unmaps the region (idempotent): every later {@link put} is full. */
  close(): void {
    const b = this.mapped;
    this.mapped = undefined;
    if (b !== undefined) unmapRegion(b);
  }
}

/** Whether `v` is 32 hex digits. */
function isToken(v: unknown): v is string {
  return typeof v === 'string' && /^[0-9a-f]{32}$/.test(v);
}

/**
 * The handshake's `shm` value: undefined when absent, the offer when well
 * formed, or a string saying what is wrong (the handshake is then refused,
 * as any malformed capability is). A key this server does not know is no
 * error here: it may change the region's layout, so {@link attachShm}
 * answers such an offer `ok: false` and the session runs on the socket.
 */
export function parseShmOffer(v: unknown): (ShmAnnounce & { unknown?: string }) | string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return `shm must be {fd, size, token}, got ${v === null ? 'null' : typeof v}`;
  const o = v as Record<string, unknown>;
  if (!Number.isInteger(o.fd) || (o.fd as number) < 0 || (o.fd as number) > 0x7fffffff) return 'shm.fd must be a descriptor number';
  if (!Number.isInteger(o.size) || (o.size as number) <= 0) return 'shm.size must be a positive integer';
  if (!isToken(o.token)) return 'shm.token must be 32 lowercase hex digits';
  if (o.copyin !== undefined && o.copyin !== true) return 'shm.copyin must be true or absent';
  const unknown = Object.keys(o).find((k) => k !== 'fd' && k !== 'size' && k !== 'token' && k !== 'copyin');
  return { fd: o.fd as number, size: o.size as number, token: o.token, ...(o.copyin === true ? { copyin: true as const } : {}), ...(unknown !== undefined ? { unknown } : {}) };
}

/**
 * Maps a well-formed offer for the session of peer `pid` (the socket's
 * credentials, not what the client claims), or says why not: the shared
 * path is off, the peer has no credentials, the size is not a header plus a
 * power-of-two ring within the server's cap, the server's total is spent,
 * or the addon refused the descriptor (not a memfd, no seals, wrong size,
 * wrong token, unreachable). The ledger is charged only for a ring returned.
 */
export function attachShm(policy: ShmPolicy | undefined, pid: number | undefined, offer: ShmAnnounce & { unknown?: string }, owner?: ShmOwner): ShmRing | string {
  if (policy === undefined || policy.maxBytes <= 0) return 'shared memory is off on this server';
  if (offer.unknown !== undefined) return `shm: this server does not know '${offer.unknown.slice(0, 32)}' in an offer`;
  if (pid === undefined || pid <= 0) return 'no peer credentials (not a Unix socket, or another pid namespace)';
  const ring = (offer.size - SHM_HEADER) / (offer.copyin ? 2 : 1);
  if (!Number.isInteger(ring) || ring < SHM_MIN_RING || (ring & (ring - 1)) !== 0) {
    return `region of ${offer.size} bytes: want ${SHM_HEADER} + ${offer.copyin ? 'two rings of ' : ''}a power of two ≥ ${SHM_MIN_RING}`;
  }
  if (offer.size > policy.maxBytes) return `region of ${offer.size} bytes exceeds the server's --shm-max ${policy.maxBytes}`;
  const why = policy.reserve(offer.size, owner);
  if (why !== undefined) return why;
  let buf: ArrayBuffer;
  try {
    buf = (policy.open ?? openPeerRegion)(pid, offer);
  } catch (err) {
    policy.release(offer.size, owner);
    return (err as Error).message;
  }
  return new ShmRing(buf, ring, offer.copyin === true);
}

/** The logger shape {@link SessionShm} needs (the session's). */
interface ShmLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * One session's shared path: the offer mapped or refused at the handshake,
 * each COPYOUT's copy into the ring counted, the region unmapped and its
 * charge given back when the session ends or the client breaks the rules.
 */
export class SessionShm {
  private ring: ShmRing | undefined;
  /** Stream slots held by running streamed receives. */
  private readonly slots = new Set<number>();

  constructor(
    private readonly policy: ShmPolicy | undefined,
    private readonly counters: SessionCounters,
    private readonly log: ShmLog,
    private readonly session: number,
    /** Whose regions these are (charged to its user's share); absent: the total only. */
    private readonly owner?: ShmOwner,
  ) {}

  /** True while the region is mapped. */
  get active(): boolean {
    return this.ring !== undefined;
  }

  /** Bytes of the region mapped now (0: none). */
  get bytes(): number {
    return this.ring?.size ?? 0;
  }

  /** Maps the offer of peer `pid` (see {@link attachShm}); the handshake reply's `shm`. */
  attach(pid: number | undefined, offer: ShmAnnounce & { unknown?: string }): { ok: true; copyin?: true; stream: number } | { ok: false; reason: string } {
    const r = attachShm(this.policy, pid, offer, this.owner);
    this.policy?.noted?.(typeof r !== 'string');
    if (typeof r !== 'string') {
      this.ring = r;
      // The client sends COPYIN replies through its ring once told so.
      // Streamed receives (§7a) need the region's stream slots: offered with it.
      return r.copyin ? { ok: true, copyin: true, stream: SHM_STREAM_SLOTS } : { ok: true, stream: SHM_STREAM_SLOTS };
    }
    this.log.info({ session: this.session, reason: r }, 'shm offer refused');
    return { ok: false, reason: r };
  }

  /**
   * One copy into the ring: its position, or {@link SHM_FULL} (not mapped;
   * or no room: counted `shmFallbacks`, the bytes go on the socket, in
   * order). A client whose consumer position is impossible loses the shared
   * path for the rest of the session (counted `shmFaults`).
   */
  put(srcs: readonly Uint8Array[], total: number): number {
    if (this.ring === undefined) return SHM_FULL;
    const s = this.ring.put(srcs, total);
    if (s >= 0) {
      this.counters.shmCopyouts++;
      this.counters.shmCopyoutBytes += total;
      return s;
    }
    if (s === SHM_FAULT) {
      this.counters.shmFaults++;
      this.log.warn({ session: this.session }, 'shm: the client moved its consumer position past what it was given; shared path off');
      this.detach();
    } else this.counters.shmFallbacks++;
    return SHM_FULL;
  }

  /**
   * A COPYIN reply through the COPYIN ring (see {@link ShmRing.take}),
   * counted `shmCopyins`/`shmCopyinBytes` when its bytes are used.
   */
  take(s: unknown, n: unknown, dsts: readonly Uint8Array[] | undefined): boolean {
    if (this.ring === undefined || !this.ring.take(s, n, dsts)) return false;
    if (dsts !== undefined) {
      this.counters.shmCopyins++;
      this.counters.shmCopyinBytes += n as number;
    }
    return true;
  }

  /**
   * Takes stream slot `slot` for a streamed receive: false when the region
   * is not mapped, the slot does not exist or another stream holds it.
   */
  claimStream(slot: number): boolean {
    if (this.ring === undefined || !Number.isInteger(slot) || slot < 0 || slot >= SHM_STREAM_SLOTS || this.slots.has(slot)) return false;
    this.slots.add(slot);
    return true;
  }

  /** Gives a slot back (the flag cleared while the region is mapped). */
  releaseStream(slot: number): void {
    if (!this.slots.delete(slot)) return;
    this.ring?.streamWaiting(slot, false);
  }

  /** Slot `slot`'s consumed position; undefined once the region is gone. */
  streamConsumed(slot: number): number | undefined {
    return this.ring?.streamConsumed(slot);
  }

  /** Sets or clears slot `slot`'s "waiting" flag. */
  streamWaiting(slot: number, on: boolean): void {
    this.ring?.streamWaiting(slot, on);
  }

  /** Ring bytes (0: none mapped). */
  get ringBytes(): number {
    return this.ring?.ringBytes ?? 0;
  }

  /** A stream's consumer position was impossible: counted as the ring's are (`shmFaults`). */
  streamFault(): void {
    this.counters.shmFaults++;
    this.log.warn({ session: this.session }, 'shm: a streamed receive\'s consumed position passed what was produced; stream ended EFAULT');
  }

  /** Unmaps the region and gives its charge back (idempotent). */
  detach(): void {
    const r = this.ring;
    this.ring = undefined;
    if (r === undefined) return;
    r.close();
    this.policy?.release(r.size, this.owner);
  }
}
