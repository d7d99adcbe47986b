/**
 * `node:dgram`'s option calls on a rump socket, end to end against the
 * `rump-server` daemon (loopback only: groups live on lo0, where a member
 * receives what is sent to its group): multicast membership and delivery,
 * `IP_MULTICAST_LOOP`, source-specific membership, broadcast needing
 * `setBroadcast`, buffer sizes, the send queue — and Node's synchronous
 * errors, each as Node v20 on Linux throws it (checked natively, see
 * docs/ARCHITECTURE.md).
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { closeSharedConnections, createSocket, setDefaultRumpServer, type DgramSocket, type RemoteInfo } from '../src/index.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';

async function bound(s: DgramSocket, port = 0, address?: string): Promise<number> {
  s.bind(port, address);
  await once(s, 'listening');
  return s.address().port;
}

async function closed(...socks: DgramSocket[]): Promise<void> {
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
}

/** The next message on `s` within `ms`, or null. */
function nextMessage(s: DgramSocket, ms: number): Promise<[Buffer, RemoteInfo] | null> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      s.off('message', on);
      resolve(null);
    }, ms);
    const on = (m: Buffer, r: RemoteInfo): void => {
      clearTimeout(t);
      resolve([m, r]);
    };
    s.once('message', on);
  });
}

const sendTo = (s: DgramSocket, msg: string, port: number, addr: string): Promise<Error | null> =>
  new Promise((r) => s.send(msg, port, addr, (e) => r(e)));

/**
 * The first message `r` receives after `what` ran, with a datagram
 * 'marker' sent right behind it by `marker`: both take the same path (lo0's
 * queue, then the connection to the client), so the marker comes first only
 * if `what` delivered nothing — "nothing came" told without a timer.
 */
async function firstAfter(r: DgramSocket, what: () => Promise<unknown>, marker: () => Promise<unknown>): Promise<string> {
  const seen: string[] = [];
  const until = new Promise<void>((resolve) => {
    const on = (b: Buffer): void => {
      seen.push(String(b));
      if (String(b) !== 'marker') return;
      r.off('message', on);
      resolve();
    };
    r.on('message', on);
  });
  await what();
  await marker();
  await until;
  return seen[0]!;
}

