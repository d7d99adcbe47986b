/**
 * The Linux tap driver: {@link TapDevice}, the raw fd-level API (what the
 * benchmark measures), and {@link TapLink}, the stack's `Link` over it — the
 * rump kernel's `virtif`.
 *
 * Frames never go through the libuv thread pool: the addon polls the
 * non-blocking fd from the event loop and hands over every ready frame of a
 * wake-up as one batch; writes are direct `write(2)` calls.
 *
 * Offloads (on by default where the kernel accepts them, see
 * {@link TapOffloadMode}): the tap carries a `virtio_net_hdr` per frame, as
 * for a virtio NIC; the stack may then write TCP super-packets of up to 64
 * KiB that the kernel takes as one (TSO: one system call instead of ~45),
 * and reads Linux's own super-packets and partial checksums (LRO/GRO-like).
 * {@link TapLink.offloadState} says what the probe found.
 */
import { hopTrace, type Link, type LinkReceiver, type LinkStats, type TxOffload } from '@rumpnet/stack';
import { RX_GSO, VNET_F_NEEDS_CSUM, VnetGso, rxFlagsOf } from './vnet.js';
import { call, E, native, type NativeFrameIo, type NativeTap } from './native.js';
import { ETHER_HDR_LEN, randomMac, toMac } from './ether.js';
import { describeOffloads, openProbed, type TapOffloadMode, type TapOffloadState } from './offload.js';

/** `IFF_UP` in the flags {@link TapDevice.flags} returns. */
export const IFF_UP = 0x1;
/** `IFF_RUNNING` (carrier on: a reader is attached). */
export const IFF_RUNNING = 0x40;

/** Largest MTU a Linux tap accepts (`ETH_MAX_MTU`), and the smallest (`ETH_MIN_MTU`, RFC 791's 68). */
export const TAP_MAX_MTU = 65535;
/** Smallest MTU a Linux tap accepts. */
export const TAP_MIN_MTU = 68;

/** Options of {@link TapDevice.open}. */
export interface TapDeviceOptions {
  /** Interface name; `''` or absent lets the kernel pick `tapN`. An existing persistent tap is attached to. */
  name?: string;
  /**
   * Prepend a `virtio_net_hdr` to every frame (`IFF_VNET_HDR`), both ways:
   * the raw device's reads and writes include it. Default false.
   */
  vnetHdr?: boolean;
  /**
   * The `TUN_F_*` bits (`TunOffload`) for `TUNSETOFFLOAD`: with
   * `vnetHdr`, what the reader takes (a refusal throws); without, only 0 is
   * meaningful — it clears features an earlier reader left on a persistent
   * tap (best effort). Default: no `TUNSETOFFLOAD`.
   */
  offload?: number;
  /** Open one queue of a multi-queue tap (`IFF_MULTI_QUEUE`). Default false. */
  multiQueue?: false;
  /**
   * Open the tap inside this network namespace (a name under `/run/netns`, or
   * a path such as `/proc/PID/ns/net`) without moving the process: the calling
   * thread enters it for the open only. Needs CAP_SYS_ADMIN. The tap and its
   * control socket stay in that namespace.
   */
  netns?: string;
  /** Frames read per wake-up at most (default 256). */
  maxBatch?: number;
}

/**
 * Called with every frame read in one wake-up: frame `i` is
 * `new Uint8Array(buffer, meta[2*i], meta[2*i+1])`. The buffer is the
 * device's pooled read buffer: the bytes are valid only during the call.
 */
export type RawFrameHandler = (buffer: ArrayBuffer, meta: Int32Array, count: number) => void;

/**
 * An open tap device: the fd, its name, and the ioctls that configure the
 * Linux side of it. This is the raw level: no counters, no queue; the
 * {@link TapLink} adds them.
 */
export class TapDevice {
  /** The interface name the kernel gave (e.g. `tap0`). */
  readonly name: string;
  /** `virtio_net_hdr` size in front of each frame, 0 without `vnetHdr`. */
  readonly vnetHdrSize: number;
  /** The addon's poller; owns the fd. */
  readonly io: NativeFrameIo;
  #ctlFd: number;
  #onFrames: RawFrameHandler | undefined;
  #onError: ((errno: number) => void) | undefined;
  #onWritable: (() => void) | undefined;

