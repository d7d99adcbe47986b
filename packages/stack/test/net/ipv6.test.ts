import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { etherInput } from '../../src/net/ethernet.js';
import { linkLocalFromMac } from '../../src/net/in6.js';
import { closeAndCheck } from './helpers.js';
import {
  A6,
  B6,
  echoBody,
  fastStack,
  frame6,
  fragHeader,
  icmp6,
  ip6,
  ip6Packet,
  makePair6,
  optsHeader,
  rejects,
  waitFor,
  type Pair6,
} from './helpers6.js';
import { MemWire } from '../../src/link/memwire.js';
import { mFreem, mFromBytes, type Mbuf } from '../../src/mbuf/index.js';
import type { IpPacketInfo, TransportError, TransportProtocol } from '../../src/net/protosw.js';
import type { Stack } from '../../src/stack.js';

/** A UDP stand-in that answers every datagram with port unreachable, as UDP does for a closed port. */
class ClosedPorts implements TransportProtocol {
  readonly proto = 17;
  readonly seen: IpPacketInfo[] = [];
  constructor(private readonly s: Stack) {}
  input(m: Mbuf, info: IpPacketInfo): void {
    this.seen.push({ ...info }); // lent for the call: keep a copy
    this.s.icmpError(m, 3, 3);
  }
}

/** A UDP stand-in on the sending side that records ctlinput. */
class Recorder implements TransportProtocol {
  readonly proto = 17;
  readonly errors: TransportError[] = [];
  input(m: Mbuf): void {
    mFreem(m);
  }
  ctlinput(e: TransportError): void {
    this.errors.push(e);
  }
}

const ECHO = 128;

/** Inject into b, as if a sent it (a's MAC and a's address: b's answers reach a). */
function fromA(p: Pair6, pkt: Uint8Array): void {
  etherInput(p.b, p.ifb, frame6(p.ifb, pkt, undefined, p.ifa.mac));
}

/** An echo request a -> b with extension headers `ext` (the first header's type is `nxt`). */
function echoVia(nxt: number, ext: Uint8Array, dst = B6): Uint8Array {
  return ip6Packet({ src: A6, dst, nxt, ext, payload: icmp6(A6, dst, ECHO, 0, echoBody(7, 1, 16)) });
}

