/**
 * UDP (RFC 768) after NetBSD `sys/netinet/udp_usrreq.c`: the user requests
 * of `SOCK_DGRAM` sockets, output with the pseudo-header checksum, input
 * with validation, demultiplexing to sockets (connected first, then bound,
 * every matching socket for broadcast and multicast), ICMP port unreachable
 * for unicast datagrams nobody listens for, and ICMP errors posted to
 * connected sockets (`udp_ctlinput`).
 *
 * @example
 * ```ts
 * const layer = new SocketLayer(host);
 * const udp = new UdpProtocol(layer); // adds SOCK_DGRAM to the layer, registers with IP
 * ```
 *
 * @module
 */
import { Errno } from '../../kern/errno.js';
import { M_CSUM_UDPv4, mAdj, mCopym, mCopydata, mFreem, mGethdr, mLength, mPrepend, mPullup } from '../../mbuf/index.js';
import type { Mbuf } from '../../mbuf/index.js';
import { IpProto } from '../../net/protosw.js';
import type { IpPacketInfo, TransportError, TransportProtocol } from '../../net/protosw.js';
import { AF, IP_MAXPACKET_UDP, IPPROTO, PR, SOCK, SOOPT, SS } from '../../socket/constants.js';
import { hostIsBroadcast } from '../../socket/host.js';
import { InPcbTable, zoneFor, zoneOf } from '../../socket/inpcb.js';
import type { InPcb } from '../../socket/inpcb.js';
import type { SocketLayer } from '../../socket/layer.js';
import type { ProtoUserReqs, Protosw, SockoptValue } from '../../socket/protosw.js';
import { INADDR_BROADCAST, sockaddrFor, sockaddrIn } from '../../socket/sockaddr.js';
import type { Sockaddr, SockaddrIn6 } from '../../socket/sockaddr.js';
import { soIsConnected, soReserve, soRwakeup, soSetError } from '../../socket/socket.js';
import type { Socket } from '../../socket/socket.js';
import { InetChecksum, pseudoHeaderSum, udpChecksumValue } from '../../wire/checksum.js';
import { UDP_HEADER_LEN, UdpField } from '../../wire/udp.js';
import { newUdpStats, UDP_STATS_DESCRIPTIONS } from './stats.js';
import type { UdpStats } from './stats.js';
import { ipEquals, ipIsUnspecified, type Ip6Address, type IpAddress } from '../../wire/ip.js';
import { familyOf } from '../../net/family.js';
import { in6GetOpt, in6SetOpt } from '../../socket/in6opt.js';
import { in6MoptAccepts, in6MoptFree } from '../../socket/in6mopt.js';
import { ipMoptAccepts, ipMoptFree, ipMoptGet, ipMoptSet, isIpMcastOpt, IP_DEFAULT_MULTICAST_TTL } from '../../socket/ipmopt.js';
import { ipv4IsMulticast } from '../../wire/address.js';

/** `IP_TOS` and `IP_TTL` option names at level `IPPROTO_IP` (Linux values). */
export const IP_OPT = { TOS: 1, TTL: 2 } as const;

/** ICMP destination unreachable / port unreachable (RFC 792). */
const ICMP_UNREACH = 3;
const ICMP_UNREACH_PORT = 3;

/**
 * Room left in front of a zero-length datagram's mbuf for the UDP, IP and
 * link headers (`max_linkhdr + sizeof(struct udpiphdr)`, rounded up).
 */
const UDP_HEADROOM = 64;

/** ICMP-derived errors posted on a connected socket (`inetctlerrmap` subset). */
const NOTIFY_ERRNOS: ReadonlySet<number> = new Set([
  Errno.ECONNREFUSED,
  Errno.EHOSTUNREACH,
  Errno.ENETUNREACH,
  Errno.EHOSTDOWN,
]);

/** Options of {@link UdpProtocol}. */
export interface UdpOptions {
  /** Random source for the first ephemeral port (tests pass a seeded one). */
  rng?: () => number;
}

/**
 * The UDP protocol of one stack: its pcb table, counters, user requests and
 * the `TransportProtocol` face the IP layer calls.
 */
