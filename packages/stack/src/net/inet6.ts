/**
 * The IPv6 half of a stack: its counters, tunables, routing table,
 * reassembly, ICMPv6 and Neighbor Discovery, and the interface addresses
 * and groups that tie them together (NetBSD `sys/netinet6/in6.c`:
 * `in6_update_ifa()`, `in6_ifattach()`). The `Stack` holds one and hands
 * it IPv6 frames; the functions of `ipv6-input.ts`, `ipv6-output.ts` and
 * friends take it as their context, as the IPv4 ones take the `Stack`.
 *
 * Addresses: every Ethernet interface gets a link-local address from its
 * MAC (modified EUI-64, RFC 4291 2.5.1 / RFC 4862 5.3) when it is attached
 * (`net.inet6.ip6.auto_linklocal`), lo0 carries `::1`. Each address joins
 * its solicited-node group, gets a host route through lo0 and an on-link
 * route for its prefix, and goes through DAD before it is used. SLAAC
 * addresses (from router advertisements) expire with their lifetimes.
 *
 * @module
 */
import type { TimerHandle } from '../kern/clock.js';
import type { Sysctl } from '../kern/sysctl.js';
import { IP6_ALL_NODES, IP6_ANY, IP6_LOOPBACK, Ip6Address, Ip6AddressCache, ip6EqualsBytes } from '../wire/ip.js';
import type { NetContext, PmtuEntry } from './context.js';
import { Icmp6, type Icmp6Tunables } from './icmp6.js';
import { randomBytes } from 'node:crypto';
import { eui64, ip6Mask, solicitedNode, stableInterfaceId, type In6Ifaddr } from './in6.js';
import type { Ifnet } from './ifnet.js';
import { ip6Output, lookupNh6, nextHop6, pathMtu6, pmtuUpdate6, selectSource6 } from './ipv6-output.js';
import { Mld6, MldRecord } from './mld6.js';
import { ND6_DEFAULTS, Nd6, type Nd6Tunables } from './nd6.js';
import type { IpOutput, Ip6Output, Ip6OutputOptions } from './protosw.js';
import { Reass6, type Reass6Limits } from './reass6.js';
import { Route6Table } from './route6.js';
import { newIcmp6Stats, newIp6Stats, newNd6Stats } from './stats6.js';

/** IPv6 tunables (`net.inet6.ip6.*`), read at each use. */
export interface Ip6Tunables {
  /** Default hop limit (`net.inet6.ip6.hlim`, 64). */
  hlim: number;
  /** Extension headers walked per packet before it is dropped (`toomanyhdr`). */
  maxexthdrs: number;
  /** Seconds a learnt path MTU is kept (RFC 8201 4: at least 5 minutes; 10). */
  mtuExpire: number;
  /** Give every Ethernet interface a link-local address when attached (1) or not (0). */
  autoLinklocal: number;
  /**
   * Interface identifiers of new link-local and SLAAC addresses: 0, modified
   * EUI-64 of the MAC (RFC 4291 2.5.1); 1, stable and opaque per prefix
   * (RFC 7217, FreeBSD's `use_stableaddr`).
   */
  useStableaddr: number;
}

/** One IPv6 address as `ifconfig` shows it. */
export interface In6AddrInfo {
  /** RFC 5952 text (no zone). */
  addr: string;
  prefixLen: number;
  /** DAD / lifetime state. */
  state: In6Ifaddr['state'];
  origin: In6Ifaddr['origin'];
  /** Seconds of valid lifetime left, or -1 for forever. */
  validLifetime: number;
}

