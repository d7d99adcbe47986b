/**
 * Offloads through the real stack: TCP segmentation offload out of one
 * stack into a link that segments in software the way the Linux kernel
 * does for a tap (`tcp_gso_segment`), received by a second stack that
 * checks every checksum; and the receive side's flags (verified / partial
 * checksums, super-packets larger than the MTU).
 */
import { expect } from 'chai';
import { ManualClock } from '../../src/kern/clock.js';
import { RxFlag, type Link, type LinkOffloads, type LinkReceiver, type LinkStats, type TxOffload } from '../../src/link/link.js';
import { MemWire, type MemWireLink } from '../../src/link/memwire.js';
import { createNetStack } from '../../src/netstack.js';
import { AF_INET, MSG, SO, SOCK, SOL_SOCKET, SS } from '../../src/socket/constants.js';
import { Errno, StackError } from '../../src/kern/errno.js';
import { makeUio, type CopySource } from '../../src/mbuf/index.js';
import { sockaddrIn } from '../../src/socket/sockaddr.js';
import { foldSum, internetChecksum, pseudoHeaderSum, completePartialChecksum, verifyChecksum } from '../../src/wire/checksum.js';
import { ipv4ToString, macToString } from '../../src/wire/address.js';
import { A, B, Flow, WireHost, pattern, runFlows, type WirePair } from '../tcp/harness.js';

const rd16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const rd32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const wr16 = (b: Uint8Array, o: number, v: number) => {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
};
const wr32 = (b: Uint8Array, o: number, v: number) => {
  wr16(b, o, v >>> 16);
  wr16(b, o + 2, v & 0xffff);
};

/**
 * Cut a TSO super-frame as Linux's `tcp_gso_segment` does: the headers
 * repeated, IP total length / ID / checksum per segment, sequence numbers
 * advanced, FIN and PSH on the last segment only, and each TCP checksum
 * completed from the partial one.
 */
function softGso(frame: Uint8Array, meta: TxOffload): Uint8Array[] {
  const ip = 14;
  const th = meta.csumStart;
  const hdr = meta.hdrLen;
  const src = rd32(frame, ip + 12);
  const dst = rd32(frame, ip + 16);
  const seq0 = rd32(frame, th + 4);
  const flags = frame[th + 13]!;
  const id0 = rd16(frame, ip + 4);
  const total = frame.length - hdr;
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < total; off += meta.gsoSize, i++) {
    const n = Math.min(meta.gsoSize, total - off);
    const seg = new Uint8Array(hdr + n);
    seg.set(frame.subarray(0, hdr));
    seg.set(frame.subarray(hdr + off, hdr + off + n), hdr);
    wr16(seg, ip + 2, hdr - ip + n);
    wr16(seg, ip + 4, (id0 + i) & 0xffff);
    wr16(seg, ip + 10, 0);
    wr16(seg, ip + 10, internetChecksum(seg, ip, th - ip));
    wr32(seg, th + 4, (seq0 + off) >>> 0);
    if (off + n < total) seg[th + 13] = flags & ~0x09; // FIN, PSH on the last only
    wr16(seg, th + 16, foldSum(pseudoHeaderSum(src, dst, 6, seg.length - th)));
    completePartialChecksum(seg, th, meta.csumOffset);
    out.push(seg);
  }
  return out;
}

