/**
 * Test harness for TCP: a minimal IPv4 host (the `InetHost` seam the socket
 * layer and TCP need) in two flavours:
 *
 * - {@link Channel}: one stack whose IP output is captured segment by
 *   segment; the test injects crafted segments and asserts on exactly what
 *   comes back (gVisor `checker.TCP(...)` style), on a ManualClock;
 * - {@link WirePair}: two stacks joined by a `MemWire` (with its fault
 *   injector), framing segments as Ethernet + IPv4 the way a driver would.
 *
 * The real `Stack` (net/, engineer 7) can replace `WireHost` once it lands:
 * TCP only sees `InetHost`.
 */
import { createHash, type Hash } from 'node:crypto';
import { expect } from 'chai';
import { ManualClock, type Clock } from '../../src/kern/clock.js';
import { Sysctl } from '../../src/kern/sysctl.js';
import { MemWire, type MemWireLink } from '../../src/link/memwire.js';
import type { FaultConfig } from '../../src/link/faults.js';
import { ClusterPool, mFreem, mFromBytes, mToBytes, type Mbuf } from '../../src/mbuf/index.js';
import type { IpOutput, IpOutputOptions, IpPacketInfo, TransportProtocol } from '../../src/net/protosw.js';
import { SOCK, AF_INET } from '../../src/socket/constants.js';
import type { InetHost } from '../../src/socket/host.js';
import { SocketLayer } from '../../src/socket/layer.js';
import { sockaddrIn } from '../../src/socket/sockaddr.js';
import type { Socket } from '../../src/socket/socket.js';
import { SocketTable } from '../../src/socket/table.js';
import { TcpFlag, TcpPacket, TcpRepr, tcpFlagsToString } from '../../src/wire/tcp.js';
import { TcpProtocol, type TcpTunables } from '../../src/transport/tcp/index.js';
import { createNetStack, type NetStack } from '../../src/netstack.js';
import { ipv4ToString, macToString } from '../../src/wire/address.js';

export const A = 0x0a000001; // 10.0.0.1
export const B = 0x0a000002; // 10.0.0.2
export const { SYN, ACK, FIN, RST, PSH } = TcpFlag;

/** A segment the stack sent, parsed. */
export interface Captured {
  src: number;
  dst: number;
  repr: TcpRepr;
  payload: Uint8Array;
}

/** An InetHost over a pluggable IP output. */
class BaseHost implements InetHost {
  readonly pool: ClusterPool;
  readonly clock: Clock;
  readonly sysctl = new Sysctl();
  readonly addr: number;
  readonly localAddrs: ReadonlySet<number>;
  mtu: number;
  protos = new Map<number, TransportProtocol>();
  readonly ip: IpOutput;

  constructor(addr: number, clock: Clock, mtu: number, nmbclusters: number, out: (m: Mbuf, o: IpOutputOptions) => number) {
    this.addr = addr;
    this.localAddrs = new Set([addr]);
    this.clock = clock;
    this.mtu = mtu;
    this.pool = new ClusterPool({ nmbclusters, mclnum: 16, nmbufs: nmbclusters * 4 });
    this.ip = {
      output: out,
      selectSource: () => this.addr,
      mtuTowards: () => this.mtu,
    };
  }
  isLocalAddress(a: number): boolean {
    return a === this.addr;
  }
  isBroadcastAddress(a: number): boolean {
    return a === 0xffffffff;
  }
  registerProtocol(tp: TransportProtocol): void {
    this.protos.set(tp.proto, tp);
  }
}

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  mtu?: number;
  /** ManualClock start, ms (default 1000). */
  clockStart?: number;
  tun?: Partial<TcpTunables>;
}

/** One stack on a ManualClock whose output the test reads segment by segment. */
export class Channel {
  readonly clock: ManualClock;
  readonly host: BaseHost;
  readonly layer: SocketLayer;
  readonly tcp: TcpProtocol;
  readonly table: SocketTable;
  readonly sent: Captured[] = [];
  /** Peer's address/port used by the helpers. */
  peer = B;
  peerPort = 40000;
  localPort = 80;

