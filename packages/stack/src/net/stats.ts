/**
 * The network layer's counters, one plain object per protocol, as NetBSD
 * keeps `ipstat`, `icmpstat` and `arpstat`: incrementing a property costs
 * nothing on the data path, and the sysctl tree reads the objects by
 * reference (`net.inet.ip.stats.*`, `net.inet.icmp.stats.*`,
 * `net.inet.arp.stats.*`, `net.link.ether.stats.*`). Every drop path bumps
 * one of these, so no packet disappears without a trace.
 *
 * @module
 */

/** IPv4 counters (`struct ipstat`, `netstat -s -p ip`). */
export function newIpStats() {
  return {
    /** Packets received (before any check). */
    total: 0,
    /** Header checksum wrong. */
    badsum: 0,
    /** Total length field larger than the data received. */
    tooshort: 0,
    /** Fewer bytes than a minimal header (20). */
    toosmall: 0,
    /** IHL below 5, or header longer than the data received. */
    badhlen: 0,
    /** Total length field smaller than the header length. */
    badlen: 0,
    /** Version not 4. */
    badvers: 0,
    /** Impossible source address (the sum of the martian* counters below). */
    martians: 0,
    /** Source one of our own addresses, arriving on a wire (spoofed; the LAND attack). */
    martianself: 0,
    /** Source in 127/8 from a wire (RFC 1122 3.2.1.3 (g)). */
    martianloop: 0,
    /** Source a directed broadcast of the receiving interface's subnet. */
    martianbcast: 0,
    /** Source multicast (224/4). */
    martianmcast: 0,
    /** Source class E (240/4, the limited broadcast among them). */
    martianclasse: 0,
    /** Source in 0/8; 0.0.0.0 passes only as DHCP/BOOTP (UDP to the limited broadcast, port 67/68). */
    martianzero: 0,
    /** Destination in 127/8 from a wire. */
    martianloopdst: 0,
    /** Dropped because a source-route option was present (RFC 7126 4.3/4.4: hosts should drop them). */
    badoptions: 0,
    /** Not for us, and forwarding is off (we are a host). */
    cantforward: 0,
    /** Multicast to a group not joined on the receiving interface. */
    notmember: 0,
    /** For us, but no transport for the protocol (ICMP protocol unreachable sent). */
    noproto: 0,
    /** Handed to a transport (or ICMP). */
    delivered: 0,
    /** Fragments received. */
    fragments: 0,
    /**
     * Held fragments freed because their datagram was dropped (limits, an
     * overlap, a ping of death, inconsistency), or a fragment refused by a
     * limit. The fragment that provoked an overlap / toolong / inconsistency
     * is counted under that name instead.
     */
    fragdropped: 0,
    /** Fragments freed when their datagram's reassembly timed out. */
    fragtimeout: 0,
    /** Datagrams whose fragments overlapped (whole datagram dropped, RFC 5722's lesson). */
    fragoverlap: 0,
    /** Exact duplicate fragments dropped (the datagram is kept). */
    fragdup: 0,
    /** Fragments that disagree about the datagram's end (whole datagram dropped). */
    fraginconsistent: 0,
    /** Fragment with MF set whose data length is not a multiple of 8, or empty. */
    badfrags: 0,
    /** Datagram that would pass 65535 bytes once reassembled ("ping of death"). */
    toolong: 0,
    /** Datagrams reassembled. */
    reassembled: 0,
    /** Datagrams sent by this host. */
    localout: 0,
    /** Multicast datagrams we sent whose copy went back to local members (`IP_MULTICAST_LOOP`, `ip_mloopback`). */
    mcastloop: 0,
    /** Broadcasts we sent whose copy went back to local sockets (the interface is simplex: it never hears its own). */
    bcastloop: 0,
    /** Output dropped for lack of buffers. */
    odropped: 0,
    /** Output with no route. */
    noroute: 0,
    /** Datagrams fragmented on output. */
    fragmented: 0,
    /** Fragments sent. */
    ofragments: 0,
    /** Datagram too big for the MTU with DF set (EMSGSIZE). */
    cantfrag: 0,
    /** Broadcast without the broadcast option (EACCES). */
    bcastdenied: 0,
    /** Sent to a local address, looped back through lo0. */
    looped: 0,
  };
}
/** IPv4 counters. */
export type IpStats = ReturnType<typeof newIpStats>;

