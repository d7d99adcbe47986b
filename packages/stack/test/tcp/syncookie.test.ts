/**
 * LISTEN with a full SYN cache: SYN cookies (RFC 4987 3.6, issue 11). One
 * stack on a Channel; the test plays the peers with crafted segments.
 */
import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { SYNCOOKIE_MSS, SYNCOOKIE_PERIOD_MS, SynCookies, TCPS, TF, type TcpCb } from '../../src/transport/tcp/index.js';
import { ACK, A, B, Channel, PSH, RST, SYN } from './harness.js';
import { bytes } from './state-helpers.js';

const LIMIT = 4;

/** A listener whose SYN cache holds LIMIT fresh entries (from ports 30000..), so it is full. */
function fullCache(tun: Record<string, number> = {}): { ch: Channel; lfd: number } {
  const ch = new Channel({ tun: { syncacheLimit: LIMIT, syncacheBucketLimit: LIMIT, ...tun } });
  const lfd = ch.listen();
  const port = ch.peerPort;
  for (let i = 0; i < LIMIT; i++) {
    ch.peerPort = 30000 + i;
    ch.inject({ flags: SYN, seq: 1000 + i });
  }
  ch.peerPort = port;
  expect(ch.tcp.syncache.size).to.equal(LIMIT);
  ch.clearSent();
  return { ch, lfd };
}

describe('tcp: SYN cookies (LISTEN, SYN cache full)', () => {
  it('a SYN still gets a SYN-ACK, nothing is kept; its ACK makes the connection with the options the cookie carried', async () => {
    const { ch, lfd } = fullCache();
    ch.inject({ flags: SYN, seq: 7000, mss: 1460, windowScale: 7, sackPermitted: true, tsVal: 900 });
    const sa = ch.expectSegment({ flags: SYN | ACK, ack: 7001, options: { mss: 1460, sackPermitted: true, ts: true, tsEcr: 900 } });
    expect(sa.repr.windowScale).to.not.equal(null);
    expect(ch.tcp.syncache.size).to.equal(LIMIT);
    expect(ch.tcp.stats.scCookiesSent).to.equal(1);
    // The handshake's ACK, with data.
    ch.inject({ flags: ACK | PSH, seq: 7001, ack: sa.repr.seq + 1, window: 1000, tsVal: 901, tsEcr: sa.repr.tsVal!, payload: bytes(300) });
    expect(ch.tcp.stats.scCookiesOk).to.equal(1);
    const acc = await ch.table.accept(lfd);
    expect(acc.errno).to.equal(0);
    const tp = (ch.so(acc.fd).pcb as { ppcb: TcpCb }).ppcb;
    expect(tp.state).to.equal(TCPS.ESTABLISHED);
    expect(tp.iss).to.equal(sa.repr.seq);
    expect(tp.maxseg).to.equal(1460 - 12);
    expect(tp.sndScale).to.equal(7);
    expect(tp.sndWnd).to.equal(1000 * 128);
    expect((tp.flags & TF.SACK_PERMIT) !== 0).to.equal(true);
    expect(tp.tsRecent).to.equal(901);
    expect(ch.so(acc.fd).rcv.cc).to.equal(300);
  });

  it('without options: MSS 536, no window scale, no SACK, no timestamps', async () => {
    const { ch, lfd } = fullCache();
    ch.inject({ flags: SYN, seq: 7000 });
    const sa = ch.expectSegment({ flags: SYN | ACK, options: { windowScale: null, sackPermitted: false, ts: false } });
    ch.inject({ flags: ACK, seq: 7001, ack: sa.repr.seq + 1 });
    const acc = await ch.table.accept(lfd);
    const tp = (ch.so(acc.fd).pcb as { ppcb: TcpCb }).ppcb;
    expect(tp.maxseg).to.equal(536);
    expect(tp.sndScale).to.equal(0);
    expect(tp.flags & (TF.SACK_PERMIT | TF.RCVD_TSTMP | TF.RCVD_SCALE)).to.equal(0);
  });

  it('a forged or mismatched ACK is refused with a RST and makes nothing', () => {
    const { ch, lfd } = fullCache();
    ch.inject({ flags: SYN, seq: 7000 });
    const sa = ch.expectSegment({ flags: SYN | ACK });
    ch.inject({ flags: ACK, seq: 7001, ack: sa.repr.seq + 2 }); // wrong ACK
    ch.expectSegment({ flags: RST, seq: sa.repr.seq + 2 });
    ch.inject({ flags: ACK, seq: 7002, ack: sa.repr.seq + 1 }); // wrong peer ISN
    ch.expectSegment({ flags: RST });
    ch.peerPort++;
    ch.inject({ flags: ACK, seq: 7001, ack: sa.repr.seq + 1 }); // another 4-tuple
    ch.expectSegment({ flags: RST });
    expect(ch.tcp.stats.scCookiesBad).to.equal(3);
    expect(ch.tcp.stats.scCookiesOk).to.equal(0);
    expect(ch.so(lfd).q.length).to.equal(0);
  });

  it('a cookie expires after two periods', () => {
    const { ch } = fullCache();
    ch.inject({ flags: SYN, seq: 7000 });
    const sa = ch.expectSegment({ flags: SYN | ACK });
    ch.clock.advance(2 * SYNCOOKIE_PERIOD_MS);
    ch.clearSent(); // the cache's own SYN-ACK retransmissions
    ch.inject({ flags: ACK, seq: 7001, ack: sa.repr.seq + 1 });
    ch.expectSegment({ flags: RST });
    expect(ch.tcp.stats.scCookiesOk).to.equal(0);
  });

  it('net.inet.tcp.syncookies = 0: the SYN is dropped when the cache is full', () => {
    const { ch } = fullCache();
    expect(ch.host.sysctl.get('net.inet.tcp.syncookies')).to.equal(1);
    ch.host.sysctl.set('net.inet.tcp.syncookies', 0);
    ch.inject({ flags: SYN, seq: 7000 });
    ch.expectNone();
    expect(ch.tcp.stats.scCookiesSent).to.equal(0);
    expect(ch.tcp.stats.listendrop).to.equal(1);
  });

  it('no cookie sent lately: an ACK for no entry is a plain RST, not checked as a cookie', () => {
    const ch = new Channel();
    ch.listen();
    ch.inject({ flags: ACK, seq: 7001, ack: 12345 });
    ch.expectSegment({ flags: RST, seq: 12345 });
    expect(ch.tcp.stats.scCookiesBad).to.equal(0);
    expect(ch.tcp.stats.scBadack).to.equal(1);
  });
});

