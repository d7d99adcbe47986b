/**
 * The README promises that tests needing a missing tool skip with a reason.
 * This runs the ping-using tests in a child mocha whose PATH has everything
 * the machine has except `ping`: they must skip, saying why, and none fail.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canUseNetns } from '../src/index.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** A PATH of symlink directories mirroring the real PATH, without the named tools. */
function pathWithout(dir: string, tools: readonly string[]): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const d of (process.env.PATH ?? '').split(':')) {
    let real: string;
    try {
      real = realpathSync(d);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    const mirror = join(dir, String(out.length));
    mkdirSync(mirror);
    for (const e of readdirSync(real)) if (!tools.includes(e)) symlinkSync(join(real, e), join(mirror, e));
    out.push(mirror);
  }
  return out.join(':');
}

describe('tests that need ping, on a machine without ping', function () {
  this.timeout(120_000);

  it('skip with a one-line reason instead of failing with "exec of ping failed"', async function () {
    const can = canUseNetns();
    if (!can.ok) {
      console.log(`      skipped: ${can.reason}`);
      this.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'rumpnet-noping-'));
    try {
      const PATH = pathWithout(dir, ['ping', 'ping4', 'ping6']);
      const files = ['packages/tap-bridge/test/tap.test.ts', 'packages/tap-bridge/test/interop/icmp-arp-udp.test.ts'];
      const r = await new Promise<{ code: number; out: string }>((resolve) => {
        execFile(
          process.execPath,
          [join(root, 'node_modules/mocha/bin/mocha.js'), '--grep', 'ping|drops|Linux asking', ...files],
          { cwd: root, env: { ...process.env, PATH }, timeout: 100_000, maxBuffer: 16 << 20 },
          (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        );
      });
      if (process.env.SHOW) console.log(r.out);
      expect(r.out).to.not.include('exec of ping failed');
      expect(r.out).to.include('(skipping: no ping on PATH (apt-get install iputils-ping))');
      const m = /(\d+) passed, (\d+) failed, (\d+) skipped/.exec(r.out);
      expect(m, r.out).to.not.equal(null);
      expect(Number(m![2]), r.out).to.equal(0);
      // 2 in tap.test.ts, 3 in the ICMP suite, the capture suite's 1.
      expect(Number(m![3]), r.out).to.be.at.least(6);
      expect(r.code, r.out).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
