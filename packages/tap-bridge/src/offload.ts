/**
 * The offload probe of {@link TapLink.open}: open the tap with
 * `IFF_VNET_HDR` and `TUNSETOFFLOAD`, and when the kernel refuses either,
 * open it again without them — as QEMU's `tap_probe_vnet_hdr` and
 * `tap_fd_set_offload` do before they offer a guest virtio-net features.
 * What came of it ({@link TapOffloadState}) is kept for the banner,
 * the log and `rumpctl ifconfig`, which print it as BSD ifconfig prints
 * `options=` (FreeBSD's `IFCAP_*` names: TXCSUM, RXCSUM, TSO4, LRO).
 *
 * @module
 */
import { TapDevice, type TapDeviceOptions } from './tap.js';
import { TunOffload } from './vnet.js';

/**
 * How {@link TapLink.open} treats offloads:
 * - `'auto'` (the default): probe, use them when the kernel accepts them,
 *   run without and say why when it refuses;
 * - `'require'`: use them or fail to open (the refusal is thrown);
 * - `'off'`: never ask (a plain tap, one `write(2)` per frame, as NetBSD's
 *   `virtif`).
 */
export type TapOffloadMode = 'auto' | 'require' | 'off';

/** What the probe found: the offloads on, or why they are off. */
export type TapOffloadState =
  | {
      readonly on: true;
      /** The `TUN_F_*` bits the kernel accepted with `TUNSETOFFLOAD`. */
      readonly tunOffload: number;
      /** BSD ifconfig's names of what is on, e.g. `['TXCSUM', 'RXCSUM', 'TSO4', 'LRO']`. */
      readonly options: readonly string[];
    }
  | {
      readonly on: false;
      /** Why: `'off (asked)'`, or the kernel's refusal, e.g. `'TUNSETOFFLOAD 2: Invalid argument'`. */
      readonly reason: string;
    };

/** The `TUN_F_*` bits asked for by default: partial checksums and TCP/IPv4 super-packets (no TSO_ECN: the stack sends no CWR inside a super-packet). */
export const DEFAULT_TUN_OFFLOAD = TunOffload.CSUM | TunOffload.TSO4;

/** The reason {@link TapOffloadState} gives when offloads were not asked for. */
export const OFFLOAD_OFF_ASKED = 'off (asked)';

/**
 * The BSD names of what a tap with a `virtio_net_hdr` does, given the
 * accepted `TUN_F_*` bits. Sending needs only the header (the kernel
 * takes `NEEDS_CSUM` and `gso_type` from any writer): TXCSUM and TSO4.
 * Receiving follows what we told the kernel we take: partial or verified
 * checksums (RXCSUM, `TUN_F_CSUM`) and its super-packets (LRO, `TUN_F_TSO4`).
 */
export function offloadOptions(tunOffload: number): string[] {
  const o = ['TXCSUM', 'TSO4'];
  if ((tunOffload & TunOffload.CSUM) !== 0) o.push('RXCSUM');
  if ((tunOffload & TunOffload.TSO4) !== 0) o.push('LRO');
  return o;
}

/** One line for a banner or a log: `options=TXCSUM,TSO4,RXCSUM,LRO` or `offloads off: <reason>`. */
export function describeOffloads(state: TapOffloadState): string {
  return state.on ? `options=${state.options.join(',')}` : `offloads off: ${state.reason}`;
}

/**
 * Opens the tap as `mode` says (see {@link TapOffloadMode}), asking for
 * `tunOffload` bits. With `'auto'`, a refusal of the header or the bits
 * (any error of the first open) leads to a second, plain open; if that
 * fails too, its error is thrown — it is then not about offloads (no
 * permission, no `/dev/net/tun`, a busy name).
 * @throws TapError as {@link TapDevice.open}; with `'require'`, the refusal.
 */
export function openProbed(
  opts: Omit<TapDeviceOptions, 'vnetHdr' | 'offload'>,
  mode: TapOffloadMode,
  tunOffload: number = DEFAULT_TUN_OFFLOAD,
): { device: TapDevice; state: TapOffloadState } {
  // A plain open clears the Linux side's CSUM/TSO features (TUNSETOFFLOAD 0):
  // a persistent tap keeps them from an earlier reader that had offloads,
  // and Linux would then hand us super-packets without a header to say so.
  const plain = (): TapDevice => TapDevice.open({ ...opts, vnetHdr: false, offload: 0 });
  if (mode === 'off') return { device: plain(), state: { on: false, reason: OFFLOAD_OFF_ASKED } };
  let refusal: Error;
  try {
    const device = TapDevice.open({ ...opts, vnetHdr: true, offload: tunOffload });
    return { device, state: { on: true, tunOffload, options: offloadOptions(tunOffload) } };
  } catch (e) {
    if (mode === 'require') throw e;
    refusal = e as Error;
  }
  // The failed open closed its fd: a tap it created is gone, a persistent one is free again.
  const device = plain();
  return { device, state: { on: false, reason: `refused by the kernel: ${refusal.message}` } };
}
