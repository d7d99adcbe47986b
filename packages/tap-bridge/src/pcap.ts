/**
 * Packet capture: a classic libpcap file writer and {@link withPcap}, which
 * wraps any `Link` so that every frame in either direction is recorded —
 * the `--pcap FILE` of the server, and the captures the interoperability
 * tests hand to tshark.
 *
 * File format (libpcap "classic", as written by tcpdump): a 24-byte global
 * header (magic 0xa1b2c3d4 in host order, so readers detect byte order; v2.4;
 * snaplen; link type), then per packet a 16-byte record header (seconds,
 * microseconds, captured length, original length) and the bytes.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { wire, type Link, type LinkReceiver, type LinkStats } from '@rumpnet/stack';
import type { TxMeta } from './tap.js';
import { RX_CSUM_PARTIAL } from './vnet.js';

/** LINKTYPE_ETHERNET: frames start with an Ethernet II header. */
export const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_RAW: bare IPv4/IPv6 packets (what a `loopback` link carries). */
export const LINKTYPE_RAW = 101;

/** Options of {@link PcapWriter}. */
export interface PcapWriterOptions {
  /** Link type in the file header (default {@link LINKTYPE_ETHERNET}). */
  linkType?: number;
  /**
   * Longest slice of a frame to keep (default 262144, tcpdump's: a 64 KiB
   * TSO/LRO super-packet fits whole); longer frames are truncated but keep
   * their original length.
   */
  snaplen?: number;
  /** Bytes buffered before a write to the file (default 64 KiB). */
  bufferBytes?: number;
  /** The clock in milliseconds since the epoch with sub-ms fraction (default: `performance.timeOrigin + performance.now()`). */
  now?: () => number;
}

/**
 * Appends packets to a pcap file. Records gather in a buffer that is written
 * when full, and at the latest one second after a packet (so a crashed
 * process loses at most about a second), and on {@link flush}/{@link close}.
 *
 * Writes are synchronous on purpose: `Link.close()` is synchronous, and when
 * it returns the capture must be complete on disk for tshark to read.
 * A 64 KiB write to the page cache takes tens of microseconds.
 */
export class PcapWriter {
  /** The file being written. */
  readonly path: string;
  /** Packets recorded so far. */
  packets = 0;
  #fd: number;
  #buf: Buffer;
  #used = 0;
  readonly #snaplen: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** Set once an I/O error stopped the capture; recording is then a no-op. */
  error: Error | undefined;

