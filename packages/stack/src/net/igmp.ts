/**
 * IGMP, host side (RFC 3376 version 3, with the RFC 3376 7 compatibility
 * modes for version 1 and 2 queriers; FreeBSD `sys/netinet/igmp.c`).
 *
 * - **State changes** (RFC 3376 5.1): when a group's filter on an
 *   interface changes (`in-mcast.ts`), a v3 report with the change
 *   records goes to 224.0.0.22 at once and once more after a random delay
 *   within the Unsolicited Report Interval (1 s; Robustness Variable 2).
 *   Joining any-source is TO_EX({}), leaving TO_IN({}); source lists change
 *   with ALLOW/BLOCK records. 224.0.0.1 is never reported (RFC 3376 5).
 * - **Queries** (RFC 3376 5.2): answered after a random part of the Max
 *   Resp Time with the current state (IS_EX/IS_IN records) of every group a
 *   general query asks about, or of the one group a group-specific query
 *   names (a group-and-source query gets the whole group's state).
 * - **Older queriers** (RFC 3376 7.2.1): a v1 or v2 query puts the
 *   interface in v1/v2 mode for the Older Version Querier Present Timeout
 *   (Robustness × Query Interval + Query Response Interval, 260 s): reports
 *   are then v1/v2 Membership Reports sent to the group, leaves v2 Leave
 *   Group to 224.0.0.2 (none in v1 mode), and source lists are ignored.
 * - Every message leaves with TTL 1, precedence Internetwork Control (TOS
 *   0xc0) and a Router Alert option (RFC 2113), from the interface's first
 *   address, or 0.0.0.0 without one (RFC 3376 4.2.13).
 * - **Input checks**, each a named counter in `net.inet.igmp.stats`: shorter
 *   than 8 bytes, bad checksum, counts past the end, TTL not 1, an unknown
 *   type, a general query not sent to 224.0.0.1 (RFC 3376 9.1) or one with
 *   sources, a group-specific query for a non-group or not sent to its group.
 *
 * @module
 */
import type { TimerHandle } from '../kern/clock.js';
import { mFreem, mFromBytes, mLength, mToBytes, type Mbuf } from '../mbuf/index.js';
import { ipv4IsMulticast } from '../wire/address.js';
import { Ipv4Repr } from '../wire/ipv4.js';
import {
  IgmpRecord,
  IgmpType,
  igmpEmitV2,
  igmpEmitV3Report,
  igmpParse,
  type IgmpError,
  type IgmpGroupRecord,
} from '../wire/igmp.js';
import type { NetContext } from './context.js';
import { etherOutput, multicastMac } from './ethernet.js';
import { INADDR_ALLHOSTS_GROUP, type Ifnet } from './ifnet.js';
import { inMultiState, type InMultiState } from './in-mcast.js';
import type { IpPacketInfo } from './protosw.js';

/** IP protocol number of IGMP. */
export const IPPROTO_IGMP = 2;
/** 224.0.0.2, all routers: where v2 Leave Group goes (RFC 2236 3). */
export const INADDR_ALLRTRS_GROUP = 0xe0000002;
/** 224.0.0.22, all IGMPv3-capable routers: where v3 reports go (RFC 3376 4.2.14). */
export const INADDR_ALLRPTS_GROUP = 0xe0000016;
/** Unsolicited Report Interval (RFC 3376 8.11): 1 s. */
const UNSOLICITED_REPORT_MS = 1000;
/** Older Version Querier Present Timeout (RFC 3376 8.12): 2 × 125 s + 10 s. */
const OLDER_QUERIER_MS = 260_000;
/** The longest we wait before answering a query, whatever it asks (a hostile 53-minute code is clamped). */
const MAX_RESPONSE_MS = 25_500;
/** Group records per report: the report stays under 576 bytes without sources. */
const MAX_RECORDS = 64;
/** IP header option Router Alert (RFC 2113): type 148, length 4, value 0. */
const ROUTER_ALERT = Uint8Array.of(0x94, 0x04, 0x00, 0x00);
/** IP precedence Internetwork Control (RFC 3376 4). */
const TOS_INTERNETWORK_CONTROL = 0xc0;

