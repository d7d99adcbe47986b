/**
 * ARP (RFC 826; NetBSD `sys/netinet/if_arp.c`, FreeBSD `in_arp`): resolving
 * next-hop IPv4 addresses to Ethernet addresses, one table per interface.
 *
 * An entry moves through a small state machine, its timer part of the state
 * (a discriminated union, like smoltcp's `Timer`):
 *
 * ```
 *   (none) --resolve--> incomplete --reply/request merge--> reachable --keep expires--> (none)
 *                          |  retransmit every `retrans_ms`, `maxtries` requests
 *                          +--no answer--> failed --`down` expires--> (none)
 *   static: added by hand, never expires, never overwritten by the wire
 * ```
 *
 * - While incomplete, up to `maxhold` packets wait (BSD holds one, FreeBSD's
 *   `maxhold` is 16: a fragmented datagram arriving at a cold cache would
 *   otherwise lose all but its last fragment). Overflow drops the oldest.
 * - When resolution fails, the held packets are dropped and the transport
 *   that sent each one hears of it through `ctlinput`; for `down` seconds
 *   afterwards, sends fail at once (FreeBSD's `arpt_down`). The errno is
 *   **EHOSTDOWN** when the address we could not resolve is the packet's
 *   destination (on-link), **EHOSTUNREACH** when it is the gateway towards
 *   it — FreeBSD's `arpresolve` choice (`rt == rt0 ? EHOSTDOWN : EHOSTUNREACH`).
 * - Learning follows RFC 826's merge: any ARP packet updates an existing
 *   entry for its sender; a new entry is made only when the target is one of
 *   our addresses, the sender is on one of the receiving interface's
 *   subnets (as NetBSD, which refuses off-net senders) and the interface's
 *   table is below `maxentries` (refusals counted `offnet`, `tablefull`).
 *   Requests for our addresses are answered.
 * - Gratuitous ARP ({@link Arp.announce}) is sent when an address is added.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../kern/clock.js';
import { Errno } from '../kern/errno.js';
import { mFreem, type Mbuf } from '../mbuf/index.js';
import {
  BROADCAST_MAC,
  ZERO_MAC,
  ipv4IsMulticast,
  ipv4IsReserved,
  ipv4ToString,
  macEquals,
  macIsMulticast,
  macToString,
} from '../wire/address.js';
import { ARP_LEN, ArpOp, ArpPacket, ArpRepr } from '../wire/arp.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_ARP } from '../wire/ethernet.js';
import type { Ifnet } from './ifnet.js';
import type { ArpStats } from './stats.js';

/** ARP tunables (`net.inet.arp.*`), read at each use. */
export interface ArpTunables {
  /** Seconds a resolved entry stays valid (BSD `arpt_keep`, 20 minutes). */
  keep: number;
  /** Seconds a failed entry makes sends fail fast (BSD `arpt_down`, 20 s). */
  down: number;
  /** Requests sent before giving up. */
  maxtries: number;
  /** Milliseconds between requests. */
  retransMs: number;
  /** Packets held per incomplete entry. */
  maxhold: number;
  /**
   * Most dynamic entries (learnt or being resolved) per interface: beyond
   * it a new neighbour is refused (`tablefull`), so a flood of ARP from
   * spoofed senders cannot grow the table without bound. Static entries
   * (`arp -s`) are always accepted, and count towards the total.
   */
  maxentries: number;
}

/** Default {@link ArpTunables}. */
export const ARP_DEFAULTS: Readonly<ArpTunables> = { keep: 1200, down: 20, maxtries: 3, retransMs: 1000, maxhold: 16, maxentries: 4096 };

/** State of one entry, with its timer. */
type ArpState =
  | { readonly kind: 'incomplete'; hold: Mbuf[]; tries: number; timer: TimerHandle | null }
  | { readonly kind: 'reachable'; mac: Uint8Array; timer: TimerHandle; expires: number }
  | { readonly kind: 'static'; mac: Uint8Array }
  | { readonly kind: 'failed'; timer: TimerHandle; expires: number };

interface ArpEntry {
  readonly ip: number;
  readonly ifp: Ifnet;
  state: ArpState;
}

