import { expect } from 'chai';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { RumpConnection } from '@rumpnet/client';
import { RumpListener } from '../../src/session/index.js';
import { cleanupDirs, startServer, tmpSock } from './helpers.js';
import { createMemfile } from './memfile.js';

const params = { mclbytes: 2048, mclnum: 1, rxMode: 'per-mbuf' } as const;

describe('listener: the socket file', () => {
  after(() => cleanupDirs());

  it('is created with mode 0600 and removed on close', async () => {
    const srv = await startServer();
    const path = (srv.listener.address as { path: string }).path;
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(statSync(path).isSocket()).to.equal(true);
    await srv.listener.close();
    expect(existsSync(path)).to.equal(false);
  });

  it('can be widened on request', async () => {
    const srv = await startServer(undefined, undefined, { mode: 0o660 });
    expect(statSync((srv.listener.address as { path: string }).path).mode & 0o777).to.equal(0o660);
    await srv.listener.close();
  });

  it('a stale socket file (nobody answers) is replaced', async () => {
    const path = tmpSock();
    // A server killed with SIGKILL leaves its socket file behind, with nobody listening.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`], { timeout: 10_000 });
    expect(existsSync(path)).to.equal(true);
    const srv = await startServer(undefined, undefined, undefined, path);
    const c = await RumpConnection.connect(path);
    await c.call('null', {});
    await c.close();
    await srv.listener.close();
  });

  it('a live server on the path is not disturbed: EADDRINUSE', async () => {
    const srv = await startServer();
    const path = (srv.listener.address as { path: string }).path;
    const err = (await startServer(undefined, undefined, undefined, path).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).to.equal('EADDRINUSE');
    const c = await RumpConnection.connect(path);
    await c.call('null', {});
    await c.close();
    await srv.listener.close();
  });

  it('a path that is not a socket is never deleted: EEXIST', async () => {
    const path = tmpSock('precious.txt');
    writeFileSync(path, 'keep me');
    const err = (await startServer(undefined, undefined, undefined, path).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).to.equal('EEXIST');
    expect(readFileSync(path, 'utf8')).to.equal('keep me');
  });

  it('closing the listener disconnects clients and runs their close hooks', async () => {
    const srv = await startServer();
    const c = await RumpConnection.connect(srv.url);
    const id = c.params.session;
    const closed = new Promise((r) => c.once('close', r));
    await srv.listener.close();
    await closed;
    expect(srv.mem.closedSessions).to.deep.equal([id]);
    expect(c.connected).to.equal(false);
  });

  it('refuses a handler without a schema at start', async () => {
    const mem = createMemfile(params);
    const err = await RumpListener.listen(tmpSock(), {
      handlers: { ...mem.handlers, mystery: async () => ({}) },
      schemas: mem.schemas,
      params,
    }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TypeError);
  });
});

describe('listener: TCP only when asked, only on loopback', () => {
  it('serves tcp://127.0.0.1 with an ephemeral port', async () => {
    const mem = createMemfile(params);
    const l = await RumpListener.listen('tcp://127.0.0.1:0', { handlers: mem.handlers, schemas: mem.schemas, params });
    expect(l.url).to.match(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const c = await RumpConnection.connect(l.url);
    const data = Buffer.alloc(10_000, 7);
    await c.call('write', { fd: 1, len: data.length }, { buffers: { buf: data } });
    expect(c.counters.copyinRequests).to.equal(5);
    await c.close();
    await l.close();
  });

  it('refuses a non-loopback address', async () => {
    const mem = createMemfile(params);
    const err = (await RumpListener.listen('tcp://0.0.0.0:0', { handlers: mem.handlers, schemas: mem.schemas, params }).catch(
      (e: unknown) => e,
    )) as NodeJS.ErrnoException;
    expect(err.code).to.equal('EACCES');
  });
});