describe('IPv6: addresses, ping6, fragmentation', () => {
  it('gives each Ethernet interface an EUI-64 link-local address, ::1 to lo0, and runs DAD before using them', async () => {
    const p = await makePair6();
    expect(p.ifa.addrs6[0]!.addr.equals(linkLocalFromMac(p.ifa.mac))).to.equal(true);
    expect(p.a.lo0.addrs6.map((x) => x.addr.toString())).to.deep.equal(['::1']);
    // One DAD solicitation per address (link-local and fd00::1), none answered.
    expect(p.a.inet6.nd6stat.dadok).to.equal(2);
    expect(p.a.sysctl.get('net.inet6.nd6.stats.dadok')).to.equal(2);
    expect(p.a.inet6.addresses(p.ifa).map((x) => x.state)).to.deep.equal(['preferred', 'preferred']);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('pings link-local (with a zone), global, 8000 bytes fragmented, and itself through lo0', async () => {
    const p = await makePair6();
    const ll = p.ifb.addrs6[0]!.addr.toString();
    const r1 = await p.a.ping(`${ll}%wire0`, { timeout: 2000 });
    expect(r1.from).to.equal(ll);
    const r2 = await p.a.ping(B6, { timeout: 2000, size: 8000 });
    expect(r2.bytes).to.equal(8000);
    expect(p.a.inet6.ip6stat.fragmented).to.equal(1);
    expect(p.a.inet6.ip6stat.ofragments).to.equal(6); // 8048 bytes, 1448-byte pieces
    expect(p.b.inet6.ip6stat.reassembled).to.equal(1);
    expect(p.b.inet6.ip6stat.fragmented).to.equal(1); // the reply too
    const r3 = await p.a.ping('::1', { timeout: 2000, size: 20000 });
    expect(r3.bytes).to.equal(20000);
    const r4 = await p.a.ping(A6, { timeout: 2000 });
    expect(r4.from).to.equal(A6);
    expect(p.a.inet6.ip6stat.looped).to.be.greaterThan(0);
    expect(p.a.sysctl.get('net.inet6.icmp6.stats.pingmatched')).to.equal(4);
    // ND resolved both ways: REACHABLE entries with each other's MAC.
    const na = p.a.ndpList().find((e) => e.ip === B6)!;
    expect(na.state).to.equal('reachable');
    expect(na.mac).to.equal([...p.ifb.mac].map((x) => x.toString(16).padStart(2, '0')).join(':'));
    expect(p.b.ndpList().some((e) => e.ip === A6)).to.equal(true);
    await rejects(p.a.ping('2001:db8::1', { timeout: 100 }), /ENETUNREACH/);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('refuses a too-big ping6 with dontFrag (EMSGSIZE), and honours packet too big (RFC 8201, 1280 floor)', async () => {
    const p = await makePair6();
    await p.a.ping(B6, { timeout: 2000 });
    await rejects(p.a.ping(B6, { size: 3000, df: true, timeout: 500 }), /EMSGSIZE/);
    // A packet too big from b about a packet fd00::1 -> fd00::2, MTU 1000: raised to 1280.
    const quoted = echoVia(58, new Uint8Array(0)).slice(0, 0);
    void quoted;
    const q = ip6Packet({ src: A6, dst: B6, payload: icmp6(A6, B6, ECHO, 0, echoBody(1, 1, 1300)) });
    const ptb = ip6Packet({ src: B6, dst: A6, payload: icmp6(B6, A6, 2, 0, Uint8Array.of(0, 0, 3, 0xe8, ...q.subarray(0, 1232))) });
    etherInput(p.a, p.ifa, frame6(p.ifa, ptb, undefined, p.ifb.mac));
    expect(p.a.inet6.icmp6stat.pkttoobig).to.equal(1);
    expect(p.a.inet6.icmp6stat.pmtuclamped).to.equal(1);
    expect(p.a.inet6.ip.mtuTowards(ip6(B6))).to.equal(1280);
    const before = p.a.inet6.ip6stat.ofragments;
    await p.a.ping(B6, { size: 1300, timeout: 2000 });
    expect(p.a.inet6.ip6stat.ofragments - before).to.equal(2);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('fails a ping6 to a neighbour that never answers with EHOSTUNREACH after MAX_MULTICAST_SOLICIT solicitations', async () => {
    const p = await makePair6();
    const ns = p.a.inet6.nd6stat.txns;
    await rejects(p.a.ping('fd00::99', { timeout: 3000 }), /EHOSTUNREACH/);
    expect(p.a.inet6.nd6stat.txns - ns).to.equal(3);
    expect(p.a.inet6.nd6stat.timeouts).to.equal(1);
    expect(p.a.ndpList().some((e) => e.ip === 'fd00::99')).to.equal(false);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('hands transports IPv6 packets through the protosw seam, and their port unreachable goes back as ICMPv6 (code 4) to the sender\'s ctlinput', async () => {
    const p = await makePair6();
    const closed = new ClosedPorts(p.b);
    p.b.registerProtocol(closed);
    const rec = new Recorder();
    p.a.registerProtocol(rec);
    const udp = Uint8Array.of(0x04, 0xd2, 0x16, 0x2e, 0, 12, 0, 0, 1, 2, 3, 4);
    const m = mFromBytes(p.a.pool, udp, { headroom: 64 })!;
    // Through the family switch transports use (Stack.ip -> Stack.ip6): `::` as the source picks one.
    expect(p.a.ip.output(m, { src: ip6('::'), dst: ip6(B6), proto: 17 })).to.equal(0);
    await waitFor(() => rec.errors.length === 1);
    expect(closed.seen[0]!.src.toString()).to.equal(A6);
    expect(closed.seen[0]).to.include({ proto: 17, ttl: 64, multicast: false, ifname: 'wire0' });
    expect(rec.errors[0]!).to.include({ errno: Errno.ECONNREFUSED, icmpType: 1, icmpCode: 4, srcPort: 1234, dstPort: 5678 });
    expect(String(rec.errors[0]!.dst)).to.equal(B6);
    expect(p.b.inet6.icmp6stat.error).to.equal(1);
    expect(p.a.isLocal6(ip6(A6))).to.equal(true);
    expect(p.a.isLocal6(ip6(B6))).to.equal(false);
    expect(p.a.ip.selectSource(ip6(B6))!.toString()).to.equal(A6);
    expect(p.a.ip.mtuTowards(ip6(B6))).to.equal(1500);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('detects a duplicate address (RFC 4862 5.4): the second claimant never uses it', async () => {
    const p = await makePair6();
    p.a.addAddress('wire0', `${B6}/64`);
    const ia = p.ifa.addrs6.find((x) => x.addr.toString() === B6)!;
    await waitFor(() => ia.state !== 'tentative');
    expect(ia.state).to.equal('duplicated');
    expect(p.a.inet6.nd6stat.dadfailed).to.equal(1);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('configures an address and a default router from a router advertisement (SLAAC, RFC 4862 5.5.3)', async () => {
    const p = await makePair6();
    const router = 'fe80::99';
    const ra = new Uint8Array(12 + 8 + 32);
    ra[0] = 64; // cur hop limit
    ra[2] = 0x07; // router lifetime 1800 s
    ra[3] = 0x08;
    ra.set([1, 1, 2, 0, 0, 0, 0, 0x99], 12); // source link-layer option
    const pi = 20;
    ra.set([3, 4, 64, 0xc0, 0, 0, 0x1c, 0x20, 0, 0, 0x0e, 0x10], pi); // L+A, valid 7200 s, preferred 3600 s
    ip6('2001:db8:1::').writeTo(ra, pi + 16);
    const msg = icmp6(router, 'ff02::1', 134, 0, ra);
    const spoofed = ip6Packet({ src: router, dst: 'ff02::1', hopLimit: 64, payload: msg });
    etherInput(p.a, p.ifa, frame6(p.ifa, spoofed, Uint8Array.of(0x33, 0x33, 0, 0, 0, 1)));
    expect(p.a.inet6.nd6stat.badhoplimit).to.equal(1); // RFC 4861 6.1.2: not from on-link
    expect(p.ifa.addrs6.length).to.equal(2);
    const good = ip6Packet({ src: router, dst: 'ff02::1', hopLimit: 255, payload: msg });
    etherInput(p.a, p.ifa, frame6(p.ifa, good, Uint8Array.of(0x33, 0x33, 0, 0, 0, 1)));
    expect(p.a.inet6.nd6stat.raaccepted).to.equal(1);
    const slaac = p.ifa.addrs6.find((x) => x.origin === 'slaac')!;
    const [, , hi, lo] = [0, 0, p.ifa.addrs6[0]!.addr.w2, p.ifa.addrs6[0]!.addr.w3];
    expect(slaac.addr.w2).to.equal(hi);
    expect(slaac.addr.w3).to.equal(lo);
    expect(slaac.addr.toString().startsWith('2001:db8:1:0:')).to.equal(true);
    await waitFor(() => slaac.state === 'preferred');
    const routes = p.a.routeList();
    expect(routes.some((r) => r.destination === '::/0' && r.gateway === router)).to.equal(true);
    expect(routes.some((r) => r.destination === '2001:db8:1::/64' && r.ifname === 'wire0')).to.equal(true);
    expect(p.a.ndpList().find((e) => e.ip === router)).to.include({ mac: '02:00:00:00:00:99', router: true, state: 'stale' });
    expect(p.a.inet6.addresses(p.ifa).find((x) => x.origin === 'slaac')!.validLifetime).to.be.within(7190, 7200);
    closeAndCheck(p.wire, p.a, p.b);
  });
});

describe('IPv6: hostile input (counted drops, bounded tables)', () => {
  let p: Pair6;
  beforeEach(async () => {
    p = await makePair6();
    await p.a.ping(B6, { timeout: 2000 }); // neighbours resolved: b can answer a
    for (const st of [p.b.inet6.ip6stat, p.b.inet6.icmp6stat, p.b.inet6.nd6stat, p.a.inet6.icmp6stat] as Record<string, number>[]) {
      for (const k of Object.keys(st)) st[k] = 0;
    }
  });
  afterEach(() => closeAndCheck(p.wire, p.a, p.b));

  it('validates the fixed header: short, bad version, bad length, multicast or loopback source', () => {
    const st = p.b.inet6.ip6stat;
    fromA(p, new Uint8Array(30));
    const bad = echoVia(58, new Uint8Array(0));
    bad[0] = 0x40;
    fromA(p, bad);
    const long = echoVia(58, new Uint8Array(0));
    long[5] = 200;
    fromA(p, long);
    fromA(p, ip6Packet({ src: 'ff02::1', dst: B6, payload: icmp6('ff02::1', B6, ECHO, 0, echoBody(1, 1, 4)) }));
    fromA(p, ip6Packet({ src: '::1', dst: B6, payload: icmp6('::1', B6, ECHO, 0, echoBody(1, 1, 4)) }));
    fromA(p, ip6Packet({ src: A6, dst: 'fd00::77', payload: icmp6(A6, 'fd00::77', ECHO, 0, echoBody(1, 1, 4)) }));
    expect(st).to.include({ toosmall: 1, badvers: 1, tooshort: 1, badscope: 2, cantforward: 1, delivered: 0 });
    expect(p.b.sysctl.get('net.inet6.ip6.stats.badscope')).to.equal(2);
  });

  it('walks extension headers: unknown options act on their high-order bits (RFC 8200 4.2)', async () => {
    const st = p.b.inet6.ip6stat;
    const ist = p.b.inet6.icmp6stat;
    fromA(p, echoVia(60, optsHeader(58, [0x1e, 2, 0, 0]))); // 00: skip -> echo answered
    expect(ist.reflect).to.equal(1);
    fromA(p, echoVia(60, optsHeader(58, [0x5e, 2, 0, 0]))); // 01: discard silently
    expect(st.badoptions).to.equal(1);
    expect(ist.error).to.equal(0);
    fromA(p, echoVia(60, optsHeader(58, [0x9e, 2, 0, 0]))); // 10: parameter problem, pointer at the option
    expect(ist.error).to.equal(1);
    fromA(p, echoVia(60, optsHeader(58, [0xde, 2, 0, 0]), 'ff02::1')); // 11 to multicast: no ICMP
    expect(st.badoptions).to.equal(3);
    expect(ist.error).to.equal(1);
    fromA(p, echoVia(60, optsHeader(58, [0x9e, 2, 0, 0]), 'ff02::1')); // 10 to multicast: ICMP anyway (RFC 4443 2.4 e.3)
    expect(ist.error).to.equal(2);
    await waitFor(() => p.a.inet6.icmp6stat.paramprob === 2);
  });

  it('refuses a hop-by-hop header that is not first, routing type 0 (RFC 5095), too many headers, an unknown next header', async () => {
    const st = p.b.inet6.ip6stat;
    fromA(p, echoVia(60, Uint8Array.of(...optsHeader(0, [1, 0, 0, 0]), ...optsHeader(58, [1, 0, 0, 0]))));
    expect(st.hbhnotfirst).to.equal(1);
    fromA(p, echoVia(43, Uint8Array.of(58, 2, 0, 1, 0, 0, 0, 0, ...ip6('fd00::3').toBytes()))); // type 0, segments left 1
    expect(st.rthdr0).to.equal(1);
    fromA(p, echoVia(43, Uint8Array.of(58, 0, 5, 0, 0, 0, 0, 0))); // unknown type, segments left 0: read past
    expect(p.b.inet6.icmp6stat.reflect).to.equal(1);
    let chain = optsHeader(58, [1, 0, 0, 0]);
    for (let i = 0; i < 12; i++) chain = Uint8Array.of(...optsHeader(60, [1, 0, 0, 0]), ...chain);
    fromA(p, echoVia(60, chain));
    expect(st.toomanyhdr).to.equal(1);
    fromA(p, ip6Packet({ src: A6, dst: B6, nxt: 253, payload: new Uint8Array(8) }));
    expect(st.noproto).to.equal(1);
    const trunc = echoVia(60, Uint8Array.of(58, 200, 1, 0, 0, 0, 0, 0)); // header claims 1608 bytes
    fromA(p, trunc);
    expect(st.exthdrtoolong).to.equal(1);
    await waitFor(() => p.a.inet6.icmp6stat.paramprob === 3);
    expect(st.delivered).to.equal(1);
  });

  it('reassembles only what RFC 5722 / 8021 / 7112 allow: overlaps kill the datagram, atomic fragments stand alone', () => {
    const st = p.b.inet6.ip6stat;
    const echo = icmp6(A6, B6, ECHO, 0, echoBody(9, 9, 60)); // 64 bytes
    const frag = (off: number, more: boolean, id: number, data: Uint8Array): Uint8Array =>
      ip6Packet({ src: A6, dst: B6, nxt: 44, ext: fragHeader(58, off, more, id), payload: data });
    // Atomic fragment: processed on its own (RFC 8021), answered.
    fromA(p, frag(0, false, 1, echo));
    expect(st.atomicfrags).to.equal(1);
    expect(p.b.inet6.icmp6stat.reflect).to.equal(1);
    // Overlap: 0..32 then 24..64 -> the datagram dies, and its last piece is swallowed too.
    fromA(p, frag(0, true, 2, echo.subarray(0, 32)));
    fromA(p, frag(24, true, 2, echo.subarray(24, 48)));
    fromA(p, frag(48, false, 2, echo.subarray(48)));
    expect(st.fragoverlap).to.equal(1);
    expect(st.reassembled).to.equal(0);
    // Exact duplicate: dropped alone, the datagram completes.
    fromA(p, frag(0, true, 3, echo.subarray(0, 32)));
    fromA(p, frag(0, true, 3, echo.subarray(0, 32)));
    fromA(p, frag(32, false, 3, echo.subarray(32)));
    expect(st.fragdup).to.equal(1);
    expect(st.reassembled).to.equal(1);
    // Tiny: M set and a length that is not a multiple of 8.
    fromA(p, frag(0, true, 4, echo.subarray(0, 13)));
    expect(st.badfrags).to.equal(1);
    // Past 65535.
    fromA(p, frag(65528, true, 5, echo.subarray(0, 16)));
    expect(st.toolong).to.equal(1);
    // A first fragment that stops inside the header chain (RFC 7112).
    fromA(p, ip6Packet({ src: A6, dst: B6, nxt: 44, ext: Uint8Array.of(...fragHeader(60, 0, true, 6), 58, 1), payload: new Uint8Array(6) }));
    expect(st.fraghdrchain).to.equal(1);
    expect(p.b.inet6.reass.fragmentsHeld).to.equal(0);
  });

  it('bounds reassembly: per-datagram and global limits, and sends time exceeded when the first fragment timed out', async () => {
    const st = p.b.inet6.ip6stat;
    p.b.sysctl.set('net.inet6.ip6.maxfragpackets', 4);
    p.b.sysctl.set('net.inet6.ip6.reass_timeout', 1);
    const data = new Uint8Array(8);
    for (let id = 100; id < 120; id++) fromA(p, ip6Packet({ src: A6, dst: B6, nxt: 44, ext: fragHeader(58, 8, true, id), payload: data }));
    expect(p.b.inet6.reass.datagramsHeld).to.equal(4);
    expect(st.fragdropped).to.equal(16);
    const first = icmp6(A6, B6, ECHO, 0, echoBody(5, 5, 8)); // 16 bytes: a multiple of 8
    fromA(p, ip6Packet({ src: A6, dst: B6, nxt: 44, ext: fragHeader(58, 0, true, 200), payload: first }));
    await waitFor(() => p.a.inet6.icmp6stat.timxceed === 1, 3000).catch((e) => {
      console.log(p.b.inet6.ip6stat, p.b.inet6.icmp6stat, p.a.inet6.icmp6stat);
      throw e;
    });
    expect(p.b.inet6.reass.fragmentsHeld).to.equal(0);
    expect(st.fragtimeout).to.be.greaterThan(0);
  });

  it('rate-limits ICMPv6 errors (token bucket, net.inet6.icmp6.errppslimit)', () => {
    p.b.sysctl.set('net.inet6.icmp6.errppslimit', 2);
    for (let i = 0; i < 6; i++) fromA(p, ip6Packet({ src: A6, dst: B6, nxt: 253, payload: new Uint8Array(8) }));
    expect(p.b.inet6.icmp6stat.error).to.be.at.most(2);
    expect(p.b.inet6.icmp6stat.ratelimited).to.be.at.least(4);
  });

  it('refuses ND from off-link (hop limit != 255), malformed options and redirects; never answers errors with errors', () => {
    const nd = p.b.inet6.nd6stat;
    const target = ip6(A6).toBytes();
    const na = (hl: number, opt: number[]): Uint8Array =>
      ip6Packet({ src: A6, dst: B6, hopLimit: hl, payload: icmp6(A6, B6, 136, 0, Uint8Array.of(0x60, 0, 0, 0, ...target, ...opt)) });
    const before = p.b.ndpList().find((e) => e.ip === A6)!.mac;
    fromA(p, na(64, [2, 1, 6, 6, 6, 6, 6, 6])); // spoofed: "fd00::1 is at 06:06:.."
    expect(nd.badhoplimit).to.equal(1);
    fromA(p, na(255, [2, 0, 6, 6, 6, 6, 6, 6])); // zero-length option
    expect(nd.badlen).to.equal(1);
    expect(p.b.ndpList().find((e) => e.ip === A6)!.mac).to.equal(before);
    fromA(p, ip6Packet({ src: 'fe80::1', dst: B6, hopLimit: 255, payload: icmp6('fe80::1', B6, 137, 0, new Uint8Array(36)) }));
    expect(nd.redirect).to.equal(1);
    // A destination unreachable carrying a bad next header: no error in reply (RFC 4443 2.4 e.1).
    fromA(p, ip6Packet({ src: A6, dst: B6, nxt: 60, ext: Uint8Array.of(58, 0, 0x9e, 2, 0, 0, 1, 0), payload: icmp6(A6, B6, 1, 0, new Uint8Array(44)) }));
    expect(p.b.inet6.icmp6stat.oldicmp).to.equal(1);
  });

  it('keeps the neighbour cache bounded under a flood of solicitations from spoofed senders', () => {
    p.b.sysctl.set('net.inet6.icmp6.nd6_maxentries', 32);
    const tgt = ip6(B6).toBytes();
    for (let i = 0; i < 500; i++) {
      const src = `fd00::1:${i.toString(16)}`;
      const ns = icmp6(src, 'ff02::1:ff00:2', 135, 0, Uint8Array.of(0, 0, 0, 0, ...tgt, 1, 1, 2, 0, 0, 0, i >> 8, i & 255));
      etherInput(p.b, p.ifb, frame6(p.ifb, ip6Packet({ src, dst: 'ff02::1:ff00:2', hopLimit: 255, payload: ns }), Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 2)));
    }
    expect(p.b.inet6.nd.size(p.ifb)).to.be.at.most(32);
    const nd = p.b.inet6.nd6stat;
    expect(nd.rxns).to.be.at.least(500);
    expect(nd.evicted + nd.tablefull).to.be.at.least(500 - 32);
    expect(p.b.inet6.ip6stat.notmember).to.equal(0);
  });

  it('drops multicast to groups it has not joined, and unicast to a tentative address', () => {
    const st = p.b.inet6.ip6stat;
    fromA(p, echoVia(58, new Uint8Array(0), 'ff02::1234'));
    expect(st.notmember).to.equal(1);
    p.b.addAddress('wire0', 'fd00::5/64');
    fromA(p, echoVia(58, new Uint8Array(0), 'fd00::5'));
    expect(st.tentative).to.equal(1);
  });
});

describe('IPv6: stack plumbing', () => {
  it('forms RFC 7217 stable opaque interface identifiers when net.inet6.ip6.use_stableaddr is 1', () => {
    const mk = (stable: number): Stack => {
      const s = fastStack({ dad: false });
      s.sysctl.set('net.inet6.ip6.use_stableaddr', stable);
      return s;
    };
    const w = new MemWire();
    const a = mk(1);
    const link = w.attachLink({ name: 'wire0' });
    const ifp = a.attachLink(link);
    const ll = ifp.addrs6[0]!.addr;
    expect(ll.isLinkLocal).to.equal(true);
    expect(ll.equals(linkLocalFromMac(ifp.mac))).to.equal(false); // not derived from the MAC
    const id = (p: string): [number, number] => a.inet6.interfaceId(ifp, ip6(p));
    expect(id('fe80::')).to.deep.equal([ll.w2, ll.w3]); // stable for a prefix and an interface
    expect(id('2001:db8:1::')).to.not.deep.equal(id('2001:db8:2::')); // different across prefixes
    const b = mk(0);
    const ifb = b.attachLink(w.attachLink({ name: 'wire0' }));
    expect(ifb.addrs6[0]!.addr.equals(linkLocalFromMac(ifb.mac))).to.equal(true); // the default: EUI-64
    a.close();
    b.close();
    w.close();
  });

  it('selects sources by RFC 6724 rules: the destination itself, scope, not deprecated, longest common prefix', () => {
    const s = fastStack({ dad: false });
    const w = new MemWire();
    const ifp = s.attachLink(w.attachLink({ name: 'wire0' }), { addrs: ['2001:db8:1::5/64', '2001:db8:2::5/64'] });
    s.addRoute('default', 'fe80::1%wire0');
    const src = (d: string, zone = 0): string => String(s.inet6.ip.selectSource(ip6(d), zone));
    expect(src('2001:db8:1::99')).to.equal('2001:db8:1::5'); // rule 8
    expect(src('2001:db8:2::99')).to.equal('2001:db8:2::5');
    expect(src('2001:db8:2::5')).to.equal('2001:db8:2::5'); // rule 1 (through lo0)
    expect(src('fe80::9', ifp.index)).to.equal(ifp.addrs6[0]!.addr.toString()); // rule 2: link scope
    expect(src('ff02::1', ifp.index)).to.equal(ifp.addrs6[0]!.addr.toString());
    ifp.addrs6.find((a) => a.addr.toString() === '2001:db8:1::5')!.state = 'deprecated';
    expect(src('2001:db8:1::99')).to.equal('2001:db8:2::5'); // rule 3 beats rule 8
    ifp.addrs6.find((a) => a.addr.toString() === '2001:db8:2::5')!.state = 'tentative';
    expect(src('2001:db8:1::99')).to.equal('2001:db8:1::5'); // a tentative address is never chosen
    s.close();
    w.close();
  });

  it('adds and removes addresses and routes, validates input, lists neighbours', async () => {
    const s = fastStack({ dad: false });
    const w = new MemWire();
    const ifp = s.attachLink(w.attachLink({ name: 'wire0' }), { addrs: ['2001:db8::5/64'] });
    expect(() => s.addAddress('wire0', 'ff02::1/64')).to.throw(/not a unicast/);
    expect(() => s.addAddress('wire0', '2001:db8::5/64')).to.throw(/already/);
    expect(() => s.addAddress('wire0', '2001:db8::6/129')).to.throw(/prefix length/);
    s.addRoute('default', 'fe80::1%wire0');
    s.addRoute('2001:db8:9::/48', '2001:db8::1');
    expect(() => s.addRoute('2001:db8:8::/48', '2001:db9::1')).to.throw(/not on-link/);
    expect(s.routeList().filter((r) => r.destination.includes(':')).map((r) => r.destination)).to.include.members([
      '::/0',
      '2001:db8:9::/48',
      '2001:db8::/64',
      '2001:db8::5/128',
    ]);
    expect(s.inet6.ip.selectSource(ip6('2001:db8:9::1'))!.toString()).to.equal('2001:db8::5');
    expect(s.inet6.ip.selectSource(ip6('fe80::7'), ifp.index)!.toString()).to.equal(ifp.addrs6[0]!.addr.toString());
    s.deleteRoute('2001:db8:9::/48');
    s.removeAddress('wire0', '2001:db8::5');
    expect(s.routeList().some((r) => r.destination.startsWith('2001:db8::'))).to.equal(false);
    expect(() => s.removeAddress('wire0', '2001:db8::5')).to.throw(/not on/);
    s.inet6.nd.addStatic(ifp, ip6('fe80::1'), Uint8Array.of(2, 0, 0, 0, 0, 1));
    expect(s.ndpList()).to.deep.equal([{ ip: 'fe80::1', mac: '02:00:00:00:00:01', ifname: 'wire0', state: 'static', router: false, expiresIn: -1, held: 0 }]);
    await rejects(s.ping('fe80::1%nope0'), /nope0/);
    await rejects(s.ping('fe80::zz'), /bad IPv6/);
    s.close();
    w.close();
    s.pool.assertAllFree();
    expect(Errno.ENODEV).to.be.a('number');
  });
});
