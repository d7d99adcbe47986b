/**
 * The `node:dgram`-shaped UDP socket, twice: against the test-only fake
 * kernel, and end to end against the real `rump-server` daemon over its
 * loopback stack (skipped, with the reason, when the daemon has no UDP).
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSharedConnections, createSocket, setDefaultRumpServer, type DgramSocket, type RemoteInfo } from '../src/index.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';
import { startFakeKern, type FakeKern } from './fixtures/fakekern.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function bound(s: DgramSocket, port = 0, address = '127.0.0.1'): Promise<number> {
  s.bind(port, address);
  await once(s, 'listening');
  return s.address().port;
}

async function closed(...socks: DgramSocket[]): Promise<void> {
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
}

/** The behaviour both back ends must show. */
function dgramSuite(url: () => string): void {
  before(() => setDefaultRumpServer(url()));
  after(async () => {
    await closeSharedConnections();
    setDefaultRumpServer(undefined);
  });

  it('sends and receives between two sockets, with rinfo {address, family, port, size}', async () => {
    const a = createSocket('udp4');
    const b = createSocket({ type: 'udp4' });
    const pa = await bound(a);
    const pb = await bound(b);
    const got = once(b, 'message') as Promise<[Buffer, RemoteInfo]>;
    a.send('hello', pb, '127.0.0.1');
    const [msg, rinfo] = await got;
    expect(String(msg)).to.equal('hello');
    expect(rinfo).to.deep.equal({ address: '127.0.0.1', family: 'IPv4', port: pa, size: 5 });
    await closed(a, b);
  });

  it('send forms: offset/length, arrays of buffers, callback with the byte count; implicit bind', async () => {
    const rx = createSocket('udp4');
    const port = await bound(rx);
    const msgs: string[] = [];
    rx.on('message', (m: Buffer) => msgs.push(String(m)));
    const tx = createSocket('udp4');
    const sent: number[] = [];
    await new Promise<void>((resolve, reject) => {
      tx.send(Buffer.from('xxabcxx'), 2, 3, port, '127.0.0.1', (err, n) => (err ? reject(err) : sent.push(n)));
      tx.send([Buffer.from('one-'), 'two-', new Uint8Array([0x33])], port, '127.0.0.1', (err, n) => (err ? reject(err) : sent.push(n)));
      tx.send('last', port, (err, n) => (err ? reject(err) : (sent.push(n), resolve())));
    });
    expect(sent).to.deep.equal([3, 9, 4]);
    expect(tx.address().port).to.be.above(0); // bound implicitly by the first send
    const t0 = Date.now();
    while (msgs.length < 3 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 5));
    expect(msgs).to.deep.equal(['abc', 'one-two-3', 'last']);
    await closed(rx, tx);
  });

  it('carries 200 datagrams of 1200 bytes, sha256 of each intact and in order', async () => {
    const rx = createSocket('udp4');
    const port = await bound(rx);
    const tx = createSocket('udp4');
    const data = Array.from({ length: 200 }, () => randomBytes(1200));
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      rx.on('message', (m: Buffer) => {
        got.push(sha(m));
        if (got.length === data.length) resolve();
      }),
    );
    // Paced in groups so the receiver's queue never overflows (UDP may drop, this test must not).
    for (let i = 0; i < data.length; i += 20) {
      await Promise.all(data.slice(i, i + 20).map((d) => new Promise((r, j) => tx.send(d, port, '127.0.0.1', (e) => (e ? j(e) : r(undefined))))));
      const t0 = Date.now();
      while (got.length < i + 20 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 2));
    }
    await all;
    expect(got).to.deep.equal(data.map(sha));
    await closed(rx, tx);
  });

  it('connect(): sends go to the peer, remoteAddress(); to a closed port the error is ECONNREFUSED', async () => {
    const rx = createSocket('udp4');
    const port = await bound(rx);
    const tx = createSocket('udp4');
    tx.connect(port, '127.0.0.1');
    await once(tx, 'connect');
    expect(tx.remoteAddress()).to.deep.equal({ address: '127.0.0.1', family: 'IPv4', port });
    // As dgram: with offset and length, a port on a connected socket is refused (send('x', port, host) is not: Node reads it as send(msg, callback)).
    expect(() => tx.send('x', 0, 1, port, '127.0.0.1')).to.throw().with.property('code', 'ERR_SOCKET_DGRAM_IS_CONNECTED');
    const got = once(rx, 'message');
    tx.send('to the peer');
    expect(String(((await got) as [Buffer])[0])).to.equal('to the peer');
    await closed(rx); // now nobody listens on the peer's port
    const errs: NodeJS.ErrnoException[] = [];
    tx.on('error', (e) => errs.push(e));
    // BSD: the ICMP port unreachable comes back through so_error, to the next call on the connected socket.
    const t0 = Date.now();
    while (errs.length === 0 && Date.now() - t0 < 3000) {
      await new Promise<void>((r) => tx.send('anyone?', (e) => (e && errs.push(e), r())));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(errs.length).to.be.above(0);
    expect(errs[0]!.code).to.equal('ECONNREFUSED');
    expect(errs[0]!.errno).to.equal(-111);
    await closed(tx);
  });

  it('bind errors are Node-shaped events; address() before bind throws', async () => {
    const a = createSocket('udp4');
    const port = await bound(a);
    const b = createSocket('udp4');
    expect(() => b.address()).to.throw('getsockname EBADF').with.property('code', 'EBADF'); // as dgram: no descriptor yet
    b.bind(port, '127.0.0.1');
    const [err] = (await once(b, 'error')) as [NodeJS.ErrnoException & { address: string; port: number }];
    expect(err.message).to.equal(`bind EADDRINUSE 127.0.0.1:${port}`);
    expect(err).to.include({ code: 'EADDRINUSE', syscall: 'bind', address: '127.0.0.1', port });
    // As dgram: udp4 and udp6 are the types (udp6 works: ipv6.test.ts); anything else is refused.
    expect(() => createSocket('udp5' as 'udp6')).to.throw(TypeError, 'Bad socket type specified. Valid types are: udp4, udp6').with.property('code', 'ERR_SOCKET_BAD_TYPE');
    await closed(a, b);
  });
}

describe('dgram: UDP on the fake kernel', function () {
  this.timeout(10_000);
  let kern: FakeKern;
  before(async () => {
    kern = await startFakeKern();
  });
  after(async () => {
    await kern.close();
  });
  dgramSuite(() => kern.url);
  it('leaves no descriptor open in the server', async () => {
    const t0 = Date.now();
    while (kern.openFds() !== 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
    expect(kern.openFds()).to.equal(0);
  });
});

describe('dgram: UDP end to end through the rump-server daemon (loopback)', function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noUdp) {
      console.log(`      skipped: ${daemon.noUdp}`);
      this.skip();
    }
  });
  after(async () => {
    await daemon?.stop();
  });
  dgramSuite(() => daemon.url);
});
