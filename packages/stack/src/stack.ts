/**
 * The stack object: one userspace "kernel" holding an mbuf cluster pool, a
 * clock, a sysctl tree, interfaces, the routing table, ARP, IPv4 and ICMP —
 * and the registry through which transports (UDP, TCP) plug in. Several
 * stacks may live in one process (tests join two with a `MemWire`).
 *
 * Configuration calls mirror the BSD tools (`ifconfig`, `route`, `arp`) and
 * throw {@link StackError} on bad requests; the data path never throws.
 *
 * @example
 * ```ts
 * const wire = new MemWire();
 * const a = new Stack();
 * const b = new Stack();
 * a.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: ['10.0.0.1/24'] });
 * b.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: ['10.0.0.2/24'] });
 * const { rtt } = await a.ping('10.0.0.2');
 * a.close(); b.close(); // every mbuf back in the pool
 * ```
 *
 * @module
 */
import { realClock, type Clock } from './kern/clock.js';
import { Errno, StackError } from './kern/errno.js';
import { Sysctl } from './kern/sysctl.js';
import type { Link } from './link/link.js';
import { LoopbackLink } from './link/loopback.js';
import { ClusterPool, mFreem, mFromBytes, poolPressureDefaults, type Mbuf } from './mbuf/index.js';
import { ClusterLender } from './mbuf/lend.js';
import { ETHERNET_HEADER_LEN } from './wire/ethernet.js';
import { ARP_DEFAULTS, Arp, type ArpEntryInfo, type ArpTunables } from './net/arp.js';
import type { IpTunables, NetContext, PmtuEntry } from './net/context.js';
import { etherInput, etherOutput, ifOutputFrame } from './net/ethernet.js';
import { Icmp, type IcmpTunables, type PingOptions, type PingReply } from './net/icmp.js';
import { Ifnet, makeIfaddr } from './net/ifnet.js';
import { IpIdGenerator } from './net/ipid.js';
import { LocalAddrs } from './net/in-local.js';
import { ipInput } from './net/ipv4-input.js';
import { groupIfp, ipOutput, mtuTowards, pmtuUpdate, selectSource, tsoMaxTowards } from './net/ipv4-output.js';
import { Igmp, IPPROTO_IGMP, newIgmpStats } from './net/igmp.js';
import { inJoinGroup, inLeaveGroup } from './net/in-mcast.js';
import type { InMcastHost } from './socket/host.js';
import type { In6McastHost } from './socket/in6mopt.js';
import type { IpOutput, IpOutputOptions, TransportProtocol } from './net/protosw.js';
import { Reass, type ReassLimits } from './net/reass.js';
import { RouteTable, type RouteInfo } from './net/route.js';
import { newArpStats, newEtherStats, newIcmpStats, newIpStats } from './net/stats.js';
import { registerNetSysctl } from './net/sysctl-nodes.js';
import { Inet6 } from './net/inet6.js';
import { ip6Input } from './net/ipv6-input.js';
import type { Nd6EntryInfo } from './net/nd6.js';
import { ipv4IsMulticast, ipv4IsReserved, parseIpv4, parseMac } from './wire/address.js';
import { parseIp6WithZone, type Ip6Address } from './wire/ip.js';
import { nextHop6 } from './net/ipv6-output.js';

/** Options of a {@link Stack}. */
export interface StackOptions {
  /** Time source for every timer (default the real clock; tests pass a `ManualClock`). */
  clock?: Clock;
  /** Cluster size `MCLBYTES`: 2048 (default) or 4096. */
  mclbytes?: number;
  /** Clusters in the pool (default 4096). */
  nmbclusters?: number;
  /** Clusters per extended cluster, `MCLNUM` (default 1). */
  mclnum?: number;
  /** Host name (`kern.hostname`; informational). */
  hostname?: string;
}

/** Options of {@link Stack.attachLink}. */
export interface AttachOptions {
  /** Addresses to add, `"a.b.c.d/len"`. */
  addrs?: string[];
  /** Bring the link up (true) or down (false); default: leave it as it is. */
  up?: boolean;
}

/**
 * A transport may offer `close()`; {@link Stack.close} calls it so that the
 * mbufs its sockets hold go back to the pool too.
 */
interface Closable {
  close?: () => void;
}

