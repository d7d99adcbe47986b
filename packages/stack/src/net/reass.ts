/**
 * IPv4 reassembly (NetBSD `sys/netinet/ip_reass.c`, RFC 791 section 3.2,
 * RFC 815): fragments wait in queues keyed by (source, destination, id,
 * protocol) until the datagram is complete, then the pieces are joined with
 * `mCat` — the data stays in the mbufs it arrived in.
 *
 * Policy, with the lesson of RFC 5722 (written for IPv6, true for IPv4):
 * - fragments that **overlap** drop the whole datagram: overlap is how
 *   firewalls are evaded (Ptacek & Newsham), and no honest sender produces it;
 * - an **exact duplicate** (same offset and length, a retransmitted or
 *   duplicated frame) is dropped alone and counted — the datagram survives;
 * - a datagram that would exceed 65535 bytes ("ping of death") is dropped
 *   whole as soon as a fragment reaching past the limit arrives;
 * - fragments that disagree about where the datagram ends are inconsistent:
 *   whole datagram dropped;
 * - memory is bounded: at most `maxfragpackets` datagrams, `maxfrags`
 *   fragments in all (oldest datagrams are dropped to make room, as
 *   `ip_reass_drophalf()` does) and `maxfragsperpacket` per datagram;
 * - a datagram not complete after `timeout` seconds is freed; if its first
 *   fragment had arrived, ICMP time exceeded (code 1) goes back to the sender
 *   (RFC 1122 3.3.2).
 *
 * @module
 */
import type { Clock, TimerHandle } from '../kern/clock.js';
import { mAdj, mCat, mFreem, type Mbuf } from '../mbuf/index.js';
import type { IpStats } from './stats.js';

/** Largest IPv4 datagram (total length field). */
export const IP_MAXPACKET = 65535;

/** Reassembly tunables (`net.inet.ip.reass.*`). */
export interface ReassLimits {
  /** Seconds a datagram may wait for its missing fragments (BSD IPFRAGTTL: 30 s). */
  timeout: number;
  /** Datagrams under reassembly at once. */
  maxfragpackets: number;
  /** Fragments held in all. */
  maxfrags: number;
  /** Fragments per datagram (64 covers a 65535-byte datagram on a 1500-byte MTU: 45 pieces). */
  maxfragsperpacket: number;
}

/** What IPv4 input tells reassembly about one fragment. */
export interface FragInfo {
  src: number;
  dst: number;
  id: number;
  proto: number;
  /** Header length in bytes. */
  hlen: number;
  /** Fragment offset in bytes (field * 8). */
  off: number;
  /** Data length (total length - header length). */
  dataLen: number;
  /** More Fragments flag. */
  mf: boolean;
}

interface Frag {
  off: number;
  end: number;
  /** Data only, except the first fragment, which keeps its IP header in front. */
  m: Mbuf;
  /** Header length kept in front of `m` (0 except for the first fragment). */
  hlen: number;
}

interface ReassQueue {
  readonly key: string;
  /** Sorted by offset, never overlapping. */
  frags: Frag[];
  /** End of the datagram's data once the last fragment (MF clear) arrived, else -1. */
  total: number;
  timer: TimerHandle;
}

/** A reassembled datagram: its header (from the first fragment) in front, data after it. */
export interface Reassembled {
  /** The chain, owned by the caller. */
  m: Mbuf;
  /** Header length of the first fragment. */
  hlen: number;
}

/**
 * Called when a datagram times out while its first fragment is held: the
 * callee owns `first` (the first fragment, IP header in front) and frees it
 * (after sending ICMP time exceeded from it).
 */
export type ReassTimeoutHook = (first: Mbuf) => void;

/** The reassembly queues of one stack. */
export class Reass {
  private readonly queues = new Map<string, ReassQueue>();
  private nfrags = 0;

  constructor(
    private readonly clock: Clock,
    private readonly stats: IpStats,
    /** Read at each use, so sysctl changes take effect at once. */
    readonly limits: ReassLimits,
    private readonly onTimeout: ReassTimeoutHook,
  ) {}

  /** Fragments held now. */
  get fragmentsHeld(): number {
    return this.nfrags;
  }

  /** Datagrams under reassembly now. */
  get datagramsHeld(): number {
    return this.queues.size;
  }

