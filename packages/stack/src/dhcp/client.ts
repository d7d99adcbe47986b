/**
 * A DHCPv4 client (RFC 2131) for one interface of a stack — what
 * `rump.dhcpclient` is to a rump kernel: it gets an address, a netmask, a
 * default router and a lease, then keeps the lease (RENEWING at T1 by
 * unicast to the server, REBINDING at T2 by broadcast) and gives the
 * address back to the stack's configuration when the lease runs out.
 *
 * Like BSD's dhclient, messages sent before the interface has an address
 * go out as whole frames built here (Ethernet broadcast, IPv4 0.0.0.0 to
 * 255.255.255.255, UDP 68 to 67) straight to the link; once bound, renewal
 * and rebinding use an ordinary UDP socket of the stack. Replies are read
 * from a UDP socket bound to 0.0.0.0:68: the broadcast flag is set in
 * every request, so servers answer by broadcast (RFC 2131 4.1) and the
 * stack delivers them before it has an address.
 *
 * State (RFC 2131 figure 5): INIT -> SELECTING -> REQUESTING -> BOUND ->
 * RENEWING -> REBINDING, back to INIT on a NAK or when the lease expires.
 * Not done: INIT-REBOOT (no lease is kept across restarts), the ARP probe
 * of the offered address before use (RFC 2131 4.4.1 SHOULD; RFC 5227),
 * DHCPINFORM, relays.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { TimerHandle } from '../kern/clock.js';
import { makeUio, BufferCopySink, BufferCopySource } from '../mbuf/index.js';
import { ifOutputFrame } from '../net/ethernet.js';
import type { Ifnet } from '../net/ifnet.js';
import { AF_INET, SO, SOCK, SOL_SOCKET, MSG } from '../socket/constants.js';
import { sockaddrIn, type SockaddrIn } from '../socket/sockaddr.js';
import type { SocketTable } from '../socket/table.js';
import type { Stack } from '../stack.js';
import { ipv4ToString } from '../wire/address.js';
import {
  BootpOp,
  DHCP_CLIENT_PORT,
  DHCP_FLAG_BROADCAST,
  DHCP_SERVER_PORT,
  DhcpOpt,
  DhcpRepr,
  DhcpType,
  dhcpU32,
} from '../wire/dhcp.js';
import { ETHERTYPE_IPV4, EthernetRepr, ETHERNET_HEADER_LEN, BROADCAST_MAC } from '../wire/index.js';
import { IPV4_HEADER_LEN, IpProto, Ipv4Repr } from '../wire/ipv4.js';
import { UDP_HEADER_LEN, UdpRepr } from '../wire/udp.js';

/** Client states (RFC 2131 figure 5). */
export type DhcpState = 'INIT' | 'SELECTING' | 'REQUESTING' | 'BOUND' | 'RENEWING' | 'REBINDING' | 'STOPPED';

/** A lease as the client holds it. */
export interface DhcpLease {
  /** The address and its prefix length. */
  addr: number;
  prefixLen: number;
  /** Default router (option 3), or null. */
  router: number | null;
  /** The server that granted it (option 54). */
  server: number;
  /** Lease, T1 and T2 in seconds. */
  leaseSecs: number;
  t1Secs: number;
  t2Secs: number;
  /** DNS servers offered (option 6), for the record. */
  dns: number[];
  /** When it was granted or last extended (clock ms). */
  at: number;
}

/** Counters of one client (`net.inet.dhcp.stats` when registered). */
export interface DhcpStats {
  discovers: number;
  offers: number;
  requests: number;
  acks: number;
  naks: number;
  renewals: number;
  rebinds: number;
  expirations: number;
  /** Messages that were not for us or did not parse (wrong xid, chaddr, op, cookie...). */
  ignored: number;
  /** Sends that failed (no buffer, the link refused). */
  senderr: number;
}

/** Options of {@link DhcpClient}. */
export interface DhcpClientOptions {
  /** The descriptor table (a "process" of the stack) whose UDP sockets the client uses. */
  table: SocketTable;
  /** Hostname to send (option 12); none when absent. */
  hostname?: string;
  /** First retransmission delay in ms (RFC 2131 4.1: 4 s, doubled to 64 s, ±1 s). */
  retransmitMs?: number;
  /** Register counters under this sysctl prefix (default `net.inet.dhcp.<ifname>.stats`; null: none). */
  sysctlPrefix?: string | null;
}

