/**
 * The numbers of the socket API: address families, socket types, option
 * levels and names, message flags, `poll(2)` bits and `shutdown(2)` modes.
 *
 * They take **Linux's values**, like the errno table (`kern/errno.ts`): the
 * client edge is Node on Linux, and a client that passes `SO_REUSEADDR` or
 * `MSG_PEEK` as a number must mean the same thing here as to its own kernel.
 * The names and semantics are BSD's (`sys/socket.h`, `sys/poll.h`).
 *
 * @module
 */

/** Address families (`AF_*`). Only {@link AF.INET} has protocols; the others are recognised to answer EAFNOSUPPORT. */
export const AF = {
  UNSPEC: 0,
  LOCAL: 1,
  INET: 2,
  INET6: 10,
} as const;
/** `AF_INET`. */
export const AF_INET = AF.INET;

/** Socket types (`SOCK_*`). */
export const SOCK = {
  STREAM: 1,
  DGRAM: 2,
  RAW: 3,
  SEQPACKET: 5,
} as const;
/** A socket type value. */
export type SockType = (typeof SOCK)[keyof typeof SOCK] | number;
/** `SOCK_NONBLOCK` flag or-ed into the type argument of `socket()` (Linux). */
export const SOCK_NONBLOCK = 0o4000;
/** `SOCK_CLOEXEC` flag (accepted and ignored: there is no exec here). */
export const SOCK_CLOEXEC = 0o2000000;

/** IP protocol numbers as given to `socket()` and as option levels. */
export const IPPROTO = {
  IP: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  /** Option level of `IPV6_*` options (`IPPROTO_IPV6`). */
  IPV6: 41,
} as const;

/** Option level for socket-layer options (`SOL_SOCKET`, Linux value). */
export const SOL_SOCKET = 1;

/** Socket-level option names (`SO_*`, Linux values). */
export const SO = {
  DEBUG: 1,
  REUSEADDR: 2,
  TYPE: 3,
  ERROR: 4,
  DONTROUTE: 5,
  BROADCAST: 6,
  SNDBUF: 7,
  RCVBUF: 8,
  KEEPALIVE: 9,
  OOBINLINE: 10,
  LINGER: 13,
  REUSEPORT: 15,
  RCVLOWAT: 18,
  SNDLOWAT: 19,
  RCVTIMEO: 20,
  SNDTIMEO: 21,
  ACCEPTCONN: 30,
  PROTOCOL: 38,
  DOMAIN: 39,
} as const;

/**
 * Bits of `Socket.options` (`so_options`): the boolean options, as in BSD's
 * `SO_*` bit values (internal, never on the wire or in the API).
 */
export const SOOPT = {
  DEBUG: 0x0001,
  ACCEPTCONN: 0x0002,
  REUSEADDR: 0x0004,
  KEEPALIVE: 0x0008,
  DONTROUTE: 0x0010,
  BROADCAST: 0x0020,
  LINGER: 0x0080,
  OOBINLINE: 0x0100,
  REUSEPORT: 0x0200,
} as const;

/** Message flags (`MSG_*`, Linux values) for send and receive. */
export const MSG = {
  OOB: 0x1,
  PEEK: 0x2,
  DONTROUTE: 0x4,
  /** Receive: the datagram was longer than the buffer and was cut. */
  TRUNC: 0x20,
  DONTWAIT: 0x40,
  EOR: 0x80,
  WAITALL: 0x100,
  NOSIGNAL: 0x4000,
} as const;

/** `poll(2)` event bits (Linux values). */
export const POLL = {
  IN: 0x001,
  PRI: 0x002,
  OUT: 0x004,
  ERR: 0x008,
  HUP: 0x010,
  NVAL: 0x020,
  RDNORM: 0x040,
  RDBAND: 0x080,
  WRNORM: 0x100,
  WRBAND: 0x200,
} as const;

/** `shutdown(2)` modes. */
export const SHUT = {
  RD: 0,
  WR: 1,
  RDWR: 2,
} as const;

/** `so_state` bits (`SS_*`, BSD `sys/socketvar.h`). */
export const SS = {
  /** Socket connected to a peer. */
  ISCONNECTED: 0x001,
  /** Connection being set up (TCP SYN sent). */
  ISCONNECTING: 0x002,
  /** Connection being torn down. */
  ISDISCONNECTING: 0x004,
  /** No more data may be sent (shutdown for writing, or peer gone). */
  CANTSENDMORE: 0x010,
  /** No more data will arrive (peer sent FIN, or shutdown for reading). */
  CANTRCVMORE: 0x020,
  /** Non-blocking I/O (`O_NONBLOCK`). */
  NBIO: 0x080,
  /** The socket has been closed by its user: no descriptor refers to it (`SS_NOFDREF`). */
  NOFDREF: 0x001000,
  /** Was connected and is no longer (`SS_ISDISCONNECTED`). */
  ISDISCONNECTED: 0x002000,
  /**
   * A stream `sosend` has more of this call's data to append (NetBSD
   * `SS_MORETOCOME`): the protocol may hold a sub-MSS tail for it. Set
   * from a pass that leaves bytes in the uio until the call's last append
   * or its end (sosend.ts).
   */
  MORETOCOME: 0x004000,
  /** `soabort`ed or closed while operations waited: every wait fails. */
  CLOSED: 0x100000,
} as const;

/** Protocol switch flags (`PR_*`, BSD `sys/protosw.h`). */
export const PR = {
  /** Datagrams: every send is one record, whole or not at all. */
  ATOMIC: 0x01,
  /** Each received record carries the sender's address. */
  ADDR: 0x02,
  /** A connection is needed before data moves (TCP). */
  CONNREQUIRED: 0x04,
  /** Call `rcvd` after data is taken from the receive buffer (TCP window updates). */
  WANTRCVD: 0x08,
  /** The protocol supports `listen`/`accept`. */
  LISTEN: 0x10,
} as const;

/** The largest UDP payload: 65535 - 20 (IP header) - 8 (UDP header). */
export const IP_MAXPACKET_UDP = 65507;
