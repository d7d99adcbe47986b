/**
 * ESTABLISHED: "not set" is never a legitimate value (a timestamp, a time or
 * a sequence number of 0 is a real one), and the socket options that change
 * a live connection keep its parts consistent (issue 11). One stack on a
 * Channel; the test plays the peer.
 */
import { expect } from 'chai';
import { IPPROTO } from '../../src/socket/constants.js';
import { TCP_OPT } from '../../src/transport/tcp/index.js';
import { ACK, A, B, Channel, PSH, SYN } from './harness.js';
import { bytes, established, IRS, send } from './state-helpers.js';

const MSS = 1448; // 1460 minus the timestamp option

describe('tcp: zero is a value, not "unset"', () => {
  it('PAWS still works when TS.Recent is 0 (RFC 7323 5.3): an older timestamp is dropped', async () => {
    const ch = new Channel();
    const e = await established(ch, { tsVal: 0 });
    expect(e.tp.tsRecent).to.equal(0);
    // 0xfffff000 is "before" 0 in timestamp space.
    ch.inject({ flags: ACK | PSH, seq: e.rcv, ack: e.snd, tsVal: 0xfffff000, payload: bytes(10) });
    ch.expectSegment({ flags: ACK, ack: e.rcv });
    expect(ch.so(e.fd).rcv.cc).to.equal(0);
    expect(ch.tcp.stats.pawsdrop).to.equal(1);
    // A newer one is accepted and becomes TS.Recent.
    ch.inject({ flags: ACK | PSH, seq: e.rcv, ack: e.snd, tsVal: 1, payload: bytes(10) });
    expect(ch.so(e.fd).rcv.cc).to.equal(10);
    expect(e.tp.tsRecent).to.equal(1);
  });

  it('restart after idle (RFC 5681 4.1) also when the last send was at time 0', async () => {
    const ch = new Channel({ clockStart: 0 });
    const e = await established(ch, { window: 65535 });
    send(ch, e.fd, bytes(10 * MSS));
    for (let i = 0; i < 10; i++) ch.expectSegment({ seq: e.snd + i * MSS, len: MSS });
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 10 * MSS, tsVal: 5001 });
    expect(e.tp.cc.cwnd, 'slow start grew the window past IW').to.be.greaterThan(10 * MSS);
    ch.clock.advance(5000); // idle far longer than the RTO
    ch.clearSent();
    send(ch, e.fd, bytes(30 * MSS));
    const data = ch.sent.filter((c) => c.repr.payloadLen > 0).length;
    expect(data, 'restarted from the initial window').to.equal(10);
  });

  it('an echoed TSecr of 0 is an RTT sample like any other (our TSval clock passed 0)', async () => {
    const ch = new Channel();
    const e = await established(ch);
    // Make our timestamp clock read exactly 0 now.
    e.tp.tsOffset = -Math.floor(ch.clock.now()) >>> 0;
    send(ch, e.fd, bytes(100));
    const seg = ch.expectSegment({ seq: e.snd, len: 100 });
    expect(seg.repr.tsVal).to.equal(0);
    const samples = ch.tcp.stats.rttupdated;
    ch.clock.advance(30);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 100, tsVal: 5001, tsEcr: 0 });
    expect(ch.tcp.stats.rttupdated - samples).to.equal(1);
  });
});

describe('tcp: socket options on a live connection', () => {
  it('TCP_MAXSEG on an established connection lowers congestion control\'s and SACK\'s MSS too', async () => {
    const ch = new Channel();
    const e = await established(ch);
    expect(e.tp.sackSb).to.not.equal(null);
    expect(ch.table.setsockopt(e.fd, IPPROTO.TCP, TCP_OPT.MAXSEG, 500)).to.equal(0);
    expect(e.tp.maxseg).to.equal(500);
    expect(e.tp.cc.mss).to.equal(500);
    expect(e.tp.sackSb!.mss).to.equal(500);
    send(ch, e.fd, bytes(1500));
    for (let i = 0; i < 3; i++) ch.expectSegment({ seq: e.snd + i * 500, len: 500 });
  });

  it('TCP_CONGESTION during SACK recovery carries the recovery over; the full ACK ends it', async () => {
    const ch = new Channel();
    const e = await established(ch);
    send(ch, e.fd, bytes(10 * MSS));
    for (let i = 0; i < 10; i++) ch.expectSegment({ seq: e.snd + i * MSS, len: MSS });
    for (let i = 1; i <= 3; i++) ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 5000 + i, sack: [e.snd + MSS, e.snd + MSS * (i + 1)] });
    ch.expectSegment({ seq: e.snd, len: MSS });
    expect(e.tp.sackRecovery).to.equal(true);
    const cwnd = e.tp.cc.cwnd;
    const other = e.tp.cc.name === 'cubic' ? 'newreno' : 'cubic';
    expect(ch.table.setsockopt(e.fd, IPPROTO.TCP, TCP_OPT.CONGESTION, new TextEncoder().encode(other))).to.equal(0);
    expect(e.tp.cc.name).to.equal(other);
    expect(e.tp.cc.inRecovery, 'the new controller is in recovery').to.equal(true);
    expect(e.tp.cc.cwnd).to.equal(cwnd);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 10 * MSS, tsVal: 5010 });
    expect(e.tp.sackRecovery, 'the full ACK ended SACK recovery').to.equal(false);
    expect(e.tp.cc.inRecovery).to.equal(false);
    expect(ch.tcp.stats.rexmttimeo).to.equal(0);
  });
});

describe('tcp: timestamp offsets from the keyed hash (RFC 7323 7.1)', () => {
  it('an active open uses the 4-tuple\'s offset: the same for every incarnation, different per tuple', async () => {
    const ch = new Channel();
    const e = await established(ch);
    const off = ch.tcp.isn.tsOffset(A, ch.localPort, B, ch.peerPort);
    expect(e.tp.tsOffset).to.equal(off);
    expect(ch.tcp.isn.tsOffset(A, ch.localPort, B, ch.peerPort + 1)).to.not.equal(off);
    // Not the ISN's offset (domain-separated).
    expect(ch.tcp.isn.offset(A, ch.localPort, B, ch.peerPort)).to.not.equal(off);
  });

  it('a passive open (the SYN cache\'s SYN-ACK) uses it too', () => {
    const ch = new Channel();
    ch.listen();
    ch.inject({ flags: SYN, seq: IRS, tsVal: 77 });
    const sa = ch.expectSegment({ flags: SYN | ACK });
    expect(sa.repr.tsVal).to.equal((Math.floor(ch.clock.now()) + ch.tcp.isn.tsOffset(A, ch.localPort, B, ch.peerPort)) >>> 0);
  });
});
