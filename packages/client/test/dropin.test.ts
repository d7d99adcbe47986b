/**
 * A drop-in for `node:net`: small UNMODIFIED programs run under the hijack
 * against a real `rump-server` process, and each assertion is what Node
 * itself does with the same program on the host's kernel stack.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeSharedConnections, createConnection, createServer, type Server, type Socket } from '../src/index.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';
import { runHijacked, type Ran, type RunOptions } from './fixtures/hijacked.js';

/** A hijacked program that prints `PORT <n>` once it listens. */
function serving(program: string, opts: RunOptions): { port: Promise<number>; done: Promise<Ran> } {
  let said: (p: number) => void = () => undefined;
  const port = new Promise<number>((r) => (said = r));
  const done = runHijacked(program, {
    ...opts,
    onStdout: (text) => {
      const m = /PORT (\d+)/.exec(text);
      if (m) said(Number(m[1]));
    },
  });
  return { port: Promise.race([port, done.then((r) => Promise.reject(new Error(`exited before listening: ${r.stdout} ${r.stderr}`)))]), done };
}

/** Everything a socket receives until its end (or close). */
function received(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => (got += c));
    s.once('close', () => resolve(got));
    s.on('error', () => undefined);
    s.resume();
  });
}

describe("drop-in: the newcomer's first five minutes", function () {
  this.timeout(20_000);

  it('with no server running, a hijacked program is told the rump server is not reachable and how to start one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rumpnet-none-'));
    const url = `unix://${join(dir, 'rumpnet.sock')}`;
    try {
      const r = await runHijacked(`import net from 'node:net'; net.createServer().listen(7777, '127.0.0.1');`, { rumpServer: url });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.include(`the rump server at ${url} is not reachable`);
      expect(r.stderr).to.include('npm start');
      expect(r.stderr).to.include(`npx rump-server ${url}`);
      expect(r.stderr).to.include('ERR_RUMP_UNREACHABLE');
      expect(r.stderr).to.not.include('listen ENOENT');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('drop-in: writes accepted before destroy() or close() reach the peer', function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
  });
  after(async () => {
    await closeSharedConnections();
    await daemon?.stop();
  });

  /** A rump listener in this process; resolves with its port and the first connection's bytes. */
  async function peer(): Promise<{ srv: Server; port: number; got: Promise<string> }> {
    let first: (s: Socket) => void = () => undefined;
    const conn = new Promise<Socket>((r) => (first = r));
    const srv = createServer({ rumpServer: daemon.url }, (s) => first(s));
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    return { srv, port: (srv.address() as { port: number }).port, got: conn.then(received) };
  }

  it('client: write(a); write(100 KB); write(b); destroy() — the peer gets all of it, in order', async () => {
    const p = await peer();
    const r = await runHijacked(
      `import net from 'node:net';
       const s = net.connect(Number(process.argv[2]), '127.0.0.1', () => {
         s.write('hello, '); s.write('x'.repeat(100_000)); s.write('world'); s.destroy();
       });`,
      { rumpServer: daemon.url, args: [String(p.port)] },
    );
    expect(r.code, r.stderr).to.equal(0);
    const got = await p.got;
    expect(got.length).to.equal(100_012);
    expect(got).to.equal('hello, ' + 'x'.repeat(100_000) + 'world');
    p.srv.close();
  });

  it('server: write(x); destroy() on an accepted socket, then server.close() — the client gets x', async () => {
    const prog = serving(
      `import net from 'node:net';
       const srv = net.createServer((s) => { s.write('bye'); s.destroy(); srv.close(); });
       srv.listen(0, '127.0.0.1', () => console.log('PORT', srv.address().port));`,
      { rumpServer: daemon.url },
    );
    const s = createConnection({ port: await prog.port, host: '127.0.0.1', rumpServer: daemon.url });
    expect(await received(s)).to.equal('bye');
    const r = await prog.done;
    expect(r.code, r.stderr).to.equal(0);
  });

  it('server: end(x) then server.close() — the client gets x and its end', async () => {
    const prog = serving(
      `import net from 'node:net';
       const srv = net.createServer((s) => { s.end('the answer'); srv.close(); });
       srv.listen(0, '127.0.0.1', () => console.log('PORT', srv.address().port));`,
      { rumpServer: daemon.url },
    );
    const s = createConnection({ port: await prog.port, host: '127.0.0.1', rumpServer: daemon.url });
    const ended = once(s, 'end');
    expect(await received(s)).to.equal('the answer');
    await ended;
    const r = await prog.done;
    expect(r.code, r.stderr).to.equal(0);
  });

  it('a peer that does not read cannot keep a destroy() waiting: the program exits, and what fitted was sent', async () => {
    let accepted: (s: Socket) => void = () => undefined;
    const conn = new Promise<Socket>((r) => (accepted = r));
    const srv = createServer({ rumpServer: daemon.url, pauseOnConnect: true }, (s) => accepted(s));
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const r = await runHijacked(
      `import net from 'node:net';
       const s = net.connect(Number(process.argv[2]), '127.0.0.1', () => {
         for (let i = 0; i < 256; i++) s.write(Buffer.alloc(64 * 1024, 'y'));
         setTimeout(() => s.destroy(), 50);
       });`,
      { rumpServer: daemon.url, args: [String((srv.address() as { port: number }).port)], timeoutMs: 15_000 },
    );
    expect(r.timedOut, 'the program never exited').to.equal(false);
    expect(r.ms).to.be.lessThan(10_000);
    expect(r.code, r.stderr).to.equal(0);
    const s = await conn;
    const got = await received(s); // read now: the socket buffers' worth, then the FIN
    expect(got.length).to.be.greaterThan(0).and.lessThan(256 * 64 * 1024);
    expect(/^y+$/.test(got)).to.equal(true);
    srv.close();
  });

  it('http: a malformed request is answered 400 Bad Request before the server closes the connection', async () => {
    const prog = serving(
      `import http from 'node:http';
       const srv = http.createServer((req, res) => res.end('fine'));
       srv.on('connection', (c) => c.on('close', () => srv.close()));
       srv.listen(0, '127.0.0.1', () => console.log('PORT', srv.address().port));`,
      { rumpServer: daemon.url },
    );
    const s = createConnection({ port: await prog.port, host: '127.0.0.1', rumpServer: daemon.url });
    s.write('THIS IS NOT HTTP\r\n\r\n');
    const got = await received(s);
    expect(got).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const r = await prog.done;
    expect(r.code, r.stderr).to.equal(0);
  });
});

