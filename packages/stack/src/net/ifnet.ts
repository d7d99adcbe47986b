/**
 * Network interfaces as the IP layer sees them: BSD's `struct ifnet` with its
 * list of IPv4 addresses (`struct in_ifaddr`, `sys/netinet/in.c`), joined
 * multicast groups and `netstat -i` counters. The driver below is a
 * {@link Link}; this object adds what the stack knows about it.
 *
 * @module
 */
import type { ClusterLender } from '../mbuf/lend.js';
import type { Link } from '../link/link.js';
import { ipv4PrefixMask } from '../wire/address.js';
import { newNd6IfParams, type In6Ifaddr, type In6Multi, type Nd6IfParams } from './in6.js';
import type { InMulti } from './in-mcast.js';

/** All-hosts group 224.0.0.1 (RFC 1112): every multicast-capable host is a member. */
export const INADDR_ALLHOSTS_GROUP = 0xe0000001;

/** One IPv4 address on an interface (`struct in_ifaddr`). */
export interface InIfaddr {
  /** The address (unsigned 32-bit, host order). */
  readonly addr: number;
  /** Prefix length 0..32. */
  readonly prefixLen: number;
  /** Netmask for {@link InIfaddr.prefixLen}. */
  readonly mask: number;
  /** Network number: `addr & mask`. */
  readonly net: number;
  /**
   * Directed broadcast address of the subnet (`net | ~mask`), or -1 when the
   * subnet has none (/31 point-to-point links, RFC 3021, and /32).
   */
  readonly broadcast: number;
}

/** Build an {@link InIfaddr} from an address and prefix length. */
export function makeIfaddr(addr: number, prefixLen: number): InIfaddr {
  const mask = ipv4PrefixMask(prefixLen);
  const net = (addr & mask) >>> 0;
  const broadcast = prefixLen >= 31 ? -1 : (net | ~mask) >>> 0;
  return { addr: addr >>> 0, prefixLen, mask, net, broadcast };
}

/** Interface counters kept by the stack (the link keeps its own too). `netstat -i`. */
export interface IfStats {
  /** Frames accepted by Ethernet input (or packets by loopback input). */
  ipackets: number;
  ibytes: number;
  /** Frames dropped for a malformed link header. */
  ierrors: number;
  /** Frames dropped for lack of mbufs, or while the interface is down. */
  iqdrops: number;
  /** Frames for an EtherType we do not speak (including 802.1Q tagged frames). */
  noproto: number;
  /** Frames handed to the link. */
  opackets: number;
  obytes: number;
  /** Frames the link refused (its queue full, down). */
  oerrors: number;
  /** Multicast or broadcast frames received / sent. */
  imcasts: number;
  omcasts: number;
}

function emptyIfStats(): IfStats {
  return {
    ipackets: 0,
    ibytes: 0,
    ierrors: 0,
    iqdrops: 0,
    noproto: 0,
    opackets: 0,
    obytes: 0,
    oerrors: 0,
    imcasts: 0,
    omcasts: 0,
  };
}

/**
 * A network interface of a stack: the driver ({@link Ifnet.link}), its
 * addresses and counters. Created by `Stack.attachLink`; change addresses
 * through the stack (`addAddress`), which also maintains routes and ARP.
 */
export class Ifnet {
  /** Interface name (the link's). */
  readonly name: string;
  /** Interface index, 1-based in attach order (`if_index`). */
  readonly index: number;
  /** The driver. */
  readonly link: Link;
  /** IPv4 addresses, primary first. Treat as read-only outside the stack. */
  readonly addrs: InIfaddr[] = [];
  /**
   * IPv4 multicast groups joined (`in_multi`), by group, with their
   * membership counts and source filters (`in-mcast.ts`). 224.0.0.1 always
   * (RFC 1112 4: every multicast host is a member; never reported).
   */
  readonly groups = new Map<number, InMulti>([[INADDR_ALLHOSTS_GROUP, { addr: INADDR_ALLHOSTS_GROUP, exRefs: 1, sources: new Map() }]]);
  /** Counters. */
  readonly stats: IfStats = emptyIfStats();
  /** IPv6 addresses (`in6_ifaddr`), link-local first. Change them through the stack. */
  readonly addrs6: In6Ifaddr[] = [];
  /** IPv6 groups joined: all-nodes, the solicited-node groups of our addresses. */
  readonly groups6: In6Multi[] = [];
  /** Neighbor Discovery parameters of this link (RFC 4861 6.3.2), which router advertisements may change. */
  readonly nd6: Nd6IfParams = newNd6IfParams();
  /**
   * @internal The clusters this interface lends its link as receive
   * buffers (`mbuf/lend.ts`): Ethernet input takes a frame built in one as
   * the packet without a copy. Null for loopback.
   */
  rxLender: ClusterLender | null = null;

  /** @internal Made by the stack. */
  constructor(link: Link, index: number) {
    this.link = link;
    this.name = link.name;
    this.index = index;
  }

  /** Whether this is a loopback interface (bare IPv4 frames, no ARP). */
  get isLoopback(): boolean {
    return this.link.kind === 'loopback';
  }

  /** The link's MTU (largest IPv4 packet). */
  get mtu(): number {
    return this.link.mtu;
  }

  /** The link's MAC address (all zero on loopback). */
  get mac(): Uint8Array {
    return this.link.mac;
  }

  /** Whether the link is up. */
  get up(): boolean {
    return this.link.up;
  }

  /** Whether `a` is one of this interface's addresses. */
  hasAddr(a: number): boolean {
    for (const ia of this.addrs) if (ia.addr === a) return true;
    return false;
  }

  /** The address whose subnet holds `a` (the most specific), or undefined. */
  ifaddrFor(a: number): InIfaddr | undefined {
    let best: InIfaddr | undefined;
    for (const ia of this.addrs) {
      if (((a & ia.mask) >>> 0) === ia.net && (best === undefined || ia.prefixLen > best.prefixLen)) best = ia;
    }
    return best;
  }

  /**
   * Whether `a` is a broadcast address on this interface: the limited
   * broadcast, or the directed broadcast of one of its subnets (BSD
   * `in_broadcast()`; the old all-zeros-host form is not treated as one).
   */
  isBroadcast(a: number): boolean {
    if (a === 0xffffffff) return true;
    for (const ia of this.addrs) if (ia.broadcast === a) return true;
    return false;
  }
}
