import { expect } from 'chai';
import { buildProgram, parseListenUrl, parseServerArgs, UsageError, type ServerConfig } from '../src/config.js';
import { defaultClientClusters, effectiveMaxSessions, quotaBytes } from '../src/quota.js';
import { COPY_FRAME_OVERHEAD, DEFAULT_MAX_FRAME } from '../src/proto/index.js';
import { DEFAULT_LIMITS } from '../src/session/session.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseServerArgs(argv, env) as ServerConfig;

describe('rump-server configuration', () => {
  it('has working defaults: loopback only, 2048-byte clusters, batched copyin', () => {
    const c = parse([]);
    expect(c.listen).to.deep.equal({ kind: 'unix', path: '/tmp/rumpnet.sock' });
    expect(c.tap).to.equal(null);
    expect(c.mclbytes).to.equal(2048);
    expect(c.mclnum).to.equal(16);
    expect(c.copyWindow).to.equal(4);
    expect(c.inlineMax).to.equal(2048);
    expect(c.inlineRecvMax).to.equal(2048);
    expect(c.socketMode).to.equal(0o600);
  });

  it('--mclnum 1 --copy-window 1 --inline-max 0 --inline-recv-max 0 is the NetBSD-equivalent copy path', () => {
    const c = parse(['--mclnum', '1', '--copy-window', '1', '--inline-max', '0', '--inline-recv-max', '0']);
    expect([c.mclnum, c.copyWindow, c.inlineMax, c.inlineRecvMax]).to.deep.equal([1, 1, 0, 0]);
  });

  it('--inline-recv-max takes 0..65536 bytes and refuses anything else', () => {
    expect(parse(['--inline-recv-max', '65536']).inlineRecvMax).to.equal(65536);
    for (const bad of ['-1', '65537', 'lots', '1.5']) expect(() => parse(['--inline-recv-max', bad]), bad).to.throw(UsageError, /--inline-recv-max/);
  });

  it('takes the socket from the argument, then RUMP_SERVER', () => {
    expect(parse(['unix:///run/a.sock'], { RUMP_SERVER: 'unix:///run/b.sock' }).listen).to.deep.equal({ kind: 'unix', path: '/run/a.sock' });
    expect(parse([], { RUMP_SERVER: 'unix:///run/b.sock' }).listen).to.deep.equal({ kind: 'unix', path: '/run/b.sock' });
    expect(parse(['tcp://127.0.0.1:9999']).listen).to.deep.equal({ kind: 'tcp', host: '127.0.0.1', port: 9999 });
  });

  it('collects repeated --addr and normalises them', () => {
    const c = parse(['--tap', 'tap0', '--addr', '10.0.0.2/24', '--addr', '10.0.1.2/16', '--gateway', '10.0.0.1']);
    expect(c.addrs).to.deep.equal(['10.0.0.2/24', '10.0.1.2/16']);
    expect(c.gateway).to.equal('10.0.0.1');
  });

  it('--dhcp asks for a lease on the tap or bus interface', () => {
    expect(parse(['--tap', 'tap0', '--dhcp']).dhcp).to.equal(true);
    expect(parse(['--tap', 'tap0']).dhcp).to.equal(false);
  });

  const bad: Array<[string[], RegExp]> = [
    [['--dhcp'], /--dhcp needs an interface/],
    [['--tap', 't', '--dhcp', '--addr', '10.0.0.2/24'], /drop --addr and --gateway/],
    [['--tap', 't', '--dhcp', '--gateway', '10.0.0.1'], /drop --addr and --gateway/],
    [['--mclbytes', '3000'], /3000.*2048, 4096/],
    [['--mclnum', '0'], /--mclnum must be between 1 and 64/],
    [['--mclnum', 'x'], /--mclnum must be an integer/],
    [['--copy-window', '0'], /--copy-window must be between 1 and 64/],
    [['--copy-window', '65'], /--copy-window must be between 1 and 64/],
    [['--inline-max', '65537'], /--inline-max must be between 0 and 65536/],
    [['--mtu', '100'], /--mtu must be between 576/],
    [['--tap', 't', '--addr', '10.0.0.1'], /--addr wants an IPv4 address with a prefix/],
    [['--addr', '10.0.0.1/24'], /--addr needs an interface/],
    [['--tap', 'a', '--bus', '/tmp/b'], /alternatives/],
    [['--tap', 'name-that-is-far-too-long'], /1-15 characters/],
    [['--gateway', '300.1.1.1', '--tap', 't'], /IPv4 address/],
    [['--bogus'], /unknown option/],
    [['tcp://10.1.2.3:80'], /loopback only/],
    [['ftp://x'], /unsupported URL scheme/],
    [['--socket-mode', '9'], /three octal digits/],
    [['--nmbclusters', '4194304'], /--nmbclusters must be between 64 and 1048576/],
    [['--nmbclusters', '1048577'], /--nmbclusters must be between 64 and 1048576/],
    [['--nmbclusters', '1048576', '--mclbytes', '4096'], /4 GiB of clusters; at most 2 GiB/],
    [['--nmbclusters', '600000', '--mclbytes', '4096'], /at most 2 GiB/],
    [['--max-frame', '1000'], /--max-frame must be between/],
    [['--max-frame', '70000', '--mclnum', '64', '--mclbytes', '4096'], /cannot carry one copy/],
    [['--reply-backpressure', '64M'], /must not exceed --max-reply-bytes/],
    [['--max-sessions', '0'], /--max-sessions must be between 1/],
    [['--max-reply-bytes', '1X'], /number of bytes like/],
  ];

  it('every per-client quota and server-wide cap is settable at start and listed in --help', () => {
    const flags: Array<[string, string, keyof ServerConfig['quota'], number]> = [
      ['--max-sessions', '100', 'maxSessions', 100],
      ['--max-files', '5000', 'maxFiles', 5000],
      ['--client-clusters', '333', 'clientClusters', 333],
      ['--max-copyins', '8', 'maxCopyins', 8],
      ['--copyin-timeout', '750', 'copyinTimeoutMs', 750],
      ['--max-frame', '512K', 'maxClientFrame', 512 * 1024],
      ['--frame-timeout', '1500', 'frameTimeoutMs', 1500],
      ['--handshake-timeout', '2500', 'handshakeTimeoutMs', 2500],
      ['--reply-backpressure', '2M', 'replyBackpressureBytes', 2 * 1024 * 1024],
      ['--max-reply-bytes', '64M', 'maxReplyBytes', 64 * 1024 * 1024],
      ['--max-in-flight', '32', 'maxInFlight', 32],
      ['--max-queued-bytes', '1M', 'maxQueuedBytes', 1024 * 1024],
    ];
    const c = parse(flags.flatMap(([f, v]) => [f, v]));
    const help = buildProgram('0').helpInformation();
    for (const [flag, , key, want] of flags) {
      expect(c.quota[key], flag).to.equal(want);
      expect(help, flag).to.include(flag);
    }
    expect(help).to.include('--max-fds');
  });

  it('defaults: a client may hold a sixteenth of the pool; the session cap stays below RLIMIT_NOFILE', () => {
    const c = parse([]);
    expect(c.quota.clientClusters).to.equal(null);
    expect(defaultClientClusters(16384)).to.equal(1024);
    expect(quotaBytes(c)).to.equal(1024 * (2048 + 256));
    expect(quotaBytes(parse(['--client-clusters', '10', '--mclbytes', '4096']))).to.equal(10 * (4096 + 256));
    const warned: object[] = [];
    const log = { warn: (o: object) => void warned.push(o) };
    expect(effectiveMaxSessions(256, log, 20000)).to.equal(256);
    expect(effectiveMaxSessions(256, log, 200)).to.equal(136);
    expect(warned).to.have.length(1);
    expect(effectiveMaxSessions(256, log, undefined)).to.equal(256);
  });
  it('the largest copy the CLI allows (--mclnum 64 x --mclbytes 4096) fits one frame', () => {
    const c = parse(['--mclnum', '64', '--mclbytes', '4096']);
    const copy = c.mclnum * c.mclbytes;
    expect(copy).to.equal(256 * 1024);
    expect(copy + COPY_FRAME_OVERHEAD).to.be.at.most(DEFAULT_MAX_FRAME);
    expect(copy + COPY_FRAME_OVERHEAD).to.be.at.most(DEFAULT_LIMITS.maxFrame);
  });

  it('accepts the largest pool the stack takes (2^20 clusters of 2048 bytes = 2 GiB)', () => {
    expect(parse(['--nmbclusters', '1048576']).nmbclusters).to.equal(1048576);
    expect(parse(['--nmbclusters', '524288', '--mclbytes', '4096']).nmbclusters).to.equal(524288);
  });

  for (const [argv, why] of bad) {
    it(`refuses ${argv.join(' ')} with a usage error`, () => {
      expect(() => parse(argv)).to.throw(UsageError, why);
    });
  }

  it('parses URLs on their own', () => {
    expect(parseListenUrl('/tmp/x.sock')).to.deep.equal({ kind: 'unix', path: '/tmp/x.sock' });
    expect(() => parseListenUrl('unix://')).to.throw(UsageError);
    // Port 0 asks for any free port (the banner prints the one bound); beyond 65535 is refused.
    expect(parseListenUrl('tcp://127.0.0.1:0')).to.deep.equal({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(() => parseListenUrl('tcp://127.0.0.1:65536')).to.throw(UsageError, /0\.\.65535/);
  });
});
