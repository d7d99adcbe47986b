/**
 * Services that run on the stack the way programs run on a kernel: today the
 * DHCPv4 client (`rump.dhcpclient`).
 *
 * @example
 * ```ts
 * const net = createNetStack();
 * net.stack.attachLink(tap);                       // no address yet
 * const dhcp = new DhcpClient(net.stack, tap.name, { table: net.newProcess() });
 * dhcp.on('event', (e) => console.log(e.type));    // 'bound', 'renewed', ...
 * dhcp.start();
 * ```
 * @packageDocumentation
 */
export { DhcpClient } from './client.js';
export type { DhcpClientOptions, DhcpEvent, DhcpLease, DhcpState, DhcpStats } from './client.js';
