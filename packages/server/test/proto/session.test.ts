import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { RumpConnection, RumpProtocolError, inet } from '@rumpnet/client';
import { MsgClass, MsgType } from '../../src/proto/index.js';
import { cleanupDirs, rawClient, sleep, startServer, tmpSock, type TestServer } from './helpers.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('session: handshake', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ mclbytes: 4096, mclnum: 4, rxMode: 'coalesced' }, { copyinTimeoutMs: 1234 });
  });
  after(async () => {
    await srv.listener.close();
    cleanupDirs();
  });

  it('reports the stack parameters and limits to the client', async () => {
    const c = await RumpConnection.connect(srv.url, { name: 'test-client' });
    try {
      expect(c.params).to.include({ version: 1, mclbytes: 4096, mclnum: 4, rxMode: 'coalesced' });
      expect(c.params.software).to.equal('rump-server/0.1.0');
      expect(c.params.limits.copyinTimeoutMs).to.equal(1234);
      const s = srv.listener.sessions.find((x) => x.id === c.params.session)!;
      expect(s.peer).to.deep.include({ pid: process.pid, name: 'test-client', version: 1 });
    } finally {
      await c.close();
    }
  });

  it('a client of another version fails clearly at the banner', async () => {
    const err = await RumpConnection.connect(srv.url, { protocolVersion: 2 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RumpProtocolError);
    expect((err as RumpProtocolError).code).to.equal('ERR_RUMP_VERSION');
    expect((err as Error).message).to.match(/server rump-server\/0\.1\.0 speaks 1, this client speaks 2/);
  });

  it('the server refuses a handshake of another version with an ERROR and disconnects', async () => {
    const raw = await rawClient(srv.listener.address.kind === 'unix' ? srv.listener.address.path : '', { version: 7 });
    const f = raw.frames.find((x) => x.meta.reqno === 1)!;
    expect(f.meta.cls).to.equal(MsgClass.ERROR);
    expect(f.meta.head).to.deep.include({ code: 'version', server: 1, client: 7 });
    await raw.closed;
    const ok = await RumpConnection.connect(srv.url);
    await ok.call('null', {});
    await ok.close();
  });

  it('connecting where no server listens gives a Node-shaped ENOENT', async () => {
    const path = tmpSock('nobody.sock');
    const err = (await RumpConnection.connect(`unix://${path}`).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).to.equal('ENOENT');
    expect(err.syscall).to.equal('connect');
    expect(err.message).to.equal(`connect ENOENT ${path}`);
  });

  it('with a retry policy, connects once the server comes up', async () => {
    const path = tmpSock('late.sock');
    let late: TestServer | undefined;
    const t = setTimeout(() => void startServer(undefined, undefined, undefined, path).then((s) => (late = s)), 150);
    try {
      const c = await RumpConnection.connect(path, { retry: { attempts: 40, intervalMs: 25 } });
      await c.call('null', {});
      await c.close();
    } finally {
      clearTimeout(t);
      await late?.listener.close();
    }
  });

  it('RUMP_SERVER is the default URL', async () => {
    const old = process.env.RUMP_SERVER;
    process.env.RUMP_SERVER = srv.url;
    try {
      const c = await RumpConnection.connect();
      expect(c.params.mclnum).to.equal(4);
      await c.close();
    } finally {
      if (old === undefined) delete process.env.RUMP_SERVER;
      else process.env.RUMP_SERVER = old;
    }
  });
});

describe('session: calls', () => {
  let srv: TestServer;
  let c: RumpConnection;
  before(async () => {
    srv = await startServer();
    c = await RumpConnection.connect(srv.url);
  });
  after(async () => {
    await c.close();
    await srv.listener.close();
    cleanupDirs();
  });

  it('serves many calls while one is blocked', async () => {
    const blocked = c.call<{ released: boolean }>('block', { key: 'accept-like' });
    let done = false;
    void blocked.then(() => (done = true));
    const results = await Promise.all(Array.from({ length: 100 }, () => c.call('null', {})));
    expect(results).to.have.length(100);
    expect(done).to.equal(false);
    expect(c.inFlight).to.equal(1);
    await c.call('release', { key: 'accept-like' });
    expect(await blocked).to.deep.equal({ released: true });
    expect(c.inFlight).to.equal(0);
  });

  it('an errno comes back as a Node-shaped error with host and port', async () => {
    const err = (await c
      .call('fail', { errno: 111, addr: inet('10.0.0.2', 80) }, { syscall: 'connect' })
      .catch((e: unknown) => e)) as NodeJS.ErrnoException & { address: string; port: number };
    expect(err.message).to.equal('connect ECONNREFUSED 10.0.0.2:80');
    expect(err).to.include({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '10.0.0.2', port: 80 });
    expect(c.counters.errors).to.be.greaterThan(0);
  });

  it('a known syscall without a handler gives ENOSYS', async () => {
    const err = (await c.call('unimplemented', {}).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).to.equal('ENOSYS');
  });

  it('a handler bug gives an ERROR for that call only', async () => {
    const err = await c.call('crash', {}).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RumpProtocolError);
    expect((err as Error).message).to.match(/internal error in crash/);
    await c.call('null', {});
  });

  it('a reply whose head would exceed MAX_HEAD fails that call with E2BIG; the session lives on', async () => {
    const oversize = (): number => srv.listener.sessions.reduce((n, s) => n + s.counters.oversizeReplies, 0);
    const before = oversize();
    const err = (await c.call('huge', { rows: 2000 }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).to.equal('E2BIG');
    expect(((await c.call('huge', { rows: 10 })) as { rows: unknown[] }).rows).to.have.length(10);
    await c.call('null', {});
    expect(oversize()).to.equal(before + 1);
  });

  it('the client checks contract arguments before sending', async () => {
    const err = (await c.call('close', { fd: 'three' }).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).to.equal('ERR_INVALID_ARG_VALUE');
  });

  it('a client disconnecting mid-call runs the session close hook and aborts its handler', async () => {
    const d = await RumpConnection.connect(srv.url);
    const id = d.params.session;
    const pending = d.call('block', { key: 'dies' }).catch((e: unknown) => e);
    for (let i = 0; i < 200 && !srv.mem.blocked.has('dies'); i++) await sleep(5);
    expect(srv.mem.blocked.has('dies')).to.equal(true);
    await d.close();
    expect(await pending).to.be.instanceOf(RumpProtocolError);
    const session = srv.listener.sessions.find((s) => s.id === id);
    if (session) await session.closed;
    expect(srv.mem.closedSessions).to.include(id);
    expect(srv.mem.blocked.has('dies')).to.equal(false);
  });
});

