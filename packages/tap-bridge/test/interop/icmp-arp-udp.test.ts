/**
 * Issue 5, "Done when": the stack against the Linux kernel's own stack
 * through a tap inside a network namespace this file creates and deletes —
 * ping both ways (56 and 8000 bytes, the latter fragmented both ways), ARP
 * both ways, UDP echo both ways; then tshark on a capture of all of it.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { PcapWriter } from '../../src/index.js';
import {
  UDP_SIZES,
  linuxPingsStack,
  linuxResolvesStack,
  linuxToStackUdpEcho,
  stackPingsLinux,
  stackResolvesLinux,
  stackToLinuxUdpEcho,
} from './exchanges.js';
import { pingSkipReason } from '../helpers.js';
import { haveTshark, netnsSkipReason, openInterop, scratchDir, skipWith, tsharkProblems } from './harness.js';
import type { Interop } from './harness.js';

describe('interop: ICMP, ARP and UDP with the Linux kernel (tap in a netns)', function () {
  this.timeout(30_000);
  let env: Interop | undefined;

  before(async function () {
    const why = netnsSkipReason();
    if (why !== undefined) skipWith(this, why);
    env = await openInterop({ prefix: 'icmp' });
  });
  after(async () => {
    await env?.close();
    if (env !== undefined) expect(env.poolFreeAfterClose, 'mbufs leaked: pool not all free after stack.close()').to.equal(true);
  });

  it('Linux pings the stack with 56 bytes: 0% loss', async function () {
    const noPing = pingSkipReason();
    if (noPing !== undefined) skipWith(this, noPing);
    await linuxPingsStack(env!, 56);
  });

  it('Linux pings the stack with 8000 bytes: the stack reassembles the request and fragments its reply', async function () {
    const noPing = pingSkipReason();
    if (noPing !== undefined) skipWith(this, noPing);
    const ip = env!.stack.ipstat;
    const before = { reassembled: ip.reassembled, fragmented: ip.fragmented, ofragments: ip.ofragments };
    await linuxPingsStack(env!, 8000);
    // 8008 bytes of ICMP in 1480-byte pieces: 6 fragments each way, 3 times.
    expect(ip.reassembled - before.reassembled).to.equal(3);
    expect(ip.fragmented - before.fragmented).to.equal(3);
    expect(ip.ofragments - before.ofragments).to.equal(18);
  });

  it('the stack pings Linux with 56 and 8000 bytes (Linux reassembles ours, we reassemble its replies)', async () => {
    await stackPingsLinux(env!, 56);
    const before = env!.stack.ipstat.reassembled;
    await stackPingsLinux(env!, 8000);
    expect(env!.stack.ipstat.reassembled - before).to.equal(3);
  });

  it("ARP, the stack asking: its cache gets Linux's MAC, Linux's neighbour table gets ours", async () => {
    await stackResolvesLinux(env!);
  });

  it("ARP, Linux asking: Linux's neighbour table gets the stack's MAC, the stack learns Linux's", async function () {
    const noPing = pingSkipReason();
    if (noPing !== undefined) skipWith(this, noPing);
    await linuxResolvesStack(env!);
  });

  it(`UDP, stack -> Linux echo server (node:dgram on the kernel's stack): sizes ${UDP_SIZES.join(', ')}`, async () => {
    await stackToLinuxUdpEcho(env!);
    expect(env!.udp.stats.badsum).to.equal(0);
  });

  it(`UDP, Linux client -> echo server on the stack: sizes ${UDP_SIZES.join(', ')}, checked byte for byte by Linux`, async () => {
    await linuxToStackUdpEcho(env!);
    expect(env!.udp.stats.badsum).to.equal(0);
  });

  it('leaves no drop the link or the pool had to count', async () => {
    const s = env!.tap.stats();
    expect(s.txDrops, 'tap txDrops').to.equal(0);
    expect(s.errors, 'tap errors').to.equal(0);
    expect(env!.stack.ipstat.fragdropped + env!.stack.ipstat.fragtimeout, 'reassembly drops').to.equal(0);
  });
});

describe('interop: tshark finds nothing wrong in a capture of ping, ARP and UDP', function () {
  this.timeout(60_000);
  let env: Interop | undefined;

  before(async function () {
    const why = netnsSkipReason() ?? ((await haveTshark()) ? undefined : 'no tshark (apt-get install tshark)') ?? pingSkipReason();
    if (why !== undefined) skipWith(this, why);
    env = await openInterop({ prefix: 'cap', pcap: true });
  });
  afterEach(function () {
    // A failed check leaves the capture for a look with Wireshark.
    if (this.currentTest?.state === 'failed' && env !== undefined) env.keep = true;
  });
  after(async () => {
    await env?.close();
  });

  it('records every exchange, and tshark (checksums on) reports no malformed packet, bad checksum or warning', async () => {
    const e = env!;
    await stackResolvesLinux(e);
    await linuxResolvesStack(e);
    await linuxPingsStack(e, 56);
    await linuxPingsStack(e, 8000);
    await stackPingsLinux(e, 56);
    await stackPingsLinux(e, 8000);
    await stackToLinuxUdpEcho(e);
    await linuxToStackUdpEcho(e);
    e.stack.close(); // closes the link: the pcap is complete on disk
    const fields = ['arp.opcode', 'arp.src.proto_ipv4', 'icmp.type', 'ip.src', 'data.len', 'ip.flags.mf', 'udp.length'];
    const { problems, warnings, packets, rows } = await tsharkProblems(e.pcapFile!, fields);
    expect(problems, problems.join('\n')).to.deep.equal([]);
    expect(warnings).to.deep.equal([]);
    // The capture really holds what we think: both directions of each kind.
    const count = (pred: (r: Record<string, string>) => boolean) => rows.filter(pred).length;
    const fromStack = (r: Record<string, string>) => r['ip.src'] === e.stackIp;
    expect(packets).to.be.greaterThan(100);
    expect(count((r) => r['arp.opcode'] === '1' && r['arp.src.proto_ipv4'] === e.stackIp)).to.be.at.least(1);
    expect(count((r) => r['arp.opcode'] === '2' && r['arp.src.proto_ipv4'] === e.stackIp)).to.be.at.least(1);
    // Reassembled 8000-byte echoes from the stack: 3 requests of ours, 3 replies to
    // Linux's (whose ping(8) puts an 8-byte timestamp first: 7992 of plain data).
    const big = (type: string) => count((r) => fromStack(r) && r['icmp.type'] === type && Number(r['data.len']) >= 7992);
    expect(big('8')).to.equal(3);
    expect(big('0')).to.equal(3);
    expect(count((r) => fromStack(r) && r['ip.flags.mf'] === '1')).to.be.at.least(15);
    expect(count((r) => fromStack(r) && r['udp.length'] === '65515')).to.equal(2); // 65507 + 8: sent, and echoed
  });
});

describe('interop: the tshark check itself can fail', function () {
  this.timeout(30_000);

  before(async function () {
    if (!(await haveTshark())) skipWith(this, 'no tshark (apt-get install tshark)');
  });

  it('flags a UDP datagram with a wrong checksum and a truncated IPv4 header', async () => {
    const dir = scratchDir('tsk');
    try {
      const file = join(dir, 'bad.pcap');
      const w = new PcapWriter(file);
      w.write(frame(udpPacket(0x1234))); // wrong checksum
      w.write(frame(udpPacket(null))); // right checksum
      w.write(frame(udpPacket(null).subarray(0, 12))); // truncated IPv4 header
      w.close();
      const { problems, warnings, packets } = await tsharkProblems(file);
      expect(packets).to.equal(3);
      expect(problems).to.have.length(2);
      expect(warnings).to.deep.equal([]);
      expect(problems[0]).to.match(/^\s*1\s/);
      expect(problems[1]).to.match(/^\s*3\s/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** An Ethernet frame around an IPv4 packet, broadcast from a local MAC. */