/** A BSD-style TCP/IP stack instance. */
export class Stack implements NetContext {
  readonly clock: Clock;
  readonly pool: ClusterPool;
  readonly sysctl = new Sysctl();
  readonly hostname: string;
  readonly routes = new RouteTable();
  readonly ipstat = newIpStats();
  readonly icmpstat = newIcmpStats();
  readonly arpstat = newArpStats();
  readonly etherstat = newEtherStats();
  /** IGMP counters (`net.inet.igmp.stats`). */
  readonly igmpstat = newIgmpStats();
  /** IGMP: membership reports and query answers for the IPv4 groups joined. */
  readonly igmp: Igmp;
  /**
   * IPv4 multicast membership for the sockets' `IP_ADD_MEMBERSHIP` and
   * friends, with the per-socket limits (`net.inet.ip.mcast.maxsockgroups`,
   * `net.inet.ip.mcast.maxsocksrc`).
   */
  readonly mcast: InMcastHost & { maxSockGroups: number; maxSockSources: number };
  /**
   * IPv6 multicast membership for the sockets' `IPV6_JOIN_GROUP`: the
   * interface references of `Inet6.joinGroup` (MLDv2 reports), with the
   * per-socket limit `net.inet6.ip6.mcast.maxsockgroups`.
   */
  readonly mcast6: In6McastHost & { maxSockGroups6: number };
  /** `net.inet.ip.*` tunables. */
  readonly ipTun: IpTunables = { ttl: 64, mtuExpire: 600 };
  /** `net.inet.ip.reass.*` tunables. */
  readonly reassLimits: ReassLimits;
  /** `net.inet.icmp.*` tunables. */
  readonly icmpTun: IcmpTunables = { errppslimit: 100, bmcastecho: 0 };
  /** `net.inet.arp.*` tunables. */
  readonly arpTun: ArpTunables = { ...ARP_DEFAULTS };
  readonly arp: Arp;
  readonly reass: Reass;
  readonly icmp: Icmp;
  readonly ipId = new IpIdGenerator();
  readonly pmtu = new Map<number, PmtuEntry>();
  readonly lo0: Ifnet;
  /** The IPv6 layer: addresses, routes, ND, ICMPv6, reassembly, `net.inet6.*`. */
  readonly inet6: Inet6;
  /** The downward call transports use (`ip_output`, source selection, MTU), for either family. */
  readonly ip: IpOutput;
  /**
   * The IPv6 network layer's downward calls, when attached: `ip` hands it
   * every packet and question about an `Ip6Address`. Null: IPv6 is
   * refused with EAFNOSUPPORT.
   */
  ip6: IpOutput | null = null;
  private readonly local = new Map<number, number>(); // address -> how many interfaces carry it
  /** Our IPv4 addresses, and every address of a loopback prefix (127/8, as Linux: see {@link LocalAddrs}). */
  readonly localAddrs = new LocalAddrs();
  private readonly ifnets = new Map<string, Ifnet>();
  private ifList: Ifnet[] = [];
  private readonly protocols = new Map<number, TransportProtocol>();
  private isClosed = false;
  /** Multicast copies waiting to come back in (`ip_mloopback`), and their flush. */
  private mloopQueue: { ifp: Ifnet; pkt: Uint8Array }[] = [];
  private mloopImmediate: NodeJS.Immediate | null = null;

