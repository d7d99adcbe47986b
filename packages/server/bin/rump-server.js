#!/usr/bin/env node
// The `rump-server` command. A committed launcher rather than dist/src/cli.js
// itself: npm links a workspace's bins when it installs, before `npm run build`
// has made dist/, and it skips a bin whose file does not exist yet.
import { existsSync } from 'node:fs';

const target = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(target)) {
  process.stderr.write('rump-server: not built yet — run `npm run build` in the rumpnet checkout\n');
  process.exit(1);
}
await import(target.href);
