import { expect } from 'chai';
import fc from 'fast-check';
import {
  FrameReader,
  HEADER_SIZE,
  Hdr,
  MsgClass,
  MsgType,
  encodeFrame,
  encodeFrameCopy,
  makeBanner,
  parseBanner,
  parseServerUrl,
  writeFrame,
  type FrameMeta,
  type PayloadSink,
} from '../../src/proto/index.js';
import { SYSCALL_SCHEMAS, checkArgs } from '../../src/proto/index.js';

interface Got {
  frames: { meta: FrameMeta; payload: Buffer | undefined }[];
  malformed: string[];
  fatal: string[];
}

function collector(sinkFor?: (m: FrameMeta) => PayloadSink | undefined): { reader: FrameReader; got: Got } {
  const got: Got = { frames: [], malformed: [], fatal: [] };
  const reader = new FrameReader(
    {
      payloadSink: (m) => sinkFor?.(m),
      frame: (meta, payload) => got.frames.push({ meta, payload: payload ? Buffer.from(payload) : undefined }),
      malformed: (_m, r) => got.malformed.push(r),
      fatal: (r) => got.fatal.push(r),
    },
    { maxFrame: 1 << 20 },
  );
  return { reader, got };
}

/** Frames written through writeFrame, captured as one byte stream. */
function capture(fn: (w: { write(c: Uint8Array): boolean; cork(): void; uncork(): void }) => void): Buffer {
  const parts: Buffer[] = [];
  fn({ write: (c) => (parts.push(Buffer.from(c)), true), cork() {}, uncork() {} });
  return Buffer.concat(parts);
}

const sample = (): Buffer =>
  capture((w) => {
    writeFrame(w, MsgClass.REQ, MsgType.SYSCALL, 7, { name: 'write', args: { fd: 3, buf: 1, len: 5 } });
    writeFrame(w, MsgClass.RESP, MsgType.COPYIN, 9, undefined, [Buffer.from('hel'), Buffer.from('lo')]);
    writeFrame(w, MsgClass.REQ, MsgType.COPYOUT, 10, { h: 1, o: 0 }, [Buffer.alloc(300, 0xab)]);
    writeFrame(w, MsgClass.REQ, MsgType.PING, 11, undefined);
  });

function checkSample(got: Got, malformed = 0): void {
  expect(got.fatal).to.deep.equal([]);
  expect(got.malformed).to.have.length(malformed);
  expect(got.frames.map((f) => f.meta.reqno)).to.deep.equal([7, 9, 10, 11]);
  expect(got.frames[0]!.meta.head).to.deep.equal({ name: 'write', args: { fd: 3, buf: 1, len: 5 } });
  expect(got.frames[1]!.payload!.toString()).to.equal('hello');
  expect(got.frames[1]!.meta.cls).to.equal(MsgClass.RESP);
  expect(got.frames[2]!.payload!.equals(Buffer.alloc(300, 0xab))).to.equal(true);
  expect(got.frames[3]!.meta.type).to.equal(MsgType.PING);
  expect(got.frames[3]!.payload).to.equal(undefined);
}

