/**
 * @packageDocumentation
 * The network layer of `@rumpnet/stack`: interfaces, routing, Ethernet,
 * ARP, IPv4 (input, output, reassembly) and ICMP, plus the protocol switch
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
export type { IpOutput, IpOutputOptions, IpPacketInfo, TransportError, TransportProtocol } from './protosw.js';
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
export { ipOutput, mtuTowards, pmtuUpdate, selectSource } from './ipv4-output.js';
export { Icmp, icmpErrno } from './icmp.js';
export type { IcmpTunables, PingOptions, PingReply } from './icmp.js';
export { newArpStats, newEtherStats, newIcmpStats, newIpStats } from './stats.js';
export type { ArpStats, EtherStats, IcmpStats, IpStats } from './stats.js';
export { registerNetSysctl } from './sysctl-nodes.js';
export type { NetSysctlSources } from './sysctl-nodes.js';
export type { IpTunables, NetContext, PmtuEntry } from './context.js';
