/**
 * The interface every network driver implements (gVisor's `LinkEndpoint`,
 * BSD's `struct ifnet` output/input pair). The stack sits above it and never
 * knows whether frames go to a tap device, an in-memory wire, a Unix datagram
 * bus or the loopback.
 */

/** What kind of framing a link carries. */
export type LinkKind = 'ethernet' | 'loopback';

/** Counters a link keeps (`netstat -i`). Every dropped frame is counted. */
export interface LinkStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames received but dropped by the driver (no receiver attached, link down, oversized, ...). */
  rxDrops: number;
  /** Frames the stack handed over that never reached the medium (queue full, link down, fault injector). */
  txDrops: number;
  /** Frames the driver could not send or receive because of an OS error. */
  errors: number;
}

/**
 * Per-frame receive flags a link with offloads may pass with a batch
 * (`LinkReceiver`'s second argument): what the device already did to the
 * frame, after virtio's `VIRTIO_NET_HDR_F_*` and `gso_type`.
 */
export const RxFlag = {
  /** The device verified the transport checksum (`VIRTIO_NET_HDR_F_DATA_VALID`, Linux `CHECKSUM_UNNECESSARY`). */
  CSUM_VALID: 1,
  /**
   * The transport checksum field holds only the pseudo-header sum
   * (`VIRTIO_NET_HDR_F_NEEDS_CSUM`, Linux `CHECKSUM_PARTIAL`): the sender
   * left it for hardware to complete. The data never crossed a wire (it
   * comes from the local kernel), so it is as good as verified.
   */
  CSUM_PARTIAL: 2,
  /** The frame is a coalesced TCP super-packet (`VIRTIO_NET_HDR_GSO_TCPV4`): it may exceed the MTU. */
  GSO: 4,
} as const;

/**
 * Called by a link with every frame that arrived since the last call, and,
 * from a link that offers receive offloads, each frame's {@link RxFlag}
 * bits (`flags[i]` for `frames[i]`; absent means all 0).
 *
 * Ownership: the frames (and `flags`) are lent for the duration of the call
 * only (drivers read into pooled buffers and reuse them afterwards); a
 * receiver that keeps bytes must copy them (the stack copies each frame
 * into an mbuf cluster).
 */
export type LinkReceiver = (frames: readonly Uint8Array[], flags?: Uint8Array) => void;

/**
 * Receive buffers a receiver lends its link, as a driver fills a NIC's
 * receive ring with the stack's own mbuf clusters (NetBSD drivers'
 * `MCLGET` per receive descriptor): a link whose frames come from memory
 * (an in-process wire) builds a frame for this receiver straight into one,
 * and the receiver keeps it without a copy. Ownership: from
 * {@link RxBufferLender.lend} the buffer is the link's; the link hands it to
 * the receiver in a batch and calls {@link RxBufferLender.reclaim} after
 * that call returns (or when it drops the frame), whether or not the
 * receiver took it over meanwhile.
 */
export interface RxBufferLender {
  /** A buffer of exactly `len` bytes (stale contents) for a frame to this receiver, or null when the lender has none for that size. */
  lend(len: number): Uint8Array | null;
  /** Whether `buf` is a view of the lender's memory (lent now or not). */
  owns(buf: Uint8Array): boolean;
  /**
   * The link is done with a lent buffer.
   * @returns false for a buffer that is not this lender's (nothing done).
   */
  reclaim(buf: Uint8Array): boolean;
}

/** What a receiver promises its link ({@link Link.attach}'s second argument). */
export interface LinkReceiverOptions {
  /**
   * The receiver keeps no reference to a frame after its call returns (it
   * copies what it keeps, as the stack does into mbuf clusters), so the
   * link may reuse a frame's memory at once — e.g. return a transmit
   * buffer it lent ({@link Link.allocTxFrame}) to its ring. A receiver
   * without it gets frames it may keep (a link with a ring then hands it
   * copies).
   */
  copies?: boolean;
  /**
   * Receive buffers the link may build frames for this receiver in (see
   * {@link RxBufferLender}); links that cannot use them ignore them.
   */
  rxBuffers?: RxBufferLender;
}

/**
 * Offloads a link offers (what `ethtool -k` lists), all optional and off
 * when absent: links without offloads need not know this exists.
 */
export interface LinkOffloads {
  /**
   * Accepts TCP/IPv4 frames larger than the MTU through
   * {@link Link.outputGso}, cut into MSS-sized segments by the device
   * (TSO), and frames whose TCP checksum is partial.
   */
  readonly tso4?: boolean;
  /** Inbound frames may carry {@link RxFlag.CSUM_VALID} or {@link RxFlag.CSUM_PARTIAL}. */
  readonly rxCsum?: boolean;
  /** Inbound frames may be coalesced TCP super-packets larger than the MTU ({@link RxFlag.GSO}). */
  readonly lro?: boolean;
  /** Largest frame (Ethernet header included) {@link Link.outputGso} accepts. */
  readonly maxGsoBytes?: number;
}

