/**
 * Translation between the wire contract (`@rumpnet/client/protocol`:
 * addresses as `{family:'inet', address, port}`, types and option names as
 * strings) and the stack's socket API (numbers, as `sys/socket.h`). Linux
 * values are used on both sides where numbers are needed (MSG_*, POLL*,
 * option names), so flags and events pass through unchanged.
 *
 * @module
 */
import { Errno, StackError } from '@rumpnet/stack';
import type { ShutdownHow, SockAddr, SockOptLevel, SockOptValue, SockType } from '../proto/index.js';
import type { In6Mreq, InMreq } from '@rumpnet/stack';
import { AF_INET, AF_INET6, IPPROTO, IPV6_OPT, IP_MCAST_OPT, IP_OPT, Ip6Address, SHUT, SO, SOCK, SOL_SOCKET, TCP_OPT, inetAton, inetNtoa, sockaddrIn, sockaddrIn6, type Sockaddr, type SockaddrIn6 } from '../stackapi.js';

/** Throws the errno as a {@link StackError}: the session turns it into an errno reply. */
export function fail(errno: number, why?: string): never {
  throw new StackError(errno, why);
}

/** Throws when `errno` is not 0. */
export function check(errno: number, why?: string): void {
  if (errno !== 0) fail(errno, why);
}

/**
 * A wire address as a socket address of its family. The schema already
 * checked the text and the port; a malformed one here is EINVAL, never a
 * throw of anything else.
 */
export function toSockaddr(a: SockAddr): Sockaddr {
  if (a.family === 'inet6') {
    const addr = Ip6Address.parse(a.address);
    if (addr === null) fail(Errno.EINVAL, `bad address ${a.address}`);
    return sockaddrIn6(addr, a.port, a.flowinfo ?? 0, a.scopeId ?? 0);
  }
  const addr = inetAton(a.address);
  if (addr === null) fail(Errno.EINVAL, `bad address ${a.address}`);
  return sockaddrIn(addr, a.port);
}

/** A socket address as a wire address (`0.0.0.0:0` for none); IPv6 in RFC 5952 text. */
export function fromSockaddr(sa: Sockaddr | null | undefined): SockAddr {
  if (sa === null || sa === undefined) return { family: 'inet', address: '0.0.0.0', port: 0 };
  if (typeof sa.addr !== 'number') {
    const s6 = sa as SockaddrIn6;
    return {
      family: 'inet6',
      address: s6.addr.toString(),
      port: s6.port,
      ...(s6.flowinfo !== 0 ? { flowinfo: s6.flowinfo } : {}),
      ...(s6.scopeId !== 0 ? { scopeId: s6.scopeId } : {}),
    };
  }
  return { family: 'inet', address: inetNtoa(sa.addr >>> 0), port: sa.port };
}

/** `socket(2)` domain by wire name. */
export function sockDomain(d: 'inet' | 'inet6'): number {
  return d === 'inet6' ? AF_INET6 : AF_INET;
}

/** `socket(2)` type by wire name. */
export function sockType(t: SockType): number {
  switch (t) {
    case 'stream':
      return SOCK.STREAM;
    case 'dgram':
      return SOCK.DGRAM;
    case 'raw':
      return SOCK.RAW;
  }
}

/** `shutdown(2)` mode by wire name. */
export function shutHow(h: ShutdownHow): number {
  return h === 'rd' ? SHUT.RD : h === 'wr' ? SHUT.WR : SHUT.RDWR;
}

/** Option level by wire name (Linux numbers, as the stack uses). */
export function optLevel(l: SockOptLevel): number {
  switch (l) {
    case 'socket':
      return SOL_SOCKET;
    case 'ip':
      return IPPROTO.IP;
    case 'ipv6':
      return IPPROTO.IPV6;
    case 'tcp':
      return IPPROTO.TCP;
    case 'udp':
      return IPPROTO.UDP;
  }
}

/**
 * `TCP_*` option names TCP's `ctloutput` takes with an integer value
 * (Linux values). `TCP_CONGESTION` takes a string, which protocol version 1
 * cannot carry, so it is not offered.
 */
const TCP_OPTS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(TCP_OPT)
    .filter(([k]) => k !== 'CONGESTION')
    .map(([k, v]) => [`TCP_${k}`, v]),
);

