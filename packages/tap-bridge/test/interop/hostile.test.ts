/**
 * Issue 11, the wire-level hardening items, through the tap from the Linux
 * side: frames crafted here and sent raw by a Python AF_PACKET sender in the
 * namespace (`raw-frames.ts`), the stack's answers read back the same way.
 * Crafted TCP comes from a made-up neighbour (.7, a static ARP entry on the
 * stack pointing at the Linux side's MAC) so the Linux kernel, which does
 * not own .7, never answers the stack's replies with RSTs of its own.
 *
 * Ordering instead of sleeping: after the frames a test expects to be
 * dropped, it sends a "marker" SYN and waits for its SYN-ACK; frames are
 * processed in order, so once the marker is answered the earlier ones were
 * seen (and, if nothing came back for them, dropped).
 */
import { expect } from 'chai';
import * as rump from '@rumpnet/stack';
import { netnsSkipReason, openInterop, skipWith, tcpSkipReason, waitUntil } from './harness.js';
import type { Interop } from './harness.js';
import { RawPeer, etherFrame, icmpEcho, ipv4Packet, macBytes, tcpSegment, type SegSpec } from './raw-frames.js';
import { tcpAccept, tcpConnect, tcpListen } from './tcp-helpers.js';

const { inetAton, wire } = rump;
const { SYN, ACK, FIN, RST, PSH, URG } = wire.TcpFlag;
const PORT = 7000;

