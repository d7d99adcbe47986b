/**
 * The pcap writer and withPcap: byte layout checked by hand, then the files
 * handed to tshark (skipped when tshark is absent).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Link, LinkReceiver, LinkStats } from '@rumpnet/stack';
import { BusLink, LINKTYPE_ETHERNET, LINKTYPE_RAW, Netns, PcapWriter, TapLink, canUseNetns, randomSubnet24, withPcap } from '../src/index.js';
import { arpRequest, ipBytes, linkShapesAgree, waitFor } from './helpers.js';

function haveTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore', timeout: 10000 });
    return true;
  } catch {
    return false;
  }
}

/** tshark's one-line-per-packet fields for `file`. */
function tshark(file: string, ...args: string[]): string[] {
  const out = execFileSync('tshark', ['-n', '-r', file, ...args], { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l.trim() !== '');
}

/** A minimal Link that records what it is asked to send and lets the test inject input. */
class FakeLink implements Link {
  readonly name = 'fake0';
  readonly mtu = 1500;
  readonly mac = new Uint8Array(6);
  up = true;
  sent: Uint8Array[] = [];
  rx: LinkReceiver | undefined;
  closed = 0;
  constructor(readonly kind: 'ethernet' | 'loopback') {}
  output(f: Uint8Array): boolean {
    this.sent.push(f);
    return true;
  }
  attach(r: LinkReceiver): void {
    this.rx = r;
  }
  setUp(up: boolean): void {
    this.up = up;
  }
  setMtu(): void {}
  stats(): LinkStats {
    return { rxFrames: 0, rxBytes: 0, txFrames: this.sent.length, txBytes: 0, rxDrops: 0, txDrops: 0, errors: 0 };
  }
  close(): void {
    this.closed++;
  }
}

/** A 20-byte IPv4 header + 8-byte ICMP echo request, checksums filled in (RFC 791, 792). */
function ipv4Icmp(src: string, dst: string): Uint8Array {
  const p = new Uint8Array(28);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, 28);
  p[8] = 64;
  p[9] = 1;
  p.set(ipBytes(src), 12);
  p.set(ipBytes(dst), 16);
  v.setUint16(10, cksum(p.subarray(0, 20)));
  p[20] = 8;
  v.setUint16(22, cksum(p.subarray(20)));
  return p;
}
function cksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

