/**
 * The client's busy poll (RUMPNET_BUSY_POLL / the `busyPoll` connect
 * option, busypoll.ts): its parsing, the addon's spin on a real socket, the
 * adaptive window on a driven clock, and an echo through the real daemon
 * with it on (the counters move) and off (nothing spins). No assertion
 * depends on how fast anything is: whether a spin in the echo is answered
 * depends on the load, so only the counts that do not are checked.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUSY_POLL_MAX_US, BusyPoller, RumpConnection, busyPollOf, createConnection, createServer } from '../src/index.js';
import { emptyCounters } from '../src/connection-types.js';
import { shmAddon } from '../src/shm.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';

describe('client busy poll: parsing', () => {
  const saved = process.env.RUMPNET_BUSY_POLL;
  afterEach(() => {
    if (saved === undefined) delete process.env.RUMPNET_BUSY_POLL;
    else process.env.RUMPNET_BUSY_POLL = saved;
  });

  it('is off by default and with RUMPNET_BUSY_POLL empty, 0 or off', () => {
    delete process.env.RUMPNET_BUSY_POLL;
    expect(busyPollOf(undefined)).to.equal(0);
    for (const v of ['', '0', 'off']) {
      process.env.RUMPNET_BUSY_POLL = v;
      expect(busyPollOf(undefined), v).to.equal(0);
    }
  });

  it('takes 1..1000 µs from the environment or the option (the option wins)', () => {
    process.env.RUMPNET_BUSY_POLL = '300';
    expect(busyPollOf(undefined)).to.equal(300);
    expect(busyPollOf(0)).to.equal(0);
    expect(busyPollOf(BUSY_POLL_MAX_US)).to.equal(1000);
  });

  it('refuses a bad value with a clear TypeError naming it', () => {
    for (const v of ['1001', '-1', 'abc', '1.5', '100us', '1e3']) {
      process.env.RUMPNET_BUSY_POLL = v;
      expect(() => busyPollOf(undefined), v).to.throw(TypeError, new RegExp(`RUMPNET_BUSY_POLL=.*${v.replace('.', '\\.')}.*0\\.\\.1000`));
    }
    delete process.env.RUMPNET_BUSY_POLL;
    for (const v of [1001, -1, 1.5, NaN, Infinity]) expect(() => busyPollOf(v), String(v)).to.throw(TypeError, /busyPoll option.*0\.\.1000/);
  });

  it('makes connect fail before any socket is opened', async () => {
    process.env.RUMPNET_BUSY_POLL = 'fast';
    const err = await RumpConnection.connect('unix:///nonexistent/rump.sock').then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(err).to.be.instanceOf(TypeError);
    expect(err!.code).to.equal('ERR_INVALID_ARG_VALUE');
    const err2 = await RumpConnection.connect('unix:///nonexistent/rump.sock', { busyPoll: 5000 }).then(() => undefined, (e: unknown) => e as Error);
    expect(err2!.message).to.match(/busyPoll option/);
  });
});

describe('client busy poll: the spin and its window', function () {
  this.timeout(10_000);
  const poll = shmAddon()?.busyPoll;

  it('the addon spins until a Unix socket is readable, and gives up when it is not', async function () {
    if (poll === undefined) return this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'busypoll-'));
    const srv = net.createServer();
    try {
      srv.listen(join(dir, 's'));
      await once(srv, 'listening');
      const accepted = once(srv, 'connection');
      const c = net.connect(join(dir, 's'));
      await once(c, 'connect');
      const [peer] = (await accepted) as [net.Socket];
      // Not reading: what arrives stays in the kernel, where poll(2) sees it.
      const handle = (c as unknown as { _handle: { fd: number; readStop(): number } })._handle;
      handle.readStop();
      const fd = handle.fd;
      expect(poll(fd, 200)).to.equal(0);
      const counters = emptyCounters();
      const p = new BusyPoller(1000, fd, poll, counters);
      p.afterWrite();
      expect(counters.busyPolls).to.equal(1);
      expect(counters.busyPollHits).to.equal(0);
      peer.write('x');
      await new Promise((r) => setTimeout(r, 50));
      expect(poll(fd, 1000)).to.equal(1);
      p.afterWrite();
      expect(counters.busyPolls).to.equal(2);
      expect(counters.busyPollHits).to.equal(1);
      expect(counters.busyPollUs).to.be.greaterThan(0);
      expect(() => poll(-1, 10)).to.throw(/bad descriptor/);
      c.destroy();
      peer.destroy();
    } finally {
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adapts as KVM halt-polling: grows when a longer spin would have paid, shrinks when none would, stays on a hit', () => {
    let t = 0;
    let answer = 0;
    const spins: number[] = [];
    const counters = emptyCounters();
    const p = new BusyPoller(400, 7, (_fd, us) => (spins.push(us), (t += us / 1000), answer), counters, () => t);
    expect(p.windowUs).to.equal(10);
    // Missed by 10 µs, the answer 50 µs after the start (< 400): grow.
    p.afterWrite();
    t += 0.04;
    p.onData();
    expect(p.windowUs).to.equal(20);
    for (const w of [40, 80, 160, 320, 400]) {
      p.afterWrite();
      t += 0.001;
      p.onData();
      // A wait of the window + 1 µs, within the bound: doubled, capped at the bound.
      if (p.windowUs !== w) expect.fail(`window ${p.windowUs}, expected ${w}`);
    }
    // A hit leaves the window alone.
    answer = 1;
    p.afterWrite();
    p.onData();
    expect(p.windowUs).to.equal(400);
    // An answer later than the bound: halve, down to 0 (then no spin at all, only measuring).
    answer = 0;
    for (const w of [200, 100, 50, 25, 12, 6, 0]) {
      p.afterWrite();
      t += 5;
      p.onData();
      expect(p.windowUs).to.equal(w);
    }
    const before = spins.length;
    p.afterWrite();
    expect(spins.length).to.equal(before);
    t += 0.05;
    p.onData();
    expect(p.windowUs).to.equal(10);
    expect(counters.busyPolls).to.equal(spins.length);
    expect(counters.busyPollHits).to.equal(1);
    expect(counters.busyPollWindowUs).to.equal(10);
  });
});

describe('client busy poll: an echo through the daemon', function () {
  this.timeout(60_000);
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  /** 64-byte echoes through one connection (listener and client both on it, so every answer comes from the daemon alone). */
  async function echo(conn: RumpConnection, n: number): Promise<void> {
    const server = createServer({ connection: conn }, (s) => s.pipe(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const c = createConnection({ port, host: '127.0.0.1', connection: conn });
    await once(c, 'connect');
    c.setNoDelay(true);
    const msg = Buffer.alloc(64, 0x2a);
    for (let i = 0; i < n; i++) {
      msg[0] = i & 0xff;
      const got: Buffer[] = [];
      let len = 0;
      const back = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`echo ${i} not back in 10 s`)), 10_000);
        const onData = (b: Buffer): void => {
          got.push(b);
          len += b.length;
          if (len >= 64) {
            clearTimeout(t);
            c.off('data', onData);
            resolve();
          }
        };
        c.on('data', onData);
      });
      c.write(msg);
      await back;
      expect(Buffer.concat(got).equals(msg)).to.equal(true);
    }
    c.end();
    await once(c, 'close');
    await new Promise<void>((r) => server.close(() => r()));
  }

  it('with busyPoll on, echoes still come back intact and the spins are counted', async function () {
    if (d.noTcp) return this.skip();
    if (shmAddon()?.busyPoll === undefined) return this.skip();
    const conn = await RumpConnection.connect(d.url, { busyPoll: 1000 });
    try {
      await echo(conn, 50);
      const c = conn.counters;
      expect(c.busyPolls).to.be.greaterThan(0);
      expect(c.busyPollUs).to.be.greaterThan(0);
      expect(c.busyPollHits).to.be.within(0, c.busyPolls);
      expect(c.busyPollWindowUs).to.be.within(0, 1000);
    } finally {
      await conn.close();
    }
  });

  it('with it off (the default), nothing spins: every counter stays 0', async function () {
    if (d.noTcp) return this.skip();
    const saved = process.env.RUMPNET_BUSY_POLL;
    delete process.env.RUMPNET_BUSY_POLL;
    try {
      const conn = await RumpConnection.connect(d.url);
      try {
        await echo(conn, 20);
        const c = conn.counters;
        expect([c.busyPolls, c.busyPollHits, c.busyPollUs, c.busyPollWindowUs]).to.deep.equal([0, 0, 0, 0]);
        expect(c.socketReads).to.be.greaterThan(0);
      } finally {
        await conn.close();
      }
    } finally {
      if (saved !== undefined) process.env.RUMPNET_BUSY_POLL = saved;
    }
  });
});
