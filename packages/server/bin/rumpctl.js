#!/usr/bin/env node
// The `rumpctl` command. A committed launcher rather than dist/src/rumpctl.js
// itself: npm links a workspace's bins when it installs, before `npm run build`
// has made dist/, and it skips a bin whose file does not exist yet.
import { existsSync } from 'node:fs';

const target = new URL('../dist/src/rumpctl.js', import.meta.url);
if (!existsSync(target)) {
  process.stderr.write('rumpctl: not built yet — run `npm run build` in the rumpnet checkout\n');
  process.exit(1);
}
await import(target.href);
