import { expect } from 'chai';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { pseudoHeaderSum, verifyChecksum } from '../../src/wire/checksum.js';
import {
  IP6_ALL_NODES,
  IP6_ANY,
  IP6_LOOPBACK,
  Ip6Address,
  ip6EqualsBytes,
  ip6MapV4,
  ipEquals,
  ipHash,
  ipIsLoopback,
  ipIsMulticast,
  ipIsUnspecified,
  ipToString,
  ipVersion,
  parseIp,
  parseIp6WithZone,
} from '../../src/wire/ip.js';
import { Ip6Next, IPV6_HEADER_LEN, Ipv6Packet, Ipv6Repr, pseudoHeaderSum6 } from '../../src/wire/ipv6.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { LO6_ECHO_REQUEST, VETH6_NA, VETH6_NS } from './fixtures6.js';

const a6 = (s: string): Ip6Address => {
  const a = Ip6Address.parse(s);
  if (a === null) throw new Error(`not an IPv6 address: ${s}`);
  return a;
};

function view(frame: Uint8Array): Ipv6Packet {
  const p = Ipv6Packet.newChecked(frame, 14);
  if (typeof p === 'string') throw new Error(`fixture refused: ${p}`);
  return p;
}

describe('wire: IPv6 addresses (Ip6Address, IpAddress)', () => {
  it('parses RFC 4291 text and prints RFC 5952 canonical text', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:DB8::1', '2001:db8::1'], // 4.3: lower case
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // 4.2.3: first of equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // 4.2.2: one zero group is not "::"
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // 4.2.3: the longest run
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['1::', '1::'],
      ['::ffff:10.0.0.1', '::ffff:10.0.0.1'], // 5: mapped addresses keep the dotted quad
      ['::ffff:a00:1', '::ffff:10.0.0.1'],
      ['ff02::1:ff00:2', 'ff02::1:ff00:2'],
    ];
    for (const [text, canon] of cases) expect(a6(text).toString(), text).to.equal(canon);
  });

  it('refuses what is not an address, without throwing', () => {
    for (const bad of ['', ':', ':::', '1::2::3', 'g::1', '12345::', '1:2:3:4:5:6:7:8:9', '::ffff:10.0.0.256', 'fe80::1%eth0', '10.0.0.1', ' ::1', 'x'.repeat(100)]) {
      expect(Ip6Address.parse(bad), JSON.stringify(bad)).to.equal(null);
    }
    expect(Ip6Address.parse(undefined as unknown as string)).to.equal(null);
    expect(parseIp(42 as unknown as string)).to.equal(null);
  });

  it('round-trips every address through text and bytes, and prints what ipaddr.js prints (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const a = Ip6Address.fromBytes(b);
        expect(Ip6Address.parse(a.toString())!.equals(a)).to.equal(true);
        expect(a.toBytes()).to.deep.equal(b);
        expect(ip6EqualsBytes(a, b, 0)).to.equal(true);
        if (!a.isV4Mapped) expect(a.toString()).to.equal((ipaddr.fromByteArray([...b]) as ipaddr.IPv6).toRFC5952String());
      }),
      { numRuns: 500 },
    );
    // Runs of zeros are where canonical text goes wrong: bias towards them.
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 8, maxLength: 8 }), (g) => {
        const a = Ip6Address.fromParts(g);
        const ref = ipaddr.fromByteArray([...a.toBytes()]) as ipaddr.IPv6;
        if (!a.isV4Mapped) expect(a.toString()).to.equal(ref.toRFC5952String());
        expect(Ip6Address.parse(a.toString())!.equals(a)).to.equal(true);
      }),
      { numRuns: 300 },
    );
  });

  it('classifies addresses as RFC 4291 section 2 does', () => {
    expect(IP6_ANY.isUnspecified).to.equal(true);
    expect(IP6_LOOPBACK.isLoopback).to.equal(true);
    expect(a6('::2').isLoopback).to.equal(false);
    expect(a6('fe80::1').isLinkLocal).to.equal(true);
    expect(a6('febf::1').isLinkLocal).to.equal(true);
    expect(a6('fec0::1').isLinkLocal).to.equal(false);
    expect(IP6_ALL_NODES.isMulticast).to.equal(true);
    expect(IP6_ALL_NODES.isMulticastLinkLocal).to.equal(true);
    expect(a6('ff05::2').isMulticastLinkLocal).to.equal(false);
    expect(a6('::ffff:10.0.0.1').v4).to.equal(parseIpv4('10.0.0.1'));
    // The deprecated "compatible" form is not mapped (ipaddr.js alone would read it as mapped).
    expect(a6('::10.0.0.1').v4).to.equal(null);
    expect(a6('::10.0.0.1').toString()).to.equal('::a00:1');
    expect(a6('64:ff9b::192.0.2.33').toString()).to.equal('64:ff9b::c000:221');
    expect(Ip6Address.parse('1.2.3.4::')).to.equal(null);
    expect(ip6MapV4(parseIpv4('192.0.2.7')!).toString()).to.equal('::ffff:192.0.2.7');
  });

  it('parses zone ids apart from the address (RFC 4007 11)', () => {
    expect(parseIp6WithZone('fe80::1%tap0')).to.deep.include({ zone: 'tap0' });
    expect(parseIp6WithZone('fe80::1%tap0')!.addr.equals(a6('fe80::1'))).to.equal(true);
    expect(parseIp6WithZone('fe80::1')!.zone).to.equal('');
    for (const bad of ['fe80::1%', 'fe80::1%a b', 'fe80::1%' + 'x'.repeat(16), 'zz%tap0']) expect(parseIp6WithZone(bad), bad).to.equal(null);
  });

  it('IpAddress: one set of functions for both families, numbers stay IPv4', () => {
    const v4 = parseIp('10.0.0.1')!;
    const v6 = parseIp('2001:db8::1')!;
    expect(typeof v4).to.equal('number');
    expect(ipVersion(v4)).to.equal(4);
    expect(ipVersion(v6)).to.equal(6);
    expect(ipToString(v4)).to.equal('10.0.0.1');
    expect(ipToString(v6)).to.equal('2001:db8::1');
    expect(ipEquals(v6, a6('2001:db8:0::1'))).to.equal(true);
    expect(ipEquals(v4, ip6MapV4(v4 as number))).to.equal(false); // families never compare equal
    expect(ipEquals(0xffffffff, -1)).to.equal(true);
    expect(ipIsUnspecified(0) && ipIsUnspecified(IP6_ANY)).to.equal(true);
    expect(ipIsLoopback(parseIp('127.3.2.1')!) && ipIsLoopback(IP6_LOOPBACK)).to.equal(true);
    expect(ipIsMulticast(parseIp('239.1.1.1')!) && ipIsMulticast(IP6_ALL_NODES)).to.equal(true);
    expect(ipHash(v4)).to.equal(v4);
    expect(ipHash(v6)).to.equal(a6('2001:db8::1').hash());
    expect(ipHash(v6)).to.not.equal(ipHash(a6('2001:db8::2')));
  });

  it('fromBytes and writeTo refuse short buffers with RangeError', () => {
    expect(() => Ip6Address.fromBytes(new Uint8Array(15))).to.throw(RangeError);
    expect(() => Ip6Address.fromBytes(new Uint8Array(16), 1)).to.throw(RangeError);
    expect(() => IP6_LOOPBACK.writeTo(new Uint8Array(20), 5)).to.throw(RangeError);
  });
});

