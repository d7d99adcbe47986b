/**
 * Requests queued in the server's memory, over all sessions of one user
 * (`--user-queued-bytes`, docs/PROTOCOL.md §10): each session may queue
 * `--max-queued-bytes` behind `--max-in-flight` before it is disconnected,
 * so without a per-user share one uid's `--user-sessions` sessions hold
 * that many times over. With the share, the session whose queueing takes
 * the user past it is disconnected as a flood (as one past
 * `--max-queued-bytes` is); the user's other sessions and another user are
 * served as before, and everything is released when the sessions end. The flooding client is a real process of
 * uid 65534 (root only, as userquota.test.ts); the other user is the test's own.
 */
import { expect } from 'chai';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { RumpConnection, inet } from '@rumpnet/client';
import type { CtlUsageResult } from '../../src/proto/index.js';
import type { RumpServer } from '../../src/server.js';
import { cleanup, expectQuiet, killAll, startServer, tmpDir, waitFor } from './helpers.js';
import { runAsUser, skipUnlessRoot, stopUsers, type UserClient } from './as-user.js';

const SESSIONS = 3;
/** Requests each session fires behind its one blocked call: about 2.8 MB of queue (bytes + 512 each; under --max-queued-bytes 8 MiB). */
const CALLS = 5_000;
/** Room for two such sessions' queues, not three. */
const USER_QUEUED = 6 * 1024 * 1024;

/**
 * Opens `n` sessions; in each blocks the one in-flight slot with an accept
 * nobody connects to, then fires `calls` getsockname calls without waiting;
 * prints `fired`, holds everything until stdin closes.
 */
const CLIENT_SCRIPT = `
import { RumpConnection, inet } from '@rumpnet/client';
const [url, n, calls, basePort] = process.argv.slice(1);
const conns = [];
for (let i = 0; i < Number(n); i++) {
  const c = await RumpConnection.connect(url, { name: 'q-' + process.getuid() + '-' + i, shm: false });
  conns.push(c);
  const l = await c.sys.socket('stream');
  await c.sys.bind(l, inet('127.0.0.1', Number(basePort) + i));
  await c.sys.listen(l, 4);
  c.sys.accept(l).catch(() => {});
  for (let k = 0; k < Number(calls); k++) c.sys.getsockname(l).catch(() => {});
}
console.log(JSON.stringify({ fired: conns.length }));
process.stdin.resume();
process.stdin.on('end', async () => {
  for (const c of conns) await c.close().catch(() => {});
  process.exit(0);
});
`;

function runUser(url: string, uid: number, sessions: number, calls: number, basePort: number): UserClient<{ fired: number }> {
  return runAsUser(CLIENT_SCRIPT, [url, String(sessions), String(calls), String(basePort)], uid);
}

describe("per-user queued requests: one user's sessions cannot hold --user-sessions × --max-queued-bytes (uid 65534)", function () {
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

  it('of three flooding sessions, the one that takes the user past its share is disconnected; the others and another user are served; all released at the end', async () => {
    const dir = tmpDir('rumpnet-uqq-');
    chmodSync(dir, 0o755); // the other users must reach the socket file
    srv = await startServer({
      listen: { kind: 'unix', path: join(dir, 'rump.sock') },
      socketMode: 0o666,
      quota: { maxInFlight: 1, userQueuedBytes: USER_QUEUED },
    });
    const a = runUser(srv.url, 65534, SESSIONS, CALLS, 7800);
    users.push(a);
    await a.report;
    const mine = (): ReturnType<RumpServer['processes']> => srv!.processes().filter((p) => p.session.auth.principal === 'uid 65534');
    // Two sessions hold their whole queue (behind the accept each has in flight); the third was cut off.
    await waitFor(
      () => mine().length === SESSIONS - 1 && mine().every((p) => p.session.usage().queuedRequests === CALLS),
      'two sessions of uid 65534 with every request queued, the third gone',
      30_000,
    );
    const u = srv.users.list().find((x) => x.principal === 'uid 65534')!;
    const queued = mine().reduce((n, p) => n + p.session.usage().queuedRequestBytes, 0);
    expect(u.queued).to.equal(queued);
    expect(u.queued, 'uid 65534 queued bytes').to.be.at.most(USER_QUEUED);
    expect(u.queueRefused).to.equal(1);

    // Another user is served as usual meanwhile.
    const b = await RumpConnection.connect(srv.url, { name: 'other' });
    try {
      const fd = await b.sys.socket('stream');
      await b.sys.bind(fd, inet('127.0.0.1', 7899));
      expect(await b.sys.getsockname(fd)).to.deep.include({ port: 7899 });
      await b.sys.close(fd);
      const r = await b.call<CtlUsageResult>('ctl.usage', {});
      expect(r.users!.find((x) => x.user === 'uid 65534')).to.include({ maxQueuedBytes: USER_QUEUED, queuedBytes: u.queued, queueRefused: 1 });
      expect(r.server).to.include({ userQueuedBytes: USER_QUEUED });
    } finally {
      await b.close();
    }

    // The user goes: every queued byte is given back and its entry released.
    a.proc.stdin.end();
    await a.exited;
    users = [];
    await waitFor(() => srv!.users.list().every((x) => x.principal !== 'uid 65534'), 'the entry of uid 65534 released', 10_000);
  });
});