/** IGMP counters (`struct igmpstat`, `netstat -s -p igmp`), under `net.inet.igmp.stats`. */
export function newIgmpStats() {
  return {
    /** Messages received. */
    total: 0,
    /** Fewer than 8 bytes. */
    tooshort: 0,
    /** Checksum wrong. */
    badsum: 0,
    /** Source or record counts past the end of the message, or a 9..11-byte query. */
    badlen: 0,
    /** IP TTL not 1 (RFC 3376 4, RFC 2236 2). */
    badttl: 0,
    /** A type we do not know (ignored, RFC 3376 4). */
    unknowntype: 0,
    /** Version 1 and 2 queries. */
    v1v2queries: 0,
    /** Version 3 queries. */
    v3queries: 0,
    /** Queries refused: general not to 224.0.0.1 or with sources, group-specific for a non-group or not to its group. */
    badqueries: 0,
    /** General queries accepted. */
    genqueries: 0,
    /** Group-specific queries accepted. */
    groupqueries: 0,
    /** Group-and-source-specific queries accepted (answered as group-specific). */
    gsrqueries: 0,
    /** Reports of other hosts (v1, v2, v3) and leaves seen. */
    reports: 0,
    /** Reports that came from one of our own addresses. */
    ourreports: 0,
    /** Reports we sent (each message once). */
    sndreports: 0,
    /** Reports not sent for lack of mbufs. */
    nobufs: 0,
  };
}

/** The IGMP counters. */
export type IgmpStats = ReturnType<typeof newIgmpStats>;

/** What IGMP needs from the stack besides {@link NetContext}. */
export interface IgmpContext extends NetContext {
  readonly igmpstat: IgmpStats;
}

/** Per-interface IGMP state. */
interface IgmpIf {
  /** Clock time until which a v1 / v2 querier is present (RFC 3376 7.2.1). */
  v1Until: number;
  v2Until: number;
  /** The pending answer to a query, and the groups it will report (null: all). */
  answer: TimerHandle | null;
  answerGroups: Set<number> | null;
  /** Retransmissions of state-change reports waiting. */
  readonly retrans: Set<TimerHandle>;
}

/** IGMP of one stack. */
export class Igmp {
  private readonly ifs = new Map<Ifnet, IgmpIf>();

  constructor(private readonly ctx: IgmpContext) {}

  private state(ifp: Ifnet): IgmpIf {
    let s = this.ifs.get(ifp);
    if (s === undefined) {
      s = { v1Until: 0, v2Until: 0, answer: null, answerGroups: null, retrans: new Set() };
      this.ifs.set(ifp, s);
    }
    return s;
  }

  /** The version the interface speaks now: 1 or 2 while an older querier is present, else 3. */
  version(ifp: Ifnet): 1 | 2 | 3 {
    const s = this.ifs.get(ifp);
    if (s === undefined) return 3;
    const now = this.ctx.clock.now();
    if (s.v1Until > now) return 1;
    if (s.v2Until > now) return 2;
    return 3;
  }

  /**
   * The filter of group `g` on `ifp` changed from `before` to `after`
   * (`igmp_change_state`): send the state-change report now and once more
   * within a second. Nothing on loopback, for 224.0.0.1, or once the stack is closed.
   */
  stateChange(ifp: Ifnet, g: number, before: InMultiState, after: InMultiState): void {
    if (ifp.isLoopback || !ifp.up || this.ctx.closed || g === INADDR_ALLHOSTS_GROUP) return;
    const v = this.version(ifp);
    if (v !== 3) {
      const wasIn = before.mode === 'exclude' || before.sources.length > 0;
      const isIn = after.mode === 'exclude' || after.sources.length > 0;
      if (!wasIn && isIn) this.sendOld(ifp, v === 1 ? IgmpType.V1_REPORT : IgmpType.V2_REPORT, g, true);
      else if (wasIn && !isIn && v === 2) this.sendOld(ifp, IgmpType.V2_LEAVE, g, true);
      return;
    }
    const recs = changeRecords(g, before, after);
    if (recs.length === 0) return;
    this.sendV3(ifp, recs);
    const s = this.state(ifp);
    const t = this.ctx.clock.setTimeout(() => {
      s.retrans.delete(t);
      // RFC 3376 5.1: the retransmission carries the change, if the state still says so.
      if (this.version(ifp) === 3 && sameState(inMultiState(ifp, g), after)) this.sendV3(ifp, recs);
    }, Math.floor(Math.random() * UNSOLICITED_REPORT_MS));
    s.retrans.add(t);
  }