const SO_OPTS: Readonly<Record<string, number>> = Object.fromEntries(Object.entries(SO).map(([k, v]) => [`SO_${k}`, v]));
const IP_OPTS: Readonly<Record<string, number>> = {
  IP_TOS: IP_OPT.TOS,
  IP_TTL: IP_OPT.TTL,
  ...Object.fromEntries(Object.entries(IP_MCAST_OPT).map(([k, v]) => [`IP_${k}`, v])),
};
const IPV6_OPTS: Readonly<Record<string, number>> = Object.fromEntries(Object.entries(IPV6_OPT).map(([k, v]) => [`IPV6_${k}`, v]));

/**
 * An option name at a level as its number. A name that does not belong to
 * the level is ENOPROTOOPT, what `setsockopt(2)` says for an unknown option.
 */
export function optName(level: SockOptLevel, name: string): number {
  const table = level === 'socket' ? SO_OPTS : level === 'ip' ? IP_OPTS : level === 'ipv6' ? IPV6_OPTS : level === 'tcp' ? TCP_OPTS : {};
  const n = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
  if (n === undefined) fail(Errno.ENOPROTOOPT, `no option ${name} at level ${level}`);
  return n;
}

/** A dotted quad of the wire as the stack's number; EINVAL when it is not one (the schema checked the form). */
function quad(s: string | undefined): number {
  if (s === undefined) return 0;
  const a = inetAton(s);
  if (a === null) fail(Errno.EINVAL, `bad address ${s}`);
  return a;
}

/**
 * A wire option value for the stack. `SO_LINGER` is one structured
 * option: on the wire a number of seconds turns lingering on (`{onoff: 1,
 * l_linger: n}`), a negative number or `false` turns it off, `true` is on
 * with 0 seconds. The IPv4 multicast ones take addresses: `IP_MULTICAST_IF`
 * a dotted quad, the memberships `{ multiaddr, interface?, sourceaddr? }`
 * (`struct ip_mreq_source`); `IPV6_JOIN_GROUP` / `IPV6_LEAVE_GROUP` (and
 * Linux's `IPV6_ADD/DROP_MEMBERSHIP`) take `{ multiaddr: IPv6, ifindex? }`
 * (`struct ipv6_mreq`); a form the option does not take is EINVAL.
 */
export function optValueIn(name: string, v: SockOptValue): number | boolean | { onoff: boolean; linger: number } | InMreq | In6Mreq {
  if (typeof v === 'string') {
    if (name !== 'IP_MULTICAST_IF') fail(Errno.EINVAL, `${name} takes no address`);
    return quad(v);
  }
  if (typeof v === 'object' && /^IPV6_(ADD|DROP)_MEMBERSHIP$|^IPV6_(JOIN|LEAVE)_GROUP$/.test(name)) {
    // struct ipv6_mreq: the group as IPv6 text (the schema checked it) and an interface index.
    const r = v as { multiaddr: string; ifindex?: number; interface?: string; sourceaddr?: string };
    const g = r.interface === undefined && r.sourceaddr === undefined ? Ip6Address.parse(r.multiaddr) : null;
    if (g === null) fail(Errno.EINVAL, `${name} takes { multiaddr: IPv6, ifindex? }`);
    return { multiaddr6: g, ifindex: r.ifindex ?? 0 };
  }
  if (typeof v === 'object') {
    if (!name.endsWith('MEMBERSHIP') || name.startsWith('IPV6_') || 'ifindex' in v) fail(Errno.EINVAL, `${name} takes no membership request`);
    const r = v as { multiaddr: string; interface?: string; sourceaddr?: string };
    return {
      multiaddr: quad(r.multiaddr),
      interface: quad(r.interface),
      ...(r.sourceaddr !== undefined ? { sourceaddr: quad(r.sourceaddr) } : {}),
    };
  }
  if (name === 'SO_LINGER') {
    if (v === false || (typeof v === 'number' && v < 0)) return { onoff: false, linger: 0 };
    return { onoff: true, linger: v === true ? 0 : v };
  }
  return v;
}

/**
 * A stack option value for the wire: `SO_LINGER` as seconds or -1 when off;
 * `IP_MULTICAST_IF` as a dotted quad; booleans stay booleans.
 */
export function optValueOut(v: unknown, name = ''): number | boolean | string {
  if (name === 'IP_MULTICAST_IF' && typeof v === 'number') return inetNtoa(v >>> 0);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'object' && v !== null && 'onoff' in v && 'linger' in v) {
    const l = v as { onoff: boolean; linger: number };
    return l.onoff ? l.linger : -1;
  }
  // A byte-string option has no wire form in protocol version 1.
  return fail(Errno.ENOPROTOOPT, 'option value has no wire form');
}

