/**
 * Malformed and hostile input: every case must end in a NAMED counted drop,
 * never an exception, and leave the pool all-free after close.
 */
import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { MemWire } from '../../src/link/memwire.js';
import { etherInput } from '../../src/net/ethernet.js';
import type { Ifnet } from '../../src/net/ifnet.js';
import { Stack } from '../../src/stack.js';
import { AF_INET, SOCK } from '../../src/socket/constants.js';
import { SocketLayer } from '../../src/socket/layer.js';
import { sockaddrIn } from '../../src/socket/sockaddr.js';
import { SocketTable } from '../../src/socket/table.js';
import { TcpProtocol } from '../../src/transport/tcp/index.js';
import { TcpRepr } from '../../src/wire/tcp.js';
import { PEER_MAC, echoRequest, etherFrame, fixIpChecksum, ip4, ipPacket, mac, type IpPacketSpec } from './helpers.js';

const US = '10.0.0.1';
const PEER = '10.0.0.2';

interface One {
  s: Stack;
  ifp: Ifnet;
  wire: MemWire;
  clock: ManualClock;
  sent: Uint8Array[];
  /** Feed an IPv4 packet as if from PEER's MAC. */
  ip(bytes: Uint8Array): void;
  frame(f: Uint8Array): void;
  done(): void;
}

function one(): One {
  const clock = new ManualClock();
  const wire = new MemWire({ clock });
  const s = new Stack({ clock, nmbclusters: 256 });
  const ifp = s.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: [`${US}/24`] });
  s.arpAdd(PEER, '02:00:00:00:00:99'); // replies need no ARP
  const sent: Uint8Array[] = [];
  const sniff = wire.attachLink({ name: 'sniff0' });
  sniff.attach((fs) => fs.forEach((f) => sent.push(f.slice())));
  return {
    s,
    ifp,
    wire,
    clock,
    sent,
    ip: (bytes) => etherInput(s, ifp, etherFrame(ifp.mac, PEER_MAC, 0x0800, bytes)),
    frame: (f) => etherInput(s, ifp, f),
    done: () => {
      s.close();
      wire.close();
      s.pool.assertAllFree();
    },
  };
}

/** A UDP datagram (8-byte header, 4 bytes of data, checksum 0) from `src` to `dst`:`dport`. */
const udp = (src: string, dst: string, dport: number): Uint8Array =>
  ipPacket({ src, dst, proto: 17, payload: Uint8Array.of(0, 68, dport >> 8, dport & 0xff, 0, 12, 0, 0, 1, 2, 3, 4) });

/** A TCP SYN from US:80 to US:80 (the LAND attack; checksum left 0, never reached). */
const land = (): Uint8Array =>
  ipPacket({ src: US, dst: US, proto: 6, payload: Uint8Array.of(0, 80, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0) });

const echo = (extra: Partial<IpPacketSpec> = {}): Uint8Array =>
  ipPacket({ src: PEER, dst: US, proto: 1, payload: echoRequest(7, 1, 32), ...extra });

/** Sets of counters that must not move for a given drop (so the test can fail). */
function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of Object.keys(after)) if (after[k] !== before[k]) d[k] = after[k]! - (before[k] ?? 0);
  return d;
}

describe('malformed input: Ethernet', () => {
  const cases: [string, (t: One) => Uint8Array, string][] = [
    ['a truncated frame', () => new Uint8Array(10), 'tooshort'],
    ['an 802.3 length frame (LLC)', (t) => etherFrame(t.ifp.mac, PEER_MAC, 0x0100, new Uint8Array(50)), 'llc'],
    ['an 802.1Q tagged frame', (t) => etherFrame(t.ifp.mac, PEER_MAC, 0x8100, Uint8Array.of(0, 5, 8, 0, ...echo())), 'vlan'],
    ['an unknown EtherType', (t) => etherFrame(t.ifp.mac, PEER_MAC, 0x88b5, new Uint8Array(60)), 'unknowntype'],
    ['a frame for another station', () => etherFrame(mac('02:11:11:11:11:11'), PEER_MAC, 0x0800, echo()), 'notours'],
    ['a frame from a group address', (t) => etherFrame(t.ifp.mac, mac('01:00:5e:00:00:01'), 0x0800, echo()), 'badsrc'],
    ['our own frame back', (t) => etherFrame(t.ifp.mac, t.ifp.mac, 0x0800, echo()), 'ownsrc'],
    ['multicast to a group not joined', () => etherFrame(mac('01:00:5e:01:02:03'), PEER_MAC, 0x0800, echo()), 'notours'],
  ];
  for (const [what, make, counter] of cases) {
    it(`drops ${what} (net.link.ether.stats.${counter})`, () => {
      const t = one();
      const before = { ...t.s.etherstat };
      t.frame(make(t));
      expect(delta(before, t.s.etherstat)).to.deep.equal({ [counter]: 1 });
      expect(t.s.sysctl.get(`net.link.ether.stats.${counter}`)).to.equal(1);
      expect(t.s.ipstat.total).to.equal(0);
      t.done();
    });
  }
});

