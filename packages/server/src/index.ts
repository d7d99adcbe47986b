/**
 * @packageDocumentation
 * `@rumpnet/server`: the rump server. It hosts the rumpnet stack and serves
 * socket system calls to rump clients over a Unix domain socket; sends are
 * copied in from the client with COPYIN requests, one per mbuf cluster or one
 * per extended cluster of MCLNUM clusters (batched copyin).
 *
 * @example
 * ```ts
 * import { RumpListener } from '@rumpnet/server';
 * const listener = await RumpListener.listen('unix:///tmp/rump.sock', {
 *   handlers: {}, params: { mclbytes: 2048, mclnum: 16, rxMode: 'coalesced' },
 * });
 * // ... later
 * await listener.close();
 * ```
 */
export * from './proto/index.js';
export * from './session/index.js';
export { parseServerArgs, parseListenUrl, buildProgram, UsageError, DEFAULT_SOCKET } from './config.js';
export type { ServerConfig, ListenUrl } from './config.js';
export { defaultConfig } from './config.js';
export { RumpServer } from './server.js';
export type { RumpServerOptions, ServerSnapshot } from './server.js';
export { socketHandlers } from './syscalls/socket.js';
export type { SocketCall, SocketCallEnv, SocketHandlers } from './syscalls/socket.js';
export type { ClientProcess, ProcessTable } from './syscalls/process.js';
export { ctlHandlers } from './ctl/handlers.js';
export type { CtlCall, CtlEnv, CtlHandlers } from './ctl/handlers.js';
export { guardHandlers, privilegeNeeded, AdminRequired, OWN_ROWS_ONLY, ownRowsOnly } from './ctl/privilege.js';
export type { RefusalLog } from './ctl/privilege.js';
export { SliceRunner } from './ctl/slices.js';
export type { SliceJob, SliceRunnerOptions, SliceStats } from './ctl/slices.js';
export { runRumpctl, parseIfconfigWords, allPages } from './ctl/rumpctl-main.js';
export type { RumpctlIo } from './ctl/rumpctl-main.js';
export { createLogger, sessionLogger } from './log.js';
export type { ServerLogger } from './log.js';
