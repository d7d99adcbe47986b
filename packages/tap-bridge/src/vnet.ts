/**
 * `struct virtio_net_hdr` (Linux `include/uapi/linux/virtio_net.h`): the
 * 10-byte header a tap opened with `IFF_VNET_HDR` puts in front of every
 * frame it hands over and expects in front of every frame written to it.
 * It says what the device (here: the other side of the tap, the kernel)
 * did or must do: complete a partial checksum (`NEEDS_CSUM` with
 * `csum_start`/`csum_offset`), trust a verified one (`DATA_VALID`), or cut a
 * TCP super-packet into `gso_size` segments (`gso_type`).
 *
 * The fields are little-endian: the tap is told so (`TUNSETVNETLE`).
 * Read untrusted bytes only through {@link parseVnetHdr}.
 *
 * @module
 */
import { RxFlag } from '@rumpnet/stack';

/** Size of `struct virtio_net_hdr` without `num_buffers` (what `TUNSETVNETHDRSZ` is set to). */
export const VNET_HDR_LEN = 10;

/** Field offsets in the header. */
export const VnetField = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
} as const;

/** `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at csum_start + csum_offset is partial (pseudo-header only). */
export const VNET_F_NEEDS_CSUM = 1;
/** `VIRTIO_NET_HDR_F_DATA_VALID`: the transport checksum was verified. */
export const VNET_F_DATA_VALID = 2;

/** `VIRTIO_NET_HDR_GSO_*` values of `gso_type`. */
export const VnetGso = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  /** Bit: the super-packet carries ECN's CWR, set it on the first segment only. */
  ECN: 0x80,
} as const;

/** `TUN_F_*` bits of `TUNSETOFFLOAD`: what the reader of the tap accepts. */
export const TunOffload = {
  /** Partial checksums. */
  CSUM: 0x01,
  /** TCP/IPv4 super-packets. */
  TSO4: 0x02,
  /** TCP/IPv6 super-packets. */
  TSO6: 0x04,
  /** TSO super-packets with ECN's CWR. */
  TSO_ECN: 0x08,
} as const;

/** The stack's `RxFlag.CSUM_VALID` (receive flags the tap hands the stack). */
export const RX_CSUM_VALID = RxFlag.CSUM_VALID;
/** The stack's `RxFlag.CSUM_PARTIAL`. */
export const RX_CSUM_PARTIAL = RxFlag.CSUM_PARTIAL;
/** The stack's `RxFlag.GSO`. */
export const RX_GSO = RxFlag.GSO;

/** A parsed header. */
export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);

/** Parses the header at `buf[off..]`; `'truncated'` when fewer than 10 bytes remain. Throws nothing. */
export function parseVnetHdr(buf: Uint8Array, off = 0): VnetHdr | 'truncated' {
  if (off < 0 || off + VNET_HDR_LEN > buf.length) return 'truncated';
  return {
    flags: buf[off + VnetField.FLAGS]!,
    gsoType: buf[off + VnetField.GSO_TYPE]!,
    hdrLen: u16(buf, off + VnetField.HDR_LEN),
    gsoSize: u16(buf, off + VnetField.GSO_SIZE),
    csumStart: u16(buf, off + VnetField.CSUM_START),
    csumOffset: u16(buf, off + VnetField.CSUM_OFFSET),
  };
}

/**
 * Writes `h` at `buf[off..off+10)`.
 * @throws RangeError when the buffer is too short or a field does not fit its width.
 */
export function emitVnetHdr(h: VnetHdr, buf: Uint8Array, off = 0): void {
  if (off < 0 || off + VNET_HDR_LEN > buf.length) throw new RangeError('emitVnetHdr: buffer too short');
  const put = (o: number, v: number, max: number): void => {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`emitVnetHdr: field value ${v} out of range`);
    buf[off + o] = v & 0xff;
    if (max > 0xff) buf[off + o + 1] = v >>> 8;
  };
  put(VnetField.FLAGS, h.flags, 0xff);
  put(VnetField.GSO_TYPE, h.gsoType, 0xff);
  put(VnetField.HDR_LEN, h.hdrLen, 0xffff);
  put(VnetField.GSO_SIZE, h.gsoSize, 0xffff);
  put(VnetField.CSUM_START, h.csumStart, 0xffff);
  put(VnetField.CSUM_OFFSET, h.csumOffset, 0xffff);
}

/**
 * The stack's receive flags for a header at `buf[off..]` (the caller has
 * checked the length), or -1 for a super-packet of a kind we never offered
 * to take (IPv6, UDP): such a frame is dropped, it could exceed the MTU
 * without the stack knowing why.
 */
export function rxFlagsOf(buf: Uint8Array, off: number): number {
  const f = buf[off + VnetField.FLAGS]!;
  const g = buf[off + VnetField.GSO_TYPE]! & ~VnetGso.ECN;
  let r = 0;
  if ((f & VNET_F_NEEDS_CSUM) !== 0) r |= RX_CSUM_PARTIAL;
  if ((f & VNET_F_DATA_VALID) !== 0) r |= RX_CSUM_VALID;
  if (g === VnetGso.TCPV4) r |= RX_GSO;
  else if (g !== VnetGso.NONE) return -1;
  return r;
}
