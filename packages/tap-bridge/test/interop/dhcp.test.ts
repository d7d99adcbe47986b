/**
 * The stack's DHCPv4 client against a real DHCP server: dnsmasq on the
 * Linux side of a tap, inside a namespace the test creates. dnsmasq hands
 * out a 2-minute lease (its minimum) with T1 = 2 s and T2 = 3 s, so the
 * client must renew by unicast within seconds; the test sees the address,
 * the netmask, the default route, the renewal in dnsmasq's log and in the
 * client's counters, and traffic (a UDP echo with Linux) before and after
 * the renewal. A second case stops answering (dnsmasq killed) and sees the
 * client fall back to REBINDING by broadcast at T2.
 *
 * Skips with a reason without root/tun or without dnsmasq (Debian's
 * dnsmasq-base, which .ci/run installs).
 */
import { expect } from 'chai';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as rump from '@rumpnet/stack';
import { Netns, TapLink, randomSubnet24 } from '../../src/index.js';
import { netnsSkipReason, scratchDir, skipWith, waitUntil, withDeadline } from './harness.js';

const { Stack, SocketLayer, SocketTable, UdpProtocol, DhcpClient, AF_INET, SOCK, sockaddrIn, makeUio, BufferCopySource, inetAton } = rump;

function haveDnsmasq(): string | undefined {
  try {
    execFileSync('dnsmasq', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'needs dnsmasq (Debian: dnsmasq-base)';
  }
}

describe('interop: DHCP client with dnsmasq (tap in a netns)', function () {
  this.timeout(60_000);
  let ns: Netns | undefined;
  let tap: TapLink | undefined;
  let stack: InstanceType<typeof Stack> | undefined;
  let table: InstanceType<typeof SocketTable> | undefined;
  let client: InstanceType<typeof DhcpClient> | undefined;
  let dnsmasq: ChildProcess | undefined;
  let log = '';
  let dir = '';
  let net: ReturnType<typeof randomSubnet24>;

  before(function () {
    const why = netnsSkipReason() ?? haveDnsmasq();
    if (why !== undefined) skipWith(this, why);
  });

  beforeEach(async () => {
    net = randomSubnet24();
    dir = scratchDir('dhcp');
    ns = await Netns.create({ prefix: 'dhcp' });
    await ns.addTap('rn0', { linuxAddr: net.cidr(1) });
    tap = TapLink.open({ name: 'rn0', netns: ns.name });
    stack = new Stack({ nmbclusters: 2048 });
    stack.attachLink(tap); // no address: DHCP gives one
    const layer = new SocketLayer(stack);
    new UdpProtocol(layer);
    table = new SocketTable(layer);
    const t = tap;
    await waitUntil(() => t.device.running, 3000, 'the carrier on the tap');
    log = '';
    dnsmasq = ns.spawn('dnsmasq', [
      '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=rn0', '--bind-interfaces',
      `--dhcp-range=${net.addr(50)},${net.addr(60)},255.255.255.0,2m`,
      `--dhcp-option=option:router,${net.addr(1)}`,
      '--dhcp-option=option:T1,2', '--dhcp-option=option:T2,3',
      `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'pid')}`,
      '--log-dhcp', '--log-facility=-',
    ]);
    dnsmasq.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    dnsmasq.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitUntil(() => /started|DHCP, IP range/.test(log), 5000, 'dnsmasq to start');
  });

  afterEach(async () => {
    await client?.stop();
    client = undefined;
    await table?.closeAll();
    dnsmasq?.kill('SIGKILL');
    stack?.close();
    const free = stack?.pool.isAllFree();
    tap?.close();
    await ns?.destroy();
    expect(free, 'pool all-free').to.equal(true);
  });

  /** The leased address works: the stack pings the Linux side (the router dnsmasq named). */
  async function pingRouter(): Promise<void> {
    const r = await withDeadline(stack!.ping(net.addr(1), { timeout: 2000 }), 5000, 'ping the router');
    expect(r.from).to.equal(net.addr(1));
  }

  it('gets an address, netmask and router, renews at T1 by unicast, and traffic goes on across the renewal', async () => {
    client = new DhcpClient(stack!, 'rn0', { table: table!, hostname: 'rumpnet-test', retransmitMs: 1000 });
    const events: string[] = [];
    client.on('event', (e: { type: string }) => events.push(e.type));
    client.start();
    await waitUntil(() => client!.state === 'BOUND', 15_000, 'a lease');
    const lease = client.lease!;
    const got = rump.ipv4ToString(lease.addr);
    expect(inetAton(got)! >>> 8).to.equal(inetAton(net.addr(1))! >>> 8); // inside the range's /24
    expect(lease.prefixLen).to.equal(24);
    expect(lease.router).to.equal(inetAton(net.addr(1)));
    expect([lease.leaseSecs, lease.t1Secs, lease.t2Secs]).to.deep.equal([120, 2, 3]);
    expect(stack!.ifnet('rn0').addrs.map((a) => rump.ipv4ToString(a.addr))).to.deep.equal([got]);
    expect(stack!.routeList().some((r) => r.destination === '0.0.0.0/0' && r.gateway === net.addr(1))).to.equal(true);
    expect(log).to.match(new RegExp(`DHCPACK\\(rn0\\) ${got.replace(/\./g, '\\.')}`));
    await pingRouter();
    // T1 = 2 s: a unicast renewal, answered, and the address unchanged.
    await waitUntil(() => events.includes('renewed'), 8000, 'a renewal');
    expect(client.stats.renewals).to.be.at.least(1);
    expect(client.stats.rebinds).to.equal(0);
    expect(client.lease!.addr).to.equal(lease.addr);
    expect((log.match(/DHCPACK\(rn0\)/g) ?? []).length).to.be.at.least(2);
    expect(events.slice(0, 6)).to.include.members(['state', 'bound']);
    await pingRouter();
    // The UDP socket of an application goes on working with the leased address.
    const fd = table!.socket(AF_INET, SOCK.DGRAM, 0).fd;
    const msg = Buffer.from('after renewal');
    const s = await table!.sendto(fd, makeUio([{ base: 0, len: msg.length }], 'write'), new BufferCopySource(msg), sockaddrIn(inetAton(net.addr(1))!, 9));
    expect(s.errno).to.equal(0);
  });

  it('when the server goes silent the client rebinds by broadcast at T2, and the address stays until the lease ends', async () => {
    client = new DhcpClient(stack!, 'rn0', { table: table!, retransmitMs: 1000 });
    client.start();
    await waitUntil(() => client!.state === 'BOUND', 15_000, 'a lease');
    dnsmasq!.kill('SIGKILL');
    await waitUntil(() => client!.state === 'REBINDING', 10_000, 'REBINDING at T2');
    expect(client.stats.renewals).to.be.at.least(1);
    expect(client.stats.rebinds).to.be.at.least(1);
    expect(stack!.ifnet('rn0').addrs).to.have.length(1); // the lease (120 s) still holds
  });
});
