/**
 * Test helpers for mbuf chains: build chains of a chosen shape (small
 * mbufs, private clusters, shared read-only clusters, leading space) and
 * check a chain's structural invariants.
 */
import { expect } from 'chai';
import {
  M_EXT,
  M_FREED,
  M_PKTHDR,
  type Mbuf,
  type ClusterPool,
  mCopym,
  mGet,
  mGetcl,
  mGethdr,
  mLength,
} from '../../src/mbuf/index.js';

/** One mbuf of a chain to build. */
export interface Seg {
  /** small area, a private cluster, or a cluster also referenced by a holder chain. */
  kind: 'small' | 'cl' | 'shared';
  /** Data bytes (clamped to what fits). */
  len: number;
  /** Leading space before the data (clamped). */
  lead: number;
}

/** A built chain plus the chains that hold extra references to its shared clusters. */
export interface Built {
  m: Mbuf;
  holders: Mbuf[];
  bytes: Uint8Array;
}

/** Deterministic bytes: `(seed + i * 7) & 255`. */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 7) & 255;
  return b;
}

/**
 * Build a packet-header chain of the given shape holding consecutive bytes
 * of `pattern`. Throws when the pool is too small (a test-setup error).
 */
export function buildChain(pool: ClusterPool, segs: readonly Seg[], seed = 1): Built {
  const shapes: { m: Mbuf; start: number; shared: boolean }[] = [];
  let pos = 0;
  let head: Mbuf | null = null;
  let tail: Mbuf | null = null;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const first = i === 0;
    let m: Mbuf | null;
    if (s.kind === 'small') m = first ? mGethdr(pool) : mGet(pool);
    else m = mGetcl(pool, { pkthdr: first });
    if (m === null) throw new Error('buildChain: pool too small');
    const cap = m.data.length;
    const lead = Math.min(s.lead, cap);
    const len = Math.min(s.len, cap - lead);
    m.off = lead;
    m.len = len;
    shapes.push({ m, start: pos, shared: s.kind === 'shared' });
    pos += len;
    if (tail === null) head = m;
    else tail.next = m;
    tail = m;
  }
  if (head === null) throw new Error('buildChain: no segments');
  const bytes = pattern(pos, seed);
  for (const sh of shapes) sh.m.data.set(bytes.subarray(sh.start, sh.start + sh.m.len), sh.m.off);
  head.pkthdr!.len = pos;
  const holders: Mbuf[] = [];
  for (const sh of shapes) {
    if (!sh.shared || sh.m.len === 0) continue;
    const h = mCopym(head, sh.start, sh.m.len);
    if (h === null) throw new Error('buildChain: pool too small for holders');
    holders.push(h);
  }
  return { m: head, holders, bytes };
}

/** Clusters referenced by the chains (with multiplicity per distinct cluster counted once). */
export function clustersHeld(chains: readonly (Mbuf | null)[]): number {
  const seen = new Set<number>();
  for (let m of chains) for (; m !== null; m = m.next) if ((m.flags & M_EXT) !== 0) seen.add(m.ext);
  return seen.size;
}

/** Mbufs in the chains. */
export function mbufsHeld(chains: readonly (Mbuf | null)[]): number {
  let n = 0;
  for (let m of chains) for (; m !== null; m = m.next) n++;
  return n;
}

/** Structural invariants of a live chain: bounds, no freed mbufs, pkthdr only on the head and consistent. */
export function checkChain(m: Mbuf): void {
  let first = true;
  for (let mm: Mbuf | null = m; mm !== null; mm = mm.next) {
    expect(mm.flags & M_FREED, 'freed mbuf in a live chain').to.equal(0);
    expect(mm.off).to.be.at.least(0);
    expect(mm.len).to.be.at.least(0);
    expect(mm.off + mm.len).to.be.at.most(mm.data.length);
    if (!first) expect(mm.flags & M_PKTHDR, 'pkthdr after the head').to.equal(0);
    if ((mm.flags & M_EXT) !== 0) {
      expect(mm.ext).to.be.at.least(0);
      expect(mm.pool.clRefcnt(mm.ext)).to.be.at.least(1);
      expect(mm.data.buffer).to.equal(mm.pool.slab);
    } else {
      expect(mm.ext).to.equal(-1);
    }
    first = false;
  }
  if ((m.flags & M_PKTHDR) !== 0) expect(m.pkthdr!.len).to.equal(mLength(m));
  else expect(m.pkthdr).to.equal(null);
}

/** Fast byte equality for large buffers (chai's deep equality walks element by element). */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length, 'length').to.equal(expected.length);
  expect(Buffer.compare(actual, expected), 'contents').to.equal(0);
}
