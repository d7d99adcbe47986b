/**
 * `net.inet.tcp.delack_ms` and `net.inet.tcp.tso` reach the per-segment
 * code however they are written: the protocol keeps hot copies of both
 * (`TcpProtocol.delackMsHot`, `tsoHot`, read by every segment instead of
 * going through `tun`), and `tun` holds them as accessors over those
 * copies — so a sysctl write, a direct `tun.delackMs = …` and the
 * constructor's tunables all land where the data path reads. A write that
 * missed the copy would leave the delayed ACK running: the behaviour test
 * below would see it.
 */
import { expect } from 'chai';
import { connectPair, Flow, pattern, runFlows, WirePair } from './harness.js';

describe('tcp tunables read by every segment (delack_ms, tso)', () => {
  it('constructor, tun and sysctl writes all reach the hot copies, and reads agree', () => {
    const pair = new WirePair({ tun: { delackMs: 17, tso: 0 } });
    const tcp = pair.a.tcp;
    expect([tcp.tun.delackMs, tcp.delackMsHot, tcp.tun.tso, tcp.tsoHot]).to.deep.equal([17, 17, 0, 0]);
    tcp.tun.delackMs = 0;
    tcp.tun.tso = 1;
    expect([tcp.delackMsHot, tcp.tsoHot]).to.deep.equal([0, 1]);
    const sc = pair.a.net.stack.sysctl;
    expect(sc.set('net.inet.tcp.delack_ms', 120), 'the old value').to.equal(0);
    expect(sc.set('net.inet.tcp.tso', 0), 'the old value').to.equal(1);
    expect([tcp.tun.delackMs, tcp.delackMsHot, sc.get('net.inet.tcp.delack_ms')]).to.deep.equal([120, 120, 120]);
    expect([tcp.tun.tso, tcp.tsoHot, sc.get('net.inet.tcp.tso')]).to.deep.equal([0, 0, 0]);
    // Each stack its own: the other protocol's copies did not move.
    expect([pair.b.tcp.delackMsHot, pair.b.tcp.tsoHot]).to.deep.equal([17, 0]);
    pair.close();
  });

  it('delack_ms 0 written through tun: a lone segment is ACKed at once, its delayed-ACK timer never fires', async () => {
    const pair = new WirePair();
    const c = await connectPair(pair, 80);
    const lone = async (): Promise<void> => {
      const f = new Flow(c.a, c.b, 100, pattern(101));
      runFlows(pair, [f], 60_000);
      expect(f.received).to.equal(100);
      // Let any pending delayed ACK fire (the default is 40 ms).
      for (let i = 0; i < 500; i++) {
        (pair.clock as unknown as { advance(ms: number): void }).advance(1);
        pair.flush();
      }
    };
    await lone();
    expect(pair.b.tcp.stats.delack, 'with the default, the lone segment\'s ACK waited for the timer').to.equal(1);
    pair.b.tcp.tun.delackMs = 0; // a direct write, not through sysctl
    await lone();
    expect(pair.b.tcp.stats.delack, 'with 0, it went at once').to.equal(1);
    pair.b.net.stack.sysctl.set('net.inet.tcp.delack_ms', 40);
    await lone();
    expect(pair.b.tcp.stats.delack, 'and back on through sysctl').to.equal(2);
    pair.close();
    expect(pair.a.pool.isAllFree() && pair.b.pool.isAllFree()).to.equal(true);
  });
});
