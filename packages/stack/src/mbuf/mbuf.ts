/**
 * The mbuf itself: sizes, flags and the {@link Mbuf} record, after NetBSD's
 * `sys/sys/mbuf.h`. The operations on chains live in `ops.ts` and
 * `write.ts`; the cluster storage in `pool.ts`.
 *
 * @module
 */
import type { ClusterPool } from './pool.js';

/**
 * Size of an mbuf, as BSD's `MSIZE`. In the kernel the header and the small
 * data area share these bytes; here the header is a JavaScript object, but the
 * data areas keep the kernel's sizes so that what fits in one mbuf (and when a
 * cluster is taken) matches the kernel code this stack mirrors.
 */
export const MSIZE = 256;

/**
 * Notional size of `struct m_hdr` (next, nextpkt, data pointer, length, type,
 * flags, owner) on a 64-bit kernel, rounded: it only serves to derive
 * {@link MLEN} the way BSD does.
 */
export const M_HDR_SIZE = 32;

/**
 * Notional size of `struct pkthdr` (receiving interface, total length,
 * checksum flags, tags): it only serves to derive {@link MHLEN}.
 */
export const M_PKTHDR_SIZE = 32;

/** Data bytes in a plain mbuf: `MSIZE - sizeof(struct m_hdr)` = 224. */
export const MLEN = MSIZE - M_HDR_SIZE;

/** Data bytes in a packet-header mbuf: `MLEN - sizeof(struct pkthdr)` = 192. */
export const MHLEN = MLEN - M_PKTHDR_SIZE;

/**
 * Smallest amount of data worth a cluster: anything that fits in a header
 * mbuf plus one plain mbuf goes into small mbufs instead (NetBSD
 * `MINCLSIZE = MHLEN + MLEN + 1`; `sosend()` takes a cluster from here up).
 */
export const MINCLSIZE = MHLEN + MLEN + 1;

/** The default cluster size, `MCLBYTES` (NetBSD default; the paper also tries 4096). */
export const MCLBYTES_DEFAULT = 2048;

/** Largest number of clusters in one extended cluster (`MCLNUM` up to 64). */
export const MCLNUM_MAX = 64;

/** `M_EXT`: the data lives in a cluster (external storage) shared by reference count. */
export const M_EXT = 0x0001;
/** `M_PKTHDR`: first mbuf of a packet; {@link Mbuf.pkthdr} is set. */
export const M_PKTHDR = 0x0002;
/** `M_EOR`: end of record (for record-oriented sockets). */
export const M_EOR = 0x0004;
/** `M_BCAST`: received or to be sent as link-level broadcast. */
export const M_BCAST = 0x0100;
/** `M_MCAST`: received or to be sent as link-level multicast. */
export const M_MCAST = 0x0200;
/**
 * Flags that belong to the packet rather than to one mbuf; they follow the
 * packet header when it moves or is copied (NetBSD `M_COPYFLAGS`).
 */
export const M_COPYFLAGS = M_PKTHDR | M_EOR | M_BCAST | M_MCAST;
/**
 * Set on an mbuf once it has been freed, so that a second free (or use of a
 * freed mbuf) is caught at once instead of corrupting a cluster's reference
 * count. Not a BSD flag (the kernel uses pool debugging for this).
 */
export const M_FREED = 0x40000000;

/**
 * `M_CSUM_TCPv4` in {@link PktHdr.csumFlags} (NetBSD `sys/mbuf.h`). On
 * output: the TCP checksum field holds only the pseudo-header sum and the
 * interface completes it (a partial checksum). On input: the interface
 * vouches for the TCP checksum, TCP input does not verify it again.
 */
export const M_CSUM_TCPv4 = 0x0001;
/** `M_CSUM_UDPv4`: as {@link M_CSUM_TCPv4}, for UDP. */
export const M_CSUM_UDPv4 = 0x0002;
/**
 * `M_CSUM_TSOv4`: an outbound TCP/IPv4 packet larger than the MTU that the
 * interface cuts into segments of {@link PktHdr.segsz} payload bytes (TCP
 * segmentation offload); always together with {@link M_CSUM_TCPv4}.
 */