/** The IPv6 layer of one stack. */
export class Inet6 {
  /** `net.inet6.ip6.stats`. */
  readonly ip6stat = newIp6Stats();
  /** `net.inet6.icmp6.stats`. */
  readonly icmp6stat = newIcmp6Stats();
  /** `net.inet6.nd6.stats`. */
  readonly nd6stat = newNd6Stats();
  readonly tun: Ip6Tunables = { hlim: 64, maxexthdrs: 8, mtuExpire: 600, autoLinklocal: 1, useStableaddr: 0 };
  /** RFC 7217's secret_key: random per stack (a host would keep it across reboots). */
  private readonly stableSecret = randomBytes(16);
  readonly ndTun: Nd6Tunables = { ...ND6_DEFAULTS };
  readonly icmpTun: Icmp6Tunables = { errppslimit: 100 };
  readonly reassLimits: Reass6Limits;
  readonly routes = new Route6Table();
  /** Path MTUs learnt from packet too big, by destination. */
  readonly pmtu = new Map<string, PmtuEntry>();
  readonly nd: Nd6;
  /** MLDv2 reports for the groups ND needs (`mld6.ts`). */
  readonly mld: Mld6;
  readonly icmp: Icmp6;
  readonly reass: Reass6;
  /** The IPv6 downward calls with their IPv6-only options (zone, DAD's `::` source). */
  readonly ip: Ip6Output;
  /**
   * The same, as the family switch of the transports' seam sees it
   * (`Stack.ip6`): transports hand it an `IpOutputOptions` whose addresses
   * are `Ip6Address`es; `::` as the source means "pick one" (RFC 6724).
   */
  readonly transport: IpOutput;
  /** Source and destination addresses of received packets, shared (see {@link Ip6AddressCache}). */
  readonly addrCache = new Ip6AddressCache();
  /** @internal {@link transport}'s reused options object, and whether an output holds it. */
  private readonly outOpts: Ip6OutputOptions = { src: null, dst: IP6_ANY, proto: 0, hopLimit: undefined, tclass: undefined, dontFrag: undefined, ifindex: undefined, mcastLoop: undefined };
  private outOptsBusy = false;
  private sweepTimer: TimerHandle | null = null;
  private sweepAt = Infinity;

  /** @param net the stack (clock, pool, interfaces, transports). */
  constructor(readonly net: NetContext) {
    const maxfrags = Math.max(16, net.pool.nmbclusters >> 2);
    this.reassLimits = { timeout: 60, maxfragpackets: Math.min(200, maxfrags), maxfrags, maxfragsperpacket: 64 };
    this.icmp = new Icmp6(this, this.icmpTun);
    this.nd = new Nd6(this, this.ndTun);
    this.mld = new Mld6(this);
    this.reass = new Reass6(net.clock, this.ip6stat, this.reassLimits, {
      paramProblem: (m, code, pointer) => this.icmp.error(m, 4, code, pointer),
      timeout: (first) => this.icmp.reassTimeout(first),
    });
    this.transport = {
      output: (m, o) => {
        // The family-neutral options mapped into a reused object (a nested
        // output, should there be one, gets its own).
        const nested = this.outOptsBusy;
        const p = nested ? { ...this.outOpts } : this.outOpts;
        const src = o.src as Ip6Address;
        p.src = src.isUnspecified ? null : src;
        p.dst = o.dst as Ip6Address;
        p.proto = o.proto;
        p.hopLimit = o.ttl;
        p.tclass = o.tos;
        p.dontFrag = o.df;
        p.ifindex = o.ifindex;
        p.mcastLoop = o.mcastLoop;
        this.outOptsBusy = true;
        try {
          return ip6Output(this, m, p);
        } finally {
          this.outOptsBusy = nested;
        }
      },
      selectSource: (dst, ifindex) => this.selectSourceFor(dst as Ip6Address, ifindex ?? 0),
      mtuTowards: (dst) => this.ip.mtuTowards(dst as Ip6Address),
      pmtuUpdate: (dst, mtu) => pmtuUpdate6(this, dst as Ip6Address, mtu),
    };
    this.ip = {
      output: (m, o) => ip6Output(this, m, o),
      selectSource: (dst, ifindex) => this.selectSourceFor(dst, ifindex ?? 0),
      mtuTowards: (dst, ifindex) => {
        const nh = nextHop6(this, dst, ifindex ?? 0, lookupNh6);
        return typeof nh === 'number' ? 0 : nh.route?.kind === 'local' ? this.net.lo0.mtu : pathMtu6(this, nh.ifp, dst);
      },
    };
  }

  /**
   * A new interface (`in6_ifattach`): lo0 gets `::1`; an Ethernet interface
   * joins all-nodes and, unless `auto_linklocal` is 0, gets its EUI-64
   * link-local address (DAD starts when the link is up).
   */
  ifattach(ifp: Ifnet): void {
    ifp.nd6.retransMs = this.ndTun.retransMs;
    if (ifp.isLoopback) {
      this.addAddress(ifp, IP6_LOOPBACK, 128, 'loopback');
      return;
    }
    this.joinGroup(ifp, IP6_ALL_NODES);
    if (this.tun.autoLinklocal !== 0 && ifp.mac.length === 6) {
      const [hi, lo] = this.interfaceId(ifp, LINK_LOCAL_PREFIX);
      this.addAddress(ifp, Ip6Address.fromWords(0xfe800000, 0, hi, lo), 64, 'linklocal');
    }
  }

