/**
 * The rump client/server protocol on the server side: the wire format and
 * the syscall contract (defined once, in `@rumpnet/client/protocol`), and the
 * copy interface the socket layer uses. docs/PROTOCOL.md describes the bytes.
 */
export * from '@rumpnet/client/protocol';
export { InlineSink, InlineSource, Scatter, packedFrameWith, totalLength } from './copy.js';
export type { CopySink, CopySource, InlineHold } from './copy.js';
