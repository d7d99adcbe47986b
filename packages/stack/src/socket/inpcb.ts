/**
 * Internet protocol control blocks and their table (NetBSD
 * `sys/netinet/in_pcb.c`): the local and foreign address/port of each UDP
 * or TCP socket, demultiplexing of inbound packets to sockets, binding
 * with BSD's conflict rules, and ephemeral ports. Generic: UDP and TCP each
 * own one table.
 *
 * Three indexes, as NetBSD's `inpt_porthashtbl`, `inpt_bindhashtbl` and
 * `inpt_connecthashtbl`, so lookups stay O(1) with tens of thousands of
 * sockets:
 * - by local port: every pcb with a port (bind conflicts, broadcast);
 * - by (local address, local port): bound, unconnected pcbs (listeners,
 *   UDP servers) — the wildcard lookup tries the exact address, then ANY;
 * - by the 4-tuple: connected pcbs.
 *
 * Bind rules (`in_pcbbind`), kept as in BSD and deliberately simple:
 * - without SO_REUSEADDR/SO_REUSEPORT, a port in use on the same address
 *   *or on a wildcard overlapping it* is EADDRINUSE;
 * - with SO_REUSEADDR, a specific address may be bound beside a wildcard
 *   binding of the same port (and vice versa); binding the exact same
 *   address and port twice still needs SO_REUSEPORT on both sockets;
 * - for a multicast address SO_REUSEADDR counts as SO_REUSEPORT (several
 *   receivers of one group);
 * - a local address that is not on an interface is EADDRNOTAVAIL (the
 *   limited broadcast and multicast addresses are allowed: they receive).
 * There are no privileged ports (a rump server runs unprivileged).
 *
 * Addresses are {@link IpAddress}es: a pcb's `laddr`/`faddr` are of the
 * family it speaks on the wire ({@link InPcb.family}). IPv4 keys stay exact
 * numbers (nothing changes on the IPv4 path); IPv6 keys are the address's
 * hash with the address compared on lookup. The port index is shared, so
 * a port bound in one family is seen by binds in the other, as with BSD's
 * single port space.
 *
 * Dual stack (RFC 4038 4.2, RFC 3493 5.3 `IPV6_V6ONLY`): an `AF_INET6`
 * socket that is not v6-only also speaks IPv4 through v4-mapped addresses
 * (`::ffff:a.b.c.d`). Its pcb then holds the plain IPv4 addresses and
 * `family` INET — the family on the wire — while the socket's domain
 * decides how addresses are shown to the user ({@link InPcbTable.sockaddrOf}
 * maps them back). Bound to `::`, it is also a wildcard for IPv4 packets,
 * found after every IPv4 pcb and conflicting with IPv4 binds of its port,
 * as on Linux with `net.ipv6.bindv6only` 0.
 *
 * @module
 */
import { Errno } from '../kern/errno.js';
import type { NetworkFamily } from '../net/family.js';
import { AF, SOOPT } from './constants.js';
import { hostIsBroadcast, hostIsLocal } from './host.js';
import type { SocketLayer } from './layer.js';
import { IP6_ANY, ip6MapV4, ipEquals, ipIsMulticast, ipIsUnspecified, type IpAddress } from '../wire/ip.js';
import { familyByAf, familyOf, INET, INET6 } from '../net/family.js';
import { ip6Scope } from '../net/in6.js';
import { INADDR_BROADCAST, sockaddrFor, sockaddrIn6 } from './sockaddr.js';
import type { Sockaddr } from './sockaddr.js';
import type { Socket } from './socket.js';
import type { IpMoptions } from './ipmopt.js';
import type { Ip6Moptions } from './in6mopt.js';

/**
 * The zone `nam` gives `addr` (its `sin6_scope_id`) when `addr` is an IPv6
 * address of link scope or smaller, other than `::1` (RFC 4007 6: only those
 * are ambiguous between links); 0 otherwise.
 */
