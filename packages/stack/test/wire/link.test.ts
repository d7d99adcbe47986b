import { expect } from 'chai';
import {
  BROADCAST_MAC,
  ipv4IsLoopback,
  ipv4IsMulticast,
  ipv4PrefixMask,
  ipv4ToString,
  macEquals,
  macToString,
  parseIpv4,
  parseMac,
} from '../../src/wire/address.js';
import { ArpOp, ArpPacket, ArpRepr } from '../../src/wire/arp.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  EthernetFrame,
  EthernetRepr,
} from '../../src/wire/ethernet.js';
import { ARP_REPLY, ARP_REQUEST, ICMP_ECHO_REQUEST, LO_ICMP_ECHO_REQUEST, VLAN_ECHO_REQUEST } from './fixtures.js';

function frame(b: Uint8Array): EthernetFrame {
  const f = EthernetFrame.newChecked(b);
  if (typeof f === 'string') throw new Error(`fixture refused: ${f}`);
  return f;
}

describe('wire/address', () => {
  it('parses strict dotted quads only', () => {
    expect(parseIpv4('10.77.0.1')).to.equal(0x0a4d0001);
    expect(parseIpv4('255.255.255.255')).to.equal(0xffffffff);
    expect(parseIpv4('0.0.0.0')).to.equal(0);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.04', ' 1.2.3.4', '1.2.3.4 ', '1..3.4', '1.2.3.-4', 'a.b.c.d', '1.2.3.4/24', '1234.1.1.1', '0x1.2.3.4']) {
      expect(parseIpv4(bad), bad).to.equal(null);
    }
  });

  it('formats addresses and round-trips', () => {
    expect(ipv4ToString(0x7f000001)).to.equal('127.0.0.1');
    expect(ipv4ToString(0xc0a80aff)).to.equal('192.168.10.255');
    for (const a of [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]) expect(parseIpv4(ipv4ToString(a))).to.equal(a);
    expect(ipv4PrefixMask(24)).to.equal(0xffffff00);
    expect(ipv4PrefixMask(0)).to.equal(0);
    expect(ipv4PrefixMask(32)).to.equal(0xffffffff);
    expect(ipv4IsMulticast(parseIpv4('224.0.0.1')!)).to.equal(true);
    expect(ipv4IsMulticast(parseIpv4('239.255.255.255')!)).to.equal(true);
    expect(ipv4IsMulticast(parseIpv4('240.0.0.1')!)).to.equal(false);
    expect(ipv4IsLoopback(parseIpv4('127.9.9.9')!)).to.equal(true);
  });

  it('parses and formats MACs', () => {
    const m = parseMac('E2:95:72:41:cc:44')!;
    expect(macToString(m)).to.equal('e2:95:72:41:cc:44');
    expect(macToString(parseMac('2-0-5e-10-0-1')!)).to.equal('02:00:5e:10:00:01');
    for (const bad of ['', 'e2:95:72:41:cc', 'e2:95:72:41:cc:44:00', 'e2:95:72:41:cc:4g', 'e295.7241.cc44', 'e2:95:72:41:cc:444']) {
      expect(parseMac(bad), bad).to.equal(null);
    }
    expect(macToString(BROADCAST_MAC)).to.equal('ff:ff:ff:ff:ff:ff');
  });
});

describe('wire/ethernet', () => {
  it('parses a real ARP broadcast frame', () => {
    const f = frame(ARP_REQUEST);
    expect(f.ethertype).to.equal(ETHERTYPE_ARP);
    expect(f.isTagged).to.equal(false);
    expect(f.vlanId).to.equal(-1);
    expect(f.dstIs(BROADCAST_MAC)).to.equal(true);
    expect(f.dstIsMulticast).to.equal(true);
    expect(macToString(f.src())).to.equal('0e:0e:b5:66:99:48');
    expect(f.payloadOffset).to.equal(14);
    expect(f.payloadLen).to.equal(28);
  });

  it('parses a loopback frame with zero MACs', () => {
    const r = EthernetRepr.parse(frame(LO_ICMP_ECHO_REQUEST));
    expect(macToString(r.dst)).to.equal('00:00:00:00:00:00');
    expect(r.ethertype).to.equal(ETHERTYPE_IPV4);
    expect(r.vlanTci).to.equal(null);
  });

  it('recognises and reports an 802.1Q tagged frame', () => {
    const f = frame(VLAN_ECHO_REQUEST);
    expect(f.isTagged).to.equal(true);
    expect(f.outerEthertype).to.equal(0x8100);
    expect(f.vlanId).to.equal(10);
    expect(f.vlanTci).to.equal(10);
    expect(f.ethertype).to.equal(ETHERTYPE_IPV4);
    expect(f.headerLen).to.equal(18);
    expect(f.payloadOffset).to.equal(18);
    // The payload is the same IPv4 packet an untagged echo would carry.
    expect(f.payload()[0]).to.equal(0x45);
    const r = EthernetRepr.parse(f);
    expect(r.vlanTci).to.equal(10);
    expect(EthernetRepr.headerLen(r)).to.equal(18);
  });

  for (const [name, fx] of Object.entries({ ARP_REQUEST, ARP_REPLY, ICMP_ECHO_REQUEST, VLAN_ECHO_REQUEST })) {
    it(`emit(parse(${name})) reproduces the header byte for byte`, () => {
      const f = frame(fx);
      const r = EthernetRepr.parse(f);
      const out = new Uint8Array(EthernetRepr.bufferLen(r, f.payloadLen));
      const n = EthernetRepr.emit(r, out, 0);
      out.set(f.payload(), n);
      expect(out).to.deep.equal(fx);
    });
  }

  it('refuses short frames and IEEE 802.3 length frames', () => {
    for (let n = 0; n < 14; n++) expect(EthernetFrame.newChecked(ARP_REQUEST.subarray(0, n))).to.equal('truncated');
    // Tagged frame cut inside the tag.
    for (let n = 14; n < 18; n++) expect(EthernetFrame.newChecked(VLAN_ECHO_REQUEST.subarray(0, n))).to.equal('truncated');
    const llc = ARP_REQUEST.slice();
    llc[12] = 0x00;
    llc[13] = 0x26; // an 802.3 length
    expect(EthernetFrame.newChecked(llc)).to.equal('notEthernetII');
    const innerLlc = VLAN_ECHO_REQUEST.slice();
    innerLlc[16] = 0x05;
    innerLlc[17] = 0xff;
    expect(EthernetFrame.newChecked(innerLlc)).to.equal('notEthernetII');
    // Offsets and lengths beyond the buffer never pass.
    expect(EthernetFrame.newChecked(ARP_REQUEST, 30, 14)).to.equal('truncated');
  });
});

