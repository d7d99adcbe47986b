/**
 * Long control replies, end to end over the protocol: a server with 20,000
 * sockets answers `netstat -an` in pages that `rumpctl` walks to the end —
 * every socket exactly once, with its owner — and the listing work is
 * sliced and shared: while one client has a hundred listings pipelined,
 * another client's small request is answered long before they are done
 * (before the change, all hundred were built in one turn of the loop and
 * the small request waited for every one of them).
 */
import { expect } from 'chai';
import { RumpConnection, inet } from '@rumpnet/client';
import type { CtlNetstatResult, CtlSocket } from '../../src/proto/index.js';
import { runRumpctl } from '../../src/ctl/rumpctl-main.js';
import type { RumpServer } from '../../src/server.js';
import { AF_INET, SOCK, inetAton, sockaddrIn, type SocketTable } from '../../src/stackapi.js';
import { cleanup, expectQuiet, startServer } from './helpers.js';

const N = 20_000;

describe('ctl listings: paged and sliced, 20,000 sockets', function () {
  this.timeout(60_000);
  let srv: RumpServer;
  let table: SocketTable;

  before(async () => {
    srv = await startServer();
    // Sockets made in the server's own stack (fast); owned by no client.
    table = srv.net.newProcess({ maxFds: N + 16 });
    for (let i = 0; i < N; i++) {
      const { fd } = table.socket(AF_INET, SOCK.DGRAM, 0);
      expect(table.bind(fd, sockaddrIn(inetAton('127.0.0.1')!, 10_000 + i))).to.equal(0);
    }
  });
  after(async () => {
    await table.closeAll();
    await expectQuiet(srv);
    await srv.close();
    cleanup();
  });

  it('rumpctl netstat -an lists every socket once, in order, across pages, with the owners of a client\'s', async () => {
    const c = await RumpConnection.connect(srv.url, { name: 'owner' });
    const mine: number[] = [];
    for (let i = 0; i < 5; i++) {
      const fd = await c.sys.socket('dgram');
      await c.sys.bind(fd, inet('127.0.0.1', 7100 + i));
      mine.push(fd);
    }
    try {
      // One page is bounded, and says where the next starts.
      const first = await c.call<CtlNetstatResult>('ctl.netstat', { what: 'sockets' });
      expect(first.sockets!.length).to.be.within(1, 256);
      expect(first.total).to.equal(N + 5);
      expect(first.next).to.match(/^s\d+$/);
      expect(first.truncated).to.equal(true);

      let out = '';
      let err = '';
      const code = await runRumpctl(['-s', srv.url, 'netstat', '-an'], { out: (s) => (out += s), err: (s) => (err += s), env: {} });
      expect(code, err).to.equal(0);
      const lines = out.trimEnd().split('\n');
      expect(lines[0]).to.match(/^Active Internet connections/);
      expect(lines[1]).to.match(/^Proto/);
      expect(lines).to.have.length(N + 5 + 2); // two header lines and every socket
      expect(out).to.not.match(/cut short/);
      const ports = lines.slice(2).map((l) => /127\.0\.0\.1[.:](\d+)/.exec(l)?.[1]);
      expect(new Set(ports).size).to.equal(N + 5); // every socket's own port, none twice

      // The same walk through the protocol: ids strictly increasing, the client's sockets owned.
      const rows: CtlSocket[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 1000; pages++) {
        const r = await c.call<CtlNetstatResult>('ctl.netstat', { what: 'sockets', ...(cursor ? { cursor } : {}) });
        rows.push(...r.sockets!);
        if (r.next === undefined) break;
        cursor = r.next;
      }
      expect(rows).to.have.length(N + 5);
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.id).to.be.greaterThan(rows[i - 1]!.id);
      const owned = rows.filter((r) => r.session !== null);
      expect(owned.map((r) => r.fd).sort()).to.deep.equal([...mine].sort());
      expect(owned.map((r) => r.local.port).sort()).to.deep.equal([7100, 7101, 7102, 7103, 7104]);
      // A bad cursor is EINVAL, not a crash.
      const bad = await c.call('ctl.netstat', { what: 'sockets', cursor: 'q1' }).then(() => null, (e: { code: string }) => e.code);
      expect(bad).to.equal('EINVAL');
    } finally {
      for (const fd of mine) await c.sys.close(fd);
      await c.close();
    }
  });

  it('a client with 100 listings pipelined does not hold back another client\'s small request', async () => {
    const greedy = await RumpConnection.connect(srv.url, { name: 'greedy' });
    const polite = await RumpConnection.connect(srv.url, { name: 'polite' });
    try {
      let answered = 0;
      const listings = Array.from({ length: 100 }, () =>
        greedy.call<CtlNetstatResult>('ctl.netstat', { what: 'sockets' }).then((r) => {
          answered++;
          return r.sockets!.length;
        }),
      );
      // Once the first listing is back, all hundred are queued in the server.
      await new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (answered > 0) {
            clearInterval(t);
            resolve();
          }
        }, 1);
      });
      const r = await polite.call<{ rows: { value: number }[] }>('ctl.sysctl', { name: 'kern.mbuf.nmbclusters' });
      const listedWhenAnswered = answered;
      expect(r.rows[0]!.value).to.equal(16384);
      const sizes = await Promise.all(listings);
      expect(sizes.every((n) => n === 256)).to.equal(true);
      // Served between the greedy client's slices, not after all of them.
      expect(listedWhenAnswered, `polite answered after ${listedWhenAnswered} of 100 listings`).to.be.below(50);
      expect(srv.runner.stats.jobs).to.be.greaterThan(100);
      expect(srv.runner.stats.refused).to.equal(0);
    } finally {
      await greedy.close();
      await polite.close();
    }
  });
});

