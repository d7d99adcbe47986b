/**
 * The copy window (`--copy-window`) through the real session and socket
 * layer, counted on the server: `--mclnum 1 --copy-window 1` is NetBSD's
 * path — exactly one COPYIN per cluster, never two outstanding — and a
 * larger window keeps several outstanding while the data still arrives
 * intact and in order. A hand-driven client answers out of order, refuses
 * or ignores a copy in the middle of a window, closes its socket or goes
 * away with copies outstanding; every case ends with the pool all-free.
 */
import { expect } from 'chai';
import { RumpConnection, inet } from '@rumpnet/client';
import type { RumpServer } from '../../src/server.js';
import { MsgClass, MsgType, type CtlClient, type CtlServerInfo } from '../../src/proto/index.js';
import { rawClient, type RawClient, type RawFrame } from '../proto/helpers.js';
import { cleanup, expectQuiet, patternBytes, sha256, startServer } from './helpers.js';

const MiB = 1024 * 1024;
const EFAULT = 14;
const EBADF = 9;

/** The server's counters of the client named `name`, over the control protocol. */
async function countersOf(ctl: RumpConnection, name: string): Promise<Record<string, number>> {
  const r = await ctl.call<{ server: CtlServerInfo; clients: CtlClient[] }>('ctl.clients', {});
  const c = r.clients.find((x) => x.name === name);
  expect(c, `client ${name} in ctl.clients`).to.not.equal(undefined);
  return c!.counters;
}

/** One syscall of the raw client; resolves with the reply head. */
function rawCall(raw: RawClient, next: { reqno: number }, name: string, args: unknown, ms = 15_000): Promise<Record<string, unknown>> {
  const reqno = next.reqno++;
  raw.send(MsgClass.REQ, MsgType.SYSCALL, reqno, { name, args });
  return raw.next((f) => f.meta.reqno === reqno && f.meta.cls !== MsgClass.REQ && f.meta.type === MsgType.SYSCALL, ms).then((f) => (f.meta.head ?? {}) as Record<string, unknown>);
}

/** What the hand-driven client does with the i-th COPYIN (0-based, in the order asked). */
type Policy = (i: number) => 'answer' | 'refuse' | 'ignore';

/**
 * Answers the server's COPYINs from `data` (handle 1): each turn it takes
 * every COPYIN that has arrived and answers them in REVERSE order (the
 * protocol matches replies by number). `hold()` stops answering (they pile
 * up), `release()` resumes. Counts the most seen outstanding at once.
 */
function answerer(raw: RawClient, data: Uint8Array, policy: Policy = () => 'answer') {
  const seen = new Set<number>();
  let asked = 0;
  let held: RawFrame[] = [];
  let holding = false;
  let stopped = false;
  const ignored: RawFrame[] = [];
  const answer = (f: RawFrame): void => {
    const i = (f as RawFrame & { i: number }).i;
    const h = f.meta.head as { h: number; o: number; n: number };
    const what = policy(i);
    if (what === 'ignore') return void ignored.push(f);
    if (what === 'refuse') return raw.send(MsgClass.ERROR, MsgType.COPYIN, f.meta.reqno, { errno: EFAULT, reason: 'test refuses' });
    raw.send(MsgClass.RESP, MsgType.COPYIN, f.meta.reqno, undefined, [data.subarray(h.o, h.o + h.n)]);
  };
  const flush = (): void => {
    if (holding) return;
    const batch = held.reverse();
    held = [];
    for (const f of batch) answer(f);
  };
  const loop = (async () => {
    for (let turn = 0; turn < 1_000_000 && !stopped; turn++) {
      // A short wait, so that stop() ends the loop soon; bounded by the turn count.
      const f = await raw.next((x) => x.meta.cls === MsgClass.REQ && x.meta.type === MsgType.COPYIN && !seen.has(x.meta.reqno), 200).catch(() => null);
      if (stopped) return;
      if (f === null) continue;
      // Everything that has come by the end of this turn is one batch.
      await new Promise((r) => setImmediate(r));
      for (const x of raw.frames) {
        if (x.meta.cls === MsgClass.REQ && x.meta.type === MsgType.COPYIN && !seen.has(x.meta.reqno)) {
          seen.add(x.meta.reqno);
          held.push(Object.assign(x, { i: asked++ }));
        }
      }
      raw.frames.splice(0, raw.frames.length, ...raw.frames.filter((x) => !(x.meta.type === MsgType.COPYIN && seen.has(x.meta.reqno))));
      flush();
    }
  })();
  return {
    get asked() {
      return asked;
    },
    get heldNow() {
      return held.length;
    },
    ignored,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      flush();
    },
    stop() {
      stopped = true;
      return loop;
    },
  };
}

interface Rig {
  srv: RumpServer;
  rx: RumpConnection;
  raw: RawClient;
  next: { reqno: number };
  fd: number;
  conn: number;
}

