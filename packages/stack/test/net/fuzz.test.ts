/**
 * Fuzzing Ethernet input: random bytes and mutated valid frames must never
 * throw, and every mbuf must come back to the pool.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ManualClock } from '../../src/kern/clock.js';
import { MemWire } from '../../src/link/memwire.js';
import { etherInput } from '../../src/net/ethernet.js';
import { Stack } from '../../src/stack.js';
import { ArpRepr } from '../../src/wire/arp.js';
import { PEER_MAC, echoRequest, etherFrame, fixIpChecksum, ip4, ipPacket } from './helpers.js';

function fixture(): { s: Stack; wire: MemWire; feed: (f: Uint8Array) => void; mac: Uint8Array } {
  const clock = new ManualClock();
  const wire = new MemWire({ clock });
  const s = new Stack({ clock, nmbclusters: 128 });
  const ifp = s.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: ['10.0.0.1/24'] });
  s.arpAdd('10.0.0.2', '02:00:00:00:00:99');
  return { s, wire, feed: (f) => etherInput(s, ifp, f), mac: ifp.mac };
}

function seeds(ourMac: Uint8Array): Uint8Array[] {
  const arp = new Uint8Array(28);
  ArpRepr.emit({ operation: 1, senderMac: PEER_MAC, senderIp: ip4('10.0.0.2'), targetMac: new Uint8Array(6), targetIp: ip4('10.0.0.1') }, arp);
  const big = echoRequest(1, 2, 3000);
  return [
    etherFrame(ourMac, PEER_MAC, 0x0800, ipPacket({ src: '10.0.0.2', dst: '10.0.0.1', proto: 1, payload: echoRequest(1, 1, 56) })),
    etherFrame(ourMac, PEER_MAC, 0x0800, ipPacket({ src: '10.0.0.2', dst: '10.0.0.1', proto: 1, id: 9, mf: true, payload: big.subarray(0, 1480) })),
    etherFrame(ourMac, PEER_MAC, 0x0800, ipPacket({ src: '10.0.0.2', dst: '10.0.0.1', proto: 1, id: 9, fragOff: 1480, payload: big.subarray(1480) })),
    etherFrame(ourMac, PEER_MAC, 0x0800, ipPacket({ src: '10.0.0.2', dst: '10.0.0.1', proto: 17, payload: new Uint8Array(12) })),
    etherFrame(ourMac, PEER_MAC, 0x0806, arp),
  ];
}

describe('fuzz: Ethernet input', () => {
  it('random bytes never throw and leak nothing', () => {
    const t = fixture();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean(), (bytes, ours) => {
        const f = bytes.slice();
        if (ours && f.length >= 14) {
          f.set(t.mac, 0);
          f[12] = 0x08;
          f[13] = bytes[0]! & 1 ? 0x06 : 0x00;
        }
        t.feed(f);
      }),
      { numRuns: 1500, seed: 42 },
    );
    t.s.close();
    t.wire.close();
    t.s.pool.assertAllFree();
  });

  it('mutated valid frames (header checksum refreshed or not) never throw and leak nothing', () => {
    const t = fixture();
    const base = seeds(t.mac);
    fc.assert(
      fc.property(
        fc.nat(base.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.integer({ min: -40, max: 40 }),
        (which, muts, fix, resize) => {
          const src = base[which]!;
          const n = Math.max(0, src.length + resize);
          const f = new Uint8Array(n);
          f.set(src.subarray(0, Math.min(n, src.length)));
          // Mutations in the first 64 bytes hit the headers, where the parsing is.
          for (const [pos, v] of muts) if (n > 0) f[pos % Math.min(n, 64)] = v;
          if (fix && n >= 34 && f[12] === 0x08 && f[13] === 0x00 && (f[14]! & 15) >= 5) fixIpChecksum(f, 14);
          t.feed(f);
        },
      ),
      { numRuns: 2500, seed: 7 },
    );
    // Something got through to the deeper layers, so the fuzz reached them.
    expect(t.s.ipstat.total).to.be.greaterThan(100);
    expect(t.s.ipstat.fragments).to.be.greaterThan(0);
    t.s.close();
    t.wire.close();
    t.s.pool.assertAllFree();
  });
});
