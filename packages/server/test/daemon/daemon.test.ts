/**
 * The real daemon, as a separate process (`node --import tsx
 * packages/server/src/cli.ts`): what `npm start` prints, traffic between
 * two clients across the process boundary, structured log lines, clean
 * shutdown on SIGTERM / SIGINT / `rumpctl halt` (socket file removed),
 * usage errors and a taken socket path.
 */
import { expect } from 'chai';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RumpConnection, inet } from '@rumpnet/client';
import { cleanup, expectQuietRemote, killAll, patternBytes, runRumpctlProcess, runServerToExit, sha256, spawnServer, tmpSock } from './helpers.js';

/** The JSON log lines a server wrote to stderr. */
function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('rump-server daemon (a real process)', function () {
  this.timeout(30_000);
  afterEach(() => killAll());
  after(() => cleanup());

  it('starts with the defaults (loopback only) and prints how a client connects', async () => {
    // `npm start` with RUMP_SERVER pointing at a private path (the default /tmp/rumpnet.sock may be in use).
    const path = tmpSock();
    const sp = await spawnServer([], 15_000, { RUMP_SERVER: `unix://${path}` });
    const out = sp.stdout();
    expect(out).to.include(`listening on unix://${path}`);
    expect(out).to.include('lo0 127.0.0.1/8');
    expect(out).to.include('MCLBYTES 2048, MCLNUM 16, copy window 4, inline up to 2048 bytes, inline receive up to 2048 bytes, posted sends up to 65536 bytes / 64 calls, nmbclusters 16384, receive coalesced');
    expect(out).to.include(`RUMP_SERVER=unix://${path} node app.js`);
    expect(out).to.include(`RUMP_SERVER=unix://${path} node --import @rumpnet/client/hijack app.js`);
    expect(out).to.include('--tap tap0'); // how to add a tap
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    sp.proc.kill('SIGINT'); // Ctrl-C
    expect(await sp.exited).to.equal(0);
    expect(existsSync(path)).to.equal(false);
  });

  it('carries UDP between two clients across the process boundary (sha256), logging connects and disconnects', async () => {
    const path = tmpSock();
    const sp = await spawnServer(['--mclnum', '1', '--log-level', 'info', `unix://${path}`]);
    const a = await RumpConnection.connect(path, { name: 'alice' });
    const b = await RumpConnection.connect(path, { name: 'bob' });
    expect(a.params).to.include({ mclbytes: 2048, mclnum: 1 });
    const rx = await b.sys.socket('dgram');
    await b.sys.bind(rx, inet('127.0.0.1', 5000));
    const tx = await a.sys.socket('dgram');
    const sizes = Array.from({ length: 40 }, (_, i) => (i * 7919) % 30000);
    const sent = sizes.map((n, i) => patternBytes(n, 100 + i));
    const got: Buffer[] = [];
    const reader = (async () => {
      const buf = Buffer.alloc(30000);
      for (let i = 0; i < sent.length; i++) got.push(Buffer.from(buf.subarray(0, await b.sys.recv(rx, buf))));
    })();
    for (const d of sent) await a.sys.sendto(tx, d, inet('127.0.0.1', 5000));
    await reader;
    expect(sha256(...got)).to.equal(sha256(...sent));
    await a.close();
    await b.close();
    await expectQuietRemote(`unix://${path}`);
    sp.proc.kill('SIGTERM');
    expect(await sp.exited).to.equal(0);
    const lines = logLines(sp.stderr());
    const mine = (l: Record<string, unknown>): boolean => (l.peer as { name: string }).name !== 'leak-check';
    const connected = lines.filter((l) => l.msg === 'client connected' && mine(l));
    const gone = lines.filter((l) => l.msg === 'client disconnected' && mine(l));
    expect(connected.map((l) => (l.peer as { name: string }).name).sort()).to.deep.equal(['alice', 'bob']);
    expect(gone).to.have.length(2);
    const alice = gone.find((l) => (l.peer as { name: string }).name === 'alice')!;
    // At MCLNUM 1: one COPYIN per 2048-byte cluster (smaller datagrams in small mbufs: 1 or 2).
    // Datagrams of at most inlineMax (2048) bytes travel inline with the request: no COPYIN.
    const k = alice.counters as { copyinBytes: number; inlineBytes: number };
    expect(k.copyinBytes + k.inlineBytes).to.equal(sizes.reduce((x, y) => x + y, 0));
    expect(k.inlineBytes).to.equal(sizes.filter((n) => n > 0 && n <= 2048).reduce((x, y) => x + y, 0));
    expect((alice.counters as { copyinRequests: number }).copyinRequests).to.be.at.least(sizes.reduce((n, s) => n + Math.floor(s / 2048), 0));
    const stopped = lines.find((l) => l.msg === 'rump server stopped')!;
    expect(stopped.poolAllFree).to.equal(true);
  });

  for (const sig of ['SIGTERM'] as const) {
    it(`${sig} with a client connected and a call blocked: clean exit, socket file removed`, async () => {
      const path = tmpSock();
      const sp = await spawnServer([`unix://${path}`]);
      const c = await RumpConnection.connect(path);
      const s = await c.sys.socket('dgram');
      await c.sys.bind(s, inet('127.0.0.1', 5001));
      const blocked = c.sys.recv(s, Buffer.alloc(10)).catch((e: { code: string; message: string }) => e);
      sp.proc.kill(sig);
      expect(await sp.exited).to.equal(0);
      // The server says goodbye (an ERROR frame naming the reason) before it hangs up.
      const e = (await blocked) as { code: string; message: string };
      expect(e.code).to.equal('ERR_RUMP_PROTOCOL');
      expect(e.message).to.match(/server shutting down/);
      expect(existsSync(path)).to.equal(false);
      const lines = logLines(sp.stderr());
      expect(lines.find((l) => l.msg === 'client disconnected')?.fdsClosed).to.equal(1);
      expect(lines.find((l) => l.msg === 'rump server stopped')?.poolAllFree).to.equal(true);
      await c.close();
    });
  }

  it('rumpctl halt stops it cleanly', async () => {
    const path = tmpSock();
    const sp = await spawnServer(['--socket-mode', '660', `unix://${path}`]);
    expect(statSync(path).mode & 0o777).to.equal(0o660);
    const r = await runRumpctlProcess(['-s', `unix://${path}`, 'halt']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('halting\n');
    expect(await sp.exited).to.equal(0);
    expect(existsSync(path)).to.equal(false);
  });

  it('usage errors exit 2; a socket path already served exits 1 and leaves the first server alone', async () => {
    const bad = await runServerToExit(['--mclnum', '0']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--mclnum must be between 1 and 64/);
    const nopcap = await runServerToExit(['--pcap', join(tmpSock(), 'x.pcap')]);
    expect(nopcap.code).to.equal(2);
    expect(nopcap.stderr).to.match(/--pcap records the tap or bus interface/);
    const path = tmpSock();
    const sp = await spawnServer([`unix://${path}`]);
    const second = await runServerToExit([`unix://${path}`]);
    expect(second.code).to.equal(1);
    expect(second.stderr).to.match(/EADDRINUSE/);
    const c = await RumpConnection.connect(path);
    expect(await c.ping()).to.be.a('number');
    await c.close();
    sp.proc.kill('SIGTERM');
    expect(await sp.exited).to.equal(0);
  });
});
