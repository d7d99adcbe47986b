/**
 * The admin boundary, end to end: a real `rump-server` process with
 * `--socket-mode 666 --admin-group staff`, and clients that are real
 * processes of other users (spawned with `{ uid, gid }`, or through
 * `setpriv` for a supplementary group). The server decides from
 * SO_PEERCRED: `nobody` may use sockets (a UDP echo through lo0) and read
 * (netstat, sysctl, its own `clients` line) but gets EPERM — with the reason
 * `rumpctl` prints — for halt, sysctl writes and configuration changes, and
 * never sees another client; the server's uid and the admin group may do
 * everything. TCP listeners (in-process): no admin without `--tcp-admin`.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { RumpConnection } from '@rumpnet/client';
import type { CtlClient, CtlServerInfo } from '../../src/proto/index.js';
import { buildProgram, parseServerArgs, type ServerConfig } from '../../src/config.js';
import { OWN_ROWS_ONLY, ownRowsOnly, privilegeNeeded } from '../../src/ctl/privilege.js';
import type { ClientSession } from '../../src/session/index.js';
import { AdminPolicy, procGroups, resolveAdminGroup } from '../../src/session/index.js';
import { ROOT, cleanup, expectQuiet, expectQuietRemote, killAll, spawnServer, startServer, tmpDir, type ServerProcess } from './helpers.js';

const NOBODY = 65534;
const NOGROUP = 65534;

/** What the unprivileged client script reports (one JSON line). */
interface ClientReport {
  echo: string;
  uid: number;
  tries: Record<string, { ok: boolean; code?: string; reason?: string; clients?: number; hidden?: number; rows?: number }>;
}

/**
 * The client a foreign user runs: an ES module on the built client
 * (`npm run build` first), given the server URL. It echoes a datagram
 * through lo0 in the server's stack, then tries every call of the boundary
 * and prints what each did.
 */
const CLIENT_SCRIPT = `
import { RumpConnection, inet } from '@rumpnet/client';
const c = await RumpConnection.connect(process.argv[1], { name: 'foreign' });
const a = await c.sys.socket('dgram');
await c.sys.bind(a, inet('127.0.0.1', 7007));
const b = await c.sys.socket('dgram');
await c.sys.sendto(b, Buffer.from('hello through lo0'), inet('127.0.0.1', 7007));
const buf = Buffer.alloc(64);
const n = await c.sys.recv(a, buf);
const tries = {};
const attempt = async (label, name, args) => {
  try {
    const r = await c.call(name, args);
    tries[label] = { ok: true, clients: r.clients?.length, hidden: r.hidden, rows: (r.rows ?? r.sockets ?? r.routes)?.length };
  } catch (e) {
    tries[label] = { ok: false, code: e.code, reason: e.reason };
  }
};
await attempt('sysctlRead', 'ctl.sysctl', { name: 'net.inet.tcp.syncache.limit' });
await attempt('sysctlWrite', 'ctl.sysctl', { name: 'kern.sbmax', value: 536870912 });
await attempt('netstat', 'ctl.netstat', { what: 'sockets' });
await attempt('route', 'ctl.route', {});
await attempt('routeAdd', 'ctl.route', { op: 'add', dest: '10.77.0.0/16', gateway: 'lo0' });
await attempt('ifconfigAdd', 'ctl.ifconfig', { ifname: 'lo0', op: 'add', addr: '127.0.0.77/8' });
await attempt('ifconfigDown', 'ctl.ifconfig', { ifname: 'lo0', op: 'down' });
await attempt('arpDelete', 'ctl.arp', { op: 'delete', ip: '127.0.0.1' });
await c.sys.close(a);
await c.sys.close(b);
await attempt('clients', 'ctl.clients', {});
await attempt('halt', 'ctl.halt', {});
await c.close().catch(() => {});
console.log(JSON.stringify({ echo: buf.subarray(0, n).toString(), uid: process.getuid(), tries }));
`;

/** Runs `argv` (a node command line) to completion as another user; resolves with its output. */
function runAs(argv: string[], ids: { uid: number; gid: number } | null, ms = 20_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' }, ...(ids ?? {}) });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} did not finish in ${ms} ms (stderr: ${err})`));
    }, ms);
    p.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