  /** @throws RangeError for a bad pool configuration. */
  constructor(opts: StackOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.hostname = opts.hostname ?? 'rumpnet';
    const nmb = opts.nmbclusters ?? 4096;
    this.pool = new ClusterPool({ mclbytes: opts.mclbytes, nmbclusters: nmb, mclnum: opts.mclnum, ...poolPressureDefaults(nmb) });
    const maxfrags = Math.max(16, this.pool.nmbclusters >> 2);
    this.reassLimits = { timeout: 30, maxfragpackets: Math.min(200, maxfrags), maxfrags, maxfragsperpacket: 64 };
    this.arp = new Arp(this.clock, this.arpstat, this.arpTun, {
      outputFrame: (ifp, frame) => {
        ifOutputFrame(this, ifp, frame);
      },
      sendHeld: (ifp, m, mac) => {
        etherOutput(this, ifp, m, mac);
      },
      unreachable: (m, errno) => this.icmp.localUnreachable(m, errno),
    });
    this.icmp = new Icmp(this, this.icmpTun);
    this.reass = new Reass(this.clock, this.ipstat, this.reassLimits, (first) => this.icmp.reassTimeout(first));
    // The protocol switch by family: an IPv4 address is a number, so the
    // IPv4 path costs one typeof; IPv6 goes to the family's own layer when
    // one is attached (`ip6`), else EAFNOSUPPORT.
    this.ip = {
      output: (m, o) => {
        if (typeof o.dst === 'number' && typeof o.src === 'number') return ipOutput(this, m, o as IpOutputOptions<number>);
        if (this.ip6 !== null && typeof o.dst !== 'number' && typeof o.src !== 'number') return this.ip6.output(m, o);
        mFreem(m);
        return Errno.EAFNOSUPPORT;
      },
      selectSource: (dst, ifindex) => (typeof dst === 'number' ? selectSource(this, dst) : (this.ip6?.selectSource(dst, ifindex) ?? null)),
      mtuTowards: (dst) => (typeof dst === 'number' ? mtuTowards(this, dst) : (this.ip6?.mtuTowards(dst) ?? 0)),
      tsoMaxTowards: (dst) => (typeof dst === 'number' ? tsoMaxTowards(this, dst) : (this.ip6?.tsoMaxTowards?.(dst) ?? 0)),
      pmtuUpdate: (dst, mtu) => (typeof dst === 'number' ? pmtuUpdate(this, dst, mtu) : (this.ip6?.pmtuUpdate?.(dst, mtu) ?? 0)),
    };
    this.inet6 = new Inet6(this);
    this.ip6 = this.inet6.transport;
    this.igmp = new Igmp(this);
    this.mcast = {
      maxSockGroups: 20,
      maxSockSources: 10,
      mcastIfp: (ifaddr, group) => {
        const ifp = groupIfp(this, group, 0, ifaddr);
        return typeof ifp === 'number' ? null : ifp;
      },
      join: (ifp, g, src) => {
        const { before, after } = inJoinGroup(ifp, g, src);
        this.igmp.stateChange(ifp, g, before, after);
      },
      leave: (ifp, g, src) => {
        const { before, after } = inLeaveGroup(ifp, g, src);
        this.igmp.stateChange(ifp, g, before, after);
      },
    };
    this.mcast6 = {
      maxSockGroups6: 20,
      mcastIfp6: (ifindex, group) => {
        const nh = nextHop6(this.inet6, group, ifindex);
        return typeof nh === 'number' ? null : nh.ifp;
      },
      join6: (ifp, g) => this.inet6.joinGroup(ifp, g),
      leave6: (ifp, g) => this.inet6.leaveGroup(ifp, g),
    };
    registerNetSysctl(this.sysctl, {
      pool: this.pool,
      ipTun: this.ipTun,
      reass: this.reassLimits,
      icmpTun: this.icmpTun,
      arpTun: this.arpTun,
      ipstat: this.ipstat,
      icmpstat: this.icmpstat,
      arpstat: this.arpstat,
      etherstat: this.etherstat,
    });
    this.inet6.registerSysctl(this.sysctl);
    this.sysctl.addStats('net.inet.igmp.stats', this.igmpstat);
    this.sysctl.addInt('net.inet.ip.mcast.maxsockgroups', {
      get: () => this.mcast.maxSockGroups,
      set: (v) => (this.mcast.maxSockGroups = v),
      min: 1,
      max: 4096,
      description: 'IPv4 multicast memberships one socket may hold (ENOBUFS beyond)',
    });
    this.sysctl.addInt('net.inet6.ip6.mcast.maxsockgroups', {
      get: () => this.mcast6.maxSockGroups6,
      set: (v) => (this.mcast6.maxSockGroups6 = v),
      min: 1,
      max: 4096,
      description: 'IPv6 multicast memberships one socket may hold (ENOBUFS beyond)',
    });
    this.sysctl.addInt('net.inet.ip.mcast.maxsocksrc', {
      get: () => this.mcast.maxSockSources,
      set: (v) => (this.mcast.maxSockSources = v),
      min: 1,
      max: 1024,
      description: 'Sources one source-specific IPv4 membership may include (ENOBUFS beyond)',
    });
    this.lo0 = this.attachLink(new LoopbackLink({ name: 'lo0' }), { addrs: ['127.0.0.1/8'] });
  }

