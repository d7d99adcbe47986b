/**
 * Neighbor unreachability detection (RFC 4861 7.3) on a manual clock:
 * every NUD state and transition of a neighbour entry, with the messages
 * each sends.
 */
import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { MemWire } from '../../src/link/memwire.js';
import { Stack } from '../../src/stack.js';
import { settle } from './helpers.js';

function stackOn(clock: ManualClock): Stack {
  const s = new Stack({ clock, nmbclusters: 256 });
  s.sysctl.set('net.inet6.ip6.dad_count', 0);
  s.sysctl.set('net.inet6.ip6.rtr_solicitations', 0);
  return s;
}

/** Ping with the manual clock: let the wire flush until the reply resolved the promise. */
async function ping(s: Stack, dst: string): Promise<void> {
  let done = false;
  let err: unknown;
  s.ping(dst, { timeout: 5000 }).then(
    () => (done = true),
    (e: unknown) => ((err = e), (done = true)),
  );
  for (let i = 0; i < 50 && !done; i++) await settle(2);
  if (err !== undefined) throw err;
  expect(done, 'ping finished').to.equal(true);
}

describe('IPv6 Neighbor Discovery: NUD states (RFC 4861 7.3.2)', () => {
  it('REACHABLE -> STALE -> DELAY -> PROBE -> REACHABLE on a solicited NA, then PROBE -> gone when the neighbour is silent', async () => {
    const clock = new ManualClock();
    const wire = new MemWire({ clock });
    const a = stackOn(clock);
    const b = stackOn(clock);
    a.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: ['fd00::1/64'] });
    const lb = wire.attachLink({ name: 'wire0' });
    b.attachLink(lb, { addrs: ['fd00::2/64'] });
    const state = (): string | undefined => a.ndpList().find((e) => e.ip === 'fd00::2')?.state;
    const nd = a.inet6.nd6stat;

    await ping(a, 'fd00::2'); // INCOMPLETE -> REACHABLE (solicited NA with the target's address)
    expect(state()).to.equal('reachable');
    expect(nd.txns).to.equal(1);
    expect(nd.confirmed).to.equal(1);

    clock.advance(46_000); // past ReachableTime (at most 1.5 x 30 s)
    expect(state()).to.equal('stale');
    await ping(a, 'fd00::2'); // a send to a STALE neighbour goes at once and starts DELAY
    expect(state()).to.equal('delay');
    expect(nd.txns).to.equal(1);

    clock.advance(5_000); // DELAY_FIRST_PROBE_TIME: a unicast probe
    expect(nd.txns).to.equal(2);
    expect(state()).to.equal('probe');
    await settle(8); // b answers the probe: solicited NA -> REACHABLE
    expect(state()).to.equal('reachable');
    expect(nd.confirmed).to.equal(2);

    // b goes silent: its link drops whatever reaches it.
    lb.setUp(false);
    clock.advance(46_000);
    await ping(a, 'fd00::2').catch(() => undefined); // sent to the cached address; no reply
    expect(state()).to.equal('delay');
    clock.advance(5_000);
    expect(state()).to.equal('probe');
    for (let i = 0; i < 3; i++) {
      await settle(2);
      clock.advance(1_000);
    }
    expect(state()).to.equal(undefined);
    expect(nd.nudfailed).to.equal(1);
    expect(nd.txns).to.equal(2 + 3); // MAX_UNICAST_SOLICIT probes
    a.close();
    b.close();
    wire.close();
    a.pool.assertAllFree();
    b.pool.assertAllFree();
  });

  it('holds at most nd6_maxqueuelen packets while INCOMPLETE and tells the senders when resolution fails', async () => {
    const clock = new ManualClock();
    const wire = new MemWire({ clock });
    const a = stackOn(clock);
    a.sysctl.set('net.inet6.icmp6.nd6_maxqueuelen', 2);
    a.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: ['fd00::1/64'] });
    const results: string[] = [];
    for (let seq = 0; seq < 4; seq++) {
      a.ping('fd00::9', { timeout: 10_000, seq }).then(
        () => results.push('ok'),
        (e: { code?: string }) => results.push(String(e.code)),
      );
    }
    const nd = a.inet6.nd6stat;
    expect(nd.holddrops).to.equal(2);
    expect(a.ndpList()[0]).to.include({ ip: 'fd00::9', state: 'incomplete', held: 2, mac: null });
    for (let i = 0; i < 3; i++) clock.advance(1_000); // MAX_MULTICAST_SOLICIT solicitations, then failure
    await settle(2);
    expect(nd.timeouts).to.equal(1);
    expect(nd.resolvedrops).to.equal(2);
    expect(results.sort()).to.deep.equal(['EHOSTUNREACH', 'EHOSTUNREACH']); // the two held; the dropped two time out later
    a.close();
    wire.close();
    a.pool.assertAllFree();
  });
});