/**
 * What the device must do to a frame handed to {@link Link.outputGso}
 * (the fields of virtio's `struct virtio_net_hdr`; offsets from the start
 * of the frame, i.e. of the Ethernet header).
 */
export interface TxOffload {
  /** Payload bytes per TCP segment when the device segments (TSO); 0: send as one frame, only complete the checksum. */
  gsoSize: number;
  /** Bytes of Ethernet + IP + TCP headers (options included), repeated in front of every segment. */
  hdrLen: number;
  /** Where checksumming starts: the transport header. */
  csumStart: number;
  /** Offset of the checksum field from {@link TxOffload.csumStart} (16 for TCP, 6 for UDP). */
  csumOffset: number;
}

/** A network interface driver. */
export interface Link {
  /** Interface name, e.g. `"lo0"`, `"tap0"`, `"wire0"`, `"bus0"`. */
  readonly name: string;
  /** Framing: `"ethernet"` frames start with a 14-byte Ethernet II header; `"loopback"` frames are bare IPv4 packets. */
  readonly kind: LinkKind;
  /** Largest network-layer packet the link carries (1500 for standard Ethernet). */
  readonly mtu: number;
  /** The link's 6-byte MAC address (all zero for loopback). Treat as read-only. */
  readonly mac: Uint8Array;
  /** Whether the link is administratively up and can carry frames. */
  readonly up: boolean;
  /** Optional: the offloads the link offers (none when absent). */
  readonly offloads?: LinkOffloads;
  /**
   * Optional: why a link that could offload runs without (the driver's
   * words: asked to, or the device refused), for `ifconfig`. Absent when
   * offloads are on or the link never has any.
   */
  readonly offloadsOff?: string;

  /**
   * Transmit one frame. Ownership of `frame` passes to the link: the caller
   * must not touch it afterwards. Returns `false` when the frame was dropped
   * (and counted in {@link LinkStats.txDrops}); never throws for a full queue
   * or a down link. A frame lost later, on the medium (a fault injector's
   * loss, a peer gone), returns `true` as on a real wire and is counted
   * where it is lost.
   */
  output(frame: Uint8Array): boolean;

  /**
   * Optional, present when {@link Link.offloads} says `tso4`: transmit one
   * frame that the device must finish as `meta` says — complete the
   * partial transport checksum and, when `meta.gsoSize > 0`, cut the frame
   * (which may then exceed the MTU, up to `offloads.maxGsoBytes`) into
   * segments. Ownership of `frame` and return value as {@link Link.output};
   * `meta` is lent for the call only (the stack reuses one object for
   * every frame): a link that queues the frame copies it.
   */
  outputGso?(frame: Uint8Array, meta: TxOffload): boolean;

  /**
   * Optional: lend a transmit buffer of exactly `len` bytes for the next
   * frame (a driver's transmit descriptor ring), so that the stack builds
   * the frame in memory the driver reuses instead of fresh memory. Its
   * bytes are stale: the caller writes all of them. The buffer goes back
   * to the link with {@link Link.output} / {@link Link.outputGso} of it,
   * or with {@link Link.releaseTxFrame} when it is not sent; the caller
   * keeps no reference either way. Returns null when none is free or
   * `len` is too large (the caller allocates its own then).
   */
  allocTxFrame?(len: number): Uint8Array | null;

  /** Optional (with {@link Link.allocTxFrame}): give back a lent buffer that is not sent. */
  releaseTxFrame?(frame: Uint8Array): void;

  /**
   * Attach the receiver that gets inbound frames in batches. There is one
   * receiver at a time; attaching another replaces it. Frames that arrive
   * while none is attached are counted as `rxDrops`. `opts` says what the
   * receiver promises (see {@link LinkReceiverOptions}; links may ignore it).
   */
  attach(receiver: LinkReceiver, opts?: LinkReceiverOptions): void;

  /** Bring the link up or down. Down links drop (and count) frames both ways. */
  setUp(up: boolean): void;

  /** Change the MTU. Throws `RangeError` for a value the driver cannot carry. */
  setMtu(mtu: number): void;

  /** A snapshot of the link's counters. */
  stats(): LinkStats;

  /** Release the driver's resources. Idempotent; after it `output` drops. */
  close(): void;
}

/** A fresh, zeroed {@link LinkStats}. */
export function emptyLinkStats(): LinkStats {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDrops: 0, txDrops: 0, errors: 0 };
}
