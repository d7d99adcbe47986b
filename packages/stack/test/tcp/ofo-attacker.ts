/**
 * An out-of-order flooder on a MemWire (for the attack test and the
 * benchmark): a raw endpoint that opens connections to a victim's listener
 * with real handshakes, then sends only out-of-order segments — small
 * segments with holes, never the byte at RCV.NXT — so everything it sends
 * must wait in the victim's reassembly queues. It keeps no stack of its
 * own: frames are built from the wire formats and read back only for the
 * SYN-ACKs. Every frame stays on the in-memory wire.
 */
import { MemWire, type MemWireLink } from '../../src/link/memwire.js';
import { ETHERNET_HEADER_LEN } from '../../src/wire/ethernet.js';
import { IPV4_HEADER_LEN, IpProto, Ipv4Repr } from '../../src/wire/ipv4.js';
import { TcpFlag, TcpPacket, TcpRepr } from '../../src/wire/tcp.js';


/** One connection of the attacker. */
export interface AttackConn {
  sport: number;
  /** Our ISS: the victim's RCV.NXT stays at iss + 1 (we never send that byte). */
  iss: number;
  /** The victim's ISS + 1 (what we acknowledge), once its SYN-ACK came. */
  ack: number;
  established: boolean;
}

/** The header fields a sent segment varies. */
interface SegHead {
  flags: number;
  seq: number;
  ack: number;
  mss?: number;
  windowScale?: number;
}

/** Options of an {@link OfoAttacker}. */
export interface OfoAttackerOptions {
  /** Our address (the victim must know our MAC: add a static ARP entry). */
  ip: number;
  victimIp: number;
  victimMac: Uint8Array;
  /** The victim's listening port. */
  port: number;
  /** Connections to open (source ports 50000 + i). */
  conns: number;
}

/** Sizes of the flood's segments: mostly 200 bytes, every third 600 (a cluster each). */
function segLen(k: number): number {
  return k % 3 === 2 ? 600 : 200;
}

/** Distance between the starts of consecutive flood segments (the rest is a hole). */
const STRIDE = 800;
/** Where the flood starts above RCV.NXT (the hole in front that never fills). */
const FIRST = 1000;
/** Distinct flood segments per connection before the pattern repeats. */
const RING = 3000;

/** See the module comment. */
export class OfoAttacker {
  readonly link: MemWireLink;
  readonly conns: AttackConn[] = [];
  /** Segments and payload bytes sent so far. */
  segments = 0;
  bytes = 0;
  private round = 0;
  /** Flood frames already built, by connection and position. */
  private readonly ring = new Map<number, Uint8Array>();
  private readonly payload = new Uint8Array(600).fill(0x41);

  constructor(
    wire: MemWire,
    readonly opts: OfoAttackerOptions,
  ) {
    this.link = wire.attachLink({ name: 'evil', queueLimit: 1 << 16 });
    this.link.attach((frames) => {
      for (const f of frames) this.receive(f);
    });
    for (let i = 0; i < opts.conns; i++) {
      this.conns.push({ sport: 50000 + i, iss: (0x5eed0000 + i * 0x01000000) >>> 0, ack: 0, established: false });
    }
  }

  /** Our MAC (for the victim's ARP table). */
  get mac(): Uint8Array {
    return this.link.mac;
  }

  /** Send every connection's SYN (window scale 7 so the victim's window can reach a megabyte). */
  sendSyns(): void {
    for (const c of this.conns) {
      this.send(c, { flags: TcpFlag.SYN, seq: c.iss, ack: 0, mss: 1460, windowScale: 7 }, 0);
    }
  }

  /** How many handshakes completed. */
  get established(): number {
    return this.conns.filter((c) => c.established).length;
  }

  /**
   * One round of the flood: `perConn` segments on every connection, at
   * offsets that walk through the victim's window and wrap (so later rounds
   * also repeat and overlap earlier data, as a real attacker's retries do).
   * @param span how far above RCV.NXT the offsets go (stay inside the window).
   */
  flood(perConn: number, span = 900_000): void {
    this.floodLap(perConn, span, true);
  }

