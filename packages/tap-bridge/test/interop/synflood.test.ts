/**
 * Issue 11, "Done when": a bounded SYN flood (hping3, spoofed random
 * sources, count- and time-bounded) at a listener of the stack through the
 * tap, while a legitimate Linux client connects and downloads 10 MiB. With
 * SYN cookies the client is served from a cookie (the cache is full of the
 * flood's entries); the test prints the download time without the flood,
 * with it, and — with `RUMPNET_FLOOD_NOCOOKIES=1` — with it and cookies off
 * (`net.inet.tcp.syncookies=0`): the figures of docs/BENCHMARKS.md. Assertions are about the mechanism (the
 * download is intact, it came through a cookie), not about times, which
 * depend on the machine's load.
 *
 * Every packet stays in the namespace: hping3 runs inside it and sends on
 * the tap; the stack's SYN-ACKs to the spoofed sources have no route and
 * are dropped by the stack itself (counted `noroute`).
 */
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { netnsSkipReason, openInterop, skipWith, tcpSkipReason, waitUntil } from './harness.js';
import type { Interop } from './harness.js';
import { sendRandom, tcpAccept, tcpListen } from './tcp-helpers.js';

const PORT = 8000;
const BYTES = 10 * 1024 * 1024;
/**
 * The flood: SYNs every 500 µs (2,000 a second: what the stack, one thread
 * on a shared 2-core machine, keeps up with while it also serves the client;
 * a faster flood only fills the tap's queue, where it drops the client's SYN
 * as well — a CPU limit no cookie can lift). With cookies it runs until the
 * download is done (at most this many SYNs, {@link FLOOD_MAX_MS}), so the
 * cache is full of fresh entries whenever the client's SYN comes.
 */
const FLOOD_COUNT = 50_000;
/** Without cookies the flood is 5 s long (the client gets in only after it, like the 10 s flood). */
const FLOOD_COUNT_NOCOOKIES = 10_000;
const FLOOD_INTERVAL = 'u500';
/** Longest a flood may run whatever happens, ms. */
const FLOOD_MAX_MS = 25_000;
/**
 * SYN-cache entries per listener during the test (the default is 1024): a
 * flood slowed down by a loaded machine must still keep the cache full of
 * fresh (unevictable) entries, or the client would get an entry instead of
 * a cookie and the test would say nothing about cookies.
 */
const BUCKET = 64;

/** A Linux client in the namespace: connect, read to EOF; prints times and the hash. */
const CLIENT = `
import hashlib, json, socket, sys, time
t0 = time.monotonic()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
t1 = time.monotonic()
h = hashlib.sha256(); n = 0
while n <= ${BYTES}:
    b = s.recv(1 << 20)
    if not b:
        break
    h.update(b); n += len(b)
t2 = time.monotonic()
print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "connectMs": round((t1 - t0) * 1000, 1), "totalMs": round((t2 - t0) * 1000, 1)}))
`;

interface Download {
  bytes: number;
  sha256: string;
  connectMs: number;
  totalMs: number;
}

