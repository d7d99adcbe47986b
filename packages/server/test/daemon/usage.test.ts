/**
 * `rumpctl usage` against a running server: the caps with their totals, and
 * each client's use against its quotas — here a client holding 100 000
 * unread bytes in a TCP connection on lo0 is charged the clusters behind
 * them (in its receive buffer, and in its send buffer until they are
 * acknowledged), and gets them back when it reads.
 */
import { expect } from 'chai';
import { RumpConnection, inet } from '@rumpnet/client';
import type { CtlUsageResult } from '../../src/proto/index.js';
import { runRumpctl } from '../../src/ctl/rumpctl-main.js';
import type { RumpServer } from '../../src/server.js';
import { cleanup, expectQuiet, startServer } from './helpers.js';

describe('rumpctl usage', () => {
  let srv: RumpServer;
  const ctl = async (...argv: string[]): Promise<{ code: number; out: string }> => {
    let out = '';
    const code = await runRumpctl(['-s', srv.url, ...argv], { out: (s) => (out += s), err: (s) => (out += s), env: {} });
    return { code, out };
  };
  beforeEach(async () => {
    srv = await startServer({ quota: { clientClusters: 500, maxSessions: 77 } });
  });
  afterEach(async () => {
    await expectQuiet(srv);
    await srv.close();
  });
  after(() => cleanup());

  it('shows each client\'s clusters against its quota, and the caps', async () => {
    const a = await RumpConnection.connect(srv.url, { name: 'holder' });
    const l = await a.sys.socket('stream');
    await a.sys.bind(l, inet('127.0.0.1', 7900));
    await a.sys.listen(l, 1);
    const s = await a.sys.socket('stream');
    const [, acc] = await Promise.all([a.sys.connect(s, inet('127.0.0.1', 7900)), a.sys.accept(l)]);
    expect(await a.sys.send(s, Buffer.alloc(100_000, 1))).to.equal(100_000);
    // 100 000 bytes are 49 clusters in the receiver's buffer at least.
    const charged = async (): Promise<number> => {
      const u = await a.call<CtlUsageResult>('ctl.usage', {});
      return u.clients.find((c) => c.name === 'holder')!.clusterBytes;
    };
    let held = await charged();
    for (let i = 0; i < 100 && held < 49 * 2304; i++) {
      await new Promise((res) => setTimeout(res, 10));
      held = await charged();
    }
    expect(held).to.be.at.least(49 * 2304);
    const r = await ctl('usage');
    expect(r.code).to.equal(0);
    expect(r.out).to.match(/^sessions 2\/77 \(refused 0\)  descriptors 3\/65536  clusters in use \d+\/16384\n/);
    expect(r.out).to.match(/per client: 500 clusters, 1024 fds, 64 copyins \(timeout 5000 ms\), 256 calls in flight, replies 1\.0 MiB \(backpressure\) \/ 32\.0 MiB \(disconnect\)/);
    const row = r.out.split('\n').find((x) => x.includes(' holder '))!;
    const cols = row.trim().split(/\s+/);
    // SESSION PID NAME CLUSTERS QUOTA FDS COPYINS WAITING REPLIES(2 words) FRAMES INFLIGHT QUEUED PARTIAL BP
    expect(cols[2]).to.equal('holder');
    const [used, quota] = cols[3]!.split('/').map(Number);
    expect(used).to.be.at.least(49);
    expect(quota).to.equal(500);
    expect(cols[5]).to.equal('3');
    // Reading gives the clusters back.
    const buf = Buffer.alloc(100_000);
    for (let got = 0; got < buf.length; ) got += await a.sys.recv(acc.fd, buf.subarray(got));
    let after = held;
    for (let i = 0; i < 100 && after > 0; i++) {
      after = await charged();
      if (after > 0) await new Promise((res) => setTimeout(res, 10));
    }
    expect(after).to.equal(0);
    await a.close();
  });
});
