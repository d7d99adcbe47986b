/**
 * BusLink: the rootless shared segment over Unix datagram sockets. Needs no
 * root and no network: everything is files in a temporary directory.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BusLink, TapError } from '../src/index.js';
import { native } from '../src/native.js';
import { BROADCAST, etherFrame, linkShapesAgree, macStr, waitFor } from './helpers.js';

const TYPE = 0x88b5; // IEEE 802 "local experimental" EtherType

function frame(dst: Uint8Array, src: Uint8Array, seq: number, size = 100): Uint8Array {
  const p = new Uint8Array(size - 14);
  new DataView(p.buffer).setUint32(2, seq);
  return etherFrame(dst, src, TYPE, p);
}
const seqOf = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset).getUint32(16);

/** Collects copies of what a link receives. */
function collect(l: BusLink): Uint8Array[] {
  const got: Uint8Array[] = [];
  l.attach((frames) => {
    for (const f of frames) got.push(Uint8Array.from(f)); // lent views: copy
  });
  return got;
}

describe('tap-bridge: BusLink (Unix datagram bus)', function () {
  let dir: string;
  const links: BusLink[] = [];
  const open = (opts: Omit<Parameters<typeof BusLink.open>[0], 'dir'> = {}): BusLink => {
    const l = BusLink.open({ dir, refreshMs: 20, ...opts });
    links.push(l);
    return l;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rn-bus-'));
  });
  afterEach(() => {
    for (const l of links.splice(0)) l.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('binds <id>@<mac>.sock and is a Link', () => {
    const a = open({ id: 'alpha', mac: '02:00:00:00:00:0a' });
    linkShapesAgree(a);
    expect(readdirSync(dir)).to.deep.equal(['alpha@02000000000a.sock']);
    expect(a.kind).to.equal('ethernet');
    expect(a.mtu).to.equal(1500);
    a.close();
    a.close();
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('delivers unicast only to the addressed member and broadcast to all others', async () => {
    const a = open({ mac: '02:00:00:00:00:0a' });
    const b = open({ mac: '02:00:00:00:00:0b' });
    const c = open({ mac: '02:00:00:00:00:0c' });
    const [ga, gb, gc] = [collect(a), collect(b), collect(c)];
    expect(a.members().map((m) => macStr(m.mac)).sort()).to.deep.equal(['02:00:00:00:00:0b', '02:00:00:00:00:0c']);

    expect(a.output(frame(b.mac, a.mac, 1))).to.equal(true);
    await waitFor(() => gb.length === 1, 2000, 'b to get the unicast');
    expect(seqOf(gb[0]!)).to.equal(1);
    expect(a.output(frame(BROADCAST, a.mac, 2))).to.equal(true);
    await waitFor(() => gb.length === 2 && gc.length === 1, 2000, 'the broadcast at b and c');
    await new Promise((r) => setTimeout(r, 30));
    expect(gc.map(seqOf)).to.deep.equal([2]); // c never saw the unicast
    expect(ga).to.have.length(0); // the sender does not hear itself
    expect(b.stats().rxFiltered + c.stats().rxFiltered).to.equal(0);
    expect(a.stats()).to.include({ txFrames: 2, txDrops: 0, errors: 0, members: 2 });
  });

  it('keeps order and loses nothing past the kernel queue limit (EAGAIN retried)', async () => {
    const a = open({ perMemberQueue: 1000 });
    const b = open();
    const gb = collect(b);
    // net.unix.max_dgram_qlen is 10 by default: 300 frames in one tick overrun it.
    for (let i = 0; i < 300; i++) expect(a.output(frame(b.mac, a.mac, i, 1514))).to.equal(true);
    await waitFor(() => gb.length === 300, 5000, '300 frames at b');
    expect(gb.map(seqOf)).to.deep.equal(Array.from({ length: 300 }, (_, i) => i));
    expect(a.stats().txQueued).to.equal(0);
  });

  it('drops and counts copies beyond the per-member queue', async () => {
    const a = open({ perMemberQueue: 5 });
    const b = open();
    collect(b);
    for (let i = 0; i < 100; i++) a.output(frame(b.mac, a.mac, i));
    const drops = a.stats().txDrops;
    expect(drops).to.be.greaterThan(0);
    await waitFor(() => b.stats().rxFrames + drops === 100, 3000, 'every frame received or counted');
  });

  it('filters and counts frames not addressed to the member', async () => {
    const b = open({ mac: '02:00:00:00:00:0b' });
    const gb = collect(b);
    // Sent straight at b's socket, past a sender's own filtering.
    const raw = BusLink.open({ dir: join(dir, 'other'), mac: '02:00:00:00:00:99' });
    links.push(raw);
    const io = new (native().FrameIo)(native().openUnixDgram(join(dir, 'other', 'x@020000000098.sock'), 0), () => {}, () => {});
    try {
      expect(io.sendto(b.path, frame(Uint8Array.of(2, 0, 0, 0, 0, 0x0c), raw.mac, 1))).to.equal(0);
      expect(io.sendto(b.path, new Uint8Array(5))).to.equal(0); // runt
      expect(io.sendto(b.path, frame(b.mac, raw.mac, 2))).to.equal(0);
      await waitFor(() => gb.length === 1, 2000, 'the one good frame');
      expect(b.stats()).to.include({ rxFrames: 1, rxFiltered: 1, rxDrops: 2 });
    } finally {
      io.close();
    }
  });

  it('removes a stale socket file (ECONNREFUSED) and leaves live members and other files alone', async () => {
    const a = open();
    const b = open();
    // A member that died without closing: its socket file stays behind.
    const stale = join(dir, 'dead@020000000077.sock');
    native().closeFd(native().openUnixDgram(stale, 0));
    // A regular file that merely looks like a member.
    const notSocket = join(dir, 'fake@020000000066.sock');
    writeFileSync(notSocket, '');
    const gb = collect(b);
    expect(a.output(frame(BROADCAST, a.mac, 1))).to.equal(true);
    await waitFor(() => gb.length === 1, 2000, 'the broadcast at b');
    expect(existsSync(stale)).to.equal(false);
    expect(existsSync(notSocket)).to.equal(true);
    expect(existsSync(b.path)).to.equal(true);
    expect(a.stats().staleRemoved).to.equal(1);
  });

  it('reclaims its own stale file on open, but refuses a live duplicate', () => {
    const path = join(dir, 'same@020000000055.sock');
    native().closeFd(native().openUnixDgram(path, 0));
    const a = open({ id: 'same', mac: '02:00:00:00:00:55' }); // reclaimed
    expect(a.path).to.equal(path);
    expect(() => open({ id: 'same', mac: '02:00:00:00:00:55' }))
      .to.throw(TapError, /already on/)
      .with.property('code', 'EADDRINUSE');
  });

  it('rejects bad ids, group MACs, bad MTUs and over-long paths with clear errors', () => {
    expect(() => open({ id: 'a/b' })).to.throw(RangeError, /bad bus member id/);
    expect(() => open({ mac: '01:00:5e:00:00:01' })).to.throw(RangeError, /group address/);
    expect(() => open({ mtu: 20 })).to.throw(RangeError, /bad MTU/);
    const deep = join(dir, 'd'.repeat(100));
    expect(() => BusLink.open({ dir: deep })).to.throw(TapError).with.property('code', 'ENAMETOOLONG');
  });

  it('drops both ways while down, counting', async () => {
    const a = open();
    const b = open();
    const gb = collect(b);
    b.setUp(false);
    a.output(frame(b.mac, a.mac, 1));
    await waitFor(() => b.stats().rxDrops === 1, 2000, 'a counted drop at b');
    expect(gb).to.have.length(0);
    expect(b.output(frame(a.mac, b.mac, 1))).to.equal(false);
    expect(b.stats().txDrops).to.equal(1);
  });

  it('exchanges frames with a member in another process', async function () {
    this.timeout(20000);
    const a = open({ mac: '02:00:00:00:00:0a' });
    const ga = collect(a);
    const peerMac = '02:00:00:00:00:0d';
    const script = fileURLToPath(new URL('./fixtures/bus-peer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir, 'peer', peerMac], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await waitFor(() => out.includes('ready'), 15000, 'the peer process');
      const mac = Uint8Array.of(2, 0, 0, 0, 0, 0x0d);
      // A third member in this process must not see the unicast exchange.
      const c = open();
      const gc = collect(c);
      for (let i = 0; i < 50; i++) a.output(frame(mac, a.mac, i));
      a.output(frame(BROADCAST, a.mac, 1000));
      await waitFor(() => ga.length === 51, 5000, '51 echoes');
      expect(ga.every((f) => f[14] === 0xee && macStr(f.subarray(6, 12)) === peerMac)).to.equal(true);
      expect(ga.map(seqOf).sort((x, y) => x - y)).to.deep.equal([...Array.from({ length: 50 }, (_, i) => i), 1000]);
      expect(gc.map(seqOf)).to.deep.equal([1000]); // only the broadcast
      child.stdin!.end();
      await new Promise((r) => child.once('close', r));
      const stats = JSON.parse(/stats (.*)/.exec(out)![1]!) as { rxFrames: number; txFrames: number };
      expect(stats).to.include({ rxFrames: 51, txFrames: 51 });
      expect(existsSync(join(dir, 'peer@02000000000d.sock'))).to.equal(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
