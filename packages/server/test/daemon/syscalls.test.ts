/**
 * The socket system calls through a real server and the real socket layer
 * (in-process server for speed, real client connections over a Unix
 * socket): UDP between two clients of one server, checked with sha256,
 * addresses, options, poll, non-blocking calls and errors as errno.
 */
import { expect } from 'chai';
import { RumpConnection, inet, PollEvent, MsgFlag } from '@rumpnet/client';
import { cleanup, expectQuiet, patternBytes, sha256, startServer, twoClientsEach } from './helpers.js';

describe('rump-server syscalls: UDP between two clients of one server', () => {
  const t = twoClientsEach();
  let a: RumpConnection;
  let b: RumpConnection;
  beforeEach(() => ({ a, b } = t));

  it('moves 200 datagrams of varied sizes intact (sha256) with the sender address', async () => {
    const rx = await b.sys.socket('dgram');
    await b.sys.bind(rx, inet('127.0.0.1', 7001));
    const tx = await a.sys.socket('dgram');
    await a.sys.bind(tx, inet('127.0.0.1', 7002));
    const sizes = Array.from({ length: 200 }, (_, i) => [0, 1, 100, 207, 208, 1472, 2048, 4097, 20000, 65507][i % 10]!);
    const sent: Buffer[] = sizes.map((n, i) => patternBytes(n, i + 1));
    const got: Buffer[] = [];
    // The receive side reads as the send side writes; 200 datagrams fit in the receive buffer in pieces only, so interleave.
    const reader = (async () => {
      const buf = Buffer.alloc(65536);
      for (let i = 0; i < sent.length; i++) {
        const r = await b.sys.recvfrom(rx, buf);
        expect(r.addr).to.deep.equal(inet('127.0.0.1', 7002));
        got.push(Buffer.from(buf.subarray(0, r.bytes)));
      }
    })();
    for (const d of sent) expect(await a.sys.sendto(tx, d, inet('127.0.0.1', 7001))).to.equal(d.length);
    await reader;
    expect(got.map((g) => g.length)).to.deep.equal(sizes);
    expect(sha256(...got)).to.equal(sha256(...sent));
  });

  it('connect, send, recv, getsockname and getpeername', async () => {
    const rx = await b.sys.socket('dgram');
    await b.sys.bind(rx, inet('127.0.0.1', 7003));
    const tx = await a.sys.socket('dgram');
    await a.sys.connect(tx, inet('127.0.0.1', 7003));
    const me = await a.sys.getsockname(tx);
    expect(me.address).to.equal('127.0.0.1');
    expect(me.port).to.be.within(49152, 65535);
    expect(await a.sys.getpeername(tx)).to.deep.equal(inet('127.0.0.1', 7003));
    const msg = patternBytes(3000, 7);
    expect(await a.sys.send(tx, msg)).to.equal(3000);
    const buf = Buffer.alloc(4000);
    const r = await b.sys.recvfrom(rx, buf);
    expect(r.addr).to.deep.equal(me);
    expect(sha256(buf.subarray(0, r.bytes))).to.equal(sha256(msg));
    const e = (await b.sys.getpeername(rx).catch((x: unknown) => x)) as NodeJS.ErrnoException;
    expect(e.code).to.equal('ENOTCONN');
  });

  it('poll reports readable, non-blocking recv says EAGAIN, a short buffer truncates', async () => {
    const rx = await b.sys.socket('dgram', { nonblock: true });
    await b.sys.bind(rx, inet('127.0.0.1', 7004));
    const buf = Buffer.alloc(100);
    const e = (await b.sys.recv(rx, buf).catch((x: unknown) => x)) as NodeJS.ErrnoException;
    expect(e.code).to.equal('EAGAIN');
    expect(e.errno).to.equal(-11);
    const empty = await b.sys.poll([{ fd: rx, events: PollEvent.POLLIN }], 0);
    expect(empty.ready).to.equal(0);
    // POLLOUT holds at once on an idle datagram socket.
    const out = await b.sys.poll([{ fd: rx, events: PollEvent.POLLOUT }], -1);
    expect(out.fds[0]!.revents).to.equal(PollEvent.POLLOUT);
    // A descriptor that is not open here is POLLNVAL, at once.
    const nval = await b.sys.poll([{ fd: rx, events: PollEvent.POLLIN }, { fd: 99, events: PollEvent.POLLIN }], -1);
    expect(nval.fds.map((f) => f.revents)).to.deep.equal([0, PollEvent.POLLNVAL]);
    const waiting = b.sys.poll([{ fd: rx, events: PollEvent.POLLIN }], 2000);
    const tx = await a.sys.socket('dgram');
    await a.sys.sendto(tx, patternBytes(500, 3), inet('127.0.0.1', 7004));
    const p = await waiting;
    expect(p.ready).to.equal(1);
    expect(p.fds[0]!.revents & PollEvent.POLLIN).to.equal(PollEvent.POLLIN);
    // A 500-byte datagram into 100 bytes: cut, the rest dropped (MSG_TRUNC reports the real size).
    const r = await b.call<{ bytes: number; flags?: number }>('recvfrom', { fd: rx, buf: 0, len: 100, flags: MsgFlag.MSG_DONTWAIT }, { buffers: { buf } });
    expect(r.bytes).to.equal(100);
    expect(r.flags).to.equal(0x20);
    expect(buf.equals(patternBytes(500, 3).subarray(0, 100))).to.equal(true);
  });

  it('socket options by name, and errors as errno', async () => {
    const s = await a.sys.socket('dgram');
    await a.sys.setsockopt(s, 'socket', 'SO_REUSEADDR', true);
    expect(await a.sys.getsockopt(s, 'socket', 'SO_REUSEADDR')).to.equal(1);
    await a.sys.setsockopt(s, 'socket', 'SO_RCVBUF', 32768);
    expect(await a.sys.getsockopt(s, 'socket', 'SO_RCVBUF')).to.equal(32768);
    await a.sys.setsockopt(s, 'ip', 'IP_TTL', 9);
    expect(await a.sys.getsockopt(s, 'ip', 'IP_TTL')).to.equal(9);
    expect(await a.sys.getsockopt(s, 'socket', 'SO_LINGER')).to.equal(-1);
    // TCP's loss recovery by its sysctl number (0 newreno, 1 sack — the default —, 2 rack).
    const t = await a.sys.socket('stream');
    expect(await a.sys.getsockopt(t, 'tcp', 'TCP_RECOVERY')).to.equal(1);
    await a.sys.setsockopt(t, 'tcp', 'TCP_RECOVERY', 2);
    expect(await a.sys.getsockopt(t, 'tcp', 'TCP_RECOVERY')).to.equal(2);
    await a.sys.close(t);
    const codes = async (p: Promise<unknown>): Promise<string> => ((await p.then(() => ({ code: 'none' }), (e: unknown) => e)) as { code: string }).code;
    expect(await codes(a.sys.setsockopt(s, 'socket', 'SO_NOSUCH', 1))).to.equal('ENOPROTOOPT');
    expect(await codes(a.sys.bind(s, inet('10.9.9.9', 1)))).to.equal('EADDRNOTAVAIL');
    expect(await codes(a.sys.sendto(s, Buffer.alloc(65508), inet('127.0.0.1', 9)))).to.equal('EMSGSIZE');
    expect(await codes(a.sys.send(s, Buffer.alloc(10)))).to.equal('EDESTADDRREQ');
    // 95 is EOPNOTSUPP and ENOTSUP on Linux; Node (libuv) names it ENOTSUP.
    expect(await codes(a.sys.listen(s, 5))).to.equal('ENOTSUP');
    expect(await codes(a.sys.accept(s))).to.equal('EINVAL');
    expect(await codes(a.sys.socket('raw'))).to.equal('EPROTONOSUPPORT');
    expect(await codes(a.sys.close(77))).to.equal('EBADF');
    const e = (await a.sys.connect(77, inet('127.0.0.1', 80)).catch((x: unknown) => x)) as Error;
    expect(e.message).to.equal('connect EBADF 127.0.0.1:80');
    await a.sys.close(s);
  });

  it('an unreachable port comes back as ECONNREFUSED on a connected socket', async () => {
    const s = await a.sys.socket('dgram');
    await a.sys.connect(s, inet('127.0.0.1', 9)); // nobody there: ICMP port unreachable
    await a.sys.send(s, Buffer.from('hello'));
    const buf = Buffer.alloc(10);
    const e = (await a.sys.recv(s, buf).catch((x: unknown) => x)) as NodeJS.ErrnoException;
    expect(e.code).to.equal('ECONNREFUSED');
  });
});

