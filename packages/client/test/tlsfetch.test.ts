/**
 * fetch() and TLS on the rump stack, and the hijack's lazy `node:http`
 * (issue 15, "Not redirected at all"), against the real rump-server daemon:
 *
 * - the client API: `fetch(url, { dispatcher: rumpDispatcher() })` and
 *   `connectTls()` reach servers on the rump stack (`createHttpServer`,
 *   `createTlsServer`), with the certificate verified; refused connections
 *   and untrusted certificates fail as they do natively, without hanging;
 * - an UNMODIFIED program under the hijack runs an https server and talks to
 *   it with `https.get`, `tls.connect` and `fetch()` (http: and https:), and
 *   an HTTP/2 server with `http2.connect`;
 * - the hijack does not load `node:http` before the program does, and an
 *   `http` loaded later still goes through the stack.
 *
 * Proof that the stack carried the traffic: a native connect to the
 * program's port is refused by Linux, and the rump server's TCP counters
 * (`rumpctl netstat -s -p tcp`) count each connection.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import * as tls from 'node:tls';
import { HttpsAgent, RumpConnection, closeSharedConnections, connectTls, createHttpServer, createHttpsServer, createTlsServer, installHijack, rumpDispatcher, uninstallHijack, useRumpStack } from '../src/index.js';
import type { CtlNetstatResult } from '../src/syscalls.js';
import { makeTestCert, noOpenssl, type TestCert } from './fixtures/cert.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const built = here('../dist/src/hijack-register.js');
const source = here('../src/hijack-register.ts');
const newestSource = Math.max(...readdirSync(here('../src')).map((f) => statSync(here(`../src/${f}`)).mtimeMs));
const lastBuild = Math.max(...[built, here('../dist/tsconfig.tsbuildinfo')].map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
/** The built hijack when it is up to date; else the source through tsx. */
const importArgs = existsSync(built) && lastBuild >= newestSource ? ['--import', built] : ['--import', 'tsx', '--import', source];

/** The tcp.* counters of the server, by leaf name. */
async function tcpStats(c: RumpConnection): Promise<Record<string, number>> {
  const r = await c.call<CtlNetstatResult>('ctl.netstat', { what: 'stats', proto: 'tcp' });
  return Object.fromEntries(r.stats!.map((s) => [s.name.split('.').pop()!, s.value]));
}

/** A native (Linux) TCP connect to 127.0.0.1; resolves with the error code, or 'connected'. */
function nativeConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve('connected')));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

interface Child {
  proc: ChildProcess;
  line(prefix: string, ms?: number): Promise<string>;
  exit: Promise<number | null>;
}