  private constructor(t: NativeTap, maxBatch: number) {
    this.name = t.name;
    this.vnetHdrSize = t.vnetHdrSize;
    this.#ctlFd = t.ctlFd;
    const N = native();
    this.io = new N.FrameIo(
      t.fd,
      (count, errno) => {
        if (errno !== 0) this.#onError?.(errno);
        hopTrace?.mark('tap.read');
        if (count > 0) this.#onFrames?.(this.io.buffer, this.io.meta, count);
      },
      () => this.#onWritable?.(),
      maxBatch,
      // Largest frame: MTU 65535 + Ethernet header + VLAN tag + vnet header.
      TAP_MAX_MTU + ETHER_HDR_LEN + 4 + 12 + 8,
    );
  }

  /**
   * Opens `/dev/net/tun` and creates or attaches the tap `name`.
   * @throws TapError `ENOENT` (no `/dev/net/tun`), `EPERM`/`EACCES` (needs
   *   CAP_NET_ADMIN), `EBUSY` (name busy), `EINVAL` (a device of another
   *   kind has the name).
   */
  static open(opts: TapDeviceOptions = {}): TapDevice {
    const N = native();
    let netns = opts.netns;
    if (netns !== undefined && !netns.includes('/')) netns = `/run/netns/${netns}`;
    const t = call(() => N.openTap({ name: opts.name ?? '', vnetHdr: opts.vnetHdr ?? false, multiQueue: false, netns, offload: opts.offload }));
    try {
      return new TapDevice(t, opts.maxBatch ?? 256);
    } catch (e) {
      N.closeFd(t.fd);
      N.closeFd(t.ctlFd);
      throw e;
    }
  }

  /** Whether {@link close} has run. */
  get closed(): boolean {
    return this.#ctlFd < 0;
  }