/** A MemWire link that offers TSO and segments in software (what the kernel does behind a tap). */
class SoftTsoLink implements Link {
  readonly offloads: LinkOffloads = { tso4: true, maxGsoBytes: 65536 };
  readonly gso: TxOffload[] = [];
  readonly sizes: number[] = [];
  /** TCP payload lengths of the data segments below `mss` this link was given, either way (a sub-MSS tail). */
  readonly small: number[] = [];
  mss = 1448;
  /** Super-frames whose partial checksum was not the folded pseudo-header sum over the whole length. */
  badPartial = 0;
  constructor(readonly inner: MemWireLink) {}
  get name() {
    return this.inner.name;
  }
  get kind() {
    return this.inner.kind;
  }
  get mtu() {
    return this.inner.mtu;
  }
  get mac() {
    return this.inner.mac;
  }
  get up() {
    return this.inner.up;
  }
  output(frame: Uint8Array): boolean {
    this.#note(frame);
    return this.inner.output(frame);
  }
  #note(frame: Uint8Array): void {
    if (frame.length < 34 || rd16(frame, 12) !== 0x0800 || frame[23] !== 6) return;
    const ihl = (frame[14]! & 0x0f) * 4;
    const thl = (frame[14 + ihl + 12]! >> 4) * 4;
    const payload = rd16(frame, 16) - ihl - thl;
    if (payload > 0 && payload < this.mss) this.small.push(payload);
  }
  outputGso(frame: Uint8Array, meta: TxOffload): boolean {
    this.#note(frame);
    this.gso.push(meta);
    this.sizes.push(frame.length);
    const th = meta.csumStart;
    const want = foldSum(pseudoHeaderSum(rd32(frame, 26), rd32(frame, 30), 6, frame.length - th));
    if (rd16(frame, th + meta.csumOffset) !== want) this.badPartial++;
    if (meta.gsoSize === 0) {
      completePartialChecksum(frame, th, meta.csumOffset);
      return this.inner.output(frame);
    }
    let ok = true;
    for (const s of softGso(frame, meta)) ok = this.inner.output(s) && ok;
    return ok;
  }
  attach(r: LinkReceiver): void {
    this.inner.attach(r);
  }
  setUp(up: boolean): void {
    this.inner.setUp(up);
  }
  setMtu(mtu: number): void {
    this.inner.setMtu(mtu);
  }
  stats(): LinkStats {
    return this.inner.stats();
  }
  close(): void {
    this.inner.close();
  }
}

/** Two real stacks on a MemWire, A's side through `wrapA` (e.g. a SoftTsoLink). */
function pairWith(wrapA: (l: MemWireLink) => Link, tso = 1) {
  const clock = new ManualClock(1000);
  const wire = new MemWire({ clock, seed: 3 });
  const la = wire.attachLink({ name: 'wa', mtu: 1500, queueLimit: 1 << 16 });
  const lb = wire.attachLink({ name: 'wb', mtu: 1500, queueLimit: 1 << 16 });
  const linkA = wrapA(la);
  const a = new WireHost(A, clock, linkA as unknown as MemWireLink, 16384, { tso });
  const b = new WireHost(B, clock, lb, 16384, {});
  a.net.stack.arpAdd(ipv4ToString(B), macToString(lb.mac));
  b.net.stack.arpAdd(ipv4ToString(A), macToString(la.mac));
  const pair = {
    clock,
    a,
    b,
    flush(maxRounds = 100_000) {
      let i = 0;
      for (; i < maxRounds; i++) {
        const before = wire.statsRef().delivered;
        wire.flush();
        if (wire.statsRef().delivered === before) break;
      }
      return i;
    },
    close() {
      a.net.close();
      b.net.close();
      wire.close();
    },
  };
  return { pair, linkA };
}

/** A connected pair of TCP sockets, A's end and B's (accepted) end. */
async function connectPair(p: ReturnType<typeof pairWith>['pair']): Promise<{ aFd: number; bFd: number }> {
  const lfd = p.b.table.socket(AF_INET, SOCK.STREAM, 0).fd;
  expect(p.b.table.bind(lfd, sockaddrIn(0, 80))).to.equal(0);
  expect(p.b.table.listen(lfd, 8)).to.equal(0);
  const aFd = p.a.table.socket(AF_INET, SOCK.STREAM, 0).fd;
  const c = p.a.table.connect(aFd, sockaddrIn(B, 80));
  for (let i = 0; i < 1000 && p.b.table.get(lfd)!.q.length === 0; i++) {
    p.flush();
    p.clock.advance(1);
  }
  expect(await c).to.equal(0);
  const acc = await p.b.table.accept(lfd);
  expect(acc.errno).to.equal(0);
  return { aFd, bFd: acc.fd };
}

/** Delivers everything and lets the delayed-ACK timer run (bounded), so that all sent data is ACKed. */
function settle(p: ReturnType<typeof pairWith>['pair'], rounds = 50): void {
  for (let i = 0; i < rounds; i++) {
    p.flush();
    p.clock.advance(20);
  }
  p.flush();
}

async function bulk(p: ReturnType<typeof pairWith>['pair'], bytes: number) {
  const { aFd, bFd } = await connectPair(p);
  const f = new Flow(p.a.table.get(aFd)!, p.b.table.get(bFd)!, bytes, pattern(1 << 20, 5));
  runFlows(p as unknown as WirePair, [f], 120_000, 2_000_000);
  expect(f.received).to.equal(bytes);
  expect(f.rxHash.digest('hex')).to.equal(f.txHash.digest('hex'));
}

