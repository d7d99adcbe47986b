/**
 * Inline small writes (`--inline-max`): the server announces its threshold
 * in the handshake, a client sends up to that many bytes with the sendto
 * request itself, and the server serves sosend's copies from them — COPYIN
 * requests avoided, counted on both sides. `--inline-max 0` is NetBSD's
 * rump: every byte COPYINed. A client that breaks the announced limit, or
 * sends bytes with a call that takes none, gets a protocol error or EINVAL
 * for that call and the session lives on.
 */
import { expect } from 'chai';
import { RumpConnection, inet } from '@rumpnet/client';
import type { RumpServer } from '../../src/server.js';
import { MsgClass, MsgType, type CtlClient, type CtlServerInfo } from '../../src/proto/index.js';
import { rawClient, type RawClient } from '../proto/helpers.js';
import { cleanup, expectQuiet, patternBytes, readN, sha256, startServer, tcpPair } from './helpers.js';

const EINVAL = 22;
const ENOBUFS = 105;

async function countersOf(ctl: RumpConnection, name: string): Promise<Record<string, number>> {
  const r = await ctl.call<{ server: CtlServerInfo; clients: CtlClient[] }>('ctl.clients', {});
  const c = r.clients.find((x) => x.name === name);
  expect(c, `client ${name} in ctl.clients`).to.not.equal(undefined);
  return c!.counters;
}

function rawCall(raw: RawClient, next: { reqno: number }, name: string, args: unknown, payload: Uint8Array[] = []): Promise<{ cls: number; head: Record<string, unknown> }> {
  const reqno = next.reqno++;
  raw.send(MsgClass.REQ, MsgType.SYSCALL, reqno, { name, args }, payload);
  return raw
    .next((f) => f.meta.reqno === reqno && f.meta.cls !== MsgClass.REQ && f.meta.type === MsgType.SYSCALL, 10_000)
    .then((f) => ({ cls: f.meta.cls, head: (f.meta.head ?? {}) as Record<string, unknown> }));
}