/** A server, a receiving rump client with a listener on 127.0.0.1:`port`, and a raw client connected to it. */
async function rig(copyWindow: number, port: number, quota: Record<string, number> = {}): Promise<Rig> {
  const srv = await startServer({ mclbytes: 2048, mclnum: 1, copyWindow, quota });
  const rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
  const raw = await rawClient(srv.url.replace(/^unix:\/\//, ''));
  const next = { reqno: 100 };
  const l = await rx.sys.socket('stream');
  await rx.sys.bind(l, inet('127.0.0.1', port));
  await rx.sys.listen(l, 4);
  const accepting = rx.sys.accept(l);
  const s = (await rawCall(raw, next, 'socket', { domain: 'inet', type: 'stream' })).result as { fd: number };
  expect((await rawCall(raw, next, 'connect', { fd: s.fd, addr: inet('127.0.0.1', port) })).errno).to.equal(undefined);
  const conn = (await accepting).fd;
  await rx.sys.close(l);
  return { srv, rx, raw, next, fd: s.fd, conn };
}

/** Reads `conn` until end of stream or `max` bytes. */
async function readAll(rx: RumpConnection, conn: number, max: number): Promise<Buffer> {
  const got: Buffer[] = [];
  let n = 0;
  const buf = Buffer.alloc(64 * 1024);
  for (let i = 0; i < 100_000 && n < max; i++) {
    const k = await rx.sys.recv(conn, buf);
    if (k === 0) break;
    got.push(Buffer.from(buf.subarray(0, k)));
    n += k;
  }
  return Buffer.concat(got);
}

async function finish(r: Rig): Promise<void> {
  r.raw.sock.destroy();
  await r.rx.close();
  await expectQuiet(r.srv, 10_000);
  await r.srv.close();
}

describe('rump-server copy window (--copy-window) through the socket layer', function () {
  this.timeout(60_000);
  after(() => cleanup());

  for (const c of [
    { mclnum: 1, window: 1, requests: (n: number) => expect(n).to.equal(512), peak: (p: number) => expect(p).to.equal(1) },
    { mclnum: 1, window: 4, requests: (n: number) => expect(n).to.equal(512), peak: (p: number) => expect(p).to.be.within(2, 4) },
    { mclnum: 16, window: 4, requests: (n: number) => expect(n).to.be.at.most(32), peak: (p: number) => expect(p).to.be.within(2, 4) },
  ]) {
    const what = c.window === 1 ? 'NetBSD: exactly one COPYIN per cluster, never two outstanding' : 'more than one COPYIN outstanding, data intact';
    it(`--mclnum ${c.mclnum} --copy-window ${c.window}, 1 MiB in one TCP send: ${what}`, async () => {
      const srv = await startServer({ mclbytes: 2048, mclnum: c.mclnum, copyWindow: c.window });
      const tx = await RumpConnection.connect(srv.url, { name: 'sender' });
      const rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
      try {
        expect(tx.params.copyWindow).to.equal(c.window);
        const l = await rx.sys.socket('stream');
        await rx.sys.bind(l, inet('127.0.0.1', 7300));
        await rx.sys.listen(l, 4);
        const s = await tx.sys.socket('stream');
        const accepting = rx.sys.accept(l);
        await tx.sys.connect(s, inet('127.0.0.1', 7300));
        const conn = (await accepting).fd;
        const data = patternBytes(MiB, 77 + c.window);
        const reader = readAll(rx, conn, MiB + 1);
        expect(await tx.sys.send(s, data)).to.equal(MiB);
        await tx.sys.shutdown(s, 'wr');
        expect(sha256(await reader)).to.equal(sha256(data));
        const k = await countersOf(rx, 'sender');
        c.requests(k.copyinRequests);
        c.peak(k.copyinPeak);
        expect(k.copyinBytes).to.equal(MiB);
        await tx.close();
        await rx.close();
        await expectQuiet(srv, 10_000);
      } finally {
        await tx.close();
        await rx.close();
        await srv.close();
      }
    });
  }

  it('--copy-window 1 on UDP: 32 COPYINs per 65507-byte datagram at MCLNUM 1, one at a time', async () => {
    const srv = await startServer({ mclbytes: 2048, mclnum: 1, copyWindow: 1 });
    const tx = await RumpConnection.connect(srv.url, { name: 'sender' });
    const rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
    try {
      const r = await rx.sys.socket('dgram');
      await rx.sys.bind(r, inet('127.0.0.1', 7301));
      const s = await tx.sys.socket('dgram');
      const data = patternBytes(65507, 3);
      await tx.sys.sendto(s, data, inet('127.0.0.1', 7301));
      const buf = Buffer.alloc(65507);
      expect(await rx.sys.recv(r, buf)).to.equal(65507);
      expect(sha256(buf)).to.equal(sha256(data));
      const k = await countersOf(rx, 'sender');
      expect(k.copyinRequests).to.equal(32);
      expect(k.copyinPeak).to.equal(1);
      await tx.close();
      await rx.close();
      await expectQuiet(srv);
    } finally {
      await tx.close();
      await rx.close();
      await srv.close();
    }
  });

  it('window 8: replies answered in reverse order still give the bytes in order', async () => {
    const r = await rig(8, 7310);
    const data = patternBytes(512 * 1024, 5);
    const a = answerer(r.raw, data);
    const reader = readAll(r.rx, r.conn, data.length);
    const h = await rawCall(r.raw, r.next, 'sendto', { fd: r.fd, buf: 1, len: data.length });
    expect(h.result).to.deep.equal({ bytes: data.length });
    expect(sha256(await reader)).to.equal(sha256(data));
    const k = await countersOf(r.rx, 'raw');
    expect(k.copyinRequests).to.equal(256);
    expect(k.copyinPeak).to.be.within(2, 8);
    await a.stop();
    await finish(r);
  });

  it('window 8: a COPYIN refused mid-window fails the send with EFAULT; what came before arrives in order', async () => {
    const r = await rig(8, 7311);
    const data = patternBytes(256 * 1024, 6);
    const a = answerer(r.raw, data, (i) => (i === 21 ? 'refuse' : 'answer'));
    const h = await rawCall(r.raw, r.next, 'sendto', { fd: r.fd, buf: 1, len: data.length });
    expect(h.errno).to.equal(EFAULT);
    await rawCall(r.raw, r.next, 'shutdown', { fd: r.fd, how: 'wr' });
    const got = await readAll(r.rx, r.conn, data.length);
    expect(got.length).to.equal(21 * 2048);
    expect(sha256(got)).to.equal(sha256(data.subarray(0, got.length)));
    expect((await countersOf(r.rx, 'raw')).copyinRefused).to.equal(1);
    await a.stop();
    await finish(r);
  });

  it('window 8: a COPYIN never answered times out (EFAULT) while the others of the window were answered; its late reply is counted', async () => {
    const r = await rig(8, 7312, { copyinTimeoutMs: 3000 });
    const data = patternBytes(128 * 1024, 7);
    const a = answerer(r.raw, data, (i) => (i === 10 ? 'ignore' : 'answer'));
    const h = await rawCall(r.raw, r.next, 'sendto', { fd: r.fd, buf: 1, len: data.length });
    expect(h.errno).to.equal(EFAULT);
    expect(a.ignored.length).to.equal(1);
    const f = a.ignored[0]!;
    const hd = f.meta.head as { o: number; n: number };
    r.raw.send(MsgClass.RESP, MsgType.COPYIN, f.meta.reqno, undefined, [data.subarray(hd.o, hd.o + hd.n)]);
    await rawCall(r.raw, r.next, 'shutdown', { fd: r.fd, how: 'wr' });
    const got = await readAll(r.rx, r.conn, data.length);
    expect(got.length).to.equal(10 * 2048);
    expect(sha256(got)).to.equal(sha256(data.subarray(0, got.length)));
    const k = await countersOf(r.rx, 'raw');
    expect(k.copyinTimeouts).to.equal(1);
    expect(k.lateReplies).to.equal(1);
    await a.stop();
    await finish(r);
  });

  it('window 8: the client goes away with a window outstanding — every cluster comes back', async () => {
    const r = await rig(8, 7313);
    const data = patternBytes(256 * 1024, 8);
    const a = answerer(r.raw, data);
    a.hold();
    r.raw.send(MsgClass.REQ, MsgType.SYSCALL, r.next.reqno++, { name: 'sendto', args: { fd: r.fd, buf: 1, len: data.length } });
    for (let i = 0; i < 2000 && a.heldNow < 8; i++) await new Promise((res) => setTimeout(res, 5));
    expect(a.heldNow).to.equal(8);
    expect(r.srv.snapshot().pool.clustersInUse).to.be.greaterThan(0);
    r.raw.sock.destroy();
    await a.stop();
    await r.rx.close();
    await expectQuiet(r.srv, 10_000);
    await r.srv.close();
  });

  it('window 8: the sending socket closed with a window outstanding — EBADF, every cluster comes back', async () => {
    const r = await rig(8, 7314);
    const data = patternBytes(256 * 1024, 9);
    const a = answerer(r.raw, data);
    a.hold();
    const sending = rawCall(r.raw, r.next, 'sendto', { fd: r.fd, buf: 1, len: data.length });
    for (let i = 0; i < 2000 && a.heldNow < 8; i++) await new Promise((res) => setTimeout(res, 5));
    expect(a.heldNow).to.equal(8);
    const closing = rawCall(r.raw, r.next, 'close', { fd: r.fd });
    a.release();
    expect((await sending).errno).to.equal(EBADF);
    expect((await closing).errno).to.equal(undefined);
    await a.stop();
    await finish(r);
  });
});
