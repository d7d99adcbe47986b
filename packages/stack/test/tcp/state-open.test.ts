/**
 * State machine, opening side: CLOSED, LISTEN, SYN-SENT, SYN-RECEIVED
 * (smoltcp's "Tests for the X state" layout). One stack on a Channel; the
 * test plays the peer with crafted segments and checks every reply.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { AF_INET, SOCK } from '../../src/socket/constants.js';
import { sockaddrIn } from '../../src/socket/sockaddr.js';
import { TCPS } from '../../src/transport/tcp/index.js';
import { ACK, B, Channel, FIN, RST, SYN } from './harness.js';
import { established, IRS, tcbOf } from './state-helpers.js';

describe('tcp state machine: opening', () => {
  describe('CLOSED (no socket)', () => {
    it('answers a SYN with RST|ACK acking SYN+data (RFC 9293 3.10.7.1)', () => {
      const ch = new Channel();
      ch.inject({ flags: SYN, seq: 100 });
      ch.expectSegment({ flags: RST | ACK, seq: 0, ack: 101 });
      expect(ch.tcp.stats.rcvnoport).to.equal(1);
    });
    it('answers an ACK with a RST at SEG.ACK', () => {
      const ch = new Channel();
      ch.inject({ flags: ACK, seq: 100, ack: 555 });
      ch.expectSegment({ flags: RST, seq: 555 });
    });
    it('never answers a RST', () => {
      const ch = new Channel();
      ch.inject({ flags: RST, seq: 100 });
      ch.expectNone();
    });
    it('drops a segment with a bad checksum, counted', () => {
      const ch = new Channel();
      ch.inject({ flags: SYN, seq: 100, badChecksum: true });
      ch.expectNone();
      expect(ch.tcp.stats.rcvbadsum).to.equal(1);
    });
  });

  describe('LISTEN', () => {
    it('answers a SYN with SYN|ACK carrying our options', () => {
      const ch = new Channel();
      ch.listen();
      ch.inject({ flags: SYN, seq: IRS, mss: 1400, windowScale: 7, sackPermitted: true, tsVal: 77 });
      ch.expectSegment({
        flags: SYN | ACK,
        ack: IRS + 1,
        options: { mss: 1460, windowScale: 5, sackPermitted: true, ts: true, tsEcr: 77 },
      });
      expect(ch.tcp.stats.scAdded).to.equal(1);
    });
    it('offers no option the peer did not (RFC 7323, RFC 2018)', () => {
      const ch = new Channel();
      ch.listen();
      ch.inject({ flags: SYN, seq: IRS });
      ch.expectSegment({ flags: SYN | ACK, options: { mss: 1460, windowScale: null, sackPermitted: false, ts: false } });
    });
    it('clamps the MSS to the route MTU', () => {
      const ch = new Channel({ mtu: 9000 });
      ch.listen();
      ch.inject({ flags: SYN, seq: IRS });
      ch.expectSegment({ flags: SYN | ACK, options: { mss: 8960 } });
    });
    it('answers an ACK with <SEQ=SEG.ACK><CTL=RST> and ignores a RST', () => {
      const ch = new Channel();
      ch.listen();
      ch.inject({ flags: ACK, seq: IRS, ack: 4242 });
      ch.expectSegment({ flags: RST, seq: 4242 });
      ch.inject({ flags: RST, seq: IRS });
      ch.expectNone();
    });
    it('completes the handshake into the accept queue (SYN-RECEIVED -> ESTABLISHED)', async () => {
      const ch = new Channel();
      const lfd = ch.listen();
      ch.inject({ flags: SYN, seq: IRS, tsVal: 1 });
      const sa = ch.expectSegment({ flags: SYN | ACK, ack: IRS + 1 });
      ch.inject({ flags: ACK, seq: IRS + 1, ack: sa.repr.seq + 1, tsVal: 2, tsEcr: sa.repr.tsVal! });
      ch.expectNone();
      const acc = await ch.table.accept(lfd);
      expect(acc.errno).to.equal(0);
      expect(acc.addr).to.deep.equal(sockaddrIn(B, ch.peerPort));
      expect(tcbOf(ch, acc.fd).state).to.equal(TCPS.ESTABLISHED);
    });
    it('resends the SYN-ACK with backoff and answers a duplicate SYN', () => {
      const ch = new Channel();
      ch.listen();
      ch.inject({ flags: SYN, seq: IRS });
      const first = ch.expectSegment({ flags: SYN | ACK });
      ch.clock.advance(999);
      ch.expectNone();
      ch.clock.advance(1);
      ch.expectSegment({ flags: SYN | ACK, seq: first.repr.seq });
      ch.clock.advance(1999);
      ch.expectNone();
      ch.clock.advance(1);
      ch.expectSegment({ flags: SYN | ACK, seq: first.repr.seq });
      ch.inject({ flags: SYN, seq: IRS });
      ch.expectSegment({ flags: SYN | ACK, seq: first.repr.seq });
      expect(ch.tcp.stats.scDupesyn).to.equal(1);
    });
    it('bounds the SYN cache: new SYNs are dropped while entries are fresh, stale ones evicted (SYN flood)', () => {
      const ch = new Channel({ tun: { syncacheLimit: 8 } });
      ch.listen(1024);
      for (let i = 0; i < 20; i++) {
        ch.peerPort = 1000 + i;
        ch.inject({ flags: SYN, seq: IRS + i });
      }
      expect(ch.tcp.syncache.size).to.equal(8);
      expect(ch.tcp.stats.scOverflowed).to.equal(12);
      // A whole RTO later the unanswered entries are stale: a new SYN evicts the oldest.
      ch.clock.advance(1000);
      ch.peerPort = 2000;
      ch.inject({ flags: SYN, seq: IRS + 99 });
      expect(ch.tcp.syncache.size).to.equal(8);
      expect(ch.tcp.stats.scOverflowed).to.equal(13);
      expect(ch.tcp.stats.scAdded).to.equal(9);
    });
  });

  describe('SYN-SENT', () => {
    it('sends a SYN with MSS, window scale, SACK-permitted and timestamps', () => {
      const ch = new Channel();
      const fd = ch.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      void ch.table.connect(fd, sockaddrIn(B, 80));
      ch.expectSegment({ flags: SYN, ack: 0, options: { mss: 1460, windowScale: 5, sackPermitted: true, ts: true } });
      expect(tcbOf(ch, fd).state).to.equal(TCPS.SYN_SENT);
    });
    it('answers a SYN|ACK with an unacceptable ACK with a RST', () => {
      const ch = new Channel();
      const fd = ch.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      void ch.table.connect(fd, sockaddrIn(B, ch.peerPort));
      const syn = ch.expectSegment({ flags: SYN });
      ch.localPort = syn.repr.srcPort;
      ch.inject({ flags: SYN | ACK, seq: IRS, ack: syn.repr.seq + 7 });
      ch.expectSegment({ flags: RST, seq: syn.repr.seq + 7 });
      expect(tcbOf(ch, fd).state).to.equal(TCPS.SYN_SENT);
    });
    it('fails connect with ECONNREFUSED on RST|ACK; ignores a RST without ACK (RFC 5961 3.2)', async () => {
      const ch = new Channel();
      const fd = ch.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      const p = ch.table.connect(fd, sockaddrIn(B, ch.peerPort));
      const syn = ch.expectSegment({ flags: SYN });
      ch.localPort = syn.repr.srcPort;
      ch.inject({ flags: RST, seq: 0 });
      expect(tcbOf(ch, fd).state).to.equal(TCPS.SYN_SENT);
      ch.inject({ flags: RST | ACK, seq: 0, ack: syn.repr.seq + 1 });
      expect(await p).to.equal(Errno.ECONNREFUSED);
    });
    it('retransmits the SYN with exponential backoff (RFC 6298 5.5), then ETIMEDOUT', async () => {
      const ch = new Channel({ tun: { synRetries: 3 } });
      const fd = ch.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      const p = ch.table.connect(fd, sockaddrIn(B, 80));
      const syn = ch.expectSegment({ flags: SYN });
      const gaps: number[] = [];
      let last = ch.clock.now();
      for (let i = 0; i < 3; i++) {
        for (let t = 0; t < 20_000 && ch.sent.length === 0; t += 10) ch.clock.advance(10);
        ch.expectSegment({ flags: SYN, seq: syn.repr.seq });
        gaps.push(ch.clock.now() - last);
        last = ch.clock.now();
      }
      expect(gaps).to.deep.equal([1000, 2000, 4000]);
      ch.clock.advance(8000);
      expect(await p).to.equal(Errno.ETIMEDOUT);
      expect(ch.tcp.stats.rexmttimeoSyn).to.equal(3);
    });
  });

  describe('SYN-RECEIVED (simultaneous open)', () => {
    it('SYN-SENT + SYN -> SYN-RECEIVED sends SYN|ACK; the ACK establishes', async () => {
      const ch = new Channel();
      const fd = ch.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      const p = ch.table.connect(fd, sockaddrIn(B, ch.peerPort));
      const syn = ch.expectSegment({ flags: SYN });
      ch.localPort = syn.repr.srcPort;
      ch.inject({ flags: SYN, seq: IRS, mss: 1460 });
      ch.expectSegment({ flags: SYN | ACK, seq: syn.repr.seq, ack: IRS + 1 });
      expect(tcbOf(ch, fd).state).to.equal(TCPS.SYN_RECEIVED);
      ch.inject({ flags: SYN | ACK, seq: IRS, ack: syn.repr.seq + 1 });
      // A SYN in a synchronized state draws a challenge ACK (RFC 5961 4.2).
      ch.expectSegment({ flags: ACK });
      ch.inject({ flags: ACK, seq: IRS + 1, ack: syn.repr.seq + 1 });
      expect(await p).to.equal(0);
      expect(tcbOf(ch, fd).state).to.equal(TCPS.ESTABLISHED);
    });
    it('a RST in SYN-RECEIVED refuses the connection', async () => {
      const ch = new Channel();
      const fd = ch.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      const p = ch.table.connect(fd, sockaddrIn(B, ch.peerPort));
      const syn = ch.expectSegment({ flags: SYN });
      ch.localPort = syn.repr.srcPort;
      ch.inject({ flags: SYN, seq: IRS });
      ch.expectSegment({ flags: SYN | ACK });
      ch.inject({ flags: RST, seq: IRS + 1 });
      expect(await p).to.equal(Errno.ECONNREFUSED);
    });
  });

  describe('handshake details', () => {
    it('negotiates options and sizes the MSS minus timestamps', async () => {
      const ch = new Channel();
      const e = await established(ch, { wscale: 7 });
      expect(e.tp.maxseg).to.equal(1448);
      expect(e.tp.sndScale).to.equal(7);
      expect(e.tp.rcvScale).to.equal(5);
      ch.inject({ flags: ACK | FIN, seq: e.rcv, ack: e.snd, tsVal: 6000 });
      ch.expectSegment({ flags: ACK, ack: e.rcv + 1 });
    });
  });
});
