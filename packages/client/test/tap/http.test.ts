/**
 * `node:http` on the rump stack against the Linux kernel, through a real
 * `rump-server --tap` process inside a network namespace (issue 6, the
 * root-only items):
 *
 * - `curl` on Linux fetches a 10 MiB body from a `node:http` server that runs
 *   as a rump client (`createHttpServer`), sha256-checked;
 * - a rump client fetches 10 MiB from a Linux `node:http` server, with
 *   `http.request({ createConnection })` and with the rump `Agent`
 *   (keep-alive: two requests over one connection), sha256-checked;
 * - an UNMODIFIED program under the hijack (`node --import <hijack>
 *   fetch.mjs URL`) fetches from the Linux server with plain `http.get`. The
 *   10.a.b.x addresses exist only inside the namespace, so the root
 *   namespace could not even route there natively; and the rump server
 *   counts the connection, Linux sees it come from the rump stack's address.
 *
 * After each test the server's descriptor tables are empty and its cluster
 * pool all free; after the group it exited 0 on SIGTERM and the namespace is
 * gone. Skips with the reason unless root with /dev/net/tun.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Netns, canUseNetns } from '@rumpnet/tap-bridge';
import { Agent, RumpConnection, createConnection, createHttpServer, type TcpConnectOptions } from '../../src/index.js';
import type { CtlNetstatResult } from '../../src/syscalls.js';
import { ROOT, TapRig, hijackImportArgs, netnsList, patternBytes, sha256, watch } from './rig.js';

const MiB = 1024 * 1024;
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const LINUX_HTTP = here('./fixtures/linux-http.mjs');
const FETCH = here('./fixtures/fetch.mjs');

/** One request; resolves with the status, the whole body and the local address of the connection. */
function request(opts: http.RequestOptions): Promise<{ status: number; body: Buffer; local: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      const parts: Buffer[] = [];
      const local = `${res.socket.localAddress}:${res.socket.localPort}`;
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), local }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A safety net for the network rule: from now on a NATIVE TCP connect of
 * this process to 10.0.0.0/8 throws instead of sending a SYN. Those
 * addresses exist only inside the test's namespace, and the root
 * namespace's default route would carry such a packet off the machine —
 * which is what a slip like `http.request({ agent: false, createConnection })`
 * does (Node then ignores `createConnection`). Returns the undo.
 */
