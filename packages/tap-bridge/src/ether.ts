/**
 * The few Ethernet facts the drivers need: MAC formatting, parsing, random
 * locally administered addresses, and the group (broadcast/multicast) bit.
 * Frame parsing proper belongs to the stack's `wire/` layer.
 */
import { randomBytes } from 'node:crypto';

/** Length of an Ethernet II header: destination, source, EtherType. */
export const ETHER_HDR_LEN = 14;

/** `aa:bb:cc:dd:ee:ff` for a 6-byte MAC. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * Parses `aa:bb:cc:dd:ee:ff` (or `-` separators, or 12 bare hex digits).
 * @throws RangeError for anything else.
 */
export function parseMac(text: string): Uint8Array {
  const hex = text.replace(/[:-]/g, '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) throw new RangeError(`bad MAC address '${text}'`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Accepts a MAC as text or bytes and returns a fresh 6-byte copy. @throws RangeError when malformed. */
export function toMac(mac: string | Uint8Array): Uint8Array {
  if (typeof mac === 'string') return parseMac(mac);
  if (mac.length !== 6) throw new RangeError(`a MAC has 6 bytes, got ${mac.length}`);
  return Uint8Array.from(mac);
}

/**
 * A random unicast, locally administered MAC (IEEE 802: bit 0 of the first
 * octet clear = unicast, bit 1 set = locally administered), so it can never
 * collide with a vendor-assigned address.
 */
export function randomMac(): Uint8Array {
  const mac = Uint8Array.from(randomBytes(6));
  mac[0] = (mac[0]! & 0xfc) | 0x02;
  return mac;
}

/** True when the destination MAC at `off` is broadcast or multicast (the I/G bit). */
export function isGroupAddress(frame: Uint8Array, off = 0): boolean {
  return (frame[off]! & 0x01) !== 0;
}

/** True when the 6 bytes at `frame[off..]` equal `mac`. */
export function macEquals(frame: Uint8Array, off: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (frame[off + i] !== mac[i]) return false;
  return true;
}
