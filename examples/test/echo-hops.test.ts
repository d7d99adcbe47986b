/**
 * Hops per echo, as the benchmark prints them: tcp_echo_client through a
 * rump client against tcp_echo_server, also a rump client of the same
 * server (both on its lo0), and the Unix-socket frames the client's
 * connection counts per round trip. With the defaults a 64-byte echo is 3
 * frames — the write's request (bytes inline, posted: no reply), the read's
 * reply (bytes inline) and the next read's request — one socket read of the
 * client per echo, and the server sends no COPYOUT; without posted sends it
 * is 4 (the write's reply back), without inline receives as well 5, in the
 * NetBSD-equivalent configuration 7. Counts, not times: these hold at any load.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RumpServer, defaultConfig, type ServerConfig } from '@rumpnet/server';
import { Proc } from '../src/bench/procs.js';

interface EchoHops {
  framesSent: number;
  framesReceived: number;
  socketReads: number;
}

describe('hops per 64-byte echo through a rump client', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  let procs: Proc[] = [];
  let srv: RumpServer | undefined;
  afterEach(async () => {
    for (const p of procs) await p.stop();
    procs = [];
    await srv?.close();
    srv = undefined;
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** One echo run on a fresh server with `cfg`: hops per round trip, and the server's COPYOUTs over the whole run. */
  async function echo(cfg: Partial<ServerConfig>, clientEnv: NodeJS.ProcessEnv = {}): Promise<{ hops: EchoHops; copyouts: number; avoided: number; posted: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'rumpnet-hops-'));
    dirs.push(dir);
    srv = await RumpServer.start(defaultConfig({ listen: { kind: 'unix', path: join(dir, 'rump.sock') }, ...cfg }));
    const env = { RUMP_SERVER: `unix://${join(dir, 'rump.sock')}` };
    const server = Proc.example('tcp_echo_server', ['--rump', '--host', '127.0.0.1', '--port', '0', '--json'], { env });
    procs.push(server);
    const { port } = await server.waitFor((e) => e.event === 'listening', 30_000, 'listening');
    const client = Proc.example('tcp_echo_client', ['--rump', '--host', '127.0.0.1', '--port', String(port), '--count', '100', '--warmup', '10', '--msg-size', '64', '--json'], { env: { ...env, ...clientEnv } });
    procs.push(client);
    expect(await client.finish(60_000)).to.equal(0);
    const ev = client.events.find((e) => e.event === 'latency')!;
    expect(ev.count).to.equal(100);
    const hops = ev.hops as EchoHops;
    const t = srv.copyTotals();
    return { hops, copyouts: t.copyoutRequests, avoided: t.copyoutsAvoided, posted: t.postedSends ?? 0 };
  }

  const perEcho = (h: EchoHops): number => Math.round((h.framesSent + h.framesReceived) * 100) / 100;

  it('defaults: 3 hops (2 frames to the server, 1 back), one client wake-up, no COPYOUT at all', async () => {
    const r = await echo({});
    expect(perEcho(r.hops), JSON.stringify(r.hops)).to.equal(3);
    expect(r.hops.framesReceived).to.equal(1);
    expect(r.hops.socketReads).to.equal(1);
    // Every write of the echo client was posted (110 echoes, warm-up included).
    expect(r.posted).to.be.at.least(110);
    expect(r.copyouts).to.equal(0);
    // Both ends' reads: every echo leg on the client and the server side.
    expect(r.avoided).to.be.at.least(2 * 110);
  });

  it('posted sends off (RUMPNET_POSTED_SEND=0 in the client, or --no-posted-send): 4 hops, the write\'s reply back', async () => {
    const r = await echo({}, { RUMPNET_POSTED_SEND: '0' });
    expect(perEcho(r.hops), JSON.stringify(r.hops)).to.equal(4);
    expect(r.hops.framesReceived).to.equal(2);
    const s = await echo({ postedWindow: 0 });
    expect(perEcho(s.hops), JSON.stringify(s.hops)).to.equal(4);
    expect(s.posted).to.equal(0);
  });

  it('--inline-recv-max 0: 4 hops, the read\'s COPYOUT back instead of the write\'s reply', async () => {
    const r = await echo({ inlineRecvMax: 0 });
    expect(perEcho(r.hops), JSON.stringify(r.hops)).to.equal(4);
    expect(r.avoided).to.equal(0);
    expect(r.copyouts).to.be.at.least(2 * 110);
  });

  it('the NetBSD-equivalent configuration: 7 hops', async () => {
    const r = await echo({ mclnum: 1, copyWindow: 1, inlineMax: 0, inlineRecvMax: 0, rxMode: 'per-mbuf' });
    expect(perEcho(r.hops), JSON.stringify(r.hops)).to.equal(7);
  });
});
