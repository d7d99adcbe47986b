/**
 * The rootless bus: a shared virtual Ethernet segment between processes on
 * one host, like the rump kernel's `shmif` bus file. The segment is a
 * directory; each member binds a Unix datagram socket in it named
 * `<id>@<mac>.sock` (e.g. `a1b2c3d4@02005e0000a1.sock`), so that every member
 * can see, from a directory listing alone, which station owns which MAC.
 *
 * A frame is sent to the member whose MAC is the destination, or to every
 * other member for broadcast and multicast. No root is needed, and nothing
 * leaves the host.
 */
import { lstatSync, mkdirSync, readdirSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Link, LinkReceiver, LinkStats } from '@rumpnet/stack';
import { call, E, native, TapError, type NativeFrameIo } from './native.js';
import { ETHER_HDR_LEN, formatMac, isGroupAddress, macEquals, randomMac, toMac } from './ether.js';

/** Options of {@link BusLink.open}. */
export interface BusLinkOptions {
  /** The bus directory (created if missing). Members of one segment share it. */
  dir: string;
  /** This member's id: 1..32 of `[A-Za-z0-9_-]` (default: 8 random hex digits). */
  id?: string;
  /** This member's MAC (default: random, locally administered). Must be unique on the bus. */
  mac?: string | Uint8Array;
  /** Interface name reported as `Link.name` (default `bus0`). */
  name?: string;
  /** MTU (default 1500; 68..65535). */
  mtu?: number;
  /** How old the cached member list may get before a send lists the directory again, in ms (default 1000). */
  refreshMs?: number;
  /** Frames kept per member while its receive queue is full, before counting drops (default 256). */
  perMemberQueue?: number;
}

/** A bus member as seen in the directory. */
export interface BusMember {
  /** The member's id (the file name before `@`). */
  id: string;
  /** Its MAC. */
  mac: Uint8Array;
  /** Path of its socket. */
  path: string;
}

/** {@link LinkStats} plus bus counters. */
export interface BusLinkStats extends LinkStats {
  /** Members currently in the cached list (not counting this one). */
  members: number;
  /** Stale socket files removed (their owner was gone: ECONNREFUSED). */
  staleRemoved: number;
  /** Received frames not addressed to this member (also counted in `rxDrops`). */
  rxFiltered: number;
  /** Frame copies waiting for a member whose queue was full. */
  txQueued: number;
}

const MEMBER_RE = /^([A-Za-z0-9_-]{1,32})@([0-9a-f]{12})\.sock$/;
/** How long a member may refuse frames (EAGAIN) before its queued copies are dropped. */
const STUCK_MS = 2000;

interface Pending {
  frames: Uint8Array[];
  since: number;
}

/**
 * A `Link` on a bus directory. Output copies go to the member(s) addressed;
 * input frames not addressed to this member's MAC (or to a group) are
 * filtered and counted. A member whose receive queue is full (EAGAIN — the
 * kernel allows `net.unix.max_dgram_qlen` datagrams, 10 by default) gets the
 * copy queued, in order, and retried every millisecond; past
 * {@link BusLinkOptions.perMemberQueue} copies, or after 2 s of refusal, they
 * are counted as `txDrops`, as an Ethernet would lose them.
 */