describe('offloads through the stack', function () {
  this.timeout(30_000);

  describe('TCP segmentation offload (output)', () => {
    it('sends super-segments of whole MSS with a partial checksum; the segmented stream arrives intact', async () => {
      const { pair, linkA } = pairWith((l) => new SoftTsoLink(l));
      const tso = linkA as SoftTsoLink;
      try {
        await bulk(pair, 4 << 20);
        const st = pair.a.tcp.stats;
        expect(st.tsoSegments).to.be.greaterThan(0);
        expect(st.tsoBytes).to.be.greaterThan(2 << 20); // most of the data went as super-segments
        expect(tso.gso.length).to.equal(st.tsoSegments);
        expect(tso.badPartial, 'partial checksum = folded pseudo-header sum').to.equal(0);
        const mss = 1448; // 1500 - 40 - 12 (timestamps)
        for (const m of tso.gso) {
          expect(m).to.include({ gsoSize: mss, csumStart: 34, csumOffset: 16, hdrLen: 34 + 32 });
        }
        expect(Math.max(...tso.sizes)).to.be.greaterThan(1514).and.at.most(65536);
        // Whole segments only: a sub-MSS tail goes alone, judged by Nagle as without TSO.
        expect(tso.sizes.filter((s) => (s - 66) % mss !== 0)).to.deep.equal([]);
        expect(pair.a.net.stack.etherstat.tsoFrames).to.equal(st.tsoSegments);
        expect(pair.b.tcp.stats.rcvbadsum).to.equal(0);
        expect(pair.b.net.stack.ipstat.badsum).to.equal(0);
      } finally {
        pair.close();
      }
    });

    it('coalesces the one-cluster user sends of a turn into large super-segments (autocork)', async () => {
      const { pair } = pairWith((l) => new SoftTsoLink(l));
      try {
        await bulk(pair, 4 << 20);
        const st = pair.a.tcp.stats;
        // Without it every 2 KiB copy chunk was sent at once: 1-2 MSS per segment.
        expect(st.sndCorked).to.be.greaterThan(0);
        expect(st.tsoBytes / st.tsoSegments).to.be.greaterThan(16 * 1448);
        expect(st.tsoBytes).to.be.greaterThan(3 << 20);
      } finally {
        pair.close();
      }
    });

    it("holds each pass's sub-MSS tail while the send copies its next pass (SS_MORETOCOME): one tail per call, not one per COPYIN", async () => {
      const { pair, linkA } = pairWith((l) => new SoftTsoLink(l));
      const tso = linkA as SoftTsoLink;
      try {
        const { aFd, bFd } = await connectPair(pair);
        const total = 512 * 1024; // 16 passes of one 32 KiB COPYIN (MCLNUM 16, window 1): 22 MSS + 912 bytes each
        const data = pattern(total, 9);
        let copies = 0;
        const tp = (pair.a.table.get(aFd)!.pcb as { ppcb: { timers: { main: { kind: string } }; sndMax: number; sndUna: number } }).ppcb;
        const timers: string[] = [];
        // Each copy is a round trip: before it is answered, everything in flight arrives and is ACKed,
        // so without the hold every pass's tail would find nothing outstanding and go alone.
        const source: CopySource = {
          async copyin(uaddr, dsts) {
            copies++;
            // The previous pass is in flight: the retransmission timer covers it (not the persist
            // timer the held tail armed while nothing was outstanding).
            if (tp.sndMax !== tp.sndUna) timers.push(tp.timers.main.kind);
            await Promise.resolve();
            pair.flush();
            let o = uaddr;
            for (const d of dsts) {
              d.set(data.subarray(o, o + d.length));
              o += d.length;
            }
          },
        };
        tso.small.length = 0;
        const r = await pair.a.table.sendto(aFd, makeUio([{ base: 0, len: total }], 'write'), source);
        expect(r).to.deep.include({ errno: 0, bytes: total });
        expect(copies).to.equal(16);
        expect(timers).to.have.length(15);
        expect(timers.filter((k) => k !== 'retransmit')).to.deep.equal([]);
        settle(pair);
        // Only the call's own last tail is below the MSS: 524288 = 362 × 1448 + 112.
        expect(tso.small).to.deep.equal([total % 1448]);
        expect(pair.a.table.get(aFd)!.state & SS.MORETOCOME).to.equal(0);
        const got = new Uint8Array(total);
        const rd = await pair.b.table.recvfrom(bFd, makeUio([{ base: 0, len: total }], 'read'), { copyout: (u: number, srcs: readonly Uint8Array[]) => { let o = u; for (const s of srcs) { got.set(s, o); o += s.length; } } }, MSG.WAITALL);
        expect(rd.bytes).to.equal(total);
        expect(Buffer.from(got).equals(Buffer.from(data))).to.equal(true);
      } finally {
        pair.close();
      }
    });

    it('a send whose copy fails in the middle (EFAULT) releases the held tail at once (no wait for a timer)', async () => {
      const { pair, linkA } = pairWith((l) => new SoftTsoLink(l));
      const tso = linkA as SoftTsoLink;
      try {
        const { aFd } = await connectPair(pair);
        let copies = 0;
        const source: CopySource = {
          async copyin(_uaddr, dsts) {
            await Promise.resolve();
            settle(pair, 10); // all in flight is ACKed (200 ms: the delayed ACK, not the persist timer): the held tail is all that is left
            if (++copies === 3) throw new StackError(Errno.EFAULT, 'client answered garbage');
            for (const d of dsts) d.fill(7);
          },
        };
        const so = pair.a.table.get(aFd)!;
        const r = await pair.a.table.sendto(aFd, makeUio([{ base: 0, len: 256 * 1024 }], 'write'), source);
        // Two passes were appended before the third copy failed: the call reports them, and EFAULT.
        expect(r).to.deep.include({ errno: Errno.EFAULT, bytes: 2 * 32 * 1024 });
        expect(so.state & SS.MORETOCOME).to.equal(0);
        // The held tail went to the link when the call ended, not after a timer or an ACK.
        expect(tso.small).to.deep.equal([(2 * 32 * 1024) % 1448]);
        settle(pair);
        expect(so.snd.cc).to.equal(0);
      } finally {
        pair.close();
      }
    });

    it('is off with net.inet.tcp.tso = 0, and on a link that offers nothing', async () => {
      for (const [wrap, tso] of [
        [(l: MemWireLink) => new SoftTsoLink(l), 0],
        [(l: MemWireLink) => l, 1],
      ] as const) {
        const { pair, linkA } = pairWith(wrap, tso);
        try {
          await bulk(pair, 1 << 20);
          expect(pair.a.tcp.stats.tsoSegments).to.equal(0);
          if (linkA instanceof SoftTsoLink) expect(linkA.gso.length).to.equal(0);
        } finally {
          pair.close();
        }
      }
    });
  });

  describe('SS_MORETOCOME never leaves a held tail to a timer (the send path stall hunt)', () => {
    /** One sendto scenario: its sizes, the copy window, the copy's latency and the receiver's pace. */
    interface Case {
      /** Bytes of each sendto in turn (a client gathers writes into one call of up to 256 KiB). */
      sends: number[];
      copyWindow: number;
      /** Event-loop rounds (1 virtual ms each) a copy waits before it is answered. */
      copyDelay: number;
      /** B's SO_RCVBUF (0: default): a small one fills the window while the tail is held. */
      rcvbuf: number;
      /** A's SO_SNDBUF (0: default): a small one makes the send wait for room mid-call. */
      sndbuf: number;
      /** B reads every this many virtual ms (all it has). */
      readEvery: number;
      /** The copy number (1-based, over all calls) that fails with EFAULT; 0: none. */
      faultAt: number;
    }

    /**
     * Runs `c` on a fresh pair: A's sends one after another (as a client
     * does), B draining at its pace, the clock moved 1 ms per event-loop
     * round. Returns the counts a stall would show: timer expiries
     * (persist, retransmit, tail-loss probe) and the virtual ms from the
     * first send to the last byte delivered.
     */
    async function runCase(c: Case) {
      const { pair } = pairWith((l) => new SoftTsoLink(l));
      try {
        pair.a.net.sockets.tunables.copyWindow = c.copyWindow;
        const lfd = pair.b.table.socket(AF_INET, SOCK.STREAM, 0).fd;
        if (c.rcvbuf > 0) expect(pair.b.table.setsockopt(lfd, SOL_SOCKET, SO.RCVBUF, c.rcvbuf)).to.equal(0);
        expect(pair.b.table.bind(lfd, sockaddrIn(0, 80))).to.equal(0);
        expect(pair.b.table.listen(lfd, 8)).to.equal(0);
        const aFd = pair.a.table.socket(AF_INET, SOCK.STREAM, 0).fd;
        if (c.sndbuf > 0) expect(pair.a.table.setsockopt(aFd, SOL_SOCKET, SO.SNDBUF, c.sndbuf)).to.equal(0);
        const conn = pair.a.table.connect(aFd, sockaddrIn(B, 80));
        for (let i = 0; i < 1000 && pair.b.table.get(lfd)!.q.length === 0; i++) {
          pair.flush();
          pair.clock.advance(1);
        }
        expect(await conn).to.equal(0);
        const acc = await pair.b.table.accept(lfd);
        expect(acc.errno).to.equal(0);
        const bFd = acc.fd;
        const st = pair.a.tcp.stats;
        const st0 = { persist: st.persisttimeo, rexmt: st.rexmttimeo, tlp: st.tlpProbes };
        let copies = 0;
        const source: CopySource = {
          async copyin(_uaddr, dsts) {
            const n = ++copies;
            for (let i = 0; i < c.copyDelay; i++) await new Promise((r) => setImmediate(r));
            if (n === c.faultAt) throw new StackError(Errno.EFAULT, 'client answered garbage');
            for (const d of dsts) d.fill(n & 0xff);
          },
        };
        let sent = 0;
        let done = false;
        const t0 = pair.clock.now();
        const sender = (async () => {
          for (const len of c.sends) {
            const r = await pair.a.table.sendto(aFd, makeUio([{ base: 0, len }], 'write'), source);
            sent += r.bytes;
            if (r.errno !== 0) break;
          }
          done = true;
        })();
        let got = 0;
        const sink = { copyout: (_u: number, srcs: readonly Uint8Array[]) => { for (const s of srcs) got += s.length; } };
        let tEnd = -1;
        for (let ms = 0; ms < 20_000; ms++) {
          pair.flush();
          if (ms % c.readEvery === 0) {
            for (let k = 0; k < 64; k++) {
              const r = await pair.b.table.recvfrom(bFd, makeUio([{ base: 0, len: 1 << 20 }], 'read'), sink, MSG.DONTWAIT);
              if (r.bytes === 0) break;
            }
          }
          if (done && got === sent) {
            tEnd = pair.clock.now() - t0;
            break;
          }
          pair.clock.advance(1);
          await new Promise((r) => setImmediate(r));
        }
        await sender;
        const out = { copies, sent, got, ms: tEnd, persist: st.persisttimeo - st0.persist, rexmt: st.rexmttimeo - st0.rexmt, tlp: st.tlpProbes - st0.tlp, held: (pair.a.table.get(aFd)!.state & SS.MORETOCOME) !== 0 };
        return out;
      } finally {
        pair.close();
      }
    }

    // The edge cases of the hold: calls that end at an MSS multiple, at a
    // copy chunk boundary (32 KiB) and one byte past it, a partial last
    // cluster, a sub-MSS call, a whole gather list (256 KiB); copy window 1
    // and 4; copies answered at once or a few ms later (ACKs for all in
    // flight arrive first, leaving only the held tail); a small receive
    // buffer (the window full when the tail is released) and a small send
    // buffer (the call waits for room between passes, flag set); a reader
    // that lags; a copy failing (EFAULT) mid-call. No loss on the wire: any
    // persist, retransmission or tail-loss-probe expiry is data that sat
    // under a timer instead of going (a stall of 200 ms or more).
    it('no call shape leaves data to a timer: MSS multiples, chunk boundaries, full windows, waits for room, copy window 1 and 4, EFAULT', async () => {
      const mss = 1448;
      const sends = [mss * 22, mss * 23, 32 * 1024, 32 * 1024 + 1, 65536, 256 * 1024, 200 * 1024 + 7, 1000, mss, 131072 - 5];
      const shapes = [
        { rcvbuf: 0, sndbuf: 0, readEvery: 1 },
        { rcvbuf: 8192, sndbuf: 16384, readEvery: 1 },
        { rcvbuf: 32768, sndbuf: 65536, readEvery: 5 },
      ];
      let k = 0;
      for (const copyWindow of [1, 4]) {
        for (const copyDelay of [0, 3]) {
          for (const faultAt of [0, 3]) {
            for (const sh of shapes) {
              const c: Case = { sends, copyWindow, copyDelay, faultAt, ...sh };
              const r = await runCase(c);
              k++;
              const what = JSON.stringify(c);
              expect(r.ms, `${what}: all delivered`).to.be.at.least(0);
              expect(r.got, what).to.equal(r.sent);
              if (faultAt === 0) expect(r.sent, what).to.equal(sends.reduce((a, b) => a + b, 0));
              expect({ persist: r.persist, rexmt: r.rexmt, tlp: r.tlp, held: r.held }, what).to.deep.equal({ persist: 0, rexmt: 0, tlp: 0, held: false });
            }
          }
        }
      }
      expect(k).to.equal(24);
    });
  });

  describe('receive flags (checksum offload, large receive)', () => {
    /** A stack on a link whose receiver the test calls itself. */
    function rxStack() {
      let rx: LinkReceiver | undefined;
      const link: Link = {
        name: 'rx0',
        kind: 'ethernet',
        mtu: 1500,
        mac: Uint8Array.of(2, 0, 0, 0, 0, 2),
        up: true,
        offloads: { rxCsum: true, lro: true },
        output: () => true,
        attach: (r) => (rx = r),
        setUp: () => {},
        setMtu: () => {},
        stats: () => ({ rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDrops: 0, txDrops: 0, errors: 0 }),
        close: () => {},
      };
      const net = createNetStack({ nmbclusters: 256 });
      net.stack.attachLink(link, { addrs: ['10.0.0.2/24'] });
      const t = net.newProcess();
      const fd = t.socket(AF_INET, SOCK.DGRAM, 0).fd;
      expect(t.bind(fd, sockaddrIn(0, 9000))).to.equal(0);
      return { net, t, fd, deliver: (f: Uint8Array, flags?: number) => rx!([f], flags === undefined ? undefined : Uint8Array.of(flags)) };
    }

    /** Ethernet + IPv4 + UDP to 10.0.0.2:9000 with `len` payload bytes; `sum` 'good', 'partial' or 'bad'. */
    function udpFrame(len: number, sum: 'good' | 'partial' | 'bad'): Uint8Array {
      const f = new Uint8Array(14 + 20 + 8 + len);
      f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
      const src = 0x0a000001;
      const dst = 0x0a000002;
      f.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0], 14);
      wr16(f, 16, 28 + len);
      wr32(f, 26, src);
      wr32(f, 30, dst);
      wr16(f, 24, internetChecksum(f, 14, 20));
      wr16(f, 34, 4000);
      wr16(f, 36, 9000);
      wr16(f, 38, 8 + len);
      for (let i = 0; i < len; i++) f[42 + i] = i & 0xff;
      wr16(f, 40, foldSum(pseudoHeaderSum(src, dst, 17, 8 + len))); // partial
      if (sum === 'good') completePartialChecksum(f, 34, 6);
      if (sum === 'bad') wr16(f, 40, 0x1234);
      expect(verifyChecksum(f, 34, 8 + len, pseudoHeaderSum(src, dst, 17, 8 + len))).to.equal(sum === 'good');
      return f;
    }

    it('trusts a partial or verified checksum only when the link says so', () => {
      const s = rxStack();
      try {
        const udp = s.net.stack.protocol(17) as unknown as { stats: { badsum: number } };
        s.deliver(udpFrame(100, 'partial')); // no flags: verified, and wrong
        s.deliver(udpFrame(100, 'bad'));
        expect(udp.stats.badsum).to.equal(2);
        s.deliver(udpFrame(100, 'partial'), RxFlag.CSUM_PARTIAL);
        s.deliver(udpFrame(100, 'bad'), RxFlag.CSUM_VALID); // the device said so
        s.deliver(udpFrame(100, 'good'));
        expect(udp.stats.badsum).to.equal(2);
        expect(s.net.stack.etherstat.rxCsumOffload).to.equal(2);
        expect(s.t.get(s.fd)!.rcv.cc).to.equal(300);
      } finally {
        s.net.close();
      }
    });

    it('accepts a super-packet longer than the MTU as one frame, and counts it', () => {
      const s = rxStack();
      try {
        s.deliver(udpFrame(9000, 'partial'), RxFlag.GSO | RxFlag.CSUM_PARTIAL);
        expect(s.net.stack.etherstat.lroPackets).to.equal(1);
        expect(s.t.get(s.fd)!.rcv.cc).to.equal(9000);
      } finally {
        s.net.close();
      }
    });
  });
});
