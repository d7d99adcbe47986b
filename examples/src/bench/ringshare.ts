/**
 * Does a streamed receive's window crowd the session's other sockets out of
 * the shared ring (docs/PROTOCOL.md §7a)? One rump client session receives
 * `--streams` streams of `--mib` MiB each (every chunk handed on as it
 * comes, optionally with a CPU-bound pause of `--busy` ms per MiB, as a
 * program that computes on its input), while on another socket of the same
 * session 16 KiB request/response exchanges run; per stream window it
 * prints the server's `shmFallbacks` (COPYOUTs that found the ring full and
 * went on the socket) beside `shmCopyouts`, and the MiB/s. Windows are
 * measured in turns. Everything stays on the rump stack's lo0.
 *
 *   RUMP_SERVER=unix:///tmp/rump.sock npx tsx examples/src/bench/ringshare.ts --streams 3 --turns 3
 */
import { Command } from 'commander';
import { RumpConnection, StreamSink, inet } from '@rumpnet/client';
import { intArg, jsonLine } from '../lib/cli.js';

const CHUNK = 64 * 1024;
const EXCHANGE = 16 * 1024;
/** Bound on the request/response exchanges of one run. */
const MAX_EXCHANGES = 100_000;

interface Opts {
  streams: number;
  mib: number;
  turns: number;
  busy: number;
  windows: string;
  rumpServer?: string;
}

/** A connected TCP pair over the rump stack's lo0: `s` on `tx`, `r` on `rx`. */
async function tcpPair(tx: RumpConnection, rx: RumpConnection, port: number): Promise<{ s: number; r: number }> {
  const l = await rx.sys.socket('stream');
  await rx.sys.setsockopt(l, 'socket', 'SO_REUSEADDR', true);
  await rx.sys.bind(l, inet('127.0.0.1', port));
  await rx.sys.listen(l, 4);
  const s = await tx.sys.socket('stream');
  const acc = rx.sys.accept(l);
  await tx.sys.connect(s, inet('127.0.0.1', port));
  const r = (await acc).fd;
  await rx.sys.close(l);
  return { s, r };
}

async function main(): Promise<void> {
  const o = new Command('ringshare')
    .option('--streams <n>', 'concurrent streams in the receiving session', intArg(1, 16), 3)
    .option('--mib <n>', 'MiB per stream', intArg(1, 1024), 32)
    .option('--turns <n>', 'turns over the windows', intArg(1, 100), 3)
    .option('--busy <ms>', 'CPU-bound pause of the receiving program per MiB', intArg(0, 1000), 0)
    .option('--windows <list>', 'stream windows in bytes, comma-separated', '1048576,524288')
    .option('--rump-server <url>', 'rump server URL (default $RUMP_SERVER)')
    .parse()
    .opts<Opts>();
  const url = o.rumpServer ?? process.env.RUMP_SERVER;
  const windows = o.windows.split(',').map(Number);
  const tx = await RumpConnection.connect(url, { name: 'ringshare-tx' });
  const rx = await RumpConnection.connect(url, { name: 'ringshare-rx' });
  const counters = async (): Promise<Record<string, number>> =>
    (await rx.call<{ clients: { session: number; name?: string; counters: Record<string, number> }[] }>('ctl.clients', {})).clients.find((c) => c.name === 'ringshare-rx')!.counters;
  const msg = Buffer.alloc(o.mib << 20, 0x5a);
  const reply = Buffer.alloc(EXCHANGE, 0x33);
  const buf = Buffer.alloc(EXCHANGE);
  let port = 7700;
  try {
    for (let turn = 0; turn < o.turns; turn++) {
      for (const window of windows) {
        const pairs = [];
        for (let i = 0; i < o.streams; i++) pairs.push(await tcpPair(tx, rx, port++));
        const side = await tcpPair(tx, rx, port++);
        const before = await counters();
        const t0 = performance.now();
        const sends = Promise.all(pairs.map((p) => tx.sys.send(p.s, msg)));
        const got = pairs.map(() => 0);
        const calls = pairs.map((p, i) => {
          const call: { slot: number; done: Promise<unknown> } = rx.recvStream(p.r, CHUNK, window, new StreamSink((c) => {
            if (o.busy > 0 && (got[i]! + c.length) >>> 20 !== got[i]! >>> 20) {
              const end = performance.now() + o.busy;
              while (performance.now() < end); // the program computing on what it got
            }
            got[i]! += c.length;
            queueMicrotask(() => rx.streamConsumed(call.slot, got[i]! >>> 0));
          }))!;
          if (call === undefined) throw new Error('no streamed receive: the server offers no shared region');
          return call;
        });
        let streaming = true;
        let exchanges = 0;
        const exchange = (async () => {
          for (; streaming && exchanges < MAX_EXCHANGES; exchanges++) {
            await tx.sys.send(side.s, reply);
            for (let n = 0; n < EXCHANGE; ) n += await rx.sys.recv(side.r, buf.subarray(n));
          }
        })();
        await sends;
        for (const p of pairs) await tx.sys.shutdown(p.s, 'wr');
        await Promise.all(calls.map((c) => c.done));
        const ms = performance.now() - t0;
        streaming = false;
        await exchange;
        const after = await counters();
        jsonLine({
          turn, window, streams: o.streams, busyMsPerMiB: o.busy, exchanges,
          mibps: Math.round(((o.mib * o.streams) / ms) * 1000),
          shmFallbacks: after.shmFallbacks! - before.shmFallbacks!,
          shmCopyouts: after.shmCopyouts! - before.shmCopyouts!,
        });
        for (const p of [...pairs, side]) {
          await rx.sys.close(p.r);
          await tx.sys.close(p.s);
        }
      }
    }
  } finally {
    await tx.close();
    await rx.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
