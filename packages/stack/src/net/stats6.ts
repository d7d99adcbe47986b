/**
 * IPv6 counters, one plain object per protocol as NetBSD keeps `ip6stat`,
 * `icmp6stat` and its ND counters (`netstat -s -p ip6`, `-p icmp6`): read
 * through the sysctl tree as `net.inet6.ip6.stats.*`,
 * `net.inet6.icmp6.stats.*` and `net.inet6.nd6.stats.*`. Names follow
 * NetBSD's `ip6s_*` / `icp6s_*` fields where one exists. Every drop path of
 * the IPv6 layer bumps one of these.
 *
 * @module
 */

/** IPv6 counters (`struct ip6stat`). */
export function newIp6Stats() {
  return {
    /** Packets received (before any check). */
    total: 0,
    /** Fewer bytes than the fixed header (40). */
    toosmall: 0,
    /** Payload length past the data received. */
    tooshort: 0,
    /** Version not 6. */
    badvers: 0,
    /** A jumbogram (payload length 0 before a hop-by-hop header, RFC 2675): not supported. */
    jumbo: 0,
    /**
     * Scope violations (`ip6s_badscope`): multicast or v4-mapped source,
     * loopback source or destination on a wire, a multicast destination
     * of reserved or interface-local scope from a wire.
     */
    badscope: 0,
    /** Not for us, and we do not forward. */
    cantforward: 0,
    /** Multicast to a group not joined on the receiving interface. */
    notmember: 0,
    /** To one of our addresses while it is tentative (RFC 4862 5.4: only ND may use it). */
    tentative: 0,
    /** More extension headers than `net.inet6.ip6.maxexthdrs`. */
    toomanyhdr: 0,
    /** The header chain does not fit in a cluster, or passes the packet's end. */
    exthdrtoolong: 0,
    /** Options headers dropped: an unrecognised option whose type says discard, or a malformed option list. */
    badoptions: 0,
    /** A hop-by-hop header anywhere but right after the fixed header (RFC 8200 4.1): parameter problem. */
    hbhnotfirst: 0,
    /** Routing header type 0 with segments left (RFC 5095): parameter problem. */
    rthdr0: 0,
    /** Other routing headers with segments left (we do not forward): parameter problem. */
    rthdrsegleft: 0,
    /** Unknown next header: parameter problem code 1. */
    noproto: 0,
    /** Next header 59 (no next header): nothing to deliver. */
    nonext: 0,
    /** Handed to ICMPv6 or a transport. */
    delivered: 0,
    /** Fragments received. */
    fragments: 0,
    /** Atomic fragments (offset 0, M clear) processed on their own (RFC 8021 / RFC 6946). */
    atomicfrags: 0,
    /** Held fragments freed because their datagram was dropped (a limit, an overlap, an inconsistency), or refused by a limit. */
    fragdropped: 0,
    /** Fragments freed when their datagram timed out. */
    fragtimeout: 0,
    /** Datagrams with overlapping fragments: dropped whole, later fragments too (RFC 5722). */
    fragoverlap: 0,
    /** Exact duplicate fragments dropped (the datagram is kept). */
    fragdup: 0,
    /** Fragments that disagree about the datagram's end. */
    fraginconsistent: 0,
    /** Fragment with M set whose length is not a multiple of 8 (parameter problem, RFC 8200 4.5). */
    badfrags: 0,
    /** Fragment reaching past 65535 bytes of payload (parameter problem, RFC 8200 4.5). */
    toolong: 0,
    /** First fragment without the whole header chain (RFC 7112): parameter problem code 3. */
    fraghdrchain: 0,
    /** Datagrams reassembled. */
    reassembled: 0,
    /** Packets sent by this host. */
    localout: 0,
    /** Output dropped for lack of buffers. */
    odropped: 0,
    /** Output with no route. */
    noroute: 0,
    /** Output with no usable source address. */
    nosrc: 0,
    /** Packets fragmented on output. */
    fragmented: 0,
    /** Fragments sent. */
    ofragments: 0,
    /** Too big for the path MTU and not allowed to fragment (EMSGSIZE). */
    cantfrag: 0,
    /** Sent to a local address, looped back through lo0. */
    looped: 0,
    /** Multicast copies looped back to local members (`IPV6_MULTICAST_LOOP`, `ip6_mloopback`). */
    mcastloop: 0,
  };
}
/** IPv6 counters. */
export type Ip6Stats = ReturnType<typeof newIp6Stats>;