/** The foreign client's report, run as `ids` (or through `prefix`, e.g. setpriv). */
async function foreignClient(url: string, ids: { uid: number; gid: number } | null, prefix: string[] = []): Promise<ClientReport> {
  const r = await runAs([...prefix, process.execPath, '--input-type=module', '-e', CLIENT_SCRIPT, url], ids);
  expect(r.code, `foreign client failed: ${r.err}`).to.equal(0);
  return JSON.parse(r.out.trim().split('\n').at(-1)!) as ClientReport;
}

const RUMPCTL_DIST = join(ROOT, 'packages/server/dist/src/rumpctl.js');

describe('admin boundary: who may halt, write sysctls and see other clients (SO_PEERCRED)', function () {
  this.timeout(60_000);
  let srv: ServerProcess | undefined;
  let url: string;
  let staff: number;
  let watcher: RumpConnection | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: needs root, to run clients as another user)');
      return this.skip();
    }
    try {
      staff = resolveAdminGroup('staff').gid; // Debian's gid 50
    } catch {
      console.log('      (skipped: no group "staff" in /etc/group to use as the admin group)');
      return this.skip();
    }
    const dir = tmpDir('rumpnet-admin-');
    chmodSync(dir, 0o755); // nobody must reach the socket file
    url = `unix://${join(dir, 'rump.sock')}`;
    srv = await spawnServer([url, '--socket-mode', '666', '--admin-group', 'staff']);
    expect(srv.stdout()).to.match(/admin\s+root or group staff \(\d+\) may halt/);
    // An admin client that stays connected: the foreign clients must not see it.
    watcher = await RumpConnection.connect(url, { name: 'watcher' });
  });
  after(async () => {
    await watcher?.close();
    if (srv !== undefined) {
      srv.proc.kill('SIGTERM');
      await srv.exited;
    }
    killAll();
    cleanup();
  });

  it('nobody uses sockets and reads, but halt, sysctl writes and configuration changes are EPERM; it sees only itself', async () => {
    const r = await foreignClient(url, { uid: NOBODY, gid: NOGROUP });
    expect(r.uid).to.equal(NOBODY);
    expect(r.echo).to.equal('hello through lo0');
    const t = r.tries;
    expect(t.sysctlRead).to.include({ ok: true, rows: 1 });
    expect(t.netstat!.ok).to.equal(true);
    expect(t.route!.ok).to.equal(true);
    for (const k of ['sysctlWrite', 'routeAdd', 'ifconfigAdd', 'ifconfigDown', 'arpDelete', 'halt']) {
      expect(t[k], k).to.include({ ok: false, code: 'EPERM' });
      expect(t[k]!.reason, k).to.match(/needs admin: root or group staff \(\d+\); this client is uid 65534$/);
    }
    expect(t.halt!.reason).to.match(/^halt needs admin/);
    expect(t.sysctlWrite!.reason).to.match(/^sysctl write needs admin/);
    // Its own line only; the watcher (and nothing else of it) is hidden.
    expect(t.clients).to.deep.equal({ ok: true, clients: 1, hidden: 1 });
    // Nothing changed: kern.sbmax, lo0, routes are as they were, and the server still runs.
    const sb = await watcher!.call<{ rows: { value: number }[] }>('ctl.sysctl', { name: 'kern.sbmax' });
    expect(sb.rows[0]!.value).to.not.equal(536870912);
    const ifs = await watcher!.call<{ interfaces: { up: boolean; addrs: unknown[] }[] }>('ctl.ifconfig', { ifname: 'lo0' });
    expect(ifs.interfaces[0]).to.deep.include({ up: true });
    expect(ifs.interfaces[0]!.addrs).to.have.length(1);
    expect(srv!.stderr()).to.match(/"call":"ctl.halt".*"msg":"refused: needs admin"/);
  });

  it('rumpctl run by nobody says why: "halt: EPERM (Operation not permitted): halt needs admin: ..."', async () => {
    const r = await runAs([process.execPath, RUMPCTL_DIST, '-s', url, 'halt'], { uid: NOBODY, gid: NOGROUP });
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/^rumpctl: halt: EPERM \(operation not permitted\): halt needs admin: root or group staff \(\d+\); this client is uid 65534\n$/i);
    const s = await runAs([process.execPath, RUMPCTL_DIST, '-s', url, 'sysctl', 'net.inet.tcp.syncache.limit=1'], { uid: NOBODY, gid: NOGROUP });
    expect(s.code).to.equal(1);
    expect(s.err).to.match(/sysctl: EPERM .*sysctl write needs admin/);
    const c = await runAs([process.execPath, RUMPCTL_DIST, '-s', url, 'clients'], { uid: NOBODY, gid: NOGROUP });
    expect(c.code).to.equal(0);
    expect(c.out, c.out).to.match(/\n\s*\d+\s+\d+\s+65534\s+no\s+rumpctl\s/);
    expect(c.out).to.not.include('watcher');
    expect(c.out).to.match(/\(1 other client not shown: needs admin\)/);
    // Who is admin, and the refusals so far: six calls of the first test, the halt and the sysctl write here.
    const refused = /\nadmin: root or group staff \(\d+\)  \((\d+) calls refused\)\n/.exec(c.out);
    expect(refused, c.out).to.not.equal(null);
    expect(Number(refused![1])).to.equal(8);
  });

  it('a member of the admin group by its primary gid is admin: writes, sees every client, may halt', async () => {
    const r = await foreignClient(url, { uid: NOBODY, gid: staff });
    for (const k of ['sysctlWrite', 'routeAdd', 'ifconfigAdd']) expect(r.tries[k], k).to.include({ ok: true });
    expect(r.tries.clients!.clients).to.equal(2); // itself and the watcher
    expect(r.tries.clients!.hidden).to.equal(undefined);
    // It halted the server: the last try.
    expect(r.tries.halt).to.include({ ok: true });
    expect(await srv!.exited).to.equal(0);
    srv = undefined;
    await watcher!.close();
    watcher = undefined;
  });

  it('a supplementary admin group counts (SO_PEERGROUPS, through setpriv); the server\'s uid may do all', async function () {
    const setpriv = spawnSync('setpriv', ['--version']);
    srv = await spawnServer([url, '--socket-mode', '666', '--admin-group', String(staff)]);
    if (setpriv.status === 0) {
      const r = await foreignClient(url, null, ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOGROUP}`, `--groups=${staff}`, '--']);
      expect(r.uid).to.equal(NOBODY);
      expect(r.tries.sysctlWrite).to.include({ ok: true });
      expect(r.tries.halt).to.include({ ok: true });
      expect(await srv.exited).to.equal(0);
      srv = await spawnServer([url, '--socket-mode', '666']);
    } else {
      console.log('      (supplementary-group case skipped: no setpriv)');
    }
    // The server's own uid (root here): everything, including halt, and sees all.
    const c = await RumpConnection.connect(url, { name: 'root' });
    const old = await c.call<{ rows: { value: number; old?: number }[] }>('ctl.sysctl', { name: 'net.inet.tcp.syncache.limit', value: 4096 });
    expect(old.rows[0]!.value).to.equal(4096);
    await expectQuietRemote(url);
    await c.call('ctl.halt', {});
    await c.close();
    expect(await srv.exited).to.equal(0);
    srv = undefined;
  });
});

describe('admin boundary: tcp:// listeners', function () {
  this.timeout(30_000);
  after(() => {
    killAll();
    cleanup();
  });
  const tcpCfg = (tcpAdmin: boolean): Partial<ServerConfig> => ({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, tcpAdmin });

  it('a TCP client is not admin by default: reads work, halt and sysctl writes are EPERM', async () => {
    const srv = await startServer(tcpCfg(false));
    const c = await RumpConnection.connect(srv.url, { name: 'tcp-client' });
    try {
      const r = await c.call<{ clients: CtlClient[]; server: CtlServerInfo }>('ctl.clients', {});
      expect(r.clients).to.have.length(1);
      expect(r.clients[0]).to.include({ admin: false, uid: null });
      await c.call('ctl.sysctl', { name: 'kern.sbmax' });
      for (const [name, args] of [['ctl.halt', {}], ['ctl.sysctl', { name: 'kern.sbmax', value: 1 << 20 }]] as const) {
        const e = await c.call(name, args).then(() => null, (err: unknown) => err as { code: string; reason?: string });
        expect(e, name).to.include({ code: 'EPERM' });
        expect(e!.reason).to.match(/needs admin: root(, uid \d+)?; this client is tcp client: no credentials$/);
      }
    } finally {
      await c.close();
      await expectQuiet(srv);
      await srv.close();
    }
  });

  it('with --tcp-admin a TCP client is admin (and the server may be halted by it)', async () => {
    const srv = await startServer(tcpCfg(true));
    expect(srv.admin.describe()).to.match(/any tcp:\/\/ client \(--tcp-admin\)$/);
    const c = await RumpConnection.connect(srv.url, { name: 'tcp-admin' });
    const r = await c.call<{ clients: CtlClient[] }>('ctl.clients', {});
    expect(r.clients[0]).to.include({ admin: true });
    await c.call('ctl.halt', {});
    expect(await srv.done).to.match(/halt requested/);
    await c.close();
  });

  it('rump-server tcp://127.0.0.1:0 --tcp-admin warns in its banner and log, and a TCP client may halt it', async () => {
    const sp = await spawnServer(['tcp://127.0.0.1:0', '--tcp-admin']);
    try {
      const m = /listening on (tcp:\/\/127\.0\.0\.1:\d+)/.exec(sp.stdout());
      expect(m, sp.stdout()).to.not.equal(null);
      expect(m![1]).to.not.match(/:0$/);
      expect(sp.stdout()).to.match(/admin\s+root.*; any tcp:\/\/ client \(--tcp-admin\) may halt/);
      expect(sp.stdout()).to.match(/WARNING\s+--tcp-admin: any local user who can connect to this port is admin/);
      expect(sp.stderr()).to.match(/"msg":"--tcp-admin: every local user who can reach this port may halt the server/);
      const c = await RumpConnection.connect(m![1]!, { name: 'tcp-halter' });
      await c.call('ctl.halt', {});
      await c.close();
      expect(await sp.exited).to.equal(0);
    } finally {
      sp.proc.kill('SIGKILL');
    }
  });

  it('without --tcp-admin, rump-server on tcp:// refuses a TCP client\'s halt', async () => {
    const sp = await spawnServer(['tcp://127.0.0.1:0']);
    try {
      const url = /listening on (tcp:\/\/127\.0\.0\.1:\d+)/.exec(sp.stdout())![1]!;
      expect(sp.stdout()).to.not.match(/WARNING/);
      const c = await RumpConnection.connect(url, { name: 'tcp-user' });
      const e = await c.call('ctl.halt', {}).then(() => null, (err: { code: string }) => err.code);
      expect(e).to.equal('EPERM');
      await c.close();
      sp.proc.kill('SIGTERM');
      expect(await sp.exited).to.equal(0);
    } finally {
      sp.proc.kill('SIGKILL');
    }
  });

  it('--tcp-admin is refused for a Unix listener; --admin-group resolves names and numbers, and refuses unknown ones', () => {
    expect(() => parseServerArgs(['--tcp-admin'], {})).to.throw(/--tcp-admin applies to a tcp:\/\/ listener only/);
    const ok = parseServerArgs(['tcp://127.0.0.1:7000', '--tcp-admin', '--admin-group', 'root', '--admin-group', '0', '--admin-group', '4242'], {}) as ServerConfig;
    expect(ok.tcpAdmin).to.equal(true);
    expect(ok.adminGroups).to.deep.equal([{ gid: 0, name: 'root' }, { gid: 0, name: 'root' }, { gid: 4242, name: null }]);
    expect(() => parseServerArgs(['--admin-group', 'no-such-group-xyz'], {})).to.throw(/--admin-group: no group named "no-such-group-xyz"/);
    // The listener may come from RUMP_SERVER; what counts is where the server listens.
    expect((parseServerArgs(['--tcp-admin'], { RUMP_SERVER: 'tcp://127.0.0.1:7000' }) as ServerConfig).tcpAdmin).to.equal(true);
    expect(() => parseServerArgs(['unix:///tmp/x.sock', '--tcp-admin'], { RUMP_SERVER: 'tcp://127.0.0.1:7000' })).to.throw(/tcp:\/\/ listener only/);
    expect(buildProgram('0').helpInformation() + '').to.include('--admin-group <name|gid>');
  });
});

describe('admin boundary: the policy and the privilege table', () => {
  it('decides from uid, gid and groups; refuses without credentials', () => {
    const p = new AdminPolicy({ serverUid: 1000, groups: [{ gid: 50, name: 'staff' }] });
    const cred = (uid: number, gid: number, groups: number[] | null) => ({ pid: 1, uid, gid, groups });
    expect(p.decide('unix', cred(0, 0, [])).admin).to.equal(true);
    expect(p.decide('unix', cred(1000, 1000, [])).admin).to.equal(true);
    expect(p.decide('unix', cred(1001, 50, [])).admin).to.equal(true);
    expect(p.decide('unix', cred(1001, 100, [7, 50])).why).to.equal('uid 1001 in group staff');
    expect(p.decide('unix', cred(1001, 100, [7])).admin).to.equal(false);
    expect(p.decide('unix', null, 'addon not built')).to.deep.include({ admin: false, why: 'no peer credentials: addon not built' });
    expect(p.decide('tcp', null).admin).to.equal(false);
    expect(p.describe()).to.equal('root, uid 1000 or group staff (50)');
    // The /proc fallback (kernels without SO_PEERGROUPS) checks the uid it reads against the socket's.
    expect(procGroups(process.pid, process.geteuid!())).to.be.an('array');
    expect(procGroups(process.pid, process.geteuid!() + 1)).to.equal(null);
  });

  it('names what needs admin; reads and socket calls pass', () => {
    expect(privilegeNeeded('ctl.halt', {})).to.equal('halt');
    expect(privilegeNeeded('ctl.sysctl', { name: 'kern.sbmax', value: 1 })).to.equal('sysctl write');
    expect(privilegeNeeded('ctl.sysctl', { name: 'kern.sbmax' })).to.equal(undefined);
    expect(privilegeNeeded('ctl.ifconfig', { ifname: 'lo0', op: 'mtu', mtu: 1500 })).to.equal('ifconfig mtu');
    expect(privilegeNeeded('ctl.ifconfig', { ifname: 'lo0' })).to.equal(undefined);
    expect(privilegeNeeded('ctl.route', { op: 'show' })).to.equal(undefined);
    expect(privilegeNeeded('ctl.arp', { op: 'add', ip: '1.2.3.4', mac: '02:00:00:00:00:01' })).to.equal('arp add');
    expect(privilegeNeeded('socket', { domain: 'inet', type: 'raw' })).to.equal('raw socket');
    for (const n of ['socket', 'bind', 'sendto', 'ctl.netstat', 'ctl.clients', 'ctl.ping']) expect(privilegeNeeded(n, { type: 'stream' }), n).to.equal(undefined);
  });

  it('cuts any listing of clients (ctl.clients, ctl.usage) to the caller\'s own row', () => {
    expect([...OWN_ROWS_ONLY]).to.include.members(['ctl.clients', 'ctl.usage']);
    const me = { id: 2 } as ClientSession;
    const usage = { server: { sessions: 3 }, clients: [{ session: 1, pid: 10 }, { session: 2, pid: 20 }, { session: 3, pid: 30 }] };
    expect(ownRowsOnly(usage, me)).to.deep.equal({ server: { sessions: 3 }, clients: [{ session: 2, pid: 20 }], hidden: 2 });
    expect(ownRowsOnly({ clients: [{ session: 2 }] }, me)).to.deep.equal({ clients: [{ session: 2 }] });
    expect(ownRowsOnly({ rows: [] }, me)).to.deep.equal({ rows: [] });
  });
});