describe('rump-server syscalls: receive modes', () => {
  after(() => cleanup());

  for (const [rxMode, expected] of [
    ['per-mbuf', 33], // 65507 bytes arrive on lo0 in one chain of 2048-byte clusters: one COPYOUT per mbuf
    ['coalesced', 1], // one COPYOUT per call
  ] as const) {
    it(`${rxMode}: a 65507-byte datagram takes ${expected} COPYOUT request(s)`, async () => {
      const srv = await startServer({ mclnum: 16, rxMode });
      const a = await RumpConnection.connect(srv.url);
      const b = await RumpConnection.connect(srv.url);
      expect(b.params.rxMode).to.equal(rxMode);
      const rx = await b.sys.socket('dgram');
      await b.sys.bind(rx, inet('127.0.0.1', 7010));
      const tx = await a.sys.socket('dgram');
      const data = patternBytes(65507, 11);
      await a.sys.sendto(tx, data, inet('127.0.0.1', 7010));
      const buf = Buffer.alloc(65507);
      const before = b.counters.copyoutRequests;
      const r = await b.sys.recvfrom(rx, buf);
      expect(r.bytes).to.equal(65507);
      expect(sha256(buf)).to.equal(sha256(data));
      const proc = srv.processes().find((p) => p.session.peer?.pid === process.pid && p.table.size === 1 && p.session.counters.copyoutRequests > 0)!;
      expect(proc.session.counters.copyoutRequests).to.equal(expected);
      expect(b.counters.copyoutRequests - before).to.equal(expected);
      await a.close();
      await b.close();
      await expectQuiet(srv);
      await srv.close();
    });
  }
});
