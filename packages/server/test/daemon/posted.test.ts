/**
 * Posted sends (docs/PROTOCOL.md §6): a stream send whose bytes go inline
 * is written with the POSTED flag and gets no RESP; the server says in a
 * later RESP how far posted sends are done (`pd`), reports a failure late
 * (its own RESP, and the descriptor's next call: so_error), keeps later
 * calls on the descriptor behind them, and refuses what goes past the
 * window it announced. Off unless both ends say so, and off without inline
 * sends (the NetBSD-equivalent configuration).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { RumpConnection, createConnection, inet, type Socket } from '@rumpnet/client';
import type { RumpServer } from '../../src/server.js';
import { FrameFlag, MsgClass, MsgType, type CtlClient } from '../../src/proto/index.js';
import { rawClient, type RawClient } from '../proto/helpers.js';
import { cleanup, expectQuiet, patternBytes, readN, sha256, sleep, startServer, tcpPair, waitFor } from './helpers.js';

const ENOBUFS = 105;
const ECONNRESET = 104;

async function countersOf(ctl: RumpConnection, name: string): Promise<Record<string, number>> {
  const r = await ctl.call<{ clients: CtlClient[] }>('ctl.clients', {});
  const c = r.clients.find((x) => x.name === name);
  expect(c, `client ${name} in ctl.clients`).to.not.equal(undefined);
  return c!.counters;
}

/** A raw client's call and its answer (RESP or ERROR). */
async function rawCall(raw: RawClient, reqno: number, name: string, args: unknown): Promise<{ cls: number; head: Record<string, unknown> }> {
  raw.send(MsgClass.REQ, MsgType.SYSCALL, reqno, { name, args });
  const f = await raw.next((x) => x.meta.reqno === reqno && x.meta.cls !== MsgClass.REQ, 10_000);
  return { cls: f.meta.cls, head: (f.meta.head ?? {}) as Record<string, unknown> };
}

/** A posted send of `len` bytes on `fd` through `c`, resolving at once; its late error, if any, in `late`. */
function post(c: RumpConnection, fd: number, buf: Uint8Array, late?: (e: Error) => void): Promise<{ bytes: number }> {
  return c.call<{ bytes: number }>('sendto', { fd, buf: 0, len: buf.length, flags: 0 }, { buffers: { buf }, syscall: 'write', posted: true, ...(late ? { onLateError: late } : {}) });
}

