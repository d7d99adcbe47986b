/**
 * Unmodified native programs as rump clients (`rumprun-native`, the
 * LD_PRELOAD hijack) against the Linux kernel through a tap, issue 14:
 *
 * - `curl` downloads 10 MiB from a Linux HTTP server, sha256-checked;
 * - `nc` as a client of a Linux `nc -l`, and as a listener a Linux `nc`
 *   connects to, data both ways;
 * - `iperf3 -c` against a Linux `iperf3 -s`, and `iperf3 -s` for a Linux
 *   `iperf3 -c`, the result read from `--json`;
 * - over IPv6 (AF_INET6 sockets go to the stack by default): `curl -6`
 *   downloads from a Linux HTTP server on a ULA address, and `nc -6 -l` on
 *   the stack takes a Linux `nc -6`.
 *
 * The hijacked programs run in a SECOND namespace that has nothing but a
 * loopback that is down: if the hijack failed to take a socket, the program
 * would get ENETUNREACH instead of quietly using Linux's stack; and Linux's
 * side sees the connections come from the rump stack's address. The rump
 * server is in the rig's namespace with the tap, as in the other tap tests.
 * After each test the server's descriptors are gone and its pool all free.
 * Skips with the reason unless root with /dev/net/tun, the library is built
 * and the tools exist.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns, canUseNetns } from '@rumpnet/tap-bridge';
import { RumpConnection } from '../../src/index.js';
import type { CtlInterface } from '../../src/syscalls.js';
import { RUMPRUN, nativeSkipReason, waitListening } from '../fixtures/native.js';
import { TapRig, netnsList, patternBytes, sha256, watch, type Proc } from './rig.js';

const MiB = 1024 * 1024;
const LINUX_HTTP = fileURLToPath(new URL('./fixtures/linux-http.mjs', import.meta.url));

describe('native programs on the stack through a tap to Linux (rumprun-native)', function () {
  this.timeout(60_000);
  let rig: TapRig | undefined;
  let cns: Netns | undefined;
  let dir = '';
  let nextPort = 7000 + Math.floor(Math.random() * 1000);
  let linux6 = '';
  let rump6 = '';

  before(async function () {
    const can = canUseNetns();
    const why = can.ok ? nativeSkipReason(['curl', 'nc', 'iperf3']) : can.reason;
    if (why) {
      console.log(`      skipped: ${why}`);
      return this.skip();
    }
    rig = await TapRig.start('nat', 'rnat0', [], { ipv6: true });
    cns = await Netns.create({ prefix: 'natc' });
    await cns.ip('link', 'set', 'lo', 'down');
    dir = mkdtempSync(join(tmpdir(), 'rumpnet-native-'));
    // IPv6: a ULA /64 on both sides (Linux's without DAD: the namespace is ours), bounded wait for our DAD
    const sub = (Math.floor(Math.random() * 0xfffe) + 1).toString(16);
    linux6 = `fd00:${sub}::1`;
    rump6 = `fd00:${sub}::2`;
    await rig.ns.ip('-6', 'addr', 'add', `${linux6}/64`, 'dev', 'rnat0', 'nodad');
    const c = await RumpConnection.connect(rig.url, { name: 'native-v6-setup' });
    try {
      const eth = async (): Promise<CtlInterface> => (await c.call<{ interfaces: CtlInterface[] }>('ctl.ifconfig', {})).interfaces.find((i) => i.kind === 'ethernet')!;
      await c.call('ctl.ifconfig', { ifname: (await eth()).name, op: 'add', addr: `${rump6}/64` });
      for (let i = 0; ; i++) {
        const six = (await eth()).addrs6 ?? [];
        if (six.some((a) => a.address === rump6 && a.state === 'preferred')) break;
        if (i >= 200) throw new Error(`${rump6} not usable: ${JSON.stringify(six)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await c.close();
    }
  });
  afterEach(async () => {
    if (rig === undefined || rig.server.proc.exitCode !== null) return;
    await rig.expectQuiet(10_000);
  });
  after(async () => {
    await cns?.destroy();
    if (rig === undefined) return;
    await rig.destroy();
    rmSync(dir, { recursive: true, force: true });
    expect(netnsList()).to.not.include(rig.ns.name);
    expect(rig.exit, 'rump-server exit').to.equal(0);
  });

  /** Runs a program hijacked, in the client namespace (stdin a pipe). */
  const native = (argv: string[]): Proc & { stdin: NodeJS.WritableStream } => {
    const p = cns!.spawn(RUMPRUN, ['-s', rig!.url, '--', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    p.stdin!.on('error', () => undefined);
    return { ...watch(p), stdin: p.stdin! };
  };
  /** Runs a program on Linux's stack in the rig's namespace (stdin a pipe). */
  const linux = (cmd: string, args: string[]): Proc & { stdin: NodeJS.WritableStream } => {
    const p = rig!.ns.spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    p.stdin!.on('error', () => undefined);
    return { ...watch(p), stdin: p.stdin! };
  };
  const exitWithin = async (p: Proc, ms: number, what: string): Promise<number | string> => {
    let t: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        p.exited,
        new Promise<never>((_, rej) => {
          t = setTimeout(() => {
            p.proc.kill('SIGKILL');
            rej(new Error(`${what} did not exit within ${ms} ms; stdout ${JSON.stringify(p.stdout().slice(-400))} stderr ${JSON.stringify(p.stderr().slice(-400))}`));
          }, ms);
        }),
      ]);
    } finally {
      clearTimeout(t);
    }
  };

  it('curl downloads 10 MiB from a Linux HTTP server, sha256 intact', async () => {
    const port = nextPort++;
    const server = rig!.node(LINUX_HTTP, [port, 10 * MiB, 14]);
    try {
      await server.line((l) => l.includes('"listening"'), 'the Linux HTTP server');
      const file = join(dir, 'curl.out');
      const curl = native(['curl', '-sS', '--max-time', '30', '-o', file, `http://${rig!.linuxIp}:${port}/big`]);
      expect(await exitWithin(curl, 40_000, 'curl'), curl.stderr()).to.equal(0);
      expect(sha256(readFileSync(file))).to.equal(sha256(patternBytes(10 * MiB, 14)));
      const req = JSON.parse(await server.line((l) => l.includes('"request"'), 'the request line')) as { remote: string };
      expect(req.remote).to.equal(rig!.rumpIp); // Linux saw the rump stack's address
    } finally {
      server.proc.kill();
    }
  });

  it('curl -6 downloads 1 MiB from a Linux HTTP server over IPv6, sha256 intact; Linux sees the stack as the peer', async () => {
    const port = nextPort++;
    const server = rig!.node(LINUX_HTTP, [port, MiB, 16, '::']);
    try {
      await server.line((l) => l.includes('"listening"'), 'the Linux HTTP server');
      const file = join(dir, 'curl6.out');
      const curl = native(['curl', '-6', '-sS', '--max-time', '30', '-o', file, `http://[${linux6}]:${port}/big`]);
      expect(await exitWithin(curl, 40_000, 'curl -6'), curl.stderr()).to.equal(0);
      expect(sha256(readFileSync(file))).to.equal(sha256(patternBytes(MiB, 16)));
      const req = JSON.parse(await server.line((l) => l.includes('"request"'), 'the request line')) as { remote: string };
      expect(req.remote).to.equal(rump6);
    } finally {
      server.proc.kill();
    }
  });

  it('nc -6 -l on the stack ([::]), a Linux nc -6 connecting to its IPv6 address, data both ways', async () => {
    const port = String(nextPort++);
    const l = native(['nc', '-6', '-N', '-l', '::', port]);
    l.stdin.end('from-rump6\n');
    await waitListening(rig!.url, Number(port));
    const c = linux('nc', ['-6', '-N', rump6, port]);
    await c.line((x) => x === 'from-rump6', 'the rump line at Linux');
    c.stdin.end('from-linux6\n');
    await l.line((x) => x === 'from-linux6', 'the Linux line at the rump listener');
    expect(await exitWithin(c, 10_000, 'Linux nc -6')).to.equal(0);
    expect(await exitWithin(l, 10_000, 'rump nc -6 -l')).to.equal(0);
  });

  it('nc as a client of a Linux nc -l, data both ways', async () => {
    const port = String(nextPort++);
    const l = linux('nc', ['-N', '-l', rig!.linuxIp, port]);
    l.stdin.end('from-linux\n');
    await new Promise((r) => setTimeout(r, 200)); // nc -l prints nothing when it listens: a short head start, retried below
    let c: (Proc & { stdin: NodeJS.WritableStream }) | undefined;
    for (let i = 0; i < 20; i++) {
      c = native(['nc', '-N', rig!.linuxIp, port]);
      const got = await Promise.race([c.line((x) => x === 'from-linux', 'the Linux line', 5000).then(() => true), c.exited.then(() => false)]);
      if (got) break;
      await new Promise((r) => setTimeout(r, 100)); // refused: not listening yet
    }
    c!.stdin.end('from-rump\n');
    await l.line((x) => x === 'from-rump', 'the rump line at Linux');
    expect(await exitWithin(c!, 10_000, 'rump nc')).to.equal(0);
    expect(await exitWithin(l, 10_000, 'Linux nc -l')).to.equal(0);
  });

  it('nc as a listener on the stack, a Linux nc connecting, data both ways', async () => {
    const port = String(nextPort++);
    const l = native(['nc', '-N', '-l', '0.0.0.0', port]);
    l.stdin.end('from-rump\n');
    await waitListening(rig!.url, Number(port));
    const c = linux('nc', ['-N', rig!.rumpIp, port]);
    await c.line((x) => x === 'from-rump', 'the rump line at Linux');
    c.stdin.end('from-linux\n');
    await l.line((x) => x === 'from-linux', 'the Linux line at the rump listener');
    expect(await exitWithin(c, 10_000, 'Linux nc')).to.equal(0);
    expect(await exitWithin(l, 10_000, 'rump nc -l')).to.equal(0);
  });

  /**
   * The receiver's throughput from iperf3 --json output. The one error
   * allowed is TCP_INFO's (a struct the protocol has no wire form for: the
   * hijack answers ENOPROTOOPT rather than invent counters), which iperf3
   * notes in `error` and otherwise ignores.
   */
  const iperfBps = (out: string): number => {
    const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number; bytes?: number } }; error?: string };
    if (j.error !== undefined) expect(j.error, 'iperf3 error').to.equal('getsockopt - Protocol not available');
    expect(j.end?.sum_received?.bytes ?? 0).to.be.greaterThan(0);
    return j.end!.sum_received!.bits_per_second!;
  };

  it('iperf3 -c on the stack against a Linux iperf3 -s, and iperf3 -s on the stack for a Linux iperf3 -c (--json)', async () => {
    const p1 = String(nextPort++);
    const ls = linux('iperf3', ['-s', '-1', '--forceflush', '-B', rig!.linuxIp, '-p', p1]);
    await ls.line((x) => x.includes('Server listening'), 'the Linux iperf3 server');
    const rc = native(['iperf3', '-c', rig!.linuxIp, '-p', p1, '-t', '1', '--json']);
    expect(await exitWithin(rc, 20_000, 'rump iperf3 -c'), rc.stderr()).to.equal(0);
    const up = iperfBps(rc.stdout());
    await exitWithin(ls, 10_000, 'Linux iperf3 -s -1');

    const p2 = String(nextPort++);
    const rs = native(['iperf3', '-4', '-s', '-1', '-p', p2, '--json']);
    await waitListening(rig!.url, Number(p2));
    const lc = linux('iperf3', ['-c', rig!.rumpIp, '-p', p2, '-t', '1', '--json']);
    expect(await exitWithin(lc, 20_000, 'Linux iperf3 -c'), lc.stderr()).to.equal(0);
    const down = iperfBps(lc.stdout());
    expect(await exitWithin(rs, 10_000, 'rump iperf3 -s -1'), rs.stderr()).to.equal(0);
    expect(iperfBps(rs.stdout())).to.be.greaterThan(0);
    console.log(`      iperf3 through the tap: rump client → Linux ${(up / 1e6).toFixed(0)} Mbit/s, Linux → rump server ${(down / 1e6).toFixed(0)} Mbit/s`);
  });
});
