/**
 * The benchmark's profile reader (examples/src/bench/profile.ts): the
 * categories of real V8 CPU profiles, recorded here by `node --cpu-prof`
 * from a small script whose phases are known (a checksum loop, an idle
 * wait, allocation), and of a hand-made profile whose numbers are exact.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CATEGORIES, frameCategory, mergeSummaries, shares, summarize, type CpuProfile } from '../src/bench/profile.js';
import { procCpuMs } from '../src/bench/profile-run.js';

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe('bench profile: categories', () => {
  const f = (functionName: string, url = ''): { functionName: string; url: string } => ({ functionName, url });
  it('decides a frame by its file or name, or leaves it to the caller', () => {
    const repo = 'file:///work/x/packages';
    expect(frameCategory(f('tcpInput', `${repo}/stack/dist/src/transport/tcp/input.js`))).to.equal('TCP input');
    expect(frameCategory(f('tcpOutput', `${repo}/stack/src/transport/tcp/output.ts`))).to.equal('TCP output');
    expect(frameCategory(f('ipOutput', `${repo}/stack/dist/src/net/ipv4-output.js`))).to.equal('TCP output');
    expect(frameCategory(f('etherOutput', `${repo}/stack/dist/src/net/ethernet.js`))).to.equal('TCP output');
    expect(frameCategory(f('etherInput', `${repo}/stack/dist/src/net/ethernet.js`))).to.equal('TCP input');
    expect(frameCategory(f('allocFrame', `${repo}/stack/dist/src/net/ethernet.js`))).to.equal('mbuf/alloc');
    expect(frameCategory(f('inCksum', `${repo}/stack/dist/src/wire/checksum.js`))).to.equal('checksum');
    expect(frameCategory(f('mGethdr', `${repo}/stack/dist/src/mbuf/ops.js`))).to.equal('mbuf/alloc');
    expect(frameCategory(f('uiomove', `${repo}/stack/dist/src/mbuf/uio.js`))).to.equal('copy path');
    expect(frameCategory(f('sosend', `${repo}/stack/dist/src/socket/sosend.js`))).to.equal('copy path');
    expect(frameCategory(f('onFrame', `${repo}/server/src/session/session.ts`))).to.equal('copy path');
    expect(frameCategory(f('flush', `${repo}/tap-bridge/dist/src/tap.js`))).to.equal('tap I/O syscalls');
    expect(frameCategory(f('writevGeneric', 'node:internal/stream_base_commons'))).to.equal('Unix-socket I/O');
    expect(frameCategory(f('(garbage collector)'))).to.equal('GC');
    expect(frameCategory(f('(idle)'))).to.equal('idle');
    expect(frameCategory(f('pump', 'file:///work/x/examples/src/write_server.ts'))).to.equal('other');
    // Undecided: a native leaf, the timers, TCP's shared files.
    expect(frameCategory(f('writev'))).to.equal(null);
    expect(frameCategory(f('tcpTimers', `${repo}/stack/dist/src/transport/tcp/timers.js`))).to.equal(null);
    expect(frameCategory(f('(program)'))).to.equal(null);
  });

  it('gives a sample to the first deciding frame from the leaf up; exact times; 100 % in all', () => {
    // (root) → tapFlush (tap-bridge) → writev (native); (root) → tcpOutput → subr (undecided) ; (root) → (idle) ; (root) → (program)
    const url = (p: string): string => `file:///r/packages/${p}`;
    const p: CpuProfile = {
      nodes: [
        { id: 1, callFrame: f('(root)'), children: [2, 4, 6, 7] },
        { id: 2, callFrame: f('tapFlush', url('tap-bridge/dist/src/tap.js')), children: [3] },
        { id: 3, callFrame: f('writev') },
        { id: 4, callFrame: f('tcpOutput', url('stack/dist/src/transport/tcp/output.js')), children: [5] },
        { id: 5, callFrame: f('tcpSeqLt', url('stack/dist/src/transport/tcp/seq.js')) },
        { id: 6, callFrame: f('(idle)') },
        { id: 7, callFrame: f('(program)') },
      ],
      startTime: 1000,
      // samples at 1010, 1020, 1050, 1060, 1100; end 1200: weights 10, 30, 10, 40, 100
      samples: [3, 5, 5, 6, 7],
      timeDeltas: [10, 10, 30, 10, 40],
      endTime: 1200,
    };
    const s = summarize(p);
    expect(s.samples).to.equal(5);
    expect(s.us).to.equal(190);
    expect(s.byCategory['tap I/O syscalls']).to.equal(10);
    expect(s.byCategory['TCP output']).to.equal(40);
    expect(s.byCategory.idle).to.equal(40);
    expect(s.byCategory.other).to.equal(100);
    expect(sum(Object.values(shares(s)))).to.be.closeTo(100, 1e-9);
    expect(s.top[0]!.name).to.equal('(program)');
    expect(s.top.find((t) => t.name.startsWith('tcpSeqLt'))!.category).to.equal('TCP output');
    // A window keeps only the samples inside it: 1015..1055 holds the two TCP output samples.
    const w = summarize(p, [{ fromUs: 1015, toUs: 1055 }]);
    expect(w.samples).to.equal(2);
    expect(w.byCategory['TCP output']).to.equal(40);
    expect(w.us).to.equal(40);
    const m = mergeSummaries([s, w]);
    expect(m.us).to.equal(230);
    expect(m.byCategory['TCP output']).to.equal(80);
  });

  it('refuses what is not a profile', () => {
    expect(() => summarize({ nodes: [], samples: [1], timeDeltas: [], startTime: 0, endTime: 0 })).to.throw(/not a V8 CPU profile/);
    expect(() => summarize(JSON.parse('{"a":1}') as CpuProfile)).to.throw(/not a V8 CPU profile/);
  });
});

describe('bench profile: a profile recorded by node --cpu-prof', function () {
  this.timeout(60_000);
  let dir: string;
  let profile: CpuProfile;
  let marks: Record<string, number>;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rumpnet-prof-test-'));
    // Phases, each marked with process.hrtime in µs (the profile's clock):
    // a checksum loop, an idle wait, an allocation loop (young-generation GCs).
    const script = `
      const now = () => Number(process.hrtime.bigint() / 1000n);
      const marks = {};
      function inCksumBusy(buf) { let s = 0; for (let i = 0; i < buf.length; i++) s = (s + buf[i]) & 0xffff; return s; }
      function allocLoop() { let keep = null; for (let i = 0; i < 2e5; i++) keep = { a: i, b: [i, i] }; return keep; }
      const buf = new Uint8Array(1 << 16).fill(7);
      marks.cksumFrom = now();
      let x = 0; const end = Date.now() + 250; while (Date.now() < end) x += inCksumBusy(buf);
      marks.cksumTo = now();
      setTimeout(() => {
        marks.idleTo = now();
        const end2 = Date.now() + 150; while (Date.now() < end2) allocLoop();
        marks.allocTo = now();
        process.stdout.write(JSON.stringify(marks) + '\\n');
      }, 200);
      marks.idleFrom = now();
    `;
    writeFileSync(join(dir, 'phases.cjs'), script);
    const r = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200', join(dir, 'phases.cjs')], { encoding: 'utf8', timeout: 50_000 });
    expect(r.status, r.stderr).to.equal(0);
    marks = JSON.parse(r.stdout.trim()) as Record<string, number>;
    const file = readdirSync(dir).find((x) => x.endsWith('.cpuprofile'));
    expect(file, 'no .cpuprofile written').to.be.a('string');
    profile = JSON.parse(readFileSync(join(dir, file!), 'utf8')) as CpuProfile;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shares add up to 100 %, every sample in exactly one category', () => {
    const s = summarize(profile);
    expect(s.samples).to.be.greaterThan(50);
    expect(sum(CATEGORIES.map((c) => s.byCategory[c]))).to.be.closeTo(s.us, 1e-6);
    expect(sum(Object.values(shares(s)))).to.be.closeTo(100, 1e-6);
    expect(s.us).to.be.at.most(profile.endTime - profile.startTime);
  });

  it('the checksum phase, cut out by its hrtime window, is mostly checksum', () => {
    const s = summarize(profile, [{ fromUs: marks.cksumFrom!, toUs: marks.cksumTo! }]);
    expect(s.samples).to.be.greaterThan(20);
    expect(shares(s).checksum, JSON.stringify(s.byCategory)).to.be.greaterThan(50);
    expect(s.top[0]!.name).to.match(/^inCksumBusy \(.*phases\.cjs:\d+\)$/);
  });

  it('the wait is idle, and the allocation phase shows the garbage collector', () => {
    const idle = summarize(profile, [{ fromUs: marks.idleFrom! + 20_000, toUs: marks.idleTo! - 20_000 }]);
    expect(idle.samples).to.be.greaterThan(0);
    expect(shares(idle).idle, JSON.stringify(idle.byCategory)).to.be.greaterThan(80);
    const alloc = summarize(profile, [{ fromUs: marks.idleTo!, toUs: marks.allocTo! }]);
    expect(alloc.byCategory.GC, JSON.stringify(alloc.byCategory)).to.be.greaterThan(0);
  });

  it('reads a process\'s CPU time from /proc', () => {
    const a = procCpuMs(process.pid);
    expect(a).to.be.a('number').and.at.least(0);
    expect(procCpuMs(undefined)).to.equal(null);
  });
});
