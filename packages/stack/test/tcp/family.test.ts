/**
 * TCP takes its header arithmetic from the pcb's network family
 * (net/family.ts), not from literal IPv4 sizes: the same MTU gives a
 * 20-byte smaller MSS over IPv6 (RFC 8200: 40-byte fixed header).
 */
import { expect } from 'chai';
import { INET, INET6 } from '../../src/net/family.js';
import { TCP_HDR_ROOM } from '../../src/transport/tcp/index.js';
import { B, Channel } from './harness.js';
import { established } from './state-helpers.js';

describe('tcp: header sizes come from the network family', () => {
  it('a new pcb is INET; MSS and path-MTU arithmetic use its header length', async () => {
    const ch = new Channel();
    const e = await established(ch, { mss: 1460 });
    expect(e.tp.inp.family).to.equal(INET);
    expect(e.tp.maxseg).to.equal(1500 - 20 - 20 - 12); // timestamps on
    ch.tcp.mtuDisc(e.tp, 1400);
    expect(e.tp.maxseg).to.equal(1400 - 20 - 20 - 12);
    // The same fall in MTU on an IPv6 path costs the 40-byte header.
    e.tp.inp.family = INET6;
    ch.tcp.mtuDisc(e.tp, 1300);
    expect(e.tp.maxseg).to.equal(1300 - 40 - 20 - 12);
    // Below IPv6's minimum link MTU (RFC 8200 5) a report is not believed.
    ch.tcp.mtuDisc(e.tp, 1000);
    expect(e.tp.maxseg).to.equal(1300 - 40 - 20 - 12);
    e.tp.inp.family = INET;
    ch.tcp.mtuDisc(e.tp, 1000);
    expect(e.tp.maxseg).to.equal(1000 - 20 - 20 - 12);
  });

  it('the MSS we offer is the route MTU less the family\'s headers', () => {
    const ch = new Channel({ mtu: 9000 });
    expect(ch.tcp.ourMssFor(B)).to.equal(9000 - 40);
    expect(ch.tcp.ourMssFor(B, INET)).to.equal(9000 - 40);
    expect(ch.tcp.ourMssFor(B, INET6)).to.equal(9000 - 60);
  });

  it('headroom in front of the TCP header fits Ethernet and either family\'s header', () => {
    expect(TCP_HDR_ROOM).to.equal(14 + Math.max(INET.headerLen, INET6.headerLen));
  });
});
