/**
 * The streamed receive (rxstream.ts, docs/PROTOCOL.md §7a): a flowing stream
 * socket on a connection with a shared region asks once (`recvstream`) and
 * the server pushes every chunk through the ring. Against the real daemon
 * (another process: the region crosses processes) on its lo0: bytes intact
 * and in order over IPv4 and IPv6 with a handful of syscalls for megabytes
 * (no recv per chunk), the end after the data (FIN and RST), a paused reader
 * that stops the server (the stream waits for window, the doorbell restarts
 * it, nothing lost), a close that cancels the stream, a short-read exchange
 * that starts none, and
 * `RUMPNET_RX_STREAM=0` that keeps the recv pump.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { RX_STREAM_WINDOW, RumpConnection, createConnection, createServer, type Server, type Socket } from '../src/index.js';
import { shmAddon } from '../src/shm.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not in time`);
    await sleep(5);
  }
}

describe('net: streamed receive through the shared ring (real daemon, lo0)', function () {
  this.timeout(60_000);
  let daemon: Daemon;
  let wconn: RumpConnection;
  let rconn: RumpConnection;
  const servers: Server[] = [];
  const accepted = new Set<Socket>();
  let onConn: (s: Socket) => void = () => undefined;
  const ports: Record<string, number> = {};

  before(async function () {
    if (shmAddon() === undefined) {
      console.log('      skipped: the rumpshm addon is not built');
      this.skip();
    }
    daemon = await startDaemon(['--log-level', 'warn']);
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
    wconn = await RumpConnection.connect(daemon.url, { name: 'rxs-writer' });
    rconn = await RumpConnection.connect(daemon.url, { name: 'rxs-reader' });
    expect(rconn.params.shm?.stream, 'the server offers stream slots').to.equal(16);
    for (const host of ['127.0.0.1', '::1']) {
      const server = createServer({ connection: wconn }, (s) => {
        accepted.add(s);
        s.once('close', () => accepted.delete(s));
        onConn(s);
      });
      server.listen(0, host);
      await once(server, 'listening');
      ports[host] = (server.address() as { port: number }).port;
      servers.push(server);
    }
  });
  after(async () => {
    for (const s of accepted) s.destroy();
    for (const server of servers) await new Promise<void>((r) => server.close(() => r()));
    await rconn?.close();
    await wconn?.close();
    await daemon?.stop();
  });
  afterEach(() => {
    delete process.env.RUMPNET_RX_STREAM;
  });

  for (const host of ['127.0.0.1', '::1']) {
    it(`8 MiB over ${host.includes(':') ? 'IPv6' : 'IPv4'} arrive intact and in order, with one recvstream call and no recv per chunk`, async () => {
      const data = randomBytes(8 << 20);
      onConn = (s) => {
        for (let o = 0; o < data.length; o += 65536) s.write(data.subarray(o, o + 65536));
        s.end();
      };
      const k0 = { ...rconn.counters };
      const c = createConnection({ port: ports[host]!, host, connection: rconn });
      const parts: Buffer[] = [];
      c.on('data', (d: Buffer) => parts.push(d));
      await once(c, 'end');
      const got = Buffer.concat(parts);
      expect(got.length).to.equal(data.length);
      expect(sha(got)).to.equal(sha(data));
      expect(c.bytesRead).to.equal(data.length);
      // Every chunk at most the 64 KiB read size (the like-for-like rule).
      expect(Math.max(...parts.map((p) => p.length))).to.be.at.most(65536);
      const k = rconn.counters;
      // socket, connect, the recvs until one comes back full, recvstream: a handful, not one per 64 KiB (128 here).
      expect(k.syscalls - k0.syscalls).to.be.at.most(12);
      expect(k.recvsAhead - k0.recvsAhead).to.equal(0);
      expect(k.streamChunks - k0.streamChunks).to.be.at.least(data.length / 65536);
      expect(k.copyoutBytes + k.inlineRecvBytes - k0.copyoutBytes - k0.inlineRecvBytes).to.equal(data.length);
      expect(k.copyFaults - k0.copyFaults).to.equal(0);
      c.destroy();
      await once(c, 'close');
    });
  }

  it('a paused reader stops the stream (the server waits for window), resuming rings the doorbell and delivers everything', async () => {
    const data = randomBytes(10 << 20);
    let sent: (() => void) | undefined;
    const allSent = new Promise<void>((r) => (sent = r));
    onConn = (s) => {
      s.end(data, () => sent!());
    };
    const k0 = { ...rconn.counters };
    const c = createConnection({ port: ports['127.0.0.1']!, host: '127.0.0.1', connection: rconn });
    const parts: Buffer[] = [];
    let n = 0;
    let once1 = false;
    c.on('data', (d: Buffer) => {
      parts.push(d);
      n += d.length;
      if (n >= 1 << 20 && !once1) {
        once1 = true;
        c.pause();
      }
    });
    await until(() => c.isPaused(), 'paused');
    // What the client holds settles: nothing more arrives once the window is spent.
    let last = -1;
    for (let i = 0; i < 100 && rconn.counters.copyoutBytes !== last; i++) {
      last = rconn.counters.copyoutBytes;
      await sleep(50);
    }
    const held = rconn.counters.copyoutBytes - k0.copyoutBytes;
    // 1 MiB read, the readable buffer's mark, one chunk past it, and the window — not the 6 MiB sent.
    expect(held).to.be.at.most((1 << 20) + c.readableHighWaterMark + 65536 + RX_STREAM_WINDOW + 65536);
    // The server stopped at the window and said so in the stream slot (the only stream now: slot 0).
    const region = (rconn as unknown as { shm: { streamWaiting(slot: number): boolean } }).shm;
    await until(() => region.streamWaiting(0), 'the server waits for window', 20_000);
    // The sender is held back by TCP: its rump socket still has bytes to send.
    let done = false;
    void allSent.then(() => (done = true));
    await sleep(100);
    expect(done, 'the sender finished while the reader was paused').to.equal(false);
    c.resume();
    await once(c, 'end');
    const got = Buffer.concat(parts);
    expect(got.length).to.equal(data.length);
    expect(sha(got)).to.equal(sha(data));
    // The server stopped for window and the client's doorbell restarted it.
    expect(rconn.counters.streamDoorbells - k0.streamDoorbells).to.be.at.least(1);
    c.destroy();
    await once(c, 'close');
  });

  it('an RST after data is delivered after every byte before it, also to a reader paused when it came', async () => {
    const data = randomBytes(1 << 20);
    let reset: (() => void) | undefined;
    const wasReset = new Promise<void>((r) => (reset = r));
    onConn = (s) => {
      s.write(data, () => setTimeout(() => (s.resetAndDestroy(), reset!()), 200));
    };
    const c = createConnection({ port: ports['127.0.0.1']!, host: '127.0.0.1', connection: rconn });
    const parts: Buffer[] = [];
    let paused = false;
    c.on('data', (d: Buffer) => {
      parts.push(d);
      if (!paused) {
        paused = true;
        c.pause();
      }
    });
    const err = once(c, 'error');
    await wasReset;
    await sleep(200);
    // Paused across the RST: most of the megabyte still waits in the stream and the socket buffer.
    expect(Buffer.concat(parts).length).to.be.lessThan(data.length);
    c.resume();
    const [e] = (await err) as [NodeJS.ErrnoException];
    expect(e.code).to.equal('ECONNRESET');
    const got = Buffer.concat(parts);
    expect(got.length).to.equal(data.length);
    expect(sha(got)).to.equal(sha(data));
  });

  it('destroying the socket ends its stream: no call or buffer left in flight', async () => {
    const base = rconn.registeredBuffers;
    const k0 = { ...rconn.counters };
    onConn = (s) => {
      s.write(randomBytes(1 << 20));
      // The writer stays open: only the reader's close can end the stream.
    };
    const c = createConnection({ port: ports['127.0.0.1']!, host: '127.0.0.1', connection: rconn });
    c.on('data', () => undefined);
    await until(() => rconn.counters.streamChunks - k0.streamChunks >= 1, 'a streamed chunk');
    expect(rconn.registeredBuffers).to.equal(base + 1); // the stream's handle
    c.destroy();
    await once(c, 'close');
    await until(() => rconn.registeredBuffers === base, 'the stream call ended');
  });

  it('a request/response exchange of short reads starts no stream: its recvs and their inline replies stay', async () => {
    onConn = (s) => s.on('data', (d: Buffer) => s.write(d));
    const c = createConnection({ port: ports['127.0.0.1']!, host: '127.0.0.1', connection: rconn });
    await once(c, 'connect');
    const k0 = { ...rconn.counters };
    for (let i = 0; i < 20; i++) {
      const msg = Buffer.from(`ping ${i} `.padEnd(64, '.'));
      c.write(msg);
      let got = Buffer.alloc(0);
      while (got.length < msg.length) got = Buffer.concat([got, (await once(c, 'data'))[0] as Buffer]);
      expect(got.toString()).to.equal(msg.toString());
    }
    expect(rconn.counters.streamChunks - k0.streamChunks).to.equal(0);
    expect(rconn.counters.inlineRecvs - k0.inlineRecvs).to.be.at.least(20);
    c.destroy();
    await once(c, 'close');
  });

  it('RUMPNET_RX_STREAM=0 keeps one recv per read (read-ahead), no stream', async () => {
    process.env.RUMPNET_RX_STREAM = '0';
    const data = randomBytes(2 << 20);
    onConn = (s) => {
      s.end(data);
    };
    const k0 = { ...rconn.counters };
    const c = createConnection({ port: ports['127.0.0.1']!, host: '127.0.0.1', connection: rconn });
    const parts: Buffer[] = [];
    c.on('data', (d: Buffer) => parts.push(d));
    await once(c, 'end');
    expect(sha(Buffer.concat(parts))).to.equal(sha(data));
    expect(rconn.counters.streamChunks - k0.streamChunks).to.equal(0);
    expect(rconn.counters.syscalls - k0.syscalls).to.be.at.least(data.length / 65536);
    c.destroy();
    await once(c, 'close');
  });
});
