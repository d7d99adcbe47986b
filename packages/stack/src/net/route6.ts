/**
 * The IPv6 routing table (NetBSD's `rt_tables[AF_INET6]`): our own
 * addresses through lo0 (`RTF_LOCAL`), on-link prefixes (from configured
 * addresses and from router advertisements, RFC 4861 6.3.4), static routes
 * and default routers, found by longest-prefix match (RFC 4861 5.2's
 * next-hop determination, reduced to what a host needs).
 *
 * A host has a handful of IPv6 routes, so the table is one array sorted by
 * prefix length, longest first, and lookup is a linear scan comparing four
 * masked words — no allocation. Link-local destinations are ambiguous
 * between interfaces (RFC 4007): a lookup may be scoped to one interface.
 *
 * @module
 */
import type { Ip6Address } from '../wire/ip.js';
import { ip6InPrefix, ip6Mask } from './in6.js';
import type { Ifnet } from './ifnet.js';
import type { RouteInfo } from './route.js';

/** How an IPv6 route came to be. */
export type Route6Kind =
  /** The prefix of an interface address (on-link). */
  | 'connected'
  /** One of our own addresses, looped back through lo0. */
  | 'local'
  /** Added by hand. */
  | 'static'
  /** Learnt from a router advertisement: an on-link prefix or a default router (expires). */
  | 'ra';

/** One IPv6 route. */
export interface Route6 {
  /** Destination prefix (masked). */
  readonly dest: Ip6Address;
  readonly prefixLen: number;
  /** Next-hop router, or null when on-link. */
  readonly gateway: Ip6Address | null;
  readonly ifp: Ifnet;
  readonly kind: Route6Kind;
  /** Clock time when it expires (RA lifetimes), or Infinity. */
  expires: number;
  /** Packets routed through it. */
  use: number;
}

/** The IPv6 routing table of one stack. */
export class Route6Table {
  private routes: Route6[] = [];

  /** Number of routes. */
  get size(): number {
    return this.routes.length;
  }

  /**
   * Add a route (`dest` is masked first).
   * @returns the route, or null when one with the same prefix, length and interface exists.
   */
  add(dest: Ip6Address, prefixLen: number, ifp: Ifnet, gateway: Ip6Address | null, kind: Route6Kind, expires = Infinity): Route6 | null {
    const d = ip6Mask(dest, prefixLen);
    if (this.get(d, prefixLen, ifp) !== undefined) return null;
    const r: Route6 = { dest: d, prefixLen, gateway, ifp, kind, expires, use: 0 };
    const rs = [...this.routes, r];
    rs.sort((a, b) => b.prefixLen - a.prefixLen);
    this.routes = rs;
    return r;
  }

  /** The route for exactly this prefix (on `ifp`, or any interface), or undefined. */
  get(dest: Ip6Address, prefixLen: number, ifp?: Ifnet): Route6 | undefined {
    for (const r of this.routes) {
      if (r.prefixLen === prefixLen && r.dest.equals(ip6Mask(dest, prefixLen)) && (ifp === undefined || r.ifp === ifp)) return r;
    }
    return undefined;
  }

  /** Remove a route; returns whether there was one. */
  delete(r: Route6): boolean {
    const i = this.routes.indexOf(r);
    if (i < 0) return false;
    this.routes = this.routes.filter((x) => x !== r);
    return true;
  }

  /** Remove every route `pred` selects; returns how many. */
  purge(pred: (r: Route6) => boolean): number {
    const before = this.routes.length;
    this.routes = this.routes.filter((r) => !pred(r));
    return before - this.routes.length;
  }

  /**
   * Longest-prefix match for `dst`, optionally only through `scope` (the
   * zone of a link-local destination). Routes through a down interface,
   * and expired ones, are skipped. Allocates nothing.
   */
  lookup(dst: Ip6Address, now: number, scope?: Ifnet | null): Route6 | null {
    const rs = this.routes;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (scope != null && r.ifp !== scope && r.kind !== 'local') continue;
      if (!r.ifp.up || r.expires <= now) continue;
      if (ip6InPrefix(dst, r.dest, r.prefixLen)) return r;
    }
    return null;
  }

  /** Every route, longest prefix first. */
  all(): readonly Route6[] {
    return this.routes;
  }

  /** The table as `netstat -rn -f inet6` shows it. */
  list(): RouteInfo[] {
    return this.routes.map((r) => ({
      destination: `${r.dest.toString()}/${r.prefixLen}`,
      gateway: r.gateway !== null ? r.gateway.toString() : null,
      ifname: r.ifp.name,
      kind: r.kind === 'ra' ? 'static' : r.kind,
      flags:
        'U' +
        (r.gateway !== null ? 'G' : '') +
        (r.prefixLen === 128 ? 'H' : '') +
        (r.kind === 'static' ? 'S' : r.kind === 'connected' ? 'C' : r.kind === 'ra' ? 'D' : 'L'),
      use: r.use,
    }));
  }
}
