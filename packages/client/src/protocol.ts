/**
 * The rump protocol's definition — framing and the syscall contract — as one
 * module both ends import: the client here, the server through the
 * `@rumpnet/client/protocol` subpath, so the two can never drift apart.
 * docs/PROTOCOL.md describes the bytes.
 */
export * from './wire.js';
export * from './syscalls.js';