export class UdpProtocol implements TransportProtocol {
  /** `IPPROTO_UDP`. */
  readonly proto = IpProto.UDP;
  /** Counters, also under `net.inet.udp.stats`. */
  readonly stats: UdpStats = newUdpStats();
  /** The pcb table (`udbtable`). */
  readonly table: InPcbTable;
  /** The protocol switch entry added to the socket layer. */
  readonly protosw: Protosw;
  /** `net.inet.udp.checksum`: compute checksums on output (1, default) or send 0 ("none"). */
  checksum = 1;
  private readonly layer: SocketLayer;
  private readonly ck = new InetChecksum();
  private readonly hdr = new Uint8Array(UDP_HEADER_LEN);

  /**
   * Create UDP on `layer`: adds the `SOCK_DGRAM`/`IPPROTO_UDP` entry to the
   * layer's switch, registers with the IP layer (`host.registerProtocol`)
   * and its counters and `net.inet.udp.checksum` with sysctl when present.
   * @throws Error when UDP is already registered on this layer (set-up error).
   */
  constructor(layer: SocketLayer, opts: UdpOptions = {}) {
    this.layer = layer;
    this.table = new InPcbTable(layer, 'udp', opts.rng);
    this.protosw = {
      type: SOCK.DGRAM,
      domain: AF.INET,
      protocol: IPPROTO.UDP,
      flags: PR.ATOMIC | PR.ADDR,
      maxSend: IP_MAXPACKET_UDP,
      usrreqs: this.usrreqs(),
      name: 'udp',
    };
    layer.addProtocol(this.protosw);
    // AF_INET6 sockets share the pcb table (one port space) and the code.
    layer.addProtocol({ ...this.protosw, domain: AF.INET6, name: 'udp6' });
    layer.host.registerProtocol?.(this);
    const sc = layer.host.sysctl;
    if (sc !== undefined) {
      sc.addStats('net.inet.udp.stats', this.stats as unknown as Record<string, number>, UDP_STATS_DESCRIPTIONS);
      sc.addInt('net.inet.udp.checksum', {
        get: () => this.checksum,
        set: (v) => (this.checksum = v),
        min: 0,
        max: 1,
        description: 'Compute UDP checksums on output',
      });
    }
  }

  /**
   * The stack is shutting down (`Stack.close` calls this): abort every UDP
   * socket, which frees the datagrams queued on them. Descriptors still
   * open in tables then answer EBADF.
   */
  close(): void {
    for (const inp of this.table.pcbs()) this.layer.abort(inp.so);
  }

  // ---------------------------------------------------------------- input

  /**
   * `udp_input`: validate, demultiplex and queue one datagram. `m` starts at
   * the UDP header and is consumed on every path; every drop is counted.
   */
  input(m: Mbuf, info: IpPacketInfo): void {
    const st = this.stats;
    st.ipackets++;
    const total = mLength(m);
    if (total < UDP_HEADER_LEN) {
      st.hdrops++;
      mFreem(m);
      return;
    }
    // (IP delivers the header contiguous in practice; mPullup then returns m as is.)
    const p = mPullup(m, UDP_HEADER_LEN);
    if (p === null) {
      st.hdrops++; // the chain was freed
      return;
    }
    m = p;
    // Read the header through a private copy: the length was checked above,
    // so nothing below can run past the bytes we have.
    const h = this.hdr;
    mCopydata(m, 0, UDP_HEADER_LEN, h);
    const sport = (h[UdpField.SRC_PORT]! << 8) | h[UdpField.SRC_PORT + 1]!;
    const dport = (h[UdpField.DST_PORT]! << 8) | h[UdpField.DST_PORT + 1]!;
    const ulen = (h[UdpField.LENGTH]! << 8) | h[UdpField.LENGTH + 1]!;
    const sum = (h[UdpField.CHECKSUM]! << 8) | h[UdpField.CHECKSUM + 1]!;
    // RFC 768 / udp_input: the length field may be shorter than the IP
    // payload (trim the excess) but never longer, nor below the header.
    if (ulen < UDP_HEADER_LEN || ulen > total) {
      st.badlen++;
      mFreem(m);
      return;
    }
    if (sum === 0) {
      st.nosum++; // RFC 1122 4.1.3.4: a zero checksum means none was sent.
    } else if (m.pkthdr !== null && (m.pkthdr.csumFlags & M_CSUM_UDPv4) !== 0) {
      // The interface vouched for it (verified, or partial from the local kernel).
    } else {
      // Over the first ulen bytes only: the chain stays untrimmed until we
      // know a socket wants it, so an ICMP error can still quote it as IP
      // delivered it.
      const ck = this.ck.reset(pseudoHeaderSum(info.src, info.dst, IpProto.UDP, ulen));
      let left = ulen;
      for (let n: Mbuf | null = m; n !== null && left > 0; n = n.next) {
        const k = Math.min(n.len, left);
        if (k > 0) ck.add(n.data, n.off, k);
        left -= k;
      }
      if (!ck.verify()) {
        st.badsum++;
        mFreem(m);
        return;
      }
    }
    const from = sockaddrFor(info.src, sport);
    // A link-scoped sender is named with its zone: the interface it came in on.
    const zone = zoneFor(info.src, info.ifindex);
    if (zone !== 0) (from as SockaddrIn6).scopeId = zone;
    const plen = ulen - UDP_HEADER_LEN;
    if (info.broadcast || info.multicast) {
      if (ulen < total) mAdj(m, ulen - total);
      this.inputBroadcast(m, info, from, dport, plen);
      return;
    }
    const inp = this.table.lookupConnect(info.src, sport, info.dst, dport) ?? this.table.lookupBind(info.dst, dport);
    if (inp === null) {
      st.noport++;
      // The ICMP error quotes the datagram: hand it over as IP gave it.
      if (this.layer.host.icmpError !== undefined) {
        this.layer.host.icmpError(m, ICMP_UNREACH, ICMP_UNREACH_PORT);
      } else mFreem(m);
      return;
    }
    if (ulen < total) mAdj(m, ulen - total);
    mAdj(m, UDP_HEADER_LEN);
    this.deliver(inp, m, from, plen);
  }