  /** Whether {@link Stack.close} has run. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** @inheritDoc */
  protocol(proto: number): TransportProtocol | undefined {
    return this.protocols.get(proto);
  }

  /** Every interface, in attach order. */
  ifnetList(): readonly Ifnet[] {
    return this.ifList;
  }

  /** The interface called `name`. @throws StackError ENODEV when there is none. */
  ifnet(name: string): Ifnet {
    const ifp = this.ifnets.get(name);
    if (ifp === undefined) throw new StackError(Errno.ENODEV, `no interface ${name}`);
    return ifp;
  }

  /**
   * Register a transport for its IP protocol number (`ip_protox[proto]`).
   * @throws StackError EEXIST when the number is taken (ICMP is built in).
   */
  registerProtocol(tp: TransportProtocol): void {
    if (tp.proto === 1 || tp.proto === IPPROTO_IGMP || this.protocols.has(tp.proto)) {
      throw new StackError(Errno.EEXIST, `protocol ${tp.proto} already registered`);
    }
    this.protocols.set(tp.proto, tp);
  }

  /**
   * Attach a driver as a new interface. The stack becomes the link's
   * receiver and owns the link from now on ({@link Stack.close} closes it).
   * @throws StackError EEXIST for a duplicate interface name, EINVAL for a bad address.
   */
  attachLink(link: Link, opts: AttachOptions = {}): Ifnet {
    this.checkOpen();
    if (this.ifnets.has(link.name)) throw new StackError(Errno.EEXIST, `interface ${link.name} exists`);
    const ifp = new Ifnet(link, this.ifList.length + 1);
    this.ifnets.set(ifp.name, ifp);
    this.ifList = [...this.ifList, ifp];
    if (link.kind === 'ethernet') {
      ifp.rxLender = new ClusterLender(this.pool, ETHERNET_HEADER_LEN);
      link.attach((frames, flags) => {
        this.batchStart();
        try {
          if (flags === undefined) for (let i = 0; i < frames.length; i++) etherInput(this, ifp, frames[i]!, 0);
          else for (let i = 0; i < frames.length; i++) etherInput(this, ifp, frames[i]!, flags[i]!);
        } finally {
          this.batchEnd();
        }
        // etherInput copies what it keeps (m_devget) or takes over a cluster
        // it lent (rxBuffers), and ARP only reads: the link may reuse the frames.
      }, { copies: true, rxBuffers: ifp.rxLender });
    } else {
      link.attach((frames) => {
        this.batchStart();
        try {
          for (let i = 0; i < frames.length; i++) this.loopInput(ifp, frames[i]!);
        } finally {
          this.batchEnd();
        }
      });
    }
    if (opts.up !== undefined) link.setUp(opts.up);
    this.inet6.ifattach(ifp);
    for (const a of opts.addrs ?? []) this.addAddress(ifp.name, a);
    return ifp;
  }

  /** Tell every transport that a batch of inbound frames starts (see `TransportProtocol.inputBatchStart`). */
  private batchStart(): void {
    for (const p of this.protocols.values()) p.inputBatchStart?.();
  }

  /** The batch is done: transports run what they deferred (TCP's ACKs and data bursts). */
  private batchEnd(): void {
    for (const p of this.protocols.values()) p.inputBatchEnd?.();
  }

  /** `looutput`'s other half: a packet back from a loopback link, copied into the pool. */
  private loopInput(ifp: Ifnet, frame: Uint8Array): void {
    if (this.isClosed) return;
    ifp.stats.ipackets++;
    ifp.stats.ibytes += frame.length;
    const m: Mbuf | null = mFromBytes(this.pool, frame, { rcvif: ifp.name, reserve: true });
    if (m === null) {
      ifp.stats.iqdrops++;
      this.pool.countDrop();
      return;
    }
    if (frame[0]! >>> 4 === 6) ip6Input(this.inet6, ifp, m);
    else ipInput(this, ifp, m);
  }

