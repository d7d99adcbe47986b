/**
 * The protocol switch as the socket layer sees it (NetBSD `struct protosw`
 * with its `struct pr_usrreqs`, `sys/sys/protosw.h`): what each socket
 * type's protocol must do when its user asks. UDP implements it now; TCP
 * plugs in the same way later.
 *
 * Conventions, for every request: the return value is 0 or an errno (never
 * a throw for anything a user can cause). Requests run synchronously; a
 * protocol that needs time (TCP's handshake) sets socket state
 * (`soisconnecting`) and later calls the socket layer's state functions
 * (`soisconnected`, `soisdisconnected`, `sorwakeup`, ...), which wake waiters.
 *
 * @module
 */
import type { Mbuf } from '../mbuf/index.js';
import type { Ip6Address } from '../wire/ip.js';
import type { Sockaddr } from './sockaddr.js';
import type { Socket } from './socket.js';

/**
 * An IPv4 multicast membership request: `struct ip_mreq` (group and
 * interface address) or, with `sourceaddr`, `struct ip_mreq_source`
 * (RFC 3678 4.1.2). Addresses are host-order numbers; `interface` 0 lets
 * the route choose.
 */
export interface InMreq {
  multiaddr: number;
  interface: number;
  sourceaddr?: number;
}

/**
 * An IPv6 multicast membership request (`struct ipv6_mreq`, RFC 3493 5.2):
 * the group and the interface index (0 lets the route choose).
 */
export interface In6Mreq {
  multiaddr6: Ip6Address;
  ifindex: number;
}

/** Result of a `getsockopt` handled by a protocol: a value or an errno. */
export type SockoptValue = number | boolean | { onoff: boolean; linger: number } | InMreq | In6Mreq | Uint8Array;

/** The user requests (`pr_usrreqs`). */
export interface ProtoUserReqs {
  /**
   * Create the protocol control block for a new socket (`pr_attach`) and
   * reserve the socket buffers (`soreserve`). 0 or errno (ENOBUFS).
   */
  attach(so: Socket, proto: number): number;
  /** Destroy the control block (`pr_detach`); the socket is being freed. */
  detach(so: Socket): void;
  /** Bind a local address (`pr_bind`): EADDRINUSE, EADDRNOTAVAIL, EINVAL (already bound). */
  bind(so: Socket, nam: Sockaddr): number;
  /** Become a listener (`pr_listen`); EOPNOTSUPP for datagram protocols. */
  listen(so: Socket, backlog: number): number;
  /**
   * Connect (`pr_connect`): a datagram protocol records the default peer
   * and calls `soisconnected`; TCP sends its SYN and calls `soisconnecting`.
   */
  connect(so: Socket, nam: Sockaddr): number;
  /** Disconnect (`pr_disconnect`): dissolve the association (UDP connect to AF_UNSPEC, TCP close). */
  disconnect(so: Socket): number;
  /** Finish accepting a socket taken from the listen queue (`pr_accept`). */
  accept(so: Socket): number;
  /** The user will send no more (`pr_shutdown`, after `socantsendmore`): TCP sends its FIN. */
  shutdown(so: Socket): number;
  /** Abort a connection (`pr_abort`): for TCP a RST; then the socket is freed. */
  abort(so: Socket): void;
  /**
   * Send data (`pr_send`). Ownership of `m` passes to the protocol on every
   * path (it frees it on error). `m` is null for a zero-length send; `nam`
   * is the destination for an unconnected datagram socket; `len` is the
   * chain's length. 0 or errno.
   */
  send(so: Socket, m: Mbuf | null, len: number, nam: Sockaddr | null, flags: number): number;
  /** Data was taken from the receive buffer (`pr_rcvd`, only with `PR_WANTRCVD`): a window update. */
  rcvd(so: Socket, flags: number): void;
  /** Local address (`pr_sockaddr`). */
  sockaddr(so: Socket): Sockaddr;
  /** Peer address (`pr_peeraddr`), or null when not connected (ENOTCONN). */
  peeraddr(so: Socket): Sockaddr | null;
  /**
   * Options at the protocol's levels (`pr_ctloutput`): `IPPROTO_IP`,
   * `IPPROTO_UDP`, `IPPROTO_TCP`. For set, returns 0 or an errno; for get,
   * a value or an errno wrapped as `{ errno }`. Unknown options: ENOPROTOOPT.
   */
  ctloutputSet(so: Socket, level: number, name: number, value: SockoptValue): number;
  ctloutputGet(so: Socket, level: number, name: number): SockoptValue | { errno: number };
  /** `ioctl` (`pr_ioctl`); EOPNOTSUPP when unknown. */
  control?(so: Socket, cmd: string, arg: unknown): number | { value: unknown };
}

/** One protocol of a domain (`struct protosw`). */
export interface Protosw {
  /** Socket type it serves (`pr_type`): SOCK_STREAM or SOCK_DGRAM. */
  readonly type: number;
  /** Its domain (`pr_domain`): AF_INET. */
  readonly domain: number;
  /** Protocol number (`pr_protocol`): IPPROTO_UDP, IPPROTO_TCP. */
  readonly protocol: number;
  /** `PR_*` flags. */
  readonly flags: number;
  /**
   * Largest send this protocol accepts in one record (atomic protocols):
   * sosend answers EMSGSIZE above it (UDP: 65507). 0: no limit.
   */
  readonly maxSend: number;
  /** Its user requests. */
  readonly usrreqs: ProtoUserReqs;
  /** Short name for `netstat`, e.g. `"udp"`. */
  readonly name: string;
}
