/**
 * Crafted frames from the Linux side of the tap: a Python process in the
 * test's namespace (`peers/raw-frames.py`) sends raw Ethernet frames on the
 * namespace's end of the tap (AF_PACKET, bypassing the kernel's stack) and
 * reports every IPv4 frame the stack sends. The frames are built here with
 * the stack's own wire module. Nothing leaves the namespace.
 */
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import * as rump from '@rumpnet/stack';
import type { Netns } from '../../src/index.js';

const { wire } = rump;
type TcpRepr = rump.wire.TcpRepr;

const SCRIPT = fileURLToPath(new URL('./peers/raw-frames.py', import.meta.url));

/** A TCP segment the stack sent, parsed. */
export interface RxSegment {
  src: number;
  dst: number;
  tcp: TcpRepr;
}

/** The Python frame sender/sniffer in a namespace. */
export class RawPeer {
  readonly child: ChildProcess;
  /** TCP segments the stack sent, in order of arrival. */
  readonly rx: RxSegment[] = [];
  #sent = 0;
  #ready = false;
  #error = '';
  #stderr = '';
  #waiters = new Set<() => void>();

  private constructor(ns: Netns, ifname: string, stackMac: string) {
    this.child = ns.spawn('python3', ['-u', SCRIPT, ifname, stackMac], { stdio: ['pipe', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'), guard = 0; nl >= 0 && guard < 100_000; nl = buf.indexOf('\n'), guard++) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line !== '') this.#event(line);
      }
      this.#wake();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (this.#stderr.length < 1 << 14) this.#stderr += d;
    });
    this.child.once('exit', () => {
      if (this.#error === '') this.#error = `raw-frames.py exited: ${this.#stderr.trim().slice(-500)}`;
      this.#wake();
    });
  }

  /** Starts the sender on `ifname` (inside `ns`), reporting frames from `stackMac`. */
  static async start(ns: Netns, ifname: string, stackMac: string): Promise<RawPeer> {
    const p = new RawPeer(ns, ifname, stackMac);
    await p.#until(() => p.#ready, 10_000, 'raw-frames.py to start');
    return p;
  }

  /** Sends the frames, in order; resolves once they are written. */
  async send(...frames: Uint8Array[]): Promise<void> {
    const want = this.#sent + 1;
    this.child.stdin!.write(`${JSON.stringify({ send: frames.map((f) => Buffer.from(f).toString('hex')) })}\n`);
    await this.#until(() => this.#sent >= want, 5000, 'frames to be sent');
  }

  /** Waits for a segment from the stack matching `pred` (bounded); returns it. */
  async waitFor(pred: (s: RxSegment) => boolean, ms: number, what: string): Promise<RxSegment> {
    let hit: RxSegment | undefined;
    await this.#until(() => (hit = this.rx.find(pred)) !== undefined, ms, what);
    return hit!;
  }

  /** Stops the process (closing its stdin ends it). */
  close(): void {
    this.child.stdin?.end();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }

  #event(line: string): void {
    let e: { event: string; hex?: string; n?: number; message?: string };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return;
    }
    if (e.event === 'ready') this.#ready = true;
    else if (e.event === 'sent') this.#sent++;
    else if (e.event === 'error') this.#error = e.message ?? 'error';
    else if (e.event === 'rx' && e.hex !== undefined) {
      const seg = parseTcpFrame(Buffer.from(e.hex, 'hex'));
      if (seg !== null) this.rx.push(seg);
    }
  }

  async #until(pred: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      if (pred()) return;
      if (this.#error !== '') throw new Error(`${what}: ${this.#error}`);
      const left = end - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, 100));
        const self = this;
        function done(): void {
          clearTimeout(t);
          self.#waiters.delete(done);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }

  #wake(): void {
    for (const f of [...this.#waiters]) f();
  }
}

/** A TCP/IPv4 segment in an Ethernet frame, or null. */
function parseTcpFrame(f: Uint8Array): RxSegment | null {
  if (f.length < 14 + 20 + 20 || f[12] !== 0x08 || f[13] !== 0x00) return null;
  const ip = 14;
  const ihl = (f[ip]! & 15) * 4;
  if (f[ip + 9] !== 6) return null;
  const total = (f[ip + 2]! << 8) | f[ip + 3]!;
  const src = readU32(f, ip + 12);
  const dst = readU32(f, ip + 16);
  const p = wire.TcpPacket.newChecked(f, ip + ihl, total - ihl);
  if (typeof p === 'string') return null;
  const r = wire.TcpRepr.parse(p, src, dst, false, 'lenient');
  return typeof r === 'string' ? null : { src, dst, tcp: r };
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** `aa:bb:...` to bytes. */
export function macBytes(s: string): Uint8Array {
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}

/** An Ethernet frame; with `vlan`, an 802.1Q tag (that VLAN id) in front of `ethertype`. */
export function etherFrame(dst: Uint8Array, src: Uint8Array, ethertype: number, payload: Uint8Array, vlan?: number): Uint8Array {
  const tag = vlan === undefined ? 0 : 4;
  const f = new Uint8Array(14 + tag + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  if (vlan !== undefined) f.set([0x81, 0x00, (vlan >> 8) & 0x0f, vlan & 0xff], 12);
  f[12 + tag] = ethertype >> 8;
  f[13 + tag] = ethertype & 0xff;
  f.set(payload, 14 + tag);
  return f;
}

/** An IPv4 packet (no options, DF clear, TTL 64), header checksum filled. */
export function ipv4Packet(src: number, dst: number, proto: number, payload: Uint8Array, id = 1): Uint8Array {
  const b = new Uint8Array(20 + payload.length);
  b[0] = 0x45;
  b[2] = b.length >> 8;
  b[3] = b.length & 0xff;
  b[4] = id >> 8;
  b[5] = id & 0xff;
  b[8] = 64;
  b[9] = proto;
  for (let i = 0; i < 4; i++) {
    b[12 + i] = (src >>> (24 - 8 * i)) & 0xff;
    b[16 + i] = (dst >>> (24 - 8 * i)) & 0xff;
  }
  const c = wire.internetChecksum(b, 0, 20);
  b[10] = c >> 8;
  b[11] = c & 0xff;
  b.set(payload, 20);
  return b;
}

/** Fields of a crafted segment; `rawOptions` replaces the options with exactly these bytes (EOL-padded). */
export type SegSpec = Partial<TcpRepr> & { rawOptions?: Uint8Array; payload?: Uint8Array };

/** A TCP segment from `src` to `dst`, checksum filled. */
export function tcpSegment(src: number, dst: number, spec: SegSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const r: TcpRepr = {
    srcPort: 40000,
    dstPort: 80,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 65535,
    urgent: 0,
    mss: null,
    windowScale: null,
    sackPermitted: false,
    sack: null,
    tsVal: null,
    tsEcr: 0,
    ...spec,
    payloadLen: payload.length,
  };
  const raw = spec.rawOptions;
  const olen = raw === undefined ? wire.TcpRepr.headerLen(r) - 20 : (raw.length + 3) & ~3;
  const hlen = 20 + olen;
  const buf = new Uint8Array(hlen + payload.length);
  if (raw === undefined) wire.TcpRepr.emit({ ...r, payloadLen: 0 }, buf, 0, src, dst, 'defer');
  else {
    wire.TcpRepr.emit({ ...r, mss: null, windowScale: null, sackPermitted: false, sack: null, tsVal: null, payloadLen: 0 }, buf, 0, src, dst, 'defer');
    buf.set(raw, 20);
    buf[12] = (hlen >>> 2) << 4;
  }
  buf.set(payload, hlen);
  new wire.TcpPacket(buf).fillChecksum(src, dst);
  return buf;
}

/** An ICMP echo request (id 7, seq 1, 8 bytes of data), checksum filled. */
export function icmpEcho(): Uint8Array {
  const b = Uint8Array.of(8, 0, 0, 0, 0, 7, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8);
  const c = wire.internetChecksum(b, 0, b.length);
  b[2] = c >> 8;
  b[3] = c & 0xff;
  return b;
}
