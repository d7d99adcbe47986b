/**
 * Two rump servers, two processes, one rootless bus (`--bus DIR`, the
 * shmif-like shared Ethernet segment of `@rumpnet/tap-bridge`): a client of
 * each exchanges UDP through the two stacks — Ethernet, ARP and IPv4
 * between processes, nothing leaving the host — checked with sha256; then
 * `rumpctl` sees the neighbour in its ARP table and pings it.
 */
import { expect } from 'chai';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { RumpConnection, inet } from '@rumpnet/client';
import { cleanup, expectQuietRemote, killAll, patternBytes, runRumpctlProcess, sha256, spawnServer, tmpDir, tmpSock } from './helpers.js';

describe('rump-server on a bus: clients of two servers', function () {
  this.timeout(40_000);
  afterEach(() => killAll());
  after(() => cleanup());

  it('exchange UDP datagrams through both stacks (sha256), and rumpctl sees the neighbour', async () => {
    const bus = join(tmpDir('rumpnet-bus-'), 'seg');
    const [p1, p2] = [tmpSock(), tmpSock()];
    const pcap = join(tmpDir(), 'one.pcap');
    const [s1, s2] = await Promise.all([
      spawnServer(['--bus', bus, '--addr', '10.77.0.1/24', '--pcap', pcap, `unix://${p1}`]),
      spawnServer(['--bus', bus, '--addr', '10.77.0.2/24', `unix://${p2}`]),
    ]);
    expect(s1.stdout()).to.include('bus0 10.77.0.1/24');
    const a = await RumpConnection.connect(p1, { name: 'a' });
    const b = await RumpConnection.connect(p2, { name: 'b' });
    const rx = await b.sys.socket('dgram');
    await b.sys.bind(rx, inet('0.0.0.0', 4000));
    const tx = await a.sys.socket('dgram');
    await a.sys.bind(tx, inet('10.77.0.1', 4001));
    // Datagrams up to 8000 bytes: larger than the MTU, so IP fragments them on the bus.
    const sent = Array.from({ length: 30 }, (_, i) => patternBytes(100 + ((i * 613) % 8000), i + 5));
    const got: Buffer[] = [];
    const reader = (async () => {
      const buf = Buffer.alloc(9000);
      for (let i = 0; i < sent.length; i++) {
        const r = await b.sys.recvfrom(rx, buf);
        expect(r.addr).to.deep.equal(inet('10.77.0.1', 4001));
        got.push(Buffer.from(buf.subarray(0, r.bytes)));
      }
    })();
    // Paced: a bus member's receive queue is small, and beyond it frames drop as on an Ethernet.
    for (const d of sent) {
      await a.sys.sendto(tx, d, inet('10.77.0.2', 4000));
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.race([reader, new Promise((_, rej) => setTimeout(() => rej(new Error('datagrams lost on the bus')), 15_000))]);
    expect(sha256(...got)).to.equal(sha256(...sent));

    const arp = await runRumpctlProcess(['-s', `unix://${p1}`, 'arp', '-an']);
    expect(arp.stdout).to.match(/\? \(10\.77\.0\.2\) at [0-9a-f:]{17} on bus0 expires in \d+ seconds/);
    const ping = await runRumpctlProcess(['-s', `unix://${p2}`, 'ping', '-c', '1', '10.77.0.1']);
    expect(ping.code).to.equal(0);
    expect(ping.stdout).to.include('1 packets transmitted, 1 packets received');
    await a.close();
    await b.close();
    await Promise.all([expectQuietRemote(p1), expectQuietRemote(p2)]);
    s1.proc.kill('SIGTERM');
    s2.proc.kill('SIGTERM');
    expect(await Promise.all([s1.exited, s2.exited])).to.deep.equal([0, 0]);
    // --pcap recorded server one's bus traffic: the 24-byte file header and at least every frame of the datagrams.
    expect(statSync(pcap).size).to.be.greaterThan(24 + sent.reduce((n, d) => n + d.length, 0));
  });
});
