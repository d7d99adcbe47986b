/**
 * The ICMP, ARP and UDP exchanges with the Linux kernel, as functions: the
 * tests call them one by one, and the capture test runs them all on a
 * recorded link for tshark. Each asserts what it exchanged.
 */
import { expect } from 'chai';
import * as rump from '@rumpnet/stack';
import type { Interop } from './harness.js';
import { Peer, pattern, withDeadline } from './harness.js';

const { AF_INET, AF_INET6, Ip6Address, sockaddrIn6, SOCK, POLL, MSG, sockaddrIn, makeUio, BufferCopySource, BufferCopySink } = rump;

/** The UDP sizes of issue 5: empty, one byte, a full 1500-MTU datagram, one byte more (two fragments), 8000, the largest. */
export const UDP_SIZES = [0, 1, 1472, 1473, 8000, 65507] as const;
/** The same over IPv6 (40-byte header): a full 1500-MTU datagram, one byte more (two fragments), 8000, and 65507 (the IPv4 largest; the stack refuses 65527 today with EMSGSIZE). */
export const UDP6_SIZES = [0, 1, 1452, 1453, 8000, 65507] as const;

/** Global addresses for the UDP exchanges over IPv6 (the test assigns them). */
export interface V6Pair {
  /** Linux's address, e.g. `fd00:1::1`. */
  linux: string;
  /** The stack's address, e.g. `fd00:1::2`. */
  stack: string;
}

/** `ping -c 3 -W 2 -s size` from Linux to the stack; asserts 0 % loss and returns ping's summary line. */
export async function linuxPingsStack(env: Interop, size: number): Promise<string> {
  // -i 0.2 (root may go below 1 s) keeps three pings under a second.
  const r = await env.ns.exec('ping', ['-n', '-c', '3', '-W', '2', '-i', '0.2', '-s', String(size), env.stackIp], { timeoutMs: 15000 });
  const summary = r.stdout.split('\n').find((l) => /packets transmitted/.test(l)) ?? '';
  expect(r.code, `ping -s ${size} ${env.stackIp}: ${r.stdout} ${r.stderr}`).to.equal(0);
  expect(summary).to.match(/3 packets transmitted, 3 received, 0% packet loss/);
  // ping(8) prints "<size+8> bytes from ..." per reply: the whole echo came back.
  expect(r.stdout).to.include(`${size + 8} bytes from ${env.stackIp}`);
  return summary;
}

/** `stack.ping` Linux three times with `size` data bytes; asserts every reply. */
export async function stackPingsLinux(env: Interop, size: number): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const reply = await env.stack.ping(env.linuxIp, { size, timeout: 2000 });
    expect(reply.from).to.equal(env.linuxIp);
    expect(reply.bytes).to.equal(size);
    expect(reply.ttl).to.equal(64); // Linux's default TTL, one hop
    expect(reply.rtt).to.be.at.least(0).and.below(2000);
  }
}

/** A UDP socket on the stack bound to `port` on its address. */
function udpSocket(env: Interop, port: number, v6?: V6Pair): number {
  const { errno, fd } = env.t.socket(v6 === undefined ? AF_INET : AF_INET6, SOCK.DGRAM, 0);
  expect(errno).to.equal(0);
  expect(env.t.bind(fd, v6 === undefined ? sockaddrIn(env.stackAddr, port) : sockaddrIn6(Ip6Address.parse(v6.stack)!, port))).to.equal(0);
  return fd;
}

async function udpSend(env: Interop, fd: number, data: Uint8Array, to: rump.Sockaddr): Promise<void> {
  const r = await env.t.sendto(fd, makeUio([{ base: 0, len: data.length }], 'write'), new BufferCopySource(data), to);
  expect(r.errno, `sendto ${data.length} bytes`).to.equal(0);
  expect(r.bytes).to.equal(data.length);
}

/** Waits up to `ms` for a datagram; null on timeout. */
async function udpRecv(env: Interop, fd: number, ms: number): Promise<{ data: Uint8Array; addr: rump.Sockaddr | null } | null> {
  const p = await env.t.poll([{ fd, events: POLL.IN }], ms);
  if ((p.revents[0]! & POLL.IN) === 0) return null;
  const buf = new Uint8Array(65536);
  const r = await env.t.recvfrom(fd, makeUio([{ base: 0, len: buf.length }], 'read'), new BufferCopySink(buf), MSG.DONTWAIT, true);
  expect(r.errno).to.equal(0);
  return { data: buf.slice(0, r.bytes), addr: r.addr };
}

/**
 * The stack sends each of `sizes` to a Linux `node:dgram` echo server in the
 * namespace and checks the echo byte for byte.
 */