describe('SynCookies codec', () => {
  it('round-trips every MSS step, window scale and SACK bit; depends on every input', () => {
    const clock = new ManualClock(5_000_000);
    const c = new SynCookies(clock, new Uint8Array(32).fill(7));
    for (const mss of SYNCOOKIE_MSS) {
      for (const ws of [null, 0, 7, 14]) {
        for (const sack of [false, true]) {
          const iss = c.encode(A, 80, B, 40000, 123456, mss + 3, ws, sack);
          expect(c.decode(A, 80, B, 40000, 123456, iss)).to.deep.equal({ mss, wscale: ws, sackOk: sack });
          expect(c.decode(A, 80, B, 40001, 123456, iss)).to.equal(null);
          expect(c.decode(A, 80, B, 40000, 123457, iss)).to.equal(null);
          expect(c.decode(A, 81, B, 40000, 123456, iss)).to.equal(null);
          expect(c.decode(A, 80, B, 40000, 123456, (iss ^ 0x08) >>> 0), 'option bits are authenticated').to.equal(null);
        }
      }
    }
    const iss = c.encode(A, 80, B, 40000, 1, 1460, null, false);
    clock.advance(SYNCOOKIE_PERIOD_MS);
    expect(c.decode(A, 80, B, 40000, 1, iss)).to.not.equal(null); // previous period: still good
  });
});
