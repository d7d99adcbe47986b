/**
 * kern/shape.ts: objectArray, an ordinary empty array born with V8's
 * "objects" elements kind, and SEQ_ZERO, a zero that makes a field a double
 * from birth — both checked in a child process with natives syntax, against
 * `[]` and `0`, which V8 reports as small integers and whose objects change
 * shape at the first 32-bit sequence number of 2^31 or more.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { objectArray, SEQ_ZERO } from '../../src/kern/shape.js';

describe('kern/shape: objectArray, SEQ_ZERO', () => {
  it('is a new, empty, ordinary array each time', () => {
    const a = objectArray<{ n: number }>();
    const b = objectArray<{ n: number }>();
    expect(a).to.not.equal(b);
    expect(a).to.deep.equal([]);
    a.push({ n: 1 }, { n: 2 });
    expect(a.map((x) => x.n)).to.deep.equal([1, 2]);
    expect(b.length).to.equal(0);
    expect(Array.isArray(a)).to.equal(true);
  });

  it('holds objects from birth (V8 PACKED_ELEMENTS), where [] starts as small integers', () => {
    const url = new URL('../../src/kern/shape.ts', import.meta.url).href;
    const script =
      `const { objectArray } = await import(${JSON.stringify(url)});` +
      'const lit = [];' +
      'console.log(JSON.stringify({ made: %HasObjectElements(objectArray()), literal: %HasSmiElements(lit) }));';
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout.trim())).to.deep.equal({ made: true, literal: true });
  });

  it('SEQ_ZERO is 0 to the stack, and a field born with it keeps its shape at 2^31 and more', () => {
    expect(SEQ_ZERO === 0).to.equal(true);
    expect(SEQ_ZERO >>> 0).to.equal(0);
    expect(SEQ_ZERO | 0).to.equal(0);
    expect(SEQ_ZERO + 5).to.equal(5);
    expect(`${SEQ_ZERO}`).to.equal('0');
    expect(((SEQ_ZERO - 1) >>> 0).toString(16)).to.equal('ffffffff');
    const url = new URL('../../src/kern/shape.ts', import.meta.url).href;
    const script =
      `const { SEQ_ZERO } = await import(${JSON.stringify(url)});` +
      // Code optimized on objects born with z stays optimized when another
      // such object gets a sequence number of 2^31 or more (born with 0:
      // the field turns double, the shape changes, the code is thrown away).
      'function survives(z) {' +
      '  class Born { constructor(v) { this.seq = v; } }' +
      '  const f = (o) => o.seq + 1;' +
      '  %PrepareFunctionForOptimization(f);' +
      '  const c = new Born(z); c.seq = 7; f(c); f(c); %OptimizeFunctionOnNextCall(f); f(c);' +
      '  if ((%GetOptimizationStatus(f) & 16) === 0) throw new Error("not optimized");' +
      '  const d = new Born(z); d.seq = 2 ** 31 + 5; f(d); f(c);' +
      '  return (%GetOptimizationStatus(f) & 16) !== 0;' +
      '}' +
      'console.log(JSON.stringify({ seqZero: survives(SEQ_ZERO), zero: survives(0) }));';
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout.trim())).to.deep.equal({ seqZero: true, zero: false });
  });
});
