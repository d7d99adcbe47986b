/**
 * Issue 13, "Done when", the client half: IPv6 from a Node program on the
 * rump stack to the Linux kernel, through a real `rump-server --tap` inside
 * a network namespace the test creates (and deletes):
 *
 * - an UNMODIFIED `node:http` server script (`fixtures/http-any.mjs`,
 *   `listen(port)` with no host) runs under the hijack and listens on `[::]`
 *   of the rump stack, as Node listens natively; `curl -6` inside the
 *   namespace fetches 384 KiB from it over IPv6 (global ULA and link-local
 *   with a zone), sha256-checked, and `curl -4` over IPv4 from the same
 *   listener (dual stack: the program sees `::ffff:a.b.c.d`);
 * - a `udp6` socket of the client API echoes datagrams (fragmented sizes
 *   too) off a Linux `udp6` echo: to a global address, to a link-local one
 *   with a zone naming the rump interface (the same address with lo0's zone
 *   never reaches Linux), and to a v4-mapped address.
 *
 * The hijacked program runs in a second, empty namespace (only `lo`, no
 * route): natively it could reach nothing, so what curl reaches is the rump
 * stack. After each test the server's tables are empty and its cluster pool
 * all free; after the group it exited 0 and both namespaces are gone. Skips
 * with the reason unless root with /dev/net/tun, and without curl.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns, canUseNetns } from '@rumpnet/tap-bridge';
import { RumpConnection, createSocket, type DgramSocket, type RemoteInfo } from '../../src/index.js';
import type { CtlInterface } from '../../src/syscalls.js';
import { ROOT, TapRig, hijackImportArgs, netnsList, patternBytes, sha256, sleep, watch, type Proc } from './rig.js';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const HTTP_ANY = here('./fixtures/http-any.mjs');
const UDP6_ECHO = here('./fixtures/udp6-echo.mjs');
const TAP = 'rv6tap0';

/** Why curl cannot run here, or undefined. */
function noCurl(): string | undefined {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'curl is not installed';
  }
}

/** The rump server's Ethernet interface. */
async function rumpIf(conn: RumpConnection): Promise<CtlInterface> {
  const r = await conn.call<{ interfaces: CtlInterface[] }>('ctl.ifconfig', {});
  const ifp = r.interfaces.find((i) => i.kind === 'ethernet');
  if (ifp === undefined) throw new Error('the rump server has no Ethernet interface');
  return ifp;
}

