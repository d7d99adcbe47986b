/**
 * Neighbor Discovery for a host (RFC 4861; NetBSD `sys/netinet6/nd6.c`,
 * `nd6_nbr.c`, `nd6_rtr.c`) and the duplicate address detection of
 * stateless autoconfiguration (RFC 4862 5.4).
 *
 * The neighbour cache, one table per interface, moves entries through the
 * NUD states of RFC 4861 7.3.2:
 *
 * ```
 *  (none) --send--> INCOMPLETE --NA--> REACHABLE --reachable time--> STALE
 *                    | multicast NS every RetransTimer,      ^          | send
 *                    | MAX_MULTICAST_SOLICIT, then fail      |          v
 *                    +--> (none), held packets' senders told |        DELAY --5 s--> PROBE
 *                                              solicited NA  +--------- unicast NS x MAX_UNICAST_SOLICIT --> (none)
 * ```
 *
 * - While INCOMPLETE, up to `nd6_maxqueuelen` packets wait (oldest dropped).
 * - Messages are validated as RFC 4861 7.1 and 6.1.2 say — hop limit 255
 *   (so nothing off-link can spoof them: `badhoplimit`), code 0, the fixed
 *   part present, every option of non-zero length — each failure counted.
 * - NS and RA senders' link-layer addresses are learnt as STALE (7.2.3,
 *   6.3.4); an unsolicited NA creates nothing (7.2.5). The table is bounded
 *   (`nd6_maxentries` per interface): the oldest STALE entry is evicted to
 *   make room, else the newcomer is refused (`tablefull`).
 * - Redirects are refused (`redirect`): RFC 4861 8.1 lets a host ignore
 *   them, and we do not let the wire rewrite routes.
 * - Router advertisements (when `net.inet6.ip6.accept_rtadv` is 1) give a
 *   default router, on-link prefixes, the link MTU, hop limit, reachable
 *   and retransmission times, and SLAAC addresses (RFC 4862 5.5.3, with its
 *   two-hour rule), each bounded.
 * - DAD (RFC 4862 5.4): a new address is tentative while `dad_count`
 *   solicitations from `::` go out `RetransTimer` apart; an NS from `::` or
 *   an NA for it meanwhile marks it duplicated, for good.
 *
 * @module
 */