/** What {@link DhcpClient} reports (its `'event'` listeners get these). */
export type DhcpEvent =
  | { type: 'bound' | 'renewed' | 'rebound'; lease: DhcpLease }
  | { type: 'expired' | 'nak'; addr: number }
  | { type: 'state'; from: DhcpState; to: DhcpState };

const MAX_RETRANSMIT_MS = 64_000;

function prefixFromMask(mask: number): number | null {
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return null; // not contiguous ones
  return 32 - Math.log2(inv + 1);
}

/** The classful prefix (RFC 2131 leaves a missing mask to the client; the old default). */
function classfulPrefix(a: number): number {
  return a >>> 31 === 0 ? 8 : a >>> 30 === 2 ? 16 : 24;
}

/**
 * A DHCP client on one interface. Emits `'event'` ({@link DhcpEvent}).
 * Owns one UDP socket of `opts.table` and its timers until {@link stop}.
 */
export class DhcpClient extends EventEmitter {
  /** Where the client is in RFC 2131's state machine. */
  state: DhcpState = 'INIT';
  /** The lease held (BOUND, RENEWING, REBINDING), else null. */
  lease: DhcpLease | null = null;
  /** Counters. */
  readonly stats: DhcpStats = {
    discovers: 0, offers: 0, requests: 0, acks: 0, naks: 0, renewals: 0, rebinds: 0, expirations: 0, ignored: 0, senderr: 0,
  };
  private readonly ifp: Ifnet;
  private readonly table: SocketTable;
  private fd = -1;
  private xid = 0;
  private offer: { addr: number; server: number } | null = null;
  private timer: TimerHandle | null = null;
  private leaseTimers: TimerHandle[] = [];
  private retransmitMs: number;
  private readonly baseRetransmitMs: number;
  private started = 0;
  private readonly rx = new Uint8Array(1500);

  /**
   * @param stack the stack whose interface `ifname` is configured.
   * @throws StackError ENODEV when there is no such interface.
   */
  constructor(
    private readonly stack: Stack,
    readonly ifname: string,
    private readonly opts: DhcpClientOptions,
  ) {
    super();
    this.ifp = stack.ifnet(ifname);
    this.table = opts.table;
    this.baseRetransmitMs = opts.retransmitMs ?? 4000;
    this.retransmitMs = this.baseRetransmitMs;
    const prefix = opts.sysctlPrefix === undefined ? `net.inet.dhcp.${ifname}.stats` : opts.sysctlPrefix;
    if (prefix !== null) stack.sysctl.addStats(prefix, this.stats as unknown as Record<string, number>);
  }

  /**
   * Open the socket and start with a DISCOVER.
   * @throws StackError when the UDP socket cannot be opened or bound (port 68 in use: EADDRINUSE).
   */
  start(): void {
    if (this.fd >= 0) return;
    const s = this.table.socket(AF_INET, SOCK.DGRAM, 0);
    if (s.errno !== 0) throw new Error(`dhcp: socket: errno ${s.errno}`);
    this.fd = s.fd;
    this.table.setsockopt(this.fd, SOL_SOCKET, SO.BROADCAST, 1);
    this.table.setsockopt(this.fd, SOL_SOCKET, SO.REUSEADDR, 1);
    const e = this.table.bind(this.fd, sockaddrIn(0, DHCP_CLIENT_PORT));
    if (e !== 0) {
      void this.table.close(this.fd);
      this.fd = -1;
      throw new Error(`dhcp: bind 0.0.0.0:68: errno ${e}`);
    }
    this.started = this.stack.clock.now();
    void this.receiveLoop(this.fd);
    this.discover();
  }

  /** Stop: timers off, socket closed. The address stays configured (as dhclient leaves it); the lease is not released. */
  async stop(): Promise<void> {
    this.setState('STOPPED');
    this.clearTimer();
    this.clearLeaseTimers();
    const fd = this.fd;
    this.fd = -1;
    if (fd >= 0) await this.table.close(fd);
  }

  // ------------------------------------------------------------ sending

  private discover(): void {
    this.setState('SELECTING');
    this.xid = randomBytes(4).readUInt32BE(0);
    this.offer = null;
    this.retransmitMs = this.baseRetransmitMs;
    this.sendDiscover();
  }

