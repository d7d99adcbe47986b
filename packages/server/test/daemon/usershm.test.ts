/**
 * The shared regions of one user's sessions together (`--user-shm`,
 * docs/PROTOCOL.md §10): `--shm-total` is the server's whole budget of
 * mapped region bytes, and without a per-user share one uid opening its
 * `--user-sessions` sessions maps all of it — every other user's offer is
 * then refused and its receives go on the socket. With the share, the
 * first user's sessions past it run on the socket (their offer answered
 * `ok: false` with a reason naming the limit, counted `refusedShm` on its
 * user row) and another user's offer is still mapped. Clients are real
 * processes of uid 65534 and 65533 (root only, as userquota.test.ts).
 */
import { expect } from 'chai';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { RumpConnection } from '@rumpnet/client';
import { shmAddon, shmUnavailable } from '@rumpnet/client/shm';
import type { CtlUsageResult } from '../../src/proto/index.js';
import type { RumpServer } from '../../src/server.js';
import { cleanup, expectQuiet, killAll, startServer, tmpDir, waitFor } from './helpers.js';
import { runAsUser, skipUnlessRoot, stopUsers, type UserClient } from './as-user.js';

/** A client's default region: header (4 KiB) + a 1 MiB COPYOUT ring (the COPYIN ring is off by default). */
const REGION = 4096 + 1024 * 1024;

/** Opens `n` sessions, prints each one's shm outcome (one JSON line), holds them until stdin closes. */
const CLIENT_SCRIPT = `
import { RumpConnection } from '@rumpnet/client';
const [url, n] = process.argv.slice(1);
const conns = [];
for (let i = 0; i < Number(n); i++) conns.push(await RumpConnection.connect(url, { name: 'shm-' + process.getuid() + '-' + i }));
console.log(JSON.stringify(conns.map((c) => c.params.shm ?? null)));
process.stdin.resume();
process.stdin.on('end', async () => {
  for (const c of conns) await c.close().catch(() => {});
  process.exit(0);
});
`;

interface Outcome {
  ok: boolean;
  reason?: string;
}

function runUser(url: string, uid: number, sessions: number): UserClient<Outcome[]> {
  return runAsUser(CLIENT_SCRIPT, [url, String(sessions)], uid);
}

describe("per-user shared memory: one user's sessions cannot map the server's whole --shm-total (uid 65534 / 65533)", function () {
  this.timeout(60_000);
  let srv: RumpServer | undefined;
  let users: UserClient<unknown>[] = [];

  before(function () {
    skipUnlessRoot(this);
    if (shmAddon() === undefined) {
      console.log(`      (skipped: ${shmUnavailable()})`);
      this.skip();
    }
  });
  afterEach(async () => {
    await stopUsers(users);
    users = [];
    if (srv !== undefined) {
      await expectQuiet(srv, 10_000);
      expect(srv.shm.bytes, 'every region unmapped').to.equal(0);
      await srv.close();
    }
    srv = undefined;
    killAll();
    cleanup();
  });

  it('uid 65534 with four sessions maps its share (two regions), the rest run on the socket; uid 65533 still gets its region', async () => {
    const dir = tmpDir('rumpnet-ushm-');
    chmodSync(dir, 0o755); // the other users must reach the socket file
    // Room for four default regions in all; the default share is a quarter of that, at least one --shm-max region.
    srv = await startServer({
      listen: { kind: 'unix', path: join(dir, 'rump.sock') },
      socketMode: 0o666,
      shmMax: REGION,
      shmTotal: 4 * REGION,
      quota: { userSessions: 8, userShm: 2 * REGION },
    });
    const a = runUser(srv.url, 65534, 4);
    users.push(a);
    const ra = await a.report;
    expect(ra.map((o) => o.ok)).to.deep.equal([true, true, false, false]);
    expect(ra[2]!.reason).to.match(/user limit: uid 65534 has 2\.0 MiB of shared regions mapped over its sessions \(the --user-shm limit, 2\.0 MiB\)/);
    const b = runUser(srv.url, 65533, 1);
    users.push(b);
    const rb = await b.report;
    expect(rb.map((o) => o.ok), 'the other user is not refused').to.deep.equal([true]);
    expect(srv.shm.bytes).to.equal(3 * REGION);

    const watcher = await RumpConnection.connect(srv.url, { name: 'watcher', shm: false });
    try {
      const u = await watcher.call<CtlUsageResult>('ctl.usage', {});
      expect(u.users!.find((x) => x.user === 'uid 65534')).to.include({ shmBytes: 2 * REGION, maxShmBytes: 2 * REGION, refusedShm: 2 });
      expect(u.users!.find((x) => x.user === 'uid 65533')).to.include({ shmBytes: REGION, refusedShm: 0 });
      expect(u.server).to.include({ userShmBytes: 2 * REGION });
    } finally {
      await watcher.close();
    }

    // All go: every region and user entry released.
    for (const x of users) x.proc.stdin.end();
    await Promise.all(users.map((x) => x.exited));
    users = [];
    await waitFor(() => srv!.shm.bytes === 0 && srv!.users.size === 0, 'every region and user entry released');
  });
});
