import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { ManualClock } from '../../src/kern/clock.js';
import { mFromBytes, mFreem, type Mbuf } from '../../src/mbuf/index.js';
import type { TransportError, TransportProtocol } from '../../src/net/protosw.js';
import { A_IP, B_IP, PEER_MAC, closeAndCheck, etherFrame, ip4, mac, makePair, settle } from './helpers.js';
import { ArpRepr } from '../../src/wire/arp.js';
import { BROADCAST_MAC } from '../../src/wire/address.js';

/** A stand-in transport (protocol 253, RFC 3692 experimentation) recording what IP hands it. */
class FakeTransport implements TransportProtocol {
  readonly errors: TransportError[] = [];
  received = 0;
  constructor(readonly proto = 253) {}
  input(m: Mbuf): void {
    this.received++;
    mFreem(m);
  }
  ctlinput(err: TransportError): void {
    this.errors.push(err);
  }
}

/** Send `n` payload bytes with protocol 253 from `s` to `dst`. */
function send(s: import('../../src/stack.js').Stack, dst: string, n = 16): number {
  const payload = new Uint8Array(n);
  payload[0] = 0x12; // "source port" 0x1234 for the quote
  payload[1] = 0x34;
  const m = mFromBytes(s.pool, payload, { headroom: 64 })!;
  return s.ip.output(m, { src: 0, dst: ip4(dst), proto: 253 });
}

function arpFrame(op: 1 | 2, sha: Uint8Array, spa: string, tha: Uint8Array, tpa: string, dst = BROADCAST_MAC): Uint8Array {
  const a = new Uint8Array(28);
  ArpRepr.emit({ operation: op, senderMac: sha, senderIp: ip4(spa), targetMac: tha, targetIp: ip4(tpa) }, a);
  return etherFrame(dst, sha, 0x0806, a);
}