describe('wire: IPv6 fixed header (Ipv6Packet, Ipv6Repr)', () => {
  it('reads a captured echo request on lo', () => {
    const p = view(LO6_ECHO_REQUEST);
    expect(p.version).to.equal(6);
    expect(p.trafficClass).to.equal(0);
    expect(p.flowLabel).to.equal(0xc5309);
    expect(p.payloadLen).to.equal(16);
    expect(p.nextHeader).to.equal(Ip6Next.ICMPV6);
    expect(p.hopLimit).to.equal(64);
    expect(p.src.toString()).to.equal('::1');
    expect(p.dst.isLoopback).to.equal(true);
    expect(p.payloadOffset).to.equal(14 + 40);
  });

  it('reads captured Neighbor Discovery frames on a veth', () => {
    const ns = view(VETH6_NS);
    expect([ns.src.toString(), ns.dst.toString(), ns.hopLimit, ns.payloadLen]).to.deep.equal(['fd00:77::1', 'ff02::1:ff00:2', 255, 32]);
    const na = view(VETH6_NA);
    expect([na.src.toString(), na.dst.toString()]).to.deep.equal(['fd00:77::2', 'fd00:77::1']);
    expect(ip6EqualsBytes(a6('fd00:77::2'), VETH6_NA, na.srcOffset)).to.equal(true);
    expect(ip6EqualsBytes(a6('fd00:77::1'), VETH6_NA, na.srcOffset)).to.equal(false);
  });

  it('the pseudo-header sum verifies the kernel\'s ICMPv6 checksums (RFC 8200 8.1)', () => {
    for (const f of [LO6_ECHO_REQUEST, VETH6_NS, VETH6_NA]) {
      const p = view(f);
      const init = pseudoHeaderSum6(p.src, p.dst, Ip6Next.ICMPV6, p.payloadLen);
      expect(verifyChecksum(f, p.payloadOffset, p.payloadLen, init)).to.equal(true);
      // A different upper-layer value or length must not verify.
      expect(verifyChecksum(f, p.payloadOffset, p.payloadLen, pseudoHeaderSum6(p.src, p.dst, Ip6Next.UDP, p.payloadLen))).to.equal(false);
      const other = pseudoHeaderSum6(p.dst, a6('fd00:77::99'), Ip6Next.ICMPV6, p.payloadLen);
      expect(verifyChecksum(f, p.payloadOffset, p.payloadLen, other)).to.equal(false);
    }
  });

  it('pseudoHeaderSum takes either family by the type of its addresses', () => {
    const p = view(VETH6_NA);
    expect(pseudoHeaderSum(p.src, p.dst, Ip6Next.ICMPV6, p.payloadLen)).to.equal(pseudoHeaderSum6(p.src, p.dst, Ip6Next.ICMPV6, p.payloadLen));
    expect(verifyChecksum(VETH6_NA, p.payloadOffset, p.payloadLen, pseudoHeaderSum(p.src, p.dst, Ip6Next.ICMPV6, p.payloadLen))).to.equal(true);
    expect(() => pseudoHeaderSum(p.src, 0x0a000001, 6, 20)).to.throw(TypeError);
    expect(() => pseudoHeaderSum(0x0a000001, p.dst, 6, 20)).to.throw(TypeError);
  });

  it('parse then emit gives back the captured header, byte for byte', () => {
    for (const f of [LO6_ECHO_REQUEST, VETH6_NS, VETH6_NA]) {
      const r = Ipv6Repr.parse(view(f));
      const out = new Uint8Array(IPV6_HEADER_LEN);
      Ipv6Repr.emit(r, out);
      expect(out).to.deep.equal(f.subarray(14, 14 + 40));
      expect(Ipv6Repr.bufferLen(r)).to.equal(f.length - 14);
    }
  });

  it('refuses malformed headers with a named reason, never throws (fuzz)', () => {
    const f = LO6_ECHO_REQUEST.slice(14);
    expect(Ipv6Packet.newChecked(f.subarray(0, 39))).to.equal('truncated');
    expect(Ipv6Packet.newChecked(f.subarray(0, 55))).to.equal('truncated'); // payload length 16 > 15 present
    const v4 = f.slice();
    v4[0] = 0x45;
    expect(Ipv6Packet.newChecked(v4)).to.equal('badVersion');
    const jumbo = f.slice();
    jumbo[4] = 0;
    jumbo[5] = 0;
    jumbo[6] = Ip6Next.HOPOPTS;
    expect(Ipv6Packet.newChecked(jumbo)).to.equal('jumbo');
    expect(Ipv6Packet.newChecked(f, 20, 40)).to.equal('truncated'); // past the end of the buffer
    expect(Ipv6Packet.newChecked(f, -1)).to.equal('truncated');
    // Padding after the payload is allowed (Ethernet minimum frame).
    const padded = new Uint8Array(f.length + 10);
    padded.set(f);
    expect(Ipv6Packet.newChecked(padded)).to.be.instanceOf(Ipv6Packet);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(130), (b, off) => {
        const p = Ipv6Packet.newChecked(b, off);
        if (typeof p === 'string') return;
        const r = Ipv6Repr.parse(p);
        expect(IPV6_HEADER_LEN + r.payloadLen).to.be.at.most(p.len);
      }),
      { numRuns: 1000 },
    );
  });

  it('emit refuses fields out of range', () => {
    const r = Ipv6Repr.parse(view(LO6_ECHO_REQUEST));
    expect(() => Ipv6Repr.emit({ ...r, payloadLen: 70000 }, new Uint8Array(40))).to.throw(RangeError);
    expect(() => Ipv6Repr.emit({ ...r, flowLabel: 1 << 20 }, new Uint8Array(40))).to.throw(RangeError);
    expect(() => Ipv6Repr.emit(r, new Uint8Array(39))).to.throw(RangeError);
  });
});
