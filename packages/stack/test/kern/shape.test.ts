/**
 * objectArray (kern/shape.ts): an ordinary empty array, born with V8's
 * "objects" elements kind — checked in a child process with natives
 * syntax, where a literal `[]` is reported as small integers.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { objectArray } from '../../src/kern/shape.js';

describe('kern/shape: objectArray', () => {
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
});
