import { expect } from 'chai';
import { parseIpv4 } from '../../src/wire/address.js';
import { foldSum, internetChecksum, pseudoHeaderSum, sum16 } from '../../src/wire/checksum.js';
import { Ipv4Packet } from '../../src/wire/ipv4.js';
import fc from 'fast-check';
import { newSackScratch, TcpFlag, TcpPacket, TcpRepr, tcpFlagsToString } from '../../src/wire/tcp.js';
import { blankRepr as blankTcpRepr } from '../../src/transport/tcp/subr.js';
import { UdpPacket, UdpRepr } from '../../src/wire/udp.js';
import {
  LO_TCP_RST,
  LO_UDP_PARTIAL_CSUM,
  TCP_ACK,
  TCP_DATA,
  TCP_DATA_CWR,
  TCP_FIN,
  TCP_SACK,
  TCP_SYN,
  TCP_SYN_ACK,
  UDP_HELLO,
  UDP_NO_CHECKSUM,
  UDP_ODD,
} from './fixtures.js';

const ip = (s: string): number => parseIpv4(s)!;

function writeSeq(b: Uint8Array, seq: number): void {
  b[4] = seq >>> 24;
  b[5] = seq >>> 16;
  b[6] = seq >>> 8;
  b[7] = seq;
}
const A = ip('10.78.0.1');
const B = ip('10.78.0.2');

/** IPv4 addresses and the transport segment of an untagged fixture frame. */
function seg(frame: Uint8Array): { src: number; dst: number; buf: Uint8Array; off: number; len: number } {
  const p = Ipv4Packet.newChecked(frame, 14);
  if (typeof p === 'string') throw new Error(`fixture refused: ${p}`);
  return { src: p.src, dst: p.dst, buf: frame, off: p.payloadOffset, len: p.payloadLen };
}

function udp(frame: Uint8Array): { v: UdpPacket; r: UdpRepr; src: number; dst: number } {
  const s = seg(frame);
  const v = UdpPacket.newChecked(s.buf, s.off, s.len);
  if (typeof v === 'string') throw new Error(`fixture refused: ${v}`);
  const r = UdpRepr.parse(v, s.src, s.dst);
  if (typeof r === 'string') throw new Error(`fixture refused: ${r}`);
  return { v, r, src: s.src, dst: s.dst };
}