/** One entry as `arp -an` shows it. */
export interface ArpEntryInfo {
  /** Dotted quad. */
  ip: string;
  /** `aa:bb:..`, or null while incomplete or failed. */
  mac: string | null;
  ifname: string;
  state: 'incomplete' | 'reachable' | 'static' | 'failed';
  /** Milliseconds until the entry expires; -1 for static and incomplete entries. */
  expiresIn: number;
  /** Packets waiting for the resolution. */
  held: number;
}

/** What ARP needs from the layers around it. */
export interface ArpHooks {
  /** Hand a complete Ethernet frame to the interface (ownership passes). */
  outputFrame(ifp: Ifnet, frame: Uint8Array): void;
  /** Send a held IPv4 packet now that `mac` is known (ownership of `m` passes). */
  sendHeld(ifp: Ifnet, m: Mbuf, mac: Uint8Array): void;
  /**
   * Resolution failed for a held IPv4 packet (starting at its IP header):
   * tell its sender (ctlinput) with `errno` and free it. Ownership passes.
   */
  unreachable(m: Mbuf, errno: number): void;
}

/** The ARP tables of one stack. */
export class Arp {
  private readonly tables = new Map<Ifnet, Map<number, ArpEntry>>();

  constructor(
    private readonly clock: Clock,
    private readonly stats: ArpStats,
    readonly tun: ArpTunables,
    private readonly hooks: ArpHooks,
  ) {}

  private table(ifp: Ifnet): Map<number, ArpEntry> {
    let t = this.tables.get(ifp);
    if (t === undefined) {
      t = new Map();
      this.tables.set(ifp, t);
    }
    return t;
  }

  /**
   * Find the MAC for next hop `ip` on `ifp` (`arpresolve()`).
   * @param isGateway whether `ip` is a gateway rather than the packet's
   *   destination (chooses EHOSTUNREACH over EHOSTDOWN on failure).
   * @returns the MAC (the caller sends `m` and still owns it); `0` when `m`
   *   is now held waiting for a reply (ownership passed); or an errno when
   *   the entry is in the failed state (`m` has been freed).
   */
  resolve(ifp: Ifnet, ip: number, m: Mbuf, isGateway: boolean): Uint8Array | number {
    const t = this.table(ifp);
    const e = t.get(ip);
    if (e !== undefined) {
      const s = e.state;
      switch (s.kind) {
        case 'reachable':
        case 'static':
          return s.mac;
        case 'failed':
          this.stats.failfast++;
          mFreem(m);
          return isGateway ? Errno.EHOSTUNREACH : Errno.EHOSTDOWN;
        case 'incomplete':
          this.hold(s, m);
          return 0;
      }
    }
    if (t.size >= this.tun.maxentries) {
      this.stats.tablefull++;
      mFreem(m);
      return Errno.ENOBUFS;
    }
    const ne: ArpEntry = { ip, ifp, state: { kind: 'incomplete', hold: [m], tries: 0, timer: null } };
    t.set(ip, ne);
    this.solicit(ne);
    return 0;
  }

  /** Queue `m` on an incomplete entry, dropping the oldest past `maxhold`. */
  private hold(s: Extract<ArpState, { kind: 'incomplete' }>, m: Mbuf): void {
    s.hold.push(m);
    while (s.hold.length > Math.max(1, this.tun.maxhold)) {
      this.stats.holddrops++;
      mFreem(s.hold.shift()!);
    }
  }

  /** Send one request for an incomplete entry and arm the retransmit timer. */
  private solicit(e: ArpEntry): void {
    const s = e.state;
    if (s.kind !== 'incomplete') return;
    s.tries++;
    const src = e.ifp.ifaddrFor(e.ip)?.addr ?? e.ifp.addrs[0]?.addr ?? 0;
    this.sendArp(e.ifp, ArpOp.REQUEST, BROADCAST_MAC, src, ZERO_MAC, e.ip);
    this.stats.txrequests++;
    s.timer = this.clock.setTimeout(() => this.retransmit(e), this.tun.retransMs);
  }

