/**
 * 1,000 concurrent connections between two stacks: open, exchange data
 * both ways, close; afterwards only the active closer's TIME-WAITs remain,
 * no socket is left, and both cluster pools are all free.
 */
import { expect } from 'chai';
import type { ManualClock } from '../../src/kern/clock.js';
import { AF_INET, SOCK } from '../../src/socket/constants.js';
import { sockaddrIn } from '../../src/socket/sockaddr.js';
import { B, connectPair, Flow, pattern, WirePair } from './harness.js';

const N = 1000;
const BYTES = 8 * 1024;

describe('tcp concurrency', function () {
  this.timeout(120_000);

  it(`opens ${N} connections, moves ${BYTES} bytes each way on each, closes cleanly`, async () => {
    const pair = new WirePair({ nmbclusters: 32768, tun: { msl: 5000 } });
    const clock = pair.clock as ManualClock;
    const { a, b } = pair;
    b.net.stack.sysctl.set('kern.somaxconn', 4096);
    const lfd = b.table.socket(AF_INET, SOCK.STREAM, 0).fd;
    expect(b.table.bind(lfd, sockaddrIn(0, 80))).to.equal(0);
    expect(b.table.listen(lfd, 2048)).to.equal(0);

    const aFds: number[] = [];
    const pending: Promise<number>[] = [];
    for (let i = 0; i < N; i++) {
      const fd = a.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      aFds.push(fd);
      pending.push(a.table.connect(fd, sockaddrIn(B, 80)));
    }
    pair.flush();
    const results = await Promise.all(pending);
    expect(results.filter((r) => r !== 0)).to.deep.equal([]);
    const bFds: number[] = [];
    for (let i = 0; i < N; i++) {
      const acc = await b.table.accept(lfd);
      expect(acc.errno).to.equal(0);
      bFds.push(acc.fd);
    }
    expect(b.tcp.stateCounts().ESTABLISHED).to.equal(N);

    // Pair the sockets by port and move data both ways on all at once.
    const byPort = new Map<number, number>();
    for (const fd of bFds) byPort.set(b.table.getpeername(fd).addr!.port, fd);
    const pat = pattern(BYTES * 2 + 11);
    const flows: Flow[] = [];
    for (const fd of aFds) {
      const sa = a.table.get(fd)!;
      const port = a.table.getsockname(fd).addr!.port;
      const sb = b.table.get(byPort.get(port)!)!;
      flows.push(new Flow(sa, sb, BYTES, pat), new Flow(sb, sa, BYTES, pat.subarray(7)));
    }
    for (let i = 0; i < 10_000 && !flows.every((f) => f.done); i++) {
      let moved = false;
      for (const f of flows) if (f.step()) moved = true;
      pair.flush();
      if (!moved) clock.advance(5);
    }
    for (const f of flows) {
      expect(f.received).to.equal(BYTES);
      expect(f.rxHash.digest('hex')).to.equal(f.txHash.digest('hex'));
    }

    // A closes first (ends in TIME-WAIT), then B.
    await Promise.all(aFds.map((fd) => a.table.close(fd)));
    pair.flush();
    await Promise.all(bFds.map((fd) => b.table.close(fd)));
    for (let i = 0; i < 100; i++) {
      pair.flush();
      clock.advance(10);
    }
    expect(a.tcp.stateCounts()).to.deep.equal({ 'TIME-WAIT': N });
    expect(b.tcp.stateCounts()).to.deep.equal({ LISTEN: 1 });
    expect(a.layer.count, 'sockets left on A').to.equal(0);
    expect(b.layer.count, 'sockets left on B (the listener)').to.equal(1);
    expect(a.pool.isAllFree(), 'A pool all free').to.equal(true);
    expect(b.pool.isAllFree(), 'B pool all free').to.equal(true);
    // TIME-WAIT ends after 2*MSL.
    clock.advance(10_001);
    expect(a.tcp.tcbs.size).to.equal(0);
    expect(a.tcp.pcbs.size).to.equal(0);
  });
});

describe('tcp and Stack.close()', () => {
  it('frees every mbuf of connections with unacknowledged, out-of-order and unread data, and stops their timers', async () => {
    const pair = new WirePair();
    const c = await connectPair(pair, 80);
    const clock = pair.clock as ManualClock;
    // Unacknowledged data A -> B (never flushed onto the wire), and unread data B -> A.
    const f1 = new Flow(c.a, c.b, 256 * 1024, pattern(4096));
    f1.step();
    const f2 = new Flow(c.b, c.a, 64 * 1024, pattern(4096, 3));
    f2.step();
    pair.wire.setFaults({ drop: 0.5 });
    pair.flush();
    expect(pair.a.pool.isAllFree(), 'A holds mbufs before close').to.equal(false);
    pair.close();
    expect(pair.a.pool.isAllFree(), 'A pool all free').to.equal(true);
    expect(pair.b.pool.isAllFree(), 'B pool all free').to.equal(true);
    expect(pair.a.tcp.tcbs.size + pair.b.tcp.tcbs.size, 'control blocks left').to.equal(0);
    expect(clock.pending(), 'timers left armed').to.equal(0);
  });
});

describe('tcp listen queue and SYN cache under a slow accept', () => {
  it('keeps connections whose handshake ACK found the queue full, and hands every one to accept', async () => {
    // Backlog 4 and room for 8 half-open entries; 40 clients connect at once
    // while the application accepts one connection per 50 ms. The clients
    // believe they are connected as soon as they have sent their ACK, so no
    // such entry may be evicted or forgotten.
    const N = 40;
    const pair = new WirePair({ tun: { syncacheBucketLimit: 8, syncacheLimit: 16 } });
    const clock = pair.clock as ManualClock;
    const { a, b } = pair;
    const lfd = b.table.socket(AF_INET, SOCK.STREAM, 0).fd;
    expect(b.table.bind(lfd, sockaddrIn(0, 81))).to.equal(0);
    expect(b.table.listen(lfd, 4)).to.equal(0);
    const connects = Array.from({ length: N }, () => {
      const fd = a.table.socket(AF_INET, SOCK.STREAM, 0).fd;
      return a.table.connect(fd, sockaddrIn(B, 81));
    });
    let accepted = 0;
    for (let t = 0; t < 120_000 && accepted < N; t += 10) {
      pair.flush();
      if (t % 50 === 0 && b.table.get(lfd)!.q.length > 0) {
        const r = await b.table.accept(lfd);
        expect(r.errno).to.equal(0);
        accepted++;
      }
      clock.advance(10);
    }
    const errs = await Promise.all(connects);
    expect(errs.every((e) => e === 0), 'every connect succeeded').to.equal(true);
    expect(accepted, 'connections accepted').to.equal(N);
    expect(b.tcp.stats.listendrop, 'the queue did overflow').to.be.greaterThan(0);
    pair.close();
  });
});
