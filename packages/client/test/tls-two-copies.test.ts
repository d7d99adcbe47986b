/**
 * Two copies of the client in one process — the package's build beside its
 * sources here, two installed versions in a program — share Node's one
 * `TLSSocket`, which the first copy to load teaches about rump sockets. A
 * TLS socket over either copy's rump socket must still be recognised: its
 * addresses are the rump socket's (without it they read `undefined`, and
 * an accepted one would wait for a `'connect'` that never comes).
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import * as src from '../src/index.js';
import { closeSharedConnections } from '../src/index.js';
import { makeTestCert, noOpenssl, type TestCert } from './fixtures/cert.js';
import { startDaemon, type Daemon } from './fixtures/daemon.js';

const builtIndex = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));

describe('TLS over rump sockets with two copies of the client loaded', function () {
  this.timeout(60_000);
  let daemon: Daemon;
  let cert: TestCert | undefined;
  let built: typeof src | undefined;

  before(async function () {
    const why = !existsSync(builtIndex) ? 'the client is not built (npm run build)' : noOpenssl();
    if (why !== undefined) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    built = (await import(builtIndex)) as typeof src;
    daemon = await startDaemon();
    if (daemon.noTcp) {
      console.log(`      skipped: ${daemon.noTcp}`);
      this.skip();
    }
    cert = makeTestCert(['127.0.0.1']);
  });
  after(async () => {
    await closeSharedConnections();
    await built?.closeSharedConnections();
    await daemon?.stop();
    cert?.remove();
  });

  for (const which of ['sources', 'build'] as const) {
    it(`a TLS server and client made with the ${which}' copy see each other's addresses and talk`, async () => {
      const lib = which === 'sources' ? src : built!;
      expect(lib.createTlsServer, 'two distinct copies').to.not.equal(which === 'sources' ? built!.createTlsServer : src.createTlsServer);
      const seen: string[] = [];
      const server = lib.createTlsServer({ key: cert!.key, cert: cert!.cert, rumpServer: daemon.url }, (s) => {
        seen.push(`${s.remoteAddress} ${s.remotePort}`);
        s.end('hello');
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as net.AddressInfo;
      try {
        const c = lib.connectTls({ host: '127.0.0.1', port, ca: cert!.cert, rumpServer: daemon.url });
        await once(c, 'secureConnect');
        expect(c.remoteAddress).to.equal('127.0.0.1');
        expect(c.remotePort).to.equal(port);
        let got = '';
        c.on('data', (d: Buffer) => (got += d.toString()));
        await once(c, 'end');
        expect(got).to.equal('hello');
        expect(seen).to.deep.equal([`127.0.0.1 ${c.localPort}`]);
        c.destroy();
      } finally {
        server.close();
      }
    });
  }
});
