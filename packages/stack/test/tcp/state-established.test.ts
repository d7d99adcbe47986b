/**
 * State machine: ESTABLISHED and the closing states, including RFC 5961
 * (challenge ACKs), PAWS, delayed ACK, SACK, persist and retransmission.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { SOL_SOCKET, SO } from '../../src/socket/constants.js';
import { TCPS } from '../../src/transport/tcp/index.js';
import { ACK, Channel, FIN, PSH, RST, SYN } from './harness.js';
import { bytes, established, send } from './state-helpers.js';

describe('tcp state machine: ESTABLISHED', () => {
  it('delays the ACK of one segment (40 ms) and ACKs every second full segment at once', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: ACK | PSH, seq: e.rcv, ack: e.snd, tsVal: 5001, payload: bytes(100) });
    ch.expectNone('delayed');
    ch.clock.advance(39);
    ch.expectNone('still delayed');
    ch.clock.advance(1);
    ch.expectSegment({ flags: ACK, ack: e.rcv + 100 });
    ch.inject({ flags: ACK, seq: e.rcv + 100, ack: e.snd, tsVal: 5002, payload: bytes(1448) });
    ch.expectNone();
    ch.inject({ flags: ACK, seq: e.rcv + 1548, ack: e.snd, tsVal: 5003, payload: bytes(1448) });
    ch.expectSegment({ flags: ACK, ack: e.rcv + 100 + 2896 });
    expect(ch.so(e.fd).rcv.cc).to.equal(100 + 2896);
  });

  it('ACKs out-of-order data at once with a SACK block (RFC 2018, RFC 5681 4.2)', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: ACK, seq: e.rcv + 1000, ack: e.snd, tsVal: 5001, payload: bytes(500) });
    ch.expectSegment({ flags: ACK, ack: e.rcv, options: { sack: [e.rcv + 1000, e.rcv + 1500] } });
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 5002, payload: bytes(1000) });
    ch.expectSegment({ flags: ACK, ack: e.rcv + 1500, options: { sack: null } });
    expect(ch.so(e.fd).rcv.cc).to.equal(1500);
    expect(ch.tcp.stats.rcvoopack).to.equal(1);
  });

  it('RFC 5961: an in-window RST draws a challenge ACK; the exact RST resets', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: RST, seq: e.rcv + 10 });
    ch.expectSegment({ flags: ACK, seq: e.snd, ack: e.rcv });
    expect(e.tp.state).to.equal(TCPS.ESTABLISHED);
    ch.inject({ flags: RST, seq: e.rcv + 10_000_000 });
    ch.expectNone('out-of-window RST is dropped');
    ch.inject({ flags: RST, seq: e.rcv });
    ch.expectNone();
    expect(e.tp.state).to.equal(TCPS.CLOSED);
    expect(ch.so(e.fd).error).to.equal(Errno.ECONNRESET);
    expect(ch.tcp.stats.challengeack).to.equal(1);
  });

  it('RFC 5961: a SYN in ESTABLISHED draws a challenge ACK, the connection stays', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: SYN, seq: e.rcv + 5 });
    ch.expectSegment({ flags: ACK, seq: e.snd, ack: e.rcv });
    expect(e.tp.state).to.equal(TCPS.ESTABLISHED);
  });

  it('RFC 5961: an ACK too old or for unsent data draws a challenge ACK; one per invalid_ratelimit ms per connection', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd - 200_000, tsVal: 5001 });
    ch.expectSegment({ flags: ACK, ack: e.rcv });
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 1000, tsVal: 5002 });
    ch.expectNone('within 500 ms of the last one');
    expect(ch.tcp.stats.challengeackConnLimited).to.equal(1);
    ch.clock.advance(500);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 1000, tsVal: 5003 });
    ch.expectSegment({ flags: ACK, ack: e.rcv });
    expect(ch.tcp.stats.challengeack).to.equal(2);
  });

  describe('challenge ACK limits (CVE-2016-5696)', () => {
    /** Challenge ACKs connection B gets for `n` in-window RSTs, one per ms, after `before` RSTs on connection A. */
    async function challengeAcksOfB(before: number, n: number): Promise<number> {
      const ch = new Channel();
      const a = await established(ch);
      const aPort = ch.localPort;
      ch.peerPort = 40001;
      const b = await established(ch);
      const bPort = ch.localPort;
      ch.localPort = aPort;
      ch.peerPort = 40000;
      for (let i = 0; i < before; i++) ch.inject({ flags: RST, seq: a.rcv + 100 });
      ch.localPort = bPort;
      ch.peerPort = 40001;
      ch.clearSent();
      for (let i = 0; i < n; i++) {
        ch.inject({ flags: RST, seq: b.rcv + 100 });
        ch.clock.advance(1);
      }
      expect(a.tp.state).to.equal(TCPS.ESTABLISHED);
      expect(b.tp.state).to.equal(TCPS.ESTABLISHED);
      return ch.sent.filter((c) => c.repr.dstPort === 40001 && c.repr.flags === ACK).length;
    }

    it('RSTs on connection A do not change how many challenge ACKs connection B gets', async () => {
      const alone = await challengeAcksOfB(0, 1200);
      const after = await challengeAcksOfB(100, 1200);
      expect(alone).to.equal(3); // at 0, 500 and 1000 ms
      expect(after).to.equal(alone);
    });

    it('the stack-wide budget of a second is random around ackratelimit, never a fixed number', async () => {
      const ch = new Channel({ tun: { ackLimit: 100, invalidRatelimitMs: 0 } });
      const e = await established(ch);
      const counts: number[] = [];
      for (let sec = 0; sec < 20; sec++) {
        const before = ch.tcp.stats.challengeack;
        for (let i = 0; i < 400; i++) ch.inject({ flags: RST, seq: e.rcv + 100 });
        counts.push(ch.tcp.stats.challengeack - before);
        ch.clock.advance(1000);
      }
      for (const c of counts) expect(c).to.be.within(50, 149);
      expect(new Set(counts).size, `budgets ${counts.join(',')}`).to.be.greaterThan(1);
      expect(ch.tcp.stats.challengeackRatelimited).to.equal(20 * 400 - counts.reduce((x, y) => x + y, 0));
    });
  });

  it('PAWS drops a segment with an old timestamp and ACKs (RFC 7323 5)', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 4000, payload: bytes(10) });
    ch.expectSegment({ flags: ACK, ack: e.rcv });
    expect(ch.so(e.fd).rcv.cc).to.equal(0);
    expect(ch.tcp.stats.pawsdrop).to.equal(1);
  });

  it('answers an old duplicate with an ACK (and a D-SACK)', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 5001, payload: bytes(100) });
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 5002, payload: bytes(100) });
    ch.expectSegment({ flags: ACK, ack: e.rcv + 100, options: { sack: [e.rcv, e.rcv + 100] } });
    expect(ch.tcp.stats.rcvduppack).to.equal(1);
  });

  it('retransmits on RTO with the timeout doubling each time', async () => {
    const ch = new Channel();
    const e = await established(ch);
    send(ch, e.fd, bytes(100));
    ch.expectSegment({ flags: ACK, seq: e.snd, len: 100 });
    const gaps: number[] = [];
    let last = ch.clock.now();
    for (let i = 0; i < 4; i++) {
      for (let t = 0; t < 100_000 && ch.sent.length === 0; t++) ch.clock.advance(1);
      ch.expectSegment({ seq: e.snd, len: 100 });
      gaps.push(ch.clock.now() - last);
      last = ch.clock.now();
    }
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).to.equal(2 * gaps[i - 1]!);
    expect(ch.tcp.stats.rexmttimeo).to.equal(4);
  });

  it('fast retransmit after three duplicate ACKs with SACK blocks (RFC 6675)', async () => {
    const ch = new Channel();
    const e = await established(ch);
    send(ch, e.fd, bytes(10 * 1448));
    for (let i = 0; i < 10; i++) ch.expectSegment({ seq: e.snd + i * 1448, len: 1448 });
    for (let i = 1; i <= 3; i++) {
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 5000 + i, sack: [e.snd + 1448, e.snd + 1448 * (i + 1)] });
    }
    const r = ch.expectSegment({ seq: e.snd, len: 1448 });
    expect(r.repr.flags & ACK).to.equal(ACK);
    expect(ch.tcp.stats.fastretrans).to.equal(1);
    expect(ch.tcp.stats.sackrecovery).to.equal(1);
  });

  it('fast retransmit after three duplicate ACKs without SACK (NewReno)', async () => {
    const ch = new Channel();
    const e = await established(ch, { sack: false });
    send(ch, e.fd, bytes(6 * 1448));
    for (let i = 0; i < 6; i++) ch.expectSegment({ seq: e.snd + i * 1448, len: 1448 });
    for (let i = 1; i <= 2; i++) ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 5000 + i });
    ch.expectNone('two dupacks are not enough');
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 5003 });
    ch.expectSegment({ seq: e.snd, len: 1448 });
    // A partial ACK retransmits the next hole (RFC 6582).
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 2 * 1448, tsVal: 5004 });
    ch.expectSegment({ seq: e.snd + 2 * 1448, len: 1448 });
    expect(ch.tcp.stats.newrenoPartial).to.equal(1);
  });

  it('probes a zero window with the persist timer, backing off, and resumes when it opens', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, window: 0, tsVal: 5001 });
    send(ch, e.fd, bytes(3000));
    ch.expectNone('zero window');
    const times: number[] = [];
    const t0 = ch.clock.now();
    for (let i = 0; i < 4; i++) {
      for (let t = 0; t < 100_000 && ch.sent.length === 0; t++) ch.clock.advance(1);
      ch.expectSegment({ seq: e.snd, len: 1 });
      times.push(ch.clock.now() - t0);
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, window: 0, tsVal: 5002 + i });
    }
    const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]!));
    if (process.env.DEBUG_TCP) console.log(times, gaps);
    expect(gaps[0]).to.be.at.least(500);
    expect(gaps[3]!).to.be.greaterThan(gaps[0]!);
    expect(ch.tcp.stats.persisttimeo).to.equal(4);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, window: 65535, tsVal: 6000 });
    ch.expectSegment({ seq: e.snd, len: 1448 });
  });

  it('SO_KEEPALIVE probes an idle peer and drops it after TCP_KEEPCNT probes', async () => {
    const ch = new Channel({ tun: { keepIdle: 10_000, keepIntvl: 1000, keepCnt: 3 } });
    const e = await established(ch);
    expect(ch.table.setsockopt(e.fd, SOL_SOCKET, SO.KEEPALIVE, 1)).to.equal(0);
    ch.clock.advance(10_000);
    ch.expectSegment({ flags: ACK, seq: e.snd - 1, ack: e.rcv });
    ch.clock.advance(1000);
    ch.expectSegment({ flags: ACK, seq: e.snd - 1 });
    ch.clock.advance(1000);
    ch.expectSegment({ flags: ACK, seq: e.snd - 1 });
    ch.clock.advance(1000);
    ch.expectSegment({ flags: RST | ACK });
    expect(ch.so(e.fd).error).to.equal(Errno.ETIMEDOUT);
  });

  it('a FIN moves ESTABLISHED -> CLOSE-WAIT; close then LAST-ACK -> CLOSED', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: ACK | FIN, seq: e.rcv, ack: e.snd, tsVal: 5001 });
    ch.expectSegment({ flags: ACK, ack: e.rcv + 1 });
    expect(e.tp.state).to.equal(TCPS.CLOSE_WAIT);
    await ch.table.close(e.fd);
    ch.expectSegment({ flags: FIN | ACK, seq: e.snd, ack: e.rcv + 1 });
    expect(e.tp.state).to.equal(TCPS.LAST_ACK);
    ch.inject({ flags: ACK, seq: e.rcv + 1, ack: e.snd + 1, tsVal: 5002 });
    expect(e.tp.state).to.equal(TCPS.CLOSED);
    expect(ch.layer.count).to.equal(0);
  });
});

