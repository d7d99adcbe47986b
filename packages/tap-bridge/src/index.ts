/**
 * @packageDocumentation
 * `@rumpnet/tap-bridge`: the stack's drivers to real and shared networks, and
 * the harness that keeps interoperability tests inside a network namespace.
 *
 * - {@link TapLink}: a `Link` over a Linux tap device (NetBSD rump's `virtif`),
 *   through a small N-API addon that polls the fd from the event loop and
 *   reads every ready frame per wake-up — no thread pool per frame.
 * - {@link BusLink}: a rootless shared Ethernet segment over Unix datagram
 *   sockets in a directory (rump's `shmif` bus file).
 * - {@link withPcap}: record any link's traffic to a pcap file.
 * - {@link Netns}: create a namespace, add taps, run peers, delete it all.
 * - {@link peerCred}: who is at the other end of a Unix socket (`SO_PEERCRED`).
 * - Offloads: `TapLink.open()` probes for `virtio_net_hdr` (checksum
 *   offload, TSO out, the kernel's super-packets in) and uses it where the
 *   kernel accepts it; `offload: 'off'` or `'require'` decide otherwise.
 *
 * @example
 * ```ts
 * import { Netns, TapLink, canUseNetns } from '@rumpnet/tap-bridge';
 * if (!canUseNetns().ok) process.exit(0);
 * const ns = await Netns.create({ prefix: 'demo' });
 * await ns.addTap('tap0', { linuxAddr: '10.9.9.1/24' });
 * const link = TapLink.open({ name: 'tap0', netns: ns.name });
 * link.attach((frames) => console.log('got', frames.length, 'frames'));
 * // ... hand `link` to the stack ...
 * link.close();
 * await ns.destroy();
 * ```
 */
export const PACKAGE = '@rumpnet/tap-bridge';

export { TapDevice, TapLink, IFF_UP, IFF_RUNNING, TAP_MIN_MTU, TAP_MAX_MTU, TAP_MAX_GSO_BYTES } from './tap.js';
export type { TapDeviceOptions, TapLinkOptions, TapLinkStats, RawFrameHandler, TxMeta } from './tap.js';
export {
  VNET_HDR_LEN,
  VnetField,
  VnetGso,
  VNET_F_NEEDS_CSUM,
  VNET_F_DATA_VALID,
  TunOffload,
  RX_CSUM_VALID,
  RX_CSUM_PARTIAL,
  RX_GSO,
  parseVnetHdr,
  emitVnetHdr,
  rxFlagsOf,
} from './vnet.js';
export type { VnetHdr } from './vnet.js';
export { DEFAULT_TUN_OFFLOAD, OFFLOAD_OFF_ASKED, describeOffloads, offloadOptions } from './offload.js';
export type { TapOffloadMode, TapOffloadState } from './offload.js';
export { BusLink } from './bus.js';
export type { BusLinkOptions, BusLinkStats, BusMember } from './bus.js';
export { PcapWriter, withPcap, LINKTYPE_ETHERNET, LINKTYPE_RAW } from './pcap.js';
export type { PcapWriterOptions, PcapLink } from './pcap.js';
export { Netns, NetnsError, canUseNetns, randomSubnet24 } from './netns.js';
export type { NetnsCheck, NetnsOptions, ExecOptions, ExecResult, AddTapOptions, TapInfo, IpLink } from './netns.js';
export { TapError } from './native.js';
export { peerCred, peerCredOf, socketFd } from './peercred.js';
export type { PeerCred } from './peercred.js';
export { formatMac, parseMac, randomMac } from './ether.js';
