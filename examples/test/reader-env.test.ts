/**
 * The benchmark's rump readers: the NetBSD-equivalent configuration reads
 * one recv at a time (the client's read-ahead off, as NetBSD's rumpclient),
 * every other configuration with the client's defaults.
 */
import { expect } from 'chai';
import { readerEnv } from '../src/bench/runner.js';
import { PAPER_DEFAULT, RUMPNET_DEFAULT, DEFAULT_MCLNUM1 } from '../src/bench/plan.js';

describe('bench: the rump read_client environment', () => {
  it('turns read-ahead off for the NetBSD-equivalent receiver only', () => {
    const url = 'unix:///tmp/x.sock';
    expect(readerEnv({ url, params: PAPER_DEFAULT })).to.deep.equal({ RUMP_SERVER: url, RUMPNET_READ_AHEAD: '0' });
    expect(readerEnv({ url, params: RUMPNET_DEFAULT })).to.deep.equal({ RUMP_SERVER: url });
    expect(readerEnv({ url, params: DEFAULT_MCLNUM1 })).to.deep.equal({ RUMP_SERVER: url });
    expect(readerEnv({ url, params: { ...PAPER_DEFAULT, mclnum: 16 } })).to.deep.equal({ RUMP_SERVER: url });
  });
});
