/**
 * UDP (RFC 768): the `SOCK_DGRAM` protocol of the socket layer.
 *
 * @example
 * ```ts
 * import { SocketLayer, SocketTable, AF_INET, SOCK } from '../../socket/index.js';
 * import { UdpProtocol } from './index.js';
 * const layer = new SocketLayer(stack);   // the Stack as InetHost
 * const udp = new UdpProtocol(layer);     // registers with the layer and with IP
 * const t = new SocketTable(layer);
 * const { fd } = t.socket(AF_INET, SOCK.DGRAM, 0);
 * ```
 * @module
 */
export { IP_OPT, UdpProtocol } from './udp.js';
export type { UdpOptions } from './udp.js';
export { newUdpStats, UDP_STATS_DESCRIPTIONS } from './stats.js';
export type { UdpStats } from './stats.js';
