/**
 * @packageDocumentation
 * The network layer of `@rumpnet/stack`: interfaces, routing, Ethernet,
 * ARP, IPv4 (input, output, reassembly) and ICMP, IPv6 (input, output,
 * reassembly, ICMPv6, Neighbor Discovery), plus the protocol switch
 * seam transports plug into. Most users only need `Stack` (in `../stack.ts`);
 * these are the parts it is made of, for transports, tools and tests.
 *
 * @example
 * ```ts
 * import { Stack } from '@rumpnet/stack';
 * const s = new Stack();
 * s.addRoute('10.9.0.0/16', 'lo0');
 * console.log(s.routeList()); // [{ destination: '127.0.0.1/32', ... }, ...]
 * ```
 */
export { IpProto } from './protosw.js';
export { INET, INET6, MAX_NET_HEADER_LEN, familyByAf, familyOf } from './family.js';
export type { NetworkFamily } from './family.js';
export type { IpOutput, IpOutputOptions, IpPacketInfo, TransportError, TransportProtocol, Ip6Output, Ip6OutputOptions } from './protosw.js';
export { Ifnet, INADDR_ALLHOSTS_GROUP, makeIfaddr } from './ifnet.js';
export type { IfStats, InIfaddr } from './ifnet.js';
export { RouteTable } from './route.js';
export type { Route, RouteInfo, RouteKind } from './route.js';
export { Arp, ARP_DEFAULTS } from './arp.js';
export type { ArpEntryInfo, ArpHooks, ArpTunables } from './arp.js';
export { Reass, IP_MAXPACKET } from './reass.js';
export type { FragInfo, Reassembled, ReassLimits, ReassTimeoutHook } from './reass.js';
export { IpIdGenerator } from './ipid.js';
export { etherInput, etherOutput, ifOutputFrame, multicastMac } from './ethernet.js';
export { ipInput, isMartianSource, martianSource } from './ipv4-input.js';
export type { MartianKind } from './ipv4-input.js';
export { groupIfp, ipOutput, mtuTowards, pmtuUpdate, selectSource } from './ipv4-output.js';
export { Icmp, icmpErrno } from './icmp.js';
export { Igmp, IPPROTO_IGMP, INADDR_ALLRPTS_GROUP, INADDR_ALLRTRS_GROUP, changeRecords, newIgmpStats } from './igmp.js';
export type { IgmpContext, IgmpStats } from './igmp.js';
export { IN_MULTI_NONE, inJoinGroup, inLeaveGroup, inMultiAccepts, inMultiState } from './in-mcast.js';
export type { InMulti, InMultiState } from './in-mcast.js';
export type { IcmpTunables, PingOptions, PingReply } from './icmp.js';
export { newArpStats, newEtherStats, newIcmpStats, newIpStats } from './stats.js';
export type { ArpStats, EtherStats, IcmpStats, IpStats } from './stats.js';
export { registerNetSysctl } from './sysctl-nodes.js';
export { Inet6 } from './inet6.js';
export type { In6AddrInfo, Ip6Tunables } from './inet6.js';
export { ip6Input } from './ipv6-input.js';
export { ip6Output, ifOutput6, nextHop6, pathMtu6, pmtuUpdate6, selectSource6, PMTU6_CACHE_MAX } from './ipv6-output.js';
export type { NextHop6 } from './ipv6-output.js';
export { Reass6 } from './reass6.js';
export type { Reass6Hooks, Reass6Limits } from './reass6.js';
export { Icmp6, icmp6Errno, quotedUpperLayer, zoneOf } from './icmp6.js';
export type { Icmp6Tunables, Ping6Options, Ping6Reply } from './icmp6.js';
export { Nd6, ND6_DEFAULTS, randomReachable } from './nd6.js';
export type { Nd6EntryInfo, Nd6State, Nd6Tunables } from './nd6.js';
export { Mld6, MldRecord, IP6_ALL_MLDV2_ROUTERS, mldReportable } from './mld6.js';
export { Route6Table } from './route6.js';
export type { Route6, Route6Kind } from './route6.js';
export {
  commonPrefixLen,
  eui64,
  ip6InPrefix,
  ip6Mask,
  ip6Scope,
  linkLocalFromMac,
  multicastMac6,
  newNd6IfParams,
  prefixWord,
  solicitedNode,
  stableInterfaceId,
} from './in6.js';
export type { In6AddrState, In6Ifaddr, In6Multi, Nd6IfParams } from './in6.js';
export { newIcmp6Stats, newIp6Stats, newNd6Stats } from './stats6.js';
export type { Icmp6Stats, Ip6Stats, Nd6Stats } from './stats6.js';
export type { NetSysctlSources } from './sysctl-nodes.js';
export type { IpTunables, NetContext, PmtuEntry } from './context.js';
