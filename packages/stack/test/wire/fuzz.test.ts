import { expect } from 'chai';
import fc from 'fast-check';
import { ArpPacket, ArpRepr } from '../../src/wire/arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetFrame, EthernetRepr } from '../../src/wire/ethernet.js';
import { IcmpPacket, IcmpRepr, parseIcmpQuote } from '../../src/wire/icmp.js';
import { IpProto, Ipv4Packet, Ipv4Repr } from '../../src/wire/ipv4.js';
import { TcpPacket, TcpRepr } from '../../src/wire/tcp.js';
import { UdpPacket, UdpRepr } from '../../src/wire/udp.js';
import * as fx from './fixtures.js';

const FIXTURES: Uint8Array[] = Object.values(fx).filter((v): v is Uint8Array => v instanceof Uint8Array);

/** Call every getter a view class defines; each must give a finite number or a boolean. */
function touchGetters(view: object): void {
  const proto = Object.getPrototypeOf(view) as object;
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
    if (!d.get) continue;
    const v = (d.get as () => unknown).call(view);
    if (typeof v === 'number') expect(Number.isFinite(v), name).to.equal(true);
    else expect(typeof v, name).to.equal('boolean');
  }
}

/** A view's claimed regions must lie inside the bytes it was checked over. */
function inside(off: number, len: number, view: { off: number; len: number; buf: Uint8Array }): void {
  expect(off).to.be.at.least(view.off);
  expect(len).to.be.at.least(0);
  expect(off + len).to.be.at.most(view.off + view.len);
  expect(view.off + view.len).to.be.at.most(view.buf.length);
}

/**
 * The receive path every layer will run, top to bottom, through the checked
 * constructors only. Returns how far it got (for coverage), never throws.
 */
function decode(frame: Uint8Array): string {
  const eth = EthernetFrame.newChecked(frame);
  if (typeof eth === 'string') return eth;
  touchGetters(eth);
  inside(eth.payloadOffset, eth.payloadLen, eth);
  EthernetRepr.parse(eth);
  if (eth.ethertype === ETHERTYPE_ARP) {
    const a = ArpPacket.newChecked(frame, eth.payloadOffset, eth.payloadLen);
    if (typeof a === 'string') return a;
    touchGetters(a);
    ArpRepr.parse(a);
    return 'arp';
  }
  if (eth.ethertype !== ETHERTYPE_IPV4) return 'other';
  const p = Ipv4Packet.newChecked(frame, eth.payloadOffset, eth.payloadLen);
  if (typeof p === 'string') return p;
  touchGetters(p);
  inside(p.payloadOffset, p.payloadLen, p);
  inside(p.optionsOffset, p.optionsLen, p);
  p.payload();
  const ipr = Ipv4Repr.parse(p, false);
  if (typeof ipr === 'string') return ipr;
  Ipv4Repr.parse(p, true);
  if (p.isFragment && p.fragOffset !== 0) return 'fragment';
  const off = p.payloadOffset;
  const len = p.payloadLen;
  switch (p.protocol) {
    case IpProto.ICMP: {
      const m = IcmpPacket.newChecked(frame, off, len);
      if (typeof m === 'string') return m;
      touchGetters(m);
      inside(m.dataOffset, m.dataLen, m);
      const r = IcmpRepr.parse(m, false);
      IcmpRepr.parse(m, true);
      if (typeof r === 'string') return r;
      parseIcmpQuote(r.data);
      return 'icmp';
    }
    case IpProto.UDP: {
      const u = UdpPacket.newChecked(frame, off, len);
      if (typeof u === 'string') return u;
      touchGetters(u);
      inside(u.payloadOffset, u.payloadLen, u);
      const r = UdpRepr.parse(u, ipr.src, ipr.dst);
      return typeof r === 'string' ? r : 'udp';
    }
    case IpProto.TCP: {
      const t = TcpPacket.newChecked(frame, off, len);
      if (typeof t === 'string') return t;
      touchGetters(t);
      inside(t.payloadOffset, t.payloadLen, t);
      inside(t.optionsOffset, t.optionsLen, t);
      TcpRepr.parse(t, ipr.src, ipr.dst, true);
      const r = TcpRepr.parse(t, ipr.src, ipr.dst, false);
      return typeof r === 'string' ? r : 'tcp';
    }
    default:
      return 'proto';
  }
}

