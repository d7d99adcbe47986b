/**
 * "Each client is a process": descriptor tables are per client (another
 * client's descriptor is EBADF), a client's departure closes everything it
 * held and wakes its blocked calls, the descriptor limit gives EMFILE, and
 * bad input that reaches the REAL socket layer mid-send (a COPYIN reply of
 * the wrong size, none at all, a hang-up during a copy) costs that call an
 * EFAULT and leaks nothing: after each test no descriptor, no socket, and
 * every cluster back in the pool.
 */
import { expect } from 'chai';
import { RumpConnection, inet, PollEvent } from '@rumpnet/client';
import { MsgClass, MsgType } from '../../src/proto/index.js';
import type { RumpServer } from '../../src/server.js';
import { rawClient } from '../proto/helpers.js';
import { cleanup, expectQuiet, patternBytes, sleep, startServer, waitFor } from './helpers.js';

const code = async (p: Promise<unknown>): Promise<string> => ((await p.then(() => ({ code: 'ok' }), (e: unknown) => e)) as { code: string }).code;

describe('rump-server: each client is a process', () => {
  let srv: RumpServer;
  beforeEach(async () => {
    srv = await startServer({ maxFds: 8, mclnum: 4 }, { limits: { copyinTimeoutMs: 300 } });
  });
  afterEach(async () => {
    await expectQuiet(srv);
    await srv.close();
  });
  after(() => cleanup());

  it('a descriptor of another client is EBADF, and the owner is not disturbed', async () => {
    const a = await RumpConnection.connect(srv.url);
    const b = await RumpConnection.connect(srv.url);
    const fds = [await a.sys.socket('dgram'), await a.sys.socket('dgram'), await a.sys.socket('dgram')];
    expect(fds).to.deep.equal([0, 1, 2]);
    await a.sys.bind(2, inet('127.0.0.1', 7300));
    // b has no descriptor 2: every call on it is EBADF, whatever a holds.
    expect(await code(b.sys.getsockname(2))).to.equal('EBADF');
    expect(await code(b.sys.sendto(2, Buffer.alloc(10), inet('127.0.0.1', 7300)))).to.equal('EBADF');
    expect(await code(b.sys.recv(2, Buffer.alloc(10), 0x40))).to.equal('EBADF');
    expect(await code(b.sys.close(2))).to.equal('EBADF');
    const p = await b.sys.poll([{ fd: 2, events: PollEvent.POLLIN }], 0);
    expect(p.fds[0]!.revents).to.equal(PollEvent.POLLNVAL);
    // b's own first descriptor is also 0, and a different socket.
    const bfd = await b.sys.socket('dgram');
    expect(bfd).to.equal(0);
    expect((await b.sys.getsockname(0)).port).to.equal(0);
    expect(await a.sys.getsockname(2)).to.deep.equal(inet('127.0.0.1', 7300));
    expect(srv.processes().map((x) => x.table.size).sort()).to.deep.equal([1, 3]);
    await a.close();
    await b.close();
  });

  it('a departing client has all its sockets closed and its blocked calls woken', async () => {
    const a = await RumpConnection.connect(srv.url);
    const s = await a.sys.socket('dgram');
    await a.sys.bind(s, inet('127.0.0.1', 7301));
    await a.sys.socket('dgram');
    // Calls blocked in the server when the client goes: a recv, and a poll with no timeout.
    const recv = a.sys.recv(s, Buffer.alloc(100)).catch((e: unknown) => e);
    const poll = a.sys.poll([{ fd: s, events: PollEvent.POLLIN }], -1).catch((e: unknown) => e);
    await waitFor(() => srv.processes()[0]?.session.inFlight === 2, 'two blocked calls');
    expect(srv.snapshot().sockets).to.equal(2);
    await a.close();
    expect(((await recv) as { code: string }).code).to.equal('ERR_RUMP_CLOSED');
    expect(((await poll) as { code: string }).code).to.equal('ERR_RUMP_CLOSED');
    await expectQuiet(srv);
    // The port is free again for someone else.
    const b = await RumpConnection.connect(srv.url);
    await b.sys.bind(await b.sys.socket('dgram'), inet('127.0.0.1', 7301));
    await b.close();
  });

  it('a client that vanishes mid-copy (a hung-up COPYIN) leaves nothing behind', async () => {
    const raw = await rawClient((srv.listener.address as { path: string }).path);
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 2, { name: 'socket', args: { domain: 'inet', type: 'dgram' } });
    const fd = ((await raw.next((f) => f.meta.reqno === 2)).meta.head as { result: { fd: number } }).result.fd;
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 3, {
      name: 'sendto',
      args: { fd, buf: 1, len: 30000, addr: { family: 'inet', address: '127.0.0.1', port: 9 } },
    });
    await raw.next((f) => f.meta.type === MsgType.COPYIN && f.meta.cls === MsgClass.REQ);
    expect(srv.snapshot().pool.clustersInUse).to.be.greaterThan(0); // the extended cluster waits for the bytes
    raw.sock.destroy();
    await raw.closed;
  });

  it('EMFILE at the descriptor limit, per client', async () => {
    const a = await RumpConnection.connect(srv.url);
    const b = await RumpConnection.connect(srv.url);
    for (let i = 0; i < 8; i++) expect(await a.sys.socket('dgram')).to.equal(i);
    expect(await code(a.sys.socket('dgram'))).to.equal('EMFILE');
    // The limit is a's: b still gets descriptors.
    expect(await b.sys.socket('dgram')).to.equal(0);
    await a.sys.close(3);
    expect(await a.sys.socket('dgram')).to.equal(3); // the lowest free descriptor, as POSIX says
    expect(srv.snapshot().fds).to.equal(9);
    await a.close();
    await b.close();
  });

  it('many clients at once, each with its own traffic', async () => {
    const n = 12;
    const conns = await Promise.all(Array.from({ length: n }, (_, i) => RumpConnection.connect(srv.url, { name: `c${i}` })));
    await Promise.all(
      conns.map(async (c, i) => {
        const s = await c.sys.socket('dgram');
        await c.sys.bind(s, inet('127.0.0.1', 7400 + i));
        const msg = patternBytes(5000 + i, i + 1);
        await c.sys.sendto(s, msg, inet('127.0.0.1', 7400 + ((i + 1) % n)));
        const buf = Buffer.alloc(6000);
        const r = await c.sys.recvfrom(s, buf);
        expect(r.addr).to.deep.equal(inet('127.0.0.1', 7400 + ((i + n - 1) % n)));
        expect(buf.subarray(0, r.bytes).equals(patternBytes(5000 + ((i + n - 1) % n), ((i + n - 1) % n) + 1))).to.equal(true);
      }),
    );
    expect(srv.snapshot().clients).to.equal(n);
    await Promise.all(conns.map((c) => c.close()));
  });
});

