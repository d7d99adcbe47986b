#!/usr/bin/env node
/**
 * `rump-server` command line. Parses and validates the configuration, then
 * starts the daemon. Bad arguments exit with status 2 and a one-line reason.
 */
import { readFileSync } from 'node:fs';
import { parseServerArgs, UsageError } from './config.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function main(): number {
  let cfg;
  try {
    cfg = parseServerArgs(process.argv.slice(2), process.env, version);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`rump-server: ${e.message}\nTry 'rump-server --help'.\n`);
      return e.exitCode;
    }
    throw e;
  }
  if (cfg === 'exit') return 0;
  process.stdout.write(
    [
      `rump-server ${version}: configuration accepted`,
      `  listen      ${cfg.listen.kind === 'unix' ? `unix://${cfg.listen.path}` : `tcp://${cfg.listen.host}:${cfg.listen.port}`}`,
      `  interfaces  lo0 127.0.0.1/8${cfg.tap ? `, tap ${cfg.tap}` : ''}${cfg.bus ? `, bus ${cfg.bus}` : ''} ${cfg.addrs.join(' ')}`,
      `  mbufs       MCLBYTES ${cfg.mclbytes}, MCLNUM ${cfg.mclnum}, nmbclusters ${cfg.nmbclusters}, receive ${cfg.rxMode}`,
      'The daemon itself lands with the rump-split issue; today the stack library',
      '(@rumpnet/stack: mbufs and the cluster pool) is what is there.',
      '',
    ].join('\n'),
  );
  return 0;
}

process.exitCode = main();
