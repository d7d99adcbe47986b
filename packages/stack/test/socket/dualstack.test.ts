/**
 * Dual-stack sockets (RFC 3493 3.7 and 5.3, RFC 4038 4.2) on one real stack
 * over lo0: an AF_INET6 socket that is not IPV6_V6ONLY takes IPv4 peers as
 * v4-mapped addresses — a [::] listener accepts IPv4 connections, a
 * connect or sendto to ::ffff:a.b.c.d speaks IPv4 — and IPV6_V6ONLY turns
 * all of that off. What was tried: TCP and UDP both ways, names as the
 * user sees them, bind conflicts across families, the option's rules, and
 * IPv6 destinations while the stack has no IPv6 route.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { createNetStack, type NetStack } from '../../src/netstack.js';
import { AF, IP_MCAST_OPT, IPPROTO, POLL, SOCK, type SocketTable } from '../../src/socket/index.js';
import { IPV6_OPT } from '../../src/socket/in6opt.js';
import { sockaddrIn, sockaddrIn6, type Sockaddr, type SockaddrIn6 } from '../../src/socket/sockaddr.js';
import { IP6_ANY, Ip6Address, ip6MapV4 } from '../../src/wire/ip.js';
import { pattern, recvWithin, sendBytes } from './helpers.js';

const LO = 0x7f000001;
const MAPPED_LO = ip6MapV4(LO);

const send = sendBytes;


function v6(addr: Sockaddr | null): SockaddrIn6 {
  expect(addr).to.not.equal(null);
  expect(addr!.family).to.equal(AF.INET6);
  return addr as SockaddrIn6;
}

describe('dual-stack AF_INET6 sockets over lo0', function () {
  this.timeout(20_000);
  let net: NetStack;
  let t: SocketTable;
  beforeEach(() => {
    net = createNetStack({ nmbclusters: 1024 });
    t = net.newProcess();
  });
  afterEach(async () => {
    await t.closeAll();
    net.close();
    expect(net.stack.pool.isAllFree(), 'pool all-free').to.equal(true);
  });

  it('a [::] TCP listener accepts an IPv4 connection and shows it v4-mapped; data flows both ways', async () => {
    const l = t.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(t.bind(l, sockaddrIn6(IP6_ANY, 8080))).to.equal(0);
    expect(t.listen(l, 4)).to.equal(0);
    expect(v6(t.getsockname(l).addr).addr.isUnspecified).to.equal(true);
    const c = t.socket(AF.INET, SOCK.STREAM, 0).fd;
    expect(await t.connect(c, sockaddrIn(LO, 8080))).to.equal(0);
    const a = await t.accept(l);
    expect(a.errno).to.equal(0);
    const peer = v6(a.addr);
    expect(peer.addr.equals(MAPPED_LO)).to.equal(true);
    expect(peer.port).to.equal((t.getsockname(c).addr as { port: number }).port);
    expect(v6(t.getsockname(a.fd).addr).addr.toString()).to.equal('::ffff:127.0.0.1');
    expect(v6(t.getpeername(a.fd).addr).addr.toString()).to.equal('::ffff:127.0.0.1');
    const up = pattern(5000, 3);
    expect((await send(t, c, up)).errno).to.equal(0);
    const parts: Uint8Array[] = [];
    for (let n = 0, i = 0; n < up.length && i < 50; i++) {
      const r = await recvWithin(t, a.fd, 2000);
      if (r === null) break;
      parts.push(r.data);
      n += r.data.length;
    }
    expect(Buffer.concat(parts)).to.deep.equal(Buffer.from(up));
    expect((await send(t, a.fd, up.subarray(0, 100))).errno).to.equal(0);
    expect((await recvWithin(t, c, 2000))!.data).to.deep.equal(up.subarray(0, 100));
  });

  it('IPV6_V6ONLY: the [::] listener no longer takes IPv4, and an IPv4 bind of the port is free', async () => {
    const l = t.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(t.setsockopt(l, IPPROTO.IPV6, IPV6_OPT.V6ONLY, 1)).to.equal(0);
    expect(t.getsockopt(l, IPPROTO.IPV6, IPV6_OPT.V6ONLY).value).to.equal(1);
    expect(t.bind(l, sockaddrIn6(IP6_ANY, 8081))).to.equal(0);
    expect(t.listen(l, 4)).to.equal(0);
    // Set once bound: refused, as Linux.
    expect(t.setsockopt(l, IPPROTO.IPV6, IPV6_OPT.V6ONLY, 0)).to.equal(Errno.EINVAL);
    const c = t.socket(AF.INET, SOCK.STREAM, 0).fd;
    expect(await t.connect(c, sockaddrIn(LO, 8081))).to.equal(Errno.ECONNREFUSED);
    const v4 = t.socket(AF.INET, SOCK.STREAM, 0).fd;
    expect(t.bind(v4, sockaddrIn(0, 8081))).to.equal(0);
  });

  it('a dual [::] bind and an IPv4 bind of one port conflict, in either order', () => {
    const d = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t.bind(d, sockaddrIn6(IP6_ANY, 9000))).to.equal(0);
    const a = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect(t.bind(a, sockaddrIn(0, 9000))).to.equal(Errno.EADDRINUSE);
    expect(t.bind(a, sockaddrIn(LO, 9000))).to.equal(Errno.EADDRINUSE);
    const b = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect(t.bind(b, sockaddrIn(0, 9001))).to.equal(0);
    const d2 = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t.bind(d2, sockaddrIn6(IP6_ANY, 9001))).to.equal(Errno.EADDRINUSE);
    const only = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t.setsockopt(only, IPPROTO.IPV6, IPV6_OPT.V6ONLY, 1)).to.equal(0);
    expect(t.bind(only, sockaddrIn6(IP6_ANY, 9001))).to.equal(0);
  });

  it('connect to ::ffff:127.0.0.1 from an AF_INET6 socket reaches an IPv4 listener', async () => {
    const l = t.socket(AF.INET, SOCK.STREAM, 0).fd;
    expect(t.bind(l, sockaddrIn(LO, 8082))).to.equal(0);
    expect(t.listen(l, 4)).to.equal(0);
    const c = t.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(await t.connect(c, sockaddrIn6(MAPPED_LO, 8082))).to.equal(0);
    expect(v6(t.getsockname(c).addr).addr.equals(MAPPED_LO)).to.equal(true);
    expect(v6(t.getpeername(c).addr).port).to.equal(8082);
    const a = await t.accept(l);
    expect(a.addr!.family).to.equal(AF.INET);
    expect((a.addr as { addr: number }).addr).to.equal(LO);
  });

  it('UDP: a dual socket receives from IPv4 as v4-mapped and answers through the mapped address', async () => {
    const d = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t.bind(d, sockaddrIn6(IP6_ANY, 5353))).to.equal(0);
    const a = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect((await send(t, a, pattern(300, 1), sockaddrIn(LO, 5353))).errno).to.equal(0);
    const got = await recvWithin(t, d, 2000);
    expect(got!.data).to.deep.equal(pattern(300, 1));
    const from = v6(got!.addr);
    expect(from.addr.equals(MAPPED_LO)).to.equal(true);
    expect((await send(t, d, pattern(77, 2), from)).errno).to.equal(0);
    const back = await recvWithin(t, a, 2000);
    expect(back!.data).to.deep.equal(pattern(77, 2));
    expect(back!.addr).to.deep.equal(sockaddrIn(LO, 5353));
  });

  it('UDP: IPPROTO_IP membership on an AF_INET6 socket (as Linux) — the dual socket gets the IPv4 group v4-mapped, a V6ONLY one joins but gets none', async () => {
    const G = 0xef070606; // 239.7.6.6, on lo0 (the route's interface)
    const mreq = { multiaddr: G, interface: 0 };
    const d = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t.bind(d, sockaddrIn6(IP6_ANY, 5454))).to.equal(0);
    expect(t.setsockopt(d, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq)).to.equal(0);
    expect(t.setsockopt(d, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq)).to.equal(Errno.EADDRINUSE);
    // Port 5455: a V6ONLY [::] socket and an IPv4 one share it, both members.
    const only = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t.setsockopt(only, IPPROTO.IPV6, IPV6_OPT.V6ONLY, 1)).to.equal(0);
    expect(t.bind(only, sockaddrIn6(IP6_ANY, 5455))).to.equal(0);
    expect(t.setsockopt(only, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq)).to.equal(0); // Linux takes it too
    const v4 = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect(t.bind(v4, sockaddrIn(0, 5455))).to.equal(0);
    expect(t.setsockopt(v4, IPPROTO.IP, IP_MCAST_OPT.ADD_MEMBERSHIP, mreq)).to.equal(0);
    const tx = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect((await send(t, tx, pattern(40, 3), sockaddrIn(G, 5454))).errno).to.equal(0);
    const got = await recvWithin(t, d, 2000);
    expect(got!.data).to.deep.equal(pattern(40, 3));
    expect(v6(got!.addr).addr.equals(MAPPED_LO)).to.equal(true);
    // One input pass copies the datagram to every member: once the IPv4 socket has it, the V6ONLY one had its chance.
    expect((await send(t, tx, pattern(41, 4), sockaddrIn(G, 5455))).errno).to.equal(0);
    expect((await recvWithin(t, v4, 2000))!.data).to.deep.equal(pattern(41, 4));
    expect((await t.poll([{ fd: only, events: POLL.IN }], 0)).revents[0]).to.equal(0);
    expect(t.setsockopt(d, IPPROTO.IP, IP_MCAST_OPT.DROP_MEMBERSHIP, mreq)).to.equal(0);
    expect(t.setsockopt(d, IPPROTO.IP, IP_MCAST_OPT.DROP_MEMBERSHIP, mreq)).to.equal(Errno.EADDRNOTAVAIL);
  });

  it('refuses what a dual-stack socket must refuse, with the errno Linux gives', async () => {
    const only = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t.setsockopt(only, IPPROTO.IPV6, IPV6_OPT.V6ONLY, 1)).to.equal(0);
    expect((await send(t, only, pattern(10), sockaddrIn6(MAPPED_LO, 7))).errno).to.equal(Errno.ENETUNREACH);
    expect(t.bind(only, sockaddrIn6(MAPPED_LO, 7))).to.equal(Errno.EINVAL);
    const c = t.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(t.setsockopt(c, IPPROTO.IPV6, IPV6_OPT.V6ONLY, 1)).to.equal(0);
    expect(await t.connect(c, sockaddrIn6(MAPPED_LO, 7))).to.equal(Errno.ENETUNREACH);
    // IPv6 options belong to AF_INET6 sockets.
    const v4 = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect(t.setsockopt(v4, IPPROTO.IPV6, IPV6_OPT.V6ONLY, 1)).to.equal(Errno.ENOPROTOOPT);
    expect(t.getsockopt(v4, IPPROTO.IPV6, IPV6_OPT.V6ONLY).errno).to.equal(Errno.ENOPROTOOPT);
    // A real IPv6 destination while the stack has no IPv6 route.
    const u = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect((await send(t, u, pattern(10), sockaddrIn6(Ip6Address.parse('2001:db8::1')!, 7))).errno).to.equal(Errno.ENETUNREACH);
    const s = t.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(await t.connect(s, sockaddrIn6(Ip6Address.parse('2001:db8::1')!, 7))).to.equal(Errno.ENETUNREACH);
  });

  it('hop limit and traffic class options round-trip on AF_INET6 sockets', () => {
    const u = t.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t.getsockopt(u, IPPROTO.IPV6, IPV6_OPT.UNICAST_HOPS).value).to.equal(64);
    expect(t.setsockopt(u, IPPROTO.IPV6, IPV6_OPT.UNICAST_HOPS, 9)).to.equal(0);
    expect(t.getsockopt(u, IPPROTO.IPV6, IPV6_OPT.UNICAST_HOPS).value).to.equal(9);
    expect(t.setsockopt(u, IPPROTO.IPV6, IPV6_OPT.UNICAST_HOPS, 256)).to.equal(Errno.EINVAL);
    expect(t.setsockopt(u, IPPROTO.IPV6, IPV6_OPT.TCLASS, 0x28)).to.equal(0);
    expect(t.getsockopt(u, IPPROTO.IPV6, IPV6_OPT.TCLASS).value).to.equal(0x28);
    expect(t.setsockopt(u, IPPROTO.IPV6, 9999, 1)).to.equal(Errno.ENOPROTOOPT);
  });
});
