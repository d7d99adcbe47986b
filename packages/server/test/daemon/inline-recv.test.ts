/**
 * Inline receives (`--inline-recv-max`): a client that announces
 * `inlineRecv` in its handshake gets a receive's bytes inside the RESP when
 * the call returns at most the limit — no COPYOUT frame. The limit counts
 * the bytes returned, not the buffer asked for. Counted on both ends
 * (server `copyoutsAvoided`/`inlineRecvBytes`, client `inlineRecvs`); every
 * figure here is an exact count of copy requests, and the bytes are checked.
 */
import { expect } from 'chai';
import { MsgFlag, RumpConnection, inet, inet6 } from '@rumpnet/client';
import type { RumpServer } from '../../src/server.js';
import { MsgClass, MsgType, type CtlClient, type CtlServerInfo } from '../../src/proto/index.js';
import { rawClient } from '../proto/helpers.js';
import { cleanup, expectQuiet, patternBytes, readN, sha256, startServer, tcpPair } from './helpers.js';

type Counters = Record<string, number>;

const MSG_TRUNC = 0x20; // Linux: a datagram longer than the buffer

async function ctlClients(ctl: RumpConnection): Promise<{ server: CtlServerInfo; clients: CtlClient[] }> {
  return ctl.call<{ server: CtlServerInfo; clients: CtlClient[] }>('ctl.clients', {});
}

async function countersOf(ctl: RumpConnection, name: string): Promise<Counters> {
  const c = (await ctlClients(ctl)).clients.find((x) => x.name === name);
  expect(c, `client ${name} in ctl.clients`).to.not.equal(undefined);
  return c!.counters;
}

