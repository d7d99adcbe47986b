/**
 * TapDevice / TapLink against the Linux kernel, each test inside a fresh
 * network namespace (no packet leaves it). The taps are opened from this
 * process with `netns:`, so no child process is needed.
 */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, TapDevice, TapError, TapLink, canUseNetns, formatMac, randomSubnet24, IFF_UP } from '../src/index.js';
import { arpRequest, linkShapesAgree, macStr, parseArp, pingSkipReason, waitFor } from './helpers.js';
import { skipWith } from './interop/harness.js';

describe('tap-bridge: TapLink on a Linux tap (inside a netns)', function () {
  let ns: Netns;
  const net = randomSubnet24();
  const links: TapLink[] = [];

  before(async function () {
    const can = canUseNetns();
    if (!can.ok) this.skip();
    ns = await Netns.create({ prefix: 'tap' });
  });
  afterEach(() => {
    for (const l of links.splice(0)) l.close();
  });
  after(async () => {
    await ns?.destroy();
  });

  function open(opts: Omit<Parameters<typeof TapLink.open>[0], 'netns'>): TapLink {
    const l = TapLink.open({ ...opts, netns: ns.name });
    links.push(l);
    return l;
  }

  it('creates a tap by name inside the namespace and is a Link', async () => {
    const l = open({ name: 'rnt0' });
    linkShapesAgree(l);
    expect(l.kind).to.equal('ethernet');
    expect(l.name).to.equal('rnt0');
    expect(l.mac).to.have.length(6);
    expect(l.mac[0]! & 0x03).to.equal(0x02); // unicast, locally administered
    const info = await ns.link('rnt0');
    expect(info.flags).to.include('UP');
    expect(l.up).to.equal(true);
    // The device lives in the namespace, not in ours.
    const mine = await import('node:os').then((os) => Object.keys(os.networkInterfaces()));
    expect(mine).to.not.include('rnt0');
  });

  it('sets MTU, the Linux-side MAC and up/down, as ip -j link show sees them', async () => {
    const l = open({ name: 'rnt1', mtu: 9000, linuxMac: '02:11:22:33:44:55', up: false });
    let info = await ns.link('rnt1');
    expect(info.mtu).to.equal(9000);
    expect(info.address).to.equal('02:11:22:33:44:55');
    expect(info.flags).to.not.include('UP');
    expect(l.up).to.equal(false);
    l.setMtu(1280);
    l.setUp(true);
    l.device.setMac('02:aa:bb:cc:dd:ee');
    info = await ns.link('rnt1');
    expect(info.mtu).to.equal(1280);
    expect(l.mtu).to.equal(1280);
    expect(info.flags).to.include('UP');
    expect(info.address).to.equal('02:aa:bb:cc:dd:ee');
    expect(formatMac(l.device.getMac())).to.equal('02:aa:bb:cc:dd:ee');
    expect(l.device.flags() & IFF_UP).to.equal(IFF_UP);
    expect(l.device.getMtu()).to.equal(1280);
  });

  it('rejects a bad MTU with a clear error and code, and the process carries on', () => {
    // Through the raw device, the kernel's own answer (EINVAL) comes back.
    const dev = TapDevice.open({ name: 'rnt2', netns: ns.name });
    try {
      for (const mtu of [10, 70000]) {
        expect(() => dev.setMtu(mtu)).to.throw(TapError, /bad MTU/).with.property('code', 'EINVAL');
      }
      expect(dev.getMtu()).to.equal(1500);
    } finally {
      dev.close();
    }
    // TapLink.open configures, fails, and closes the device again.
    let err: unknown;
    try {
      open({ name: 'rnt2', mtu: 10 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TapError).with.property('code', 'EINVAL');
    expect((err as Error).message).to.match(/bad MTU 10/);
    const l = open({ name: 'rnt2' }); // the name is free again: the failed open released it
    expect(() => l.setMtu(70000)).to.throw(RangeError, /bad MTU/);
  });

  it('says "name busy" (EBUSY) when the tap is already attached', () => {
    open({ name: 'rnt3' });
    expect(() => TapDevice.open({ name: 'rnt3', netns: ns.name }))
      .to.throw(TapError, /name busy/)
      .with.property('code', 'EBUSY');
  });

  it('without CAP_NET_ADMIN: EPERM naming the capability, and the process lives on', async function () {
    const script = fileURLToPath(new URL('./fixtures/tap-open.ts', import.meta.url));
    const r = await ns.exec('setpriv', ['--inh-caps=-net_admin', '--bounding-set=-net_admin', '--', process.execPath, '--import', 'tsx', script, 'rntp0'], {
      timeoutMs: 15000,
    });
    if (r.code === 127 || /No such file|not found/.test(r.stderr)) this.skip(); // no setpriv (util-linux)
    const [line, alive] = r.stdout.trim().split('\n');
    expect(JSON.parse(line!)).to.deep.equal({
      name: 'TapError',
      code: 'EPERM',
      syscall: 'ioctl',
      message: "creating or attaching tap 'rntp0' needs CAP_NET_ADMIN",
    });
    expect(alive).to.equal('alive');
    expect(r.code).to.equal(0);
  });

  it('without /dev/net/tun: ENOENT telling what to do', async function () {
    // A private mount namespace with an empty /dev/net hides the device from the child only.
    const script = fileURLToPath(new URL('./fixtures/tap-open.ts', import.meta.url));
    const cmd = `mount -t tmpfs none /dev/net && exec "${process.execPath}" --import tsx "${script}" rntn0`;
    const r = await ns.exec('unshare', ['-m', 'sh', '-c', cmd], { timeoutMs: 15000 });
    if (r.code === 127) this.skip(); // no unshare (util-linux)
    const [line, alive] = r.stdout.trim().split('\n');
    expect(JSON.parse(line!)).to.deep.equal({
      name: 'TapError',
      code: 'ENOENT',
      syscall: 'open',
      message: 'no /dev/net/tun: load the tun module or run in a container with /dev/net/tun',
    });
    expect(alive).to.equal('alive');
  });

  it('reports a missing namespace with ENOENT, not a crash', () => {
    expect(() => TapDevice.open({ name: 'x0', netns: 'rn-no-such-namespace' }))
      .to.throw(TapError, /network namespace/)
      .with.property('code', 'ENOENT');
  });

  it('exchanges ARP with Linux: our request goes out, its reply comes back', async () => {
    await ns.addTap('rnt4', { linuxAddr: net.cidr(1) });
    const l = open({ name: 'rnt4' });
    const got: ReturnType<typeof parseArp>[] = [];
    l.attach((frames) => {
      for (const f of frames) {
        const a = parseArp(f);
        if (a !== undefined) got.push(a);
      }
    });
    // Linux drops what it sends on the tap until link-watch has seen the carrier.
    await waitFor(() => l.device.running, 3000, 'the carrier');
    expect(l.output(arpRequest(l.mac, net.addr(2), net.addr(1)))).to.equal(true);
    await waitFor(() => got.length > 0, 3000, 'the ARP reply');
    const linuxMac = (await ns.link('rnt4')).address;
    expect(got[0]).to.deep.equal({ op: 2, sha: linuxMac, spa: net.addr(1), tha: macStr(l.mac), tpa: net.addr(2), dst: macStr(l.mac) });
    // Linux learnt our MAC from the request: proof it parsed our frame.
    const neigh = await ns.ip('neigh', 'show', net.addr(2), 'dev', 'rnt4');
    expect(neigh).to.include(macStr(l.mac));
    const s = l.stats();
    expect(s.txFrames).to.equal(1);
    expect(s.txBytes).to.equal(60);
    expect(s.rxFrames).to.be.at.least(1);
  });

  it('busy poll takes Linux\'s answer in the turn that wrote, without an epoll wake-up; off, it does nothing', async () => {
    const sub = randomSubnet24();
    await ns.addTap('rnt9', { linuxAddr: sub.cidr(1) });
    const l = open({ name: 'rnt9' });
    let replies = 0;
    l.attach((frames) => {
      for (const f of frames) if (parseArp(f)?.op === 2) replies++;
    });
    await waitFor(() => l.device.running, 3000, 'the carrier');
    expect(() => (l.busyPollUs = 1001)).to.throw(RangeError);
    // Off (the default): the answer comes through epoll, no spinning.
    expect(l.output(arpRequest(l.mac, sub.addr(2), sub.addr(1)))).to.equal(true);
    await waitFor(() => replies === 1, 3000, 'the ARP reply');
    expect(l.stats().busyPolls).to.equal(0);
    // On: the reply (made by Linux inside our write, or soon after) is read by the spin
    // before the next poll phase. The write is made from an I/O callback, as the server
    // makes it (a client's request): the spin then runs in that iteration's check phase.
    // Linux may defer its softirq to a thread under load: a few tries, each bounded by
    // the 1000 µs spin.
    l.busyPollUs = 1000;
    const dir = mkdtempSync(join(tmpdir(), 'busypoll-'));
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(join(dir, 's'), r));
    let sameTurn = 0;
    try {
      const conn = createConnection(join(dir, 's'));
      const accepted = await new Promise<Socket>((r) => srv.once('connection', r));
      for (let i = 0; i < 5 && sameTurn === 0; i++) {
        const before = { replies, wakeups: l.stats().rxWakeups, hits: l.stats().busyPollHits };
        const checked = new Promise<void>((resolve) => {
          accepted.once('data', () => {
            // poll phase: write to the tap; the spin follows in this iteration's check phase, then ours
            expect(l.output(arpRequest(l.mac, sub.addr(2), sub.addr(1)))).to.equal(true);
            setImmediate(() => {
              const s = l.stats();
              if (s.busyPollHits === before.hits + 1 && replies === before.replies + 1 && s.rxWakeups === before.wakeups) sameTurn++;
              resolve();
            });
          });
        });
        conn.write('x');
        await checked;
        await waitFor(() => replies === before.replies + 1, 3000, 'the ARP reply');
      }
      conn.destroy();
    } finally {
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(sameTurn).to.equal(1);
    const s = l.stats();
    expect(s.busyPolls).to.be.within(1, 5);
    expect(s.busyPollUs).to.be.within(0, 5 * 1000 + 500);
  });

  it('receives a burst in batches: 200 pings read in few wake-ups', async function () {
    this.timeout(15000);
    const noPing = pingSkipReason();
    if (noPing !== undefined) skipWith(this, noPing);
    const sub = randomSubnet24();
    await ns.addTap('rnt5', { linuxAddr: sub.cidr(1) });
    const l = open({ name: 'rnt5' });
    await ns.ip('neigh', 'add', sub.addr(2), 'lladdr', macStr(l.mac), 'dev', 'rnt5', 'nud', 'permanent');
    await waitFor(() => l.device.running, 3000, 'the carrier');
    const batches: number[] = [];
    let pings = 0;
    l.attach((frames) => {
      batches.push(frames.length);
      for (const f of frames) {
        // IPv4, ICMP echo request (type 8), 1000 bytes of payload: 1042-byte frame
        if (f[12] === 0x08 && f[13] === 0x00 && f[23] === 1 && f[34] === 8 && f.length === 1042) pings++;
      }
    });
    // Hold reading so the frames pile up in the tap's queue, then let go:
    // one wake-up must then take many.
    l.device.pause();
    const r = await ns.exec('ping', ['-q', '-c', '200', '-l', '200', '-s', '1000', '-w', '1', sub.addr(2)], { timeoutMs: 5000 });
    expect(r.stdout).to.match(/200 packets transmitted/);
    l.device.resume();
    await waitFor(() => pings >= 200, 5000, '200 echo requests');
    expect(pings).to.equal(200);
    expect(Math.max(...batches)).to.be.at.least(100);
    expect(l.stats().rxWakeups).to.be.at.most(10);
    expect(l.stats().rxDrops).to.equal(0);
  });

  it('counts frames as drops when no receiver is attached or the link is down', async function () {
    const noPing = pingSkipReason();
    if (noPing !== undefined) skipWith(this, noPing);
    const sub = randomSubnet24();
    await ns.addTap('rnt6', { linuxAddr: sub.cidr(1) });
    const l = open({ name: 'rnt6' });
    await ns.ip('neigh', 'add', sub.addr(2), 'lladdr', macStr(l.mac), 'dev', 'rnt6', 'nud', 'permanent');
    await waitFor(() => l.device.running, 3000, 'the carrier');
    await ns.exec('ping', ['-q', '-c', '5', '-l', '5', '-w', '1', sub.addr(2)], { timeoutMs: 5000 });
    await waitFor(() => l.stats().rxDrops >= 5, 3000, 'five counted drops');
    expect(l.stats().rxFrames).to.equal(0);
    // Output checks: runt, oversized and link-down frames are counted, not thrown.
    expect(l.output(new Uint8Array(10))).to.equal(false);
    expect(l.output(new Uint8Array(1500 + 14 + 5))).to.equal(false);
    l.setUp(false);
    expect(l.output(arpRequest(l.mac, sub.addr(2), sub.addr(1)))).to.equal(false);
    expect(l.stats().txDrops).to.equal(3);
    expect(l.stats().txFrames).to.equal(0);
    expect((await ns.link('rnt6')).flags).to.not.include('UP');
  });

  it('closes idempotently; output after close is a counted drop', () => {
    const l = open({ name: 'rnt7' });
    l.close();
    l.close();
    expect(l.up).to.equal(false);
    expect(l.output(new Uint8Array(60))).to.equal(false);
    expect(l.stats().txDrops).to.equal(1);
    // A non-persistent tap disappears with its last fd: the name is free.
    const again = open({ name: 'rnt7' });
    expect(again.name).to.equal('rnt7');
  });

  it('lets the kernel pick the name when none is given', () => {
    const dev = TapDevice.open({ netns: ns.name });
    try {
      expect(dev.name).to.match(/^tap\d+$/);
      expect(dev.vnetHdrSize).to.equal(0);
    } finally {
      dev.close();
    }
  });

  it('opens with IFF_VNET_HDR on the raw device (TapLink refuses it for now)', () => {
    const dev = TapDevice.open({ name: 'rntv0', vnetHdr: true, netns: ns.name });
    try {
      expect(dev.vnetHdrSize).to.equal(10); // sizeof(struct virtio_net_hdr)
    } finally {
      dev.close();
    }
    expect(() => TapLink.open({ name: 'rntv0', netns: ns.name, vnetHdr: true } as Parameters<typeof TapLink.open>[0])).to.throw(
      RangeError,
      /VNET_HDR/,
    );
  });

  it('writes a batch in one call through the raw device', async () => {
    const sub = randomSubnet24();
    await ns.addTap('rnt8', { linuxAddr: sub.cidr(1) });
    const dev = TapDevice.open({ name: 'rnt8', netns: ns.name });
    try {
      const mac = Uint8Array.of(2, 0, 0, 0, 0, 8);
      const frames = Array.from({ length: 20 }, (_, i) => arpRequest(mac, sub.addr(10 + i), sub.addr(1)));
      expect(dev.writeBatch(frames)).to.equal(20);
      expect(dev.io.lastErrno).to.equal(0);
      const rx = await ns.ip('-j', '-s', 'link', 'show', 'dev', 'rnt8');
      const stats = (JSON.parse(rx) as Array<{ stats64: { rx: { packets: number } } }>)[0]!.stats64;
      expect(stats.rx.packets).to.equal(20);
    } finally {
      dev.close();
    }
  });
});