  /** The 64-bit interface identifier for `prefix` on `ifp` (`net.inet6.ip6.use_stableaddr`: EUI-64 or RFC 7217). */
  interfaceId(ifp: Ifnet, prefix: Ip6Address): [number, number] {
    return this.tun.useStableaddr !== 0 ? stableInterfaceId(prefix, ifp.name, 0, this.stableSecret) : eui64(ifp.mac);
  }

  /** The interface came up (restart DAD of tentative addresses) or went down (forget its neighbours). */
  ifup(ifp: Ifnet, up: boolean): void {
    if (!up) {
      this.nd.purge(ifp);
      this.mld.purge(ifp);
      return;
    }
    // RFC 3810 6.1: a link coming (back) up hears of every group again.
    for (const g of ifp.groups6) this.mld.stateChange(ifp, g.addr, MldRecord.CHANGE_TO_EXCLUDE);
    for (const ia of ifp.addrs6) if (ia.state === 'tentative') this.nd.startDad(ifp, ia);
  }

  /**
   * Add an address (`in6_update_ifa`): solicited-node group, host route
   * through lo0, on-link route for the prefix, then DAD.
   * @returns the address record (its `state` tells DAD's progress).
   */
  addAddress(
    ifp: Ifnet,
    addr: Ip6Address,
    prefixLen: number,
    origin: In6Ifaddr['origin'],
    validUntil = Infinity,
    preferredUntil = Infinity,
  ): In6Ifaddr {
    const ia: In6Ifaddr = {
      addr,
      prefixLen,
      prefix: ip6Mask(addr, prefixLen),
      solicited: solicitedNode(addr),
      origin,
      state: 'tentative',
      validUntil,
      preferredUntil,
      dadLeft: 0,
    };
    ifp.addrs6.push(ia);
    if (!ifp.isLoopback) this.joinGroup(ifp, ia.solicited);
    this.routes.add(addr, 128, this.net.lo0 ?? ifp, null, 'local');
    if (prefixLen < 128) this.routes.add(addr, prefixLen, ifp, null, 'connected');
    if (validUntil !== Infinity || preferredUntil !== Infinity) this.scheduleSweep(Math.min(validUntil, preferredUntil));
    this.nd.startDad(ifp, ia);
    return ia;
  }

  /** Remove an address: its DAD, group, host route (if no other interface has it) and on-link route (if no other address shares the prefix). */
  removeAddress(ifp: Ifnet, addr: Ip6Address): boolean {
    const i = ifp.addrs6.findIndex((a) => a.addr.equals(addr));
    if (i < 0) return false;
    const ia = ifp.addrs6[i]!;
    ifp.addrs6.splice(i, 1);
    this.nd.cancelDad(ia);
    if (!ifp.isLoopback) this.leaveGroup(ifp, ia.solicited);
    const elsewhere = this.net.ifnetList().some((o) => o.addrs6.some((a) => a.addr.equals(addr)));
    if (!elsewhere) this.routes.purge((r) => r.kind === 'local' && r.prefixLen === 128 && r.dest.equals(addr));
    const shared = ifp.addrs6.some((a) => a.prefixLen === ia.prefixLen && a.prefix.equals(ia.prefix));
    if (!shared) this.routes.purge((r) => r.kind === 'connected' && r.ifp === ifp && r.prefixLen === ia.prefixLen && r.dest.equals(ia.prefix));
    return true;
  }

  /** Join group `g` on `ifp` (reference counted). */
  joinGroup(ifp: Ifnet, g: Ip6Address): void {
    const m = ifp.groups6.find((x) => x.addr.equals(g));
    if (m !== undefined) m.refs++;
    else {
      ifp.groups6.push({ addr: g, refs: 1 });
      this.mld.stateChange(ifp, g, MldRecord.CHANGE_TO_EXCLUDE);
    }
  }

  /** Leave group `g` on `ifp` (when the last reference goes). */
  leaveGroup(ifp: Ifnet, g: Ip6Address): void {
    const i = ifp.groups6.findIndex((x) => x.addr.equals(g));
    if (i < 0) return;
    if (--ifp.groups6[i]!.refs <= 0) {
      ifp.groups6.splice(i, 1);
      this.mld.stateChange(ifp, g, MldRecord.CHANGE_TO_INCLUDE);
    }
  }

