/**
 * The examples run natively (Node's own net, over loopback): the paper's
 * write_server/read_client pair moves exactly the bytes asked for, and the
 * echo pair measures round trips. The rump side of the same code is covered
 * by the benchmark test.
 */
import { expect } from 'chai';
import { Proc } from '../src/bench/procs.js';

describe('examples, natively over loopback', function () {
  this.timeout(60_000);
  let procs: Proc[] = [];
  afterEach(async () => {
    for (const p of procs) await p.stop();
    procs = [];
  });

  it('write_server/read_client transfer exactly N bytes with the asked write size', async () => {
    const server = Proc.example('write_server', ['--host', '127.0.0.1', '--port', '0', '--size', '1000', '--json']);
    procs.push(server);
    const { port } = await server.waitFor((e) => e.event === 'listening', 20_000, 'listening');
    const N = 1_234_567;
    const client = Proc.example('read_client', ['--host', '127.0.0.1', '--port', String(port), '--bytes', String(N), '--sizes', '4096,7', '--json']);
    expect(await client.finish(30_000)).to.equal(0);
    const results = client.events.filter((e) => e.event === 'result');
    expect(results.map((r) => r.size)).to.deep.equal([4096, 7]);
    for (const r of results) {
      expect(r.bytes).to.equal(N);
      expect(r.seconds).to.be.greaterThan(0);
      expect(r.mibps).to.be.greaterThan(0);
    }
    const sent = await server.waitFor((e) => e.event === 'sent' && e.size === 7, 10_000, 'sent');
    expect(sent.bytes).to.equal(N);
  });

  it('write_server drops a malformed request instead of sending', async () => {
    const server = Proc.example('write_server', ['--host', '127.0.0.1', '--port', '0', '--json']);
    procs.push(server);
    const { port } = await server.waitFor((e) => e.event === 'listening', 20_000, 'listening');
    const net = await import('node:net');
    const got = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const s = net.createConnection({ host: '127.0.0.1', port: Number(port) }, () => s.write('{"seconds":-1}\n'));
      s.on('data', (c: Buffer) => (n += c.length));
      s.once('close', () => resolve(n));
      s.once('error', reject);
      setTimeout(() => reject(new Error('server did not close')), 10_000).unref();
    });
    expect(got).to.equal(0);
  });

  it('tcp_echo_client times round trips against tcp_echo_server', async () => {
    const server = Proc.example('tcp_echo_server', ['--host', '127.0.0.1', '--port', '0', '--json']);
    procs.push(server);
    const { port } = await server.waitFor((e) => e.event === 'listening', 20_000, 'listening');
    const client = Proc.example('tcp_echo_client', ['--host', '127.0.0.1', '--port', String(port), '--count', '50', '--warmup', '5', '--msg-size', '3000', '--json']);
    expect(await client.finish(30_000)).to.equal(0);
    const ev = client.events.find((e) => e.event === 'latency')!;
    expect(ev.count).to.equal(50);
    expect(ev.p50us).to.be.greaterThan(0);
    expect(ev.p99us as number).to.be.at.least(ev.p50us as number);
  });

  it('a rump-only run without a server fails with a clear message, not a hang', async () => {
    const client = Proc.example('read_client', ['--rump', '--rump-server', 'unix:///nonexistent/rump.sock', '--bytes', '10'], {});
    const code = await client.finish(30_000);
    expect(code).to.not.equal(0);
    expect(client.stderrLines.join('\n')).to.match(/read_client: /);
  });
});
