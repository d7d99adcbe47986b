/**
 * IPv6 through the `node:net`/`node:dgram`-shaped client, end to end against
 * the real `rump-server` daemon over its loopback (lo0 has `127.0.0.1` and
 * `::1`). What is checked is Node's own behaviour, as Node 20 shows it on
 * Linux: `listen()` with no host listens on `[::]` and takes IPv4 too, its
 * IPv4 peers shown v4-mapped with family `'IPv6'`; `ipv6Only` leaves IPv4's
 * port free; `::1` is IPv6's loopback, never `127.0.0.1`; `udp6` sockets
 * the same way, and an address of the other family is `EINVAL`.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import {
  closeSharedConnections,
  createConnection,
  createServer,
  createSocket,
  setDefaultRumpServer,
  type DgramSocket,
  type RemoteInfo,
  type Server,
  type Socket,
} from '../src/index.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Reads a stream to its end. */
function drain(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** What the server saw of one connection, and what the client saw. */
interface Seen {
  server: { remoteAddress?: string; remoteFamily?: string; localAddress?: string; localFamily?: string; address: unknown };
  client: { remoteAddress?: string; remoteFamily?: string; localAddress?: string; localFamily?: string; address: unknown };
}

/** A server answering each connection with what it sees of it, as JSON. */
function reporter(opts: { ipv6Only?: boolean } = {}): Server {
  return createServer((s: Socket) =>
    s.end(JSON.stringify({ remoteAddress: s.remoteAddress, remoteFamily: s.remoteFamily, localAddress: s.localAddress, localFamily: s.localFamily, address: s.address() })),
  ).on('error', () => undefined) as Server & { ipv6Only?: boolean };
}

async function ask(port: number, host: string, extra: object = {}): Promise<Seen> {
  const c = createConnection({ port, host, ...extra });
  const body = String(await drain(c));
  const client = { remoteAddress: c.remoteAddress, remoteFamily: c.remoteFamily, localAddress: c.localAddress, localFamily: c.localFamily, address: c.address() };
  await once(c, 'close');
  return { server: JSON.parse(body) as Seen['server'], client };
}

async function closeServer(s: Server): Promise<void> {
  s.close();
  await once(s, 'close');
}

describe('IPv6 through the client: net and dgram against the rump-server daemon (loopback)', function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noTcp || daemon.noUdp) {
      console.log(`      skipped: ${daemon.noTcp ?? daemon.noUdp}`);
      this.skip();
    }
    setDefaultRumpServer(daemon.url);
  });
  after(async () => {
    await closeSharedConnections();
    setDefaultRumpServer(undefined);
    await daemon?.stop();
  });

  it("listen() with no host is [::] dual-stack, as Node: IPv4 peers v4-mapped with family 'IPv6', ::1 as itself", async () => {
    const server = reporter();
    server.listen(0);
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    expect(server.address()).to.deep.equal({ address: '::', family: 'IPv6', port });

    const v4 = await ask(port, '127.0.0.1');
    expect(v4.server).to.include({ remoteAddress: '::ffff:127.0.0.1', remoteFamily: 'IPv6', localAddress: '::ffff:127.0.0.1', localFamily: 'IPv6' });
    expect(v4.server.address).to.deep.equal({ address: '::ffff:127.0.0.1', family: 'IPv6', port });
    expect(v4.client).to.include({ remoteAddress: '127.0.0.1', remoteFamily: 'IPv4', localAddress: '127.0.0.1', localFamily: 'IPv4' });

    const v6 = await ask(port, '::1');
    expect(v6.server).to.include({ remoteAddress: '::1', remoteFamily: 'IPv6', localAddress: '::1', localFamily: 'IPv6' });
    expect(v6.client).to.include({ remoteAddress: '::1', remoteFamily: 'IPv6', localAddress: '::1', localFamily: 'IPv6' });
    expect(v6.client.address).to.deep.include({ address: '::1', family: 'IPv6' });
    expect(v6.server.remoteAddress).to.equal(v6.client.localAddress);

    // family 6 makes localhost the IPv6 loopback; 4 (and the default) the IPv4 one.
    expect((await ask(port, 'localhost', { family: 6 })).client).to.include({ remoteAddress: '::1', remoteFamily: 'IPv6' });
    expect((await ask(port, 'localhost')).client).to.include({ remoteAddress: '127.0.0.1', remoteFamily: 'IPv4' });
    // A dual-stack socket reaches IPv4 through a v4-mapped peer address.
    expect((await ask(port, '::ffff:127.0.0.1')).client).to.include({ remoteAddress: '::ffff:127.0.0.1', remoteFamily: 'IPv6' });
    // The port is taken for IPv4's wildcard too.
    const v4srv = reporter();
    v4srv.listen(port, '0.0.0.0');
    const [err] = (await once(v4srv, 'error')) as [NodeJS.ErrnoException];
    expect(err.message).to.equal(`listen EADDRINUSE: address already in use 0.0.0.0:${port}`);
    await closeServer(server);
  });

  it('ipv6Only: true takes IPv6 only, leaving the port free for an IPv4 listener', async () => {
    const six = reporter();
    six.listen({ port: 0, host: '::', ipv6Only: true });
    await once(six, 'listening');
    const port = (six.address() as net.AddressInfo).port;
    expect(six.address()).to.deep.equal({ address: '::', family: 'IPv6', port });
    const c = createConnection(port, '127.0.0.1');
    const [err] = (await once(c, 'error')) as [NodeJS.ErrnoException];
    expect(err.message).to.equal(`connect ECONNREFUSED 127.0.0.1:${port}`);
    const four = reporter();
    four.listen(port, '0.0.0.0');
    await once(four, 'listening');
    expect((await ask(port, '127.0.0.1')).server).to.include({ remoteAddress: '127.0.0.1', remoteFamily: 'IPv4' });
    expect((await ask(port, '::1')).server).to.include({ remoteAddress: '::1', remoteFamily: 'IPv6' });
    await closeServer(six);
    await closeServer(four);
  });

  it('listens on ::1 and on a v4-mapped address as Node shows them; 1 MiB over ::1 with sha256 intact', async () => {
    const echo = createServer((s) => s.pipe(s));
    echo.listen(0, '::1');
    await once(echo, 'listening');
    const port = (echo.address() as net.AddressInfo).port;
    expect(echo.address()).to.deep.equal({ address: '::1', family: 'IPv6', port });
    const data = randomBytes(1 << 20);
    const c = createConnection(port, '::1');
    c.end(data);
    expect(sha(await drain(c))).to.equal(sha(data));
    await once(c, 'close');
    // Only ::1: IPv4's loopback is another address.
    const c4 = createConnection(port, '127.0.0.1');
    expect(((await once(c4, 'error')) as [Error])[0].message).to.equal(`connect ECONNREFUSED 127.0.0.1:${port}`);
    await closeServer(echo);

    const mapped = reporter();
    mapped.listen(0, '::ffff:127.0.0.1');
    await once(mapped, 'listening');
    const mport = (mapped.address() as net.AddressInfo).port;
    expect(mapped.address()).to.deep.equal({ address: '::ffff:127.0.0.1', family: 'IPv6', port: mport });
    expect((await ask(mport, '127.0.0.1')).server).to.include({ remoteAddress: '::ffff:127.0.0.1', remoteFamily: 'IPv6' });
    await closeServer(mapped);
  });

  it("errors are Node's: no route, a zone naming no interface, a local address of the other family", async () => {
    const c = createConnection(80, '2001:db8::1');
    const [e1] = (await once(c, 'error')) as [NodeJS.ErrnoException];
    expect(e1.message).to.equal('connect ENETUNREACH 2001:db8::1:80');
    const z = createConnection(80, 'fe80::1%nosuch0');
    const [e2] = (await once(z, 'error')) as [NodeJS.ErrnoException];
    expect(e2).to.include({ code: 'EINVAL', syscall: 'connect' });
    const l = createConnection({ port: 80, host: '::1', localAddress: '127.0.0.1' });
    const [e3] = (await once(l, 'error')) as [NodeJS.ErrnoException];
    expect(e3.message).to.equal('bind EINVAL 127.0.0.1');
    const s = reporter();
    s.listen(0, '2001:db8::5');
    const [e4] = (await once(s, 'error')) as [NodeJS.ErrnoException];
    expect(e4.message).to.equal('listen EADDRNOTAVAIL: address not available 2001:db8::5');
    expect(net.isIP('::1')).to.equal(6); // the helpers are Node's own
  });

  describe('udp6', () => {
    async function bound(s: DgramSocket, port = 0, address?: string): Promise<number> {
      if (address === undefined) s.bind(port);
      else s.bind(port, address);
      await once(s, 'listening');
      return s.address().port;
    }
    const closed = (...socks: DgramSocket[]): Promise<void[]> => Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));

    it("binds [::] dual-stack: an IPv4 sender shows v4-mapped with family 'IPv6', an IPv6 one as itself", async () => {
      const rx = createSocket('udp6');
      const port = await bound(rx);
      expect(rx.type).to.equal('udp6');
      expect(rx.address()).to.deep.equal({ address: '::', family: 'IPv6', port });
      const got: [Buffer, RemoteInfo][] = [];
      rx.on('message', (m, r) => got.push([m, r]));
      const tx4 = createSocket('udp4');
      const p4 = await bound(tx4, 0, '127.0.0.1');
      tx4.send('four', port, '127.0.0.1');
      const tx6 = createSocket('udp6');
      const p6 = await bound(tx6, 0, '::1');
      expect(tx6.address()).to.deep.equal({ address: '::1', family: 'IPv6', port: p6 });
      const big = randomBytes(30_000); // one datagram, larger than IPv6's 1280-byte minimum MTU
      tx6.send(big, port, '::1');
      tx6.send('six-default', port); // dgram's default address for udp6 is ::1
      for (let i = 0; i < 300 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(got.map(([, r]) => r)).to.deep.include.members([
        { address: '::ffff:127.0.0.1', family: 'IPv6', port: p4, size: 4 },
        { address: '::1', family: 'IPv6', port: p6, size: big.length },
        { address: '::1', family: 'IPv6', port: p6, size: 11 },
      ]);
      expect(sha(got.find(([m]) => m.length === big.length)![0])).to.equal(sha(big));
      // A reply to an IPv4 sender goes back through its mapped address.
      const back = once(tx4, 'message');
      rx.send('reply', p4, '::ffff:127.0.0.1');
      const [m, r] = (await back) as [Buffer, RemoteInfo];
      expect(String(m)).to.equal('reply');
      expect(r).to.deep.equal({ address: '127.0.0.1', family: 'IPv4', port, size: 5 });
      await closed(rx, tx4, tx6);
    });

    it("ipv6Only leaves IPv4's port free; the other family's address is EINVAL, as Node says", async () => {
      const six = createSocket({ type: 'udp6', ipv6Only: true });
      const port = await bound(six);
      const four = createSocket('udp4');
      expect(await bound(four, port)).to.equal(port);
      expect(four.address()).to.deep.equal({ address: '0.0.0.0', family: 'IPv4', port });
      // Without ipv6Only the [::] bind holds IPv4's port too.
      const dual = createSocket('udp6');
      const dport = await bound(dual);
      const clash = createSocket('udp4');
      clash.bind(dport);
      const [e0] = (await once(clash, 'error')) as [Error];
      expect(e0.message).to.equal(`bind EADDRINUSE 0.0.0.0:${dport}`);

      const e1 = await new Promise<Error | null>((r) => six.send('x', 9, '127.0.0.1', (e) => r(e)));
      expect(e1?.message).to.equal('send EINVAL 127.0.0.1:9');
      const e2 = await new Promise<Error | null>((r) => four.send('x', 9, '::1', (e) => r(e)));
      expect(e2?.message).to.equal('send EINVAL ::1:9');
      const b = createSocket('udp6');
      b.bind(0, '127.0.0.1');
      const [e3] = (await once(b, 'error')) as [Error];
      expect(e3.message).to.equal('bind EINVAL 127.0.0.1');
      await closed(six, four, dual, clash, b);
    });

    it('connect()s to ::1 and sends there by default; remoteAddress() is IPv6', async () => {
      const rx = createSocket('udp6');
      const port = await bound(rx, 0, '::1');
      const tx = createSocket('udp6');
      tx.connect(port, '::1');
      await once(tx, 'connect');
      expect(tx.remoteAddress()).to.deep.equal({ address: '::1', family: 'IPv6', port });
      const got = once(rx, 'message');
      tx.send('hello');
      const [m, r] = (await got) as [Buffer, RemoteInfo];
      expect(String(m)).to.equal('hello');
      expect(r).to.deep.include({ address: '::1', family: 'IPv6', port: tx.address().port });
      await closed(rx, tx);
    });
  });
});
