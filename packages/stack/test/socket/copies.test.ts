import { expect } from 'chai';
import { Errno, EWOULDBLOCK } from '../../src/kern/errno.js';
import { makeUio } from '../../src/mbuf/index.js';
import { AF_INET, INADDR_ANY, MSG, POLL, SHUT, SO, SOCK, SOL_SOCKET, SocketTable, sockaddrIn } from '../../src/socket/index.js';
import { UdpProtocol } from '../../src/transport/udp/index.js';
import { A1, addPipeProtocol, CountingSink, CountingSource, fakeLayer, PIPE_PROTO, pattern } from './helpers.js';

const out = (n: number) => makeUio([{ base: 0, len: n }], 'write');
const inn = (n: number) => makeUio([{ base: 0, len: n }], 'read');

/** A connected pair of stream-stub sockets in one table, plus the listener. */
async function pipePair(mclnum: number, buf = 8192) {
  const { host, layer } = fakeLayer({ mclnum, nmbclusters: 2048 });
  addPipeProtocol(layer);
  const t = new SocketTable(layer);
  const l = t.socket(AF_INET, SOCK.STREAM, PIPE_PROTO).fd;
  t.bind(l, sockaddrIn(INADDR_ANY, 7000));
  expect(t.listen(l, 4)).to.equal(0);
  const c = t.socket(AF_INET, SOCK.STREAM, PIPE_PROTO).fd;
  t.setsockopt(c, SOL_SOCKET, SO.SNDBUF, buf);
  expect(await t.connect(c, sockaddrIn(A1, 7000))).to.equal(0);
  const acc = await t.accept(l);
  expect(acc.errno).to.equal(0);
  t.setsockopt(acc.fd, SOL_SOCKET, SO.RCVBUF, buf);
  return { host, layer, t, l, c, s: acc.fd };
}

