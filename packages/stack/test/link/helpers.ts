/** Shared helpers for the link tests. */
import type { Link } from '../../src/link/link.js';

/** Resolve after one turn of the event loop (every setImmediate flush queued before has run). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Broadcast destination, so a switched wire floods the test frames. */
export const BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/**
 * A test frame: destination MAC, source MAC, EtherType 0x88b5 (local
 * experimental), then the sequence number `id` as a big-endian u32 and filler.
 */
export function frame(id: number, len = 64, dst: Uint8Array = BROADCAST): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f[12] = 0x88;
  f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, id >>> 0);
  for (let i = 18; i < len; i++) f[i] = (id + i) & 0xff;
  return f;
}

/** The sequence number written by {@link frame}. */
export function idOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14);
}

/** Attach a receiver that records every frame (copied, since frames are lent) and every batch size. */
export function recorder(link: Link): { frames: Uint8Array[]; batches: number[] } {
  const rec = { frames: [] as Uint8Array[], batches: [] as number[] };
  link.attach((frames) => {
    rec.batches.push(frames.length);
    for (const f of frames) rec.frames.push(f.slice());
  });
  return rec;
}
