/**
 * Server-side sessions: the listener and one {@link ClientSession} per
 * client connection, with its limits, counters and copy machinery.
 */
export { ClientSession, DEFAULT_LIMITS, resolveSchemas, silentLogger } from './session.js';
export type {
  CloseHook,
  QueueShare,
  PeerInfo,
  ProtoLogger,
  RxMode,
  SessionCounters,
  SessionLimits,
  SessionUsage,
  SessionOptions,
  StackParams,
  SyscallContext,
  SyscallHandler,
  SyscallHandlers,
} from './session.js';
export { FRAME_MEMORY_OVERHEAD, REQUEST_MEMORY_OVERHEAD } from './limits.js';
export { refuseConnection } from './refuse.js';
export type { Refusal } from './refuse.js';
export { RumpListener } from './listener.js';
export { ShmLedger, ShmRing, attachShm, parseShmOffer, SHM_FAULT, SHM_FULL } from './shm.js';
export type { ShmPolicy } from './shm.js';
export type { ListenerOptions } from './listener.js';
export { AdminPolicy, NO_AUTH, procGroups, resolveAdminGroup } from './admin.js';
export type { AdminGroup, AdminPolicyOptions, SessionAuth } from './admin.js';
