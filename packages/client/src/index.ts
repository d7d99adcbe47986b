/**
 * @packageDocumentation
 * `@rumpnet/client`: the rump client library. Socket system calls travel to a
 * rump server over a Unix domain socket; a send carries a handle for its
 * buffer, and the server copies the bytes in (COPYIN) cluster by cluster, or
 * MCLNUM clusters per request (batched copyin); a receive is copied out
 * (COPYOUT) before its response. docs/PROTOCOL.md describes the wire.
 *
 * @example
 * ```ts
 * import { RumpConnection, inet } from '@rumpnet/client';
 * const rump = await RumpConnection.connect('unix:///tmp/rump.sock'); // or RUMP_SERVER
 * const fd = await rump.sys.socket('stream');
 * await rump.sys.connect(fd, inet('10.0.0.2', 80)); // Error: connect ECONNREFUSED 10.0.0.2:80
 * await rump.sys.send(fd, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
 * const buf = Buffer.alloc(4096);
 * const n = await rump.sys.recv(fd, buf);
 * await rump.close();
 * ```
 *
 * The same, shaped like `node:net` / `node:dgram` (one shared connection to
 * `RUMP_SERVER` per process; `node:http` works on top):
 *
 * @example
 * ```ts
 * import { createServer, createConnection, createSocket, createHttpServer } from '@rumpnet/client';
 * createServer((sock) => sock.pipe(sock)).listen(7, '127.0.0.1');
 * const c = createConnection(7, '127.0.0.1', () => c.end('echo me'));
 * createHttpServer((req, res) => res.end('hi')).listen(8080);
 * const u = createSocket('udp4', (msg, rinfo) => console.log(msg, rinfo));
 * ```
 *
 * TLS and `fetch()` on the stack are Node's own, over rump sockets:
 *
 * @example
 * ```ts
 * import { connectTls, rumpDispatcher } from '@rumpnet/client';
 * const res = await fetch('https://10.0.0.1/', { dispatcher: rumpDispatcher({ connect: { ca } }) });
 * const s = connectTls({ host: '10.0.0.1', port: 443, ca }, () => s.end('ping'));
 * ```
 *
 * An unmodified program runs on the rump stack with
 * `RUMP_SERVER=unix:///tmp/rump.sock node --import @rumpnet/client/hijack app.js`.
 */
export const PACKAGE = '@rumpnet/client';

export { RumpConnection } from './connection.js';
export { IoVec } from './iovec.js';
export type {
  CallOptions,
  ClientCounters,
  ConnectOptions,
  RetryPolicy,
  RxMode,
  ServerLimits,
  ServerParams,
} from './connection.js';
export { RumpSyscalls, inet, inet6 } from './sys.js';
export type { RecvResult } from './sys.js';
export {
  ERR_RUMP_CLOSED,
  ERR_RUMP_PROTOCOL,
  ERR_RUMP_VERSION,
  RumpProtocolError,
  errnoCode,
  errnoValue,
  syscallError,
} from './errors.js';
export type { RumpSyscallError } from './errors.js';
export { MsgFlag, PollEvent, SYSCALL_SCHEMAS, checkArgs, isDottedQuad } from './syscalls.js';
export type {
  PollFd,
  PollResultFd,
  ShutdownHow,
  SockAddr,
  SockAddrIn,
  SockAddrIn6,
  SockOptLevel,
  SockOptValue,
  IpMreqArg,
  SockType,
  SyscallArgs,
  SyscallName,
  SyscallResults,
  SyscallSchema,
} from './syscalls.js';
export { PROTOCOL_VERSION, parseServerUrl } from './wire.js';
export { hopTrace } from './hoptrace.js';
export type { HopTracer } from './hoptrace.js';
export type { ServerAddress } from './wire.js';

export {
  Agent,
  ERR_RUMP_NO_SERVER,
  ERR_RUMP_UNREACHABLE,
  NodeServer,
  RumpListenHandle,
  Server,
  Socket,
  Stream,
  closeSharedConnections,
  connect,
  connectionFor,
  createConnection,
  createHttpServer,
  createServer,
  rumpListen2,
  setDefaultRumpServer,
  setSyncListen,
  useRumpStack,
} from './net.js';
export type {
  AddressInfo,
  LookupFunction,
  RumpOptions,
  ServerOptions,
  SocketOptions,
  TcpConnectOptions,
} from './net.js';
export { DgramSocket, createSocket } from './dgram.js';
export type { BindOptions, DgramSocketOptions, Msg, RemoteInfo } from './dgram.js';
export { hijackInstalled, installHijack, uninstallHijack } from './hijack.js';
export { connectTls, createTlsServer } from './tls.js';
export { HttpsAgent, createHttpsServer } from './https.js';
export type { TlsConnectOptions } from './tls.js';
export { installRumpGlobalDispatcher, rumpConnector, rumpDispatcher } from './fetch.js';
export type { RumpConnectorOptions, RumpDispatcherOptions } from './fetch.js';
export { StreamSink, RxStream, rxStreamOn, RX_STREAM_WINDOW, type RxStreamTarget } from './rxstream.js';
export { BUSY_POLL_MAX_US, BusyPoller, busyPollOf } from './busypoll.js';
export type { BusyPollCounters, BusyPollFn } from './busypoll.js';