describe('IPv6 from Node programs on the rump stack to the Linux kernel (rump-server --tap)', function () {
  this.timeout(60_000);
  let rig: TapRig | undefined;
  let conn: RumpConnection;
  /** An empty namespace for the hijacked program. */
  let bare: Netns | undefined;
  let ifname = '';
  let linux6 = '';
  let rump6 = '';
  let linuxLL = '';
  let rumpLL = '';

  before(async function () {
    const can = canUseNetns();
    const why = can.ok ? noCurl() : can.reason;
    if (why !== undefined) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    bare = await Netns.create({ prefix: 'rb6' });
    rig = await TapRig.start('rv6', TAP, [], { ipv6: true });
    conn = await RumpConnection.connect(rig.url, { name: 'ipv6-tests' });
    const sub = (Math.floor(Math.random() * 0xfffe) + 1).toString(16);
    linux6 = `fd00:${sub}::1`;
    rump6 = `fd00:${sub}::2`;
    await rig.ns.ip('-6', 'addr', 'add', `${linux6}/64`, 'dev', TAP, 'nodad');
    ifname = (await rumpIf(conn)).name;
    await conn.call('ctl.ifconfig', { ifname, op: 'add', addr: `${rump6}/64` });
    // Bounded: both sides' addresses usable (our DAD done, Linux's link-local out of tentative).
    for (let i = 0; ; i++) {
      const ifp = await rumpIf(conn);
      const six = ifp.addrs6 ?? [];
      rumpLL = six.find((a) => a.address.startsWith('fe80:'))?.address ?? '';
      const ours = six.length >= 2 && six.every((a) => a.state === 'preferred');
      const theirs = await rig.ns.ip('-6', '-o', 'addr', 'show', 'dev', TAP, 'scope', 'link');
      const m = /inet6 (fe80:[0-9a-f:]+)\/64/.exec(theirs);
      linuxLL = m?.[1] ?? '';
      if (ours && rumpLL !== '' && linuxLL !== '' && !theirs.includes('tentative')) break;
      if (i >= 200) throw new Error(`IPv6 addresses not ready: ours ${JSON.stringify(six)}, Linux's ${theirs}`);
      await sleep(50);
    }
  });
  afterEach(async () => {
    if (rig === undefined || rig.server.proc.exitCode !== null) return;
    await rig.expectQuiet(10_000);
  });
  after(async () => {
    await bare?.destroy();
    if (bare !== undefined) expect(netnsList()).to.not.include(bare.name);
    if (rig === undefined) return;
    await conn?.close();
    await rig.destroy();
    expect(netnsList()).to.not.include(rig.ns.name);
    expect(rig.exit, 'rump-server exit').to.equal(0);
  });

  const hijack = hijackImportArgs();
  it(`an UNMODIFIED node:http server under the hijack (<${hijack.built ? 'built' : 'source'} hijack>) listens on [::]; curl -6 on Linux fetches 384 KiB over IPv6, sha256 intact; curl -4 reaches it too`, async () => {
    const PORT = 8086;
    const SIZE = 384 * 1024;
    const body = patternBytes(SIZE, 66);
    const app: Proc = watch(
      bare!.spawn(process.execPath, [...hijack.args, HTTP_ANY, String(PORT), String(SIZE), '66'], {
        cwd: ROOT,
        env: { ...process.env, RUMP_SERVER: rig!.url },
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    app.proc.stdin!.on('error', () => undefined);
    const kill = setTimeout(() => app.proc.kill('SIGKILL'), 50_000);
    try {
      const ready = JSON.parse(await app.line((l) => l.includes('"listening"'), 'the program to listen', 20_000)) as { address: unknown };
      expect(ready.address).to.deep.equal({ address: '::', family: 'IPv6', port: PORT }); // as Node says natively

      /** GETs /big with curl inside the namespace; checks status, size, peer and sha256; returns the program's line for it. */
      const fetch = async (flag: '-6' | '-4', host: string, n: number): Promise<{ remote: string; remoteFamily: string; local: string }> => {
        const file = join(rig!.dir, `body${n}.out`);
        const r = await rig!.ns.exec('curl', [flag, '-s', '-g', '--max-time', '20', '-o', file, '-w', '%{http_code} %{size_download}', `http://${host}:${PORT}/big`], { timeoutMs: 25_000 });
        expect(r.stdout, `curl ${flag} ${host}: ${r.stderr}`).to.equal(`200 ${SIZE}`);
        expect(sha256(readFileSync(file))).to.equal(sha256(body));
        const seen = app.stdout().split('\n').filter((l) => l.includes('"request"'));
        expect(seen.length).to.equal(n);
        return JSON.parse(seen[n - 1]!) as { remote: string; remoteFamily: string; local: string };
      };
      // A global (ULA) address.
      expect(await fetch('-6', `[${rump6}]`, 1)).to.include({ remote: linux6, remoteFamily: 'IPv6', local: rump6 });
      // Link-local, curl's zone naming the Linux side of the tap.
      expect(await fetch('-6', `[${rumpLL}%25${TAP}]`, 2)).to.include({ remote: linuxLL, remoteFamily: 'IPv6', local: rumpLL });
      // IPv4 to the same [::] listener: the program sees it v4-mapped, as Node shows it.
      expect(await fetch('-4', rig!.rumpIp, 3)).to.include({ remote: `::ffff:${rig!.linuxIp}`, remoteFamily: 'IPv6', local: `::ffff:${rig!.rumpIp}` });
      app.proc.stdin!.end();
      expect(await app.exited).to.equal(0);
    } finally {
      clearTimeout(kill);
      if (app.proc.exitCode === null) app.proc.kill('SIGKILL');
    }
  });

  it('a udp6 socket of the client API echoes off a Linux udp6 echo: global, link-local with a zone, v4-mapped; fragmented sizes intact', async () => {
    const PORT = 7007;
    const echo = rig!.node(UDP6_ECHO, [PORT]);
    await echo.line((l) => l.includes('"listening"'), 'the Linux udp6 echo');
    const s: DgramSocket = createSocket({ type: 'udp6', connection: conn });
    const replies: [Buffer, RemoteInfo][] = [];
    s.on('message', (m, r) => replies.push([m, r]));
    s.bind(0);
    await once(s, 'listening');
    const me = s.address();
    expect(me).to.deep.include({ address: '::', family: 'IPv6' });
    try {
      /** One datagram there and back, retried (a first one may be lost while ND resolves); returns the echo's rinfo. */
      const roundTrip = async (to: string, size: number, seed: number): Promise<RemoteInfo> => {
        const data = patternBytes(size, seed);
        for (let attempt = 0; attempt < 3; attempt++) {
          const from = replies.length;
          s.send(data, PORT, to);
          for (let i = 0; i < 100 && replies.length === from; i++) await sleep(20);
          const got = replies.slice(from).find(([m]) => m.length === size && sha256(m) === sha256(data));
          if (got) return got[1];
        }
        throw new Error(`no echo of ${size} bytes from ${to}`);
      };
      for (const [size, seed] of [[5, 1], [1400, 2], [4000, 3], [30_000, 4]] as const) {
        expect(await roundTrip(linux6, size, seed)).to.deep.equal({ address: linux6, family: 'IPv6', port: PORT, size });
      }
      // A link-local destination needs its zone: the rump interface's name becomes sin6_scope_id.
      expect(await roundTrip(`${linuxLL}%${ifname}`, 1000, 5)).to.deep.include({ address: linuxLL, family: 'IPv6', port: PORT });
      // The zone is honoured, not guessed: the same address through lo0 is another destination,
      // which never reaches Linux (sent first, on the same path, it would arrive before the next).
      await new Promise<Error | null>((r) => s.send(patternBytes(777, 7), PORT, `${linuxLL}%lo0`, (e) => r(e)));
      expect(await roundTrip(`${linuxLL}%${ifname}`, 778, 8)).to.deep.include({ address: linuxLL, size: 778 });
      // A dual-stack udp6 socket reaches IPv4 through a v4-mapped address.
      expect(await roundTrip(`::ffff:${rig!.linuxIp}`, 600, 6)).to.deep.equal({ address: `::ffff:${rig!.linuxIp}`, family: 'IPv6', port: PORT, size: 600 });
      // What Linux saw: each from the rump stack's address of that family.
      const seen = echo
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"datagram"'))
        .map((l) => JSON.parse(l) as RemoteInfo);
      const froms = new Set(seen.map((r) => r.address.replace(/%.*$/, '')));
      expect([...froms]).to.have.members([rump6, rumpLL, `::ffff:${rig!.rumpIp}`]);
      expect(seen.every((r) => r.port === me.port)).to.equal(true);
      expect(seen.filter((r) => r.size === 777)).to.deep.equal([]);
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
      echo.proc.stdin!.end();
      await echo.exited;
    }
  });
});
