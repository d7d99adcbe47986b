import { expect } from 'chai';
import { PACKAGE } from '../src/index.js';

describe('smoke', () => {
  it('names the package', () => {
    expect(PACKAGE).to.equal('@rumpnet/stack');
  });
});
