/**
 * TCP counters (NetBSD `struct tcpstat`, `tcp_var.h`): every path that drops
 * a segment, resends one or changes recovery mode bumps one by name, and the
 * whole object is registered as `net.inet.tcp.stats.*`. A silent drop is a
 * bug that cannot be found later.
 *
 * @module
 */

/** A fresh, zeroed counter set. Plain numbers so `sysctl.addStats` can read it by reference. */
export function newTcpStats() {
  return {
    // Connections.
    connattempt: 0,
    accepts: 0,
    connects: 0,
    drops: 0,
    conndrops: 0,
    closed: 0,
    timeoutdrop: 0,
    keepdrops: 0,
    persistdrops: 0,
    // Sending.
    sndtotal: 0,
    sndpack: 0,
    sndbyte: 0,
    sndrexmitpack: 0,
    sndrexmitbyte: 0,
    sndacks: 0,
    sndprobe: 0,
    sndwinup: 0,
    sndctrl: 0,
    sndrst: 0,
    delack: 0,
    senderr: 0,
    /** Segments handed to the interface for segmentation (TSO super-segments), and their payload bytes. */
    tsoSegments: 0,
    tsoBytes: 0,
    /** Times TSO output held a window-limited send back for a bigger segment (`tcp_tso_should_defer`). */
    tsoDeferred: 0,
    /** User sends whose output waited for the end of the event-loop turn to go out as one TSO burst (autocork). */
    sndCorked: 0,
    // Receiving.
    rcvtotal: 0,
    rcvpack: 0,
    rcvbyte: 0,
    rcvbadsum: 0,
    /** Segments whose checksum the interface vouched for (not verified again). */
    rcvcsumoffload: 0,
    rcvbadoff: 0,
    rcvshort: 0,
    /** Segments with a malformed option: the option walk stopped there and the segment was processed (BSD/Linux). */
    rcvbadopt: 0,
    /** Segments with both SYN and FIN dropped (`net.inet.tcp.drop_synfin`, as the BSDs). */
    rcvsynfin: 0,
    rcvduppack: 0,
    rcvdupbyte: 0,
    rcvpartduppack: 0,
    rcvpartdupbyte: 0,
    rcvoopack: 0,
    rcvoobyte: 0,
    rcvoodrop: 0,
    rcvpackafterwin: 0,
    rcvbyteafterwin: 0,
    rcvafterclose: 0,
    rcvwinprobe: 0,
    rcvdupack: 0,
    rcvacktoomuch: 0,
    rcvackpack: 0,
    rcvackbyte: 0,
    rcvwinupd: 0,
    rcvbadsyn: 0,
    rcvrst: 0,
    rcvbadrst: 0,
    rcvnoport: 0,
    rcvmemdrop: 0,
    /** In-order segments (and their bytes) dropped unacknowledged because the socket's owner was at its quota (input.ts `overAccount`). */
    rcvquotadrop: 0,
    rcvquotabyte: 0,
    pawsdrop: 0,
    predack: 0,
    preddat: 0,
    // Timers and recovery.
    rexmttimeo: 0,
    rexmttimeoSyn: 0,
    persisttimeo: 0,
    keeptimeo: 0,
    keepprobe: 0,
    twTimeouts: 0,
    fastretrans: 0,
    newrenoPartial: 0,
    sackrecovery: 0,
    sackrexmit: 0,
    sackblocksSent: 0,
    sackblocksRcvd: 0,
    // RACK-TLP (RFC 8985).
    /** Ranges RACK marked lost (sent before a delivered segment, older than RTT + reordering window). */
    rackLost: 0,
    /** Loss recoveries RACK started. */
    rackRecovery: 0,
    /** Retransmissions RACK sent in recovery. */
    rackRexmit: 0,
    /** RACK reordering timer expirations. */
    rackReoTimeouts: 0,
    /** Reordering windows widened by a D-SACK (RFC 8985 6.2 step 4). */
    rackReoWndGrown: 0,
    /** Tail loss probes sent (PTO expirations that sent a probe). */
    tlpProbes: 0,
    /** Tail loss probes that carried new data rather than a retransmission. */
    tlpProbesNew: 0,
    /** Losses repaired by a tail loss probe (RFC 8985 7.4: congestion response taken). */
    tlpRecoveries: 0,
    /** Probes found unnecessary by a D-SACK (the original had arrived). */
    tlpSpurious: 0,
    rttupdated: 0,
    // RFC 5961.
    challengeack: 0,
    /** Challenge ACKs not sent: the stack-wide budget of this second (randomised, `ackratelimit`) was spent. */
    challengeackRatelimited: 0,
    /** Challenge ACKs not sent: this connection sent one less than `invalid_ratelimit` ms ago. */
    challengeackConnLimited: 0,
    // Listen and SYN cache.
    listendrop: 0,
    scAdded: 0,
    scCompleted: 0,
    scTimedOut: 0,
    scOverflowed: 0,
    scReset: 0,
    scDupesyn: 0,
    scRetransmitted: 0,
    scDropped: 0,
    scBadack: 0,
    /** TIME-WAITs closed for a new SYN that was provably newer, with a listener to take it (RFC 6191). */
    /** SYN-ACKs sent with a SYN cookie (the cache was full; `net.inet.tcp.syncookies`). */
    scCookiesSent: 0,
    /** Connections made from a valid cookie. */
    scCookiesOk: 0,
    /** ACKs whose cookie did not check out (forged, expired): answered with RST. */
    scCookiesBad: 0,
    twReused: 0,
    /** SYNs to a TIME-WAIT refused (ACKed, TIME-WAIT kept): not newer by RFC 6191's test. */
    twSynOld: 0,
    /** SYNs to a TIME-WAIT refused (ACKed, TIME-WAIT kept): no listener on the port. */
    twSynNoListener: 0,
    /** RSTs ignored in TIME-WAIT (RFC 1337, `net.inet.tcp.rfc1337`). */
    twRstIgnored: 0,
    /** Retransmitted FINs ACKed in TIME-WAIT (the 2*MSL timer restarted). */
    twFinRexmt: 0,
    /** Segments with data in TIME-WAIT: text ignored, ACKed. */
    twData: 0,
    /** ACKs sent from TIME-WAIT to out-of-window, stale or unexpected segments. */
    twAcks: 0,
    /** Such ACKs not sent: one went less than `invalid_ratelimit` ms ago. */
    twAckLimited: 0,
    // Path MTU (RFC 1191 / RFC 5927).
    pmtuUpdates: 0,
    pmtuBadseq: 0,
    ctlinputErrors: 0,
    // Stall guards.
    /** A zero window with data queued switched the retransmit timer to the persist timer. */
    zeroWindowPersist: 0,
    /** A segment could not be built (ENOBUFS) with no timer running: the retransmit timer was armed. */
    sendFailRearm: 0,
    /** Deferred output left work behind (an exception or the round cap): another turn was scheduled. */
    deferredRearm: 0,
    // Out-of-order queue: charged and bounded (reass.ts, reass-budget.ts, ofo.ts).
    /** Out-of-order segments joined to an adjacent queued entry. */
    rcvoomerged: 0,
    /** Small out-of-order data copied out of its cluster (a small mbuf, or an entry's tail). */
    rcvoocompact: 0,
    /** Queued entries re-packed densely under a limit (`tcp_collapse_ofo_queue`). */
    rcvoocollapse: 0,
    /** Out-of-order entries pruned from the highest sequence numbers (`tcp_prune_ofo_queue`), and their bytes. */
    rcvoopruned: 0,
    rcvooprunedbyte: 0,
    /** Entries of other connections pruned to share the stack-wide budget fairly. */
    rcvooprunedother: 0,
    /** Out-of-order segments dropped: the receive buffer's storage (`sb_mbmax`) had no room left for them. */
    rcvoomemdrop: 0,
    /** Out-of-order segments dropped: the stack-wide budget (`net.inet.tcp.reass.maxclusters`/`maxmbufs`) was used up. */
    rcvoobudgetdrop: 0,
    /** Out-of-order segments refused because the cluster pool is under memory pressure. */
    rcvoopressure: 0,
    /** Times memory pressure pruned every out-of-order queue. */
    rcvoopressureprune: 0,
    /** SYNs refused (no SYN cache entry) because the cluster pool is under memory pressure. */
    scPressure: 0,
    /** Autosized send buffers grown (`net.inet.tcp.sendbuf_inc` at a time; sndbuf.ts). */
    sndbufgrow: 0,
    /** Send-buffer growth refused because the cluster pool is under memory pressure. */
    sndbufpressure: 0,
    /** Autosized send buffers shrunk back toward their starting size under memory pressure, and the bytes given back. */
    sndbufshrink: 0,
    sndbufshrinkbyte: 0,
  };
}

/** The TCP counters of one stack (`tcpstat`). */
export type TcpStats = ReturnType<typeof newTcpStats>;
