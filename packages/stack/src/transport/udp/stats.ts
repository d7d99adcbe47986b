/**
 * UDP counters (NetBSD `udpstat`, `netinet/udp_var.h`), registered under
 * `net.inet.udp.stats`. Every drop path bumps exactly one of them.
 *
 * @module
 */

/** The UDP counters. Plain numbers so the data path increments them for free. */
export interface UdpStats {
  /** Datagrams handed up by IP. */
  ipackets: number;
  /** Shorter than a UDP header. */
  hdrops: number;
  /** Length field below 8 or beyond the IP payload. */
  badlen: number;
  /** Checksum did not verify. */
  badsum: number;
  /** Arrived without a checksum (field 0; accepted, RFC 768). */
  nosum: number;
  /** No socket for a unicast datagram (an ICMP port unreachable was asked for). */
  noport: number;
  /** No socket for a broadcast or multicast datagram (no ICMP, RFC 1122 3.2.2). */
  noportbcast: number;
  /** Multicast for a port whose sockets had not joined the group on that interface, or whose source filter refused the sender. */
  filtered: number;
  /** The receiving socket's buffer was full: dropped. */
  fullsock: number;
  /** The receiving socket had shut down reading: dropped. */
  rcvshut: number;
  /** Copies for delivery to several sockets failed for lack of mbufs. */
  nobufsin: number;
  /** Datagrams delivered to a socket (each socket of a broadcast counts once). */
  delivered: number;
  /** Datagrams sent. */
  opackets: number;
  /** Sends refused for lack of mbufs (header prepend). */
  nobufsout: number;
  /** Sends the IP layer refused (no route, EMSGSIZE, ...). */
  oerrors: number;
  /** Port-unreachable and other ICMP errors posted on a connected socket. */
  ctlnotify: number;
}

/** One line per counter, for `sysctl -d` and `netstat -s`. */
export const UDP_STATS_DESCRIPTIONS: Readonly<Record<keyof UdpStats, string>> = {
  ipackets: 'datagrams received',
  hdrops: 'shorter than a UDP header',
  badlen: 'bad data length field',
  badsum: 'bad checksum',
  nosum: 'received with no checksum',
  noport: 'dropped: no socket on port',
  noportbcast: 'broadcast/multicast dropped: no socket on port',
  filtered: 'multicast dropped: no socket on port joined the group (or its source filter refused the sender)',
  fullsock: 'dropped: socket receive buffer full',
  rcvshut: 'dropped: socket shut down for reading',
  nobufsin: 'dropped for lack of mbufs on delivery',
  delivered: 'delivered to sockets',
  opackets: 'datagrams sent',
  nobufsout: 'sends failed for lack of mbufs',
  oerrors: 'sends refused by IP',
  ctlnotify: 'ICMP errors posted to connected sockets',
};

/** Fresh, zeroed counters. */
export function newUdpStats(): UdpStats {
  return {
    ipackets: 0,
    hdrops: 0,
    badlen: 0,
    badsum: 0,
    nosum: 0,
    noport: 0,
    noportbcast: 0,
    filtered: 0,
    fullsock: 0,
    rcvshut: 0,
    nobufsin: 0,
    delivered: 0,
    opackets: 0,
    nobufsout: 0,
    oerrors: 0,
    ctlnotify: 0,
  };
}
