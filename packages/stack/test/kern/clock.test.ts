import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { Errno, errnoName, StackError } from '../../src/kern/errno.js';

describe('ManualClock', () => {
  it('fires due timers in time order, ties in creation order', () => {
    const c = new ManualClock();
    const seen: string[] = [];
    c.setTimeout(() => seen.push('b@20'), 20);
    c.setTimeout(() => seen.push('a@10'), 10);
    c.setTimeout(() => seen.push('c@20'), 20);
    c.advance(15);
    expect(seen).to.deep.equal(['a@10']);
    expect(c.now()).to.equal(15);
    c.advance(5);
    expect(seen).to.deep.equal(['a@10', 'b@20', 'c@20']);
  });

  it('runs timers armed by timers when they fall inside the step', () => {
    const c = new ManualClock();
    const at: number[] = [];
    c.setTimeout(() => {
      at.push(c.now());
      c.setTimeout(() => at.push(c.now()), 30);
    }, 10);
    c.advance(100);
    expect(at).to.deep.equal([10, 40]);
    expect(c.pending()).to.equal(0);
  });

  it('does not fire cleared timers', () => {
    const c = new ManualClock();
    let fired = false;
    const h = c.setTimeout(() => (fired = true), 5);
    c.clearTimeout(h);
    c.advance(10);
    expect(fired).to.equal(false);
  });
});

describe('errno', () => {
  it('names errors with Linux numbers', () => {
    expect(Errno.ECONNREFUSED).to.equal(111);
    expect(errnoName(111)).to.equal('ECONNREFUSED');
    expect(errnoName(9999)).to.equal('E9999');
    const e = new StackError(Errno.EADDRINUSE);
    expect(e.code).to.equal('EADDRINUSE');
    expect(e.errno).to.equal(98);
  });
});
