/**
 * Congestion control: the {@link CongestionControl} contract, the algorithms
 * ({@link NewReno}, {@link Cubic}) and a registry by name, like NetBSD's
 * `tcp_congctl_select()` / `net.inet.tcp.congctl.selected`. The TCP layer
 * exposes the names per socket (`TCP_CONGESTION`) and by sysctl.
 *
 * @example
 * ```ts
 * const make = congctlByName('cubic');
 * if (!make) return Errno.ENOENT;          // Linux answers ENOENT too
 * const cc = make({ mss: 1460 });
 * ```
 *
 * @packageDocumentation
 */
import type { CongctlOptions, CongestionControl } from './base.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export { DUP_THRESH, MAX_CWND, initialWindow, RenoFamily } from './base.js';
export type {
  CongctlOptions,
  CongctlPhase,
  CongctlStats,
  CongestionControl,
  EcnEvent,
  RecoveryEntry,
  TimeoutEvent,
} from './base.js';
export { NewReno } from './newreno.js';
export { Cubic, CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, cubicK, wCubic } from './cubic.js';

/** Names of the available algorithms, default first. */
export const CONGCTL_NAMES = ['newreno', 'cubic'] as const;

/** A registered algorithm name. */
export type CongctlName = (typeof CONGCTL_NAMES)[number];

/** The algorithm a new connection gets unless told otherwise. */
export const DEFAULT_CONGCTL: CongctlName = 'newreno';

/** Makes a controller for one connection; throws RangeError on a bad `mss`. */
export type CongctlFactory = (opts: CongctlOptions) => CongestionControl;

const registry: Readonly<Record<CongctlName, CongctlFactory>> = {
  newreno: (opts) => new NewReno(opts),
  cubic: (opts) => new Cubic(opts),
};

/** Whether `name` is a registered algorithm name. */
export function isCongctlName(name: string): name is CongctlName {
  return Object.prototype.hasOwnProperty.call(registry, name);
}

/**
 * The factory for algorithm `name`, or `undefined` if none is registered
 * under that name (the caller maps that to ENOENT, as Linux does for
 * `TCP_CONGESTION`). Never throws.
 */
export function congctlByName(name: string): CongctlFactory | undefined {
  return isCongctlName(name) ? registry[name] : undefined;
}
