/**
 * UDP between two real stacks on an in-memory wire: echo of every size
 * class up to 65507 (fragmented), loss and reordering for fragmented ones,
 * ECONNREFUSED from a closed port, broadcast needing SO_BROADCAST and
 * looped back to our own sockets.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { MemWire } from '../../src/link/memwire.js';
import { makeUio } from '../../src/mbuf/index.js';
import { AF_INET, POLL, SO, SOCK, SOL_SOCKET, SocketLayer, SocketTable, sockaddrIn } from '../../src/socket/index.js';
import { Stack } from '../../src/stack.js';
import { UdpProtocol } from '../../src/transport/udp/index.js';
import { CountingSink, pattern, recvWithin, sendBytes } from '../socket/helpers.js';

const IP_A = 0x0a000001;
const IP_B = 0x0a000002;

function makeNet(mclnum = 1) {
  const wire = new MemWire({ seed: 7 });
  const mk = (ip: string) => {
    const stack = new Stack({ nmbclusters: 4096, mclnum });
    stack.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: [`${ip}/24`] });
    const layer = new SocketLayer(stack);
    const udp = new UdpProtocol(layer);
    const t = new SocketTable(layer);
    return { stack, layer, udp, t };
  };
  return { wire, a: mk('10.0.0.1'), b: mk('10.0.0.2') };
}

const send = sendBytes;


/** An echo server on `fd`: sends every datagram back to its sender until the socket closes. */
async function echoServer(t: SocketTable, fd: number): Promise<void> {
  const buf = new Uint8Array(65536);
  for (let i = 0; i < 1_000_000; i++) {
    const r = await t.recvfrom(fd, makeUio([{ base: 0, len: buf.length }], 'read'), new CountingSink(buf), 0, true);
    if (r.errno !== 0) return;
    await send(t, fd, buf.subarray(0, r.bytes), r.addr);
  }
}

