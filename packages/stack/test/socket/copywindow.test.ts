/**
 * The copy window of `sosend` (`kern.copywindow`): with a window of 1 the
 * socket layer keeps exactly one copy request outstanding (NetBSD's path,
 * one request per cluster at MCLNUM 1); with more it asks for the next
 * clusters before the previous copy is answered, never for more than the
 * send buffer can take, and builds the data in order whatever order the
 * answers come in. Failures and closes in the middle of a window free
 * every cluster.
 */
import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { type CopySource, makeUio } from '../../src/mbuf/index.js';
import { AF_INET, INADDR_ANY, MSG, SO, SOCK, SOL_SOCKET, SocketTable, sockaddrIn } from '../../src/socket/index.js';
import { UdpProtocol } from '../../src/transport/udp/index.js';
import { A1, addPipeProtocol, CountingSink, fakeLayer, PIPE_PROTO, pattern } from './helpers.js';

const out = (n: number) => makeUio([{ base: 0, len: n }], 'write');
const inn = (n: number) => makeUio([{ base: 0, len: n }], 'read');

interface Held {
  readonly uaddr: number;
  readonly dsts: readonly Uint8Array[];
  readonly seq: number;
  resolve(): void;
  reject(e: Error): void;
}

/**
 * A client stand-in that holds every copy request until the next turn and
 * then answers all it holds at once, in reverse order (the protocol matches
 * replies by request number, so any order is legal): the socket layer must
 * put the data in uio order itself. Counts requests, the most outstanding
 * at once and the most bytes outstanding at once.
 */
class WindowSource implements CopySource {
  requests = 0;
  outstanding = 0;
  peak = 0;
  bytesOut = 0;
  peakBytes = 0;
  /** Request number (0-based) answered with EFAULT, or -1. */
  failAt = -1;
  /** When set, answering stops (requests pile up) until `release()`. */
  hold = false;
  private held: Held[] = [];
  private scheduled = false;
  constructor(readonly mem: Uint8Array) {}

  copyin(uaddr: number, dsts: readonly Uint8Array[]): Promise<void> {
    const seq = this.requests++;
    this.outstanding++;
    this.peak = Math.max(this.peak, this.outstanding);
    let n = 0;
    for (const d of dsts) n += d.length;
    this.bytesOut += n;
    this.peakBytes = Math.max(this.peakBytes, this.bytesOut);
    return new Promise<void>((resolve, reject) => {
      this.held.push({ uaddr, dsts, seq, resolve, reject });
      this.schedule();
    });
  }

  /** Answer what is held (and keep answering). */
  release(): void {
    this.hold = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.hold) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.hold) return;
      const batch = this.held.splice(0).reverse();
      for (const h of batch) this.answer(h);
    });
  }

  private answer(h: Held): void {
    let n = 0;
    for (const d of h.dsts) n += d.length;
    this.outstanding--;
    this.bytesOut -= n;
    if (h.seq === this.failAt) return h.reject(Object.assign(new Error('EFAULT'), { errno: Errno.EFAULT }));
    let p = h.uaddr;
    for (const d of h.dsts) {
      d.set(this.mem.subarray(p, p + d.length));
      p += d.length;
    }
    h.resolve();
  }
}

/** A connected pair of stream-stub sockets with send/receive buffers of `buf` bytes, at `mclnum` and `copyWindow`. */
async function pipePair(mclnum: number, copyWindow: number, buf: number) {
  const { host, layer } = fakeLayer({ mclnum, nmbclusters: 2048, tunables: { copyWindow } });
  addPipeProtocol(layer);
  const t = new SocketTable(layer);
  const l = t.socket(AF_INET, SOCK.STREAM, PIPE_PROTO).fd;
  t.bind(l, sockaddrIn(INADDR_ANY, 7000));
  expect(t.listen(l, 4)).to.equal(0);
  const c = t.socket(AF_INET, SOCK.STREAM, PIPE_PROTO).fd;
  t.setsockopt(c, SOL_SOCKET, SO.SNDBUF, buf);
  expect(await t.connect(c, sockaddrIn(A1, 7000))).to.equal(0);
  const acc = await t.accept(l);
  expect(acc.errno).to.equal(0);
  t.setsockopt(acc.fd, SOL_SOCKET, SO.RCVBUF, buf);
  return { host, layer, t, c, s: acc.fd };
}

/** Everything readable on `s` now (non-blocking), up to `max` bytes. */
async function drain(t: SocketTable, s: number, max: number): Promise<Uint8Array> {
  const got = new Uint8Array(max);
  const r = await t.recvfrom(s, inn(max), new CountingSink(got), MSG.DONTWAIT, true);
  return got.subarray(0, r.errno === 0 ? r.bytes : 0);
}

