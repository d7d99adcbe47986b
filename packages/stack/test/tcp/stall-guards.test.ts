/**
 * Review findings on TCP robustness: PMTU learnt only after the quoted
 * sequence number is validated (RFC 5927), no stall after ENOBUFS or a
 * failed deferred-output flush, zero-window probing instead of RTOs into a
 * closed window, and window arithmetic across the sequence wrap.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Errno } from '../../src/kern/errno.js';
import { mFreem, mFromBytes, mGethdr, type Mbuf } from '../../src/mbuf/index.js';
import { TCPS, TF, type TcpCb } from '../../src/transport/tcp/index.js';
import { usableWindow } from '../../src/transport/tcp/output.js';
import { A, ACK, B, Channel } from './harness.js';
import { bytes, established, send, tcbOf } from './state-helpers.js';

/** Advance the channel's clock in 10 ms steps until the stack sends something (bounded). */
function waitForSegment(ch: Channel, maxMs = 3_000_000): void {
  for (let t = 0; t < maxMs && ch.sent.length === 0; t += 10) ch.clock.advance(10);
}

/** An 8-byte quoted TCP header from our port to the peer with sequence number `seq`. */
function quote(ch: Channel, seq: number): Uint8Array {
  const q = new Uint8Array(8);
  q[0] = ch.localPort >>> 8;
  q[1] = ch.localPort & 0xff;
  q[2] = ch.peerPort >>> 8;
  q[3] = ch.peerPort & 0xff;
  new DataView(q.buffer).setUint32(4, seq >>> 0);
  return q;
}

