/**
 * Listing replies (`ctl.netstat` sockets, `ctl.arp`) come in pages: each at
 * most `limit` rows and never more bytes than one head may carry (a larger
 * head would make the client's reader drop the connection), with a `next`
 * cursor that walks the whole list exactly once even while sockets come and
 * go. The pages are built in small units, and the {@link SliceRunner}
 * shares them round-robin between clients.
 */
import { expect } from 'chai';
import { Ip6Address, createNetStack, type TcpConnInfo } from '@rumpnet/stack';
import { MAX_HEAD, packHead, type CtlSocket } from '../src/proto/index.js';
import { PAGE_HEAD_BUDGET, clientPage, connRow, socketPage, type Page, type SocketPageEnv } from '../src/ctl/listing.js';
import { SliceRunner, type SliceJob } from '../src/ctl/slices.js';
import { AF_INET, SOCK, inetAton, sockaddrIn } from '../src/stackapi.js';
import type { ClientProcess } from '../src/syscalls/process.js';

/** Runs a job to its end here, counting its units. */
function drive<T>(job: SliceJob<T>): { value: T; units: number } {
  for (let units = 1; ; units++) {
    const r = job.next();
    if (r.done) return { value: r.value, units };
  }
}

/** A stack with `n` bound UDP sockets owned by one process (session 7). */
function world(n: number) {
  const net = createNetStack({ nmbclusters: 256 });
  const table = net.newProcess({ maxFds: n + 64 });
  const fds: number[] = [];
  const open = (): number => {
    const { fd } = table.socket(AF_INET, SOCK.DGRAM, 0);
    expect(table.bind(fd, sockaddrIn(inetAton('127.0.0.1')!, 0))).to.equal(0);
    fds.push(fd);
    return fd;
  };
  for (let i = 0; i < n; i++) open();
  const proc = { session: { id: 7 }, table, since: 0 } as unknown as ClientProcess;
  const env: SocketPageEnv = { layer: net.sockets, tcp: net.tcp, processes: () => [proc] };
  return { net, table, env, fds, open };
}

/** Walks every page from the start; checks each page's size on the way. */
function walk(env: SocketPageEnv, limit?: number, between?: (page: Page<CtlSocket>) => void): { rows: CtlSocket[]; pages: number; units: number } {
  const rows: CtlSocket[] = [];
  let cursor: string | undefined;
  let units = 0;
  for (let pages = 1; pages < 10_000; pages++) {
    const { value: page, units: u } = drive(socketPage(env, cursor, limit));
    units += u;
    const head = packHead({ result: { sockets: page.rows, total: page.total, next: page.next, truncated: true } });
    expect(head.length).to.be.at.most(MAX_HEAD);
    if (limit !== undefined) expect(page.rows.length).to.be.at.most(limit);
    rows.push(...page.rows);
    between?.(page);
    if (page.next === undefined) return { rows, pages, units };
    expect(page.next).to.not.equal(cursor);
    cursor = page.next;
  }
  throw new Error('listing did not end');
}