  /** The Linux interface's MTU. @throws TapError */
  getMtu(): number {
    return call(() => native().getMtu(this.#ctl(), this.name));
  }
  /** Sets the Linux interface's MTU (68..65535). @throws TapError `EINVAL` "bad MTU". */
  setMtu(mtu: number): void {
    call(() => native().setMtu(this.#ctl(), this.name, mtu));
  }
  /** The Linux interface's own MAC. @throws TapError */
  getMac(): Uint8Array {
    return call(() => native().getMac(this.#ctl(), this.name));
  }
  /** Sets the Linux interface's own MAC (unicast). @throws TapError, RangeError for a malformed MAC. */
  setMac(mac: string | Uint8Array): void {
    const m = toMac(mac);
    call(() => native().setMac(this.#ctl(), this.name, m));
  }
  /** The Linux interface flags (`IFF_UP`, `IFF_RUNNING`, ...). @throws TapError */
  flags(): number {
    return call(() => native().getFlags(this.#ctl(), this.name));
  }
  /**
   * Whether the Linux side is operational (`IFF_RUNNING`). After a tap is
   * attached, the kernel turns the carrier on through its link-watch work,
   * which may lag by up to a second; until then Linux drops what it would
   * send on the tap. Poll this before a test's first exchange.
   * @throws TapError
   */
  get running(): boolean {
    return (this.flags() & IFF_RUNNING) !== 0;
  }
  /** Sets or clears `IFF_UP` on the Linux interface. @throws TapError */
  setUp(up: boolean): void {
    call(() => native().setUp(this.#ctl(), this.name, up));
  }

  /** Installs the batch handler and starts reading. Replaces any previous handler. */
  onFrames(handler: RawFrameHandler, onError?: (errno: number) => void): void {
    this.#onFrames = handler;
    this.#onError = onError;
    this.io.start();
  }
  /** Stops reading: frames wait in the kernel's queue (500 by default, then the kernel drops). */
  pause(): void {
    this.io.pause();
  }
  /** Resumes reading after {@link pause}. */
  resume(): void {
    this.io.start();
  }
  /** Calls `fn` once the fd is writable again, while `fn` is set (for an EAGAIN queue). */
  onWritable(fn: (() => void) | undefined): void {
    this.#onWritable = fn;
    this.io.wantWritable(fn !== undefined);
  }
  /** Writes one frame: returns bytes written or a negative errno (`-EAGAIN`, `-EIO` when the interface is down). */
  write(frame: Uint8Array): number {
    return this.io.write(frame);
  }
  /**
   * Writes `frames[start..]` in one addon call; returns how many were written
   * before the first failure, whose errno is then in `io.lastErrno`.
   */
  writeBatch(frames: readonly Uint8Array[], start = 0): number {
    return this.io.writeBatch(frames, start);
  }

  /** Closes the fd and the control socket. A non-persistent tap disappears. Idempotent. */
  close(): void {
    if (this.#ctlFd < 0) return;
    this.io.close();
    native().closeFd(this.#ctlFd);
    this.#ctlFd = -1;
  }

  #ctl(): number {
    if (this.#ctlFd < 0) throw new TypeError(`tap ${this.name} is closed`);
    return this.#ctlFd;
  }
}

/** What {@link TapLink.outputGso} needs to know about a frame: the stack's `TxOffload`. */
export type TxMeta = TxOffload;

/** Options of {@link TapLink.open}. */
export interface TapLinkOptions extends Omit<TapDeviceOptions, 'vnetHdr' | 'offload'> {
  /** Interface name (created or attached). Required: the harness creates taps by name. */
  name: string;
  /** MTU to set on both sides (default: keep the interface's current MTU). */
  mtu?: number;
  /** The stack's own MAC, used as the source of its frames (default: random, locally administered). */
  mac?: string | Uint8Array;
  /** MAC to give the Linux side of the tap (default: leave the kernel's). */
  linuxMac?: string | Uint8Array;
  /** Bring the Linux interface up (default true) — the link's administrative state follows. */
  up?: boolean;
  /** Frames kept while the fd refuses writes (EAGAIN) before counting drops (default 512). */
  txQueueLimit?: number;
  /**
   * Checksum and segmentation offloads: open with `IFF_VNET_HDR` and
   * `TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4)`; the link then offers `tso4`,
   * `rxCsum` and `lro` (see `Link.offloads`). `'auto'` (default) falls back
   * to a plain tap when the kernel refuses, `'require'` (or `true`) throws
   * the refusal, `'off'` (or `false`) never asks. See {@link TapOffloadMode}.
   */
  offload?: boolean | TapOffloadMode;
  /**
   * The `TUN_F_*` bits the probe asks for (default `CSUM | TSO4`). For
   * tests of the fallback: the kernel refuses bits it does not know and
   * TSO without CSUM (`EINVAL`), which is a real refusal to fall back from.
   */
  tunOffload?: number;
}

/** Largest frame {@link TapLink.outputGso} writes: a 64 KiB skb, as Linux's `GSO_LEGACY_MAX_SIZE`. */
export const TAP_MAX_GSO_BYTES = 65536;

/** {@link LinkStats} plus driver-specific counters. */
export interface TapLinkStats extends LinkStats {
  /** Frames currently waiting for the fd to become writable. */
  txQueued: number;
  /** Readable wake-ups; `rxFrames / rxWakeups` is the mean batch size. */
  rxWakeups: number;
  /** With offloads: TCP super-packets written for the kernel to segment, and super-packets read (larger than the MTU or not). */
  txGso: number;
  rxGso: number;
  /** Busy polls (see {@link TapLink.busyPollUs}): turns that spun for an answer, those that got one, and µs spun in all. */
  busyPolls: number;
  busyPollHits: number;
  busyPollUs: number;
}

/**
 * The stack's `Link` over a Linux tap device (NetBSD's `virtif`).
 *
 * `mac` is the stack's own address; the Linux side of the tap has its own
 * (see {@link TapLink.device}). Received frames are lent to the receiver for
 * the duration of the call (they are views into the pooled read buffer).
 * Output is a direct write; when the kernel refuses with EAGAIN, frames wait
 * in a bounded queue drained when the fd is writable, and beyond it are
 * counted in `txDrops`.
 */
export class TapLink implements Link {
  /** Always Ethernet framing. */
  readonly kind = 'ethernet' as const;
  /** The stack's own MAC (not the Linux side's). Treat as read-only. */
  readonly mac: Uint8Array;
  /** The raw device, for the ioctls and the benchmark. */
  readonly device: TapDevice;
  /** The offloads on (absent when off: asked so, or refused by the kernel). */
  readonly offloads: { readonly tso4: boolean; readonly rxCsum: boolean; readonly lro: boolean; readonly maxGsoBytes: number } | undefined;
  /** What the offload probe found: on with BSD `options=` names, or off and why. */
  readonly offloadState: TapOffloadState;
  #vnet: number;
  #rxFlags: Uint8Array;
  #txGso = 0;
  #rxGso = 0;
  #busyPollUs = 0;
  #busyPollQueued = false;
  #busyPolls = 0;
  #busyPollHits = 0;
  #busyPollNs = 0;
  #queueMeta: (TxMeta | undefined)[] = [];
  #mtu: number;
  #up: boolean;
  #closed = false;
  #receiver: LinkReceiver | undefined;
  #queue: Uint8Array[] = [];
  /** The array each received batch is lent to the receiver in. */
  readonly #rxBatch: Uint8Array[] = [];
  #queueHead = 0;
  readonly #queueLimit: number;
  readonly #s: LinkStats = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDrops: 0, txDrops: 0, errors: 0 };

  private constructor(device: TapDevice, state: TapOffloadState, mac: Uint8Array, mtu: number, up: boolean, queueLimit: number) {
    this.device = device;
    this.offloadState = state;
    this.#vnet = device.vnetHdrSize;
    this.#rxFlags = new Uint8Array(this.#vnet > 0 ? device.io.maxBatch : 0);
    if (this.#vnet > 0 && state.on) {
      device.io.setVnetHdr(this.#vnet); // plain writes get a zero header in front
      const o = state.options;
      this.offloads = { tso4: o.includes('TSO4'), rxCsum: o.includes('RXCSUM'), lro: o.includes('LRO'), maxGsoBytes: TAP_MAX_GSO_BYTES };
    }
    this.mac = mac;
    this.#mtu = mtu;
    this.#up = up;
    this.#queueLimit = queueLimit;
    device.onFrames(
      (buffer, meta, count) => this.#input(buffer, meta, count),
      () => this.#s.errors++,
    );
  }

  /**
   * Opens (creates or attaches) the tap `opts.name` and configures it,
   * probing for offloads as `opts.offload` says (default `'auto'`).
   * @throws TapError for the device errors of {@link TapDevice.open}, for a
   *   bad MTU (`EINVAL`, "bad MTU"), and with `offload: 'require'` for the
   *   kernel's refusal of the offloads; RangeError for a malformed MAC or
   *   offload mode. The device is closed again when configuration fails.
   */
  static open(opts: TapLinkOptions): TapLink {
    if ((opts as TapDeviceOptions).vnetHdr === true) {
      // The link decides the header's use itself: offload on or off.
      throw new RangeError('TapLink takes no raw IFF_VNET_HDR option: use { offload: true } (or TapDevice for raw frames)');
    }
    const mac = opts.mac !== undefined ? toMac(opts.mac) : randomMac();
    const linuxMac = opts.linuxMac !== undefined ? toMac(opts.linuxMac) : undefined;
    const mode = offloadMode(opts.offload);
    const { device: dev, state } = openProbed({ name: opts.name, netns: opts.netns, maxBatch: opts.maxBatch }, mode, opts.tunOffload);
    try {
      if (opts.mtu !== undefined) dev.setMtu(opts.mtu);
      if (linuxMac !== undefined) dev.setMac(linuxMac);
      const up = opts.up ?? true;
      dev.setUp(up);
      return new TapLink(dev, state, mac, dev.getMtu(), up, opts.txQueueLimit ?? 512);
    } catch (e) {
      dev.close();
      throw e;
    }
  }

  /** The interface name. */
  get name(): string {
    return this.device.name;
  }
  /** Why the link runs without offloads (the `Link` field `rumpctl ifconfig` shows); undefined when they are on. */
  get offloadsOff(): string | undefined {
    return this.offloadState.on ? undefined : this.offloadState.reason;
  }
  /** The probe's outcome in one line: `options=TXCSUM,TSO4,RXCSUM,LRO` or `offloads off: <reason>`. */
  describeOffloads(): string {
    return describeOffloads(this.offloadState);
  }
  /** Largest IP packet carried (the Linux interface's MTU, kept in step by {@link setMtu}). */
  get mtu(): number {
    return this.#mtu;
  }
  /** Administrative state; a down link drops and counts frames both ways. */
  get up(): boolean {
    return this.#up && !this.#closed;
  }

  /**
   * Sends one frame; ownership passes to the link (it may sit in the EAGAIN
   * queue). Returns false, counting `txDrops`, when the link is down or
   * closed, the frame is runt or larger than MTU + 14 (+4 for a VLAN tag), or
   * the queue is full; counts `errors` for an OS error (e.g. EIO).
   */
  output(frame: Uint8Array): boolean {
    if (!this.up || frame.length < ETHER_HDR_LEN || frame.length > this.#mtu + ETHER_HDR_LEN + 4) {
      this.#s.txDrops++;
      return false;
    }
    // Keep order: once something is queued, later frames queue behind it.
    if (this.#queueHead < this.#queue.length) return this.#enqueue(frame, undefined);
    hopTrace?.mark('tap.write');
    // With offloads the addon puts a zero virtio_net_hdr in front (writev, no copy).
    return this.#written(frame, undefined, this.device.write(frame));
  }

  /**
   * Sends one frame that the kernel must finish as `meta` says (present
   * only with offloads): a partial TCP checksum to complete at
   * `csumStart + csumOffset` and, when `gsoSize > 0`, a TCP/IPv4
   * super-packet (up to {@link TAP_MAX_GSO_BYTES}) to cut into `gsoSize`
   * payload segments. Ownership passes as for {@link output}; false (and
   * `txDrops`) when the link is down, offloads are off, or the frame is
   * runt or too large; `errors` when the kernel refuses the header (EINVAL).
   */
  outputGso(frame: Uint8Array, meta: TxMeta): boolean {
    if (!this.up || this.#vnet === 0 || frame.length < ETHER_HDR_LEN || frame.length > TAP_MAX_GSO_BYTES) {
      this.#s.txDrops++;
      return false;
    }
    if (meta.gsoSize === 0 && frame.length > this.#mtu + ETHER_HDR_LEN + 4) {
      this.#s.txDrops++;
      return false;
    }
    if (this.#queueHead < this.#queue.length) return this.#enqueue(frame, meta);
    hopTrace?.mark('tap.write');
    return this.#written(frame, meta, this.#writeMeta(frame, meta));
  }

  #writeMeta(frame: Uint8Array, m: TxMeta): number {
    const gso = m.gsoSize > 0 ? VnetGso.TCPV4 : VnetGso.NONE;
    return this.device.io.writeGso(frame, VNET_F_NEEDS_CSUM, gso, m.hdrLen, m.gsoSize, m.csumStart, m.csumOffset);
  }

  /**
   * Busy poll (Linux's `SO_BUSY_POLL`, `net.core.busy_poll`, for a tap): after
   * a turn of the event loop that wrote to the tap, spin up to this many µs
   * (0: off, the default; at most 1000) reading the tap for an answer before
   * the turn ends, instead of sleeping in epoll and being woken for it. The
   * answer is then taken in the same turn, and what it causes (a receive's
   * reply) leaves with what the turn already had to send (the send's reply):
   * one wake-up of each peer instead of two. It costs the CPU it spins; the
   * counters (`busyPolls`, `busyPollHits`, `busyPollUs`) say how much.
   */
  get busyPollUs(): number {
    return this.#busyPollUs;
  }

  set busyPollUs(us: number) {
    if (!Number.isFinite(us) || us < 0 || us > 1000) throw new RangeError(`busy poll of ${us} µs: give 0..1000`);
    if (us > 0 && typeof (this.device.io as Partial<NativeFrameIo>).busyPoll !== 'function') {
      throw new Error('busy poll: this build of the tap-bridge addon has no busyPoll; rebuild it (npm ci, or npm rebuild @rumpnet/tap-bridge)');
    }
    this.#busyPollUs = us;
  }

  /** Runs from a `setImmediate` after a turn that wrote: before the turn's other end-of-turn work queued later (the replies' cork). */
  readonly #busyPoll = (): void => {
    this.#busyPollQueued = false;
    if (this.#closed || this.#busyPollUs === 0) return;
    const t0 = process.hrtime.bigint();
    const n = this.device.io.busyPoll(this.#busyPollUs);
    this.#busyPolls++;
    this.#busyPollNs += Number(process.hrtime.bigint() - t0);
    if (n > 0) {
      this.#busyPollHits++;
      hopTrace?.mark('tap.read');
      this.#input(this.device.io.buffer, this.device.io.meta, n);
    } else if (n < 0) this.#s.errors++;
  };

  // The outcome of one write: counted, queued behind EAGAIN, or an error.
  #written(frame: Uint8Array, meta: TxMeta | undefined, n: number): boolean {
    hopTrace?.mark('tap.write.end');
    if (n >= 0 && this.#busyPollUs > 0 && !this.#busyPollQueued) {
      this.#busyPollQueued = true;
      setImmediate(this.#busyPoll);
    }
    if (n >= 0) {
      this.#s.txFrames++;
      this.#s.txBytes += frame.length;
      if (meta !== undefined && meta.gsoSize > 0) this.#txGso++;
      return true;
    }
    if (n === -E.EAGAIN || n === -E.ENOBUFS) return this.#enqueue(frame, meta);
    this.#s.errors++;
    return false;
  }

  /** Attaches the receiver of inbound batches (replacing any previous one). */
  attach(receiver: LinkReceiver): void {
    this.#receiver = receiver;
  }

  /**
   * Sets the administrative state and the Linux interface's `IFF_UP`.
   * @throws TapError when the ioctl fails (the state is then unchanged).
   */
  setUp(up: boolean): void {
    if (this.#closed) return;
    this.device.setUp(up);
    this.#up = up;
    if (!up) this.#dropQueue();
  }

  /**
   * Sets the MTU on the Linux interface and the link.
   * @throws RangeError outside 68..65535 (the tap's limits); TapError when the ioctl fails.
   */
  setMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < TAP_MIN_MTU || mtu > TAP_MAX_MTU) {
      throw new RangeError(`bad MTU ${mtu} for ${this.name} (a tap takes ${TAP_MIN_MTU}..${TAP_MAX_MTU})`);
    }
    if (!this.#closed) this.device.setMtu(mtu);
    this.#mtu = mtu;
  }

  /** A snapshot of the counters. */
  stats(): TapLinkStats {
    return {
      ...this.#s,
      txQueued: this.#queue.length - this.#queueHead,
      rxWakeups: this.#closed ? 0 : this.device.io.wakeups,
      txGso: this.#txGso,
      rxGso: this.#rxGso,
      busyPolls: this.#busyPolls,
      busyPollHits: this.#busyPollHits,
      busyPollUs: this.#busyPollNs / 1000,
    };
  }

  /** Closes the device (a non-persistent tap disappears); queued frames are counted as drops. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropQueue();
    this.device.close();
  }

  #input(buffer: ArrayBuffer, meta: Int32Array, count: number): void {
    const rx = this.#receiver;
    if (rx === undefined || !this.up) {
      this.#s.rxDrops += count;
      return;
    }
    // The batch array is reused: the receiver has the frames for its call only (LinkReceiver).
    const frames = this.#rxBatch;
    let kept = 0;
    const vnet = this.#vnet;
    if (vnet === 0) {
      for (let i = 0; i < count; i++) {
        const len = meta[2 * i + 1]!;
        if (len < ETHER_HDR_LEN) {
          this.#s.rxDrops++; // runt: cannot even carry an Ethernet header
          continue;
        }
        frames[kept++] = new Uint8Array(buffer, meta[2 * i]!, len);
        this.#s.rxFrames++;
        this.#s.rxBytes += len;
      }
      frames.length = kept;
      if (kept > 0) rx(frames);
      return;
    }
    // Each frame behind its virtio_net_hdr: the header becomes the stack's
    // receive flags, the frame a view past it.
    const flags = this.#rxFlags;
    const bytes = new Uint8Array(buffer);
    for (let i = 0; i < count; i++) {
      const off = meta[2 * i]!;
      const len = meta[2 * i + 1]! - vnet;
      if (len < ETHER_HDR_LEN) {
        this.#s.rxDrops++;
        continue;
      }
      const f = rxFlagsOf(bytes, off);
      if (f < 0) {
        this.#s.rxDrops++; // a super-packet kind we never offered to take
        continue;
      }
      if ((f & RX_GSO) !== 0) this.#rxGso++;
      flags[kept] = f;
      frames[kept++] = new Uint8Array(buffer, off + vnet, len);
      this.#s.rxFrames++;
      this.#s.rxBytes += len;
    }
    frames.length = kept;
    // flags[i] belongs to frames[i]; entries past the batch are not read.
    if (kept > 0) rx(frames, flags);
  }

  #enqueue(frame: Uint8Array, meta: TxMeta | undefined): boolean {
    if (this.#queue.length - this.#queueHead >= this.#queueLimit) {
      this.#s.txDrops++;
      return false;
    }
    if (this.#queue.length - this.#queueHead === 0) this.device.onWritable(() => this.#drain());
    // Compact now and then so a queue that never fully drains cannot grow the array forever.
    if (this.#queueHead > 64 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueMeta = this.#queueMeta.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    this.#queue.push(frame);
    // The stack lends meta for the call only (Link.outputGso): keep a copy.
    this.#queueMeta.push(meta === undefined ? undefined : { ...meta });
    return true;
  }

  // The fd is writable again: write what waited, in order, until EAGAIN again.
  #drain(): void {
    const q = this.#queue;
    if (this.#vnet > 0) {
      this.#drainOneByOne();
      return;
    }
    for (let guard = 0; this.#queueHead < q.length && guard < q.length + 1; guard++) {
      const sent = this.device.writeBatch(q, this.#queueHead);
      for (let i = 0; i < sent; i++) {
        this.#s.txFrames++;
        this.#s.txBytes += q[this.#queueHead + i]!.length;
      }
      this.#queueHead += sent;
      if (this.#queueHead >= q.length) break;
      const errno = this.device.io.lastErrno;
      if (errno === E.EAGAIN || errno === E.ENOBUFS) return; // wait for the next writable wake-up
      this.#s.errors++; // this frame failed for good: skip it
      this.#queueHead++;
    }
    this.#queue = [];
    this.#queueMeta = [];
    this.#queueHead = 0;
    this.device.onWritable(undefined);
  }

  // With offloads some queued frames need their own header: one write each
  // (this is the EAGAIN path, rare on a tap).
  #drainOneByOne(): void {
    const q = this.#queue;
    const qm = this.#queueMeta;
    while (this.#queueHead < q.length) {
      const i = this.#queueHead;
      const m = qm[i];
      const n = m !== undefined ? this.#writeMeta(q[i]!, m) : this.device.write(q[i]!);
      if (n === -E.EAGAIN || n === -E.ENOBUFS) return; // wait for the next writable wake-up
      if (n >= 0) {
        this.#s.txFrames++;
        this.#s.txBytes += q[i]!.length;
        if (m !== undefined && m.gsoSize > 0) this.#txGso++;
      } else this.#s.errors++;
      this.#queueHead++;
    }
    this.#queue = [];
    this.#queueMeta = [];
    this.#queueHead = 0;
    this.device.onWritable(undefined);
  }

  #dropQueue(): void {
    const waiting = this.#queue.length - this.#queueHead;
    if (waiting === 0) return;
    this.#s.txDrops += waiting;
    this.#queue = [];
    this.#queueMeta = [];
    this.#queueHead = 0;
    if (!this.device.closed) this.device.onWritable(undefined);
  }
}

/** `TapLinkOptions.offload` as a mode; RangeError for anything else. */
function offloadMode(o: boolean | TapOffloadMode | undefined): TapOffloadMode {
  if (o === undefined) return 'auto';
  if (o === true) return 'require';
  if (o === false) return 'off';
  if (o === 'auto' || o === 'require' || o === 'off') return o;
  throw new RangeError(`TapLink offload: true, false, 'auto', 'require' or 'off', got ${JSON.stringify(o)}`);
}