describe('wire/arp', () => {
  function arp(b: Uint8Array): ArpPacket {
    const p = ArpPacket.newChecked(b, 14);
    if (typeof p === 'string') throw new Error(`fixture refused: ${p}`);
    return p;
  }

  it('parses a real request', () => {
    const r = ArpRepr.parse(arp(ARP_REQUEST));
    expect(r.operation).to.equal(ArpOp.REQUEST);
    expect(macToString(r.senderMac)).to.equal('0e:0e:b5:66:99:48');
    expect(ipv4ToString(r.senderIp)).to.equal('10.77.0.1');
    expect(macToString(r.targetMac)).to.equal('00:00:00:00:00:00');
    expect(ipv4ToString(r.targetIp)).to.equal('10.77.0.2');
  });

  it('parses a real reply', () => {
    const p = arp(ARP_REPLY);
    const r = ArpRepr.parse(p);
    expect(r.operation).to.equal(ArpOp.REPLY);
    expect(macToString(r.senderMac)).to.equal('e2:95:72:41:cc:44');
    expect(r.senderIp).to.equal(0x0a4d0002);
    expect(macToString(r.targetMac)).to.equal('0e:0e:b5:66:99:48');
    expect(r.targetIp).to.equal(0x0a4d0001);
    expect(macEquals(p.buf, r.senderMac, p.senderMacOffset)).to.equal(true);
  });

  for (const [name, fx] of Object.entries({ ARP_REQUEST, ARP_REPLY })) {
    it(`emit(parse(${name})) == ${name}`, () => {
      const r = ArpRepr.parse(arp(fx));
      const out = new Uint8Array(ArpRepr.bufferLen(r));
      expect(ArpRepr.emit(r, out)).to.equal(28);
      expect(out).to.deep.equal(fx.subarray(14));
    });
  }

  it('the Repr owns its MACs (outlives the frame buffer)', () => {
    const b = ARP_REPLY.slice();
    const r = ArpRepr.parse(arp(b));
    b.fill(0);
    expect(macToString(r.senderMac)).to.equal('e2:95:72:41:cc:44');
  });

  it('refuses every truncation, other hardware/protocol types and unknown opcodes', () => {
    const body = ARP_REQUEST.subarray(14);
    for (let n = 0; n < 28; n++) expect(ArpPacket.newChecked(body.subarray(0, n)), `len ${n}`).to.equal('truncated');
    const mut = (i: number, v: number) => {
      const c = body.slice();
      c[i] = v;
      return ArpPacket.newChecked(c);
    };
    expect(mut(1, 6)).to.equal('badHardware'); // IEEE 802 htype
    expect(mut(4, 8)).to.equal('badHardware'); // hlen 8
    expect(mut(2, 0x86)).to.equal('badProtocol');
    expect(mut(5, 16)).to.equal('badProtocol'); // plen 16
    expect(mut(7, 3)).to.equal('badOperation'); // RARP request
    expect(mut(7, 0)).to.equal('badOperation');
    expect(mut(6, 1)).to.equal('badOperation'); // opcode 0x0101
    // Padding after the 28 bytes (60-byte minimum Ethernet frames) is fine.
    const padded = new Uint8Array(46);
    padded.set(body);
    expect(ArpPacket.newChecked(padded)).to.be.instanceOf(ArpPacket);
  });
});
