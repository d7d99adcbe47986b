/**
 * Send-buffer autosizing (FreeBSD's `tcp_sndbuf_autoscale()` in
 * `tcp_output.c`; NetBSD's `tcp_sndbuf_autosize`): a send buffer TCP sized
 * by default grows by `net.inet.tcp.sendbuf_inc` while it is nearly full
 * and the peer's window could take more than it holds, up to
 * `net.inet.tcp.sendbuf_max` — so a path with a large bandwidth-delay
 * product is not limited by the default, and a slow one holds no more
 * memory than it needs.
 *
 * Under the pool's memory pressure (mbuf/pool.ts: 7/8 of the clusters in
 * use until back at 3/4) growth stops (counted `sndbufpressure`) and what
 * was grown is given back as the peer acknowledges data: the buffer's
 * `hiwat` falls toward the size it started at, never below what it still
 * holds (counted `sndbufshrink`, `sndbufshrinkbyte`) — the send side's
 * counterpart of receive windows falling to four segments (ofo.ts). Data
 * already queued is never dropped: the user's next send simply finds less
 * room until pressure ends.
 *
 * @module
 */
import type { TcpCb } from './tcpcb.js';

/**
 * Grow `tp`'s send buffer when it is autosized and the connection could
 * use more (called by `tcpOutput` before it sends). FreeBSD's conditions:
 * the peer's window is at least 4/5 of the buffer, the buffer is at least
 * 7/8 full, it holds less than the maximum, and the send window covers
 * what is queued but unsent — the buffer, not the network, is what limits.
 */
export function tcpSndbufAutoscale(tp: TcpCb): void {
  const so = tp.so;
  if (so === null) return;
  const sb = so.snd;
  if (!sb.autosize) return;
  const tcp = tp.tcp;
  const t = tcp.tun;
  if (t.sendbufAuto === 0) return;
  const hiwat = sb.hiwat;
  if (Math.floor(tp.sndWnd / 4) * 5 < hiwat || sb.cc < Math.floor(hiwat / 8) * 7 || sb.cc >= t.sendbufMax || hiwat >= t.sendbufMax) return;
  const inflight = (tp.sndNxt - tp.sndUna) >>> 0;
  if (Math.min(tp.sndWnd, tp.cc.cwnd) < sb.cc - inflight) return;
  if (tcp.pool.underPressure) {
    tcp.stats.sndbufpressure++;
    return;
  }
  // sbreserve refused (kern.sbmax): stop autosizing this buffer, as FreeBSD clears SB_AUTOSIZE.
  if (!sb.reserve(Math.min(hiwat + t.sendbufInc, t.sendbufMax), so.layer.tunables.sbmax, tcp.pool.mclbytes)) {
    sb.autosize = false;
    return;
  }
  tcp.stats.sndbufgrow++;
}

/**
 * After an ACK trimmed `tp`'s send buffer: under memory pressure an
 * autosized buffer gives its growth back, down to its starting size or to
 * what it still holds, whichever is more. Nothing happens without pressure.
 */
export function tcpSndbufDrained(tp: TcpCb): void {
  const so = tp.so;
  if (so === null || !so.snd.autosize) return;
  const tcp = tp.tcp;
  if (!tcp.pool.underPressure) return;
  const given = so.snd.shrinkToBase(so.layer.tunables.sbmax, tcp.pool.mclbytes);
  if (given > 0) {
    tcp.stats.sndbufshrink++;
    tcp.stats.sndbufshrinkbyte += given;
  }
}
