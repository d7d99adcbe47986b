/**
 * IPv4 multicast: the IGMP wire format (RFC 3376, RFC 2236), the interface
 * group table, the socket options (`IP_ADD_MEMBERSHIP` and friends) and
 * delivery between two stacks on a MemWire, with a sniffer on the wire
 * reading every IGMP report the stacks send.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Errno } from '../../src/kern/errno.js';
import { ManualClock } from '../../src/kern/clock.js';
import { MemWire } from '../../src/link/memwire.js';
import { etherInput } from '../../src/net/ethernet.js';
import { changeRecords } from '../../src/net/igmp.js';
import { IN_MULTI_NONE, inJoinGroup, inLeaveGroup, inMultiState } from '../../src/net/in-mcast.js';
import { AF_INET, AF_INET6, IPPROTO, IPV6_OPT, IP_MCAST_OPT, SOCK, SocketLayer, SocketTable, sockaddrIn, sockaddrIn6 } from '../../src/socket/index.js';
import { Ip6Address } from '../../src/wire/ip.js';
import { Stack } from '../../src/stack.js';
import { UdpProtocol } from '../../src/transport/udp/index.js';
import { IgmpRecord, IgmpType, igmpEmitQuery, igmpEmitV2, igmpEmitV3Report, igmpParse } from '../../src/wire/igmp.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { pattern, recvWithin, sendBytes } from '../socket/helpers.js';
import { etherFrame, ip4, ipPacket, mac, PEER_MAC, settle } from './helpers.js';

const G = ip4('239.1.2.3');
const G2 = ip4('239.9.9.9');
const A = ip4('10.0.0.1');
const B = ip4('10.0.0.2');
const RA = Uint8Array.of(0x94, 4, 0, 0);

describe('IGMP wire format (RFC 3376 4, RFC 2236 2)', () => {
  it('round-trips a v3 report with sources and parses v1, v2 and v3 queries', () => {
    const recs = [
      { type: IgmpRecord.CHANGE_TO_EXCLUDE, group: G, sources: [] },
      { type: IgmpRecord.ALLOW_NEW_SOURCES, group: G2, sources: [A, B] },
    ];
    const msg = igmpEmitV3Report(recs);
    expect(msg.length).to.equal(8 + 8 + 8 + 8);
    expect(igmpParse(msg, 0, msg.length)).to.deep.equal({ kind: 'v3report', records: recs });
    const v1 = igmpEmitV2(IgmpType.QUERY, 0, 0);
    expect(igmpParse(v1, 0, 8)).to.deep.include({ kind: 'query', version: 1, maxRespMs: 10_000 });
    const v2 = igmpEmitQuery(2, G, 50);
    expect(igmpParse(v2, 0, 8)).to.deep.include({ kind: 'query', version: 2, group: G, maxRespMs: 5000 });
    const v3 = igmpEmitQuery(3, G, 0x8f, [A]); // floating point: (0xf | 0x10) << 3 = 248 tenths
    expect(igmpParse(v3, 0, v3.length)).to.deep.include({ kind: 'query', version: 3, group: G, maxRespMs: 24_800, sources: [A], qrv: 2 });
    expect(igmpParse(igmpEmitV2(IgmpType.V2_LEAVE, G), 0, 8)).to.deep.equal({ kind: 'leave', group: G });
  });

  it('refuses short, corrupted and overlong-count messages with their reason', () => {
    const q = igmpEmitQuery(3, G, 10, [A, B]);
    expect(igmpParse(q, 0, 7)).to.equal('tooshort');
    const bad = q.slice();
    bad[5]! ^= 1;
    expect(igmpParse(bad, 0, bad.length)).to.equal('badsum');
    // Claim 3 sources in a message holding 2 (checksum fixed up): the count runs past the end.
    const over = igmpEmitQuery(3, G, 10, [A, B, A]).subarray(0, q.length).slice();
    over[2] = 0;
    over[3] = 0;
    const c = internetChecksum(over, 0, over.length);
    over[2] = c >> 8;
    over[3] = c & 0xff;
    expect(igmpParse(over, 0, over.length)).to.equal('badlen');
  });

  it('never throws and never reads past the message, whatever the bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.boolean(), (b, fix) => {
        if (fix && b.length >= 4) {
          b[2] = 0;
          b[3] = 0;
          const c = internetChecksum(b, 0, b.length);
          b[2] = c >> 8;
          b[3] = c & 0xff;
        }
        const r = igmpParse(b, 0, b.length);
        if (typeof r !== 'string' && r.kind === 'v3report') for (const x of r.records) expect(x.sources.length * 4).to.be.at.most(b.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IPv4 group table (in_multi) and IGMPv3 state-change records', () => {
  it('counts memberships per group and per source; EXCLUDE {} wins over INCLUDE', () => {
    const s = new Stack();
    const ifp = s.lo0;
    expect(inJoinGroup(ifp, G, A)).to.deep.equal({ before: IN_MULTI_NONE, after: { mode: 'include', sources: [A] } });
    inJoinGroup(ifp, G, B);
    inJoinGroup(ifp, G, A);
    expect(inMultiState(ifp, G)).to.deep.equal({ mode: 'include', sources: [A, B] });
    const ex = inJoinGroup(ifp, G, null);
    expect(ex.after).to.deep.equal({ mode: 'exclude', sources: [] });
    expect(changeRecords(G, ex.before, ex.after)).to.deep.equal([{ type: IgmpRecord.CHANGE_TO_EXCLUDE, group: G, sources: [] }]);
    const back = inLeaveGroup(ifp, G, null);
    expect(changeRecords(G, back.before, back.after)).to.deep.equal([{ type: IgmpRecord.CHANGE_TO_INCLUDE, group: G, sources: [A, B] }]);
    const b = inLeaveGroup(ifp, G, B);
    expect(changeRecords(G, b.before, b.after)).to.deep.equal([{ type: IgmpRecord.BLOCK_OLD_SOURCES, group: G, sources: [B] }]);
    inLeaveGroup(ifp, G, A);
    expect(ifp.groups.has(G)).to.equal(true); // A was joined twice
    inLeaveGroup(ifp, G, A);
    expect(ifp.groups.has(G)).to.equal(false);
    s.close();
  });
});

/** Two stacks with sockets on one wire, and a sniffer keeping every frame. */
function makeNet(clock?: ManualClock) {
  const wire = new MemWire({ seed: 3, clock });
  const frames: Uint8Array[] = [];
  const sniff = wire.attachLink({ name: 'sniff0' });
  sniff.attach((fs) => fs.forEach((f) => frames.push(f.slice())));
  const mk = (ip: string) => {
    const stack = new Stack({ nmbclusters: 1024, clock });
    const ifp = stack.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: [`${ip}/24`] });
    const layer = new SocketLayer(stack);
    const udp = new UdpProtocol(layer);
    const t = new SocketTable(layer);
    return { stack, ifp, udp, t };
  };
  const a = mk('10.0.0.1');
  const b = mk('10.0.0.2');
  /** The IGMP messages seen on the wire: IP header checked (TTL 1, Router Alert), then parsed. */
  const igmp = () =>
    frames
      .filter((f) => f[12] === 0x08 && f[13] === 0 && f[14 + 9] === 2)
      .map((f) => {
        const hl = (f[14]! & 15) * 4;
        expect(f[14 + 8], 'TTL').to.equal(1);
        expect([...f.subarray(34, 38)], 'router alert').to.deep.equal([...RA]);
        const dst = ((f[30]! << 24) | (f[31]! << 16) | (f[32]! << 8) | f[33]!) >>> 0;
        expect([...f.subarray(0, 6)], 'group MAC').to.deep.equal([1, 0, 0x5e, (dst >>> 16) & 0x7f, (dst >>> 8) & 255, dst & 255]);
        return { dst, msg: igmpParse(f, 14 + hl, f.length - 14 - hl) };
      });
  const close = async () => {
    await a.t.closeAll();
    await b.t.closeAll();
    a.stack.close();
    b.stack.close();
    wire.close();
    a.stack.pool.assertAllFree();
    b.stack.pool.assertAllFree();
  };
  return { wire, frames, a, b, igmp, close };
}

