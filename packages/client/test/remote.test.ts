/**
 * The client in this process against a rump server in another process (the
 * server package's memfile test server, spawned with `node --import tsx`).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IoVec, RumpConnection, RumpProtocolError, inet } from '../src/index.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const fixture = join(root, 'packages/server/test/proto/fixtures/memfile-server.ts');
const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Listener {
  url: string;
  mclbytes: number;
  mclnum: number;
  rxMode: 'per-mbuf' | 'coalesced';
}

/** Spawns the server process; resolves once it printed READY. */
export async function spawnServer(listeners: Listener[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify({ listeners })], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start in 15 s')), 15_000);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('READY')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`server exited with ${code}`));
    });
  });
  return child;
}

/** Stops a spawned server and waits for it to exit. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

describe('client against a server in another process', function () {
  this.timeout(30_000);
  let dir: string;
  let server: ChildProcess;
  let plain: string;
  let batched: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rumpnet-client-'));
    plain = `unix://${join(dir, 'plain.sock')}`;
    batched = `unix://${join(dir, 'batched.sock')}`;
    server = await spawnServer([
      { url: plain, mclbytes: 2048, mclnum: 1, rxMode: 'per-mbuf' },
      { url: batched, mclbytes: 2048, mclnum: 16, rxMode: 'coalesced' },
    ]);
  });
  after(async () => {
    if (server) await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends 1 MiB with 512 COPYIN requests at MCLNUM 1 and 32 at MCLNUM 16, sha256 intact', async () => {
    const data = randomBytes(MiB);
    for (const [url, want] of [[plain, 512], [batched, 32]] as const) {
      const c = await RumpConnection.connect(url);
      try {
        const fd = await c.sys.socket('stream');
        expect(await c.sys.send(fd, data)).to.equal(MiB);
        const stats = await c.call<{ copyinRequests: number; copyinBytes: number }>('stats', {});
        expect(stats.copyinRequests).to.equal(want);
        expect(stats.copyinBytes).to.equal(MiB);
        expect(c.counters.copyinRequests).to.equal(want);
        expect(await c.call('stat', { fd })).to.deep.equal({ size: MiB, sha256: sha(data) });
        await c.sys.close(fd);
      } finally {
        await c.close();
      }
    }
  });

  it('sends a gather list (IoVec) as one call: COPYINs answered from the pieces, bytes intact; a receive into one is EFAULT', async () => {
    const pieces = [randomBytes(1000), Buffer.alloc(0), randomBytes(70_000), randomBytes(5), randomBytes(60_000)];
    const whole = Buffer.concat(pieces);
    for (const [url, want] of [[plain, Math.ceil(whole.length / 2048)], [batched, Math.ceil(whole.length / (16 * 2048))]] as const) {
      const c = await RumpConnection.connect(url);
      try {
        const fd = await c.sys.socket('stream');
        const r = await c.call<{ bytes: number }>('sendto', { fd, buf: 0, len: whole.length, flags: 0 }, { buffers: { buf: new IoVec(pieces) }, inline: false });
        expect(r.bytes).to.equal(whole.length);
        expect(c.counters.syscalls).to.equal(2); // socket, sendto
        expect(c.counters.copyinRequests).to.equal(want);
        expect(c.counters.copyinBytes).to.equal(whole.length);
        expect(await c.call('stat', { fd })).to.deep.equal({ size: whole.length, sha256: sha(whole) });
        // A receive into a gather list: the client refuses the copy out, the call fails EFAULT, nothing leaks.
        const faults = c.counters.copyFaults;
        const err = await c.call('recvfrom', { fd, buf: 0, len: 4096, flags: 0 }, { buffers: { buf: new IoVec([Buffer.alloc(4096)]) } }).then(() => null, (e: unknown) => e);
        expect((err as NodeJS.ErrnoException | null)?.code).to.equal('EFAULT');
        expect(c.counters.copyFaults).to.be.above(faults); // one per COPYOUT refused (per mbuf: several)
        expect(c.registeredBuffers).to.equal(0);
        await c.sys.close(fd);
      } finally {
        await c.close();
      }
    }
  });

  it('receives with COPYOUT per mbuf or coalesced into the caller buffer', async () => {
    const data = randomBytes(100_000);
    for (const [url, want] of [[plain, Math.ceil(100_000 / 2048)], [batched, 1]] as const) {
      const c = await RumpConnection.connect(url);
      try {
        const fd = await c.sys.socket('stream');
        await c.sys.send(fd, data);
        const buf = Buffer.alloc(200_000);
        expect(await c.sys.recv(fd, buf)).to.equal(100_000);
        expect(buf.subarray(0, 100_000).equals(data)).to.equal(true);
        expect(c.counters.copyoutRequests).to.equal(want);
        expect(await c.sys.recv(fd, buf)).to.equal(0);
      } finally {
        await c.close();
      }
    }
  });

  it('keeps many calls in flight while one blocks', async () => {
    const c = await RumpConnection.connect(batched);
    try {
      const blocked = c.call('block', { key: 'remote' });
      const fds = await Promise.all(Array.from({ length: 50 }, () => c.sys.socket('dgram')));
      expect(new Set(fds).size).to.equal(50);
      expect(c.inFlight).to.equal(1);
      await c.call('release', { key: 'remote' });
      expect(await blocked).to.deep.equal({ released: true });
    } finally {
      await c.close();
    }
  });

  it('errors from the wrappers are Node-shaped', async () => {
    const c = await RumpConnection.connect(plain);
    try {
      const fd = await c.sys.socket('stream');
      const err = (await c.sys.connect(fd, inet('10.0.0.2', 80)).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(err.message).to.equal('connect ECONNREFUSED 10.0.0.2:80');
      expect(err).to.include({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '10.0.0.2', port: 80 });
      const bad = (await c.sys.close(999).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(bad.message).to.equal('close EBADF');
      const nosys = (await c.sys.listen(fd).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(nosys.code).to.equal('ENOSYS');
      expect(await c.sys.getsockname(fd)).to.deep.equal({ family: 'inet', address: '127.0.0.1', port: 1000 + fd });
    } finally {
      await c.close();
    }
  });

  for (const code of ['EPIPE', 'ECONNRESET'] as const) {
    it(`a transport error (${code}) under calls in flight fails them with ERR_RUMP_CLOSED, as the server's close does`, async () => {
      const c = await RumpConnection.connect(batched);
      try {
        const pending = c.call('block', { key: `transport-${code}` }).catch((e: unknown) => e);
        const closed = new Promise<unknown>((r) => c.once('close', r));
        // What a write racing the server's death produces: 'error' before 'close'.
        const sock = (c as unknown as { socket: import('node:net').Socket }).socket;
        sock.destroy(Object.assign(new Error(`write ${code}`), { code, syscall: 'write' }));
        const err = (await pending) as RumpProtocolError;
        expect(err).to.be.instanceOf(RumpProtocolError);
        expect(err.code).to.equal('ERR_RUMP_CLOSED');
        expect((err.cause as NodeJS.ErrnoException).code).to.equal(code);
        expect(await closed).to.equal(err);
        // Calls after it fail the same way (no reconnect asked for).
        const after = (await c.sys.socket('stream').catch((e: unknown) => e)) as RumpProtocolError;
        expect(after).to.be.instanceOf(RumpProtocolError);
        expect(after.code).to.equal('ERR_RUMP_CLOSED');
      } finally {
        await c.close();
      }
    });
  }

  it('when the server dies, calls in flight fail and a reconnecting client comes back', async () => {
    const url = `unix://${join(dir, 'phoenix.sock')}`;
    let phoenix = await spawnServer([{ url, mclbytes: 2048, mclnum: 4, rxMode: 'per-mbuf' }]);
    const c = await RumpConnection.connect(url, { reconnect: true, retry: { attempts: 200, intervalMs: 50 } });
    try {
      const pending = c.call('block', { key: 'dies' }).catch((e: unknown) => e);
      const closed = new Promise((r) => c.once('close', r));
      await stopServer(phoenix);
      expect(await pending).to.be.instanceOf(RumpProtocolError);
      await closed;
      expect(c.connected).to.equal(false);
      const reconnected = new Promise((r) => c.once('reconnect', r));
      const respawn = spawnServer([{ url, mclbytes: 2048, mclnum: 4, rxMode: 'per-mbuf' }]);
      const fd = await c.sys.socket('stream'); // waits for the new server through the retry policy
      phoenix = await respawn;
      await reconnected;
      expect(fd).to.equal(3); // a fresh server: descriptors start over, as after a rump server restart
    } finally {
      await c.close();
      await stopServer(phoenix);
    }
  });
});
