/**
 * The stack against the Linux kernel through a tap, inside a namespace of
 * its own (no packet leaves it). Root only.
 *
 *   npx tsx packages/tap-bridge/bench/interop.bench.ts [--runs 3] [--mib 64]
 *
 * TCP:  throughput stack -> Linux and Linux -> stack at MTU 1500 and 9000,
 *       `--mib` MiB per run, median of `--runs` runs. The Linux peer is a
 *       Node process on the kernel's stack that counts (stack -> Linux) or
 *       sends one repeated buffer (Linux -> stack); the stack side sends one
 *       repeated 1 MiB buffer or counts. Time runs from just before connect
 *       (resp. accept) to the receiver's end of file.
 * ICMP: round-trip time of `stack.ping` (56 bytes) and of Linux's ping(8)
 *       to the stack, median of 200.
 * UDP:  sequential echo round trips, 1472-byte datagrams, stack -> Linux
 *       echo server (node:dgram), per second.
 * When TCP is not registered in the stack yet, that section says
 * "TCP: not available yet" and why.
 *
 * Set RUMPNET_INTEROP_STACK=src to measure the stack's source instead of
 * its build (see test/interop/harness.ts).
 */
import * as rump from '@rumpnet/stack';
import { canUseNetns } from '../src/index.js';
import { Peer, openInterop, pattern, tcpSkipReason, withDeadline } from '../test/interop/harness.js';
import type { Interop } from '../test/interop/harness.js';

const { AF_INET, SOCK, POLL, MSG, sockaddrIn, makeUio, BufferCopySource, BufferCopySink, errnoName } = rump;

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const RUNS = Math.max(1, opt('runs', 3));
const MIB = Math.max(1, opt('mib', 64));
const BYTES = MIB << 20;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

function check(errno: number, what: string): void {
  if (errno !== 0) throw new Error(`${what}: ${errnoName(errno) ?? errno}`);
}

/** Stack -> Linux: send BYTES of a repeated buffer; ms until Linux saw our FIN. */
async function stackToLinux(env: Interop, port: number): Promise<number> {
  const sink = await Peer.start(env.ns, ['tcp-discard', env.linuxIp, String(port)]);
  try {
    const buf = pattern(1 << 20, 7);
    const src = new BufferCopySource(buf);
    const t0 = performance.now();
    const { errno, fd } = env.t.socket(AF_INET, SOCK.STREAM, 0);
    check(errno, 'socket');
    check(await env.t.connect(fd, sockaddrIn(env.linuxAddr, port)), 'connect');
    for (let left = BYTES, i = 0; left > 0 && i < 1 << 24; i++) {
      const n = Math.min(buf.length, left);
      const r = await env.t.sendto(fd, makeUio([{ base: 0, len: n }], 'write'), src, null);
      check(r.errno, 'send');
      left -= r.bytes;
    }
    check(env.t.shutdown(fd, rump.SHUT.WR), 'shutdown');
    const end = await sink.next('conn-end', 600_000);
    const ms = performance.now() - t0;
    if (end.bytes !== BYTES) throw new Error(`Linux got ${String(end.bytes)} of ${BYTES} bytes`);
    await env.t.close(fd);
    return ms;
  } finally {
    sink.kill();
    await sink.exit(3000);
  }
}

/** Linux -> stack: a Linux client sends BYTES; ms from accept start to our end of file. */
async function linuxToStack(env: Interop, port: number): Promise<number> {
  const { errno, fd: lfd } = env.t.socket(AF_INET, SOCK.STREAM, 0);
  check(errno, 'socket');
  check(env.t.bind(lfd, sockaddrIn(env.stackAddr, port)), 'bind');
  check(env.t.listen(lfd, 8), 'listen');
  const client = new Peer(env.ns, ['tcp-blast', env.stackIp, String(port), String(BYTES)]);
  try {
    const a = await withDeadline(env.t.accept(lfd), 30_000, 'accept');
    check(a.errno, 'accept');
    const t0 = performance.now();
    const buf = new Uint8Array(1 << 20);
    const sink = new BufferCopySink(buf);
    let got = 0;
    for (let i = 0; i <= BYTES; i++) {
      const r = await env.t.recvfrom(a.fd, makeUio([{ base: 0, len: buf.length }], 'read'), sink, 0, true);
      check(r.errno, 'recv');
      if (r.bytes === 0) break;
      got += r.bytes;
    }
    const ms = performance.now() - t0;
    if (got !== BYTES) throw new Error(`the stack got ${got} of ${BYTES} bytes`);
    await env.t.close(a.fd);
    await env.t.close(lfd);
    return ms;
  } finally {
    await client.exit(10_000);
  }
}

