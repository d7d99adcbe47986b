/**
 * Issue 13, IPv6 network layer against the Linux kernel through a tap in a
 * namespace this file creates and deletes: Neighbor Discovery both ways,
 * `ping -6` both ways with 56 and 8000 bytes (fragmented both ways),
 * link-local with a zone, SLAAC from radvd's router advertisements, and
 * tshark on a capture of all of it (MLDv2 reports included).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pingSkipReason } from '../helpers.js';
import { haveTshark, netnsSkipReason, openInterop, skipWith, tshark, tsharkProblems } from './harness.js';
import type { Interop } from './harness.js';

describe('interop: IPv6 — ND and ping -6 with the Linux kernel (tap in a netns)', function () {
  this.timeout(40_000);
  let env: Interop | undefined;
  let linux6 = '';
  let stack6 = '';
  let linuxLl = '';
  let tsharkOk = false;

  before(async function () {
    const why = netnsSkipReason() ?? pingSkipReason();
    if (why !== undefined) skipWith(this, why);
    tsharkOk = await haveTshark();
    env = await openInterop({ prefix: 'v6', pcap: true, ipv6: true });
    const e = env;
    const sub = (Math.floor(Math.random() * 0xffff) + 1).toString(16);
    linux6 = `fd00:${sub}::1`;
    stack6 = `fd00:${sub}::2`;
    // Linux side: a global address without DAD (the namespace is ours alone).
    await e.ns.ip('-6', 'addr', 'add', `${linux6}/64`, 'dev', e.ifname, 'nodad');
    e.stack.addAddress(e.ifname, `${stack6}/64`);
    const ifp = e.stack.ifnet(e.ifname);
    // Our DAD (RFC 4862 5.4: one solicitation, a second of silence) and the kernel's for its link-local.
    const until = Date.now() + 10_000;
    const out = (): Promise<string> => e.ns.ip('-6', '-o', 'addr', 'show', 'dev', e.ifname, 'scope', 'link');
    while (Date.now() < until) {
      const ll = await out();
      if (ifp.addrs6.every((a) => a.state === 'preferred') && ll.includes('fe80') && !ll.includes('tentative')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ifp.addrs6.map((a) => a.state)).to.deep.equal(['preferred', 'preferred']);
    linuxLl = /inet6 (fe80::[0-9a-f:]+)\//.exec(await out())![1]!;
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && env !== undefined) env.keep = true;
  });
  after(async () => {
    await env?.close();
    if (env !== undefined) expect(env.poolFreeAfterClose, 'mbufs leaked').to.equal(true);
  });

  it('resolves Linux by Neighbor Discovery and pings it (56 bytes), link-local with a zone too', async () => {
    const e = env!;
    const r = await e.stack.ping(linux6, { timeout: 3000 });
    expect(r.from).to.equal(linux6);
    const n = e.stack.ndpList().find((x) => x.ip === linux6)!;
    expect(n.mac).to.equal(e.linuxMac);
    expect(n.state).to.equal('reachable');
    const r2 = await e.stack.ping(`${linuxLl}%${e.ifname}`, { timeout: 3000 });
    expect(r2.from).to.equal(linuxLl);
  });

  it('is resolved by Linux (NS/NA) and answers ping -6 with 56 bytes, global and link-local', async () => {
    const e = env!;
    await e.ns.ip('-6', 'neigh', 'flush', 'dev', e.ifname);
    const r = await e.ns.exec('ping', ['-6', '-n', '-c', '3', '-i', '0.2', '-W', '2', stack6], { timeoutMs: 15000 });
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/ 0% packet loss/);
    const neigh = await e.ns.ip('-6', 'neigh', 'show', stack6, 'dev', e.ifname);
    expect(neigh).to.include(e.stackMac);
    const ll = e.stack.ifnet(e.ifname).addrs6[0]!.addr.toString();
    const r2 = await e.ns.exec('ping', ['-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', `${ll}%${e.ifname}`], { timeoutMs: 15000 });
    expect(r2.code, r2.stdout + r2.stderr).to.equal(0);
  });

  it('ping -6 with 8000 bytes both ways: fragmented and reassembled by each side', async () => {
    const e = env!;
    const st = e.stack.inet6.ip6stat;
    const before = { reassembled: st.reassembled, fragmented: st.fragmented };
    const r = await e.ns.exec('ping', ['-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', '-s', '8000', stack6], { timeoutMs: 15000 });
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/8008 bytes from/);
    expect(st.reassembled - before.reassembled).to.equal(2);
    expect(st.fragmented - before.fragmented).to.equal(2);
    const reply = await e.stack.ping(linux6, { size: 8000, timeout: 3000 });
    expect(reply.bytes).to.equal(8000);
    expect(st.reassembled - before.reassembled).to.equal(3);
    expect(st.fragmented - before.fragmented).to.equal(3);
    // Nothing the kernel sent us was refused.
    for (const k of ['badscope', 'badoptions', 'exthdrtoolong', 'fragoverlap', 'fragdropped', 'badfrags', 'noproto'] as const) {
      expect(st[k], k).to.equal(0);
    }
    expect(e.stack.inet6.nd6stat.badhoplimit + e.stack.inet6.nd6stat.badlen + e.stack.inet6.icmp6stat.checksum).to.equal(0);
  });

  it('takes an address and a default router from radvd on Linux (SLAAC, RFC 4862), and talks from it', async function () {
    if (!haveRadvd()) skipWith(this, 'no radvd (apt-get install radvd)');
    const e = env!;
    const prefix = linux6.replace(/::1$/, ':1::');
    const conf = join(e.dir, 'radvd.conf');
    writeFileSync(
      conf,
      `interface ${e.ifname} {\n AdvSendAdvert on;\n MinRtrAdvInterval 3;\n MaxRtrAdvInterval 4;\n AdvDefaultLifetime 600;\n` +
        ` prefix ${prefix}/64 { AdvOnLink on; AdvAutonomous on; AdvValidLifetime 7200; AdvPreferredLifetime 3600; };\n};\n`,
      { mode: 0o644 },
    );
    // radvd advertises only from a router (forwarding on: in this namespace alone).
    await e.ns.check('sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    await e.ns.ip('-6', 'addr', 'add', `${prefix}1/64`, 'dev', e.ifname, 'nodad');
    const radvd = e.ns.spawn('radvd', ['-n', '-C', conf, '-p', join(e.dir, 'radvd.pid'), '-m', 'stderr']);
    let radvdErr = '';
    radvd.stderr?.on('data', (d: Buffer) => (radvdErr += d.toString()));
    const ifp = e.stack.ifnet(e.ifname);
    const until = Date.now() + 15_000;
    const slaac = (): (typeof ifp.addrs6)[number] | undefined => ifp.addrs6.find((a) => a.origin === 'slaac');
    while (Date.now() < until && slaac()?.state !== 'preferred') await new Promise((r) => setTimeout(r, 100));
    const ia = slaac();
    expect(ia, `no SLAAC address; radvd said: ${radvdErr}`).to.not.equal(undefined);
    expect(ia!.state).to.equal('preferred');
    // prefix + the interface's modified EUI-64, as the link-local has.
    const ll = ifp.addrs6[0]!.addr;
    expect([ia!.addr.w2, ia!.addr.w3]).to.deep.equal([ll.w2, ll.w3]);
    expect(ia!.prefix.toString()).to.equal(prefix);
    const routes = e.stack.routeList();
    expect(routes.find((r) => r.destination === '::/0')?.gateway).to.equal(linuxLl);
    expect(routes.some((r) => r.destination === `${prefix}/64`)).to.equal(true);
    expect(e.stack.ndpList().find((n) => n.ip === linuxLl)?.router).to.equal(true);
    // Traffic from the new address, both ways.
    const r = await e.stack.ping(`${prefix}1`, { timeout: 3000 });
    expect(r.from).to.equal(`${prefix}1`);
    const lr = await e.ns.exec('ping', ['-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', ia!.addr.toString()], { timeoutMs: 15000 });
    expect(lr.code, lr.stdout + lr.stderr).to.equal(0);
    radvd.kill('SIGTERM');
    expect(e.stack.inet6.nd6stat.raaccepted).to.be.at.least(1);
  });

  it('records it all, and tshark finds no malformed packet or bad ICMPv6 checksum', async function () {
    if (!tsharkOk) skipWith(this, 'no tshark (apt-get install tshark)');
    const e = env!;
    const stackLl = e.stack.ifnet(e.ifname).addrs6[0]!.addr.toString();
    e.stack.close(); // the pcap is complete on disk
    const { problems, packets, rows } = await tsharkProblems(e.pcapFile!, ['icmpv6.type', 'ipv6.src', 'ipv6.fraghdr.more', 'eth.src']);
    expect(problems, problems.join('\n')).to.deep.equal([]);
    const bad6 = await tshark(e.pcapFile!, ['-Y', 'icmpv6.checksum.status == 2 || ipv6.fragment.error || ipv6.fragment.overlap']);
    expect(bad6, bad6.join('\n')).to.deep.equal([]);
    const count = (pred: (r: Record<string, string>) => boolean): number => rows.filter(pred).length;
    const fromStack = (r: Record<string, string>): boolean => r['ipv6.src'] === stack6 || r['ipv6.src'] === stackLl;
    expect(packets).to.be.greaterThan(20);
    expect(count((r) => fromStack(r) && r['icmpv6.type'] === '135')).to.be.at.least(1); // our NS
    expect(count((r) => r['ipv6.src'] === stack6 && r['icmpv6.type'] === '136')).to.be.at.least(1); // our NA
    expect(count((r) => r['ipv6.src'] === stack6 && r['icmpv6.type'] === '129')).to.be.at.least(5);
    expect(count((r) => r['ipv6.src'] === stack6 && r['ipv6.fraghdr.more'] === '1')).to.be.at.least(15);
    // Our MLDv2 reports, well formed (from :: while the address was tentative, RFC 3590 4).
    expect(count((r) => r['eth.src'] === e.stackMac && r['icmpv6.type'] === '143')).to.be.at.least(2);
  });
});

let radvdChecked: boolean | undefined;

/** Whether radvd is installed (Debian package `radvd`). */
function haveRadvd(): boolean {
  if (radvdChecked === undefined) {
    try {
      // (radvd --version exits 1: ask the shell whether it is on PATH instead.)
      execFileSync('sh', ['-c', 'command -v radvd'], { stdio: 'ignore', timeout: 5000 });
      radvdChecked = true;
    } catch {
      radvdChecked = false;
    }
  }
  return radvdChecked;
}