describe('session: copies', () => {
  const data = randomBytes(MiB);
  const cases = [
    { mclbytes: 2048, mclnum: 1, expect: 512 },
    { mclbytes: 2048, mclnum: 16, expect: 32 },
    { mclbytes: 4096, mclnum: 1, expect: 256 },
    { mclbytes: 4096, mclnum: 16, expect: 16 },
  ];
  after(() => cleanupDirs());

  for (const k of cases) {
    it(`1 MiB with MCLBYTES ${k.mclbytes}, MCLNUM ${k.mclnum} takes ${k.expect} COPYIN requests, data intact`, async () => {
      const srv = await startServer({ mclbytes: k.mclbytes, mclnum: k.mclnum, rxMode: 'per-mbuf' });
      const c = await RumpConnection.connect(srv.url);
      try {
        const r = await c.call<{ bytes: number }>('write', { fd: 1, len: data.length }, { buffers: { buf: data } });
        expect(r.bytes).to.equal(MiB);
        const session = srv.listener.sessions[0]!;
        expect(session.counters.copyinRequests).to.equal(k.expect);
        expect(session.counters.copyinBytes).to.equal(MiB);
        expect(c.counters.copyinRequests).to.equal(k.expect);
        expect(c.counters.copyinBytes).to.equal(MiB);
        if (k.mclbytes === 2048 && k.mclnum === 16) expect(session.counters.copyinRequests).to.be.at.most(32);
        const st = await c.call<{ size: number; sha256: string }>('stat', { fd: 1 });
        expect(st).to.deep.equal({ size: MiB, sha256: sha(data) });
        expect(c.registeredBuffers).to.equal(0);
      } finally {
        await c.close();
        await srv.listener.close();
      }
    });
  }

  for (const rxMode of ['per-mbuf', 'coalesced'] as const) {
    it(`reads 1 MiB back with COPYOUT ${rxMode === 'per-mbuf' ? 'once per mbuf (512)' : 'once per call'}, data intact`, async () => {
      const srv = await startServer({ mclbytes: 2048, mclnum: 16, rxMode });
      const c = await RumpConnection.connect(srv.url);
      try {
        await c.call('write', { fd: 2, len: data.length }, { buffers: { buf: data } });
        const into = Buffer.alloc(MiB + 100);
        const r = await c.call<{ bytes: number }>('read', { fd: 2, len: into.length }, { buffers: { buf: into } });
        expect(r.bytes).to.equal(MiB);
        expect(sha(into.subarray(0, MiB))).to.equal(sha(data));
        const s = srv.listener.sessions[0]!;
        expect(s.counters.copyoutRequests).to.equal(rxMode === 'per-mbuf' ? 512 : 1);
        expect(c.counters.copyoutRequests).to.equal(s.counters.copyoutRequests);
        expect(c.counters.copyoutBytes).to.equal(MiB);
      } finally {
        await c.close();
        await srv.listener.close();
      }
    });
  }

  it('a COPYIN outside the registered buffer is refused by the client: EFAULT', async () => {
    const srv = await startServer();
    const c = await RumpConnection.connect(srv.url);
    try {
      const buf = Buffer.from('0123456789');
      expect(await c.call('peek', { off: 2, len: 3 }, { buffers: { buf } })).to.deep.equal({ hex: Buffer.from('234').toString('hex') });
      const err = (await c.call('peek', { off: 8, len: 3 }, { buffers: { buf } }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(err.code).to.equal('EFAULT');
      expect(srv.listener.sessions[0]!.counters.copyinRefused).to.equal(1);
      expect(c.counters.copyFaults).to.equal(1);
    } finally {
      await c.close();
      await srv.listener.close();
    }
  });

  it('PING round-trips', async () => {
    const srv = await startServer();
    const raw = await rawClient(srv.listener.address.kind === 'unix' ? srv.listener.address.path : '');
    raw.send(MsgClass.REQ, MsgType.PING, 5, undefined);
    const f = await raw.next((x) => x.meta.reqno === 5);
    expect(f.meta.cls).to.equal(MsgClass.RESP);
    raw.sock.destroy();
    await srv.listener.close();
  });
});