describe('malformed input: IPv4 header', () => {
  const withByte = (b: Uint8Array, i: number, v: number, fix = true): Uint8Array => {
    const c = b.slice();
    c[i] = v;
    if (fix) fixIpChecksum(c);
    return c;
  };
  const setLen = (b: Uint8Array, n: number): Uint8Array => {
    const c = b.slice();
    c[2] = n >> 8;
    c[3] = n & 0xff;
    fixIpChecksum(c);
    return c;
  };
  const cases: [string, () => Uint8Array, string][] = [
    ['fewer than 20 bytes', () => echo().subarray(0, 12), 'toosmall'],
    ['version 6', () => withByte(echo(), 0, 0x65), 'badvers'],
    ...[0, 1, 2, 3, 4].map((ihl): [string, () => Uint8Array, string] => [`IHL ${ihl}`, () => withByte(echo(), 0, 0x40 | ihl, false), 'badhlen']),
    ['IHL beyond the packet', () => withByte(echo().subarray(0, 40), 0, 0x4f, false), 'badhlen'],
    ['a bad header checksum', () => withByte(echo(), 10, echo()[10]! ^ 0x40, false), 'badsum'],
    ['total length beyond the frame', () => setLen(echo(), 1000), 'tooshort'],
    ['total length below the header', () => setLen(echo(), 12), 'badlen'],
    ['source 0.0.0.5', () => echo({ src: '0.0.0.5' }), 'martianzero'],
    ['source 0.0.0.0 to a unicast address', () => echo({ src: '0.0.0.0' }), 'martianzero'],
    ['source 0.0.0.0 to the broadcast, ICMP (only DHCP may)', () => echo({ src: '0.0.0.0', dst: '255.255.255.255' }), 'martianzero'],
    ['source 0.0.0.0 to the broadcast, UDP port 53 (only DHCP may)', () => udp('0.0.0.0', '255.255.255.255', 53), 'martianzero'],
    ['source 0.0.0.5 to the broadcast, UDP port 67', () => udp('0.0.0.5', '255.255.255.255', 67), 'martianzero'],
    ['source 127.0.0.1 from a wire', () => echo({ src: '127.0.0.1' }), 'martianloop'],
    ['a multicast source', () => echo({ src: '224.0.0.5' }), 'martianmcast'],
    ['a class E source', () => echo({ src: '240.0.0.1' }), 'martianclasse'],
    ['the limited broadcast as source', () => echo({ src: '255.255.255.255' }), 'martianclasse'],
    ['our subnet broadcast as source', () => echo({ src: '10.0.0.255' }), 'martianbcast'],
    ['our own address as source, from a wire', () => echo({ src: US }), 'martianself'],
    ['our own address as source and destination, a TCP SYN (LAND)', () => land(), 'martianself'],
    ['destination 127.0.0.1 from a wire', () => echo({ dst: '127.0.0.1' }), 'martianloopdst'],
    ['a destination that is not ours', () => echo({ dst: '10.0.0.9' }), 'cantforward'],
    ['a group not joined', () => echo({ dst: '239.1.2.3' }), 'notmember'],
    ['a loose source route option', () => echo({ options: Uint8Array.of(0x83, 7, 4, 10, 0, 0, 9, 0) }), 'badoptions'],
    ['a strict source route option', () => echo({ options: Uint8Array.of(1, 0x89, 7, 4, 10, 0, 0, 9) }), 'badoptions'],
  ];
  for (const [what, make, counter] of cases) {
    it(`drops ${what} (net.inet.ip.stats.${counter})`, () => {
      const t = one();
      const before = { ...t.s.ipstat };
      t.ip(make());
      const martian = counter.startsWith('martian') ? { martians: 1 } : {};
      expect(delta(before, t.s.ipstat)).to.deep.equal({ total: 1, ...martian, [counter]: 1 });
      expect(t.s.sysctl.get(`net.inet.ip.stats.${counter}`)).to.equal(1);
      expect(t.s.icmpstat.reflect).to.equal(0);
      expect(t.sent, 'nothing answered').to.deep.equal([]);
      t.done();
    });
  }

  it('lets 0.0.0.0 -> 255.255.255.255 through as DHCP (UDP to port 67 or 68) only', () => {
    const t = one();
    t.ip(udp('0.0.0.0', '255.255.255.255', 67));
    t.ip(udp('0.0.0.0', '255.255.255.255', 68));
    expect(t.s.ipstat.martians).to.equal(0);
    expect(t.s.ipstat.delivered + t.s.ipstat.noproto, 'reached the transport switch').to.equal(2);
    t.done();
  });

  it('a LAND SYN (our address to our address, to a listener) makes no SYN-cache entry and no answer', () => {
    const t = one();
    const layer = new SocketLayer(t.s);
    const tcp = new TcpProtocol(t.s, layer);
    const table = new SocketTable(layer);
    const fd = table.socket(AF_INET, SOCK.STREAM, 0).fd;
    expect(table.bind(fd, sockaddrIn(0, 80))).to.equal(0);
    expect(table.listen(fd, 8)).to.equal(0);
    const syn: TcpRepr = { srcPort: 80, dstPort: 80, seq: 1, ack: 0, flags: 0x02, window: 65535, urgent: 0, mss: 1460, windowScale: null, sackPermitted: false, sack: null, tsVal: null, tsEcr: 0, payloadLen: 0 };
    const seg = new Uint8Array(TcpRepr.headerLen(syn));
    TcpRepr.emit(syn, seg, 0, ip4(US), ip4(US));
    t.ip(ipPacket({ src: US, dst: US, proto: 6, payload: seg }));
    expect(t.s.ipstat.martianself).to.equal(1);
    expect(tcp.syncache.size).to.equal(0);
    expect(tcp.stats.scAdded).to.equal(0);
    expect(t.sent).to.deep.equal([]);
    t.done();
  });

  it('accepts (and ignores) other options, and trims trailing bytes (Ethernet padding)', () => {
    const t = one();
    t.ip(echo({ options: Uint8Array.of(0x44, 4, 5, 0) })); // a timestamp option
    const padded = new Uint8Array(echo().length + 20);
    padded.set(echo());
    t.ip(padded);
    expect(t.s.ipstat.delivered + t.s.ipstat.noproto, 'reached the transport switch').to.equal(2);
    expect(t.s.icmpstat.reflect).to.equal(2);
    t.done();
  });

  it('drops an ICMP message with a bad checksum or truncated (net.inet.icmp.stats)', () => {
    const t = one();
    const e = echoRequest(1, 1, 8);
    e[9] ^= 1;
    t.ip(ipPacket({ src: PEER, dst: US, proto: 1, payload: e }));
    t.ip(ipPacket({ src: PEER, dst: US, proto: 1, payload: Uint8Array.of(8, 0, 0) }));
    expect(t.s.icmpstat).to.include({ checksum: 1, tooshort: 1, reflect: 0 });
    t.done();
  });
});

