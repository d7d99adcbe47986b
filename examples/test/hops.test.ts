/**
 * The per-hop trace (issue 12): the critical-path reading of a trace
 * (lib/hops.ts) on a timeline made by hand, and a real traced echo through
 * a loopback rump server — every process writes its marks, each echo is
 * found, and its path runs through the hops the protocol says it takes.
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { criticalPath, hopBreakdown, readHopTrace, type HopMark, type HopProc, type HopTraceData } from '../src/lib/hops.js';
import { Proc } from '../src/bench/procs.js';
import { RumpServerProc } from '../src/bench/rump.js';
import { RUMPNET_DEFAULT } from '../src/bench/plan.js';

const C = 1;
const S = 2;

/**
 * One echo through a server and a tap, in µs from `t0`: client JS, a wake,
 * server JS, Linux, server JS, a wake, client JS. The server answers the
 * sendto before its tap write (`respFirst`) or after, as it does.
 */
function echo(t0: number, linuxUs: number, respFirst = true): HopMark[] {
  const m = (us: number, pid: number, label: string): HopMark => ({ t: (t0 + us) * 1000, pid, label });
  const r = respFirst ? 0 : 20;
  return [
    m(0, C, 'app.write'),
    m(10, C, 'c.call.sendto'),
    m(20, C, 'c.sockwrite'),
    m(25, C, 'c.sockwrite.end'),
    m(50, S, 's.data'),
    m(54, S, 's.sys.sendto'),
    m(55 + r, S, 's.resp.sendto'),
    m(60 + r, S, 's.sockwrite'),
    m(65 + r, S, 's.sockwrite.end'),
    m(100, C, 'c.data'), // the sendto's reply: off the path
    m(105, C, 'c.resp.sendto'),
    m(70 - r, S, 'tap.write'),
    m(75 - r, S, 'tap.write.end'),
    m(70 + linuxUs, S, 'tap.read'),
    m(80 + linuxUs, S, 'so.rwakeup'),
    m(90 + linuxUs, S, 's.sockwrite'),
    m(95 + linuxUs, S, 's.sockwrite.end'),
    m(130 + linuxUs, C, 'c.data'),
    m(140 + linuxUs, C, 'app.done'),
  ];
}

function traceOf(marks: HopMark[]): HopTraceData {
  const procs = new Map<number, HopProc>([
    [C, { pid: C, role: 'client', name: 'client' }],
    [S, { pid: S, role: 'rump-server', name: 'server' }],
  ]);
  return { procs, marks: marks.sort((a, b) => a.t - b.t) };
}

