/**
 * The shared-memory data path (docs/PROTOCOL.md §7a): a client offers a
 * sealed memfd region in its handshake, the server maps it and writes
 * COPYOUT bytes into its ring; the socket carries only the small request.
 * Exact counts on both ends, the bytes checked over TCP and UDP, IPv4 and
 * IPv6; the fallback to the socket when the ring has no room; every
 * malformed offer refused, every unusable one answered `ok: false` with the
 * session going on by the socket; a lying consumer position; nothing mapped
 * after the session ends. The server runs in this process, so the client's
 * pid is its own and both mappings show in {@link shmMappings}.
 */
import { openSync, closeSync, ftruncateSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { RumpConnection, inet, inet6 } from '@rumpnet/client';
import { SHM_HEADER, ShmClientRegion, shmAddon, shmMappings, shmUnavailable } from '@rumpnet/client/shm';
import type { RumpServer } from '../../src/server.js';
import { MsgClass, MsgType, type CtlNetstatResult } from '../../src/proto/index.js';
import { ShmRing } from '../../src/session/shm.js';
import { rawClient, type RawClient } from '../proto/helpers.js';
import { cleanup, expectQuiet, patternBytes, readN, sha256, sleep, spawnServer, startServer, tcpPair, tmpDir, tmpSock, waitFor } from './helpers.js';

type Counters = Record<string, number>;

async function countersOf(ctl: RumpConnection, name: string): Promise<Counters> {
  const r = await ctl.call<{ clients: { name?: string; counters: Counters }[] }>('ctl.clients', {});
  const c = r.clients.find((x) => x.name === name);
  expect(c, `client ${name} in ctl.clients`).to.not.equal(undefined);
  return c!.counters;
}

/** The kernel's view: this process's mappings of region memfds (`/proc/self/maps`). */
function mappedRegions(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/memfd:rumpnet-shm')).length;
}

/** Bytes the connection has read from its socket (net.Socket's own count). */
function socketBytesRead(c: RumpConnection): number {
  return (c as unknown as { socket: { bytesRead: number } }).socket.bytesRead;
}

/** Waits (bounded) until some socket of the server holds `n` bytes in its receive queue. */
async function untilQueued(ctl: RumpConnection, n: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const r = await ctl.call<CtlNetstatResult>('ctl.netstat', { what: 'sockets' });
    if ((r.sockets ?? []).some((x) => x.recvQ >= n)) return;
    await sleep(10);
  }
  throw new Error(`no socket with ${n} bytes queued in time`);
}