/** Fragments of `payload` (proto 1) as separate IP packets, `chunk` bytes each. */
function fragments(payload: Uint8Array, chunk: number, id: number, base: Partial<IpPacketSpec> = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += chunk) {
    const piece = payload.subarray(off, Math.min(payload.length, off + chunk));
    out.push(ipPacket({ src: PEER, dst: US, proto: 1, id, fragOff: off, mf: off + chunk < payload.length, payload: piece, ...base }));
  }
  return out;
}

describe('reassembly', () => {
  it('reassembles out of order and answers; an exact duplicate is dropped alone (fragdup)', () => {
    const t = one();
    const f = fragments(echoRequest(9, 1, 2000), 512, 77);
    t.ip(f[3]!);
    t.ip(f[0]!);
    t.ip(f[0]!);
    t.ip(f[2]!);
    t.ip(f[1]!);
    expect(t.s.ipstat).to.include({ fragments: 5, fragdup: 1, reassembled: 1, delivered: 1 });
    expect(t.s.icmpstat.reflect).to.equal(1);
    expect(t.s.reass.datagramsHeld).to.equal(0);
    t.done();
  });

  it('drops the whole datagram on overlap (RFC 5722 lesson)', () => {
    const t = one();
    const payload = echoRequest(9, 1, 2000);
    const f = fragments(payload, 512, 78);
    t.ip(f[0]!);
    t.ip(f[1]!);
    // A fragment straddling f[1] and f[2]: offset 768, 512 bytes.
    t.ip(ipPacket({ src: PEER, dst: US, proto: 1, id: 78, fragOff: 768, mf: true, payload: payload.subarray(768, 1280) }));
    expect(t.s.ipstat.fragoverlap).to.equal(1); // the offending fragment
    expect(t.s.ipstat.fragdropped).to.equal(2); // the two it took down with it
    expect(t.s.reass.datagramsHeld).to.equal(0);
    t.ip(f[2]!);
    t.ip(f[3]!);
    expect(t.s.ipstat.reassembled).to.equal(0); // the rest cannot resurrect it
    t.done();
  });

  it('drops a datagram that would exceed 65535 bytes (ping of death)', () => {
    const t = one();
    t.ip(ipPacket({ src: PEER, dst: US, proto: 1, id: 5, fragOff: 0, mf: true, payload: echoRequest(1, 1, 1472) }));
    t.ip(ipPacket({ src: PEER, dst: US, proto: 1, id: 5, fragOff: 65520, mf: false, payload: new Uint8Array(100) }));
    expect(t.s.ipstat).to.include({ toolong: 1, reassembled: 0, fragdropped: 1 });
    expect(t.s.reass.fragmentsHeld).to.equal(0);
    t.done();
  });

  it('drops bad fragment lengths and fragments that disagree about the end', () => {
    const t = one();
    t.ip(ipPacket({ src: PEER, dst: US, proto: 1, id: 6, mf: true, payload: new Uint8Array(13) }));
    expect(t.s.ipstat.badfrags).to.equal(1);
    t.ip(ipPacket({ src: PEER, dst: US, proto: 1, id: 7, fragOff: 64, mf: false, payload: new Uint8Array(16) }));
    t.ip(ipPacket({ src: PEER, dst: US, proto: 1, id: 7, fragOff: 128, mf: false, payload: new Uint8Array(16) }));
    expect(t.s.ipstat.fraginconsistent).to.equal(1);
    expect(t.s.reass.datagramsHeld).to.equal(0);
    t.done();
  });

  it('bounds a fragment flood: datagrams, fragments in all, fragments per datagram', () => {
    const t = one();
    t.s.sysctl.set('net.inet.ip.reass.maxfragpackets', 10);
    t.s.sysctl.set('net.inet.ip.reass.maxfrags', 20);
    t.s.sysctl.set('net.inet.ip.reass.maxfragsperpacket', 4);
    for (let id = 0; id < 50; id++) {
      t.ip(ipPacket({ src: PEER, dst: US, proto: 1, id, fragOff: 0, mf: true, payload: new Uint8Array(1024) }));
      expect(t.s.reass.datagramsHeld).to.be.at.most(10);
    }
    expect(t.s.ipstat.fragdropped).to.equal(40);
    for (let k = 0; k < 6; k++) {
      t.ip(ipPacket({ src: PEER, dst: '10.0.0.1', proto: 17, id: 999, fragOff: 1024 * k + 8192, mf: true, payload: new Uint8Array(1024) }));
      expect(t.s.reass.fragmentsHeld).to.be.at.most(20);
    }
    // The 5th fragment of datagram 999 passed maxfragsperpacket: the datagram is gone.
    expect(t.s.reass.datagramsHeld).to.be.at.most(10);
    expect(t.s.pool.stats().clustersInUse).to.be.at.most(20);
    t.done();
  });

  it('times out after net.inet.ip.reass.timeout, frees the mbufs and sends time exceeded', async () => {
    const t = one();
    const f = fragments(echoRequest(9, 1, 3000), 1024, 80);
    t.ip(f[0]!);
    t.ip(f[1]!);
    expect(t.s.pool.stats().clustersInUse).to.equal(2);
    t.clock.advance(29_999);
    expect(t.s.reass.fragmentsHeld).to.equal(2);
    t.clock.advance(1);
    expect(t.s.ipstat.fragtimeout).to.equal(2);
    expect(t.s.reass.datagramsHeld).to.equal(0);
    expect(t.s.pool.stats().clustersInUse).to.equal(0);
    expect(t.s.icmpstat.error).to.equal(1);
    await new Promise((r) => setImmediate(r));
    const te = t.sent.find((fr) => fr[12] === 8 && fr[23] === 1 && fr[34] === 11);
    expect(te, 'ICMP time exceeded on the wire').to.not.equal(undefined);
    expect(te![35]).to.equal(1); // code 1: reassembly
    t.done();
  });
});
