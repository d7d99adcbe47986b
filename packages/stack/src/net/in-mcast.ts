/**
 * IPv4 multicast group membership of the interfaces (NetBSD/FreeBSD
 * `sys/netinet/in_mcast.c`: `in_joingroup`, `in_leavegroup`, `struct
 * in_multi`), shared by every socket: an interface is a member of a group
 * while at least one socket (or the stack itself, for 224.0.0.1) holds a
 * membership, counted per group and per source.
 *
 * Source filters (RFC 3376 3.2): a socket's membership is either
 * any-source (EXCLUDE {}) or source-specific (INCLUDE {S}). The interface
 * state that IGMP reports merges them as RFC 3376 3.2 says for these two
 * kinds: EXCLUDE {} as soon as one any-source membership exists, else
 * INCLUDE (the union of the sockets' sources); INCLUDE {} is "not a member".
 * Every change of that state goes to IGMP as a state-change report.
 *
 * @module
 */
import type { Ifnet } from './ifnet.js';

/** One group on an interface (`struct in_multi`). */
export interface InMulti {
  /** The group (host order, unsigned). */
  readonly addr: number;
  /** Any-source memberships (EXCLUDE {}); the stack's own 224.0.0.1 counts as one. */
  exRefs: number;
  /** Source-specific memberships: source → how many sockets include it. */
  readonly sources: Map<number, number>;
}

/** The filter state of a group on an interface (RFC 3376 3.2). */
export interface InMultiState {
  /** EXCLUDE (any source, `sources` empty) or INCLUDE (only `sources`; empty = not a member). */
  mode: 'include' | 'exclude';
  /** Sources of INCLUDE mode, ascending. */
  sources: number[];
}

/** Not a member: INCLUDE {}. */
export const IN_MULTI_NONE: InMultiState = Object.freeze({ mode: 'include', sources: [] }) as InMultiState;

/** The state of group `g` on `ifp` now. */
export function inMultiState(ifp: Ifnet, g: number): InMultiState {
  const inm = ifp.groups.get(g);
  if (inm === undefined) return IN_MULTI_NONE;
  if (inm.exRefs > 0) return { mode: 'exclude', sources: [] };
  return { mode: 'include', sources: [...inm.sources.keys()].sort((a, b) => a - b) };
}

/** Whether the state of a group lets a datagram from `src` in (the interface-level filter). */
export function inMultiAccepts(inm: InMulti, src: number): boolean {
  return inm.exRefs > 0 || inm.sources.has(src);
}

/**
 * Take one membership of group `g` on `ifp`: any-source when `source` is
 * null, else for that source (`in_joingroup`). @returns the states before
 * and after, for the IGMP report.
 */
export function inJoinGroup(ifp: Ifnet, g: number, source: number | null): { before: InMultiState; after: InMultiState } {
  const before = inMultiState(ifp, g);
  let inm = ifp.groups.get(g);
  if (inm === undefined) {
    inm = { addr: g, exRefs: 0, sources: new Map() };
    ifp.groups.set(g, inm);
  }
  if (source === null) inm.exRefs++;
  else inm.sources.set(source, (inm.sources.get(source) ?? 0) + 1);
  return { before, after: inMultiState(ifp, g) };
}

/**
 * Give back one membership taken by {@link inJoinGroup} with the same
 * arguments (`in_leavegroup`); the group goes when its last one does.
 * A membership not held is ignored (the socket layer checks first).
 */
export function inLeaveGroup(ifp: Ifnet, g: number, source: number | null): { before: InMultiState; after: InMultiState } {
  const before = inMultiState(ifp, g);
  const inm = ifp.groups.get(g);
  if (inm !== undefined) {
    if (source === null) {
      if (inm.exRefs > 0) inm.exRefs--;
    } else {
      const n = inm.sources.get(source) ?? 0;
      if (n <= 1) inm.sources.delete(source);
      else inm.sources.set(source, n - 1);
    }
    if (inm.exRefs === 0 && inm.sources.size === 0) ifp.groups.delete(g);
  }
  return { before, after: inMultiState(ifp, g) };
}