  /**
   * Broadcast and multicast: a copy to every socket on the port whose local
   * address is ANY or the destination and, if connected, whose peer is the
   * source (`udp4_realinput`'s multicast loop, without its SO_REUSE* early
   * stop: every matching socket gets the datagram). For IPv4 multicast the
   * socket must also have joined the group on the receiving interface with
   * a filter that lets the source in (FreeBSD `udp_multi_input` with
   * `imo_multi_filter`; RFC 3678 source filters), and for IPv6 multicast
   * joined the group on that interface (`udp6_input` with
   * `im6o_mc_filter`), else the copy is not made (counted `filtered` when
   * no socket is left).
   */
  private inputBroadcast(m: Mbuf, info: IpPacketInfo, from: Sockaddr, dport: number, plen: number): void {
    const targets: InPcb[] = [];
    const mcast4 = info.multicast && typeof info.dst === 'number';
    const mcast6 = typeof info.dst !== 'number' && info.dst.isMulticast;
    let filtered = false;
    const v4 = typeof info.dst === 'number';
    for (const inp of this.table.onPort(dport)) {
      // IPV6_V6ONLY: no IPv4 for an AF_INET6 socket, even one that joined an IPv4 group (Linux
      // __udp_is_mcast_sock: ipv6_only_sock; its IP_ADD_MEMBERSHIP is still taken).
      if (v4 && inp.v6only && inp.so.proto.domain === AF.INET6) continue;
      if (!ipIsUnspecified(inp.laddr) && !ipEquals(inp.laddr, info.dst)) continue;
      if (!ipIsUnspecified(inp.faddr) && (!ipEquals(inp.faddr, info.src) || inp.fport !== from.port)) continue;
      if (mcast4 && !ipMoptAccepts(inp, info.ifname, info.dst as number, info.src as number)) {
        filtered = true;
        continue;
      }
      if (mcast6 && !in6MoptAccepts(inp, info.ifname, info.dst as Ip6Address)) {
        filtered = true;
        continue;
      }
      targets.push(inp);
    }
    if (targets.length === 0 && filtered) {
      this.stats.filtered++;
      mFreem(m);
      return;
    }
    if (targets.length === 0) {
      this.stats.noportbcast++;
      mFreem(m);
      return;
    }
    mAdj(m, UDP_HEADER_LEN);
    for (let i = 0; i < targets.length; i++) {
      const last = i === targets.length - 1;
      const n = last ? m : mCopym(m, 0);
      if (n === null) {
        this.stats.nobufsin++;
        continue;
      }
      this.deliver(targets[i]!, n, { ...from }, plen);
    }
  }