export const M_CSUM_TSOv4 = 0x0100;

/** The packet header of the first mbuf of a packet (`struct pkthdr`). */
export interface PktHdr {
  /** Total length of the packet: the sum of `len` over the chain. */
  len: number;
  /** Receiving interface (name or index), `null` for locally generated packets. */
  rcvif: string | number | null;
  /**
   * Checksum and segmentation offload flags (`csum_flags`): `M_CSUM_*`.
   * 0 — the software computes and verifies everything — unless a driver
   * that offers offloads, or TCP output towards one, set them.
   */
  csumFlags: number;
  /** Segment payload size for {@link M_CSUM_TSOv4} (`segsz`), else 0. */
  segsz: number;
}

/** A zero-length array that freed mbufs point at, so stale reads find nothing. */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/**
 * One mbuf (`struct mbuf`). Its bytes are `data[off, off + len)`; `data` is
 * either the mbuf's own small area (at most {@link MLEN} bytes, a plain
 * allocation) or, when {@link M_EXT} is set, the view of cluster `ext` of
 * {@link Mbuf.pool}, which other mbufs may share.
 *
 * Fields are public, as in the kernel, because every layer reads them on the
 * hot path; change them only through the `m*` functions unless you own the
 * mbuf and it is writable ({@link mWritable}). Create mbufs with `mGet`,
 * `mGethdr`, `mGetcl` or an {@link ExtCluster}, never with `new` directly.
 */
export class Mbuf {
  /** Next mbuf of the same packet (`m_next`). */
  next: Mbuf | null = null;
  /** First mbuf of the next packet in a queue (`m_nextpkt`). */
  nextPkt: Mbuf | null = null;
  /** Backing storage: the small area or the cluster's view (never a copy). */
  data: Uint8Array;
  /** Offset of the first data byte in {@link Mbuf.data} (`m_data`). */
  off: number;
  /** Number of data bytes in this mbuf (`m_len`). */
  len: number;
  /** `M_*` flags. */
  flags: number;
  /** Packet header, set exactly when {@link M_PKTHDR} is set. */
  pkthdr: PktHdr | null;
  /** Cluster index in {@link Mbuf.pool} when {@link M_EXT} is set, else -1. */
  ext: number;
  /**
   * @internal Small-area slot of {@link Mbuf.pool} that {@link Mbuf.data}
   * is the view of, returned to the pool when the mbuf is freed; -1 for a
   * cluster or a small area of its own.
   */
  sm = -1;
  /** The pool that accounts for this mbuf and owns its cluster. */
  readonly pool: ClusterPool;

  /** @internal Use the `m*` allocation functions; they do the accounting. */
  constructor(pool: ClusterPool, data: Uint8Array, off: number, flags: number, ext: number) {
    this.pool = pool;
    this.data = data;
    this.off = off;
    this.len = 0;
    this.flags = flags;
    this.ext = ext;
    this.pkthdr = (flags & M_PKTHDR) !== 0 ? { len: 0, rcvif: null, csumFlags: 0, segsz: 0 } : null;
  }
}

/**
 * Whether the mbuf's storage may be written: its own small area, or a cluster
 * it alone references (a cluster shared by reference count is read-only,
 * NetBSD `M_READONLY`).
 */
export function mWritable(m: Mbuf): boolean {
  return (m.flags & M_EXT) === 0 || m.pool.clRefcnt(m.ext) === 1;
}

/**
 * Bytes free in front of the data that may be written (`M_LEADINGSPACE`):
 * 0 for a read-only shared cluster.
 */
export function mLeadingSpace(m: Mbuf): number {
  return mWritable(m) ? m.off : 0;
}

/**
 * Bytes free after the data that may be written (`M_TRAILINGSPACE`):
 * 0 for a read-only shared cluster.
 */
export function mTrailingSpace(m: Mbuf): number {
  return mWritable(m) ? m.data.length - m.off - m.len : 0;
}
