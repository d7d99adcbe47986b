/**
 * Per-client cluster quotas, end to end through a real `rump-server`
 * process with its default pool (16 384 clusters; each client may hold
 * 1024): each local attack of issue 10 — COPYINs never answered, lo0
 * connections filled and never read, huge socket buffers after raising
 * `kern.sbmax` — runs while a well-behaved client moves 8 MiB through lo0
 * (sha256-checked). The attacker gets its own errors (EFAULT, ENOBUFS), the
 * good client completes, the pool is never drained, and everything comes
 * back afterwards.
 */
import { expect } from 'chai';
import { RumpConnection } from '@rumpnet/client';
import type { CtlUsageClient } from '../../src/proto/index.js';
import { fillLo0, goodTransfer, neverAnswerCopyins, usageNow } from './attacks.js';
import { cleanup, expectQuietRemote, killAll, sleep, spawnServer, tmpSock, type ServerProcess } from './helpers.js';

const NMBCLUSTERS = 16_384;
const QUOTA_CLUSTERS = 1024; // the default: nmbclusters / 16
/** Storage of one full cluster as the quota counts it: MCLBYTES + MSIZE. */
const CL = 2048 + 256;

describe('rump-server per-client cluster quotas (local attacks beside a good client)', function () {
  this.timeout(60_000);
  let srv: ServerProcess;
  let url: string;

  beforeEach(async () => {
    url = `unix://${tmpSock()}`;
    srv = await spawnServer(['--log-level', 'error', '--copyin-timeout', '1000', url]);
  });
  afterEach(async () => {
    srv.proc.kill('SIGTERM');
    await srv.exited;
    killAll();
    cleanup();
  });

  /** The usage row of the client named `name`. */
  const rowOf = (clients: CtlUsageClient[], name: string): CtlUsageClient => {
    const r = clients.find((c) => c.name === name);
    expect(r, `client ${name} in ctl.usage`).to.not.equal(undefined);
    return r!;
  };

  it('four clients that never answer COPYIN pin at most their quotas; their sends fail, the good client completes', async () => {
    // 4 x 256 connections, each with a 1 MiB send outstanding: 16 clusters pinned per send
    // would be the whole pool (16 384) without quotas.
    const attackers = await Promise.all([0, 1, 2, 3].map((i) => neverAnswerCopyins(url, 7000 + i, 256)));
    // Wait (bounded) until every attacker has its sends pinned: on a loaded host it takes a moment.
    let during = await usageNow(url);
    for (let i = 0; i < 100 && during.usage.clients.filter((c) => c.name === 'raw' && c.clusterBytes > 100 * CL).length < 4; i++) {
      await sleep(50);
      during = await usageNow(url);
    }
    const pinned = during.usage.clients.filter((c) => c.name === 'raw');
    expect(pinned).to.have.length(4);
    for (const c of pinned) {
      expect(c.clusterBytes, 'each attacker is charged what it pins').to.be.greaterThan(100 * CL);
      expect(c.clusterBytes).to.be.at.most(c.quotaBytes + 16 * CL);
      expect(c.copyinsInFlight).to.be.at.most(64);
    }
    expect(during.clustersInUse).to.be.at.most(4 * (QUOTA_CLUSTERS + 16) + 64);
    const good = await goodTransfer(url, 7100);
    expect(good.intact).to.equal(true);
    await sleep(1200); // past --copyin-timeout: the pinned sends fail
    const seen = await Promise.all(attackers.map((a) => a.stop()));
    const errnos: Record<number, number> = {};
    for (const s of seen) for (const [k, v] of Object.entries(s.errnos)) errnos[Number(k)] = (errnos[Number(k)] ?? 0) + v;
    // EFAULT (14): the copy timed out; ENOBUFS (105): no quota left for another.
    expect((errnos[14] ?? 0) + (errnos[105] ?? 0), JSON.stringify(errnos)).to.be.greaterThan(0);
    await expectQuietRemote(url, 5000, { countSockets: false });
  });

  it('a client filling lo0 connections it never reads hits ENOBUFS at its quota; the good client completes', async () => {
    const bad = await fillLo0(url, 7200, { maxPairs: 128 });
    await bad.done;
    const during = await usageNow(url);
    const row = rowOf(during.usage.clients, 'lo0-filler');
    expect(row.clusterBytes).to.be.at.least(QUOTA_CLUSTERS * CL * 0.8);
    // The quota plus what windows advertised before it was reached could still let in.
    expect(row.clusterBytes).to.be.at.most(QUOTA_CLUSTERS * CL + 2 * 64 * 1024 * 1.2);
    expect(during.clustersInUse).to.be.at.most(QUOTA_CLUSTERS + 128);
    const good = await goodTransfer(url, 7300);
    expect(good.intact).to.equal(true);
    const seen = await bad.stop();
    expect(seen.codes).to.include('ENOBUFS');
    expect(seen.pairs).to.be.lessThan(128);
    await expectQuietRemote(url, 5000, { countSockets: false });
  });

  it('huge socket buffers, even after raising kern.sbmax, are refused past the quota; the good client completes', async () => {
    const ctl = await RumpConnection.connect(url, { name: 'sbmax-raiser' });
    try {
      await ctl.call('ctl.sysctl', { name: 'kern.sbmax', value: 1 << 30 });
      const fd = await ctl.sys.socket('stream');
      for (const o of ['SO_RCVBUF', 'SO_SNDBUF']) {
        const err = await ctl.sys.setsockopt(fd, 'socket', o, 512 * 1024 * 1024).then(
          () => null,
          (e: NodeJS.ErrnoException) => e.code,
        );
        expect(err, `${o} of 512 MiB`).to.equal('ENOBUFS');
      }
      await ctl.sys.close(fd);
      // Buffers as large as the whole quota are allowed, but filling them stops at the quota.
      const bad = await fillLo0(url, 7400, { maxPairs: 16, bufBytes: 1800 * 1024, name: 'big-buffers' });
      await bad.done;
      const during = await usageNow(url);
      expect(rowOf(during.usage.clients, 'big-buffers').clusterBytes).to.be.at.most(QUOTA_CLUSTERS * CL + 2 * 1800 * 1024 * 1.2);
      expect(during.clustersInUse).to.be.lessThan(NMBCLUSTERS / 4);
      const good = await goodTransfer(url, 7500);
      expect(good.intact).to.equal(true);
      const seen = await bad.stop();
      expect(seen.codes).to.include('ENOBUFS');
    } finally {
      await ctl.call('ctl.sysctl', { name: 'kern.sbmax', value: 4 * 1024 * 1024 }).catch(() => undefined);
      await ctl.close();
    }
    await expectQuietRemote(url, 5000, { countSockets: false });
  });
});