describe('ARP', () => {
  it('resolves both ways, then hits the cache', async () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    const pr = p.a.ping(B_IP, { timeout: 5000 });
    await settle();
    await pr;
    // a asked once; b learnt a from the request (RFC 826 merge, target was b) and so never asked.
    expect(p.a.arpstat.txrequests).to.equal(1);
    expect(p.b.arpstat.txrequests).to.equal(0);
    expect(p.b.arpstat.learned).to.equal(1);
    expect(p.a.arpList().find((e) => e.ip === B_IP)).to.include({ state: 'reachable', ifname: 'wire0' });
    expect(p.b.arpList().find((e) => e.ip === A_IP)?.state).to.equal('reachable');
    // Reverse direction and a second ping: no more requests anywhere.
    const pr2 = p.b.ping(A_IP, { timeout: 5000 });
    const pr3 = p.a.ping(B_IP, { timeout: 5000 });
    await settle();
    await pr2;
    await pr3;
    expect(p.a.arpstat.txrequests + p.b.arpstat.txrequests).to.equal(1);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('expires entries after net.inet.arp.keep and resolves again', async () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    p.a.sysctl.set('net.inet.arp.keep', 60);
    const pr = p.a.ping(B_IP, { timeout: 5000 });
    await settle();
    await pr;
    expect(p.a.arpList().find((e) => e.ip === B_IP)?.expiresIn).to.equal(60_000);
    clock.advance(59_999);
    expect(p.a.arpList().some((e) => e.ip === B_IP)).to.equal(true);
    clock.advance(1);
    expect(p.a.arpList().some((e) => e.ip === B_IP)).to.equal(false);
    expect(p.a.arpstat.expired).to.equal(1);
    const pr2 = p.a.ping(B_IP, { timeout: 5000 });
    await settle();
    await pr2;
    expect(p.a.arpstat.txrequests).to.equal(2);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('fails after maxtries: held packets dropped, EHOSTDOWN to ctlinput, then fails fast', async () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    const t = new FakeTransport();
    p.a.registerProtocol(t);
    expect(send(p.a, '10.0.0.77')).to.equal(0); // held
    expect(send(p.a, '10.0.0.77')).to.equal(0);
    await settle();
    clock.advance(1000);
    clock.advance(1000);
    expect(t.errors).to.have.length(0);
    expect(p.a.arpstat.txrequests).to.equal(3);
    clock.advance(1000);
    expect(p.a.arpstat.timeouts).to.equal(1);
    expect(p.a.arpstat.resolvedrops).to.equal(2);
    expect(t.errors).to.have.length(2);
    expect(t.errors[0]).to.include({ errno: Errno.EHOSTDOWN, icmpType: -1, dst: ip4('10.0.0.77'), src: ip4(A_IP), srcPort: 0x1234 });
    expect(p.a.arpList().find((e) => e.ip === '10.0.0.77')?.state).to.equal('failed');
    // Fail fast for `down` seconds, then try again.
    expect(send(p.a, '10.0.0.77')).to.equal(Errno.EHOSTDOWN);
    expect(p.a.arpstat.failfast).to.equal(1);
    clock.advance(20_000);
    expect(send(p.a, '10.0.0.77')).to.equal(0);
    expect(p.a.arpstat.txrequests).to.equal(4);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('reports EHOSTUNREACH when the unresolvable address is the gateway', async () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    const t = new FakeTransport();
    p.a.registerProtocol(t);
    p.a.setDefaultGateway('10.0.0.254');
    expect(send(p.a, '192.0.2.7')).to.equal(0);
    clock.advance(3000);
    expect(t.errors.map((e) => e.errno)).to.deep.equal([Errno.EHOSTUNREACH]);
    expect(send(p.a, '192.0.2.7')).to.equal(Errno.EHOSTUNREACH);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('fails a ping to a silent address with EHOSTDOWN', async () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    const pr = p.a.ping('10.0.0.77', { timeout: 10_000 });
    await settle();
    clock.advance(3000);
    const err = await pr.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.include({ code: 'EHOSTDOWN' });
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('bounds the hold queue, dropping the oldest', () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    p.a.sysctl.set('net.inet.arp.maxhold', 4);
    for (let i = 0; i < 10; i++) expect(send(p.a, '10.0.0.77')).to.equal(0);
    expect(p.a.arpstat.holddrops).to.equal(6);
    expect(p.a.arpList().find((e) => e.ip === '10.0.0.77')?.held).to.equal(4);
    closeAndCheck(p.wire, p.a, p.b); // held packets freed by close
  });

  it('sends a gratuitous ARP when an address is added, and peers merge it', async () => {
    const p = makePair();
    const sniffed: Uint8Array[] = [];
    const sniffer = p.wire.attachLink({ name: 'sniff0' });
    sniffer.attach((frames) => frames.forEach((f) => sniffed.push(f.slice())));
    // b knows a's 10.0.0.1 at a's MAC through a ping first.
    await p.b.ping(A_IP, { timeout: 2000 });
    sniffed.length = 0;
    const before = p.a.arpstat.txgratuitous; // attachLink announced 10.0.0.1 already
    p.a.addAddress('wire0', '10.0.0.5/24');
    await settle();
    const garp = sniffed.find((f) => f[12] === 0x08 && f[13] === 0x06);
    expect(garp, 'gratuitous ARP on the wire').to.not.equal(undefined);
    const body = garp!.subarray(14);
    expect(Array.from(garp!.subarray(0, 6))).to.deep.equal(Array.from(BROADCAST_MAC));
    expect(Array.from(body.subarray(14, 18))).to.deep.equal([10, 0, 0, 5]); // sender IP
    expect(Array.from(body.subarray(24, 28))).to.deep.equal([10, 0, 0, 5]); // target IP
    expect(p.a.arpstat.txgratuitous).to.equal(before + 1);
    // A gratuitous ARP from a "moved" host updates b's existing entry (merge), and only an existing one.
    sniffer.output(arpFrame(1, PEER_MAC, A_IP, new Uint8Array(6), A_IP));
    sniffer.output(arpFrame(1, PEER_MAC, '10.0.0.66', new Uint8Array(6), '10.0.0.66'));
    await settle();
    expect(p.b.arpList().find((e) => e.ip === A_IP)?.mac).to.equal('02:00:00:00:00:99');
    expect(p.b.arpList().some((e) => e.ip === '10.0.0.66')).to.equal(false);
    sniffer.close();
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('answers requests for our addresses and learns the asker; counts bad ones', async () => {
    const p = makePair();
    const sniffed: Uint8Array[] = [];
    const sniffer = p.wire.attachLink({ name: 'sniff0' });
    sniffer.attach((frames) => frames.forEach((f) => sniffed.push(f.slice())));
    sniffer.output(arpFrame(1, PEER_MAC, '10.0.0.9', new Uint8Array(6), A_IP));
    await settle();
    const reply = sniffed.find((f) => f[13] === 0x06 && f[21] === 2);
    expect(reply).to.not.equal(undefined);
    expect(Array.from(reply!.subarray(0, 6))).to.deep.equal(Array.from(PEER_MAC));
    expect(p.a.arpstat.txreplies).to.equal(1);
    expect(p.a.arpList().find((e) => e.ip === '10.0.0.9')?.mac).to.equal('02:00:00:00:00:99');
    // Not for us: not answered, not learnt. Broadcast sender MAC, our own address claimed, truncated.
    sniffer.output(arpFrame(1, PEER_MAC, '10.0.0.10', new Uint8Array(6), '10.0.0.200'));
    const bad = arpFrame(1, mac('03:00:00:00:00:01'), '10.0.0.11', new Uint8Array(6), A_IP);
    bad.set(BROADCAST_MAC, 0);
    sniffer.output(bad);
    sniffer.output(arpFrame(1, PEER_MAC, A_IP, new Uint8Array(6), A_IP));
    sniffer.output(arpFrame(1, PEER_MAC, '10.0.0.9', new Uint8Array(6), A_IP).subarray(0, 30));
    await settle();
    expect(p.a.arpstat.txreplies).to.equal(1);
    expect(p.a.arpList().some((e) => e.ip === '10.0.0.10')).to.equal(false);
    expect(p.a.etherstat.badsrc).to.equal(1); // group source MAC never gets past Ethernet
    expect(p.a.arpstat.dupaddr).to.equal(1);
    expect(p.a.arpstat.badpacket).to.equal(1);
    sniffer.close();
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('keeps static entries: manual add, no overwrite from the wire, delete', async () => {
    const p = makePair();
    p.a.arpAdd(B_IP, '02:00:00:00:00:42');
    expect(p.a.arpList().find((e) => e.ip === B_IP)).to.include({ state: 'static', mac: '02:00:00:00:00:42', expiresIn: -1 });
    // b's answer (to b's own ping) must not replace it.
    const pr = p.b.ping(A_IP, { timeout: 300 }).catch(() => null);
    await settle();
    await pr;
    expect(p.a.arpList().find((e) => e.ip === B_IP)?.mac).to.equal('02:00:00:00:00:42');
    expect(p.a.arpstat.staticrefused).to.be.greaterThan(0);
    p.a.arpDelete(B_IP);
    expect(p.a.arpList().some((e) => e.ip === B_IP)).to.equal(false);
    expect(() => p.a.arpDelete(B_IP)).to.throw().with.property('code', 'ENOENT');
    expect(() => p.a.arpAdd(B_IP, 'zz')).to.throw().with.property('code', 'EINVAL');
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('learns only on-net senders and at most net.inet.arp.maxentries per interface', () => {
    const p = makePair();
    const feed = (f: Uint8Array): void => p.a.arp.input(p.ifa, f, 14, f.length - 14);
    // Off-net sender asking for our address: answered, never learnt.
    feed(arpFrame(1, PEER_MAC, '192.168.7.5', new Uint8Array(6), A_IP));
    expect(p.a.arpList().some((e) => e.ip === '192.168.7.5')).to.equal(false);
    expect(p.a.arpstat.offnet).to.equal(1);
    expect(p.a.arpstat.txreplies).to.equal(1);
    // A flood of on-net senders stops at the cap.
    p.a.sysctl.set('net.inet.arp.maxentries', 16);
    for (let i = 0; i < 20; i++) feed(arpFrame(1, PEER_MAC, `10.0.0.${100 + i}`, new Uint8Array(6), A_IP));
    expect(p.a.arpList()).to.have.length(16);
    expect(p.a.arpstat).to.include({ learned: 16, tablefull: 4 });
    // An existing entry is still updated (RFC 826 merge), and resolving a new neighbour is refused.
    feed(arpFrame(2, mac('02:00:00:00:00:42'), '10.0.0.100', new Uint8Array(6), A_IP));
    expect(p.a.arpList().find((e) => e.ip === '10.0.0.100')?.mac).to.equal('02:00:00:00:00:42');
    expect(send(p.a, '10.0.0.250')).to.equal(Errno.ENOBUFS);
    expect(p.a.arpstat.tablefull).to.equal(5);
    closeAndCheck(p.wire, p.a, p.b);
  });
});
