import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { Errno, EWOULDBLOCK } from '../../src/kern/errno.js';
import { makeUio } from '../../src/mbuf/index.js';
import {
  AF,
  AF_INET,
  INADDR_ANY,
  IPPROTO,
  MSG,
  POLL,
  SHUT,
  SO,
  SOCK,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SocketTable,
  sockaddrIn,
  sockaddrIn6,
} from '../../src/socket/index.js';
import { IP6_LOOPBACK } from '../../src/wire/ip.js';
import { UdpProtocol } from '../../src/transport/udp/index.js';
import { A1, A2, BCAST, CountingSink, CountingSource, fakeLayer, FOREIGN, pattern } from './helpers.js';

function setup(opts: { mclnum?: number } = {}) {
  const { host, layer } = fakeLayer(opts);
  const udp = new UdpProtocol(layer, { rng: () => 0.5 });
  const t = new SocketTable(layer);
  return { host, layer, udp, t };
}

const out = (n: number) => makeUio([{ base: 0, len: n }], 'write');
const inn = (n: number) => makeUio([{ base: 0, len: n }], 'read');

async function sendBytes(t: SocketTable, fd: number, data: Uint8Array, to: ReturnType<typeof sockaddrIn> | null = null, flags = 0) {
  return t.sendto(fd, out(data.length), new CountingSource(data), to, flags);
}

async function recvBytes(t: SocketTable, fd: number, size: number, flags = 0) {
  const buf = new Uint8Array(size);
  const r = await t.recvfrom(fd, inn(size), new CountingSink(buf), flags);
  return { ...r, data: buf.subarray(0, Math.min(r.bytes, size)) };
}

