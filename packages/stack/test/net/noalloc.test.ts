/**
 * The data path reuses its parse objects instead of allocating per packet
 * (issue 12): IPv4 input lends one info object to the transports, TCP input
 * parses every segment into the protocol's one Repr (never through the
 * allocating `TcpRepr.parse`), and IPv6 input takes its addresses from the
 * stack's cache of immutable Ip6Address objects. The assertions are on
 * object identity and counters, never on time or heap sizes, so a change
 * that brings a per-packet object back fails here deterministically.
 */
import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { MemWire } from '../../src/link/memwire.js';
import { mFreem, mFromBytes, type Mbuf } from '../../src/mbuf/index.js';
import { ipInputInfoScratch } from '../../src/net/ipv4-input.js';
import type { IpPacketInfo, TransportProtocol } from '../../src/net/protosw.js';
import { createNetStack, type NetStack } from '../../src/netstack.js';
import { SOCK } from '../../src/socket/constants.js';
import { AF_INET6, sockaddrIn6 } from '../../src/socket/sockaddr.js';
import type { Socket } from '../../src/socket/socket.js';
import { Ip6Address, Ip6AddressCache } from '../../src/wire/ip.js';
import { TcpRepr, type SackScratch } from '../../src/wire/tcp.js';
import { connectPair, Flow, pattern, runFlows, WirePair } from '../tcp/harness.js';
import { A_IP, B_IP, closeAndCheck, ip4, makePair, settle } from './helpers.js';

/** A transport for protocol 253 that records the info object it was lent (identity only). */
class IdentitySink implements TransportProtocol {
  readonly proto = 253;
  readonly lent: IpPacketInfo[] = [];
  readonly srcs: number[] = [];
  input(m: Mbuf, info: IpPacketInfo): void {
    this.lent.push(info);
    this.srcs.push(info.src as number);
    mFreem(m);
  }
}