function frame(ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(Math.max(60, 14 + ip.length));
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0, 0, 1], 6);
  f[12] = 0x08;
  f.set(ip, 14);
  return f;
}

/** IPv4 10.0.0.1 -> 10.0.0.2 UDP 1000 -> 2000 carrying "hello"; `cksum` null computes the right one. */
function udpPacket(cksum: number | null): Uint8Array {
  const payload = new TextEncoder().encode('hello');
  const p = new Uint8Array(20 + 8 + payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  p[8] = 64;
  p[9] = 17;
  p.set([10, 0, 0, 1], 12);
  p.set([10, 0, 0, 2], 16);
  v.setUint16(10, sum16([p.subarray(0, 20)]));
  v.setUint16(20, 1000);
  v.setUint16(22, 2000);
  v.setUint16(24, 8 + payload.length);
  p.set(payload, 28);
  const pseudo = new Uint8Array(12);
  pseudo.set(p.subarray(12, 20), 0);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, 8 + payload.length);
  v.setUint16(26, cksum ?? (sum16([pseudo, p.subarray(20)]) || 0xffff));
  return p;
}

/** The Internet checksum (RFC 1071) over the concatenation of `parts` (each even-length but the last). */
function sum16(parts: Uint8Array[]): number {
  let s = 0;
  for (const b of parts) for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
