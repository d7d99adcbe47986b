/**
 * Per-user limits end to end: an in-process server with `--socket-mode 666`
 * and clients that are real processes of two other users (uid 65534 and
 * 65533, spawned with `{ uid, gid }`). One user's sessions together cannot
 * pass `--user-sessions` (the next is refused, naming the limit),
 * `--user-clusters` (ENOBUFS: each session filling lo0 connections it never
 * reads) or `--user-fds` (EMFILE), however many sessions it opens — and the
 * other user, at the same time, gets its full per-client share. When the
 * sessions close everything is released: no user entry, the pool all free.
 * Then the same through a spawned `rump-server` with the `--user-*` options,
 * and what `rumpctl usage` prints for it.
 */
import { expect } from 'chai';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { RumpConnection } from '@rumpnet/client';
import type { CtlUsageResult } from '../../src/proto/index.js';
import { formatUsage } from '../../src/ctl/format.js';
import type { RumpServer } from '../../src/server.js';
import { spawn } from 'node:child_process';
import { ROOT, cleanup, expectQuiet, expectQuietRemote, killAll, spawnServer, startServer, tmpDir, waitFor } from './helpers.js';
import { runAsUser, skipUnlessRoot, stopUsers, type UserClient } from './as-user.js';

const CLUSTER = 2048 + 256;
const CLIENT_CLUSTERS = 128;
const USER_CLUSTERS = 192;
const MAX_FDS = 24;
const USER_FDS = 40;
const USER_SESSIONS = 3;

/** What one user's client process reports (one JSON line), then it holds everything until its stdin closes. */
interface Report {
  uid: number;
  sessions: number;
  refused: string[];
  /** Per session: bytes written into lo0 pairs before the error that stopped it. */
  fill: { bytes: number; pairs: number; code: string | null; reason: string | null }[];
  /** Per session: descriptors opened before the error, and that error. */
  fds: { opened: number; code: string | null; reason: string | null }[];
}

/**
 * The client a user runs (ES module on the built client; `npm run build`
 * first): opens `n` sessions; in each fills lo0 TCP pairs it never reads
 * until ENOBUFS (at most 12 pairs of 64 KiB sends; not in mode `fds`), then opens datagram
 * sockets until an error (at most 64); prints what happened and holds it.
 */
const CLIENT_SCRIPT = `
import { RumpConnection, inet } from '@rumpnet/client';
const [url, n, basePort, mode] = process.argv.slice(1);
const conns = [], refused = [], fill = [], fds = [];
for (let i = 0; i < Number(n); i++) {
  try { conns.push(await RumpConnection.connect(url, { name: 'user-' + process.getuid() + '-' + i })); }
  catch (e) { refused.push(e.message); }
}
const chunk = Buffer.alloc(64 * 1024, 0x5a);
for (const [i, c] of (mode === 'fds' ? [] : conns).entries()) {
  const port = Number(basePort) + i;
  const l = await c.sys.socket('stream');
  await c.sys.bind(l, inet('127.0.0.1', port));
  await c.sys.listen(l, 16);
  let bytes = 0, pairs = 0, code = null, reason = null;
  for (let p = 0; p < 12 && code !== 'ENOBUFS'; p++) {
    const s = await c.sys.socket('stream');
    await Promise.all([c.sys.connect(s, inet('127.0.0.1', port)), c.sys.accept(l)]);
    pairs++;
    for (let k = 0; k < 256; k++) {
      try { bytes += await c.sys.send(s, chunk, 0x40); }
      catch (e) { code = e.code; reason = e.reason ?? null; break; }
    }
  }
  fill.push({ bytes, pairs, code, reason });
}
for (const c of conns) {
  let opened = 0, code = null, reason = null;
  for (let k = 0; k < 64; k++) {
    try { await c.sys.socket('dgram'); opened++; }
    catch (e) { code = e.code; reason = e.reason ?? null; break; }
  }
  fds.push({ opened, code, reason });
}
console.log(JSON.stringify({ uid: process.getuid(), sessions: conns.length, refused, fill, fds }));
process.stdin.resume();
process.stdin.on('end', async () => {
  for (const c of conns) await c.close().catch(() => {});
  process.exit(0);
});
`;

