/**
 * The IPv4 routing table (NetBSD `sys/net/route.c`, `rtalloc1()`): connected
 * routes added with addresses, local host routes that send our own addresses
 * through `lo0` (BSD `RTF_LOCAL`), static routes and the default route, found
 * by longest-prefix match.
 *
 * The table is one hash map per prefix length, probed from the longest
 * prefix in use to the shortest: at most 33 lookups, no allocation, and
 * simple enough to read at a glance. (BSD uses a radix tree; a host's table
 * has a handful of entries, where the maps win.)
 *
 * @module
 */
import { ipv4PrefixMask, ipv4ToString } from '../wire/address.js';
import type { Ifnet } from './ifnet.js';

/** How a route came to be. */
export type RouteKind =
  /** The subnet of an interface address (`RTF_CONNECTED`): destinations on it are on-link. */
  | 'connected'
  /** One of our own addresses, looped back through lo0 (`RTF_LOCAL`). */
  | 'local'
  /** Added by the administrator (`route add`), including the default route. */
  | 'static';

/** One routing table entry (`struct rtentry`). */
export interface Route {
  /** Destination network (masked). */
  readonly dest: number;
  /** Prefix length 0..32. */
  readonly prefixLen: number;
  /** Netmask for {@link Route.prefixLen}. */
  readonly mask: number;
  /** Next-hop gateway, or 0 when the destination is on-link (`RTF_GATEWAY` clear). */
  readonly gateway: number;
  /** Outgoing interface. */
  readonly ifp: Ifnet;
  /** Preferred source address (the interface address the route came from), or 0 for "pick one". */
  readonly src: number;
  /** How the route was made. */
  readonly kind: RouteKind;
  /** Packets routed through this entry (`rt_use`). */
  use: number;
}

/** A route as `netstat -rn` shows it. */
export interface RouteInfo {
  /** `"a.b.c.d/len"`. */
  destination: string;
  /** `"a.b.c.d"`, or `null` when on-link. */
  gateway: string | null;
  /** Interface name. */
  ifname: string;
  /** How the route was made. */
  kind: RouteKind;
  /** BSD-style flags: U (up), G (gateway), H (host), S (static), C (connected), L (local). */
  flags: string;
  /** Packets routed through it. */
  use: number;
}

/** The routing table of one stack. */
export class RouteTable {
  private readonly byLen: Map<number, Route>[] = Array.from({ length: 33 }, () => new Map<number, Route>());
  /** Prefix lengths in use, longest first: lookup probes only these. */
  private lens: number[] = [];

  /**
   * Add a route. `dest` is masked to `prefixLen` first.
   * @returns the route, or null when one with the same destination and
   *   prefix length exists (the caller turns that into EEXIST).
   */
  add(dest: number, prefixLen: number, ifp: Ifnet, gateway: number, kind: RouteKind, src = 0): Route | null {
    const mask = ipv4PrefixMask(prefixLen);
    const key = (dest & mask) >>> 0;
    const map = this.byLen[prefixLen]!;
    if (map.has(key)) return null;
    const r: Route = { dest: key, prefixLen, mask, gateway: gateway >>> 0, ifp, src: src >>> 0, kind, use: 0 };
    map.set(key, r);
    if (map.size === 1) this.lens = [...this.lens, prefixLen].sort((a, b) => b - a);
    return r;
  }

  /** The route with exactly this destination and prefix length, or undefined. */
  get(dest: number, prefixLen: number): Route | undefined {
    const mask = ipv4PrefixMask(prefixLen);
    return this.byLen[prefixLen]?.get((dest & mask) >>> 0);
  }

  /** Remove the route with this destination and prefix length; returns it, or null when absent. */
  delete(dest: number, prefixLen: number): Route | null {
    const mask = ipv4PrefixMask(prefixLen);
    const map = this.byLen[prefixLen];
    if (map === undefined) return null;
    const key = (dest & mask) >>> 0;
    const r = map.get(key);
    if (r === undefined) return null;
    map.delete(key);
    if (map.size === 0) this.lens = this.lens.filter((l) => l !== prefixLen);
    return r;
  }

  /** Remove every route `pred` selects; returns how many. */
  purge(pred: (r: Route) => boolean): number {
    let n = 0;
    for (const r of this.all()) {
      if (pred(r) && this.delete(r.dest, r.prefixLen) !== null) n++;
    }
    return n;
  }

  /**
   * Longest-prefix match for `dst` (`rtalloc1`). Routes through an interface
   * that is down are skipped, so a more general route can take over.
   * @returns the route, or null (the caller counts `noroute`, ENETUNREACH).
   */
  lookup(dst: number): Route | null {
    const lens = this.lens;
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i]!;
      const r = this.byLen[len]!.get((dst & ipv4PrefixMask(len)) >>> 0);
      if (r !== undefined && r.ifp.up) return r;
    }
    return null;
  }

  /** Every route, longest prefix first. */
  all(): Route[] {
    const out: Route[] = [];
    for (const len of this.lens) for (const r of this.byLen[len]!.values()) out.push(r);
    return out;
  }

  /** The table as `netstat -rn` shows it. */
  list(): RouteInfo[] {
    return this.all().map((r) => ({
      destination: `${ipv4ToString(r.dest)}/${r.prefixLen}`,
      gateway: r.gateway !== 0 ? ipv4ToString(r.gateway) : null,
      ifname: r.ifp.name,
      kind: r.kind,
      flags:
        'U' +
        (r.gateway !== 0 ? 'G' : '') +
        (r.prefixLen === 32 ? 'H' : '') +
        (r.kind === 'static' ? 'S' : r.kind === 'connected' ? 'C' : 'L'),
      use: r.use,
    }));
  }
}
