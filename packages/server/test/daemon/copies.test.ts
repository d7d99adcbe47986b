/**
 * The paper's claim, through the REAL socket layer and a real client
 * connection: sending 1 MiB with MCLBYTES 2048 takes 512 COPYIN requests at
 * MCLNUM 1 (NetBSD: one per cluster) and at most 32 at MCLNUM 16 (batched
 * copyin: one per extended cluster). Counted on the server, per client, as
 * `rumpctl clients` reads them (`ctl.clients`), and cross-checked with the
 * client's own count of COPYIN requests it answered.
 *
 * UDP carries the megabyte as 16 datagrams of 65507 bytes (the largest UDP
 * payload; 16 x 65507 = 1 048 112 bytes, 32 clusters each). TCP carries
 * exactly 1 MiB in one send.
 */
import { expect } from 'chai';
import { RumpConnection, inet } from '@rumpnet/client';
import type { CtlClient, CtlServerInfo } from '../../src/proto/index.js';
import { cleanup, expectQuiet, patternBytes, sha256, startServer } from './helpers.js';

const MiB = 1024 * 1024;

/** The server's counters of the client named `name`, read over the control protocol. */
async function countersOf(ctl: RumpConnection, name: string): Promise<Record<string, number>> {
  const r = await ctl.call<{ server: CtlServerInfo; clients: CtlClient[] }>('ctl.clients', {});
  const c = r.clients.find((x) => x.name === name);
  expect(c, `client ${name} in ctl.clients`).to.not.equal(undefined);
  return c!.counters;
}

describe('rump-server copy counts through the socket layer (UDP, 16 x 65507 bytes)', () => {
  after(() => cleanup());

  const cases: Array<{ mclbytes: 2048 | 4096; mclnum: number; copyins: number }> = [
    { mclbytes: 2048, mclnum: 1, copyins: 512 }, // ceil(65507 / 2048) = 32 clusters, one request each, x 16
    { mclbytes: 2048, mclnum: 16, copyins: 32 }, // 2 extended clusters of 16 per datagram
    { mclbytes: 4096, mclnum: 1, copyins: 256 },
    { mclbytes: 4096, mclnum: 16, copyins: 16 },
  ];
  for (const c of cases) {
    it(`MCLBYTES ${c.mclbytes}, MCLNUM ${c.mclnum}: ${c.copyins} COPYIN requests`, async () => {
      const srv = await startServer({ mclbytes: c.mclbytes, mclnum: c.mclnum });
      const tx = await RumpConnection.connect(srv.url, { name: 'sender' });
      const rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
      expect(tx.params.mclbytes).to.equal(c.mclbytes);
      expect(tx.params.mclnum).to.equal(c.mclnum);
      const r = await rx.sys.socket('dgram');
      await rx.sys.bind(r, inet('127.0.0.1', 7100));
      const s = await tx.sys.socket('dgram');
      const data = patternBytes(16 * 65507, c.mclnum * 31 + c.mclbytes);
      const got: Buffer[] = [];
      const reader = (async () => {
        const buf = Buffer.alloc(65507);
        for (let i = 0; i < 16; i++) {
          const n = await rx.sys.recv(r, buf);
          got.push(Buffer.from(buf.subarray(0, n)));
        }
      })();
      for (let i = 0; i < 16; i++) await tx.sys.sendto(s, data.subarray(i * 65507, (i + 1) * 65507), inet('127.0.0.1', 7100));
      await reader;
      expect(sha256(...got)).to.equal(sha256(data));
      const k = await countersOf(rx, 'sender');
      expect(k.copyinRequests).to.equal(c.copyins);
      expect(k.copyinBytes).to.equal(16 * 65507);
      expect(tx.counters.copyinRequests).to.equal(c.copyins);
      expect((await countersOf(rx, 'receiver')).copyinRequests).to.equal(0);
      await tx.close();
      await rx.close();
      await expectQuiet(srv);
      await srv.close();
    });
  }
});

describe('rump-server copy counts through the socket layer (TCP, 1 MiB in one send)', () => {
  after(() => cleanup());

  for (const c of [
    { mclnum: 1, check: (n: number) => expect(n).to.equal(512) },
    { mclnum: 16, check: (n: number) => expect(n).to.be.at.most(32) },
  ]) {
    it(`MCLBYTES 2048, MCLNUM ${c.mclnum}: ${c.mclnum === 1 ? '512' : 'at most 32'} COPYIN requests for 1 MiB`, async () => {
      const srv = await startServer({ mclbytes: 2048, mclnum: c.mclnum });
      const tx = await RumpConnection.connect(srv.url, { name: 'sender' });
      const rx = await RumpConnection.connect(srv.url, { name: 'receiver' });
      try {
        const lfd = await rx.sys.socket('stream');
        await rx.sys.bind(lfd, inet('127.0.0.1', 7200));
        await rx.sys.listen(lfd, 4);
        const s = await tx.sys.socket('stream');
        const accepting = rx.sys.accept(lfd);
        await tx.sys.connect(s, inet('127.0.0.1', 7200));
        const conn = await accepting;
        const data = patternBytes(MiB, 42 + c.mclnum);
        const got: Buffer[] = [];
        const reader = (async () => {
          const buf = Buffer.alloc(64 * 1024);
          for (let i = 0; i < 10_000; i++) {
            const n = await rx.sys.recv(conn.fd, buf);
            if (n === 0) return;
            got.push(Buffer.from(buf.subarray(0, n)));
          }
          throw new Error('no end of stream after 10 000 reads');
        })();
        // One send of the whole megabyte: the socket layer decides the copies.
        expect(await tx.sys.send(s, data)).to.equal(MiB);
        await tx.sys.shutdown(s, 'wr');
        await reader;
        expect(sha256(...got)).to.equal(sha256(data));
        const k = await countersOf(rx, 'sender');
        c.check(k.copyinRequests);
        expect(k.copyinBytes).to.equal(MiB);
        await tx.close();
        await rx.close();
        await expectQuiet(srv, 10_000);
      } finally {
        // Also after a failure: no server outlives its test.
        await tx.close();
        await rx.close();
        await srv.close();
      }
    });
  }
});