describe('MLDv2 (RFC 3810): the reports ND needs behind a snooping switch', () => {
  it('reports a joined solicited-node group with a router alert, answers a query, never reports all-nodes', async () => {
    const clock = new ManualClock();
    const wire = new MemWire({ clock });
    const a = stackOn(clock);
    const sniff = wire.attachLink({ name: 'sniff0' });
    const frames: Uint8Array[] = [];
    sniff.attach((fs) => fs.forEach((f) => frames.push(f.slice())));
    const ifp = a.attachLink(wire.attachLink({ name: 'wire0' }), { addrs: ['fd00::1/64'] });
    await settle(4);
    const reports = (): Uint8Array[] => frames.filter((f) => f[0] === 0x33 && f[5] === 0x16 && f[12] === 0x86 && f[13] === 0xdd);
    // One report per solicited-node group joined (link-local and fd00::1: different low 24 bits).
    const groups = reports().map((f) => {
      expect(f[14 + 6]).to.equal(0); // next header: hop-by-hop
      expect(f[14 + 7]).to.equal(1); // hop limit 1
      expect([...f.subarray(54, 58)]).to.deep.equal([58, 0, 5, 2]); // router alert
      expect(f[62]).to.equal(143);
      expect(f[70]).to.equal(4); // CHANGE_TO_EXCLUDE
      return [...f.subarray(74, 90)].map((x) => x.toString(16).padStart(2, '0')).join('');
    });
    expect(groups).to.have.length(2);
    expect(groups.every((g) => g.startsWith('ff0200000000000000000001ff'))).to.equal(true);
    expect(groups.some((g) => g === 'ff020000000000000000000000000001')).to.equal(false);
    // A general query from a router: answered within its maximum response delay with both groups.
    const q = new Uint8Array(40 + 8 + 28);
    q.set([0x60, 0, 0, 0, 0, 36, 0, 1], 0); // HBH next, hop limit 1
    q.set([0xfe, 0x80], 8);
    q[23] = 1;
    q.set([0xff, 0x02], 24);
    q[39] = 1;
    q.set([58, 0, 5, 2, 0, 0, 1, 0], 40);
    q.set([130, 0, 0, 0, 0x03, 0xe8], 48); // max response 1000 ms
    const { internetChecksum } = await import('../../src/wire/checksum.js');
    const { pseudoHeaderSum6, Ipv6Packet } = await import('../../src/wire/ipv6.js');
    const ip = new Ipv6Packet(q);
    const c = internetChecksum(q, 48, 28, pseudoHeaderSum6(ip.src, ip.dst, 58, 28));
    q[50] = c >> 8;
    q[51] = c & 0xff;
    const { etherInput } = await import('../../src/net/ethernet.js');
    etherInput(a, ifp, Uint8Array.of(0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x77, 0x86, 0xdd, ...q));
    expect(a.inet6.icmp6stat.mldquery).to.equal(1);
    frames.length = 0;
    clock.advance(1000);
    await settle(4);
    expect(reports()).to.have.length(1);
    expect(reports()[0]![70]).to.equal(2); // MODE_IS_EXCLUDE
    expect((reports()[0]![68]! << 8) | reports()[0]![69]!).to.equal(2); // two records
    a.close();
    wire.close();
    a.pool.assertAllFree();
  });
});