describe('ctl listings: pages and slices', () => {
  it('walks 5,000 sockets in pages that each fit one head; every socket once, in id order, with its owner', () => {
    const w = world(5000);
    try {
      expect(packHead({ result: { sockets: Array.from({ length: 5000 }, () => ({ id: 1, proto: 'udp', local: { family: 'inet', address: '127.0.0.1', port: 1 } })) } }).length).to.be.greaterThan(MAX_HEAD);
      const { rows, pages, units } = walk(w.env);
      expect(pages).to.be.greaterThan(5);
      expect(rows.map((r) => r.id)).to.deep.equal(w.net.sockets.sockets().map((s) => s.id));
      expect(new Set(rows.map((r) => r.fd))).to.deep.equal(new Set(w.fds));
      expect(rows.every((r) => r.session === 7 && r.proto === 'udp' && r.local.address === '127.0.0.1')).to.equal(true);
      // Built in small units: at most 64 rows per unit (the runner yields the loop between turns).
      expect(units).to.be.at.least(Math.ceil(rows.length / 64));
    } finally {
      w.net.close();
    }
  });

  it('honours limit, and a socket alive through the walk is listed once while others come and go', () => {
    const w = world(1200);
    try {
      const before = new Set(w.net.sockets.sockets().map((s) => s.id));
      const closed = new Set<number>();
      let k = 0;
      const { rows } = walk(w.env, 100, () => {
        // Between pages: close one socket not yet listed, and open a new one.
        const victim = w.fds[w.fds.length - 1 - k++]!;
        closed.add(w.table.get(victim)!.id);
        void w.table.close(victim);
        w.open();
      });
      const ids = rows.map((r) => r.id);
      expect(new Set(ids).size).to.equal(ids.length); // nothing twice
      for (const id of before) if (!closed.has(id)) expect(ids, `socket ${id}`).to.include(id);
      for (let i = 1; i < ids.length; i++) expect(ids[i]!).to.be.greaterThan(ids[i - 1]!);
    } finally {
      w.net.close();
    }
  });

  it('refuses a bad cursor with EINVAL; a page stays under its byte budget', () => {
    const w = world(10);
    try {
      expect(() => drive(socketPage(w.env, 'x12'))).to.throw().with.property('errno', 22);
      const { value } = drive(socketPage(w.env, undefined));
      expect(value.next).to.equal(undefined);
      expect(value.rows).to.have.length(10);
      expect(packHead(value.rows).length).to.be.at.most(PAGE_HEAD_BUDGET);
      expect(drive(socketPage(w.env, `s${value.rows[4]!.id}`)).value.rows.map((r) => r.id)).to.deep.equal(value.rows.slice(5).map((r) => r.id));
    } finally {
      w.net.close();
    }
  });

  it('a socketless TCP connection (TIME-WAIT) is listed in its own family', () => {
    const base = { state: 'TIME_WAIT', lport: 80, fport: 4711, sndQ: 0, rcvQ: 0, cwnd: 0, srtt: 0, hasSocket: false };
    const v4 = connRow({ ...base, laddr: 0x7f000001, faddr: 0x7f000002 } as TcpConnInfo);
    expect(v4.local).to.deep.equal({ family: 'inet', address: '127.0.0.1', port: 80 });
    const v6 = connRow({ ...base, laddr: Ip6Address.parse('::1')!, faddr: Ip6Address.parse('fe80::1')! } as TcpConnInfo);
    expect(v6.local).to.deep.equal({ family: 'inet6', address: '::1', port: 80 });
    expect(v6.foreign).to.deep.equal({ family: 'inet6', address: 'fe80::1', port: 4711 });
  });

  it('clients come in pages that fit one head, each client once, in session order', () => {
    const procs = Array.from({ length: 2000 }, (_, i) => ({ session: { id: i + 1 } }) as unknown as ClientProcess);
    const row = (p: ClientProcess) => ({
      session: p.session.id, pid: 1000 + p.session.id, name: `client-${p.session.id}`, since: 0, fds: 3, inFlight: 1,
      counters: Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`counter${k}`, 123456 * k])),
    });
    const seen: number[] = [];
    let cursor: string | undefined;
    for (let pages = 1; pages < 1000; pages++) {
      const { value } = drive(clientPage(procs, row, cursor, undefined, 300));
      expect(packHead(value.rows).length + 300).to.be.at.most(PAGE_HEAD_BUDGET);
      seen.push(...value.rows.map((r) => r.session));
      if (value.next === undefined) break;
      cursor = value.next;
    }
    expect(seen).to.deep.equal(procs.map((p) => p.session.id));
  });

  it('SliceRunner: round robin — a client with many queued jobs does not hold back another; EAGAIN beyond the queue; abort drops', async () => {
    const runner = new SliceRunner({ budgetMs: 1000, maxQueued: 4 });
    const order: string[] = [];
    function* job(name: string, units: number): SliceJob<string> {
      for (let i = 0; i < units; i++) {
        order.push(name);
        yield;
      }
      return name;
    }
    const greedy = {};
    const polite = {};
    const g = [0, 1, 2, 3].map((i) => runner.run(greedy, () => job(`g${i}`, 3)));
    const refused = await runner.run(greedy, () => job('g4', 1)).then(() => null, (e: { errno?: number }) => e.errno);
    expect(refused).to.equal(11); // EAGAIN
    const p = runner.run(polite, () => job('p', 2));
    const ac = new AbortController();
    const gone = runner.run({}, () => job('gone', 1), ac.signal);
    ac.abort(new Error('client left'));
    expect(await Promise.all([...g, p])).to.deep.equal(['g0', 'g1', 'g2', 'g3', 'p']);
    await gone.then(() => expect.fail('an aborted job ran'), (e: Error) => expect(e.message).to.equal('client left'));
    // One unit each in turn: the polite client's job is done before the greedy one's second job starts.
    expect(order.indexOf('p')).to.be.below(order.indexOf('g1'));
    expect(order.lastIndexOf('p')).to.be.below(order.indexOf('g1'));
    expect(order).to.not.include('gone');
    expect(runner.stats).to.include({ refused: 1, aborted: 1, jobs: 6 });
    expect(runner.pending).to.equal(0);
  });

  it('SliceRunner: a turn stops at its budget and the loop runs in between', async () => {
    const runner = new SliceRunner({ budgetMs: 2 });
    function* slow(): SliceJob<number> {
      for (let i = 0; i < 40; i++) {
        const until = performance.now() + 0.5;
        while (performance.now() < until) {
          /* half a millisecond of work */
        }
        yield;
      }
      return 40;
    }
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      expect(await runner.run({}, slow)).to.equal(40);
    } finally {
      clearInterval(timer);
    }
    expect(runner.stats.turns).to.be.greaterThan(4); // 20 ms of work in turns of ~2 ms
    expect(ticks).to.be.greaterThan(0);
  });
});
