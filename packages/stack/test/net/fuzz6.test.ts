/**
 * Fuzzing IPv6 input: random extension-header chains, options, fragments and
 * ND messages built from random parts, and mutated valid packets, must never
 * throw, must keep every table bounded, and must give every mbuf back.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ManualClock } from '../../src/kern/clock.js';
import { MemWire } from '../../src/link/memwire.js';
import { etherInput } from '../../src/net/ethernet.js';
import { Stack } from '../../src/stack.js';
import { echoBody, fragHeader, frame6, icmp6, ip6 as Ip6, ip6Packet, optsHeader } from './helpers6.js';

const US = 'fd00::1';
const PEER = 'fd00::2';

function fixture(): { s: Stack; wire: MemWire; clock: ManualClock; feed: (pkt: Uint8Array, mcast?: boolean) => void } {
  const clock = new ManualClock();
  const wire = new MemWire({ clock });
  const s = new Stack({ clock, nmbclusters: 256 });
  s.sysctl.set('net.inet6.ip6.dad_count', 0);
  s.sysctl.set('net.inet6.icmp6.nd6_maxentries', 16);
  s.sysctl.set('net.inet6.ip6.maxfragpackets', 8);
  const ifp = s.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: [`${US}/64`] });
  s.inet6.nd.addStatic(ifp, Ip6(PEER), Uint8Array.of(2, 0, 0, 0, 0, 0x66));
  return {
    s,
    wire,
    clock,
    feed: (pkt, mcast) => etherInput(s, ifp, frame6(ifp, pkt, mcast === true ? Uint8Array.of(0x33, 0x33, 0, 0, 0, 1) : undefined)),
  };
}

/** One random extension header (or garbage of one's shape) whose Next Header is `nxt`. */
const extHeader = (nxt: number): fc.Arbitrary<{ type: number; bytes: Uint8Array }> =>
  fc.oneof(
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 14 }).map((o) => ({ type: 60, bytes: optsHeader(nxt, o) })),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }).map((o) => ({ type: 0, bytes: optsHeader(nxt, o) })),
    fc
      .record({ type: fc.integer({ min: 0, max: 5 }), left: fc.integer({ min: 0, max: 2 }) })
      .map((r) => ({ type: 43, bytes: Uint8Array.of(nxt, 0, r.type, r.left, 0, 0, 0, 0) })),
    fc
      .record({ off: fc.integer({ min: 0, max: 8191 }), more: fc.boolean(), id: fc.integer({ min: 0, max: 3 }) })
      .map((r) => ({ type: 44, bytes: fragHeader(nxt, r.off * 8, r.more, r.id) })),
  );

const packet = fc
  .record({
    chain: fc.array(fc.constant(0), { maxLength: 12 }),
    seeds: fc.array(fc.integer({ min: 0, max: 1 << 30 }), { minLength: 12, maxLength: 12 }),
    upper: fc.oneof(fc.constant(58), fc.constant(59), fc.constant(17), fc.integer({ min: 0, max: 255 })),
    icmpType: fc.oneof(fc.constantFrom(1, 2, 3, 4, 128, 129, 130, 133, 134, 135, 136, 137, 143), fc.integer({ min: 0, max: 255 })),
    body: fc.uint8Array({ maxLength: 96 }),
    hopLimit: fc.constantFrom(1, 64, 255),
    mcast: fc.boolean(),
  })
  .chain((r) =>
    fc.tuple(fc.constant(r), fc.tuple(...r.chain.map(() => extHeader(0)))),
  )
  .map(([r, hdrs]) => {
    // Link the chain: each header's Next Header is the following one's type.
    const parts: Uint8Array[] = [];
    let first = r.upper;
    for (let i = hdrs.length - 1; i >= 0; i--) {
      const h = hdrs[i]!;
      h.bytes[0] = first;
      first = h.type;
      parts.unshift(h.bytes);
    }
    const dst = r.mcast ? 'ff02::1' : US;
    const payload = r.upper === 58 ? icmp6(PEER, dst, r.icmpType, 0, r.body) : r.body;
    const ext = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      ext.set(p, o);
      o += p.length;
    }
    return { pkt: ip6Packet({ src: PEER, dst, nxt: first, hopLimit: r.hopLimit, ext, payload }), mcast: r.mcast };
  });

describe('fuzz: IPv6 input', () => {
  it('random extension-header chains, options, fragments and ICMPv6/ND messages never throw, stay bounded, leak nothing', () => {
    const t = fixture();
    fc.assert(
      fc.property(packet, ({ pkt, mcast }) => {
        t.feed(pkt, mcast);
        expect(t.s.inet6.reass.datagramsHeld).to.be.at.most(8);
        expect(t.s.inet6.nd.size(t.s.ifnet('wire0'))).to.be.at.most(16);
      }),
      { numRuns: 1500, seed: 6 },
    );
    t.clock.advance(120_000); // every reassembly timer and ND timer runs out
    const st = t.s.inet6.ip6stat;
    expect(st.total).to.equal(1500);
    // The generator reaches the interesting paths, not just the first check.
    for (const k of ['delivered', 'badoptions', 'rthdr0', 'fragments', 'atomicfrags', 'noproto', 'hbhnotfirst'] as const) {
      expect(st[k], k).to.be.greaterThan(0);
    }
    t.s.close();
    t.wire.close();
    t.s.pool.assertAllFree();
  });

  it('mutated valid packets (an echo request, a fragment, an NS) never throw and leak nothing', () => {
    const t = fixture();
    const seeds = [
      ip6Packet({ src: PEER, dst: US, payload: icmp6(PEER, US, 128, 0, echoBody(1, 1, 40)) }),
      ip6Packet({ src: PEER, dst: US, nxt: 44, ext: fragHeader(58, 0, true, 7), payload: icmp6(PEER, US, 128, 0, echoBody(1, 1, 28)) }),
      ip6Packet({ src: PEER, dst: US, hopLimit: 255, payload: icmp6(PEER, US, 135, 0, Uint8Array.of(0, 0, 0, 0, ...Ip6(US).toBytes(), 1, 1, 2, 0, 0, 0, 0, 0x66)) }),
    ];
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(20), (k, muts, cut) => {
        const p = seeds[k]!.slice(0, Math.max(0, seeds[k]!.length - cut));
        for (const [i, v] of muts) if (i < p.length) p[i] = v;
        t.feed(p);
      }),
      { numRuns: 1500, seed: 66 },
    );
    t.clock.advance(120_000);
    t.s.close();
    t.wire.close();
    t.s.pool.assertAllFree();
  });
});