export async function stackToLinuxUdpEcho(env: Interop, sizes: readonly number[] = UDP_SIZES, v6?: V6Pair): Promise<void> {
  const port = 7007;
  const echo = await Peer.start(env.ns, ['udp-echo', v6?.linux ?? env.linuxIp, String(port)]);
  const fd = udpSocket(env, 40007, v6);
  const to = v6 === undefined ? sockaddrIn(env.linuxAddr, port) : sockaddrIn6(Ip6Address.parse(v6.linux)!, port);
  try {
    for (const n of sizes) {
      const data = pattern(n, n + 7);
      let got: Awaited<ReturnType<typeof udpRecv>> = null;
      // Nothing is lost inside a namespace; retry once anyway so a slow
      // machine reports a mismatch rather than a timeout.
      for (let tries = 0; tries < 2 && got === null; tries++) {
        await udpSend(env, fd, data, to);
        got = await udpRecv(env, fd, 2000);
      }
      expect(got, `echo of ${n} bytes`).to.not.equal(null);
      expect(got!.data.length, `echo of ${n} bytes`).to.equal(n);
      expect(Buffer.from(got!.data).equals(Buffer.from(data)), `echo of ${n} bytes differs`).to.equal(true);
      expect(got!.addr?.family).to.equal(to.family);
      expect(String(got!.addr?.addr)).to.equal(String(to.addr));
      expect(got!.addr?.port).to.equal(port);
    }
  } finally {
    await env.t.close(fd);
    echo.kill();
    await echo.exit(3000);
  }
}

/**
 * A Linux `node:dgram` client sends each of `sizes` to an echo server on
 * the stack, and checks every echo byte for byte.
 */
export async function linuxToStackUdpEcho(env: Interop, sizes: readonly number[] = UDP_SIZES, v6?: V6Pair): Promise<void> {
  const port = 7008;
  const fd = udpSocket(env, port, v6);
  let stop = false;
  // The stack's echo server: bounded in count, ends when the test says so.
  const server = (async () => {
    let echoed = 0;
    for (let i = 0; i < 100 && !stop; i++) {
      const got = await udpRecv(env, fd, 200);
      if (got === null) continue;
      await udpSend(env, fd, got.data, got.addr!);
      echoed++;
    }
    return echoed;
  })();
  const client = new Peer(env.ns, ['udp-send', v6?.stack ?? env.stackIp, String(port), sizes.join(',')]);
  try {
    await client.next('done', 30000);
    const results = client.all('udp');
    expect(results.map((r) => r.size)).to.deep.equal([...sizes]);
    for (const r of results) expect(r, `Linux got its ${String(r.size)}-byte datagram back intact`).to.include({ ok: true, got: r.size });
  } finally {
    stop = true;
    const echoed = await withDeadline(server, 5000, 'the stack echo server');
    expect(echoed).to.be.at.least(sizes.length);
    await env.t.close(fd);
    await client.exit(3000);
  }
}

/**
 * ARP, the stack asking: both caches flushed, the stack pings Linux; its
 * cache then holds Linux's MAC and Linux's holds ours (learnt from the request).
 */
export async function stackResolvesLinux(env: Interop): Promise<void> {
  await flushArp(env);
  const before = { ...env.stack.arpstat };
  await env.stack.ping(env.linuxIp, { timeout: 2000 });
  expect(env.stack.arpstat.txrequests).to.be.greaterThan(before.txrequests);
  expect(env.stack.arpstat.rxreplies).to.be.greaterThan(before.rxreplies);
  expectStackHasLinux(env);
  await expectLinuxHasStack(env);
}

/** ARP, Linux asking: both caches flushed, Linux pings the stack; both caches then hold the other. */
export async function linuxResolvesStack(env: Interop): Promise<void> {
  await flushArp(env);
  const before = { ...env.stack.arpstat };
  const r = await env.ns.exec('ping', ['-n', '-c', '1', '-W', '2', env.stackIp], { timeoutMs: 10000 });
  expect(r.code, r.stdout + r.stderr).to.equal(0);
  expect(env.stack.arpstat.rxrequests).to.be.greaterThan(before.rxrequests);
  expect(env.stack.arpstat.txreplies).to.be.greaterThan(before.txreplies);
  await expectLinuxHasStack(env);
  expectStackHasLinux(env);
}

async function flushArp(env: Interop): Promise<void> {
  await env.ns.ip('neigh', 'flush', 'dev', env.ifname);
  try {
    env.stack.arpDelete(env.linuxIp);
  } catch {
    // no entry yet
  }
  expect(env.stack.arpList().filter((e) => e.ip === env.linuxIp)).to.have.length(0);
}

function expectStackHasLinux(env: Interop): void {
  const e = env.stack.arpList().find((x) => x.ip === env.linuxIp);
  expect(e, `stack ARP entry for ${env.linuxIp}`).to.not.equal(undefined);
  expect(e!.mac).to.equal(env.linuxMac);
  expect(e!.state).to.equal('reachable');
  expect(e!.ifname).to.equal(env.ifname);
}

async function expectLinuxHasStack(env: Interop): Promise<void> {
  const out = await env.ns.ip('-j', 'neigh', 'show', 'dev', env.ifname);
  const neigh = JSON.parse(out === '' ? '[]' : out) as Array<{ dst: string; lladdr?: string; state: string[] }>;
  const e = neigh.find((n) => n.dst === env.stackIp);
  expect(e, `Linux neighbour entry for ${env.stackIp}: ${out}`).to.not.equal(undefined);
  expect(e!.lladdr).to.equal(env.stackMac);
  expect(e!.state).to.not.include('FAILED').and.not.include('INCOMPLETE');
}
