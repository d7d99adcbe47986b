/**
 * In-order data past the socket owner's account (input.ts `overAccount`):
 * the server's per-client quota is shared by all of a client's sockets, and
 * each one's window was advertised while the account had room — so a
 * segment inside the window may still find the account full (another
 * socket of the same owner took the room). It is dropped unacknowledged
 * and counted (`rcvquotadrop`, `rcvquotabyte`), an ACK says where the
 * stream stands, and the retransmission is taken once there is room.
 * Without an account nothing changes.
 */
import { expect } from 'chai';
import type { SbAccount } from '../../src/socket/sockbuf.js';
import { ACK, Channel, PSH } from './harness.js';
import { bytes, established } from './state-helpers.js';

describe('tcp input: in-order data past the owner\'s account', () => {
  it('is dropped unacknowledged and counted while the account is full; the retransmission is taken once there is room', async () => {
    const ch = new Channel();
    const e = await established(ch);
    const so = ch.so(e.fd);
    const account: SbAccount = { used: 0, limit: 64 * 1024 };
    so.rcv.setAccount(account);
    // Another socket of the same owner took all but 500 bytes of the room.
    account.used = account.limit - 500;
    ch.inject({ flags: ACK | PSH, seq: e.rcv, ack: e.snd, tsVal: 5001, payload: bytes(1000) });
    ch.expectSegment({ flags: ACK, ack: e.rcv }, 'an immediate ACK: nothing taken');
    expect(so.rcv.cc).to.equal(0);
    expect(ch.tcp.stats.rcvquotadrop).to.equal(1);
    expect(ch.tcp.stats.rcvquotabyte).to.equal(1000);
    // The other socket gave its storage back: the retransmission goes in.
    account.used = 0;
    ch.inject({ flags: ACK | PSH, seq: e.rcv, ack: e.snd, tsVal: 5002, payload: bytes(1000) });
    expect(so.rcv.cc).to.equal(1000);
    expect(account.used).to.equal(so.rcv.mbcnt);
    expect(ch.tcp.stats.rcvquotadrop).to.equal(1);
  });

  it('without an account (no quota) the same segment is taken', async () => {
    const ch = new Channel();
    const e = await established(ch);
    ch.inject({ flags: ACK | PSH, seq: e.rcv, ack: e.snd, tsVal: 5001, payload: bytes(1000) });
    expect(ch.so(e.fd).rcv.cc).to.equal(1000);
    expect(ch.tcp.stats.rcvquotadrop).to.equal(0);
  });
});
