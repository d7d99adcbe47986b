/**
 * `rumpctl` against a running server (in-process for speed; the command
 * itself runs in-process too through `runRumpctl`, with its output
 * captured): sane BSD-style tables for ifconfig, route, netstat -an / -m /
 * -s / -r, arp, ping, sysctl and clients; changes that really change the
 * stack; errors as exit status 1 with the errno's name; usage errors 2.
 * Also the tightened `ctl.*` schemas: a bad control argument never reaches
 * a handler.
 */
import { expect } from 'chai';
import { RumpConnection, inet } from '@rumpnet/client';
import { SYSCALL_SCHEMAS, checkArgs } from '../../src/proto/index.js';
import { runRumpctl, parseIfconfigWords } from '../../src/ctl/rumpctl-main.js';
import type { RumpServer } from '../../src/server.js';
import { cleanup, expectQuiet, startServer, waitFor } from './helpers.js';

describe('rumpctl', () => {
  let srv: RumpServer;
  /** Runs rumpctl against `srv`; resolves with exit status and output. */
  const ctl = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await runRumpctl(['-s', srv.url, ...argv], { out: (s) => (out += s), err: (s) => (err += s), env: {} });
    return { code, out, err };
  };

  beforeEach(async () => {
    srv = await startServer({ mclnum: 8 });
  });
  afterEach(async () => {
    await expectQuiet(srv);
    await srv.close();
  });
  after(() => cleanup());

  it('ifconfig shows lo0; adds and removes an address; mtu; down and up', async () => {
    let r = await ctl('ifconfig');
    expect(r.code).to.equal(0);
    expect(r.out).to.match(/^lo0: flags=<UP,LOOPBACK,RUNNING> mtu 16384 index 1\n\tinet 127\.0\.0\.1\/8\n/);
    r = await ctl('ifconfig', 'lo0', 'inet', '127.0.0.9/8', 'alias');
    expect(r.out).to.include('inet 127.0.0.9/8');
    expect(srv.stack.ifnet('lo0').addrs).to.have.length(2);
    r = await ctl('ifconfig', 'lo0', '127.0.0.9', 'delete');
    expect(r.out).to.not.include('127.0.0.9');
    r = await ctl('ifconfig', 'lo0', 'mtu', '9000');
    expect(r.out).to.match(/mtu 9000/);
    r = await ctl('ifconfig', 'lo0', 'down');
    expect(r.out).to.match(/flags=<DOWN,LOOPBACK>/);
    r = await ctl('ifconfig', 'lo0', 'up');
    expect(r.out).to.match(/flags=<UP,LOOPBACK,RUNNING>/);
  });

  it('ifconfig errors: no such interface is ENODEV (exit 1), nonsense words are a usage error (exit 2)', async () => {
    let r = await ctl('ifconfig', 'nope0', 'up');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/ifconfig: ENODEV/);
    r = await ctl('ifconfig', 'lo0', 'sideways');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/cannot make sense/);
    expect(parseIfconfigWords('bus0', ['10.0.0.2/24'])).to.deep.equal({ ifname: 'bus0', op: 'add', addr: '10.0.0.2/24' });
    expect(parseIfconfigWords('bus0', ['inet', '10.0.0.2', '-alias'])).to.deep.equal({ ifname: 'bus0', op: 'delete', addr: '10.0.0.2' });
  });

  it('route add/show/delete, and netstat -r', async () => {
    let r = await ctl('route', 'add', '10.20.0.0/16', 'lo0');
    expect(r.code).to.equal(0);
    r = await ctl('netstat', '-rn');
    expect(r.out).to.match(/Destination\s+Gateway\s+Flags\s+Use\s+Interface/);
    expect(r.out).to.match(/10\.20\.0\.0\/16\s+link\s+US\s+0\s+lo0/);
    expect(r.out).to.match(/127\.0\.0\.1\/32\s+link\s+UHL/);
    r = await ctl('route', 'delete', '10.20.0.0/16');
    expect(r.code).to.equal(0);
    r = await ctl('route', 'show');
    expect(r.out).to.not.include('10.20.0.0');
    r = await ctl('route', 'delete', '10.20.0.0/16');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/ENOENT/);
    r = await ctl('route', 'add', '10.21.0.0/16', '192.168.77.1');
    expect(r.err).to.match(/ENETUNREACH/);
  });

  it('netstat -an lists every socket with its client and descriptor', async () => {
    const a = await RumpConnection.connect(srv.url);
    const s = await a.sys.socket('dgram');
    await a.sys.bind(s, inet('127.0.0.1', 6000));
    const t = await a.sys.socket('dgram');
    await a.sys.connect(t, inet('127.0.0.1', 6000));
    await a.sys.send(t, Buffer.alloc(300));
    await waitFor(() => srv.layer.sockets().some((x) => x.rcv.cc > 0), 'the datagram to arrive');
    const sess = srv.processes()[0]!.session.id;
    const r = await ctl('netstat', '-an');
    const lines = r.out.trim().split('\n');
    expect(lines[0]).to.equal('Active Internet connections (including servers)');
    expect(lines[1]).to.match(/^Proto\s+Recv-Q\s+Send-Q\s+Local Address\s+Foreign Address\s+State\s+Client\/fd$/);
    expect(lines.slice(2)).to.have.length(2);
    expect(lines[2]).to.match(new RegExp(`^udp\\s+300\\s+0\\s+127\\.0\\.0\\.1\\.6000\\s+\\*\\.\\*\\s+${sess}/0$`));
    expect(lines[3]).to.match(new RegExp(`^udp\\s+0\\s+0\\s+127\\.0\\.0\\.1\\.\\d+\\s+127\\.0\\.0\\.1\\.6000\\s+CONNECTED\\s+${sess}/1$`));
    await a.close();
  });

  it('netstat -an shows TCP listeners and connections with their states', async () => {
    const a = await RumpConnection.connect(srv.url);
    const l = await a.sys.socket('stream');
    await a.sys.bind(l, inet('127.0.0.1', 6100));
    await a.sys.listen(l, 4);
    const c = await a.sys.socket('stream');
    const acc = a.sys.accept(l);
    await a.sys.connect(c, inet('127.0.0.1', 6100));
    const conn = await acc;
    const r = await ctl('netstat', '-an');
    const sess = srv.processes()[0]!.session.id;
    // One row: tcp, empty queues, local, foreign, state, client/fd.
    const row = (local: string, foreign: string, state: string, fd: number): RegExp =>
      new RegExp(`\\ntcp\\s+0\\s+0\\s+${local}\\s+${foreign}\\s+${state}\\s+${sess}/${fd}(\\n|$)`);
    expect(r.out).to.match(row('127\\.0\\.0\\.1\\.6100', '\\*\\.\\*', 'LISTEN', l));
    expect(r.out).to.match(row('127\\.0\\.0\\.1\\.\\d+', '127\\.0\\.0\\.1\\.6100', 'ESTABLISHED', c));
    expect(r.out).to.match(row('127\\.0\\.0\\.1\\.6100', '127\\.0\\.0\\.1\\.\\d+', 'ESTABLISHED', conn.fd));
    // The active closer's connection outlives its socket in TIME-WAIT: still listed, with no client/fd.
    await a.sys.close(c);
    await a.sys.close(conn.fd);
    await waitFor(() => srv.net.tcp.stateCounts()['TIME-WAIT'] === 1, 'TIME-WAIT');
    const after = await ctl('netstat', '-an');
    expect(after.out).to.match(/\ntcp\s+0\s+0\s+127\.0\.0\.1\.\d+\s+127\.0\.0\.1\.6100\s+TIME-WAIT\s+-(\n|$)/);
    await a.close();
  });

  it('netstat -m shows the pool and the copy parameters; netstat -s the counters', async () => {
    const a = await RumpConnection.connect(srv.url);
    const s = await a.sys.socket('dgram');
    await a.sys.bind(s, inet('127.0.0.1', 6001));
    await a.sys.sendto(s, Buffer.alloc(5000), inet('127.0.0.1', 6001)); // 3 clusters held in the receive buffer
    await waitFor(() => srv.stack.pool.stats().clustersInUse > 0, 'clusters in use');
    let r = await ctl('netstat', '-m');
    expect(r.out).to.include('MCLBYTES 2048, MCLNUM 8 (clusters per copyin), copy window 4, inline 2048 bytes, inline receive 2048 bytes, receive coalesced');
    expect(r.out).to.match(/^3\/16384 mbuf clusters in use \(current\/max\)/m);
    expect(r.out).to.match(/1 extended clusters handed out/);
    expect(r.out).to.match(/^memory pressure: no \(from 14336 clusters in use down to 12288; entered 0 times\)$/m);
    expect(r.out).to.match(/^256 clusters and 512 mbufs reserved for the receive path and ACKs/m);
    await a.close();
    await expectQuiet(srv);
    r = await ctl('netstat', '-m');
    expect(r.out).to.match(/^0\/16384 mbuf clusters in use/m);
    expect(r.out).to.match(/^0\/\d+ mbufs in use/m);
    r = await ctl('netstat', '-s', '-p', 'udp');
    expect(r.out).to.match(/^udp:\n/);
    expect(r.out).to.match(/\t1 datagrams sent/);
    r = await ctl('netstat', '-s');
    for (const p of ['ip:', 'icmp:', 'udp:', 'arp:', 'ether:', 'mbuf:']) expect(r.out).to.include(`${p}\n`);
    // Issue 11's drop counters are there too (named, by sysctl leaf).
    for (const c of ['martianself', 'martianzero', 'martianloopdst', 'vlan', 'ownsrc']) expect(r.out).to.match(new RegExp(`\t\\d+ ${c}\n`));
    r = await ctl('netstat', '-s', '-p', 'tcp');
    for (const c of ['rcvsynfin', 'rcvbadopt', 'challengeackConnLimited', 'twRstIgnored', 'scCookiesSent']) expect(r.out).to.match(new RegExp(`\t\\d+ ${c}\n`));
  });

  it('sysctl reads, writes (and the stack sees it), describes; an unknown name is ENOENT', async () => {
    let r = await ctl('sysctl', 'net.inet.ip.ttl');
    expect(r.out).to.equal('net.inet.ip.ttl = 64\n');
    r = await ctl('sysctl', 'net.inet.ip.ttl=17');
    expect(r.out).to.equal('net.inet.ip.ttl: 64 -> 17\n');
    expect(srv.stack.ipTun.ttl).to.equal(17);
    r = await ctl('sysctl', '-d', 'kern.mbuf.mclnum');
    expect(r.out).to.match(/^kern\.mbuf\.mclnum: \S/);
    r = await ctl('sysctl', 'kern.mbuf');
    expect(r.out).to.include('kern.mbuf.mclbytes = 2048\nkern.mbuf.mclnum = 8\n');
    r = await ctl('sysctl', 'no.such.thing');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/ENOENT/);
    r = await ctl('sysctl', 'kern.mbuf.mclnum=4'); // read-only
    expect(r.code).to.equal(1);
    r = await ctl('sysctl', 'net.inet.ip.ttl=x');
    expect(r.code).to.equal(2);
  });

  it('ping 127.0.0.1 from the server\'s stack, like ping(8)', async () => {
    const r = await ctl('ping', '-c', '2', '-i', '0.05', '127.0.0.1');
    expect(r.code).to.equal(0);
    expect(r.out).to.match(/^PING 127\.0\.0\.1: 56 data bytes\n/);
    expect(r.out).to.match(/64 bytes from 127\.0\.0\.1: icmp_seq=\d+ ttl=64 time=[\d.]+ ms/);
    expect(r.out).to.include('2 packets transmitted, 2 packets received, 0.0% packet loss');
    const bad = await ctl('ping', '-c', '1', '-W', '100', '10.99.99.99'); // no route: the request cannot leave
    expect(bad.code).to.equal(1);
    expect(bad.out).to.match(/request 0: ENETUNREACH|EHOSTUNREACH/);
  });

  it('ifconfig shows ::1 on lo0 (inet6); ping6 ::1 goes through the IPv6 layer; an unroutable IPv6 host is ENETUNREACH', async () => {
    const ifc = await ctl('ifconfig', 'lo0');
    expect(ifc.out).to.match(/\tinet6 ::1\/128\n/);
    const r = await ctl('ping6', '-c', '2', '-i', '0.05', '-s', '3000', '::1');
    expect(r.code, r.out + r.err).to.equal(0);
    expect(r.out).to.match(/3008 bytes from ::1: icmp_seq=\d+ ttl=64/);
    const st = await ctl('sysctl', 'net.inet6.icmp6.stats.pingmatched');
    expect(st.out).to.match(/= 2/);
    const bad = await ctl('ping6', '-c', '1', '-W', '100', '2001:db8::1');
    expect(bad.code).to.equal(1);
    expect(bad.out).to.match(/ENETUNREACH/);
  });

  it('ifconfig inet6 adds and deletes an address, route takes IPv6 prefixes, ndp -an and netstat -s -p nd6 read the ND layer', async () => {
    let r = await ctl('ifconfig', 'lo0', 'inet6', 'fd00:9::9/64', 'alias');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/\tinet6 fd00:9::9\/64\n/);
    r = await ctl('route', 'add', 'fd00:77::/48', 'lo0');
    expect(r.code, r.err).to.equal(0);
    expect((await ctl('netstat', '-rn')).out).to.match(/fd00:77::\/48 +link +US/);
    r = await ctl('route', 'delete', 'fd00:77::/48');
    expect(r.code, r.err).to.equal(0);
    r = await ctl('ifconfig', 'lo0', 'fd00:9::9', 'delete');
    expect(r.out).not.to.include('fd00:9::9');
    r = await ctl('ndp', '-an');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/^Neighbor +Linklayer Address +Netif +Expire +State/);
    r = await ctl('netstat', '-s', '-p', 'nd6');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/^nd6:\n/);
    expect(r.out).to.match(/\t\d+ dadok\n/);
  });

  it('arp on a loopback-only server is empty; adding to a non-Ethernet subnet fails', async () => {
    let r = await ctl('arp', '-an');
    expect(r.code).to.equal(0);
    expect(r.out).to.equal('');
    r = await ctl('arp', '-s', '10.1.1.1', '02:00:00:00:00:01');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/ENETUNREACH/);
  });

  it('clients shows the parameters and each client\'s copy counters', async () => {
    const a = await RumpConnection.connect(srv.url, { name: 'writer' });
    const s = await a.sys.socket('dgram');
    await a.sys.sendto(s, Buffer.alloc(20000), inet('127.0.0.1', 9)); // ceil(20000/2048) = 10 clusters, MCLNUM 8: 2 COPYINs
    const r = await ctl('clients');
    expect(r.out).to.match(/^rump-server\/0\.1\.0 pid \d+ on unix:\/\//);
    expect(r.out).to.include('MCLBYTES 2048  MCLNUM 8  copy window 4  inline 2048  inline recv 2048  receive coalesced  nmbclusters 16384  sockets 1  fds 1');
    // The server's totals since start, rumpctl's own session included (none of its copies yet).
    expect(r.out).to.match(/copies since start: COPYIN 2 \(0 avoided, 0 B inline\)  COPYOUT 0 \(0 avoided, 0 B inline\)/);
    const row = r.out.split('\n').find((l) => l.includes(' writer '))!;
    const cols = row.trim().split(/\s+/);
    // SESSION PID UID ADMIN NAME FDS INFLIGHT SYSCALLS ERRORS COPYIN COPYIN-BYTES AVOIDED COPYOUT COPYOUT-BYTES OUT-AVOIDED SHM-OUT
    // (uid by SO_PEERCRED: ours, which is the server's, so admin)
    expect(cols[1]).to.equal(String(process.pid));
    expect(cols.slice(2)).to.deep.equal([String(process.getuid!()), 'yes', 'writer', '1', '0', '2', '0', '2', '20000', '0', '0', '0', '0', '0']);
    expect(r.out).to.match(/yes\s+rumpctl\s+0\s+1\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+0\n?$/); // rumpctl itself, its call in flight
    // Both clients offered a region (a 1 MiB ring each), mapped at their handshakes (rumpctl's own connection included).
    expect(r.out).to.match(/^shared memory: up to 4\.0 MiB per client, 256\.0 MiB in all; 2 mapped \(2\.0 MiB\); offers 2 taken, 0 refused$/m);
    await a.close();
  });

  it('halt shuts the server down; then the server is gone (exit 1)', async () => {
    const r = await ctl('halt');
    expect(r.out).to.equal('halting\n');
    expect(await srv.done).to.match(/halt requested/);
    const again = await ctl('netstat');
    expect(again.code).to.equal(1);
    expect(again.err).to.match(/is a rump-server running/);
  });

  it('the ctl.* schemas refuse bad arguments before any handler runs', async () => {
    const s = SYSCALL_SCHEMAS;
    expect(checkArgs(s['ctl.ifconfig'], { ifname: 'lo0', op: 'add', addr: '10.0.0.2/24' })).to.equal(undefined);
    expect(checkArgs(s['ctl.ifconfig'], { anything: [1, 2] })).to.match(/unknown argument/);
    expect(checkArgs(s['ctl.ifconfig'], { ifname: 'lo0', op: 'explode' })).to.match(/op/);
    expect(checkArgs(s['ctl.ifconfig'], { ifname: 'lo0', addr: '10.0.0.300/24' })).to.match(/addr/);
    expect(checkArgs(s['ctl.ping'], { dst: '127.0.0.1', count: 1000 })).to.match(/count/);
    expect(checkArgs(s['ctl.ping'], {})).to.match(/missing argument 'dst'/);
    expect(checkArgs(s['ctl.netstat'], { what: 'everything' })).to.match(/what/);
    expect(checkArgs(s['ctl.netstat'], { what: 'sockets', limit: 50 })).to.equal(undefined);
    expect(checkArgs(s['ctl.netstat'], { what: 'sockets', limit: 0 })).to.match(/limit/);
    expect(checkArgs(s['ctl.arp'], { limit: 1.5 })).to.match(/limit/);
    expect(checkArgs(s['ctl.arp'], { op: 'add', ip: '10.0.0.1', mac: 'zz:00:00:00:00:00' })).to.match(/mac/);
    expect(checkArgs(s['ctl.route'], { op: 'add', dest: 'default', gateway: '10.0.0.1' })).to.equal(undefined);
    expect(checkArgs(s['ctl.sysctl'], { name: 'a b' })).to.match(/name/);
    expect(checkArgs(s['ctl.halt'], { now: true })).to.match(/unknown argument/);
    // And on the wire: the client refuses too, so a typo fails at the caller.
    const c = await RumpConnection.connect(srv.url);
    const e = (await c.call('ctl.ping', { dst: 'localhost' }).catch((x: unknown) => x)) as { code: string };
    expect(e.code).to.equal('ERR_INVALID_ARG_VALUE');
    await c.close();
  });
});