  /** `udp4_sendup`: queue on the socket or count the drop. Consumes `m`. */
  private deliver(inp: InPcb, m: Mbuf, from: Sockaddr, plen: number): void {
    const so = inp.so;
    if ((so.state & SS.CANTRCVMORE) !== 0) {
      this.stats.rcvshut++;
      mFreem(m);
      return;
    }
    // An AF_INET6 socket sees IPv4 senders as v4-mapped addresses (RFC 3493 3.7).
    if (typeof from.addr === 'number' && so.proto.domain === AF.INET6) from = this.table.sockaddrOf(inp, from.addr, from.port);
    if (!so.rcv.appendAddr(from, m, plen)) {
      this.stats.fullsock++; // appendAddr freed the chain
      return;
    }
    this.stats.delivered++;
    soRwakeup(so);
  }

  /**
   * `udp_ctlinput`: an ICMP error about a datagram we sent. Only a socket
   * *connected* to the quoted destination hears of it, as `so_error`
   * reported by its next call (BSD: an unconnected socket cannot tell
   * which of its peers failed). Fragmentation-needed is ignored and never
   * updates the path-MTU cache: UDP sends without DF and its header has
   * nothing a blind attacker could not guess (RFC 5927 5.2), so such a
   * message is either bogus or about fragments IP already handles.
   */
  ctlinput(err: TransportError): void {
    if (!NOTIFY_ERRNOS.has(err.errno)) return;
    const inp = this.table.lookupConnect(err.dst, err.dstPort, err.src, err.srcPort);
    if (inp === null) return;
    this.stats.ctlnotify++;
    soSetError(inp.so, err.errno);
  }

  // --------------------------------------------------------------- output

  /**
   * `udp_output`: prepend the header, checksum, and hand to IP. Consumes `m`
   * (null for an empty datagram) on every path.
   */
  private output(inp: InPcb, m: Mbuf | null, len: number, dst: IpAddress, dport: number, src: IpAddress, zone: number): number {
    const st = this.stats;
    const so = inp.so;
    const host = this.layer.host;
    const bcast = dst === INADDR_BROADCAST || hostIsBroadcast(host, dst);
    if (bcast && (so.options & SOOPT.BROADCAST) === 0) {
      mFreem(m);
      return Errno.EACCES;
    }
    if (len > IP_MAXPACKET_UDP) {
      mFreem(m);
      return Errno.EMSGSIZE;
    }
    if (m === null) {
      m = mGethdr(host.pool, { headroom: UDP_HEADROOM });
      if (m === null) {
        st.nobufsout++;
        return Errno.ENOBUFS;
      }
    }
    const p = mPrepend(m, UDP_HEADER_LEN);
    if (p === null) {
      st.nobufsout++; // the chain was freed
      return Errno.ENOBUFS;
    }
    m = p;
    const ulen = len + UDP_HEADER_LEN;
    const b = m.data;
    const o = m.off;
    b[o + UdpField.SRC_PORT] = inp.lport >>> 8;
    b[o + UdpField.SRC_PORT + 1] = inp.lport & 0xff;
    b[o + UdpField.DST_PORT] = dport >>> 8;
    b[o + UdpField.DST_PORT + 1] = dport & 0xff;
    b[o + UdpField.LENGTH] = ulen >>> 8;
    b[o + UdpField.LENGTH + 1] = ulen & 0xff;
    b[o + UdpField.CHECKSUM] = 0;
    b[o + UdpField.CHECKSUM + 1] = 0;
    // IPv6 has no "no checksum" (RFC 8200 8.1): net.inet.udp.checksum 0 applies to IPv4 only.
    if (this.checksum !== 0 || typeof dst !== 'number') {
      const ck = this.ck.reset(pseudoHeaderSum(src, dst, IpProto.UDP, ulen));
      for (let n: Mbuf | null = m; n !== null; n = n.next) if (n.len > 0) ck.add(n.data, n.off, n.len);
      const c = udpChecksumValue(ck.finish()); // RFC 768: a computed 0 goes out as 0xffff
      b[o + UdpField.CHECKSUM] = c >>> 8;
      b[o + UdpField.CHECKSUM + 1] = c & 0xff;
    }
    // Multicast takes the IP_MULTICAST_* options (ip_output's imo), unicast IP_TTL.
    const imo = inp.moptions;
    const mcast = typeof dst === 'number' && ipv4IsMulticast(dst);
    // IPv6 multicast: IPV6_MULTICAST_HOPS and, without a zone in the destination, IPV6_MULTICAST_IF.
    const mcast6 = typeof dst !== 'number' && dst.isMulticast;
    if (mcast6 && zone === 0) zone = inp.mcastIfindex6; // a connected socket's group
    const err = host.ip.output(m, {
      src,
      dst,
      proto: IpProto.UDP,
      ...(mcast
        ? { ttl: imo?.ttl ?? IP_DEFAULT_MULTICAST_TTL }
        : mcast6
          ? inp.mcastHops6 !== -1 ? { ttl: inp.mcastHops6 } : {}
          : inp.ttl !== 0 ? { ttl: inp.ttl } : {}),
      ...(inp.tos !== 0 ? { tos: inp.tos } : {}),
      broadcast: bcast,
      ...(mcast && imo !== null ? { mcastIf: imo.ifaddr, mcastLoop: imo.loop } : {}),
      // IPV6_MULTICAST_LOOP, on unless turned off (RFC 3493 5.2).
      ...(mcast6 ? { mcastLoop: inp.moptions6?.loop ?? true } : {}),
      ...(zone !== 0 ? { ifindex: zone } : {}),
    });
    if (err !== 0) st.oerrors++;
    else st.opackets++;
    return err;
  }