  /** @inheritDoc */
  mloopback(ifp: Ifnet, pkt: Uint8Array): void {
    if (this.isClosed) return;
    if (this.mloopQueue.length >= MLOOP_QUEUE_MAX) {
      this.ipstat.odropped++;
      return;
    }
    this.mloopQueue.push({ ifp, pkt });
    this.mloopImmediate ??= setImmediate(() => {
      this.mloopImmediate = null;
      const q = this.mloopQueue;
      this.mloopQueue = [];
      this.batchStart();
      try {
        for (const { ifp: i, pkt: p } of q) {
          if (this.isClosed) return;
          const m = mFromBytes(this.pool, p, { rcvif: i.name, reserve: true });
          if (m === null) {
            i.stats.iqdrops++;
            this.pool.countDrop();
            continue;
          }
          if (p[0]! >>> 4 === 6) ip6Input(this.inet6, i, m, true);
          else ipInput(this, i, m, true);
        }
      } finally {
        this.batchEnd();
      }
    });
  }

  /**
   * Add an address (`ifconfig ifname inet a.b.c.d/len alias`): the local
   * host route through lo0, the connected route for its subnet, and a
   * gratuitous ARP on Ethernet.
   * @throws StackError ENODEV (no such interface), EINVAL (not a usable
   *   unicast address / prefix), EEXIST (already on this interface).
   */
  addAddress(ifname: string, cidr: string): void {
    this.checkOpen();
    const ifp = this.ifnet(ifname);
    if (cidr.includes(':')) {
      const { addr, prefixLen } = parseCidr6(cidr);
      if (addr.isUnspecified || addr.isMulticast || addr.isV4Mapped || (addr.isLoopback && !ifp.isLoopback)) {
        throw new StackError(Errno.EINVAL, `${cidr}: not a unicast address`);
      }
      if (ifp.addrs6.some((a) => a.addr.equals(addr))) throw new StackError(Errno.EEXIST, `${cidr}: already on ${ifname}`);
      this.inet6.addAddress(ifp, addr, prefixLen, 'manual');
      return;
    }
    const { addr, prefixLen } = parseCidr(cidr);
    if (addr === 0 || ipv4IsMulticast(addr) || ipv4IsReserved(addr)) {
      throw new StackError(Errno.EINVAL, `${cidr}: not a unicast address`);
    }
    if (ifp.hasAddr(addr)) throw new StackError(Errno.EEXIST, `${cidr}: already on ${ifname}`);
    const ia = makeIfaddr(addr, prefixLen);
    if (ia.broadcast === addr || (prefixLen < 31 && addr === ia.net)) {
      throw new StackError(Errno.EINVAL, `${cidr}: network or broadcast address`);
    }
    ifp.addrs.push(ia);
    this.local.set(addr, (this.local.get(addr) ?? 0) + 1);
    this.localAddrs.add(addr);
    if (ifp.isLoopback && prefixLen < 32) this.localAddrs.addLoopbackNet(ia.net, prefixLen);
    // lo0 itself is being attached while the constructor adds 127.0.0.1 (this.lo0 not yet set).
    const lo: Ifnet = (this.lo0 as Ifnet | undefined) ?? ifp;
    this.routes.add(addr, 32, lo, 0, 'local', addr);
    if (prefixLen < 32) this.routes.add(ia.net, prefixLen, ifp, 0, 'connected', addr);
    if (!ifp.isLoopback && ifp.up) this.arp.announce(ifp, addr);
  }

  /**
   * Remove an address: its local and connected routes (the connected route
   * moves to another address of the same subnet if there is one), and the
   * static routes whose gateway is no longer on-link.
   * @throws StackError ENODEV, EINVAL (bad address), EADDRNOTAVAIL (not on the interface).
   */
  removeAddress(ifname: string, addrStr: string): void {
    this.checkOpen();
    const ifp = this.ifnet(ifname);
    if (addrStr.includes(':')) {
      if (!this.inet6.removeAddress(ifp, parseCidr6(addrStr).addr)) throw new StackError(Errno.EADDRNOTAVAIL, `${addrStr} is not on ${ifname}`);
      return;
    }
    const addr = parseAddr(addrStr.split('/')[0]!);
    const i = ifp.addrs.findIndex((a) => a.addr === addr);
    if (i < 0) throw new StackError(Errno.EADDRNOTAVAIL, `${addrStr} is not on ${ifname}`);
    const [ia] = ifp.addrs.splice(i, 1);
    if (ifp.isLoopback && ia!.prefixLen < 32) this.localAddrs.removeLoopbackNet(ia!.net, ia!.prefixLen);
    const n = (this.local.get(addr) ?? 1) - 1;
    if (n > 0) this.local.set(addr, n);
    else {
      this.local.delete(addr);
      this.localAddrs.delete(addr);
      this.routes.delete(addr, 32);
    }
    const conn = this.routes.get(ia!.net, ia!.prefixLen);
    if (conn !== undefined && conn.kind === 'connected' && conn.ifp === ifp && conn.src === addr) {
      this.routes.delete(ia!.net, ia!.prefixLen);
      const other = ifp.addrs.find((a) => a.net === ia!.net && a.prefixLen === ia!.prefixLen);
      if (other !== undefined) this.routes.add(other.net, other.prefixLen, ifp, 0, 'connected', other.addr);
    }
    this.routes.purge((r) => r.kind === 'static' && r.ifp === ifp && r.gateway !== 0 && ifp.ifaddrFor(r.gateway) === undefined);
    if (ifp.addrs.length === 0) this.arp.purge(ifp);
  }