/** ICMP counters (`struct icmpstat`). */
export function newIcmpStats() {
  return {
    /** Messages received. */
    received: 0,
    /** Shorter than an ICMP header (8 bytes), or an error quoting less than a header + 8 bytes. */
    tooshort: 0,
    /** Bad ICMP checksum. */
    checksum: 0,
    /** Error messages whose quoted header is not one of ours (wrong source, bad header). */
    notours: 0,
    /** Error messages for a protocol that has no transport. */
    noproto: 0,
    /** Echo requests received. */
    echo: 0,
    /** Echo replies sent. */
    reflect: 0,
    /** Echo requests to broadcast / multicast ignored (`net.inet.icmp.bmcastecho` = 0). */
    bmcastecho: 0,
    /** Echo replies received. */
    echoreply: 0,
    /** Echo replies matching a pending ping. */
    pingmatched: 0,
    /** Echo replies matching none (late, or not ours). */
    pingunmatched: 0,
    /** Echo replies whose data differs from what was sent. */
    pingbaddata: 0,
    /** Destination unreachable received. */
    unreach: 0,
    /** Time exceeded received. */
    timxceed: 0,
    /** Parameter problem received. */
    paramprob: 0,
    /** Redirects received (ignored: a host keeps its static routes). */
    redirect: 0,
    /** Source quench received (ignored, RFC 6633). */
    sourcequench: 0,
    /** Other types received and ignored. */
    unknowntype: 0,
    /** Errors delivered to a transport's ctlinput. */
    ctlinput: 0,
    /** Error messages sent. */
    error: 0,
    /** Error not sent: the offending packet was itself an ICMP error (RFC 1122 3.2.2). */
    oldicmp: 0,
    /** Error not sent: broadcast / multicast destination (RFC 1122 3.2.2). */
    bmcasterr: 0,
    /** Error not sent: not the first fragment (RFC 1122 3.2.2). */
    fragerr: 0,
    /** Error not sent: martian source (RFC 1122 3.2.2). */
    martianerr: 0,
    /** Error not sent: the packet was too short to quote. */
    oldshort: 0,
    /** Error not sent: rate limit (RFC 1812 4.3.2.8, `net.inet.icmp.errppslimit`). */
    ratelimited: 0,
    /** Messages not sent for lack of buffers. */
    nobufs: 0,
    /** Echo requests sent by ping(). */
    outecho: 0,
    /** Path-MTU updates clamped up to the minimum PMTU (552, Linux `min_pmtu`): a smaller MTU forces tiny segments. */
    pmtuclamped: 0,
    /** Path-MTU updates refused: no route, not below the MTU in use, or the sender did not validate the quote. */
    pmturefused: 0,
    /** Path-MTU entries evicted (oldest first) because the cache was full. */
    pmtuevicted: 0,
  };
}
/** ICMP counters. */
export type IcmpStats = ReturnType<typeof newIcmpStats>;

/** ARP counters (`struct arpstat`). */
export function newArpStats() {
  return {
    /** ARP packets received. */
    received: 0,
    /** Malformed: truncated, wrong hardware / protocol type or lengths, bad opcode. */
    badpacket: 0,
    /** Requests received. */
    rxrequests: 0,
    /** Replies received. */
    rxreplies: 0,
    /** Requests sent (resolution and retries). */
    txrequests: 0,
    /** Replies sent. */
    txreplies: 0,
    /** Gratuitous ARP announcements sent. */
    txgratuitous: 0,
    /** Sender hardware address is broadcast / multicast: dropped. */
    badsrcmac: 0,
    /** Sent from our own MAC (our frame came back): dropped. */
    ownmac: 0,
    /** Someone else claims one of our addresses (duplicate address). */
    dupaddr: 0,
    /** Sender IP address is martian (0 is a probe and answered but never learnt). */
    badsrcip: 0,
    /** Senders not learnt because they are not on a subnet of the receiving interface. */
    offnet: 0,
    /** New entries refused because the interface's table holds `net.inet.arp.maxentries` dynamic entries. */
    tablefull: 0,
    /** New entries learnt (RFC 826 merge with our address as target). */
    learned: 0,
    /** Existing entries updated by the merge. */
    updated: 0,
    /** Updates refused because the entry is static. */
    staticrefused: 0,
    /** Packets dropped from a full hold queue (oldest first). */
    holddrops: 0,
    /** Packets dropped when resolution failed. */
    resolvedrops: 0,
    /** Resolutions that failed after all retries. */
    timeouts: 0,
    /** Sends refused quickly while an entry is in the failed state. */
    failfast: 0,
    /** Entries that expired. */
    expired: 0,
  };
}
/** ARP counters. */
export type ArpStats = ReturnType<typeof newArpStats>;

/** Ethernet input/output counters summed over all Ethernet interfaces. */
export function newEtherStats() {
  return {
    /** Frames shorter than an Ethernet header. */
    tooshort: 0,
    /** 802.3 length-field (LLC) frames. */
    llc: 0,
    /** 802.1Q / 802.1ad tagged frames (no VLAN support). */
    vlan: 0,
    /** EtherTypes we do not speak. */
    unknowntype: 0,
    /** Unicast to another station, or multicast we have not joined. */
    notours: 0,
    /** Frames with a group (multicast) source address. */
    badsrc: 0,
    /** Our own frames coming back. */
    ownsrc: 0,
    /** No mbufs to copy the frame into. */
    nobufs: 0,
    /** Frames received while the interface was down. */
    down: 0,
    /** Output frames the link refused. */
    oerrors: 0,
    /** Received coalesced TCP super-packets (LRO/GRO, `RxFlag.GSO`), each counted once. */
    lroPackets: 0,
    /** Received frames whose transport checksum the device vouched for (verified, or partial from the local kernel). */
    rxCsumOffload: 0,
    /** Frames sent with TCP segmentation offload (one per super-packet handed to the link). */
    tsoFrames: 0,
    /** Offload frames for a link without `outputGso` (the route changed under them): dropped. */
    tsoNoDevice: 0,
  };
}
/** Ethernet counters. */
export type EtherStats = ReturnType<typeof newEtherStats>;
