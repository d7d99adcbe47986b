import { expect } from 'chai';
import fc from 'fast-check';
import { Errno, StackError } from '../../src/kern/errno.js';
import {
  BufferCopySink,
  BufferCopySource,
  ClusterPool,
  type CopySource,
  MHLEN,
  MINCLSIZE,
  copyChainToUio,
  errnoOf,
  fillFromUio,
  makeUio,
  mFreem,
  mFromBytes,
  mLength,
  mToBytes,
  uiomoveIn,
  uiomoveOut,
} from '../../src/mbuf/index.js';
import { buildChain, checkChain, expectSameBytes, pattern } from './helpers.js';

/** A source that fails with `errno` on request number `failAt` (1-based), optionally async. */
class FailingSource implements CopySource {
  requests = 0;
  constructor(
    private readonly inner: CopySource,
    private readonly failAt: number,
    private readonly async: boolean,
  ) {}
  copyin(uaddr: number, dsts: readonly Uint8Array[]): Promise<void> | void {
    const n = ++this.requests;
    if (this.async) {
      return new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          if (n === this.failAt) reject(new StackError(Errno.EFAULT));
          else {
            this.inner.copyin(uaddr, dsts);
            resolve();
          }
        });
      });
    }
    if (n === this.failAt) throw new StackError(Errno.EFAULT);
    return this.inner.copyin(uaddr, dsts);
  }
}