describe('data path: parse objects are reused, not allocated per packet', () => {
  it('IPv4 input lends the same info object for every packet, filled afresh each time', async () => {
    const p = makePair();
    const sink = new IdentitySink();
    p.b.registerProtocol(sink);
    await p.a.ping(B_IP, { timeout: 2000 });
    for (let i = 0; i < 5; i++) {
      const m = mFromBytes(p.a.pool, new Uint8Array(40 + i), { headroom: 64 })!;
      expect(p.a.ip.output(m, { src: 0, dst: ip4(B_IP), proto: 253 })).to.equal(0);
    }
    await settle();
    expect(sink.lent).to.have.length(5);
    const scratch = ipInputInfoScratch();
    for (const info of sink.lent) expect(info).to.equal(scratch);
    // Filled for each packet: the source read during each call was right.
    expect(sink.srcs).to.deep.equal(Array(5).fill(ip4(A_IP)));
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('TCP input parses every segment of a bulk transfer (data, ACKs, SACKs) into one Repr, never with TcpRepr.parse', async () => {
    // Loss makes SACK blocks flow too: they must land in the reused arrays.
    const pair = new WirePair({ faults: { drop: 0.02 }, seed: 5 });
    const c = await connectPair(pair, 80);
    const reprs = new Set<TcpRepr>();
    const sackArrays = new Set<number[]>();
    let parses = 0;
    let calls = 0;
    let sacks = 0;
    const origInto = TcpRepr.parseInto;
    const origParse = TcpRepr.parse;
    TcpRepr.parseInto = (r, buf, off, hlen, plen, mode, bufs: SackScratch) => {
      calls++;
      reprs.add(r);
      const e = origInto(r, buf, off, hlen, plen, mode, bufs);
      if (r.sack !== null) {
        sacks++;
        sackArrays.add(r.sack);
      }
      return e;
    };
    TcpRepr.parse = (...a: Parameters<typeof origParse>) => {
      parses++;
      return origParse(...a);
    };
    try {
      const f = new Flow(c.a, c.b, 2 * 1024 * 1024, pattern(4096));
      runFlows(pair, [f]);
      expect(f.received).to.equal(2 * 1024 * 1024);
    } finally {
      TcpRepr.parseInto = origInto;
      TcpRepr.parse = origParse;
    }
    expect(calls).to.be.greaterThan(1000);
    expect(parses).to.equal(0);
    // One Repr per stack (each TcpProtocol has its own), whatever the segment count.
    expect([...reprs]).to.have.members([pair.a.tcp.inSeg, pair.b.tcp.inSeg]);
    expect(sacks, 'the lossy transfer carried SACK blocks').to.be.greaterThan(0);
    const scratch = new Set([...pair.a.tcp.inSack, ...pair.b.tcp.inSack]);
    for (const a of sackArrays) expect(scratch.has(a)).to.equal(true);
    pair.close();
    pair.a.pool.assertAllFree();
    pair.b.pool.assertAllFree();
  });

  describe('IPv6 addresses of received packets', () => {
    it('Ip6AddressCache: the same bytes give the same object, other bytes another one', () => {
      const cache = new Ip6AddressCache(4);
      const b = new Uint8Array(32);
      Ip6Address.parse('fd00::1')!.writeTo(b, 0);
      Ip6Address.parse('fd00::2')!.writeTo(b, 16);
      const a1 = cache.fromBytes(b, 0);
      const a2 = cache.fromBytes(b, 0);
      expect(a2).to.equal(a1);
      expect(a1.toString()).to.equal('fd00::1');
      const c = cache.fromBytes(b, 16);
      expect(c).to.not.equal(a1);
      expect(c.toString()).to.equal('fd00::2');
      expect(cache.fromBytes(b, 16)).to.equal(c);
      expect([cache.hits, cache.misses]).to.deep.equal([2, 2]);
      expect(() => new Ip6AddressCache(3)).to.throw(RangeError);
    });

    it('a steady IPv6 TCP stream builds no address object: every packet after the first is a cache hit', async () => {
      const v6 = await v6Pair();
      const { a, b, tx, rx } = v6;
      const pool = a.stack.pool;
      const chunk = pattern(64 * 1024);
      const pump = (bytes: number): void => {
        let got = 0;
        for (let i = 0; i < 100_000 && got < bytes; i++) {
          if (tx.snd.space() >= chunk.length) expect(tx.proto.usrreqs.send(tx, mFromBytes(pool, chunk)!, chunk.length, null, 0)).to.equal(0);
          const cc = rx.rcv.cc;
          if (cc > 0) {
            rx.rcv.drop(cc);
            got += cc;
            rx.proto.usrreqs.rcvd(rx, 0);
          }
          v6.wire.flush();
          if (v6.wire.inFlight() === 0) v6.clock.advance(1);
        }
        expect(got).to.be.at.least(bytes);
      };
      pump(256 * 1024); // addresses cached on both sides
      const missesA = a.stack.inet6.addrCache.misses;
      const missesB = b.stack.inet6.addrCache.misses;
      const hitsB = b.stack.inet6.addrCache.hits;
      pump(1024 * 1024);
      expect(b.stack.inet6.addrCache.hits - hitsB, 'every data segment looked its addresses up').to.be.greaterThan(2 * 700);
      expect(a.stack.inet6.addrCache.misses).to.equal(missesA);
      expect(b.stack.inet6.addrCache.misses).to.equal(missesB);
      v6.close();
    });
  });
});

/** Two stacks with fd00::1 and fd00::2 on a MemWire, one TCP connection between them, on a ManualClock. */
async function v6Pair(): Promise<{ clock: ManualClock; wire: MemWire; a: NetStack; b: NetStack; tx: Socket; rx: Socket; close(): void }> {
  const clock = new ManualClock(1000);
  const wire = new MemWire({ clock, switched: true });
  const a = createNetStack({ clock, nmbclusters: 4096 });
  const b = createNetStack({ clock, nmbclusters: 4096 });
  a.stack.attachLink(wire.attachLink({ name: 'wa', queueLimit: 1 << 14 }), { addrs: ['fd00::1/64'] });
  b.stack.attachLink(wire.attachLink({ name: 'wb', queueLimit: 1 << 14 }), { addrs: ['fd00::2/64'] });
  const ta = a.newProcess();
  const tb = b.newProcess();
  const lfd = tb.socket(AF_INET6, SOCK.STREAM, 0).fd;
  expect(tb.bind(lfd, sockaddrIn6(Ip6Address.parse('::')!, 80))).to.equal(0);
  expect(tb.listen(lfd, 4)).to.equal(0);
  // Duplicate address detection first (RFC 4862: about a second).
  for (let i = 0; i < 3000; i++) {
    wire.flush();
    clock.advance(1);
  }
  const afd = ta.socket(AF_INET6, SOCK.STREAM, 0).fd;
  const p = ta.connect(afd, sockaddrIn6(Ip6Address.parse('fd00::2')!, 80));
  for (let i = 0; i < 10_000 && tb.get(lfd)!.q.length === 0; i++) {
    wire.flush();
    clock.advance(1);
  }
  expect(await p).to.equal(0);
  const acc = await tb.accept(lfd);
  expect(acc.errno).to.equal(0);
  return {
    clock,
    wire,
    a,
    b,
    tx: ta.get(afd)!,
    rx: tb.get(acc.fd)!,
    close(): void {
      a.close();
      b.close();
      wire.close();
      a.stack.pool.assertAllFree();
      b.stack.pool.assertAllFree();
    },
  };
}
