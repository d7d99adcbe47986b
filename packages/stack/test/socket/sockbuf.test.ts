import { expect } from 'chai';
import { ClusterPool, MSIZE, mFromBytes, mGet, mToBytes } from '../../src/mbuf/index.js';
import { SockBuf, sockaddrIn } from '../../src/socket/index.js';
import { pattern } from './helpers.js';

describe('socket buffers (sockbuf)', () => {
  let pool: ClusterPool;
  beforeEach(() => {
    pool = new ClusterPool({ mclbytes: 2048, nmbclusters: 64 });
  });
  afterEach(() => pool.assertAllFree());

  const chain = (n: number, seed = 1) => mFromBytes(pool, pattern(n, seed))!;

  it('reserve sets hiwat and mbmax and refuses sizes beyond kern.sbmax', () => {
    const sb = new SockBuf();
    expect(sb.reserve(4096, 262144, 2048)).to.equal(true);
    expect(sb.hiwat).to.equal(4096);
    expect(sb.mbmax).to.equal(8192);
    expect(sb.reserve(0, 262144, 2048)).to.equal(false);
    // 262144 * 2048 / (256 + 2048) = 233016: one more is refused.
    expect(sb.reserve(233016, 262144, 2048)).to.equal(true);
    expect(sb.reserve(233017, 262144, 2048)).to.equal(false);
    expect(sb.hiwat).to.equal(233016);
  });

  it('appends a stream, counts cc and storage, drops from the front', () => {
    const sb = new SockBuf();
    sb.reserve(65536, 1 << 22, 2048);
    sb.appendStream(chain(3000, 1));
    sb.appendStream(chain(100, 2));
    expect(sb.cc).to.equal(3100);
    expect(sb.records).to.equal(1);
    expect(sb.mbcnt).to.be.greaterThan(2 * MSIZE + 2048);
    const all = new Uint8Array(3100);
    all.set(pattern(3000, 1));
    all.set(pattern(100, 2), 3000);
    expect(mToBytes(sb.mb!)).to.deep.equal(all);
    sb.drop(2500);
    expect(sb.cc).to.equal(600);
    expect(mToBytes(sb.mb!)).to.deep.equal(all.subarray(2500));
    sb.drop(600);
    expect(sb.cc).to.equal(0);
    expect(sb.mbcnt).to.equal(0);
    expect(sb.mb).to.equal(null);
    expect(() => sb.drop(1)).to.throw(RangeError);
  });

  it('merges small appends into the tail mbuf (sbcompress)', () => {
    const sb = new SockBuf();
    sb.reserve(65536, 1 << 22, 2048);
    for (let i = 0; i < 10; i++) {
      const m = mGet(pool)!;
      m.data[0] = i;
      m.len = 1;
      sb.appendStream(m);
    }
    expect(sb.cc).to.equal(10);
    expect(sb.mb!.next).to.equal(null); // one mbuf holds all ten bytes
    expect(sb.mbcnt).to.equal(MSIZE);
    expect(pool.stats().mbufsInUse).to.equal(1);
    sb.flush();
  });

  it('keeps datagram records with their addresses, refuses what does not fit and frees it', () => {
    const sb = new SockBuf();
    sb.reserve(5000, 1 << 22, 2048);
    expect(sb.appendAddr(sockaddrIn(1, 10), chain(2000, 1), 2000)).to.equal(true);
    expect(sb.appendAddr(sockaddrIn(2, 20), null, 0)).to.equal(true); // zero-length datagram
    expect(sb.appendAddr(sockaddrIn(3, 30), chain(2000, 3), 2000)).to.equal(true);
    expect(sb.appendAddr(sockaddrIn(4, 40), chain(2000, 4), 2000)).to.equal(false);
    expect(sb.records).to.equal(3);
    expect(sb.cc).to.equal(4000);
    const r1 = sb.takeRecord()!;
    expect(r1.addr).to.deep.equal(sockaddrIn(1, 10));
    expect(mToBytes(r1.m!)).to.deep.equal(pattern(2000, 1));
    expect(sb.cc).to.equal(2000);
    const r2 = sb.takeRecord()!;
    expect(r2.len).to.equal(0);
    expect(r2.m).to.equal(null);
    sb.dropRecord();
    expect(sb.records).to.equal(0);
    expect(sb.cc).to.equal(0);
    expect(sb.mbcnt).to.equal(0);
    // r1's chain is ours now.
    sb.appendRecord(r1.m, 2000);
    sb.flush();
  });

  it('bounds storage (mbmax) so tiny datagrams in clusters cannot drain the pool', () => {
    const sb = new SockBuf();
    sb.reserve(8192, 1 << 22, 2048); // mbmax 16384: at most 6 one-byte datagrams in clusters
    let n = 0;
    for (let i = 0; i < 100; i++) {
      const m = mFromBytes(pool, new Uint8Array(1), { headroom: 600 })!; // forces a cluster
      if (sb.appendAddr(sockaddrIn(1, 1), m, 1)) n++;
    }
    expect(n).to.be.within(1, 8);
    expect(sb.mbcnt).to.be.at.most(sb.mbmax);
    sb.flush();
  });
});
