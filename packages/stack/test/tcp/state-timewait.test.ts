/**
 * State machine: TIME-WAIT (RFC 9293 3.10.7.4, RFC 1337, RFC 6191; issue
 * 11). One stack on a Channel; the test plays the peer.
 */
import { expect } from 'chai';
import { TCPS, type TcpCb } from '../../src/transport/tcp/index.js';
import { ACK, Channel, FIN, PSH, RST, SYN } from './harness.js';
import { bytes, established } from './state-helpers.js';

/** A TIME-WAIT on the stack's listening port 80, reached by the stack closing first. */
interface Tw {
  ch: Channel;
  tp: TcpCb;
  /** The peer's next sequence number (RCV.NXT of the TIME-WAIT). */
  rcv: number;
  /** Our SND.NXT. */
  snd: number;
  /** The peer's last TSval (null without timestamps). */
  ts: number | null;
}

async function passiveTimeWait(opts: { ts?: boolean; channel?: ConstructorParameters<typeof Channel>[0] } = {}): Promise<Tw> {
  const ch = new Channel(opts.channel);
  const useTs = opts.ts ?? true;
  const lfd = ch.listen();
  ch.inject({ flags: SYN, seq: 1000, tsVal: useTs ? 10 : null });
  const sa = ch.expectSegment({ flags: SYN | ACK });
  ch.inject({ flags: ACK, seq: 1001, ack: sa.repr.seq + 1, tsVal: useTs ? 11 : null, tsEcr: sa.repr.tsVal ?? 0 });
  const acc = await ch.table.accept(lfd);
  const tp = (ch.so(acc.fd).pcb as { ppcb: TcpCb }).ppcb;
  await ch.table.close(acc.fd);
  const fin = ch.expectSegment({ flags: FIN | ACK });
  ch.inject({ flags: ACK | FIN, seq: 1001, ack: fin.repr.seq + 1, tsVal: useTs ? 12 : null });
  ch.expectSegment({ flags: ACK, ack: 1002 });
  expect(tp.state).to.equal(TCPS.TIME_WAIT);
  return { ch, tp, rcv: 1002, snd: (fin.repr.seq + 1) >>> 0, ts: useTs ? 12 : null };
}