describe('rump-server: bad COPYIN replies reaching the real socket layer', () => {
  let srv: RumpServer;
  beforeEach(async () => {
    srv = await startServer({ mclnum: 16 }, { limits: { copyinTimeoutMs: 300 } });
  });
  afterEach(async () => {
    await expectQuiet(srv);
    await srv.close();
  });
  after(() => cleanup());

  async function sendWithReply(reply: 'wrong-size' | 'none' | 'refused'): Promise<unknown> {
    const raw = await rawClient((srv.listener.address as { path: string }).path);
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 2, { name: 'socket', args: { domain: 'inet', type: 'dgram' } });
    const fd = ((await raw.next((f) => f.meta.reqno === 2)).meta.head as { result: { fd: number } }).result.fd;
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 3, {
      name: 'sendto',
      args: { fd, buf: 1, len: 5000, addr: { family: 'inet', address: '127.0.0.1', port: 9 } },
    });
    const req = await raw.next((f) => f.meta.type === MsgType.COPYIN && f.meta.cls === MsgClass.REQ);
    expect(req.meta.head).to.deep.equal({ h: 1, o: 0, n: 5000 }); // one batched copy: 3 clusters of 2048
    if (reply === 'wrong-size') raw.send(MsgClass.RESP, MsgType.COPYIN, req.meta.reqno, undefined, [Buffer.alloc(4999)]);
    if (reply === 'refused') raw.send(MsgClass.ERROR, MsgType.COPYIN, req.meta.reqno, { errno: 14, reason: 'no such buffer' });
    const resp = await raw.next((f) => f.meta.reqno === 3, 3000);
    // The socket still works after the fault.
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 4, { name: 'getsockname', args: { fd } });
    expect((await raw.next((f) => f.meta.reqno === 4)).meta.head).to.have.property('result');
    raw.sock.destroy();
    await raw.closed;
    return resp.meta.head;
  }

  it('a reply of the wrong size: EFAULT, nothing sent, clusters freed', async () => {
    expect(await sendWithReply('wrong-size')).to.deep.equal({ errno: 14 });
    expect(srv.stack.sysctl.get('net.inet.udp.stats.opackets')).to.equal(0);
  });

  it('no reply in time: EFAULT after the copyin timeout', async () => {
    const t0 = Date.now();
    expect(await sendWithReply('none')).to.deep.equal({ errno: 14 });
    expect(Date.now() - t0).to.be.within(250, 2500);
  });

  it('a refused copy (unknown handle on the client): EFAULT', async () => {
    expect(await sendWithReply('refused')).to.deep.equal({ errno: 14 });
  });

  it('a client gone while a 64 KiB batched copy is outstanding frees its extended cluster', async () => {
    const raw = await rawClient((srv.listener.address as { path: string }).path);
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 2, { name: 'socket', args: { domain: 'inet', type: 'dgram' } });
    await raw.next((f) => f.meta.reqno === 2);
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 3, {
      name: 'sendto',
      args: { fd: 0, buf: 1, len: 65507, addr: { family: 'inet', address: '127.0.0.1', port: 9 } },
    });
    await raw.next((f) => f.meta.type === MsgType.COPYIN && f.meta.cls === MsgClass.REQ);
    await sleep(20);
    raw.sock.destroy();
    await raw.closed;
  });
});