  /** Whether the group in `b[off .. off + 16)` is joined on `ifp`. Allocates nothing. */
  joined(ifp: Ifnet, b: Uint8Array, off: number): boolean {
    const gs = ifp.groups6;
    for (let i = 0; i < gs.length; i++) if (ip6EqualsBytes(gs[i]!.addr, b, off)) return true;
    return false;
  }

  /**
   * Our address in `b[off .. off + 16)` as a destination arriving on `ifp`
   * (weak host model, as BSD: any interface's — but a link-local address
   * only on its own link, RFC 4007 9), or null. Allocates nothing.
   */
  ourAddress(ifp: Ifnet, b: Uint8Array, off: number): In6Ifaddr | null {
    const own = this.addressOn(ifp, b, off);
    if (own !== null) return own;
    const linkLocal = b[off] === 0xfe && (b[off + 1]! & 0xc0) === 0x80;
    if (linkLocal && !ifp.isLoopback) return null;
    return this.findLocal(b, off);
  }

  /** The address of `ifp` in `b[off .. off + 16)`, in any state, or null. Allocates nothing. */
  addressOn(ifp: Ifnet, b: Uint8Array, off: number): In6Ifaddr | null {
    const as = ifp.addrs6;
    for (let i = 0; i < as.length; i++) if (ip6EqualsBytes(as[i]!.addr, b, off)) return as[i]!;
    return null;
  }

  /** Any interface's address in `b[off .. off + 16)`, or null. */
  findLocal(b: Uint8Array, off: number): In6Ifaddr | null {
    const ifs = this.net.ifnetList();
    for (let k = 0; k < ifs.length; k++) {
      const ia = this.addressOn(ifs[k]!, b, off);
      if (ia !== null) return ia;
    }
    return null;
  }

  /** The source address for `dst` (zone `ifindex` for link-scoped destinations), or null. */
  selectSourceFor(dst: Ip6Address, ifindex = 0): Ip6Address | null {
    const nh = nextHop6(this, dst, ifindex, lookupNh6);
    if (typeof nh === 'number') return null;
    if (nh.route?.kind === 'local') return dst;
    return selectSource6(this, dst, nh.ifp);
  }

  /** Record a path MTU (RFC 8201) a transport has validated; see {@link pmtuUpdate6}. */
  pmtuUpdate(dst: Ip6Address, mtu: number): number {
    return pmtuUpdate6(this, dst, mtu);
  }

  /** The IPv6 addresses of `ifp`, as `ifconfig` lists them. */
  addresses(ifp: Ifnet): In6AddrInfo[] {
    const now = this.net.clock.now();
    return ifp.addrs6.map((a) => ({
      addr: a.addr.toString(),
      prefixLen: a.prefixLen,
      state: a.state,
      origin: a.origin,
      validLifetime: a.validUntil === Infinity ? -1 : Math.max(0, Math.round((a.validUntil - now) / 1000)),
    }));
  }

  /** Deprecate and remove SLAAC addresses whose lifetimes ran out (RFC 4862 5.5.4), then re-arm for the next deadline. */
  private sweep(): void {
    this.sweepTimer = null;
    this.sweepAt = Infinity;
    const now = this.net.clock.now();
    let next = Infinity;
    for (const ifp of this.net.ifnetList()) {
      for (const ia of [...ifp.addrs6]) {
        if (ia.validUntil <= now) {
          this.removeAddress(ifp, ia.addr);
          continue;
        }
        if (ia.preferredUntil <= now && ia.state === 'preferred') ia.state = 'deprecated';
        if (ia.preferredUntil > now) next = Math.min(next, ia.preferredUntil);
        next = Math.min(next, ia.validUntil);
      }
    }
    this.routes.purge((r) => r.expires <= now);
    for (const r of this.routes.all()) if (r.expires !== Infinity) next = Math.min(next, r.expires);
    if (next !== Infinity) this.scheduleSweep(next);
  }

  /** Make sure the sweep runs by clock time `at`. */
  scheduleSweep(at: number): void {
    if (this.net.closed || at >= this.sweepAt) return;
    if (this.sweepTimer !== null) this.net.clock.clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = this.net.clock.setTimeout(() => this.sweep(), Math.max(0, at - this.net.clock.now()) + 1);
  }

  /** Stop every timer and free every held mbuf (stack close). */
  close(): void {
    if (this.sweepTimer !== null) this.net.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    this.icmp.close();
    this.nd.purge();
    this.mld.purge();
    this.reass.drain();
    this.pmtu.clear();
  }