export function zoneOf(nam: Sockaddr, addr: IpAddress): number {
  if (typeof addr === 'number' || nam.family !== AF.INET6 || addr.isLoopback || ip6Scope(addr) > 2) return 0;
  return (nam as { scopeId?: number }).scopeId ?? 0;
}

/**
 * The zone a packet's link-scoped IPv6 address has when it arrived on
 * interface `ifindex` (its `sin6_scope_id`, RFC 4007 6); 0 for anything that
 * is not ambiguous between links (IPv4, `::1`, wider scopes).
 */
export function zoneFor(addr: IpAddress, ifindex: number): number {
  if (typeof addr === 'number' || addr.isLoopback || ip6Scope(addr) > 2) return 0;
  return ifindex;
}

/** Where a pcb is indexed (`in_pcbstate`). */
export type InPcbState = 'attached' | 'bound' | 'connected';

/** One protocol control block (`struct inpcb`). */
export class InPcb {
  /** Local address (an IPv4 number in host order, or an Ip6Address); the family's unspecified address = any. */
  laddr: IpAddress = 0;
  /** Local port, 0 = none yet. */
  lport = 0;
  /** Foreign address; the family's unspecified address = not connected. */
  faddr: IpAddress = 0;
  /** Foreign port. */
  fport = 0;
  /**
   * The network family the socket speaks (`AF_INET` today; the protocol
   * switch and header arithmetic read it, so IPv6 pcbs reuse the same
   * transports).
   */
  family: NetworkFamily = INET;
  /** `IPV6_V6ONLY`: an `AF_INET6` socket that speaks IPv6 only (no v4-mapped traffic). */
  v6only = false;
  /**
   * The zone of a link-scoped IPv6 foreign address: the index of the
   * interface its packets leave by (the connect's `sin6_scope_id`, RFC 4007
   * 6; NetBSD embeds it in the address, `in6_setscope`). 0: none, the stack
   * picks the link.
   */
  zone = 0;
  /** Which index holds it. */
  state: InPcbState = 'attached';
  /** The port was chosen by the stack (`INP_ANONPORT`). */
  anonport = false;
  /** `IP_TTL` for packets of this socket, 0 = the stack's default (`net.inet.ip.ttl`). */
  ttl = 0;
  /** `IP_TOS` for packets of this socket. */
  tos = 0;
  /** `IPV6_MULTICAST_IF`: the interface index IPv6 multicast leaves by when its destination has no zone; 0 = by route. */
  mcastIfindex6 = 0;
  /** `IPV6_MULTICAST_HOPS`, -1 = the default (1, RFC 3493 5.2). */
  mcastHops6 = -1;
  /** Multicast options and memberships (`inp_moptions`), made by the first `IP_MULTICAST_*` or membership option. */
  moptions: IpMoptions | null = null;
  /** IPv6 multicast loop and memberships (`in6p_moptions`), made by the first `IPV6_MULTICAST_LOOP` or `IPV6_JOIN_GROUP`. */
  moptions6: Ip6Moptions | null = null;
  /** The protocol's own per-connection state (the TCP control block). */
  ppcb: unknown = null;

  /** @internal Use {@link InPcbTable.alloc}. */
  constructor(
    readonly table: InPcbTable,
    readonly so: Socket,
  ) {}
}

/**
 * A number key for (address, port): for IPv4 the exact 48 bits (a double
 * holds them), for IPv6 a hash in the negative range so that it never
 * meets an IPv4 key (candidates are compared on lookup).
 */
function bindKey(addr: IpAddress, port: number): number {
  if (typeof addr === 'number') return (addr >>> 0) * 65536 + port;
  return -1 - (addr.hash() * 65536 + port);
}

