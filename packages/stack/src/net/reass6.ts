/**
 * IPv6 reassembly (RFC 8200 4.5; NetBSD `sys/netinet6/frag6.c`,
 * `frag6_input()`), with the rules written since:
 *
 * - **RFC 5722**: a fragment overlapping another drops the whole datagram
 *   — and the fragments of it still to come: the queue stays as a
 *   tombstone until its timeout, swallowing them (`fragoverlap`,
 *   `fragdropped`). An exact duplicate (same offset and length) is dropped
 *   alone (`fragdup`), as Linux does; RFC 8200 4.5 allows that.
 * - **RFC 8021 / RFC 6946**: atomic fragments (offset 0, M clear) never get
 *   here; IPv6 input reads past their header, so they cannot be mixed into
 *   a datagram by a forged fragment of the same identification.
 * - **RFC 7112**: the first fragment must hold the whole header chain up to
 *   and including the upper-layer header; else parameter problem code 3
 *   (`fraghdrchain`).
 * - RFC 8200 4.5: a fragment with M set whose length is not a multiple of 8
 *   is a parameter problem at the payload length (`badfrags`); one reaching
 *   past 65535 bytes, at the fragment offset (`toolong`).
 * - Bounds: `maxfragpackets` datagrams, `maxfrags` fragments in all (the
 *   oldest datagram is dropped to make room), `maxfragsperpacket` each;
 *   `timeout` (60 s, RFC 8200 4.5) after the first fragment arrived the
 *   datagram is freed, and if its first fragment had arrived, ICMPv6 time
 *   exceeded code 1 is sent from it.
 *
 * A completed datagram is rebuilt as RFC 8200 4.5 says: the unfragmentable
 * part of the first fragment (its Next Header byte set to the fragment
 * header's, its payload length recomputed), then the fragments' data,
 * joined with `mCat` without copying.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../kern/clock.js';
import { mAdj, mCat, mFreem, mFromBytes, mPullup, mToBytes, type Mbuf } from '../mbuf/index.js';
import { IPV6_HEADER_LEN, IPV6_MAX_PAYLOAD_LEN, Ip6Next, Ipv6Field } from '../wire/ipv6.js';
import { IPV6_FRAG_HEADER_LEN, fragIdent6, fragMore6, fragOffset6 } from '../wire/ipv6-ext.js';
import type { Ip6Stats } from './stats6.js';

/** Reassembly tunables (`net.inet6.ip6.maxfragpackets` and friends), read at each use. */
export interface Reass6Limits {
  /** Seconds a datagram may wait for its fragments (RFC 8200 4.5: 60). */
  timeout: number;
  /** Datagrams under reassembly at once. */
  maxfragpackets: number;
  /** Fragments held in all. */
  maxfrags: number;
  /** Fragments per datagram. */
  maxfragsperpacket: number;
}

/** What reassembly needs from the ICMPv6 layer. */
export interface Reass6Hooks {
  /** Send parameter problem `code` pointing at byte `pointer` of `m` (which starts at its IPv6 header); ownership passes. */
  paramProblem(m: Mbuf, code: number, pointer: number): void;
  /** A datagram timed out while its first fragment (IPv6 header in front) was held: send time exceeded; ownership passes. */
  timeout(first: Mbuf): void;
}

interface Frag6 {
  off: number;
  end: number;
  /** Data only; the first fragment keeps everything (its headers are needed for the rebuild or a time-exceeded quote). */
  m: Mbuf;
}

interface Reass6Queue {
  readonly key: string;
  /** Sorted by offset, never overlapping. */
  frags: Frag6[];
  /** End of the data once the last fragment arrived, else -1. */
  total: number;
  /** For the first fragment: where its fragment header is, and the offset of the Next Header byte pointing at it. */
  fragOff: number;
  prevNxt: number;
  /** An overlap was seen: every fragment of this datagram is dropped until the timeout (RFC 5722). */
  dead: boolean;
  timer: TimerHandle;
}

/** The IPv6 reassembly queues of one stack. */
export class Reass6 {
  private readonly queues = new Map<string, Reass6Queue>();
  private nfrags = 0;

  constructor(
    private readonly clock: Clock,
    private readonly stats: Ip6Stats,
    /** Read at each use, so sysctl changes take effect at once. */
    readonly limits: Reass6Limits,
    private readonly hooks: Reass6Hooks,
  ) {}

  /** Fragments held now. */
  get fragmentsHeld(): number {
    return this.nfrags;
  }

  /** Datagrams under reassembly now (tombstones of dropped ones included). */
  get datagramsHeld(): number {
    return this.queues.size;
  }