/** ICMPv6 counters (`struct icmp6stat`). */
export function newIcmp6Stats() {
  return {
    /** Messages received. */
    received: 0,
    /** Shorter than an ICMPv6 header, or than its type needs. */
    tooshort: 0,
    /** Bad checksum. */
    checksum: 0,
    /** Echo requests received. */
    echo: 0,
    /** Echo replies sent. */
    reflect: 0,
    /** Echo replies received. */
    echoreply: 0,
    /** Echo replies matching a pending ping6. */
    pingmatched: 0,
    /** Echo replies matching none. */
    pingunmatched: 0,
    /** Echo replies whose data differs from what was sent. */
    pingbaddata: 0,
    /** Destination unreachable received. */
    unreach: 0,
    /** Packet too big received. */
    pkttoobig: 0,
    /** Time exceeded received. */
    timxceed: 0,
    /** Parameter problem received. */
    paramprob: 0,
    /** Errors whose quoted packet is not one we sent (or too short to tell). */
    notours: 0,
    /** Errors delivered to a transport's ctlinput or a pending ping. */
    ctlinput: 0,
    /** Errors about a protocol without a v6 transport. */
    noproto: 0,
    /** MLD reports and dones received (a host ignores other listeners' reports, RFC 3810 6). */
    mld: 0,
    /** MLD queries received and answered (RFC 3810 6.2). */
    mldquery: 0,
    /** MLD queries refused: not from a link-local source, hop limit not 1, too short (RFC 3810 5.1.14). */
    mldbad: 0,
    /** MLDv2 reports sent (joins, leaves, answers to queries). */
    mldreport: 0,
    /** Informational messages of unknown type, ignored (RFC 4443 2.4 (b)). */
    unknowntype: 0,
    /** Path-MTU entries learnt from packet too big. */
    pmtuupdated: 0,
    /** Packet-too-big MTUs below 1280 raised to it (RFC 8201 4). */
    pmtuclamped: 0,
    /** Packet too big not believed: not below the MTU in use, or no route. */
    pmturefused: 0,
    /** Path-MTU entries evicted because the cache was full. */
    pmtuevicted: 0,
    /** Error messages sent. */
    error: 0,
    /** Error not sent: the offending packet is an ICMPv6 error or a redirect (RFC 4443 2.4 (e.1, e.2)). */
    oldicmp: 0,
    /** Error not sent: multicast destination or link-layer multicast / broadcast (RFC 4443 2.4 (e.3-e.5)). */
    bmcasterr: 0,
    /** Error not sent: the source is unspecified or multicast (RFC 4443 2.4 (e.6)). */
    badsrcerr: 0,
    /** Error not sent: rate limit (RFC 4443 2.4 (f), `net.inet6.icmp6.errppslimit`). */
    ratelimited: 0,
    /** Error not sent: the offending packet was too short to quote. */
    oldshort: 0,
    /** Messages not sent for lack of buffers. */
    nobufs: 0,
    /** Echo requests sent by ping6(). */
    outecho: 0,
  };
}
/** ICMPv6 counters. */
export type Icmp6Stats = ReturnType<typeof newIcmp6Stats>;

/** Neighbor Discovery counters. */
export function newNd6Stats() {
  return {
    /** Neighbor solicitations received / sent. */
    rxns: 0,
    txns: 0,
    /** Neighbor advertisements received / sent. */
    rxna: 0,
    txna: 0,
    /** Router solicitations received (a host ignores them) / sent. */
    rxrs: 0,
    txrs: 0,
    /** Router advertisements received / accepted. */
    rxra: 0,
    raaccepted: 0,
    /** RAs ignored because `net.inet6.ip6.accept_rtadv` is 0. */
    raignored: 0,
    /** Redirects received: refused (a host keeps its routes; RFC 4861 8.1 lets it). */
    redirect: 0,
    /** ND message with a hop limit other than 255: sent from off-link, or forwarded (RFC 4861 7.1). */
    badhoplimit: 0,
    /** ND message with a non-zero code. */
    badcode: 0,
    /** ND message shorter than its fixed part, or with a malformed option list (a zero-length option). */
    badlen: 0,
    /** Other RFC 4861 7.1 validation failures (multicast target, unspecified source to a unicast address, ...). */
    invalid: 0,
    /** Solicitations for an address that is not ours (another node's, sharing a solicited-node group). */
    nsother: 0,
    /** Advertisements for a neighbour we have no entry for (RFC 4861 7.2.5: no entry is created). */
    nanoentry: 0,
    /** Someone advertises one of our (non-tentative) addresses. */
    dupaddr: 0,
    /** Duplicate address detection failed: the address stays unusable (RFC 4862 5.4.5). */
    dadfailed: 0,
    /** Duplicate address detection succeeded. */
    dadok: 0,
    /** Neighbour entries created. */
    learned: 0,
    /** New entries refused because the interface holds `nd6_maxentries` entries and none is stale enough to evict. */
    tablefull: 0,
    /** Stale entries evicted to make room. */
    evicted: 0,
    /** Packets dropped from a full hold queue (oldest first). */
    holddrops: 0,
    /** Packets dropped when resolution failed. */
    resolvedrops: 0,
    /** Resolutions that failed after all solicitations. */
    timeouts: 0,
    /** Entries moved to REACHABLE by a solicited advertisement. */
    confirmed: 0,
    /** Neighbor unreachability detection probes that failed (entry deleted). */
    nudfailed: 0,
    /** Addresses formed by SLAAC (RFC 4862 5.5.3). */
    slaac: 0,
    /** Prefixes or addresses refused: a limit, a bad length or lifetime. */
    prefixrefused: 0,
  };
}
/** ND counters. */
export type Nd6Stats = ReturnType<typeof newNd6Stats>;