describe('tap-bridge: pcap capture', function () {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rn-pcap-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the classic libpcap layout: header, record headers, truncation at snaplen', () => {
    const file = join(dir, 'a.pcap');
    const w = new PcapWriter(file, { snaplen: 64, now: () => 1_700_000_000_123.456 });
    w.write(new Uint8Array(60).fill(0xab));
    w.write(new Uint8Array(100).fill(0xcd));
    expect(w.packets).to.equal(2);
    w.close();
    w.close();
    const b = readFileSync(file);
    expect(b.readUInt32LE(0)).to.equal(0xa1b2c3d4);
    expect([b.readUInt16LE(4), b.readUInt16LE(6)]).to.deep.equal([2, 4]);
    expect(b.readUInt32LE(16)).to.equal(64);
    expect(b.readUInt32LE(20)).to.equal(LINKTYPE_ETHERNET);
    // record 1
    expect(b.readUInt32LE(24)).to.equal(1_700_000_000);
    expect(b.readUInt32LE(28)).to.equal(123456);
    expect([b.readUInt32LE(32), b.readUInt32LE(36)]).to.deep.equal([60, 60]);
    expect(b[40]).to.equal(0xab);
    // record 2: 64 bytes kept of 100
    const r2 = 24 + 16 + 60;
    expect([b.readUInt32LE(r2 + 8), b.readUInt32LE(r2 + 12)]).to.deep.equal([64, 100]);
    expect(b.length).to.equal(r2 + 16 + 64);
  });

  it('withPcap forwards everything and records both directions; close closes both', () => {
    const inner = new FakeLink('ethernet');
    const file = join(dir, 'b.pcap');
    const l = withPcap(inner, file);
    linkShapesAgree(l);
    expect(l.name).to.equal('fake0');
    const seen: number[] = [];
    l.attach((fs) => fs.forEach((f) => seen.push(f.length)));
    expect(l.output(new Uint8Array(60))).to.equal(true);
    inner.rx!([new Uint8Array(70), new Uint8Array(80)]);
    expect(inner.sent).to.have.length(1);
    expect(seen).to.deep.equal([70, 80]);
    l.setUp(false);
    expect(l.up).to.equal(false);
    expect(l.pcap.packets).to.equal(3);
    l.close();
    expect(inner.closed).to.equal(1);
    expect(readFileSync(file).length).to.equal(24 + 3 * 16 + 60 + 70 + 80);
  });

  describe('read back by tshark', function () {
    before(function () {
      if (!haveTshark()) this.skip();
    });

    it('opens an Ethernet capture of a bus exchange and finds nothing malformed', async () => {
      const busDir = join(dir, 'bus');
      const a = withPcap(BusLink.open({ dir: busDir, mac: '02:00:00:00:00:0a' }), join(dir, 'bus.pcap'));
      const b = BusLink.open({ dir: busDir, mac: '02:00:00:00:00:0b' });
      try {
        let got = 0;
        a.attach((fs) => (got += fs.length));
        b.attach((fs) => {
          for (const f of fs) {
            // answer each ARP request as Linux would (RFC 826 reply)
            const r = Uint8Array.from(f.subarray(0, 42));
            r.set(f.subarray(6, 12), 0);
            r.set(b.mac, 6);
            r[21] = 2;
            r.set(f.subarray(22, 32), 32);
            r.set(b.mac, 22);
            r.set(f.subarray(38, 42), 28);
            b.output(r);
          }
        });
        for (let i = 0; i < 3; i++) a.output(arpRequest(a.mac, '10.1.1.2', '10.1.1.1'));
        await waitFor(() => got === 3, 2000, 'three replies');
      } finally {
        a.close();
        b.close();
      }
      const file = join(dir, 'bus.pcap');
      expect(tshark(file, '-Y', 'arp.opcode == 1')).to.have.length(3);
      expect(tshark(file, '-Y', 'arp.opcode == 2 && arp.src.proto_ipv4 == 10.1.1.1')).to.have.length(3);
      expect(tshark(file, '-Y', '_ws.malformed || _ws.expert.severity == error')).to.have.length(0);
    });

    it('records a loopback link as raw IPv4 (LINKTYPE_RAW)', () => {
      const file = join(dir, 'lo.pcap');
      const l = withPcap(new FakeLink('loopback'), file);
      l.output(ipv4Icmp('127.0.0.1', '127.0.0.2'));
      l.close();
      expect(readFileSync(file).readUInt32LE(20)).to.equal(LINKTYPE_RAW);
      expect(tshark(file, '-T', 'fields', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'ip.checksum.status', '-o', 'ip.check_checksum:TRUE')).to.deep.equal([
        '127.0.0.2\t8\t1', // checksum status 1: "Good"
      ]);
    });

    it('captures a real exchange with Linux on a tap (root only)', async function () {
      if (!canUseNetns().ok) this.skip();
      const ns = await Netns.create({ prefix: 'pcap' });
      const net = randomSubnet24();
      const file = join(dir, 'tap.pcap');
      try {
        await ns.addTap('rnp0', { linuxAddr: net.cidr(1) });
        const l = withPcap(TapLink.open({ name: 'rnp0', netns: ns.name }), file);
        let got = 0;
        l.attach((fs) => (got += fs.length));
        const tap = l.inner as TapLink;
        await waitFor(() => tap.device.running, 3000, 'the carrier');
        l.output(arpRequest(l.mac, net.addr(2), net.addr(1)));
        await waitFor(() => got >= 1, 3000, 'the reply');
        l.close();
      } finally {
        await ns.destroy();
      }
      expect(tshark(file, '-Y', `arp.opcode == 2 && arp.src.proto_ipv4 == ${net.addr(1)}`)).to.have.length(1);
    });
  });
});