describe('copy requests: sosend copyin and soreceive copyout', () => {
  for (const [mclnum, expected] of [[1, 512], [16, 32]] as const) {
    it(`1 MiB on a stream with MCLBYTES 2048, MCLNUM ${mclnum}: ${expected} copyins`, async () => {
      const { host, t, c, s } = await pipePair(mclnum, 2 * 1024 * 1024);
      const data = pattern(1 << 20, 7);
      const src = new CountingSource(data);
      const r = await t.sendto(c, out(data.length), src);
      expect(r).to.deep.equal({ errno: 0, bytes: 1 << 20, requests: expected });
      expect(src.requests).to.equal(expected);
      expect(Math.max(...src.sizes)).to.equal(mclnum * 2048);
      const got = new Uint8Array(1 << 20);
      const rr = await t.recvfrom(s, inn(got.length), new CountingSink(got), MSG.WAITALL, true);
      expect(rr.bytes).to.equal(1 << 20);
      expect(got).to.deep.equal(data);
      await t.closeAll();
      host.pool.assertAllFree();
    });
  }

  for (const [mclnum, expected] of [[1, 32], [16, 2]] as const) {
    it(`a 65507-byte UDP datagram with MCLNUM ${mclnum}: ${expected} copyins`, async () => {
      const { host, layer } = fakeLayer({ mclnum });
      new UdpProtocol(layer);
      const t = new SocketTable(layer);
      const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      t.bind(a, sockaddrIn(A1, 5555));
      const data = pattern(65507, 3);
      const src = new CountingSource(data);
      const r = await t.sendto(a, out(65507), src, sockaddrIn(A1, 5555));
      expect(r).to.deep.equal({ errno: 0, bytes: 65507, requests: expected });
      const got = new Uint8Array(65507);
      const sink = new CountingSink(got);
      const rr = await t.recvfrom(a, inn(65507), sink, 0, true);
      expect(rr.bytes).to.equal(65507);
      expect(sink.requests).to.equal(1); // coalesced
      expect(got).to.deep.equal(data);
      await t.closeAll();
      host.pool.assertAllFree();
    });
  }

  it('small sends (< MINCLSIZE) use plain mbufs', async () => {
    const { host, t, c, s } = await pipePair(1);
    const src = new CountingSource(pattern(100, 1));
    const before = host.pool.stats().extGets;
    expect((await t.sendto(c, out(100), src)).bytes).to.equal(100);
    expect(host.pool.stats().extGets).to.equal(before);
    expect(src.requests).to.equal(1);
    const got = new Uint8Array(100);
    expect((await t.recvfrom(s, inn(100), new CountingSink(got))).bytes).to.equal(100);
    expect(got).to.deep.equal(pattern(100, 1));
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('soreceive makes one copyout per mbuf unless coalesced', async () => {
    const { host, t, c, s } = await pipePair(1, 65536);
    await t.sendto(c, out(10000), new CountingSource(pattern(10000, 2)));
    const got = new Uint8Array(10000);
    const per = new CountingSink(got);
    const r1 = await t.recvfrom(s, inn(5000), per, MSG.PEEK);
    expect(r1.bytes).to.equal(5000);
    expect(per.requests).to.equal(3); // 2048 + 2048 + 904
    const co = new CountingSink(got);
    const r2 = await t.recvfrom(s, inn(10000), co, 0, true);
    expect(r2.bytes).to.equal(10000);
    expect(co.requests).to.equal(1);
    expect(got).to.deep.equal(pattern(10000, 2));
    await t.closeAll();
    host.pool.assertAllFree();
  });
});

describe('stream sockets (a flow-controlled stub protocol)', () => {
  it('a send larger than the buffers blocks until the receiver reads, and arrives intact', async () => {
    const { host, t, c, s } = await pipePair(4, 8192);
    const data = pattern(100_000, 11);
    const sending = t.sendto(c, out(data.length), new CountingSource(data));
    const got = new Uint8Array(data.length);
    let off = 0;
    for (let i = 0; i < 1000 && off < data.length; i++) {
      const r = await t.recvfrom(s, makeUio([{ base: off, len: data.length - off }], 'read'), new CountingSink(got));
      expect(r.errno).to.equal(0);
      off += r.bytes;
    }
    expect((await sending).bytes).to.equal(data.length);
    expect(got).to.deep.equal(data);
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('a non-blocking send takes what fits, then EWOULDBLOCK; poll shows writability return', async () => {
    const { host, t, c, s } = await pipePair(1, 8192);
    t.setNonblocking(c, true);
    const data = pattern(50_000, 12);
    const r = await t.sendto(c, out(data.length), new CountingSource(data));
    expect(r.errno).to.equal(0);
    expect(r.bytes).to.be.within(8192, 16384); // the peer's buffer plus our own
    const r2 = await t.sendto(c, out(1000), new CountingSource(data));
    expect(r2.errno).to.equal(EWOULDBLOCK);
    expect((await t.poll([{ fd: c, events: POLL.OUT }], 0)).revents).to.deep.equal([0]);
    const waiting = t.poll([{ fd: c, events: POLL.OUT }], -1);
    const got = new Uint8Array(r.bytes);
    await t.recvfrom(s, inn(r.bytes), new CountingSink(got), MSG.WAITALL);
    expect((await waiting).revents).to.deep.equal([POLL.OUT]);
    expect(got).to.deep.equal(data.subarray(0, r.bytes));
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('SO_RCVLOWAT holds a receive until enough bytes are there; EOF returns what is left', async () => {
    const { host, t, c, s } = await pipePair(1, 8192);
    t.setsockopt(s, SOL_SOCKET, SO.RCVLOWAT, 100);
    await t.sendto(c, out(60), new CountingSource(pattern(60, 1)));
    expect((await t.poll([{ fd: s, events: POLL.IN }], 0)).revents).to.deep.equal([0]);
    const got = new Uint8Array(200);
    const pending = t.recvfrom(s, inn(200), new CountingSink(got));
    await t.sendto(c, out(60), new CountingSource(pattern(60, 2)));
    expect((await pending).bytes).to.equal(120);
    await t.sendto(c, out(10), new CountingSource(pattern(10, 3)));
    expect(t.shutdown(c, SHUT.WR)).to.equal(0);
    const r = await t.recvfrom(s, inn(200), new CountingSink(got));
    expect(r.bytes).to.equal(10);
    const eof = await t.recvfrom(s, inn(200), new CountingSink(got));
    expect(eof).to.include({ errno: 0, bytes: 0 });
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('ENOTCONN on an unconnected stream; EISCONN on a second connect; EOPNOTSUPP connecting a listener', async () => {
    const { host, t, c, l } = await pipePair(1);
    const u = t.socket(AF_INET, SOCK.STREAM, PIPE_PROTO).fd;
    expect((await t.sendto(u, out(1), new CountingSource(new Uint8Array(1)))).errno).to.equal(Errno.ENOTCONN);
    expect((await t.recvfrom(u, inn(1), new CountingSink(new Uint8Array(1)))).errno).to.equal(Errno.ENOTCONN);
    expect(await t.connect(c, sockaddrIn(A1, 7000))).to.equal(Errno.EISCONN);
    expect(await t.connect(l, sockaddrIn(A1, 7000))).to.equal(Errno.EOPNOTSUPP);
    expect(await t.connect(u, sockaddrIn(A1, 1))).to.equal(Errno.ECONNREFUSED);
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('accept blocks until a connection; closing the listener wakes it with ECONNABORTED', async () => {
    const { host, layer, t, l } = await pipePair(1);
    const pendingAccept = t.accept(l);
    await Promise.resolve();
    const c2 = t.socket(AF_INET, SOCK.STREAM, PIPE_PROTO).fd;
    expect(await t.connect(c2, sockaddrIn(A1, 7000))).to.equal(0);
    const a = await pendingAccept;
    expect(a.errno).to.equal(0);
    expect(t.getpeername(a.fd).errno).to.equal(0);
    t.setNonblocking(l, true);
    expect((await t.accept(l)).errno).to.equal(EWOULDBLOCK);
    t.setNonblocking(l, false);
    const blocked = t.accept(l);
    await Promise.resolve();
    // A connection that was never accepted is aborted with the listener.
    const c3 = t.socket(AF_INET, SOCK.STREAM, PIPE_PROTO).fd;
    const l2 = t.socket(AF_INET, SOCK.STREAM, PIPE_PROTO).fd;
    t.bind(l2, sockaddrIn(INADDR_ANY, 7001));
    t.listen(l2, 1);
    expect(await t.connect(c3, sockaddrIn(A1, 7001))).to.equal(0);
    expect(t.get(l2)!.q.length).to.equal(1);
    await t.close(l2);
    await t.close(l);
    expect((await blocked).errno).to.equal(Errno.ECONNABORTED);
    await t.closeAll();
    expect(layer.count).to.equal(0);
    host.pool.assertAllFree();
  });

  it('closing a socket while its copyin is in flight frees everything (EBADF)', async () => {
    const { host, t, c } = await pipePair(16, 65536);
    const src = new CountingSource(pattern(40000, 1));
    src.delayMs = 5;
    const sending = t.sendto(c, out(40000), src);
    await new Promise((r) => setTimeout(r, 1));
    await t.close(c);
    const r = await sending;
    expect(r.errno).to.equal(Errno.EBADF);
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('shutdown(SHUT_RD) while a copyout is in flight: the receive returns what it copied, nothing throws (sbdrop after sorflush)', async () => {
    const { host, t, c, s: sfd } = await pipePair(1, 65536);
    expect((await t.sendto(c, out(3000), new CountingSource(pattern(3000, 2)))).bytes).to.equal(3000);
    // A sink that completes only when the test says so (a remote client answering late).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inCopy = new Promise<void>((r) => (entered = r));
    const got = new Uint8Array(3000);
    const sink = {
      async copyout(uaddr: number, srcs: readonly Uint8Array[]): Promise<void> {
        let p = uaddr;
        for (const b of srcs) {
          got.set(b, p);
          p += b.length;
        }
        entered();
        await gate;
      },
    };
    const receiving = t.recvfrom(sfd, inn(3000), sink, 0, true);
    await inCopy;
    expect(t.get(sfd)!.rcv.cc).to.equal(3000);
    expect(t.shutdown(sfd, SHUT.RD)).to.equal(0);
    expect(t.get(sfd)!.rcv.cc).to.equal(0);
    release();
    const r = await receiving;
    expect(r.errno).to.equal(0);
    expect(r.bytes).to.equal(3000);
    expect(got).to.deep.equal(pattern(3000, 2));
    expect(t.get(sfd)!.rcv.cc).to.equal(0);
    // Reading on after SHUT_RD is end of file.
    expect((await t.recvfrom(sfd, inn(10), new CountingSink(new Uint8Array(10)))).bytes).to.equal(0);
    await t.closeAll();
    host.pool.assertAllFree();
  });
});
