import { expect } from 'chai';
import { Errno, StackError } from '../../src/kern/errno.js';
import { formatSysctl, Sysctl } from '../../src/kern/sysctl.js';
import { emptyLinkStats } from '../../src/link/link.js';
import { MemWire } from '../../src/link/memwire.js';

/** Run `fn`, expect a StackError with `errno`. */
function expectErrno(fn: () => unknown, errno: number): void {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(StackError);
    expect((e as StackError).errno).to.equal(errno);
    return;
  }
  expect.fail(`expected errno ${errno}`);
}

function tree() {
  const sysctl = new Sysctl();
  const ip = { ttl: 64, forwarding: 0 };
  const ipstat = { total: 0, badsum: 0, tooshort: 0 };
  const udpstat = { ipackets: 0, noport: 0, fullsock: 0 };
  sysctl.addInt('net.inet.ip.ttl', {
    get: () => ip.ttl,
    set: (v) => (ip.ttl = v),
    min: 1,
    max: 255,
    description: 'Default TTL for outgoing packets',
  });
  sysctl.addInt('net.inet.ip.forwarding', { get: () => ip.forwarding, description: 'Forwarding (read-only: host)' });
  sysctl.addStats('net.inet.ip.stats', ipstat, { badsum: 'Packets with a bad header checksum' });
  sysctl.addStats('net.inet.udp.stats', udpstat);
  sysctl.addInt('kern.mbuf.nmbclusters', { get: () => 1024, description: 'Clusters in the pool' });
  return { sysctl, ip, ipstat, udpstat };
}