describe('rump-server inline small writes (--inline-max)', function () {
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

  it('announces inlineMax (default 2048); 1 KiB writes go inline: no COPYIN, copies avoided counted on both sides, bytes intact', async () => {
    srv = await startServer({ mclnum: 16 });
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    expect(tx.params.inlineMax).to.equal(2048);
    const { s, r } = await tcpPair(tx, rx, 7400);
    const data = patternBytes(64 * 1024, 4);
    const reading = readN(rx, r, data.length);
    for (let i = 0; i < 64; i++) expect(await tx.sys.send(s, data.subarray(i * 1024, (i + 1) * 1024))).to.equal(1024);
    expect(sha256(await reading)).to.equal(sha256(data));
    const k = await countersOf(rx, 'sender');
    expect(k.copyinRequests).to.equal(0);
    expect(k.copyinsAvoided).to.equal(64);
    expect(k.inlineBytes).to.equal(64 * 1024);
    expect(tx.counters.inlineSends).to.equal(64);
    expect(tx.counters.inlineBytes).to.equal(64 * 1024);
    expect(tx.counters.copyinRequests).to.equal(0);
  });

  it('a write above the threshold still goes by COPYIN; a datagram of exactly inlineMax goes inline', async () => {
    srv = await startServer({ mclnum: 1, copyWindow: 1, inlineMax: 2048 });
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const r = await rx.sys.socket('dgram');
    await rx.sys.bind(r, inet('127.0.0.1', 7401));
    const s = await tx.sys.socket('dgram');
    const big = patternBytes(4096, 1);
    const small = patternBytes(2048, 2);
    await tx.sys.sendto(s, big, inet('127.0.0.1', 7401));
    await tx.sys.sendto(s, small, inet('127.0.0.1', 7401));
    const buf = Buffer.alloc(8192);
    expect(sha256(buf.subarray(0, await rx.sys.recv(r, buf)))).to.equal(sha256(big));
    expect(sha256(buf.subarray(0, await rx.sys.recv(r, buf)))).to.equal(sha256(small));
    const k = await countersOf(rx, 'sender');
    expect(k.copyinRequests).to.equal(2); // the 4096 bytes: two clusters, one COPYIN each
    expect(k.copyinsAvoided).to.equal(1); // the 2048 bytes: one cluster, from the request
    expect(tx.counters.inlineSends).to.equal(1);
  });

  it('--inline-max 0 (the NetBSD-equivalent): nothing inline, every byte COPYINed', async () => {
    srv = await startServer({ mclnum: 1, copyWindow: 1, inlineMax: 0 });
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    expect(tx.params.inlineMax).to.equal(0);
    const { s, r } = await tcpPair(tx, rx, 7402);
    const data = patternBytes(64, 3);
    const reading = readN(rx, r, 64);
    await tx.sys.send(s, data);
    expect(sha256(await reading)).to.equal(sha256(data));
    const k = await countersOf(rx, 'sender');
    expect(k.copyinRequests).to.equal(1);
    expect(k.copyinsAvoided).to.equal(0);
    expect(tx.counters.inlineSends).to.equal(0);
  });

  it('inline bytes are charged to the quota as the cluster a COPYIN would pin: ENOBUFS when the client holds too much, served once it reads', async () => {
    // Two clusters' worth of quota; the receiver then holds one datagram (a cluster and an address mbuf).
    srv = await startServer({ inlineMax: 2048, quota: { clientClusters: 2 } });
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const r = await rx.sys.socket('dgram');
    await rx.sys.bind(r, inet('127.0.0.1', 7404));
    const s = await tx.sys.socket('dgram');
    await tx.sys.sendto(s, patternBytes(2000, 1), inet('127.0.0.1', 7404));
    const t = await rx.sys.socket('dgram');
    const err = await rx.sys.sendto(t, Buffer.alloc(100), inet('127.0.0.1', 7405)).then(
      () => undefined,
      (e: { errno?: number }) => e,
    );
    expect(err?.errno).to.equal(-ENOBUFS);
    expect(rx.counters.inlineSends).to.equal(1);
    const buf = Buffer.alloc(4096);
    expect(await rx.sys.recv(r, buf)).to.equal(2000);
    expect(await rx.sys.sendto(t, Buffer.alloc(100), inet('127.0.0.1', 7405))).to.equal(100);
  });

  it('bad inline input: more than announced, bytes on a call that takes none, a wrong length, buf and bytes both — refused, the session lives', async () => {
    srv = await startServer({ inlineMax: 512 });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    tx = await RumpConnection.connect(srv.url, { name: 'unused' });
    const raw = await rawClient(srv.url.replace(/^unix:\/\//, ''));
    try {
      const next = { reqno: 100 };
      const u = await rawCall(raw, next, 'socket', { domain: 'inet', type: 'dgram' });
      const fd = (u.head.result as { fd: number }).fd;
      const to = inet('127.0.0.1', 7403);
      // More than the announced 512 bytes: a protocol error (ERROR), never gathered.
      const over = await rawCall(raw, next, 'sendto', { fd, len: 513, addr: to }, [new Uint8Array(513)]);
      expect(over.cls).to.equal(MsgClass.ERROR);
      expect(String(over.head.reason)).to.match(/exceeds the announced inlineMax 512/);
      // Bytes with a call that copies nothing in.
      const sock = await rawCall(raw, next, 'socket', { domain: 'inet', type: 'dgram' }, [new Uint8Array(8)]);
      expect(sock.cls).to.equal(MsgClass.ERROR);
      // len and the bytes disagree; a handle and bytes both; neither.
      expect((await rawCall(raw, next, 'sendto', { fd, len: 10, addr: to }, [new Uint8Array(8)])).head.errno).to.equal(EINVAL);
      expect((await rawCall(raw, next, 'sendto', { fd, buf: 1, len: 8, addr: to }, [new Uint8Array(8)])).head.errno).to.equal(EINVAL);
      expect((await rawCall(raw, next, 'sendto', { fd, len: 8, addr: to })).head.errno).to.equal(EINVAL);
      // Still served: a correct inline send.
      const ok = await rawCall(raw, next, 'sendto', { fd, len: 8, addr: to }, [new Uint8Array(8)]);
      expect(ok.head.result).to.deep.equal({ bytes: 8 });
      const k = await countersOf(rx, 'raw');
      expect(k.protocolErrors).to.equal(2);
      expect(k.payloadRequests).to.equal(2);
      expect(k.copyinsAvoided).to.equal(1);
    } finally {
      raw.sock.destroy();
    }
  });
});
