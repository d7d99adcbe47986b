import { expect } from 'chai';
import { Errno } from '../../src/kern/errno.js';
import { ManualClock } from '../../src/kern/clock.js';
import { mFromBytes, mFreem, type Mbuf } from '../../src/mbuf/index.js';
import { etherInput } from '../../src/net/ethernet.js';
import type { IpPacketInfo, TransportError, TransportProtocol } from '../../src/net/protosw.js';
import type { Stack } from '../../src/stack.js';
import { PMTU_CACHE_MAX } from '../../src/net/ipv4-output.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { A_IP, B_IP, PEER_MAC, closeAndCheck, echoRequest, etherFrame, ip4, ipPacket, makePair, settle } from './helpers.js';

/** A UDP stand-in: answers every datagram with port unreachable (as UDP does for a closed port). */
class ClosedPorts implements TransportProtocol {
  readonly proto = 17;
  constructor(private readonly s: Stack) {}
  input(m: Mbuf, _info: IpPacketInfo): void {
    this.s.icmpError(m, 3, 3);
  }
}

/** A UDP stand-in on the sending side that records ctlinput. */
class Recorder implements TransportProtocol {
  readonly proto = 17;
  readonly errors: TransportError[] = [];
  input(m: Mbuf): void {
    mFreem(m);
  }
  ctlinput(e: TransportError): void {
    this.errors.push(e);
  }
}

/** An 8-byte "UDP header" 1234 -> 5678 plus data, sent from `s`. */
function udpish(s: Stack, dst: string, opts: { broadcast?: boolean } = {}): number {
  const b = new Uint8Array(16);
  b.set([0x04, 0xd2, 0x16, 0x2e, 0, 16, 0, 0]);
  const m = mFromBytes(s.pool, b, { headroom: 64 })!;
  return s.ip.output(m, { src: 0, dst: ip4(dst), proto: 17, broadcast: opts.broadcast });
}

/** Recompute the ICMP checksum of an IPv4 (20-byte header) + ICMP packet after editing it. */
function fixIcmpChecksum(pkt: Uint8Array): Uint8Array {
  pkt[22] = 0;
  pkt[23] = 0;
  const c = internetChecksum(pkt, 20, pkt.length - 20);
  pkt[22] = c >> 8;
  pkt[23] = c & 0xff;
  return pkt;
}

/** An ICMP error of `type`/`code` quoting an IP+8 header from `qsrc` to `qdst`. */
function icmpErrorPacket(type: number, code: number, qsrc: string, qdst: string, mtu = 0, from = B_IP, to = A_IP): Uint8Array {
  const quoted = ipPacket({ src: qsrc, dst: qdst, proto: 17, payload: Uint8Array.of(0x04, 0xd2, 0x16, 0x2e, 0, 16, 0, 0) });
  const msg = new Uint8Array(8 + quoted.length);
  msg[0] = type;
  msg[1] = code;
  msg[6] = mtu >> 8;
  msg[7] = mtu & 0xff;
  msg.set(quoted, 8);
  const c = internetChecksum(msg, 0, msg.length);
  msg[2] = c >> 8;
  msg[3] = c & 0xff;
  return ipPacket({ src: from, dst: to, proto: 1, payload: msg });
}

