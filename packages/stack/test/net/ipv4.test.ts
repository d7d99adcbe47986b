import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { mFromBytes, mFreem, type Mbuf } from '../../src/mbuf/index.js';
import type { IpPacketInfo, TransportProtocol } from '../../src/net/protosw.js';
import { RouteTable } from '../../src/net/route.js';
import { Ifnet } from '../../src/net/ifnet.js';
import { LoopbackLink } from '../../src/link/loopback.js';
import { Stack } from '../../src/stack.js';
import { A_IP, B_IP, closeAndCheck, ip4, makePair, settle } from './helpers.js';

class Sink implements TransportProtocol {
  readonly got: { info: IpPacketInfo; len: number }[] = [];
  constructor(readonly proto = 253) {}
  input(m: Mbuf, info: IpPacketInfo): void {
    // info is lent for the call (the IP layer reuses it): keep a copy.
    this.got.push({ info: { ...info }, len: m.pkthdr?.len ?? -1 });
    mFreem(m);
  }
}

function out(s: Stack, dst: string, n: number, extra: { df?: boolean; broadcast?: boolean; src?: string } = {}): number {
  const m = mFromBytes(s.pool, new Uint8Array(n).fill(7), { headroom: 64 })!;
  return s.ip.output(m, { src: extra.src ? ip4(extra.src) : 0, dst: ip4(dst), proto: 253, df: extra.df, broadcast: extra.broadcast });
}