describe("drop-in: a program lives exactly as long as Node's would (handle ref counting)", function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
  });
  after(async () => {
    await daemon?.stop();
  });

  /** Runs `program` under the hijack; it must exit by itself, with code 0. */
  async function exits(program: string): Promise<string> {
    const r = await runHijacked(program, { rumpServer: daemon.url, timeoutMs: 10_000 });
    expect(r.timedOut, `the program never exited; it said: ${r.stdout} ${r.stderr}`).to.equal(false);
    expect(r.code, r.stderr).to.equal(0);
    return r.stdout;
  }

  it("listen(0, cb) then unref() at once: 'listening' still comes, then the process exits", async () => {
    const out = await exits(
      `import net from 'node:net';
       const srv = net.createServer();
       srv.listen(0, '127.0.0.1', () => console.log('listening', srv.address().port > 0));
       srv.unref();`,
    );
    expect(out).to.equal('listening true\n');
  });

  it('an unref\'d socket still connects and finishes its write (requests keep the loop alive)', async () => {
    const out = await exits(
      `import net from 'node:net';
       const srv = net.createServer((c) => c.on('data', (d) => { console.log('got', String(d)); srv.close(); c.destroy(); }));
       srv.listen(0, '127.0.0.1', () => {
         const s = net.connect(srv.address().port, '127.0.0.1');
         s.unref();
         s.write('x', () => console.log('written'));
       });`,
    );
    expect(out.split('\n').sort().join('\n')).to.equal('\ngot x\nwritten');
  });

  it("dgram: send() then unref(): the send's callback runs, then the process exits", async () => {
    const out = await exits(
      `import dgram from 'node:dgram';
       const u = dgram.createSocket('udp4');
       u.send('hi', 9, '127.0.0.1', (err) => console.log('sent', err));
       u.unref();`,
    );
    expect(out).to.equal('sent null\n');
  });

  it('a half-open socket whose peer has ended is idle: it does not keep the process alive', async () => {
    const out = await exits(
      `import net from 'node:net';
       const srv = net.createServer({ allowHalfOpen: true }, (c) => {
         c.resume();
         c.on('end', () => { console.log('end, staying half-open'); srv.close(); });
       });
       srv.listen(0, '127.0.0.1', () => {
         const s = net.connect(srv.address().port, '127.0.0.1', () => { s.end('done'); s.unref(); });
       });`,
    );
    expect(out).to.equal('end, staying half-open\n');
  });

  it('a ref\'d listening server does keep it alive (until killed)', async () => {
    const r = await runHijacked(
      `import net from 'node:net';
       const srv = net.createServer();
       srv.listen(0, '127.0.0.1', () => console.log('listening'));`,
      { rumpServer: daemon.url, timeoutMs: 2000 },
    );
    expect(r.stdout).to.equal('listening\n');
    expect(r.timedOut).to.equal(true);
  });
});