  /** Bring an interface up or down (`ifconfig up/down`); down forgets its ARP entries, up re-announces its addresses. */
  setUp(ifname: string, up: boolean): void {
    this.checkOpen();
    const ifp = this.ifnet(ifname);
    ifp.link.setUp(up);
    if (!up) this.arp.purge(ifp);
    else if (!ifp.isLoopback) for (const ia of ifp.addrs) this.arp.announce(ifp, ia.addr);
    this.inet6.ifup(ifp, up);
  }

  /** Change an interface's MTU. @throws StackError EINVAL when the driver refuses it. */
  setMtu(ifname: string, mtu: number): void {
    const ifp = this.ifnet(ifname);
    try {
      ifp.link.setMtu(mtu);
    } catch (e) {
      throw new StackError(Errno.EINVAL, `mtu ${mtu}: ${(e as Error).message}`);
    }
  }

  /**
   * Add a static route (`route add`). `via` is a gateway address, which must
   * be on-link (on a connected subnet), or an interface name for an on-link route.
   * @throws StackError EINVAL (bad destination), ENETUNREACH (gateway not
   *   on-link), ENODEV (no such interface), EEXIST (route exists).
   */
  addRoute(dest: string, via: string): void {
    this.checkOpen();
    if (dest.includes(':') || (dest === 'default' && via.includes(':'))) return this.addRoute6(dest, via);
    const { addr, prefixLen } = dest === 'default' ? { addr: 0, prefixLen: 0 } : parseCidr(dest);
    const gw = parseIpv4(via);
    let ifp: Ifnet;
    let gateway = 0;
    if (gw !== null) {
      const r = this.routes.lookup(gw);
      if (r === null || r.kind !== 'connected') throw new StackError(Errno.ENETUNREACH, `gateway ${via} is not on-link`);
      ifp = r.ifp;
      gateway = gw;
    } else {
      ifp = this.ifnet(via);
    }
    if (this.routes.add(addr, prefixLen, ifp, gateway, 'static') === null) {
      throw new StackError(Errno.EEXIST, `route ${dest} exists`);
    }
  }

  /** Delete a route (`route delete`). @throws StackError ENOENT when there is none, EINVAL for a bad destination. */
  deleteRoute(dest: string): void {
    if (dest.includes(':')) {
      const { addr, prefixLen } = parseCidr6(dest);
      const r = this.inet6.routes.get(addr, prefixLen);
      if (r === undefined || r.kind === 'local') throw new StackError(Errno.ENOENT, `no route ${dest}`);
      this.inet6.routes.delete(r);
      return;
    }
    const { addr, prefixLen } = dest === 'default' ? { addr: 0, prefixLen: 0 } : parseCidr(dest);
    if (this.routes.delete(addr, prefixLen) === null) throw new StackError(Errno.ENOENT, `no route ${dest}`);
  }

  /** Replace the default route with one through `gateway`. @throws like {@link Stack.addRoute}. */
  setDefaultGateway(gateway: string): void {
    const old = this.routes.get(0, 0);
    if (old !== undefined) this.routes.delete(0, 0);
    try {
      this.addRoute('default', gateway);
    } catch (e) {
      if (old !== undefined) this.routes.add(0, 0, old.ifp, old.gateway, old.kind, old.src);
      throw e;
    }
  }