  private retransmit(e: ArpEntry): void {
    const s = e.state;
    if (s.kind !== 'incomplete' || this.tables.get(e.ifp)?.get(e.ip) !== e) return;
    if (s.tries < this.tun.maxtries) {
      this.solicit(e);
      return;
    }
    // Give up: drop what was held, tell the senders, fail fast for a while.
    this.stats.timeouts++;
    const held = s.hold;
    const downMs = this.tun.down * 1000;
    e.state = {
      kind: 'failed',
      expires: this.clock.now() + downMs,
      timer: this.clock.setTimeout(() => this.expire(e), downMs),
    };
    for (const m of held) {
      this.stats.resolvedrops++;
      // The packet's own destination decides the errno (see the module comment).
      const dst = ipDstOf(m);
      this.hooks.unreachable(m, dst === e.ip ? Errno.EHOSTDOWN : Errno.EHOSTUNREACH);
    }
  }

  private expire(e: ArpEntry): void {
    const t = this.tables.get(e.ifp);
    if (t?.get(e.ip) !== e) return;
    if (e.state.kind === 'reachable') this.stats.expired++;
    t.delete(e.ip);
  }

  /**
   * Process one received ARP packet (`in_arpinput()`), read from the lent
   * frame bytes `buf[off .. off + len)`; nothing is kept. Every refusal is
   * counted. Never throws.
   */
  input(ifp: Ifnet, buf: Uint8Array, off: number, len: number): void {
    const st = this.stats;
    st.received++;
    const p = ArpPacket.newChecked(buf, off, len);
    if (typeof p === 'string') {
      st.badpacket++;
      return;
    }
    const op = p.operation;
    if (op === ArpOp.REQUEST) st.rxrequests++;
    else st.rxreplies++;
    const shaOff = p.senderMacOffset;
    if (macIsMulticast(buf, shaOff)) {
      st.badsrcmac++;
      return;
    }
    if (macEquals(buf, ifp.mac, shaOff, 0)) {
      st.ownmac++;
      return;
    }
    const spa = p.senderIp;
    const tpa = p.targetIp;
    if (ipv4IsMulticast(spa) || ipv4IsReserved(spa) || spa >>> 24 === 127 || ifp.isBroadcast(spa)) {
      st.badsrcip++;
      return;
    }
    if (ifp.hasAddr(spa)) {
      // Someone else uses one of our addresses; never learn it (BSD logs "duplicate IP address").
      st.dupaddr++;
      return;
    }
    const forUs = ifp.hasAddr(tpa);
    // spa 0 is an RFC 5227 probe: answered below, never learnt.
    if (spa !== 0) {
      const t = this.table(ifp);
      const e = t.get(spa);
      if (e !== undefined) {
        this.update(e, buf.slice(shaOff, shaOff + 6)); // RFC 826 merge
      } else if (!forUs) {
        // RFC 826: only a packet addressed to us creates an entry.
      } else if (ifp.ifaddrFor(spa) === undefined) {
        // Not on any of this interface's subnets: we would never send to it
        // directly, so an entry is only table growth (NetBSD refuses these).
        st.offnet++;
      } else if (t.size >= this.tun.maxentries) {
        st.tablefull++;
      } else {
        const ne: ArpEntry = { ip: spa, ifp, state: { kind: 'incomplete', hold: [], tries: 0, timer: null } };
        t.set(spa, ne);
        this.setReachable(ne, buf.slice(shaOff, shaOff + 6));
        st.learned++;
      }
    }
    if (op === ArpOp.REQUEST && forUs) {
      this.sendArp(ifp, ArpOp.REPLY, buf.subarray(shaOff, shaOff + 6), tpa, buf.subarray(shaOff, shaOff + 6), spa);
      st.txreplies++;
    }
  }

  /** Merge a sender's MAC into an existing entry. */
  private update(e: ArpEntry, mac: Uint8Array): void {
    const s = e.state;
    if (s.kind === 'static') {
      if (!macEquals(s.mac, mac)) this.stats.staticrefused++;
      return;
    }
    this.stats.updated++;
    this.setReachable(e, mac);
  }

  /** Make `e` reachable at `mac`, (re)arming its lifetime; held packets go out. */
  private setReachable(e: ArpEntry, mac: Uint8Array): void {
    const old = e.state;
    if (old.kind !== 'static' && old.timer !== null) this.clock.clearTimeout(old.timer);
    const keepMs = this.tun.keep * 1000;
    e.state = {
      kind: 'reachable',
      mac,
      expires: this.clock.now() + keepMs,
      timer: this.clock.setTimeout(() => this.expire(e), keepMs),
    };
    if (old.kind === 'incomplete') for (const m of old.hold) this.hooks.sendHeld(e.ifp, m, mac);
  }