describe('uio', () => {
  describe('uiomoveIn / uiomoveOut', () => {
    it('moves within one iovec with one request and advances the uio', async () => {
      const mem = pattern(1000);
      const src = new BufferCopySource(mem, 0x1000);
      const uio = makeUio([{ base: 0x1000 + 100, len: 500 }], 'write');
      expect(uio.resid).to.equal(500);
      const a = new Uint8Array(100);
      const b = new Uint8Array(50);
      const r = await uiomoveIn(uio, src, [a, b]);
      expect(r).to.deep.equal({ error: 0, requests: 1, bytes: 150 });
      expect(a).to.deep.equal(mem.subarray(100, 200));
      expect(b).to.deep.equal(mem.subarray(200, 250));
      expect(uio).to.include({ iovIndex: 0, offset: 150, resid: 350 });
      expect(src.stats).to.deep.equal({ requests: 1, bytes: 150 });
    });

    it('splits a request at every iovec boundary, skipping empty iovecs', async () => {
      const mem = pattern(1000, 3);
      const src = new BufferCopySource(mem);
      const uio = makeUio(
        [
          { base: 900, len: 30 },
          { base: 0, len: 0 },
          { base: 10, len: 45 },
          { base: 500, len: 100 },
        ],
        'write',
      );
      const dsts = [new Uint8Array(40), new Uint8Array(60)];
      const r = await uiomoveIn(uio, src, dsts);
      expect(r).to.deep.equal({ error: 0, requests: 3, bytes: 100 });
      const got = new Uint8Array([...dsts[0]!, ...dsts[1]!]);
      const want = new Uint8Array([...mem.subarray(900, 930), ...mem.subarray(10, 55), ...mem.subarray(500, 525)]);
      expect(got).to.deep.equal(want);
      expect(uio).to.include({ iovIndex: 3, offset: 25, resid: 75 });
      expect((await uiomoveIn(uio, src, [])).requests).to.equal(0);
    });

    it('reports the errno of a failed copy and advances only past successful requests', async () => {
      const src = new BufferCopySource(new Uint8Array(100));
      const uio = makeUio([{ base: 0, len: 50 }, { base: 200, len: 50 }], 'write');
      const r = await uiomoveIn(uio, src, [new Uint8Array(80)]);
      expect(r).to.deep.equal({ error: Errno.EFAULT, requests: 2, bytes: 50 });
      expect(uio).to.include({ iovIndex: 1, offset: 0, resid: 50 });
    });

    it('refuses the wrong direction and more than resid', () => {
      const src = new BufferCopySource(new Uint8Array(10));
      const sink = new BufferCopySink(new Uint8Array(10));
      expect(() => uiomoveIn(makeUio([{ base: 0, len: 10 }], 'read'), src, [])).to.throw(RangeError);
      expect(() => uiomoveOut(makeUio([{ base: 0, len: 10 }], 'write'), sink, [])).to.throw(RangeError);
      return uiomoveIn(makeUio([{ base: 0, len: 5 }], 'write'), src, [new Uint8Array(6)]).then(
        () => expect.fail('should reject'),
        (e: unknown) => expect(e).to.be.instanceOf(RangeError),
      );
    });

    it('copies out across iovecs', async () => {
      const mem = new Uint8Array(100);
      const sink = new BufferCopySink(mem);
      const uio = makeUio([{ base: 10, len: 5 }, { base: 50, len: 20 }], 'read');
      const r = await uiomoveOut(uio, sink, [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6, 7)]);
      expect(r).to.deep.equal({ error: 0, requests: 2, bytes: 7 });
      expect([...mem.subarray(10, 15)]).to.deep.equal([1, 2, 3, 4, 5]);
      expect([...mem.subarray(50, 53)]).to.deep.equal([6, 7, 0]);
    });

    it('errnoOf reads errno from errors and numbers, else EFAULT', () => {
      expect(errnoOf(new StackError(Errno.ENOBUFS))).to.equal(Errno.ENOBUFS);
      expect(errnoOf(Errno.EPIPE)).to.equal(Errno.EPIPE);
      expect(errnoOf(new Error('x'))).to.equal(Errno.EFAULT);
      expect(errnoOf(undefined)).to.equal(Errno.EFAULT);
    });
  });

  describe('fillFromUio (sosend)', () => {
    const MiB = 1 << 20;
    for (const [mclbytes, mclnum, want] of [
      [2048, 1, 512],
      [2048, 16, 32],
      [4096, 1, 256],
      [4096, 16, 16],
    ] as const) {
      it(`1 MiB, MCLBYTES ${mclbytes}, MCLNUM ${mclnum}: ${want} copy requests`, async () => {
        const pool = new ClusterPool({ mclbytes, nmbclusters: MiB / mclbytes + 8 });
        const mem = pattern(MiB, 11);
        const src = new BufferCopySource(mem);
        const uio = makeUio([{ base: 0, len: MiB }], 'write');
        const r = await fillFromUio(pool, uio, src, { maxBytes: MiB, mclnum });
        expect(r.error).to.equal(0);
        expect(r.len).to.equal(MiB);
        if (mclnum === 1) expect(r.requests).to.equal(want);
        else expect(r.requests).to.be.at.most(want);
        expect(src.stats.requests).to.equal(r.requests);
        expect(uio.resid).to.equal(0);
        expect(r.m!.pkthdr!.len).to.equal(MiB);
        expectSameBytes(mToBytes(r.m), mem);
        checkChain(r.m!);
        mFreem(r.m);
        pool.assertAllFree();
      });
    }

    it('stops at maxBytes and leaves the rest in the uio', async () => {
      const pool = new ClusterPool({ nmbclusters: 16, mclnum: 4 });
      const src = new BufferCopySource(pattern(10000));
      const uio = makeUio([{ base: 0, len: 10000 }], 'write');
      const r = await fillFromUio(pool, uio, src, { maxBytes: 5000 });
      expect([r.len, r.requests, r.error, uio.resid]).to.deep.equal([5000, 1, 0, 5000]);
      mFreem(r.m);
      const none = await fillFromUio(pool, uio, src, { maxBytes: 0 });
      expect(none).to.deep.equal({ m: null, len: 0, requests: 0, error: 0 });
      pool.assertAllFree();
    });

    it('puts small writes in small mbufs as BSD (below MINCLSIZE)', async () => {
      const pool = new ClusterPool({ nmbclusters: 4 });
      const mem = pattern(MINCLSIZE);
      for (const [n, mclnum, requests] of [
        [100, 1, 1],
        [MINCLSIZE - 1, 1, 2],
        [MINCLSIZE - 1, 16, 1],
      ] as const) {
        const src = new BufferCopySource(mem);
        const r = await fillFromUio(pool, makeUio([{ base: 0, len: n }], 'write'), src, { maxBytes: n, mclnum });
        expect(r.requests).to.equal(requests);
        expect(pool.stats().clustersInUse).to.equal(0);
        expect(r.m!.len).to.equal(Math.min(n, MHLEN));
        expect(mToBytes(r.m)).to.deep.equal(mem.subarray(0, n));
        checkChain(r.m!);
        mFreem(r.m);
      }
      pool.assertAllFree();
    });

    it('copies across iovecs: a batch is split at their boundaries', async () => {
      const pool = new ClusterPool({ nmbclusters: 16, mclnum: 16 });
      const mem = pattern(20000, 5);
      const src = new BufferCopySource(mem);
      const uio = makeUio([{ base: 0, len: 3000 }, { base: 10000, len: 7000 }], 'write');
      const r = await fillFromUio(pool, uio, src, { maxBytes: 1e9 });
      expect(r.requests).to.equal(2);
      expect(mToBytes(r.m)).to.deep.equal(new Uint8Array([...mem.subarray(0, 3000), ...mem.subarray(10000, 17000)]));
      mFreem(r.m);
      pool.assertAllFree();
    });

    it('returns what it has with ENOBUFS when the pool runs out', async () => {
      const pool = new ClusterPool({ nmbclusters: 5, mclnum: 4 });
      const src = new BufferCopySource(pattern(100000));
      const uio = makeUio([{ base: 0, len: 100000 }], 'write');
      const r = await fillFromUio(pool, uio, src, { maxBytes: 100000 });
      expect(r.error).to.equal(Errno.ENOBUFS);
      expect(r.len).to.equal(5 * 2048);
      expect(mLength(r.m)).to.equal(r.len);
      expect(uio.resid).to.equal(100000 - r.len);
      expect(pool.stats().allocFailures).to.equal(1);
      mFreem(r.m);
      pool.assertAllFree();
    });

    for (const async of [false, true]) {
      it(`frees everything when a copy fails mid-way (${async ? 'async' : 'sync'} source)`, async () => {
        const pool = new ClusterPool({ nmbclusters: 64 });
        const src = new FailingSource(new BufferCopySource(pattern(100000)), 5, async);
        const uio = makeUio([{ base: 0, len: 100000 }], 'write');
        const r = await fillFromUio(pool, uio, src, { maxBytes: 100000, mclnum: 2 });
        expect(r).to.deep.equal({ m: null, len: 0, requests: 5, error: Errno.EFAULT });
        pool.assertAllFree();
      });
    }
  });

  describe('copyChainToUio (soreceive)', () => {
    it('one copyout per mbuf without coalescing, one in all with it', async () => {
      const pool = new ClusterPool({ nmbclusters: 16 });
      for (const coalesce of [false, true]) {
        const { m, bytes } = buildChain(pool, [
          { kind: 'small', len: 100, lead: 0 },
          { kind: 'cl', len: 2000, lead: 48 },
          { kind: 'cl', len: 0, lead: 0 },
          { kind: 'cl', len: 1500, lead: 0 },
        ]);
        const mem = new Uint8Array(8000);
        const sink = new BufferCopySink(mem);
        const uio = makeUio([{ base: 1000, len: 5000 }], 'read');
        const r = await copyChainToUio(m, 50, 3500, uio, sink, { coalesce });
        expect(r).to.deep.equal({ error: 0, requests: coalesce ? 1 : 3, bytes: 3500 });
        expect(mem.subarray(1000, 4500)).to.deep.equal(bytes.subarray(50, 3550));
        expect(uio.resid).to.equal(1500);
        mFreem(m);
      }
      pool.assertAllFree();
    });

    it('moves at most resid, and reports a failing sink', async () => {
      const pool = new ClusterPool({ nmbclusters: 4 });
      const m = mFromBytes(pool, pattern(3000))!;
      const mem = new Uint8Array(100);
      const uio = makeUio([{ base: 0, len: 60 }], 'read');
      const r = await copyChainToUio(m, 0, 3000, uio, new BufferCopySink(mem), { coalesce: true });
      expect(r.bytes).to.equal(60);
      expect(mem.subarray(0, 60)).to.deep.equal(pattern(60));
      const bad = makeUio([{ base: 90, len: 3000 }], 'read');
      const f = await copyChainToUio(m, 0, 3000, bad, new BufferCopySink(mem), { coalesce: false });
      expect(f.error).to.equal(Errno.EFAULT);
      expect(f.requests).to.equal(1);
      try {
        await copyChainToUio(m, 1, 3000, uio, new BufferCopySink(mem), { coalesce: true });
        expect.fail('should throw');
      } catch (e) {
        expect(e).to.be.instanceOf(RangeError);
      }
      mFreem(m);
      pool.assertAllFree();
    });
  });

  describe('round trip through random iovecs (property)', () => {
    it('fillFromUio then copyChainToUio gives the bytes back, with bounded request counts', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(2048, 4096),
          fc.integer({ min: 1, max: 16 }),
          fc.array(fc.nat({ max: 9000 }), { minLength: 1, maxLength: 5 }),
          fc.array(fc.nat({ max: 9000 }), { minLength: 1, maxLength: 5 }),
          fc.boolean(),
          async (mclbytes, mclnum, inLens, outLens, coalesce) => {
            const pool = new ClusterPool({ mclbytes, nmbclusters: 64 });
            // Lay the iovecs out backwards in memory with gaps, so order matters.
            const layout = (lens: number[]) => {
              const iov: { base: number; len: number }[] = [];
              let addr = lens.reduce((a, b) => a + b + 3, 0);
              for (const len of lens) {
                addr -= len + 3;
                iov.push({ base: addr, len });
              }
              return iov;
            };
            const inIov = layout(inLens);
            const mem = pattern(inLens.reduce((a, b) => a + b + 3, 0), 9);
            const logical = new Uint8Array(inIov.flatMap((v) => [...mem.subarray(v.base, v.base + v.len)]));
            const r = await fillFromUio(pool, makeUio(inIov, 'write'), new BufferCopySource(mem), {
              maxBytes: 1e9,
              mclnum,
            });
            expect(r.error).to.equal(0);
            const n = logical.length;
            const units = n === 0 ? 0 : n < MINCLSIZE ? 2 : Math.ceil(n / (mclnum * mclbytes));
            const spans = inLens.filter((l) => l > 0).length;
            expect(r.requests).to.be.at.most(units + Math.max(0, spans - 1));
            if (n > 0) expectSameBytes(mToBytes(r.m), logical);
            const outIov = layout(outLens);
            const outMem = new Uint8Array(outLens.reduce((a, b) => a + b + 3, 0));
            const uio = makeUio(outIov, 'read');
            const w = await copyChainToUio(r.m, 0, n, uio, new BufferCopySink(outMem), { coalesce });
            const moved = Math.min(n, uio.resid + w.bytes);
            expect(w).to.include({ error: 0, bytes: moved });
            const back = new Uint8Array(outIov.flatMap((v) => [...outMem.subarray(v.base, v.base + v.len)]));
            expectSameBytes(back.subarray(0, moved), logical.subarray(0, moved));
            mFreem(r.m);
            pool.assertAllFree();
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});