const mreq = (g: number, ifaddr = 0, src?: number) => ({ multiaddr: g, interface: ifaddr, ...(src !== undefined ? { sourceaddr: src } : {}) });

describe('IPv4 multicast between two stacks (IP_ADD_MEMBERSHIP, IGMPv3)', function () {
  this.timeout(20_000);

  it('delivers to members only, reports the join and the leave, and stops after the drop', async () => {
    const n = makeNet();
    const { a, b } = n;
    const r1 = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    const r2 = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd; // same port, never joins
    const { SO, SOL_SOCKET } = await import('../../src/socket/index.js');
    for (const fd of [r1, r2]) {
      b.t.setsockopt(fd, SOL_SOCKET, SO.REUSEPORT, 1);
      expect(b.t.bind(fd, sockaddrIn(0, 5000))).to.equal(0);
    }
    expect(b.t.setsockopt(r1, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(G, B))).to.equal(0);
    expect(b.ifp.groups.has(G)).to.equal(true);
    await settle();
    const joins = n.igmp().filter((x) => x.dst === ip4('224.0.0.22'));
    expect(joins.length).to.be.greaterThan(0);
    expect(joins[0]!.msg).to.deep.equal({ kind: 'v3report', records: [{ type: IgmpRecord.CHANGE_TO_EXCLUDE, group: G, sources: [] }] });

    const s = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect((await sendBytes(a.t, s, pattern(100, 4), sockaddrIn(G, 5000))).errno).to.equal(0);
    const got = await recvWithin(b.t, r1, 2000);
    expect(got?.data).to.deep.equal(pattern(100, 4));
    expect(got?.addr).to.deep.include({ addr: A });
    expect(await recvWithin(b.t, r2, 50)).to.equal(null);
    // Multicast leaves with TTL 1 by default (RFC 1112 6.1) to 01:00:5e:01:02:03.
    const data = n.frames.find((f) => f[14 + 9] === 17 && f[33] === 3)!;
    expect(data[14 + 8]).to.equal(1);
    expect([...data.subarray(0, 6)]).to.deep.equal([...mac('01:00:5e:01:02:03')]);

    expect(b.t.setsockopt(r1, IPPROTO.IP, IP_MCAST_OPT.DROP_MEMBERSHIP, mreq(G, B))).to.equal(0);
    expect(b.ifp.groups.has(G)).to.equal(false);
    await settle();
    const leaves = n.igmp().filter((x) => typeof x.msg !== 'string' && x.msg.kind === 'v3report' && x.msg.records[0]!.type === IgmpRecord.CHANGE_TO_INCLUDE);
    expect(leaves.length).to.be.greaterThan(0);
    // Not a member any more: the frame's group MAC is no longer accepted (ether_input).
    const before = b.stack.etherstat.notours;
    await sendBytes(a.t, s, pattern(10), sockaddrIn(G, 5000));
    await settle();
    expect(await recvWithin(b.t, r1, 50)).to.equal(null);
    expect(b.stack.etherstat.notours).to.equal(before + 1);
    await n.close();
  });

  it('loops our own multicast back to local members unless IP_MULTICAST_LOOP is off; honours IP_MULTICAST_TTL', async () => {
    const n = makeNet();
    const { a } = n;
    const fd = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect(a.t.bind(fd, sockaddrIn(0, 6000))).to.equal(0);
    expect(a.t.setsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(G))).to.equal(0);
    expect(a.t.setsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.MULTICAST_TTL, 7)).to.equal(0);
    expect(a.t.getsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.MULTICAST_TTL).value).to.equal(7);
    await sendBytes(a.t, fd, pattern(20, 1), sockaddrIn(G, 6000));
    expect((await recvWithin(a.t, fd, 2000))?.data).to.deep.equal(pattern(20, 1));
    expect(a.stack.ipstat.mcastloop).to.equal(1);
    const data = n.frames.find((f) => f[14 + 9] === 17)!;
    expect(data[14 + 8]).to.equal(7);
    expect(a.t.setsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.MULTICAST_LOOP, 0)).to.equal(0);
    expect(a.t.getsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.MULTICAST_LOOP).value).to.equal(0);
    await sendBytes(a.t, fd, pattern(20, 2), sockaddrIn(G, 6000));
    expect(await recvWithin(a.t, fd, 50)).to.equal(null);
    expect(a.stack.ipstat.mcastloop).to.equal(1);
    await n.close();
  });

  it('source-specific membership takes only its sources and reports INCLUDE records', async () => {
    const n = makeNet();
    const { a, b } = n;
    const c = (() => {
      // a third host on the wire, 10.0.0.3
      const stack = new Stack({ nmbclusters: 256 });
      stack.attachLink(n.wire.attachLink({ name: 'wire0' }), { addrs: ['10.0.0.3/24'] });
      const layer = new SocketLayer(stack);
      new UdpProtocol(layer);
      return { stack, t: new SocketTable(layer) };
    })();
    const r = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    b.t.bind(r, sockaddrIn(0, 7000));
    expect(b.t.setsockopt(r, IPPROTO.IP, IP_MCAST_OPT.ADD_SOURCE_MEMBERSHIP, mreq(G, 0, A))).to.equal(0);
    expect(b.t.setsockopt(r, IPPROTO.IP, IP_MCAST_OPT.ADD_SOURCE_MEMBERSHIP, mreq(G, 0, A))).to.equal(Errno.EADDRNOTAVAIL);
    expect(b.t.setsockopt(r, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(G))).to.equal(Errno.EADDRINUSE);
    await settle();
    const rep = n.igmp().find((x) => typeof x.msg !== 'string' && x.msg.kind === 'v3report');
    // INCLUDE {} -> INCLUDE {A}: ALLOW(A) (RFC 3376 5.1).
    expect(rep?.msg).to.deep.equal({ kind: 'v3report', records: [{ type: IgmpRecord.ALLOW_NEW_SOURCES, group: G, sources: [A] }] });
    const sa = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    const sc = c.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    await sendBytes(c.t, sc, pattern(5, 9), sockaddrIn(G, 7000));
    await sendBytes(a.t, sa, pattern(5, 1), sockaddrIn(G, 7000));
    const got = await recvWithin(b.t, r, 2000);
    expect(got?.data).to.deep.equal(pattern(5, 1));
    expect(await recvWithin(b.t, r, 50)).to.equal(null);
    expect(b.udp.stats.filtered).to.equal(1);
    expect(b.t.setsockopt(r, IPPROTO.IP, IP_MCAST_OPT.DROP_SOURCE_MEMBERSHIP, mreq(G, 0, B))).to.equal(Errno.EADDRNOTAVAIL);
    expect(b.t.setsockopt(r, IPPROTO.IP, IP_MCAST_OPT.DROP_SOURCE_MEMBERSHIP, mreq(G, 0, A))).to.equal(0);
    expect(b.ifp.groups.has(G)).to.equal(false);
    await c.t.closeAll();
    c.stack.close();
    c.stack.pool.assertAllFree();
    await n.close();
  });

  it('checks option values: not a group, not ours, not held, joined twice, and the per-socket limit', async () => {
    const n = makeNet();
    const { b } = n;
    const fd = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    const set = (name: number, v: Parameters<SocketTable['setsockopt']>[3]) => b.t.setsockopt(fd, IPPROTO.IP, name, v);
    expect(set(IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(B))).to.equal(Errno.EINVAL);
    expect(set(IP_MCAST_OPT.ADD_MEMBERSHIP, 5)).to.equal(Errno.EINVAL);
    expect(set(IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(G, ip4('10.9.9.9')))).to.equal(Errno.ENODEV);
    expect(set(IP_MCAST_OPT.DROP_MEMBERSHIP, mreq(G))).to.equal(Errno.EADDRNOTAVAIL);
    expect(set(IP_MCAST_OPT.MULTICAST_IF, ip4('10.9.9.9'))).to.equal(Errno.EADDRNOTAVAIL);
    expect(set(IP_MCAST_OPT.MULTICAST_IF, B)).to.equal(0);
    expect(b.t.getsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.MULTICAST_IF).value).to.equal(B);
    expect(set(IP_MCAST_OPT.MULTICAST_TTL, 256)).to.equal(Errno.EINVAL);
    expect(set(IP_MCAST_OPT.MULTICAST_TTL, -1)).to.equal(0);
    expect(b.t.getsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.MULTICAST_TTL).value).to.equal(1);
    for (let i = 0; i < 20; i++) expect(set(IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(ip4(`239.0.0.${i + 1}`))), `join ${i}`).to.equal(0);
    expect(set(IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(ip4('239.0.0.99')))).to.equal(Errno.ENOBUFS);
    expect(set(IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(ip4('239.0.0.1')))).to.equal(Errno.EADDRINUSE);
    expect(b.ifp.groups.size).to.equal(21); // 224.0.0.1 and the twenty
    // close gives every membership back
    await b.t.close(fd);
    expect([...b.ifp.groups.keys()]).to.deep.equal([ip4('224.0.0.1')]);
    await n.close();
  });
});