describe('Sysctl', () => {
  it('reads integers through their getter and statistics by reference', () => {
    const { sysctl, ip, ipstat } = tree();
    expect(sysctl.get('net.inet.ip.ttl')).to.equal(64);
    ip.ttl = 30;
    expect(sysctl.get('net.inet.ip.ttl')).to.equal(30);
    expect(sysctl.get('net.inet.ip.stats.badsum')).to.equal(0);
    ipstat.badsum++;
    ipstat.badsum++;
    expect(sysctl.get('net.inet.ip.stats.badsum')).to.equal(2);
  });

  it('shows counters added to a stats object after registration', () => {
    const s = new Sysctl();
    const stats: Record<string, number> = { a: 1 };
    s.addStats('x.stats', stats);
    expect(s.has('x.stats.b')).to.equal(false);
    stats.b = 5;
    expect(s.get('x.stats.b')).to.equal(5);
    expect(s.list('x').map((r) => r.name)).to.deep.equal(['x.stats.a', 'x.stats.b']);
  });

  it('takes counter objects typed by an interface (LinkStats, WireStats)', () => {
    const s = new Sysctl();
    const lo = emptyLinkStats();
    const wire = new MemWire({ seed: 1 });
    s.addStats('net.link.lo0.stats', lo, { rxDrops: 'Frames dropped on input' });
    s.addStats('net.link.wire0.stats', wire.statsRef());
    lo.rxDrops = 3;
    wire.attachLink().output(new Uint8Array(64));
    expect(s.get('net.link.lo0.stats.rxDrops')).to.equal(3);
    expect(s.get('net.link.wire0.stats.frames')).to.equal(1);
    expect(s.list('net.link.lo0').find((r) => r.name.endsWith('rxDrops'))!.description).to.equal('Frames dropped on input');
    wire.close();
  });

  it('ignores non-numeric and inherited properties of a stats object', () => {
    const s = new Sysctl();
    const obj = Object.assign(Object.create({ inherited: 1 }) as object, { n: 1, label: 'x' }) as unknown as Record<string, number>;
    s.addStats('a', obj);
    expect(s.list().map((r) => r.name)).to.deep.equal(['a.n']);
    expectErrno(() => s.get('a.label'), Errno.ENOENT);
    expectErrno(() => s.get('a.inherited'), Errno.ENOENT);
    expectErrno(() => s.get('a.toString'), Errno.ENOENT);
  });

  it('set() writes through the setter and returns the old value', () => {
    const { sysctl, ip } = tree();
    expect(sysctl.set('net.inet.ip.ttl', 128)).to.equal(64);
    expect(ip.ttl).to.equal(128);
    expect(sysctl.get('net.inet.ip.ttl')).to.equal(128);
  });

  it('set() refuses with EPERM, EINVAL and ENOENT', () => {
    const { sysctl, ip } = tree();
    expectErrno(() => sysctl.set('net.inet.ip.forwarding', 1), Errno.EPERM);
    expectErrno(() => sysctl.set('net.inet.ip.stats.total', 1), Errno.EPERM);
    expectErrno(() => sysctl.set('net.inet.ip.ttl', 0), Errno.EINVAL);
    expectErrno(() => sysctl.set('net.inet.ip.ttl', 256), Errno.EINVAL);
    expectErrno(() => sysctl.set('net.inet.ip.ttl', 1.5), Errno.EINVAL);
    expectErrno(() => sysctl.set('net.inet.ip.ttl', Number.NaN), Errno.EINVAL);
    expectErrno(() => sysctl.set('net.inet.ip.nope', 1), Errno.ENOENT);
    expectErrno(() => sysctl.set('net.inet.ip', 1), Errno.ENOENT);
    expect(ip.ttl).to.equal(64);
    // Bounds are inclusive.
    sysctl.set('net.inet.ip.ttl', 1);
    sysctl.set('net.inet.ip.ttl', 255);
  });

  it('trySet() returns the errno instead of throwing', () => {
    const { sysctl } = tree();
    expect(sysctl.trySet('net.inet.ip.ttl', 10)).to.equal(0);
    expect(sysctl.trySet('net.inet.ip.forwarding', 1)).to.equal(Errno.EPERM);
    expect(sysctl.trySet('net.inet.ip.ttl', 1000)).to.equal(Errno.EINVAL);
    expect(sysctl.trySet('no.such', 1)).to.equal(Errno.ENOENT);
  });

  it("passes on a setter's own refusal", () => {
    const s = new Sysctl();
    s.addInt('kern.x', {
      get: () => 0,
      set: () => {
        throw new StackError(Errno.EBUSY);
      },
      description: '',
    });
    expectErrno(() => s.set('kern.x', 1), Errno.EBUSY);
    expect(s.trySet('kern.x', 1)).to.equal(Errno.EBUSY);
  });

  it('get() of an unknown name or an interior node is ENOENT', () => {
    const { sysctl } = tree();
    expectErrno(() => sysctl.get('net.inet.tcp.mssdflt'), Errno.ENOENT);
    expectErrno(() => sysctl.get('net.inet'), Errno.ENOENT);
    expectErrno(() => sysctl.get('net.inet.ip.stats'), Errno.ENOENT);
    expectErrno(() => sysctl.get(''), Errno.ENOENT);
  });

  it('list() returns sorted rows with value, writability and description', () => {
    const { sysctl, ipstat } = tree();
    ipstat.total = 7;
    const rows = sysctl.list();
    expect(rows.map((r) => r.name)).to.deep.equal([
      'kern.mbuf.nmbclusters',
      'net.inet.ip.forwarding',
      'net.inet.ip.stats.badsum',
      'net.inet.ip.stats.tooshort',
      'net.inet.ip.stats.total',
      'net.inet.ip.ttl',
      'net.inet.udp.stats.fullsock',
      'net.inet.udp.stats.ipackets',
      'net.inet.udp.stats.noport',
    ]);
    expect(rows.find((r) => r.name === 'net.inet.ip.ttl')).to.deep.equal({
      name: 'net.inet.ip.ttl',
      value: 64,
      writable: true,
      description: 'Default TTL for outgoing packets',
    });
    expect(rows.find((r) => r.name === 'net.inet.ip.stats.total')).to.include({ value: 7, writable: false });
    expect(rows.find((r) => r.name === 'net.inet.ip.stats.badsum')!.description).to.equal('Packets with a bad header checksum');
  });

  it('list(prefix) matches whole components only', () => {
    const { sysctl } = tree();
    sysctl.addInt('net.inet.ipx', { get: () => 1, description: 'not under net.inet.ip' });
    expect(sysctl.list('net.inet.ip').map((r) => r.name)).to.not.include('net.inet.ipx');
    expect(sysctl.list('net.inet.ip')).to.have.length(5);
    expect(sysctl.list('net.inet.udp.stats').map((r) => r.name)).to.have.length(3);
    expect(sysctl.list('net.inet.udp.stats.noport').map((r) => r.name)).to.deep.equal(['net.inet.udp.stats.noport']);
    expect(sysctl.list('net.inet.ip.ttl').map((r) => r.name)).to.deep.equal(['net.inet.ip.ttl']);
    expect(sysctl.list('kern.mbuf.nmb')).to.have.length(0);
    expect(sysctl.list('nothing')).to.have.length(0);
  });

  it('refuses duplicate and overlapping registrations with EEXIST', () => {
    const { sysctl } = tree();
    const n = { get: () => 0, description: '' };
    expectErrno(() => sysctl.addInt('net.inet.ip.ttl', n), Errno.EEXIST);
    expectErrno(() => sysctl.addInt('net.inet.ip.ttl.sub', n), Errno.EEXIST); // below a leaf
    expectErrno(() => sysctl.addInt('net.inet.ip.stats.total', n), Errno.EEXIST); // inside a stats group
    expectErrno(() => sysctl.addStats('net.inet.ip.stats', {}), Errno.EEXIST);
    expectErrno(() => sysctl.addStats('net.inet', {}), Errno.EEXIST); // would own existing leaves
    expectErrno(() => sysctl.addInt('kern.mbuf', n), Errno.EEXIST); // above a leaf
    sysctl.addInt('net.inet.ip.maxqueue', n); // a sibling is fine
  });

  it('refuses malformed names with EINVAL, and min > max', () => {
    const s = new Sysctl();
    const n = { get: () => 0, description: '' };
    for (const bad of ['', '.a', 'a.', 'a..b', 'a.b-c', '1a', 'a b', 'a.*']) {
      expectErrno(() => s.addInt(bad, n), Errno.EINVAL);
    }
    expectErrno(() => s.addInt('a.b', { ...n, set: () => {}, min: 5, max: 1 }), Errno.EINVAL);
    expect(s.list()).to.have.length(0);
  });

  it('remove() drops a node or a whole subtree', () => {
    const { sysctl } = tree();
    expect(sysctl.remove('net.inet.ip')).to.equal(3);
    expect(sysctl.list().map((r) => r.name.split('.').slice(0, 3).join('.'))).to.not.include('net.inet.ip');
    expect(sysctl.has('net.inet.udp.stats.noport')).to.equal(true);
    sysctl.addInt('net.inet.ip.ttl', { get: () => 1, description: '' }); // the name is free again
    expect(sysctl.remove('nothing.here')).to.equal(0);
  });

  it('formatSysctl() renders sysctl -a lines', () => {
    const { sysctl } = tree();
    expect(formatSysctl(sysctl.list('net.inet.ip.t'))).to.equal('');
    expect(formatSysctl(sysctl.list('kern'))).to.equal('kern.mbuf.nmbclusters = 1024');
    expect(formatSysctl(sysctl.list('net.inet.udp')).split('\n')).to.deep.equal([
      'net.inet.udp.stats.fullsock = 0',
      'net.inet.udp.stats.ipackets = 0',
      'net.inet.udp.stats.noport = 0',
    ]);
  });
});
