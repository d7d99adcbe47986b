/**
 * Send-buffer autosizing (sndbuf.ts) on a Channel: a sender whose peer
 * acknowledges everything and offers a large window grows its send buffer
 * past the default in `net.inet.tcp.sendbuf_inc` steps; a buffer sized by
 * SO_SNDBUF never grows; under the pool's memory pressure growth is refused
 * (counted) and the buffer's high-water mark falls back toward the default
 * as the peer acknowledges data — never below what is queued — and grows
 * again once pressure ends.
 */
import { expect } from 'chai';
import { mFree, mFromBytes, mGetcl, type Mbuf } from '../../src/mbuf/index.js';
import { SO, SOL_SOCKET } from '../../src/socket/index.js';
import { ACK, Channel } from './harness.js';
import { bytes, established, type Est } from './state-helpers.js';

const BASE = 64 * 1024;

/** A connection whose send buffer starts at {@link BASE} and whose peer offers 8 MiB (65535 << 7). */
async function sender(): Promise<{ ch: Channel; e: Est }> {
  const ch = new Channel();
  ch.layer.tunables.tcpSendspace = BASE;
  const e = await established(ch, { wscale: 7 });
  return { ch, e };
}

/** Fill the send buffer to its room (as a writer blocked in sosend would), at most `max` bytes. */
function fill(ch: Channel, e: Est, max = 1 << 20): number {
  const so = ch.so(e.fd);
  const n = Math.min(so.snd.space(), max);
  if (n <= 0) return 0;
  // usrreqs.send takes an mbuf chain, as sosend hands it.
  expect(so.proto.usrreqs.send(so, mFromBytes(ch.host.pool, bytes(n))!, n, null, 0)).to.equal(0);
  return n;
}

let ts = 6000;
/** The peer acknowledges `n` bytes past SND.UNA (all that was sent when `n` is undefined), window 65535 << 7. */
function ack(ch: Channel, e: Est, n?: number): void {
  const tp = e.tp;
  const to = n === undefined ? tp.sndMax : (tp.sndUna + n) >>> 0;
  ch.inject({ flags: ACK, seq: e.rcv, ack: to, window: 65535, tsVal: ts++, tsEcr: 0 });
  ch.clearSent();
}

/** Rounds of "fill, peer acknowledges all": at most `rounds`, until `until` holds. */
function run(ch: Channel, e: Est, rounds: number, until: () => boolean): void {
  for (let i = 0; i < rounds && !until(); i++) {
    fill(ch, e);
    ack(ch, e);
  }
}

describe('tcp send-buffer autosizing (sndbuf.ts)', () => {
  it('grows an autosized buffer while the peer takes more, in sendbuf_inc steps, up to sendbuf_max', async () => {
    const { ch, e } = await sender();
    const so = ch.so(e.fd);
    const st = ch.tcp.stats;
    expect([so.snd.autosize, so.snd.autoBase, so.snd.hiwat]).to.deep.equal([true, BASE, BASE]);
    ch.tcp.tun.sendbufMax = BASE + 8 * ch.tcp.tun.sendbufInc;
    run(ch, e, 400, () => so.snd.hiwat >= ch.tcp.tun.sendbufMax);
    expect(so.snd.hiwat).to.equal(ch.tcp.tun.sendbufMax);
    expect(st.sndbufgrow).to.equal(8);
    // At the maximum it grows no more.
    run(ch, e, 20, () => false);
    expect(so.snd.hiwat).to.equal(ch.tcp.tun.sendbufMax);
    expect(st.sndbufgrow).to.equal(8);
    ack(ch, e);
    ch.layer.abort(so);
    ch.host.pool.assertAllFree();
  });

  it('a buffer sized by SO_SNDBUF, or with net.inet.tcp.sendbuf_auto 0, never grows', async () => {
    for (const how of ['SO_SNDBUF', 'sysctl'] as const) {
      const { ch, e } = await sender();
      const so = ch.so(e.fd);
      if (how === 'SO_SNDBUF') {
        expect(ch.table.setsockopt(e.fd, SOL_SOCKET, SO.SNDBUF, BASE)).to.equal(0);
        expect(so.snd.autosize).to.equal(false);
      } else ch.tcp.tun.sendbufAuto = 0;
      run(ch, e, 100, () => false);
      expect(so.snd.hiwat, how).to.equal(BASE);
      expect(ch.tcp.stats.sndbufgrow, how).to.equal(0);
      ack(ch, e);
      ch.layer.abort(so);
      ch.host.pool.assertAllFree();
    }
  });

  it('under memory pressure: growth refused (counted), the buffer shrinks toward the default as it drains, never below what it holds; grows again after', async () => {
    const { ch, e } = await sender();
    const so = ch.so(e.fd);
    const st = ch.tcp.stats;
    const pool = ch.host.pool;
    // Grown well past the default first.
    run(ch, e, 400, () => so.snd.hiwat >= BASE + 16 * ch.tcp.tun.sendbufInc);
    const grown = so.snd.hiwat;
    expect(grown).to.be.at.least(BASE + 16 * ch.tcp.tun.sendbufInc);
    // The buffer full, nothing acknowledged yet.
    fill(ch, e);
    expect(so.snd.cc).to.equal(so.snd.hiwat);
    // Pressure: the watermark just above what is in use, 50 clusters taken; lowat 0 keeps it on.
    const inUse = pool.stats().clustersInUse;
    pool.setPressureLimits({ pressureHiwat: inUse + 50, pressureLowat: 0 });
    const held: Mbuf[] = [];
    for (let i = 0; i < 50; i++) held.push(mGetcl(pool)!);
    expect(pool.underPressure).to.equal(true);
    const grows = st.sndbufgrow;
    // The peer acknowledges 16 KiB at a time; the writer fills whatever room there is.
    let last = so.snd.hiwat;
    for (let i = 0; i < 200 && so.snd.hiwat > BASE; i++) {
      ack(ch, e, 16 * 1024);
      expect(so.snd.hiwat, 'never below what is queued').to.be.at.least(so.snd.cc);
      expect(so.snd.hiwat, 'never grows under pressure').to.be.at.most(last);
      expect(so.snd.hiwat, 'never below the default').to.be.at.least(BASE);
      last = so.snd.hiwat;
      fill(ch, e);
    }
    expect(so.snd.hiwat, 'back at the default').to.equal(BASE);
    expect(st.sndbufgrow, 'no growth under pressure').to.equal(grows);
    expect(st.sndbufshrink).to.be.at.least(1);
    expect(st.sndbufshrinkbyte).to.equal(grown - BASE);
    // Still sending at the default size: a full buffer with the window open would have grown it.
    run(ch, e, 20, () => false);
    expect(so.snd.hiwat).to.equal(BASE);
    expect(st.sndbufpressure, 'growth refused and counted').to.be.at.least(1);
    // Pressure over: it grows again.
    for (const m of held) mFree(m);
    pool.setPressureLimits({ pressureHiwat: pool.nmbclusters, pressureLowat: pool.nmbclusters - (pool.nmbclusters >> 3) });
    expect(pool.underPressure).to.equal(false);
    run(ch, e, 100, () => so.snd.hiwat > BASE);
    expect(so.snd.hiwat).to.be.greaterThan(BASE);
    expect(st.sndbufgrow).to.be.greaterThan(grows);
    ack(ch, e);
    ch.layer.abort(so);
    pool.assertAllFree();
  });
});