  /** The routing table (`netstat -rn`), longest prefix first: IPv4, then IPv6. */
  routeList(): RouteInfo[] {
    return [...this.routes.list(), ...this.inet6.routes.list()];
  }

  /**
   * An IPv6 route (`route add -inet6`): `dest` a prefix (`default` is
   * `::/0`), `via` an on-link router (`fe80::1%tap0`, or a global address
   * on a connected prefix) or an interface name.
   * @throws StackError EINVAL, ENETUNREACH (router not on-link), ENODEV, EEXIST.
   */
  private addRoute6(dest: string, via: string): void {
    const { addr, prefixLen } = dest === 'default' ? parseCidr6('::/0') : parseCidr6(dest);
    const gw = via.includes(':') ? parseIp6WithZone(via) : null;
    let ifp: Ifnet;
    let gateway: Ip6Address | null = null;
    if (gw !== null) {
      if (gw.zone !== '') ifp = this.ifnet(gw.zone);
      else {
        const r = this.inet6.routes.lookup(gw.addr, this.clock.now());
        if (r === null || r.kind === 'local' || r.gateway !== null) throw new StackError(Errno.ENETUNREACH, `router ${via} is not on-link`);
        ifp = r.ifp;
      }
      gateway = gw.addr;
    } else if (via.includes(':')) {
      throw new StackError(Errno.EINVAL, `bad IPv6 router "${via}"`);
    } else {
      ifp = this.ifnet(via);
    }
    if (this.inet6.routes.add(addr, prefixLen, ifp, gateway, 'static') === null) throw new StackError(Errno.EEXIST, `route ${dest} exists`);
  }

  /** The IPv6 neighbour cache (`ndp -an`). */
  ndpList(): Nd6EntryInfo[] {
    return this.inet6.nd.list();
  }

  /** The ARP cache (`arp -an`). */
  arpList(): ArpEntryInfo[] {
    return this.arp.list();
  }

  /**
   * Add a static ARP entry (`arp -s ip mac`) on `ifname`, or on the interface
   * whose subnet holds `ip`.
   * @throws StackError EINVAL (bad address or MAC), ENETUNREACH (no interface for it), ENODEV.
   */
  arpAdd(ip: string, mac: string, ifname?: string): void {
    const a = parseAddr(ip);
    const m = parseMac(mac);
    if (m === null) throw new StackError(Errno.EINVAL, `bad MAC ${mac}`);
    const ifp = ifname !== undefined ? this.ifnet(ifname) : this.ifList.find((i) => !i.isLoopback && i.ifaddrFor(a) !== undefined);
    if (ifp === undefined) throw new StackError(Errno.ENETUNREACH, `${ip} is on no attached subnet`);
    this.arp.addStatic(ifp, a, m);
  }

  /** Delete an ARP entry (`arp -d`). @throws StackError ENOENT when there is none. */
  arpDelete(ip: string): void {
    if (!this.arp.delete(parseAddr(ip))) throw new StackError(Errno.ENOENT, `no ARP entry for ${ip}`);
  }

