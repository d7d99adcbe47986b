/**
 * The limits one client session lives under, and their defaults. Every
 * limit bounds something a client can make the server hold — memory,
 * clusters, time — so that one client's misbehaviour costs that client
 * alone (docs/ARCHITECTURE.md, "Resource limits"; docs/PROTOCOL.md §10).
 *
 * @module
 */
import { DEFAULT_MAX_FRAME } from '../proto/index.js';

/** Per-client limits of the protocol session. */
export interface SessionLimits {
  /**
   * Largest frame the server sends (a coalesced COPYOUT of a large receive
   * is the biggest), reported to the client in the handshake.
   */
  readonly maxFrame: number;
  /**
   * Largest frame a client may send. Requests carry only a head (at most
   * 64 KiB) and COPYIN replies at most MCLNUM × MCLBYTES (≤ 256 KiB), so the
   * default is 256 KiB + 4 KiB; a longer `len` in a header is fatal before
   * any of it is buffered. The effective limit is the smaller of this and
   * {@link SessionLimits.maxFrame}.
   */
  readonly maxClientFrame: number;
  /** Syscalls served at once; further ones wait in a queue counted against maxBufferedBytes. */
  readonly maxInFlight: number;
  /** Memory of queued requests (bytes plus a per-request overhead) before the client is disconnected. */
  readonly maxBufferedBytes: number;
  /**
   * Memory of replies queued to a client (bytes plus {@link FRAME_MEMORY_OVERHEAD}
   * per frame) above which the server stops reading that client's requests
   * (backpressure) until it has read them.
   */
  readonly replyBackpressureBytes: number;
  /** Memory of replies queued to a client that does not read, counted as above, before it is disconnected (the hard limit). */
  readonly maxWriteBufferedBytes: number;
  /** Milliseconds a COPYIN may take, from when the copy is asked (waiting for a slot included) to the reply; then it fails with EFAULT. */
  readonly copyinTimeoutMs: number;
  /** COPYIN requests outstanding at once; further copies wait for a slot (within their timeout). */
  readonly maxCopyins: number;
  /** Protocol errors tolerated before the client is disconnected. */
  readonly maxProtocolErrors: number;
  /** Milliseconds allowed for the handshake. */
  readonly handshakeTimeoutMs: number;
  /** Milliseconds a frame may stay half-received (started, not finished) before the client is disconnected. */
  readonly frameTimeoutMs: number;
}

/**
 * Memory one queued frame costs beyond its bytes: Node's write-queue entry,
 * the Buffer object and its slab share. Measured: 200 000 frames of 30
 * bytes queued on a Unix socket nobody reads cost 270 bytes of RSS each.
 */
export const FRAME_MEMORY_OVERHEAD = 256;

/** Memory one queued request costs beyond its encoded bytes (the decoded head and its frame record). */
export const REQUEST_MEMORY_OVERHEAD = 512;

/** Default limits (docs/ARCHITECTURE.md, "Resource limits", says why each). */
export const DEFAULT_LIMITS: SessionLimits = {
  maxFrame: DEFAULT_MAX_FRAME,
  maxClientFrame: 256 * 1024 + 4096,
  maxInFlight: 256,
  maxBufferedBytes: 8 * 1024 * 1024,
  replyBackpressureBytes: 1024 * 1024,
  maxWriteBufferedBytes: 32 * 1024 * 1024,
  copyinTimeoutMs: 5_000,
  maxCopyins: 64,
  maxProtocolErrors: 64,
  handshakeTimeoutMs: 10_000,
  frameTimeoutMs: 10_000,
};
