import { expect } from 'chai';
import { ipv4ToString, parseIpv4 } from '../../src/wire/address.js';
import {
  ICMP_QUOTE_MAX,
  IcmpPacket,
  IcmpRepr,
  IcmpType,
  icmpQuoteLen,
  parseIcmpQuote,
  TimeExceededCode,
  UnreachCode,
} from '../../src/wire/icmp.js';
import { IpProto, Ipv4Packet, Ipv4Repr } from '../../src/wire/ipv4.js';
import {
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_FRAG_NEEDED,
  ICMP_NET_UNREACH,
  ICMP_TIME_EXCEEDED,
  IPV4_FRAG_FIRST,
  IPV4_FRAG_LAST,
  IPV4_RR_REPLY,
  IPV4_RR_REQUEST,
  LO_ICMP_ECHO_REQUEST,
  LO_PORT_UNREACH,
  LO_TCP_RST,
  TCP_DATA,
  UDP_HELLO,
  VLAN_ECHO_REQUEST,
} from './fixtures.js';

const ip = (s: string): number => parseIpv4(s)!;

/** The IPv4 view of an untagged fixture frame (VLAN frames: pass 18). */
function ipv4(frame: Uint8Array, off = 14): Ipv4Packet {
  const p = Ipv4Packet.newChecked(frame, off);
  if (typeof p === 'string') throw new Error(`fixture refused: ${p}`);
  return p;
}

function ipv4Repr(frame: Uint8Array, off = 14): Ipv4Repr {
  const r = Ipv4Repr.parse(ipv4(frame, off));
  if (typeof r === 'string') throw new Error(`fixture refused: ${r}`);
  return r;
}

function icmp(frame: Uint8Array): IcmpRepr {
  const p = ipv4(frame);
  const m = IcmpPacket.newChecked(p.buf, p.payloadOffset, p.payloadLen);
  if (typeof m === 'string') throw new Error(`fixture refused: ${m}`);
  const r = IcmpRepr.parse(m);
  if (typeof r === 'string') throw new Error(`fixture refused: ${r}`);
  return r;
}

const ALL_IPV4: Record<string, Uint8Array> = {
  ICMP_ECHO_REQUEST,
  ICMP_ECHO_REPLY,
  IPV4_FRAG_FIRST,
  IPV4_FRAG_LAST,
  ICMP_FRAG_NEEDED,
  ICMP_TIME_EXCEEDED,
  ICMP_NET_UNREACH,
  IPV4_RR_REQUEST,
  IPV4_RR_REPLY,
  LO_ICMP_ECHO_REQUEST,
  LO_PORT_UNREACH,
  LO_TCP_RST,
  UDP_HELLO,
  TCP_DATA,
};

