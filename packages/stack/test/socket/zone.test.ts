/**
 * The zone of a link-scoped IPv6 address (RFC 4007 6, `sin6_scope_id`):
 * with two links, the same link-local destination is two different hosts,
 * and the zone a socket names decides which. One stack (A) is on two
 * in-memory wires, each with one peer (B1, B2) listening on the same UDP and
 * TCP port; A reaches B2's link-local address through the zone of wire 2
 * and, through wire 1's zone, does not reach it at all. (Without the zone
 * the stack takes its first Ethernet link, which is wire 1's.) The other way
 * round, A answers B2 by the link B2's packets came in on.
 */
import { expect } from 'chai';
import { MemWire } from '../../src/link/memwire.js';
import { createNetStack, type NetStack } from '../../src/netstack.js';
import { Errno } from '../../src/kern/errno.js';
import { AF, SOCK, type SocketTable } from '../../src/socket/index.js';
import { sockaddrIn6, type SockaddrIn6 } from '../../src/socket/sockaddr.js';
import { IP6_ANY } from '../../src/wire/ip.js';
import { waitFor } from '../net/helpers6.js';
import { recvWithin, sendBytes } from './helpers.js';

function fast(net: NetStack): NetStack {
  net.stack.sysctl.set('net.inet6.icmp6.nd6_retrans_ms', 10);
  net.stack.sysctl.set('net.inet6.ip6.rtr_solicitations', 0);
  return net;
}

