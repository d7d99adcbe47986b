/**
 * Structured logs of the rump server: pino, one JSON object per line, on
 * standard error so that standard output stays free for the human-readable
 * start banner (how a client connects). Written synchronously: a daemon
 * that exits on SIGTERM must not lose its last lines.
 *
 * @module
 */
import pino, { type Logger } from 'pino';
import type { ProtoLogger } from './session/index.js';
import type { ServerConfig } from './config.js';

/** The server's logger type (pino's). */
export type ServerLogger = Logger;

/**
 * Makes the server logger at `level` (`'silent'` drops everything),
 * writing to file descriptor `fd` (default 2, standard error).
 */
export function createLogger(level: ServerConfig['logLevel'], fd = 2): ServerLogger {
  return pino({ name: 'rump-server', level, base: { pid: process.pid } }, pino.destination({ fd, sync: true }));
}

/** A logger that drops everything (in-process servers in tests). */
export function silentServerLogger(): ServerLogger {
  return pino({ level: 'silent' });
}

/**
 * Adapts the server logger for the protocol sessions. The server writes its
 * own disconnect line (with the client's counters) from the session's close
 * hook, so the session's own `'session closed'` line is demoted to debug:
 * one info line per connect and one per disconnect.
 */
export function sessionLogger(log: ServerLogger): ProtoLogger {
  return {
    debug: (o, m) => log.debug(o, m),
    info: (o, m) => (m === 'session closed' ? log.debug(o, m) : log.info(o, m)),
    warn: (o, m) => log.warn(o, m),
    error: (o, m) => log.error(o, m),
  };
}
