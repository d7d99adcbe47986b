/**
 * A MemWire with offloads (`offloads: true`): virtio-net between guests of
 * one host — TCP super-packets travel whole with a partial checksum, the
 * receiver is told so (RxFlag) and trusts it; without the option nothing of
 * this happens, and offloads exclude faults.
 */
import { expect } from 'chai';
import { RxFlag } from '../../src/link/link.js';
import { MEMWIRE_MAX_GSO_BYTES, MemWire } from '../../src/link/memwire.js';
import { connectPair, Flow, pattern, runFlows, WirePair } from '../tcp/harness.js';

const MiB = 1 << 20;

function bulk(offloads: boolean, bytes: number) {
  return (async () => {
    const pair = new WirePair({ mtu: 1500, offloads, nmbclusters: 16384 });
    const c = await connectPair(pair, 80);
    let biggest = 0;
    const bl = pair.b.link;
    const seen = { gso: 0, partial: 0, plain: 0 };
    // Look at what B's link hands the stack, then pass it on unchanged.
    const orig = (bl as unknown as { receiver: (f: readonly Uint8Array[], fl?: Uint8Array) => void }).receiver;
    bl.attach((frames, flags) => {
      for (let i = 0; i < frames.length; i++) {
        biggest = Math.max(biggest, frames[i]!.length);
        const f = flags?.[i] ?? 0;
        if ((f & RxFlag.GSO) !== 0) seen.gso++;
        else if ((f & RxFlag.CSUM_PARTIAL) !== 0) seen.partial++;
        else seen.plain++;
      }
      orig(frames, flags);
    });
    const f = new Flow(c.a, c.b, bytes, pattern(MiB + 13), 'pattern');
    runFlows(pair, [f], 600_000);
    const res = {
      received: f.received,
      corrupt: f.corrupt,
      biggest,
      seen,
      tso: pair.a.tcp.stats.tsoSegments,
      csumOffloaded: pair.b.tcp.stats.rcvcsumoffload,
      badsum: pair.b.tcp.stats.rcvbadsum,
      lro: pair.b.net.stack.etherstat.lroPackets,
    };
    pair.close();
    pair.a.pool.assertAllFree();
    pair.b.pool.assertAllFree();
    return res;
  })();
}

describe('MemWire offloads', () => {
  it('off by default: no offloads offered, every segment MTU-sized and checksummed in software', async () => {
    const wire = new MemWire({ seed: 1 });
    expect(wire.attachLink().offloads).to.equal(undefined);
    wire.close();
    const r = await bulk(false, 2 * MiB);
    expect(r.received).to.equal(2 * MiB);
    expect(r.corrupt).to.equal(0);
    expect(r.tso).to.equal(0);
    expect(r.csumOffloaded).to.equal(0);
    expect(r.lro).to.equal(0);
    expect(r.biggest).to.be.at.most(1514);
    expect(r.seen.gso + r.seen.partial).to.equal(0);
  });

  it('on: TSO super-packets cross whole, flagged, and the receiver trusts the partial checksum', async () => {
    const r = await bulk(true, 4 * MiB);
    expect(r.received).to.equal(4 * MiB);
    expect(r.corrupt, 'every byte as sent').to.equal(0);
    expect(r.tso, 'A sent TSO segments').to.be.greaterThan(0);
    expect(r.biggest, 'frames larger than the MTU crossed').to.be.greaterThan(1514);
    expect(r.biggest).to.be.at.most(MEMWIRE_MAX_GSO_BYTES);
    expect(r.seen.gso).to.equal(r.lro, 'each super-frame counted once as large receive');
    expect(r.lro).to.equal(r.tso);
    expect(r.csumOffloaded, 'TCP input took the wire\'s word for each').to.equal(r.seen.gso + r.seen.partial);
    expect(r.badsum).to.equal(0);
    expect(r.seen.plain, 'ACKs and short segments still go with software checksums').to.be.greaterThan(0);
  });

  it('hands outputGso frames to the receiver with their flags, plain frames with 0', async () => {
    const wire = new MemWire({ seed: 1, offloads: true });
    const a = wire.attachLink();
    const b = wire.attachLink();
    const got: [number, number][] = [];
    b.attach((frames, flags) => {
      for (let i = 0; i < frames.length; i++) got.push([frames[i]!.length, flags![i]!]);
    });
    const meta = { gsoSize: 1448, hdrLen: 66, csumStart: 34, csumOffset: 16 };
    expect(a.output(new Uint8Array(1514))).to.equal(true);
    expect(a.outputGso(new Uint8Array(30000), meta)).to.equal(true);
    expect(a.outputGso(new Uint8Array(1000), { ...meta, gsoSize: 0 })).to.equal(true);
    expect(a.outputGso(new Uint8Array(MEMWIRE_MAX_GSO_BYTES + 1), meta)).to.equal(false);
    expect(a.output(new Uint8Array(30000)), 'plain frames keep the MTU').to.equal(false);
    wire.flush();
    expect(got).to.deep.equal([
      [1514, 0],
      [30000, RxFlag.CSUM_PARTIAL | RxFlag.GSO],
      [1000, RxFlag.CSUM_PARTIAL],
    ]);
    expect(a.stats().txDrops).to.equal(2);
    wire.close();
  });

  it('a wire without offloads drops an outputGso frame (counted)', () => {
    const wire = new MemWire({ seed: 1 });
    const a = wire.attachLink();
    wire.attachLink();
    expect(a.outputGso(new Uint8Array(100), { gsoSize: 0, hdrLen: 66, csumStart: 34, csumOffset: 16 })).to.equal(false);
    expect(a.stats().txDrops).to.equal(1);
    expect(wire.inFlight()).to.equal(0);
    wire.close();
  });

  it('offloads and faults exclude each other', () => {
    expect(() => new MemWire({ offloads: true, faults: { drop: 0.1 } })).to.throw(RangeError);
    const wire = new MemWire({ offloads: true });
    const a = wire.attachLink();
    expect(() => wire.setFaults({ drop: 0.1 })).to.throw(RangeError);
    expect(() => a.setFaults({ corrupt: 0.1 })).to.throw(RangeError);
    wire.setFaults(null);
    wire.close();
  });
});