describe('IPv6 zones: sin6_scope_id picks the link of a link-local destination (RFC 4007)', function () {
  this.timeout(20_000);
  let a: NetStack;
  let b1: NetStack;
  let b2: NetStack;
  let ta: SocketTable;
  let t1: SocketTable;
  let t2: SocketTable;
  let zone1 = 0;
  let zone2 = 0;
  let ll2: SockaddrIn6['addr'];
  let llA2: SockaddrIn6['addr'];

  beforeEach(async () => {
    [a, b1, b2] = [fast(createNetStack({ nmbclusters: 512 })), fast(createNetStack({ nmbclusters: 512 })), fast(createNetStack({ nmbclusters: 512 }))];
    const w1 = new MemWire({ seed: 1 });
    const w2 = new MemWire({ seed: 2 });
    const if1 = a.stack.attachLink(w1.attachLink({ name: 'wire1' }), { addrs: [] });
    const if2 = a.stack.attachLink(w2.attachLink({ name: 'wire2' }), { addrs: [] });
    b1.stack.attachLink(w1.attachLink({ name: 'wire1' }), { addrs: [] });
    const ifb2 = b2.stack.attachLink(w2.attachLink({ name: 'wire2' }), { addrs: [] });
    zone1 = if1.index;
    zone2 = if2.index;
    const all = [...a.stack.ifnetList(), ...b1.stack.ifnetList(), ...b2.stack.ifnetList()].filter((i) => !i.isLoopback);
    await waitFor(() => all.every((i) => i.addrs6.length > 0 && i.addrs6.every((x) => x.state === 'preferred')), 5000);
    ll2 = ifb2.addrs6.find((x) => x.addr.isLinkLocal)!.addr;
    llA2 = if2.addrs6.find((x) => x.addr.isLinkLocal)!.addr;
    [ta, t1, t2] = [a.newProcess(), b1.newProcess(), b2.newProcess()];
  });
  afterEach(async () => {
    for (const t of [ta, t1, t2]) await t.closeAll();
    for (const n of [a, b1, b2]) {
      n.close();
      expect(n.stack.pool.isAllFree(), 'pool all-free').to.equal(true);
    }
  });

  it('UDP: sendto B2 through zone 2 arrives at B2 only; through zone 1 it reaches nobody', async () => {
    const r1 = t1.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    const r2 = t2.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t1.bind(r1, sockaddrIn6(IP6_ANY, 9000))).to.equal(0);
    expect(t2.bind(r2, sockaddrIn6(IP6_ANY, 9000))).to.equal(0);
    const s = ta.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    // Zone 1 first: no B2 there (ND finds no one; the datagram is dropped), and B1 must see nothing.
    expect((await sendBytes(ta, s, new Uint8Array([1]), sockaddrIn6(ll2, 9000, 0, zone1))).errno).to.equal(0);
    expect((await sendBytes(ta, s, new Uint8Array([2]), sockaddrIn6(ll2, 9000, 0, zone2))).errno).to.equal(0);
    const got = await recvWithin(t2, r2, 3000);
    expect(got?.data).to.deep.equal(new Uint8Array([2]));
    expect(await recvWithin(t1, r1, 100)).to.equal(null);
    expect(await recvWithin(t2, r2, 100)).to.equal(null);
    // A zone naming no interface is refused (no source, no route), not guessed.
    expect((await sendBytes(ta, s, new Uint8Array([3]), sockaddrIn6(ll2, 9000, 0, 999))).errno).to.equal(Errno.ENETUNREACH);
  });

  it('TCP and connected UDP keep the zone of their connect', async () => {
    const l = t2.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(t2.bind(l, sockaddrIn6(IP6_ANY, 9001))).to.equal(0);
    expect(t2.listen(l, 4)).to.equal(0);
    const c = ta.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(await ta.connect(c, sockaddrIn6(ll2, 9001, 0, zone2))).to.equal(0);
    const acc = await t2.accept(l);
    expect(acc.errno).to.equal(0);
    expect((await sendBytes(ta, c, new Uint8Array([7, 7]))).errno).to.equal(0);
    expect((await recvWithin(t2, acc.fd, 3000))?.data).to.deep.equal(new Uint8Array([7, 7]));

    const r2 = t2.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t2.bind(r2, sockaddrIn6(IP6_ANY, 9002))).to.equal(0);
    const u = ta.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(await ta.connect(u, sockaddrIn6(ll2, 9002, 0, zone2))).to.equal(0);
    expect((await sendBytes(ta, u, new Uint8Array([9]))).errno).to.equal(0);
    expect((await recvWithin(t2, r2, 3000))?.data).to.deep.equal(new Uint8Array([9]));
  });

  it('the answering side learns the zone from the link a packet came in on: accept, getpeername, recvfrom, and its replies leave by that link', async () => {
    // A (two links) answers B2 (on wire 2). Without the zone, A's replies to
    // B2's link-local address would take its first link, wire 1, and be lost.
    const l = ta.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(ta.bind(l, sockaddrIn6(IP6_ANY, 9003))).to.equal(0);
    expect(ta.listen(l, 4)).to.equal(0);
    const c = t2.socket(AF.INET6, SOCK.STREAM, 0).fd;
    const connecting = t2.connect(c, sockaddrIn6(llA2, 9003, 0, b2.stack.ifnetList().find((i) => !i.isLoopback)!.index));
    const acc = await ta.accept(l);
    expect(await connecting).to.equal(0);
    expect(acc.errno).to.equal(0);
    expect(acc.addr).to.deep.include({ family: AF.INET6, port: t2.getsockname(c).addr!.port, scopeId: zone2 });
    expect((acc.addr as SockaddrIn6).addr.equals(ll2)).to.equal(true);
    expect(ta.getpeername(acc.fd).addr).to.deep.include({ scopeId: zone2 });
    expect(ta.getsockname(acc.fd).addr).to.deep.include({ scopeId: zone2 });
    expect((await sendBytes(ta, acc.fd, new Uint8Array([4, 2]))).errno).to.equal(0);
    expect((await recvWithin(t2, c, 3000))?.data).to.deep.equal(new Uint8Array([4, 2]));
    // A connection refused from the second link: the RST goes back by that link too.
    const c2 = t2.socket(AF.INET6, SOCK.STREAM, 0).fd;
    expect(await t2.connect(c2, sockaddrIn6(llA2, 9099, 0, b2.stack.ifnetList().find((i) => !i.isLoopback)!.index))).to.equal(Errno.ECONNREFUSED);

    // UDP: recvfrom names B2 with zone 2, and a reply to that very address reaches B2.
    const r = ta.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(ta.bind(r, sockaddrIn6(IP6_ANY, 9004))).to.equal(0);
    const u = t2.socket(AF.INET6, SOCK.DGRAM, 0).fd;
    expect(t2.bind(u, sockaddrIn6(IP6_ANY, 9005))).to.equal(0);
    expect((await sendBytes(t2, u, new Uint8Array([5]), sockaddrIn6(llA2, 9004, 0, b2.stack.ifnetList().find((i) => !i.isLoopback)!.index))).errno).to.equal(0);
    const got = await recvWithin(ta, r, 3000);
    expect(got?.data).to.deep.equal(new Uint8Array([5]));
    expect(got!.addr).to.deep.include({ port: 9005, scopeId: zone2 });
    expect((await sendBytes(ta, r, new Uint8Array([6]), got!.addr!)).errno).to.equal(0);
    expect((await recvWithin(t2, u, 3000))?.data).to.deep.equal(new Uint8Array([6]));
  });
});
