/**
 * TCP: the protocol engine (RFC 9293 with RFC 5961, 7323, 2018, 6675,
 * 6298, 5681, 6582, 1191, 6528), split by concern as NetBSD's
 * `sys/netinet/tcp_*.c`. See README.md for the file map.
 *
 * @example
 * ```ts
 * import { TcpProtocol } from './transport/tcp/index.js';
 * const tcp = new TcpProtocol(host, layer);   // SOCK_STREAM is now available
 * tcp.stats.fastretrans;                      // also sysctl net.inet.tcp.stats.fastretrans
 * ```
 * @module
 */
export { TcpProtocol, TCP_DEFAULTS, TCP_DEFAULT_BUFSPACE } from './protocol.js';
export type { TcpTunables, TcpConnInfo } from './protocol.js';
export { TcpCb, TCPS, TCP_STATE_NAMES, TF, setState, haveEstablished, haveRcvdFin, haveRcvdSyn } from './tcpcb.js';
export type { TcpState, TcpConnParams } from './tcpcb.js';
export { TcpTimers, TCP_MAXRXTSHIFT, TCPTV_PERSMIN, TCPTV_PERSMAX, TCPTV_KEEP_INIT } from './timers.js';
export type { TcpTimer } from './timers.js';
export { ReassQueue, ReassResult } from './reass.js';
export type { ReassSeg, ReassQueueOptions, ReassCounters } from './reass.js';
export { ReassBudget } from './reass-budget.js';
export { PRESSURE_WINDOW_SEGS } from './ofo.js';
export { newTcpStats } from './stats.js';
export type { TcpStats } from './stats.js';
export { TCP_OPT, IP_OPT, tcpScaleFor, tcpUsrClosed, TCP_CONGESTION_NAMES } from './usrreq.js';
export { tcpInput, tcpInputSegment } from './input.js';
export { tcpOutput, tcpSendSegment, TCP_HDR_ROOM } from './output.js';
export { tcpClose, tcpDrop, tcpRespondRst, tcpEmit, blankRepr } from './subr.js';
export { SynCache } from './syncache.js';
export type { SynCacheEntry } from './syncache.js';
export { SynCookies, SYNCOOKIE_MSS, SYNCOOKIE_PERIOD_MS } from './syncookie.js';
export type { SynCookieState } from './syncookie.js';
