/** `rump-server --tap NAME --offload`: the tap's checksum/segmentation offloads, off unless asked. */
import { expect } from 'chai';
import { UsageError, parseServerArgs, type ServerConfig } from '../src/config.js';

const parse = (argv: string[]) => parseServerArgs(argv, {}) as ServerConfig;

describe('rump-server --offload', () => {
  it('is off by default and on with --offload next to --tap', () => {
    expect(parse(['--tap', 'tap0']).offload).to.equal(false);
    expect(parse(['--tap', 'tap0', '--offload']).offload).to.equal(true);
  });
  it('needs --tap', () => {
    expect(() => parse(['--offload'])).to.throw(UsageError, /--offload is a tap feature/);
    expect(() => parse(['--bus', '/tmp/x', '--offload'])).to.throw(UsageError, /--tap/);
  });
});