  /**
   * One received IGMP message (`igmp_input`). `m` starts at the IGMP
   * header; it is consumed on every path.
   */
  input(ifp: Ifnet, m: Mbuf, info: IpPacketInfo<number>): void {
    const st = this.ctx.igmpstat;
    st.total++;
    const len = mLength(m);
    // A message is small; one flat copy keeps parsing simple and bounded (64 KiB at most).
    const b = mToBytes(m);
    mFreem(m);
    const r = igmpParse(b, 0, len);
    if (typeof r === 'string') {
      st[r satisfies IgmpError]++;
      return;
    }
    if (info.ttl !== 1) {
      st.badttl++;
      return;
    }
    switch (r.kind) {
      case 'query':
        this.query(ifp, r.version, r.group, r.maxRespMs, r.sources.length, info.dst);
        return;
      case 'report':
      case 'leave':
      case 'v3report':
        st.reports++;
        if (this.ctx.localAddrs.has(info.src)) st.ourreports++;
        return;
    }
  }

  /** A query (RFC 3376 5.2, 7.2.1). */
  private query(ifp: Ifnet, version: 1 | 2 | 3, group: number, maxRespMs: number, nsources: number, dst: number): void {
    const st = this.ctx.igmpstat;
    if (version === 3) st.v3queries++;
    else st.v1v2queries++;
    if (group === 0) {
      if (dst !== INADDR_ALLHOSTS_GROUP || nsources > 0) {
        st.badqueries++;
        return;
      }
      st.genqueries++;
    } else {
      if (!ipv4IsMulticast(group) || dst !== group) {
        st.badqueries++;
        return;
      }
      if (nsources > 0) st.gsrqueries++;
      else st.groupqueries++;
    }
    const s = this.state(ifp);
    const now = this.ctx.clock.now();
    if (version === 1) s.v1Until = now + OLDER_QUERIER_MS;
    else if (version === 2) s.v2Until = now + OLDER_QUERIER_MS;
    if (ifp.isLoopback) return;
    if (group !== 0 && !ifp.groups.has(group)) return; // not ours to answer
    // Fold into a pending answer: a general one covers everything (RFC 3376 5.2 rules 1-2).
    if (s.answer !== null) {
      if (group === 0) s.answerGroups = null;
      else s.answerGroups?.add(group);
      return;
    }
    s.answerGroups = group === 0 ? null : new Set([group]);
    const delay = Math.floor(Math.random() * Math.min(Math.max(maxRespMs, 100), MAX_RESPONSE_MS));
    s.answer = this.ctx.clock.setTimeout(() => {
      s.answer = null;
      const groups = s.answerGroups ?? new Set(ifp.groups.keys());
      s.answerGroups = null;
      this.answer(ifp, groups);
    }, delay);
  }

  /** Report the current state of `groups` on `ifp` (the answer to a query). */
  private answer(ifp: Ifnet, groups: Set<number>): void {
    if (this.ctx.closed || !ifp.up) return;
    const v = this.version(ifp);
    const recs: IgmpGroupRecord[] = [];
    for (const g of groups) {
      if (g === INADDR_ALLHOSTS_GROUP || !ifp.groups.has(g)) continue;
      const cur = inMultiState(ifp, g);
      if (v !== 3) this.sendOld(ifp, v === 1 ? IgmpType.V1_REPORT : IgmpType.V2_REPORT, g, false);
      else if (cur.mode === 'exclude') recs.push({ type: IgmpRecord.MODE_IS_EXCLUDE, group: g, sources: [] });
      else recs.push({ type: IgmpRecord.MODE_IS_INCLUDE, group: g, sources: cur.sources });
    }
    if (recs.length > 0) this.sendV3(ifp, recs);
  }