  constructor(opts: ChannelOptions = {}) {
    this.clock = new ManualClock(opts.clockStart ?? 1000);
    this.host = new BaseHost(A, this.clock, opts.mtu ?? 1500, 4096, (m, o) => this.capture(m, o));
    this.layer = new SocketLayer(this.host);
    this.tcp = new TcpProtocol(this.host, this.layer, opts.tun ?? {});
    this.table = new SocketTable(this.layer);
  }

  private capture(m: Mbuf, o: IpOutputOptions): number {
    const bytes = mToBytes(m);
    mFreem(m);
    const p = TcpPacket.newChecked(bytes);
    if (typeof p === 'string') throw new Error(`stack sent a bad segment: ${p}`);
    const r = TcpRepr.parse(p, o.src, o.dst, true);
    if (typeof r === 'string') throw new Error(`stack sent a bad segment: ${r}`);
    this.sent.push({ src: o.src as number, dst: o.dst as number, repr: r, payload: bytes.subarray(p.headerLen) });
    return 0;
  }

  /**
   * Inject a segment from the peer. Fields default to the peer's port pair, ACK off, window 65535.
   * `rawOptions` replaces the options the repr would emit with these bytes
   * (padded with EOL to a multiple of 4): for malformed options.
   */
  inject(seg: Partial<TcpRepr> & { payload?: Uint8Array; badChecksum?: boolean; rawOptions?: Uint8Array }): void {
    const payload = seg.payload ?? new Uint8Array(0);
    const r: TcpRepr = {
      srcPort: this.peerPort,
      dstPort: this.localPort,
      seq: 0,
      ack: 0,
      flags: 0,
      window: 65535,
      urgent: 0,
      mss: null,
      windowScale: null,
      sackPermitted: false,
      sack: null,
      tsVal: null,
      tsEcr: 0,
      ...seg,
      payloadLen: payload.length,
    };
    let buf: Uint8Array;
    if (seg.rawOptions !== undefined) {
      buf = segmentWithRawOptions(r, seg.rawOptions, payload, this.peer, A);
    } else {
      const hlen = TcpRepr.headerLen(r);
      buf = new Uint8Array(hlen + payload.length);
      buf.set(payload, hlen);
      TcpRepr.emit(r, buf, 0, this.peer, A, 'fill');
    }
    if (seg.badChecksum) buf[16] ^= 0xff;
    // As a driver's receive path: it may use the pool's reserve.
    const m = mFromBytes(this.host.pool, buf, { reserve: true })!;
    const info: IpPacketInfo = {
      src: this.peer,
      dst: A,
      proto: 6,
      ttl: 64,
      tos: 0,
      ifname: 'ch0',
      ifindex: 0,
      broadcast: false,
      multicast: false,
    };
    this.tcp.input(m, info);
  }

  /** Take the next segment the stack sent and check it against `want`. */
  expectSegment(want: SegMatch, why = ''): Captured {
    const c = this.sent.shift();
    expect(c, `expected a segment ${describe(want)} ${why}`).to.not.equal(undefined);
    matchSegment(c!, want, why);
    return c!;
  }

  /** Assert that nothing was sent (since the last expect). */
  expectNone(why = ''): void {
    expect(this.sent.map((c) => summary(c)), `no segment expected ${why}`).to.deep.equal([]);
  }

  /** Drop everything captured so far. */
  clearSent(): void {
    this.sent.length = 0;
  }

  /** A listening socket on `localPort`; returns its fd. */
  listen(backlog = 16): number {
    const { fd } = this.table.socket(AF_INET, SOCK.STREAM, 0);
    expect(this.table.bind(fd, sockaddrIn(0, this.localPort))).to.equal(0);
    expect(this.table.listen(fd, backlog)).to.equal(0);
    return fd;
  }

  /** The socket behind an fd. */
  so(fd: number): Socket {
    return this.table.get(fd)!;
  }
}

/**
 * The bytes of a TCP segment from `src` to `dst` with `r`'s header fields
 * and exactly `options` (EOL-padded to a multiple of 4) in place of `r`'s
 * options; checksum filled.
 */
