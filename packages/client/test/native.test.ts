/**
 * The native hijack (`rumprun-native`, i.e. `LD_PRELOAD=librumpnet-hijack.so`)
 * on the stack's lo0, against a real `rump-server`: UNMODIFIED native
 * programs -- OpenBSD `nc`, and `pollmix`, a small C program -- make their
 * AF_INET socket calls in the server.
 *
 * Proof that the traffic is the stack's and not Linux's: the listener shows
 * up in the server's socket table (and a host connect to its port is
 * refused), the C program's descriptors come from the library's reserved
 * range. Failure modes: a server that goes away under a blocked program
 * ends it with an error (no hang), an unreachable server is one clear line
 * on stderr. Skips with the reason when the library is not built (no
 * msgpack-c) or `nc` is missing.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { RumpConnection } from '@rumpnet/client';
import type { CtlCopyTotals } from '@rumpnet/client/protocol';
import { startDaemon, type Daemon } from './fixtures/daemon.js';
import { INET6, POLLMIX, RUMPRUN, VANISH, nativeSkipReason, waitListening } from './fixtures/native.js';
import { watch, type Proc } from './tap/rig.js';

/** Runs `rumprun-native -s url -- ...argv` with stdin a pipe (and `env` added to the environment). */
function native(url: string, argv: string[], env: NodeJS.ProcessEnv = {}): Proc & { stdin: NodeJS.WritableStream } {
  const proc = spawn(RUMPRUN, ['-s', url, '--', ...argv], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  proc.stdin.on('error', () => undefined);
  return { ...watch(proc), stdin: proc.stdin };
}

/**
 * Resolves once the child's stdout and stderr have ended: Node may emit
 * 'exit' before the last of a child's output has been read (child_process
 * docs, event 'exit'), so output read at 'exit' can lack its last lines.
 */
function outputEnded(p: Proc): Promise<void> {
  const ends = [p.proc.stdout, p.proc.stderr].map((s) => (s === null || s.closed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r()))));
  return Promise.all(ends).then(() => undefined);
}