/** A user's client process, with its report once printed. */
function runUser(url: string, uid: number, sessions: number, basePort: number, mode: 'fill' | 'fds' = 'fill'): UserClient<Report> {
  return runAsUser(CLIENT_SCRIPT, [url, String(sessions), String(basePort), mode], uid, 40_000);
}

describe('per-user limits: one user\'s sessions together, another user unaffected (uid 65534 / 65533)', function () {
  this.timeout(90_000);
  let srv: RumpServer | undefined;
  let users: UserClient<unknown>[] = [];

  before(function () {
    skipUnlessRoot(this);
  });
  afterEach(async () => {
    await stopUsers(users);
    users = [];
    if (srv !== undefined) {
      await expectQuiet(srv, 10_000);
      await srv.close();
    }
    srv = undefined;
    killAll();
    cleanup();
  });

  it('N sessions of one uid stay within --user-sessions/-clusters/-fds; the other uid gets its full share; all released at the end', async () => {
    const dir = tmpDir('rumpnet-uq-');
    chmodSync(dir, 0o755); // the other users must reach the socket file
    srv = await startServer({
      listen: { kind: 'unix', path: join(dir, 'rump.sock') },
      socketMode: 0o666,
      nmbclusters: 4096,
      maxFds: MAX_FDS,
      quota: { clientClusters: CLIENT_CLUSTERS, userClusters: USER_CLUSTERS, userFds: USER_FDS, userSessions: USER_SESSIONS },
    });
    const url = srv.url;
    // uid 65534 asks for one session more than its limit and fills all it gets.
    const a = runUser(url, 65534, USER_SESSIONS + 1, 7300);
    users.push(a);
    const ra = await a.report;
    expect(ra.sessions).to.equal(USER_SESSIONS);
    expect(ra.refused).to.have.length(1);
    expect(ra.refused[0]).to.match(/user limit: uid 65534 has 3 sessions open \(the --user-sessions limit\)/);
    // While it holds all that, uid 65533 runs one session: its full per-client share.
    const b = runUser(url, 65533, 1, 7400);
    users.push(b);
    const rb = await b.report;
    expect(rb.refused).to.deep.equal([]);

    const rowA = srv.users.list().find((u) => u.principal === 'uid 65534')!;
    const rowB = srv.users.list().find((u) => u.principal === 'uid 65533')!;
    // Clusters: A's three sessions together hold at most its user limit (plus
    // one 64 KiB send accepted inside a window advertised earlier), not
    // three client quotas (384 clusters).
    expect(ra.fill.map((f) => f.code)).to.include('ENOBUFS');
    expect(rowA.used / CLUSTER, 'uid 65534 clusters').to.be.at.most(USER_CLUSTERS + 34);
    expect(rowA.used / CLUSTER).to.be.at.least(USER_CLUSTERS - 34);
    const perSession = srv.processes().filter((p) => p.session.auth.principal === 'uid 65534').map((p) => p.account.used / CLUSTER);
    expect(perSession.reduce((x, y) => x + y, 0)).to.be.closeTo(rowA.used / CLUSTER, 0.01);
    // B filled its own quota (128 clusters), not what A left of anything.
    expect(rb.fill[0]!.code).to.equal('ENOBUFS');
    expect(rowB.used / CLUSTER, 'uid 65533 clusters').to.be.at.least(CLIENT_CLUSTERS - 34);
    // Descriptors: A's sessions stopped together at --user-fds with EMFILE naming the limit.
    expect(rowA.fds).to.equal(USER_FDS);
    const last = ra.fds.filter((f) => f.code !== null);
    expect(last.map((f) => f.code)).to.deep.equal(['EMFILE', 'EMFILE', 'EMFILE']);
    expect(last.at(-1)!.reason).to.match(/user limit: uid 65534 has 40 descriptors open over its sessions \(the --user-fds limit\)/);
    expect(rowA.refusedSessions).to.equal(1);
    // B's one session reached its own --max-fds (24 < 40): the per-session EMFILE, not the user's.
    expect(rowB.fds).to.equal(MAX_FDS);
    expect(rb.fds[0]!.code).to.equal('EMFILE');
    expect(rb.fds[0]!.reason ?? '').to.not.match(/user limit/);

    // rumpctl usage (as root, an admin: every user; root's own row is exempt).
    const watcher = await RumpConnection.connect(url, { name: 'watcher' });
    try {
      const u = await watcher.call<CtlUsageResult>('ctl.usage', {});
      const ua = u.users!.find((x) => x.user === 'uid 65534')!;
      expect(ua).to.include({ sessions: 3, fds: USER_FDS, maxFds: USER_FDS, maxSessions: USER_SESSIONS, quotaBytes: USER_CLUSTERS * CLUSTER, exempt: false });
      expect(u.users!.find((x) => x.user === 'uid 0')).to.include({ exempt: true, sessions: 1, quotaBytes: null });
      expect(u.clients.filter((c) => c.user === 'uid 65534')).to.have.length(3);
      expect(u.server).to.include({ userQuotaBytes: USER_CLUSTERS * CLUSTER, userFds: USER_FDS, userSessions: USER_SESSIONS });
      const text = formatUsage(u.server, u.clients, u.hidden ?? 0, u.users);
      expect(text).to.match(/per user \(all its sessions; admins exempt\): 192 clusters, 40 fds, 3 sessions/);
      expect(text).to.match(/\n\s*uid 65534\s+3\/3\s+\d+\/192\s+\d+%\s+40\/40\s+1 sessions, \d+ fds\s+(-|[\d.]+ MiB\/[\d.]+ MiB)\n/);
    } finally {
      await watcher.close();
    }

    // All go: every user entry is released and the pool is all free (afterEach checks it too).
    for (const x of users) x.proc.stdin.end();
    await Promise.all(users.map((x) => x.exited));
    users = [];
    await expectQuiet(srv, 10_000);
    await waitFor(() => srv!.users.size === 0, 'every user entry released');
    // And uid 65534 may open its three sessions again.
    const again = runUser(url, 65534, USER_SESSIONS, 7500);
    users.push(again);
    expect((await again.report).refused).to.deep.equal([]);
  });

  it('rump-server --user-sessions 2 --user-fds 6: the options hold in the daemon; rumpctl usage shows the user row', async () => {
    const dir = tmpDir('rumpnet-uq-');
    chmodSync(dir, 0o755);
    const url = `unix://${join(dir, 'rump.sock')}`;
    const sp = await spawnServer([url, '--socket-mode', '666', '--max-fds', '4', '--user-sessions', '2', '--user-fds', '6']);
    try {
      const a = runUser(url, 65534, 3, 7600, 'fds');
      users.push(a);
      const ra = await a.report;
      expect(ra.sessions).to.equal(2);
      expect(ra.refused[0]).to.match(/user limit: uid 65534 has 2 sessions open \(the --user-sessions limit\)/);
      // The first session stops at its own --max-fds (4), the second at what the user has left (2).
      expect(ra.fds.map((f) => f.opened)).to.deep.equal([4, 2]);
      expect(ra.fds[1]!.reason).to.match(/user limit: uid 65534 has 6 descriptors open over its sessions \(the --user-fds limit\)/);
      const r = spawn(process.execPath, [join(ROOT, 'packages/server/dist/src/rumpctl.js'), '-s', url, 'usage'], { cwd: ROOT });
      let out = '';
      r.stdout.on('data', (c: Buffer) => (out += c.toString()));
      expect(await new Promise((res) => r.once('close', res))).to.equal(0);
      expect(out).to.match(/per user \(all its sessions; admins exempt\): \d+ clusters, 6 fds, 2 sessions/);
      expect(out).to.match(/\n\s*uid 65534\s+2\/2\s+\d+\/\d+\s+\d+%\s+6\/6\s+1 sessions, 1 fds\s+(-|[\d.]+ MiB\/[\d.]+ MiB)\n/);
      expect(out).to.match(/\n\s*uid 0 \(admin\)\s+1\/-\s+\d+\/-\s+exempt\s+0\/-/);
      a.proc.stdin.end();
      await a.exited;
      users = [];
      await expectQuietRemote(url, 10_000);
    } finally {
      sp.proc.kill('SIGTERM');
      await sp.exited;
    }
  });
});