describe('IGMP queries and hostile input', function () {
  this.timeout(20_000);

  /** An IGMP packet from a querier at 10.0.0.254, as a frame to `dst`'s MAC. */
  function igmpFrame(dst: number, msg: Uint8Array, ttl = 1): Uint8Array {
    const d = `${dst >>> 24}.${(dst >>> 16) & 255}.${(dst >>> 8) & 255}.${dst & 255}`;
    const pkt = ipPacket({ src: '10.0.0.254', dst: d, proto: 2, ttl, payload: msg, options: RA });
    return etherFrame(Uint8Array.of(1, 0, 0x5e, (dst >>> 16) & 0x7f, (dst >>> 8) & 255, dst & 255), PEER_MAC, 0x0800, pkt);
  }

  it('answers a general query within its response time with the current state, and v2 queriers get v2 reports', async () => {
    const clock = new ManualClock();
    const n = makeNet(clock);
    const { b } = n;
    const fd = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    b.t.setsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(G));
    b.t.setsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.ADD_SOURCE_MEMBERSHIP, mreq(G2, 0, A));
    clock.advance(1000);
    await settle();
    n.frames.length = 0;
    etherInput(b.stack, b.ifp, igmpFrame(ip4('224.0.0.1'), igmpEmitQuery(3, 0, 20))); // 2 s
    expect(b.stack.igmpstat).to.include({ v3queries: 1, genqueries: 1 });
    clock.advance(2000);
    await settle();
    const ans = n.igmp();
    expect(ans).to.have.length(1);
    const recs = (ans[0]!.msg as { records: unknown[] }).records;
    expect(recs).to.have.deep.members([
      { type: IgmpRecord.MODE_IS_EXCLUDE, group: G, sources: [] },
      { type: IgmpRecord.MODE_IS_INCLUDE, group: G2, sources: [A] },
    ]);
    // A v2 querier: the interface speaks v2 from then on (RFC 3376 7.2.1).
    n.frames.length = 0;
    etherInput(b.stack, b.ifp, igmpFrame(ip4('224.0.0.1'), igmpEmitQuery(2, 0, 10)));
    clock.advance(1000);
    await settle();
    const v2 = n.igmp().map((x) => x.msg);
    expect(v2).to.have.deep.members([
      { kind: 'report', version: 2, group: G },
      { kind: 'report', version: 2, group: G2 },
    ]);
    n.frames.length = 0;
    b.t.setsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.DROP_MEMBERSHIP, mreq(G));
    await settle();
    expect(n.igmp()[0]).to.deep.equal({ dst: ip4('224.0.0.2'), msg: { kind: 'leave', group: G } });
    clock.advance(260_001);
    expect(b.stack.igmp.version(b.ifp)).to.equal(3);
    await n.close();
  });

  it('counts and ignores bad IGMP: checksum, length, TTL, unknown type, misaddressed queries', async () => {
    const n = makeNet();
    const { b } = n;
    const fd = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    b.t.setsockopt(fd, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq(G));
    await settle();
    const all = ip4('224.0.0.1');
    const bad = igmpEmitQuery(3, 0, 10);
    bad[9]! ^= 1;
    etherInput(b.stack, b.ifp, igmpFrame(all, bad));
    etherInput(b.stack, b.ifp, igmpFrame(all, igmpEmitQuery(3, 0, 10).subarray(0, 6)));
    etherInput(b.stack, b.ifp, igmpFrame(all, igmpEmitQuery(3, 0, 10).subarray(0, 10).slice()));
    etherInput(b.stack, b.ifp, igmpFrame(all, igmpEmitQuery(3, 0, 10), 64));
    etherInput(b.stack, b.ifp, igmpFrame(all, igmpEmitV2(0x99, 0)));
    etherInput(b.stack, b.ifp, igmpFrame(G, igmpEmitQuery(3, 0, 10))); // general query to a group
    etherInput(b.stack, b.ifp, igmpFrame(all, igmpEmitQuery(3, G, 10))); // group query not to its group
    etherInput(b.stack, b.ifp, igmpFrame(all, igmpEmitQuery(3, 0, 10, [A]))); // general query with sources
    etherInput(b.stack, b.ifp, igmpFrame(G, igmpEmitV2(IgmpType.V2_REPORT, G)));
    // (the 10-byte query keeps a valid sum: its cut-off source count was zero; RFC 3376 7.1 ignores 9..11 bytes)
    expect(b.stack.igmpstat).to.include({ total: 9, badsum: 1, badlen: 1, tooshort: 1, badttl: 1, unknowntype: 1, badqueries: 3, reports: 1, genqueries: 0 });
    expect(b.stack.sysctl.get('net.inet.igmp.stats.badqueries')).to.equal(3);
    await n.close();
  });
});

