/**
 * The link layer's face: the {@link Link} driver interface and the in-process
 * drivers — the loopback `lo0` and the in-memory Ethernet wire with its
 * seeded fault injector.
 *
 * @example
 * ```ts
 * import { MemWire } from './link/index.js';
 * const wire = new MemWire({ seed: 7, faults: { drop: 0.01, reorder: 0.01 } });
 * const a = wire.attachLink({ name: 'wire0' });
 * const b = wire.attachLink({ name: 'wire0' });
 * ```
 */
export { emptyLinkStats, RxFlag } from './link.js';
export type { Link, LinkKind, LinkOffloads, LinkReceiver, LinkReceiverOptions, LinkStats, RxBufferLender, TxOffload } from './link.js';
export { FrameRing } from './framering.js';
export type { FrameRingOptions, FrameRingStats } from './framering.js';
export { LoopbackLink, LOOPBACK_MTU } from './loopback.js';
export type { LoopbackOptions } from './loopback.js';
export { MemWire, MemWireLink, ETHER_HDR_LEN, MIN_MTU, MAX_MTU } from './memwire.js';
export type { MemWireOptions, MemWireLinkOptions, FlushMode } from './memwire.js';
export { emptyWireStats, normalizeFaults, FaultPipe } from './faults.js';
export type {
  FaultConfig,
  ReorderFault,
  DelayFault,
  CorruptFault,
  RateLimitFault,
  WireStats,
  NormalizedFaults,
} from './faults.js';
export { Rng, randomSeed } from './rng.js';
export type { Seed } from './rng.js';