  /** Build every flood frame now, sending nothing (a benchmark keeps our own cost out of its timing). */
  prepare(span = 900_000): void {
    const round = this.round;
    this.round = 0;
    this.floodLap(RING, span, false);
    this.round = round;
  }

  private floodLap(perConn: number, span: number, send: boolean): void {
    const slots = Math.floor((span - FIRST) / STRIDE);
    for (let ci = 0; ci < this.conns.length; ci++) {
      const c = this.conns[ci]!;
      if (!c.established) continue;
      for (let j = 0; j < perConn; j++) {
        const k = (this.round * perConn + j) % RING;
        const len = segLen(k);
        // Frames are built once and sent again on later laps (the victim
        // copies what it receives), so a benchmark times the victim, not us.
        const key = ci * RING + k;
        let frame = this.ring.get(key);
        if (frame === undefined) {
          const off = FIRST + ((k * 7919) % slots) * STRIDE + (k % 5) * 8;
          frame = this.build(c, { flags: TcpFlag.ACK, seq: (c.iss + 1 + off) >>> 0, ack: c.ack }, len);
          this.ring.set(key, frame);
        }
        if (!send) continue;
        this.link.output(frame);
        this.segments++;
        this.bytes += len;
      }
    }
    if (send) this.round++;
  }

  /** Reset every connection (exact sequence number: RFC 5961 accepts it). */
  resetAll(): void {
    for (const c of this.conns) {
      if (c.established) this.send(c, { flags: TcpFlag.RST, seq: (c.iss + 1) >>> 0, ack: 0 }, 0);
      c.established = false;
    }
  }

  private receive(frame: Uint8Array): void {
    if (frame.length < ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + 20) return;
    if (frame[12] !== 0x08 || frame[13] !== 0x00) return;
    const ip = ETHERNET_HEADER_LEN;
    if (frame[ip + 9] !== IpProto.TCP) return;
    const ihl = (frame[ip]! & 15) << 2;
    // Only SYN-ACKs matter (the victim's duplicate ACKs are ignored cheaply).
    if ((frame[ip + ihl + 13]! & TcpFlag.SYN) === 0) return;
    const p = TcpPacket.newChecked(frame.subarray(ip + ihl));
    if (typeof p === 'string') return;
    const r = TcpRepr.parse(p, this.opts.victimIp, this.opts.ip, false);
    if (typeof r === 'string') return;
    const c = this.conns.find((x) => x.sport === r.dstPort);
    if (c === undefined) return;
    if ((r.flags & (TcpFlag.SYN | TcpFlag.ACK)) === (TcpFlag.SYN | TcpFlag.ACK) && !c.established) {
      c.ack = (r.seq + 1) >>> 0;
      c.established = true;
      this.send(c, { flags: TcpFlag.ACK, seq: (c.iss + 1) >>> 0, ack: c.ack }, 0);
    }
  }

  private send(c: AttackConn, h: SegHead, len: number): void {
    this.link.output(this.build(c, h, len));
  }

  private build(c: AttackConn, h: SegHead, len: number): Uint8Array {
    const o = this.opts;
    const r: TcpRepr = {
      srcPort: c.sport,
      dstPort: o.port,
      seq: h.seq,
      ack: h.ack,
      flags: h.flags,
      window: 65535,
      urgent: 0,
      mss: h.mss ?? null,
      windowScale: h.windowScale ?? null,
      sackPermitted: false,
      sack: null,
      tsVal: null,
      tsEcr: 0,
      payloadLen: len,
    };
    const thl = TcpRepr.headerLen(r);
    const ipr: Ipv4Repr = {
      src: o.ip,
      dst: o.victimIp,
      protocol: IpProto.TCP,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident: 0,
      dontFrag: true,
      moreFrags: false,
      fragOffset: 0,
      payloadLen: thl + len,
      options: null,
    };
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + thl + len);
    frame.set(o.victimMac, 0);
    frame.set(this.link.mac, 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
    Ipv4Repr.emit(ipr, frame, ETHERNET_HEADER_LEN);
    const t = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN;
    if (len > 0) frame.set(this.payload.subarray(0, len), t + thl);
    TcpRepr.emit(r, frame, t, o.ip, o.victimIp, 'fill');
    return frame;
  }
}
