import { expect } from 'chai';
import { makeUio, mFromBytes } from '../../src/mbuf/index.js';
import type { IpPacketInfo } from '../../src/net/protosw.js';
import { AF_INET, MSG, SO, SOCK, SOL_SOCKET, SocketTable, sockaddrIn } from '../../src/socket/index.js';
import { UdpProtocol } from '../../src/transport/udp/index.js';
import { pseudoHeaderSum, internetChecksum } from '../../src/wire/checksum.js';
import { A1, A2, BCAST, CountingSink, CountingSource, fakeLayer, FOREIGN, pattern } from '../socket/helpers.js';
import { Errno } from '../../src/kern/errno.js';

/** A UDP datagram with a correct checksum (or the given one). */
function datagram(src: number, dst: number, sport: number, dport: number, payload: Uint8Array, cksum?: number, ulen?: number): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  const len = ulen ?? b.length;
  b[0] = sport >> 8; b[1] = sport; b[2] = dport >> 8; b[3] = dport; b[4] = len >> 8; b[5] = len;
  b.set(payload, 8);
  const c = cksum ?? (internetChecksum(b, 0, b.length, pseudoHeaderSum(src, dst, 17, b.length)) || 0xffff);
  b[6] = c >> 8; b[7] = c;
  return b;
}

function info(src: number, dst: number, bcast = false): IpPacketInfo {
  return { src, dst, proto: 17, ttl: 64, tos: 0, ifname: 'fake0', ifindex: 0, broadcast: bcast, multicast: false };
}