describe('wire/ipv4', () => {
  it('parses a real echo request header', () => {
    const p = ipv4(ICMP_ECHO_REQUEST);
    expect(p.version).to.equal(4);
    expect(p.headerLen).to.equal(20);
    expect(p.totalLen).to.equal(84);
    expect(p.ident).to.equal(0xb447);
    expect(p.dontFrag).to.equal(true);
    expect(p.moreFrags).to.equal(false);
    expect(p.isFragment).to.equal(false);
    expect(p.ttl).to.equal(64);
    expect(p.protocol).to.equal(IpProto.ICMP);
    expect(p.checksum).to.equal(0x71c5);
    expect(ipv4ToString(p.src)).to.equal('10.77.0.1');
    expect(ipv4ToString(p.dst)).to.equal('10.77.0.2');
    expect(p.payloadLen).to.equal(64);
    expect(p.verifyChecksum()).to.equal(true);
  });

  it('parses DSCP and ECN (ICMP errors carry tos 0xc0, ECN-capable TCP carries ECT(0))', () => {
    const e = ipv4Repr(ICMP_FRAG_NEEDED);
    expect(e.dscp).to.equal(0x30);
    expect(e.ecn).to.equal(0);
    const t = ipv4Repr(TCP_DATA);
    expect(t.dscp).to.equal(0);
    expect(t.ecn).to.equal(2);
  });

  it('parses real fragments: first (MF, offset 0) and last (offset 2960)', () => {
    const first = ipv4Repr(IPV4_FRAG_FIRST);
    expect(first.moreFrags).to.equal(true);
    expect(first.dontFrag).to.equal(false);
    expect(first.fragOffset).to.equal(0);
    expect(first.payloadLen).to.equal(1480);
    const last = ipv4(IPV4_FRAG_LAST);
    expect(last.moreFrags).to.equal(false);
    expect(last.fragOffset).to.equal(2960);
    expect(last.isFragment).to.equal(true);
    expect(last.ident).to.equal(ipv4(IPV4_FRAG_FIRST).ident);
    expect(last.payloadLen).to.equal(48);
  });

  it('parses options bytes of a record-route packet (IHL 15)', () => {
    const r = ipv4Repr(IPV4_RR_REQUEST);
    expect(ipv4(IPV4_RR_REQUEST).headerLen).to.equal(60);
    expect(r.options).to.have.length(40);
    expect(r.options![0]).to.equal(1); // NOP
    expect(r.options![1]).to.equal(7); // RR
    expect(r.options![2]).to.equal(39);
    expect(r.payloadLen).to.equal(64);
    const back = ipv4Repr(IPV4_RR_REPLY);
    expect(back.options![0]).to.equal(7);
    expect(back.ttl).to.equal(63);
  });

  it('finds the IPv4 packet inside an 802.1Q frame', () => {
    const r = ipv4Repr(VLAN_ECHO_REQUEST, 18);
    expect(r.protocol).to.equal(IpProto.ICMP);
    expect(r.dst).to.equal(ip('10.78.0.2'));
  });

  for (const [name, fx] of Object.entries(ALL_IPV4)) {
    it(`emit(parse(${name})) reproduces the header, checksum included`, () => {
      const p = ipv4(fx);
      const r = ipv4Repr(fx);
      expect(Ipv4Repr.headerLen(r)).to.equal(p.headerLen);
      expect(Ipv4Repr.bufferLen(r)).to.equal(p.totalLen);
      const out = new Uint8Array(Ipv4Repr.bufferLen(r));
      const h = Ipv4Repr.emit(r, out, 0);
      expect(out.subarray(0, h)).to.deep.equal(fx.subarray(14, 14 + h));
    });
  }

  it('a flipped bit anywhere in the header fails the checksum', () => {
    const f = IPV4_RR_REQUEST.slice();
    for (let bit = 0; bit < 60 * 8; bit++) {
      const i = 14 + (bit >> 3);
      f[i] ^= 1 << (bit & 7);
      const p = Ipv4Packet.newChecked(f, 14);
      // Some flips break the lengths first; either way the packet is refused, never thrown on.
      const r = typeof p === 'string' ? p : Ipv4Repr.parse(p);
      expect(typeof r, `bit ${bit}`).to.equal('string');
      f[i] ^= 1 << (bit & 7);
    }
    expect(typeof Ipv4Repr.parse(ipv4(f))).to.equal('object');
  });

  it('refuses bad version, IHL 0..4, total length beyond the buffer or below the header', () => {
    const body = ICMP_ECHO_REQUEST.slice(14);
    for (let n = 0; n < body.length; n++) expect(Ipv4Packet.newChecked(body.subarray(0, n)), `len ${n}`).to.equal('truncated');
    for (let ihl = 0; ihl < 5; ihl++) {
      const c = body.slice();
      c[0] = 0x40 | ihl;
      expect(Ipv4Packet.newChecked(c), `ihl ${ihl}`).to.equal('badIhl');
    }
    const v6 = body.slice();
    v6[0] = 0x65;
    expect(Ipv4Packet.newChecked(v6)).to.equal('badVersion');
    const long = body.slice();
    long[3] = 85; // total length 85 > 84-byte buffer
    expect(Ipv4Packet.newChecked(long)).to.equal('truncated');
    const short = body.slice();
    short[2] = 0;
    short[3] = 19;
    expect(Ipv4Packet.newChecked(short)).to.equal('badLength');
    const ihlBig = body.slice(0, 40);
    ihlBig[0] = 0x4f; // 60-byte header in a 40-byte buffer
    expect(Ipv4Packet.newChecked(ihlBig)).to.equal('truncated');
    const sum = body.slice();
    sum[10] ^= 0xff;
    expect(Ipv4Repr.parse(ipv4(sum, 0))).to.equal('badChecksum');
    expect(typeof Ipv4Repr.parse(ipv4(sum, 0), false)).to.equal('object');
  });

  it('accepts Ethernet padding after the datagram and ignores it', () => {
    const padded = new Uint8Array(ICMP_ECHO_REQUEST.length + 10);
    padded.set(ICMP_ECHO_REQUEST);
    const p = ipv4(padded);
    expect(p.payloadLen).to.equal(64);
    expect(p.payload().length).to.equal(64);
  });

  it('emits options padded to 4 bytes and a valid checksum', () => {
    const r: Ipv4Repr = {
      src: ip('192.0.2.1'),
      dst: ip('198.51.100.7'),
      protocol: IpProto.UDP,
      ttl: 1,
      dscp: 46,
      ecn: 1,
      ident: 0xbeef,
      dontFrag: false,
      moreFrags: true,
      fragOffset: 1480,
      payloadLen: 8,
      options: new Uint8Array([0x94, 0x04, 0x00, 0x00, 0x01]), // router alert + NOP: 5 bytes -> 8
    };
    expect(Ipv4Repr.headerLen(r)).to.equal(28);
    const out = new Uint8Array(Ipv4Repr.bufferLen(r));
    Ipv4Repr.emit(r, out, 0);
    const p = ipv4(out, 0);
    expect(p.verifyChecksum()).to.equal(true);
    const back = Ipv4Repr.parse(p) as Ipv4Repr;
    expect(back.options).to.deep.equal(new Uint8Array([0x94, 0x04, 0x00, 0x00, 0x01, 0, 0, 0]));
    expect({ ...back, options: null }).to.deep.equal({ ...r, options: null });
  });

  it('setFragment/setTotalLen/fillChecksum rewrite a header in place', () => {
    const b = ICMP_ECHO_REQUEST.slice(14);
    const p = ipv4(b, 0);
    p.setFragment(false, true, 1480);
    p.setTotalLen(60);
    expect(p.verifyChecksum()).to.equal(false);
    p.fillChecksum();
    expect(p.verifyChecksum()).to.equal(true);
    expect(p.fragOffset).to.equal(1480);
    expect(p.moreFrags).to.equal(true);
    expect(p.totalLen).to.equal(60);
  });
});