  /** Send a v3 report with `recs`, split so that no message exceeds {@link MAX_RECORDS} records. */
  private sendV3(ifp: Ifnet, recs: readonly IgmpGroupRecord[]): void {
    for (let i = 0; i < recs.length; i += MAX_RECORDS) this.output(ifp, INADDR_ALLRPTS_GROUP, igmpEmitV3Report(recs.slice(i, i + MAX_RECORDS)));
  }

  /** A v1/v2 report (to the group) or a v2 leave (to 224.0.0.2); unsolicited ones once more within a second. */
  private sendOld(ifp: Ifnet, type: number, g: number, unsolicited: boolean): void {
    const dst = type === IgmpType.V2_LEAVE ? INADDR_ALLRTRS_GROUP : g;
    this.output(ifp, dst, igmpEmitV2(type, g));
    if (!unsolicited) return;
    const s = this.state(ifp);
    const t = this.ctx.clock.setTimeout(() => {
      s.retrans.delete(t);
      if (!this.ctx.closed && ifp.up) this.output(ifp, dst, igmpEmitV2(type, g));
    }, Math.floor(Math.random() * UNSOLICITED_REPORT_MS));
    s.retrans.add(t);
  }

  /** `igmp_sendpkt`: IP header with Router Alert, TTL 1, straight to the group's MAC on `ifp`. */
  private output(ifp: Ifnet, dst: number, msg: Uint8Array): void {
    const ctx = this.ctx;
    if (ctx.closed || !ifp.up) return;
    const repr: Ipv4Repr = {
      src: ifp.addrs[0]?.addr ?? 0,
      dst,
      protocol: IPPROTO_IGMP,
      ttl: 1,
      dscp: TOS_INTERNETWORK_CONTROL >>> 2,
      ecn: 0,
      ident: ctx.ipId.next(dst),
      dontFrag: false,
      moreFrags: false,
      fragOffset: 0,
      payloadLen: msg.length,
      options: ROUTER_ALERT,
    };
    const hlen = Ipv4Repr.headerLen(repr);
    const pkt = new Uint8Array(hlen + msg.length);
    Ipv4Repr.emit(repr, pkt, 0);
    pkt.set(msg, hlen);
    const m = mFromBytes(ctx.pool, pkt, { headroom: 16 });
    if (m === null) {
      ctx.igmpstat.nobufs++;
      return;
    }
    ctx.igmpstat.sndreports++;
    ctx.ipstat.localout++;
    etherOutput(ctx, ifp, m, multicastMac(dst));
  }

  /** Cancel every timer (stack close), or those of `ifp` (the interface went away). */
  purge(ifp?: Ifnet): void {
    for (const [i, s] of [...this.ifs]) {
      if (ifp !== undefined && i !== ifp) continue;
      if (s.answer !== null) this.ctx.clock.clearTimeout(s.answer);
      for (const t of s.retrans) this.ctx.clock.clearTimeout(t);
      this.ifs.delete(i);
    }
  }
}

function sameState(a: InMultiState, b: InMultiState): boolean {
  return a.mode === b.mode && a.sources.length === b.sources.length && a.sources.every((x, i) => x === b.sources[i]);
}

/**
 * The records of a state-change report (RFC 3376 5.1, table of filter-mode
 * and source-list changes): a mode change is TO_EX / TO_IN with the new
 * list; within INCLUDE mode, ALLOW the new sources and BLOCK the old ones.
 */
export function changeRecords(g: number, before: InMultiState, after: InMultiState): IgmpGroupRecord[] {
  if (before.mode !== after.mode) {
    return [{ type: after.mode === 'exclude' ? IgmpRecord.CHANGE_TO_EXCLUDE : IgmpRecord.CHANGE_TO_INCLUDE, group: g, sources: after.sources }];
  }
  if (after.mode === 'exclude') return []; // EXCLUDE {} stays EXCLUDE {}
  const was = new Set(before.sources);
  const now = new Set(after.sources);
  const recs: IgmpGroupRecord[] = [];
  const allow = after.sources.filter((x) => !was.has(x));
  const block = before.sources.filter((x) => !now.has(x));
  if (allow.length > 0) recs.push({ type: IgmpRecord.ALLOW_NEW_SOURCES, group: g, sources: allow });
  if (block.length > 0) recs.push({ type: IgmpRecord.BLOCK_OLD_SOURCES, group: g, sources: block });
  return recs;
}