describe('hop trace: the critical path of an echo', () => {
  it('follows wake-ups back to the write that caused them, and the Linux side back to the tap write', () => {
    const marks = traceOf(echo(1000, 100)).marks;
    const steps = criticalPath(marks, 0, marks.length - 1, traceOf([]).procs);
    expect(steps.map((s) => `${s.from}>${s.to}:${s.kind}`)).to.deep.equal([
      'client:app.write>client:c.call.sendto:js',
      'client:c.call.sendto>client:c.sockwrite:js',
      'client:c.sockwrite>server:s.data:wake',
      'server:s.data>server:s.sys.sendto:js',
      'server:s.sys.sendto>server:s.resp.sendto:js',
      'server:s.resp.sendto>server:s.sockwrite:js',
      'server:s.sockwrite>server:s.sockwrite.end:write',
      'server:s.sockwrite.end>server:tap.write:js',
      'server:tap.write>server:tap.write.end:write',
      'server:tap.write.end>server:tap.read:linux',
      'server:tap.read>server:so.rwakeup:js',
      'server:so.rwakeup>server:s.sockwrite:js',
      'server:s.sockwrite>client:c.data:wake',
      'client:c.data>client:app.done:js',
    ]);
    expect(steps.reduce((a, s) => a + s.us, 0)).to.be.closeTo(240, 1e-6);
    expect(steps.find((s) => s.kind === 'linux')!.us).to.be.closeTo(95, 1e-6);
  });

  it('charges a tap read that waited behind the server\'s own socket write to the server (loop), not to Linux', () => {
    // Linux answers soon after the tap write, while the server still writes the sendto's reply (done at 85 µs).
    const marks = traceOf(echo(0, 22, false)).marks;
    const steps = criticalPath(marks, 0, marks.length - 1, traceOf([]).procs);
    const kinds = steps.map((s) => `${s.to}:${s.kind}`);
    expect(kinds).to.include('server:s.sockwrite.end:write');
    expect(kinds).to.include('server:tap.read:loop');
    expect(kinds).to.not.include('server:tap.read:linux');
  });

  it('summarises echoes: medians per step of the commonest path, totals per kind and process', () => {
    const b = hopBreakdown(traceOf([...echo(0, 100), ...echo(1000, 100), ...echo(2000, 300)]), 0);
    expect(b.echoes).to.equal(3);
    expect(b.pathEchoes).to.equal(3);
    expect(b.p50us).to.be.closeTo(240, 1e-6);
    expect(b.path.find((s) => s.kind === 'linux')!.p50us).to.be.closeTo(95, 1e-6);
    expect(b.totals['linux:server']).to.be.closeTo(95, 1e-6);
    expect(b.totals['wake:server']).to.be.closeTo(30, 1e-6);
    expect(b.totals['js:client']).to.be.closeTo(30, 1e-6);
  });
});

describe('hop trace: a traced echo through a loopback rump server', function () {
  this.timeout(90_000);
  it('every process writes its marks and each echo\'s path crosses client, server and the echo server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rumpnet-hops-'));
    const env = { RUMPNET_TRACE_HOPS: dir };
    const srv = await RumpServerProc.start({ params: RUMPNET_DEFAULT, attach: { kind: 'loopback' }, dir, env });
    const echoServer = Proc.example('tcp_echo_server', ['--host', '127.0.0.1', '--port', '7007', '--json'], { env: { ...env, RUMP_SERVER: srv.url } });
    try {
      await echoServer.waitFor((e) => e.event === 'listening', 30_000, 'listening');
      const client = Proc.example('tcp_echo_client', ['--rump', '--port', '7007', '--count', '40', '--warmup', '10', '--json', '--trace-hops', dir], { env: { RUMP_SERVER: srv.url } });
      expect(await client.finish(60_000)).to.equal(0);
      const ev = client.events.find((e) => e.event === 'latency')!;
      const trace = ev.trace as { echoes: number; path: { from: string; to: string; kind: string }[] };
      expect(trace.echoes).to.equal(40);
      // Which process waits for which depends on the scheduler; the hops on the path do not.
      const hops = trace.path.map((s) => s.to);
      for (const h of ['server:s.data', 'server:s.sys.sendto', 'server:tcp.output', 'server:tcp.input', 'server:so.rwakeup', 'server:s.resp.recvfrom', 'server:s.sockwrite', 'client:c.data']) {
        expect(hops).to.include(h);
      }
      expect(hops.at(-1)).to.equal('client:app.done');
      expect(Object.keys(ev.cpuUs as object)).to.include('client');
      // Three processes wrote a trace file: the client, the rump server, the echo server (a rump client too).
      expect(readdirSync(dir).filter((f) => f.endsWith('.hops'))).to.have.length(3);
      const data = readHopTrace(dir);
      expect([...data.procs.values()].map((p) => p.name).sort()).to.deep.equal(['client', 'peer', 'server']);
      const peer = [...data.procs.values()].find((p) => p.name === 'peer')!.pid;
      // Every echo (warm-up included) passed through the echo server: it read and sent back 50 times at least.
      const peerMarks = (label: string): number => data.marks.filter((m) => m.pid === peer && m.label === label).length;
      expect(peerMarks('c.call.sendto')).to.be.at.least(50);
      expect(peerMarks('c.push')).to.be.at.least(50);
    } finally {
      await echoServer.stop();
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