describe('UDP between two stacks on a MemWire', function () {
  this.timeout(30_000);
  let net: ReturnType<typeof makeNet>;
  afterEach(async () => {
    await net.a.t.closeAll();
    await net.b.t.closeAll();
    net.a.stack.close();
    net.b.stack.close();
    net.wire.close();
    net.a.stack.pool.assertAllFree();
    net.b.stack.pool.assertAllFree();
  });

  it('echoes every size 0..1600, then a sampled sweep up to 65507 (fragmented)', async () => {
    net = makeNet(16);
    const { a, b } = net;
    const s = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect(b.t.bind(s, sockaddrIn(IP_B, 7))).to.equal(0);
    const server = echoServer(b.t, s);
    const c = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect(await a.t.connect(c, sockaddrIn(IP_B, 7))).to.equal(0);
    const sizes: number[] = [];
    for (let n = 0; n <= 1600; n++) sizes.push(n);
    sizes.push(2000, 2952, 2953, 4000, 8972, 8973, 16384, 30000, 32768, 50000, 65000, 65506, 65507);
    for (const n of sizes) {
      const data = pattern(n, n + 1);
      expect((await send(a.t, c, data)).errno, `send ${n}`).to.equal(0);
      const r = await recvWithin(a.t, c, 2000);
      expect(r, `echo of ${n}`).to.not.equal(null);
      expect(r!.bytes).to.equal(n);
      expect(r!.data).to.deep.equal(data);
      expect(r!.addr).to.deep.equal(sockaddrIn(IP_B, 7));
    }
    expect(b.udp.stats.badsum + b.udp.stats.fullsock + a.udp.stats.fullsock).to.equal(0);
    await b.t.close(s);
    await server;
  });

  it('fragmented datagrams get through 10% loss and reordering with bounded retries', async () => {
    net = makeNet(1);
    const { a, b, wire } = net;
    const s = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    b.t.bind(s, sockaddrIn(IP_B, 7));
    const server = echoServer(b.t, s);
    const c = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    await a.t.connect(c, sockaddrIn(IP_B, 7));
    // Resolve ARP on a clean wire first.
    await send(a.t, c, new Uint8Array(1));
    expect(await recvWithin(a.t, c, 2000)).to.not.equal(null);
    wire.setFaults({ drop: 0.1, reorder: 0.1 });
    let attempts = 0;
    for (const n of [1473, 2000, 2961, 4000, 5000, 8972]) {
      const data = pattern(n, n);
      let ok = false;
      for (let tries = 0; tries < 60 && !ok; tries++) {
        attempts++;
        await send(a.t, c, data);
        const r = await recvWithin(a.t, c, 30);
        // A late echo of an earlier try is the same datagram: accept it too.
        if (r !== null && r.bytes === n) {
          expect(r.data).to.deep.equal(data);
          ok = true;
        }
      }
      expect(ok, `size ${n} never made it`).to.equal(true);
      // Drain late duplicates of this size before the next one.
      for (let i = 0; i < 100 && (await recvWithin(a.t, c, 0)) !== null; i++);
    }
    expect(attempts).to.be.greaterThan(6); // the loss really bit
    wire.setFaults(null);
    await b.t.close(s);
    await server;
  });

  it('a connected socket gets ECONNREFUSED after sending to a closed port; an unconnected one does not', async () => {
    net = makeNet();
    const { a, b } = net;
    const c = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect(await a.t.connect(c, sockaddrIn(IP_B, 9))).to.equal(0);
    expect((await send(a.t, c, pattern(10))).errno).to.equal(0);
    const p = await a.t.poll([{ fd: c, events: POLL.IN }], 2000);
    expect(p.revents[0]! & POLL.ERR).to.equal(POLL.ERR);
    const r = await a.t.recvfrom(c, makeUio([{ base: 0, len: 10 }], 'read'), new CountingSink(new Uint8Array(10)));
    expect(r.errno).to.equal(Errno.ECONNREFUSED);
    expect(b.udp.stats.noport).to.equal(1);
    const u = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect((await send(a.t, u, pattern(10), sockaddrIn(IP_B, 9))).errno).to.equal(0);
    await new Promise((res) => setTimeout(res, 50));
    expect(b.udp.stats.noport).to.be.at.least(1);
    expect(a.t.getsockopt(u, SOL_SOCKET, SO.ERROR).value).to.equal(0);
    expect((await send(a.t, u, pattern(10), sockaddrIn(IP_B, 9))).errno).to.equal(0);
  });

  it('broadcast needs SO_BROADCAST and reaches a socket on the other stack', async () => {
    net = makeNet();
    const { a, b } = net;
    const s = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    b.t.bind(s, sockaddrIn(0, 6666));
    const c = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect((await send(a.t, c, pattern(20), sockaddrIn(0x0a0000ff, 6666))).errno).to.equal(Errno.EACCES);
    a.t.setsockopt(c, SOL_SOCKET, SO.BROADCAST, 1);
    expect((await send(a.t, c, pattern(20), sockaddrIn(0x0a0000ff, 6666))).errno).to.equal(0);
    const r = await recvWithin(b.t, s, 2000);
    expect(r).to.not.equal(null);
    expect(r!.data).to.deep.equal(pattern(20));
    expect(r!.addr!.addr).to.equal(IP_A);
  });

  it('a broadcast we send also reaches our own sockets (simplex interface), once; unicast is not looped', async () => {
    net = makeNet();
    const { a, b } = net;
    const local = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect(a.t.bind(local, sockaddrIn(0, 6667))).to.equal(0);
    const remote = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    expect(b.t.bind(remote, sockaddrIn(0, 6667))).to.equal(0);
    const c = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    a.t.setsockopt(c, SOL_SOCKET, SO.BROADCAST, 1);
    // Directed (10.0.0.255) and limited (255.255.255.255) broadcast alike.
    for (const [i, dst] of [0x0a0000ff, 0xffffffff].entries()) {
      expect((await send(a.t, c, pattern(30, i), sockaddrIn(dst, 6667))).errno).to.equal(0);
      const mine = await recvWithin(a.t, local, 2000);
      expect(mine?.data).to.deep.equal(pattern(30, i));
      expect(mine!.addr!.addr).to.equal(IP_A);
      expect((await recvWithin(b.t, remote, 2000))?.data).to.deep.equal(pattern(30, i));
      expect(a.stack.ipstat.bcastloop).to.equal(i + 1);
    }
    // Exactly one copy each: nothing more is queued on either socket.
    expect(await recvWithin(a.t, local, 50)).to.equal(null);
    expect(await recvWithin(b.t, remote, 50)).to.equal(null);
    // Unicast to the peer is not looped back.
    expect((await send(a.t, c, pattern(5), sockaddrIn(IP_B, 6667))).errno).to.equal(0);
    expect((await recvWithin(b.t, remote, 2000))?.data).to.deep.equal(pattern(5));
    expect(await recvWithin(a.t, local, 50)).to.equal(null);
    expect(a.stack.ipstat.bcastloop).to.equal(2);
    expect(a.stack.ipstat.mcastloop).to.equal(0);
  });

  it('receive overflow on a real stack is counted in net.inet.udp.stats.fullsock', async () => {
    net = makeNet();
    const { a, b } = net;
    const s = b.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    b.t.bind(s, sockaddrIn(IP_B, 8));
    b.t.setsockopt(s, SOL_SOCKET, SO.RCVBUF, 4096);
    const c = a.t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    // Resolve ARP first (its hold queue keeps only the latest packet), then empty the socket.
    await send(a.t, c, pattern(1), sockaddrIn(IP_B, 8));
    expect(await recvWithin(b.t, s, 2000)).to.not.equal(null);
    const delivered0 = b.udp.stats.delivered;
    for (let i = 0; i < 20; i++) await send(a.t, c, pattern(1000, i), sockaddrIn(IP_B, 8));
    await new Promise((res) => setTimeout(res, 50));
    const full = b.stack.sysctl.get('net.inet.udp.stats.fullsock');
    expect(full).to.be.greaterThan(0);
    expect(full + b.udp.stats.delivered - delivered0).to.equal(20);
  });
});
