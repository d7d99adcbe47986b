/**
 * `node:http` on the rump stack: an `http.Server` made with
 * `createHttpServer` (Node's server, listening through the rump server) and
 * `http.request({ createConnection })` / the rump `Agent` as the client.
 * The server and the client are two different rump clients (two sessions) of
 * one server. Run against the fake kernel, and end to end over the daemon's
 * loopback stack (skipped, with the reason, until the daemon has TCP).
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import { Agent, RumpConnection, createConnection, createHttpServer, type TcpConnectOptions } from '../src/index.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';
import { startFakeKern, type FakeKern } from './fixtures/fakekern.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** One request; resolves with status, headers and the whole body. */
function request(opts: http.RequestOptions, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; remotePort: number | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), remotePort: req.socket?.localPort }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function httpSuite(url: () => string): void {
  let serverConn: RumpConnection;
  let clientConn: RumpConnection;
  let server: http.Server;
  let port: number;
  const big = randomBytes(1 << 20);

  before(async () => {
    serverConn = await RumpConnection.connect(url());
    clientConn = await RumpConnection.connect(url());
    server = createHttpServer({ connection: serverConn }, (req, res) => {
      if (req.method === 'POST') {
        const h = createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => (h.update(c), (n += c.length)));
        req.on('end', () => res.end(JSON.stringify({ n, sha: h.digest('hex') })));
        return;
      }
      if (req.url === '/big') {
        res.setHeader('content-length', big.length);
        res.end(big);
        return;
      }
      res.end(`hello ${req.socket.remoteAddress} ${req.url}`);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    if (!server) return; // the suite was skipped
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
    await serverConn.close();
    await clientConn.close();
  });

  const viaRump = (o: TcpConnectOptions, cb?: () => void) => createConnection({ ...o, connection: clientConn }, cb);

  it('GET of a 1 MiB body with http.request({ createConnection }), sha256 intact', async () => {
    const r = await request({ host: '127.0.0.1', port, path: '/big', createConnection: viaRump as never });
    expect(r.status).to.equal(200);
    expect(r.body.length).to.equal(big.length);
    expect(sha(r.body)).to.equal(sha(big));
  });

  it('POST of a 1 MiB body, sha256 checked by the server', async () => {
    const r = await request({ host: '127.0.0.1', port, method: 'POST', path: '/up', createConnection: viaRump as never }, big);
    expect(JSON.parse(String(r.body))).to.deep.equal({ n: big.length, sha: sha(big) });
  });

  it('the rump Agent keeps the connection alive across requests', async () => {
    const agent = new Agent({ keepAlive: true, connection: clientConn });
    try {
      const a = await request({ host: '127.0.0.1', port, path: '/one', agent });
      const b = await request({ host: '127.0.0.1', port, path: '/two', agent });
      expect(String(a.body)).to.equal('hello 127.0.0.1 /one');
      expect(String(b.body)).to.equal('hello 127.0.0.1 /two');
      expect(a.remotePort).to.be.a('number').and.equal(b.remotePort); // one TCP connection, reused
    } finally {
      agent.destroy();
    }
  });
}

describe('http: node:http on the fake kernel', function () {
  this.timeout(15_000);
  let kern: FakeKern;
  before(async () => {
    kern = await startFakeKern();
  });
  httpSuite(() => kern.url);
  after(async () => {
    await kern.close();
  });
});

describe('http: node:http end to end through the rump-server daemon (loopback)', function () {
  this.timeout(30_000);
  let daemon: Daemon;
  before(async function () {
    daemon = await startDaemon();
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
  });
  httpSuite(() => daemon.url);
  // After the suite's own after hook (hooks run in the order they are declared): the
  // daemon must outlive the listening server, whose accept would otherwise fail loudly.
  after(async () => {
    await daemon?.stop();
  });
});