  /** Send an ARP packet as one 42-byte frame. */
  private sendArp(ifp: Ifnet, op: ArpOp, dstMac: Uint8Array, spa: number, tha: Uint8Array, tpa: number): void {
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + ARP_LEN);
    frame.set(dstMac.subarray(0, 6), 0);
    frame.set(ifp.mac.subarray(0, 6), 6);
    frame[12] = ETHERTYPE_ARP >>> 8;
    frame[13] = ETHERTYPE_ARP & 0xff;
    ArpRepr.emit({ operation: op, senderMac: ifp.mac, senderIp: spa, targetMac: tha, targetIp: tpa }, frame, 14);
    this.hooks.outputFrame(ifp, frame);
  }

  /** Announce `addr` on `ifp` with a gratuitous ARP request (sender = target = addr). */
  announce(ifp: Ifnet, addr: number): void {
    if (ifp.isLoopback) return;
    this.sendArp(ifp, ArpOp.REQUEST, BROADCAST_MAC, addr, ZERO_MAC, addr);
    this.stats.txgratuitous++;
  }

  /**
   * Add a static entry (`arp -s`), replacing any dynamic one (its held
   * packets go out to `mac`).
   */
  addStatic(ifp: Ifnet, ip: number, mac: Uint8Array): void {
    const t = this.table(ifp);
    const e = t.get(ip);
    const copy = mac.slice(0, 6);
    if (e === undefined) {
      t.set(ip, { ip, ifp, state: { kind: 'static', mac: copy } });
      return;
    }
    const old = e.state;
    if (old.kind !== 'static' && old.timer !== null) this.clock.clearTimeout(old.timer);
    e.state = { kind: 'static', mac: copy };
    if (old.kind === 'incomplete') for (const m of old.hold) this.hooks.sendHeld(ifp, m, copy);
  }

  /**
   * Delete the entry for `ip` (on `ifp`, or on every interface when omitted),
   * freeing held packets. Returns whether one existed (`arp -d`).
   */
  delete(ip: number, ifp?: Ifnet): boolean {
    let found = false;
    for (const [i, t] of this.tables) {
      if (ifp !== undefined && i !== ifp) continue;
      const e = t.get(ip);
      if (e === undefined) continue;
      this.dispose(e);
      t.delete(ip);
      found = true;
    }
    return found;
  }

  /** Drop every entry of `ifp` (interface down, address removed, stack closing), held packets freed. */
  purge(ifp?: Ifnet): void {
    for (const [i, t] of this.tables) {
      if (ifp !== undefined && i !== ifp) continue;
      for (const e of t.values()) this.dispose(e);
      t.clear();
    }
  }

  private dispose(e: ArpEntry): void {
    // Its timer callbacks also check that the entry is still in its table.
    const s = e.state;
    if (s.kind !== 'static' && s.timer !== null) this.clock.clearTimeout(s.timer);
    if (s.kind === 'incomplete') {
      for (const m of s.hold) mFreem(m);
      s.hold = [];
    }
  }

  /** The MAC for `ip` on `ifp` when resolved (reachable or static), else null. */
  lookup(ifp: Ifnet, ip: number): Uint8Array | null {
    const s = this.tables.get(ifp)?.get(ip)?.state;
    return s !== undefined && (s.kind === 'reachable' || s.kind === 'static') ? s.mac : null;
  }

  /** Every entry, as `arp -an` prints them. */
  list(): ArpEntryInfo[] {
    const now = this.clock.now();
    const out: ArpEntryInfo[] = [];
    for (const t of this.tables.values()) {
      for (const e of t.values()) {
        const s = e.state;
        out.push({
          ip: ipv4ToString(e.ip),
          mac: s.kind === 'reachable' || s.kind === 'static' ? macToString(s.mac) : null,
          ifname: e.ifp.name,
          state: s.kind,
          expiresIn: s.kind === 'reachable' || s.kind === 'failed' ? Math.max(0, s.expires - now) : -1,
          held: s.kind === 'incomplete' ? s.hold.length : 0,
        });
      }
    }
    return out;
  }
}

/** Destination address of an IPv4 packet held by ARP (its header is contiguous in the first mbuf). */
function ipDstOf(m: Mbuf): number {
  if (m.len < 20) return 0;
  const b = m.data;
  const o = m.off + 16;
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
