#!/usr/bin/env node
/**
 * `rumpctl` command line: see {@link runRumpctl} for the commands.
 * `rumpctl -s unix:///tmp/rumpnet.sock netstat -an`.
 */
import { runRumpctl } from './ctl/rumpctl-main.js';

runRumpctl(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`rumpctl: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
