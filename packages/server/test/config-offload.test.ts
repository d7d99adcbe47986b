/** `rump-server --tap NAME [--offload | --no-offload]`: offloads where the kernel accepts them, required, or off. */
import { expect } from 'chai';
import { formatIfconfig } from '../src/ctl/format.js';
import { offloadNames } from '../src/ctl/handlers.js';
import { UsageError, parseServerArgs, type ServerConfig } from '../src/config.js';

const parse = (argv: string[]) => parseServerArgs(argv, {}) as ServerConfig;

describe('rump-server --offload / --no-offload', () => {
  it("probes by default ('auto'), requires with --offload, is off with --no-offload", () => {
    expect(parse(['--tap', 'tap0']).offload).to.equal('auto');
    expect(parse(['--tap', 'tap0', '--offload']).offload).to.equal('require');
    expect(parse(['--tap', 'tap0', '--no-offload']).offload).to.equal('off');
    expect(parse(['--no-offload']).offload).to.equal('off'); // harmless without a tap
  });
  it('--offload needs --tap', () => {
    expect(() => parse(['--offload'])).to.throw(UsageError, /--offload is a tap feature/);
    expect(() => parse(['--bus', '/tmp/x', '--offload'])).to.throw(UsageError, /--tap/);
  });
  it('--busy-poll <µs>: off by default, 0..1000, a tap feature', () => {
    expect(parse(['--tap', 'tap0']).busyPollUs).to.equal(0);
    expect(parse(['--tap', 'tap0', '--busy-poll', '100']).busyPollUs).to.equal(100);
    expect(() => parse(['--busy-poll', '100'])).to.throw(UsageError, /--busy-poll is a tap feature/);
    expect(() => parse(['--tap', 'tap0', '--busy-poll', '1001'])).to.throw(UsageError, /--busy-poll/);
  });
  it('ifconfig prints options= as BSD ifconfig, or why offloads are off', () => {
    expect(offloadNames({ tso4: true, rxCsum: true, lro: true })).to.deep.equal(['TXCSUM', 'TSO4', 'RXCSUM', 'LRO']);
    expect(offloadNames(undefined)).to.deep.equal([]);
    const base = { name: 'tap0', index: 2, kind: 'ethernet' as const, mtu: 1500, up: true, mac: '02:00:00:00:00:01', addrs: [], stats: {} };
    expect(formatIfconfig([{ ...base, options: ['TXCSUM', 'TSO4', 'RXCSUM', 'LRO'] }])).to.include('\toptions=TXCSUM,TSO4,RXCSUM,LRO\n');
    const off = formatIfconfig([{ ...base, options: [], offloadsOff: 'refused by the kernel: TUNSETOFFLOAD 2: Invalid argument' }]);
    expect(off).to.include('\toffloads off: refused by the kernel: TUNSETOFFLOAD 2: Invalid argument');
    expect(off).to.not.include('options=');
  });
});
