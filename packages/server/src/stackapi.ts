/**
 * What the server takes from `@rumpnet/stack`, in one place: the assembled
 * stack (`createNetStack`: Stack, socket layer, UDP and TCP), the
 * per-process descriptor table, and the socket API's numbers. Keeping the
 * list here makes the server's dependence on the stack's face explicit.
 *
 * @module
 */
export {
  AF_INET,
  AF_INET6,
  IPV6_OPT,
  Ip6Address,
  INADDR_ANY,
  MSIZE,
  IPPROTO,
  IP_OPT,
  IP_MCAST_OPT,
  MSG,
  POLL,
  SHUT,
  SO,
  SOCK,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SS,
  SocketLayer,
  SocketTable,
  Stack,
  TCP_OPT,
  createNetStack,
  inetAton,
  inetNtoa,
  ipToString,
  sockaddrIn,
  sockaddrIn6,
} from '@rumpnet/stack';
export type {
  ArpEntryInfo,
  SbAccount,
  Ifnet,
  NetStack,
  PingReply,
  RouteInfo,
  Sockaddr,
  SockaddrIn,
  SockaddrIn6,
  Socket,
  SockoptValue,
} from '@rumpnet/stack';