  /** Register `net.inet6.*` on `sysctl`. */
  registerSysctl(sysctl: Sysctl): void {
    const rw = <T extends object>(name: string, obj: T, key: keyof T, min: number, max: number, description: string): void => {
      sysctl.addInt(name, {
        get: () => obj[key] as number,
        set: (v) => {
          (obj as Record<string, number>)[key as string] = v;
        },
        min,
        max,
        description,
      });
    };
    sysctl.addInt('net.inet6.ip6.forwarding', { get: () => 0, description: 'IPv6 forwarding (always 0: this stack is a host)' });
    rw('net.inet6.ip6.hlim', this.tun, 'hlim', 1, 255, 'Default hop limit');
    rw('net.inet6.ip6.maxexthdrs', this.tun, 'maxexthdrs', 1, 64, 'Extension headers walked per packet');
    rw('net.inet6.ip6.mtudisc_timeout', this.tun, 'mtuExpire', 300, 86400, 'Seconds a learnt path MTU is kept (RFC 8201)');
    rw('net.inet6.ip6.auto_linklocal', this.tun, 'autoLinklocal', 0, 1, 'Link-local address on every new Ethernet interface');
    rw('net.inet6.ip6.use_stableaddr', this.tun, 'useStableaddr', 0, 1, 'Interface identifiers: 0 EUI-64 of the MAC, 1 stable opaque (RFC 7217)');
    rw('net.inet6.ip6.dad_count', this.ndTun, 'dadCount', 0, 10, 'DAD solicitations per address (0: no DAD)');
    rw('net.inet6.ip6.accept_rtadv', this.ndTun, 'acceptRtadv', 0, 1, 'Process router advertisements (SLAAC, default router)');
    rw('net.inet6.ip6.rtr_solicitations', this.ndTun, 'rtrSolicitations', 0, 10, 'Router solicitations when an interface starts');
    rw('net.inet6.ip6.maxrtrprefixes', this.ndTun, 'maxRtrPrefixes', 1, 1024, 'Routers, prefixes and SLAAC addresses learnt per interface');
    rw('net.inet6.ip6.reass_timeout', this.reassLimits, 'timeout', 1, 600, 'Seconds a datagram may wait for its fragments (RFC 8200: 60)');
    rw('net.inet6.ip6.maxfragpackets', this.reassLimits, 'maxfragpackets', 0, 1 << 20, 'Datagrams under reassembly at once');
    rw('net.inet6.ip6.maxfrags', this.reassLimits, 'maxfrags', 0, 1 << 20, 'Fragments held for reassembly in all');
    rw('net.inet6.ip6.maxfragsperpacket', this.reassLimits, 'maxfragsperpacket', 1, 8192, 'Fragments per datagram');
    sysctl.addStats('net.inet6.ip6.stats', this.ip6stat);
    rw('net.inet6.icmp6.errppslimit', this.icmpTun, 'errppslimit', -1, 1 << 20, 'ICMPv6 errors sent per second (-1: no limit)');
    rw('net.inet6.icmp6.nd6_delay', this.ndTun, 'delay', 1, 3600, 'Seconds in DELAY before probing a neighbour');
    rw('net.inet6.icmp6.nd6_umaxtries', this.ndTun, 'umaxtries', 1, 100, 'Unicast probes before a neighbour is unreachable');
    rw('net.inet6.icmp6.nd6_mmaxtries', this.ndTun, 'mmaxtries', 1, 100, 'Multicast solicitations before resolution fails');
    rw('net.inet6.icmp6.nd6_maxqueuelen', this.ndTun, 'maxqueuelen', 1, 1024, 'Packets held per unresolved neighbour');
    rw('net.inet6.icmp6.nd6_maxentries', this.ndTun, 'maxentries', 16, 1 << 20, 'Neighbour entries per interface');
    rw('net.inet6.icmp6.nd6_retrans_ms', this.ndTun, 'retransMs', 10, 60000, 'RetransTimer of new interfaces, ms (until an RA sets one)');
    sysctl.addStats('net.inet6.icmp6.stats', this.icmp6stat);
    sysctl.addStats('net.inet6.nd6.stats', this.nd6stat);
  }
}

/** `fe80::/64`, the prefix of link-local addresses (RFC 4291 2.5.6). */
const LINK_LOCAL_PREFIX = Ip6Address.fromWords(0xfe800000, 0, 0, 0);
