/**
 * A drop-in for `node:net`: small UNMODIFIED programs run under the hijack
 * against a real `rump-server` process, and each assertion is what Node
 * itself does with the same program on the host's kernel stack.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHijacked } from './fixtures/hijacked.js';

describe("drop-in: the newcomer's first five minutes", function () {
  this.timeout(20_000);

  it('with no server running, a hijacked program is told the rump server is not reachable and how to start one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rumpnet-none-'));
    const url = `unix://${join(dir, 'rumpnet.sock')}`;
    try {
      const r = await runHijacked(`import net from 'node:net'; net.createServer().listen(7777, '127.0.0.1');`, { rumpServer: url });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.include(`the rump server at ${url} is not reachable`);
      expect(r.stderr).to.include('npm start');
      expect(r.stderr).to.include(`npx rump-server ${url}`);
      expect(r.stderr).to.include('ERR_RUMP_UNREACHABLE');
      expect(r.stderr).to.not.include('listen ENOENT');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