export function segmentWithRawOptions(r: TcpRepr, options: Uint8Array, payload: Uint8Array, src: number, dst: number): Uint8Array {
  const bare: TcpRepr = { ...r, mss: null, windowScale: null, sackPermitted: false, sack: null, tsVal: null, tsEcr: 0, payloadLen: 0 };
  const olen = (options.length + 3) & ~3;
  const hlen = 20 + olen;
  const buf = new Uint8Array(hlen + payload.length);
  TcpRepr.emit(bare, buf, 0, src, dst, 'defer');
  buf.set(options, 20);
  buf[12] = (hlen >>> 2) << 4;
  buf.set(payload, hlen);
  new TcpPacket(buf).fillChecksum(src, dst);
  return buf;
}

/** What a captured segment must look like; absent fields are not checked. */
export interface SegMatch {
  flags?: number;
  seq?: number;
  ack?: number;
  window?: number;
  len?: number;
  payload?: Uint8Array;
  options?: {
    mss?: number | null;
    windowScale?: number | null;
    sackPermitted?: boolean;
    ts?: boolean;
    tsEcr?: number;
    sack?: number[] | null;
  };
}

function describe(w: SegMatch): string {
  return JSON.stringify({ ...w, flags: w.flags === undefined ? undefined : tcpFlagsToString(w.flags), payload: undefined });
}

export function summary(c: Captured): string {
  const r = c.repr;
  return `${tcpFlagsToString(r.flags)} seq=${r.seq} ack=${r.ack} win=${r.window} len=${r.payloadLen}`;
}

/** The checker: every given field must match. */
export function matchSegment(c: Captured, w: SegMatch, why = ''): void {
  const r = c.repr;
  const ctx = `${summary(c)} ${why}`;
  if (w.flags !== undefined) expect(tcpFlagsToString(r.flags), `flags of ${ctx}`).to.equal(tcpFlagsToString(w.flags));
  if (w.seq !== undefined) expect(r.seq, `seq of ${ctx}`).to.equal(w.seq >>> 0);
  if (w.ack !== undefined) expect(r.ack, `ack of ${ctx}`).to.equal(w.ack >>> 0);
  if (w.window !== undefined) expect(r.window, `window of ${ctx}`).to.equal(w.window);
  if (w.len !== undefined) expect(r.payloadLen, `len of ${ctx}`).to.equal(w.len);
  if (w.payload !== undefined) expect([...c.payload], `payload of ${ctx}`).to.deep.equal([...w.payload]);
  const o = w.options;
  if (o !== undefined) {
    if (o.mss !== undefined) expect(r.mss, `mss of ${ctx}`).to.equal(o.mss);
    if (o.windowScale !== undefined) expect(r.windowScale, `wscale of ${ctx}`).to.equal(o.windowScale);
    if (o.sackPermitted !== undefined) expect(r.sackPermitted, `sackOK of ${ctx}`).to.equal(o.sackPermitted);
    if (o.ts !== undefined) expect(r.tsVal !== null, `timestamps of ${ctx}`).to.equal(o.ts);
    if (o.tsEcr !== undefined) expect(r.tsEcr, `tsEcr of ${ctx}`).to.equal(o.tsEcr);
    if (o.sack !== undefined) expect(r.sack, `sack of ${ctx}`).to.deep.equal(o.sack);
  }
}

// ---------------------------------------------------------------------------
// Two stacks on a MemWire.

/**
 * One real stack ({@link createNetStack}: ARP, IPv4, ICMP, sockets, UDP, TCP)
 * on a MemWire link, with the handles the TCP tests use.
 */
export class WireHost {
  readonly net: NetStack;
  readonly layer: SocketLayer;
  readonly tcp: TcpProtocol;
  readonly table: SocketTable;
  readonly pool: ClusterPool;

  constructor(
    readonly addr: number,
    clock: Clock,
    readonly link: MemWireLink,
    nmbclusters: number,
    tun: Partial<TcpTunables>,
  ) {
    this.net = createNetStack({ clock, nmbclusters, mclnum: 16, tcp: tun });
    this.net.stack.attachLink(link, { addrs: [`${ipv4ToString(addr)}/24`] });
    this.layer = this.net.sockets;
    this.tcp = this.net.tcp;
    this.table = this.net.newProcess();
    this.pool = this.net.stack.pool;
  }