function tcp(frame: Uint8Array): { v: TcpPacket; r: TcpRepr; src: number; dst: number } {
  const s = seg(frame);
  const v = TcpPacket.newChecked(s.buf, s.off, s.len);
  if (typeof v === 'string') throw new Error(`fixture refused: ${v}`);
  const r = TcpRepr.parse(v, s.src, s.dst);
  if (typeof r === 'string') throw new Error(`fixture refused: ${r}`);
  return { v, r, src: s.src, dst: s.dst };
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('wire/udp', () => {
  it('parses real datagrams of odd lengths and verifies their checksums', () => {
    const h = udp(UDP_HELLO);
    expect(h.r).to.deep.equal({ srcPort: 50711, dstPort: 7001, payloadLen: 13 });
    expect(h.v.length).to.equal(21);
    expect(text(h.v.payload())).to.equal('hello rumpnet');
    expect(h.v.verifyChecksum(A, B)).to.equal(true);
    const o = udp(UDP_ODD);
    expect(text(o.v.payload())).to.equal('odd');
  });

  it('accepts a real zero ("none") checksum', () => {
    const z = udp(UDP_NO_CHECKSUM);
    expect(z.v.checksum).to.equal(0);
    expect(text(z.v.payload())).to.equal('no checksum');
  });

  it('refuses a partial (offloaded) checksum captured on lo, and one flipped bit anywhere', () => {
    const s = seg(LO_UDP_PARTIAL_CSUM);
    expect(UdpRepr.parse(UdpPacket.newChecked(s.buf, s.off, s.len) as UdpPacket, s.src, s.dst)).to.equal('badChecksum');
    const f = UDP_HELLO.slice();
    const { off, len } = seg(f);
    for (let bit = 0; bit < len * 8; bit++) {
      const i = off + (bit >> 3);
      f[i] ^= 1 << (bit & 7);
      const v = UdpPacket.newChecked(f, off, len);
      const r = typeof v === 'string' ? v : UdpRepr.parse(v, A, B);
      // A flip that zeroes the checksum field would mean "none"; no single flip of 0x2ff0-ish can.
      expect(typeof r, `bit ${bit}`).to.equal('string');
      f[i] ^= 1 << (bit & 7);
    }
    // Wrong pseudo-header (another destination) fails too.
    expect(UdpRepr.parse(udp(UDP_HELLO).v, A, ip('10.78.0.3'))).to.equal('badChecksum');
  });

  for (const [name, fx] of Object.entries({ UDP_HELLO, UDP_ODD })) {
    it(`emit(parse(${name})) == ${name}`, () => {
      const { v, r, src, dst } = udp(fx);
      const out = new Uint8Array(UdpRepr.bufferLen(r));
      out.set(v.payload(), 8);
      expect(UdpRepr.emit(r, out, 0, src, dst)).to.equal(8);
      expect(out).to.deep.equal(fx.subarray(v.off, v.off + v.length));
    });
  }

  it('emit with zero checksum reproduces the SO_NO_CHECK datagram; defer leaves 0 to fill later', () => {
    const { v, r, src, dst } = udp(UDP_NO_CHECKSUM);
    const out = new Uint8Array(UdpRepr.bufferLen(r));
    out.set(v.payload(), 8);
    UdpRepr.emit(r, out, 0, src, dst, 'zero');
    expect(out).to.deep.equal(UDP_NO_CHECKSUM.subarray(v.off, v.off + v.length));
    UdpRepr.emit(r, out, 0, src, dst, 'defer');
    const later = new UdpPacket(out);
    expect(later.checksum).to.equal(0);
    later.fillChecksum(src, dst);
    expect(later.checksum).to.not.equal(0);
    expect(later.verifyChecksum(src, dst)).to.equal(true);
  });

  it('sends a computed checksum of 0 as 0xffff', () => {
    // Choose the 2-byte payload so header + data + pseudo-header sum to 0xffff: the checksum computes to 0.
    const r: UdpRepr = { srcPort: 1, dstPort: 2, payloadLen: 2 };
    const out = new Uint8Array(10);
    UdpRepr.emit(r, out, 0, A, B, 'defer');
    const s = foldSum(pseudoHeaderSum(A, B, 17, 10) + sum16(out, 0, 10));
    const w = ~s & 0xffff;
    out[8] = w >>> 8;
    out[9] = w & 0xff;
    expect(internetChecksum(out, 0, 10, pseudoHeaderSum(A, B, 17, 10))).to.equal(0);
    UdpRepr.emit(r, out, 0, A, B);
    const v = new UdpPacket(out);
    expect(v.checksum).to.equal(0xffff);
    expect(v.verifyChecksum(A, B)).to.equal(true);
  });

  it('refuses short datagrams and bad length fields', () => {
    const { off, len } = seg(UDP_HELLO);
    for (let n = 0; n < 8; n++) expect(UdpPacket.newChecked(UDP_HELLO, off, n)).to.equal('truncated');
    for (let n = 8; n < len; n++) expect(UdpPacket.newChecked(UDP_HELLO, off, n), `len ${n}`).to.equal('truncated');
    const b = UDP_HELLO.slice(off, off + len);
    b[5] = 7; // length 7 < 8
    expect(UdpPacket.newChecked(b)).to.equal('badLength');
    b[5] = 8; // shorter than the IP payload: allowed, trimmed to 0 bytes of data
    const v = UdpPacket.newChecked(b) as UdpPacket;
    expect(v.payloadLen).to.equal(0);
    expect(UdpRepr.parse(v, A, B)).to.equal('badChecksum');
  });
});

describe('wire/tcp', () => {
  it('parses a real SYN with ECN setup and all SYN options', () => {
    const { v, r } = tcp(TCP_SYN);
    expect(r.srcPort).to.equal(48422);
    expect(r.dstPort).to.equal(7000);
    expect(r.seq).to.equal(62685563);
    expect(r.ack).to.equal(0);
    expect(r.flags).to.equal(TcpFlag.SYN | TcpFlag.ECE | TcpFlag.CWR);
    expect(tcpFlagsToString(r.flags)).to.equal('SEW');
    expect(r.window).to.equal(64240);
    expect(r.mss).to.equal(1460);
    expect(r.sackPermitted).to.equal(true);
    expect(r.tsVal).to.equal(825609219);
    expect(r.tsEcr).to.equal(0);
    expect(r.windowScale).to.equal(10);
    expect(r.sack).to.equal(null);
    expect(r.payloadLen).to.equal(0);
    expect(v.headerLen).to.equal(40);
  });

  it('parses a real SYN-ACK', () => {
    const { r } = tcp(TCP_SYN_ACK);
    expect(r.flags).to.equal(TcpFlag.SYN | TcpFlag.ACK | TcpFlag.ECE);
    expect(r.seq).to.equal(1416501788);
    expect(r.ack).to.equal(62685564);
    expect(r.window).to.equal(65160);
    expect(r.tsVal).to.equal(1635808889);
    expect(r.tsEcr).to.equal(825609219);
  });

  it('parses a real data segment and its payload', () => {
    const { v, r } = tcp(TCP_DATA);
    expect(r.flags).to.equal(TcpFlag.PSH | TcpFlag.ACK);
    expect(r.seq).to.equal(62685564);
    expect(r.ack).to.equal(1416501789);
    expect(r.window).to.equal(63);
    expect(r.mss).to.equal(null);
    expect(r.windowScale).to.equal(null);
    expect(r.sackPermitted).to.equal(false);
    expect(r.payloadLen).to.equal(100);
    expect(text(v.payload()).slice(0, 4)).to.equal('SEG1');
  });

  it('parses a real SACK block (Linux dup ACK after a drop)', () => {
    const { r, src } = tcp(TCP_SACK);
    expect(src).to.equal(B);
    expect(r.ack).to.equal(62685564 + 200);
    expect(r.sack).to.deep.equal([62685564 + 300, 62685564 + 400]);
    expect(r.tsVal).to.equal(1635809042);
  });

  it('parses CWR, FIN and RST segments', () => {
    expect(tcp(TCP_DATA_CWR).r.flags).to.equal(TcpFlag.CWR | TcpFlag.PSH | TcpFlag.ACK);
    expect(tcpFlagsToString(tcp(TCP_FIN).r.flags)).to.equal('F.');
    const rst = tcp(LO_TCP_RST).r;
    expect(rst.flags).to.equal(TcpFlag.RST | TcpFlag.ACK);
    expect(rst.window).to.equal(0);
    expect(rst.dstPort).to.be.a('number');
  });

  const ALL_TCP = { TCP_SYN, TCP_SYN_ACK, TCP_ACK, TCP_DATA, TCP_SACK, TCP_DATA_CWR, TCP_FIN, LO_TCP_RST };
  for (const [name, fx] of Object.entries(ALL_TCP)) {
    it(`emit(parse(${name})) == ${name}, checksum included`, () => {
      const { v, r, src, dst } = tcp(fx);
      expect(TcpRepr.headerLen(r)).to.equal(v.headerLen);
      const out = new Uint8Array(TcpRepr.bufferLen(r));
      out.set(v.payload(), v.headerLen);
      expect(TcpRepr.emit(r, out, 0, src, dst)).to.equal(v.headerLen);
      expect(out).to.deep.equal(fx.subarray(v.off, v.off + v.len));
    });
  }

  it('one flipped bit anywhere in a real segment fails verification', () => {
    const f = TCP_SACK.slice();
    const { off, len } = seg(f);
    for (let bit = 0; bit < len * 8; bit++) {
      const i = off + (bit >> 3);
      f[i] ^= 1 << (bit & 7);
      const v = TcpPacket.newChecked(f, off, len);
      const r = typeof v === 'string' ? v : TcpRepr.parse(v, B, A);
      expect(typeof r, `bit ${bit}`).to.equal('string');
      f[i] ^= 1 << (bit & 7);
    }
  });

  it('round-trips up to 4 SACK blocks and cuts to 3 beside timestamps', () => {
    const base: TcpRepr = {
      srcPort: 80, dstPort: 40000, seq: 0xfffffff0, ack: 5, flags: TcpFlag.ACK, window: 1000, urgent: 0,
      mss: null, windowScale: null, sackPermitted: false, sack: [1, 2, 3, 4, 5, 6, 0xfffffffe, 0xffffffff],
      tsVal: null, tsEcr: 0, payloadLen: 0,
    };
    for (const [tsVal, want] of [[null, 4], [7, 3]] as const) {
      const r = { ...base, tsVal, tsEcr: tsVal === null ? 0 : 9 };
      const out = new Uint8Array(TcpRepr.bufferLen(r));
      TcpRepr.emit(r, out, 0, A, B);
      expect(out.length).to.be.at.most(60);
      const back = TcpRepr.parse(TcpPacket.newChecked(out) as TcpPacket, A, B) as TcpRepr;
      expect(back.sack).to.deep.equal(base.sack!.slice(0, want * 2));
      expect(back.tsVal).to.equal(tsVal);
    }
  });

  it('emits and parses every option combination', () => {
    for (let m = 0; m < 32; m++) {
      const r: TcpRepr = {
        srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TcpFlag.SYN, window: 5, urgent: 0,
        mss: m & 1 ? 536 : null,
        windowScale: m & 2 ? 14 : null,
        sackPermitted: (m & 4) !== 0,
        sack: m & 8 ? [10, 20] : null,
        tsVal: m & 16 ? 123 : null,
        tsEcr: m & 16 ? 456 : 0,
        payloadLen: 3,
      };
      const out = new Uint8Array(TcpRepr.bufferLen(r));
      out.set([7, 8, 9], TcpRepr.headerLen(r));
      TcpRepr.emit(r, out, 0, A, B);
      const back = TcpRepr.parse(TcpPacket.newChecked(out) as TcpPacket, A, B);
      expect(back, `mask ${m}`).to.deep.equal(r);
    }
  });

  describe('malformed options', () => {
    /** The real SYN's segment with its options region replaced (40-byte header kept). */
    function synWithOptions(opts: number[]): { buf: Uint8Array } {
      const { v } = tcp(TCP_SYN);
      const b = TCP_SYN.slice(v.off, v.off + v.len);
      b.fill(0, 20, 40);
      b.set(opts, 20);
      new TcpPacket(b).fillChecksum(A, B);
      return { buf: b };
    }
    const parse = (opts: number[]) => TcpRepr.parse(new TcpPacket(synWithOptions(opts).buf), A, B);

    it('length 0 or 1, past the header, or a kind without its length byte -> badOption', () => {
      expect(parse([2, 0, 5, 0xb4])).to.equal('badOption');
      expect(parse([30, 1])).to.equal('badOption');
      expect(parse([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 30, 3])).to.equal('badOption');
      expect(parse([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2])).to.equal('badOption');
    });

    it('known kinds with the wrong length -> badOption', () => {
      expect(parse([2, 3, 5])).to.equal('badOption');
      expect(parse([3, 4, 7, 0])).to.equal('badOption');
      expect(parse([4, 3, 0])).to.equal('badOption');
      expect(parse([8, 8, 0, 0, 0, 0, 0, 0])).to.equal('badOption');
      expect(parse([5, 2])).to.equal('badOption');
      expect(parse([5, 9, 0, 0, 0, 0, 0, 0, 0])).to.equal('badOption');
    });

    it("'lenient' (TCP input, as tcp_dooptions): a bad length stops the walk, a wrong-length known kind is skipped; the segment is kept", () => {
      const lenient = (opts: number[]) => TcpRepr.parse(new TcpPacket(synWithOptions(opts).buf), A, B, true, 'lenient') as TcpRepr;
      const a = lenient([2, 4, 0x05, 0xb4, 30, 0, 3, 3, 7]);
      expect(a.mss).to.equal(0x5b4);
      expect(a.windowScale).to.equal(null); // after the stop
      expect(a.optionsMalformed).to.equal(true);
      const b = lenient([3, 4, 7, 0, 4, 2, 2, 4, 0x02, 0x18]);
      expect(b.windowScale).to.equal(null);
      expect(b.sackPermitted).to.equal(true);
      expect(b.mss).to.equal(0x218);
      expect(b.optionsMalformed).to.equal(true);
      expect(lenient([2, 4, 0x05, 0xb4]).optionsMalformed).to.equal(undefined);
    });

    it('parseInto (the data path) reads what parse reads, into the same object and SACK arrays every time', () => {
      const r = blankTcpRepr();
      const sack = newSackScratch();
      const sackArrays = new Set(sack);
      fc.assert(
        fc.property(
          fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(1, 2, 3, 4, 5, 8, 10, 18, 26, 34)), { maxLength: 40 }),
          fc.constantFrom<'strict' | 'lenient'>('strict', 'lenient'),
          fc.integer({ min: 0, max: 0xffffffff }),
          (opts, mode, seq) => {
            const { v } = tcp(TCP_SYN);
            const b = new Uint8Array(60);
            b.set(TCP_SYN.subarray(v.off, v.off + 20), 0);
            b.set(opts, 20);
            b[12] = 15 << 4;
            writeSeq(b, seq);
            const want = TcpRepr.parse(new TcpPacket(b), A, B, false, mode);
            const got = TcpRepr.parseInto(r, b, 0, 60, 0, mode, sack);
            if (typeof want === 'string') {
              expect(got).to.equal(want);
              return;
            }
            expect(got).to.equal(null);
            expect({ ...r, optionsMalformed: r.optionsMalformed || undefined }).to.deep.equal({ ...want, optionsMalformed: want.optionsMalformed });
            if (r.sack !== null) expect(sackArrays.has(r.sack)).to.equal(true);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('skips unknown options by length and stops at EOL', () => {
      const r = parse([1, 30, 6, 0xaa, 0xbb, 0xcc, 0xdd, 2, 4, 0x02, 0x18, 0, 3, 3, 9]) as TcpRepr;
      expect(r.mss).to.equal(0x218);
      expect(r.windowScale).to.equal(null); // after EOL: padding, not an option
    });
  });

  it('refuses short segments and data offsets below 5 or beyond the segment', () => {
    const { off, len } = seg(TCP_SYN);
    for (let n = 0; n < len; n++) expect(TcpPacket.newChecked(TCP_SYN, off, n), `len ${n}`).to.equal('truncated');
    const b = TCP_SYN.slice(off, off + len);
    for (let d = 0; d < 5; d++) {
      b[12] = d << 4;
      expect(TcpPacket.newChecked(b), `doff ${d}`).to.equal('badDataOffset');
    }
    b[12] = 11 << 4; // 44 > 40
    expect(TcpPacket.newChecked(b)).to.equal('truncated');
    b[12] = 5 << 4; // options become payload: still a valid view
    expect(TcpPacket.newChecked(b)).to.be.instanceOf(TcpPacket);
  });
});
