/**
 * lo0 owns all of 127.0.0.0/8, as Linux's `local 127.0.0.0/8 dev lo` does
 * (NetBSD's lo0 owns 127.0.0.1 alone): a socket binds to 127.0.0.2 and is
 * reached there over TCP and UDP, the connecting side's source is
 * 127.0.0.1 (Linux's choice), while addresses outside every interface
 * still fail with EADDRNOTAVAIL, and taking 127.0.0.1/8 off lo0 takes the
 * prefix with it.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { createNetStack, type NetStack } from '../../src/netstack.js';
import { AF, SOCK, type SocketTable } from '../../src/socket/index.js';
import { sockaddrIn, type SockaddrIn } from '../../src/socket/sockaddr.js';
import { recvWithin, sendBytes } from './helpers.js';

const LO2 = 0x7f000002; // 127.0.0.2
const LO_FAR = 0x7f0a0b0c; // 127.10.11.12
const LO = 0x7f000001;

describe('lo0 owns 127.0.0.0/8 (Linux semantics)', function () {
  this.timeout(20_000);
  let net: NetStack;
  let t: SocketTable;
  beforeEach(() => {
    net = createNetStack({ nmbclusters: 1024 });
    t = net.newProcess();
  });
  afterEach(async () => {
    await t.closeAll();
    net.close();
    expect(net.stack.pool.isAllFree(), 'pool all-free').to.equal(true);
  });

  it('a TCP listener on 127.0.0.2 accepts a connection to 127.0.0.2; the client speaks from 127.0.0.1', async () => {
    const l = t.socket(AF.INET, SOCK.STREAM, 0).fd;
    expect(t.bind(l, sockaddrIn(LO2, 8080))).to.equal(0);
    expect(t.listen(l, 4)).to.equal(0);
    const c = t.socket(AF.INET, SOCK.STREAM, 0).fd;
    expect(await t.connect(c, sockaddrIn(LO2, 8080))).to.equal(0);
    const a = await t.accept(l);
    expect(a.errno).to.equal(0);
    expect((t.getsockname(c).addr as SockaddrIn).addr).to.equal(LO);
    expect((t.getsockname(a.fd).addr as SockaddrIn).addr).to.equal(LO2);
    expect((a.addr as SockaddrIn).addr).to.equal(LO);
    expect((await sendBytes(t, c, Buffer.from('over 127.0.0.2'))).errno).to.equal(0);
    expect(Buffer.from((await recvWithin(t, a.fd, 2000))!.data).toString()).to.equal('over 127.0.0.2');
    // A listener on 127.0.0.2 is not one on 127.0.0.1.
    const c2 = t.socket(AF.INET, SOCK.STREAM, 0).fd;
    expect(await t.connect(c2, sockaddrIn(LO, 8080))).to.equal(Errno.ECONNREFUSED);
  });

  it('UDP to any 127/8 address reaches a wildcard-bound socket, and one bound there answers from it', async () => {
    const w = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect(t.bind(w, sockaddrIn(0, 9000))).to.equal(0);
    const s = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect(t.bind(s, sockaddrIn(LO_FAR, 9001))).to.equal(0);
    expect((await sendBytes(t, s, Buffer.from('hi'), sockaddrIn(LO2, 9000))).errno).to.equal(0);
    const r = await recvWithin(t, w, 2000);
    expect(Buffer.from(r!.data).toString()).to.equal('hi');
    expect((r!.addr as SockaddrIn).addr).to.equal(LO_FAR);
    expect((r!.addr as SockaddrIn).port).to.equal(9001);
  });

  it('addresses outside 127/8 and every interface stay EADDRNOTAVAIL; removing 127.0.0.1/8 takes the prefix', () => {
    const s = t.socket(AF.INET, SOCK.DGRAM, 0).fd;
    expect(t.bind(s, sockaddrIn(0x0a000099, 0))).to.equal(Errno.EADDRNOTAVAIL);
    expect(net.stack.localAddrs.has(LO2)).to.equal(true);
    net.stack.removeAddress('lo0', '127.0.0.1');
    expect(net.stack.localAddrs.has(LO2)).to.equal(false);
    expect(t.bind(s, sockaddrIn(LO2, 0))).to.equal(Errno.EADDRNOTAVAIL);
    net.stack.addAddress('lo0', '127.0.0.1/8');
    expect(t.bind(s, sockaddrIn(LO2, 0))).to.equal(0);
  });
});
