/**
 * The streamed receive's server end (syscalls/rxstream.ts, docs/PROTOCOL.md
 * §7a "Streamed receive"), driven through the connection's raw
 * `recvStream` (no socket in between, so the test decides what is
 * consumed): a client that consumes nothing gets exactly its window and the
 * rest stays in the socket buffer; consuming restarts it through the
 * doorbell; a consumed position beyond what was produced ends the stream
 * EFAULT (`shmFaults`); a taken slot is EBUSY; the session's end with a
 * stream waiting for window frees everything. In-process server (the
 * client's pid is its own, as in shm.test.ts).
 */
import { expect } from 'chai';
import { RumpConnection, StreamSink } from '@rumpnet/client';
import { shmAddon, shmMappings, shmUnavailable } from '@rumpnet/client/shm';
import type { RumpServer } from '../../src/server.js';
import { cleanup, expectQuiet, patternBytes, sha256, startServer, tcpPair, waitFor } from './helpers.js';

type Counters = Record<string, number>;

async function countersOf(ctl: RumpConnection, name: string): Promise<Counters> {
  const r = await ctl.call<{ clients: { name?: string; counters: Counters }[] }>('ctl.clients', {});
  return r.clients.find((x) => x.name === name)!.counters;
}

/** The client's region, to write the stream slot as a (lying) client would. */
function regionOf(c: RumpConnection): { streamConsumed(slot: number, pos: number): boolean } {
  return (c as unknown as { shm: { streamConsumed(slot: number, pos: number): boolean } }).shm;
}

const CHUNK = 64 * 1024;
const WINDOW = 256 * 1024;