async function tcpSection(): Promise<void> {
  const why = await tcpSkipReason();
  if (why !== undefined) {
    console.log(`TCP: not available yet (${why})`);
    return;
  }
  console.log(`TCP throughput, ${MIB} MiB per run, median of ${RUNS} (MB/s = 10^6 bytes/s)`);
  for (const mtu of [1500, 9000]) {
    const env = await openInterop({ prefix: 'bench', mtu, tcp: true });
    try {
      const out: number[] = [];
      const inn: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        out.push(mbps(BYTES, await stackToLinux(env, 6000 + r)));
        inn.push(mbps(BYTES, await linuxToStack(env, 6100 + r)));
      }
      const fmt = (xs: number[]) => `${median(xs).toFixed(0).padStart(5)} MB/s  (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`;
      console.log(`  MTU ${String(mtu).padStart(4)}  stack -> Linux ${fmt(out)}`);
      console.log(`  MTU ${String(mtu).padStart(4)}  Linux -> stack ${fmt(inn)}`);
      const s = env.tcp!.stats;
      console.log(`            (stack counters: sndrexmitpack ${s.sndrexmitpack}, rcvoopack ${s.rcvoopack}, rcvbadsum ${s.rcvbadsum}; tap txDrops ${env.tap.stats().txDrops})`);
    } finally {
      await env.close();
    }
  }
}

async function pingUdpSection(): Promise<void> {
  const env = await openInterop({ prefix: 'bench' });
  try {
    await env.stack.ping(env.linuxIp, { timeout: 2000 }); // ARP
    const rtts: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await env.stack.ping(env.linuxIp, { timeout: 2000 });
      rtts.push(performance.now() - t0);
    }
    console.log(`ICMP  stack.ping -> Linux, 56 bytes   median RTT ${(median(rtts) * 1000).toFixed(0)} us (200 pings)`);
    const r = await env.ns.exec('ping', ['-n', '-q', '-c', '200', '-i', '0.002', '-s', '56', env.stackIp], { timeoutMs: 30_000 });
    const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(r.stdout);
    console.log(`ICMP  Linux ping(8) -> stack, 56 bytes avg RTT ${m ? (Number(m[2]) * 1000).toFixed(0) : '?'} us (200 pings; ${/(\d+)% packet loss/.exec(r.stdout)?.[0] ?? r.stdout.trim()})`);

    const echo = await Peer.start(env.ns, ['udp-echo', env.linuxIp, '7009']);
    try {
      const { errno, fd } = env.t.socket(AF_INET, SOCK.DGRAM, 0);
      check(errno, 'socket');
      check(await env.t.connect(fd, sockaddrIn(env.linuxAddr, 7009)), 'connect');
      const data = pattern(1472, 3);
      const buf = new Uint8Array(2048);
      const src = new BufferCopySource(data);
      const sink = new BufferCopySink(buf);
      const N = 2000;
      let ok = 0;
      const t0 = performance.now();
      for (let i = 0; i < N; i++) {
        check((await env.t.sendto(fd, makeUio([{ base: 0, len: data.length }], 'write'), src, null)).errno, 'sendto');
        const p = await env.t.poll([{ fd, events: POLL.IN }], 1000);
        if ((p.revents[0]! & POLL.IN) === 0) continue;
        const got = await env.t.recvfrom(fd, makeUio([{ base: 0, len: buf.length }], 'read'), sink, MSG.DONTWAIT, true);
        if (got.errno === 0 && got.bytes === data.length) ok++;
      }
      const s = (performance.now() - t0) / 1000;
      console.log(`UDP   stack -> Linux echo, 1472 bytes  ${(ok / s).toFixed(0)} round trips/s, ${((2 * ok * 1472) / 1e6 / s).toFixed(1)} MB/s both ways (${ok}/${N} echoed)`);
      await env.t.close(fd);
    } finally {
      echo.kill();
      await echo.exit(3000);
    }
  } finally {
    await env.close();
  }
}

async function main(): Promise<void> {
  const can = canUseNetns();
  if (!can.ok) {
    console.log(`skipped: ${can.reason}`);
    return;
  }
  console.log(`rumpnet interop benchmark: stack <-> Linux through a tap in a netns (node ${process.version})`);
  await pingUdpSection();
  await tcpSection();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