  /**
   * Take one fragment (`frag6_input`). `m` starts at its IPv6 header, with
   * everything up to the end of the fragment header (at `fragOff`)
   * contiguous in the first mbuf; `prevNxt` is the offset of the Next
   * Header byte that announced the fragment header. Ownership passes here.
   * @returns the reassembled datagram (IPv6 header in front, the fragment
   *   header gone, owned by the caller) when this fragment completed it,
   *   else null (held, or dropped and counted).
   */
  input(m: Mbuf, fragOff: number, prevNxt: number): Mbuf | null {
    const st = this.stats;
    st.fragments++;
    if (fragOffset6(m.data, m.off + fragOff) === 0) {
      // The first fragment's header chain is checked below: make what a cluster holds of it contiguous.
      const pm = mPullup(m, Math.min(m.pkthdr!.len, m.pool.mclbytes));
      if (pm === null) {
        st.fragdropped++;
        return null;
      }
      m = pm;
    }
    const b = m.data;
    const o = m.off;
    const fo = fragOffset6(b, o + fragOff);
    const more = fragMore6(b, o + fragOff);
    const dataLen = m.pkthdr!.len - fragOff - IPV6_FRAG_HEADER_LEN;
    if (dataLen <= 0 || (more && (dataLen & 7) !== 0)) {
      st.badfrags++;
      // RFC 8200 4.5: not a multiple of 8 with M set -> parameter problem pointing at the payload length.
      if (dataLen > 0) this.hooks.paramProblem(m, 0, Ipv6Field.PAYLOAD_LEN);
      else mFreem(m);
      return null;
    }
    if (fo + dataLen > IPV6_MAX_PAYLOAD_LEN) {
      st.toolong++;
      this.hooks.paramProblem(m, 0, fragOff + 2);
      return null;
    }
    if (fo === 0 && !headerChainComplete(b, o, fragOff + IPV6_FRAG_HEADER_LEN, o + m.len, b[o + fragOff]!)) {
      // RFC 7112 5: the first fragment must carry the whole header chain.
      st.fraghdrchain++;
      this.hooks.paramProblem(m, 3, 0);
      return null;
    }
    const key = keyOf(b, o, fragIdent6(b, o + fragOff));
    const end = fo + dataLen;
    let q = this.queues.get(key);
    if (q === undefined) {
      if (this.limits.maxfragpackets <= 0 || this.limits.maxfrags <= 0) {
        st.fragdropped++;
        mFreem(m);
        return null;
      }
      while (this.queues.size >= this.limits.maxfragpackets && this.dropOldest()) {
        /* made room */
      }
      const nq: Reass6Queue = {
        key,
        frags: [],
        total: -1,
        fragOff: -1,
        prevNxt: -1,
        dead: false,
        timer: this.clock.setTimeout(() => this.expire(nq), this.limits.timeout * 1000),
      };
      q = nq;
      this.queues.set(key, q);
    }
    if (q.dead) {
      st.fragdropped++;
      mFreem(m);
      return null;
    }
    if (!more) {
      if ((q.total >= 0 && q.total !== end) || (q.frags.length > 0 && q.frags[q.frags.length - 1]!.end > end)) {
        return this.inconsistent(q, m);
      }
    } else if (q.total >= 0 && end > q.total) {
      return this.inconsistent(q, m);
    }
    const frags = q.frags;
    let i = 0;
    while (i < frags.length && frags[i]!.off < fo) i++;
    const prev = i > 0 ? frags[i - 1]! : undefined;
    const next = i < frags.length ? frags[i]! : undefined;
    if (next !== undefined && next.off === fo && next.end === end) {
      st.fragdup++;
      mFreem(m);
      return null;
    }
    if ((prev !== undefined && prev.end > fo) || (next !== undefined && next.off < end)) {
      // RFC 5722 4: the whole datagram, including fragments not yet received, is discarded.
      st.fragoverlap++;
      mFreem(m);
      this.kill(q);
      return null;
    }
    if (frags.length >= this.limits.maxfragsperpacket) {
      st.fragdropped++;
      mFreem(m);
      this.kill(q);
      return null;
    }
    while (this.nfrags >= this.limits.maxfrags && this.dropOldest(q)) {
      /* made room */
    }
    if (this.nfrags >= this.limits.maxfrags) {
      st.fragdropped++;
      mFreem(m);
      if (q.frags.length === 0) this.free(q);
      return null;
    }
    if (fo === 0) {
      q.fragOff = fragOff;
      q.prevNxt = prevNxt;
    } else {
      mAdj(m, fragOff + IPV6_FRAG_HEADER_LEN);
    }
    frags.splice(i, 0, { off: fo, end, m });
    this.nfrags++;
    if (!more) q.total = end;
    return this.tryComplete(q);
  }

  /** Free every queue and its mbufs (stack close); not counted as drops. */
  drain(): void {
    for (const q of [...this.queues.values()]) {
      this.clock.clearTimeout(q.timer);
      this.free(q, false);
    }
  }