  private sendDiscover(): void {
    this.stats.discovers++;
    this.broadcastFrame(this.message(DhcpType.DISCOVER, 0, null, null));
    this.retransmit(() => this.sendDiscover());
  }

  private sendSelectingRequest(): void {
    const o = this.offer!;
    this.stats.requests++;
    this.broadcastFrame(this.message(DhcpType.REQUEST, 0, o.addr, o.server));
    this.retransmit(() => this.sendSelectingRequest(), () => this.discover());
  }

  /** Back-off (RFC 2131 4.1): 4, 8, 16, 32, 64 s with ±1 s of jitter; `giveUp` after the 64 s one. */
  private retransmit(again: () => void, giveUp?: () => void): void {
    this.clearTimer();
    const jitter = (Math.random() * 2 - 1) * Math.min(1000, this.retransmitMs / 4);
    const wait = this.retransmitMs + jitter;
    const last = this.retransmitMs >= MAX_RETRANSMIT_MS;
    this.retransmitMs = Math.min(this.retransmitMs * 2, MAX_RETRANSMIT_MS);
    this.timer = this.stack.clock.setTimeout(() => {
      this.timer = null;
      if (last && giveUp !== undefined) giveUp();
      else again();
    }, wait);
  }

  private message(type: number, ciaddr: number, requested: number | null, server: number | null): DhcpRepr {
    const options = new Map<number, Uint8Array>();
    options.set(DhcpOpt.MESSAGE_TYPE, Uint8Array.of(type));
    const mac = this.ifp.mac;
    options.set(DhcpOpt.CLIENT_ID, Uint8Array.of(1, ...mac));
    if (requested !== null) options.set(DhcpOpt.REQUESTED_IP, dhcpU32(requested));
    if (server !== null) options.set(DhcpOpt.SERVER_ID, dhcpU32(server));
    options.set(DhcpOpt.MAX_SIZE, Uint8Array.of(0x05, 0xdc)); // 1500
    options.set(DhcpOpt.PARAM_LIST, Uint8Array.of(DhcpOpt.SUBNET_MASK, DhcpOpt.ROUTER, DhcpOpt.DNS, DhcpOpt.LEASE_TIME, DhcpOpt.RENEWAL_T1, DhcpOpt.REBINDING_T2));
    if (this.opts.hostname !== undefined && this.opts.hostname.length > 0) {
      options.set(DhcpOpt.HOSTNAME, new TextEncoder().encode(this.opts.hostname.slice(0, 63)));
    }
    const secs = Math.min(0xffff, Math.floor((this.stack.clock.now() - this.started) / 1000));
    return {
      op: BootpOp.REQUEST, xid: this.xid, secs, flags: ciaddr === 0 ? DHCP_FLAG_BROADCAST : 0,
      ciaddr, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: mac.slice(0, 6), options,
    };
  }