  /** IPv4 packets the network layer refused (bad checksum, too short, ...): corruption ends up here or in TCP's rcvbadsum. */
  get ipDrops(): number {
    const st = this.net.stack.ipstat as unknown as Record<string, number>;
    return st.badsum! + st.tooshort! + st.toosmall! + st.badhlen! + st.badlen! + st.badvers! + st.martians!;
  }
}

/** Options of a {@link WirePair}. */
export interface WirePairOptions {
  mtu?: number;
  faults?: FaultConfig | null;
  seed?: number;
  nmbclusters?: number;
  tun?: Partial<TcpTunables>;
  clock?: Clock;
  /** Deliver unicast frames only to their destination (a switch); default a hub. */
  switched?: boolean;
  /** The wire offers TSO, checksum offload and large receive (`MemWireOptions.offloads`). */
  offloads?: boolean;
}

/** Two stacks, 10.0.0.1 and 10.0.0.2, on one MemWire. */
export class WirePair {
  readonly clock: Clock;
  readonly wire: MemWire;
  readonly a: WireHost;
  readonly b: WireHost;

  constructor(opts: WirePairOptions = {}) {
    this.clock = opts.clock ?? new ManualClock(1000);
    const mtu = opts.mtu ?? 1500;
    this.wire = new MemWire({ clock: this.clock, faults: opts.faults ?? null, seed: opts.seed ?? 1, switched: opts.switched ?? false, offloads: opts.offloads ?? false });
    const n = opts.nmbclusters ?? 16384;
    const la = this.wire.attachLink({ name: 'wa', mtu, queueLimit: 1 << 16 });
    const lb = this.wire.attachLink({ name: 'wb', mtu, queueLimit: 1 << 16 });
    this.a = new WireHost(A, this.clock, la, n, opts.tun ?? {});
    this.b = new WireHost(B, this.clock, lb, n, opts.tun ?? {});
    // Resolve each other once, as a first exchange would; the tests are about TCP.
    this.a.net.stack.arpAdd(ipv4ToString(B), macToString(lb.mac));
    this.b.net.stack.arpAdd(ipv4ToString(A), macToString(la.mac));
  }

  /** Close both stacks (every socket and timer); pools end all-free. */
  close(): void {
    this.a.net.close();
    this.b.net.close();
    this.wire.close();
  }

  /** Deliver frames until the wire is quiet (bounded); returns frames flushed rounds. */
  flush(maxRounds = 100_000): number {
    let i = 0;
    for (; i < maxRounds; i++) {
      const before = this.wire.statsRef().delivered;
      this.wire.flush();
      if (this.wire.statsRef().delivered === before) break;
    }
    return i;
  }
}

// ---------------------------------------------------------------------------
// Driving connections between the two stacks of a WirePair.


/** A connected pair of sockets, A side and B side. */
export interface ConnPair {
  aFd: number;
  bFd: number;
  a: Socket;
  b: Socket;
}

/** Listen on B:`port` (once) and connect from A; resolves when both ends are ESTABLISHED. */
export async function connectPair(pair: WirePair, port: number, lfd?: number): Promise<ConnPair & { lfd: number }> {
  const { a, b } = pair;
  if (lfd === undefined) {
    lfd = b.table.socket(AF_INET, SOCK.STREAM, 0).fd;
    expect(b.table.bind(lfd, sockaddrIn(0, port))).to.equal(0);
    expect(b.table.listen(lfd, 1024)).to.equal(0);
  }
  const aFd = a.table.socket(AF_INET, SOCK.STREAM, 0).fd;
  const p = a.table.connect(aFd, sockaddrIn(B, port));
  const clock = pair.clock as ManualClock;
  for (let i = 0; i < 10_000; i++) {
    pair.flush();
    if (b.table.get(lfd)!.q.length > 0) break;
    clock.advance(1);
  }
  expect(await p).to.equal(0);
  const acc = await b.table.accept(lfd);
  expect(acc.errno).to.equal(0);
  return { aFd, bFd: acc.fd, a: a.table.get(aFd)!, b: b.table.get(acc.fd)!, lfd };
}

