/**
 * The tap's offloads (`TapLink.open({ offload: true })`) against the Linux
 * kernel, in a namespace each test creates and deletes: TCP both ways with
 * TSO out (the stack writes super-packets, Linux takes them whole and sees
 * MSS-sized segments through `gso_size`) and Linux's super-packets in
 * (larger than the MTU, partial checksums); ICMP, ARP and UDP still work
 * with the zero `virtio_net_hdr` every other frame carries; and captures
 * on both sides of the tap hold no bad checksum or malformed packet.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { pingSkipReason } from '../helpers.js';
import { linuxPingsStack, linuxResolvesStack, linuxToStackUdpEcho, stackPingsLinux, stackResolvesLinux, stackToLinuxUdpEcho } from './exchanges.js';
import { Peer, haveTshark, netnsSkipReason, openInterop, skipWith, sleep, tcpSkipReason, tshark, tsharkProblems, waitUntil, withDeadline } from './harness.js';
import type { Interop, InteropOptions } from './harness.js';
import { BULK, MiB, recvHash, sendRandom, shutdownWrite, tcpAccept, tcpConnect, tcpListen } from './tcp-helpers.js';

const MIB = BULK / MiB;
/** Payload per segment at MTU 1500 with timestamps: 1500 - 20 - 20 - 12. */
const MSS = 1448;

