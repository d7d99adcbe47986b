#!/usr/bin/env node
/**
 * `rump-server` command line: parse and validate the configuration, start
 * the daemon, print how a client connects, and shut down cleanly on SIGINT
 * or SIGTERM (or `rumpctl halt`). Bad arguments exit with status 2 and a
 * one-line reason; a server that cannot start (socket path taken, no tap
 * permission) exits with status 1.
 */
import { shmUnavailable } from '@rumpnet/client/shm';
import { readFileSync } from 'node:fs';
import { parseServerArgs, UsageError, type ServerConfig } from './config.js';
import { createLogger } from './log.js';
import { RumpServer } from './server.js';
import { inetNtoa } from './stackapi.js';

/** The banner's shared-memory line (docs/PROTOCOL.md §7a): the limits, or why clients will not get a region. */
function shmBanner(max: number, total: number): string {
  if (max === 0) return 'off (--no-shm): every COPYOUT carries its bytes on the socket';
  const why = shmUnavailable();
  if (why !== '') return `off: ${why}`;
  return `a client's receive bytes through its shared memfd ring: up to ${max} bytes per client (--shm-max), ${total} in all (--shm-total)`;
}

/** The package version, from dist/src (built) or src (run through tsx). */
function readVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@rumpnet/server' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* try the next place */
    }
  }
  return '0.0.0';
}
const version = readVersion();

/** The lines `npm start` prints: where the server is and how a client gets to it. */
function connectHelp(srv: RumpServer, cfg: ServerConfig): string {
  const url = srv.url;
  const ifs = srv.stack
    .ifnetList()
    .map((i) => `${i.name} ${i.addrs.map((a) => `${inetNtoa(a.addr)}/${a.prefixLen}`).join(' ') || '(no address)'}`)
    .join(', ');
  return [
    `rump-server ${version} listening on ${url}`,
    `  interfaces  ${ifs}`,
    ...(srv.dhcp !== null ? [`  dhcp        on ${srv.dhcp.ifname}: asking for a lease (the log says when it is bound; rumpctl ifconfig shows it)`] : []),
    ...srv
      .offloadSummary()
      .filter((o) => o.text !== 'none')
      .map((o) => `  offloads    ${o.ifname} ${o.text}`),
    `  mbufs       MCLBYTES ${cfg.mclbytes}, MCLNUM ${cfg.mclnum}, copy window ${cfg.copyWindow}, inline ${cfg.inlineMax > 0 ? `up to ${cfg.inlineMax} bytes` : 'off'}, inline receive ${cfg.inlineRecvMax > 0 ? `up to ${cfg.inlineRecvMax} bytes` : 'off'}, posted sends ${cfg.postedWindow > 0 && cfg.inlineMax > 0 ? `up to ${cfg.postedWindow} bytes / ${cfg.postedCalls} calls` : 'off'}, nmbclusters ${cfg.nmbclusters}, receive ${cfg.rxMode}`,
    `  shm         ${shmBanner(cfg.shmMax ?? 0, cfg.shmTotal ?? 0)}`,
    '  protocols   tcp, udp, icmp',
    `  admin       ${srv.admin.describe()} may halt, write sysctls and change the configuration`,
    ...(srv.admin.tcpAdmin && cfg.listen.kind === 'tcp'
      ? ['  WARNING     --tcp-admin: any local user who can connect to this port is admin (TCP carries no credentials)']
      : []),
    '',
    'Run a client on this stack:',
    `  RUMP_SERVER=${url} node app.js`,
    `  RUMP_SERVER=${url} node --import @rumpnet/client/hijack app.js   # an unmodified program`,
    'Look inside:',
    `  rumpctl -s ${url} netstat -an      (also: ifconfig, route, netstat -m, ping, arp, sysctl, clients, halt)`,
    ...(cfg.tap === null && cfg.bus === null
      ? ['Loopback only. For a tap (root): rump-server --tap tap0 --addr 10.0.0.2/24 --gateway 10.0.0.1']
      : []),
    'Stop with Ctrl-C (SIGINT), SIGTERM or `rumpctl halt`.',
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  let cfg: ServerConfig | 'exit';
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
  const log = createLogger(cfg.logLevel);
  let srv: RumpServer;
  try {
    srv = await RumpServer.start(cfg, { log, software: `rump-server/${version}` });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`rump-server: cannot start: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    return 1;
  }
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // A second signal while shutting down means "now".
    if (++signals > 1) process.exit(130);
    void srv.close(sig);
  };
  // Handlers first: stdout to a pipe is synchronous, so whoever waits for the
  // banner may signal us before the next line runs.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.write(connectHelp(srv, cfg));
  await srv.done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return 0;
}

main().then(
  (code) => {
    // Drivers may keep handles (a bus directory watcher); the server is closed, so leave.
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`rump-server: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