describe('rump-server posted sends', function () {
  this.timeout(60_000);
  let srv: RumpServer;
  let tx: RumpConnection | undefined;
  let rx: RumpConnection | undefined;
  const raws: RawClient[] = [];
  after(() => cleanup());
  afterEach(async () => {
    for (const r of raws.splice(0)) r.sock.destroy();
    await tx?.close();
    await rx?.close();
    tx = rx = undefined;
    if (srv) {
      await expectQuiet(srv);
      await srv.close();
    }
  });

  it('announces the window only to a client that asks, and only with inline sends on', async () => {
    srv = await startServer();
    tx = await RumpConnection.connect(srv.url, { name: 'asks' });
    rx = await RumpConnection.connect(srv.url, { name: 'does-not', postedSend: false });
    expect(tx.params).to.include({ postedWindow: 64 * 1024, postedCalls: 64 });
    expect(rx.params).to.include({ postedWindow: 0, postedCalls: 0 });
    await tx.close();
    await rx.close();
    await srv.close();
    for (const cfg of [{ inlineMax: 0 }, { postedWindow: 0 }]) {
      srv = await startServer(cfg);
      const c = await RumpConnection.connect(srv.url, { name: 'off' });
      expect(c.params, JSON.stringify(cfg)).to.include({ postedWindow: 0, postedCalls: 0 });
      await c.close();
      await expectQuiet(srv);
      await srv.close();
    }
    srv = await startServer({ postedWindow: 4096, postedCalls: 3 });
    tx = await RumpConnection.connect(srv.url, { name: 'small' });
    expect(tx.params).to.include({ postedWindow: 4096, postedCalls: 3 });
  });

  it('a posted send is one frame to the server and none back; its completion rides on the next reply', async () => {
    srv = await startServer();
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const { s, r } = await tcpPair(tx, rx, 7600);
    const data = patternBytes(64, 1);
    const sent0 = tx.counters.framesSent;
    const got0 = tx.counters.framesReceived;
    expect(await post(tx, s, data)).to.deep.equal({ bytes: 64 });
    expect(tx.postedInFlight).to.equal(1);
    expect(sha256(await readN(rx, r, 64))).to.equal(sha256(data));
    // A PING's reply comes after any reply sent before it: the send got none.
    await tx.ping();
    expect(tx.counters.framesSent - sent0).to.equal(2);
    expect(tx.counters.framesReceived - got0).to.equal(1);
    expect(tx.postedInFlight).to.equal(1);
    // The next syscall reply says it is done.
    await tx.sys.getsockname(s);
    expect(tx.postedInFlight).to.equal(0);
    expect(tx.counters.postedSends).to.equal(1);
    const k = await countersOf(rx, 'sender');
    expect(k).to.include({ postedSends: 1, postedErrors: 0, postedRefused: 0, copyinRequests: 0 });
    await tx.sys.close(s);
    await rx.sys.close(r);
  });

  it('a posted send to a peer that reset fails late: its error reaches the caller, and the next call on the socket (SO_ERROR) once', async () => {
    srv = await startServer();
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const { s, r } = await tcpPair(tx, rx, 7601);
    // l_linger 0: the close sends a RST.
    await rx.sys.setsockopt(r, 'socket', 'SO_LINGER', 0);
    await rx.sys.close(r);
    const lateErr = new Promise<Error>((resolve) => void post(tx!, s, patternBytes(100, 2), resolve));
    const e = (await lateErr) as Error & { code?: string; errno?: number; syscall?: string };
    expect(e.code).to.be.oneOf(['ECONNRESET', 'EPIPE']);
    expect(e.syscall).to.equal('write');
    expect(tx.counters.postedLateErrors).to.equal(1);
    // The server kept it for the descriptor's next call, as so_error: read once, then cleared.
    expect(await tx.sys.getsockopt(s, 'socket', 'SO_ERROR')).to.equal(-e.errno!);
    // Then the stack's own so_error (a reset's ECONNRESET, when the send met EPIPE), then none:
    // the kept errno is not read twice.
    const after = [await tx.sys.getsockopt(s, 'socket', 'SO_ERROR'), await tx.sys.getsockopt(s, 'socket', 'SO_ERROR')];
    expect(after[1], JSON.stringify(after)).to.equal(0);
    if (after[0] !== 0) expect(after[0]).to.equal(ECONNRESET).and.not.equal(-e.errno!);
    expect((await countersOf(tx, 'sender')).postedErrors).to.equal(1);
    await tx.sys.close(s);
  });

  it('a Node socket whose peer reset: the write completes, then the socket emits the late error', async () => {
    srv = await startServer();
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const l = await rx.sys.socket('stream');
    await rx.sys.bind(l, inet('127.0.0.1', 7602));
    await rx.sys.listen(l, 4);
    const sock: Socket = createConnection({ port: 7602, host: '127.0.0.1', connection: tx });
    // Paused: no recv standing, so only the write can learn of the reset.
    sock.pause();
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const { fd: r } = await rx.sys.accept(l);
    await rx.sys.setsockopt(r, 'socket', 'SO_LINGER', 0);
    await rx.sys.close(r);
    await rx.sys.close(l);
    const errored = new Promise<Error & { code?: string; syscall?: string }>((resolve) => sock.once('error', resolve));
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    const written = new Promise<Error | null | undefined>((resolve) => sock.write(Buffer.alloc(64, 1), resolve));
    expect((await written) ?? null).to.equal(null);
    const e = await errored;
    expect(e.code).to.be.oneOf(['ECONNRESET', 'EPIPE']);
    expect(e.syscall).to.equal('write');
    await closed;
    expect(tx.counters.postedSends).to.be.at.least(1);
  });

  it('a posted write is done at once and owns a copy: its buffer may be changed as soon as the callback ran', async () => {
    srv = await startServer();
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const l = await rx.sys.socket('stream');
    await rx.sys.bind(l, inet('127.0.0.1', 7607));
    await rx.sys.listen(l, 4);
    const sock: Socket = createConnection({ port: 7607, host: '127.0.0.1', connection: tx });
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const { fd: r } = await rx.sys.accept(l);
    const want: Buffer[] = [];
    const buf = Buffer.alloc(1000);
    const frames0 = tx.counters.framesReceived;
    // Each write reuses one buffer, refilled in the previous write's callback (before the frame left).
    for (let i = 0; i < 20; i++) {
      buf.fill(i + 1);
      want.push(Buffer.from(buf));
      await new Promise<void>((resolve, reject) => sock.write(buf, (err?: Error | null) => (err ? reject(err) : (buf.fill(0xee), resolve()))));
    }
    expect(tx.counters.postedSends).to.equal(20);
    expect(sha256(await readN(rx, r, 20_000))).to.equal(sha256(...want));
    // No reply came for any of them (the socket's recv stands, unanswered).
    expect(tx.counters.framesReceived - frames0).to.equal(0);
    sock.destroy();
    await new Promise((resolve) => sock.once('close', resolve));
    await rx.sys.close(r);
    await rx.sys.close(l);
  });

  it('later calls on the socket wait for its posted sends: a shutdown behind blocked posted sends sends every byte, then the FIN', async () => {
    srv = await startServer();
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const { s, r } = await tcpPair(tx, rx, 7603);
    // Small buffers: the posted sends block in sosend until the receiver reads.
    await tx.sys.setsockopt(s, 'socket', 'SO_SNDBUF', 4096);
    await rx.sys.setsockopt(r, 'socket', 'SO_RCVBUF', 4096);
    const data = patternBytes(40 * 1500, 3);
    for (let i = 0; i < 40; i++) await post(tx, s, data.subarray(i * 1500, (i + 1) * 1500));
    expect(tx.counters.postedSends).to.equal(40);
    const shut = tx.sys.shutdown(s, 'wr');
    await sleep(50);
    const got = await readN(rx, r, data.length + 1);
    expect(got.length).to.equal(data.length);
    expect(sha256(got)).to.equal(sha256(data));
    await shut;
    expect(tx.postedInFlight).to.equal(0);
    await tx.sys.close(s);
    await rx.sys.close(r);
  });

  it('a receive that comes behind a blocked posted send is not held by it: it is served in the same turn', async () => {
    srv = await startServer();
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const a = await tcpPair(tx, rx, 7608);
    const b = await tcpPair(tx, rx, 7609);
    await tx.sys.setsockopt(a.s, 'socket', 'SO_SNDBUF', 4096);
    await rx.sys.setsockopt(a.r, 'socket', 'SO_RCVBUF', 4096);
    // Nobody reads a.r: these posted sends block in the server once the buffers are full.
    for (let i = 0; i < 20; i++) await post(tx, a.s, patternBytes(2000, i));
    await rx.sys.send(b.r, patternBytes(100, 77));
    // In one turn: another posted send on a (blocked behind the others), then a recv on b.
    void post(tx, a.s, patternBytes(2000, 99));
    const got = Buffer.alloc(100);
    const n = await tx.sys.recv(b.s, got);
    expect(n).to.equal(100);
    expect(sha256(got)).to.equal(sha256(patternBytes(100, 77)));
    expect(tx.postedInFlight).to.be.greaterThan(0);
    // Let them through, then clean up.
    expect((await readN(rx, a.r, 21 * 2000)).length).to.equal(21 * 2000);
    for (const x of [a.s, b.s]) await tx.sys.close(x);
    for (const x of [a.r, b.r]) await rx.sys.close(x);
  });

  it('a client keeps to its window: past it a write waits for its reply (which brings the acknowledgement), in order', async () => {
    srv = await startServer({ postedWindow: 4096, postedCalls: 3 });
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const l = await rx.sys.socket('stream');
    await rx.sys.bind(l, inet('127.0.0.1', 7610));
    await rx.sys.listen(l, 4);
    const sock: Socket = createConnection({ port: 7610, host: '127.0.0.1', connection: tx });
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const { fd: r } = await rx.sys.accept(l);
    const chunks = Array.from({ length: 12 }, (_, i) => patternBytes(1000, 200 + i));
    let most = 0;
    for (const c of chunks) {
      await new Promise<void>((resolve, reject) => sock.write(c, (err?: Error | null) => (err ? reject(err) : resolve())));
      most = Math.max(most, tx.postedInFlight);
    }
    expect(most).to.be.at.most(3);
    expect(tx.counters.postedFallbacks).to.be.greaterThan(0);
    expect(tx.counters.postedSends + tx.counters.postedFallbacks).to.equal(12);
    expect(sha256(await readN(rx, r, 12_000))).to.equal(sha256(...chunks));
    const k = await countersOf(rx, 'sender');
    expect(k.postedRefused).to.equal(0);
    sock.destroy();
    await new Promise((resolve) => sock.once('close', resolve));
    await rx.sys.close(r);
    await rx.sys.close(l);
  });

  it('the window is enforced: a client that posts past it gets ENOBUFS, the server holds no more, and others go on', async () => {
    srv = await startServer({ postedWindow: 8 * 1024, postedCalls: 8 });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    tx = await RumpConnection.connect(srv.url, { name: 'bystander' });
    const raw = await rawClient(srv.config.listen.kind === 'unix' ? srv.config.listen.path : '', { hello: { postedSend: true } });
    raws.push(raw);
    expect((raw.frames[0]!.meta.head as { result: Record<string, unknown> }).result).to.include({ postedWindow: 8192, postedCalls: 8 });
    const l = await rx.sys.socket('stream');
    await rx.sys.bind(l, inet('127.0.0.1', 7604));
    await rx.sys.listen(l, 4);
    const fd = (await rawCall(raw, 2, 'socket', { domain: 'inet', type: 'stream' })).head.result as { fd: number };
    expect((await rawCall(raw, 3, 'setsockopt', { fd: fd.fd, level: 'socket', name: 'SO_SNDBUF', value: 2048 })).head).to.have.property('result');
    const acc = rx.sys.accept(l);
    expect((await rawCall(raw, 4, 'connect', { fd: fd.fd, addr: inet('127.0.0.1', 7604) })).head).to.have.property('result');
    const { fd: r } = await acc;
    await rx.sys.setsockopt(r, 'socket', 'SO_RCVBUF', 2048);
    // 40 posted sends of 1 KiB, never reading a reply: the receiver does not read, so they block.
    for (let i = 0; i < 40; i++) raw.send(MsgClass.REQ, MsgType.SYSCALL, 100 + i, { name: 'sendto', args: { fd: fd.fd, len: 1024, flags: 0 } }, [patternBytes(1024, i)], FrameFlag.POSTED);
    const refusal = await raw.next((f) => f.meta.cls === MsgClass.RESP && f.meta.reqno >= 100, 10_000);
    expect((refusal.meta.head as { errno: number }).errno).to.equal(ENOBUFS);
    await waitFor(() => raw.frames.filter((f) => f.meta.reqno >= 100).length >= 32, 'the refusals', 10_000);
    const k = await countersOf(rx, 'raw');
    // At most the window is held (8 requests, 8 KiB): the rest refused on arrival.
    expect(k.postedSends).to.be.at.most(8);
    expect(k.postedRefused).to.equal(40 - k.postedSends!);
    // Another client is unaffected: its own posted sends and replies go on.
    const { s: s2, r: r2 } = await tcpPair(tx, rx, 7605);
    await post(tx, s2, patternBytes(500, 9));
    expect(sha256(await readN(rx, r2, 500))).to.equal(sha256(patternBytes(500, 9)));
    for (const x of [s2]) await tx.sys.close(x);
    for (const x of [r2, r, l]) await rx.sys.close(x);
    raw.sock.destroy();
  });

  it('refuses malformed use: a posted flag nobody announced, on a call other than an inline sendto, unknown flags, a non-boolean postedSend', async () => {
    srv = await startServer();
    const path = srv.config.listen.kind === 'unix' ? srv.config.listen.path : '';
    const plain = await rawClient(path);
    raws.push(plain);
    plain.send(MsgClass.REQ, MsgType.SYSCALL, 2, { name: 'sendto', args: { fd: 0, len: 4, flags: 0 } }, [Buffer.alloc(4)], FrameFlag.POSTED);
    const e1 = await plain.next((f) => f.meta.reqno === 2);
    expect(e1.meta.cls).to.equal(MsgClass.ERROR);
    expect(String((e1.meta.head as { reason: string }).reason)).to.match(/posted flag not announced/);
    const asks = await rawClient(path, { hello: { postedSend: true } });
    raws.push(asks);
    asks.send(MsgClass.REQ, MsgType.SYSCALL, 2, { name: 'getsockname', args: { fd: 0 } }, [], FrameFlag.POSTED);
    const e2 = await asks.next((f) => f.meta.reqno === 2);
    expect(e2.meta.cls).to.equal(MsgClass.ERROR);
    expect(String((e2.meta.head as { reason: string }).reason)).to.match(/only a sendto with its bytes inline may be posted/);
    asks.send(MsgClass.REQ, MsgType.SYSCALL, 3, { name: 'getsockname', args: { fd: 0 } }, [], 0x2);
    const e3 = await asks.next((f) => f.meta.reqno === 3);
    expect(e3.meta.cls).to.equal(MsgClass.ERROR);
    expect(String((e3.meta.head as { reason: string }).reason)).to.match(/unknown flags 0x2/);
    // The session lives on: a plain call still answers.
    expect((await rawCall(asks, 4, 'getsockname', { fd: 0 })).head).to.have.property('errno');
    const bad = await rawClient(path, { handshake: false });
    raws.push(bad);
    bad.send(MsgClass.REQ, MsgType.HANDSHAKE, 1, { version: 1, pid: 1, name: 'bad', postedSend: 'yes' });
    const e4 = await bad.next((f) => f.meta.reqno === 1);
    expect(e4.meta.cls).to.equal(MsgClass.ERROR);
    expect(String((e4.meta.head as { reason: string }).reason)).to.match(/postedSend must be true or false/);
    await bad.closed;
  });

  it('no byte lost or reordered across posted and ordinary writes of a Node socket (fast-check)', async () => {
    srv = await startServer();
    tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    const l = await rx.sys.socket('stream');
    await rx.sys.bind(l, inet('127.0.0.1', 7606));
    await rx.sys.listen(l, 8);
    let seed = 100;
    const write = fc.record({ size: fc.oneof(fc.integer({ min: 1, max: 2048 }), fc.integer({ min: 2049, max: 70_000 })), wait: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 24 }), async (writes) => {
        const sock = createConnection({ port: 7606, host: '127.0.0.1', connection: tx });
        const acc = rx!.sys.accept(l);
        await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
        const { fd: r } = await acc;
        const chunks = writes.map((w) => patternBytes(w.size, seed++));
        const total = chunks.reduce((a, c) => a + c.length, 0);
        const reading = readN(rx!, r, total + 1);
        // Some writes wait for their callback, others are made in the same turn (gathered).
        for (const [i, w] of writes.entries()) {
          const done = new Promise<void>((resolve, reject) => sock.write(chunks[i]!, (err?: Error | null) => (err ? reject(err) : resolve())));
          if (w.wait) await done;
        }
        sock.end();
        const got = await reading;
        expect(got.length).to.equal(total);
        expect(sha256(got)).to.equal(sha256(...chunks));
        sock.destroy();
        await rx!.sys.close(r);
        await new Promise((resolve) => (sock.destroyed && sock.closed ? resolve(undefined) : sock.once('close', resolve)));
      }),
      { numRuns: 12 },
    );
    expect(tx.counters.postedSends).to.be.greaterThan(0);
    await rx.sys.close(l);
  });
});
