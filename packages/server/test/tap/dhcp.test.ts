/**
 * `rump-server --tap NAME --dhcp`, end to end: a real server process inside
 * a namespace the test creates, dnsmasq on the Linux side of the tap. The
 * server leases its address (its log says so), rumpctl-style `ifconfig`
 * shows it with the netmask and `route` the default router dnsmasq named,
 * the lease is renewed within seconds (T1 = 2 s), and a rump client's UDP
 * datagrams reach a Linux peer before and after the renewal. Skips with a
 * reason without root/tun or dnsmasq.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { RumpConnection, inet } from '@rumpnet/client';
import { canUseNetns } from '@rumpnet/tap-bridge';
import type { CtlInterface } from '../../src/proto/index.js';
import { sleep } from '../daemon/helpers.js';
import { TapNet, netnsList, type TapServer } from './rig.js';

function skipReason(): string | undefined {
  const can = canUseNetns();
  if (!can.ok) return can.reason;
  try {
    execFileSync('dnsmasq', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs dnsmasq (Debian: dnsmasq-base)';
  }
  return undefined;
}

describe('rump-server --tap --dhcp: a lease from dnsmasq', function () {
  this.timeout(60_000);
  let net: TapNet | undefined;
  let srv: TapServer;

  before(async function () {
    const why = skipReason();
    if (why !== undefined) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    net = await TapNet.create('dhcpsrv');
    srv = await net.server('rd0', [], { dhcp: true });
  });
  after(async () => {
    if (net === undefined) return;
    await net.destroy();
    expect(netnsList()).to.not.include(net.ns.name);
    for (const [tap, code] of net.exits) expect(code, `rump-server on ${tap} exit`).to.equal(0);
  });

  it('configures the leased address, netmask and default router, renews, and carries traffic across the renewal', async () => {
    const c = await RumpConnection.connect(srv.url, { name: 'dhcp-check' });
    try {
      const r = await c.call<{ interfaces: CtlInterface[] }>('ctl.ifconfig', {});
      const rd0 = r.interfaces.find((i) => i.name === 'rd0')!;
      expect(rd0.addrs.map((a) => `${a.address}/${a.prefixLen}`)).to.include(`${srv.rumpIp}/24`);
      const routes = await c.call<{ routes: Array<{ destination: string; gateway: string | null }> }>('ctl.route', {});
      expect(routes.routes.some((x) => x.destination === '0.0.0.0/0' && x.gateway === srv.linuxIp)).to.equal(true);
      // A Linux UDP echo in the namespace; a datagram each way before and after the renewal at T1.
      const peer = net!.peer('udp-echo', [9999]);
      await peer.line((l) => l.includes('listening'), 'the Linux UDP echo', 10_000);
      const fd = await c.sys.socket('dgram');
      const echo = async (text: string): Promise<void> => {
        await c.sys.sendto(fd, Buffer.from(text), inet(srv.linuxIp, 9999));
        const buf = Buffer.alloc(64);
        const got = await c.sys.recvfrom(fd, buf);
        expect(buf.subarray(0, got.bytes).toString()).to.equal(text);
        expect(got.addr).to.deep.equal(inet(srv.linuxIp, 9999));
      };
      await echo('before the renewal');
      await srv.line((l) => l.includes('"dhcp: renewed"'), 'a renewal in the server log', 10_000, 'stderr');
      await sleep(50);
      await echo('after the renewal');
    } finally {
      await c.close();
    }
  });
});
