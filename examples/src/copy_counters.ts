/**
 * copy_counters — shows the mechanism the paper measured: how many COPYIN
 * requests (server asks the client for send data) and COPYOUT requests
 * (server writes receive data into the client) the rump server made, per
 * client, with the server's MCLBYTES/MCLNUM and the cluster pool's use
 * (`netstat -m`). It is itself a rump client, using the low-level API.
 *
 *   RUMP_SERVER=unix:///tmp/rump.sock npx tsx examples/src/copy_counters.ts
 *   npx tsx examples/src/copy_counters.ts --rump-server unix:///tmp/rump.sock --demo 1m
 *
 * `--demo BYTES` first sends BYTES to itself over the server's loopback in
 * 8 KiB UDP datagrams and prints its own counters: with MCLBYTES 2048 that
 * is 4 COPYINs per datagram at MCLNUM 1 and 1 at MCLNUM 4 or more.
 */
import { Command } from 'commander';
import { RumpConnection, inet } from '@rumpnet/client';
import { bytesArg, jsonLine } from './lib/cli.js';
import { runMain } from './lib/select.js';

const DGRAM = 8192;

interface CtlClient {
  session: number;
  pid: number | null;
  name: string | null;
  fds: number;
  counters: Record<string, number>;
}

/** Sends `total` bytes to a socket of our own over lo0 and reads them back; resolves with our counters' deltas. */
async function demo(conn: RumpConnection, total: number): Promise<Record<string, number>> {
  const before = { ...conn.counters };
  const rx = await conn.sys.socket('dgram');
  const tx = await conn.sys.socket('dgram');
  try {
    await conn.sys.bind(rx, inet('127.0.0.1', 0));
    const to = await conn.sys.getsockname(rx);
    const buf = Buffer.alloc(DGRAM, 0x64);
    const back = Buffer.alloc(DGRAM);
    for (let sent = 0; sent < total; sent += DGRAM) {
      const n = Math.min(DGRAM, total - sent);
      await conn.sys.sendto(tx, buf, to, 0, n);
      await conn.sys.recv(rx, back); // one datagram per send, so the socket buffer never overflows
    }
  } finally {
    await conn.sys.close(rx);
    await conn.sys.close(tx);
  }
  const after = conn.counters as unknown as Record<string, number>;
  const b = before as unknown as Record<string, number>;
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (b[k] ?? 0)]));
}

async function main(): Promise<void> {
  const opts = new Command('copy_counters')
    .description("Print a rump server's copyin/copyout counters per client and its cluster pool.")
    .option('--rump-server <url>', 'rump server URL (default $RUMP_SERVER)')
    .option('--demo <bytes>', 'first send this many bytes over lo0 in UDP datagrams', bytesArg(1, 1024 ** 3))
    .option('--json', 'print one JSON line')
    .parse()
    .opts<{ rumpServer?: string; demo?: number; json?: boolean }>();
  const conn = await RumpConnection.connect(opts.rumpServer ?? process.env.RUMP_SERVER, { name: 'copy_counters' });
  try {
    const mine = opts.demo !== undefined ? await demo(conn, opts.demo) : null;
    const { server, clients } = await conn.call<{ server: Record<string, unknown>; clients: CtlClient[] }>('ctl.clients', {});
    const { mbufs } = await conn.call<{ mbufs?: { pool: Record<string, number> } }>('ctl.netstat', { what: 'mbufs' });
    if (opts.json) {
      jsonLine({ server, clients, pool: mbufs?.pool ?? null, demo: mine });
      return;
    }
    console.log(`${String(server.software)} at ${String(server.listen)}: MCLBYTES ${String(server.mclbytes)}, MCLNUM ${String(server.mclnum)}, receive ${String(server.rxMode)}`);
    if (mine !== null) {
      const n = opts.demo!;
      console.log(`demo: ${n} bytes in ${Math.ceil(n / DGRAM)} datagrams of ${DGRAM}: ${mine.copyinRequests} COPYIN (${(mine.copyinRequests! / (n / 1024 / 1024)).toFixed(1)} per MiB), ${mine.copyoutRequests} COPYOUT`);
    }
    console.log('session    pid  name               fds    COPYIN   COPYIN bytes   COPYOUT  COPYOUT bytes');
    for (const c of clients) {
      const k = c.counters;
      console.log(
        `${String(c.session).padStart(7)} ${String(c.pid ?? '-').padStart(6)}  ${(c.name ?? '-').padEnd(17).slice(0, 17)} ${String(c.fds).padStart(4)} ${String(k.copyinRequests ?? 0).padStart(9)} ${String(k.copyinBytes ?? 0).padStart(14)} ${String(k.copyoutRequests ?? 0).padStart(9)} ${String(k.copyoutBytes ?? 0).padStart(14)}`,
      );
    }
    if (mbufs) {
      const p = mbufs.pool;
      console.log(`clusters: ${p.clustersInUse}/${p.clustersTotal} in use, peak ${p.clustersPeak}; mbufs ${p.mbufsInUse} in use, peak ${p.mbufsPeak}; ${p.allocFailures} allocation failures`);
    }
  } finally {
    await conn.close();
  }
}

runMain('copy_counters', main);