describe('ctl listings: rumpctl clients and usage with 250 clients, paged', function () {
  this.timeout(60_000);

  it('comes in pages (by limit, and by head size when many) and lists every client once', async () => {
    const srv = await startServer();
    const conns: RumpConnection[] = [];
    try {
      for (let i = 0; i < 250; i++) conns.push(await RumpConnection.connect(srv.url, { name: `c${i}` }));
      type Page = { clients: { session: number; name: string }[]; next?: string; total?: number };
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 1; pages <= 10; pages++) {
        const p = await conns[0]!.call<Page>('ctl.clients', { limit: 64, ...(cursor ? { cursor } : {}) });
        expect(p.clients.length).to.be.at.most(64);
        seen.push(...p.clients.map((c) => c.name));
        if (p.next === undefined) {
          expect(pages).to.equal(4); // 64 + 64 + 64 + 58
          break;
        }
        expect(p.total).to.equal(250);
        cursor = p.next;
      }
      expect(seen).to.deep.equal(conns.map((_, i) => `c${i}`));
      let out = '';
      const code = await runRumpctl(['-s', srv.url, 'clients'], { out: (s) => (out += s), err: () => {}, env: {} });
      expect(code).to.equal(0);
      for (let i = 0; i < 250; i++) expect(out, `c${i}`).to.match(new RegExp(`\\sc${i}\\s`));
      expect(out.split('\n').filter((l) => /\syes\s+(c\d+|rumpctl)\s/.test(l))).to.have.length(251);
      // ctl.usage pages the same way (250 rows take ~60 KB: a few more sessions, as --max-sessions
      // allows, would not fit one 64 KiB head).
      const u = await conns[0]!.call<{ clients: unknown[]; next?: string; total?: number }>('ctl.usage', { limit: 100 });
      expect(u.clients).to.have.length(100);
      expect(u.next, 'a first page of usage').to.match(/^c\d+$/);
      expect(u.total).to.equal(250);
      let uout = '';
      expect(await runRumpctl(['-s', srv.url, 'usage'], { out: (s) => (uout += s), err: () => {}, env: {} })).to.equal(0);
      for (let i = 0; i < 250; i++) expect(uout, `c${i}`).to.match(new RegExp(`\\sc${i}\\s`));
    } finally {
      for (const c of conns) await c.close();
      await expectQuiet(srv);
      await srv.close();
    }
  });
});
