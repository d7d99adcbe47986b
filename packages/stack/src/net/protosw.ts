/**
 * The seam between the network layer (IPv4, ICMP) and the transport
 * protocols above it — BSD's `struct protosw` entries `pr_input`,
 * `pr_ctlinput` and the `ip_output()` call transports make downwards.
 *
 * Data goes up through `input` and down through `IpOutput.output`, once, and
 * never doubles back: a transport never parses an IP header itself, the IP
 * layer never looks inside a transport header (except ICMP quoting it).
 */
import type { Mbuf } from '../mbuf/index.js';
import type { Ip6Address, IpAddress } from '../wire/ip.js';

/** IP protocol numbers (`IPPROTO_*`). */
export const IpProto = {
  ICMP: 1,
  TCP: 6,
  UDP: 17,
} as const;

/**
 * What the IP layer learned about an inbound packet, handed to the transport
 * with it. Lent for the duration of the `input` call only: the IP layer
 * reuses one object for every packet (no allocation per packet), so a
 * transport copies the fields it wants to keep.
 */
export interface IpPacketInfo<A extends IpAddress = IpAddress> {
  /** Source address: an IPv4 number (host order, unsigned) or an Ip6Address. */
  src: A;
  /** Destination address as it appeared on the wire (may be a broadcast or multicast address), of the same family. */
  dst: A;
  /** IP protocol number. */
  proto: number;
  /** TTL as received. */
  ttl: number;
  /** The DSCP/ECN byte. */
  tos: number;
  /** Name of the interface the packet arrived on. */
  ifname: string;
  /** Its index (`if_index`): the zone of a link-scoped IPv6 source (RFC 4007 6). */
  ifindex: number;
  /** True when `dst` was a broadcast (limited or directed) address. */
  broadcast: boolean;
  /** True when `dst` was a multicast address. */
  multicast: boolean;
}

/** An ICMP error (or local failure) reported to the transport that sent the quoted packet (`pr_ctlinput`). */
export interface TransportError {
  /** The errno it maps to: ECONNREFUSED (port unreachable), EHOSTUNREACH, ENETUNREACH, EMSGSIZE (fragmentation needed), ... */
  errno: number;
  /** ICMP type and code, or -1/-1 for a locally generated error (e.g. ARP resolution failed). */
  icmpType: number;
  icmpCode: number;
  /** Next-hop MTU from an RFC 1191 fragmentation-needed message, else 0. */
  mtu: number;
  /** The quoted packet's addresses (one family) and ports (ports 0 when not known). */
  src: IpAddress;
  dst: IpAddress;
  srcPort: number;
  dstPort: number;
  /** The quoted transport header's first 8 bytes (TCP uses its sequence number, RFC 5927). */
  quoted: Uint8Array;
}

/** A transport protocol as the IP layer sees it. */
export interface TransportProtocol {
  /** The IP protocol number it handles. */
  readonly proto: number;
  /**
   * Deliver one inbound packet. `m` starts at the transport header (the IP
   * header has been stripped, reassembly done). Ownership of `m` passes to the
   * protocol: it must free or keep it, on every path. `info` is lent for
   * the call: do not keep a reference to it (copy fields instead).
   */
  input(m: Mbuf, info: IpPacketInfo): void;
  /** Deliver an ICMP error or a local failure concerning a packet this protocol sent. */
  ctlinput?(err: TransportError): void;
  /**
   * Optional: a link is about to deliver a batch of frames (all those one
   * driver wake-up read). Calls nest; every call is matched by
   * {@link inputBatchEnd}, also when input throws.
   */
  inputBatchStart?(): void;
  /**
   * Optional: the batch announced by {@link inputBatchStart} is done. A
   * protocol may have deferred work to here — TCP sends one cumulative ACK
   * and one burst of data per connection instead of one per segment
   * (receive-side coalescing, as LRO/GRO do in a kernel).
   */
  inputBatchEnd?(): void;
}

/** Options for one {@link IpOutput.output} call. */
export interface IpOutputOptions<A extends IpAddress = IpAddress> {
  /** Source and destination, of one family: the network layer of that family sends the packet. */
  src: A;
  dst: A;
  proto: number;
  /** Default: the `net.inet.ip.ttl` sysctl (64). */
  ttl?: number;
  tos?: number;
  /** Set Don't Fragment: a packet larger than the path's MTU fails with EMSGSIZE instead of being fragmented. */
  df?: boolean;
  /** Allow sending to a broadcast address (`SO_BROADCAST`); without it EACCES. */
  broadcast?: boolean;
  /** IPv4 multicast: the address of the interface to leave by (`IP_MULTICAST_IF`); 0 or absent = by route. */
  mcastIf?: number;
  /** Multicast: also deliver a copy to local members (`IP_MULTICAST_LOOP`; IPv4's default true, IPv6's false: transports say). */
  mcastLoop?: boolean;
  /** IPv6: the zone (interface index) of a link-scoped destination ({@link Ip6OutputOptions.ifindex}); IPv4 ignores it. */
  ifindex?: number;
}

