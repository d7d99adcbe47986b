/**
 * Choosing a connection's loss recovery: by name (sysctl, socket option)
 * and, per ACK, the one that acts now.
 *
 * @module
 */
import type { TcpCb } from '../tcpcb.js';
import { RECOVERY_NAMES, sackUsable, type LossRecovery, type RecoveryName } from './index.js';
import { rackRecovery } from './rack.js';
import { renoRecovery } from './reno.js';
import { sackRecovery } from './sack.js';

/** The algorithm named `name`, or undefined when there is none. */
export function recoveryByName(name: string): LossRecovery | undefined {
  switch (name as RecoveryName) {
    case 'newreno':
      return renoRecovery;
    case 'sack':
      return sackRecovery;
    case 'rack':
      return rackRecovery;
    default:
      return undefined;
  }
}

/** The algorithm with `net.inet.tcp.recovery` number `i` (0 newreno, 1 sack, 2 rack); SACK when out of range. */
export function recoveryByIndex(i: number): LossRecovery {
  return recoveryByName(RECOVERY_NAMES[i] ?? 'sack') ?? sackRecovery;
}

/**
 * The recovery acting on `tp` now: the one whose recovery is under way,
 * else the selected one — NewReno when it needs SACK and the peer did not
 * agree to it (RFC 2018).
 */
export function recoveryOf(tp: TcpCb): LossRecovery {
  const active = tp.recoveryActive;
  if (active !== null) return active;
  const sel = tp.recovery;
  return sel.usesSack && !sackUsable(tp) ? renoRecovery : sel;
}