describe('tcp state machine: TIME-WAIT', () => {
  it('in-window data is ACKed and ignored; the TIME-WAIT stays (not destroyed, no RST)', async () => {
    const { ch, tp, rcv, snd } = await passiveTimeWait();
    ch.inject({ flags: ACK | PSH, seq: rcv, ack: snd, tsVal: 13, payload: bytes(100) });
    ch.expectSegment({ flags: ACK, seq: snd, ack: rcv });
    ch.expectNone('no RST');
    expect(tp.state).to.equal(TCPS.TIME_WAIT);
    expect(ch.tcp.stats.twData).to.equal(1);
    expect(ch.tcp.stats.rcvafterclose).to.equal(0);
  });

  it('an out-of-window segment is ACKed; the TIME-WAIT stays', async () => {
    const { ch, tp, rcv, snd } = await passiveTimeWait();
    ch.inject({ flags: ACK, seq: rcv + 1_000_000, ack: snd, tsVal: 13, payload: bytes(10) });
    ch.expectSegment({ flags: ACK, ack: rcv });
    expect(tp.state).to.equal(TCPS.TIME_WAIT);
  });

  it('ACKs to junk are limited per connection (invalid_ratelimit); a duplicate ACK is not answered', async () => {
    const { ch, rcv, snd } = await passiveTimeWait();
    ch.inject({ flags: ACK, seq: rcv, ack: snd, tsVal: 13 });
    ch.expectNone('a duplicate of the last ACK');
    for (let i = 0; i < 50; i++) ch.inject({ flags: ACK, seq: rcv + 5000 + i, ack: snd, tsVal: 13, payload: bytes(1) });
    expect(ch.sent.length).to.equal(1);
    expect(ch.tcp.stats.twAckLimited).to.equal(49);
    ch.clearSent();
    ch.clock.advance(500);
    ch.inject({ flags: ACK, seq: rcv + 9000, ack: snd, tsVal: 14, payload: bytes(1) });
    ch.expectSegment({ flags: ACK, ack: rcv });
  });

  it('a retransmitted FIN is ACKed and restarts 2*MSL', async () => {
    const { ch, tp, rcv, snd } = await passiveTimeWait({ channel: { tun: { msl: 1000 } } });
    ch.clock.advance(1500);
    ch.inject({ flags: ACK | FIN, seq: rcv - 1, ack: snd, tsVal: 13 });
    ch.expectSegment({ flags: ACK, ack: rcv });
    ch.clock.advance(1999);
    expect(tp.state).to.equal(TCPS.TIME_WAIT);
    ch.clock.advance(1);
    expect(tp.state).to.equal(TCPS.CLOSED);
    expect(ch.tcp.stats.twFinRexmt).to.equal(1);
  });

  it('RFC 1337: a RST, even at the exact sequence number, does not end TIME-WAIT', async () => {
    const { ch, tp, rcv } = await passiveTimeWait();
    ch.inject({ flags: RST, seq: rcv });
    ch.inject({ flags: RST | ACK, seq: rcv });
    ch.expectNone();
    expect(tp.state).to.equal(TCPS.TIME_WAIT);
    expect(ch.tcp.stats.twRstIgnored).to.equal(2);
  });

  it('net.inet.tcp.rfc1337 = 0: the exact RST closes it (RFC 9293, NetBSD, Linux\'s default)', async () => {
    const { ch, tp, rcv } = await passiveTimeWait();
    expect(ch.host.sysctl.get('net.inet.tcp.rfc1337')).to.equal(1);
    ch.host.sysctl.set('net.inet.tcp.rfc1337', 0);
    ch.inject({ flags: RST, seq: rcv });
    expect(tp.state).to.equal(TCPS.CLOSED);
  });

  describe('a new SYN (RFC 6191)', () => {
    it('with an older timestamp is ACKed; the TIME-WAIT stays', async () => {
      const { ch, tp, rcv } = await passiveTimeWait();
      ch.inject({ flags: SYN, seq: 90_000, tsVal: 5 });
      ch.expectSegment({ flags: ACK, ack: rcv });
      expect(tp.state).to.equal(TCPS.TIME_WAIT);
      expect(ch.tcp.stats.twSynOld).to.equal(1);
    });

    it('with a newer timestamp, even a lower sequence number, reopens it when a listener exists', async () => {
      const { ch, tp } = await passiveTimeWait();
      ch.inject({ flags: SYN, seq: 10, tsVal: 50 });
      ch.expectSegment({ flags: SYN | ACK, ack: 11 });
      expect(tp.state).to.equal(TCPS.CLOSED);
      expect(ch.tcp.stats.twReused).to.equal(1);
    });

    it('without timestamps: a higher ISN reopens it, a lower one does not', async () => {
      const { ch, tp, rcv } = await passiveTimeWait({ ts: false });
      ch.inject({ flags: SYN, seq: rcv - 10 });
      ch.expectSegment({ flags: ACK, ack: rcv });
      expect(tp.state).to.equal(TCPS.TIME_WAIT);
      ch.clock.advance(500);
      ch.inject({ flags: SYN, seq: rcv + 10 });
      ch.expectSegment({ flags: SYN | ACK, ack: rcv + 11 });
      expect(tp.state).to.equal(TCPS.CLOSED);
    });

    it('to a port nobody listens on does not close the TIME-WAIT (the SYN is ACKed)', async () => {
      const ch = new Channel();
      const e = await established(ch);
      await ch.table.close(e.fd);
      ch.expectSegment({ flags: FIN | ACK, seq: e.snd });
      ch.inject({ flags: ACK | FIN, seq: e.rcv, ack: e.snd + 1, tsVal: 5001 });
      ch.expectSegment({ flags: ACK, ack: e.rcv + 1 });
      expect(e.tp.state).to.equal(TCPS.TIME_WAIT);
      ch.inject({ flags: SYN, seq: e.rcv + 100_000, tsVal: 9000 });
      ch.expectSegment({ flags: ACK, ack: e.rcv + 1 });
      ch.expectNone('no RST');
      expect(e.tp.state).to.equal(TCPS.TIME_WAIT);
      expect(ch.tcp.stats.twSynNoListener).to.equal(1);
      expect(ch.tcp.stats.twReused).to.equal(0);
    });
  });
});