/** A raw session whose handshake carries `shm`; resolves with the reply frame. */
async function offer(srv: RumpServer, shm: unknown): Promise<{ raw: RawClient; cls: number; head: Record<string, unknown> }> {
  const raw = await rawClient(srv.url.replace(/^unix:\/\//, ''), { handshake: false });
  raw.send(MsgClass.REQ, MsgType.HANDSHAKE, 1, { version: 1, pid: process.pid, name: 'raw', shm });
  const f = await raw.next((x) => x.meta.reqno === 1, 5000);
  return { raw, cls: f.meta.cls, head: f.meta.head as Record<string, unknown> };
}

describe('rump-server shared-memory data path (§7a)', function () {
  this.timeout(30_000);
  let srv: RumpServer | undefined;
  let tx: RumpConnection | undefined;
  let rx: RumpConnection | undefined;
  let base = { count: 0, bytes: 0 };
  let baseMaps = 0;
  before(function () {
    if (shmAddon() === undefined) {
      console.log(`      skipped: ${shmUnavailable()}`);
      this.skip();
    }
  });
  beforeEach(() => {
    base = shmMappings();
    baseMaps = mappedRegions();
  });
  after(() => cleanup());
  afterEach(async () => {
    await tx?.close();
    await rx?.close();
    tx = rx = undefined;
    if (srv) {
      await expectQuiet(srv);
      await srv.close();
      // Every region of the test is unmapped: the client's at its close, the server's at the session's end.
      expect(srv.shm.bytes).to.equal(0);
      expect(srv.shm.regions).to.equal(0);
      srv = undefined;
    }
    expect(shmMappings()).to.deep.equal(base);
    expect(mappedRegions(), 'memfd mappings in /proc/self/maps').to.equal(baseMaps);
  });

  for (const v6 of [false, true]) {
    it(`TCP over ${v6 ? 'IPv6' : 'IPv4'}: every COPYOUT of a 1 MiB transfer goes through the ring, none carries its bytes on the socket; with a COPYIN ring, every COPYIN reply too`, async () => {
      srv = await startServer({});
      tx = await RumpConnection.connect(srv.url, { name: 'a', shmCopyin: true });
      rx = await RumpConnection.connect(srv.url, { name: 'b' });
      expect(rx.params.shm).to.deep.equal({ ok: true, ring: 1024 * 1024, copyin: false, stream: 16 }); // a COPYIN ring only when asked
      expect(tx.params.shm).to.deep.equal({ ok: true, ring: 1024 * 1024, copyin: true, stream: 16 });
      expect(shmMappings().count - base.count).to.equal(4); // two sessions, each mapped here twice (client and server)
      expect(mappedRegions() - baseMaps).to.equal(4);
      const { s, r } = await tcpPair(tx, rx, 7520, v6);
      const before = socketBytesRead(rx);
      const msg = patternBytes(1 << 20, v6 ? 2 : 1);
      const w = tx.sys.send(s, msg);
      const got = await readN(rx, r, 1 << 20);
      await w;
      expect(sha256(got)).to.equal(sha256(msg));
      const k = await countersOf(rx, 'b');
      // Every COPYOUT went by the ring; what did not is inline (a small last segment).
      expect(k.copyoutRequests).to.be.greaterThan(0);
      expect(k.shmCopyouts).to.equal(k.copyoutRequests);
      expect(k.shmCopyoutBytes).to.equal(k.copyoutBytes);
      expect(k.copyoutBytes + k.inlineRecvBytes).to.equal(1 << 20);
      expect([k.shmFallbacks, k.shmFaults]).to.deep.equal([0, 0]);
      expect(rx.counters.shmCopyouts).to.equal(k.copyoutRequests);
      expect(rx.counters.shmCopyoutBytes).to.equal(k.copyoutBytes);
      expect(rx.counters.copyFaults).to.equal(0);
      // The megabyte did not cross the socket: only requests, replies and small inline bytes did.
      expect(socketBytesRead(rx) - before).to.be.lessThan(k.inlineRecvBytes + 64 * 1024);
      const ka = await countersOf(rx, 'a');
      expect(ka.shmCopyouts).to.equal(0); // the sender received nothing
      // ... and sent everything through its COPYIN ring: every COPYIN reply without payload (b has none: all on the socket).
      expect(ka.copyinRequests).to.be.greaterThan(0);
      expect(ka.shmCopyins).to.equal(ka.copyinRequests);
      expect(ka.shmCopyinBytes).to.equal(ka.copyinBytes);
      expect(ka.copyinBytes + ka.inlineBytes).to.equal(1 << 20);
      expect(tx.counters.shmCopyins).to.equal(ka.copyinRequests);
      expect(rx.counters.shmCopyins).to.equal(0);
    });

    it(`UDP over ${v6 ? 'IPv6' : 'IPv4'}: datagrams above the inline limit come through the ring with their sender`, async () => {
      srv = await startServer({});
      tx = await RumpConnection.connect(srv.url, { name: 'a' });
      rx = await RumpConnection.connect(srv.url, { name: 'b' });
      const dom = v6 ? 'inet6' : 'inet';
      const addr = (p: number) => (v6 ? inet6('::1', p) : inet('127.0.0.1', p));
      const r = await rx.sys.socket('dgram', { domain: dom });
      await rx.sys.bind(r, addr(7522));
      const s = await tx.sys.socket('dgram', { domain: dom });
      await tx.sys.bind(s, addr(7523));
      const buf = Buffer.alloc(65536);
      for (let i = 0; i < 20; i++) {
        const d = patternBytes(3000 + i * 100, i + 10);
        await tx.sys.sendto(s, d, addr(7522));
        const got = await rx.sys.recvfrom(r, buf);
        expect(got.bytes).to.equal(d.length);
        expect(got.addr).to.deep.include({ port: 7523 });
        expect(sha256(buf.subarray(0, d.length))).to.equal(sha256(d));
      }
      const k = await countersOf(rx, 'b');
      expect(k.shmCopyouts).to.equal(k.copyoutRequests);
      expect(k.shmCopyoutBytes).to.equal(20 * 3000 + 100 * 190);
      expect(rx.counters.shmCopyouts).to.equal(k.shmCopyouts);
    });
  }

  it('a real rump-server process maps a client process\'s region through /proc, and unmaps it when the client goes', async () => {
    const url = `unix://${tmpSock()}`;
    const d = await spawnServer([url]);
    expect(d.stdout()).to.include("  shm         a client's receive bytes through its shared memfd ring: up to 4198400 bytes per client (--shm-max), 268435456 in all (--shm-total)");
    const ctlConn = await RumpConnection.connect(url, { name: 'ctl', shm: false });
    try {
      const a = await RumpConnection.connect(url, { name: 'a', shmCopyin: true });
      const b = await RumpConnection.connect(url, { name: 'b' });
      expect(b.params.shm).to.deep.equal({ ok: true, ring: 1024 * 1024, copyin: false, stream: 16 });
      const { s, r } = await tcpPair(a, b, 7528);
      const msg = patternBytes(512 * 1024, 14);
      const w = a.sys.send(s, msg);
      expect(sha256(await readN(b, r, msg.length))).to.equal(sha256(msg));
      await w;
      const k = await countersOf(ctlConn, 'b');
      expect(k.shmCopyouts).to.equal(k.copyoutRequests);
      expect(k.shmCopyoutBytes + k.inlineRecvBytes).to.equal(msg.length);
      const ka = await countersOf(ctlConn, 'a');
      expect(ka.shmCopyins).to.equal(ka.copyinRequests);
      expect(ka.shmCopyinBytes + ka.inlineBytes).to.equal(msg.length);
      // rumpctl usage: each session's region beside the limit.
      const u = await ctlConn.call<{ server: { shmMaxBytes?: number; shmBytes?: number }; clients: { name: string | null; shmBytes?: number }[] }>('ctl.usage', {});
      expect(u.server.shmMaxBytes).to.equal(4 * 1024 * 1024 + 4096);
      expect(u.server.shmBytes).to.equal(2 * SHM_HEADER + 3 * 1024 * 1024); // a: two rings, b: one
      expect(u.clients.find((c) => c.name === 'b')?.shmBytes).to.equal(SHM_HEADER + 1024 * 1024);
      expect(u.clients.find((c) => c.name === 'ctl')?.shmBytes).to.equal(0);
      type Info = { server: { shm?: { regions: number; bytes: number; attached: number; refused: number } } };
      expect((await ctlConn.call<Info>('ctl.clients', {})).server.shm).to.deep.include({ regions: 2, attached: 2, refused: 0 });
      await Promise.all([a.close(), b.close()]);
      let left = -1;
      for (let i = 0; i < 200 && left !== 0; i++, await sleep(10)) left = (await ctlConn.call<Info>('ctl.clients', {})).server.shm!.regions;
      expect(left, 'regions mapped by the daemon after its clients left').to.equal(0);
    } finally {
      await ctlConn.close();
      d.proc.kill('SIGTERM');
      await d.exited;
    }
  });

  it('a copy larger than the ring, and per-mbuf copies past its room in one call, go on the socket in order', async () => {
    srv = await startServer({ rxMode: 'per-mbuf' });
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b', shm: 64 * 1024 });
    expect(rx.params.shm).to.deep.equal({ ok: true, ring: 64 * 1024, copyin: false, stream: 16 });
    const { s, r } = await tcpPair(tx, rx, 7524);
    // 256 KiB waiting in the socket buffer, then one receive of all of it: the
    // mbufs are copied out in one pass, before the client can free anything.
    const msg = patternBytes(256 * 1024, 7);
    await tx.sys.send(s, msg);
    await untilQueued(rx, 256 * 1024);
    const got = Buffer.alloc(256 * 1024);
    let n = 0;
    for (let i = 0; i < 1000 && n < got.length; i++) n += await rx.sys.recv(r, got.subarray(n), 0x100 /* MSG_WAITALL */);
    expect(sha256(got)).to.equal(sha256(msg));
    const k = await countersOf(rx, 'b');
    expect(k.shmCopyouts).to.be.greaterThan(0);
    expect(k.shmFallbacks).to.be.greaterThan(0);
    expect(k.shmCopyouts + k.shmFallbacks).to.equal(k.copyoutRequests);
    expect(k.shmCopyoutBytes).to.be.at.most(64 * 1024 * k.shmCopyouts);
    expect(rx.counters.shmCopyouts).to.equal(k.shmCopyouts);
    expect(rx.counters.copyoutBytes).to.equal(k.copyoutBytes);
    expect(k.shmFaults).to.equal(0);
  });

  it('a coalesced copy larger than the whole ring falls back to the socket; the next small one uses the ring again', async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b', shm: 64 * 1024 });
    const { s, r } = await tcpPair(tx, rx, 7525);
    const big = patternBytes(200 * 1024, 8);
    await tx.sys.send(s, big);
    const got = await readN(rx, r, big.length);
    expect(sha256(got)).to.equal(sha256(big));
    const k0 = await countersOf(rx, 'b');
    expect(k0.shmFallbacks).to.be.greaterThan(0);
    const small = patternBytes(10_000, 9);
    await tx.sys.send(s, small);
    expect(sha256(await readN(rx, r, small.length))).to.equal(sha256(small));
    const k1 = await countersOf(rx, 'b');
    expect(k1.shmCopyouts).to.be.greaterThan(k0.shmCopyouts);
    expect(k1.shmCopyouts + k1.shmFallbacks).to.equal(k1.copyoutRequests);
  });

  it('--no-shm (the NetBSD-equivalent) and RUMPNET_SHM=0: no region, every COPYOUT carries its bytes', async () => {
    srv = await startServer({ shmMax: 0, inlineRecvMax: 0 });
    rx = await RumpConnection.connect(srv.url, { name: 'b' });
    expect(rx.params.shm).to.deep.equal({ ok: false, reason: 'shared memory is off on this server' });
    const was = process.env.RUMPNET_SHM;
    process.env.RUMPNET_SHM = '0';
    try {
      tx = await RumpConnection.connect(srv.url, { name: 'a' });
    } finally {
      if (was === undefined) delete process.env.RUMPNET_SHM;
      else process.env.RUMPNET_SHM = was;
    }
    expect(tx.params.shm).to.deep.equal({ ok: false, reason: 'not offered' });
    expect(shmMappings()).to.deep.equal(base); // the refused region was unmapped at once
    const { s, r } = await tcpPair(tx, rx, 7526);
    const msg = patternBytes(100_000, 11);
    await tx.sys.send(s, msg);
    expect(sha256(await readN(rx, r, msg.length))).to.equal(sha256(msg));
    const k = await countersOf(rx, 'b');
    expect(k.copyoutBytes).to.equal(100_000);
    expect([k.shmCopyouts, k.shmCopyoutBytes]).to.deep.equal([0, 0]);
    expect(srv.shm.refused).to.equal(1);
  });

  it('malformed offers are refused with a clear reason and the connection closed', async () => {
    srv = await startServer({});
    const tok = '0123456789abcdef0123456789abcdef';
    const cases: [unknown, RegExp][] = [
      ['yes', /^bad handshake: shm must be \{fd, size, token\}, got string$/],
      [null, /got null$/],
      [[1, 2], /got object$/],
      [{ fd: -1, size: 69632, token: tok }, /shm\.fd must be a descriptor number/],
      [{ fd: 1.5, size: 69632, token: tok }, /shm\.fd must be a descriptor number/],
      [{ fd: 3, size: '69632', token: tok }, /shm\.size must be a positive integer/],
      [{ fd: 3, size: 69632, token: 'ABC' }, /shm\.token must be 32 lowercase hex digits/],
      [{ fd: 3, size: 69632 }, /shm\.token/],
      [{ fd: 3, size: 69632, token: tok, copyin: 1 }, /shm\.copyin must be true or absent/],
    ];
    for (const [bad, why] of cases) {
      const { raw, cls, head } = await offer(srv, bad);
      try {
        expect(cls, JSON.stringify(bad)).to.equal(MsgClass.ERROR);
        expect(String(head.reason)).to.match(why);
        expect(head.code).to.equal('handshake');
        await raw.closed;
      } finally {
        raw.sock.destroy();
      }
    }
    expect(srv.shm.attached + srv.shm.refused).to.equal(0);
  });

  it('unusable offers are answered ok: false with the reason, and the session runs on the socket', async () => {
    srv = await startServer({ shmMax: 256 * 1024 + SHM_HEADER });
    const good = ShmClientRegion.create(64 * 1024, true, false) as ShmClientRegion;
    const unsealed = ShmClientRegion.create(64 * 1024, false) as ShmClientRegion;
    const big = ShmClientRegion.create(512 * 1024) as ShmClientRegion;
    const file = `${tmpDir()}/plain`;
    const pfd = openSync(file, 'w+');
    ftruncateSync(pfd, 64 * 1024 + SHM_HEADER);
    try {
      const g = good.announce();
      const cases: [unknown, RegExp][] = [
        [unsealed.announce(), /not sealed against shrinking and growing/],
        [{ ...g, token: 'f'.repeat(32) }, /does not hold the announced token/],
        [{ ...g, size: g.size + 4096 }, /want 4096 \+ a power of two/],
      [{ ...g, copyin: true }, /want 4096 \+ two rings of a power of two/],
      [{ ...g, size: 2 * 64 * 1024 + SHM_HEADER, copyin: true }, /has 69632 bytes, not the 135168 announced/],
        [{ ...g, size: 128 * 1024 + SHM_HEADER }, /has 69632 bytes, not the 135168 announced/],
        [{ ...g, size: 1000 }, /want 4096 \+ a power of two ≥ 65536/],
        [big.announce(), /exceeds the server's --shm-max 266240/],
        [{ fd: pfd, size: 64 * 1024 + SHM_HEADER, token: g.token }, /not a memfd on tmpfs|not sealed/],
        [{ fd: 0, size: 64 * 1024 + SHM_HEADER, token: g.token }, /not a regular file|not a memfd/],
        [{ fd: 9999, size: 64 * 1024 + SHM_HEADER, token: g.token }, /cannot reach the client's descriptor/],
        // a key this server does not know may change the layout: the offer is declined, not the session
        [{ ...g, ring2: 1 }, /this server does not know 'ring2' in an offer/],
      ];
      for (const [o, why] of cases) {
        const { raw, cls, head } = await offer(srv, o);
        try {
          expect(cls, JSON.stringify(o)).to.equal(MsgClass.RESP);
          const shm = (head.result as { shm: { ok: boolean; reason: string } }).shm;
          expect(shm.ok, JSON.stringify(o)).to.equal(false);
          expect(shm.reason).to.match(why);
          // The session goes on: a call works.
          raw.send(MsgClass.REQ, MsgType.PING, 2, undefined);
          expect((await raw.next((x) => x.meta.reqno === 2, 5000)).meta.cls).to.equal(MsgClass.RESP);
        } finally {
          raw.sock.destroy();
          await raw.closed;
        }
      }
      // The good one is taken.
      const { raw, head } = await offer(srv, good.announce());
      expect((head.result as { shm: unknown }).shm).to.deep.equal({ ok: true, stream: 16 });
      expect(srv.shm.regions).to.equal(1);
      raw.sock.destroy();
      await raw.closed;
      await waitFor(() => srv!.shm.regions === 0, 'the server to unmap the region');
      expect(srv.shm.refused).to.equal(cases.length);
      expect(srv.shm.attached).to.equal(1);
    } finally {
      closeSync(pfd);
      good.close();
      unsealed.close();
      big.close();
    }
  });

  it("the server's --shm-total is shared by all sessions: an offer beyond it is refused", async () => {
    srv = await startServer({ shmTotal: 2 * (64 * 1024 + SHM_HEADER) });
    const a = await RumpConnection.connect(srv.url, { name: 'a', shm: 64 * 1024 });
    const b = await RumpConnection.connect(srv.url, { name: 'b', shm: 64 * 1024 });
    const c = await RumpConnection.connect(srv.url, { name: 'c', shm: 64 * 1024 });
    try {
      expect([a.params.shm?.ok, b.params.shm?.ok, c.params.shm?.ok]).to.deep.equal([true, true, false]);
      expect(c.params.shm?.reason).to.match(/--shm-total/);
      expect(srv.shm.bytes).to.equal(2 * (64 * 1024 + SHM_HEADER));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
    await waitFor(() => srv!.shm.bytes === 0, 'the regions to be given back');
  });

  it('a consumer position ahead of the producer is a counted fault: the shared path ends, the data still arrives', async () => {
    srv = await startServer({});
    tx = await RumpConnection.connect(srv.url, { name: 'a' });
    rx = await RumpConnection.connect(srv.url, { name: 'b', shm: 64 * 1024 });
    const { s, r } = await tcpPair(tx, rx, 7527);
    const first = patternBytes(5000, 12);
    await tx.sys.send(s, first);
    expect(sha256(await readN(rx, r, first.length))).to.equal(sha256(first));
    // The client lies: it claims to have freed more than it was ever given.
    const region = (rx as unknown as { shm: ShmClientRegion }).shm;
    new Uint32Array(region.ring.buffer, 0, 1024)[16] = 50_000;
    const second = patternBytes(5000, 13);
    await tx.sys.send(s, second);
    expect(sha256(await readN(rx, r, second.length))).to.equal(sha256(second));
    const k = await countersOf(rx, 'b');
    expect([k.shmCopyouts, k.shmFaults]).to.deep.equal([1, 1]);
    expect(k.copyoutRequests).to.equal(2);
    expect(srv.shm.regions).to.equal(1); // only a's: b's was unmapped at the fault
  });

  it('the COPYIN ring: the client places replies while there is room, the server takes only positions placed after what it freed', () => {
    const reg = ShmClientRegion.create(64 * 1024) as ShmClientRegion;
    try {
      const buf = (reg as unknown as { buffer: ArrayBuffer }).buffer;
      const ring = new ShmRing(buf, 64 * 1024, true); // the server's view of the same memory
      const piece = (n: number, seed: number) => patternBytes(n, seed);
      expect(reg.produce([piece(100, 1)], 100)).to.equal(-1); // not before the server said it takes them
      reg.copyinOn = true;
      const a = piece(30_000, 2);
      const b = piece(30_000, 3);
      expect(reg.produce([a.subarray(0, 10_000), a.subarray(10_000)], 30_000)).to.equal(0);
      expect(reg.produce([b], 30_000)).to.equal(30_000);
      expect(reg.produce([piece(30_000, 4)], 30_000)).to.equal(-1); // full: the reply goes on the socket
      // The server reads a reply's bytes only inside the ring, at or after what it freed.
      const dst = [new Uint8Array(20_000), new Uint8Array(10_000)];
      expect(ring.take(0, 70_000, dst)).to.equal(false); // larger than the ring
      expect(ring.take(65_000, 1_000, dst)).to.equal(false); // across the end
      expect(ring.take('0', 30_000, dst)).to.equal(false);
      expect(ring.take(0, 30_000, dst)).to.equal(true);
      expect(sha256(...dst)).to.equal(sha256(a));
      expect(ring.take(0, 30_000, dst)).to.equal(false); // behind the consumer now
      // Freed: the next reply fits, at 0 — it would cross the end, so the 5 536-byte tail is skipped.
      const c = piece(30_000, 6);
      expect(reg.produce([c], 30_000)).to.equal(65_536); // position 65 536 is offset 0
      expect(reg.produce([piece(100, 7)], 100)).to.equal(-1); // 30 000 + 5 536 + 30 000 used: no room
      expect(ring.take(30_000, 30_000, undefined)).to.equal(true); // b's reply came late: only freed
      const d2 = [new Uint8Array(30_000)];
      expect(ring.take(65_536, 30_000, d2)).to.equal(true);
      expect(sha256(...d2)).to.equal(sha256(c));
      expect(reg.produce([piece(100, 8)], 100)).to.equal(95_536); // all freed: room again
    } finally {
      reg.close();
    }
  });

  it('a COPYIN reply through the ring at a position it never had, or of the wrong length, fails that send EFAULT; a good one is taken', async () => {
    srv = await startServer({});
    const region = ShmClientRegion.create(64 * 1024) as ShmClientRegion;
    const { raw, head } = await offer(srv, region.announce());
    try {
      expect((head.result as { shm: unknown }).shm).to.deep.equal({ ok: true, copyin: true, stream: 16 });
      region.copyinOn = true;
      raw.send(MsgClass.REQ, MsgType.SYSCALL, 2, { name: 'socket', args: { domain: 'inet', type: 'dgram' } });
      const fd = ((await raw.next((x) => x.meta.reqno === 2, 5000)).meta.head as { result: { fd: number } }).result.fd;
      const dest = { family: 'inet', address: '127.0.0.1', port: 9 };
      const attempt = async (reqno: number, answer: (s: number) => { s: number; n: number }): Promise<Record<string, unknown>> => {
        raw.send(MsgClass.REQ, MsgType.SYSCALL, reqno, { name: 'sendto', args: { fd, buf: 1, len: 100, addr: dest } });
        const req = await raw.next((x) => x.meta.cls === MsgClass.REQ && x.meta.type === MsgType.COPYIN && !seen.has(x.meta.reqno), 5000);
        seen.add(req.meta.reqno);
        const s = region.produce([patternBytes(100, reqno)], 100);
        raw.send(MsgClass.RESP, MsgType.COPYIN, req.meta.reqno, answer(s));
        return (await raw.next((x) => x.meta.reqno === reqno && x.meta.cls !== MsgClass.REQ, 5000)).meta.head as Record<string, unknown>;
      };
      const seen = new Set<number>();
      expect(await attempt(3, () => ({ s: 70_000, n: 100 }))).to.deep.equal({ errno: 14 }); // beyond the ring's window
      expect(await attempt(4, (s) => ({ s, n: 99 }))).to.deep.equal({ errno: 14 }); // not the length asked
      expect(await attempt(5, (s) => ({ s, n: 100 }))).to.deep.equal({ result: { bytes: 100 } });
      const k = srv.processes().find((p) => p.session.peer?.name === 'raw')!.session.counters;
      expect([k.copyinWrongSize, k.shmCopyins, k.shmCopyinBytes]).to.deep.equal([2, 1, 100]);
    } finally {
      raw.sock.destroy();
      await raw.closed;
      region.close();
    }
  });

  it('the client refuses ring positions it was never given (behind its consumer, across the end, too large)', async () => {
    const reg = ShmClientRegion.create(64 * 1024) as ShmClientRegion;
    try {
      const dst = new Uint8Array(100);
      expect(reg.consume(0, 100, dst, 0)).to.equal(true);
      expect(reg.consume(0, 100, dst, 0)).to.equal(false); // behind the consumer
      expect(reg.consume(65_500, 100, dst, 0)).to.equal(false); // crosses the ring's end
      expect(reg.consume(100, 70_000, dst, 0)).to.equal(false); // larger than the ring
      expect(reg.consume('1', 1, dst, 0)).to.equal(false);
      expect(reg.consume(100, 0, dst, 0)).to.equal(false);
    } finally {
      reg.close();
    }
  });
});
