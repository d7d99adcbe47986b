/**
 * The benchmark's rump clients: the NetBSD-equivalent configuration reads
 * one recv at a time and sends once per write (the client's read-ahead and
 * write gathering off, as NetBSD's rumpclient), every other configuration
 * with the client's defaults.
 */
import { expect } from 'chai';
import { clientEnv } from '../src/bench/runner.js';
import { PAPER_DEFAULT, RUMPNET_DEFAULT, DEFAULT_MCLNUM1, buildPlan, sweepFor } from '../src/bench/plan.js';

describe('bench: the rump clients\' environment', () => {
  it('turns read-ahead, write gathering and streamed receives off for the NetBSD-equivalent configuration only', () => {
    const url = 'unix:///tmp/x.sock';
    expect(clientEnv({ url, params: PAPER_DEFAULT })).to.deep.equal({ RUMP_SERVER: url, RUMPNET_RX_STREAM: '0', RUMPNET_READ_AHEAD: '0', RUMPNET_WRITE_GATHER: '0', RUMPNET_SHM: '0' });
    expect(clientEnv({ url, params: RUMPNET_DEFAULT })).to.deep.equal({ RUMP_SERVER: url });
    expect(clientEnv({ url, params: DEFAULT_MCLNUM1 })).to.deep.equal({ RUMP_SERVER: url });
    // a server without the shared-memory path gets clients that offer no region
    expect(clientEnv({ url, params: { ...PAPER_DEFAULT, mclnum: 16 } })).to.deep.equal({ RUMP_SERVER: url, RUMPNET_RX_STREAM: '0', RUMPNET_SHM: '0' });
    expect(clientEnv({ url, params: { ...RUMPNET_DEFAULT, writeGather: false } })).to.deep.equal({ RUMP_SERVER: url, RUMPNET_WRITE_GATHER: '0' });
  });

  it('gives the client busy poll (RUMPNET_BUSY_POLL) only where a configuration asks, never to the NetBSD-equivalent one', () => {
    const url = 'unix:///tmp/x.sock';
    expect(clientEnv({ url, params: { ...RUMPNET_DEFAULT, clientBusyPollUs: 300 } })).to.deep.equal({ RUMP_SERVER: url, RUMPNET_BUSY_POLL: '300' });
    expect(clientEnv({ url, params: { ...RUMPNET_DEFAULT, clientBusyPollUs: 0 } })).to.deep.equal({ RUMP_SERVER: url });
    expect(clientEnv({ url, params: { ...PAPER_DEFAULT, clientBusyPollUs: 300 } })).to.not.have.property('RUMPNET_BUSY_POLL');
  });

  it("the paper's sweeps (Figures 5-7, receive modes) vary MCLBYTES/MCLNUM on the NetBSD-equivalent clients too", () => {
    const plan = buildPlan(sweepFor('full'));
    const swept = plan.series.filter((s) => s.figure !== 'fig2' && s.figure !== 'table').map((s) => plan.groups.find((g) => g.key === s.group)!);
    expect(swept.length).to.be.greaterThan(10);
    for (const g of swept) {
      for (const side of [g.sender, g.receiver]) {
        if (side === null || (side.mclnum === 16 && side.rxMode === 'coalesced' && side.copyWindow === undefined)) continue; // the rumpnet-default peer of a rump→rump sweep
        expect(clientEnv({ url: 'u', params: side }), g.key).to.include({ RUMPNET_READ_AHEAD: '0', RUMPNET_WRITE_GATHER: '0' });
      }
    }
  });
});