describe('IPv6 multicast send options (IPV6_MULTICAST_IF, IPV6_MULTICAST_HOPS)', () => {
  it('sends a zone-less group datagram out of the chosen interface with the hop limit set; an unknown index is ENODEV', async () => {
    const clock = new ManualClock();
    const n = makeNet(clock);
    const { a } = n;
    clock.advance(5000); // link-local addresses past DAD
    await settle();
    const fd = a.t.socket(AF_INET6, SOCK.DGRAM, 0).fd;
    expect(a.t.bind(fd, sockaddrIn6(Ip6Address.parse('::')!, 0))).to.equal(0);
    expect(a.t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_IF, 99)).to.equal(Errno.ENODEV);
    expect(a.t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_IF, a.ifp.index)).to.equal(0);
    expect(a.t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_HOPS, 256)).to.equal(Errno.EINVAL);
    expect(a.t.getsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_HOPS).value).to.equal(1);
    expect(a.t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_HOPS, 5)).to.equal(0);
    n.frames.length = 0;
    const g = Ip6Address.parse('ff02::1:2345')!;
    expect((await sendBytes(a.t, fd, pattern(8), sockaddrIn6(g, 7777))).errno).to.equal(0);
    await settle();
    const f = n.frames.find((x) => x[12] === 0x86 && x[13] === 0xdd && x[14 + 6] === 17);
    expect(f, 'the datagram on the wire').to.not.equal(undefined);
    expect(f![14 + 7]).to.equal(5); // hop limit
    expect([...f!.subarray(0, 2)]).to.deep.equal([0x33, 0x33]);
    await n.close();
  });
});
