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
