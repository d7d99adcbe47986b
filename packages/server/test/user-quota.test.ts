/**
 * The per-user aggregate of quota.ts without a daemon: a session's
 * ClientAccount charges its user too and is limited by what the user has
 * left; the ledger counts sessions and refuses at --user-sessions; admins
 * are exempt; entries go once nothing is held; the defaults follow the
 * server-wide caps.
 */
import { expect } from 'chai';
import { defaultConfig } from '../src/config.js';
import { ClientAccount, UserLedger, userLimitsOf } from '../src/quota.js';

const proc = (size = 0): { table: { size: number } } => ({ table: { size } });

describe('per-user limits (quota.ts)', () => {
  it('N sessions of one user share the user limit; another user keeps its full quota', () => {
    const ledger = new UserLedger({ clusterBytes: 1500, fds: 10, sessions: 3, shmBytes: 3000, queuedBytes: 4000 });
    const a1 = new ClientAccount(1000, ledger.join('uid 1000', false, proc()));
    const a2 = new ClientAccount(1000, ledger.join('uid 1000', false, proc()));
    const b = new ClientAccount(1000, ledger.join('uid 1001', false, proc()));
    expect(a1.limit - a1.used).to.equal(1000); // its own quota is the smaller
    a1.used = 900;
    expect(a2.limit - a2.used, 'what the user has left').to.equal(600);
    a2.used = 600;
    expect(a2.limit - a2.used).to.equal(0);
    expect(a1.limit - a1.used, 'the first session too is at the user limit').to.equal(0);
    expect(a1.user.used).to.equal(1500);
    expect(b.limit - b.used, 'the other user notices nothing').to.equal(1000);
    // Over the limit (a window advertised earlier): room stays 0, never negative.
    a2.used = 700;
    expect(a2.limit - a2.used).to.equal(0);
    a1.used = 0;
    expect(a2.limit - a2.used).to.equal(300);
  });

  it('refuses a session at --user-sessions naming the limit; admins are exempt and counted apart', () => {
    const ledger = new UserLedger({ clusterBytes: 1500, fds: 10, sessions: 2, shmBytes: 3000, queuedBytes: 4000 });
    const ps = [proc(), proc()];
    const users = ps.map((p) => {
      expect(ledger.refusal('uid 7', false)).to.equal(null);
      return ledger.join('uid 7', false, p);
    });
    const no = ledger.refusal('uid 7', false);
    expect(no?.reason).to.equal('user limit: uid 7 has 2 sessions open (the --user-sessions limit); close one and try again');
    expect(no?.limit).to.equal(2);
    expect(ledger.refusal('uid 8', false), 'another user').to.equal(null);
    for (let i = 0; i < 5; i++) {
      expect(ledger.refusal('uid 0', true)).to.equal(null);
      ledger.join('uid 0', true, proc());
    }
    const root = ledger.list().find((u) => u.exempt)!;
    expect(root.sessions).to.equal(5);
    expect(new ClientAccount(1000, root).limit).to.equal(1000);
    ledger.leave(users[0]!, ps[0]!);
    expect(ledger.refusal('uid 7', false), 'a session went: one may come').to.equal(null);
    expect(users[0]!.refusedSessions).to.equal(1);
  });

  it('--user-fds counts descriptors over the user\'s sessions', () => {
    const ledger = new UserLedger({ clusterBytes: 1500, fds: 10, sessions: 3, shmBytes: 3000, queuedBytes: 4000 });
    const p1 = proc(6);
    const p2 = proc(3);
    const u = ledger.join('tcp 127.0.0.1', false, p1);
    ledger.join('tcp 127.0.0.1', false, p2);
    expect(ledger.fdsFull(u)).to.equal(undefined);
    p2.table.size = 4;
    expect(ledger.fdsFull(u)).to.equal('user limit: tcp 127.0.0.1 has 10 descriptors open over its sessions (the --user-fds limit)');
    expect(u.refusedFds).to.equal(1);
  });

  it('an entry lives while a session or storage does (a lingering socket outlives its session)', () => {
    const ledger = new UserLedger({ clusterBytes: 1500, fds: 10, sessions: 3, shmBytes: 3000, queuedBytes: 4000 });
    const p = proc();
    const u = ledger.join('uid 9', false, p);
    const a = new ClientAccount(1000, u);
    a.used = 400;
    ledger.leave(u, p);
    expect(ledger.size, 'storage still held').to.equal(1);
    a.used = 0;
    expect(ledger.size).to.equal(0);
  });

  it('defaults: a quarter of the pool, of --max-files and of the session cap, at least one client\'s', () => {
    const d = userLimitsOf(defaultConfig(), 256);
    expect(d).to.deep.equal({ clusterBytes: 4096 * 2304, fds: 16384, sessions: 64, shmBytes: 64 * 1024 * 1024, queuedBytes: 32 * 1024 * 1024 });
    const small = userLimitsOf(defaultConfig({ nmbclusters: 256, maxFds: 1024, shmTotal: 1 << 20, quota: { maxFiles: 100, clientClusters: 200 } }), 2);
    expect(small).to.deep.equal({ clusterBytes: 200 * 2304, fds: 1024, sessions: 1, shmBytes: 4 * 1024 * 1024 + 4096, queuedBytes: 32 * 1024 * 1024 });
    const set = userLimitsOf(defaultConfig({ quota: { userClusters: 10, userFds: 11, userSessions: 12, userShm: 13, userQueuedBytes: 14 } }), 256);
    expect(set).to.deep.equal({ clusterBytes: 10 * 2304, fds: 11, sessions: 12, shmBytes: 13, queuedBytes: 14 });
  });

  it('shared regions: charged per user up to --user-shm, refused past it (counted), admins exempt; the entry lives while a region does', () => {
    const ledger = new UserLedger({ clusterBytes: 1500, fds: 10, sessions: 3, shmBytes: 3000, queuedBytes: 4000 });
    const p = { table: { size: 0 } };
    const u = ledger.join('uid 7', false, p);
    expect(ledger.chargeShm('uid 7', false, 2000)).to.equal(undefined);
    expect(ledger.chargeShm('uid 7', false, 2000)).to.match(/user limit: uid 7 has .* \(the --user-shm limit/);
    expect(u).to.include({ shm: 2000, refusedShm: 1 });
    // Another user, and an admin, are not held to uid 7's use.
    expect(ledger.chargeShm('uid 8', false, 3000)).to.equal(undefined);
    expect(ledger.chargeShm('uid 0', true, 1 << 30)).to.equal(undefined);
    ledger.leave(u, p);
    expect(ledger.list().map((x) => x.principal)).to.include('uid 7');
    ledger.releaseShm('uid 7', false, 2000);
    ledger.releaseShm('uid 8', false, 3000);
    ledger.releaseShm('uid 0', true, 1 << 30);
    expect(ledger.size).to.equal(0);
  });
});
