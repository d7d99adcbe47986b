/**
 * fetch() and TLS on the rump stack against the Linux kernel, through a real
 * `rump-server --tap` inside a network namespace the test creates:
 *
 * - an UNMODIFIED program under the hijack fetches 4 MiB with the global
 *   `fetch()` from a Linux `node:http` server and from a Linux `node:https`
 *   server (the certificate trusted through `NODE_EXTRA_CA_CERTS`). It runs
 *   in a second namespace with nothing but `lo`, so natively it could reach
 *   nothing: the rump server's Unix socket is its only way out;
 * - `curl --cacert` on Linux fetches 4 MiB from an `https` server on the
 *   rump stack, the certificate (made for the stack's address) verified.
 *
 * sha256 checks every body; Linux sees each request come from the rump
 * stack's address; the rump server counts the connections. After each test
 * the server's descriptor tables are empty and its pool all free; after the
 * group it exited 0 and the namespaces are gone. Skips with the reason
 * unless root with /dev/net/tun (and openssl for the certificate).
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns, canUseNetns } from '@rumpnet/tap-bridge';
import { RumpConnection, useRumpStack } from '../../src/index.js';
import type { CtlNetstatResult } from '../../src/syscalls.js';
import { makeTestCert, noOpenssl, type TestCert } from '../fixtures/cert.js';
import { ROOT, TapRig, hijackImportArgs, netnsList, patternBytes, sha256, watch } from './rig.js';

const MiB = 1024 * 1024;
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/** The tcp.* counters of the server, by leaf name. */
async function tcpStats(c: RumpConnection): Promise<Record<string, number>> {
  const r = await c.call<CtlNetstatResult>('ctl.netstat', { what: 'stats', proto: 'tcp' });
  return Object.fromEntries(r.stats!.map((s) => [s.name.split('.').pop()!, s.value]));
}

describe('fetch() and TLS through rump-server --tap with the Linux kernel', function () {
  this.timeout(60_000);
  let rig: TapRig | undefined;
  let bare: Netns | undefined;
  let conn: RumpConnection;
  let cert: TestCert | undefined;
  let linuxHttp: ReturnType<typeof watch>;
  let linuxHttps: ReturnType<typeof watch>;
  const HTTP_PORT = 8081;
  const HTTPS_PORT = 8443;
  const linuxBody = patternBytes(4 * MiB, 91);

  before(async function () {
    const can = canUseNetns();
    const why = can.ok ? noOpenssl() : can.reason;
    if (why !== undefined) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    bare = await Netns.create({ prefix: 'rtlsb' });
    rig = await TapRig.start('rtls', 'rttap0', ['--mclnum', '16']);
    conn = await RumpConnection.connect(rig.url, { name: 'tlsfetch-tap-tests' });
    cert = makeTestCert([rig.rumpIp, rig.linuxIp]);
    linuxHttp = rig.node(here('./fixtures/linux-http.mjs'), [HTTP_PORT, linuxBody.length, 91]);
    linuxHttps = rig.node(here('./fixtures/linux-https.mjs'), [HTTPS_PORT, linuxBody.length, 91, cert.keyPath, cert.certPath]);
    await linuxHttp.line((l) => l.includes('"listening"'), 'the Linux http server');
    await linuxHttps.line((l) => l.includes('"listening"'), 'the Linux https server');
  });
  afterEach(async () => {
    if (rig === undefined || rig.server.proc.exitCode !== null) return;
    await rig.expectQuiet(10_000);
  });
  after(async () => {
    await bare?.destroy();
    if (bare !== undefined) expect(netnsList()).to.not.include(bare.name);
    cert?.remove();
    if (rig === undefined) return;
    await conn?.close();
    await rig.destroy();
    expect(netnsList()).to.not.include(rig.ns.name);
    expect(rig.exit, 'rump-server exit').to.equal(0);
  });

  const hijack = hijackImportArgs();
  it(`an UNMODIFIED program under the hijack (${hijack.built ? 'built' : 'source'}) fetches 4 MiB from Linux with fetch(), over http and https, through the rump stack`, async () => {
    const before = await tcpStats(conn);
    const urls = [`http://${rig!.linuxIp}:${HTTP_PORT}/big`, `https://${rig!.linuxIp}:${HTTPS_PORT}/big`];
    const app = watch(
      bare!.spawn(process.execPath, [...hijack.args, here('./fixtures/fetch-global.mjs'), ...urls], {
        cwd: ROOT,
        env: { ...process.env, RUMP_SERVER: rig!.url, NODE_EXTRA_CA_CERTS: cert!.certPath },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const kill = setTimeout(() => app.proc.kill('SIGKILL'), 40_000);
    try {
      for (const url of urls) {
        const r = JSON.parse(await app.line((l) => l.startsWith(`{"url":"${url}"`), `the result for ${url}`, 40_000)) as Record<string, unknown>;
        expect(r).to.deep.equal({ url, status: 200, bytes: linuxBody.length, sha: sha256(linuxBody) });
      }
      expect(await app.exited).to.equal(0); // and it exited by itself
      // Linux saw both requests come from the rump stack's address on the tap.
      for (const [server, what] of [[linuxHttp, 'http'], [linuxHttps, 'https']] as const) {
        const seen = JSON.parse(await server.line((l) => l.includes('"event":"request"'), `the Linux ${what} request line`)) as { remote: string; url: string; tls?: string };
        expect(seen).to.deep.include({ remote: rig!.rumpIp, url: '/big' });
        if (what === 'https') expect(seen.tls).to.match(/^TLSv1\.[23]$/);
      }
      const after = await tcpStats(conn);
      expect({ connattempt: after.connattempt! - before.connattempt!, connects: after.connects! - before.connects! }).to.deep.equal({ connattempt: 2, connects: 2 });
    } finally {
      clearTimeout(kill);
    }
  });

  it('curl --cacert on Linux fetches 4 MiB from an https server on the rump stack, the certificate verified', async () => {
    const body = patternBytes(4 * MiB, 17);
    const seen: string[] = [];
    const server = useRumpStack(
      https.createServer({ key: cert!.key, cert: cert!.cert }, (req, res) => {
        seen.push(`${req.socket.remoteAddress} ${req.url}`);
        res.setHeader('content-length', body.length);
        res.end(body);
      }),
      { connection: conn },
    );
    server.listen(HTTPS_PORT, '0.0.0.0');
    await once(server, 'listening');
    const before = await tcpStats(conn);
    try {
      const file = join(rig!.dir, 'tls.out');
      const r = await rig!.ns.exec('curl', ['-s', '--max-time', '30', '--cacert', cert!.certPath, '-o', file, '-w', '%{http_code} %{size_download} %{ssl_verify_result}', `https://${rig!.rumpIp}:${HTTPS_PORT}/big`], { timeoutMs: 35_000 });
      expect(r.stdout, r.stderr).to.equal(`200 ${body.length} 0`); // 0: the chain and the name verified
      expect(sha256(readFileSync(file))).to.equal(sha256(body));
      expect(seen).to.deep.equal([`${rig!.linuxIp} /big`]); // the request came over the tap, from Linux
      const after = await tcpStats(conn);
      expect(after.accepts! - before.accepts!).to.equal(1);
    } finally {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    }
  });
});
