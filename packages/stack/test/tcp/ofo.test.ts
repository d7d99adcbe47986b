/**
 * TCP's out-of-order data, charged and bounded (ofo.ts, reass.ts): one
 * connection on a Channel flooded with out-of-order segments holds no more
 * than its receive buffer's storage allows, pins no cluster for tiny
 * segments, advertises no window for memory it holds, counts every refusal,
 * and still delivers the right bytes once the holes fill.
 */
import { expect } from 'chai';
import { mFree, mGet, mGetcl, type Mbuf } from '../../src/mbuf/index.js';
import { PRESSURE_WINDOW_SEGS, tcpRcvSpace } from '../../src/transport/tcp/ofo.js';
import { ACK, Channel, SYN } from './harness.js';
import { bytes, established } from './state-helpers.js';

describe('tcp out-of-order data: charged and bounded', () => {
  it('200-byte segments with holes pin no cluster; entries stop at the cap (counted)', async () => {
    const ch = new Channel();
    const e = await established(ch, { wscale: 7 });
    const n = 2000;
    let ts = 5001;
    for (let k = 0; k < n; k++) {
      const off = 1000 + 400 * k;
      ch.inject({ flags: ACK, seq: e.rcv + off, ack: e.snd, tsVal: ts++, payload: bytes(200, off) });
    }
    const q = e.tp.reass;
    const st = ch.tcp.stats;
    expect(q.length).to.equal(ch.tcp.tun.reassMaxSegs);
    expect(q.clusters, 'tiny segments were copied out of their clusters').to.equal(0);
    expect(ch.host.pool.stats().clustersInUse, 'the pool keeps its clusters').to.equal(0);
    expect(st.rcvoodrop, 'refused above the cap').to.equal(n - ch.tcp.tun.reassMaxSegs);
    expect(st.rcvoocompact).to.be.at.least(ch.tcp.tun.reassMaxSegs);
    expect(ch.tcp.reassBudget.mbufs).to.equal(q.mbufs);
    ch.clearSent();
    ch.layer.abort(ch.so(e.fd));
    expect(ch.tcp.reassBudget.mbufs).to.equal(0);
    ch.host.pool.assertAllFree();
  });

  it('charges clusters against sb_mbmax, stops the window, and delivers in order once the holes fill', async () => {
    const ch = new Channel();
    ch.layer.tunables.tcpRecvspace = 256 * 1024;
    const e = await established(ch, { wscale: 7 });
    const so = ch.so(e.fd);
    const q = e.tp.reass;
    const st = ch.tcp.stats;
    let ts = 5001;
    // 400-byte segments every 500 bytes across the window: each holds a cluster.
    for (let off = 100; off + 400 <= 256 * 1024; off += 500) {
      ch.inject({ flags: ACK, seq: e.rcv + off, ack: e.snd, tsVal: ts++, payload: bytes(400, off) });
      expect(q.mbcnt, 'within the receive buffer storage').to.be.at.most(so.rcv.mbmax - so.rcv.mbcnt);
    }
    expect(st.rcvoomemdrop, 'refused for lack of storage').to.be.greaterThan(0);
    expect(q.clusters).to.be.greaterThan(100);
    expect(tcpRcvSpace(e.tp), 'no window offered for memory the queue holds').to.be.lessThan(so.rcv.space());
    // The last ACK carries SACK blocks for what is queued.
    const last = ch.sent[ch.sent.length - 1]!;
    expect(last.repr.sack).to.not.equal(null);
    ch.clearSent();
    // Fill each hole in turn: everything queued is delivered, in order.
    let rcv = e.rcv;
    for (let i = 0; i < 1000 && q.length > 0; i++) {
      const off = (rcv - e.rcv) >>> 0;
      ch.inject({ flags: ACK, seq: rcv, ack: e.snd, tsVal: ts++, payload: bytes(100, off) });
      rcv = e.tp.rcvNxt;
    }
    expect(q.length).to.equal(0);
    const got = new Uint8Array(so.rcv.cc);
    so.rcv.copydata(0, so.rcv.cc, got, 0);
    expect(Buffer.from(got).equals(Buffer.from(bytes(got.length, 0))), 'bytes in order').to.equal(true);
    expect(got.length).to.equal((e.tp.rcvNxt - e.rcv) >>> 0);
    expect(ch.tcp.reassBudget.clusters).to.equal(0);
    ch.layer.abort(so);
    ch.host.pool.assertAllFree();
  });

  it('the stack-wide budget bounds all connections together', async () => {
    const ch = new Channel({ tun: { reassMaxClusters: 40, reassMaxMbufs: 60 } });
    const conns = [];
    for (let c = 0; c < 4; c++) {
      ch.peerPort = 40000 + c;
      conns.push(await established(ch, { wscale: 7 }));
    }
    let ts = 5001;
    for (let k = 0; k < 50; k++) {
      for (let c = 0; c < conns.length; c++) {
        const e = conns[c]!;
        ch.peerPort = 40000 + c;
        ch.localPort = e.tp.inp.lport;
        const off = 1000 + 1000 * k;
        ch.inject({ flags: ACK, seq: e.rcv + off, ack: e.snd, tsVal: ts++, payload: bytes(600, off) });
        expect(ch.tcp.reassBudget.clusters).to.be.at.most(40);
        expect(ch.tcp.reassBudget.mbufs).to.be.at.most(60);
      }
    }
    const st = ch.tcp.stats;
    expect(st.rcvoobudgetdrop + st.rcvooprunedother).to.be.greaterThan(0);
    // Shared fairly: no queue holds more than a fair share plus one.
    for (const e of conns) expect(e.tp.reass.clusters).to.be.at.most(11);
    ch.clearSent();
    for (const e of conns) ch.layer.abort(ch.so(e.fd));
    ch.host.pool.assertAllFree();
  });

  describe('under memory pressure', () => {
    /** Put the Channel's pool under pressure: watermarks at 100/50 clusters, 100 held. */
    function squeeze(ch: Channel): Mbuf[] {
      const pool = ch.host.pool;
      pool.setPressureLimits({ pressureHiwat: 100, pressureLowat: 50 });
      const held: Mbuf[] = [];
      for (let i = 0; i < 100; i++) held.push(mGetcl(pool)!);
      expect(pool.underPressure).to.equal(true);
      return held;
    }

    it('refuses new out-of-order data, prunes the queues once, stops window growth, still delivers in order', async () => {
      const ch = new Channel();
      const e = await established(ch, { wscale: 7 });
      const so = ch.so(e.fd);
      const st = ch.tcp.stats;
      let ts = 5001;
      for (let k = 0; k < 10; k++) ch.inject({ flags: ACK, seq: e.rcv + 5000 + 1000 * k, ack: e.snd, tsVal: ts++, payload: bytes(500) });
      expect(e.tp.reass.length).to.equal(10);
      const held = squeeze(ch);
      const edge = e.tp.rcvAdv;
      ch.inject({ flags: ACK, seq: e.rcv + 3000, ack: e.snd, tsVal: ts++, payload: bytes(500) });
      expect(st.rcvoopressure).to.equal(1);
      expect(st.rcvoopressureprune).to.equal(1);
      expect(e.tp.reass.length, 'every queue pruned').to.equal(0);
      expect(ch.tcp.reassBudget.mbufs).to.equal(0);
      // In-order data still goes in; reading it does not reopen the window past the old edge.
      for (let k = 0; k < 40; k++) {
        ch.inject({ flags: ACK, seq: e.rcv + 1448 * k, ack: e.snd, tsVal: ts++, payload: bytes(1448, 1448 * k) });
      }
      expect(so.rcv.cc).to.equal(40 * 1448);
      so.rcv.drop(so.rcv.cc);
      so.proto.usrreqs.rcvd(so, 0);
      ch.clock.advance(200);
      expect(tcpRcvSpace(e.tp)).to.equal(PRESSURE_WINDOW_SEGS * e.tp.ourMss);
      // (Rounding to the window scale may nudge it by less than a unit per ACK; reading
      // 58 KB without pressure would move it by as much.)
      expect((e.tp.rcvAdv - edge) | 0, 'the right edge did not grow').to.be.lessThan(e.tp.ourMss);
      // Pressure over: out-of-order data is queued again and the window reopens.
      for (const m of held) mFree(m);
      expect(ch.host.pool.underPressure).to.equal(false);
      ch.inject({ flags: ACK, seq: e.rcv + 40 * 1448 + 3000, ack: e.snd, tsVal: ts++, payload: bytes(500) });
      expect(e.tp.reass.length).to.equal(1);
      so.proto.usrreqs.rcvd(so, 0);
      ch.clock.advance(200);
      expect((e.tp.rcvAdv - edge) | 0, 'window grows again').to.be.greaterThan(0);
      ch.clearSent();
      ch.layer.abort(so);
      ch.host.pool.assertAllFree();
    });

    it('ACKs still go out when only the mbuf reserve is left (received data too)', async () => {
      const ch = new Channel();
      const e = await established(ch, { wscale: 7 });
      const pool = ch.host.pool;
      pool.setPressureLimits({ mbufReserve: 8 });
      const held: Mbuf[] = [];
      for (let i = 0; i < 100_000; i++) {
        const m = mGet(pool);
        if (m === null) break;
        held.push(m);
      }
      expect(pool.mbufsAvailable(), 'everything but the reserve is taken').to.equal(0);
      const senderr = ch.tcp.stats.senderr;
      ch.inject({ flags: ACK, seq: e.rcv, ack: e.snd, tsVal: 5001, payload: bytes(1448) });
      ch.inject({ flags: ACK, seq: e.rcv + 1448, ack: e.snd, tsVal: 5002, payload: bytes(1448, 1448) });
      ch.expectSegment({ flags: ACK, ack: e.rcv + 2896 });
      expect(ch.tcp.stats.senderr).to.equal(senderr);
      expect(ch.so(e.fd).rcv.cc).to.equal(2896);
      for (const m of held) mFree(m);
      ch.layer.abort(ch.so(e.fd));
      pool.assertAllFree();
    });

    it('refuses new SYN cache entries (counted): a cookie answers, or nothing without cookies; entries again once the pressure ends', () => {
      const ch = new Channel();
      const lfd = ch.listen();
      const st = ch.tcp.stats;
      const held = squeeze(ch);
      ch.inject({ flags: SYN, seq: 1000, mss: 1460 });
      ch.expectSegment({ flags: SYN | ACK, ack: 1001 }, 'a cookie SYN-ACK');
      expect([st.scPressure, st.scCookiesSent, st.scAdded]).to.deep.equal([1, 1, 0]);
      ch.tcp.tun.syncookies = 0;
      ch.peerPort++;
      ch.inject({ flags: SYN, seq: 1000, mss: 1460 });
      ch.expectNone('no SYN-ACK under pressure without cookies');
      expect([st.scPressure, st.scAdded]).to.deep.equal([2, 0]);
      for (const m of held) mFree(m);
      ch.inject({ flags: SYN, seq: 1000, mss: 1460 });
      ch.expectSegment({ flags: SYN | ACK, ack: 1001 });
      expect(st.scAdded).to.equal(1);
      ch.table.close(lfd);
      ch.host.pool.assertAllFree();
    });
  });
});
