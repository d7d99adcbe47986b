/**
 * Test fixtures for the socket layer: a fake stack (InetHost) whose IP layer
 * loops every packet straight back into the registered transport (as if
 * every destination were local), and a small stream protocol with flow
 * control, so the socket layer can be tested without IP or TCP.
 */
import { ManualClock } from '../../src/kern/clock.js';
import type { Clock } from '../../src/kern/clock.js';
import { Errno } from '../../src/kern/errno.js';
import { Sysctl } from '../../src/kern/sysctl.js';
import { ClusterPool, mCopym, mFreem, mLength, mToBytes } from '../../src/mbuf/index.js';
import type { CopySink, CopySource, Mbuf } from '../../src/mbuf/index.js';
import { makeUio } from '../../src/mbuf/index.js';
import { MSG, POLL, type Sockaddr, type SocketTable } from '../../src/socket/index.js';
import type { IpOutput, IpOutputOptions, TransportProtocol } from '../../src/net/protosw.js';
import {
  AF,
  INADDR_ANY,
  PR,
  SOCK,
  SocketLayer,
  sockaddrIn,
  soIsConnected,
  soReserve,
  soRwakeup,
  soWwakeup,
} from '../../src/socket/index.js';
import type { InetHost, ProtoUserReqs, SockaddrIn, Socket, SocketTunables } from '../../src/socket/index.js';

export const A1 = 0x0a000001; // 10.0.0.1
export const A2 = 0x0a000002; // 10.0.0.2 (ours too)
export const BCAST = 0x0a0000ff; // 10.0.0.255
export const FOREIGN = 0xc0a80001; // 192.168.0.1 (not ours)

/** One packet the fake IP layer was asked to send. */
export interface SentPacket {
  bytes: Uint8Array;
  opts: IpOutputOptions;
}

/** A fake stack: pool, clock, sysctl, and an IP layer that loops packets back. */
export class FakeHost implements InetHost {
  readonly pool: ClusterPool;
  readonly clock: Clock;
  readonly sysctl = new Sysctl();
  readonly mclnum: number;
  readonly addrs = new Set([A1, A2, 0x7f000001]);
  get localAddrs(): ReadonlySet<number> {
    return this.addrs;
  }
  readonly sent: SentPacket[] = [];
  readonly icmpErrors: Array<{ type: number; code: number; bytes: Uint8Array }> = [];
  /** Loop packets back into the transport (default true). */
  loop = true;
  /** Error the next outputs return (0: none). */
  failWith = 0;
  private readonly protos = new Map<number, TransportProtocol>();
  readonly ip: IpOutput;

  constructor(opts: { mclnum?: number; nmbclusters?: number; clock?: Clock } = {}) {
    this.mclnum = opts.mclnum ?? 1;
    this.pool = new ClusterPool({ mclbytes: 2048, nmbclusters: opts.nmbclusters ?? 1024, mclnum: this.mclnum });
    this.clock = opts.clock ?? new ManualClock();
    this.ip = {
      output: (m: Mbuf, o: IpOutputOptions): number => {
        if (this.failWith !== 0) {
          mFreem(m);
          return this.failWith;
        }
        this.sent.push({ bytes: mToBytes(m), opts: o });
        const tp = this.protos.get(o.proto);
        const bcast = o.dst === 0xffffffff || o.dst === BCAST;
        if (this.loop && tp !== undefined && (this.addrs.has(o.dst as number) || bcast)) {
          tp.input(m, {
            src: o.src,
            dst: o.dst,
            proto: o.proto,
            ttl: o.ttl ?? 64,
            tos: o.tos ?? 0,
            ifname: 'fake0',
            ifindex: 0,
            broadcast: bcast,
            multicast: false,
          });
        } else mFreem(m);
        return 0;
      },
      selectSource: (dst: number) => (dst === FOREIGN || this.addrs.has(dst) || dst === 0xffffffff || dst === BCAST ? A1 : null),
      mtuTowards: () => 1500,
    };
  }

  ifnetList(): { isBroadcast(a: number): boolean }[] {
    return [{ isBroadcast: (a: number) => a >>> 0 === BCAST || a >>> 0 === 0xffffffff }];
  }
  registerProtocol(tp: TransportProtocol): void {
    this.protos.set(tp.proto, tp);
  }
  icmpError(m: Mbuf, type: number, code: number): void {
    this.icmpErrors.push({ type, code, bytes: mToBytes(m) });
    mFreem(m);
  }
}

/** Make a layer over a fake host. */
export function fakeLayer(opts: { mclnum?: number; nmbclusters?: number; tunables?: Partial<SocketTunables> } = {}): {
  host: FakeHost;
  layer: SocketLayer;
} {
  const host = new FakeHost(opts);
  const layer = new SocketLayer(host, opts.tunables);
  return { host, layer };
}

/** A CopySource over one buffer that counts requests and can be made to fail or to answer late. */
export class CountingSource implements CopySource {
  requests = 0;
  bytes = 0;
  sizes: number[] = [];
  failAt = -1;
  delayMs = 0;
  constructor(readonly mem: Uint8Array) {}
  async copyin(uaddr: number, dsts: readonly Uint8Array[]): Promise<void> {
    const k = this.requests++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (k === this.failAt) throw Object.assign(new Error('EFAULT'), { errno: Errno.EFAULT });
    let p = uaddr;
    let n = 0;
    for (const d of dsts) {
      if (p + d.length > this.mem.length) throw Object.assign(new Error('EFAULT'), { errno: Errno.EFAULT });
      d.set(this.mem.subarray(p, p + d.length));
      p += d.length;
      n += d.length;
    }
    this.sizes.push(n);
    this.bytes += n;
  }
}