describe('dgram options end to end through the rump-server daemon (loopback)', function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noUdp) {
      console.log(`      skipped: ${daemon.noUdp}`);
      this.skip();
    }
    setDefaultRumpServer(daemon.url);
  });
  after(async () => {
    await closeSharedConnections();
    setDefaultRumpServer(undefined);
    await daemon?.stop();
  });

  it('throws what Node throws before bind, on bad arguments and after close', async () => {
    const s = createSocket('udp4');
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return `${(e as Error).name} ${(e as { code?: string }).code} ${(e as Error).message}`;
      }
      return 'ok';
    };
    // Before bind libuv has no descriptor.
    expect(code(() => s.setTTL(5))).to.equal('Error EBADF setTTL EBADF');
    expect(code(() => s.setBroadcast(true))).to.equal('Error EBADF setBroadcast EBADF');
    expect(code(() => s.setMulticastTTL(3))).to.equal('Error EBADF setMulticastTTL EBADF');
    expect(code(() => s.setMulticastLoopback(true))).to.equal('Error EBADF setMulticastLoopback EBADF');
    expect(code(() => s.getRecvBufferSize())).to.match(/^SystemError ERR_SOCKET_BUFFER_SIZE .*uv_recv_buffer_size returned EBADF/);
    expect(s.getSendQueueSize()).to.equal(0);
    expect(s.getSendQueueCount()).to.equal(0);
    await bound(s);
    expect(code(() => s.setTTL(0))).to.equal('Error EINVAL setTTL EINVAL');
    expect(code(() => s.setTTL(256))).to.equal('Error EINVAL setTTL EINVAL');
    expect(code(() => s.setTTL('x' as unknown as number))).to.equal(
      `TypeError ERR_INVALID_ARG_TYPE The "ttl" argument must be of type number. Received type string ('x')`,
    );
    expect(s.setTTL(64)).to.equal(64);
    expect(code(() => s.setMulticastTTL(256))).to.equal('Error EINVAL setMulticastTTL EINVAL');
    expect(code(() => s.setMulticastTTL(-1))).to.equal('Error EINVAL setMulticastTTL EINVAL');
    expect(s.setMulticastTTL(0)).to.equal(0);
    expect(s.setMulticastLoopback(true)).to.equal(true);
    expect(code(() => s.addMembership(undefined as unknown as string))).to.equal(
      'TypeError ERR_MISSING_ARGS The "multicastAddress" argument must be specified',
    );
    expect(code(() => s.addMembership('1.2.3.4'))).to.equal('Error EINVAL addMembership EINVAL');
    expect(code(() => s.addMembership('foo'))).to.equal('Error EINVAL addMembership EINVAL');
    expect(code(() => s.addMembership('239.1.1.2', 'bad'))).to.equal('Error EINVAL addMembership EINVAL');
    s.addMembership('239.1.1.1');
    expect(code(() => s.addMembership('239.1.1.1'))).to.equal('Error EADDRINUSE addMembership EADDRINUSE');
    expect(code(() => s.dropMembership('239.1.1.9'))).to.equal('Error EADDRNOTAVAIL dropMembership EADDRNOTAVAIL');
    s.dropMembership('239.1.1.1');
    expect(code(() => s.addSourceSpecificMembership(1 as unknown as string, '232.1.1.1'))).to.equal(
      'TypeError ERR_INVALID_ARG_TYPE The "sourceAddress" argument must be of type string. Received type number (1)',
    );
    expect(code(() => s.addSourceSpecificMembership('10.1.1.2', '10.1.1.3'))).to.equal(
      'Error EINVAL addSourceSpecificMembership EINVAL',
    );
    s.addSourceSpecificMembership('10.1.1.2', '232.1.1.1');
    expect(code(() => s.addSourceSpecificMembership('10.1.1.2', '232.1.1.1'))).to.equal(
      'Error EADDRNOTAVAIL addSourceSpecificMembership EADDRNOTAVAIL',
    );
    expect(code(() => s.addMembership('232.1.1.1'))).to.equal('Error EADDRINUSE addMembership EADDRINUSE');
    expect(code(() => s.dropSourceSpecificMembership('10.1.1.5', '232.1.1.1'))).to.equal(
      'Error EADDRNOTAVAIL dropSourceSpecificMembership EADDRNOTAVAIL',
    );
    s.dropSourceSpecificMembership('10.1.1.2', '232.1.1.1');
    expect(code(() => s.setMulticastInterface('bad'))).to.equal('Error EINVAL setMulticastInterface EINVAL');
    expect(code(() => s.setMulticastInterface(5 as unknown as string))).to.equal(
      'TypeError ERR_INVALID_ARG_TYPE The "interfaceAddress" argument must be of type string. Received type number (5)',
    );
    s.setMulticastInterface('0.0.0.0');
    expect(code(() => s.setMulticastInterface('224.0.0.2'))).to.equal('Error EADDRNOTAVAIL setMulticastInterface EADDRNOTAVAIL');
    // libuv takes an int: past 2^31 - 1 the size is EINVAL, in Node's own SystemError.
    expect(code(() => s.setRecvBufferSize(2 ** 31))).to.equal(
      'SystemError ERR_SOCKET_BUFFER_SIZE Could not get or set buffer size: uv_recv_buffer_size returned EINVAL (invalid argument)',
    );
    expect(code(() => s.setRecvBufferSize(-1))).to.equal('TypeError ERR_SOCKET_BAD_BUFFER_SIZE Buffer size must be a positive integer');
    expect(code(() => s.setRecvBufferSize(1.5))).to.equal('TypeError ERR_SOCKET_BAD_BUFFER_SIZE Buffer size must be a positive integer');
    expect(code(() => createSocket({ type: 'udp4', recvBufferSize: -1 }))).to.equal(
      'RangeError ERR_OUT_OF_RANGE The value of "options.recvBufferSize" is out of range. It must be >= 0 && <= 4294967295. Received -1',
    );
    // The server's refusal comes as 'error': no interface holds 10.9.9.9.
    const err = once(s, 'error') as Promise<[Error & { code: string; syscall: string }]>;
    s.setMulticastInterface('10.9.9.9');
    const [e] = await err;
    expect([e.code, e.syscall, e.message]).to.deep.equal(['EADDRNOTAVAIL', 'setMulticastInterface', 'setMulticastInterface EADDRNOTAVAIL']);
    await closed(s);
    expect(code(() => s.addMembership('239.1.1.1'))).to.equal('Error ERR_SOCKET_DGRAM_NOT_RUNNING Not running');
  });

  it('udp6: multicast hops and interface (IPV6_MULTICAST_HOPS/IF) as libuv takes them', async () => {
    const s = createSocket('udp6');
    const port = await bound(s);
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    expect(code(() => s.setMulticastInterface(String(undefined)))).to.equal('EINVAL');
    expect(code(() => s.setMulticastInterface(''))).to.equal('EINVAL');
    const errors: Error[] = [];
    s.on('error', (e) => errors.push(e));
    s.setMulticastInterface('::%lo0'); // lo0 is the stack's loopback: its index
    s.setMulticastInterface('::%nosuch0'); // a zone naming no interface: 0, by route
    expect(s.setMulticastTTL(5)).to.equal(5);
    // Ordered behind the options: a datagram to ourselves.
    await new Promise<void>((r) => s.send('sync', port, '::1', () => r()));
    expect(errors).to.deep.equal([]);
    await closed(s);
  });

  it('udp6: addMembership on lo0 (IPV6_ADD_MEMBERSHIP) delivers the group, setMulticastLoopback(false) keeps our own off it, dropMembership stops it; Node\'s errors', async () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return `${(e as Error).name} ${(e as { code?: string }).code} ${(e as Error).message}`;
      }
    };
    const r = createSocket('udp6');
    const port = await bound(r);
    // As Node v20 on Linux answers them (libuv parses both with uv_ip6_addr; the kernel wants a group).
    expect(code(() => r.addMembership('fe80::1'))).to.equal('Error EINVAL addMembership EINVAL');
    expect(code(() => r.addMembership('ff15::1', 'bogus'))).to.equal('Error EINVAL addMembership EINVAL');
    expect(code(() => r.addMembership('ff15::1', '127.0.0.1'))).to.equal('Error EINVAL addMembership EINVAL');
    expect(code(() => r.dropMembership('ff15::7:9'))).to.equal('Error EADDRNOTAVAIL dropMembership EADDRNOTAVAIL');
    const errors: Error[] = [];
    r.on('error', (e) => errors.push(e));
    r.addMembership('ff15::7:7', '::%lo0');
    expect(code(() => r.addMembership('ff15::7:7', '::%lo0'))).to.equal('Error EADDRINUSE addMembership EADDRINUSE');
    r.addMembership('ff02::1:77'); // no interface: the route's — lo0 on a loopback-only stack
    const tx = createSocket('udp6');
    await bound(tx);
    const after = (what: () => Promise<unknown>): Promise<string> => firstAfter(r, what, () => sendTo(tx, 'marker', port, '::1'));
    const m = nextMessage(r, 10_000);
    expect(await sendTo(tx, 'to-ff15', port, 'ff15::7:7')).to.equal(null);
    const [msg, rinfo] = (await m)!;
    expect(String(msg)).to.equal('to-ff15');
    expect([rinfo.family, rinfo.address, rinfo.port]).to.deep.equal(['IPv6', '::1', tx.address().port]);
    expect(await after(() => sendTo(tx, 'to-ff02', port, 'ff02::1:77'))).to.equal('to-ff02');
    // A group nobody joined: the filter refuses it, the marker comes first.
    expect(await after(() => sendTo(tx, 'to-ff15-other', port, 'ff15::7:8'))).to.equal('marker');
    // IPV6_MULTICAST_LOOP off on the sender: its datagrams stay off local members.
    tx.setMulticastLoopback(false);
    expect(await after(() => sendTo(tx, 'not-looped', port, 'ff15::7:7'))).to.equal('marker');
    expect(tx.setMulticastLoopback(true)).to.equal(true);
    expect(await after(() => sendTo(tx, 'looped', port, 'ff15::7:7'))).to.equal('looped');
    r.dropMembership('ff15::7:7'); // without the zone: the membership on any interface (Linux index 0)
    expect(await after(() => sendTo(tx, 'after-drop', port, 'ff15::7:7'))).to.equal('marker');
    expect(errors).to.deep.equal([]);
    await closed(r, tx);
  });

  it('udp6: an IPv4 group is IP_ADD_MEMBERSHIP on the dual-stack socket, as on Linux — a udp4 sender reaches it, v4-mapped', async () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return `${(e as Error).name} ${(e as { code?: string }).code} ${(e as Error).message}`;
      }
    };
    const GROUP = '239.7.6.6';
    const r = createSocket('udp6');
    const port = await bound(r);
    // As Node v20 on Linux answers a udp6 socket (libuv tries uv_ip4_addr first: uv__udp_set_membership4).
    expect(code(() => r.addMembership('239.7.6.7', '::%lo0'))).to.equal('Error EINVAL addMembership EINVAL');
    expect(code(() => r.dropMembership(GROUP))).to.equal('Error EADDRNOTAVAIL dropMembership EADDRNOTAVAIL');
    const errors: Error[] = [];
    r.on('error', (e) => errors.push(e));
    r.addMembership(GROUP);
    expect(code(() => r.addMembership(GROUP))).to.equal('Error EADDRINUSE addMembership EADDRINUSE');
    const tx = createSocket('udp4');
    await bound(tx);
    const m = nextMessage(r, 10_000);
    expect(await sendTo(tx, 'to-group', port, GROUP)).to.equal(null);
    const [msg, rinfo] = (await m)!;
    expect(String(msg)).to.equal('to-group');
    expect([rinfo.family, rinfo.address, rinfo.port]).to.deep.equal(['IPv6', '::ffff:127.0.0.1', tx.address().port]);
    const after = (what: () => Promise<unknown>): Promise<string> => firstAfter(r, what, () => sendTo(tx, 'marker', port, '127.0.0.1'));
    expect(await after(() => sendTo(tx, 'again', port, GROUP))).to.equal('again');
    r.dropMembership(GROUP);
    expect(await after(() => sendTo(tx, 'after-drop', port, GROUP))).to.equal('marker');
    // The source-specific pair too (IP_ADD_SOURCE_MEMBERSHIP): lo0's 127.0.0.1 admitted.
    expect(code(() => r.addSourceSpecificMembership('::1', '232.7.6.6'))).to.equal('Error EINVAL addSourceSpecificMembership EINVAL');
    r.addSourceSpecificMembership('127.0.0.1', '232.7.6.6');
    expect(await after(() => sendTo(tx, 'ssm', port, '232.7.6.6'))).to.equal('ssm');
    r.dropSourceSpecificMembership('127.0.0.1', '232.7.6.6');
    expect(await after(() => sendTo(tx, 'ssm-dropped', port, '232.7.6.6'))).to.equal('marker');
    expect(errors).to.deep.equal([]);
    await closed(r, tx);
  });

  it('delivers a group to its members only, loops our own unless setMulticastLoopback(false), stops after dropMembership', async () => {
    const GROUP = '239.7.7.7';
    const r1 = createSocket({ type: 'udp4', reuseAddr: true });
    const r2 = createSocket({ type: 'udp4', reuseAddr: true });
    const port = await bound(r1);
    await bound(r2, port); // reuseAddr: two sockets on one port, as on Linux (SO_REUSEPORT underneath)
    r1.addMembership(GROUP);
    const tx = createSocket('udp4');
    await bound(tx);
    tx.setMulticastTTL(2);
    // r2 joins another group only: a datagram to that one, sent right behind, is the marker on r2's path.
    r2.addMembership('239.7.7.8');
    const got = nextMessage(r1, 10_000);
    const r2First = firstAfter(r2, () => sendTo(tx, 'to-the-group', port, GROUP), () => sendTo(tx, 'marker', port, '239.7.7.8'));
    const m = await got;
    expect(String(m?.[0])).to.equal('to-the-group');
    expect(m?.[1].port).to.equal(tx.address().port);
    expect(await r2First).to.equal('marker'); // same port, never joined GROUP
    // IP_MULTICAST_LOOP off on the sender: its datagrams stay off local members.
    // r2 leaves first: a unicast marker to the shared port then can only be r1's.
    const r1Marker = (): Promise<unknown> => sendTo(tx, 'marker', port, '127.0.0.1');
    await closed(r2);
    tx.setMulticastLoopback(false);
    expect(await firstAfter(r1, () => sendTo(tx, 'not-looped', port, GROUP), r1Marker)).to.equal('marker');
    tx.setMulticastLoopback(true);
    expect(await firstAfter(r1, () => sendTo(tx, 'looped', port, GROUP), r1Marker)).to.equal('looped');
    r1.dropMembership(GROUP);
    expect(await firstAfter(r1, () => sendTo(tx, 'after-drop', port, GROUP), r1Marker)).to.equal('marker');
    await closed(r1, tx);
  });

  it('source-specific membership admits only its sources', async () => {
    const GROUP = '232.9.9.9';
    const rx = createSocket('udp4');
    const port = await bound(rx);
    const tx = createSocket('udp4');
    await bound(tx); // sends from 127.0.0.1, lo0's one address
    rx.addSourceSpecificMembership('10.1.1.1', GROUP);
    expect(await firstAfter(rx, () => sendTo(tx, 'not-admitted', port, GROUP), () => sendTo(tx, 'marker', port, '127.0.0.1'))).to.equal('marker');
    rx.addSourceSpecificMembership('127.0.0.1', GROUP);
    const got = nextMessage(rx, 5000);
    await sendTo(tx, 'admitted', port, GROUP);
    expect(String((await got)?.[0])).to.equal('admitted');
    await closed(rx, tx);
  });

  it('broadcast: EACCES without setBroadcast, delivered with it', async () => {
    const rx = createSocket('udp4');
    const port = await bound(rx);
    const tx = createSocket('udp4');
    await bound(tx);
    // lo0's subnet broadcast (255.255.255.255 has no route on a loopback-only stack: ENETUNREACH, as Linux's).
    const e = await sendTo(tx, 'x', port, '127.255.255.255');
    expect((e as { code?: string } | null)?.code).to.equal('EACCES');
    expect(e?.message).to.equal(`send EACCES 127.255.255.255:${port}`);
    tx.setBroadcast(true);
    const got = nextMessage(rx, 5000);
    expect(await sendTo(tx, 'bcast', port, '127.255.255.255')).to.equal(null);
    expect(String((await got)?.[0])).to.equal('bcast');
    await closed(rx, tx);
  });

  it('buffer sizes read back doubled as Linux reports them; createSocket options apply; the send queue drains', async () => {
    const s = createSocket({ type: 'udp4', recvBufferSize: 20000, sendBufferSize: 30000 });
    await bound(s);
    expect(s.getRecvBufferSize()).to.equal(40000);
    expect(s.getSendBufferSize()).to.equal(60000);
    s.setRecvBufferSize(10000);
    expect(s.getRecvBufferSize()).to.equal(20000);
    s.setSendBufferSize(12000);
    const rx = createSocket('udp4');
    const port = await bound(rx);
    const sent = new Promise<void>((r) => s.send('q', port, '127.0.0.1', () => r()));
    expect(s.getSendQueueCount()).to.equal(1);
    expect(s.getSendQueueSize()).to.equal(1);
    await sent;
    expect(s.getSendQueueCount()).to.equal(0);
    expect(s.getSendQueueSize()).to.equal(0);
    expect(s.getSendBufferSize()).to.equal(24000); // read back from the server after the set
    // A size the stack refuses (past kern.sbmax) is an 'error' naming the libuv call, as Node's throw would.
    const err = once(s, 'error') as Promise<[Error & { code: string }]>;
    s.setRecvBufferSize(0x7fffffff);
    const [e] = await err;
    expect(e.code).to.equal('ERR_SOCKET_BUFFER_SIZE');
    expect(e.message).to.match(/uv_recv_buffer_size returned ENOBUFS/);
    expect(s.getRecvBufferSize()).to.equal(20000); // unchanged, read back
    await closed(s, rx);
  });
});
