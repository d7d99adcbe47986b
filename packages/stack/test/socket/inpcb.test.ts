/**
 * The pcb table with both families (socket/inpcb.ts): IPv6 pcbs bind,
 * connect and are found by exact and wildcard lookups with addresses
 * compared (their keys are hashes), IPv4 behaviour is unchanged, and the
 * two families never match or conflict with each other's addresses.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { INET, INET6 } from '../../src/net/family.js';
import { AF, SOOPT } from '../../src/socket/constants.js';
import { InPcbTable, type InPcb } from '../../src/socket/inpcb.js';
import { sockaddrIn, sockaddrIn6 } from '../../src/socket/sockaddr.js';
import type { Socket } from '../../src/socket/socket.js';
import { IP6_ANY, IP6_LOOPBACK, Ip6Address } from '../../src/wire/ip.js';
import { A1, fakeLayer } from './helpers.js';

const a6 = (s: string): Ip6Address => Ip6Address.parse(s)!;
const MINE = a6('2001:db8::1');
const MINE2 = a6('2001:db8::2');
const PEER = a6('2001:db8::99');

function setup() {
  const { host, layer } = fakeLayer();
  // The fake network layer carries two IPv6 addresses and routes everything from MINE.
  Object.assign(host, { isLocal6: (a: Ip6Address) => a.equals(MINE) || a.equals(MINE2) || a.isLoopback });
  const realSelect = host.ip.selectSource;
  host.ip.selectSource = (dst) => (typeof dst === 'number' ? realSelect(dst) : dst.isLoopback ? IP6_LOOPBACK : MINE);
  const table = new InPcbTable(layer, 'test', () => 0.5);
  const sock = (domain: number, options = 0): InPcb =>
    table.alloc({ proto: { domain }, options, pcb: null } as unknown as Socket);
  return { table, sock };
}

describe('socket/inpcb: pcbs of both families', () => {
  it('a pcb takes its family from the socket\'s domain, unspecified addresses of that family', () => {
    const { sock } = setup();
    const p4 = sock(AF.INET);
    const p6 = sock(AF.INET6);
    expect(p4.family).to.equal(INET);
    expect(p4.laddr).to.equal(0);
    expect(p6.family).to.equal(INET6);
    expect(p6.laddr).to.equal(IP6_ANY);
    expect(p6.faddr).to.equal(IP6_ANY);
  });

  it('binds IPv6 addresses: ours, ANY, multicast; EADDRNOTAVAIL for others, EAFNOSUPPORT for the other family', () => {
    const { sock, table } = setup();
    expect(table.bind(sock(AF.INET6), sockaddrIn6(a6('2001:db8::1'), 80))).to.equal(0);
    expect(table.bind(sock(AF.INET6), sockaddrIn6(PEER, 80))).to.equal(Errno.EADDRNOTAVAIL);
    expect(table.bind(sock(AF.INET6), sockaddrIn6(a6('ff02::1'), 5353))).to.equal(0);
    expect(table.bind(sock(AF.INET6), sockaddrIn(A1, 81))).to.equal(Errno.EAFNOSUPPORT);
    expect(table.bind(sock(AF.INET), sockaddrIn6(MINE, 81))).to.equal(Errno.EAFNOSUPPORT);
    const any = sock(AF.INET6);
    expect(table.bind(any, null)).to.equal(0); // ephemeral port on ::
    expect(any.laddr).to.equal(IP6_ANY);
    expect(any.lport).to.be.greaterThan(0);
  });

  it('finds IPv6 listeners exactly, then by wildcard, comparing addresses not just keys', () => {
    const { sock, table } = setup();
    const exact = sock(AF.INET6);
    const wild = sock(AF.INET6);
    // v6-only: a dual-stack [::] would also take IPv4 (dualstack.test.ts); here the families stay apart.
    wild.v6only = true;
    expect(table.bind(exact, sockaddrIn6(MINE, 443))).to.equal(0);
    // BSD in_pcbbind: a wildcard bind overlapping a specific one needs SO_REUSEADDR.
    expect(table.bind(wild, sockaddrIn6(IP6_ANY, 443))).to.equal(Errno.EADDRINUSE);
    wild.so.options |= SOOPT.REUSEADDR;
    expect(table.bind(wild, sockaddrIn6(IP6_ANY, 443))).to.equal(0);
    expect(table.lookupBind(a6('2001:db8:0::1'), 443)).to.equal(exact); // an equal address, another object
    expect(table.lookupBind(MINE2, 443)).to.equal(wild);
    expect(table.lookupBind(MINE, 444)).to.equal(null);
    // An IPv4 packet to the same port finds no IPv6 pcb, and the other way round.
    expect(table.lookupBind(A1, 443)).to.equal(null);
    const v4 = sock(AF.INET);
    expect(table.bind(v4, sockaddrIn(0, 443))).to.equal(0); // no conflict across families
    expect(table.lookupBind(A1, 443)).to.equal(v4);
    expect(table.lookupBind(MINE, 443)).to.equal(exact);
  });

  it('connects IPv6 pcbs (source by route, :: means loopback) and finds them by the 4-tuple', () => {
    const { sock, table } = setup();
    const c = sock(AF.INET6);
    expect(table.connect(c, sockaddrIn6(PEER, 8080))).to.equal(0);
    expect(c.laddr).to.equal(MINE);
    expect(c.state).to.equal('connected');
    expect(table.lookupConnect(a6('2001:db8::99'), 8080, a6('2001:db8::1'), c.lport)).to.equal(c);
    expect(table.lookupConnect(PEER, 8081, MINE, c.lport)).to.equal(null);
    expect(table.lookupConnect(MINE2, 8080, MINE, c.lport)).to.equal(null);
    // The same 4-tuple again is EADDRINUSE once the port is fixed.
    const d = sock(AF.INET6, SOOPT.REUSEADDR | SOOPT.REUSEPORT);
    c.so.options |= SOOPT.REUSEADDR | SOOPT.REUSEPORT;
    expect(table.bind(d, sockaddrIn6(MINE, c.lport))).to.equal(0);
    expect(table.connect(d, sockaddrIn6(PEER, 8080))).to.equal(Errno.EADDRINUSE);
    const lo = sock(AF.INET6);
    expect(table.connect(lo, sockaddrIn6(IP6_ANY, 7))).to.equal(0);
    expect(lo.faddr).to.equal(IP6_LOOPBACK);
    table.disconnect(c, true);
    expect(c.faddr).to.equal(IP6_ANY);
    expect(c.laddr).to.equal(IP6_ANY);
    expect(table.lookupConnect(PEER, 8080, MINE, c.lport)).to.equal(null);
  });

  it('many IPv6 pcbs on one port stay distinct (hash keys, exact compares)', () => {
    const { sock, table } = setup();
    const pcbs: InPcb[] = [];
    for (let i = 0; i < 200; i++) {
      const p = sock(AF.INET6);
      expect(table.connect(p, sockaddrIn6(Ip6Address.fromWords(0x20010db8, 0, 1, i), 443))).to.equal(0);
      pcbs.push(p);
    }
    for (let i = 0; i < 200; i++) {
      expect(table.lookupConnect(Ip6Address.fromWords(0x20010db8, 0, 1, i), 443, MINE, pcbs[i]!.lport)).to.equal(pcbs[i]);
    }
    for (const p of pcbs) table.detach(p);
    expect(table.size).to.equal(0);
  });
});