function haveHping3(): boolean {
  try {
    execFileSync('hping3', ['--version'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

describe('interop: SYN flood with SYN cookies (issue 11; tap in a netns, hping3)', function () {
  this.timeout(90_000);
  let env: Interop | undefined;
  let lfd = -1;

  before(async function () {
    const why = netnsSkipReason() ?? (await tcpSkipReason()) ?? (haveHping3() ? undefined : 'hping3 is not installed (Debian package hping3)');
    if (why !== undefined) skipWith(this, why);
    env = await openInterop({ prefix: 'flood', tcp: true });
    env.stack.sysctl.set('net.inet.tcp.syncache.bucketlimit', BUCKET);
    lfd = tcpListen(env, PORT, 128);
  });
  after(async () => {
    const e = env;
    env = undefined;
    await e?.close();
    if (e !== undefined) expect(e.poolFreeAfterClose, 'mbufs leaked').to.equal(true);
  });

  /** One download: the stack accepts and sends BYTES random bytes, the Linux client reads them. */
  async function download(): Promise<Download> {
    const e = env!;
    const served = (async () => {
      const fd = await tcpAccept(e, lfd, 30_000);
      const sha = await sendRandom(e, fd, BYTES);
      await e.t.close(fd);
      return sha;
    })();
    const r = await e.ns.exec('python3', ['-c', CLIENT, e.stackIp, String(PORT)], { timeoutMs: 40_000 });
    const st = e.tcp!.stats;
    expect(r.code, `client: ${r.stderr.trim().split('\n').pop()} (SYN cache overflows ${st.scOverflowed}, cookies sent ${st.scCookiesSent}, ok ${st.scCookiesOk}, bad ${st.scCookiesBad}; tap ${JSON.stringify(e.tap.stats())})`).to.equal(0);
    const d = JSON.parse(r.stdout.trim()) as Download;
    expect(d.bytes).to.equal(BYTES);
    expect(d.sha256).to.equal(await served);
    return d;
  }

  /** Runs `fn` while hping3 floods the listener from random sources; the flood is stopped after. */
  async function underFlood<T>(count: number, fn: () => Promise<T>): Promise<T> {
    const e = env!;
    const tcp = e.tcp!;
    const flood = e.ns.spawn('hping3', ['-q', '-S', '-p', String(PORT), '--rand-source', '-i', FLOOD_INTERVAL, '-c', String(count), e.stackIp]);
    const stop = setTimeout(() => flood.kill('SIGKILL'), FLOOD_MAX_MS);
    const overflowed = tcp.stats.scOverflowed ?? 0;
    try {
      // Until the SYN cache of the listener is full.
      await waitUntil(() => (tcp.stats.scOverflowed ?? 0) > overflowed, 10_000, 'the SYN cache to overflow');
      return await fn();
    } finally {
      clearTimeout(stop);
      if (flood.exitCode === null) {
        const exited = new Promise((r) => flood.once('exit', r));
        flood.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (flood.exitCode === null) flood.kill('SIGKILL');
      }
    }
  }

  it('a legitimate client connects and downloads 10 MiB during the flood, through a SYN cookie; times printed', async () => {
    const e = env!;
    const s = e.tcp!.stats;
    const quiet = await download();
    const cookiesOk = s.scCookiesOk!;
    const flooded = await underFlood(FLOOD_COUNT, () => download());
    expect(s.scCookiesSent, 'cookies were sent').to.be.greaterThan(0);
    expect(s.scCookiesOk! - cookiesOk, 'the client came through a cookie').to.be.at.least(1);
    // For comparison (RUMPNET_FLOOD_NOCOOKIES=1, about 8 s more): the same
    // with cookies off, where the client's SYN is dropped while the cache is full.
    let noCookies: Download | undefined;
    if (process.env.RUMPNET_FLOOD_NOCOOKIES === '1') {
      e.stack.sysctl.set('net.inet.tcp.syncookies', 0);
      try {
        noCookies = await underFlood(FLOOD_COUNT_NOCOOKIES, () => download());
      } finally {
        e.stack.sysctl.set('net.inet.tcp.syncookies', 1);
      }
    }
    const row = (what: string, d: Download) => `      ${what.padEnd(30)} connect ${String(d.connectMs).padStart(7)} ms, 10 MiB in ${String(d.totalMs).padStart(7)} ms\n`;
    process.stdout.write(
      row('no flood', quiet) +
        row(`flood, cookies on`, flooded) +
        (noCookies !== undefined ? row(`5 s flood, cookies off`, noCookies) : '') +
        `      (flood: hping3 -S --rand-source -i ${FLOOD_INTERVAL}, stopped after the download; SYN cache ${BUCKET} per listener; cookies sent ${s.scCookiesSent}, SYN-cache overflows ${s.scOverflowed})\n`,
    );
  });
});
