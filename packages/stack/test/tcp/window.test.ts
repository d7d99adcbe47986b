import { expect } from 'chai';
import fc from 'fast-check';
import { seqAdd } from '../../src/transport/tcp/seq.js';
import {
  receiveWindow,
  shouldSendData,
  windowUpdateWorthSending,
  type ReceiveWindowInput,
  type SendDecisionInput,
} from '../../src/transport/tcp/window.js';

describe('tcp/window (RFC 1122 §4.2.3.3–4)', () => {
  describe('receiver SWS avoidance', () => {
    const base: ReceiveWindowInput = { space: 0, bufSize: 65535, rcvNxt: 1000, rcvAdv: 1000, mss: 1460, scale: 0 };

    it('offers the free space when the opening is worth it', () => {
      expect(receiveWindow({ ...base, space: 65535 })).to.deep.equal({ field: 65535, window: 65535 });
      expect(receiveWindow({ ...base, space: 1460 }).window).to.equal(1460);
    });

    it('holds back an opening smaller than min(bufSize/2, MSS)', () => {
      // Window currently closed; only 1000 bytes freed: stay at 0.
      expect(receiveWindow({ ...base, space: 1000 }).window).to.equal(0);
      // Small buffer: half of it is the threshold.
      expect(receiveWindow({ ...base, bufSize: 1000, space: 500 }).window).to.equal(500);
      expect(receiveWindow({ ...base, bufSize: 1000, space: 499 }).window).to.equal(0);
    });

    it('never shrinks the window (right edge never moves left)', () => {
      // 4000 still offered, only 3000 free now: keep offering 4000.
      expect(receiveWindow({ ...base, rcvAdv: 5000, space: 3000 }).window).to.equal(4000);
    });

    it('scales and rounds down, but not below the edge already offered', () => {
      const w = receiveWindow({ ...base, scale: 7, bufSize: 1 << 20, space: 100_000 });
      expect(w.field).to.equal(Math.floor(100_000 / 128));
      expect(w.window).to.equal(w.field * 128);
      const keep = receiveWindow({ ...base, scale: 7, bufSize: 1 << 20, rcvAdv: 1000 + 1000, space: 1000 });
      expect(keep.window).to.be.at.least(1000);
      expect(keep.field).to.equal(8);
    });

    it('works across the wrap and never shrinks (property)', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: 0, max: 1 << 20 }),
          fc.integer({ min: 0, max: 1 << 20 }),
          fc.integer({ min: 0, max: 14 }),
          (nxt, offered, space, scale) => {
            const i = { space, bufSize: 1 << 20, rcvNxt: nxt, rcvAdv: seqAdd(nxt, offered), mss: 1460, scale };
            const w = receiveWindow(i);
            expect(w.field).to.be.within(0, 0xffff);
            expect(w.window).to.equal(w.field * 2 ** scale);
            expect(w.window).to.be.at.least(Math.min(offered, 0xffff * 2 ** scale));
          },
        ),
      );
    });

    it('sends a window update only for a real opening', () => {
      const i = { ...base, rcvAdv: 1000 + 10_000 };
      expect(windowUpdateWorthSending(i, 10_000 + 1460)).to.equal(false);
      expect(windowUpdateWorthSending(i, 10_000 + 2920)).to.equal(true);
      expect(windowUpdateWorthSending({ ...i, bufSize: 4000 }, 10_000 + 2000)).to.equal(true);
      expect(windowUpdateWorthSending(i, 5_000)).to.equal(false);
    });
  });

  describe('sender SWS avoidance and Nagle', () => {
    const base: SendDecisionInput = { len: 0, unsent: 0, mss: 1460, maxSndWnd: 65535, idle: false, nodelay: false };

    it('always sends a full segment', () => {
      expect(shouldSendData({ ...base, len: 1460, unsent: 10_000 })).to.equal(true);
    });

    it('Nagle: a small final segment goes only when nothing is outstanding', () => {
      expect(shouldSendData({ ...base, len: 100, unsent: 100, idle: true })).to.equal(true);
      expect(shouldSendData({ ...base, len: 100, unsent: 100, idle: false })).to.equal(false);
    });

    it('TCP_NODELAY sends small segments while data is outstanding', () => {
      expect(shouldSendData({ ...base, len: 100, unsent: 100, nodelay: true })).to.equal(true);
    });

    it('waits when the window, not the data, makes the segment small', () => {
      expect(shouldSendData({ ...base, len: 100, unsent: 5000, idle: true, nodelay: true })).to.equal(false);
      // ... unless it is at least half the largest window ever offered.
      expect(shouldSendData({ ...base, len: 1000, unsent: 5000, maxSndWnd: 2000 })).to.equal(true);
    });

    it('sends when forced or retransmitting; never with nothing to send', () => {
      expect(shouldSendData({ ...base, len: 1, unsent: 5000, force: true })).to.equal(true);
      expect(shouldSendData({ ...base, len: 10, unsent: 5000, retransmitting: true })).to.equal(true);
      expect(shouldSendData({ ...base, len: 0, unsent: 0, force: true })).to.equal(false);
    });
  });
});
