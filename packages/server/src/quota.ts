/**
 * The server's resource limits from its configuration: the session limits
 * each client lives under, the cluster quota its sockets are charged to, and
 * the session cap — kept below the process's descriptor limit so that the
 * last descriptors stay free for the server itself (accepting and refusing,
 * logs, the tap). docs/ARCHITECTURE.md "Resource limits" says why each
 * default is what it is.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { QuotaConfig, ServerConfig } from './config.js';
import type { ServerLogger } from './log.js';
import type { SessionLimits } from './session/index.js';
import { MSIZE } from './stackapi.js';

/**
 * Descriptors kept free below `RLIMIT_NOFILE` beside one per session: the
 * listener, stdio, the log, a tap or bus and its pcap file, the epoll and
 * event descriptors Node itself holds, and a connection being refused.
 */
export const FD_HEADROOM = 64;

/** The session limits that `config.quota` sets. */
export function sessionLimitsOf(q: QuotaConfig): Partial<SessionLimits> {
  return {
    maxClientFrame: q.maxClientFrame,
    maxInFlight: q.maxInFlight,
    maxBufferedBytes: q.maxQueuedBytes,
    replyBackpressureBytes: q.replyBackpressureBytes,
    maxWriteBufferedBytes: q.maxReplyBytes,
    copyinTimeoutMs: q.copyinTimeoutMs,
    maxCopyins: q.maxCopyins,
    handshakeTimeoutMs: q.handshakeTimeoutMs,
    frameTimeoutMs: q.frameTimeoutMs,
  };
}

/**
 * One client's cluster quota in bytes of socket-buffer storage: the clusters
 * of `--client-clusters` (default {@link defaultClientClusters}) at
 * MCLBYTES + MSIZE each, the way `sb_mbcnt` counts a full cluster.
 */
export function quotaBytes(cfg: Pick<ServerConfig, 'nmbclusters' | 'mclbytes' | 'quota'>): number {
  const clusters = cfg.quota.clientClusters ?? defaultClientClusters(cfg.nmbclusters);
  return clusters * (cfg.mclbytes + MSIZE);
}

/**
 * The default cluster quota of one client: a sixteenth of the pool (1024
 * clusters, 2 MiB of data at the default 16 384 × 2048), at least 64. Four
 * clients that hold all they may — the attacks of issue 10 came four at a
 * time — still leave three quarters of the pool to everyone else, while one
 * client's bulk transfer needs far less (two 64 KiB socket buffers are
 * about 60 clusters).
 */
export function defaultClientClusters(nmbclusters: number): number {
  return Math.max(64, Math.floor(nmbclusters / 16));
}

/** The soft `RLIMIT_NOFILE` of this process (from /proc/self/limits), or undefined when it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line === undefined ? null : /^Max open files\s+(\d+|unlimited)/.exec(line);
    if (m === null || m[1] === 'unlimited') return undefined;
    return Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * The session cap in force: `asked`, lowered (with a warning) so that
 * sessions can never take the last {@link FD_HEADROOM} descriptors of the
 * process. Each session holds one descriptor (its socket); a connection
 * over the cap holds one only while its refusal is written.
 */
export function effectiveMaxSessions(asked: number, log: Pick<ServerLogger, 'warn'>, nofile = openFileLimit()): number {
  if (nofile === undefined) return asked;
  const room = Math.max(1, nofile - FD_HEADROOM);
  if (asked <= room) return asked;
  log.warn({ asked, rlimitNofile: nofile, maxSessions: room }, '--max-sessions lowered below the descriptor limit');
  return room;
}