describe('interop: hostile frames from a Linux peer (issue 11; tap in a netns)', function () {
  this.timeout(30_000);
  let env: Interop | undefined;
  let raw: RawPeer | undefined;
  let fake = 0; // the made-up neighbour .7
  let nextPort = 41000;

  before(async function () {
    const why = netnsSkipReason() ?? (await tcpSkipReason());
    if (why !== undefined) skipWith(this, why);
    const e = (env = await openInterop({ prefix: 'hostile', tcp: true }));
    const fakeIp = e.linuxIp.replace(/\.1$/, '.7');
    fake = inetAton(fakeIp)!;
    e.stack.arpAdd(fakeIp, e.linuxMac);
    raw = await RawPeer.start(e.ns, e.ifname, e.stackMac);
    tcpListen(e, PORT);
  });
  after(async () => {
    raw?.close();
    const e = env;
    env = undefined;
    await e?.close();
    if (e !== undefined) expect(e.poolFreeAfterClose, 'mbufs leaked').to.equal(true);
  });

  const tcpStats = () => env!.tcp!.stats;
  /** An IPv4/TCP frame from `src` to the stack, on the Linux side's MAC. */
  const tcpFrame = (src: number, spec: SegSpec, dst = env!.stackAddr): Uint8Array =>
    etherFrame(macBytes(env!.stackMac), macBytes(env!.linuxMac), 0x0800, ipv4Packet(src, dst, 6, tcpSegment(src, dst, { dstPort: PORT, ...spec })));
  /** Send a SYN from the fake neighbour on a fresh port and wait for its SYN-ACK: everything sent before was processed. */
  async function marker(): Promise<void> {
    const port = nextPort++;
    await raw!.send(tcpFrame(fake, { srcPort: port, flags: SYN, seq: 1000 }));
    await raw!.waitFor((s) => s.tcp.dstPort === port && s.tcp.flags === (SYN | ACK), 5000, `the marker SYN-ACK to :${port}`);
  }
  const answered = (port: number) => raw!.rx.some((s) => s.tcp.dstPort === port);

  it('a SYN with a malformed option (zero-length) gets a SYN-ACK; counted rcvbadopt', async () => {
    const before = tcpStats().rcvbadopt!;
    const port = nextPort++;
    await raw!.send(tcpFrame(fake, { srcPort: port, flags: SYN, seq: 5, rawOptions: Uint8Array.of(2, 4, 0x05, 0xb4, 30, 0) }));
    const sa = await raw!.waitFor((s) => s.tcp.dstPort === port, 5000, 'the SYN-ACK');
    expect(sa.tcp.flags).to.equal(SYN | ACK);
    expect(sa.tcp.ack).to.equal(6);
    expect(tcpStats().rcvbadopt! - before).to.equal(1);
  });

  it('SYN+FIN and SYN+FIN+PSH+URG are dropped with a counter (drop_synfin)', async () => {
    const before = tcpStats().rcvsynfin!;
    const p1 = nextPort++;
    const p2 = nextPort++;
    await raw!.send(tcpFrame(fake, { srcPort: p1, flags: SYN | FIN, seq: 9 }), tcpFrame(fake, { srcPort: p2, flags: SYN | FIN | PSH | URG, seq: 9 }));
    await marker();
    expect(answered(p1) || answered(p2), 'no answer to SYN+FIN').to.equal(false);
    expect(tcpStats().rcvsynfin! - before).to.equal(2);
  });

  it('a RST at the exact sequence number with a zero-length option resets an established connection', async () => {
    const e = env!;
    const port = nextPort++;
    const lfd = tcpListen(e, PORT + 1);
    const accepted = tcpAccept(e, lfd);
    await raw!.send(tcpFrame(fake, { srcPort: port, dstPort: PORT + 1, flags: SYN, seq: 100 }));
    const sa = await raw!.waitFor((s) => s.tcp.dstPort === port && s.tcp.flags === (SYN | ACK), 5000, 'the SYN-ACK');
    await raw!.send(tcpFrame(fake, { srcPort: port, dstPort: PORT + 1, flags: ACK, seq: 101, ack: (sa.tcp.seq + 1) >>> 0 }));
    const fd = await accepted;
    await raw!.send(tcpFrame(fake, { srcPort: port, dstPort: PORT + 1, flags: RST, seq: 101, rawOptions: Uint8Array.of(30, 0) }));
    const conns = () => (e.tcp!.connections?.() ?? []).filter((c) => c.fport === port);
    await waitUntil(() => conns().length === 0, 5000, 'the connection to be reset');
    expect(e.t.get(fd)!.error).to.equal(rump.Errno.ECONNRESET);
  });

  it('martian sources are dropped with named counters; a LAND SYN makes no SYN-cache entry', async () => {
    const e = env!;
    const st = e.stack.ipstat as unknown as Record<string, number>;
    const before = { ...st };
    const scAdded = tcpStats().scAdded!;
    const bcast = inetAton(e.linuxIp.replace(/\.1$/, '.255'))!;
    const icmpFrom = (src: number) => etherFrame(macBytes(e.stackMac), macBytes(e.linuxMac), 0x0800, ipv4Packet(src, e.stackAddr, 1, icmpEcho()));
    await raw!.send(
      tcpFrame(e.stackAddr, { srcPort: PORT, flags: SYN, seq: 1 }), // LAND: from us, to us
      icmpFrom(e.stackAddr),
      icmpFrom(inetAton('127.0.0.1')!),
      icmpFrom(inetAton('224.0.0.5')!),
      icmpFrom(bcast),
      icmpFrom(0),
      icmpFrom(inetAton('240.0.0.1')!),
    );
    await marker();
    const d = (k: string) => (st[k] ?? 0) - (before[k] ?? 0);
    expect({ self: d('martianself'), loop: d('martianloop'), mcast: d('martianmcast'), bcast: d('martianbcast'), zero: d('martianzero'), classe: d('martianclasse') }).to.deep.equal({
      self: 2,
      loop: 1,
      mcast: 1,
      bcast: 1,
      zero: 1,
      classe: 1,
    });
    expect(d('martians')).to.equal(7);
    expect(tcpStats().scAdded! - scAdded, 'only the marker entered the SYN cache').to.equal(1);
    expect(e.stack.sysctl.get('net.inet.ip.stats.martianself')).to.equal(st.martianself);
  });

  it('VLAN-tagged frames and frames from our own MAC are dropped and counted (net.link.ether.stats)', async () => {
    const e = env!;
    const st = e.stack.etherstat as unknown as Record<string, number>;
    const before = { ...st };
    const port = nextPort++;
    const ip = ipv4Packet(fake, e.stackAddr, 6, tcpSegment(fake, e.stackAddr, { srcPort: port, dstPort: PORT, flags: SYN, seq: 1 }));
    await raw!.send(etherFrame(macBytes(e.stackMac), macBytes(e.linuxMac), 0x0800, ip, 5), etherFrame(macBytes(e.stackMac), macBytes(e.stackMac), 0x0800, ip));
    await marker();
    expect(answered(port)).to.equal(false);
    expect(st.vlan! - before.vlan!).to.equal(1);
    expect(st.ownsrc! - before.ownsrc!).to.equal(1);
  });

  describe('TIME-WAIT', () => {
    /** The stack's connection to/from the fake neighbour's `port`, or undefined. */
    const connOf = (port: number) => (env!.tcp!.connections?.() ?? []).find((c) => c.fport === port);

    /** Drive a connection from the fake neighbour's `port` to the stack's listener into TIME-WAIT on the stack (it closes first). */
    async function passiveTimeWait(port: number, lport: number): Promise<{ rcv: number; snd: number }> {
      const e = env!;
      const lfd = tcpListen(e, lport);
      const accepted = tcpAccept(e, lfd);
      await raw!.send(tcpFrame(fake, { srcPort: port, dstPort: lport, flags: SYN, seq: 100, tsVal: 10 }));
      const sa = await raw!.waitFor((s) => s.tcp.dstPort === port && s.tcp.flags === (SYN | ACK), 5000, 'the SYN-ACK');
      const snd0 = (sa.tcp.seq + 1) >>> 0;
      await raw!.send(tcpFrame(fake, { srcPort: port, dstPort: lport, flags: ACK, seq: 101, ack: snd0, tsVal: 11, tsEcr: sa.tcp.tsVal ?? 0 }));
      const fd = await accepted;
      await e.t.close(fd);
      await e.t.close(lfd);
      await raw!.waitFor((s) => s.tcp.dstPort === port && (s.tcp.flags & FIN) !== 0, 5000, 'our FIN');
      await raw!.send(tcpFrame(fake, { srcPort: port, dstPort: lport, flags: FIN | ACK, seq: 101, ack: snd0 + 1, tsVal: 12 }));
      await waitUntil(() => connOf(port)?.state === 'TIME-WAIT', 5000, 'TIME-WAIT');
      return { rcv: 102, snd: snd0 + 1 };
    }

    it('in-window data and an exact RST leave the TIME-WAIT in place (ACK, no RST)', async () => {
      const port = nextPort++;
      const { rcv, snd } = await passiveTimeWait(port, PORT + 2);
      const before = raw!.rx.length;
      await raw!.send(tcpFrame(fake, { srcPort: port, dstPort: PORT + 2, flags: ACK | PSH, seq: rcv, ack: snd, tsVal: 13, payload: new Uint8Array(100) }));
      const ack = await raw!.waitFor((s) => s.tcp.dstPort === port && raw!.rx.indexOf(s) >= before, 5000, 'the ACK to data in TIME-WAIT');
      expect(ack.tcp.flags).to.equal(ACK);
      expect(ack.tcp.ack).to.equal(rcv);
      await raw!.send(tcpFrame(fake, { srcPort: port, dstPort: PORT + 2, flags: RST, seq: rcv }));
      await marker();
      expect(connOf(port)?.state).to.equal('TIME-WAIT');
      expect(raw!.rx.some((s) => s.tcp.dstPort === port && (s.tcp.flags & RST) !== 0), 'no RST').to.equal(false);
      expect(tcpStats().twRstIgnored).to.be.greaterThan(0);
    });

    it('a newer SYN to a TIME-WAIT whose port has no listener does not close it', async () => {
      const e = env!;
      const port = nextPort++;
      // The stack connects out to the fake neighbour; its local port has no listener.
      const connecting = tcpConnect(e, fake, port);
      const syn = await raw!.waitFor((s) => s.tcp.srcPort !== PORT && s.tcp.dstPort === port && s.tcp.flags === SYN, 5000, 'our SYN');
      const lport = syn.tcp.srcPort;
      const to = { srcPort: port, dstPort: lport };
      await raw!.send(tcpFrame(fake, { ...to, flags: SYN | ACK, seq: 5000, ack: (syn.tcp.seq + 1) >>> 0, tsVal: 100, tsEcr: syn.tcp.tsVal ?? 0 }));
      const fd = await connecting;
      await e.t.close(fd);
      const fin = await raw!.waitFor((s) => s.tcp.dstPort === port && (s.tcp.flags & FIN) !== 0, 5000, 'our FIN');
      await raw!.send(tcpFrame(fake, { ...to, flags: FIN | ACK, seq: 5001, ack: (fin.tcp.seq + 1) >>> 0, tsVal: 101 }));
      const conn = () => (e.tcp!.connections?.() ?? []).find((c) => c.lport === lport && c.fport === port);
      await waitUntil(() => conn()?.state === 'TIME-WAIT', 5000, 'TIME-WAIT');
      const noListener = tcpStats().twSynNoListener!;
      await raw!.send(tcpFrame(fake, { ...to, flags: SYN, seq: 900_000, tsVal: 5000 }));
      await marker();
      expect(conn()?.state).to.equal('TIME-WAIT');
      expect(tcpStats().twSynNoListener! - noListener).to.equal(1);
    });
  });
});
