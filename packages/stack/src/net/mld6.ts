/**
 * Multicast Listener Discovery, version 2, host side (RFC 3810; NetBSD
 * `sys/netinet6/mld6.c`), reduced to what Neighbor Discovery needs: a
 * switch or bridge that snoops MLD forwards a solicited-node group only to
 * the ports that reported it, so a host that never reports cannot be
 * resolved behind one. A tap to Linux, or a Linux bridge without an MLD
 * querier, floods multicast and needs none of this — it is sent anyway,
 * as every host does.
 *
 * - Joining a group sends an unsolicited report with a CHANGE_TO_EXCLUDE
 *   record (RFC 3810 6.1), leaving one with CHANGE_TO_INCLUDE; all-nodes
 *   (`ff02::1`) and groups of interface-local scope are never reported
 *   (RFC 3810 6).
 * - A query from a link-local source (5.1.14) is answered after a random
 *   delay up to its Maximum Response Delay with the current state
 *   (MODE_IS_EXCLUDE records) of every group it asks about.
 * - Reports carry a hop-by-hop Router Alert (RFC 2711) and hop limit 1, and
 *   leave from the link-local address, or from `::` while it is tentative
 *   (RFC 3590 4).
 *
 * @module
 */
import type { TimerHandle } from '../kern/clock.js';
import { mFromBytes } from '../mbuf/index.js';
import { Icmp6Type, icmp6FillChecksum } from '../wire/icmpv6.js';
import { IP6_ANY, Ip6Address } from '../wire/ip.js';
import { Ip6Next } from '../wire/ipv6.js';
import type { Ifnet } from './ifnet.js';
import type { Inet6 } from './inet6.js';
import { ip6Output } from './ipv6-output.js';

/** `ff02::16`, where MLDv2 reports go (RFC 3810 5.2.14). */
export const IP6_ALL_MLDV2_ROUTERS: Ip6Address = Ip6Address.fromWords(0xff020000, 0, 0, 0x16);

/** MLDv2 multicast address record types (RFC 3810 5.2.12). */
export const MldRecord = {
  MODE_IS_INCLUDE: 1,
  MODE_IS_EXCLUDE: 2,
  CHANGE_TO_INCLUDE: 3,
  CHANGE_TO_EXCLUDE: 4,
} as const;

/** Bytes of an MLDv2 report header, and of one record without sources. */
const REPORT_HEADER = 8;
const RECORD_LEN = 20;
/** Records per report: the message stays well inside the IPv6 minimum MTU. */
const MAX_RECORDS = 50;
/** The hop-by-hop header every MLD message carries: Next Header 58, Router Alert (value 0, MLD), PadN. */
const HBH_ROUTER_ALERT = Uint8Array.of(Ip6Next.ICMPV6, 0, 5, 2, 0, 0, 1, 0);

/** Whether `g` is reported (RFC 3810 6: not all-nodes, not interface-local or reserved scope). */
export function mldReportable(g: Ip6Address): boolean {
  const scope = (g.w0 >>> 16) & 0xf;
  if (scope <= 1) return false;
  return !(g.w0 === 0xff020000 && g.w1 === 0 && g.w2 === 0 && g.w3 === 1);
}

/** MLDv2 of one stack. */
export class Mld6 {
  private readonly pending = new Map<Ifnet, TimerHandle>();

  constructor(private readonly in6: Inet6) {}

  /** A group was joined (`record` CHANGE_TO_EXCLUDE) or left (CHANGE_TO_INCLUDE) on `ifp`: report it once. */
  stateChange(ifp: Ifnet, g: Ip6Address, record: number): void {
    if (ifp.isLoopback || !ifp.up || this.in6.net.closed || !mldReportable(g)) return;
    this.send(ifp, [g], record);
  }

  /**
   * An MLD query (`m` bytes at `b[o .. o + len)`, validated by ICMPv6: its
   * checksum). Answered with the state of the groups it asks about after a
   * random part of its Maximum Response Delay.
   */
  queryInput(b: Uint8Array, o: number, len: number, src: Ip6Address, hopLimit: number, ifp: Ifnet): void {
    const st = this.in6.icmp6stat;
    // RFC 3810 5.1.14 / 5.2.13: a link-local source, hop limit 1, the whole fixed part.
    if (!src.isLinkLocal || hopLimit !== 1 || len < 24 || ifp.isLoopback) {
      st.mldbad++;
      return;
    }
    st.mldquery++;
    const code = (b[o + 4]! << 8) | b[o + 5]!;
    // RFC 3810 5.1.3: Maximum Response Code, literal below 32768, else a floating-point form.
    const maxMs = len >= 28 && code >= 0x8000 ? ((code & 0x0fff) | 0x1000) << (((code >>> 12) & 7) + 3) : code;
    const group = Ip6Address.fromBytes(b, o + 8);
    const groups = group.isUnspecified ? ifp.groups6.map((x) => x.addr) : ifp.groups6.some((x) => x.addr.equals(group)) ? [group] : [];
    const report = groups.filter(mldReportable);
    if (report.length === 0 || this.pending.has(ifp)) return;
    const clock = this.in6.net.clock;
    this.pending.set(
      ifp,
      clock.setTimeout(() => {
        this.pending.delete(ifp);
        // Only groups still joined by then.
        const now = report.filter((g) => ifp.groups6.some((x) => x.addr.equals(g)));
        if (now.length > 0) this.send(ifp, now, MldRecord.MODE_IS_EXCLUDE);
      }, Math.floor(Math.random() * Math.min(maxMs, 10_000))),
    );
  }

  private send(ifp: Ifnet, groups: readonly Ip6Address[], record: number): void {
    const st = this.in6.icmp6stat;
    for (let i = 0; i < groups.length; i += MAX_RECORDS) {
      const part = groups.slice(i, i + MAX_RECORDS);
      const len = REPORT_HEADER + RECORD_LEN * part.length;
      const msg = new Uint8Array(HBH_ROUTER_ALERT.length + len);
      msg.set(HBH_ROUTER_ALERT, 0);
      const o = HBH_ROUTER_ALERT.length;
      msg[o] = Icmp6Type.MLDV2_REPORT;
      msg[o + 6] = part.length >>> 8;
      msg[o + 7] = part.length & 0xff;
      part.forEach((g, k) => {
        const r = o + REPORT_HEADER + k * RECORD_LEN;
        msg[r] = record;
        g.writeTo(msg, r + 4);
      });
      const ll = ifp.addrs6.find((a) => a.addr.isLinkLocal && (a.state === 'preferred' || a.state === 'deprecated'));
      const src = ll?.addr ?? IP6_ANY;
      icmp6FillChecksum(src, IP6_ALL_MLDV2_ROUTERS, msg, o, len);
      const m = mFromBytes(this.in6.net.pool, msg, { headroom: 64 });
      if (m === null) {
        st.nobufs++;
        return;
      }
      st.mldreport++;
      ip6Output(this.in6, m, {
        src,
        dst: IP6_ALL_MLDV2_ROUTERS,
        proto: Ip6Next.HOPOPTS,
        hopLimit: 1,
        ifindex: ifp.index,
        allowUnspecified: src.isUnspecified,
      });
    }
  }

  /** Stop pending query answers (stack close, or `ifp` going down). */
  purge(ifp?: Ifnet): void {
    for (const [i, t] of [...this.pending]) {
      if (ifp !== undefined && i !== ifp) continue;
      this.in6.net.clock.clearTimeout(t);
      this.pending.delete(i);
    }
  }
}