describe('IPv4 and ping', () => {
  for (const size of [56, 8000]) {
    it(`pings both ways with ${size} data bytes${size > 1472 ? ' (fragmented both ways)' : ''}`, async () => {
      const p = makePair();
      const r1 = await p.a.ping(B_IP, { size, timeout: 3000 });
      const r2 = await p.b.ping(A_IP, { size, timeout: 3000 });
      expect(r1).to.include({ bytes: size, from: B_IP, ttl: 64 });
      expect(r2).to.include({ bytes: size, from: A_IP });
      if (size > 1472) {
        // 8008 bytes of ICMP in 1480-byte pieces: 6 fragments each way, each datagram reassembled.
        expect(p.a.ipstat.fragmented).to.equal(2); // a's request, a's reply to b
        expect(p.a.ipstat.ofragments).to.equal(12);
        expect(p.a.ipstat.reassembled).to.equal(2);
        expect(p.b.ipstat.reassembled).to.equal(2);
      } else {
        expect(p.a.ipstat.fragmented).to.equal(0);
      }
      expect(p.a.icmpstat.pingmatched).to.equal(1);
      await settle();
      closeAndCheck(p.wire, p.a, p.b);
    });
  }

  it('pings fragmented datagrams over a lossy, reordering wire (bounded retries)', async function () {
    this.timeout(20_000);
    const p = makePair({ seed: 12345 });
    await p.a.ping(B_IP, { timeout: 2000 }); // resolve ARP on a clean wire first
    p.wire.setFaults({ drop: 0.1, reorder: { p: 0.2, gap: 2, maxHoldMs: 5 } });
    for (const [from, to] of [
      [p.a, B_IP],
      [p.b, A_IP],
    ] as const) {
      let ok = false;
      for (let attempt = 0; attempt < 60 && !ok; attempt++) {
        try {
          const r = await from.ping(to, { size: 8000, timeout: 150 });
          ok = r.bytes === 8000;
        } catch (e) {
          expect((e as { code: string }).code).to.equal('ETIMEDOUT');
        }
      }
      expect(ok, `seed ${p.wire.seed}`).to.equal(true);
    }
    expect(p.wire.stats().dropped).to.be.greaterThan(0);
    p.wire.setFaults(null);
    await settle();
    closeAndCheck(p.wire, p.a, p.b); // half-reassembled datagrams freed by close
  });

  it('pings itself through lo0 (127.0.0.1 and its own address)', async () => {
    const s = new Stack({ nmbclusters: 256 });
    const r = await s.ping('127.0.0.1', { size: 20000, timeout: 2000 });
    expect(r.bytes).to.equal(20000); // lo0 MTU 16384: fragmented and reassembled on lo0
    const s2 = new Stack({ nmbclusters: 256 });
    const w = new (await import('../../src/link/memwire.js')).MemWire();
    s2.attachLink(w.attachLink({ name: 'wire0' }), { addrs: ['10.1.0.1/16'] });
    const r2 = await s2.ping('10.1.0.1', { timeout: 2000 });
    expect(r2.from).to.equal('10.1.0.1');
    expect(s2.ipstat.looped).to.be.greaterThan(0);
    // Only the gratuitous ARP (and IPv6's own DAD / router solicitations / MLD reports) left on the wire.
    const nd = s2.inet6.nd6stat;
    expect(s2.ifnet('wire0').stats.opackets).to.equal(1 + nd.txns + nd.txrs + s2.inet6.icmp6stat.mldreport);
    closeAndCheck(w, s, s2);
  });

  it('delivers to a registered transport with the right info; no protocol → noproto + ICMP', async () => {
    const p = makePair();
    const sink = new Sink();
    p.b.registerProtocol(sink);
    await p.a.ping(B_IP, { timeout: 2000 });
    expect(out(p.a, B_IP, 100)).to.equal(0);
    expect(out(p.b, A_IP, 10)).to.equal(0); // a has no protocol 253
    await settle();
    expect(sink.got).to.have.length(1);
    expect(sink.got[0]!.len).to.equal(100);
    expect(sink.got[0]!.info).to.include({ src: ip4(A_IP), dst: ip4(B_IP), proto: 253, ttl: 64, ifname: 'wire0', broadcast: false });
    expect(p.a.ipstat.noproto).to.equal(1);
    expect(p.a.icmpstat.error).to.equal(1); // protocol unreachable back to b
    expect(p.b.icmpstat.unreach).to.equal(1);
    expect(() => p.b.registerProtocol(new Sink())).to.throw().with.property('code', 'EEXIST');
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('fails with ENETUNREACH without a route, EACCES for broadcast without the option, EMSGSIZE with DF', async () => {
    const p = makePair();
    expect(out(p.a, '192.0.2.1', 10)).to.equal(Errno.ENETUNREACH);
    expect(p.a.ipstat.noroute).to.equal(1);
    expect(p.a.ip.selectSource(ip4('192.0.2.1'))).to.equal(null);
    expect(p.a.ip.mtuTowards(ip4('192.0.2.1'))).to.equal(0);
    const err = await p.a.ping('192.0.2.1').catch((e: unknown) => e);
    expect(err).to.include({ code: 'ENETUNREACH' });
    expect(out(p.a, '10.0.0.255', 10)).to.equal(Errno.EACCES);
    expect(out(p.a, '255.255.255.255', 10)).to.equal(Errno.EACCES);
    expect(p.a.ipstat.bcastdenied).to.equal(2);
    const sink = new Sink();
    p.b.registerProtocol(sink);
    expect(out(p.a, '10.0.0.255', 10, { broadcast: true })).to.equal(0);
    expect(out(p.a, B_IP, 3000, { df: true })).to.equal(Errno.EMSGSIZE);
    expect(out(p.a, B_IP, 65516)).to.equal(Errno.EMSGSIZE); // > 65535 with the header
    expect(p.a.ipstat.cantfrag).to.equal(2);
    await settle();
    expect(sink.got.map((g) => g.info.broadcast)).to.deep.equal([true]);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('sets TTL from net.inet.ip.ttl, uses per-destination consecutive IDs', async () => {
    const p = makePair();
    const sink = new Sink();
    p.b.registerProtocol(sink);
    const ids: number[] = [];
    const sniffer = p.wire.attachLink({ name: 'sniff0' });
    sniffer.attach((fs) => fs.forEach((f) => f[13] === 0x00 && f[23] === 253 && ids.push((f[18]! << 8) | f[19]!)));
    p.a.sysctl.set('net.inet.ip.ttl', 7);
    await p.a.ping(B_IP, { timeout: 2000 });
    for (let i = 0; i < 3; i++) out(p.a, B_IP, 10);
    await settle();
    expect(sink.got.map((g) => g.info.ttl)).to.deep.equal([7, 7, 7]);
    expect(ids).to.have.length(3);
    expect((ids[1]! - ids[0]!) & 0xffff).to.equal(1);
    expect((ids[2]! - ids[1]!) & 0xffff).to.equal(1);
    expect(() => p.a.sysctl.set('net.inet.ip.forwarding', 1)).to.throw().with.property('code', 'EPERM');
    sniffer.close();
    closeAndCheck(p.wire, p.a, p.b);
  });
});

describe('routing', () => {
  it('RouteTable: longest-prefix match, default, delete', () => {
    const lo = new Ifnet(new LoopbackLink(), 1);
    const e1 = new Ifnet(new LoopbackLink({ name: 'e1' }), 2);
    const t = new RouteTable();
    expect(t.lookup(ip4('10.1.2.3'))).to.equal(null);
    t.add(0, 0, lo, ip4('10.0.0.1'), 'static');
    t.add(ip4('10.0.0.0'), 8, lo, 0, 'connected');
    t.add(ip4('10.1.0.0'), 16, e1, 0, 'static');
    t.add(ip4('10.1.2.0'), 24, lo, ip4('10.0.0.9'), 'static');
    expect(t.add(ip4('10.1.255.255'), 16, lo, 0, 'static')).to.equal(null); // same prefix once masked
    expect(t.lookup(ip4('10.1.2.3'))!.prefixLen).to.equal(24);
    expect(t.lookup(ip4('10.1.3.3'))!.prefixLen).to.equal(16);
    expect(t.lookup(ip4('10.2.0.1'))!.prefixLen).to.equal(8);
    expect(t.lookup(ip4('192.0.2.1'))!.prefixLen).to.equal(0);
    t.delete(ip4('10.1.2.0'), 24);
    expect(t.lookup(ip4('10.1.2.3'))!.prefixLen).to.equal(16);
    expect(t.list().map((r) => r.destination)).to.deep.equal(['10.1.0.0/16', '10.0.0.0/8', '0.0.0.0/0']);
  });

  it('Stack: connected, local, static and default routes; removeAddress cleans up', async () => {
    const p = makePair();
    const dests = p.a.routeList().map((r) => `${r.destination} ${r.flags} ${r.ifname}`);
    expect(dests).to.include.members(['127.0.0.1/32 UHL lo0', '10.0.0.1/32 UHL lo0', '10.0.0.0/24 UC wire0', '127.0.0.0/8 UC lo0']);
    expect(() => p.a.addRoute('192.0.2.0/24', '172.16.0.1')).to.throw().with.property('code', 'ENETUNREACH');
    p.a.addRoute('192.0.2.0/24', B_IP);
    p.a.setDefaultGateway('10.0.0.254');
    expect(() => p.a.addRoute('192.0.2.0/24', B_IP)).to.throw().with.property('code', 'EEXIST');
    expect(p.a.ip.selectSource(ip4('192.0.2.5'))).to.equal(ip4(A_IP));
    expect(p.a.ip.selectSource(ip4('10.0.0.1'))).to.equal(ip4(A_IP));
    expect(p.a.ip.mtuTowards(ip4('8.8.8.8'))).to.equal(1500);
    // Longest prefix: 192.0.2.0/24 goes to b (b answers the ping as the "router" owning the route).
    const sink = new Sink();
    p.b.registerProtocol(sink);
    expect(out(p.a, '192.0.2.5', 10)).to.equal(0);
    await settle();
    expect(p.b.ipstat.cantforward).to.equal(1); // b is a host: it does not forward
    p.a.deleteRoute('192.0.2.0/24');
    expect(() => p.a.deleteRoute('192.0.2.0/24')).to.throw().with.property('code', 'ENOENT');
    p.a.deleteRoute('default');
    expect(out(p.a, '192.0.2.5', 10)).to.equal(Errno.ENETUNREACH);
    // Several addresses; removing one keeps the other's routes; removing the last drops the static route through it.
    p.a.addAddress('wire0', '10.0.0.3/24');
    p.a.addRoute('198.51.100.0/24', '10.0.0.200');
    p.a.removeAddress('wire0', A_IP);
    expect(p.a.routeList().find((r) => r.destination === '10.0.0.0/24')).to.include({ ifname: 'wire0' });
    expect(p.a.routeList().some((r) => r.destination === '10.0.0.1/32')).to.equal(false);
    expect(p.a.ip.selectSource(ip4(B_IP))).to.equal(ip4('10.0.0.3'));
    p.a.removeAddress('wire0', '10.0.0.3');
    expect(p.a.routeList().some((r) => r.destination === '198.51.100.0/24')).to.equal(false);
    expect(() => p.a.removeAddress('wire0', '10.0.0.3')).to.throw().with.property('code', 'EADDRNOTAVAIL');
    expect(() => p.a.addAddress('wire0', '10.0.0.0/24')).to.throw().with.property('code', 'EINVAL');
    expect(() => p.a.addAddress('wire0', '224.0.0.1/24')).to.throw().with.property('code', 'EINVAL');
    expect(() => p.a.addAddress('nope0', '10.9.0.1/24')).to.throw().with.property('code', 'ENODEV');
    expect(() => p.a.addAddress('wire0', '10.9.0.1/33')).to.throw().with.property('code', 'EINVAL');
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('an interface going down takes its routes out of lookup (ENETUNREACH) and setMtu changes fragmentation', async () => {
    const p = makePair();
    await p.a.ping(B_IP, { timeout: 2000 });
    p.a.setMtu('wire0', 576);
    p.b.setMtu('wire0', 576); // a real NIC drops frames longer than its MTU, so both sides agree
    await p.a.ping(B_IP, { size: 1000, timeout: 2000 });
    expect(p.a.ipstat.ofragments).to.equal(2);
    expect(p.b.ipstat.ofragments).to.equal(2);
    expect(() => p.a.setMtu('wire0', 10)).to.throw().with.property('code', 'EINVAL');
    p.a.setUp('wire0', false);
    expect(out(p.a, B_IP, 10)).to.equal(Errno.ENETUNREACH);
    p.a.setUp('wire0', true);
    expect(out(p.a, B_IP, 10)).to.equal(0);
    closeAndCheck(p.wire, p.a, p.b);
  });
});
