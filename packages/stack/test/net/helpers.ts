/**
 * Shared fixtures for the network-layer tests: two stacks joined by a
 * MemWire, helpers to wait for the wire's asynchronous flushes, to inject
 * raw frames, and the after-test leak check.
 */
import { expect } from 'chai';
import type { Clock } from '../../src/kern/clock.js';
import { MemWire, type MemWireLink } from '../../src/link/memwire.js';
import type { FaultConfig } from '../../src/link/faults.js';
import { Stack } from '../../src/stack.js';
import type { Ifnet } from '../../src/net/ifnet.js';
import { internetChecksum } from '../../src/wire/checksum.js';

export const A_IP = '10.0.0.1';
export const B_IP = '10.0.0.2';

/** Two stacks, 10.0.0.1/24 and 10.0.0.2/24, on one wire. */
export interface Pair {
  wire: MemWire;
  a: Stack;
  b: Stack;
  ifa: Ifnet;
  ifb: Ifnet;
  la: MemWireLink;
  lb: MemWireLink;
}

export function makePair(opts: { clock?: Clock; faults?: FaultConfig; seed?: number; mtu?: number; nmbclusters?: number } = {}): Pair {
  const wire = new MemWire({ clock: opts.clock, faults: opts.faults ?? null, seed: opts.seed ?? 1 });
  const a = new Stack({ clock: opts.clock, nmbclusters: opts.nmbclusters ?? 512 });
  const b = new Stack({ clock: opts.clock, nmbclusters: opts.nmbclusters ?? 512 });
  const la = wire.attachLink({ name: 'wire0', mtu: opts.mtu });
  const lb = wire.attachLink({ name: 'wire0', mtu: opts.mtu });
  const ifa = a.attachLink(la, { addrs: [`${A_IP}/24`] });
  const ifb = b.attachLink(lb, { addrs: [`${B_IP}/24`] });
  return { wire, a, b, ifa, ifb, la, lb };
}

/** Let setImmediate-scheduled flushes (wire, loopback) run, `n` rounds. */
export async function settle(n = 8): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Close stacks (and the wire) and assert every pool is all-free. */
export function closeAndCheck(wire: MemWire | null, ...stacks: Stack[]): void {
  for (const s of stacks) s.close();
  wire?.close();
  for (const s of stacks) s.pool.assertAllFree();
}

/** Parse a MAC string to bytes. */
export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}

export function ip4(s: string): number {
  return s.split('.').reduce((a, p) => a * 256 + Number(p), 0) >>> 0;
}

/** Options for {@link ipPacket}. */
export interface IpPacketSpec {
  src: string;
  dst: string;
  proto?: number;
  id?: number;
  ttl?: number;
  /** Fragment offset in bytes. */
  fragOff?: number;
  mf?: boolean;
  df?: boolean;
  payload?: Uint8Array;
  options?: Uint8Array;
}

/** Build a well-formed IPv4 packet (header checksum filled). */
export function ipPacket(p: IpPacketSpec): Uint8Array {
  const opt = p.options ?? new Uint8Array(0);
  const hlen = 20 + opt.length;
  const payload = p.payload ?? new Uint8Array(0);
  const b = new Uint8Array(hlen + payload.length);
  b[0] = 0x40 | (hlen >> 2);
  b[2] = b.length >> 8;
  b[3] = b.length & 0xff;
  b[4] = (p.id ?? 1) >> 8;
  b[5] = (p.id ?? 1) & 0xff;
  const fw = (p.df ? 0x4000 : 0) | (p.mf ? 0x2000 : 0) | ((p.fragOff ?? 0) >> 3);
  b[6] = fw >> 8;
  b[7] = fw & 0xff;
  b[8] = p.ttl ?? 64;
  b[9] = p.proto ?? 1;
  const s = ip4(p.src);
  const d = ip4(p.dst);
  b.set([s >>> 24, (s >>> 16) & 255, (s >>> 8) & 255, s & 255], 12);
  b.set([d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255], 16);
  b.set(opt, 20);
  fixIpChecksum(b);
  b.set(payload, hlen);
  return b;
}

/** Recompute the header checksum of an IPv4 packet in place. */
export function fixIpChecksum(b: Uint8Array, off = 0): void {
  const hlen = (b[off]! & 15) << 2;
  b[off + 10] = 0;
  b[off + 11] = 0;
  const c = internetChecksum(b, off, Math.min(hlen, b.length - off));
  b[off + 10] = c >> 8;
  b[off + 11] = c & 0xff;
}

/** An ICMP echo request (type 8) with `size` pattern bytes. */
export function echoRequest(id: number, seq: number, size: number): Uint8Array {
  const m = new Uint8Array(8 + size);
  m[0] = 8;
  m[4] = id >> 8;
  m[5] = id & 0xff;
  m[6] = seq >> 8;
  m[7] = seq & 0xff;
  for (let i = 0; i < size; i++) m[8 + i] = i & 0xff;
  const c = internetChecksum(m, 0, m.length);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

/** Wrap an IPv4 packet in an Ethernet frame. */
export function etherFrame(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** A MAC for an injected peer that is not on the wire. */
export const PEER_MAC = mac('02:00:00:00:00:99');

export function expectAllFree(s: Stack): void {
  expect(s.pool.isAllFree(), JSON.stringify(s.pool.stats())).to.equal(true);
}