import type { TimerHandle } from '../kern/clock.js';
import { Errno } from '../kern/errno.js';
import { mFreem, mFromBytes, type Mbuf } from '../mbuf/index.js';
import { macEquals, macIsMulticast, macToString } from '../wire/address.js';
import {
  Icmp6Type,
  NaFlag,
  NdMsgLen,
  NdOptions,
  emitNeighborAdvert,
  emitNeighborSolicit,
  emitRouterSolicit,
  icmp6FillChecksum,
  parseNdOptions,
  readPrefixInfo,
} from '../wire/icmpv6.js';
import { IP6_ALL_NODES, IP6_ALL_ROUTERS, IP6_ANY, Ip6Address } from '../wire/ip.js';
import { IPV6_MIN_MTU, Ip6Next } from '../wire/ipv6.js';
import { ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { etherOutput } from './ethernet.js';
import { ip6Mask, solicitedNode, type In6Ifaddr } from './in6.js';
import type { Ifnet } from './ifnet.js';
import type { Inet6 } from './inet6.js';
import { ip6Output } from './ipv6-output.js';
import type { IpPacketInfo } from './protosw.js';

/** ND tunables (`net.inet6.icmp6.nd6_*`, `net.inet6.ip6.dad_count`, `accept_rtadv`), read at each use. */
export interface Nd6Tunables {
  /** Seconds in DELAY before probing (DELAY_FIRST_PROBE_TIME, 5). */
  delay: number;
  /** Unicast probes before a neighbour is declared unreachable (MAX_UNICAST_SOLICIT, 3). */
  umaxtries: number;
  /** Multicast solicitations before resolution fails (MAX_MULTICAST_SOLICIT, 3). */
  mmaxtries: number;
  /** Packets held per INCOMPLETE entry. */
  maxqueuelen: number;
  /** Neighbour entries per interface. */
  maxentries: number;
  /** Solicitations sent for DAD (RFC 4862 DupAddrDetectTransmits, 1); 0 turns DAD off. */
  dadCount: number;
  /** Default RetransTimer in ms, until an RA says otherwise (RFC 4861 10: 1000). */
  retransMs: number;
  /** Process router advertisements (1, the default on a host) or ignore them (0). */
  acceptRtadv: number;
  /** Router solicitations sent when an interface starts (MAX_RTR_SOLICITATIONS, 3); 0: none. */
  rtrSolicitations: number;
  /** Routers, on-link prefixes and SLAAC addresses learnt per interface (each). */
  maxRtrPrefixes: number;
}

/** Default {@link Nd6Tunables}. */
export const ND6_DEFAULTS: Readonly<Nd6Tunables> = {
  delay: 5,
  umaxtries: 3,
  mmaxtries: 3,
  maxqueuelen: 16,
  maxentries: 1024,
  dadCount: 1,
  retransMs: 1000,
  acceptRtadv: 1,
  rtrSolicitations: 3,
  maxRtrPrefixes: 16,
};

/** NUD state of a neighbour entry (RFC 4861 7.3.2), plus static entries made by hand. */
export type Nd6State = 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'static';

interface Nd6Entry {
  readonly ip: Ip6Address;
  readonly ifp: Ifnet;
  state: Nd6State;
  mac: Uint8Array | null;
  isRouter: boolean;
  hold: Mbuf[];
  tries: number;
  timer: TimerHandle | null;
  /** REACHABLE until this clock time. */
  expires: number;
}

/** One neighbour as `ndp -an` shows it. */
export interface Nd6EntryInfo {
  /** RFC 5952 text. */
  ip: string;
  /** `aa:bb:..`, or null while INCOMPLETE. */
  mac: string | null;
  ifname: string;
  state: Nd6State;
  /** Whether the neighbour said it is a router. */
  router: boolean;
  /** ms until a REACHABLE entry turns STALE, else -1. */
  expiresIn: number;
  /** Packets waiting for resolution. */
  held: number;
}

/** Interval between initial router solicitations (RTR_SOLICITATION_INTERVAL, 4 s). */
const RTR_SOLICITATION_INTERVAL_MS = 4000;
/** RFC 4862 5.5.3 (e): a valid lifetime is not cut below two hours by an unauthenticated RA. */
const TWO_HOURS_S = 7200;
/** Lifetime meaning "forever". */
const INFINITE = 0xffffffff;

/** Neighbor Discovery of one stack. */
export class Nd6 {
  private readonly tables = new Map<Ifnet, Map<number, Nd6Entry[]>>();
  private readonly counts = new Map<Ifnet, number>();
  private readonly dadTimers = new Map<In6Ifaddr, TimerHandle>();
  private readonly rsTimers = new Map<Ifnet, TimerHandle>();
  private readonly raHeard = new Set<Ifnet>();
  private readonly opts = new NdOptions();
  private readonly msg = new Uint8Array(64);

  constructor(
    private readonly in6: Inet6,
    readonly tun: Nd6Tunables,
  ) {}

  // ---- the neighbour cache -------------------------------------------------------------------

  private find(ifp: Ifnet, ip: Ip6Address): Nd6Entry | undefined {
    const bucket = this.tables.get(ifp)?.get(ip.hash());
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) if (bucket[i]!.ip.equals(ip)) return bucket[i];
    return undefined;
  }

  /** A new entry, evicting the oldest STALE one when the table is full; null (counted) when none can go. */
  private create(ifp: Ifnet, ip: Ip6Address, state: Nd6State, mac: Uint8Array | null): Nd6Entry | null {
    let t = this.tables.get(ifp);
    if (t === undefined) {
      t = new Map();
      this.tables.set(ifp, t);
    }
    if ((this.counts.get(ifp) ?? 0) >= this.tun.maxentries && state !== 'static') {
      if (!this.evictStale(t)) {
        this.in6.nd6stat.tablefull++;
        return null;
      }
    }
    const e: Nd6Entry = { ip, ifp, state, mac: mac !== null ? mac.slice(0, 6) : null, isRouter: false, hold: [], tries: 0, timer: null, expires: 0 };
    const h = ip.hash();
    const bucket = t.get(h);
    if (bucket === undefined) t.set(h, [e]);
    else bucket.push(e);
    this.counts.set(ifp, (this.counts.get(ifp) ?? 0) + 1);
    this.in6.nd6stat.learned++;
    return e;
  }

  private evictStale(t: Map<number, Nd6Entry[]>): boolean {
    const now = this.in6.net.clock.now();
    for (const bucket of t.values()) {
      for (const e of bucket) {
        if (e.state === 'stale' || (e.state === 'reachable' && e.expires <= now)) {
          this.remove(e, false);
          this.in6.nd6stat.evicted++;
          return true;
        }
      }
    }
    return false;
  }

  /** Unlink an entry, stop its timer and drop what it held (counted unless `quiet`). */
  private remove(e: Nd6Entry, notify: boolean): void {
    const t = this.tables.get(e.ifp);
    const h = e.ip.hash();
    const bucket = t?.get(h);
    if (bucket !== undefined) {
      const i = bucket.indexOf(e);
      if (i >= 0) {
        bucket.splice(i, 1);
        this.counts.set(e.ifp, (this.counts.get(e.ifp) ?? 1) - 1);
        if (bucket.length === 0) t!.delete(h);
      }
    }
    if (e.timer !== null) this.in6.net.clock.clearTimeout(e.timer);
    e.timer = null;
    const held = e.hold;
    e.hold = [];
    for (const m of held) {
      if (notify) {
        this.in6.nd6stat.resolvedrops++;
        this.in6.icmp.localUnreachable(m, Errno.EHOSTUNREACH);
      } else mFreem(m);
    }
  }

  private setTimer(e: Nd6Entry, ms: number, fn: () => void): void {
    const clock = this.in6.net.clock;
    if (e.timer !== null) clock.clearTimeout(e.timer);
    e.timer = clock.setTimeout(() => {
      e.timer = null;
      fn();
    }, ms);
  }

  private stopTimer(e: Nd6Entry): void {
    if (e.timer !== null) this.in6.net.clock.clearTimeout(e.timer);
    e.timer = null;
  }

  /**
   * The link-layer address for `nexthop` on `ifp` (`nd6_resolve`), or a
   * number: 0 when `m` is held while ND runs (ownership passed), an errno
   * when it cannot be (`m` freed). A STALE entry answers at once and starts
   * the DELAY timer (RFC 4861 7.3.3).
   */
  resolve(ifp: Ifnet, nexthop: Ip6Address, m: Mbuf): Uint8Array | number {
    let e = this.find(ifp, nexthop);
    if (e === undefined) {
      const ne = this.create(ifp, nexthop, 'incomplete', null);
      if (ne === null) {
        mFreem(m);
        return Errno.ENOBUFS;
      }
      e = ne;
      e.hold.push(m);
      e.tries = 1;
      this.sendNs(ifp, nexthop, null);
      this.armIncomplete(e);
      return 0;
    }
    switch (e.state) {
      case 'incomplete':
        if (e.hold.length >= this.tun.maxqueuelen) {
          this.in6.nd6stat.holddrops++;
          mFreem(e.hold.shift()!);
        }
        e.hold.push(m);
        return 0;
      case 'reachable':
      case 'stale':
        if (e.state === 'reachable' && e.expires > this.in6.net.clock.now()) return e.mac!;
        // RFC 4861 7.3.3: the first send to a STALE neighbour (a REACHABLE one past its time is STALE) starts DELAY.
        e.state = 'delay';
        this.setTimer(e, this.tun.delay * 1000, () => this.startProbe(e!));
        return e.mac!;
      default:
        return e.mac!;
    }
  }

  private armIncomplete(e: Nd6Entry): void {
    this.setTimer(e, e.ifp.nd6.retransMs, () => {
      if (e.state !== 'incomplete') return;
      if (e.tries >= this.tun.mmaxtries) {
        this.in6.nd6stat.timeouts++;
        this.remove(e, true);
        return;
      }
      e.tries++;
      this.sendNs(e.ifp, e.ip, null);
      this.armIncomplete(e);
    });
  }

  private startProbe(e: Nd6Entry): void {
    if (e.state !== 'delay') return;
    e.state = 'probe';
    e.tries = 1;
    this.sendNs(e.ifp, e.ip, e.mac);
    this.armProbe(e);
  }

  private armProbe(e: Nd6Entry): void {
    this.setTimer(e, e.ifp.nd6.retransMs, () => {
      if (e.state !== 'probe') return;
      if (e.tries >= this.tun.umaxtries) {
        this.in6.nd6stat.nudfailed++;
        this.remove(e, true);
        return;
      }
      e.tries++;
      this.sendNs(e.ifp, e.ip, e.mac);
      this.armProbe(e);
    });
  }

  private reachableConfirmed(e: Nd6Entry): void {
    this.stopTimer(e);
    e.state = 'reachable';
    e.expires = this.in6.net.clock.now() + e.ifp.nd6.reachableMs;
    this.in6.nd6stat.confirmed++;
  }

  /** A link-layer address learnt for `e`: held packets go out now. */
  private flushHold(e: Nd6Entry): void {
    const held = e.hold;
    e.hold = [];
    for (const m of held) etherOutput(this.in6.net, e.ifp, m, e.mac!, ETHERTYPE_IPV6);
  }

  /** Learn `mac` for `ip` from an NS or RA sender (RFC 4861 7.2.3, 6.3.4): STALE when new or changed. */
  private learn(ifp: Ifnet, ip: Ip6Address, mac: Uint8Array, isRouter: boolean): void {
    let e = this.find(ifp, ip);
    if (e === undefined) {
      const ne = this.create(ifp, ip, 'stale', mac);
      if (ne === null) return;
      ne.isRouter = isRouter;
      return;
    }
    if (isRouter) e.isRouter = true;
    if (e.state === 'static') return;
    if (e.state === 'incomplete') {
      e.mac = mac.slice(0, 6);
      this.stopTimer(e);
      e.state = 'stale';
      this.flushHold(e);
      return;
    }
    if (!macEquals(e.mac!, mac)) {
      e.mac = mac.slice(0, 6);
      this.stopTimer(e);
      e.state = 'stale';
    }
  }

  // ---- input ---------------------------------------------------------------------------------

  /**
   * Process an ND message (RS, RA, NS, NA, redirect). `m` starts at the
   * IPv6 header; the message is `len` bytes at `off`, contiguous in the
   * first mbuf up to a cluster's worth. Ownership passes here.
   */
  input(m: Mbuf, off: number, len: number, info: IpPacketInfo<Ip6Address>, ifp: Ifnet): void {
    const st = this.in6.nd6stat;
    const b = m.data;
    const o = m.off + off;
    const type = b[o]!;
    try {
      if (type === Icmp6Type.REDIRECT) {
        st.redirect++;
        return;
      }
      if (type === Icmp6Type.ROUTER_SOLICIT) {
        st.rxrs++;
        return;
      }
      // RFC 4861 7.1, 6.1: hop limit 255 proves the sender is on-link; code 0.
      if (info.ttl !== 255) {
        st.badhoplimit++;
        return;
      }
      if (b[o + 1] !== 0) {
        st.badcode++;
        return;
      }
      if (ifp.isLoopback || off + len > m.len) {
        st.badlen++;
        return;
      }
      const fixed =
        type === Icmp6Type.NEIGHBOR_SOLICIT ? NdMsgLen.NEIGHBOR_SOLICIT : type === Icmp6Type.NEIGHBOR_ADVERT ? NdMsgLen.NEIGHBOR_ADVERT : NdMsgLen.ROUTER_ADVERT;
      if (len < fixed || parseNdOptions(b, o + fixed, o + len, this.opts) !== null) {
        st.badlen++;
        return;
      }
      if (type === Icmp6Type.NEIGHBOR_SOLICIT) this.nsInput(b, o, info, ifp);
      else if (type === Icmp6Type.NEIGHBOR_ADVERT) this.naInput(b, o, info, ifp);
      else this.raInput(b, o, info, ifp);
    } finally {
      mFreem(m);
    }
  }

  /** RFC 4861 7.1.1 and 7.2.3; RFC 4862 5.4.3 for tentative targets. */
  private nsInput(b: Uint8Array, o: number, info: IpPacketInfo<Ip6Address>, ifp: Ifnet): void {
    const st = this.in6.nd6stat;
    const opts = this.opts;
    st.rxns++;
    const t = o + 8;
    const fromNowhere = info.src.isUnspecified;
    if (b[t] === 0xff) {
      st.invalid++;
      return;
    }
    // From ::, only DAD: to a solicited-node group, without a source link-layer option.
    if (fromNowhere && (!isSolicitedNodeAt(info.dst) || opts.srcLl >= 0)) {
      st.invalid++;
      return;
    }
    const ia = this.in6.addressOn(ifp, b, t);
    if (ia === null) {
      st.nsother++;
      return;
    }
    if (ia.state === 'tentative') {
      // RFC 4862 5.4.3: another node is doing DAD for it too -> duplicate; else ignore.
      if (fromNowhere) this.dadFailed(ia);
      return;
    }
    if (ia.state === 'duplicated') return;
    if (!fromNowhere && opts.srcLl >= 0 && !macIsMulticast(b, opts.srcLl)) {
      this.learn(ifp, info.src, b.subarray(opts.srcLl, opts.srcLl + 6), false);
    }
    // RFC 4861 7.2.4: answer; to all-nodes without S when the solicitation came from ::.
    const dst = fromNowhere ? IP6_ALL_NODES : info.src;
    const flags = (fromNowhere ? 0 : NaFlag.SOLICITED) | NaFlag.OVERRIDE;
    this.sendNa(ifp, ia.addr, dst, flags);
  }

  /** RFC 4861 7.1.2 and 7.2.5. */
  private naInput(b: Uint8Array, o: number, info: IpPacketInfo<Ip6Address>, ifp: Ifnet): void {
    const st = this.in6.nd6stat;
    const opts = this.opts;
    st.rxna++;
    const t = o + 8;
    const flags = b[o + 4]!;
    const solicited = (flags & NaFlag.SOLICITED) !== 0;
    if (b[t] === 0xff || (info.dst.isMulticast && solicited)) {
      st.invalid++;
      return;
    }
    const ia = this.in6.addressOn(ifp, b, t);
    if (ia !== null) {
      if (ia.state === 'tentative') this.dadFailed(ia);
      else st.dupaddr++;
      return;
    }
    const target = Ip6Address.fromBytes(b, t);
    const e = this.find(ifp, target);
    if (e === undefined) {
      st.nanoentry++;
      return;
    }
    if (e.state === 'static') return;
    const tll = opts.tgtLl >= 0 && !macIsMulticast(b, opts.tgtLl) ? b.subarray(opts.tgtLl, opts.tgtLl + 6) : null;
    const isRouter = (flags & NaFlag.ROUTER) !== 0;
    if (e.state === 'incomplete') {
      if (tll === null) {
        st.invalid++;
        return;
      }
      e.mac = tll.slice();
      e.isRouter = isRouter;
      if (solicited) this.reachableConfirmed(e);
      else {
        this.stopTimer(e);
        e.state = 'stale';
      }
      this.flushHold(e);
      return;
    }
    const differs = tll !== null && !macEquals(e.mac!, tll);
    if ((flags & NaFlag.OVERRIDE) === 0 && differs) {
      // 7.2.5: a non-override advertisement may not change the address; a REACHABLE entry turns STALE.
      if (e.state === 'reachable') e.state = 'stale';
      return;
    }
    if (differs) e.mac = tll.slice();
    if (solicited) this.reachableConfirmed(e);
    else if (differs) {
      this.stopTimer(e);
      e.state = 'stale';
    }
    if (e.isRouter && !isRouter) {
      // 7.2.5: no longer a router -> no longer a default router.
      this.in6.routes.purge((r) => r.kind === 'ra' && r.ifp === ifp && r.gateway !== null && r.gateway.equals(e.ip));
    }
    e.isRouter = isRouter;
  }

  /** RFC 4861 6.1.2 validation, 6.3.4 processing; RFC 4862 5.5.3 for prefixes with the A flag. */
  private raInput(b: Uint8Array, o: number, info: IpPacketInfo<Ip6Address>, ifp: Ifnet): void {
    const st = this.in6.nd6stat;
    const opts = this.opts;
    st.rxra++;
    if (!info.src.isLinkLocal) {
      st.invalid++;
      return;
    }
    if (this.tun.acceptRtadv === 0) {
      st.raignored++;
      return;
    }
    st.raaccepted++;
    this.raHeard.add(ifp);
    const nd = ifp.nd6;
    const now = this.in6.net.clock.now();
    const u32 = (x: number): number => ((b[x]! << 24) | (b[x + 1]! << 16) | (b[x + 2]! << 8) | b[x + 3]!) >>> 0;
    if (b[o + 4] !== 0) nd.curHopLimit = b[o + 4]!;
    const reachable = u32(o + 8);
    if (reachable !== 0 && reachable <= 3_600_000 && reachable !== nd.baseReachableMs) {
      nd.baseReachableMs = reachable;
      nd.reachableMs = randomReachable(reachable);
    }
    const retrans = u32(o + 12);
    if (retrans !== 0 && retrans <= 3_600_000) nd.retransMs = retrans;
    if (opts.srcLl >= 0 && !macIsMulticast(b, opts.srcLl)) this.learn(ifp, info.src, b.subarray(opts.srcLl, opts.srcLl + 6), true);
    if (opts.mtu >= IPV6_MIN_MTU && opts.mtu <= ifp.mtu) nd.linkMtu = opts.mtu;
    // Default router (6.3.4): lifetime 0 removes it.
    const lifetime = (b[o + 6]! << 8) | b[o + 7]!;
    const routes = this.in6.routes;
    const existing = routes.all().find((r) => r.kind === 'ra' && r.prefixLen === 0 && r.ifp === ifp && r.gateway?.equals(info.src));
    if (lifetime === 0) {
      if (existing !== undefined) routes.delete(existing);
    } else if (existing !== undefined) {
      existing.expires = now + lifetime * 1000;
    } else if (this.raRoutes(ifp) < this.tun.maxRtrPrefixes) {
      routes.add(IP6_ANY, 0, ifp, info.src, 'ra', now + lifetime * 1000);
    } else st.prefixrefused++;
    for (let i = 0; i < opts.nprefix; i++) this.prefixInput(b, opts.prefix[i]!, ifp, now);
  }

  private raRoutes(ifp: Ifnet): number {
    let n = 0;
    for (const r of this.in6.routes.all()) if (r.kind === 'ra' && r.ifp === ifp) n++;
    return n;
  }

  private prefixInput(b: Uint8Array, at: number, ifp: Ifnet, now: number): void {
    const st = this.in6.nd6stat;
    const pi = readPrefixInfo(b, at);
    const prefix = ip6Mask(Ip6Address.fromBytes(b, pi.prefixOffset), Math.min(pi.prefixLen, 128));
    // 6.3.4 / RFC 4862 5.5.3 (b, c): ignore link-local prefixes and preferred > valid.
    if (prefix.isLinkLocal || prefix.isMulticast || pi.prefixLen > 128 || pi.preferredLifetime > pi.validLifetime) {
      st.prefixrefused++;
      return;
    }
    const routes = this.in6.routes;
    if (pi.onLink) {
      const r = routes.get(prefix, pi.prefixLen, ifp);
      const until = pi.validLifetime === INFINITE ? Infinity : now + pi.validLifetime * 1000;
      if (r !== undefined) {
        if (r.kind === 'ra') {
          if (pi.validLifetime === 0) routes.delete(r);
          else r.expires = until;
        }
      } else if (pi.validLifetime !== 0) {
        if (this.raRoutes(ifp) < this.tun.maxRtrPrefixes) routes.add(prefix, pi.prefixLen, ifp, null, 'ra', until);
        else st.prefixrefused++;
      }
    }
    if (!pi.autonomous) return;
    // RFC 4862 5.5.3 (d): the prefix plus our 64-bit interface identifier must make 128 bits.
    if (pi.prefixLen !== 64 || ifp.mac.length !== 6) {
      st.prefixrefused++;
      return;
    }
    const [hi, lo] = this.in6.interfaceId(ifp, prefix);
    const addr = Ip6Address.fromWords(prefix.w0, prefix.w1, hi, lo);
    const ia = ifp.addrs6.find((a) => a.addr.equals(addr));
    const validMs = pi.validLifetime === INFINITE ? Infinity : now + pi.validLifetime * 1000;
    const prefMs = pi.preferredLifetime === INFINITE ? Infinity : now + pi.preferredLifetime * 1000;
    if (ia !== undefined) {
      if (ia.origin !== 'slaac') return;
      ia.preferredUntil = prefMs;
      // 5.5.3 (e): the two-hour rule against a spoofed RA cutting the lifetime short.
      const remaining = ia.validUntil - now;
      if (pi.validLifetime > TWO_HOURS_S || validMs > ia.validUntil) ia.validUntil = validMs;
      else if (remaining > TWO_HOURS_S * 1000) ia.validUntil = now + TWO_HOURS_S * 1000;
      if (ia.state === 'deprecated' && prefMs > now) ia.state = 'preferred';
      return;
    }
    if (pi.validLifetime === 0) return;
    if (ifp.addrs6.filter((a) => a.origin === 'slaac').length >= this.tun.maxRtrPrefixes) {
      st.prefixrefused++;
      return;
    }
    this.in6.addAddress(ifp, addr, 64, 'slaac', validMs, prefMs);
    st.slaac++;
  }

  // ---- output --------------------------------------------------------------------------------

  /** Send an ND message held in `this.msg[0 .. len)`, hop limit 255 (RFC 4861 7.1). */
  private sendNd(ifp: Ifnet, src: Ip6Address, dst: Ip6Address, len: number): void {
    icmp6FillChecksum(src, dst, this.msg, 0, len);
    const m = mFromBytes(this.in6.net.pool, this.msg.subarray(0, len), { headroom: 64 });
    if (m === null) {
      this.in6.icmp6stat.nobufs++;
      return;
    }
    ip6Output(this.in6, m, { src, dst, proto: Ip6Next.ICMPV6, hopLimit: 255, ifindex: ifp.index, allowUnspecified: src.isUnspecified });
  }

  /**
   * Solicit `target` (RFC 4861 7.2.2): multicast to its solicited-node
   * group while resolving, unicast to `mac` when probing. From a usable
   * address of the interface with a source link-layer option.
   */
  private sendNs(ifp: Ifnet, target: Ip6Address, mac: Uint8Array | null): void {
    const src = this.in6.selectSourceFor(target, ifp.index);
    if (src === null) return;
    const len = emitNeighborSolicit(this.msg, 0, target, ifp.mac);
    this.in6.nd6stat.txns++;
    if (mac === null) this.sendNd(ifp, src, solicitedNode(target), len);
    else this.sendNd(ifp, src, target, len);
  }

  private sendNa(ifp: Ifnet, target: Ip6Address, dst: Ip6Address, flags: number): void {
    const len = emitNeighborAdvert(this.msg, 0, target, flags, ifp.mac);
    this.in6.nd6stat.txna++;
    this.sendNd(ifp, target, dst, len);
  }

  // ---- DAD and router solicitation -----------------------------------------------------------

  /**
   * Start duplicate address detection for `ia` (RFC 4862 5.4): tentative
   * until `dad_count` solicitations went unanswered for RetransTimer each;
   * at once preferred when DAD is off or on loopback.
   */
  startDad(ifp: Ifnet, ia: In6Ifaddr): void {
    if (this.tun.dadCount <= 0 || ifp.isLoopback) {
      ia.state = 'preferred';
      this.addressReady(ifp, ia);
      return;
    }
    ia.state = 'tentative';
    ia.dadLeft = this.tun.dadCount;
    this.dadStep(ifp, ia);
  }

  private dadStep(ifp: Ifnet, ia: In6Ifaddr): void {
    if (ia.state !== 'tentative') return;
    if (ia.dadLeft <= 0 || !ifp.up) {
      if (!ifp.up) return; // resumes when the interface comes up
      this.dadTimers.delete(ia);
      ia.state = 'preferred';
      this.in6.nd6stat.dadok++;
      this.addressReady(ifp, ia);
      return;
    }
    ia.dadLeft--;
    const len = emitNeighborSolicit(this.msg, 0, ia.addr, null);
    this.in6.nd6stat.txns++;
    this.sendNd(ifp, IP6_ANY, ia.solicited, len);
    const clock = this.in6.net.clock;
    this.dadTimers.set(
      ia,
      clock.setTimeout(() => this.dadStep(ifp, ia), ifp.nd6.retransMs),
    );
  }

  /** RFC 4862 5.4.5: the address is someone else's; it is never used. */
  private dadFailed(ia: In6Ifaddr): void {
    const t = this.dadTimers.get(ia);
    if (t !== undefined) this.in6.net.clock.clearTimeout(t);
    this.dadTimers.delete(ia);
    ia.state = 'duplicated';
    this.in6.nd6stat.dadfailed++;
  }

  /** An address became usable: announce nothing (RFC 4861 7.2.6 is optional), solicit routers after the link-local one. */
  private addressReady(ifp: Ifnet, ia: In6Ifaddr): void {
    if (ia.origin === 'linklocal' && this.tun.acceptRtadv !== 0 && this.tun.rtrSolicitations > 0) this.solicitRouters(ifp, 0);
  }

  /** RFC 4861 6.3.7: up to MAX_RTR_SOLICITATIONS, 4 s apart, until an RA arrives. */
  private solicitRouters(ifp: Ifnet, sent: number): void {
    this.rsTimers.delete(ifp);
    if (this.raHeard.has(ifp) || sent >= this.tun.rtrSolicitations || !ifp.up || this.in6.net.closed) return;
    const src = this.in6.selectSourceFor(IP6_ALL_ROUTERS, ifp.index);
    const len = emitRouterSolicit(this.msg, 0, src !== null ? ifp.mac : null);
    this.in6.nd6stat.txrs++;
    this.sendNd(ifp, src ?? IP6_ANY, IP6_ALL_ROUTERS, len);
    this.rsTimers.set(
      ifp,
      this.in6.net.clock.setTimeout(() => this.solicitRouters(ifp, sent + 1), RTR_SOLICITATION_INTERVAL_MS),
    );
  }

  /** Stop DAD for an address being removed. */
  cancelDad(ia: In6Ifaddr): void {
    const t = this.dadTimers.get(ia);
    if (t !== undefined) this.in6.net.clock.clearTimeout(t);
    this.dadTimers.delete(ia);
  }

  // ---- administration ------------------------------------------------------------------------

  /** Add a static entry (`ndp -s`): never expires, never changed by the wire. */
  addStatic(ifp: Ifnet, ip: Ip6Address, mac: Uint8Array): void {
    const old = this.find(ifp, ip);
    if (old !== undefined) {
      old.mac = mac.slice(0, 6);
      this.stopTimer(old);
      old.state = 'static';
      this.flushHold(old);
      return;
    }
    this.create(ifp, ip, 'static', mac);
  }

  /** Delete the entry for `ip` (on any interface); returns whether there was one. */
  delete(ip: Ip6Address): boolean {
    let found = false;
    for (const ifp of [...this.tables.keys()]) {
      const e = this.find(ifp, ip);
      if (e !== undefined) {
        this.remove(e, false);
        found = true;
      }
    }
    return found;
  }

  /** Entries on `ifp` now. */
  size(ifp: Ifnet): number {
    return this.counts.get(ifp) ?? 0;
  }

  /** The neighbour cache (`ndp -an`). */
  list(): Nd6EntryInfo[] {
    const now = this.in6.net.clock.now();
    const out: Nd6EntryInfo[] = [];
    for (const t of this.tables.values()) {
      for (const bucket of t.values()) {
        for (const e of bucket) {
          const state = e.state === 'reachable' && e.expires <= now ? 'stale' : e.state;
          out.push({
            ip: e.ip.toString(),
            mac: e.mac !== null ? macToString(e.mac) : null,
            ifname: e.ifp.name,
            state,
            router: e.isRouter,
            expiresIn: state === 'reachable' ? Math.max(0, Math.round(e.expires - now)) : -1,
            held: e.hold.length,
          });
        }
      }
    }
    return out;
  }

  /** Forget `ifp`'s neighbours, or every interface's (stack close: held packets freed silently, timers stopped). */
  purge(ifp?: Ifnet): void {
    for (const [i, t] of [...this.tables]) {
      if (ifp !== undefined && i !== ifp) continue;
      for (const bucket of [...t.values()]) for (const e of [...bucket]) this.remove(e, false);
      this.tables.delete(i);
      this.counts.delete(i);
    }
    for (const [i, h] of [...this.rsTimers]) {
      if (ifp !== undefined && i !== ifp) continue;
      this.in6.net.clock.clearTimeout(h);
      this.rsTimers.delete(i);
    }
    if (ifp === undefined) {
      for (const h of this.dadTimers.values()) this.in6.net.clock.clearTimeout(h);
      this.dadTimers.clear();
    }
  }
}

/** RFC 4861 6.3.2: ReachableTime is a uniform random 0.5..1.5 times the base. */
export function randomReachable(base: number): number {
  return Math.round(base * (0.5 + Math.random()));
}

function isSolicitedNodeAt(a: Ip6Address): boolean {
  return a.w0 === 0xff020000 && a.w1 === 0 && a.w2 === 1 && a.w3 >>> 24 === 0xff;
}
