/**
 * AF_INET6 through the protocol, end to end (in-process server, real client
 * connections): `inet6` sockets and `{family: 'inet6'}` addresses, a
 * dual-stack [::] TCP listener taking an IPv4 client, the v4-mapped names
 * the client sees, UDP from IPv4 to a dual socket and back, IPV6_V6ONLY by
 * name, and the schema refusing malformed IPv6 addresses — the server
 * answering each with an errno, never a crash.
 */
import { expect } from 'chai';
import { SYSCALL_SCHEMAS, checkArgs, inet, inet6, type RumpConnection } from '@rumpnet/client';
import { patternBytes, sha256, twoClientsEach } from './helpers.js';

describe('rump-server syscalls: AF_INET6 and dual-stack sockets', () => {
  const t = twoClientsEach();
  let a: RumpConnection;
  let b: RumpConnection;
  beforeEach(() => ({ a, b } = t));

  it('a [::] listener accepts an IPv4 client; names are v4-mapped; 1 MiB each way intact', async () => {
    const l = await b.sys.socket('stream', { domain: 'inet6' });
    await b.sys.bind(l, inet6('::', 7100));
    await b.sys.listen(l, 4);
    expect(await b.sys.getsockname(l)).to.deep.equal(inet6('::', 7100));
    const c = await a.sys.socket('stream');
    const connected = a.sys.connect(c, inet('127.0.0.1', 7100));
    const acc = await b.sys.accept(l);
    await connected;
    const cport = (await a.sys.getsockname(c)).port;
    expect(acc.addr).to.deep.equal(inet6('::ffff:127.0.0.1', cport));
    expect(await b.sys.getsockname(acc.fd)).to.deep.equal(inet6('::ffff:127.0.0.1', 7100));
    const data = patternBytes(1 << 20, 9);
    const recvAll = async (conn: RumpConnection, fd: number, n: number) => {
      const parts: Buffer[] = [];
      const buf = Buffer.alloc(65536);
      for (let got = 0, i = 0; got < n && i < 10_000; i++) {
        const k = await conn.sys.recv(fd, buf);
        if (k === 0) break;
        parts.push(Buffer.from(buf.subarray(0, k)));
        got += k;
      }
      return Buffer.concat(parts);
    };
    const [, up] = await Promise.all([a.sys.send(c, data), recvAll(b, acc.fd, data.length)]);
    expect(sha256(up)).to.equal(sha256(data));
    const [, down] = await Promise.all([b.sys.send(acc.fd, data), recvAll(a, c, data.length)]);
    expect(sha256(down)).to.equal(sha256(data));
  });

  it('UDP from IPv4 to a dual socket arrives from a mapped address, and the answer goes back', async () => {
    const d = await b.sys.socket('dgram', { domain: 'inet6' });
    await b.sys.bind(d, inet6('::', 7101));
    const s = await a.sys.socket('dgram');
    await a.sys.bind(s, inet('127.0.0.1', 7102));
    expect(await a.sys.sendto(s, Buffer.from('ping'), inet('127.0.0.1', 7101))).to.equal(4);
    const buf = Buffer.alloc(100);
    const r = await b.sys.recvfrom(d, buf);
    expect(r.addr).to.deep.equal(inet6('::ffff:127.0.0.1', 7102));
    expect(await b.sys.sendto(d, Buffer.from('pong'), r.addr!)).to.equal(4);
    const back = await a.sys.recvfrom(s, buf);
    expect(buf.subarray(0, back.bytes).toString()).to.equal('pong');
    expect(back.addr).to.deep.equal(inet('127.0.0.1', 7101));
  });

  it('IPV6_V6ONLY by name; errnos for what a v6-only socket or an AF_INET socket must refuse', async () => {
    const l = await b.sys.socket('stream', { domain: 'inet6' });
    await b.sys.setsockopt(l, 'ipv6', 'IPV6_V6ONLY', 1);
    expect(await b.sys.getsockopt(l, 'ipv6', 'IPV6_V6ONLY')).to.equal(1);
    await b.sys.bind(l, inet6('::', 7103));
    await b.sys.listen(l, 4);
    const c = await a.sys.socket('stream');
    await a.sys.connect(c, inet('127.0.0.1', 7103)).then(
      () => expect.fail('connected to a v6-only listener over IPv4'),
      (e: NodeJS.ErrnoException) => expect(e.code).to.equal('ECONNREFUSED'),
    );
    const v4 = await a.sys.socket('dgram');
    await a.sys.bind(v4, inet6('::', 7104)).then(
      () => expect.fail('bound an AF_INET socket to an IPv6 address'),
      (e: NodeJS.ErrnoException) => expect(e.code).to.equal('EAFNOSUPPORT'),
    );
    await a.sys.setsockopt(v4, 'ipv6', 'IPV6_V6ONLY', 1).then(
      () => expect.fail('IPV6_V6ONLY on an AF_INET socket'),
      (e: NodeJS.ErrnoException) => expect(e.code).to.equal('ENOPROTOOPT'),
    );
    const u = await a.sys.socket('dgram', { domain: 'inet6' });
    await a.sys.sendto(u, Buffer.from('x'), inet6('2001:db8::1', 9)).then(
      () => expect.fail('sent to IPv6 without an IPv6 route'),
      (e: NodeJS.ErrnoException) => expect(e.code).to.equal('ENETUNREACH'),
    );
  });

  it('the schema refuses malformed IPv6 socket addresses (the client at the call, the server the same way)', async () => {
    const u = await a.sys.socket('dgram', { domain: 'inet6' });
    expect(checkArgs(SYSCALL_SCHEMAS.bind, { fd: u, addr: inet6('::1', 1, { flowinfo: 5, scopeId: 2 }) })).to.equal(undefined);
    for (const bad of [
      { family: 'inet6', address: '1::2::3', port: 1 },
      { family: 'inet6', address: '10.0.0.1', port: 1 },
      { family: 'inet6', address: 'fe80::1%eth0', port: 1 },
      { family: 'inet6', address: '::1', port: 70000 },
      { family: 'inet6', address: '::1', port: 1, flowinfo: -1 },
      { family: 'inet6', address: '::1', port: 1, extra: true },
      { family: 'inet', address: '::1', port: 1 },
    ]) {
      // The server validates with this same table (EINVAL to a client that skipped it).
      expect(checkArgs(SYSCALL_SCHEMAS.bind, { fd: u, addr: bad }), JSON.stringify(bad)).to.be.a('string');
      await a.call('bind', { fd: u, addr: bad }).then(
        () => expect.fail(`accepted ${JSON.stringify(bad)}`),
        (e: NodeJS.ErrnoException) => expect(e.code, JSON.stringify(bad)).to.equal('ERR_INVALID_ARG_VALUE'),
      );
    }
    expect(checkArgs(SYSCALL_SCHEMAS.socket, { domain: 'inet7', type: 'dgram' })).to.be.a('string');
  });
});