describe('drop-in: listen(0) has its port when listen() returns, as in Node', function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
  });
  after(async () => {
    await closeSharedConnections();
    await daemon?.stop();
  });

  it('net: address().port straight after listen(0) is the port it listens on (and two servers get two ports)', async () => {
    const prog = serving(
      `import net from 'node:net';
       const a = net.createServer((c) => c.end('from a'));
       a.listen(0);
       const pa = a.address()?.port;
       const b = net.createServer().listen(0);
       const pb = b.address()?.port;
       console.log('SYNC', pa, pb);
       a.on('listening', () => {
         console.log('PORT', a.address().port, a.address().port === pa);
         a.on('connection', (c) => c.on('close', () => { a.close(); b.close(); }));
       });`,
      { rumpServer: daemon.url },
    );
    let out = '';
    const done = prog.done.then((r) => ((out = r.stdout), r));
    const port = await prog.port;
    const s = createConnection({ port, host: '127.0.0.1', rumpServer: daemon.url });
    expect(await received(s)).to.equal('from a');
    const r = await done;
    expect(r.code, r.stderr).to.equal(0);
    const [, pa, pb] = /SYNC (\S+) (\S+)/.exec(out)!;
    expect(Number(pa)).to.equal(port);
    expect(Number(pb)).to.be.greaterThan(0).and.not.equal(port);
    expect(out).to.include(`PORT ${port} true`);
  });

  it('http: createServer().listen(0).address().port is usable at once by the program itself', async () => {
    const r = await runHijacked(
      `import http from 'node:http';
       const srv = http.createServer((req, res) => res.end('ok ' + req.url));
       const port = srv.listen(0).address().port;
       http.get('http://127.0.0.1:' + port + '/x', (res) => {
         let b = ''; res.on('data', (c) => (b += c));
         res.on('end', () => { console.log(res.statusCode, b); srv.close(); });
       });`,
      { rumpServer: daemon.url },
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('200 ok /x\n');
  });
});