  private tryComplete(q: Reass6Queue): Mbuf | null {
    if (q.total < 0) return null;
    let at = 0;
    for (const fr of q.frags) {
      if (fr.off !== at) return null;
      at = fr.end;
    }
    if (at !== q.total) return null;
    const st = this.stats;
    const first = q.frags[0]!.m;
    const fragOff = q.fragOff;
    this.clock.clearTimeout(q.timer);
    this.queues.delete(q.key);
    this.nfrags -= q.frags.length;
    const frags = q.frags;
    q.frags = [];
    const plen = fragOff - IPV6_HEADER_LEN + q.total;
    if (plen > IPV6_MAX_PAYLOAD_LEN) {
      st.toolong++;
      st.fragdropped += frags.length;
      for (const fr of frags) mFreem(fr.m);
      return null;
    }
    // The unfragmentable part of the first fragment, with the fragment header's Next Header (RFC 8200 4.5).
    const unfrag = mToBytes(first, 0, fragOff);
    const nxt = first.data[first.off + fragOff]!;
    unfrag[q.prevNxt] = nxt;
    unfrag[Ipv6Field.PAYLOAD_LEN] = plen >>> 8;
    unfrag[Ipv6Field.PAYLOAD_LEN + 1] = plen & 0xff;
    const head = mFromBytes(first.pool, unfrag, { rcvif: first.pkthdr!.rcvif });
    if (head === null) {
      st.fragdropped += frags.length;
      for (const fr of frags) mFreem(fr.m);
      first.pool.countDrop();
      return null;
    }
    mAdj(first, fragOff + IPV6_FRAG_HEADER_LEN);
    for (const fr of frags) mCat(head, fr.m);
    st.reassembled++;
    return head;
  }

  private inconsistent(q: Reass6Queue, m: Mbuf): null {
    this.stats.fraginconsistent++;
    mFreem(m);
    this.kill(q);
    return null;
  }

  /** Drop the datagram's fragments and keep the queue as a tombstone until its timer (RFC 5722). */
  private kill(q: Reass6Queue): void {
    this.nfrags -= q.frags.length;
    this.stats.fragdropped += q.frags.length;
    for (const fr of q.frags) mFreem(fr.m);
    q.frags = [];
    q.dead = true;
  }

  /** Drop the oldest datagram other than `keep` (tombstones first: they hold nothing). */
  private dropOldest(keep?: Reass6Queue): boolean {
    for (const q of this.queues.values()) {
      if (q === keep) continue;
      this.clock.clearTimeout(q.timer);
      this.free(q);
      return true;
    }
    return false;
  }

  private free(q: Reass6Queue, count = true): void {
    if (this.queues.get(q.key) === q) this.queues.delete(q.key);
    this.nfrags -= q.frags.length;
    if (count) this.stats.fragdropped += q.frags.length;
    for (const fr of q.frags) mFreem(fr.m);
    q.frags = [];
  }

  private expire(q: Reass6Queue): void {
    if (this.queues.get(q.key) !== q) return;
    this.queues.delete(q.key);
    this.nfrags -= q.frags.length;
    this.stats.fragtimeout += q.frags.length;
    let first: Mbuf | null = null;
    for (const fr of q.frags) {
      if (fr.off === 0) first = fr.m;
      else mFreem(fr.m);
    }
    q.frags = [];
    // RFC 8200 4.5: time exceeded only if the first fragment arrived.
    if (first !== null) this.hooks.timeout(first);
  }
}

/** Key (source, destination, identification), RFC 8200 4.5. */
function keyOf(b: Uint8Array, o: number, ident: number): string {
  let k = '';
  for (let i = o + Ipv6Field.SRC; i < o + Ipv6Field.DST + 16; i += 4) {
    const w = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
    k += w.toString(36) + '.';
  }
  return k + ident.toString(36);
}

/** Bytes an upper-layer header must show in a first fragment (RFC 7112: the whole header chain). */
function upperHeaderLen(nxt: number): number {
  switch (nxt) {
    case Ip6Next.TCP:
      return 20;
    case Ip6Next.UDP:
    case Ip6Next.ICMPV6:
      return 8;
    default:
      return 1;
  }
}

/**
 * Whether the headers after the fragment header (from `start`, relative to
 * the packet) up to the upper-layer header lie within the first mbuf's
 * bytes (which end at absolute `limit`). Extension headers that follow a
 * fragment header are walked the same way IPv6 input walks them.
 */
function headerChainComplete(b: Uint8Array, o: number, start: number, limit: number, nxt: number): boolean {
  let off = o + start;
  for (let n = 0; n < 16; n++) {
    if (nxt === Ip6Next.DSTOPTS || nxt === Ip6Next.ROUTING || nxt === Ip6Next.HOPOPTS) {
      if (off + 2 > limit) return false;
      const hl = (b[off + 1]! + 1) << 3;
      if (off + hl > limit) return false;
      nxt = b[off]!;
      off += hl;
      continue;
    }
    if (nxt === Ip6Next.NONE || nxt === Ip6Next.FRAGMENT) return true;
    return off + upperHeaderLen(nxt) <= limit;
  }
  return true;
}