describe('sosend copy window (kern.copywindow)', () => {
  it('window 1, MCLNUM 1: exactly one copy request per cluster and never two outstanding (NetBSD)', async () => {
    const { host, t, c, s } = await pipePair(1, 1, 2 * 1024 * 1024);
    const data = pattern(1 << 20, 11);
    const src = new WindowSource(data);
    const r = await t.sendto(c, out(data.length), src);
    expect(r).to.deep.equal({ errno: 0, bytes: 1 << 20, requests: 512 });
    expect(src.requests).to.equal(512);
    expect(src.peak).to.equal(1);
    expect(await drain(t, s, 1 << 20)).to.deep.equal(data);
    await t.closeAll();
    host.pool.assertAllFree();
  });

  for (const [mclnum, window, requests] of [
    [1, 4, 512],
    [1, 16, 512],
    [16, 4, 32],
  ] as const) {
    it(`window ${window}, MCLNUM ${mclnum}: ${requests} requests, up to ${window} outstanding, answered in reverse, data in order`, async () => {
      const { host, t, c, s } = await pipePair(mclnum, window, 2 * 1024 * 1024);
      const data = pattern(1 << 20, 12 + window);
      const src = new WindowSource(data);
      const r = await t.sendto(c, out(data.length), src);
      expect(r).to.deep.equal({ errno: 0, bytes: 1 << 20, requests });
      expect(src.peak).to.equal(window);
      expect(await drain(t, s, 1 << 20)).to.deep.equal(data);
      await t.closeAll();
      host.pool.assertAllFree();
    });
  }

  it('never asks for more than the send buffer can take (window 16 on an 8 KiB buffer)', async () => {
    const { host, t, c, s } = await pipePair(1, 16, 8192);
    const data = pattern(64 * 1024, 5);
    const src = new WindowSource(data);
    const got: Uint8Array[] = [];
    let done = false;
    const sending = t.sendto(c, out(data.length), src).finally(() => (done = true));
    // Read as the sender fills; bounded by count, not time.
    for (let i = 0; i < 10_000 && !done; i++) {
      await new Promise((r) => setImmediate(r));
      const g = await drain(t, s, 65536);
      if (g.length > 0) got.push(g.slice());
    }
    expect((await sending).bytes).to.equal(data.length);
    got.push((await drain(t, s, 65536)).slice());
    expect(Buffer.concat(got)).to.deep.equal(Buffer.from(data));
    expect(src.peakBytes).to.be.at.most(8192);
    expect(src.peak).to.be.greaterThan(1);
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('a UDP datagram is copied with its requests in flight together and sent whole (window 4, MCLNUM 1)', async () => {
    const { host, layer } = fakeLayer({ mclnum: 1, tunables: { copyWindow: 4 } });
    new UdpProtocol(layer);
    const t = new SocketTable(layer);
    const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    t.bind(a, sockaddrIn(A1, 5555));
    const data = pattern(65507, 9);
    const src = new WindowSource(data);
    const r = await t.sendto(a, out(65507), src, sockaddrIn(A1, 5555));
    expect(r).to.deep.equal({ errno: 0, bytes: 65507, requests: 32 });
    expect(src.peak).to.equal(4);
    const got = new Uint8Array(65507);
    const rr = await t.recvfrom(a, inn(65507), new CountingSink(got), 0, true);
    expect(rr.bytes).to.equal(65507);
    expect(got).to.deep.equal(data);
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('a failed copy mid-window: EFAULT, what came before it is sent in order, nothing after, every cluster freed', async () => {
    const { host, t, c, s } = await pipePair(1, 8, 2 * 1024 * 1024);
    const data = pattern(256 * 1024, 21);
    const src = new WindowSource(data);
    src.failAt = 37; // inside the fifth window of 8
    const r = await t.sendto(c, out(data.length), src);
    expect(r.errno).to.equal(Errno.EFAULT);
    const got = await drain(t, s, data.length);
    expect(got.length).to.equal(37 * 2048);
    expect(got).to.deep.equal(data.subarray(0, got.length));
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('a failed UDP datagram copy mid-window sends nothing and frees everything', async () => {
    const { host, layer } = fakeLayer({ mclnum: 1, tunables: { copyWindow: 8 } });
    new UdpProtocol(layer);
    const t = new SocketTable(layer);
    const a = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
    t.bind(a, sockaddrIn(A1, 5556));
    const src = new WindowSource(pattern(65507, 2));
    src.failAt = 3;
    const r = await t.sendto(a, out(65507), src, sockaddrIn(A1, 5556));
    expect(r.errno).to.equal(Errno.EFAULT);
    const rr = await t.recvfrom(a, inn(65507), new CountingSink(new Uint8Array(65507)), MSG.DONTWAIT, true);
    expect(rr.errno).to.not.equal(0);
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('the socket closed while a window is outstanding: EBADF once the copies settle, every cluster freed', async () => {
    const { host, t, c } = await pipePair(1, 8, 2 * 1024 * 1024);
    const src = new WindowSource(pattern(128 * 1024, 3));
    src.hold = true;
    const sending = t.sendto(c, out(128 * 1024), src);
    for (let i = 0; i < 100 && src.outstanding < 8; i++) await new Promise((r) => setImmediate(r));
    expect(src.outstanding).to.equal(8);
    await t.close(c);
    src.release();
    const r = await sending;
    expect(r.errno).to.equal(Errno.EBADF);
    await t.closeAll();
    host.pool.assertAllFree();
  });

  it('the window defaults to 1 (NetBSD) and is a socket-layer tunable', () => {
    const { layer } = fakeLayer({ tunables: { copyWindow: 3 } });
    expect(layer.tunables.copyWindow).to.equal(3);
    expect(fakeLayer().layer.tunables.copyWindow).to.equal(1);
  });
});