/** Runs a program with a bounded life; `line(prefix)` waits for its first line starting so. */
function run(args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const kill = setTimeout(() => proc.kill('SIGKILL'), 40_000);
  const lines: string[] = [];
  let buf = '';
  let err = '';
  const waiters: (() => void)[] = [];
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => (clearTimeout(kill), r(code))));
  return {
    proc,
    exit,
    line(prefix, ms = 20_000) {
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

describe('fetch() and TLS on the rump stack (rump-server daemon)', function () {
  this.timeout(60_000);
  let daemon: Daemon;
  let conn: RumpConnection;
  let cert: TestCert | undefined;

  before(async function () {
    daemon = await startDaemon();
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
    conn = await RumpConnection.connect(daemon.url, { name: 'tlsfetch-tests' });
    const why = noOpenssl();
    if (why === undefined) cert = makeTestCert(['127.0.0.1']);
  });
  after(async () => {
    await conn?.close();
    await closeSharedConnections();
    await daemon?.stop();
    cert?.remove();
  });
  const needCert = (ctx: Mocha.Context): TestCert => {
    if (cert === undefined) {
      console.log(`      skipped: ${noOpenssl()}`);
      ctx.skip();
    }
    return cert!;
  };

  describe('the client API', () => {
    it('fetch(url, { dispatcher: rumpDispatcher() }) gets the body of a node:http server on the rump stack, keep-alive on one connection', async () => {
      const server = createHttpServer({ rumpServer: daemon.url }, (req, res) => res.end(`hello ${req.socket.remoteAddress} ${req.url}`));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as net.AddressInfo;
      // One connection per origin (an undici Client, not a Pool): the second request must wait for, and reuse, the first's.
      const dispatcher = rumpDispatcher({ rumpServer: daemon.url, connections: 1 });
      const before = await tcpStats(conn);
      try {
        expect(await nativeConnect(port)).to.equal('ECONNREFUSED'); // Linux has no such listener
        for (const path of ['/one', '/two']) {
          const res = await fetch(`http://127.0.0.1:${port}${path}`, { dispatcher } as RequestInit);
          expect(res.status).to.equal(200);
          expect(await res.text()).to.equal(`hello 127.0.0.1 ${path}`);
        }
        const after = await tcpStats(conn);
        // Two requests, one TCP connection: the dispatcher pooled it (undici's keep-alive).
        expect({ connattempt: after.connattempt! - before.connattempt!, accepts: after.accepts! - before.accepts! }).to.deep.equal({ connattempt: 1, accepts: 1 });
      } finally {
        await dispatcher.close();
        server.close();
        server.closeAllConnections();
      }
    });

    it('rumpDispatcher: a refused connection rejects fetch with ECONNREFUSED (no hang)', async () => {
      const dispatcher = rumpDispatcher({ rumpServer: daemon.url });
      try {
        const err = (await fetch('http://127.0.0.1:47999/', { dispatcher } as RequestInit).then(
          () => undefined,
          (e: Error & { cause?: { code?: string } }) => e,
        ))!;
        expect(err, 'fetch resolved').to.be.instanceOf(Error);
        expect(err.cause?.code).to.equal('ECONNREFUSED');
      } finally {
        await dispatcher.close();
      }
    });

    it('https: fetch with rumpDispatcher({ connect: { ca } }) and connectTls() verify the certificate of a createTlsServer / https server on the rump stack', async function () {
      const c = needCert(this);
      const srv = useRumpStack(https.createServer({ key: c.key, cert: c.cert }, (req, res) => res.end(`secure ${req.socket.remoteAddress} ${req.url}`)), { rumpServer: daemon.url });
      srv.listen(0, '127.0.0.1');
      await once(srv, 'listening');
      const { port } = srv.address() as net.AddressInfo;
      const echo = createTlsServer({ key: c.key, cert: c.cert, rumpServer: daemon.url }, (s) => s.pipe(s));
      echo.listen(0, '127.0.0.1');
      await once(echo, 'listening');
      const echoPort = (echo.address() as net.AddressInfo).port;
      const dispatcher = rumpDispatcher({ rumpServer: daemon.url, connect: { ca: c.cert } });
      const untrusting = rumpDispatcher({ rumpServer: daemon.url });
      const before = await tcpStats(conn);
      try {
        const res = await fetch(`https://127.0.0.1:${port}/tls`, { dispatcher } as RequestInit);
        expect(await res.text()).to.equal('secure 127.0.0.1 /tls');
        // Without the CA the same server is refused, as natively.
        const bad = await fetch(`https://127.0.0.1:${port}/tls`, { dispatcher: untrusting } as RequestInit).then(
          () => undefined,
          (e: Error & { cause?: { code?: string } }) => e.cause?.code,
        );
        expect(bad).to.equal('DEPTH_ZERO_SELF_SIGNED_CERT');
        // connectTls: Node's TLSSocket over a rump socket, addresses and all.
        const s = connectTls({ host: '127.0.0.1', port: echoPort, ca: c.cert, rumpServer: daemon.url });
        await once(s, 'secureConnect');
        expect({ authorized: s.authorized, remote: `${s.remoteAddress}:${s.remotePort}`, local: s.localAddress }).to.deep.equal({ authorized: true, remote: `127.0.0.1:${echoPort}`, local: '127.0.0.1' });
        s.end('ping over TLS');
        let got = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => (got += d));
        await once(s, 'end');
        expect(got).to.equal('ping over TLS');
        const after = await tcpStats(conn);
        expect(after.connattempt! - before.connattempt!).to.equal(3); // fetch, the refused fetch, connectTls
      } finally {
        await Promise.all([dispatcher.close(), untrusting.close()]);
        srv.close();
        srv.closeAllConnections();
        echo.close();
      }
    });

    it('connectTls: a refused TCP connect arrives as the TLS socket\'s error', async () => {
      const s = connectTls({ host: '127.0.0.1', port: 47999, rumpServer: daemon.url });
      const errors: string[] = [];
      s.on('error', (e: NodeJS.ErrnoException) => errors.push(`${e.code} ${e.message}`));
      await new Promise((resolve) => s.on('close', resolve)); // and it closes
      expect(errors).to.deep.equal(['ECONNREFUSED connect ECONNREFUSED 127.0.0.1:47999']);
      // fetch over https: the same failure, through undici's TLS connector.
      const dispatcher = rumpDispatcher({ rumpServer: daemon.url });
      try {
        const code = await fetch('https://127.0.0.1:47999/', { dispatcher } as RequestInit).then(
          () => 'resolved',
          (e: Error & { cause?: { code?: string } }) => e.cause?.code,
        );
        expect(code).to.equal('ECONNREFUSED');
      } finally {
        await dispatcher.close();
      }
    });
    it('HttpsAgent + createHttpsServer: https.get over the stack, keep-alive on one connection, then a TLS session resumed on a new one', async function () {
      const c = needCert(this);
      const srv = createHttpsServer({ key: c.key, cert: c.cert, rumpServer: daemon.url }, (req, res) => {
        res.end(`${(req.socket as tls.TLSSocket).isSessionReused() ? 'resumed' : 'full'} ${req.socket.remoteAddress} ${req.url}`);
      });
      srv.listen(0, '127.0.0.1');
      await once(srv, 'listening');
      const { port } = srv.address() as net.AddressInfo;
      const get = (agent: https.Agent, path: string): Promise<string> =>
        new Promise((resolve, reject) => {
          https
            .get({ host: '127.0.0.1', port, path, agent }, (res) => {
              let b = '';
              res.setEncoding('utf8');
              res.on('data', (d: string) => (b += d));
              res.on('end', () => resolve(b));
            })
            .on('error', reject);
        });
      const keep = new HttpsAgent({ ca: c.cert, keepAlive: true, maxSockets: 1, rumpServer: daemon.url });
      const fresh = new HttpsAgent({ ca: c.cert, keepAlive: false, rumpServer: daemon.url });
      try {
        let before = await tcpStats(conn);
        expect([await get(keep, '/a'), await get(keep, '/b')]).to.deep.equal(['full 127.0.0.1 /a', 'full 127.0.0.1 /b']);
        let after = await tcpStats(conn);
        expect(after.connattempt! - before.connattempt!).to.equal(1); // the same connection, reused
        before = after;
        const first = await get(fresh, '/c');
        await new Promise((r) => setImmediate(r));
        const second = await get(fresh, '/d');
        after = await tcpStats(conn);
        expect([first, second]).to.deep.equal(['full 127.0.0.1 /c', 'resumed 127.0.0.1 /d']); // the agent's session cache
        expect(after.connattempt! - before.connattempt!).to.equal(2);
      } finally {
        keep.destroy();
        fresh.destroy();
        srv.close();
        srv.closeAllConnections();
      }
    });

    it('installHijack patches tls.connect and the global fetch dispatcher; uninstallHijack puts both back', async () => {
      const k = Symbol.for('undici.globalDispatcher.1');
      const origConnect = tls.connect;
      const slot = Object.getOwnPropertyDescriptor(globalThis, k);
      const saved = process.env.RUMP_SERVER;
      installHijack({ rumpServer: daemon.url });
      try {
        expect(tls.connect).to.not.equal(origConnect);
        expect((await import('node:tls')).connect).to.equal(tls.connect); // the ESM named export too
        const d = (globalThis as unknown as Record<symbol, unknown>)[k];
        expect(d).to.not.equal(slot?.value);
        expect(d).to.be.instanceOf((await import('undici')).Agent); // the npm package's: a rumpDispatcher
      } finally {
        uninstallHijack();
        if (saved === undefined) delete process.env.RUMP_SERVER;
        else process.env.RUMP_SERVER = saved;
      }
      expect(tls.connect).to.equal(origConnect);
      expect((globalThis as unknown as Record<symbol, unknown>)[k]).to.equal(slot?.value);
    });
  });

  describe('an unmodified program under the hijack', () => {
    it('https server + https.get + tls.connect + fetch (http: and https:) + http2 all on the stack', async function () {
      const c = needCert(this);
      const before = await tcpStats(conn);
      const app = run([...importArgs, here('./fixtures/hijack-tls.mjs'), c.keyPath, c.certPath], { RUMP_SERVER: daemon.url, NODE_EXTRA_CA_CERTS: c.certPath });
      const [, tport, pport] = (await app.line('LISTENING')).split(' ').map(Number);
      // Linux has neither listener: both servers live in the rump server.
      expect([await nativeConnect(tport!), await nativeConnect(pport!)]).to.deep.equal(['ECONNREFUSED', 'ECONNREFUSED']);
      app.proc.stdin!.end('go\n');
      const result = JSON.parse(await app.line('{')) as Record<string, unknown>;
      expect(result).to.deep.equal({
        httpsGet: { status: 200, body: 'https hello 127.0.0.1 /get' },
        tlsConnect: { authorized: true, protocol: 'TLSv1.3', remote: '127.0.0.1', body: 'https hello 127.0.0.1 /raw' },
        fetchHttp: { status: 200, body: 'http hello 127.0.0.1 /fetch' },
        fetchHttps: { status: 200, body: 'https hello 127.0.0.1 /fetch' },
        http2: { alpn: 'h2', body: 'h2 hello 2.0 127.0.0.1' },
      });
      expect(await app.exit).to.equal(0); // and it exited by itself
      const after = await tcpStats(conn);
      // One connection each, opened and accepted by the rump stack.
      expect({ connattempt: after.connattempt! - before.connattempt!, accepts: after.accepts! - before.accepts! }).to.deep.equal({ connattempt: 5, accepts: 5 });
    });

    it('does not load node:http itself; an http the program loads later still listens and connects on the stack', async () => {
      const port = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
      const before = await tcpStats(conn);
      const app = run([...importArgs, here('./fixtures/hijack-lazy.mjs'), String(port)], { RUMP_SERVER: daemon.url });
      expect(JSON.parse((await app.line('EARLY ')).slice(6))).to.deep.equal([]); // no http, https, _http_*, http_parser
      expect(await app.line('LISTENING')).to.equal(`LISTENING ${port}`);
      expect(await nativeConnect(port)).to.equal('ECONNREFUSED');
      app.proc.stdin!.end('go\n');
      expect(JSON.parse(await app.line('{'))).to.deep.equal({ status: 200, body: 'lazy hello 127.0.0.1 /later' });
      expect(await app.exit).to.equal(0);
      const after = await tcpStats(conn);
      expect({ connattempt: after.connattempt! - before.connattempt!, accepts: after.accepts! - before.accepts! }).to.deep.equal({ connattempt: 1, accepts: 1 });
    });
  });
});
