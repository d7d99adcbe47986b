/**
 * mbufs: chains, the cluster pool, extended clusters and uio — the buffer
 * layer of the stack, after NetBSD's `sys/kern/uipc_mbuf.c`.
 *
 * @example
 * ```ts
 * import { ClusterPool, mFromBytes, mPrepend, mToBytes, mFreem } from './mbuf/index.js';
 * const pool = new ClusterPool({ mclbytes: 2048, nmbclusters: 1024, mclnum: 16 });
 * let m = mFromBytes(pool, payload, { headroom: 54 }); // room for Ethernet+IP+TCP
 * if (m === null) return Errno.ENOBUFS;
 * m = mPrepend(m, 20);                                 // uses the headroom, no copy
 * if (m === null) return Errno.ENOBUFS;                // (the chain was freed)
 * // ... write the header into mContiguous(m, 0, 20)!, hand m to the driver ...
 * mFreem(m);
 * pool.assertAllFree();
 * ```
 * @module
 */
export {
  EMPTY_BYTES,
  M_BCAST,
  M_COPYFLAGS,
  M_CSUM_TCPv4,
  M_CSUM_TSOv4,
  M_CSUM_UDPv4,
  M_EOR,
  M_EXT,
  M_FREED,
  M_HDR_SIZE,
  M_MCAST,
  M_PKTHDR,
  M_PKTHDR_SIZE,
  MCLBYTES_DEFAULT,
  MCLNUM_MAX,
  MHLEN,
  MINCLSIZE,
  MLEN,
  MSIZE,
  Mbuf,
  mLeadingSpace,
  mTrailingSpace,
  mWritable,
} from './mbuf.js';
export type { PktHdr } from './mbuf.js';
export { ClusterPool, ExtCluster, poolPressureDefaults } from './pool.js';
export type { ClusterPoolOptions, PoolStats, PoolPressureLimits } from './pool.js';
export {
  mAdj,
  mCat,
  mContiguous,
  mCopydata,
  mCopym,
  mCopymAt,
  mDevget,
  mDup,
  mFree,
  mFreem,
  mFromBytes,
  mGet,
  mGetcl,
  mGethdr,
  mLength,
  mSplit,
  mToBytes,
} from './ops.js';
export type { MFromBytesOptions, MGetOptions, MGetclOptions } from './ops.js';
export { mCopyback, mMakeWritable, mPrepend, mPullup } from './write.js';
export {
  BufferCopySink,
  BufferCopySource,
  COPY_WINDOW_MAX,
  copyChainToUio,
  errnoOf,
  fillFromUio,
  makeUio,
  uioSplit,
  uiomoveIn,
  uiomoveOut,
} from './uio.js';
export type {
  CopyOutOptions,
  CopySink,
  CopySource,
  CopyStats,
  FillOptions,
  FillResult,
  Iovec,
  Uio,
  UioMoveResult,
} from './uio.js';
