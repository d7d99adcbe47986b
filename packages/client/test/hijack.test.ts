/**
 * The hijack (`node --import @rumpnet/client/hijack app.js`, and `--require`
 * for CommonJS): UNMODIFIED programs from ./fixtures run with their
 * `net`/`http`/`dgram` sockets on the rump stack. Proof that the traffic went
 * through the rump server and not through Linux: the server's own counters
 * move, a native Linux client on 127.0.0.1 cannot reach the program's
 * listener while a rump client can, and the program still exits by itself
 * (the shared connection does not keep it alive).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { createConnection, createSocket, installHijack, uninstallHijack, Socket, DgramSocket, closeSharedConnections } from '../src/index.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';
import { startFakeKern, type FakeKern } from './fixtures/fakekern.js';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const built = here('../dist/src/hijack-register.js');
const source = here('../src/hijack-register.ts');
/** The built hijack when it is up to date; else the source through tsx (ESM `--import` only). */
const newestSource = Math.max(...readdirSync(here('../src')).map((f) => statSync(here(`../src/${f}`)).mtimeMs));
// tsc -b leaves an output file alone when its text is unchanged, so the build's
// own tsconfig.tsbuildinfo tells the time of the last build too.
const lastBuild = Math.max(...[built, here('../dist/tsconfig.tsbuildinfo')].map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
const builtFresh = existsSync(built) && lastBuild >= newestSource;
const importArgs = builtFresh ? ['--import', built] : ['--import', 'tsx', '--import', source];

/** A port free on the host right now (so a native connect to it is refused by Linux). */
async function freeHostPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first line starting with `prefix` (bounded by `ms`). */
  line(prefix: string, ms?: number): Promise<string>;
  exit: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  let err = '';
  const waiters: (() => void)[] = [];
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    lines,
    exit,
    line(prefix, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no '${prefix}' line in ${ms} ms; stdout ${JSON.stringify(lines)} stderr ${err}`)), ms);
        const check = (): void => {
          const l = lines.find((x) => x.startsWith(prefix));
          if (l !== undefined) {
            clearTimeout(t);
            resolve(l);
          } else waiters.push(check);
        };
        check();
        void exit.then(() => setTimeout(check, 0));
      });
    },
  };
}

/** A native (Linux) TCP connect; resolves with the error code, or 'connected'. */
function nativeConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve('connected')));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

describe('hijack: unmodified programs on the rump stack (fake kernel)', function () {
  this.timeout(30_000);
  let kern: FakeKern;
  before(async () => {
    kern = await startFakeKern();
  });
  after(async () => {
    await kern.close();
  });

  it(`node ${builtFresh ? '--import <built hijack>' : '--import tsx --import <hijack source>'} app.mjs: http server + http.get + dgram + net, ESM named imports`, async () => {
    const port = await freeHostPort();
    const before = { ...kern.counters };
    const app = run([...importArgs, here('./fixtures/hijack-app.mjs'), String(port)], { RUMP_SERVER: kern.url });
    expect(await app.line('LISTENING')).to.equal(`LISTENING ${port}`);
    // Linux has no listener on that port: the program's server lives in the rump server...
    expect(await nativeConnect(port)).to.equal('ECONNREFUSED');
    // ...where a rump client reaches it.
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', createConnection: ((o: never) => createConnection({ ...(o as object), rumpServer: kern.url } as never)) as never }, (res) => {
          let b = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (b += c));
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    expect(body).to.equal('hello 127.0.0.1');
    app.proc.stdin!.end('go\n');
    const result = JSON.parse(await app.line('{')) as { http: { status: number; ok: boolean }; udp: string; tcp: string };
    expect(result).to.deep.equal({ http: { ...result.http, status: 200, ok: true }, udp: 'echo:ping', tcp: 'line over net' });
    expect(await app.exit).to.equal(0); // and it exited by itself: nothing of ours kept it alive
    expect(kern.counters.connects - before.connects).to.be.at.least(3); // our GET, its http.get, its net.connect
    expect(kern.counters.datagrams - before.datagrams).to.equal(2); // ping and its echo
    const t0 = Date.now();
    while (kern.openFds() !== 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
    expect(kern.openFds()).to.equal(0);
    await closeSharedConnections();
  });

  it('node --require <built hijack> app.cjs: a CommonJS http program', async function () {
    if (!builtFresh) {
      console.log('      skipped: --require needs the built hijack (npm run build)');
      this.skip();
    }
    const port = await freeHostPort();
    const app = run(['--require', built, here('./fixtures/hijack-app.cjs'), String(port)], { RUMP_SERVER: kern.url });
    await app.line('LISTENING');
    expect(await nativeConnect(port)).to.equal('ECONNREFUSED');
    app.proc.stdin!.end('go\n');
    expect(JSON.parse(await app.line('{'))).to.deep.equal({ status: 200, body: 'hello 127.0.0.1 via /cjs' });
    expect(await app.exit).to.equal(0);
  });

  it('refuses to start without RUMP_SERVER, with a clear message', async () => {
    const env = { ...process.env };
    delete env.RUMP_SERVER;
    const app = spawn(process.execPath, [...importArgs, '-e', 'console.log("ran")'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    app.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    app.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = await once(app, 'exit');
    expect(code).to.not.equal(0);
    expect(out).to.include('set RUMP_SERVER');
    expect(out).to.not.include('ran');
  });

  it('installHijack patches the builtins (and their ESM named exports); uninstallHijack restores them', async () => {
    const orig = { createConnection: net.createConnection, Socket: net.Socket, createSocket: dgram.createSocket, isIP: net.isIP };
    const saved = process.env.RUMP_SERVER;
    installHijack({ rumpServer: kern.url });
    try {
      const esm = await import('node:net');
      expect(esm.createConnection).to.not.equal(orig.createConnection);
      expect(esm.isIP).to.equal(orig.isIP); // helpers without I/O are not touched
      const s = new esm.Socket();
      expect(s).to.be.instanceOf(Socket);
      expect(s).to.be.instanceOf(esm.Socket);
      s.destroy();
      const d = dgram.createSocket('udp4');
      expect(d).to.be.instanceOf(DgramSocket);
      d.close();
      // udp6 goes to the rump stack too (it speaks IPv6); host objects stay Node's.
      const u6 = dgram.createSocket('udp6');
      expect(u6).to.be.instanceOf(DgramSocket);
      expect((u6 as unknown as DgramSocket).type).to.equal('udp6');
      u6.close();
      expect(() => dgram.createSocket('udp5' as 'udp6')).to.throw(TypeError).with.property('code', 'ERR_SOCKET_BAD_TYPE');
    } finally {
      uninstallHijack();
      if (saved === undefined) delete process.env.RUMP_SERVER;
      else process.env.RUMP_SERVER = saved;
    }
    const esm = await import('node:net');
    expect(esm.createConnection).to.equal(orig.createConnection);
    expect(net.Socket).to.equal(orig.Socket);
    expect(dgram.createSocket).to.equal(orig.createSocket);
    await closeSharedConnections();
  });
});

describe('hijack: an unmodified dgram program through the rump-server daemon', function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noUdp) {
      console.log(`      skipped: ${daemon.noUdp}`);
      this.skip();
    }
  });
  after(async () => {
    await closeSharedConnections();
    await daemon?.stop();
  });

  it('its UDP port is on the rump stack: a native datagram never arrives, a rump one is answered', async () => {
    const port = await freeHostPort();
    const app = run([...importArgs, here('./fixtures/hijack-udp.mjs'), String(port)], { RUMP_SERVER: daemon.url });
    expect(await app.line('BOUND')).to.equal(`BOUND ${port}`);
    // First a native datagram to 127.0.0.1:port: Linux has nobody there.
    const native = dgram.createSocket('udp4');
    await new Promise<void>((r) => native.send('native', port, '127.0.0.1', () => r()));
    native.close();
    // Then one through the rump server: the program answers it.
    const rump = createSocket({ type: 'udp4', rumpServer: daemon.url });
    const reply = once(rump, 'message') as Promise<[Buffer]>;
    rump.send('rump', port, '127.0.0.1');
    expect(String((await reply)[0])).to.equal('pong:rump');
    expect(await app.line('GOT')).to.equal('GOT rump'); // the native one never reached it
    rump.close();
    expect(await app.exit).to.equal(0);
  });
});