  /**
   * Creates (truncates) `path` and writes the global header.
   * @throws the `fs` error when the file cannot be created.
   */
  constructor(path: string, opts: PcapWriterOptions = {}) {
    this.path = path;
    this.#snaplen = opts.snaplen ?? 262144;
    this.#now = opts.now ?? (() => performance.timeOrigin + performance.now());
    this.#buf = Buffer.allocUnsafe(Math.max(opts.bufferBytes ?? 65536, 16 + this.#snaplen));
    this.#fd = openSync(path, 'w');
    const h = Buffer.alloc(24);
    h.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond timestamps
    h.writeUInt16LE(2, 4); // version 2.4
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8); // thiszone: UTC
    h.writeUInt32LE(0, 12); // sigfigs
    h.writeUInt32LE(this.#snaplen, 16);
    h.writeUInt32LE(opts.linkType ?? LINKTYPE_ETHERNET, 20);
    writeSync(this.#fd, h);
  }

  /** Whether the file is still open. */
  get open(): boolean {
    return this.#fd >= 0;
  }

  /**
   * Records one packet (copied; the caller keeps ownership of `bytes`).
   * Never throws: after an I/O error the capture stops and {@link error} is set.
   */
  write(bytes: Uint8Array, timestampMs = this.#now()): void {
    if (this.#fd < 0 || this.error !== undefined) return;
    const incl = Math.min(bytes.length, this.#snaplen);
    if (this.#used + 16 + incl > this.#buf.length) this.flush();
    const sec = Math.floor(timestampMs / 1000);
    const usec = Math.min(999999, Math.floor((timestampMs - sec * 1000) * 1000));
    const b = this.#buf;
    let o = this.#used;
    b.writeUInt32LE(sec >>> 0, o);
    b.writeUInt32LE(usec, o + 4);
    b.writeUInt32LE(incl, o + 8);
    b.writeUInt32LE(bytes.length, o + 12);
    o += 16;
    b.set(incl === bytes.length ? bytes : bytes.subarray(0, incl), o);
    this.#used = o + incl;
    this.packets++;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, 1000);
      this.#timer.unref();
    }
  }

  /** Writes the buffered records to the file. Never throws (see {@link error}). */
  flush(): void {
    if (this.#fd < 0 || this.#used === 0) return;
    try {
      let off = 0;
      // writeSync on a regular file writes everything or throws; bound the loop anyway.
      for (let i = 0; off < this.#used && i < 64; i++) off += writeSync(this.#fd, this.#buf, off, this.#used - off);
    } catch (e) {
      this.error = e as Error;
    }
    this.#used = 0;
  }

  /** Flushes and closes the file. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    this.flush();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    closeSync(this.#fd);
    this.#fd = -1;
  }
}

/** A `Link` that records its traffic; see {@link withPcap}. */
export interface PcapLink extends Link {
  /** The writer (its `packets` count, `flush()`). */
  readonly pcap: PcapWriter;
  /** The wrapped link. */
  readonly inner: Link;
}

/**
 * Wraps `link` so that every frame it sends or receives is also written to
 * the pcap file `file` (LINKTYPE_ETHERNET for Ethernet links, LINKTYPE_RAW
 * for loopback). Everything else is forwarded unchanged. Outbound frames are
 * recorded before they are handed to the link (which then owns them),
 * including frames the link goes on to drop. `close()` closes the link, then
 * flushes and closes the file.
 *
 * Offloads pass through (`offloads`, `outputGso`, receive flags). A frame
 * whose TCP/UDP checksum is partial (sent with `outputGso`, or received
 * with `RxFlag.CSUM_PARTIAL`) is recorded with the checksum completed, as
 * the device completes it — so tshark's checksum checks stay meaningful
 * (a wrong pseudo-header sum shows as a bad checksum); a TSO super-packet
 * is recorded whole, as one frame, like a capture on a Linux interface
 * with GSO. This costs one copy of such frames, only while capturing.
 *
 * @throws the `fs` error when the file cannot be created.
 */
export function withPcap(link: Link, file: string, opts: PcapWriterOptions = {}): PcapLink {
  const pcap = new PcapWriter(file, {
    linkType: link.kind === 'loopback' ? LINKTYPE_RAW : LINKTYPE_ETHERNET,
    ...opts,
  });
  return {
    pcap,
    inner: link,
    get name() {
      return link.name;
    },
    get kind() {
      return link.kind;
    },
    get mtu() {
      return link.mtu;
    },
    get mac() {
      return link.mac;
    },
    get up() {
      return link.up;
    },
    get offloads() {
      return link.offloads;
    },
    get offloadsOff() {
      return link.offloadsOff;
    },
    output(frame: Uint8Array): boolean {
      pcap.write(frame);
      return link.output(frame);
    },
    ...(link.outputGso !== undefined
      ? {
          outputGso(frame: Uint8Array, meta: TxMeta): boolean {
            const copy = frame.slice();
            wire.completePartialChecksum(copy, meta.csumStart, meta.csumOffset);
            pcap.write(copy);
            return link.outputGso!(frame, meta);
          },
        }
      : {}),
    attach(receiver: LinkReceiver): void {
      link.attach((frames, flags) => {
        for (let i = 0; i < frames.length; i++) {
          const f = frames[i]!;
          pcap.write(flags !== undefined && (flags[i]! & RX_CSUM_PARTIAL) !== 0 ? completedCopy(f) : f);
        }
        receiver(frames, flags);
      });
    },
    setUp(up: boolean): void {
      link.setUp(up);
    },
    setMtu(mtu: number): void {
      link.setMtu(mtu);
    },
    stats(): LinkStats {
      return link.stats();
    },
    close(): void {
      link.close();
      pcap.close();
    },
  };
}

/**
 * A copy of a received Ethernet/IPv4 or IPv6 frame whose TCP or UDP checksum is
 * partial, with the checksum completed (the receive side carries no
 * offsets: they follow from the headers). Other frames come back as they are.
 */
function completedCopy(f: Uint8Array): Uint8Array {
  let start: number;
  let proto: number;
  let end: number;
  if (f.length >= 34 && f[12] === 0x08 && f[13] === 0x00) {
    start = 14 + ((f[14]! & 15) << 2);
    proto = f[23]!;
    end = 14 + ((f[16]! << 8) | f[17]!); // IP total length: Ethernet padding is not summed
  } else if (f.length >= 54 && f[12] === 0x86 && f[13] === 0xdd) {
    // IPv6: Linux sends partial checksums with TCP/UDP right after the fixed header.
    start = 54;
    proto = f[20]!;
    end = 54 + ((f[18]! << 8) | f[19]!); // payload length
  } else return f;
  const offset = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (offset < 0 || end > f.length || start + offset + 2 > end) return f;
  const copy = f.slice();
  wire.completePartialChecksum(copy, start, offset, end);
  return copy;
}
