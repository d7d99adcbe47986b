/**
 * peerCred: SO_PEERCRED/SO_PEERGROUPS through the addon, on a real Unix
 * socket connection made by this process (and by a child, whose pid differs):
 * the kernel's own record of who connected.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TapError, peerCred, peerCredOf, socketFd } from '../src/index.js';

/** Listens on a fresh Unix socket; resolves with the server and its path. */
async function unixServer(dir: string): Promise<{ server: net.Server; path: string; accepted: Promise<net.Socket> }> {
  const path = join(dir, 's.sock');
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(path, r));
  return { server, path, accepted };
}

describe('tap-bridge: peerCred (SO_PEERCRED)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rn-cred-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads our own uid, gid, pid and groups on both ends of a Unix connection', async () => {
    const { server, path, accepted } = await unixServer(dir);
    const c = net.connect(path);
    await new Promise((r) => c.once('connect', r));
    const s = await accepted;
    try {
      for (const sock of [s, c]) {
        const cred = peerCredOf(sock);
        expect(cred.pid).to.equal(process.pid);
        expect(cred.uid).to.equal(process.getuid!());
        expect(cred.gid).to.equal(process.getgid!());
        // SO_PEERGROUPS exists since Linux 4.13; where it does, it is what getgroups(2)
        // says (Node's process.getgroups() adds the effective gid to that list).
        if (cred.groups !== null) {
          const want = new Set(process.getgroups!());
          if (!cred.groups.includes(cred.gid)) want.delete(cred.gid);
          expect([...cred.groups].sort()).to.deep.equal([...want].sort());
        }
      }
    } finally {
      c.destroy();
      s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('names the connecting process, not the listening one', async () => {
    const { server, path, accepted } = await unixServer(dir);
    const child = spawn(process.execPath, ['-e', `const s = require('net').connect(${JSON.stringify(path)}); s.on('data', () => process.exit(0)); setTimeout(() => process.exit(3), 10000)`]);
    try {
      const s = await accepted;
      const cred = peerCredOf(s);
      expect(cred.pid).to.equal(child.pid);
      expect(cred.pid).to.not.equal(process.pid);
      expect(cred.uid).to.equal(process.getuid!());
      s.end('bye');
      const code = await new Promise((r) => child.once('exit', r));
      expect(code).to.equal(0);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses a TCP socket (ENOTSUP), a bad descriptor (EBADF) and a destroyed socket, with TapErrors', async () => {
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    const s = await accepted;
    try {
      expect(() => peerCredOf(s)).to.throw(TapError, /not a Unix domain socket/).with.property('code', 'ENOTSUP');
      expect(() => peerCred(-1)).to.throw(TapError).with.property('code', 'EBADF');
      expect(() => peerCred(987654)).to.throw(TapError).with.property('code', 'EBADF');
      c.destroy();
      s.destroy();
      expect(() => socketFd(s)).to.throw(TapError, /no file descriptor/).with.property('code', 'EBADF');
    } finally {
      c.destroy();
      s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