/** A CopySink into one buffer that counts requests. */
export class CountingSink implements CopySink {
  requests = 0;
  bytes = 0;
  constructor(readonly mem: Uint8Array) {}
  copyout(uaddr: number, srcs: readonly Uint8Array[]): void {
    this.requests++;
    let p = uaddr;
    for (const s of srcs) {
      this.mem.set(s, p);
      p += s.length;
      this.bytes += s.length;
    }
  }
}

/** Deterministic bytes: byte i of pattern `seed`. */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

// ------------------------------------------------------------------ stream stub

/** Protocol number of the stream stub (IANA "experimentation", RFC 3692). */
export const PIPE_PROTO = 253;

interface PipeEnd {
  port: number;
  peer: Socket | null;
  listening: boolean;
}

/**
 * A loss-free in-memory stream protocol with flow control: what a socket
 * sends sits in its send buffer until the peer's receive buffer has room,
 * like TCP's window; `rcvd` on the receiver pulls more. Listeners are found
 * by port. Enough to test stream behaviour of the socket layer.
 */
export function addPipeProtocol(layer: SocketLayer): { listeners: Map<number, Socket> } {
  const listeners = new Map<number, Socket>();
  const end = (so: Socket) => so.pcb as PipeEnd;
  const pump = (from: Socket): void => {
    const to = end(from).peer;
    if (to === null || to.closed) return;
    const n = Math.min(from.snd.cc, to.rcv.space());
    if (n <= 0) return;
    const c = mCopym(from.snd.mb!, 0, n);
    if (c === null) return;
    from.snd.drop(n);
    to.rcv.appendStream(c);
    soRwakeup(to);
    soWwakeup(from);
  };
  let nextPort = 40000;
  const usrreqs: ProtoUserReqs = {
    attach: (so) => {
      so.pcb = { port: 0, peer: null, listening: false } satisfies PipeEnd;
      return soReserve(so, 8192, 8192);
    },
    detach: (so) => {
      const e = end(so);
      if (e.listening) listeners.delete(e.port);
      if (e.peer !== null) {
        const p = e.peer;
        end(p).peer = null;
        p.state |= 0x020; // CANTRCVMORE: the peer sees EOF
        soRwakeup(p);
      }
      so.pcb = null;
    },
    bind: (so, nam) => {
      end(so).port = nam.port;
      return 0;
    },
    listen: (so) => {
      const e = end(so);
      if (e.port === 0) e.port = nextPort++;
      e.listening = true;
      listeners.set(e.port, so);
      return 0;
    },
    connect: (so, nam) => {
      const head = listeners.get(nam.port);
      if (head === undefined) return Errno.ECONNREFUSED;
      const nso = layer.newConn(head, false);
      if (nso === null) return Errno.ECONNREFUSED;
      end(nso).peer = so;
      end(so).peer = nso;
      if (end(so).port === 0) end(so).port = nextPort++;
      soIsConnected(nso);
      soIsConnected(so);
      return 0;
    },
    disconnect: () => 0,
    accept: () => 0,
    shutdown: (so) => {
      const p = end(so).peer;
      if (p !== null) {
        p.state |= 0x020;
        soRwakeup(p);
      }
      return 0;
    },
    abort: (so) => usrreqs.detach(so),
    send: (so, m, len) => {
      if (m !== null) so.snd.appendStream(m);
      void len;
      pump(so);
      return 0;
    },
    rcvd: (so) => {
      const p = end(so).peer;
      if (p !== null) pump(p);
    },
    sockaddr: (so) => sockaddrIn(INADDR_ANY, end(so).port),
    peeraddr: (so) => {
      const p = end(so).peer;
      return p === null ? null : sockaddrIn(A1, end(p).port);
    },
    ctloutputSet: () => Errno.ENOPROTOOPT,
    ctloutputGet: () => ({ errno: Errno.ENOPROTOOPT }),
  };
  layer.addProtocol({
    type: SOCK.STREAM,
    domain: AF.INET,
    protocol: PIPE_PROTO,
    flags: PR.CONNREQUIRED | PR.WANTRCVD | PR.LISTEN,
    maxSend: 0,
    usrreqs,
    name: 'pipe',
  });
  return { listeners };
}

/** Bytes of a chain (test convenience). */
export function chainBytes(m: Mbuf | null): Uint8Array {
  return m === null ? new Uint8Array(0) : mToBytes(m, 0, mLength(m));
}

export type { SockaddrIn };

/** `sendto` of `data` on `fd` (to `to`, or the connected peer) through a {@link CountingSource}. */
export async function sendBytes(t: SocketTable, fd: number, data: Uint8Array, to: Sockaddr | null = null) {
  return t.sendto(fd, makeUio([{ base: 0, len: data.length }], 'write'), new CountingSource(data), to);
}

/** Receive with a timeout (poll), then a DONTWAIT read of up to 64 KiB. Null on timeout. */
export async function recvWithin(t: SocketTable, fd: number, ms: number) {
  const p = await t.poll([{ fd, events: POLL.IN }], ms);
  if (p.revents[0] === 0) return null;
  const buf = new Uint8Array(65536);
  const r = await t.recvfrom(fd, makeUio([{ base: 0, len: buf.length }], 'read'), new CountingSink(buf), MSG.DONTWAIT, true);
  return { ...r, data: buf.slice(0, r.bytes) };
}