describe('UDP input and output (fake network layer)', () => {
  let env: ReturnType<typeof setup>;
  function setup() {
    const { host, layer } = fakeLayer();
    const udp = new UdpProtocol(layer, { rng: () => 0 });
    const t = new SocketTable(layer);
    const inject = (bytes: Uint8Array, i: IpPacketInfo) => udp.input(mFromBytes(host.pool, bytes, { headroom: 20 })!, i);
    const recv = async (fd: number, n = 70000) => {
      const buf = new Uint8Array(n);
      const r = await t.recvfrom(fd, makeUio([{ base: 0, len: n }], 'read'), new CountingSink(buf), MSG.DONTWAIT);
      return { ...r, data: buf.subarray(0, r.bytes) };
    };
    return { host, layer, udp, t, inject, recv };
  }
  beforeEach(() => {
    env = setup();
  });
  afterEach(async () => {
    await env.t.closeAll();
    env.host.pool.assertAllFree();
  });

  it('counts and drops malformed datagrams: short header, bad length, bad checksum', async () => {
    const { t, udp, inject, recv, host } = env;
    const fd = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    t.bind(fd, sockaddrIn(A1, 53));
    inject(new Uint8Array(7), info(FOREIGN, A1));
    inject(datagram(FOREIGN, A1, 1, 53, pattern(10), undefined, 7), info(FOREIGN, A1)); // length < 8
    inject(datagram(FOREIGN, A1, 1, 53, pattern(10), undefined, 19), info(FOREIGN, A1)); // length > payload
    const bad = datagram(FOREIGN, A1, 1, 53, pattern(10));
    bad[9]! ^= 0x40;
    inject(bad, info(FOREIGN, A1));
    expect(udp.stats).to.include({ ipackets: 4, hdrops: 1, badlen: 2, badsum: 1, delivered: 0 });
    expect(host.sysctl.get('net.inet.udp.stats.badsum')).to.equal(1);
    expect((await recv(fd)).errno).to.equal(Errno.EAGAIN);
  });

  it('accepts a zero checksum and trims a length field shorter than the payload', async () => {
    const { t, udp, inject, recv } = env;
    const fd = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    t.bind(fd, sockaddrIn(A1, 53));
    inject(datagram(FOREIGN, A1, 1234, 53, pattern(30, 2), 0), info(FOREIGN, A1));
    const shortLen = datagram(FOREIGN, A1, 1234, 53, pattern(30, 3), 0, 8 + 12);
    inject(shortLen, info(FOREIGN, A1));
    expect(udp.stats.nosum).to.equal(2);
    const r1 = await recv(fd);
    expect(r1.data).to.deep.equal(pattern(30, 2));
    expect(r1.addr).to.deep.equal(sockaddrIn(FOREIGN, 1234));
    expect((await recv(fd)).data).to.deep.equal(pattern(30, 3).subarray(0, 12));
  });

  it('no socket: counted noport, ICMP port unreachable asked with the untrimmed datagram', () => {
    const { udp, inject, host } = env;
    const d = datagram(FOREIGN, A1, 1, 9999, pattern(5));
    inject(d, info(FOREIGN, A1));
    expect(udp.stats.noport).to.equal(1);
    expect(host.icmpErrors).to.have.length(1);
    expect(host.icmpErrors[0]).to.deep.include({ type: 3, code: 3 });
    expect(host.icmpErrors[0]!.bytes).to.deep.equal(d);
    // Broadcast to a closed port: counted, no ICMP (RFC 1122 3.2.2).
    inject(datagram(FOREIGN, BCAST, 1, 9999, pattern(5)), info(FOREIGN, BCAST, true));
    expect(udp.stats.noportbcast).to.equal(1);
    expect(host.icmpErrors).to.have.length(1);
  });

  it('a connected socket only receives from its peer; a bound one takes the rest', async () => {
    const { t, inject, recv } = env;
    const c = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    const s = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    t.setsockopt(c, SOL_SOCKET, SO.REUSEADDR, 1);
    t.setsockopt(s, SOL_SOCKET, SO.REUSEADDR, 1);
    expect(t.bind(s, sockaddrIn(0, 4000))).to.equal(0);
    expect(t.bind(c, sockaddrIn(A1, 4000))).to.equal(0);
    expect(await t.connect(c, sockaddrIn(FOREIGN, 7))).to.equal(0);
    inject(datagram(FOREIGN, A1, 7, 4000, pattern(3, 1)), info(FOREIGN, A1));
    inject(datagram(FOREIGN, A1, 8, 4000, pattern(3, 2)), info(FOREIGN, A1));
    expect((await recv(c)).data).to.deep.equal(pattern(3, 1));
    expect((await recv(c)).errno).to.equal(Errno.EAGAIN);
    const r = await recv(s);
    expect(r.data).to.deep.equal(pattern(3, 2));
    expect(r.addr).to.deep.equal(sockaddrIn(FOREIGN, 8));
  });

  it('delivers a broadcast to every matching socket', async () => {
    const { t, inject, recv, udp } = env;
    const fds = [0, 1, 2].map(() => t.socket(AF_INET, SOCK.DGRAM, 0).fd);
    for (const fd of fds) t.setsockopt(fd, SOL_SOCKET, SO.REUSEPORT, 1);
    t.bind(fds[0]!, sockaddrIn(0, 6000));
    t.bind(fds[1]!, sockaddrIn(BCAST, 6000));
    t.bind(fds[2]!, sockaddrIn(A2, 6000)); // bound to a unicast address: not for a broadcast
    inject(datagram(FOREIGN, BCAST, 5, 6000, pattern(9)), info(FOREIGN, BCAST, true));
    expect(udp.stats.delivered).to.equal(2);
    expect((await recv(fds[0]!)).data).to.deep.equal(pattern(9));
    expect((await recv(fds[1]!)).data).to.deep.equal(pattern(9));
    expect((await recv(fds[2]!)).errno).to.equal(Errno.EAGAIN);
  });

  it('counts receive-buffer overflow as fullsock drops', async () => {
    const { t, inject, udp, recv } = env;
    const fd = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    t.bind(fd, sockaddrIn(A1, 53));
    expect(t.setsockopt(fd, SOL_SOCKET, SO.RCVBUF, 3000)).to.equal(0);
    for (let i = 0; i < 5; i++) inject(datagram(FOREIGN, A1, 1, 53, pattern(1000, i)), info(FOREIGN, A1));
    expect(udp.stats.delivered).to.be.within(1, 3);
    expect(udp.stats.fullsock).to.equal(5 - udp.stats.delivered);
    expect((await recv(fd)).data).to.deep.equal(pattern(1000, 0));
  });

  it('ICMP port unreachable sets ECONNREFUSED on a connected socket only, reported by the next call', async () => {
    const { t, udp } = env;
    const c = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    const u = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    await t.connect(c, sockaddrIn(FOREIGN, 53));
    const me = t.getsockname(c).addr!;
    t.bind(u, sockaddrIn(A1, 5353));
    const err = (srcPort: number, src: number) => ({
      errno: Errno.ECONNREFUSED, icmpType: 3, icmpCode: 3, mtu: 0,
      src, dst: FOREIGN, srcPort, dstPort: 53, quoted: new Uint8Array(8),
    });
    udp.ctlinput(err(me.port, me.addr as number));
    udp.ctlinput(err(5353, A1)); // the unconnected socket: ignored
    expect(udp.stats.ctlnotify).to.equal(1);
    const s1 = await t.sendto(c, makeUio([{ base: 0, len: 1 }], 'write'), new CountingSource(new Uint8Array(1)));
    expect(s1.errno).to.equal(Errno.ECONNREFUSED);
    const s2 = await t.sendto(c, makeUio([{ base: 0, len: 1 }], 'write'), new CountingSource(new Uint8Array(1)));
    expect(s2.errno).to.equal(0);
    expect(t.getsockopt(u, SOL_SOCKET, SO.ERROR).value).to.equal(0);
  });

  it('output: header, pseudo-header checksum, and a computed 0 sent as 0xffff', async () => {
    const { t, host } = env;
    host.loop = false;
    const fd = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    t.bind(fd, sockaddrIn(A1, 1000));
    const payload = pattern(100, 4);
    payload[98] = 0;
    payload[99] = 0;
    // Choose the last word so that the datagram sums to 0xffff: its checksum then computes to 0.
    const probe = datagram(A1, FOREIGN, 1000, 2000, payload, 0);
    const c = internetChecksum(probe, 0, probe.length, pseudoHeaderSum(A1, FOREIGN, 17, probe.length));
    payload[98] = c >> 8;
    payload[99] = c & 0xff;
    const r = await t.sendto(fd, makeUio([{ base: 0, len: 100 }], 'write'), new CountingSource(payload), sockaddrIn(FOREIGN, 2000));
    expect(r.errno).to.equal(0);
    const sent = host.sent.at(-1)!;
    expect(sent.opts).to.deep.include({ src: A1, dst: FOREIGN, proto: 17 });
    const b = sent.bytes;
    expect([(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!, (b[4]! << 8) | b[5]!]).to.deep.equal([1000, 2000, 108]);
    expect((b[6]! << 8) | b[7]!).to.equal(0xffff);
    expect(b.subarray(8)).to.deep.equal(payload);
    // And it verifies as a received datagram would.
    expect(internetChecksum(b, 0, b.length, pseudoHeaderSum(A1, FOREIGN, 17, b.length))).to.equal(0);
  });

  it('send errors from IP are returned and counted', async () => {
    const { t, host, udp } = env;
    const fd = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    host.failWith = Errno.EHOSTUNREACH;
    const r = await t.sendto(fd, makeUio([{ base: 0, len: 4 }], 'write'), new CountingSource(new Uint8Array(4)), sockaddrIn(FOREIGN, 9));
    expect(r.errno).to.equal(Errno.EHOSTUNREACH);
    expect(udp.stats.oerrors).to.equal(1);
    const r2 = await t.sendto(fd, makeUio([{ base: 0, len: 4 }], 'write'), new CountingSource(new Uint8Array(4)), sockaddrIn(0x08080808, 9));
    expect(r2.errno).to.equal(Errno.ENETUNREACH);
  });

  it('the pcb table handles 10,000 sockets (ephemeral binds and lookups)', async () => {
    const { t, layer, udp } = env;
    const big = new SocketTable(layer, { maxFds: 10_000 });
    for (let i = 0; i < 10_000; i++) {
      const fd = big.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(big.bind(fd, sockaddrIn(0, 0))).to.equal(0);
    }
    expect(udp.table.size).to.equal(10_000);
    const ports = new Set(udp.table.pcbs().map((p) => p.lport));
    expect(ports.size).to.equal(10_000);
    const t0 = performance.now();
    for (const p of ports) expect(udp.table.lookupBind(A1, p)).to.not.equal(null);
    expect(performance.now() - t0).to.be.below(1000);
    await big.closeAll();
    expect(udp.table.size).to.equal(0);
    void t;
  });
});