export class BusLink implements Link {
  /** Always Ethernet framing. */
  readonly kind = 'ethernet' as const;
  /** Interface name (`bus0` unless given). */
  readonly name: string;
  /** This member's MAC, unique on the bus. Treat as read-only. */
  readonly mac: Uint8Array;
  /** This member's id. */
  readonly id: string;
  /** The bus directory. */
  readonly dir: string;
  /** This member's socket path. */
  readonly path: string;
  #mtu: number;
  #up = true;
  #closed = false;
  #io: NativeFrameIo;
  #receiver: LinkReceiver | undefined;
  #members: BusMember[] = [];
  #listedAt = -Infinity;
  #dirty = true;
  #watcher: FSWatcher | undefined;
  readonly #refreshMs: number;
  readonly #perMemberQueue: number;
  #pending = new Map<string, Pending>();
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #s: BusLinkStats = {
    rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDrops: 0, txDrops: 0, errors: 0,
    members: 0, staleRemoved: 0, rxFiltered: 0, txQueued: 0,
  };

  private constructor(opts: BusLinkOptions, id: string, mac: Uint8Array, path: string, fd: number) {
    this.dir = opts.dir;
    this.id = id;
    this.mac = mac;
    this.path = path;
    this.name = opts.name ?? 'bus0';
    this.#mtu = opts.mtu ?? 1500;
    this.#refreshMs = opts.refreshMs ?? 1000;
    this.#perMemberQueue = opts.perMemberQueue ?? 256;
    this.#io = new (native().FrameIo)(
      fd,
      (count, errno) => {
        if (errno !== 0) this.#s.errors++;
        if (count > 0) this.#input(count);
      },
      () => {},
      256,
      65536 + 64,
    );
    this.#io.start();
    try {
      // inotify tells us at once when members join or leave; the periodic
      // re-list in #refresh is the fallback when watching is not possible.
      this.#watcher = watch(this.dir, { persistent: false }, () => (this.#dirty = true));
      this.#watcher.on('error', () => {
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      this.#watcher = undefined;
    }
  }

  /**
   * Joins the bus in `opts.dir`, binding `<id>@<mac>.sock` there.
   * @throws TapError `EADDRINUSE` when a live member has the same id and MAC,
   *   `ENAMETOOLONG` when the socket path exceeds 107 bytes; RangeError for a
   *   bad id, MAC or MTU.
   */
  static open(opts: BusLinkOptions): BusLink {
    const id = opts.id ?? randomBytes(4).toString('hex');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new RangeError(`bad bus member id '${id}' (1..32 of A-Z a-z 0-9 _ -)`);
    const mac = opts.mac !== undefined ? toMac(opts.mac) : randomMac();
    if (isGroupAddress(mac)) throw new RangeError(`bus member MAC ${formatMac(mac)} is a group address`);
    checkMtu(opts.mtu ?? 1500);
    mkdirSync(opts.dir, { recursive: true });
    const path = join(opts.dir, `${id}@${Buffer.from(mac).toString('hex')}.sock`);
    const N = native();
    let fd: number;
    try {
      fd = call(() => N.openUnixDgram(path, 1 << 20));
    } catch (e) {
      // A file left by a member that died: bind says EADDRINUSE, but nobody
      // is bound to it (connect says ECONNREFUSED). Only then is it safe to
      // remove it and try again.
      if (!(e instanceof TapError) || e.code !== 'EADDRINUSE') throw e;
      if (N.probeUnixDgram(path) !== -E.ECONNREFUSED) {
        throw new TapError(`bus member ${id} (${formatMac(mac)}) is already on ${opts.dir}`, 'EADDRINUSE', -98, 'bind');
      }
      unlinkSync(path);
      fd = call(() => N.openUnixDgram(path, 1 << 20));
    }
    return new BusLink(opts, id, mac, path, fd);
  }

  /** Largest IP packet carried. */
  get mtu(): number {
    return this.#mtu;
  }
  /** Administrative state; a down link drops and counts frames both ways. */
  get up(): boolean {
    return this.#up && !this.#closed;
  }

  /** The other members, as of a fresh directory listing. */
  members(): readonly BusMember[] {
    this.#refresh(true);
    return this.#members;
  }

  /**
   * Sends a frame to its addressee(s); ownership passes to the link (queued
   * copies keep a reference). Returns false, counting `txDrops`, when down,
   * closed, runt or over MTU + 14 (+4 for a VLAN tag). A frame for a MAC no
   * member has is sent nowhere, as on a real segment, and still counts as
   * transmitted.
   */
  output(frame: Uint8Array): boolean {
    if (!this.up || frame.length < ETHER_HDR_LEN || frame.length > this.#mtu + ETHER_HDR_LEN + 4) {
      this.#s.txDrops++;
      return false;
    }
    this.#refresh(false);
    const group = isGroupAddress(frame, 0);
    let found = false;
    for (const m of this.#members) {
      if (group || macEquals(frame, 0, m.mac)) {
        found = true;
        this.#sendTo(m, frame);
      }
    }
    // A unicast nobody owns may be for a member that joined since the last
    // listing and before inotify told us: list again once, then give up.
    if (!found && !group && this.#dirty) {
      this.#refresh(true);
      for (const m of this.#members) if (macEquals(frame, 0, m.mac)) this.#sendTo(m, frame);
    }
    this.#s.txFrames++;
    this.#s.txBytes += frame.length;
    return true;
  }

  /** Attaches the receiver of inbound batches (replacing any previous one). */
  attach(receiver: LinkReceiver): void {
    this.#receiver = receiver;
  }

  /** Sets the administrative state. Going down drops queued copies (counted). */
  setUp(up: boolean): void {
    this.#up = up;
    if (!up) this.#dropPending();
  }

  /** Sets the MTU. @throws RangeError outside 68..65535. */
  setMtu(mtu: number): void {
    checkMtu(mtu);
    this.#mtu = mtu;
  }

  /** A snapshot of the counters. */
  stats(): BusLinkStats {
    let queued = 0;
    for (const p of this.#pending.values()) queued += p.frames.length;
    return { ...this.#s, members: this.#members.length, txQueued: queued };
  }

  /** Leaves the bus: closes the socket and removes its file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropPending();
    this.#watcher?.close();
    this.#io.close();
    try {
      unlinkSync(this.path);
    } catch {
      // already removed (e.g. the directory was deleted): nothing to do
    }
  }

  /** Whether the poller keeps the process alive (default true, like a socket). */
  ref(): void {
    this.#io.ref();
  }
  /** Lets the process exit while this member is open. */
  unref(): void {
    this.#io.unref();
  }

  #refresh(force: boolean): void {
    const now = performance.now();
    if (!force && !this.#dirty && now - this.#listedAt < this.#refreshMs) return;
    this.#dirty = false;
    this.#listedAt = now;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      names = []; // the directory is gone: the segment is empty
    }
    const members: BusMember[] = [];
    for (const n of names) {
      const m = MEMBER_RE.exec(n);
      if (m === null) continue;
      const path = join(this.dir, n);
      if (path === this.path) continue;
      members.push({ id: m[1]!, mac: Uint8Array.from(Buffer.from(m[2]!, 'hex')), path });
    }
    this.#members = members;
  }

  #sendTo(m: BusMember, frame: Uint8Array): void {
    const p = this.#pending.get(m.path);
    if (p !== undefined) {
      // Keep order per member: behind what already waits.
      if (p.frames.length >= this.#perMemberQueue) this.#s.txDrops++;
      else p.frames.push(frame);
      return;
    }
    const r = this.#io.sendto(m.path, frame);
    if (r === 0) return;
    this.#sendFailed(m.path, frame, r, undefined);
  }

  #sendFailed(path: string, frame: Uint8Array, r: number, p: Pending | undefined): void {
    if (r === -E.EAGAIN || r === -E.ENOBUFS) {
      if (p === undefined) {
        this.#pending.set(path, { frames: [frame], since: performance.now() });
        this.#armRetry();
      }
      return;
    }
    if (p !== undefined) this.#s.txDrops += p.frames.length;
    this.#pending.delete(path);
    if (r === -E.ECONNREFUSED) {
      // A socket file nobody is bound to: its member died without closing.
      // This is the one case where removing it is safe.
      // (connect also says ECONNREFUSED for a file that is no socket at
      // all: such a file is not ours to remove.)
      try {
        if (lstatSync(path).isSocket()) {
          unlinkSync(path);
          this.#s.staleRemoved++;
        }
      } catch {
        // someone else removed it first
      }
      this.#forget(path);
    } else if (r === -E.ENOENT) {
      this.#forget(path); // the member left between listing and send
    } else {
      this.#s.errors++;
    }
  }

  #forget(path: string): void {
    this.#members = this.#members.filter((m) => m.path !== path);
    this.#dirty = true;
  }

  #armRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retry();
    }, 1);
  }

  // Flush each member's queue in order until it refuses again.
  #retry(): void {
    const now = performance.now();
    for (const [path, p] of this.#pending) {
      let i = 0;
      let r = 0;
      for (; i < p.frames.length; i++) {
        r = this.#io.sendto(path, p.frames[i]!);
        if (r !== 0) break;
      }
      p.frames.splice(0, i);
      if (i > 0) p.since = now;
      if (p.frames.length === 0) this.#pending.delete(path);
      else if (r !== -E.EAGAIN && r !== -E.ENOBUFS) this.#sendFailed(path, p.frames[0]!, r, p);
      else if (now - p.since > STUCK_MS) {
        this.#s.txDrops += p.frames.length; // the member stopped reading
        this.#pending.delete(path);
      }
    }
    if (this.#pending.size > 0) this.#armRetry();
  }

  #dropPending(): void {
    for (const p of this.#pending.values()) this.#s.txDrops += p.frames.length;
    this.#pending.clear();
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  #input(count: number): void {
    const rx = this.#receiver;
    if (rx === undefined || !this.up) {
      this.#s.rxDrops += count;
      return;
    }
    const buffer = this.#io.buffer;
    const meta = this.#io.meta;
    const frames: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const off = meta[2 * i]!;
      const len = meta[2 * i + 1]!;
      if (len < ETHER_HDR_LEN || len > this.#mtu + ETHER_HDR_LEN + 4) {
        this.#s.rxDrops++; // runt or oversized for our MTU
        continue;
      }
      const f = new Uint8Array(buffer, off, len);
      // Like a NIC out of promiscuous mode: only our MAC and group addresses.
      if (!isGroupAddress(f, 0) && !macEquals(f, 0, this.mac)) {
        this.#s.rxFiltered++;
        this.#s.rxDrops++;
        continue;
      }
      frames.push(f);
      this.#s.rxFrames++;
      this.#s.rxBytes += len;
    }
    if (frames.length > 0) rx(frames);
  }
}

function checkMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`bad MTU ${mtu} for a bus link (68..65535)`);
}