describe('socket system calls (over UDP on a fake network layer)', () => {
  let env: ReturnType<typeof setup>;
  beforeEach(() => {
    env = setup();
  });
  afterEach(async () => {
    await env.t.closeAll();
    expect(env.layer.count).to.equal(0);
    env.host.pool.assertAllFree();
  });

  describe('socket()', () => {
    it('creates descriptors as the lowest free small integers', async () => {
      const { t } = env;
      expect(t.socket(AF_INET, SOCK.DGRAM, 0)).to.deep.equal({ errno: 0, fd: 0 });
      expect(t.socket(AF_INET, SOCK.DGRAM, IPPROTO.UDP)).to.deep.equal({ errno: 0, fd: 1 });
      expect(await t.close(0)).to.equal(0);
      expect(t.socket(AF_INET, SOCK.DGRAM, 0).fd).to.equal(0);
    });

    it('answers EAFNOSUPPORT, EPROTONOSUPPORT, EPROTOTYPE and EMFILE', () => {
      const { t, layer } = env;
      expect(t.socket(AF.UNSPEC, SOCK.DGRAM, 0).errno).to.equal(Errno.EAFNOSUPPORT);
      expect(t.socket(AF.LOCAL, SOCK.STREAM, 0).errno).to.equal(Errno.EAFNOSUPPORT);
      expect(t.socket(AF.INET6, SOCK.DGRAM, 0).errno).to.equal(0); // UDP registers both families
      expect(t.socket(AF_INET, SOCK.DGRAM, 99).errno).to.equal(Errno.EPROTONOSUPPORT);
      expect(t.socket(AF_INET, SOCK.STREAM, 0).errno).to.equal(Errno.EPROTONOSUPPORT); // no TCP yet
      expect(t.socket(AF_INET, SOCK.STREAM, IPPROTO.UDP).errno).to.equal(Errno.EPROTOTYPE);
      const small = new SocketTable(layer, { maxFds: 2 });
      small.socket(AF_INET, SOCK.DGRAM, 0);
      small.socket(AF_INET, SOCK.DGRAM, 0);
      expect(small.socket(AF_INET, SOCK.DGRAM, 0).errno).to.equal(Errno.EMFILE);
      return small.closeAll();
    });

    it("treats another table's descriptor as EBADF", async () => {
      const { t, layer } = env;
      const other = new SocketTable(layer);
      const { fd } = other.socket(AF_INET, SOCK.DGRAM, 0);
      expect(t.bind(fd, sockaddrIn(INADDR_ANY, 0))).to.equal(Errno.EBADF);
      expect((await sendBytes(t, fd, new Uint8Array(1), sockaddrIn(A1, 9))).errno).to.equal(Errno.EBADF);
      expect((await recvBytes(t, fd, 1)).errno).to.equal(Errno.EBADF);
      expect(await t.close(fd)).to.equal(Errno.EBADF);
      expect(t.getsockname(fd).errno).to.equal(Errno.EBADF);
      await other.closeAll();
      expect(other.size).to.equal(0);
    });
  });

  describe('bind()', () => {
    it('binds specific and wildcard addresses with BSD conflict rules', () => {
      const { t } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const c = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(t.bind(a, sockaddrIn(INADDR_ANY, 5000))).to.equal(0);
      expect(t.bind(a, sockaddrIn(INADDR_ANY, 5001))).to.equal(Errno.EINVAL); // already bound
      expect(t.bind(b, sockaddrIn(A1, 5000))).to.equal(Errno.EADDRINUSE); // overlaps the wildcard
      expect(t.setsockopt(b, SOL_SOCKET, SO.REUSEADDR, 1)).to.equal(0);
      expect(t.bind(b, sockaddrIn(A1, 5000))).to.equal(0); // specific beside wildcard with SO_REUSEADDR
      expect(t.setsockopt(c, SOL_SOCKET, SO.REUSEADDR, 1)).to.equal(0);
      expect(t.bind(c, sockaddrIn(A1, 5000))).to.equal(Errno.EADDRINUSE); // exact duplicate needs SO_REUSEPORT
      expect(t.getsockname(b).addr).to.deep.equal(sockaddrIn(A1, 5000));
    });

    it('allows exact duplicates when both sockets set SO_REUSEPORT', () => {
      const { t } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      t.setsockopt(a, SOL_SOCKET, SO.REUSEPORT, 1);
      t.setsockopt(b, SOL_SOCKET, SO.REUSEPORT, 1);
      expect(t.bind(a, sockaddrIn(A2, 6000))).to.equal(0);
      expect(t.bind(b, sockaddrIn(A2, 6000))).to.equal(0);
    });

    it('refuses an address that is not ours (EADDRNOTAVAIL) and a bad family (EAFNOSUPPORT)', () => {
      const { t } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(t.bind(a, sockaddrIn(FOREIGN, 7))).to.equal(Errno.EADDRNOTAVAIL);
      expect(t.bind(a, { family: AF.INET6, addr: 0, port: 7 })).to.equal(Errno.EAFNOSUPPORT);
      // A well-formed sockaddr_in6 on an AF_INET socket is still the wrong family (Linux inet_bind).
      expect(t.bind(a, sockaddrIn6(IP6_LOOPBACK, 7))).to.equal(Errno.EAFNOSUPPORT);
      expect(t.bind(a, { ...sockaddrIn6(IP6_LOOPBACK, 7), family: AF_INET } as never)).to.equal(Errno.EINVAL);
      expect(t.bind(a, { family: AF_INET, addr: 0, port: 70000 })).to.equal(Errno.EINVAL);
      expect(t.bind(a, sockaddrIn(BCAST, 7))).to.equal(0); // a broadcast address receives
    });

    it('assigns ephemeral ports in net.inet.ip.anonportmin..max, tunable by sysctl', () => {
      const { t, host } = env;
      host.sysctl.set('net.inet.ip.anonportmin', 50000);
      host.sysctl.set('net.inet.ip.anonportmax', 50002);
      const ports = new Set<number>();
      for (let i = 0; i < 3; i++) {
        const fd = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
        expect(t.bind(fd, sockaddrIn(INADDR_ANY, 0))).to.equal(0);
        ports.add(t.getsockname(fd).addr!.port);
      }
      expect([...ports].sort()).to.deep.equal([50000, 50001, 50002]);
      const fd = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(t.bind(fd, sockaddrIn(INADDR_ANY, 0))).to.equal(Errno.EAGAIN); // range exhausted
    });
  });

  describe('sendto() / recvfrom()', () => {
    it('moves datagrams with their boundaries and source addresses', async () => {
      const { t } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(t.bind(b, sockaddrIn(A1, 9000))).to.equal(0);
      for (const n of [0, 1, 100, 3000]) {
        const r = await sendBytes(t, a, pattern(n, n), sockaddrIn(A1, 9000));
        expect(r).to.include({ errno: 0, bytes: n });
      }
      const aport = t.getsockname(a).addr!.port;
      expect(aport).to.be.within(49152, 65535);
      for (const n of [0, 1, 100, 3000]) {
        const r = await recvBytes(t, b, 4000);
        expect(r.errno).to.equal(0);
        expect(r.bytes).to.equal(n);
        expect(r.data).to.deep.equal(pattern(n, n));
        expect(r.addr).to.deep.equal(sockaddrIn(A1, aport));
      }
    });

    it('truncates a datagram larger than the buffer (MSG_TRUNC) and discards the rest', async () => {
      const { t } = env;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      t.bind(b, sockaddrIn(A1, 9001));
      await sendBytes(t, b, pattern(500, 3), sockaddrIn(A1, 9001));
      await sendBytes(t, b, pattern(10, 4), sockaddrIn(A1, 9001));
      const r = await recvBytes(t, b, 100);
      expect(r.bytes).to.equal(100);
      expect(r.flags & MSG.TRUNC).to.equal(MSG.TRUNC);
      expect(r.data).to.deep.equal(pattern(500, 3).subarray(0, 100));
      const r2 = await recvBytes(t, b, 100);
      expect(r2.flags).to.equal(0);
      expect(r2.data).to.deep.equal(pattern(10, 4));
    });

    it('peeks without consuming (MSG_PEEK)', async () => {
      const { t } = env;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      t.bind(b, sockaddrIn(A1, 9002));
      await sendBytes(t, b, pattern(3000, 5), sockaddrIn(A1, 9002));
      const p = await recvBytes(t, b, 5000, MSG.PEEK);
      expect(p.data).to.deep.equal(pattern(3000, 5));
      expect(t.nread(b).value).to.equal(3000);
      const r = await recvBytes(t, b, 5000);
      expect(r.data).to.deep.equal(pattern(3000, 5));
      expect(t.nread(b).value).to.equal(0);
    });

    it('answers EDESTADDRREQ, EMSGSIZE, EISCONN, ENOTCONN, EACCES and EOPNOTSUPP', async () => {
      const { t } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect((await sendBytes(t, a, new Uint8Array(4))).errno).to.equal(Errno.EDESTADDRREQ);
      const big = new CountingSource(new Uint8Array(65508));
      const r = await t.sendto(a, out(65508), big, sockaddrIn(A1, 9));
      expect(r.errno).to.equal(Errno.EMSGSIZE);
      expect(big.requests).to.equal(0); // refused before any copy
      expect(t.getpeername(a).errno).to.equal(Errno.ENOTCONN);
      expect(t.shutdown(a, SHUT.WR)).to.equal(Errno.ENOTCONN);
      expect((await sendBytes(t, a, new Uint8Array(4), sockaddrIn(BCAST, 9))).errno).to.equal(Errno.EACCES);
      expect(t.setsockopt(a, SOL_SOCKET, SO.BROADCAST, 1)).to.equal(0);
      expect((await sendBytes(t, a, new Uint8Array(4), sockaddrIn(BCAST, 9))).errno).to.equal(0);
      expect(await t.connect(a, sockaddrIn(A1, 9))).to.equal(0);
      expect((await sendBytes(t, a, new Uint8Array(4), sockaddrIn(A1, 9))).errno).to.equal(Errno.EISCONN);
      expect(t.listen(a, 5)).to.equal(Errno.EOPNOTSUPP);
      expect((await t.accept(a)).errno).to.equal(Errno.EINVAL);
      expect((await recvBytes(t, a, 4, MSG.OOB)).errno).to.equal(Errno.EOPNOTSUPP);
      expect(t.shutdown(a, 7)).to.equal(Errno.EINVAL);
    });

    it('EPIPE after shutdown(SHUT_WR); EOF (0 bytes) after shutdown(SHUT_RD)', async () => {
      const { t } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(await t.connect(a, sockaddrIn(A1, 9))).to.equal(0);
      expect(t.shutdown(a, SHUT.RDWR)).to.equal(0);
      expect((await sendBytes(t, a, new Uint8Array(4))).errno).to.equal(Errno.EPIPE);
      const r = await recvBytes(t, a, 10);
      expect(r).to.include({ errno: 0, bytes: 0 });
      const rev = await t.poll([{ fd: a, events: POLL.IN | POLL.OUT }], 0);
      expect(rev.revents[0]! & POLL.HUP).to.equal(POLL.HUP);
    });

    it('ENOBUFS when the pool cannot hold the datagram', async () => {
      const { host, layer } = fakeLayer({ nmbclusters: 8 });
      new UdpProtocol(layer);
      const t = new SocketTable(layer);
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const r = await sendBytes(t, a, new Uint8Array(20000), sockaddrIn(A1, 9));
      expect(r.errno).to.equal(Errno.ENOBUFS);
      await t.closeAll();
      host.pool.assertAllFree();
    });

    it('a failed copyin is EFAULT and leaks nothing', async () => {
      const { t } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const src = new CountingSource(new Uint8Array(10000));
      src.failAt = 2;
      const r = await t.sendto(a, out(10000), src, sockaddrIn(A1, 9));
      expect(r.errno).to.equal(Errno.EFAULT);
      expect(r.bytes).to.equal(0);
    });
  });

  describe('blocking, non-blocking and close', () => {
    it('non-blocking receive is EWOULDBLOCK (SOCK_NONBLOCK, setNonblocking and MSG_DONTWAIT)', async () => {
      const { t } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM | SOCK_NONBLOCK, 0).fd;
      expect((await recvBytes(t, a, 10)).errno).to.equal(EWOULDBLOCK);
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect((await recvBytes(t, b, 10, MSG.DONTWAIT)).errno).to.equal(EWOULDBLOCK);
      t.setNonblocking(b, true);
      expect((await recvBytes(t, b, 10)).errno).to.equal(EWOULDBLOCK);
    });

    it('a blocked receive wakes when data arrives', async () => {
      const { t } = env;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      t.bind(b, sockaddrIn(A1, 9100));
      const pending = recvBytes(t, b, 100);
      await Promise.resolve();
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      await sendBytes(t, a, pattern(42, 9), sockaddrIn(A1, 9100));
      const r = await pending;
      expect(r.data).to.deep.equal(pattern(42, 9));
    });

    it('a blocked receive is woken by close with EBADF', async () => {
      const { t, layer } = env;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const so = t.get(b)!;
      const pending = recvBytes(t, b, 100);
      await Promise.resolve();
      expect(so.rcv.wq.size).to.equal(1);
      expect(await t.close(b)).to.equal(0);
      const r = await pending;
      expect(r.errno).to.equal(Errno.EBADF);
      expect(layer.count).to.equal(0);
    });

    it('SO_RCVTIMEO ends a blocked receive with EWOULDBLOCK', async () => {
      const { t, host } = env;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(t.setsockopt(b, SOL_SOCKET, SO.RCVTIMEO, 250)).to.equal(0);
      const pending = recvBytes(t, b, 100);
      await Promise.resolve();
      (host.clock as ManualClock).advance(249);
      let done = false;
      void pending.then(() => (done = true));
      await new Promise((r) => setImmediate(r));
      expect(done).to.equal(false);
      (host.clock as ManualClock).advance(1);
      expect((await pending).errno).to.equal(EWOULDBLOCK);
    });
  });

  describe('options', () => {
    it('gets and sets socket-level options', () => {
      const { t, host } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const get = (name: number) => t.getsockopt(a, SOL_SOCKET, name);
      expect(get(SO.TYPE).value).to.equal(SOCK.DGRAM);
      expect(get(SO.SNDBUF).value).to.equal(host.sysctl.get('net.inet.udp.sendspace'));
      expect(get(SO.RCVBUF).value).to.equal(host.sysctl.get('net.inet.udp.recvspace'));
      for (const name of [SO.REUSEADDR, SO.REUSEPORT, SO.BROADCAST, SO.KEEPALIVE]) {
        expect(get(name).value).to.equal(0);
        expect(t.setsockopt(a, SOL_SOCKET, name, 1)).to.equal(0);
        expect(get(name).value).to.equal(1);
        expect(t.setsockopt(a, SOL_SOCKET, name, false)).to.equal(0);
        expect(get(name).value).to.equal(0);
      }
      expect(t.setsockopt(a, SOL_SOCKET, SO.RCVBUF, 10000)).to.equal(0);
      expect(get(SO.RCVBUF).value).to.equal(10000);
      expect(t.setsockopt(a, SOL_SOCKET, SO.RCVBUF, 1 << 30)).to.equal(Errno.ENOBUFS);
      expect(t.setsockopt(a, SOL_SOCKET, SO.RCVBUF, -1)).to.equal(Errno.EINVAL);
      expect(t.setsockopt(a, SOL_SOCKET, SO.RCVLOWAT, 20000)).to.equal(0);
      expect(get(SO.RCVLOWAT).value).to.equal(10000); // clamped to the buffer
      expect(t.setsockopt(a, SOL_SOCKET, SO.SNDLOWAT, 100)).to.equal(0);
      expect(get(SO.SNDLOWAT).value).to.equal(100);
      expect(t.setsockopt(a, SOL_SOCKET, SO.LINGER, { onoff: true, linger: 5 })).to.equal(0);
      expect(get(SO.LINGER).value).to.deep.equal({ onoff: true, linger: 5 });
      expect(t.setsockopt(a, SOL_SOCKET, SO.LINGER, 3)).to.equal(Errno.EINVAL);
      expect(t.setsockopt(a, SOL_SOCKET, SO.TYPE, 1)).to.equal(Errno.ENOPROTOOPT);
      expect(t.setsockopt(a, SOL_SOCKET, 999, 1)).to.equal(Errno.ENOPROTOOPT);
      expect(get(999).errno).to.equal(Errno.ENOPROTOOPT);
      expect(t.setsockopt(a, IPPROTO.IP, 2, 7)).to.equal(0); // IP_TTL
      expect(t.getsockopt(a, IPPROTO.IP, 2).value).to.equal(7);
      expect(t.setsockopt(a, IPPROTO.UDP, 1, 1)).to.equal(Errno.ENOPROTOOPT);
    });

    it('IP_TTL reaches the IP layer', async () => {
      const { t, host } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      t.setsockopt(a, IPPROTO.IP, 2, 9);
      await sendBytes(t, a, new Uint8Array(3), sockaddrIn(FOREIGN, 53));
      expect(host.sent.at(-1)!.opts.ttl).to.equal(9);
    });

    it('SO_ERROR reports a pending error once and clears it', async () => {
      const { t, udp } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(await t.connect(a, sockaddrIn(FOREIGN, 53))).to.equal(0);
      const me = t.getsockname(a).addr!;
      udp.ctlinput({
        errno: Errno.ECONNREFUSED, icmpType: 3, icmpCode: 3, mtu: 0,
        src: me.addr, dst: FOREIGN, srcPort: me.port, dstPort: 53, quoted: new Uint8Array(8),
      });
      expect(t.getsockopt(a, SOL_SOCKET, SO.ERROR).value).to.equal(Errno.ECONNREFUSED);
      expect(t.getsockopt(a, SOL_SOCKET, SO.ERROR).value).to.equal(0);
    });
  });

  describe('poll()', () => {
    it('reports readable, writable, POLLNVAL, and waits until data or timeout', async () => {
      const { t, host } = env;
      const clock = host.clock as ManualClock;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      t.bind(b, sockaddrIn(A1, 9200));
      const now = await t.poll([{ fd: a, events: POLL.OUT }, { fd: b, events: POLL.IN }, { fd: 77, events: POLL.IN }], 0);
      expect(now.revents).to.deep.equal([POLL.OUT, 0, POLL.NVAL]);
      expect(now.nready).to.equal(2);
      // Timeout with nothing readable.
      const p1 = t.poll([{ fd: b, events: POLL.IN }], 100);
      clock.advance(100);
      expect((await p1).revents).to.deep.equal([0]);
      // Woken by a datagram.
      const p2 = t.poll([{ fd: a, events: POLL.IN }, { fd: b, events: POLL.IN }], -1);
      await Promise.resolve();
      await sendBytes(t, a, new Uint8Array(5), sockaddrIn(A1, 9200));
      const r2 = await p2;
      expect(r2.revents).to.deep.equal([0, POLL.IN]);
      // A zero-length datagram is readable too.
      await recvBytes(t, b, 10);
      await sendBytes(t, a, new Uint8Array(0), sockaddrIn(A1, 9200));
      expect((await t.poll([{ fd: b, events: POLL.IN }], 0)).revents).to.deep.equal([POLL.IN]);
    });

    it('reports POLLERR for a pending error and POLLNVAL when closed while polled', async () => {
      const { t, udp } = env;
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      await t.connect(a, sockaddrIn(FOREIGN, 53));
      const me = t.getsockname(a).addr!;
      const p = t.poll([{ fd: a, events: POLL.IN }], -1);
      await Promise.resolve();
      udp.ctlinput({
        errno: Errno.ECONNREFUSED, icmpType: 3, icmpCode: 3, mtu: 0,
        src: me.addr, dst: FOREIGN, srcPort: me.port, dstPort: 53, quoted: new Uint8Array(8),
      });
      const r = await p;
      expect(r.revents[0]! & POLL.ERR).to.equal(POLL.ERR);
      const b = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      const p2 = t.poll([{ fd: b, events: POLL.IN }], -1);
      const so = t.get(b)!;
      await t.close(b);
      void so;
      // The descriptor table entry is gone; the poll saw the socket close.
      expect((await p2).revents).to.deep.equal([POLL.NVAL]);
    });
  });
});
