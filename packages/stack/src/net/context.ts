/**
 * What the network-layer functions need from the stack that holds them — the
 * userspace stand-in for the kernel globals (`in_ifaddrhead`, `rt_tables`,
 * `ipstat`, `inetsw`) that NetBSD's `ip_input.c` and friends reach for.
 * `Stack` implements it; keeping it an interface lets each file say exactly
 * which shared state it touches and keeps `net/` free of an import of
 * `stack.ts`.
 *
 * @module
 */
import type { Clock } from '../kern/clock.js';
import type { ClusterPool } from '../mbuf/index.js';
import type { Arp } from './arp.js';
import type { Icmp } from './icmp.js';
import type { Ifnet } from './ifnet.js';
import type { Inet6 } from './inet6.js';
import type { IpIdGenerator } from './ipid.js';
import type { TransportProtocol } from './protosw.js';
import type { Reass } from './reass.js';
import type { RouteTable } from './route.js';
import type { EtherStats, IcmpStats, IpStats } from './stats.js';
import type { Igmp, IgmpStats } from './igmp.js';

/** IPv4 tunables (`net.inet.ip.*`), read at each use so sysctl writes act at once. */
export interface IpTunables {
  /** Default TTL of outgoing packets (`net.inet.ip.ttl`, 64). */
  ttl: number;
  /** Seconds a learnt path MTU is kept (RFC 1191 6.3: 10 minutes). */
  mtuExpire: number;
}

/** A path MTU learnt from ICMP fragmentation needed (RFC 1191). */
export interface PmtuEntry {
  mtu: number;
  /** Clock time when it expires. */
  expires: number;
}

/** The shared state of one stack's network layer. */
export interface NetContext {
  readonly clock: Clock;
  readonly pool: ClusterPool;
  readonly routes: RouteTable;
  readonly arp: Arp;
  readonly reass: Reass;
  readonly icmp: Icmp;
  readonly ipId: IpIdGenerator;
  readonly ipstat: IpStats;
  readonly icmpstat: IcmpStats;
  readonly etherstat: EtherStats;
  readonly ipTun: IpTunables;
  /** The loopback interface through which packets to our own addresses travel. */
  readonly lo0: Ifnet;
  /** Every IPv4 address configured on any interface (the weak host model of BSD: any of them is ours on any interface). */
  readonly localAddrs: ReadonlySet<number>;
  /** Path MTUs learnt, by destination. */
  readonly pmtu: Map<number, PmtuEntry>;
  /** The IPv6 layer (addresses, routes, ND, ICMPv6, reassembly); Ethernet and loopback input hand it IPv6 packets. */
  readonly inet6: Inet6;
  /** Whether the stack has been closed (input is ignored, output fails with ENETDOWN). */
  readonly closed: boolean;
  /** IGMP (`igmp.ts`): reports of the IPv4 groups joined, answers to queries. */
  readonly igmp: Igmp;
  /** IGMP counters. */
  readonly igmpstat: IgmpStats;
  /**
   * `ip_mloopback`: queue a copy of a multicast packet we sent (the whole
   * IPv4 or IPv6 packet, by its version; `pkt` owned by the callee) to come back in on `ifp`
   * after the current task, as `looutput` queues to the IP input queue.
   */
  mloopback(ifp: Ifnet, pkt: Uint8Array): void;
  /** The transport registered for an IP protocol number (`ip_protox[]`). */
  protocol(proto: number): TransportProtocol | undefined;
  /** Every interface, in attach order. */
  ifnetList(): readonly Ifnet[];
}