describe("drop-in: errors and validation are Node's (the same program natively and under the hijack)", function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
  });
  after(async () => {
    await daemon?.stop();
  });

  it('bad ports (ERR_MISSING_ARGS, ERR_INVALID_ARG_TYPE, ERR_SOCKET_BAD_PORT and their messages), an aborted signal, EPIPE after the FIN, resetAndDestroy → ECONNRESET, connect() again, a throwing data listener', async () => {
    const program = readFileSync(new URL('./fixtures/programs/net-errors.mjs', import.meta.url), 'utf8');
    const native = await runHijacked(program, { rumpServer: undefined, native: true });
    const rump = await runHijacked(program, { rumpServer: daemon.url });
    expect(native.code, native.stderr).to.equal(0);
    expect(rump.code, rump.stderr).to.equal(0);
    const want = JSON.parse(native.stdout) as string[];
    expect(want).to.include('b error ECONNRESET'); // the reference itself says what is asserted
    expect(want).to.include('uncaught boom in data');
    expect(JSON.parse(rump.stdout)).to.deep.equal(want);
  });

  it("a socket whose both sides ended has completed its shutdown (destroyed) by its peer's 'end': a write then fails in its callback only, no 'error' event (Node's test-net-write-after-close)", async () => {
    // Natively the server socket's shutdown completes (its own libuv
    // callback) before the client's read sees the FIN it sent; here both
    // replies can come in one chunk, and the EOF must not overtake it.
    const program = `import net from 'node:net';
      const out = [];
      let rounds = 0;
      const round = () => {
        let ss;
        const server = net.createServer((s) => {
          ss = s;
          s.resume();
          s.on('finish', () => out.push('ss finish'));
          s.on('error', (e) => out.push('ss error ' + e.code));
        });
        server.listen(0, '127.0.0.1', () => {
          const c = net.connect(server.address().port, '127.0.0.1', () => {
            c.on('end', () => {
              out.push('c end, ss destroyed ' + ss.destroyed);
              ss.write('test', (err) => {
                out.push('write cb ' + (err ? err.code : 'none'));
                c.on('close', () => server.close(() => (++rounds < 3 ? round() : setTimeout(() => console.log(JSON.stringify(out)), 50))));
              });
            });
            c.end();
          });
        });
      };
      round();`;
    const native = await runHijacked(program, { rumpServer: undefined, native: true });
    const rump = await runHijacked(program, { rumpServer: daemon.url });
    expect(native.code, native.stderr).to.equal(0);
    expect(rump.code, rump.stderr).to.equal(0);
    const want = JSON.parse(native.stdout) as string[];
    expect(want.slice(0, 3)).to.deep.equal(['ss finish', 'c end, ss destroyed true', 'write cb EPIPE']);
    expect(JSON.parse(rump.stdout)).to.deep.equal(want);
  });

  it("net API as Node's: bufferSize/connecting/_connecting/pending/readyState/_handle through a socket's life, net.Stream() without new, family 'IPv4', 127.0.0.2 on lo0, end()/write() before connect, setTimeout validation, throwing 'listening'/'connect' listeners", async () => {
    const program = readFileSync(new URL('./fixtures/programs/net-api.mjs', import.meta.url), 'utf8');
    const native = await runHijacked(program, { rumpServer: undefined, native: true });
    const rump = await runHijacked(program, { rumpServer: daemon.url });
    expect(native.code, native.stderr).to.equal(0);
    expect(rump.code, rump.stderr).to.equal(0);
    const want = JSON.parse(native.stdout) as string[];
    // The reference itself shows what is asserted.
    expect(want).to.include('written 5 true true true opening');
    expect(want).to.include('Stream() connected true');
    expect(want).to.include('127.0.0.2 127.0.0.2 127.0.0.1 127.0.0.2 127.0.0.1');
    expect(want).to.include('uncaught ["boom in listening","boom in connect"]');
    expect(JSON.parse(rump.stdout)).to.deep.equal(want);
  });

  it("dgram's argument rules as Node's: send()/sendto() forms and errors (ERR_INVALID_ARG_TYPE, ERR_BUFFER_OUT_OF_BOUNDS, ERR_SOCKET_BAD_PORT), views sent as viewed, close() with a non-function, an aborted signal, sends queued for the bind dropped by close()", async () => {
    const program = readFileSync(new URL('./fixtures/programs/dgram-args.mjs', import.meta.url), 'utf8');
    const native = await runHijacked(program, { rumpServer: undefined, native: true });
    const rump = await runHijacked(program, { rumpServer: daemon.url });
    expect(native.code, native.stderr).to.equal(0);
    expect(rump.code, rump.stderr).to.equal(0);
    const want = JSON.parse(native.stdout) as string[];
    expect(want).to.include('pre-aborted closed');
    expect(want).to.include('got 3 020304');
    expect(want.some((l) => l.startsWith('dropped'))).to.equal(false);
    expect(JSON.parse(rump.stdout)).to.deep.equal(want);
  });
});