function forbidNativeConnectsTo10(): () => void {
  const orig = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const o = args[0];
    const host = Array.isArray(o) ? (o[0] as { host?: string })?.host : typeof o === 'object' && o !== null ? (o as { host?: string }).host : args[1];
    if (typeof host === 'string' && host.startsWith('10.')) throw new Error(`the test refused a native connect to ${host}: it would leave the namespace`);
    return (orig as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof orig;
  return () => {
    net.Socket.prototype.connect = orig;
  };
}

/** The tcp.* counters of the server (`rumpctl netstat -s -p tcp`), by leaf name. */
async function tcpStats(c: RumpConnection): Promise<Record<string, number>> {
  const r = await c.call<CtlNetstatResult>('ctl.netstat', { what: 'stats', proto: 'tcp' });
  return Object.fromEntries(r.stats!.map((s) => [s.name.split('.').pop()!, s.value]));
}

describe('node:http through rump-server --tap with the Linux kernel', function () {
  this.timeout(30_000);
  let rig: TapRig | undefined;
  let conn: RumpConnection;
  let linuxHttp: ReturnType<typeof watch>;
  /** An empty namespace (only lo, no route at all) for the hijacked program: a native connect from there cannot go anywhere. */
  let bare: Netns | undefined;
  let allowNative: (() => void) | undefined;
  const LINUX_PORT = 8081;
  const linuxBody = patternBytes(10 * MiB, 77);

  before(async function () {
    const can = canUseNetns();
    if (!can.ok) {
      console.log(`      skipped: ${can.reason}`);
      this.skip();
    }
    allowNative = forbidNativeConnectsTo10();
    bare = await Netns.create({ prefix: 'rbare' });
    rig = await TapRig.start('rhttp', 'rhtap0', ['--mclnum', '16']);
    conn = await RumpConnection.connect(rig.url, { name: 'http-tests' });
    linuxHttp = rig.node(LINUX_HTTP, [LINUX_PORT, linuxBody.length, 77]);
    await linuxHttp.line((l) => l.includes('"listening"'), 'the Linux http server');
  });
  afterEach(async () => {
    if (rig === undefined || rig.server.proc.exitCode !== null) return;
    // This process's own connection stays open between tests: the server's tables must be empty but for nothing.
    await rig.expectQuiet(10_000);
  });
  after(async () => {
    allowNative?.();
    await bare?.destroy();
    if (bare !== undefined) expect(netnsList()).to.not.include(bare.name);
    if (rig === undefined) return;
    await conn?.close();
    await rig.destroy();
    expect(netnsList()).to.not.include(rig.ns.name);
    expect(rig.exit, 'rump-server exit').to.equal(0);
  });

  it('curl on Linux fetches 10 MiB from a node:http server on the rump stack (createHttpServer), sha256 intact', async () => {
    const body = patternBytes(10 * MiB, 55);
    const seen: string[] = [];
    const server = createHttpServer({ connection: conn }, (req, res) => {
      seen.push(`${req.socket.remoteAddress} ${req.url}`);
      res.setHeader('content-length', body.length);
      res.end(body);
    });
    server.listen(8080, '0.0.0.0');
    await once(server, 'listening');
    try {
      const file = join(rig!.dir, 'big.out');
      const r = await rig!.ns.exec('curl', ['-s', '--max-time', '20', '-o', file, '-w', '%{http_code} %{size_download}', `http://${rig!.rumpIp}:8080/big`], { timeoutMs: 25_000 });
      expect(r.stdout, r.stderr).to.equal(`200 ${body.length}`);
      expect(sha256(readFileSync(file))).to.equal(sha256(body));
      expect(seen).to.deep.equal([`${rig!.linuxIp} /big`]); // the request came over the tap, from Linux
    } finally {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    }
  });

  it('a rump client fetches 10 MiB from a Linux node:http server with http.request({ createConnection }), sha256 intact', async () => {
    const viaRump = (o: TcpConnectOptions, cb?: () => void) => createConnection({ ...o, connection: conn }, cb);
    const r = await request({ host: rig!.linuxIp, port: LINUX_PORT, path: '/big', createConnection: viaRump as never });
    expect(r.status).to.equal(200);
    expect(r.body.length).to.equal(linuxBody.length);
    expect(sha256(r.body)).to.equal(sha256(linuxBody));
    expect(r.local.split(':')[0]).to.equal(rig!.rumpIp);
    const seen = JSON.parse(await linuxHttp.line((l) => l.includes(`"remotePort":${r.local.split(':')[1]}`), 'the Linux request line')) as { remote: string };
    expect(seen.remote).to.equal(rig!.rumpIp);
  });

  it('the rump Agent with keep-alive: two 10 MiB GETs from Linux over one connection, sha256 intact', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, connection: conn });
    try {
      const a = await request({ host: rig!.linuxIp, port: LINUX_PORT, path: '/big', agent });
      const b = await request({ host: rig!.linuxIp, port: LINUX_PORT, path: '/big', agent });
      for (const r of [a, b]) {
        expect(r.status).to.equal(200);
        expect(sha256(r.body)).to.equal(sha256(linuxBody));
      }
      expect(b.local).to.equal(a.local); // the same connection, reused
    } finally {
      agent.destroy();
    }
  });

  const hijack = hijackImportArgs();
  it(`an UNMODIFIED program under the hijack (node --import <${hijack.built ? 'built' : 'source'} hijack>) fetches 10 MiB from Linux with plain http.get, through the rump stack`, async () => {
    const before = await tcpStats(conn);
    const url = `http://${rig!.linuxIp}:${LINUX_PORT}/big`;
    // The control: without the hijack, the same connect from that namespace has no route (no packet is sent).
    const native = await bare!.exec(process.execPath, ['-e', `require('net').connect(${LINUX_PORT}, '${rig!.linuxIp}').on('error', (e) => console.log(e.code))`]);
    expect(native.stdout.trim()).to.equal('ENETUNREACH');
    // The program runs in a namespace with no interface but lo and no route: natively it could reach nothing;
    // its only way out is the rump server's Unix socket (a file, which namespaces do not separate).
    const app = watch(bare!.spawn(process.execPath, [...hijack.args, FETCH, url], { cwd: ROOT, env: { ...process.env, RUMP_SERVER: rig!.url }, stdio: ['ignore', 'pipe', 'pipe'] }));
    const kill = setTimeout(() => app.proc.kill('SIGKILL'), 20_000);
    try {
      const result = JSON.parse(await app.line((l) => l.startsWith('{'), 'the program result', 20_000)) as { status: number; bytes: number; sha: string; local: string };
      expect(result).to.deep.include({ status: 200, bytes: linuxBody.length, sha: sha256(linuxBody) });
      // Its socket had the rump stack's address on the tap...
      const [ip, port] = result.local.split(':');
      expect(ip).to.equal(rig!.rumpIp);
      // ...Linux saw the request come from there...
      const seen = JSON.parse(await linuxHttp.line((l) => l.includes(`"remotePort":${port}`), 'the Linux request line')) as { remote: string; url: string };
      expect(seen).to.include({ remote: rig!.rumpIp, url: '/big' });
      // ...and the rump server made that connection: its TCP counted exactly one more active open, completed.
      expect(await app.exited).to.equal(0); // and the program exited by itself
      const after = await tcpStats(conn);
      expect({ connattempt: after.connattempt! - before.connattempt!, connects: after.connects! - before.connects! }).to.deep.equal({ connattempt: 1, connects: 1 });
    } finally {
      clearTimeout(kill);
    }
  });
});