/** One direction of a transfer driven synchronously through the socket buffers. */
export class Flow {
  sent = 0;
  received = 0;
  /** Received bytes that differ from the pattern at their stream offset (`check: 'pattern'` only). */
  corrupt = 0;
  readonly txHash: Hash = createHash('sha256');
  readonly rxHash: Hash = createHash('sha256');
  /**
   * @param check `'sha256'` (default): both ends feed {@link Flow.txHash} /
   *   {@link Flow.rxHash}; `'pattern'`: every received byte is compared with
   *   the pattern at its stream offset (counted in {@link Flow.corrupt}), a
   *   native compare at memory speed where sha256 costs about 1 ms per MiB
   *   per end — the benchmarks' form, so that the figure is the stacks'.
   */
  constructor(
    readonly from: Socket,
    readonly to: Socket,
    readonly total: number,
    readonly pattern: Uint8Array,
    readonly check: 'sha256' | 'pattern' = 'sha256',
  ) {}

  get done(): boolean {
    return this.received >= this.total;
  }

  /** Move what fits; returns whether anything moved. */
  step(): boolean {
    let moved = false;
    const so = this.from;
    const space = so.snd.space();
    if (this.sent < this.total && space >= 16384) {
      const n = Math.min(space, this.total - this.sent, 256 * 1024);
      const po = this.sent % this.pattern.length;
      const chunk = this.pattern.subarray(po, po + Math.min(n, this.pattern.length - po));
      const m = mFromBytes(so.layer.host.pool, chunk);
      if (m !== null) {
        if (this.check === 'sha256') this.txHash.update(chunk);
        // A plain check: chai's expect here was 3 % of a bulk transfer's profile.
        const err = so.proto.usrreqs.send(so, m, chunk.length, null, 0);
        if (err !== 0) throw new Error(`Flow: send failed with errno ${err}`);
        this.sent += chunk.length;
        moved = true;
      }
    }
    const to = this.to;
    const cc = to.rcv.cc;
    if (cc > 0) {
      let pos = this.received;
      for (let n = to.rcv.mb; n !== null; n = n.next) {
        const bytes = n.data.subarray(n.off, n.off + n.len);
        if (this.check === 'sha256') this.rxHash.update(bytes);
        else if (!matchesPattern(this.pattern, pos, bytes)) this.corrupt += bytes.length;
        pos += n.len;
      }
      to.rcv.drop(cc);
      this.received += cc;
      to.proto.usrreqs.rcvd(to, 0);
      moved = true;
    }
    return moved;
  }
}

/** Whether `bytes` equal the endlessly repeated `pat` from stream offset `pos` on (a native compare per piece). */
export function matchesPattern(pat: Uint8Array, pos: number, bytes: Uint8Array): boolean {
  let i = 0;
  let p = pos % pat.length;
  while (i < bytes.length) {
    const n = Math.min(bytes.length - i, pat.length - p);
    if (Buffer.compare(bytes.subarray(i, i + n), pat.subarray(p, p + n)) !== 0) return false;
    i += n;
    p = 0;
  }
  return true;
}

/** A pseudo-random pattern (deterministic) of `len` bytes. */
export function pattern(len: number, seed = 7): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Run flows to completion: move data, flush the wire, and when nothing
 * moves advance the ManualClock (timers: delayed ACK, RTO, persist).
 * Bounded by `maxVirtualMs` of virtual time and `maxIters` iterations.
 * @returns virtual milliseconds spent.
 */
export function runFlows(pair: WirePair, flows: Flow[], maxVirtualMs = 600_000, maxIters = 50_000_000): number {
  const clock = pair.clock as ManualClock;
  const t0 = clock.now();
  for (let i = 0; i < maxIters; i++) {
    let moved = false;
    for (const f of flows) if (f.step()) moved = true;
    pair.flush();
    if (flows.every((f) => f.done)) break;
    if (!moved) {
      if (clock.now() - t0 > maxVirtualMs) break;
      clock.advance(1);
    }
  }
  return clock.now() - t0;
}
