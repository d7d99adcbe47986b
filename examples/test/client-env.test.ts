/**
 * The benchmark's rump clients: the NetBSD-equivalent configuration reads
 * one recv at a time and sends once per write (the client's read-ahead and
 * write gathering off, as NetBSD's rumpclient), every other configuration
 * with the client's defaults.
 */
import { expect } from 'chai';
import { clientEnv } from '../src/bench/runner.js';
import { PAPER_DEFAULT, RUMPNET_DEFAULT, DEFAULT_MCLNUM1 } from '../src/bench/plan.js';

describe('bench: the rump clients\' environment', () => {
  it('turns read-ahead and write gathering off for the NetBSD-equivalent configuration only', () => {
    const url = 'unix:///tmp/x.sock';
    expect(clientEnv({ url, params: PAPER_DEFAULT })).to.deep.equal({ RUMP_SERVER: url, RUMPNET_READ_AHEAD: '0', RUMPNET_WRITE_GATHER: '0' });
    expect(clientEnv({ url, params: RUMPNET_DEFAULT })).to.deep.equal({ RUMP_SERVER: url });
    expect(clientEnv({ url, params: DEFAULT_MCLNUM1 })).to.deep.equal({ RUMP_SERVER: url });
    expect(clientEnv({ url, params: { ...PAPER_DEFAULT, mclnum: 16 } })).to.deep.equal({ RUMP_SERVER: url });
    expect(clientEnv({ url, params: { ...RUMPNET_DEFAULT, writeGather: false } })).to.deep.equal({ RUMP_SERVER: url, RUMPNET_WRITE_GATHER: '0' });
  });
});