/** A 32-bit hash of the 4-tuple (collisions are resolved by comparing). */
function connHash(fa: IpAddress, fport: number, la: IpAddress, lport: number): number {
  const faddr = typeof fa === 'number' ? fa : fa.hash();
  const laddr = typeof la === 'number' ? la : la.hash();
  let h = Math.imul(faddr ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(laddr, 0xc2b2ae35);
  h ^= (fport << 16) | lport;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  // A signed 32-bit result, always a small integer (a Smi) for V8: no heap
  // number per lookup, and no deoptimization at the first hash of 2^31 or more.
  return (h ^ (h >>> 12)) | 0;
}

/** An `AF_INET6` pcb bound to `::` that takes IPv4 too (not `IPV6_V6ONLY`). */
function isDualWild(inp: InPcb): boolean {
  return !inp.v6only && inp.family === INET6 && inp.so.proto.domain === AF.INET6 && ipIsUnspecified(inp.laddr);
}

/** A table of pcbs for one protocol (`struct inpcbtable`). */
export class InPcbTable {
  /** Protocol name, for messages. */
  readonly name: string;
  private readonly layer: SocketLayer;
  private readonly all = new Set<InPcb>();
  private readonly byPort = new Map<number, Set<InPcb>>();
  private readonly byBind = new Map<number, Set<InPcb>>();
  private readonly byConn = new Map<number, InPcb[]>();
  private lastport: number;

  /** @param rng random source for the first ephemeral port (default Math.random). */
  constructor(layer: SocketLayer, name: string, rng: () => number = Math.random) {
    this.layer = layer;
    this.name = name;
    const { anonportmin: lo, anonportmax: hi } = layer.tunables;
    // Randomised start (RFC 6056 section 3.3.1 spirit): the next port is not
    // predictable from outside; then we walk down as in_pcbbind does.
    this.lastport = lo + Math.floor(rng() * (Math.max(hi, lo) - Math.min(hi, lo) + 1));
  }

  /** Number of pcbs. */
  get size(): number {
    return this.all.size;
  }

  /** Every pcb (for `netstat -a`). */
  pcbs(): InPcb[] {
    return [...this.all];
  }

  /** Make a pcb for `so` and set `so.pcb` (`in_pcballoc`). */
  alloc(so: Socket): InPcb {
    const inp = new InPcb(this, so);
    const fam = familyByAf(so.proto.domain);
    if (fam !== null && fam !== inp.family) {
      inp.family = fam;
      inp.laddr = inp.faddr = fam.any;
      inp.v6only = this.layer.tunables.v6only !== 0;
    }
    this.all.add(inp);
    so.pcb = inp;
    return inp;
  }

  /** Remove a pcb from every index and clear `so.pcb` (`in_pcbdetach`). */
  detach(inp: InPcb): void {
    this.unindex(inp);
    this.all.delete(inp);
    if (inp.so.pcb === inp) inp.so.pcb = null;
  }

  /**
   * Bind (`in_pcbbind`). `nam` null binds an ephemeral port on ANY (what an
   * unbound socket gets when it first sends or connects).
   * @returns 0, or EINVAL (already bound), EAFNOSUPPORT, EADDRNOTAVAIL
   *   (address not ours), EADDRINUSE, EAGAIN (no ephemeral port left).
   */
  bind(inp: InPcb, nam: Sockaddr | null): number {
    if (inp.lport !== 0 || !ipIsUnspecified(inp.laddr)) return Errno.EINVAL;
    const so = inp.so;
    let laddr: IpAddress = inp.family.any;
    let lport = 0;
    let reuseport = so.options & SOOPT.REUSEPORT;
    const wild = (so.options & (SOOPT.REUSEADDR | SOOPT.REUSEPORT)) === 0;
    if (nam !== null) {
      laddr = typeof nam.addr === 'number' ? nam.addr >>> 0 : nam.addr;
      const v4 = this.mapped(inp, laddr);
      if (v4 === 'refused') return Errno.EINVAL; // a v4-mapped address on a v6-only socket (Linux)
      if (v4 !== null) {
        inp.family = INET;
        laddr = v4;
      }
      if (familyOf(laddr) !== inp.family) return Errno.EAFNOSUPPORT;
      lport = nam.port;
      if (ipIsMulticast(laddr)) {
        if ((so.options & SOOPT.REUSEADDR) !== 0) reuseport = SOOPT.REUSEADDR | SOOPT.REUSEPORT;
      } else if (
        !ipIsUnspecified(laddr) &&
        laddr !== INADDR_BROADCAST &&
        !hostIsLocal(this.layer.host, laddr) &&
        !hostIsBroadcast(this.layer.host, laddr)
      ) {
        return Errno.EADDRNOTAVAIL;
      }
      if (lport !== 0) {
        const t = this.lookupPort(laddr, lport, wild, inp.so.proto.domain === AF.INET6 && !inp.v6only && inp.family === INET6);
        if (t !== null && (reuseport & t.so.options) === 0) return Errno.EADDRINUSE;
      }
    }
    if (lport === 0) {
      const p = this.anonPort(laddr);
      if (p === 0) return Errno.EAGAIN;
      lport = p;
      inp.anonport = true;
    }
    this.unindex(inp);
    inp.laddr = laddr;
    inp.lport = lport;
    this.index(inp, 'bound');
    return 0;
  }

  /**
   * Connect (`in_pcbconnect`): pick the source address by route when the
   * local address is ANY, an ephemeral port when none, and record the peer.
   * A destination of ANY means this host (loopback).
   * @returns 0, or EAFNOSUPPORT (an address of the other family),
   *   EADDRNOTAVAIL (port 0), ENETUNREACH (no route), EADDRINUSE (the
   *   4-tuple is taken), EAGAIN (no ephemeral port).
   */
  connect(inp: InPcb, nam: Sockaddr): number {
    if (nam.port === 0) return Errno.EADDRNOTAVAIL;
    let faddr: IpAddress = typeof nam.addr === 'number' ? nam.addr >>> 0 : nam.addr;
    const v4 = this.mapped(inp, faddr);
    if (v4 === 'refused') return Errno.ENETUNREACH; // no IPv4 on a v6-only socket (Linux)
    if (v4 !== null) {
      if (inp.family === INET6 && !ipIsUnspecified(inp.laddr)) return Errno.EAFNOSUPPORT; // bound to a real IPv6 address
      inp.family = INET;
      if (typeof inp.laddr !== 'number') inp.laddr = 0;
      faddr = v4;
    }
    if (familyOf(faddr) !== inp.family) return Errno.EAFNOSUPPORT;
    if (ipIsUnspecified(faddr)) faddr = inp.family.loopback;
    const zone = zoneOf(nam, faddr);
    let laddr = inp.laddr;
    if (ipIsUnspecified(laddr)) {
      const src = this.layer.host.ip.selectSource(faddr, zone);
      if (src === null) return Errno.ENETUNREACH;
      laddr = typeof src === 'number' ? src >>> 0 : src;
    }
    if (this.lookupConnect(faddr, nam.port, laddr, inp.lport) !== null && inp.lport !== 0) return Errno.EADDRINUSE;
    if (inp.lport === 0) {
      const err = this.bind(inp, null);
      if (err !== 0) return err;
    }
    this.unindex(inp);
    inp.laddr = laddr;
    inp.faddr = faddr;
    inp.fport = nam.port;
    inp.zone = zone;
    this.index(inp, 'connected');
    return 0;
  }

  /**
   * The IPv4 address inside a v4-mapped `addr` given to an `AF_INET6`
   * socket that may speak IPv4 (still unbound, or bound to `::` or to
   * another mapped address), null when `addr` is not mapped or the socket
   * is not `AF_INET6`, `'refused'` on a v6-only socket or one bound to a
   * real IPv6 address.
   */
  private mapped(inp: InPcb, addr: IpAddress): number | null | 'refused' {
    if (typeof addr === 'number' || !addr.isV4Mapped || inp.so.proto.domain !== AF.INET6) return null;
    if (inp.v6only) return 'refused';
    if (inp.family === INET6 && !ipIsUnspecified(inp.laddr)) return 'refused';
    return addr.w3 >>> 0;
  }

  /**
   * The socket address of `addr:port` as the pcb's socket shows it: an
   * `AF_INET6` socket speaking IPv4 shows v4-mapped addresses (RFC 3493
   * 3.7), `::` for an IPv4 ANY it was never bound to. A link-scoped IPv6
   * address carries the connection's zone as its `sin6_scope_id` (BSD
   * `in6_setpeeraddr` recovering the embedded scope), so that an address
   * read from getpeername or accept can be connected or sent to again.
   */
  sockaddrOf(inp: InPcb, addr: IpAddress, port: number): Sockaddr {
    if (typeof addr === 'number' && inp.so.proto.domain === AF.INET6) {
      return sockaddrIn6(addr === 0 ? IP6_ANY : ip6MapV4(addr), port);
    }
    if (typeof addr !== 'number' && inp.zone !== 0 && zoneFor(addr, inp.zone) !== 0) return sockaddrIn6(addr, port, 0, inp.zone);
    return sockaddrFor(addr, port);
  }

  /** Forget the peer (`in_pcbdisconnect`); with `resetLocal`, the local address too (UDP does). */
  disconnect(inp: InPcb, resetLocal: boolean): void {
    this.unindex(inp);
    inp.faddr = inp.family.any;
    inp.fport = 0;
    inp.zone = 0;
    if (resetLocal) {
      // A dual-stack socket goes back to its own family when it forgets its address.
      const own = familyByAf(inp.so.proto.domain);
      if (own !== null) inp.family = own;
      inp.laddr = inp.faddr = inp.family.any;
    }
    this.index(inp, inp.lport !== 0 ? 'bound' : 'attached');
  }

  /** The connected pcb with exactly this 4-tuple (`in_pcblookup_connect`), or null. */
  lookupConnect(faddr: IpAddress, fport: number, laddr: IpAddress, lport: number): InPcb | null {
    const b = this.byConn.get(connHash(faddr, fport, laddr, lport));
    if (b === undefined) return null;
    if (typeof faddr === 'number' && typeof laddr === 'number') {
      for (const inp of b) {
        if (inp.faddr === faddr >>> 0 && inp.fport === fport && inp.laddr === laddr >>> 0 && inp.lport === lport) return inp;
      }
      return null;
    }
    for (const inp of b) {
      if (inp.fport === fport && inp.lport === lport && ipEquals(inp.faddr, faddr) && ipEquals(inp.laddr, laddr)) return inp;
    }
    return null;
  }

  /**
   * The bound, unconnected pcb for a packet to `laddr:lport`
   * (`in_pcblookup_bind`): one bound to exactly `laddr`, else one bound to
   * the family's ANY; null when none.
   */
  lookupBind(laddr: IpAddress, lport: number): InPcb | null {
    if (typeof laddr === 'number') {
      const exact = this.byBind.get(bindKey(laddr, lport));
      if (exact !== undefined) for (const inp of exact) return inp;
      const wild = this.byBind.get(bindKey(0, lport));
      if (wild !== undefined) for (const inp of wild) return inp;
      // Last, a dual-stack AF_INET6 socket on [::]:lport (IPv4 via v4-mapped addresses).
      const dual = this.byBind.get(bindKey(IP6_ANY, lport));
      if (dual !== undefined) for (const inp of dual) if (isDualWild(inp)) return inp;
      return null;
    }
    // IPv6 keys are hashes: compare the address of each candidate.
    const fam = familyOf(laddr);
    for (const a of [laddr, fam.any]) {
      const set = this.byBind.get(bindKey(a, lport));
      if (set !== undefined) for (const inp of set) if (ipEquals(inp.laddr, a)) return inp;
    }
    return null;
  }

  /**
   * The best pcb using `lport` for a bind conflict check
   * (`in_pcblookup_port`): the fewest wildcards wins; with `wildcard`
   * false only an exact match counts. Pcbs of the other family do not
   * conflict (their addresses never overlap).
   */
  lookupPort(laddr: IpAddress, lport: number, wildcard: boolean, dualBinder = false): InPcb | null {
    const set = this.byPort.get(lport);
    if (set === undefined) return null;
    const v4 = typeof laddr === 'number';
    const any = ipIsUnspecified(laddr);
    let match: InPcb | null = null;
    let matchwild = 3;
    for (const inp of set) {
      let w = 0;
      if (!ipIsUnspecified(inp.faddr)) w++;
      if ((typeof inp.laddr === 'number') !== v4) {
        // The families meet only where one side is a dual-stack [::] (it covers all of IPv4).
        if (!(v4 ? isDualWild(inp) : any && dualBinder)) continue;
        if (v4 ? !any : !ipIsUnspecified(inp.laddr)) w++;
        if (w > 0 && !wildcard) continue;
        if (w < matchwild) {
          match = inp;
          matchwild = w;
        }
        continue;
      }
      if (ipIsUnspecified(inp.laddr)) {
        if (!any) w++;
      } else if (any) w++;
      else if (!ipEquals(inp.laddr, laddr)) continue;
      if (w > 0 && !wildcard) continue;
      if (w < matchwild) {
        match = inp;
        matchwild = w;
        if (w === 0) break;
      }
    }
    return match;
  }

  /** Every pcb bound to `lport` (broadcast and multicast delivery walk these). */
  onPort(lport: number): InPcb[] {
    const set = this.byPort.get(lport);
    return set === undefined ? [] : [...set];
  }

  private anonPort(laddr: IpAddress): number {
    let lo = this.layer.tunables.anonportmin;
    let hi = this.layer.tunables.anonportmax;
    if (lo > hi) [lo, hi] = [hi, lo];
    let port = this.lastport - 1;
    for (let cnt = hi - lo + 1; cnt > 0; cnt--, port--) {
      if (port < lo || port > hi) port = hi;
      if (this.lookupPort(laddr, port, true) === null) {
        this.lastport = port;
        return port;
      }
    }
    return 0;
  }

  private index(inp: InPcb, state: InPcbState): void {
    inp.state = state;
    if (inp.lport !== 0) {
      let s = this.byPort.get(inp.lport);
      if (s === undefined) this.byPort.set(inp.lport, (s = new Set()));
      s.add(inp);
    }
    if (state === 'bound') {
      const k = bindKey(inp.laddr, inp.lport);
      let s = this.byBind.get(k);
      if (s === undefined) this.byBind.set(k, (s = new Set()));
      s.add(inp);
    } else if (state === 'connected') {
      const h = connHash(inp.faddr, inp.fport, inp.laddr, inp.lport);
      const b = this.byConn.get(h);
      if (b === undefined) this.byConn.set(h, [inp]);
      else b.push(inp);
    }
  }

  private unindex(inp: InPcb): void {
    if (inp.lport !== 0) {
      const s = this.byPort.get(inp.lport);
      if (s !== undefined && s.delete(inp) && s.size === 0) this.byPort.delete(inp.lport);
    }
    if (inp.state === 'bound') {
      const k = bindKey(inp.laddr, inp.lport);
      const s = this.byBind.get(k);
      if (s !== undefined && s.delete(inp) && s.size === 0) this.byBind.delete(k);
    } else if (inp.state === 'connected') {
      const h = connHash(inp.faddr, inp.fport, inp.laddr, inp.lport);
      const b = this.byConn.get(h);
      if (b !== undefined) {
        const i = b.indexOf(inp);
        if (i >= 0) b.splice(i, 1);
        if (b.length === 0) this.byConn.delete(h);
      }
    }
    inp.state = 'attached';
  }
}
