/**
 * The namespace harness itself: creation, commands inside, peers killed and
 * namespaces deleted on destroy — also after a thrown error, an uncaught
 * exception or SIGINT in the process that owns them.
 */
import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Netns, NetnsError, canUseNetns } from '../src/index.js';
import { waitFor } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/netns-child.ts', import.meta.url));

function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** Runs the fixture in a child process; resolves with its stdout and how it ended. */
function child(args: string[], onLine?: (line: string, kill: (s: NodeJS.Signals) => void) => void) {
  const c = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const line of d.split('\n')) if (line) onLine?.(line, (s) => c.kill(s));
  });
  c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const timer = setTimeout(() => c.kill('SIGKILL'), 15000);
  return new Promise<{ out: string; err: string; code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    c.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ out, err, code, signal });
    }),
  );
}

describe('tap-bridge: Netns harness', function () {
  this.timeout(20000);
  before(function () {
    const can = canUseNetns();
    if (!can.ok) this.skip();
  });
  after(() => {
    // Nothing of this process may remain.
    if (canUseNetns().ok) expect(netnsList().filter((n) => n.includes(`-${process.pid}-`))).to.deep.equal([]);
  });

  it('creates a uniquely named namespace with only lo, up', async () => {
    const ns = await Netns.create({ prefix: 'unit' });
    try {
      expect(ns.name).to.match(new RegExp(`^rn-unit-${process.pid}-[0-9a-f]{6}$`));
      expect(netnsList()).to.include(ns.name);
      const links = JSON.parse(await ns.ip('-j', 'link', 'show')) as Array<{ ifname: string; flags: string[] }>;
      expect(links.map((l) => l.ifname)).to.deep.equal(['lo']);
      expect(links[0]!.flags).to.include('UP');
      // No route leads out of it: only lo's.
      expect((await ns.ip('-4', 'route', 'show')).trim()).to.equal('');
      expect(Netns.live()).to.include(ns);
    } finally {
      await ns.destroy();
    }
    expect(netnsList()).to.not.include(ns.name);
    expect(Netns.live()).to.not.include(ns);
  });

  it('runs commands inside: output, exit codes, check, timeouts', async () => {
    const ns = await Netns.create({ prefix: 'exec' });
    try {
      const r = await ns.exec('sh', ['-c', 'echo hi; echo err >&2; exit 3']);
      expect(r).to.include({ stdout: 'hi\n', stderr: 'err\n', code: 3, timedOut: false });
      expect(await ns.check('cat', [], { input: 'in' })).to.equal('in');
      let e: unknown;
      await ns.check('sh', ['-c', 'echo nope >&2; exit 1']).catch((x: unknown) => (e = x));
      expect(e).to.be.instanceOf(NetnsError);
      expect((e as Error).message).to.match(/exit 1: nope/);
      const t = await ns.exec('sleep', ['10'], { timeoutMs: 100 });
      expect(t.timedOut).to.equal(true);
      expect(t.signal).to.equal('SIGKILL');
    } finally {
      await ns.destroy();
    }
  });

  it('destroys the namespace, its taps and its peers even when the test throws', async () => {
    let ns: Netns | undefined;
    let peerExit: Promise<unknown> | undefined;
    let caught: unknown;
    try {
      ns = await Netns.create({ prefix: 'throw' });
      await ns.addTap('rnx0', { linuxAddr: '10.200.0.1/24' });
      const peer = ns.spawn('sleep', ['60']);
      peerExit = new Promise((r) => peer.once('exit', (_c, s) => r(s)));
      throw new Error('the test failed');
    } catch (e) {
      caught = e;
    } finally {
      await ns?.destroy();
    }
    expect((caught as Error).message).to.equal('the test failed');
    expect(await peerExit).to.equal('SIGTERM');
    expect(netnsList()).to.not.include(ns!.name);
    await ns!.destroy(); // idempotent
    expect(ns!.destroyed).to.equal(true);
    expect(() => ns!.exec('true')).to.throw(NetnsError, /destroyed/);
  });

  it('adds a tap whose Linux side has the address, up, without IPv6', async () => {
    const ns = await Netns.create({ prefix: 'tap' });
    try {
      const t = await ns.addTap('rny0', { linuxAddr: '10.201.0.1/24', mtu: 4000, linuxMac: '02:12:34:56:78:9a' });
      expect(t).to.deep.equal({ name: 'rny0', linuxIp: '10.201.0.1', prefixLen: 24, linuxMac: '02:12:34:56:78:9a' });
      const l = await ns.link('rny0');
      expect(l.mtu).to.equal(4000);
      expect(l.flags).to.include('UP');
      expect(await ns.ip('-4', 'addr', 'show', 'dev', 'rny0')).to.include('10.201.0.1/24');
      expect((await ns.ip('-6', 'addr', 'show', 'dev', 'rny0')).trim()).to.equal('');
    } finally {
      await ns.destroy();
    }
  });

  it('runs a Node process inside, which attaches to the tap by name', async () => {
    const ns = await Netns.create({ prefix: 'node' });
    try {
      await ns.addTap('rnz0', { linuxAddr: '10.202.0.1/24', mtu: 1400 });
      const c = ns.spawnNode(CHILD, ['inside', 'rnz0']);
      let out = '';
      c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      const code = await new Promise((r) => c.once('close', r));
      expect(code).to.equal(0);
      expect(out).to.include('ifs lo,rnz0\n');
      expect(out).to.include('tap rnz0 1400 true\n');
    } finally {
      await ns.destroy();
    }
  });

  it('deletes namespaces of a process that dies of an uncaught exception', async () => {
    const r = await child(['throw']);
    const name = /ns (\S+)/.exec(r.out)?.[1];
    expect(name, r.err).to.be.a('string');
    expect(r.code).to.equal(1);
    expect(r.err).to.include('boom');
    expect(netnsList()).to.not.include(name);
  });

  it('deletes namespaces on SIGINT, and the process still dies of SIGINT', async () => {
    const r = await child(['wait'], (line, kill) => {
      if (line.startsWith('ns ')) kill('SIGINT');
    });
    const name = /ns (\S+)/.exec(r.out)?.[1];
    expect(name, r.err).to.be.a('string');
    expect(r.signal).to.equal('SIGINT');
    await waitFor(() => !netnsList().includes(name!), 2000, 'the namespace to go');
  });
});