describe('rump-server streamed receive (§7a)', function () {
  this.timeout(30_000);
  let srv: RumpServer | undefined;
  let tx: RumpConnection | undefined;
  let rx: RumpConnection | undefined;
  let base = { count: 0, bytes: 0 };
  before(function () {
    if (shmAddon() === undefined) {
      console.log(`      skipped: ${shmUnavailable()}`);
      this.skip();
    }
  });
  beforeEach(() => {
    base = shmMappings();
  });
  after(() => cleanup());
  afterEach(async () => {
    await tx?.close();
    await rx?.close();
    tx = rx = undefined;
    if (srv) {
      await expectQuiet(srv);
      await srv.close();
      expect(srv.shm.bytes).to.equal(0);
      srv = undefined;
    }
    expect(shmMappings()).to.deep.equal(base);
  });

  it('a client that consumes nothing gets no more than its window; consuming rings the doorbell and the rest follows in order', async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const { s, r } = await tcpPair(tx, rx, 7540);
    const msg = patternBytes(1 << 20, 21);
    const w = tx.sys.send(s, msg);
    const chunks: Buffer[] = [];
    const call = rx.recvStream(r, CHUNK, WINDOW, new StreamSink((b) => chunks.push(b)))!;
    expect(call).to.not.equal(undefined);
    const got = (): number => chunks.reduce((n, b) => n + b.length, 0);
    await waitFor(() => got() > WINDOW - CHUNK, 'the window filled');
    // Nothing consumed: the server stops where one more chunk would pass the window (it waits, the rest stays in the socket buffer).
    await new Promise((res) => setTimeout(res, 200));
    expect(got()).to.be.within(WINDOW - CHUNK + 1, WINDOW);
    const syscalls = (await countersOf(rx, 'b')).syscalls;
    // Hand everything on, as the program takes it: the doorbell restarts the stream.
    let handed = 0;
    for (let i = 0; i < 10_000 && handed < msg.length; i++) {
      await waitFor(() => got() > handed, 'more bytes');
      handed = got();
      rx.streamConsumed(call.slot, handed);
    }
    expect(sha256(Buffer.concat(chunks))).to.equal(sha256(msg));
    expect(rx.counters.streamDoorbells).to.be.at.least(1);
    // No request per chunk: only the ctl.clients call above and below.
    expect((await countersOf(rx, 'b')).syscalls - syscalls).to.equal(1);
    await w;
    await tx.sys.shutdown(s, 'wr');
    expect(await call.done).to.deep.equal({ bytes: msg.length, eof: true });
    await rx.sys.close(r);
    await tx.sys.close(s);
  });

  it('a consumed position beyond what was produced ends the stream EFAULT (shmFaults); a taken slot is EBUSY', async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const { s, r } = await tcpPair(tx, rx, 7541);
    const w = tx.sys.send(s, patternBytes(1 << 20, 22));
    const chunks: Buffer[] = [];
    const call = rx.recvStream(r, CHUNK, WINDOW, new StreamSink((b) => chunks.push(b)))!;
    await waitFor(() => chunks.reduce((n, b) => n + b.length, 0) > WINDOW - CHUNK, 'the window filled');
    // Another stream on the same slot.
    const again = rx.call('recvstream', { fd: r, buf: 0, len: CHUNK, window: WINDOW, slot: call.slot }, { buffers: { buf: new StreamSink(() => undefined) as unknown as Uint8Array } });
    expect(await again.then(() => 'resolved', (e: NodeJS.ErrnoException) => e.code)).to.equal('EBUSY');
    // Lie: claim 8 MiB consumed of the 256 KiB produced (and ring, as the flag is set).
    regionOf(rx).streamConsumed(call.slot, 8 << 20);
    const err = await call.done.then(() => undefined, (e: NodeJS.ErrnoException) => e);
    expect(err?.code).to.equal('EFAULT');
    expect((await countersOf(rx, 'b')).shmFaults).to.equal(1);
    await rx.sys.close(r);
    await tx.sys.close(s);
    await w.catch(() => undefined);
  });

  it('shutdown(SHUT_RD) ends a stream waiting for data with EOF; close ends one waiting for window EBADF', async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const { s, r } = await tcpPair(tx, rx, 7543);
    // No data: the stream blocks in soreceive; SHUT_RD wakes it at end of stream.
    const idle = rx.recvStream(r, CHUNK, WINDOW, new StreamSink(() => undefined))!;
    await new Promise((res) => setTimeout(res, 100));
    await rx.sys.shutdown(r, 'rd');
    expect(await idle.done).to.deep.equal({ bytes: 0, eof: true });
    await rx.sys.close(r);
    await tx.sys.close(s);
    // A stream stopped at its window (nothing consumed): closing the descriptor ends it.
    const p2 = await tcpPair(tx, rx, 7544);
    const w = tx.sys.send(p2.s, patternBytes(1 << 20, 24));
    const chunks: Buffer[] = [];
    const full = rx.recvStream(p2.r, CHUNK, WINDOW, new StreamSink((b) => chunks.push(b)))!;
    await waitFor(() => chunks.reduce((n, b) => n + b.length, 0) > WINDOW - CHUNK, 'the window filled');
    const ended = full.done.then(() => 'resolved', (e: NodeJS.ErrnoException) => e.code);
    await rx.sys.close(p2.r);
    expect(await ended).to.equal('EBADF');
    await tx.sys.close(p2.s);
    await w.catch(() => undefined);
  });

  it('--max-in-flight 4: six idle streams do not take the calls\' slots — ordinary calls go on, and the streams show in usage', async () => {
    srv = await startServer({ quota: { maxInFlight: 4 } });
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const ctl = await RumpConnection.connect(srv.url, { name: 'ctl' });
    try {
      const usage = async (): Promise<{ inFlight: number; queuedRequests: number; streams?: number }> => {
        const r = await ctl.call<{ clients: { name: string | null; inFlight: number; queuedRequests: number; streams?: number }[] }>('ctl.usage', {});
        return r.clients.find((c) => c.name === 'b')!;
      };
      const pairs: { s: number; r: number }[] = [];
      for (let i = 0; i < 6; i++) pairs.push(await tcpPair(tx, rx, 7550 + i));
      // Six streams blocked in soreceive (no data yet): more than --max-in-flight.
      const calls = pairs.map((p) => rx!.recvStream(p.r, CHUNK, WINDOW, new StreamSink(() => undefined))!);
      let u = await usage();
      for (let i = 0; i < 100 && u.streams !== 6; i++) {
        await new Promise((res) => setTimeout(res, 20));
        u = await usage();
      }
      expect(u.streams).to.equal(6);
      expect(u.inFlight).to.equal(0);
      expect(u.queuedRequests).to.equal(0);
      // Ordinary calls are served at once (before: queued behind the streams for good).
      const extra = await rx.sys.socket('stream', { domain: 'inet' });
      await rx.sys.close(extra);
      for (const p of pairs) await rx.sys.shutdown(p.r, 'rd');
      for (const c of calls) expect(await c.done).to.deep.equal({ bytes: 0, eof: true });
      expect((await usage()).streams).to.equal(0);
      for (const p of pairs) {
        await rx.sys.close(p.r);
        await tx.sys.close(p.s);
      }
    } finally {
      await ctl.close();
    }
  });

  it("16 stalled streams (every slot, windows full, socket buffers filling) hold only their own session's share: another session streams 4 MiB intact, the stalled one's calls still go, its close frees everything", async function () {
    this.timeout(90_000);
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const c = await RumpConnection.connect(srv.url, { name: 'c' });
    const d = await RumpConnection.connect(srv.url, { name: 'd' });
    try {
      // b: a reader that stopped — 16 streams, nothing ever consumed.
      const pairs: { s: number; r: number }[] = [];
      for (let i = 0; i < 16; i++) pairs.push(await tcpPair(tx, rx, 7560 + i));
      const sends = pairs.map((p, i) => tx!.sys.send(p.s, patternBytes(1 << 20, 40 + i)).catch(() => undefined));
      const got = pairs.map(() => 0);
      const calls = pairs.map((p, i) => rx!.recvStream(p.r, CHUNK, WINDOW, new StreamSink((b) => (got[i]! += b.length)))!);
      expect(calls.every((x) => x !== undefined)).to.equal(true);
      // Bounded, not timed: under load, data dropped at the quota waits for the senders' retransmission timers.
      await waitFor(() => got.every((n) => n > WINDOW - CHUNK), 'every window filled', 40_000);
      // No seventeenth slot for b (its own limit), but its ordinary calls go on.
      expect(rx.recvStream(pairs[0]!.r, CHUNK, WINDOW, new StreamSink(() => undefined))).to.equal(undefined);
      const extra = await rx.sys.socket('stream', { domain: 'inet' });
      await rx.sys.close(extra);
      const row = (await c.call<{ clients: { name: string | null; clusterBytes: number; quotaBytes: number; streams?: number }[] }>('ctl.usage', {})).clients.find((x) => x.name === 'b')!;
      expect(row.streams).to.equal(16);
      // b's socket buffers are charged to b and stay within its quota (one segment over at most):
      // sixteen 1 MiB windows advertised while b was empty used to be held in full (5× the quota);
      // the in-window data past it is now dropped unacknowledged (tcp rcvquotadrop, quota-drop.test.ts).
      expect(row.clusterBytes, "b's socket buffers within its quota").to.be.at.most(row.quotaBytes + 128 * 1024);
      // c → d: another session streams 4 MiB, consumed as it comes, intact.
      const q = await tcpPair(c, d, 7580);
      const msg = patternBytes(4 << 20, 60);
      const w = c.sys.send(q.s, msg);
      const chunks: Buffer[] = [];
      const call = d.recvStream(q.r, CHUNK, WINDOW, new StreamSink((b) => chunks.push(b)))!;
      expect(call, 'd gets its own slots').to.not.equal(undefined);
      const have = (): number => chunks.reduce((n, b) => n + b.length, 0);
      let handed = 0;
      for (let i = 0; i < 10_000 && handed < msg.length; i++) {
        await waitFor(() => have() > handed, 'more bytes for d', 20_000);
        handed = have();
        d.streamConsumed(call.slot, handed);
      }
      expect(sha256(Buffer.concat(chunks))).to.equal(sha256(msg));
      await w;
      await c.sys.shutdown(q.s, 'wr');
      expect(await call.done).to.deep.equal({ bytes: msg.length, eof: true });
      await d.sys.close(q.r);
      await c.sys.close(q.s);
      // b still stalled: every stream at its window, none past it.
      expect(got.every((n) => n > WINDOW - CHUNK && n <= WINDOW)).to.equal(true);
      // b goes away: its streams end, the senders' sends end, and (afterEach) the pool is all free.
      const ended = calls.map((x) => x.done.then(() => 'resolved', () => 'failed'));
      await rx.close();
      rx = undefined;
      expect(await Promise.all(ended)).to.deep.equal(pairs.map(() => 'failed'));
      for (const p of pairs) await tx.sys.close(p.s);
      await Promise.all(sends);
    } finally {
      await c.close();
      await d.close();
    }
  });

  it("the session's end with a stream waiting for window frees everything", async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    const { s, r } = await tcpPair(tx, rx, 7542);
    const w = tx.sys.send(s, patternBytes(1 << 20, 23));
    const chunks: Buffer[] = [];
    const call = rx.recvStream(r, CHUNK, WINDOW, new StreamSink((b) => chunks.push(b)))!;
    await waitFor(() => chunks.reduce((n, b) => n + b.length, 0) > WINDOW - CHUNK, 'the window filled');
    const done = call.done.then(() => 'resolved', (e: Error) => e.message);
    await rx.close();
    rx = undefined;
    expect(await done).to.match(/closed/);
    await tx.sys.close(s);
    await w.catch(() => undefined);
    // afterEach: the server quiet (no process, descriptor or socket, every cluster back), nothing mapped.
  });
});
