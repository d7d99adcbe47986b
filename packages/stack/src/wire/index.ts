/**
 * Wire formats: views over packet bytes with checked construction, parsed
 * representations (`*Repr`) with `parse` / `emit` / `bufferLen`, and the
 * Internet checksum. Modelled on smoltcp's `wire` module.
 *
 * Untrusted bytes are read only through `newChecked` (or `check`); errors
 * are small string unions, never exceptions.
 *
 * @example
 * ```ts
 * const eth = EthernetFrame.newChecked(frame);
 * if (typeof eth === 'string') return drop(eth);            // 'truncated' | 'notEthernetII'
 * if (eth.ethertype !== ETHERTYPE_IPV4) return;
 * const ip = Ipv4Packet.newChecked(frame, eth.payloadOffset, eth.payloadLen);
 * if (typeof ip === 'string') return drop(ip);
 * const ipr = Ipv4Repr.parse(ip);                           // verifies the header checksum
 * if (typeof ipr === 'string') return drop(ipr);
 * ```
 * @packageDocumentation
 */

export * from './address.js';
export * from './bytes.js';
export * from './checksum.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './ip.js';
export * from './ipv6.js';
export * from './ipv6-ext.js';
export * from './icmpv6.js';
export * from './icmp.js';
export * from './igmp.js';
export * from './udp.js';
export * from './dhcp.js';
export * from './tcp.js';
