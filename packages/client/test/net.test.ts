/**
 * The `node:net`-shaped API against the test-only fake kernel (BSD socket
 * semantics behind the real rump protocol server): the stream state machine,
 * consumer-driven reads and backpressure, Node-shaped errors, the server's
 * Node bookkeeping (getConnections, maxConnections, close when drained).
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  RumpConnection,
  Server,
  Socket,
  Stream,
  closeSharedConnections,
  createConnection,
  createServer,
  setDefaultRumpServer,
} from '../src/index.js';
import { setWriteGather } from '../src/socket.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';
import { RCV_MAX, startFakeKern, type FakeKern } from './fixtures/fakekern.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** Listens on an ephemeral port of 127.0.0.1; resolves with the port. */
async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** Reads a stream to its end (without destroying it, unlike `for await`). */
export function drain(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

describe('net: Socket and Server on the rump stack (fake kernel)', function () {
  this.timeout(10_000);
  let kern: FakeKern;

  before(async () => {
    kern = await startFakeKern();
    setDefaultRumpServer(kern.url);
  });
  after(async () => {
    await closeSharedConnections();
    setDefaultRumpServer(undefined);
    await kern.close();
  });
  afterEach(async () => {
    // Every test closes what it opened: the server's descriptor tables are empty again.
    await until(() => kern.openFds() === 0).catch(() => {
      throw new Error(`descriptors left open: ${kern.openFds()}`);
    });
  });

  it('echoes 1 MiB through createServer/createConnection, sha256 intact, with the net events in order', async () => {
    const server = createServer((sock) => sock.pipe(sock));
    const port = await listen(server);
    expect(server.address()).to.deep.equal({ address: '127.0.0.1', family: 'IPv4', port });
    expect(server.listening).to.equal(true);
    const data = randomBytes(1 << 20);
    const events: string[] = [];
    const c = createConnection(port, '127.0.0.1', () => events.push('connect-cb'));
    c.on('connect', () => events.push('connect'));
    c.on('ready', () => events.push('ready'));
    c.on('end', () => events.push('end'));
    c.on('close', (hadError: boolean) => events.push(`close:${hadError}`));
    expect(c.connecting).to.equal(true);
    expect(c.readyState).to.equal('opening');
    c.end(data);
    const got = await drain(c);
    await once(c, 'close');
    expect(got.length).to.equal(data.length);
    expect(sha(got)).to.equal(sha(data));
    expect(events).to.deep.equal(['connect-cb', 'connect', 'ready', 'end', 'close:false']);
    expect(c.bytesRead).to.equal(data.length);
    expect(c.bytesWritten).to.equal(data.length);
    expect(c.remoteAddress).to.equal('127.0.0.1');
    expect(c.remotePort).to.equal(port);
    expect(c.localAddress).to.equal('127.0.0.1');
    expect(c.localPort).to.be.a('number').and.not.equal(port);
    server.close();
    await once(server, 'close');
  });

  it('reads only when the consumer wants data: a paused socket leaves bytes in the server and the sender blocks', async () => {
    let serverSide: Socket | undefined;
    const server = createServer({ pauseOnConnect: true }, (s) => (serverSide = s));
    const port = await listen(server);
    const c = createConnection({ port, host: '127.0.0.1', highWaterMark: 16 * 1024 });
    await once(c, 'connect');
    await until(() => serverSide !== undefined);
    const total = 4 * RCV_MAX;
    let written = 0;
    let done = false;
    const writer = (async () => {
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      // Bounded: total / chunk iterations.
      while (written < total) {
        written += chunk.length;
        if (!c.write(chunk)) await once(c, 'drain');
      }
      c.end();
      done = true;
    })();
    await sleep(200);
    // Nothing is read on the paused side, so the kernel's receive buffer fills and send blocks:
    // what the writer got rid of is bounded by that buffer plus the stream's own high-water marks.
    expect(serverSide!.bytesRead).to.equal(0);
    expect(done).to.equal(false);
    expect(written).to.be.at.most(RCV_MAX + 2 * 16 * 1024 + 16 * 1024);
    const got = await drain(serverSide!.resume());
    await writer;
    expect(got.length).to.equal(total);
    serverSide!.destroy();
    c.resume(); // the client reads the server's FIN, and (allowHalfOpen false) closes
    await once(c, 'close');
    server.close();
    await once(server, 'close');
  });

  it('stops reading at highWaterMark until the consumer reads', async () => {
    const hwm = 8 * 1024;
    const server = createServer((s) => s.end(Buffer.alloc(10 * hwm, 1)));
    const port = await listen(server);
    const c = createConnection({ port, host: '127.0.0.1', highWaterMark: hwm });
    await once(c, 'connect');
    await sleep(150);
    // Not flowing: the socket pulled at most one read's worth past the mark, not all 80 KiB.
    expect(c.readableLength).to.be.at.least(1).and.at.most(2 * hwm);
    expect(c.bytesRead).to.be.at.most(2 * hwm);
    const got = await drain(c);
    expect(got.length).to.equal(10 * hwm);
    await once(c, 'close');
    server.close();
    await once(server, 'close');
  });

  it("an accepted socket of a server at Node's default mark takes the rump write mark: eight 64 KiB writes of a turn are 2 sends; an explicit mark is kept", async () => {
    const marks: number[][] = [];
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const sends0 = kern.counters.streamSends;
    const server = createServer((s) => {
      marks.push([s.writableHighWaterMark, s.readableHighWaterMark]);
      // Eight 64 KiB writes at once: with a 256 KiB mark the first four are taken without waiting for 'drain'.
      let accepted = 0;
      for (let i = 0; i < 8; i++) if (s.write(chunk)) accepted++;
      marks.push([accepted]);
      s.end();
    });
    const port = await listen(server);
    const c = createConnection(port, '127.0.0.1');
    expect((await drain(c)).length).to.equal(8 * chunk.length);
    await once(c, 'close');
    server.close();
    await once(server, 'close');
    // The same marks as a connecting socket's (which never had Node's server default).
    expect(marks[0]).to.deep.equal([c.writableHighWaterMark, c.readableHighWaterMark]);
    expect(marks[0]![0]).to.equal(256 * 1024);
    expect(marks[1]![0]).to.equal(3); // the 4th write reaches the mark: false, as net says at the mark
    // The eight writes of one turn leave together (the turn's cork), as gather lists of at most 256 KiB: 2 sends.
    expect(kern.counters.streamSends - sends0).to.equal(2);

    const explicit = createServer({ highWaterMark: 32 * 1024 }, (s) => {
      marks.push([s.writableHighWaterMark, s.readableHighWaterMark]);
      s.end('x');
    });
    const port2 = await listen(explicit);
    const c2 = createConnection(port2, '127.0.0.1');
    expect(String(await drain(c2))).to.equal('x');
    await once(c2, 'close');
    explicit.close();
    await once(explicit, 'close');
    expect(marks[2]).to.deep.equal([32 * 1024, 32 * 1024]);
  });

  it('write gathering off (RUMPNET_WRITE_GATHER=0): eight 64 KiB writes of a turn are eight sends, in order (one system call per write, as NetBSD\'s rumpclient)', async () => {
    const chunks = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024, 0x30 + i));
    const prev = setWriteGather(false);
    try {
      const sends0 = kern.counters.streamSends;
      const server = createServer((s) => {
        for (const c of chunks) s.write(c);
        s.end();
      });
      const port = await listen(server);
      const c = createConnection(port, '127.0.0.1');
      expect((await drain(c)).equals(Buffer.concat(chunks))).to.equal(true);
      await once(c, 'close');
      server.close();
      await once(server, 'close');
      expect(kern.counters.streamSends - sends0).to.equal(8);
    } finally {
      setWriteGather(prev);
    }
  });

  it('half-close: end() sends FIN, the peer still writes back when allowHalfOpen', async () => {
    const server = createServer({ allowHalfOpen: true }, async (s) => {
      const req = await drain(s);
      s.end(`got ${req.length}`);
    });
    const port = await listen(server);
    const c = createConnection(port, '127.0.0.1');
    c.end('0123456789');
    expect(String(await drain(c))).to.equal('got 10');
    await once(c, 'close');
    server.close();
    await once(server, 'close');
  });

  it('connect to a port nobody listens on: error event "connect ECONNREFUSED 127.0.0.1:9", then close(true)', async () => {
    const c = createConnection(9, '127.0.0.1');
    const [err] = (await once(c, 'error')) as [NodeJS.ErrnoException & { address: string; port: number }];
    expect(err.message).to.equal('connect ECONNREFUSED 127.0.0.1:9');
    expect(err).to.include({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1', port: 9 });
    const [hadError] = await once(c, 'close');
    expect(hadError).to.equal(true);
    expect(c.destroyed).to.equal(true);
  });

  it('listen on a port in use: "listen EADDRINUSE: address already in use 127.0.0.1:<port>"', async () => {
    const a = createServer();
    const port = await listen(a);
    const b = createServer();
    b.listen(port, '127.0.0.1');
    const [err] = (await once(b, 'error')) as [NodeJS.ErrnoException & { address: string; port: number }];
    expect(err.message).to.equal(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    expect(err).to.include({ code: 'EADDRINUSE', errno: -98, syscall: 'listen', address: '127.0.0.1', port });
    expect(b.listening).to.equal(false);
    a.close();
    await once(a, 'close');
  });

  it('listen() with no host on a stack without IPv6 falls back to 0.0.0.0, as Node does; ::1 is IPv6, not 127.0.0.1', async () => {
    // The fake kernel refuses AF_INET6 (EAFNOSUPPORT), like a kernel without IPv6: Node's
    // setupListenHandle then listens on 0.0.0.0. (On the real stack it is [::]: net6.test.ts.)
    const server = createServer((s) => s.end(`${s.localAddress}:${s.localPort} ${s.remoteAddress}`));
    server.listen();
    await once(server, 'listening');
    const { address, family, port } = server.address() as { address: string; family: string; port: number };
    expect({ address, family }).to.deep.equal({ address: '0.0.0.0', family: 'IPv4' });
    for (const host of ['localhost', '127.0.0.1']) {
      const c = createConnection({ port, host });
      expect(String(await drain(c))).to.equal(`127.0.0.1:${port} 127.0.0.1`);
      await once(c, 'close');
    }
    const c6 = createConnection({ port, host: '::1' });
    const [err] = (await once(c6, 'error')) as [NodeJS.ErrnoException];
    expect(err.message).to.equal(`connect EAFNOSUPPORT ::1:${port}`);
    server.close();
    await once(server, 'close');
  });

  it('server bookkeeping is Node\'s: getConnections, maxConnections + drop, close() waits for connections', async () => {
    const held: Socket[] = [];
    const server = createServer((s) => held.push(s));
    server.maxConnections = 2;
    const drops: unknown[] = [];
    server.on('drop', (d) => drops.push(d));
    const port = await listen(server);
    const clients = [0, 1, 2].map(() => createConnection(port, '127.0.0.1'));
    await until(() => held.length === 2 && drops.length === 1);
    const count = await new Promise<number>((res, rej) => server.getConnections((e, n) => (e ? rej(e) : res(n))));
    expect(count).to.equal(2);
    expect(drops[0]).to.include({ remoteAddress: '127.0.0.1', localPort: port });
    // The dropped client sees the server close its end.
    await until(() => clients.some((c) => c.readableEnded || c.destroyed), 3000).catch(() => undefined);
    let closed = false;
    server.close(() => (closed = true));
    await sleep(50);
    expect(closed).to.equal(false); // two connections still open
    expect(server.listening).to.equal(false);
    for (const s of held) s.destroy();
    await until(() => closed);
    for (const c of clients) c.destroy();
    await Promise.all(clients.map((c) => (c.closed ? undefined : once(c, 'close'))));
  });

  it('destroy() while a recv is blocked closes the descriptor and emits close(false)', async () => {
    let peer: Socket | undefined;
    const server = createServer((s) => (peer = s));
    const port = await listen(server);
    const c = createConnection(port, '127.0.0.1');
    c.on('data', () => undefined); // flowing: a recv is now waiting in the server
    await once(c, 'connect');
    await until(() => peer !== undefined);
    c.destroy();
    const [hadError] = await once(c, 'close');
    expect(hadError).to.equal(false);
    await once(peer!.resume(), 'end');
    peer!.destroy();
    server.close();
    await once(server, 'close');
  });

  it('setTimeout emits timeout after idleness without closing; activity postpones it', async () => {
    const server = createServer((s) => s.resume());
    const port = await listen(server);
    const c = createConnection(port, '127.0.0.1');
    await once(c, 'connect');
    const t0 = Date.now();
    c.setTimeout(120);
    const keepBusy = setInterval(() => c.write('x'), 30);
    await sleep(200);
    clearInterval(keepBusy);
    await once(c, 'timeout');
    expect(Date.now() - t0).to.be.at.least(250);
    expect(c.destroyed).to.equal(false);
    c.setTimeout(0);
    c.destroy();
    await once(c, 'close');
    server.close();
    await once(server, 'close');
  });

  it('writes before connect are queued; setNoDelay/setKeepAlive/address() behave like net', async () => {
    const server = createServer((s) => s.pipe(s));
    const port = await listen(server);
    const c = new Socket();
    expect(c.address()).to.deep.equal({});
    expect(c.pending).to.equal(true);
    c.setNoDelay(true).setKeepAlive(true, 1000);
    c.connect({ port, host: '127.0.0.1' });
    c.write('early ');
    c.end('bird');
    expect(String(await drain(c))).to.equal('early bird');
    expect(c.address()).to.deep.include({ address: '127.0.0.1', family: 'IPv4' });
    await once(c, 'close');
    server.close();
    await once(server, 'close');
  });

  it('Socket() and Stream() construct without new, as net.Socket does; bufferSize is writableLength while there is a handle', async () => {
    const server = createServer((s) => s.pipe(s));
    const port = await listen(server);
    expect(Stream).to.equal(Socket);
    const c = Stream();
    expect(c).to.be.instanceOf(Socket);
    expect(c.bufferSize).to.equal(undefined);
    c.connect({ port, host: '127.0.0.1' });
    expect(c.bufferSize).to.equal(0);
    c.write('abc');
    expect(c.bufferSize).to.equal(3);
    c.end();
    expect(String(await drain(c))).to.equal('abc');
    await once(c, 'close');
    expect(c.bufferSize).to.equal(undefined);
    expect(c._handle).to.equal(null);
    server.close();
    await once(server, 'close');
  });

  it('takes an explicit connection and a rumpServer option; many sockets share one connection', async () => {
    const own = await RumpConnection.connect(kern.url);
    try {
      const server = createServer({ connection: own }, (s) => s.end('hi'));
      const port = await listen(server);
      const socks = Array.from({ length: 20 }, () => createConnection({ port, host: '127.0.0.1', rumpServer: kern.url }));
      const replies = await Promise.all(socks.map((s) => drain(s)));
      expect(replies.map(String)).to.deep.equal(Array(20).fill('hi'));
      expect(own.counters.syscalls).to.be.at.least(20 * 2); // accept + send + ... on the server's side
      await Promise.all(socks.map((s) => (s.closed ? undefined : once(s, 'close'))));
      server.close();
      await once(server, 'close');
    } finally {
      await own.close();
    }
  });

  it('a bad port throws ERR_SOCKET_BAD_PORT synchronously; an IPv6 peer on a stack without IPv6 fails with EAFNOSUPPORT', async () => {
    expect(() => createConnection(70000, '127.0.0.1')).to.throw(RangeError).with.property('code', 'ERR_SOCKET_BAD_PORT');
    const c = createConnection(80, '2001:db8::1');
    const [err] = (await once(c, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).to.equal('EAFNOSUPPORT');
    expect(err.message).to.equal('connect EAFNOSUPPORT 2001:db8::1:80');
  });
});

describe('net: TCP end to end through the rump-server daemon (loopback)', function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
    setDefaultRumpServer(daemon.url);
  });
  after(async () => {
    await closeSharedConnections();
    setDefaultRumpServer(undefined);
    await daemon?.stop();
  });

  it('echoes 1 MiB between two clients of one server, sha256 intact', async () => {
    const a = await RumpConnection.connect(daemon.url);
    const b = await RumpConnection.connect(daemon.url);
    try {
      const server = createServer({ connection: a }, (sock) => sock.pipe(sock));
      const port = await listen(server);
      const data = randomBytes(1 << 20);
      const c = createConnection({ port, host: '127.0.0.1', connection: b });
      c.end(data);
      const got = await drain(c);
      expect(sha(got)).to.equal(sha(data));
      await once(c, 'close');
      server.close();
      await once(server, 'close');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('takes 10 MB writes, one write each, on three connections at once to readers of the same client (all ends on its quota), sha256 intact', async () => {
    // Node's test-net-bytes-written-large: the server's quota used to refuse
    // the copy (`write ENOBUFS`) once the client's own receive buffers held
    // its share, instead of letting the send wait for the client's reads.
    const one = async (): Promise<void> => {
      const data = randomBytes(10_000_000);
      const server = createServer((sock) => {
        sock.end(data);
        expect(sock.bytesWritten).to.equal(data.length);
      });
      const port = await listen(server);
      const c = createConnection(port, '127.0.0.1');
      const got = await drain(c);
      expect(got.length).to.equal(data.length);
      expect(sha(got)).to.equal(sha(data));
      await once(c, 'close');
      server.close();
      await once(server, 'close');
    };
    await Promise.all([one(), one(), one()]);
  });

  it('connect ECONNREFUSED and listen EADDRINUSE are Node-shaped', async () => {
    const c = createConnection(9, '127.0.0.1');
    const [err] = (await once(c, 'error')) as [NodeJS.ErrnoException];
    expect(err.message).to.equal('connect ECONNREFUSED 127.0.0.1:9');
    const a = createServer();
    const port = await listen(a);
    const b = createServer();
    b.listen(port, '127.0.0.1');
    const [e2] = (await once(b, 'error')) as [NodeJS.ErrnoException];
    expect(e2.message).to.equal(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    a.close();
    await once(a, 'close');
  });
});
