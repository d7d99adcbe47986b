/**
 * What the socket layer and the transports below it need from the stack
 * they live in. The `Stack` of `stack.ts` satisfies it as it is (pass the
 * stack itself), so this layer depends on a small structural seam, not on
 * the whole stack, and unit tests can run it over a fake network layer.
 *
 * @module
 */
import type { Clock } from '../kern/clock.js';
import type { Sysctl } from '../kern/sysctl.js';
import type { ClusterPool, Mbuf } from '../mbuf/index.js';
import type { IpOutput, TransportProtocol } from '../net/protosw.js';
import type { Ifnet } from '../net/ifnet.js';
import type { Ip6Address, IpAddress } from '../wire/ip.js';
import type { In6McastHost } from './in6mopt.js';

/**
 * IPv4 multicast membership as the socket options need it (`in_mcast.c`'s
 * `inp_lookup_mcast_ifp`, `in_joingroup`, `in_leavegroup`); the stack
 * keeps the interface group table and sends the IGMP reports.
 */
export interface InMcastHost {
  /**
   * The interface for a membership of `group`: the one holding address
   * `ifaddr`, or for 0 the one the group routes to (the default route's),
   * else the first that is up with an address, else lo0. null when
   * `ifaddr` is on no interface.
   */
  mcastIfp(ifaddr: number, group: number): Ifnet | null;
  /** Take one membership of `group` on `ifp` (any-source when `source` is null); reports a change. */
  join(ifp: Ifnet, group: number, source: number | null): void;
  /** Give one back. */
  leave(ifp: Ifnet, group: number, source: number | null): void;
  /** Memberships one socket may hold (`net.inet.ip.mcast.maxsockgroups`, Linux `igmp_max_memberships`). */
  readonly maxSockGroups: number;
  /** Sources one membership may include (`net.inet.ip.mcast.maxsocksrc`, Linux `igmp_max_msf`). */
  readonly maxSockSources: number;
}

/** The stack services the socket layer and its protocols use. */
export interface InetHost {
  /** The stack's mbuf cluster pool (all socket data lives there). */
  readonly pool: ClusterPool;
  /** Time, for socket timeouts (`SO_RCVTIMEO`) and poll timeouts. */
  readonly clock: Clock;
  /** The downward seam to the network layer (`ip_output`, source selection, MTU), for either family. */
  readonly ip: IpOutput;
  /** The stack's sysctl tree; the layer registers `kern.sbmax`, `net.inet.udp.*`, ... there when given. */
  readonly sysctl?: Sysctl;
  /**
   * Clusters per copy request for `sosend` (`MCLNUM`); default the pool's
   * `mclnum`. The rump server sets it at start.
   */
  readonly mclnum?: number;
  /**
   * Every IPv4 address configured on an interface (the weak host model):
   * bind's EADDRNOTAVAIL test (`ifa_ifwithaddr`).
   */
  readonly localAddrs: ReadonlySet<number>;
  /**
   * Whether an IPv6 address is configured on an interface (bind's
   * EADDRNOTAVAIL test for `AF_INET6`); absent until the stack speaks IPv6.
   */
  isLocal6?(addr: Ip6Address): boolean;
  /** The interfaces; only their broadcast test is used (`in_broadcast`). */
  ifnetList?(): readonly { isBroadcast(addr: number): boolean }[];
  /** IPv4 multicast membership (`IP_ADD_MEMBERSHIP`); absent on a host without it (ENOPROTOOPT). */
  readonly mcast?: InMcastHost;
  /** IPv6 multicast membership (`IPV6_JOIN_GROUP`); absent on a host without it (ENOPROTOOPT). */
  readonly mcast6?: In6McastHost;
  /** Hand a transport to the IP layer's demultiplexer (`Stack.registerProtocol`). */
  registerProtocol?(tp: TransportProtocol): void;
  /**
   * Send an ICMP error about a received packet (`icmp_error`, rate-limited
   * and filtered by the network layer). `m` is the packet exactly as
   * `TransportProtocol.input` got it — starting at the transport header,
   * not trimmed — so the IP header is still in its leading space; ownership
   * passes on every path.
   */
  icmpError?(m: Mbuf, type: number, code: number): void;
}

/** Whether `addr` is one of the host's addresses. */
export function hostIsLocal(host: InetHost, addr: IpAddress): boolean {
  if (typeof addr !== 'number') return host.isLocal6?.(addr) ?? false;
  return host.localAddrs.has(addr >>> 0);
}

/**
 * Whether `addr` is the limited broadcast or a directed broadcast of one of
 * the host's interfaces. IPv6 has no broadcast (RFC 4291 2): always false.
 */
export function hostIsBroadcast(host: InetHost, addr: IpAddress): boolean {
  if (typeof addr !== 'number') return false;
  const a = addr >>> 0;
  if (a === 0xffffffff) return true;
  const list = host.ifnetList?.();
  if (list === undefined) return false;
  for (const ifp of list) if (ifp.isBroadcast(a)) return true;
  return false;
}
