/**
 * The stream socket's read-ahead (socket.ts `#pump`): after a recv that came
 * back full, the next recv is asked for before the bytes are delivered, so
 * the server copies out the next read while this process hands over the
 * last one. Against the real daemon on its lo0: the bytes stay in order
 * (sha256) with recvs asked ahead, a request/response exchange of small
 * reads never asks ahead (an idle socket keeps one recv standing, not two),
 * and a paused reader holds at most one read past its high-water mark.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { RumpConnection, createConnection, createServer, type Server, type Socket } from '../src/index.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('net: stream read-ahead of one recv (real daemon, lo0)', function () {
  this.timeout(60_000);
  let daemon: Daemon;
  let wconn: RumpConnection;
  let rconn: RumpConnection;
  let server: Server;
  let port: number;
  let onConn: (s: Socket) => void = () => undefined;
  const accepted = new Set<Socket>();

  before(async function () {
    // The recv pump's read-ahead: streamed receives (rxstream.test.ts) would replace it.
    process.env.RUMPNET_RX_STREAM = '0';
    daemon = await startDaemon(['--log-level', 'warn']);
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
    wconn = await RumpConnection.connect(daemon.url, { name: 'ra-writer' });
    rconn = await RumpConnection.connect(daemon.url, { name: 'ra-reader' });
    server = createServer({ connection: wconn }, (s) => {
      accepted.add(s);
      s.once('close', () => accepted.delete(s));
      onConn(s);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    delete process.env.RUMPNET_RX_STREAM;
    // A failed test may leave a connection open: close() would wait for it.
    for (const s of accepted) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    await rconn?.close();
    await wconn?.close();
    await daemon?.stop();
  });

  it('8 MiB written in 64 KiB pieces arrive intact and in order, with recvs asked ahead', async () => {
    const data = randomBytes(8 << 20);
    onConn = (s) => {
      for (let o = 0; o < data.length; o += 65536) s.write(data.subarray(o, o + 65536));
      s.end();
    };
    const before = rconn.counters.recvsAhead;
    const c = createConnection({ port, host: '127.0.0.1', connection: rconn });
    const parts: Buffer[] = [];
    c.on('data', (d: Buffer) => parts.push(d));
    await once(c, 'end');
    c.destroy();
    const got = Buffer.concat(parts);
    expect(got.length).to.equal(data.length);
    expect(sha(got)).to.equal(sha(data));
    // Full 64 KiB reads happen whenever the sender is ahead of the reader,
    // which it is for most of 8 MiB; each full read asks ahead once.
    expect(rconn.counters.recvsAhead - before).to.be.greaterThan(0);
  });

  it('small request/response reads never ask ahead: one recv stands while the socket waits', async () => {
    onConn = (s) => s.on('data', (d: Buffer) => s.write(d));
    const c = createConnection({ port, host: '127.0.0.1', connection: rconn });
    await once(c, 'connect');
    const before = rconn.counters.recvsAhead;
    for (let i = 0; i < 50; i++) {
      const msg = Buffer.from(`ping ${i} `.padEnd(100, '.'));
      c.write(msg);
      let got = Buffer.alloc(0);
      while (got.length < msg.length) got = Buffer.concat([got, (await once(c, 'data'))[0] as Buffer]);
      expect(got.toString()).to.equal(msg.toString());
    }
    // Idle now: the one standing recv makes no further syscalls.
    const calls = rconn.counters.syscalls;
    await sleep(100);
    expect(rconn.counters.syscalls).to.equal(calls);
    expect(rconn.counters.recvsAhead - before).to.equal(0);
    c.destroy();
  });

  it('a reader that pauses holds no more than one read, as without read-ahead, and resumes intact', async () => {
    const data = randomBytes(4 << 20);
    onConn = (s) => {
      s.end(data);
    };
    const c = createConnection({ port, host: '127.0.0.1', connection: rconn });
    const parts: Buffer[] = [];
    let n = 0;
    const onData = (d: Buffer): void => {
      parts.push(d);
      n += d.length;
      if (n >= 1 << 20 && parts.length > 0 && !c.isPaused()) c.pause();
    };
    c.on('data', onData);
    try {
      await until(() => c.isPaused());
      // Reading stops: what is buffered settles at one 64 KiB read (the
      // recv size is above the 16 KiB mark, as without read-ahead).
      await sleep(200);
      const calls = rconn.counters.syscalls;
      await sleep(100);
      expect(rconn.counters.syscalls, 'reading stopped').to.equal(calls);
      expect(c.readableLength).to.be.at.most(65536);
      expect(n + c.readableLength).to.be.lessThan(data.length);
      c.off('data', onData);
      c.on('data', (d: Buffer) => parts.push(d));
      c.resume();
      await once(c, 'end');
    } finally {
      c.destroy();
    }
    expect(sha(Buffer.concat(parts))).to.equal(sha(data));
  });

  it('destroy() in the middle of a stream, with a recv asked ahead, closes both ends without an error', async () => {
    let writerClosed: Promise<unknown> = Promise.resolve();
    onConn = (s) => {
      s.on('error', () => undefined); // the reader's close may reset it
      // Not events.once: it would reject on the writer's expected EPIPE/ECONNRESET.
      writerClosed = new Promise((r) => s.once('close', r));
      const chunk = Buffer.alloc(65536, 7);
      const pump = (): void => {
        while (!s.destroyed && s.write(chunk));
      };
      s.on('drain', pump);
      pump();
    };
    const before = rconn.counters.recvsAhead;
    const c = createConnection({ port, host: '127.0.0.1', connection: rconn });
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    let n = 0;
    await new Promise<void>((resolve) => {
      c.on('data', (d: Buffer) => {
        n += d.length;
        if (n >= 2 << 20 && !c.destroyed) {
          c.destroy();
          resolve();
        }
      });
    });
    await once(c, 'close');
    await writerClosed;
    expect(errors).to.deep.equal([]);
    expect(rconn.counters.recvsAhead - before).to.be.greaterThan(0);
    // The connection still works: a fresh socket echoes.
    onConn = (s) => s.on('data', (d: Buffer) => s.end(d));
    const e = createConnection({ port, host: '127.0.0.1', connection: rconn });
    e.end('after');
    const got: Buffer[] = [];
    e.on('data', (d: Buffer) => got.push(d));
    await once(e, 'end');
    e.destroy();
    expect(Buffer.concat(got).toString()).to.equal('after');
  });
});