describe('tcp state machine: closing', () => {
  it('FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT -> CLOSED after 2*MSL', async () => {
    const ch = new Channel({ tun: { msl: 1000 } });
    const e = await established(ch);
    await ch.table.close(e.fd);
    ch.expectSegment({ flags: FIN | ACK, seq: e.snd });
    expect(e.tp.state).to.equal(TCPS.FIN_WAIT_1);
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 1, tsVal: 5001 });
    expect(e.tp.state).to.equal(TCPS.FIN_WAIT_2);
    ch.inject({ flags: ACK | FIN, seq: e.rcv, ack: e.snd + 1, tsVal: 5002 });
    ch.expectSegment({ flags: ACK, ack: e.rcv + 1 });
    expect(e.tp.state).to.equal(TCPS.TIME_WAIT);
    expect(ch.layer.count, 'the socket is freed in TIME-WAIT').to.equal(0);
    // A retransmitted FIN is ACKed again and restarts the timer.
    ch.clock.advance(1500);
    ch.inject({ flags: ACK | FIN, seq: e.rcv, ack: e.snd + 1, tsVal: 5003 });
    ch.expectSegment({ flags: ACK, ack: e.rcv + 1 });
    ch.clock.advance(1999);
    expect(e.tp.state).to.equal(TCPS.TIME_WAIT);
    ch.clock.advance(1);
    expect(e.tp.state).to.equal(TCPS.CLOSED);
    expect(ch.tcp.tcbs.size).to.equal(0);
  });

  it('simultaneous close: FIN-WAIT-1 + FIN -> CLOSING -> TIME-WAIT', async () => {
    const ch = new Channel();
    const e = await established(ch);
    expect(ch.table.shutdown(e.fd, 1)).to.equal(0);
    ch.expectSegment({ flags: FIN | ACK, seq: e.snd });
    ch.inject({ flags: ACK | FIN, seq: e.rcv, ack: e.snd, tsVal: 5001 });
    ch.expectSegment({ flags: ACK, ack: e.rcv + 1 });
    expect(e.tp.state).to.equal(TCPS.CLOSING);
    ch.inject({ flags: ACK, seq: e.rcv + 1, ack: e.snd + 1, tsVal: 5002 });
    expect(e.tp.state).to.equal(TCPS.TIME_WAIT);
  });

  it('half-close: after shutdown(SHUT_WR) data still arrives', async () => {
    const ch = new Channel();
    const e = await established(ch);
    expect(ch.table.shutdown(e.fd, 1)).to.equal(0);
    ch.expectSegment({ flags: FIN | ACK });
    ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd + 1, tsVal: 5001, payload: bytes(300) });
    expect(e.tp.state).to.equal(TCPS.FIN_WAIT_2);
    expect(ch.so(e.fd).rcv.cc).to.equal(300);
  });

  it('SO_LINGER with 0 aborts with a RST', async () => {
    const ch = new Channel();
    const e = await established(ch);
    expect(ch.table.setsockopt(e.fd, SOL_SOCKET, SO.LINGER, { onoff: true, linger: 0 })).to.equal(0);
    await ch.table.close(e.fd);
    ch.expectSegment({ flags: RST | ACK, seq: e.snd });
    expect(ch.tcp.tcbs.size).to.equal(0);
  });

  it('TIME-WAIT is reused by a SYN with a newer timestamp (RFC 6191)', async () => {
    const ch = new Channel();
    const lfd = ch.listen();
    ch.inject({ flags: SYN, seq: 1000, tsVal: 10 });
    const sa = ch.expectSegment({ flags: SYN | ACK });
    ch.inject({ flags: ACK, seq: 1001, ack: sa.repr.seq + 1, tsVal: 11, tsEcr: sa.repr.tsVal! });
    const acc = await ch.table.accept(lfd);
    // The server closes first: it ends in TIME-WAIT.
    await ch.table.close(acc.fd);
    const fin = ch.expectSegment({ flags: FIN | ACK });
    ch.inject({ flags: ACK | FIN, seq: 1001, ack: fin.repr.seq + 1, tsVal: 12 });
    ch.expectSegment({ flags: ACK });
    expect(ch.tcp.stateCounts()['TIME-WAIT']).to.equal(1);
    ch.inject({ flags: SYN, seq: 900, tsVal: 5 });
    ch.expectSegment({ flags: ACK }, 'an older SYN gets an ACK');
    ch.inject({ flags: SYN, seq: 90_000, tsVal: 50 });
    ch.expectSegment({ flags: SYN | ACK, ack: 90_001 });
    expect(ch.tcp.stats.twReused).to.equal(1);
  });
});
