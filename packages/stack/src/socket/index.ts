/**
 * The BSD socket layer: sockets and socket buffers, the protocol switch
 * that UDP and TCP plug into, `sosend`/`soreceive` moving data through a
 * uio (so a rump server can turn every copy into a request to its client),
 * readiness and `poll`, internet pcbs, and a per-process descriptor table
 * with the socket system calls.
 *
 * @example
 * ```ts
 * const layer = new SocketLayer(stack);          // stack: an InetHost
 * new UdpProtocol(layer);                        // transport/udp
 * const t = new SocketTable(layer);              // one per client
 * const { fd } = t.socket(AF_INET, SOCK.DGRAM, 0);
 * t.bind(fd, sockaddrIn(INADDR_ANY, 5353));
 * const buf = new Uint8Array(2048);
 * const r = await t.recvfrom(fd, makeUio([{ base: 0, len: buf.length }], 'read'), new BufferCopySink(buf));
 * ```
 * @module
 */
export {
  AF,
  AF_INET,
  IP_MAXPACKET_UDP,
  IPPROTO,
  MSG,
  POLL,
  PR,
  SHUT,
  SO,
  SOCK,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SOOPT,
  SS,
} from './constants.js';
export type { SockType } from './constants.js';
export type { InetHost, InMcastHost } from './host.js';
export { InPcb, InPcbTable } from './inpcb.js';
export type { InPcbState } from './inpcb.js';
export { DEFAULT_TUNABLES, SocketLayer } from './layer.js';
export type { SocketTunables } from './layer.js';
export { soPoll, soPollEvents } from './poll.js';
export type { PollEntry } from './poll.js';
export type { InMreq, In6Mreq, ProtoUserReqs, Protosw, SockoptValue } from './protosw.js';
export {
  checkSockaddr,
  formatSockaddr,
  INADDR_ANY,
  INADDR_BROADCAST,
  INADDR_LOOPBACK,
  inetAton,
  inetNtoa,
  inMulticast,
  AF_INET6,
  sockaddrFor,
  sockaddrIn,
  sockaddrIn6,
} from './sockaddr.js';
export type { Sockaddr, SockaddrIn, SockaddrIn6 } from './sockaddr.js';
export { IPV6_OPT, in6GetOpt, in6SetOpt } from './in6opt.js';
export { IPV6_MCAST_OPT, in6MoptAccepts, in6MoptFree, in6MoptGet, in6MoptSet, isIp6McastOpt } from './in6mopt.js';
export type { In6McastHost, Ip6Membership, Ip6Moptions } from './in6mopt.js';
export { IP_MCAST_OPT, IP_DEFAULT_MULTICAST_TTL, ipMoptAccepts, ipMoptFree, ipMoptGet, ipMoptSet, isIpMcastOpt } from './ipmopt.js';
export type { IpMembership, IpMoptions } from './ipmopt.js';
export { SbRecord, SockBuf } from './sockbuf.js';
export type { SbAccount, SockBufStats } from './sockbuf.js';
export {
  Socket,
  soCantRcvMore,
  soCantSendMore,
  soIsConnected,
  soIsConnecting,
  soIsDisconnected,
  soIsDisconnecting,
  soReserve,
  soRwakeup,
  soSetError,
  soWwakeup,
} from './socket.js';
export { soGetopt, soSetopt } from './sockopt.js';
export { soReceive } from './soreceive.js';
export type { ReceiveOptions, ReceiveResult } from './soreceive.js';
export { soSend } from './sosend.js';
export type { SendOptions, SendResult } from './sosend.js';
export { SocketTable } from './table.js';
export type { PollFd, SocketTableOptions } from './table.js';
export { SleepLock, WaitQueue } from './wait.js';