/** Waits (bounded) for `p` to exit and its output to end; kills it and fails when it does not. */
async function exitOf(p: Proc, ms: number, what: string): Promise<number | string> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => {
      p.proc.kill('SIGKILL');
      reject(new Error(`${what} did not exit within ${ms} ms; stdout ${JSON.stringify(p.stdout())} stderr ${JSON.stringify(p.stderr())}`));
    }, ms);
  });
  try {
    return await Promise.race([Promise.all([p.exited, outputEnded(p)]).then(([code]) => code), timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** A native (host kernel) connect to 127.0.0.1:port: resolves with the error code, or 'connected'. */
function hostConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve('connected')));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

const port = (): number => 20000 + Math.floor(Math.random() * 20000);

describe('native hijack: unmodified native programs on the stack (lo0)', function () {
  this.timeout(30_000);
  let d: Daemon;

  before(async function () {
    const why = nativeSkipReason(['nc']);
    if (why) return this.skip();
    d = await startDaemon(['--log-level', 'warn']);
    if (d.noTcp) {
      await d.stop();
      this.skip();
    }
  });
  after(async () => d?.stop());

  it('a C program mixes a pipe and rump sockets in one poll(), select() and epoll set, with a second thread calling', async () => {
    const p = native(d.url, [POLLMIX]);
    const code = await exitOf(p, 20_000, 'pollmix');
    const lines = p.stdout().trim().split('\n');
    expect(lines.filter((l) => l.startsWith('FAIL')), p.stderr()).to.deep.equal([]);
    expect(code, p.stdout() + p.stderr()).to.equal(0);
    for (const c of ['connect-pollout', 'mixed-timeout', 'mixed-host-wins', 'mixed-rump-wins', 'mixed-both', 'select-both', 'select-timeout', 'epoll-add', 'epoll-timeout', 'epoll-rump', 'epoll-host', 'fionread', 'dup', 'fork-child', 'fork-parent', 'eof']) {
      expect(lines, c).to.include(`ok ${c}`);
    }
    // its sockets came from the library's reserved range, not from the kernel's lowest free numbers
    const fd = Number(/^port \d+ fd (\d+)$/m.exec(p.stdout())?.[1]);
    expect(fd).to.be.greaterThan(100);
  });

  it('AF_INET6 sockets go to the stack by default: sockaddr_in6 both ways, IPV6_V6ONLY through, a dual listener takes IPv4 as ::ffff:127.0.0.1; RUMPHIJACK=inet leaves them to the host', async () => {
    const p = native(d.url, [INET6]);
    const code = await exitOf(p, 20_000, 'inet6');
    const lines = p.stdout().trim().split('\n');
    expect(lines.filter((l) => l.startsWith('FAIL')), p.stderr()).to.deep.equal([]);
    expect(code, p.stdout() + p.stderr()).to.equal(0);
    for (const c of ['v6only-listener', 'connect6', 'data6', 'getpeername6', 'v6only-refuses-v4', 'dual-listener', 'dual-takes-v4', 'data-mapped', 'udp6', 'recvmsg6', 'short-sockaddr6']) {
      expect(lines, c).to.include(`ok ${c}`);
    }
    const host = native(d.url, [INET6, '--host'], { RUMPHIJACK: 'inet' });
    expect(await exitOf(host, 10_000, 'inet6 --host'), host.stdout() + host.stderr()).to.equal(0);
    expect(host.stdout()).to.include('ok host-socket');
  });

  it('nc -l on the stack and nc connecting to it, both rump clients, data both ways', async () => {
    const P = port();
    const listener = native(d.url, ['nc', '-N', '-l', '127.0.0.1', String(P)]);
    listener.stdin.end('from-listener\n');
    await waitListening(d.url, P);
    expect(await hostConnect(P)).to.equal('ECONNREFUSED'); // the port is the stack's, not the host's
    const client = native(d.url, ['nc', '-N', '127.0.0.1', String(P)]);
    await client.line((l) => l === 'from-listener', 'the listener\'s line at the client', 10_000);
    client.stdin.end('from-client\n');
    await listener.line((l) => l === 'from-client', 'the client\'s line at the listener', 10_000);
    expect(await exitOf(client, 10_000, 'nc')).to.equal(0);
    expect(await exitOf(listener, 10_000, 'nc -l')).to.equal(0);
  });

  it('inline receives: the hijack announces them and places the bytes of a reply; with the server\'s --inline-recv-max 0 the same exchange goes by COPYOUT', async () => {
    // Both nc ends are hijacked: the listener sends a text of many lines, the client sends one back.
    const text = Array.from({ length: 3000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`).join('\n') + '\n';
    const last = 'line 2999 ' + 'x'.repeat(2999 % 50);
    const exchange = async (url: string): Promise<{ copyouts: number; avoided: number }> => {
      const ctl = await RumpConnection.connect(url, { name: 'native-ctl' });
      try {
        const totals = async (): Promise<CtlCopyTotals> => (await ctl.call<{ server: { copies: CtlCopyTotals } }>('ctl.clients', {})).server.copies;
        const before = await totals();
        const P = port();
        const listener = native(url, ['nc', '-N', '-l', '127.0.0.1', String(P)]);
        listener.stdin.end(text);
        await waitListening(url, P);
        const client = native(url, ['nc', '-N', '127.0.0.1', String(P)]);
        client.stdin.write('from-client\n');
        // nc stops sending once its peer has shut down: end the client's input only when the text is in.
        await client.line((l) => l === last, 'the last line of the text at the client', 15_000);
        client.stdin.end();
        expect(await exitOf(client, 15_000, 'nc')).to.equal(0);
        expect(await exitOf(listener, 15_000, 'nc -l')).to.equal(0);
        expect(client.stdout() === text, `the client got ${client.stdout().length} of ${text.length} bytes, intact: false`).to.equal(true);
        expect(listener.stdout()).to.equal('from-client\n');
        const after = await totals();
        return { copyouts: after.copyoutRequests - before.copyoutRequests, avoided: after.copyoutsAvoided - before.copyoutsAvoided };
      } finally {
        await ctl.close();
      }
    };
    const on = await exchange(d.url);
    expect(on.avoided, JSON.stringify(on)).to.be.at.least(1); // at least the client's line came inside a reply
    const d2 = await startDaemon(['--log-level', 'warn', '--inline-recv-max', '0']);
    try {
      const off = await exchange(d2.url);
      expect(off.avoided).to.equal(0);
      expect(off.copyouts, JSON.stringify(off)).to.be.at.least(2);
    } finally {
      await d2.stop();
    }
  });

  it('a server that goes away under a blocked program: an error and an exit, no hang', async () => {
    const d2 = await startDaemon(['--log-level', 'warn']);
    try {
      const P = port();
      const listener = native(d2.url, ['nc', '-l', '127.0.0.1', String(P)]);
      await waitListening(d2.url, P);
      await d2.stop();
      const code = await exitOf(listener, 10_000, 'nc -l after the server went away');
      expect(code).to.not.equal(0);
      expect(listener.stderr()).to.match(/lost the rump server/);
    } finally {
      await d2.stop();
    }
  });

  it('the server killed under four blocked calls (recv, accept, a mixed poll, a send on a full buffer): ECONNRESET/EBADF-class errors and POLLHUP, no hang, no crash; later calls fail the same way', async () => {
    const d2 = await startDaemon(['--log-level', 'warn']);
    try {
      const p = native(d2.url, [VANISH]);
      await p.line((l) => l === 'blocked', 'the threads blocked in the server', 15_000);
      d2.kill('SIGKILL');
      const code = await exitOf(p, 15_000, 'vanish after the server was killed');
      const lines = p.stdout().trim().split('\n');
      expect(lines.filter((l) => l.startsWith('FAIL')), p.stderr()).to.deep.equal([]);
      expect(code, p.stdout() + p.stderr()).to.equal(0); // a signal (a crash) would be its name here
      for (const c of ['recv', 'accept', 'poll', 'send-blocked', 'send-after', 'getsockopt-after', 'close-after', 'socket-after']) expect(lines, c).to.include(`ok ${c}`);
      expect(p.stderr()).to.match(/lost the rump server/);
    } finally {
      await d2.stop();
    }
  });

  it('an unreachable server: one clear line on stderr and a failed socket call', async () => {
    const p = native('unix:///nonexistent/rumpnet.sock', ['nc', '-z', '127.0.0.1', '9']);
    const code = await exitOf(p, 10_000, 'nc');
    expect(code).to.not.equal(0);
    expect(p.stderr()).to.match(/rumpnet-hijack\[\d+\]: cannot reach the rump server unix:\/\/\/nonexistent\/rumpnet.sock: No such file or directory/);
  });
});
