/**
 * @packageDocumentation
 * `@rumpnet/stack`: a BSD-style TCP/IP stack in TypeScript — mbuf chains and an
 * mbuf cluster pool, Ethernet/ARP/IPv4/ICMP/UDP/TCP, and a socket layer whose
 * copies go through a `uio`, so a rump server can turn each copy into a request
 * to its client.
 *
 * @example
 * ```ts
 * import { Errno, ManualClock } from '@rumpnet/stack';
 * const clock = new ManualClock();
 * clock.setTimeout(() => console.log('fired at', clock.now()), 200);
 * clock.advance(500); // "fired at 200"
 * ```
 */
export const PACKAGE = '@rumpnet/stack';

export { Errno, EWOULDBLOCK, errnoName, StackError } from './kern/errno.js';
export type { ErrnoName, ErrnoValue } from './kern/errno.js';
export { realClock, ManualClock } from './kern/clock.js';
export { hopTrace } from './kern/hoptrace.js';
export type { HopTracer } from './kern/hoptrace.js';
export type { Clock, TimerHandle } from './kern/clock.js';
export {
  emptyLinkStats,
  RxFlag,
  LoopbackLink,
  LOOPBACK_MTU,
  MemWire,
  MemWireLink,
  ETHER_HDR_LEN,
  MIN_MTU,
  MAX_MTU,
  emptyWireStats,
  normalizeFaults,
  Rng,
  randomSeed,
  FrameRing,
} from './link/index.js';
export type {
  Link,
  LinkOffloads,
  TxOffload,
  LinkKind,
  LinkReceiver,
  LinkReceiverOptions,
  RxBufferLender,
  LinkStats,
  FrameRingOptions,
  FrameRingStats,
  LoopbackOptions,
  MemWireOptions,
  MemWireLinkOptions,
  FlushMode,
  FaultConfig,
  ReorderFault,
  DelayFault,
  CorruptFault,
  RateLimitFault,
  WireStats,
  NormalizedFaults,
  Seed,
} from './link/index.js';
export { Sysctl, formatSysctl } from './kern/sysctl.js';
export type { IntNode, SysctlRow, StatsObject } from './kern/sysctl.js';
export * from './mbuf/index.js';
export * as wire from './wire/index.js';
export { parseIpv4, ipv4ToString, parseMac, macToString } from './wire/index.js';
export { Ip6Address, parseIp, ipToString, ipEquals, ipVersion } from './wire/index.js';
export type { IpAddress } from './wire/index.js';
export { INET, INET6, familyOf, familyByAf } from './net/index.js';
export type { NetworkFamily } from './net/index.js';
export { Stack, parseCidr, parseCidr6 } from './stack.js';
export type { StackOptions, AttachOptions } from './stack.js';
export type { PingOptions, PingReply, RouteInfo, ArpEntryInfo, IfStats, Nd6EntryInfo, In6AddrInfo } from './net/index.js';
export { Inet6 } from './net/index.js';
export { IpProto } from './net/protosw.js';
export type { TransportProtocol, IpOutput, IpOutputOptions, IpPacketInfo, TransportError } from './net/protosw.js';
export { Ifnet } from './net/index.js';
export * from './socket/index.js';
export * from './transport/udp/index.js';
export { TcpProtocol, TCP_DEFAULTS, TCP_OPT, IP_OPT, TCPS, TCP_STATE_NAMES } from './transport/tcp/index.js';
export type { TcpTunables, TcpStats, TcpConnInfo } from './transport/tcp/index.js';
export { createNetStack } from './netstack.js';
export { DhcpClient } from './dhcp/index.js';
export type { DhcpClientOptions, DhcpEvent, DhcpLease, DhcpState, DhcpStats } from './dhcp/index.js';
export type { NetStack, NetStackOptions } from './netstack.js';