  // ------------------------------------------------------ user requests

  private pcbOf(so: Socket): InPcb | null {
    return so.pcb as InPcb | null;
  }

  private usrreqs(): ProtoUserReqs {
    const table = this.table;
    const layer = this.layer;
    const pcbOf = (so: Socket) => this.pcbOf(so);
    return {
      attach: (so) => {
        if (so.pcb !== null) return Errno.EISCONN;
        const err = soReserve(so, layer.tunables.udpSendspace, layer.tunables.udpRecvspace);
        if (err !== 0) return err;
        table.alloc(so);
        return 0;
      },
      detach: (so) => {
        const inp = pcbOf(so);
        if (inp === null) return;
        ipMoptFree(inp);
        in6MoptFree(inp);
        table.detach(inp);
      },
      bind: (so, nam) => {
        const inp = pcbOf(so);
        return inp === null ? Errno.EINVAL : table.bind(inp, nam);
      },
      listen: () => Errno.EOPNOTSUPP,
      connect: (so, nam) => {
        const inp = pcbOf(so);
        if (inp === null) return Errno.EINVAL;
        if (!ipIsUnspecified(inp.faddr)) return Errno.EISCONN;
        const err = table.connect(inp, nam);
        if (err === 0) soIsConnected(so);
        return err;
      },
      disconnect: (so) => {
        const inp = pcbOf(so);
        if (inp === null || ipIsUnspecified(inp.faddr)) return Errno.ENOTCONN;
        // udp_disconnect: the local address goes back to ANY; the port stays.
        table.disconnect(inp, true);
        so.state &= ~SS.ISCONNECTED;
        so.notify();
        return 0;
      },
      accept: () => Errno.EOPNOTSUPP,
      shutdown: () => 0,
      abort: (so) => {
        const inp = pcbOf(so);
        if (inp === null) return;
        ipMoptFree(inp);
        in6MoptFree(inp);
        table.detach(inp);
      },
      send: (so, m, len, nam) => this.send(so, m, len, nam),
      rcvd: () => {},
      sockaddr: (so) => {
        const inp = pcbOf(so);
        return inp === null ? sockaddrIn(0, 0) : inp.table.sockaddrOf(inp, inp.laddr, inp.lport);
      },
      peeraddr: (so) => {
        const inp = pcbOf(so);
        return inp === null || ipIsUnspecified(inp.faddr) ? null : inp.table.sockaddrOf(inp, inp.faddr, inp.fport);
      },
      ctloutputSet: (so, level, name, value) => this.setopt(so, level, name, value),
      ctloutputGet: (so, level, name) => this.getopt(so, level, name),
    };
  }

