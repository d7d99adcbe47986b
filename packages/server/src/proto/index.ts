/**
 * The rump client/server protocol on the server side: the wire format, the
 * syscall contract, and the copy interface the socket layer uses.
 * docs/PROTOCOL.md describes the bytes.
 */
export {
  BANNER_PREFIX,
  COPY_FRAME_OVERHEAD,
  DEFAULT_MAX_FRAME,
  FrameReader,
  HEADER_SIZE,
  Hdr,
  MAX_BANNER,
  MAX_HEAD,
  MsgClass,
  MsgType,
  PROTOCOL_VERSION,
  encodeFrame,
  encodeFrameCopy,
  encodeFramePacked,
  makeBanner,
  packHead,
  parseBanner,
  parseServerUrl,
  unpackHead,
  writeFrame,
} from './wire.js';
export type {
  Banner,
  FrameHandler,
  FrameMeta,
  FrameReaderLimits,
  FrameWritable,
  MsgClassValue,
  MsgTypeValue,
  PayloadSink,
  ServerAddress,
} from './wire.js';
export { CTL_ROWS_DEFAULT, CTL_ROWS_MAX, MsgFlag, PollEvent, SYSCALL_SCHEMAS, T, checkArgs, isDottedQuad, opt } from './syscalls.js';
export type {
  Check,
  CopyKind,
  CtlArgs,
  Empty,
  PollFd,
  PollResultFd,
  ShutdownHow,
  SockAddrIn,
  SockOptLevel,
  SockType,
  SyscallArgs,
  SyscallName,
  SyscallResults,
  SyscallSchema,
} from './syscalls.js';
export { Scatter, totalLength } from './copy.js';
export type { CopySink, CopySource } from './copy.js';
