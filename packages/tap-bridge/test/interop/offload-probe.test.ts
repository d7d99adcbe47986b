/**
 * The offload probe of `TapLink.open` (offloads by default where the kernel
 * accepts them): `'auto'` is on with BSD `options=` names; a refusal by the
 * kernel — asking `TUNSETOFFLOAD` for TSO4 without CSUM, which Linux's
 * `set_offload` answers with EINVAL — falls back to a plain tap that still
 * carries ICMP and UDP and says why; `'require'` throws the refusal and
 * leaves the tap attachable; `'off'` never asks.
 */
import { expect } from 'chai';
import { TapError, TunOffload, withPcap } from '../../src/index.js';
import { linuxToStackUdpEcho, stackPingsLinux } from './exchanges.js';
import { netnsSkipReason, openInterop, skipWith } from './harness.js';
import type { Interop } from './harness.js';
import { TapLink } from '../../src/index.js';

describe('interop: the tap offload probe (default on, fallback when the kernel refuses)', function () {
  this.timeout(60_000);
  let env: Interop | undefined;
  before(function () {
    const why = netnsSkipReason();
    if (why !== undefined) skipWith(this, why);
  });
  afterEach(async () => {
    await env?.close();
    env = undefined;
  });

  it("is on by default: options TXCSUM,TSO4,RXCSUM,LRO and a virtio_net_hdr", async () => {
    env = await openInterop({ prefix: 'oprb' });
    expect(env.tap.offloadState).to.deep.include({ on: true });
    expect(env.tap.describeOffloads()).to.equal('options=TXCSUM,TSO4,RXCSUM,LRO');
    expect(env.tap.offloads).to.include({ tso4: true, rxCsum: true, lro: true });
    expect(env.tap.offloadsOff).to.equal(undefined);
    expect(env.tap.device.vnetHdrSize).to.equal(10);
  });

  it("'off' never asks: a plain tap, and says so", async () => {
    env = await openInterop({ prefix: 'oprb', offload: 'off' });
    expect(env.tap.offloadState).to.deep.equal({ on: false, reason: 'off (asked)' });
    expect(env.tap.offloads).to.equal(undefined);
    expect(env.tap.device.vnetHdrSize).to.equal(0);
  });

  it('falls back to a plain tap when the kernel refuses (TSO4 without CSUM: EINVAL), says why, and still carries ICMP and UDP', async () => {
    env = await openInterop({ prefix: 'oprb', tunOffload: TunOffload.TSO4 });
    const s = env.tap.offloadState;
    expect(s.on).to.equal(false);
    expect(env.tap.offloadsOff).to.match(/^refused by the kernel: TUNSETOFFLOAD 2: .*invalid argument/i);
    expect(env.tap.describeOffloads()).to.match(/^offloads off: refused by the kernel/);
    expect(env.tap.offloads).to.equal(undefined);
    expect(env.tap.device.vnetHdrSize).to.equal(0);
    // What ifconfig reads goes through a pcap wrapper too.
    expect(withPcap(env.tap, `${env.dir}/x.pcap`).offloadsOff).to.equal(env.tap.offloadsOff);
    await stackPingsLinux(env, 56);
    await linuxToStackUdpEcho(env, [1, 1472, 8000]);
    expect(env.udp.stats.badsum).to.equal(0);
  });

  it("'require' throws the refusal (EINVAL) and leaves the tap free to attach", async () => {
    env = await openInterop({ prefix: 'oprb', offload: 'off' });
    const name = env.ifname;
    env.tap.close();
    expect(() => TapLink.open({ name, netns: env!.ns.name, offload: 'require', tunOffload: TunOffload.TSO4 }))
      .to.throw(TapError, /TUNSETOFFLOAD/)
      .with.property('code', 'EINVAL');
    // The failed open closed its descriptor: the name is not busy.
    const again = TapLink.open({ name, netns: env.ns.name });
    expect(again.offloadState.on).to.equal(true);
    again.close();
  });
});