describe('ICMP', () => {
  it('port unreachable from a transport reaches the sender as ECONNREFUSED', async () => {
    const p = makePair();
    p.b.registerProtocol(new ClosedPorts(p.b));
    const rec = new Recorder();
    p.a.registerProtocol(rec);
    expect(udpish(p.a, B_IP)).to.equal(0);
    await settle();
    expect(p.b.icmpstat.error).to.equal(1);
    expect(rec.errors).to.have.length(1);
    expect(rec.errors[0]).to.include({
      errno: Errno.ECONNREFUSED,
      icmpType: 3,
      icmpCode: 3,
      src: ip4(A_IP),
      dst: ip4(B_IP),
      srcPort: 1234,
      dstPort: 5678,
    });
    expect(Array.from(rec.errors[0]!.quoted)).to.deep.equal([0x04, 0xd2, 0x16, 0x2e, 0, 16, 0, 0]);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('rate-limits errors with a token bucket (net.inet.icmp.errppslimit)', async () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    p.b.sysctl.set('net.inet.icmp.errppslimit', 2);
    p.b.registerProtocol(new ClosedPorts(p.b));
    p.a.registerProtocol(new Recorder());
    await p.a.ping(B_IP).catch(() => null);
    await settle();
    const pr = p.a.ping(B_IP, { timeout: 100 });
    await settle();
    await pr; // ARP resolved both ways
    for (let i = 0; i < 5; i++) udpish(p.a, B_IP);
    await settle();
    expect(p.b.icmpstat).to.include({ error: 2, ratelimited: 3 });
    clock.advance(1000);
    udpish(p.a, B_IP);
    await settle();
    expect(p.b.icmpstat.error).to.equal(3);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('never sends an error about a broadcast, an ICMP error, a later fragment or a martian source', async () => {
    const p = makePair();
    p.b.registerProtocol(new ClosedPorts(p.b));
    p.a.registerProtocol(new Recorder());
    expect(udpish(p.a, '10.0.0.255', { broadcast: true })).to.equal(0);
    await settle();
    expect(p.b.icmpstat).to.include({ bmcasterr: 1, error: 0 });
    const direct = (pkt: Uint8Array): void => p.b.icmp.error(mFromBytes(p.b.pool, pkt)!, 3, 3);
    direct(icmpErrorPacket(3, 3, B_IP, A_IP, 0, A_IP, B_IP)); // an ICMP error itself
    direct(ipPacket({ src: A_IP, dst: B_IP, proto: 17, fragOff: 1480, payload: new Uint8Array(20) }));
    direct(ipPacket({ src: '0.0.0.0', dst: B_IP, proto: 17, payload: new Uint8Array(20) }));
    direct(ipPacket({ src: '224.0.0.9', dst: B_IP, proto: 17, payload: new Uint8Array(20) }));
    direct(ipPacket({ src: A_IP, dst: '239.0.0.1', proto: 17, payload: new Uint8Array(20) }));
    expect(p.b.icmpstat).to.include({ oldicmp: 1, fragerr: 1, martianerr: 2, bmcasterr: 2, error: 0 });
    // An error about an echo request is allowed.
    direct(ipPacket({ src: A_IP, dst: B_IP, proto: 1, payload: echoRequest(1, 1, 8) }));
    expect(p.b.icmpstat.error).to.equal(1);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('takes fragmentation needed: EMSGSIZE to ctlinput; the cache learns only what the transport validated', () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    // Accepts (and records) only errors whose quote names its port 1234 with
    // the "sequence" bytes 0,16,0,0 — a stand-in for TCP's RFC 5927 check.
    const rec = new (class extends Recorder {
      override ctlinput(e: TransportError): void {
        super.ctlinput(e);
        if (e.srcPort === 1234 && e.quoted[5] === 16 && e.mtu > 0) p.a.ip.pmtuUpdate!(e.dst, e.mtu);
      }
    })();
    p.a.registerProtocol(rec);
    const inject = (pkt: Uint8Array): void => etherInput(p.a, p.ifa, etherFrame(p.ifa.mac, PEER_MAC, 0x0800, pkt));
    // Refused by the transport (a blind attacker's guess): nothing cached.
    const bad = icmpErrorPacket(3, 4, A_IP, B_IP, 1000);
    bad[20 + 8 + 20 + 5] = 99; // the quoted "sequence" byte
    inject(fixIcmpChecksum(bad));
    expect(rec.errors).to.have.length(1);
    expect(p.a.ip.mtuTowards(ip4(B_IP))).to.equal(1500);
    expect(p.a.pmtu.size).to.equal(0);
    inject(icmpErrorPacket(3, 4, A_IP, B_IP, 1200));
    expect(rec.errors.map((e) => [e.errno, e.mtu])).to.deep.equal([
      [Errno.EMSGSIZE, 1000],
      [Errno.EMSGSIZE, 1200],
    ]);
    expect(p.a.ip.mtuTowards(ip4(B_IP))).to.equal(1200);
    expect(p.a.ip.mtuTowards(ip4('10.0.0.3'))).to.equal(1500);
    // A larger value is not believed; a bogus tiny one is raised to the 552 minimum.
    inject(icmpErrorPacket(3, 4, A_IP, B_IP, 1400));
    expect(p.a.ip.mtuTowards(ip4(B_IP))).to.equal(1200);
    inject(icmpErrorPacket(3, 4, A_IP, B_IP, 100));
    expect(rec.errors.at(-1)!.mtu).to.equal(552);
    expect(p.a.ip.mtuTowards(ip4(B_IP))).to.equal(552);
    expect(p.a.icmpstat.pmtuclamped).to.be.at.least(1);
    expect(p.a.icmpstat.pmturefused).to.equal(1);
    clock.advance(600_000);
    expect(p.a.ip.mtuTowards(ip4(B_IP))).to.equal(1500);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('caps the path-MTU cache (oldest evicted) and sweeps expired entries lazily', () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    p.a.addRoute('default', '10.0.0.254');
    const addr = (i: number): number => (0x14000000 + i) >>> 0; // 20.0.x.y, via the default route
    for (let i = 0; i < PMTU_CACHE_MAX + 100; i++) expect(p.a.ip.pmtuUpdate!(addr(i), 1400)).to.equal(1400);
    expect(p.a.pmtu.size).to.equal(PMTU_CACHE_MAX);
    expect(p.a.icmpstat.pmtuevicted).to.equal(100);
    expect(p.a.ip.mtuTowards(addr(0))).to.equal(1500); // evicted, the oldest
    expect(p.a.ip.mtuTowards(addr(PMTU_CACHE_MAX + 99))).to.equal(1400);
    clock.advance(600_000);
    p.a.ip.pmtuUpdate!(addr(999_999), 1400);
    expect(p.a.pmtu.size).to.be.below(PMTU_CACHE_MAX); // expired ones went first, nothing evicted
    expect(p.a.icmpstat.pmtuevicted).to.equal(100);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('maps errors to errnos and ignores errors about packets that are not ours', () => {
    const p = makePair();
    const rec = new Recorder();
    p.a.registerProtocol(rec);
    const inject = (pkt: Uint8Array): void => etherInput(p.a, p.ifa, etherFrame(p.ifa.mac, PEER_MAC, 0x0800, pkt));
    inject(icmpErrorPacket(3, 1, A_IP, B_IP)); // host unreachable
    inject(icmpErrorPacket(11, 0, A_IP, B_IP)); // time exceeded
    inject(icmpErrorPacket(3, 6, A_IP, B_IP)); // net unknown
    inject(icmpErrorPacket(3, 3, '10.0.0.50', B_IP)); // quotes someone else's packet
    inject(icmpErrorPacket(5, 1, A_IP, B_IP)); // redirect: ignored
    inject(icmpErrorPacket(4, 0, A_IP, B_IP)); // source quench: ignored
    expect(rec.errors.map((e) => e.errno)).to.deep.equal([Errno.EHOSTUNREACH, Errno.EHOSTUNREACH, Errno.ENETUNREACH]);
    expect(p.a.icmpstat).to.include({ notours: 1, redirect: 1, sourcequench: 1, ctlinput: 3 });
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('ignores broadcast echo by default, answers with net.inet.icmp.bmcastecho=1', () => {
    const p = makePair();
    const bcast = etherFrame(
      Uint8Array.of(255, 255, 255, 255, 255, 255),
      PEER_MAC,
      0x0800,
      ipPacket({ src: B_IP, dst: '10.0.0.255', proto: 1, payload: echoRequest(3, 3, 8) }),
    );
    etherInput(p.a, p.ifa, bcast);
    expect(p.a.icmpstat).to.include({ echo: 1, bmcastecho: 1, reflect: 0 });
    p.a.sysctl.set('net.inet.icmp.bmcastecho', 1);
    etherInput(p.a, p.ifa, bcast);
    expect(p.a.icmpstat.reflect).to.equal(1);
    closeAndCheck(p.wire, p.a, p.b);
  });

  it('times out a ping with ETIMEDOUT; rejects bad sizes', async () => {
    const clock = new ManualClock();
    const p = makePair({ clock });
    p.a.arpAdd(B_IP, '02:00:00:00:00:42'); // nobody has this MAC
    const pr = p.a.ping(B_IP, { timeout: 500 });
    await settle();
    clock.advance(500);
    expect(await pr.catch((e: unknown) => e)).to.include({ code: 'ETIMEDOUT' });
    expect(await p.a.ping(B_IP, { size: 70000 }).catch((e: unknown) => e)).to.include({ code: 'EINVAL' });
    expect(await p.a.ping('nonsense').catch((e: unknown) => e)).to.include({ code: 'EINVAL' });
    const late = p.a.ping(B_IP, { timeout: 500 });
    p.a.close(); // pending pings fail at close
    expect(await late.catch((e: unknown) => e)).to.include({ code: 'ENETDOWN' });
    closeAndCheck(p.wire, p.a, p.b);
  });
});
