/**
 * IPv6 test fixtures: two stacks on a MemWire with fast DAD, and builders
 * for raw IPv6 packets (extension headers, fragments, ICMPv6 / ND messages)
 * to inject as frames.
 */
import { MemWire, type MemWireLink } from '../../src/link/memwire.js';
import type { Ifnet } from '../../src/net/ifnet.js';
import { Stack } from '../../src/stack.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { Ip6Address } from '../../src/wire/ip.js';
import { pseudoHeaderSum6 } from '../../src/wire/ipv6.js';
import { etherFrame, mac } from './helpers.js';

export const A6 = 'fd00::1';
export const B6 = 'fd00::2';

/** Two stacks on one wire, fd00::1/64 and fd00::2/64 plus link-locals, DAD done. */
export interface Pair6 {
  wire: MemWire;
  a: Stack;
  b: Stack;
  ifa: Ifnet;
  ifb: Ifnet;
  la: MemWireLink;
  lb: MemWireLink;
}

/** A stack whose DAD and ND retransmissions take `retransMs` (default 10 ms) instead of 1 s. */
export function fastStack(opts: { retransMs?: number; dad?: boolean; rs?: boolean; nmbclusters?: number } = {}): Stack {
  const s = new Stack({ nmbclusters: opts.nmbclusters ?? 512 });
  s.sysctl.set('net.inet6.icmp6.nd6_retrans_ms', opts.retransMs ?? 10);
  if (opts.dad === false) s.sysctl.set('net.inet6.ip6.dad_count', 0);
  if (opts.rs !== true) s.sysctl.set('net.inet6.ip6.rtr_solicitations', 0);
  return s;
}

/** Two stacks on a wire, with IPv6 addresses; resolves once DAD finished on both. */
export async function makePair6(opts: { mtu?: number; dad?: boolean } = {}): Promise<Pair6> {
  const wire = new MemWire({ seed: 1 });
  const a = fastStack({ dad: opts.dad });
  const b = fastStack({ dad: opts.dad });
  const la = wire.attachLink({ name: 'wire0', mtu: opts.mtu });
  const lb = wire.attachLink({ name: 'wire0', mtu: opts.mtu });
  const ifa = a.attachLink(la, { addrs: ['10.0.0.1/24', `${A6}/64`] });
  const ifb = b.attachLink(lb, { addrs: ['10.0.0.2/24', `${B6}/64`] });
  await waitFor(() => [...ifa.addrs6, ...ifb.addrs6].every((x) => x.state === 'preferred'));
  return { wire, a, b, ifa, ifb, la, lb };
}

/** Poll `cond` every few ms, at most `ms` (throws when it never holds). */
export async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Parse an IPv6 address (throws on a bad one). */
export function ip6(s: string): Ip6Address {
  const a = Ip6Address.parse(s);
  if (a === null) throw new Error(`bad address ${s}`);
  return a;
}

/** Options of {@link ip6Packet}. */
export interface Ip6PacketSpec {
  src: string;
  dst: string;
  /** Next Header of the fixed header (default: that of the first `ext`, else `proto`). */
  nxt?: number;
  hopLimit?: number;
  /** Extension headers already encoded (each with its Next Header byte set by the caller). */
  ext?: Uint8Array;
  /** Upper-layer payload. */
  payload?: Uint8Array;
  /** Payload length field override. */
  plen?: number;
}

/** A raw IPv6 packet. */
export function ip6Packet(p: Ip6PacketSpec): Uint8Array {
  const ext = p.ext ?? new Uint8Array(0);
  const pay = p.payload ?? new Uint8Array(0);
  const b = new Uint8Array(40 + ext.length + pay.length);
  b[0] = 0x60;
  const plen = p.plen ?? ext.length + pay.length;
  b[4] = plen >> 8;
  b[5] = plen & 0xff;
  b[6] = p.nxt ?? 58;
  b[7] = p.hopLimit ?? 64;
  ip6(p.src).writeTo(b, 8);
  ip6(p.dst).writeTo(b, 24);
  b.set(ext, 40);
  b.set(pay, 40 + ext.length);
  return b;
}

/** An ICMPv6 message with its checksum filled for `src` -> `dst`. */
export function icmp6(src: string, dst: string, type: number, code: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(4 + body.length);
  m[0] = type;
  m[1] = code;
  m.set(body, 4);
  const c = internetChecksum(m, 0, m.length, pseudoHeaderSum6(ip6(src), ip6(dst), 58, m.length));
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

/** An echo request body (id, seq, `size` pattern bytes), for {@link icmp6}. */
export function echoBody(id: number, seq: number, size: number): Uint8Array {
  const b = new Uint8Array(4 + size);
  b[0] = id >> 8;
  b[1] = id & 0xff;
  b[2] = seq >> 8;
  b[3] = seq & 0xff;
  for (let i = 0; i < size; i++) b[4 + i] = i & 0xff;
  return b;
}

/** A fragment header (`nxt`, byte offset, M, id). */
export function fragHeader(nxt: number, off: number, more: boolean, id: number): Uint8Array {
  return Uint8Array.of(nxt, 0, off >> 8, (off & 0xf8) | (more ? 1 : 0), id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255, id & 255);
}

/** An options header (hop-by-hop or destination) holding `opts` padded to a multiple of 8. */
export function optsHeader(nxt: number, opts: number[]): Uint8Array {
  const len = Math.ceil((2 + opts.length) / 8) * 8;
  const b = new Uint8Array(len);
  b[0] = nxt;
  b[1] = len / 8 - 1;
  b.set(opts, 2);
  const pad = len - 2 - opts.length;
  if (pad === 1) b[2 + opts.length] = 0;
  else if (pad >= 2) {
    b[2 + opts.length] = 1;
    b[3 + opts.length] = pad - 2;
  }
  return b;
}

/** A peer's MAC that is on no stack. */
export const PEER6_MAC = mac('02:00:00:00:00:66');

/** Wrap an IPv6 packet in an Ethernet frame to `dst` (default: the interface's MAC). */
export function frame6(ifp: Ifnet, pkt: Uint8Array, dst?: Uint8Array, src = PEER6_MAC): Uint8Array {
  return etherFrame(dst ?? ifp.mac, src, 0x86dd, pkt);
}

/** Every packet `link` outputs from now on, as raw frames (the link still delivers them). */
export function tapOutput(link: MemWireLink): Uint8Array[] {
  const out: Uint8Array[] = [];
  const orig = link.output.bind(link);
  link.output = (f: Uint8Array) => {
    out.push(f.slice());
    return orig(f);
  };
  return out;
}

/** Await `p`, expecting it to reject with a message matching `re`. */
export async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!re.test(String((e as Error).message) + ' ' + String((e as { code?: string }).code))) throw e;
    return;
  }
  throw new Error(`expected a rejection matching ${re}`);
}
