/**
 * The whole stack in one call: a {@link Stack} (links, ARP, IPv4, ICMP) with
 * the socket layer, UDP and TCP attached — what a BSD kernel has after
 * `domaininit()`. Servers, tests and examples start here; the parts stay
 * reachable for anyone who wants to assemble them differently.
 *
 * @module
 */
import { Stack, type StackOptions } from './stack.js';
import { SocketLayer, type SocketTunables } from './socket/layer.js';
import { SocketTable, type SocketTableOptions } from './socket/table.js';
import { UdpProtocol } from './transport/udp/udp.js';
import { TcpProtocol, type TcpTunables } from './transport/tcp/index.js';

/** Options of {@link createNetStack}: the {@link Stack}'s, plus socket and TCP tunables. */
export interface NetStackOptions extends StackOptions {
  sockets?: Partial<SocketTunables>;
  tcp?: Partial<TcpTunables>;
}

/** A stack with its socket layer and transports; see {@link createNetStack}. */
export interface NetStack {
  readonly stack: Stack;
  readonly sockets: SocketLayer;
  readonly udp: UdpProtocol;
  readonly tcp: TcpProtocol;
  /** A fresh descriptor table: one per process (one per rump client in the server). */
  newProcess(opts?: SocketTableOptions): SocketTable;
  /** Close the stack: every socket, queue and timer; the cluster pool ends all-free. Idempotent. */
  close(): void;
}

/**
 * Build a stack with sockets, UDP and TCP. lo0 (127.0.0.1/8) is attached;
 * attach more links with `net.stack.attachLink(link, { addrs })`.
 *
 * @example
 * ```ts
 * const net = createNetStack({ mclbytes: 2048, mclnum: 16 });
 * const proc = net.newProcess();
 * const fd = proc.socket(AF_INET, SOCK.DGRAM, 0);
 * // ...
 * net.close();
 * ```
 * @throws RangeError for a bad pool configuration (e.g. MCLBYTES not 2048 or 4096).
 */
export function createNetStack(opts: NetStackOptions = {}): NetStack {
  const stack = new Stack(opts);
  const sockets = new SocketLayer(stack, opts.sockets);
  const udp = new UdpProtocol(sockets);
  const tcp = new TcpProtocol(stack, sockets, opts.tcp);
  return {
    stack,
    sockets,
    udp,
    tcp,
    newProcess: (o) => new SocketTable(sockets, o),
    close: () => stack.close(),
  };
}
