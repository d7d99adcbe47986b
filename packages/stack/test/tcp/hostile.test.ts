/**
 * Hostile segments, by state (issue 11): malformed options (processed as
 * BSD's `tcp_dooptions` / Linux's `tcp_parse_options` do, not dropped) and
 * SYN+FIN (`net.inet.tcp.drop_synfin`). One stack on a Channel; the test
 * plays the peer with crafted segments and checks every reply.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { AF_INET, SOCK } from '../../src/socket/constants.js';
import { sockaddrIn } from '../../src/socket/sockaddr.js';
import { TCPS } from '../../src/transport/tcp/index.js';
import { TcpFlag } from '../../src/wire/tcp.js';
import { ACK, Channel, FIN, PSH, RST, SYN } from './harness.js';
import { bytes, established, IRS } from './state-helpers.js';

const URG = TcpFlag.URG;
/** MSS 1400, then an option of kind 30 whose length byte is 0 (malformed). */
const MSS_THEN_ZERO_LEN = Uint8Array.of(2, 4, 0x05, 0x78, 30, 0);

describe('tcp: hostile segments', () => {
  describe('LISTEN', () => {
    it('a SYN with a malformed option still gets a SYN-ACK; the options before it count (tcp_dooptions)', () => {
      const ch = new Channel();
      ch.listen();
      ch.inject({ flags: SYN, seq: IRS, rawOptions: MSS_THEN_ZERO_LEN });
      ch.expectSegment({ flags: SYN | ACK, ack: IRS + 1, options: { mss: 1460 } });
      expect(ch.tcp.stats.rcvbadopt).to.equal(1);
      expect(ch.tcp.syncache.size).to.equal(1);
    });

    it('a SYN whose option runs past the header, or a known option of the wrong length, is processed', () => {
      const ch = new Channel();
      ch.listen();
      // Timestamps claiming 10 bytes with 4 left.
      ch.inject({ flags: SYN, seq: IRS, rawOptions: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1) });
      ch.expectSegment({ flags: SYN | ACK, ack: IRS + 1, options: { ts: false } });
      // Window scale of length 4 (skipped), then a good SACK-permitted.
      ch.peerPort++;
      ch.inject({ flags: SYN, seq: IRS, rawOptions: Uint8Array.of(3, 4, 7, 0, 4, 2) });
      ch.expectSegment({ flags: SYN | ACK, ack: IRS + 1, options: { windowScale: null, sackPermitted: true } });
      expect(ch.tcp.stats.rcvbadopt).to.equal(2);
    });

    for (const [name, flags] of [
      ['SYN+FIN', SYN | FIN],
      ['SYN+FIN+PSH+URG', SYN | FIN | PSH | URG],
    ] as const) {
      it(`drops ${name} with a counter: no SYN-ACK, no SYN-cache entry (drop_synfin)`, () => {
        const ch = new Channel();
        ch.listen();
        ch.inject({ flags, seq: IRS, mss: 1460 });
        ch.expectNone(name);
        expect(ch.tcp.stats.rcvsynfin).to.equal(1);
        expect(ch.tcp.syncache.size).to.equal(0);
        expect(ch.tcp.stats.scAdded).to.equal(0);
      });
    }

    it('net.inet.tcp.drop_synfin = 0 lets SYN+FIN through to the SYN cache', () => {
      const ch = new Channel();
      ch.listen();
      expect(ch.host.sysctl.get('net.inet.tcp.drop_synfin')).to.equal(1);
      ch.host.sysctl.set('net.inet.tcp.drop_synfin', 0);
      ch.inject({ flags: SYN | FIN, seq: IRS });
      ch.expectSegment({ flags: SYN | ACK, ack: IRS + 1 });
      expect(ch.tcp.stats.rcvsynfin).to.equal(0);
    });

    it('the counters are sysctl leaves (net.inet.tcp.stats.*)', () => {
      const ch = new Channel();
      ch.listen();
      ch.inject({ flags: SYN | FIN, seq: IRS });
      ch.inject({ flags: SYN, seq: IRS, rawOptions: MSS_THEN_ZERO_LEN });
      expect(ch.host.sysctl.get('net.inet.tcp.stats.rcvsynfin')).to.equal(1);
      expect(ch.host.sysctl.get('net.inet.tcp.stats.rcvbadopt')).to.equal(1);
    });
  });

  describe('SYN-SENT', () => {
    it('drops a SYN+FIN+ACK answer (drop_synfin applies in every state)', async () => {
      const ch = new Channel();
      const fd = ch.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      void ch.table.connect(fd, sockaddrIn(ch.peer, ch.peerPort));
      const syn = ch.expectSegment({ flags: SYN });
      ch.localPort = syn.repr.srcPort;
      ch.inject({ flags: SYN | FIN | ACK, seq: IRS, ack: syn.repr.seq + 1 });
      ch.expectNone();
      expect(ch.tcp.stats.rcvsynfin).to.equal(1);
      await ch.table.close(fd);
    });
  });

  describe('ESTABLISHED', () => {
    it('a RST at the exact sequence number with a zero-length option resets the connection', async () => {
      const ch = new Channel();
      const e = await established(ch);
      ch.inject({ flags: RST, seq: e.rcv, rawOptions: Uint8Array.of(30, 0) });
      ch.expectNone();
      expect(e.tp.state).to.equal(TCPS.CLOSED);
      expect(ch.so(e.fd).error).to.equal(Errno.ECONNRESET);
      expect(ch.tcp.stats.rcvbadopt).to.equal(1);
    });

    it('data with a malformed option is delivered, and the timestamp read before it is used', async () => {
      const ch = new Channel();
      const e = await established(ch);
      // NOP NOP TS(5001, ...) then a lone kind byte with no length.
      const ts = Uint8Array.of(1, 1, 8, 10, 0, 0, 0x13, 0x89, 0, 0, 0, 0, 5);
      ch.inject({ flags: ACK | PSH, seq: e.rcv, ack: e.snd, rawOptions: ts, payload: bytes(100) });
      expect(ch.so(e.fd).rcv.cc).to.equal(100);
      expect(e.tp.tsRecent).to.equal(5001);
      expect(ch.tcp.stats.rcvbadopt).to.equal(1);
    });
  });
});