describe('wire fuzz (fast-check): bad input never throws', () => {
  it('every fixture decodes all the way up', () => {
    for (const f of FIXTURES) {
      expect(decode(f)).to.be.oneOf(['arp', 'icmp', 'udp', 'tcp', 'fragment', 'badChecksum']);
    }
  });

  it('every truncation of every fixture is refused or decoded, never thrown on', () => {
    const seen = new Set<string>();
    for (const f of FIXTURES) {
      for (let n = 0; n <= f.length; n++) seen.add(decode(f.slice(0, n)));
    }
    // A cut frame fails at the Ethernet or IPv4 length checks; the whole frame decodes.
    expect([...seen]).to.include.members(['truncated', 'arp', 'icmp', 'udp', 'tcp']);
  });

  it('random byte arrays never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        decode(b);
        // Also each layer on its own, at every small offset.
        for (let o = 0; o < Math.min(4, b.length); o++) {
          for (const C of [EthernetFrame, ArpPacket, Ipv4Packet, IcmpPacket, UdpPacket, TcpPacket]) {
            const v = C.newChecked(b, o);
            if (typeof v !== 'string') touchGetters(v);
          }
          const t = TcpPacket.newChecked(b, o);
          if (typeof t !== 'string') TcpRepr.parse(t, 1, 2, false);
          const i = IcmpPacket.newChecked(b, o);
          if (typeof i !== 'string') IcmpRepr.parse(i, false);
          parseIcmpQuote(b.subarray(o));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('random mutations and truncations of real packets never throw', () => {
    fc.assert(
      fc.property(
        fc.nat(FIXTURES.length - 1),
        fc.array(fc.tuple(fc.nat(1600), fc.nat(255)), { minLength: 1, maxLength: 6 }),
        fc.nat(1600),
        (which, edits, cut) => {
          const f = FIXTURES[which].slice();
          // Bias edits toward the headers, where the length fields live.
          for (const [i, v] of edits) f[i % Math.min(f.length, 80)] = v;
          decode(f);
          decode(f.subarray(0, cut % (f.length + 1)));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('random TCP option bytes: parse never throws and only refuses with badOption', () => {
    const base = fx.TCP_SYN.slice(34, 34 + 40);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (opts) => {
        const b = base.slice();
        b.set(opts, 20);
        const r = TcpRepr.parse(new TcpPacket(b), 0, 0, false);
        if (typeof r === 'string') expect(r).to.equal('badOption');
        else if (r.sack !== null) expect(r.sack.length % 2).to.equal(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('wire round trips (fast-check): parse(emit(r)) == r', () => {
  const u32 = fc.nat(0xffffffff);
  const u16 = fc.nat(0xffff);

  it('TCP', () => {
    const arb = fc.record({
      srcPort: u16,
      dstPort: u16,
      seq: u32,
      ack: u32,
      flags: fc.nat(255),
      window: u16,
      urgent: u16,
      mss: fc.option(u16),
      windowScale: fc.option(fc.nat(255)),
      sackPermitted: fc.boolean(),
      sack: fc.option(fc.array(u32, { minLength: 2, maxLength: 2 })),
      tsVal: fc.option(u32),
      tsEcr: u32,
      payloadLen: fc.nat(40),
    });
    fc.assert(
      fc.property(arb, u32, u32, (r0, src, dst) => {
        const r: TcpRepr = { ...r0, tsEcr: r0.tsVal === null ? 0 : r0.tsEcr };
        const out = new Uint8Array(TcpRepr.bufferLen(r));
        TcpRepr.emit(r, out, 0, src, dst);
        const v = TcpPacket.newChecked(out);
        expect(v).to.be.instanceOf(TcpPacket);
        expect(TcpRepr.parse(v as TcpPacket, src, dst)).to.deep.equal(r);
      }),
      { numRuns: 300 },
    );
  });

  it('IPv4', () => {
    const arb = fc.record({
      src: u32,
      dst: u32,
      protocol: fc.nat(255),
      ttl: fc.nat(255),
      dscp: fc.nat(63),
      ecn: fc.nat(3),
      ident: u16,
      dontFrag: fc.boolean(),
      moreFrags: fc.boolean(),
      fragOffset: fc.nat(0x1fff).map((x) => x * 8),
      payloadLen: fc.nat(64),
      options: fc.option(fc.nat(10).map((n) => new Uint8Array(n * 4).fill(1))),
    });
    fc.assert(
      fc.property(arb, (r) => {
        const out = new Uint8Array(Ipv4Repr.bufferLen(r));
        Ipv4Repr.emit(r, out, 0);
        const back = Ipv4Repr.parse(Ipv4Packet.newChecked(out) as Ipv4Packet);
        const want = { ...r, options: r.options !== null && r.options.length === 0 ? null : r.options };
        expect(back).to.deep.equal(want);
      }),
      { numRuns: 300 },
    );
  });

  it('UDP and ICMP echo', () => {
    fc.assert(
      fc.property(u16, u16, fc.uint8Array({ maxLength: 100 }), u32, u32, u16, u16, (sp, dp, data, src, dst, id, sq) => {
        const r: UdpRepr = { srcPort: sp, dstPort: dp, payloadLen: data.length };
        const out = new Uint8Array(UdpRepr.bufferLen(r));
        out.set(data, 8);
        UdpRepr.emit(r, out, 0, src, dst);
        expect(UdpRepr.parse(UdpPacket.newChecked(out) as UdpPacket, src, dst)).to.deep.equal(r);
        const e: IcmpRepr = { type: 8, code: 0, ident: id, seqNo: sq, mtu: 0, pointer: 0, gateway: 0, data };
        const m = new Uint8Array(IcmpRepr.bufferLen(e));
        IcmpRepr.emit(e, m, 0);
        expect(IcmpRepr.parse(IcmpPacket.newChecked(m) as IcmpPacket)).to.deep.equal(e);
      }),
      { numRuns: 300 },
    );
  });
});
