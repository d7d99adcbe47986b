import { expect } from 'chai';
import { Stack } from '../../src/stack.js';

describe('net sysctl nodes', () => {
  it('registers tunables, stats and kern.mbuf', () => {
    const s = new Stack({ nmbclusters: 64, mclbytes: 4096, mclnum: 4 });
    expect(s.sysctl.get('net.inet.ip.ttl')).to.equal(64);
    expect(s.sysctl.get('net.inet.ip.forwarding')).to.equal(0);
    expect(s.sysctl.get('net.inet.ip.reass.timeout')).to.equal(30);
    expect(s.sysctl.get('net.inet.icmp.errppslimit')).to.equal(100);
    expect(s.sysctl.get('net.inet.arp.keep')).to.equal(1200);
    expect(s.sysctl.get('kern.mbuf.mclbytes')).to.equal(4096);
    expect(s.sysctl.get('kern.mbuf.nmbclusters')).to.equal(64);
    expect(s.sysctl.get('kern.mbuf.mclnum')).to.equal(4);
    expect(s.sysctl.get('kern.mbuf.stats.clustersFree')).to.equal(64);
    const names = s.sysctl.list('net.inet.ip.stats').map((r) => r.name);
    for (const n of ['badsum', 'tooshort', 'toosmall', 'badhlen', 'badlen', 'badvers', 'martians', 'noproto', 'fragments', 'fragdropped', 'fragtimeout', 'reassembled', 'delivered', 'localout', 'fragmented', 'cantfrag', 'noroute', 'odropped']) {
      expect(names).to.include(`net.inet.ip.stats.${n}`);
    }
    expect(() => s.sysctl.set('net.inet.ip.ttl', 0)).to.throw().with.property('code', 'EINVAL');
    s.sysctl.set('net.inet.ip.ttl', 200);
    expect(s.ipTun.ttl).to.equal(200);
    s.close();
    s.pool.assertAllFree();
  });
});
