/**
 * Bad input from one client: each case gets an error for that request or a
 * disconnect of that client, and afterwards a second, healthy client on the
 * same server still works.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { RumpConnection } from '@rumpnet/client';
import { HEADER_SIZE, Hdr, MsgClass, MsgType, encodeFrame } from '../../src/proto/index.js';
import { cleanupDirs, rawClient, sleep, startServer, type RawClient, type TestServer } from './helpers.js';

describe('session: bad input never harms the server or other clients', () => {
  let srv: TestServer;
  let path: string;
  let healthyClient: RumpConnection;

  before(async () => {
    srv = await startServer(
      { mclbytes: 2048, mclnum: 4, rxMode: 'per-mbuf' },
      { copyinTimeoutMs: 150, maxInFlight: 4, maxBufferedBytes: 4096, maxFrame: 256 * 1024 },
    );
    path = srv.listener.address.kind === 'unix' ? srv.listener.address.path : '';
    // A client connected through all the abuse: it must not notice.
    healthyClient = await RumpConnection.connect(srv.url);
  });
  after(async () => {
    await healthyClient.close();
    await srv.listener.close();
    cleanupDirs();
  });

  /** The server answers a fresh client and the long-lived one, with data intact. */
  async function serverStillHealthy(): Promise<void> {
    const c = await RumpConnection.connect(srv.url);
    try {
      const data = randomBytes(20_000);
      const fd = 1000 + Math.floor(Math.random() * 1e6);
      await c.call('write', { fd, len: data.length }, { buffers: { buf: data } });
      const st = await c.call<{ sha256: string }>('stat', { fd });
      expect(st.sha256).to.equal(createHash('sha256').update(data).digest('hex'));
    } finally {
      await c.close();
    }
    await healthyClient.call('null', {});
  }

  async function expectDisconnected(raw: RawClient): Promise<string> {
    await raw.closed;
    const bye = raw.frames.find((f) => f.meta.reqno === 0 && f.meta.cls === MsgClass.ERROR);
    return String((bye?.meta.head as { reason?: string } | undefined)?.reason ?? '');
  }

  it('garbage bytes: that client is disconnected', async () => {
    const raw = await rawClient(path);
    raw.sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(await expectDisconnected(raw)).to.match(/bad framing/);
    await serverStillHealthy();
  });

  it('garbage instead of a handshake: disconnected', async () => {
    const raw = await rawClient(path, { handshake: false });
    raw.sock.write(randomBytes(64));
    await raw.closed;
    await serverStillHealthy();
  });

  it('a length shorter than the header: disconnected', async () => {
    const raw = await rawClient(path);
    const f = encodeFrame(MsgClass.REQ, MsgType.PING, 2, undefined);
    f.writeUInt32LE(HEADER_SIZE - 1, Hdr.LEN);
    raw.sock.write(f);
    expect(await expectDisconnected(raw)).to.match(/shorter than the header/);
    await serverStillHealthy();
  });

  it('an oversized length: disconnected without buffering it', async () => {
    const raw = await rawClient(path);
    const f = encodeFrame(MsgClass.REQ, MsgType.SYSCALL, 2, undefined);
    f.writeUInt32LE(512 * 1024 * 1024, Hdr.LEN);
    raw.sock.write(f);
    expect(await expectDisconnected(raw)).to.match(/exceeds the limit/);
    await serverStillHealthy();
  });

  it('a truncated frame and a hang-up: the session closes cleanly', async () => {
    const raw = await rawClient(path);
    const before = srv.mem.closedSessions.length;
    const f = encodeFrame(MsgClass.REQ, MsgType.SYSCALL, 2, { name: 'null', args: {} });
    raw.sock.end(f.subarray(0, f.length - 3));
    await raw.closed;
    for (let i = 0; i < 50 && srv.mem.closedSessions.length === before; i++) await sleep(10);
    expect(srv.mem.closedSessions.length).to.equal(before + 1);
    await serverStillHealthy();
  });

  it('an undecodable head: ERROR for that request, the connection stays', async () => {
    const raw = await rawClient(path);
    const f = Buffer.alloc(HEADER_SIZE + 2);
    f.writeUInt32LE(f.length, Hdr.LEN);
    f.writeUInt32LE(3, Hdr.REQNO);
    f.writeUInt8(MsgType.SYSCALL, Hdr.TYPE);
    f.writeUInt32LE(2, Hdr.HEADLEN);
    f.set([0xc1, 0xc1], HEADER_SIZE);
    raw.sock.write(f);
    const e = await raw.next((x) => x.meta.reqno === 3);
    expect(e.meta.cls).to.equal(MsgClass.ERROR);
    raw.send(MsgClass.REQ, MsgType.PING, 4, undefined);
    expect((await raw.next((x) => x.meta.reqno === 4)).meta.cls).to.equal(MsgClass.RESP);
    raw.sock.destroy();
    await serverStillHealthy();
  });

  it('an unknown message type: ERROR for that request', async () => {
    const raw = await rawClient(path);
    raw.send(MsgClass.REQ, 99, 5, { x: 1 });
    const e = await raw.next((x) => x.meta.reqno === 5);
    expect(e.meta.cls).to.equal(MsgClass.ERROR);
    expect(e.meta.head).to.deep.equal({ reason: 'unknown request type 99' });
    raw.sock.destroy();
    await serverStillHealthy();
  });

  it('an unknown syscall: ERROR for that request', async () => {
    const raw = await rawClient(path);
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 6, { name: 'reboot', args: {} });
    const e = await raw.next((x) => x.meta.reqno === 6);
    expect(e.meta.cls).to.equal(MsgClass.ERROR);
    expect(e.meta.head).to.deep.equal({ reason: "unknown syscall 'reboot'" });
    raw.sock.destroy();
    await serverStillHealthy();
  });

  it('wrong argument types: ERROR for that request, the handler never runs', async () => {
    const raw = await rawClient(path);
    const before = srv.listener.sessions.reduce((n, s) => n + s.counters.syscalls, 0);
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 7, { name: 'write', args: { fd: 'x', buf: 1, len: 5 } });
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 8, { name: 'close', args: { fd: 1, more: true } });
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 9, { name: 'connect', args: { fd: 1, addr: { family: 'inet', address: 'evil', port: 1 } } });
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 10, { name: 42 });
    for (const r of [7, 8, 9, 10]) expect((await raw.next((x) => x.meta.reqno === r)).meta.cls).to.equal(MsgClass.ERROR);
    expect((raw.frames.find((x) => x.meta.reqno === 7)!.meta.head as { reason: string }).reason).to.match(/argument 'fd'/);
    expect(srv.listener.sessions.reduce((n, s) => n + s.counters.syscalls, 0)).to.equal(before);
    raw.sock.destroy();
    await serverStillHealthy();
  });

  it('a COPYIN reply that never comes: EFAULT for that syscall after the timeout; a late reply is counted and dropped', async () => {
    const raw = await rawClient(path);
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 11, { name: 'write', args: { fd: 77, buf: 1, len: 100 } });
    const req = await raw.next((x) => x.meta.type === MsgType.COPYIN && x.meta.cls === MsgClass.REQ);
    expect(req.meta.head).to.deep.equal({ h: 1, o: 0, n: 100 });
    const t0 = Date.now();
    const resp = await raw.next((x) => x.meta.reqno === 11, 2000);
    expect(Date.now() - t0).to.be.within(100, 1500);
    expect(resp.meta.cls).to.equal(MsgClass.RESP);
    expect(resp.meta.head).to.deep.equal({ errno: 14 });
    const session = srv.listener.sessions.at(-1)!;
    expect(session.counters.copyinTimeouts).to.equal(1);
    raw.send(MsgClass.RESP, MsgType.COPYIN, req.meta.reqno, undefined, [Buffer.alloc(100)]);
    raw.send(MsgClass.REQ, MsgType.PING, 12, undefined);
    await raw.next((x) => x.meta.reqno === 12);
    expect(session.counters.lateReplies).to.equal(1);
    expect(session.counters.protocolErrors).to.equal(0);
    raw.sock.destroy();
    await serverStillHealthy();
  });

  it('a COPYIN reply of the wrong size: EFAULT for that syscall', async () => {
    const raw = await rawClient(path);
    raw.send(MsgClass.REQ, MsgType.SYSCALL, 13, { name: 'write', args: { fd: 78, buf: 1, len: 100 } });
    const req = await raw.next((x) => x.meta.type === MsgType.COPYIN && x.meta.cls === MsgClass.REQ);
    raw.send(MsgClass.RESP, MsgType.COPYIN, req.meta.reqno, undefined, [Buffer.alloc(99)]);
    const resp = await raw.next((x) => x.meta.reqno === 13);
    expect(resp.meta.head).to.deep.equal({ errno: 14 });
    expect(srv.listener.sessions.at(-1)!.counters.copyinWrongSize).to.equal(1);
    expect(srv.mem.files.get(78)?.size ?? 0).to.equal(0);
    raw.sock.destroy();
    await serverStillHealthy();
  });

  it('a reply to a request never made: counted as a protocol error', async () => {
    const raw = await rawClient(path);
    raw.send(MsgClass.RESP, MsgType.COPYIN, 424242, undefined, [Buffer.alloc(10)]);
    raw.send(MsgClass.REQ, MsgType.PING, 14, undefined);
    await raw.next((x) => x.meta.reqno === 14);
    expect(srv.listener.sessions.at(-1)!.counters.protocolErrors).to.equal(1);
    raw.sock.destroy();
    await serverStillHealthy();
  });

  it('a flood beyond the in-flight and buffer limits: that client is disconnected', async () => {
    const raw = await rawClient(path);
    for (let i = 0; i < 200; i++) raw.send(MsgClass.REQ, MsgType.SYSCALL, 100 + i, { name: 'block', args: { key: `flood${i}` } });
    expect(await expectDisconnected(raw)).to.match(/flood/);
    for (let i = 0; i < 50 && [...srv.mem.blocked.keys()].some((k) => k.startsWith('flood')); i++) await sleep(10);
    expect([...srv.mem.blocked.keys()].filter((k) => k.startsWith('flood'))).to.deep.equal([]);
    await serverStillHealthy();
  });

  it('a stream of protocol errors past the limit: disconnected', async () => {
    const raw = await rawClient(path);
    for (let i = 0; i < 100; i++) raw.send(MsgClass.REQ, 77, 1000 + i, undefined);
    expect(await expectDisconnected(raw)).to.match(/too many protocol errors/);
    await serverStillHealthy();
  });
});
