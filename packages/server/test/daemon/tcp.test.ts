/**
 * TCP between two clients of one server, through the real daemon process:
 * listen/accept/connect, a 2 MiB transfer each way checked with sha256,
 * shutdown to end of stream, accept that blocks and a non-blocking accept,
 * and no leftovers (descriptors and clusters; a connection in TIME_WAIT may
 * outlive its descriptor by 2 MSL, as in any BSD).
 */
import { expect } from 'chai';
import { RumpConnection, inet } from '@rumpnet/client';
import { cleanup, expectQuietRemote, killAll, patternBytes, sha256, spawnServer, tmpSock, type ServerProcess } from './helpers.js';

const MiB = 1024 * 1024;

/** Reads `fd` to end of stream (bounded in reads). */
async function readAll(c: RumpConnection, fd: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (let i = 0; i < 20_000; i++) {
    const n = await c.sys.recv(fd, buf);
    if (n === 0) return out;
    out.push(Buffer.from(buf.subarray(0, n)));
  }
  throw new Error('no end of stream after 20 000 reads');
}

describe('rump-server TCP between two clients (a real server process)', function () {
  this.timeout(40_000);
  let sp: ServerProcess | undefined;
  let path: string;

  before(async () => {
    path = tmpSock();
    sp = await spawnServer(['--mclnum', '16', `unix://${path}`]);
    expect(sp.stdout()).to.include('protocols   tcp, udp');
  });
  afterEach(async () => {
    // TIME_WAIT may keep a connection's control block for a while; the descriptors and clusters must go.
    if (sp !== undefined) await expectQuietRemote(`unix://${path}`, 10_000, { countSockets: false });
  });
  after(async () => {
    if (sp !== undefined) {
      sp.proc.kill('SIGTERM');
      expect(await sp.exited).to.equal(0);
    }
    killAll();
    cleanup();
  });

  it('2 MiB each way over one connection, sha256-checked, then end of stream both ways', async () => {
    const a = await RumpConnection.connect(path, { name: 'server-side' });
    const b = await RumpConnection.connect(path, { name: 'client-side' });
    const l = await a.sys.socket('stream');
    await a.sys.setsockopt(l, 'socket', 'SO_REUSEADDR', true);
    await a.sys.bind(l, inet('127.0.0.1', 8080));
    await a.sys.listen(l, 8);
    const accepted = a.sys.accept(l);
    const c = await b.sys.socket('stream');
    await b.sys.connect(c, inet('127.0.0.1', 8080));
    const conn = await accepted;
    expect(conn.addr).to.deep.equal(await b.sys.getsockname(c));
    expect(await b.sys.getpeername(c)).to.deep.equal(inet('127.0.0.1', 8080));
    const up = patternBytes(2 * MiB, 1);
    const down = patternBytes(2 * MiB, 2);
    const [gotUp, gotDown] = await Promise.all([
      readAll(a, conn.fd),
      readAll(b, c),
      (async () => {
        let off = 0;
        for (let i = 0; off < up.length && i < 10_000; i++) off += await b.sys.send(c, up.subarray(off));
        await b.sys.shutdown(c, 'wr');
      })(),
      (async () => {
        let off = 0;
        for (let i = 0; off < down.length && i < 10_000; i++) off += await a.sys.send(conn.fd, down.subarray(off));
        await a.sys.shutdown(conn.fd, 'wr');
      })(),
    ]);
    expect(sha256(...gotUp)).to.equal(sha256(up));
    expect(sha256(...gotDown)).to.equal(sha256(down));
    await a.sys.close(conn.fd);
    await b.sys.close(c);
    await a.sys.close(l);
    await a.close();
    await b.close();
  });

  it('connect to a port nobody listens on is ECONNREFUSED; a non-blocking accept with nothing queued is EAGAIN', async () => {
    const a = await RumpConnection.connect(path);
    const s = await a.sys.socket('stream');
    const e = (await a.sys.connect(s, inet('127.0.0.1', 8099)).catch((x: unknown) => x)) as NodeJS.ErrnoException & { port: number };
    expect(e.code).to.equal('ECONNREFUSED');
    expect(e.message).to.equal('connect ECONNREFUSED 127.0.0.1:8099');
    const l = await a.sys.socket('stream');
    await a.sys.bind(l, inet('127.0.0.1', 8081));
    await a.sys.listen(l, 1);
    const n = (await a.sys.accept(l, { nonblock: true }).catch((x: unknown) => x)) as { code: string };
    expect(n.code).to.equal('EAGAIN');
    await a.close();
  });
});