  /**
   * Send from 0.0.0.0 before there is an address: the whole frame, built
   * here, straight to the link (dhclient's BPF write).
   */
  private broadcastFrame(msg: DhcpRepr): void {
    const dlen = DhcpRepr.bufferLen(msg);
    const ulen = UDP_HEADER_LEN + dlen;
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + ulen);
    EthernetRepr.emit({ dst: BROADCAST_MAC, src: this.ifp.mac, ethertype: ETHERTYPE_IPV4, vlanTci: null }, frame, 0);
    const ipOff = ETHERNET_HEADER_LEN;
    const uOff = ipOff + IPV4_HEADER_LEN;
    DhcpRepr.emit(msg, frame, uOff + UDP_HEADER_LEN);
    UdpRepr.emit({ srcPort: DHCP_CLIENT_PORT, dstPort: DHCP_SERVER_PORT, payloadLen: dlen }, frame, uOff, 0, 0xffffffff, 'fill');
    Ipv4Repr.emit(
      {
        src: 0, dst: 0xffffffff, protocol: IpProto.UDP, ttl: 64, dscp: 0, ecn: 0, ident: this.stack.ipId.next(0xffffffff),
        dontFrag: false, moreFrags: false, fragOffset: 0, payloadLen: ulen, options: null,
      },
      frame,
      ipOff,
    );
    if (!this.ifp.up || !ifOutputFrame(this.stack, this.ifp, frame)) this.stats.senderr++;
  }

  /** Send through the UDP socket (bound: renewal to the server, rebinding to the broadcast address). */
  private sendUdp(msg: DhcpRepr, to: number): void {
    const buf = new Uint8Array(DhcpRepr.bufferLen(msg));
    DhcpRepr.emit(msg, buf, 0);
    const fd = this.fd;
    if (fd < 0) return;
    void this.table
      .sendto(fd, makeUio([{ base: 0, len: buf.length }], 'write'), new BufferCopySource(buf), sockaddrIn(to, DHCP_SERVER_PORT), MSG.DONTWAIT)
      .then((r) => {
        if (r.errno !== 0) this.stats.senderr++;
      });
  }

  // ---------------------------------------------------------- receiving

  private async receiveLoop(fd: number): Promise<void> {
    // Bounded: ends when the socket is closed (stop) or after 1,000 failures in a row.
    for (let failures = 0; this.fd === fd && failures < 1000; ) {
      const r = await this.table.recvfrom(fd, makeUio([{ base: 0, len: this.rx.length }], 'read'), new BufferCopySink(this.rx), 0, true);
      if (this.fd !== fd) return;
      if (r.errno !== 0) {
        failures++;
        continue;
      }
      failures = 0;
      this.input(this.rx.subarray(0, r.bytes), r.addr as SockaddrIn | null);
    }
  }

  /** One received message. */
  private input(bytes: Uint8Array, _from: SockaddrIn | null): void {
    const m = DhcpRepr.parse(bytes);
    if (typeof m === 'string' || m.op !== BootpOp.REPLY || m.xid !== this.xid || !sameMac(m.chaddr, this.ifp.mac)) {
      this.stats.ignored++;
      return;
    }
    const type = DhcpRepr.type(m);
    const server = DhcpRepr.addr(m, DhcpOpt.SERVER_ID);
    if (type === DhcpType.OFFER && this.state === 'SELECTING') {
      if (server === null || m.yiaddr === 0) return void this.stats.ignored++;
      this.stats.offers++;
      this.offer = { addr: m.yiaddr, server };
      this.setState('REQUESTING');
      this.retransmitMs = this.baseRetransmitMs;
      this.sendSelectingRequest();
      return;
    }
    if (type === DhcpType.ACK && (this.state === 'REQUESTING' || this.state === 'RENEWING' || this.state === 'REBINDING')) {
      this.stats.acks++;
      this.acked(m, server);
      return;
    }
    if (type === DhcpType.NAK && (this.state === 'REQUESTING' || this.state === 'RENEWING' || this.state === 'REBINDING')) {
      this.stats.naks++;
      const addr = this.lease?.addr ?? this.offer?.addr ?? 0;
      this.emit('event', { type: 'nak', addr } satisfies DhcpEvent);
      this.unconfigure();
      this.discover();
      return;
    }
    this.stats.ignored++;
  }

  private acked(m: DhcpRepr, server: number | null): void {
    const leaseSecs = DhcpRepr.u32(m, DhcpOpt.LEASE_TIME) ?? 3600;
    const mask = DhcpRepr.addr(m, DhcpOpt.SUBNET_MASK);
    const prefixLen = (mask !== null ? prefixFromMask(mask) : null) ?? classfulPrefix(m.yiaddr);
    // T1 and T2 default to 0.5 and 0.875 of the lease (RFC 2131 4.4.5); keep T1 <= T2 <= lease.
    const t2Secs = Math.min(DhcpRepr.u32(m, DhcpOpt.REBINDING_T2) ?? leaseSecs * 0.875, leaseSecs);
    const t1Secs = Math.min(DhcpRepr.u32(m, DhcpOpt.RENEWAL_T1) ?? leaseSecs * 0.5, t2Secs);
    const dns = DhcpRepr.addrs(m, DhcpOpt.DNS);
    const lease: DhcpLease = {
      addr: m.yiaddr,
      prefixLen,
      router: DhcpRepr.addr(m, DhcpOpt.ROUTER),
      server: server ?? this.lease?.server ?? this.offer?.server ?? 0,
      leaseSecs, t1Secs, t2Secs, dns,
      at: this.stack.clock.now(),
    };
    const was = this.state;
    const old = this.lease;
    if (old !== null && (old.addr !== lease.addr || old.prefixLen !== lease.prefixLen)) this.unconfigure();
    this.lease = lease;
    if (this.lease !== null && (old === null || old.addr !== lease.addr || old.prefixLen !== lease.prefixLen)) this.configure(lease);
    else if (lease.router !== null && lease.router !== old?.router) this.setRouter(lease.router);
    this.clearTimer();
    this.setState('BOUND');
    this.scheduleLease(lease);
    const type = was === 'RENEWING' ? 'renewed' : was === 'REBINDING' ? 'rebound' : 'bound';
    this.emit('event', { type, lease } satisfies DhcpEvent);
  }

  // ------------------------------------------------------ configuration

  private configure(l: DhcpLease): void {
    this.stack.addAddress(this.ifname, `${ipv4ToString(l.addr)}/${l.prefixLen}`);
    if (l.router !== null) this.setRouter(l.router);
  }

  private setRouter(router: number): void {
    try {
      this.stack.setDefaultGateway(ipv4ToString(router));
    } catch {
      // A router off our subnet cannot be a gateway; the address still works on-link.
    }
  }

  private unconfigure(): void {
    const l = this.lease;
    this.lease = null;
    this.clearLeaseTimers();
    if (l === null) return;
    try {
      this.stack.removeAddress(this.ifname, ipv4ToString(l.addr));
    } catch {
      // already gone (an admin removed it)
    }
  }

  private scheduleLease(l: DhcpLease): void {
    this.clearLeaseTimers();
    const clock = this.stack.clock;
    this.leaseTimers.push(
      clock.setTimeout(() => this.renew(), l.t1Secs * 1000),
      clock.setTimeout(() => this.rebind(), l.t2Secs * 1000),
      clock.setTimeout(() => this.expire(), l.leaseSecs * 1000),
    );
  }

  /** T1 (RFC 2131 4.4.5): unicast REQUEST to the server; again at half the time left to T2, down to 60 s. */
  private renew(): void {
    const l = this.lease;
    if (l === null || this.state !== 'BOUND') return;
    this.setState('RENEWING');
    this.xid = randomBytes(4).readUInt32BE(0);
    const send = (): void => {
      if (this.state !== 'RENEWING' || this.lease === null) return;
      this.stats.renewals++;
      this.stats.requests++;
      this.sendUdp(this.message(DhcpType.REQUEST, l.addr, null, null), l.server);
      const left = l.at + l.t2Secs * 1000 - this.stack.clock.now();
      if (left / 2 >= 60_000) {
        this.clearTimer();
        this.timer = this.stack.clock.setTimeout(send, left / 2);
      }
    };
    send();
  }

  /** T2: broadcast REQUEST to any server; again at half the time left to expiry, down to 60 s. */
  private rebind(): void {
    const l = this.lease;
    if (l === null || (this.state !== 'BOUND' && this.state !== 'RENEWING')) return;
    this.clearTimer();
    this.setState('REBINDING');
    const send = (): void => {
      if (this.state !== 'REBINDING' || this.lease === null) return;
      this.stats.rebinds++;
      this.stats.requests++;
      this.sendUdp(this.message(DhcpType.REQUEST, l.addr, null, null), 0xffffffff);
      const left = l.at + l.leaseSecs * 1000 - this.stack.clock.now();
      if (left / 2 >= 60_000) this.timer = this.stack.clock.setTimeout(send, left / 2);
    };
    send();
  }

  /** The lease ran out: stop using the address (RFC 2131 4.4.5) and start over. */
  private expire(): void {
    const l = this.lease;
    if (l === null) return;
    this.stats.expirations++;
    this.clearTimer();
    this.unconfigure();
    this.emit('event', { type: 'expired', addr: l.addr } satisfies DhcpEvent);
    if (this.fd >= 0) this.discover();
  }

  private setState(to: DhcpState): void {
    if (this.state === to) return;
    const from = this.state;
    this.state = to;
    this.emit('event', { type: 'state', from, to } satisfies DhcpEvent);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.stack.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private clearLeaseTimers(): void {
    for (const t of this.leaseTimers) this.stack.clock.clearTimeout(t);
    this.leaseTimers = [];
  }
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