describe('wire/icmp', () => {
  it('parses a real echo request and reply', () => {
    const q = icmp(ICMP_ECHO_REQUEST);
    expect(q.type).to.equal(IcmpType.ECHO_REQUEST);
    expect(q.code).to.equal(0);
    expect(q.ident).to.equal(0x1503);
    expect(q.seqNo).to.equal(1);
    expect(q.data).to.have.length(56);
    const a = icmp(ICMP_ECHO_REPLY);
    expect(a.type).to.equal(IcmpType.ECHO_REPLY);
    expect(a.ident).to.equal(q.ident);
    expect(a.data).to.deep.equal(q.data);
  });

  it('parses fragmentation needed with the RFC 1191 next-hop MTU and its quote', () => {
    const r = icmp(ICMP_FRAG_NEEDED);
    expect(r.type).to.equal(IcmpType.DEST_UNREACH);
    expect(r.code).to.equal(UnreachCode.FRAG_NEEDED);
    expect(r.mtu).to.equal(1000);
    expect(r.data).to.have.length(548); // Linux quotes up to 576 bytes in all
    expect(icmpQuoteLen(1428)).to.equal(ICMP_QUOTE_MAX);
    const q = parseIcmpQuote(r.data);
    if (typeof q === 'string') throw new Error(q);
    expect(ipv4ToString(q.src)).to.equal('10.77.0.1');
    expect(ipv4ToString(q.dst)).to.equal('10.77.1.2');
    expect(q.protocol).to.equal(IpProto.ICMP);
    expect(q.totalLen).to.equal(1428);
    expect(q.headerLen).to.equal(20);
    expect(q.srcPort).to.equal(0x0800); // type 8 code 0 of the quoted echo
  });

  it('parses time exceeded and net unreachable', () => {
    const t = icmp(ICMP_TIME_EXCEEDED);
    expect(t.type).to.equal(IcmpType.TIME_EXCEEDED);
    expect(t.code).to.equal(TimeExceededCode.TTL);
    expect(t.mtu).to.equal(0);
    const tq = parseIcmpQuote(t.data);
    expect(typeof tq === 'object' && tq.dst).to.equal(ip('10.77.1.2'));
    const u = icmp(ICMP_NET_UNREACH);
    expect(u.code).to.equal(UnreachCode.NET);
    const uq = parseIcmpQuote(u.data);
    expect(typeof uq === 'object' && uq.dst).to.equal(ip('10.77.10.2'));
  });

  it('parses a real port unreachable and finds the UDP ports of the quoted datagram', () => {
    const r = icmp(LO_PORT_UNREACH);
    expect(r.type).to.equal(IcmpType.DEST_UNREACH);
    expect(r.code).to.equal(UnreachCode.PORT);
    const q = parseIcmpQuote(r.data);
    if (typeof q === 'string') throw new Error(q);
    expect(q.protocol).to.equal(IpProto.UDP);
    expect(q.srcPort).to.equal(0x8d4a);
    expect(q.dstPort).to.equal(9);
    expect(q.src).to.equal(ip('127.0.0.1'));
  });

  for (const [name, fx] of Object.entries({ ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMP_FRAG_NEEDED, ICMP_TIME_EXCEEDED, ICMP_NET_UNREACH, LO_PORT_UNREACH, LO_ICMP_ECHO_REQUEST })) {
    it(`emit(parse(${name})) == ${name}`, () => {
      const p = ipv4(fx);
      const r = icmp(fx);
      const out = new Uint8Array(IcmpRepr.bufferLen(r));
      expect(IcmpRepr.emit(r, out, 0)).to.equal(p.payloadLen);
      expect(out).to.deep.equal(fx.subarray(p.payloadOffset, p.payloadOffset + p.payloadLen));
    });
  }

  it('emits in place without copying the data onto itself', () => {
    const b = ICMP_ECHO_REQUEST.slice();
    const p = ipv4(b);
    const m = new IcmpPacket(b, p.payloadOffset, p.payloadLen);
    const r = IcmpRepr.parse(m) as IcmpRepr;
    const reply = { ...r, type: IcmpType.ECHO_REPLY };
    IcmpRepr.emit(reply, b, p.payloadOffset);
    expect(m.type).to.equal(IcmpType.ECHO_REPLY);
    expect(m.verifyChecksum()).to.equal(true);
    expect(m.data()).to.deep.equal(ICMP_ECHO_REQUEST.subarray(42));
  });

  it('emits a parameter problem, a redirect and a frag-needed that parse back', () => {
    const quote = ICMP_ECHO_REQUEST.slice(14, 14 + 28);
    const cases: IcmpRepr[] = [
      { type: IcmpType.PARAM_PROBLEM, code: 0, ident: 0, seqNo: 0, mtu: 0, pointer: 20, gateway: 0, data: quote },
      { type: IcmpType.REDIRECT, code: 1, ident: 0, seqNo: 0, mtu: 0, pointer: 0, gateway: ip('10.0.0.254'), data: quote },
      { type: IcmpType.DEST_UNREACH, code: UnreachCode.FRAG_NEEDED, ident: 0, seqNo: 0, mtu: 1280, pointer: 0, gateway: 0, data: quote },
    ];
    for (const r of cases) {
      const out = new Uint8Array(IcmpRepr.bufferLen(r));
      IcmpRepr.emit(r, out, 0);
      const back = IcmpRepr.parse(IcmpPacket.newChecked(out) as IcmpPacket);
      expect(back).to.deep.equal(r);
    }
  });

  it('refuses truncation, bad checksums, unknown types and short or bogus quotes', () => {
    const p = ipv4(LO_PORT_UNREACH);
    const msg = LO_PORT_UNREACH.slice(p.payloadOffset, p.payloadOffset + p.payloadLen);
    for (let n = 0; n < 8; n++) expect(IcmpPacket.newChecked(msg.subarray(0, n))).to.equal('truncated');
    // A checked view of any shorter length parses to an error (checksum or quote), never throws.
    for (let n = 8; n < msg.length; n++) {
      const r = IcmpRepr.parse(IcmpPacket.newChecked(msg.subarray(0, n)) as IcmpPacket);
      expect(r, `len ${n}`).to.be.oneOf(['badChecksum', 'badOriginal']);
    }
    const flipped = msg.slice();
    flipped[20] ^= 4;
    expect(IcmpRepr.parse(new IcmpPacket(flipped))).to.equal('badChecksum');
    const ts = msg.slice();
    ts[0] = 13; // timestamp request: not handled
    expect(IcmpRepr.parse(new IcmpPacket(ts))).to.equal('unknownType');
    // A 20-byte quote (header, no transport bytes) with a correct checksum.
    const short = msg.slice(0, 8 + 20);
    const sp = new IcmpPacket(short);
    sp.fillChecksum();
    expect(IcmpRepr.parse(sp)).to.equal('badOriginal');
    expect(IcmpRepr.parse(sp, false)).to.equal('badOriginal');
    const notV4 = msg.slice();
    notV4[8] = 0x60;
    const nv = new IcmpPacket(notV4);
    nv.fillChecksum();
    expect(IcmpRepr.parse(nv)).to.equal('badOriginal');
    expect(parseIcmpQuote(new Uint8Array(0))).to.equal('badOriginal');
  });
});