  /** `udp_send`: pick the destination and source, bind if needed, output. Consumes `m`. */
  private send(so: Socket, m: Mbuf | null, len: number, nam: Sockaddr | null): number {
    const inp = this.pcbOf(so);
    if (inp === null) {
      mFreem(m);
      return Errno.EINVAL;
    }
    let dst: IpAddress;
    let dport: number;
    let src: IpAddress;
    let zone: number;
    if (nam !== null) {
      if (!ipIsUnspecified(inp.faddr)) {
        mFreem(m);
        return Errno.EISCONN;
      }
      if (nam.port === 0) {
        mFreem(m);
        return Errno.EADDRNOTAVAIL;
      }
      dst = typeof nam.addr === 'number' ? nam.addr >>> 0 : nam.addr;
      if (typeof dst !== 'number' && dst.isV4Mapped && so.proto.domain === AF.INET6) {
        // A dual-stack socket sends IPv4 to a v4-mapped address, unless it is
        // v6-only or bound to a real IPv6 address (Linux: ENETUNREACH).
        if (inp.v6only || (typeof inp.laddr !== 'number' && !ipIsUnspecified(inp.laddr))) {
          mFreem(m);
          return Errno.ENETUNREACH;
        }
        dst = dst.w3 >>> 0;
      } else if (familyOf(dst) !== inp.family) {
        mFreem(m);
        return Errno.EAFNOSUPPORT;
      }
      if (ipIsUnspecified(dst)) dst = inp.family.loopback;
      dport = nam.port;
      zone = zoneOf(nam, dst);
      // IPV6_MULTICAST_IF: a group named without a zone leaves by the socket's interface (RFC 3493 5.2).
      if (zone === 0 && typeof dst !== 'number' && dst.isMulticast) zone = inp.mcastIfindex6;
      if (inp.lport === 0) {
        const err = this.table.bind(inp, null);
        if (err !== 0) {
          mFreem(m);
          return err;
        }
      }
      if (!ipIsUnspecified(inp.laddr)) src = inp.laddr;
      else if (typeof dst === 'number' && ipv4IsMulticast(dst) && (inp.moptions?.ifaddr ?? 0) !== 0) {
        src = inp.moptions!.ifaddr; // in_pcbladdr: IP_MULTICAST_IF names the source too
      } else {
        const s = this.layer.host.ip.selectSource(dst, zone);
        if (s === null) {
          mFreem(m);
          this.stats.oerrors++;
          return Errno.ENETUNREACH;
        }
        src = typeof s === 'number' ? s >>> 0 : s;
      }
    } else {
      if (ipIsUnspecified(inp.faddr)) {
        mFreem(m);
        return Errno.ENOTCONN;
      }
      dst = inp.faddr;
      dport = inp.fport;
      src = inp.laddr;
      zone = inp.zone;
    }
    return this.output(inp, m, len, dst, dport, src, zone);
  }

  private setopt(so: Socket, level: number, name: number, value: SockoptValue): number {
    const inp = this.pcbOf(so);
    if (inp === null) return Errno.EINVAL;
    if (level === IPPROTO.IPV6) return in6SetOpt(inp, name, value);
    if (level !== IPPROTO.IP) return Errno.ENOPROTOOPT;
    if (isIpMcastOpt(name)) return ipMoptSet(inp, name, value);
    if (typeof value !== 'number' || !Number.isInteger(value)) return Errno.EINVAL;
    switch (name) {
      case IP_OPT.TTL:
        if (value < -1 || value > 255 || value === 0) return Errno.EINVAL;
        inp.ttl = value === -1 ? 0 : value;
        return 0;
      case IP_OPT.TOS:
        if (value < 0 || value > 255) return Errno.EINVAL;
        inp.tos = value;
        return 0;
      default:
        return Errno.ENOPROTOOPT;
    }
  }

  private getopt(so: Socket, level: number, name: number): SockoptValue | { errno: number } {
    const inp = this.pcbOf(so);
    if (inp === null) return { errno: Errno.EINVAL };
    if (level === IPPROTO.IPV6) return in6GetOpt(inp, name);
    if (level !== IPPROTO.IP) return { errno: Errno.ENOPROTOOPT };
    if (isIpMcastOpt(name)) return ipMoptGet(inp, name);
    switch (name) {
      case IP_OPT.TTL:
        return inp.ttl !== 0 ? inp.ttl : 64;
      case IP_OPT.TOS:
        return inp.tos;
      default:
        return { errno: Errno.ENOPROTOOPT };
    }
  }
}