  /**
   * Take one fragment (`ip_reass()`). `m` starts at its IP header, whose
   * `hlen` bytes are contiguous in the first mbuf, and holds exactly
   * `hlen + dataLen` bytes. Ownership of `m` passes here on every path.
   * @returns the complete datagram when this fragment finished it, else null
   *   (held, or dropped and counted).
   */
  input(m: Mbuf, f: FragInfo): Reassembled | null {
    const st = this.stats;
    st.fragments++;
    const off = f.off;
    const end = off + f.dataLen;
    const key = `${f.src}:${f.dst}:${f.id}:${f.proto}`;
    // RFC 791: every fragment but the last carries a multiple of 8 bytes.
    if (f.dataLen === 0 || (f.mf && (f.dataLen & 7) !== 0)) {
      st.badfrags++;
      mFreem(m);
      return null;
    }
    if (f.hlen + end > IP_MAXPACKET) {
      st.toolong++;
      mFreem(m);
      this.dropQueue(key);
      return null;
    }
    let q = this.queues.get(key);
    if (q === undefined) {
      if (this.limits.maxfragpackets <= 0 || this.limits.maxfrags <= 0) {
        st.fragdropped++;
        mFreem(m);
        return null;
      }
      while (this.queues.size >= this.limits.maxfragpackets) this.dropOldest();
      const nq: ReassQueue = {
        key,
        frags: [],
        total: -1,
        timer: this.clock.setTimeout(() => this.expire(nq), this.limits.timeout * 1000),
      };
      q = nq;
      this.queues.set(key, q);
    }
    // Where the datagram ends must be agreed by every fragment.
    if (!f.mf) {
      if ((q.total >= 0 && q.total !== end) || (q.frags.length > 0 && q.frags[q.frags.length - 1]!.end > end)) {
        return this.inconsistent(q, m);
      }
    } else if (q.total >= 0 && end > q.total) {
      return this.inconsistent(q, m);
    }
    // Find the insertion point; any intersection other than an exact duplicate is an overlap.
    const frags = q.frags;
    let i = 0;
    while (i < frags.length && frags[i]!.off < off) i++;
    const prev = i > 0 ? frags[i - 1]! : undefined;
    const next = i < frags.length ? frags[i]! : undefined;
    if (next !== undefined && next.off === off && next.end === end) {
      st.fragdup++;
      mFreem(m);
      return null;
    }
    if ((prev !== undefined && prev.end > off) || (next !== undefined && next.off < end)) {
      st.fragoverlap++;
      mFreem(m);
      this.freeQueue(q, 'fragoverlap');
      return null;
    }
    if (frags.length >= this.limits.maxfragsperpacket) {
      st.fragdropped++;
      mFreem(m);
      this.freeQueue(q, 'fragdropped');
      return null;
    }
    // Make room under the global limit by dropping the oldest other datagrams.
    while (this.nfrags >= this.limits.maxfrags && this.dropOldest(q)) {
      /* dropped one */
    }
    if (this.nfrags >= this.limits.maxfrags) {
      st.fragdropped++;
      mFreem(m);
      if (q.frags.length === 0) this.freeQueue(q, 'fragdropped');
      return null;
    }
    if (off !== 0) mAdj(m, f.hlen); // only the first fragment keeps a header
    frags.splice(i, 0, { off, end, m, hlen: off === 0 ? f.hlen : 0 });
    this.nfrags++;
    if (!f.mf) q.total = end;
    return this.tryComplete(q);
  }

  /** Free every queue and its mbufs (stack close). Not counted as drops. */
  drain(): void {
    for (const q of [...this.queues.values()]) this.freeQueue(q, null);
  }

  private tryComplete(q: ReassQueue): Reassembled | null {
    if (q.total < 0) return null;
    const frags = q.frags;
    let at = 0;
    for (const fr of frags) {
      if (fr.off !== at) return null;
      at = fr.end;
    }
    if (at !== q.total) return null;
    // Complete: the first fragment's chain (header in front) with the rest appended.
    this.clock.clearTimeout(q.timer);
    this.queues.delete(q.key);
    this.nfrags -= frags.length;
    const head = frags[0]!.m;
    for (let k = 1; k < frags.length; k++) mCat(head, frags[k]!.m);
    this.stats.reassembled++;
    return { m: head, hlen: frags[0]!.hlen };
  }

  private inconsistent(q: ReassQueue, m: Mbuf): null {
    this.stats.fraginconsistent++;
    mFreem(m);
    this.freeQueue(q, 'fragdropped');
    return null;
  }

  /** Drop the datagram under `key`, if any (its fragments counted as dropped). */
  private dropQueue(key: string): void {
    const q = this.queues.get(key);
    if (q !== undefined) this.freeQueue(q, 'fragdropped');
  }

  /** Drop the oldest queue other than `keep`; false when there is none. */
  private dropOldest(keep?: ReassQueue): boolean {
    for (const q of this.queues.values()) {
      // Map iteration order is insertion order: the first is the oldest.
      if (q === keep) continue;
      this.freeQueue(q, 'fragdropped');
      return true;
    }
    return false;
  }

  private expire(q: ReassQueue): void {
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
    if (first !== null) this.onTimeout(first);
  }

  /**
   * Unlink a queue and free its fragments; unless `counter` is null (stack
   * close) they are counted in `fragdropped` (`fragoverlap` and friends count
   * datagrams, bumped by the caller).
   */
  private freeQueue(q: ReassQueue, counter: 'fragdropped' | 'fragoverlap' | null): void {
    if (this.queues.get(q.key) === q) this.queues.delete(q.key);
    this.clock.clearTimeout(q.timer);
    this.nfrags -= q.frags.length;
    if (counter !== null) this.stats.fragdropped += q.frags.length;
    for (const fr of q.frags) mFreem(fr.m);
    q.frags = [];
  }
}