describe('proto/wire: framing', () => {
  it('round-trips many frames delivered in one chunk', () => {
    const { reader, got } = collector();
    reader.push(sample());
    checkSample(got);
  });

  it('round-trips with the stream split at every byte boundary (two pieces)', () => {
    const bytes = sample();
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { reader, got } = collector();
      reader.push(bytes.subarray(0, cut));
      reader.push(bytes.subarray(cut));
      checkSample(got);
    }
  });

  it('round-trips one byte at a time', () => {
    const bytes = sample();
    const { reader, got } = collector();
    for (let i = 0; i < bytes.length; i++) reader.push(bytes.subarray(i, i + 1));
    checkSample(got);
  });

  it('round-trips under arbitrary chunkings (property)', () => {
    const bytes = sample();
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const { reader, got } = collector();
        for (let i = 1; i < points.length; i++) reader.push(bytes.subarray(points[i - 1], points[i]));
        checkSample(got);
      }),
      { numRuns: 200 },
    );
  });

  it('streams a payload into a sink piece by piece with correct offsets, no gathering', () => {
    const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 0xff));
    const bytes = capture((w) => writeFrame(w, MsgClass.RESP, MsgType.COPYIN, 1, undefined, [payload]));
    const dst = Buffer.alloc(5000);
    let pieces = 0;
    const { reader, got } = collector(() => (piece, at) => {
      pieces++;
      dst.set(piece, at);
    });
    for (let i = 0; i < bytes.length; i += 777) reader.push(bytes.subarray(i, i + 777));
    expect(got.frames).to.have.length(1);
    expect(got.frames[0]!.payload).to.equal(undefined);
    expect(dst.equals(payload)).to.equal(true);
    expect(pieces).to.be.greaterThan(1);
  });

  it('encodeFrameCopy produces the same bytes as writeFrame and owns its copy', () => {
    const src = Buffer.from('abcdef');
    const a = encodeFrameCopy(MsgClass.REQ, MsgType.COPYOUT, 5, { h: 2, o: 8 }, [src.subarray(0, 2), src.subarray(2)]);
    const b = capture((w) => writeFrame(w, MsgClass.REQ, MsgType.COPYOUT, 5, { h: 2, o: 8 }, [src]));
    expect(a.equals(b)).to.equal(true);
    src.fill(0);
    expect(a.subarray(a.length - 6).toString()).to.equal('abcdef');
  });

  it('reports a length shorter than the header as fatal and stops', () => {
    const f = encodeFrame(MsgClass.REQ, MsgType.PING, 1, undefined);
    f.writeUInt32LE(3, Hdr.LEN);
    const { reader, got } = collector();
    reader.push(Buffer.concat([f, sample()]));
    expect(got.fatal).to.have.length(1);
    expect(got.frames).to.have.length(0);
    expect(reader.dead).to.equal(true);
  });

  it('reports an oversized length as fatal before buffering anything', () => {
    const f = encodeFrame(MsgClass.REQ, MsgType.SYSCALL, 1, undefined);
    f.writeUInt32LE(0xffffffff, Hdr.LEN);
    const { reader, got } = collector();
    reader.push(f);
    expect(got.fatal[0]).to.match(/exceeds the limit/);
    expect(reader.pendingBytes).to.be.lessThan(64);
  });

  it('reports a head longer than the frame and an unknown class as fatal', () => {
    const f = encodeFrame(MsgClass.REQ, MsgType.SYSCALL, 1, { a: 1 });
    f.writeUInt32LE(1000, Hdr.HEADLEN);
    const c1 = collector();
    c1.reader.push(f);
    expect(c1.got.fatal[0]).to.match(/head length/);
    const g = encodeFrame(MsgClass.REQ, MsgType.SYSCALL, 1, undefined);
    g.writeUInt8(9, Hdr.CLASS);
    const c2 = collector();
    c2.reader.push(g);
    expect(c2.got.fatal[0]).to.match(/unknown class/);
  });

  it('skips a frame whose head does not decode and stays in sync', () => {
    const bad = Buffer.alloc(HEADER_SIZE + 4);
    bad.writeUInt32LE(bad.length, Hdr.LEN);
    bad.writeUInt32LE(42, Hdr.REQNO);
    bad.writeUInt8(MsgClass.REQ, Hdr.CLASS);
    bad.writeUInt8(MsgType.SYSCALL, Hdr.TYPE);
    bad.writeUInt32LE(4, Hdr.HEADLEN);
    bad.set([0xc1, 0xc1, 0xc1, 0xc1], HEADER_SIZE); // 0xc1 is never used in msgpack
    const { reader, got } = collector();
    reader.push(Buffer.concat([bad, sample()]));
    expect(got.malformed[0]).to.match(/undecodable head/);
    checkSample(got, 1);
  });
});

describe('proto/wire: banner and URLs', () => {
  it('round-trips the banner and rejects other lines', () => {
    const line = makeBanner(1, 'rump-server/0.1.0');
    expect(line.endsWith('\n')).to.equal(true);
    expect(parseBanner(line.trimEnd())).to.deep.equal({ version: 1, software: 'rump-server/0.1.0' });
    expect(parseBanner('SSH-2.0-OpenSSH')).to.equal(undefined);
    expect(parseBanner('RUMPNET-SP x y')).to.equal(undefined);
  });

  it('parses unix and tcp URLs and refuses others', () => {
    expect(parseServerUrl('unix:///tmp/a.sock')).to.deep.equal({ kind: 'unix', path: '/tmp/a.sock' });
    expect(parseServerUrl('unix://rel.sock')).to.deep.equal({ kind: 'unix', path: 'rel.sock' });
    expect(parseServerUrl('/tmp/b.sock')).to.deep.equal({ kind: 'unix', path: '/tmp/b.sock' });
    expect(parseServerUrl('tcp://127.0.0.1:4000')).to.deep.equal({ kind: 'tcp', host: '127.0.0.1', port: 4000 });
    expect(() => parseServerUrl('http://x')).to.throw(/unsupported scheme/);
    expect(() => parseServerUrl('tcp://127.0.0.1')).to.throw(/tcp:\/\/HOST:PORT/);
    expect(() => parseServerUrl('')).to.throw(TypeError);
  });
});

