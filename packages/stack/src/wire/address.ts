/**
 * Link and network addresses in the forms the data path uses.
 *
 * IPv4 addresses are plain unsigned 32-bit numbers (`0 ..= 0xffffffff`, host
 * order, most significant byte first on the wire), so that comparing, masking
 * and hashing them allocates nothing. MAC addresses are 6-byte `Uint8Array`s.
 * Strings appear only at the edges (configuration, logs); the parsers here are
 * strict and never throw.
 */

/** The all-ones Ethernet address (ff:ff:ff:ff:ff:ff). Treat as read-only. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** The all-zero Ethernet address, e.g. the unknown target hardware address of an ARP request. Treat as read-only. */
export const ZERO_MAC: Uint8Array = new Uint8Array(6);

/** Length of an Ethernet MAC address in bytes. */
export const MAC_LEN = 6;

/** The limited broadcast address 255.255.255.255 (RFC 919). */
export const IPV4_BROADCAST = 0xffffffff;
/** The unspecified address 0.0.0.0 (INADDR_ANY). */
export const IPV4_ANY = 0;
/** 127.0.0.1, the loopback address lo0 carries by default. */
export const IPV4_LOOPBACK = 0x7f000001;

const HEX = '0123456789abcdef';

/**
 * Format a MAC address as six lower-case, colon-separated hex pairs
 * (`"02:00:5e:10:00:01"`). Reads `mac[off .. off + 6)`; allocates the string.
 * Throws nothing; bytes beyond the array read as 0.
 */
export function macToString(mac: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const b = mac[off + i] ?? 0;
    if (i > 0) s += ':';
    s += HEX[b >>> 4] + HEX[b & 15];
  }
  return s;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/**
 * Parse `"aa:bb:cc:dd:ee:ff"` (also `-` as separator, either case; one or two
 * hex digits per byte as `ip link` prints them). Returns a new 6-byte array,
 * or `null` when the string is not exactly a MAC address. Never throws.
 */
export function parseMac(s: string): Uint8Array | null {
  const out = new Uint8Array(6);
  let i = 0;
  for (let k = 0; k < 6; k++) {
    if (k > 0) {
      const sep = s.charCodeAt(i);
      if (sep !== 58 /* : */ && sep !== 45 /* - */) return null;
      i++;
    }
    const h = hexVal(s.charCodeAt(i));
    if (h < 0) return null;
    i++;
    const l = hexVal(s.charCodeAt(i));
    if (l < 0) {
      out[k] = h;
    } else {
      out[k] = (h << 4) | l;
      i++;
    }
  }
  return i === s.length ? out : null;
}

/** Whether two MAC addresses (`a[aOff..+6)`, `b[bOff..+6)`) are equal. Allocates nothing. */
export function macEquals(a: Uint8Array, b: Uint8Array, aOff = 0, bOff = 0): boolean {
  return (
    a[aOff] === b[bOff] &&
    a[aOff + 1] === b[bOff + 1] &&
    a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] &&
    a[aOff + 4] === b[bOff + 4] &&
    a[aOff + 5] === b[bOff + 5]
  );
}

/** Whether the MAC at `mac[off..+6)` is a group (multicast or broadcast) address: the I/G bit of the first byte. */
export function macIsMulticast(mac: Uint8Array, off = 0): boolean {
  return ((mac[off] ?? 0) & 1) === 1;
}

/** Whether the MAC at `mac[off..+6)` is ff:ff:ff:ff:ff:ff. */
export function macIsBroadcast(mac: Uint8Array, off = 0): boolean {
  return macEquals(mac, BROADCAST_MAC, off, 0);
}

/**
 * Format an IPv4 address (unsigned 32-bit number) as a dotted quad. Values
 * outside 0..2^32-1 are first reduced with `>>> 0`. Allocates the string only.
 */
export function ipv4ToString(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/**
 * Parse a strict dotted quad (`"10.0.0.1"`): exactly four decimal parts,
 * each 0..255, no leading zeros (so `"010.0.0.1"`, which `inet_aton` would
 * read as octal, is rejected rather than misread), no whitespace, no
 * shorthand forms (`"10.1"`). Returns the address as an unsigned 32-bit
 * number, or `null`. Scans character codes: allocates nothing, never throws.
 */
export function parseIpv4(s: string): number | null {
  const n = s.length;
  if (n < 7 || n > 15) return null;
  let addr = 0;
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (s.charCodeAt(i) !== 46 /* . */) return null;
      i++;
    }
    const start = i;
    let v = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || v > 255) return null;
    if (digits > 1 && s.charCodeAt(start) === 48) return null; // leading zero
    addr = addr * 256 + v;
  }
  return i === n ? addr >>> 0 : null;
}

/** Read a big-endian IPv4 address from `buf[off..off+4)`. The caller guarantees the bounds. */
export function readIpv4(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Write IPv4 address `a` big-endian into `buf[off..off+4)`. The caller guarantees the bounds. */
export function writeIpv4(buf: Uint8Array, off: number, a: number): void {
  buf[off] = a >>> 24;
  buf[off + 1] = a >>> 16;
  buf[off + 2] = a >>> 8;
  buf[off + 3] = a;
}

/** Netmask for a prefix length 0..32 as an unsigned number (`/24` → 0xffffff00). Out-of-range lengths are clamped. */
export function ipv4PrefixMask(prefixLen: number): number {
  if (prefixLen <= 0) return 0;
  if (prefixLen >= 32) return 0xffffffff;
  return (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** 224.0.0.0/4 (RFC 5771). */
export function ipv4IsMulticast(a: number): boolean {
  return a >>> 28 === 0xe;
}

/** 127.0.0.0/8 (RFC 1122 3.2.1.3 (g)). */
export function ipv4IsLoopback(a: number): boolean {
  return a >>> 24 === 127;
}

/** 0.0.0.0/8, "this network" (RFC 1122 3.2.1.3 (a)/(b)): never valid as a destination. */
export function ipv4IsThisNetwork(a: number): boolean {
  return a >>> 24 === 0;
}

/** 240.0.0.0/4 reserved (class E), including the limited broadcast address. */
export function ipv4IsReserved(a: number): boolean {
  return a >>> 28 === 0xf;
}