describe(`interop: tap offloads (IFF_VNET_HDR: checksum, TSO, large receive) with the Linux kernel`, function () {
  this.timeout(90_000);
  let env: Interop | undefined;

  before(async function () {
    const why = netnsSkipReason() ?? (await tcpSkipReason());
    if (why !== undefined) skipWith(this, why);
  });
  afterEach(async () => {
    const e = env;
    env = undefined;
    if (e !== undefined) {
      const busy = () => (e.tcp?.connections?.() ?? []).some((c) => !['LISTEN', 'TIME-WAIT', 'CLOSED'].includes(c.state));
      await waitUntil(() => !busy(), 5000, 'connections to finish closing').catch(() => {});
    }
    await e?.close();
    if (e !== undefined) expect(e.poolFreeAfterClose, 'mbufs leaked: pool not all free after stack.close()').to.equal(true);
  });

  async function open(opts: Partial<InteropOptions> = {}): Promise<Interop> {
    env = await openInterop({ prefix: 'offl', tcp: true, offload: true, ...opts });
    return env;
  }
  const stats = (e: Interop) => e.tcp!.stats;
  const ether = (e: Interop) => e.stack.etherstat as unknown as Record<string, number>;

  it('offers tso4/rxCsum/lro on the link only when asked', async () => {
    const e = await open({ offload: false, tcp: false });
    expect(e.tap.offloads).to.equal(undefined);
    expect(e.tap.device.vnetHdrSize).to.equal(0);
    await e.close();
    const f = await open({ tcp: false });
    expect(f.tap.offloads).to.include({ tso4: true, rxCsum: true, lro: true });
    expect(f.tap.device.vnetHdrSize).to.equal(10);
    // The Linux side now has the features a virtio NIC would give it.
    const k = (await f.ns.check('ethtool', ['-k', f.ifname]).catch(() => '')) || '';
    if (k !== '') expect(k).to.match(/tcp-segmentation-offload: on/);
  });

  it(`stack -> Linux: ${MIB} MiB with TSO, sha256 equal; Linux takes the super-packets whole (ss)`, async function () {
    const e = await open();
    const sink = await Peer.start(e.ns, ['tcp-sink', e.linuxIp, '5101']);
    const fd = await tcpConnect(e, e.linuxAddr, 5101);
    const sha256 = await withDeadline(sendRandom(e, fd, BULK), 60_000, `sending ${MIB} MiB`);
    // While the connection is up, once Linux has it all: Linux's view of it.
    let ss = '';
    for (let i = 0; i < 100 && !ss.includes(`bytes_received:${BULK} `); i++) {
      if (i > 0) await sleep(50);
      ss = (await e.ns.check('ss', ['-tinH', 'state', 'established', '( sport = :5101 )'])).replace(/\s+/g, ' ') + ' ';
    }
    shutdownWrite(e, fd);
    expect(await sink.next('conn-end', 30_000)).to.include({ bytes: BULK, sha256 });
    await e.t.close(fd);
    const s = stats(e);
    expect(s.tsoSegments, 'TSO super-segments sent').to.be.greaterThan(0);
    expect(s.tsoBytes, 'most data through TSO').to.be.greaterThan(BULK / 2);
    expect(e.tap.stats().txGso).to.equal(s.tsoSegments);
    expect(e.tap.stats().errors, 'the kernel refused no virtio_net_hdr').to.equal(0);
    // Linux delivers a super-packet locally as one skb (as a GRO packet; it
    // would cut it into gso_size segments only to forward it): it counts
    // far fewer data skbs than MSS-sized segments, and its receive MSS
    // estimate (from gso_size) is our MSS.
    const num = (k: string) => Number(new RegExp(`${k}:(\\d+)`).exec(ss)?.[1] ?? NaN);
    expect(num('bytes_received'), `ss: ${ss}`).to.equal(BULK);
    expect(num('data_segs_in'), `ss: ${ss}`).to.be.below(BULK / MSS / 2);
    expect(num('rcvmss'), `ss: ${ss}`).to.equal(MSS);
    expect(s.sndrexmitpack, 'no retransmission').to.equal(0);
  });

  it(`Linux -> stack: ${MIB} MiB, sha256 equal; Linux's super-packets (> MTU, partial checksum) arrive whole`, async function () {
    const e = await open();
    const lfd = tcpListen(e, 5102);
    const client = new Peer(e.ns, ['tcp-send', e.stackIp, '5102', String(BULK)]);
    const fd = await tcpAccept(e, lfd, 15_000);
    const got = await withDeadline(recvHash(e, fd, BULK), 60_000, `receiving ${MIB} MiB`);
    const sent = await client.next('sent', 10_000);
    expect(got).to.deep.equal({ bytes: BULK, sha256: sent.sha256 });
    await e.t.close(fd);
    await client.next('closed', 10_000);
    expect(ether(e).lroPackets, 'super-packets received').to.be.greaterThan(0);
    expect(e.tap.stats().rxGso).to.equal(ether(e).lroPackets);
    expect(stats(e).rcvcsumoffload, 'checksums vouched for by the kernel').to.be.greaterThan(0);
    expect(stats(e).rcvbadsum).to.equal(0);
    // A super-packet is larger than the MTU: rxBytes/rxFrames exceeds a full frame.
    const t = e.tap.stats();
    expect(t.rxBytes / t.rxFrames).to.be.greaterThan(1514);
  });

  it('ICMP, ARP and UDP (zero vnet header both ways, partial UDP checksums from Linux) still work', async function () {
    const noPing = pingSkipReason();
    if (noPing !== undefined) skipWith(this, noPing);
    const e = await open({ tcp: false });
    await stackResolvesLinux(e);
    await linuxResolvesStack(e);
    await linuxPingsStack(e, 56);
    await linuxPingsStack(e, 8000);
    await stackPingsLinux(e, 56);
    await stackToLinuxUdpEcho(e);
    await linuxToStackUdpEcho(e);
    expect(e.udp.stats.badsum).to.equal(0);
    expect(e.tap.stats().txDrops + e.tap.stats().errors).to.equal(0);
  });

  it('captures on both sides of the tap: no bad checksum, no malformed packet; super-frames both ways', async function () {
    if (!(await haveTshark())) skipWith(this, 'tshark is not installed');
    if (spawnSync('tcpdump', ['--version']).error) skipWith(this, 'tcpdump is not installed');
    const e = await open({ pcap: true });
    // The Linux side: headers only (partial checksums are not final there,
    // as on any Linux interface with offloads, so TCP/UDP sums are not
    // judged on this side; IPv4 header checksums and structure are).
    const linuxPcap = join(e.dir, 'linux.pcap');
    const dump = spawn('ip', ['netns', 'exec', e.ns.name, 'tcpdump', '--immediate-mode', '-i', e.ifname, '-s', '128', '-U', '-w', linuxPcap], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      // Wait until tcpdump says it is capturing (a fixed sleep lost the race on a busy machine).
      // --immediate-mode: with TPACKET_V3, libpcap hands packets over a block at a time and
      // drops the block not yet retired when tcpdump is stopped — on a quiet machine the whole
      // transfer fits before the first block timeout and the capture came out empty.
      await new Promise<void>((resolve, reject) => {
        let err = '';
        const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 15_000);
        dump.stderr!.setEncoding('utf8').on('data', (d: string) => {
          err += d;
          if (err.includes('listening on')) {
            clearTimeout(t);
            resolve();
          }
        });
        dump.once('exit', (code) => {
          clearTimeout(t);
          reject(new Error(`tcpdump exited (${code}): ${err}`));
        });
      });
      const sink = await Peer.start(e.ns, ['tcp-sink', e.linuxIp, '5103']);
      const fd = await tcpConnect(e, e.linuxAddr, 5103);
      const sha256 = await sendRandom(e, fd, 4 * MiB);
      shutdownWrite(e, fd);
      expect(await sink.next('conn-end', 30_000)).to.include({ bytes: 4 * MiB, sha256 });
      await e.t.close(fd);
      const lfd = tcpListen(e, 5104);
      const client = new Peer(e.ns, ['tcp-send', e.stackIp, '5104', String(4 * MiB)]);
      const rfd = await tcpAccept(e, lfd, 15_000);
      const got = await recvHash(e, rfd, 4 * MiB);
      expect(got.sha256).to.equal((await client.next('sent', 10_000)).sha256);
      await e.t.close(rfd);
      await client.next('closed', 10_000);
      await sleep(300);
    } finally {
      dump.kill('SIGINT');
      await new Promise((r) => dump.once('exit', r));
    }
    e.stack.close(); // flushes our capture
    // Ours: partial checksums recorded completed, so every TCP checksum is judged.
    const ours = await tsharkProblems(e.pcapFile!, ['frame.len', 'ip.src']);
    expect(ours.problems, 'our capture').to.deep.equal([]);
    const big = (src: string) => ours.rows.filter((r) => r['ip.src'] === src && Number(r['frame.len']) > 1514).length;
    expect(big(e.stackIp), 'TSO super-frames we sent').to.be.greaterThan(0);
    expect(big(e.linuxIp), 'super-frames Linux sent us').to.be.greaterThan(0);
    // Linux's: IPv4 checks on, no malformed packet; our super-frames arrived whole.
    const bad = await tshark(linuxPcap, ['-o', 'ip.check_checksum:TRUE', '-Y', '_ws.malformed || ip.checksum.status == 2']);
    expect(bad, 'Linux-side capture').to.deep.equal([]);
    const lbig = await tshark(linuxPcap, ['-Y', `ip.src == ${e.stackIp} && frame.len > 1514`, '-T', 'fields', '-e', 'frame.len']);
    expect(lbig.length, 'our super-frames seen by Linux').to.be.greaterThan(0);
  });
});