describe('tcp stall guards and RFC 5927', () => {
  it('learns a path MTU only after the quoted sequence number is in [SND.UNA, SND.MAX)', async () => {
    const ch = new Channel();
    const e = await established(ch);
    const learnt: Array<[number, number]> = [];
    ch.host.ip.pmtuUpdate = (dst, mtu) => {
      learnt.push([dst as number, mtu]);
      return mtu;
    };
    send(ch, e.fd, bytes(1000));
    ch.expectSegment({ seq: e.snd, len: 1000 });
    const before = e.tp.maxseg;
    const err = (seq: number) => ({
      errno: Errno.EMSGSIZE,
      icmpType: 3,
      icmpCode: 4,
      mtu: 600,
      src: A,
      dst: B,
      srcPort: ch.localPort,
      dstPort: ch.peerPort,
      quoted: quote(ch, seq),
    });
    // A blind attacker's guess outside the flight: neither the cache nor the MSS move.
    ch.tcp.ctlinput(err(e.snd + 5000));
    expect(learnt).to.deep.equal([]);
    expect(e.tp.maxseg).to.equal(before);
    expect(ch.tcp.stats.pmtuBadseq).to.equal(1);
    ch.expectNone('after a refused error');
    // The real thing: cache told, MSS lowered, the data resent in the new size.
    ch.tcp.ctlinput(err(e.snd));
    expect(learnt).to.deep.equal([[B, 600]]);
    expect(e.tp.maxseg).to.equal(600 - 40 - 12);
    ch.expectSegment({ seq: e.snd, len: 548 });
  });

  it('arms the retransmission timer when a segment cannot be built (ENOBUFS) and sends it later', async () => {
    const ch = new Channel();
    const e = await established(ch);
    const m = mFromBytes(ch.host.pool, bytes(100))!;
    const held: Mbuf[] = [];
    for (let i = 0; i < 100_000; i++) {
      const h = mGethdr(ch.host.pool);
      if (h === null) break;
      held.push(h);
    }
    expect(mGethdr(ch.host.pool)).to.equal(null);
    const so = ch.so(e.fd);
    so.proto.usrreqs.send(so, m, 100, null, 0);
    ch.expectNone('no mbufs');
    expect(e.tp.timers.retransmitting, 'a timer must cover the unsent data').to.equal(true);
    expect(ch.tcp.stats.sendFailRearm).to.equal(1);
    for (const h of held) mFreem(h);
    waitForSegment(ch);
    ch.expectSegment({ seq: e.snd, len: 100 });
  });

  it('a throwing connection in the deferred-output flush does not stall the others', async () => {
    const ch = new Channel();
    const e1 = await established(ch);
    const e2 = await established(ch);
    const port2 = ch.localPort;
    const tp1: TcpCb = e1.tp;
    const tp2: TcpCb = tcbOf(ch, e2.fd);
    const state1 = tp1.state;
    Object.defineProperty(tp1, 'state', {
      configurable: true,
      get(): number {
        throw new Error('boom');
      },
    });
    tp2.flags |= TF.ACKNOW;
    ch.tcp.inputBatchStart();
    ch.tcp.outputAfterInput(tp1);
    ch.tcp.outputAfterInput(tp2);
    expect(() => ch.tcp.inputBatchEnd()).to.throw('boom');
    Object.defineProperty(tp1, 'state', { configurable: true, writable: true, enumerable: true, value: state1 });
    await new Promise<void>((r) => setImmediate(r));
    expect(tp2.flags & TF.OUTPUT_DEFERRED, 'tp2 must not stay flagged').to.equal(0);
    expect(ch.sent.map((c) => c.repr.srcPort)).to.deep.equal([port2]);
    expect(ch.tcp.stats.deferredRearm).to.equal(1);
    // tp1 can be deferred again (its flag was cleared before its output ran).
    expect(tp1.flags & TF.OUTPUT_DEFERRED).to.equal(0);
  });

  it('a zero window after an RTO is probed with backoff, never timed out, and data flows when it opens', async () => {
    const ch = new Channel();
    const e = await established(ch);
    send(ch, e.fd, bytes(3000));
    ch.clearSent();
    waitForSegment(ch);
    ch.expectSegment({ seq: e.snd, len: 1448 }, 'RTO retransmission');
    ch.clearSent();
    const una = e.snd + 1448;
    // The peer takes the resent segment and closes its window; two segments' worth stays queued.
    ch.inject({ flags: ACK, seq: e.rcv, ack: una, window: 0, tsVal: 5001 });
    ch.expectNone('zero window');
    expect(e.tp.timers.persisting).to.equal(true);
    const times: number[] = [];
    const t0 = ch.clock.now();
    for (let i = 0; i < 16; i++) {
      waitForSegment(ch);
      ch.expectSegment({ seq: una, len: 1 }, `probe ${i}`);
      times.push(ch.clock.now() - t0);
      ch.inject({ flags: ACK, seq: e.rcv, ack: una, window: 0, tsVal: 5002 + i });
    }
    const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]!));
    expect(gaps[5]!).to.be.greaterThan(gaps[1]!);
    expect(times.at(-1)!).to.be.greaterThan(5 * 60_000); // far beyond 12 RTOs (the first is at most 60 s)
    expect(e.tp.state).to.equal(TCPS.ESTABLISHED);
    expect(ch.so(e.fd).error).to.equal(0);
    expect(ch.tcp.stats.timeoutdrop).to.equal(0);
    expect(ch.tcp.stats.zeroWindowPersist).to.be.at.least(1);
    ch.inject({ flags: ACK, seq: e.rcv, ack: una, window: 65535, tsVal: 6000 });
    ch.expectSegment({ seq: una, len: 1448 });
  });

  it('usableWindow is SND.UNA + SND.WND - SND.MAX modulo 2^32 (SACK new-data room across the wrap)', () => {
    // Just below the wrap: 0xffffff00 + 0x1000 - 0x100 would be ~2^32 in plain arithmetic.
    expect(usableWindow(0xffffff00, 0x1000, 0x100)).to.equal(0xe00);
    expect(usableWindow(0xfffff000, 0x100, 0x10)).to.equal(0);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (una, wnd, inflight) => {
          const max = (una + inflight) >>> 0;
          expect(usableWindow(una, wnd, max)).to.equal(Math.max(0, wnd - inflight));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
