/**
 * Issue 10 through the tap: a Linux-side attacker in the test's namespace
 * (raw frames sent by `peers/raw-frames.py` over AF_PACKET, from a made-up
 * neighbour .7 so the kernel never answers the stack's replies) opens ten
 * connections to a listener on the stack with real handshakes and then sends
 * only out-of-order segments — 200- and 600-byte ones with holes, never the
 * byte at RCV.NXT. Meanwhile `curl` in the namespace downloads 8 MiB from an
 * HTTP server on the stack. The download must complete intact; the
 * out-of-order queues must stay within their stack-wide budget and each
 * connection within its receive buffer's share; the drops are counted; and
 * once the attacker resets its connections and the stack closes, the pool
 * is all free. Nothing leaves the namespace.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import * as rump from '@rumpnet/stack';
import { netnsSkipReason, openInterop, pattern, skipWith, tcpSkipReason, waitUntil, withDeadline } from './harness.js';
import type { Interop } from './harness.js';
import { RawPeer, etherFrame, ipv4Packet, macBytes, tcpSegment, type SegSpec } from './raw-frames.js';
import { en, MiB, sendAll, tcpListen } from './tcp-helpers.js';

const { inetAton, wire } = rump;
const { SYN, ACK, RST } = wire.TcpFlag;
const FLOOD_PORT = 7100;
const HTTP_PORT = 8080;
const CONNS = 10;

/** What the test reads of TCP's out-of-order accounting (not in the interop TcpLike). */
interface OfoView {
  tun: { reassMaxClusters: number; reassMaxMbufs: number; reassMaxSegs: number };
  reassBudget: { clusters: number; mbufs: number; clustersPeak: number; mbufsPeak: number; activeQueues: number };
  tcbs: Set<{ inp: { fport: number }; so: { rcv: { mbmax: number; mbcnt: number } } | null; reass: { length: number; mbcnt: number } }>;
}

function missingTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status !== 0;
}

