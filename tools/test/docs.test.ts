/**
 * Documentation is part of the feature: every exported declaration in the
 * packages' sources carries TSDoc, and every package has its face.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { undocumentedExports } from '../check-tsdoc.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('documentation', () => {
  it('every export in packages/*/src has a TSDoc comment', () => {
    expect(undocumentedExports(root)).to.deep.equal([]);
  });

  for (const pkg of ['stack', 'tap-bridge', 'server', 'client']) {
    it(`packages/${pkg} has a src/index.ts face with @packageDocumentation`, () => {
      const f = `${root}packages/${pkg}/src/index.ts`;
      expect(existsSync(f)).to.equal(true);
      expect(readFileSync(f, 'utf8')).to.match(/@packageDocumentation/);
    });
  }

  for (const doc of ['README.md', 'docs/ARCHITECTURE.md', 'docs/PROTOCOL.md', 'docs/BENCHMARKS.md']) {
    it(`${doc} exists and is not empty`, () => {
      expect(readFileSync(`${root}${doc}`, 'utf8').length).to.be.greaterThan(500);
    });
  }
});
