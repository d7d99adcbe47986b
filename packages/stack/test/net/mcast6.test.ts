/**
 * IPv6 multicast memberships of sockets (`IPV6_JOIN_GROUP` /
 * `IPV6_LEAVE_GROUP`, `IPV6_MULTICAST_LOOP`; RFC 3493 5.2) between two
 * stacks on a MemWire, with a sniffer reading every MLDv2 report
 * (RFC 3810) the stacks send: the interface's reference on the group, the
 * reports of the join and the leave, query answers, delivery to members
 * only, the loop, the per-socket limit and the memberships given back on close.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { ManualClock } from '../../src/kern/clock.js';
import { MemWire } from '../../src/link/memwire.js';
import { etherInput } from '../../src/net/ethernet.js';
import { AF_INET6, IPPROTO, IPV6_OPT, SO, SOCK, SOL_SOCKET, SocketLayer, SocketTable, sockaddrIn6 } from '../../src/socket/index.js';
import { Ip6Address } from '../../src/wire/ip.js';
import { Stack } from '../../src/stack.js';
import { UdpProtocol } from '../../src/transport/udp/index.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { Ipv6Packet, pseudoHeaderSum6 } from '../../src/wire/ipv6.js';
import { pattern, recvWithin, sendBytes } from '../socket/helpers.js';
import { settle } from './helpers.js';

const G = Ip6Address.parse('ff15::1234')!;
const G2 = Ip6Address.parse('ff02::1:2345')!;
const ANY6 = Ip6Address.parse('::')!;
const mreq6 = (g: Ip6Address, ifindex = 0) => ({ multiaddr6: g, ifindex });
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

/** Two stacks with sockets on one wire (link-local addresses past DAD), and a sniffer keeping every frame. */
async function makeNet() {
  const clock = new ManualClock();
  const wire = new MemWire({ seed: 5, clock });
  const frames: Uint8Array[] = [];
  wire.attachLink({ name: 'sniff0' }).attach((fs) => fs.forEach((f) => frames.push(f.slice())));
  const mk = (ip: string) => {
    const stack = new Stack({ nmbclusters: 1024, clock });
    const ifp = stack.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: [`${ip}/24`] });
    const layer = new SocketLayer(stack);
    const udp = new UdpProtocol(layer);
    return { stack, ifp, udp, t: new SocketTable(layer) };
  };
  const a = mk('10.0.0.1');
  const b = mk('10.0.0.2');
  clock.advance(5000);
  await settle();
  /** MLDv2 reports on the wire (hop limit 1, router alert checked): who sent it, and its records. */
  const reports = () =>
    frames
      .filter((f) => f[12] === 0x86 && f[13] === 0xdd && f[14 + 6] === 0 && f[62] === 143)
      .map((f) => {
        expect(f[14 + 7], 'hop limit').to.equal(1);
        expect([...f.subarray(54, 58)], 'router alert').to.deep.equal([58, 0, 5, 2]);
        expect(hex(f.subarray(14 + 24, 14 + 40)), 'to all MLDv2 routers').to.equal('ff020000000000000000000000000016');
        const n = (f[68]! << 8) | f[69]!;
        const recs = [];
        for (let k = 0; k < n; k++) recs.push({ type: f[70 + 20 * k]!, group: hex(f.subarray(74 + 20 * k, 90 + 20 * k)) });
        return { srcMac: hex(f.subarray(6, 12)), recs };
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
  return { clock, wire, frames, a, b, reports, close };
}

const joined = (s: { ifp: { groups6: { addr: Ip6Address; refs: number }[] } }, g: Ip6Address) => s.ifp.groups6.find((x) => x.addr.equals(g))?.refs ?? 0;

describe('IPv6 multicast sockets between two stacks (IPV6_JOIN_GROUP, MLDv2)', function () {
  this.timeout(20_000);

  it('reports the join, delivers to members only, answers a query for the group, reports the leave and stops delivering', async () => {
    const n = await makeNet();
    const { a, b } = n;
    n.frames.length = 0;
    const r1 = b.t.socket(AF_INET6, SOCK.DGRAM, 0).fd;
    const r2 = b.t.socket(AF_INET6, SOCK.DGRAM, 0).fd; // same port, never joins
    for (const fd of [r1, r2]) {
      b.t.setsockopt(fd, SOL_SOCKET, SO.REUSEPORT, 1);
      expect(b.t.bind(fd, sockaddrIn6(ANY6, 5000))).to.equal(0);
    }
    expect(b.t.setsockopt(r1, IPPROTO.IPV6, IPV6_OPT.JOIN_GROUP, mreq6(G))).to.equal(0);
    expect(joined(b, G)).to.equal(1);
    await settle();
    const bMac = hex(b.ifp.mac);
    expect(n.reports().filter((r) => r.srcMac === bMac)).to.deep.equal([{ srcMac: bMac, recs: [{ type: 4, group: hex(G.toBytes()) }] }]); // CHANGE_TO_EXCLUDE

    const s = a.t.socket(AF_INET6, SOCK.DGRAM, 0).fd;
    expect((await sendBytes(a.t, s, pattern(100, 4), sockaddrIn6(G, 5000))).errno).to.equal(0);
    await settle();
    const got = await recvWithin(b.t, r1, 0);
    expect(got?.data).to.deep.equal(pattern(100, 4));
    expect(await recvWithin(b.t, r2, 0)).to.equal(null);
    // A port whose only socket never joined: refused by the filter, counted.
    const r3 = b.t.socket(AF_INET6, SOCK.DGRAM, 0).fd;
    expect(b.t.bind(r3, sockaddrIn6(ANY6, 5001))).to.equal(0);
    await sendBytes(a.t, s, pattern(10), sockaddrIn6(G, 5001));
    await settle();
    expect(await recvWithin(b.t, r3, 0)).to.equal(null);
    expect(b.udp.stats.filtered).to.equal(1);

    // A group-specific query from a router for G: answered with MODE_IS_EXCLUDE (RFC 3810 6.2).
    const q = new Uint8Array(40 + 8 + 28);
    q.set([0x60, 0, 0, 0, 0, 36, 0, 1], 0); // HBH next, hop limit 1
    q.set([0xfe, 0x80], 8);
    q[23] = 1;
    q.set(G.toBytes(), 24);
    q.set([58, 0, 5, 2, 0, 0, 1, 0], 40);
    q.set([130, 0, 0, 0, 0x03, 0xe8], 48); // max response 1000 ms
    q.set(G.toBytes(), 56);
    const ip = new Ipv6Packet(q);
    const c = internetChecksum(q, 48, 28, pseudoHeaderSum6(ip.src, ip.dst, 58, 28));
    q[50] = c >> 8;
    q[51] = c & 0xff;
    n.frames.length = 0;
    etherInput(b.stack, b.ifp, Uint8Array.of(0x33, 0x33, 0, 0, 0x12, 0x34, 2, 0, 0, 0, 0, 0x77, 0x86, 0xdd, ...q));
    expect(b.stack.inet6.icmp6stat.mldquery).to.equal(1);
    n.clock.advance(1000);
    await settle();
    expect(n.reports().filter((r) => r.srcMac === bMac)).to.deep.equal([{ srcMac: bMac, recs: [{ type: 2, group: hex(G.toBytes()) }] }]);

    n.frames.length = 0;
    expect(b.t.setsockopt(r1, IPPROTO.IPV6, IPV6_OPT.LEAVE_GROUP, mreq6(G))).to.equal(0);
    expect(joined(b, G)).to.equal(0);
    await settle();
    expect(n.reports().filter((r) => r.srcMac === bMac)).to.deep.equal([{ srcMac: bMac, recs: [{ type: 3, group: hex(G.toBytes()) }] }]); // CHANGE_TO_INCLUDE
    // Not a member any more: refused below UDP (the group's MAC, or IPv6's notmember).
    const before = b.stack.etherstat.notours + b.stack.inet6.ip6stat.notmember;
    await sendBytes(a.t, s, pattern(10), sockaddrIn6(G, 5000));
    await settle();
    expect(await recvWithin(b.t, r1, 0)).to.equal(null);
    expect(b.stack.etherstat.notours + b.stack.inet6.ip6stat.notmember).to.equal(before + 1);
    await n.close();
  });

  it('two sockets share the interface reference: one report for the first join, one for the last leave', async () => {
    const n = await makeNet();
    const { b } = n;
    n.frames.length = 0;
    const [x, y] = [b.t.socket(AF_INET6, SOCK.DGRAM, 0).fd, b.t.socket(AF_INET6, SOCK.DGRAM, 0).fd];
    expect(b.t.setsockopt(x, IPPROTO.IPV6, IPV6_OPT.ADD_MEMBERSHIP, mreq6(G, b.ifp.index))).to.equal(0);
    expect(b.t.setsockopt(y, IPPROTO.IPV6, IPV6_OPT.ADD_MEMBERSHIP, mreq6(G))).to.equal(0);
    expect(joined(b, G)).to.equal(2);
    expect(b.t.setsockopt(x, IPPROTO.IPV6, IPV6_OPT.DROP_MEMBERSHIP, mreq6(G, b.ifp.index))).to.equal(0);
    expect(joined(b, G)).to.equal(1);
    await settle();
    expect(n.reports().map((r) => r.recs[0]!.type)).to.deep.equal([4]);
    await b.t.close(y); // close gives the last one back
    expect(joined(b, G)).to.equal(0);
    await settle();
    expect(n.reports().map((r) => r.recs[0]!.type)).to.deep.equal([4, 3]);
    await n.close();
  });

  it('loops our own multicast back to the local members unless IPV6_MULTICAST_LOOP is off', async () => {
    const n = await makeNet();
    const { a, b } = n;
    const fd = a.t.socket(AF_INET6, SOCK.DGRAM, 0).fd;
    expect(a.t.bind(fd, sockaddrIn6(ANY6, 6000))).to.equal(0);
    expect(a.t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.JOIN_GROUP, mreq6(G2))).to.equal(0);
    const rb = b.t.socket(AF_INET6, SOCK.DGRAM, 0).fd;
    expect(b.t.bind(rb, sockaddrIn6(ANY6, 6000))).to.equal(0);
    expect(b.t.setsockopt(rb, IPPROTO.IPV6, IPV6_OPT.JOIN_GROUP, mreq6(G2))).to.equal(0);
    expect(a.t.getsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_LOOP).value).to.equal(1);
    await sendBytes(a.t, fd, pattern(20, 1), sockaddrIn6(G2, 6000));
    await settle();
    expect((await recvWithin(a.t, fd, 0))?.data).to.deep.equal(pattern(20, 1));
    expect((await recvWithin(b.t, rb, 0))?.data).to.deep.equal(pattern(20, 1));
    expect(a.stack.inet6.ip6stat.mcastloop).to.equal(1);
    expect(a.t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_LOOP, 2)).to.equal(Errno.EINVAL);
    expect(a.t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_LOOP, 0)).to.equal(0);
    expect(a.t.getsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_LOOP).value).to.equal(0);
    await sendBytes(a.t, fd, pattern(20, 2), sockaddrIn6(G2, 6000));
    await settle();
    expect(await recvWithin(a.t, fd, 0)).to.equal(null);
    expect((await recvWithin(b.t, rb, 0))?.data, 'still on the wire').to.deep.equal(pattern(20, 2));
    expect(a.stack.inet6.ip6stat.mcastloop).to.equal(1);
    await n.close();
  });

  it('a stack with only lo0 joins there and hears its own group; with the loop off, nothing', async () => {
    const s = new Stack({ nmbclusters: 256 });
    const layer = new SocketLayer(s);
    new UdpProtocol(layer);
    const t = new SocketTable(layer);
    const fd = t.socket(AF_INET6, SOCK.DGRAM, 0).fd;
    expect(t.bind(fd, sockaddrIn6(ANY6, 7000))).to.equal(0);
    expect(t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.JOIN_GROUP, mreq6(G))).to.equal(0);
    expect(s.lo0.groups6.some((g) => g.addr.equals(G))).to.equal(true);
    expect((await sendBytes(t, fd, pattern(9, 3), sockaddrIn6(G, 7000))).errno).to.equal(0);
    await settle();
    expect((await recvWithin(t, fd, 0))?.data).to.deep.equal(pattern(9, 3));
    expect(t.setsockopt(fd, IPPROTO.IPV6, IPV6_OPT.MULTICAST_LOOP, false)).to.equal(0);
    expect((await sendBytes(t, fd, pattern(9, 4), sockaddrIn6(G, 7000))).errno).to.equal(0);
    await settle();
    expect(await recvWithin(t, fd, 0)).to.equal(null);
    await t.closeAll();
    expect(s.lo0.groups6.some((g) => g.addr.equals(G))).to.equal(false);
    s.close();
    s.pool.assertAllFree();
  });

  it('checks values: not a group, no such interface, not held, joined twice, the per-socket limit (ENOBUFS), memberships given back on close', async () => {
    const n = await makeNet();
    const { b } = n;
    const groupsBefore = b.ifp.groups6.map((g) => g.addr.toString());
    const fd = b.t.socket(AF_INET6, SOCK.DGRAM, 0).fd;
    const set = (name: number, v: Parameters<SocketTable['setsockopt']>[3]) => b.t.setsockopt(fd, IPPROTO.IPV6, name, v);
    expect(set(IPV6_OPT.JOIN_GROUP, mreq6(Ip6Address.parse('fe80::1')!))).to.equal(Errno.EINVAL);
    expect(set(IPV6_OPT.JOIN_GROUP, 5)).to.equal(Errno.EINVAL);
    expect(set(IPV6_OPT.JOIN_GROUP, mreq6(G, 99))).to.equal(Errno.ENODEV);
    expect(set(IPV6_OPT.LEAVE_GROUP, mreq6(G))).to.equal(Errno.EADDRNOTAVAIL);
    expect(b.t.getsockopt(fd, IPPROTO.IPV6, IPV6_OPT.JOIN_GROUP).errno).to.equal(Errno.ENOPROTOOPT);
    for (let i = 0; i < 20; i++) expect(set(IPV6_OPT.JOIN_GROUP, mreq6(Ip6Address.parse(`ff15::${i + 1}`)!)), `join ${i}`).to.equal(0);
    expect(set(IPV6_OPT.JOIN_GROUP, mreq6(Ip6Address.parse('ff15::99')!))).to.equal(Errno.ENOBUFS);
    expect(set(IPV6_OPT.JOIN_GROUP, mreq6(Ip6Address.parse('ff15::1')!))).to.equal(Errno.EADDRINUSE);
    expect(b.ifp.groups6.length).to.equal(groupsBefore.length + 20);
    b.stack.sysctl.set('net.inet6.ip6.mcast.maxsockgroups', 21);
    expect(set(IPV6_OPT.JOIN_GROUP, mreq6(Ip6Address.parse('ff15::99')!))).to.equal(0);
    // An AF_INET socket has no IPv6 options.
    const v4 = b.t.socket(2, SOCK.DGRAM, 0).fd;
    expect(b.t.setsockopt(v4, IPPROTO.IPV6, IPV6_OPT.JOIN_GROUP, mreq6(G))).to.equal(Errno.ENOPROTOOPT);
    await b.t.close(fd);
    expect(b.ifp.groups6.map((g) => g.addr.toString())).to.deep.equal(groupsBefore);
    await n.close();
  });
});