describe('interop: an out-of-order flood from a Linux-side attacker while curl downloads 8 MiB (issue 10; tap in a netns)', function () {
  this.timeout(60_000);
  let env: Interop | undefined;
  let raw: RawPeer | undefined;

  before(async function () {
    const why = netnsSkipReason() ?? (await tcpSkipReason()) ?? (missingTool('python3') ? 'no python3 (the raw-frame sender)' : undefined) ?? (missingTool('curl') ? 'no curl' : undefined);
    if (why !== undefined) skipWith(this, why);
    env = await openInterop({ prefix: 'ofo', tcp: true });
    raw = await RawPeer.start(env.ns, env.ifname, env.stackMac);
  });
  after(async () => {
    raw?.close();
    const e = env;
    env = undefined;
    await e?.close();
    if (e !== undefined) expect(e.poolFreeAfterClose, 'mbufs leaked').to.equal(true);
  });

  it('holds the budget and each connection its share; the download completes with the right sha256; the drops are counted', async () => {
    const e = env!;
    const ofo = e.tcp as unknown as OfoView;
    const st = e.tcp!.stats;
    const fakeIp = e.linuxIp.replace(/\.1$/, '.7');
    const fake = inetAton(fakeIp)!;
    e.stack.arpAdd(fakeIp, e.linuxMac);
    const frame = (spec: SegSpec): Uint8Array =>
      etherFrame(macBytes(e.stackMac), macBytes(e.linuxMac), 0x0800, ipv4Packet(fake, e.stackAddr, 6, tcpSegment(fake, e.stackAddr, { dstPort: FLOOD_PORT, ...spec })));

    // The target: a listener nobody accepts from. Ten handshakes from .7.
    tcpListen(e, FLOOD_PORT, 64);
    const conns: { port: number; seq: number; ack: number }[] = [];
    for (let i = 0; i < CONNS; i++) {
      const port = 43000 + i;
      await raw!.send(frame({ srcPort: port, flags: SYN, seq: 1000, mss: 1460, windowScale: 7 }));
      const sa = await raw!.waitFor((s) => s.tcp.dstPort === port && s.tcp.flags === (SYN | ACK), 5000, `the SYN-ACK to :${port}`);
      const ack = (sa.tcp.seq + 1) >>> 0;
      await raw!.send(frame({ srcPort: port, flags: ACK, seq: 1001, ack }));
      conns.push({ port, seq: 1001, ack });
    }

    // The well-behaved side: an HTTP server on the stack, curl in the namespace.
    const body = pattern(8 * MiB, 10);
    const want = createHash('sha256').update(body).digest('hex');
    const lfd = tcpListen(e, HTTP_PORT);
    const server = (async () => {
      const r = await e.t.accept(lfd);
      expect(en(r.errno), 'accept').to.equal('0');
      const hdr = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      // The request is not read: whatever it is, this server answers with the body.
      await sendAll(e, r.fd, new TextEncoder().encode(hdr));
      await sendAll(e, r.fd, body);
      await e.t.close(r.fd);
    })();
    const out = join(e.dir, 'blob');
    const curl = e.ns.exec('curl', ['-sS', '--http1.1', '--max-time', '40', '-o', out, '-w', '%{http_code} %{size_download}', `http://${e.stackIp}:${HTTP_PORT}/`], {
      timeoutMs: 45_000,
    });

    // The flood: 12 rounds of 100 segments on each connection (12,000 in all, ~3.7 MB).
    const shareOk = (): boolean => {
      for (const tp of ofo.tcbs) {
        if (tp.inp.fport < 43000 || tp.inp.fport >= 43000 + CONNS || tp.so === null) continue;
        if (tp.reass.length > ofo.tun.reassMaxSegs || tp.reass.mbcnt > tp.so.rcv.mbmax - tp.so.rcv.mbcnt) return false;
      }
      return true;
    };
    let sent = 0;
    for (let round = 0; round < 12; round++) {
      const frames: Uint8Array[] = [];
      for (const c of conns) {
        for (let j = 0; j < 100; j++) {
          const k = round * 100 + j;
          const len = k % 3 === 2 ? 600 : 200;
          const off = 1000 + ((k * 7919) % 1100) * 800;
          frames.push(frame({ srcPort: c.port, flags: ACK, seq: (c.seq + off) >>> 0, ack: c.ack, payload: new Uint8Array(len).fill(0x41) }));
        }
      }
      await raw!.send(...frames);
      sent += frames.length;
      expect(shareOk(), 'every connection within its share').to.equal(true);
    }
    // All of it processed: frames are taken in order, so once a marker SYN
    // sent after the flood is answered, the flood before it was seen.
    // (A marker the tap's full queue dropped is sent again, on a new port.)
    for (let port = 43990; ; port++) {
      await raw!.send(frame({ srcPort: port, flags: SYN, seq: 5 }));
      try {
        await raw!.waitFor((s) => s.tcp.dstPort === port && s.tcp.flags === (SYN | ACK), 2000, 'the marker SYN-ACK');
        break;
      } catch (err) {
        if (port >= 43994) throw err;
      }
    }
    // (The kernel may drop some of a 1,000-frame burst at the tap's queue: most must arrive.)
    expect(st.rcvoopack!, 'out-of-order segments taken in').to.be.at.least(sent / 2);
    console.log(
      `      flood: ${sent} segments sent, ${st.rcvoopack} taken in; out-of-order queues peaked at ${ofo.reassBudget.clustersPeak} clusters, ` +
        `${ofo.reassBudget.mbufsPeak} mbufs (budget ${ofo.tun.reassMaxClusters} / ${ofo.tun.reassMaxMbufs}); budget drops ${st.rcvoobudgetdrop}`,
    );

    const c = await curl;
    await withDeadline(server, 10_000, 'the HTTP server');
    expect(c.code, c.stderr).to.equal(0);
    expect(c.stdout).to.equal(`200 ${8 * MiB}`);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex'), 'sha256 of the download').to.equal(want);

    const b = ofo.reassBudget;
    expect(b.clustersPeak, 'clusters held by all out-of-order queues').to.be.at.most(ofo.tun.reassMaxClusters);
    expect(b.mbufsPeak, 'mbufs held by all out-of-order queues').to.be.at.most(ofo.tun.reassMaxMbufs);
    expect(b.mbufsPeak, 'the budget was what bounded them').to.be.at.least(ofo.tun.reassMaxMbufs - 2);
    expect(shareOk()).to.equal(true);
    expect(st.rcvoobudgetdrop! + st.rcvoopruned! + st.rcvooprunedother!, 'refusals and prunes counted').to.be.greaterThan(0);
    expect(e.stack.pool.stats().clustersPeak, 'the pool was never drained').to.be.lessThan(e.stack.pool.nmbclusters / 4);

    // The attacker resets its connections: their queues go with them.
    await raw!.send(...conns.map((x) => frame({ srcPort: x.port, flags: RST, seq: x.seq })));
    await waitUntil(() => b.activeQueues === 0, 5000, 'the flood connections to be reset');
    expect([b.clusters, b.mbufs]).to.deep.equal([0, 0]);
  });
});