  /**
   * Ping `dst` (`ping -c 1`). @returns the reply. @throws (rejects with)
   * StackError: ETIMEDOUT, ENETUNREACH, EHOSTDOWN, EHOSTUNREACH, EMSGSIZE, EINVAL.
   */
  ping(dst: string | number, opts?: PingOptions): Promise<PingReply> {
    if (this.isClosed) return Promise.reject(new StackError(Errno.ENETDOWN, 'stack closed'));
    if (typeof dst === 'string' && dst.includes(':')) return this.ping6(dst, opts);
    let a: number;
    try {
      a = typeof dst === 'number' ? dst >>> 0 : parseAddr(dst);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.icmp.ping(a, opts);
  }

  /**
   * Ping an IPv6 address (`ping6 -c 1`; `fe80::1%tap0` names the zone of a
   * link-local or multicast destination). The reply's hop limit is reported
   * as `ttl`. @throws (rejects with) StackError as {@link Stack.ping}, and
   * ENODEV for an unknown zone.
   */
  async ping6(dst: string, opts: PingOptions = {}): Promise<PingReply> {
    const p = parseIp6WithZone(dst);
    if (p === null) throw new StackError(Errno.EINVAL, `bad IPv6 address "${dst}"`);
    const ifindex = p.zone !== '' ? this.ifnet(p.zone).index : 0;
    const r = await this.inet6.icmp.ping(p.addr, {
      size: opts.size,
      id: opts.id,
      seq: opts.seq,
      timeout: opts.timeout,
      hopLimit: opts.ttl,
      dontFrag: opts.df,
      ifindex,
    });
    return { rtt: r.rtt, from: r.from, ttl: r.hopLimit, bytes: r.bytes, id: r.id, seq: r.seq };
  }

  /**
   * Send an ICMP error about a packet a transport received (e.g. UDP: port
   * unreachable). `m` is the packet as the transport got it from `input()`
   * (starting at the transport header, not yet trimmed); ownership passes
   * here. Rate-limited, and never sent where RFC 1122 3.2.2 forbids it.
   */
  icmpError(m: Mbuf, type: number, code: number, mtu = 0): void {
    // An IPv6 packet (its header found in front of the data) gets the ICMPv6 equivalent.
    if (this.inet6.icmp.errorFromTransport(m, type, code)) return;
    this.icmp.errorFromTransport(m, type, code, mtu);
  }

  /**
   * Whether `addr` is one of our IPv6 addresses and usable (not tentative
   * or duplicated, RFC 4862 5.4): bind's EADDRNOTAVAIL test for `AF_INET6`
   * (NetBSD `in6_pcbbind` refuses `IN6_IFF_NOTREADY` addresses too).
   */
  isLocal6(addr: Ip6Address): boolean {
    for (const ifp of this.ifList) {
      for (const ia of ifp.addrs6) if (ia.addr.equals(addr)) return ia.state === 'preferred' || ia.state === 'deprecated';
    }
    return false;
  }

  /**
   * Shut the stack down: stop every timer, free every queued mbuf (ARP hold
   * queues, reassembly, pending pings fail with ENETDOWN), call `close()` on
   * registered transports that have one, and close every link. Afterwards
   * the pool is all-free unless a caller still holds mbufs. Idempotent.
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const tp of this.protocols.values()) (tp as TransportProtocol & Closable).close?.();
    this.icmp.close();
    this.igmp.purge();
    if (this.mloopImmediate !== null) clearImmediate(this.mloopImmediate);
    this.mloopImmediate = null;
    this.mloopQueue = [];
    this.inet6.close();
    this.arp.purge();
    this.reass.drain();
    this.pmtu.clear();
    for (const ifp of this.ifList) ifp.link.close();
  }

  private checkOpen(): void {
    if (this.isClosed) throw new StackError(Errno.ENETDOWN, 'stack closed');
  }
}

/** Multicast copies that may wait to loop back (`ip_mloopback`); beyond, dropped (`odropped`). */
const MLOOP_QUEUE_MAX = 1024;

/** Parse a dotted quad. @throws StackError EINVAL. */
function parseAddr(s: string): number {
  const a = parseIpv4(s);
  if (a === null) throw new StackError(Errno.EINVAL, `bad IPv4 address "${s}"`);
  return a;
}

/** Parse `"a.b.c.d/len"` (len 0..32; without `/len`, a host: 32). @throws StackError EINVAL. */
export function parseCidr(s: string): { addr: number; prefixLen: number } {
  const slash = s.indexOf('/');
  const addr = parseAddr(slash < 0 ? s : s.slice(0, slash));
  let prefixLen = 32;
  if (slash >= 0) {
    const t = s.slice(slash + 1);
    if (!/^\d{1,2}$/.test(t) || Number(t) > 32) throw new StackError(Errno.EINVAL, `bad prefix length in "${s}"`);
    prefixLen = Number(t);
  }
  return { addr, prefixLen };
}

/** Parse `"2001:db8::1/64"` (len 0..128; without `/len`, a host: 128). @throws StackError EINVAL. */
export function parseCidr6(s: string): { addr: Ip6Address; prefixLen: number } {
  const slash = s.indexOf('/');
  const p = parseIp6WithZone(slash < 0 ? s : s.slice(0, slash));
  if (p === null) throw new StackError(Errno.EINVAL, `bad IPv6 address "${s}"`);
  let prefixLen = 128;
  if (slash >= 0) {
    const t = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(t) || Number(t) > 128) throw new StackError(Errno.EINVAL, `bad prefix length in "${s}"`);
    prefixLen = Number(t);
  }
  return { addr: p.addr, prefixLen };
}