/** The downward call: what `ip_output()` is to BSD transports. */
export interface IpOutput {
  /**
   * Prepend an IPv4 header to `m` (which starts at the transport header and
   * should have been allocated with enough leading space for IP + link headers)
   * and send it: route, fragment if needed, resolve the next hop, hand to the
   * link. Ownership of `m` passes to the IP layer on every path. Returns 0 or an
   * errno (ENETUNREACH, EHOSTUNREACH, EMSGSIZE, ENOBUFS, EACCES, ENETDOWN).
   * A packet waiting for ARP returns 0; if resolution then fails, the sending
   * transport hears of it through `ctlinput` (EHOSTDOWN/EHOSTUNREACH).
   */
  output(m: Mbuf, opts: IpOutputOptions): number;
  /**
   * The source address the stack would use towards `dst` (same family), or
   * null when there is no route; `ifindex` is an IPv6 destination's zone.
   */
  selectSource(dst: IpAddress, ifindex?: number): IpAddress | null;
  /** The MTU of the route towards `dst` (path MTU when known), or 0 when there is no route. */
  mtuTowards(dst: IpAddress): number;
  /**
   * Optional: the largest IPv4 packet (header included) that may go
   * towards `dst` as one TCP segmentation-offload packet — a packet with
   * `M_CSUM_TSOv4` in its header that the interface cuts into segments —
   * or 0 when the route's interface offers no TSO or a path MTU below the
   * interface's applies (RFC 1191: the device would cut to the wrong size).
   */
  tsoMaxTowards?(dst: IpAddress): number;
  /**
   * Optional: record a path MTU towards `dst` from a fragmentation-needed
   * error the transport has validated (RFC 5927: TCP checks the quoted
   * sequence number first). The network layer clamps it to its minimum
   * (552) and believes only a decrease. Returns the MTU now in force when
   * recorded, else 0. A transport that cannot validate a quote (UDP) does
   * not call it.
   */
  pmtuUpdate?(dst: IpAddress, mtu: number): number;
}

/** Options for one {@link Ip6Output.output} call. */
export interface Ip6OutputOptions {
  /** Source address; null (or `::` without {@link Ip6OutputOptions.allowUnspecified}) picks one (RFC 6724). */
  src: Ip6Address | null;
  dst: Ip6Address;
  /** Upper-layer protocol (Next Header). */
  proto: number;
  /** Default: the interface's (an RA's cur hop limit) or `net.inet6.ip6.hlim`; multicast defaults to 1 (RFC 3493 5.2). */
  hopLimit?: number;
  /** Traffic class byte. */
  tclass?: number;
  /** Interface index of the zone: required to reach link-local and multicast destinations on a stack with several links. */
  ifindex?: number;
  /** Do not fragment: a packet larger than the path MTU fails with EMSGSIZE (`IPV6_DONTFRAG`). */
  dontFrag?: boolean;
  /** Send from `::` (duplicate address detection, RFC 4862 5.4.2). */
  allowUnspecified?: boolean;
  /**
   * Multicast: also deliver a copy to the local members of the group
   * (`IPV6_MULTICAST_LOOP`). Off unless set: ND and MLD send theirs with
   * the loop off (NetBSD `nd6_ns_output`, `mld_sendpkt`), or DAD would hear itself.
   */
  mcastLoop?: boolean;
}

/** The IPv6 downward call: what `ip6_output()` is to BSD transports. */
export interface Ip6Output {
  /**
   * Prepend an IPv6 header to `m` (starting at the transport header, with
   * leading space for 40 + link header bytes) and send it: route, pick the
   * source, fragment if needed, resolve the next hop with ND. Ownership of
   * `m` passes on every path. Returns 0 or an errno (ENETUNREACH,
   * EADDRNOTAVAIL, EMSGSIZE, ENOBUFS, ENETDOWN, EHOSTUNREACH).
   */
  output(m: Mbuf, opts: Ip6OutputOptions): number;
  /** The source address the stack would use towards `dst` (RFC 6724, simplified), or null. */
  selectSource(dst: Ip6Address, ifindex?: number): Ip6Address | null;
  /** The path MTU towards `dst` (at least 1280), or 0 when there is no route. */
  mtuTowards(dst: Ip6Address, ifindex?: number): number;
}
