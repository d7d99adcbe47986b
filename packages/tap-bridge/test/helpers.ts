/**
 * Frames the tap tests build by hand (the stack's wire layer is not used, so
 * these tests stand on the driver alone), and small waiting helpers.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import type { Link, LinkStats, LinkReceiver, LinkKind } from '@rumpnet/stack';

/** A local copy of the stack's Link interface: assigning to it checks the drivers structurally. */
export interface LinkShape {
  readonly name: string;
  readonly kind: LinkKind;
  readonly mtu: number;
  readonly mac: Uint8Array;
  readonly up: boolean;
  output(frame: Uint8Array): boolean;
  attach(receiver: LinkReceiver): void;
  setUp(up: boolean): void;
  setMtu(mtu: number): void;
  stats(): LinkStats;
  close(): void;
}
/** Compile-time check that both shapes agree. */
export const linkShapesAgree = (l: Link): LinkShape => l;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export function ipBytes(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map(Number));
}

/** An Ethernet II frame with `payload`, padded to the 60-byte minimum. */
export function etherFrame(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(Math.max(60, 14 + payload.length));
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** An ARP request (RFC 826) "who has `targetIp`? tell `senderIp`", broadcast. */
export function arpRequest(senderMac: Uint8Array, senderIp: string, targetIp: string): Uint8Array {
  const a = new Uint8Array(28);
  const v = new DataView(a.buffer);
  v.setUint16(0, 1); // htype Ethernet
  v.setUint16(2, ETHERTYPE_IPV4); // ptype
  a[4] = 6;
  a[5] = 4;
  v.setUint16(6, 1); // op request
  a.set(senderMac, 8);
  a.set(ipBytes(senderIp), 14);
  a.set(ipBytes(targetIp), 24);
  return etherFrame(BROADCAST, senderMac, ETHERTYPE_ARP, a);
}

/** The fields of an ARP frame, or undefined if `f` is not one. */
export function parseArp(f: Uint8Array): { op: number; sha: string; spa: string; tha: string; tpa: string; dst: string } | undefined {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06) return undefined;
  const hex = (o: number) => Array.from(f.subarray(o, o + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
  const ip = (o: number) => Array.from(f.subarray(o, o + 4)).join('.');
  return { op: (f[20]! << 8) | f[21]!, sha: hex(22), spa: ip(28), tha: hex(32), tpa: ip(38), dst: hex(0) };
}

/** Resolves when `pred()` holds, polling every 5 ms; rejects after `ms`. */
export async function waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A 6-byte MAC as `aa:bb:...`. */
export function macStr(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * Why a test that runs `tool` (ping, curl, …) in a namespace cannot run here,
 * or undefined when `tool` is an executable on PATH — the PATH that
 * `ip netns exec` will search. Tests skip with this one-line reason rather
 * than fail with "exec of ping failed" on a machine without the tool.
 */
export function toolSkipReason(tool: string, debianPackage: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, tool), fsConstants.X_OK);
      return undefined;
    } catch {
      /* not in this directory */
    }
  }
  return `no ${tool} on PATH (apt-get install ${debianPackage})`;
}

/** {@link toolSkipReason} for `ping` (iputils-ping). */
export const pingSkipReason = (): string | undefined => toolSkipReason('ping', 'iputils-ping');