describe('proto/syscalls: the schema table', () => {
  it('accepts well-formed arguments of each kind', () => {
    const s = SYSCALL_SCHEMAS;
    expect(checkArgs(s.socket, { domain: 'inet', type: 'stream' })).to.equal(undefined);
    expect(checkArgs(s.connect, { fd: 3, addr: { family: 'inet', address: '10.0.0.2', port: 80 } })).to.equal(undefined);
    expect(checkArgs(s.sendto, { fd: 3, buf: 1, len: 10 })).to.equal(undefined);
    expect(checkArgs(s.poll, { fds: [{ fd: 3, events: 1 }], timeout: -1 })).to.equal(undefined);
    expect(checkArgs(s.setsockopt, { fd: 3, level: 'socket', name: 'SO_REUSEADDR', value: true })).to.equal(undefined);
    expect(checkArgs(s['ctl.ifconfig'], { ifname: 'lo0', op: 'up' })).to.equal(undefined);
    expect(checkArgs(s['ctl.ifconfig'], { anything: [1, 2] })).to.match(/anything/);
  });

  it('refuses wrong types, missing and unknown arguments, bad addresses', () => {
    const s = SYSCALL_SCHEMAS;
    expect(checkArgs(s.close, { fd: '3' })).to.match(/fd/);
    expect(checkArgs(s.close, { fd: -1 })).to.match(/fd/);
    expect(checkArgs(s.close, {})).to.match(/missing argument 'fd'/);
    expect(checkArgs(s.close, { fd: 3, extra: 1 })).to.match(/unknown argument/);
    expect(checkArgs(s.close, [3])).to.match(/map/);
    expect(checkArgs(s.sendto, { fd: 3, buf: 0, len: 1 })).to.match(/handle/);
    expect(checkArgs(s.connect, { fd: 3, addr: { family: 'inet', address: '10.0.0.256', port: 80 } })).to.match(/sockaddr/);
    expect(checkArgs(s.connect, { fd: 3, addr: { family: 'inet', address: '10.0.0.01', port: 80 } })).to.match(/sockaddr/);
    expect(checkArgs(s.connect, { fd: 3, addr: { family: 'inet6', address: '::1', port: 80 } })).to.equal(undefined);
    expect(checkArgs(s.connect, { fd: 3, addr: { family: 'inet6', address: '::g', port: 80 } })).to.match(/sockaddr/);
    expect(checkArgs(s.connect, { fd: 3, addr: { family: 'inet7', address: '::1', port: 80 } })).to.match(/sockaddr/);
    expect(checkArgs(s.poll, { fds: [{ fd: 3 }], timeout: 0 })).to.match(/fds/);
    expect(checkArgs(s.socket, { domain: 'inet', type: 'seqpacket' })).to.match(/type/);
  });
});

describe('FrameReader over a reused read buffer (transientChunks)', () => {
  /** Pushes one frame with a binary head value and a sinkless payload, then overwrites the chunk as the next socket read would. */
  function readThenOverwrite(transientChunks: boolean): { head: { result: { b: Uint8Array } }; payload: Uint8Array } {
    const kept: { head: unknown; payload: Uint8Array | undefined }[] = [];
    const reader = new FrameReader(
      {
        payloadSink: () => undefined,
        // Keeps what it is handed without copying, as a reply's resolver may.
        frame: (meta, payload) => kept.push({ head: meta.head, payload }),
        malformed: () => undefined,
        fatal: () => undefined,
      },
      { maxFrame: 1 << 20, transientChunks },
    );
    const chunk = Buffer.from(encodeFrameCopy(MsgClass.RESP, MsgType.SYSCALL, 5, { result: { b: new Uint8Array([1, 2, 3, 4]) } }, [Buffer.from('payload!')]));
    reader.push(chunk);
    chunk.fill(0xee);
    expect(kept).to.have.length(1);
    return { head: kept[0]!.head as { result: { b: Uint8Array } }, payload: kept[0]!.payload! };
  }

  it('hands out copies: the head\'s binary value and a sinkless payload survive the buffer being overwritten', () => {
    const r = readThenOverwrite(true);
    expect([...r.head.result.b]).to.deep.equal([1, 2, 3, 4]);
    expect(Buffer.from(r.payload).toString()).to.equal('payload!');
  });

  it('without it, the same frame is handed out as views of the chunk (what the option guards against)', () => {
    const r = readThenOverwrite(false);
    expect(Buffer.from(r.payload).toString()).to.not.equal('payload!');
    expect([...r.head.result.b]).to.not.deep.equal([1, 2, 3, 4]);
  });
});
