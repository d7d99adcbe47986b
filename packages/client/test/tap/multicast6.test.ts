/**
 * Issue 15, IPv6 multicast against the Linux kernel: a `udp6` client-API
 * socket on the rump stack (a real `rump-server --tap` inside a network
 * namespace the test creates, Linux's IPv6 on) joins a group
 * (`addMembership`, `IPV6_ADD_MEMBERSHIP`); a `node:dgram` udp6 socket on
 * the kernel's stack in the same namespace (`fixtures/dgram-peer.mjs`)
 * sends to it over the tap:
 *
 * - the join sends an MLDv2 report (`net.inet6.icmp6.stats.mldreport`);
 *   Linux's datagrams to the group reach the socket;
 * - after `dropMembership` another report leaves, and Linux's datagrams
 *   stop at the rump interface (counted `notours`: the group's MAC is no
 *   longer accepted), none reaches the socket.
 *
 * Every packet stays in the namespace (only `lo` and the tap). Skips with
 * the reason unless root with /dev/net/tun.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { canUseNetns } from '@rumpnet/tap-bridge';
import { RumpConnection, closeSharedConnections, createSocket, type DgramSocket, type RemoteInfo } from '../../src/index.js';
import { TapRig, sleep, type Proc } from './rig.js';

const PEER = fileURLToPath(new URL('./fixtures/dgram-peer.mjs', import.meta.url));
const TAP = 'rmc6tap0';
const GROUP = 'ff02::1:beef';
const GROUP_SITE = 'ff15::15:6';

/** The Linux udp6 peer: its JSON events, and commands on its stdin. */
class Peer6 {
  #seen = 0;
  readonly events: Array<Record<string, unknown>> = [];
  private constructor(readonly p: Proc) {}
  static async start(rig: TapRig, port: number): Promise<Peer6> {
    const peer = new Peer6(rig.node(PEER, [port, 'udp6']));
    await peer.p.line((l) => l.includes('"listening"'), 'the Linux peer to bind');
    return peer;
  }
  #parse(): void {
    const lines = this.p.stdout().split('\n').filter(Boolean);
    for (; this.#seen < lines.length; this.#seen++) this.events.push(JSON.parse(lines[this.#seen]!) as Record<string, unknown>);
  }
  /** Sends a command and waits for its answer (`ok`, `failed` or `sent`). */
  async cmd(line: string): Promise<Record<string, unknown>> {
    this.#parse();
    const from = this.events.length;
    this.p.proc.stdin!.write(`${line}\n`);
    await this.p.line(() => {
      this.#parse();
      return this.events.slice(from).some((e) => e.event !== 'message');
    }, `the Linux peer's answer to "${line}"`);
    return this.events.slice(from).find((e) => e.event !== 'message')!;
  }
  async stop(): Promise<void> {
    this.p.proc.stdin!.end();
    await this.p.exited;
  }
}

/** Resolves once every operation queued on `s` before it is done (a send to itself, ordered behind them). */
function settled(s: DgramSocket): Promise<void> {
  return new Promise((resolve, reject) => s.send('sync', s.address().port, '::1', (e) => (e ? reject(e) : resolve())));
}

describe('IPv6 multicast from the Linux kernel to a rump udp6 socket that joined (rump-server --tap)', function () {
  this.timeout(90_000);
  let rig: TapRig | undefined;
  let ctl: RumpConnection;
  const sysctl = async (name: string): Promise<number> => {
    const r = await ctl.call<{ rows: Array<{ name: string; value: number }> }>('ctl.sysctl', { name });
    return r.rows.find((x) => x.name === name)!.value;
  };

  before(async function () {
    const can = canUseNetns();
    if (!can.ok) {
      console.log(`      skipped: ${can.reason}`);
      this.skip();
    }
    rig = await TapRig.start('rmc6', TAP, [], { ipv6: true });
    ctl = await RumpConnection.connect(rig.url, { name: 'mcast6-test' });
  });
  after(async () => {
    await ctl?.close();
    await closeSharedConnections();
    await rig?.destroy();
  });

  it('Linux -> groups the rump socket joined (link- and site-scope): received, MLDv2 reports on join and leave; after dropMembership it stops at the interface', async () => {
    const rx = createSocket({ type: 'udp6', rumpServer: rig!.url });
    rx.bind(6400);
    await once(rx, 'listening');
    const got: Array<[string, RemoteInfo]> = [];
    rx.on('message', (m: Buffer, r: RemoteInfo) => got.push([String(m), r]));
    const errors: Error[] = [];
    rx.on('error', (e) => errors.push(e));
    const reports0 = await sysctl('net.inet6.icmp6.stats.mldreport');
    rx.addMembership(GROUP); // no interface: the route's, the tap
    rx.addMembership(GROUP_SITE);
    await settled(rx);
    expect(await sysctl('net.inet6.icmp6.stats.mldreport'), 'a report per join').to.be.at.least(reports0 + 2);
    const linux = await Peer6.start(rig!, 6401);
    // Bounded: one datagram per 100 ms until one arrives (Linux's link-local address may still be tentative).
    for (const g of [GROUP, GROUP_SITE]) {
      for (let i = 0; i < 50 && !got.some(([m]) => m.startsWith(`to-${g}`)); i++) {
        await linux.cmd(`send ${g}%${TAP} 6400 to-${g}-${i}`);
        await sleep(100);
      }
      const first = got.find(([m]) => m.startsWith(`to-${g}`));
      expect(first, `a datagram to ${g}`).to.not.equal(undefined);
      expect(first![1]).to.include({ port: 6401, family: 'IPv6' });
      expect(first![1].address).to.match(/^fe80:/);
    }

    const reports1 = await sysctl('net.inet6.icmp6.stats.mldreport');
    rx.dropMembership(GROUP);
    await settled(rx);
    expect(await sysctl('net.inet6.icmp6.stats.mldreport'), 'a report for the leave').to.be.at.least(reports1 + 1);
    const before = got.length;
    const notours0 = await sysctl('net.link.ether.stats.notours');
    for (let i = 0; i < 5; i++) expect(await linux.cmd(`send ${GROUP}%${TAP} 6400 after-drop-${i}`)).to.include({ code: null });
    // Count-based: wait until the five frames reached the rump interface and were refused there.
    for (let i = 0; i < 100 && (await sysctl('net.link.ether.stats.notours')) < notours0 + 5; i++) await sleep(50);
    expect(await sysctl('net.link.ether.stats.notours')).to.be.at.least(notours0 + 5);
    await settled(rx);
    expect(got.slice(before).filter(([m]) => m !== 'sync')).to.deep.equal([]);
    expect(errors).to.deep.equal([]);
    await linux.stop();
    rx.close();
    await once(rx, 'close');
    await rig!.expectQuiet();
  });
});
