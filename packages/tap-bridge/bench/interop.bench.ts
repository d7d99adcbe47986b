/**
 * The stack against the Linux kernel through a tap, inside a namespace of
 * its own (no packet leaves it). Root only.
 *
 *   npx tsx packages/tap-bridge/bench/interop.bench.ts [--runs 3] [--mib 64]
 *       [--mtu 1500|9000] [--dir out|in] [--tcp-only] [--profile] [--pcap]
 *       [--offload | --offload-only | --no-offload]
 *
 * `--mtu` / `--dir` restrict the TCP section to one MTU / one direction
 * (`out` = stack -> Linux); `--tcp-only` skips ICMP and UDP; `--profile`
 * adds a CPU profile of the stack's process (node:inspector, self time,
 * top 15) of one extra run per direction; `--pcap` records one extra run
 * per direction and prints tshark's retransmission/dup-ACK/zero-window
 * counts and the largest gap between frames (a stall shows there).
 * By default the tap has its offloads (TapLink's default probe: TSO out,
 * the kernel's super-packets in); `--no-offload` measures a plain tap;
 * `--offload` measures every TCP row twice, without and with them, and
 * prints both with the TSO/LRO counters; `--offload-only` as the default.
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
import { Session } from 'node:inspector/promises';
import * as rump from '@rumpnet/stack';
import { canUseNetns } from '../src/index.js';
import { Peer, haveTshark, openInterop, pattern, tcpSkipReason, tshark, withDeadline } from '../test/interop/harness.js';
import type { Interop } from '../test/interop/harness.js';

const { AF_INET, SOCK, POLL, MSG, sockaddrIn, makeUio, BufferCopySource, BufferCopySink, errnoName } = rump;

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const RUNS = Math.max(1, opt('runs', 3));
const flag = (name: string): boolean => argv.includes(`--${name}`);
const strOpt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ONLY_MTU = opt('mtu', 0);
const DIR = strOpt('dir');
const TCP_ONLY = flag('tcp-only');
const PROFILE = flag('profile');
const PCAP = flag('pcap');
const OFFLOAD_ONLY = flag('offload-only');
const OFFLOADS: boolean[] = flag('no-offload') ? [false] : flag('offload') && !OFFLOAD_ONLY ? [false, true] : [true];
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

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Runs `fn` under the inspector's sampling profiler; prints the top 15 functions by self time. */
async function profiled<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  let result: T;
  try {
    result = await fn();
  } finally {
    const { profile: p } = (await session.post('Profiler.stop')) as { profile: { nodes: ProfileNode[]; samples: number[] } };
    session.disconnect();
    const byNode = new Map<number, ProfileNode>();
    for (const n of p.nodes) byNode.set(n.id, n);
    const self = new Map<string, number>();
    for (const id of p.samples) {
      const n = byNode.get(id)!;
      const url = n.callFrame.url.replace(/^.*\/(packages|node_modules)\//, '$1/');
      const key = `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
      self.set(key, (self.get(key) ?? 0) + 1);
    }
    const total = p.samples.length;
    console.log(`    profile of the stack's process, ${what} (self time, top 15 of ${total} samples):`);
    for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
      console.log(`      ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
    }
  }
  return result!;
}

/** tshark's view of a capture of one transfer: what went wrong on the wire, and the longest silence. */
async function pcapSummary(env: Interop, what: string): Promise<void> {
  if (env.pcapFile === undefined) return;
  if (!(await haveTshark())) {
    console.log('    (pcap: tshark is not installed)');
    return;
  }
  const count = async (filter: string): Promise<number> => (await tshark(env.pcapFile!, ['-Y', filter, '-T', 'fields', '-e', 'frame.number'])).length;
  const frames = await count('tcp');
  const rexmit = await count('tcp.analysis.retransmission || tcp.analysis.fast_retransmission');
  const dupack = await count('tcp.analysis.duplicate_ack');
  const zwin = await count('tcp.analysis.zero_window || tcp.analysis.window_full');
  const gaps = (await tshark(env.pcapFile, ['-Y', 'tcp', '-T', 'fields', '-e', 'frame.time_delta_displayed'])).map(Number);
  const big = gaps.filter((g) => g > 0.005).length;
  const maxGap = gaps.reduce((a, b) => Math.max(a, b), 0);
  console.log(
    `    pcap ${what}: ${frames} TCP frames, ${rexmit} retransmissions, ${dupack} dup ACKs, ${zwin} zero-window/window-full, ` +
      `${big} gaps > 5 ms, longest ${(maxGap * 1000).toFixed(1)} ms`,
  );
}

async function tcpSection(): Promise<void> {
  const why = await tcpSkipReason();
  if (why !== undefined) {
    console.log(`TCP: not available yet (${why})`);
    return;
  }
  console.log(`TCP throughput, ${MIB} MiB per run, median of ${RUNS} (MB/s = 10^6 bytes/s; CPU = the stack process's user+sys ms per MiB)`);
  const mtus = ONLY_MTU > 0 ? [ONLY_MTU] : [1500, 9000];
  const dirs: Array<'out' | 'in'> = DIR === 'out' || DIR === 'in' ? [DIR] : ['out', 'in'];
  let port = 6000;
  for (const mtu of mtus) for (const offload of OFFLOADS) await tcpRows(mtu, offload, dirs, () => port++);
}

/** The TCP rows of one MTU, with or without offloads. */
async function tcpRows(mtu: number, offload: boolean, dirs: Array<'out' | 'in'>, nextPort: () => number): Promise<void> {
  const tag = OFFLOADS.length > 1 || offload ? (offload ? ' offload' : ' no-offl') : '';
  const env = await openInterop({ prefix: 'bench', mtu, tcp: true, offload });
  try {
    const res = { out: [] as number[], in: [] as number[] };
    const cpu = { out: [] as number[], in: [] as number[] };
    for (let r = 0; r < RUNS; r++) {
      for (const d of dirs) {
        const c0 = process.cpuUsage();
        const ms = d === 'out' ? await stackToLinux(env, nextPort()) : await linuxToStack(env, nextPort());
        const c = process.cpuUsage(c0);
        res[d].push(mbps(BYTES, ms));
        cpu[d].push((c.user + c.system) / 1000 / MIB);
      }
    }
    const fmt = (xs: number[], cs: number[]) =>
      `${median(xs).toFixed(0).padStart(5)} MB/s  (runs: ${xs.map((x) => x.toFixed(0)).join(', ')}; CPU ${median(cs).toFixed(2)} ms/MiB)`;
    for (const d of dirs) {
      console.log(`  MTU ${String(mtu).padStart(4)}${tag}  ${d === 'out' ? 'stack -> Linux' : 'Linux -> stack'} ${fmt(res[d], cpu[d])}`);
    }
    const s = env.tcp!.stats;
    const ts = env.tap.stats();
    console.log(
      `            (stack counters: sndrexmitpack ${s.sndrexmitpack}, rcvoopack ${s.rcvoopack}, rcvbadsum ${s.rcvbadsum}, ` +
        `rexmttimeo ${s.rexmttimeo ?? '?'}; tap txDrops ${ts.txDrops}, rx frames/wake-up ${(ts.rxFrames / Math.max(1, ts.rxWakeups)).toFixed(1)})`,
    );
    if (offload) {
      const es = env.stack.etherstat as Record<string, number>;
      console.log(
        `            (offload: tsoSegments ${s.tsoSegments ?? '?'}, tsoBytes ${s.tsoBytes ?? '?'} ` +
          `(mean ${s.tsoSegments ? Math.round(s.tsoBytes! / s.tsoSegments) : '?'} B), tsoDeferred ${s.tsoDeferred ?? '?'}, ` +
          `sndCorked ${s.sndCorked ?? '?'}, tap txGso ${ts.txGso}, ` +
          `rxGso ${ts.rxGso}, lroPackets ${es.lroPackets ?? '?'}, rcvcsumoffload ${s.rcvcsumoffload ?? '?'})`,
      );
    }
    if (PROFILE) {
      for (const d of dirs) {
        await profiled(`MTU ${mtu}${tag} ${d === 'out' ? 'stack -> Linux' : 'Linux -> stack'}`, () =>
          d === 'out' ? stackToLinux(env, nextPort()) : linuxToStack(env, nextPort()),
        );
      }
    }
  } finally {
    await env.close();
  }
  if (PCAP) {
    for (const d of dirs) {
      const penv = await openInterop({ prefix: 'bench', mtu, tcp: true, pcap: true, offload });
      try {
        const ms = d === 'out' ? await stackToLinux(penv, nextPort()) : await linuxToStack(penv, nextPort());
        console.log(`    with pcap: ${mbps(BYTES, ms).toFixed(0)} MB/s`);
        await pcapSummary(penv, `MTU ${mtu}${tag} ${d === 'out' ? 'stack -> Linux' : 'Linux -> stack'}`);
      } finally {
        await penv.close();
      }
    }
  }
}

async function pingUdpSection(): Promise<void> {
  const env = await openInterop({ prefix: 'bench', offload: !flag('no-offload') });
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
  if (!TCP_ONLY) await pingUdpSection();
  await tcpSection();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
