/**
 * Issue 13, "Done when", the transport half over IPv6: the stack's TCP
 * (AF_INET6 sockets) against the Linux kernel's through a tap inside a
 * namespace each test creates and deletes, with tap offloads off and on;
 * UDP echo both ways (fragmented sizes too) and a tshark-checked capture.
 * Bulk size as the IPv4 tests (`BULK`; RUMPNET_SHORT=1 scales it down).
 */
import { expect } from 'chai';
import * as rump from '@rumpnet/stack';
import { Peer, haveTshark, netnsSkipReason, openInterop, skipWith, tcpSkipReason, tsharkProblems, waitUntil, withDeadline } from './harness.js';
import { UDP6_SIZES, linuxToStackUdpEcho, stackToLinuxUdpEcho } from './exchanges.js';
import type { Interop } from './harness.js';
import { BULK, MiB, en, recvAll, recvHash, sendRandom, shutdownWrite } from './tcp-helpers.js';

const { Ip6Address, sockaddrIn6, AF, SOCK } = rump;
const MIB = BULK / MiB;
/** Time for `bytes` at a (slow) 4 MB/s, plus set-up. */
const budget = (bytes: number): number => 30_000 + bytes / 4000;

for (const offload of [false, true]) {
  describe(`interop: TCP and UDP over IPv6 with the Linux kernel (tap offloads ${offload ? 'on' : 'off'}; ${MIB} MiB bulk)`, function () {
    this.timeout(60_000);
    let env: Interop | undefined;
    let linux6 = '';
    let stack6 = '';

    before(async function () {
      const why = netnsSkipReason() ?? (await tcpSkipReason());
      if (why !== undefined) skipWith(this, why);
    });
    afterEach(async () => {
      const e = env;
      env = undefined;
      if (e !== undefined && !e.stack.closed) {
        const busy = () => (e.tcp?.connections?.() ?? []).some((c) => !['LISTEN', 'TIME-WAIT', 'CLOSED'].includes(c.state));
        await waitUntil(() => !busy(), 5000, 'connections to finish closing').catch(() => {});
      }
      const closedByTest = e?.stack.closed === true;
      await e?.close();
      if (e !== undefined && !closedByTest) expect(e.poolFreeAfterClose, 'mbufs leaked').to.equal(true);
    });

    /** A fresh tap and namespace; global ULA addresses on both sides, DAD done. */
    async function open(pcap = false): Promise<Interop> {
      const e = await openInterop({ prefix: offload ? 't6o' : 't6', tcp: true, ipv6: true, offload, pcap });
      env = e;
      const sub = (Math.floor(Math.random() * 0xffff) + 1).toString(16);
      linux6 = `fd00:${sub}::1`;
      stack6 = `fd00:${sub}::2`;
      await e.ns.ip('-6', 'addr', 'add', `${linux6}/64`, 'dev', e.ifname, 'nodad');
      e.stack.addAddress(e.ifname, `${stack6}/64`);
      const ifp = e.stack.ifnet(e.ifname);
      await waitUntil(() => ifp.addrs6.every((a) => a.state === 'preferred'), 10_000, 'our DAD');
      return e;
    }

    function socket6(e: Interop): number {
      const { errno, fd } = e.t.socket(AF.INET6, SOCK.STREAM, 0);
      expect(en(errno), 'socket(AF_INET6, SOCK_STREAM)').to.equal('0');
      return fd;
    }

    it(`stack -> Linux over IPv6: ${MIB} MiB, sha256 equal`, async function () {
      this.timeout(budget(BULK) + 30_000);
      const e = await open();
      const sink = await Peer.start(e.ns, ['tcp-sink', linux6, '5001']);
      const fd = socket6(e);
      const err = await withDeadline(e.t.connect(fd, sockaddrIn6(Ip6Address.parse(linux6)!, 5001)), 10_000, 'connect');
      expect(en(err), 'connect').to.equal('0');
      const t0 = Date.now();
      const sha256 = await withDeadline(sendRandom(e, fd, BULK), budget(BULK), `sending ${MIB} MiB`);
      shutdownWrite(e, fd);
      const end = await sink.next('conn-end', 30_000);
      console.log(`      stack -> Linux, IPv6, offload ${offload ? 'on' : 'off'}: ${MIB} MiB in ${Date.now() - t0} ms`);
      expect(end).to.include({ bytes: BULK, sha256 });
      expect((await withDeadline(recvAll(e, fd, 0), 10_000, 'our EOF')).length).to.equal(0);
      await e.t.close(fd);
      await sink.next('closed', 10_000);
      sink.kill();
    });

    it(`Linux -> stack over IPv6: ${MIB} MiB, sha256 equal`, async function () {
      this.timeout(budget(BULK) + 30_000);
      const e = await open();
      const lfd = socket6(e);
      expect(en(e.t.bind(lfd, sockaddrIn6(Ip6Address.parse(stack6)!, 5002))), 'bind').to.equal('0');
      expect(en(e.t.listen(lfd, 16)), 'listen').to.equal('0');
      const t0 = Date.now();
      const client = new Peer(e.ns, ['tcp-send', stack6, '5002', String(BULK)]);
      const acc = await withDeadline(e.t.accept(lfd), 15_000, 'accept');
      expect(en(acc.errno), 'accept').to.equal('0');
      const got = await withDeadline(recvHash(e, acc.fd, BULK), budget(BULK), `receiving ${MIB} MiB`);
      const sent = await client.next('sent', 10_000);
      console.log(`      Linux -> stack, IPv6, offload ${offload ? 'on' : 'off'}: ${MIB} MiB in ${Date.now() - t0} ms`);
      expect(got).to.deep.equal({ bytes: BULK, sha256: sent.sha256 });
      await e.t.close(acc.fd);
      await e.t.close(lfd);
      await client.next('closed', 10_000);
      expect(await client.exit()).to.equal(0);
    });

    it(`UDP echo over IPv6 both ways (sizes ${UDP6_SIZES.join(', ')}, fragmented both ways), 8 MiB of TCP each way; tshark: nothing malformed, every checksum right`, async function () {
      const e = await open(true);
      const v6 = { linux: linux6, stack: stack6 };
      await stackToLinuxUdpEcho(e, UDP6_SIZES, v6);
      await linuxToStackUdpEcho(e, UDP6_SIZES, v6);
      expect(e.udp.stats.badsum).to.equal(0);
      // TCP both ways, small, so the capture has data segments (TSO/LRO super-frames when offloads are on).
      const sink = await Peer.start(e.ns, ['tcp-sink', linux6, '5003']);
      const fd = socket6(e);
      expect(en(await withDeadline(e.t.connect(fd, sockaddrIn6(Ip6Address.parse(linux6)!, 5003)), 10_000, 'connect')), 'connect').to.equal('0');
      const sha256 = await withDeadline(sendRandom(e, fd, 8 * MiB), budget(8 * MiB), 'sending 8 MiB');
      shutdownWrite(e, fd);
      expect(await sink.next('conn-end', 30_000)).to.include({ bytes: 8 * MiB, sha256 });
      await e.t.close(fd);
      sink.kill();
      const lfd = socket6(e);
      expect(en(e.t.bind(lfd, sockaddrIn6(Ip6Address.parse(stack6)!, 5004))), 'bind').to.equal('0');
      expect(en(e.t.listen(lfd, 16)), 'listen').to.equal('0');
      const client = new Peer(e.ns, ['tcp-send', stack6, '5004', String(8 * MiB)]);
      const acc = await withDeadline(e.t.accept(lfd), 15_000, 'accept');
      const got = await withDeadline(recvHash(e, acc.fd, 8 * MiB), budget(8 * MiB), 'receiving 8 MiB');
      expect(got).to.deep.equal({ bytes: 8 * MiB, sha256: (await client.next('sent', 10_000)).sha256 });
      await e.t.close(acc.fd);
      await e.t.close(lfd);
      await client.exit();
      expect(e.tcp!.stats.rcvbadsum).to.equal(0);
      if (!(await haveTshark())) return; // the exchanges above still ran and were checked
      e.stack.close(); // the capture is complete on disk
      const { problems } = await tsharkProblems(e.pcapFile!);
      expect(problems, problems.join('\n')).to.deep.equal([]);
    });
  });
}