describe('rump-server inline receives (--inline-recv-max)', function () {
  this.timeout(30_000);
  let srv: RumpServer;
  let tx: RumpConnection;
  let rx: RumpConnection;
  after(() => cleanup());
  afterEach(async () => {
    await tx?.close();
    await rx?.close();
    if (srv) {
      await expectQuiet(srv);
      await srv.close();
    }
  });

  for (const v6 of [false, true]) {
    it(`TCP over ${v6 ? 'IPv6' : 'IPv4'}, defaults: 64-byte echoes come back with no COPYOUT, the bytes inside the replies`, async () => {
      srv = await startServer({});
      tx = await RumpConnection.connect(srv.url, { name: 'a' });
      rx = await RumpConnection.connect(srv.url, { name: 'b' });
      expect(rx.params.inlineRecvMax).to.equal(2048);
      const { s, r } = await tcpPair(tx, rx, 7410, v6);
      const buf = Buffer.alloc(65536); // the buffer asked for is far above the limit: what counts is what returns
      for (let i = 0; i < 20; i++) {
        const msg = patternBytes(64, i);
        await tx.sys.send(s, msg);
        const n = await rx.sys.recv(r, buf);
        expect(n).to.equal(64);
        expect(sha256(buf.subarray(0, 64))).to.equal(sha256(msg));
        buf.fill(0, 0, 64);
      }
      const k = await countersOf(rx, 'b');
      expect(k.copyoutRequests).to.equal(0);
      expect(k.copyoutsAvoided).to.equal(20);
      expect(k.inlineRecvBytes).to.equal(20 * 64);
      expect(rx.counters.copyoutRequests).to.equal(0);
      expect(rx.counters.inlineRecvs).to.equal(20);
      expect(rx.counters.inlineRecvBytes).to.equal(20 * 64);
      // The server's totals since start count them too.
      const { server } = await ctlClients(rx);
      expect(server.inlineRecvMax).to.equal(2048);
      expect(server.copies?.copyoutsAvoided).to.equal(20);
    });
  }

  it('--inline-recv-max 0 (the NetBSD-equivalent): one COPYOUT per receive, nothing inline', async () => {
    srv = await startServer({ inlineRecvMax: 0 });
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    expect(rx.params.inlineRecvMax).to.equal(0);
    const { s, r } = await tcpPair(tx, rx, 7411);
    for (let i = 0; i < 10; i++) {
      const msg = patternBytes(64, i);
      await tx.sys.send(s, msg);
      expect(sha256(await readN(rx, r, 64))).to.equal(sha256(msg));
    }
    const k = await countersOf(rx, 'b');
    expect(k.copyoutRequests).to.equal(10);
    expect(k.copyoutsAvoided).to.equal(0);
    expect(rx.counters.inlineRecvs).to.equal(0);
  });

  it('UDP recvfrom with the sender address: exactly at the limit inline, one byte above by COPYOUT, a truncated datagram by what it returns', async () => {
    srv = await startServer({ inlineRecvMax: 1000 });
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    expect(rx.params.inlineRecvMax).to.equal(1000);
    const r = await rx.sys.socket('dgram');
    await rx.sys.bind(r, inet('127.0.0.1', 7412));
    const s = await tx.sys.socket('dgram');
    await tx.sys.bind(s, inet('127.0.0.1', 7413));
    const at = patternBytes(1000, 1);
    const over = patternBytes(1001, 2);
    const long = patternBytes(5000, 3);
    for (const d of [at, over, long]) await tx.sys.sendto(s, d, inet('127.0.0.1', 7412));
    const buf = Buffer.alloc(8192);
    let got = await rx.sys.recvfrom(r, buf);
    expect(got.bytes).to.equal(1000);
    expect(got.addr).to.deep.include({ family: 'inet', address: '127.0.0.1', port: 7413 });
    expect(sha256(buf.subarray(0, 1000))).to.equal(sha256(at));
    let k = await countersOf(rx, 'b');
    expect([k.copyoutRequests, k.copyoutsAvoided]).to.deep.equal([0, 1]);
    got = await rx.sys.recvfrom(r, buf);
    expect(got.bytes).to.equal(1001);
    expect(sha256(buf.subarray(0, 1001))).to.equal(sha256(over));
    k = await countersOf(rx, 'b');
    expect([k.copyoutRequests, k.copyoutsAvoided]).to.deep.equal([1, 1]);
    // 5000 bytes into a 100-byte buffer: 100 return (MSG_TRUNC), and 100 is within the limit.
    const small = Buffer.alloc(100);
    got = await rx.sys.recvfrom(r, small);
    expect(got.bytes).to.equal(100);
    expect(got.flags).to.equal(MSG_TRUNC);
    expect(sha256(small)).to.equal(sha256(long.subarray(0, 100)));
    k = await countersOf(rx, 'b');
    expect([k.copyoutRequests, k.copyoutsAvoided, k.inlineRecvBytes]).to.deep.equal([1, 2, 1100]);
  });

  it('UDP over IPv6: recvfrom returns the bytes inline and the sender address as before', async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const r = await rx.sys.socket('dgram', { domain: 'inet6' });
    await rx.sys.bind(r, inet6('::1', 7414));
    const s = await tx.sys.socket('dgram', { domain: 'inet6' });
    await tx.sys.bind(s, inet6('::1', 7415));
    const d = patternBytes(300, 4);
    await tx.sys.sendto(s, d, inet6('::1', 7414));
    const buf = Buffer.alloc(2048);
    const got = await rx.sys.recvfrom(r, buf);
    expect(got.bytes).to.equal(300);
    expect(got.addr).to.deep.include({ family: 'inet6', address: '::1', port: 7415 });
    expect(sha256(buf.subarray(0, 300))).to.equal(sha256(d));
    const k = await countersOf(rx, 'b');
    expect([k.copyoutRequests, k.copyoutsAvoided]).to.deep.equal([0, 1]);
  });

  it('MSG_PEEK returns the bytes inline and leaves them; the read after returns the same bytes inline', async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const { s, r } = await tcpPair(tx, rx, 7416);
    const msg = patternBytes(200, 5);
    await tx.sys.send(s, msg);
    const peek = Buffer.alloc(1000);
    // The segment may still be on its way over lo0: peek until it is there (bounded).
    let n = 0;
    for (let i = 0; i < 100 && n < 200; i++) n = await rx.sys.recv(r, peek, MsgFlag.MSG_PEEK);
    expect(n).to.equal(200);
    expect(sha256(peek.subarray(0, 200))).to.equal(sha256(msg));
    const buf = Buffer.alloc(1000);
    expect(await rx.sys.recv(r, buf)).to.equal(200);
    expect(sha256(buf.subarray(0, 200))).to.equal(sha256(msg));
    const k = await countersOf(rx, 'b');
    expect(k.copyoutRequests).to.equal(0);
    expect(k.copyoutsAvoided).to.be.at.least(2);
    expect(k.inlineRecvBytes).to.equal(200 * k.copyoutsAvoided!);
  });

  it('MSG_WAITALL: bytes gathered over several arrivals stay inline up to the limit; past it they are flushed by COPYOUT, in order', async () => {
    srv = await startServer({ inlineRecvMax: 2048 });
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const { s, r } = await tcpPair(tx, rx, 7417);
    // 1000 bytes in ten writes to a reader waiting for all 1000.
    const small = patternBytes(1000, 6);
    const buf = Buffer.alloc(8192);
    let reading = rx.sys.recv(r, buf.subarray(0, 1000), MsgFlag.MSG_WAITALL);
    for (let i = 0; i < 10; i++) await tx.sys.send(s, small.subarray(i * 100, (i + 1) * 100));
    expect(await reading).to.equal(1000);
    expect(sha256(buf.subarray(0, 1000))).to.equal(sha256(small));
    let k = await countersOf(rx, 'b');
    expect([k.copyoutRequests, k.copyoutsAvoided, k.inlineRecvBytes]).to.deep.equal([0, 1, 1000]);
    // 6000 bytes in six writes: the first arrivals are held, the one that passes 2048 flushes them.
    const big = patternBytes(6000, 7);
    reading = rx.sys.recv(r, buf.subarray(0, 6000), MsgFlag.MSG_WAITALL);
    for (let i = 0; i < 6; i++) await tx.sys.send(s, big.subarray(i * 1000, (i + 1) * 1000));
    expect(await reading).to.equal(6000);
    expect(sha256(buf.subarray(0, 6000))).to.equal(sha256(big));
    k = await countersOf(rx, 'b');
    expect(k.copyoutsAvoided).to.equal(1);
    expect(k.copyoutRequests).to.be.at.least(1);
    expect(k.copyoutBytes).to.equal(6000);
  });

  it('a client that does not announce inline receives gets every receive by COPYOUT', async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b', inlineRecv: false });
    expect(rx.params.inlineRecvMax).to.equal(0);
    expect(tx.params.inlineRecvMax).to.equal(2048);
    const { s, r } = await tcpPair(tx, rx, 7418);
    for (let i = 0; i < 5; i++) {
      const msg = patternBytes(64, i);
      await tx.sys.send(s, msg);
      expect(sha256(await readN(rx, r, 64))).to.equal(sha256(msg));
    }
    const k = await countersOf(rx, 'b');
    expect(k.copyoutRequests).to.equal(5);
    expect(k.copyoutsAvoided).to.equal(0);
    expect(rx.counters.inlineRecvs).to.equal(0);
    expect(rx.counters.copyFaults).to.equal(0);
  });

  it('held bytes are charged to the quota: a client without room gets them by COPYOUT, never an error', async () => {
    // Two clusters' worth of quota (2 × (2048 + 256) bytes). The receiver holds a 2000-byte datagram
    // on one socket (a cluster and an address mbuf); holding even 100 bytes of another socket's
    // datagram for the reply is charged a cluster, which does not fit beside it: COPYOUT.
    // Once the big one is read, there is room, and the next receive is held.
    srv = await startServer({ quota: { clientClusters: 2 } });
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const full = await rx.sys.socket('dgram');
    await rx.sys.bind(full, inet('127.0.0.1', 7419));
    const r = await rx.sys.socket('dgram');
    await rx.sys.bind(r, inet('127.0.0.1', 7420));
    const s = await tx.sys.socket('dgram');
    const big = patternBytes(2000, 8);
    const small = patternBytes(100, 9);
    await tx.sys.sendto(s, big, inet('127.0.0.1', 7419));
    await tx.sys.sendto(s, small, inet('127.0.0.1', 7420));
    await tx.sys.sendto(s, small, inet('127.0.0.1', 7420));
    const buf = Buffer.alloc(4096);
    expect(await rx.sys.recv(r, buf)).to.equal(100);
    expect(sha256(buf.subarray(0, 100))).to.equal(sha256(small));
    let k = await countersOf(rx, 'b');
    expect([k.copyoutRequests, k.copyoutsAvoided]).to.deep.equal([1, 0]);
    expect(await rx.sys.recv(full, buf)).to.equal(2000);
    expect(sha256(buf.subarray(0, 2000))).to.equal(sha256(big));
    expect(await rx.sys.recv(r, buf)).to.equal(100);
    expect(sha256(buf.subarray(0, 100))).to.equal(sha256(small));
    k = await countersOf(rx, 'b');
    expect(k.copyoutsAvoided).to.equal(2);
    expect(k.copyoutRequests).to.equal(1);
    // Nothing stays charged once the calls are done.
    const proc = srv.processes().find((p) => p.session.peer?.name === 'b')!;
    expect(proc.account.used).to.equal(0);
  });

  it('a handshake whose inlineRecv is not a boolean is refused with a clear reason and the connection closed', async () => {
    srv = await startServer({});
    for (const bad of ['yes', 1, { on: true }, null]) {
      const raw = await rawClient(srv.url.replace(/^unix:\/\//, ''), { handshake: false });
      try {
        raw.send(MsgClass.REQ, MsgType.HANDSHAKE, 1, { version: 1, pid: process.pid, name: 'raw', inlineRecv: bad });
        const f = await raw.next((x) => x.meta.reqno === 1, 5000);
        expect(f.meta.cls, JSON.stringify(bad)).to.equal(MsgClass.ERROR);
        expect(String((f.meta.head as { reason?: unknown }).reason)).to.match(/^bad handshake: inlineRecv must be true or false, got /);
        await raw.closed;
      } finally {
        raw.sock.destroy();
      }
    }
    // A well-formed one with inlineRecv: false is a plain session.
    const ok = await rawClient(srv.url.replace(/^unix:\/\//, ''), { handshake: false });
    try {
      ok.send(MsgClass.REQ, MsgType.HANDSHAKE, 1, { version: 1, pid: process.pid, name: 'raw', inlineRecv: false });
      const f = await ok.next((x) => x.meta.reqno === 1, 5000);
      expect(f.meta.cls).to.equal(MsgClass.RESP);
      expect((f.meta.head as { result: { inlineRecvMax: number } }).result.inlineRecvMax).to.equal(0);
    } finally {
      ok.sock.destroy();
    }
  });
});
