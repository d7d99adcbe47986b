/**
 * The client's HANDSHAKE request checked (docs/PROTOCOL.md §5): the version,
 * who it says it is, and its capabilities — each a well-formed value or a
 * refusal, never a guess.
 *
 * @module
 */
import { PROTOCOL_VERSION } from '../proto/index.js';
import { parseShmOffer } from './shm.js';
import type { ShmAnnounce } from '@rumpnet/client/shm';

/** What the client said in a well-formed handshake. */
export interface HandshakeAsk {
  readonly version: number;
  readonly pid: number;
  readonly name: string;
  /** It takes a receive's bytes inside the RESP (`inlineRecv: true`). */
  readonly inlineRecv: boolean;
  /** It takes posted sends (`postedSend: true`, docs/PROTOCOL.md §6). */
  readonly postedSend: boolean;
  /** Its shared-memory region offer (§7a), if any. */
  readonly shm: (ShmAnnounce & { unknown?: string }) | undefined;
}

/** A refused handshake: the ERROR frame's head, and the reason for the log and the goodbye. */
export interface HandshakeRefusal {
  readonly head: Record<string, unknown>;
  readonly reason: string;
}

/** Checks a HANDSHAKE head: the client's ask, or the refusal to send before disconnecting. */
export function checkHandshake(h: Record<string, unknown>): HandshakeAsk | HandshakeRefusal {
  if (h.version !== PROTOCOL_VERSION) {
    const reason = `protocol version mismatch: server speaks ${PROTOCOL_VERSION}, client ${String(h.version)}`;
    return { reason, head: { reason, code: 'version', server: PROTOCOL_VERSION, client: h.version } };
  }
  if (!Number.isInteger(h.pid) || typeof h.name !== 'string' || h.name.length > 256) {
    return { reason: 'bad handshake', head: { reason: 'bad handshake: want {version, pid, name}' } };
  }
  // A capability is a boolean: anything else is refused rather than guessed at.
  for (const cap of ['inlineRecv', 'postedSend'] as const) {
    const v = h[cap];
    if (v === undefined || typeof v === 'boolean') continue;
    const reason = `bad handshake: ${cap} must be true or false, got ${typeof v === 'string' ? JSON.stringify(v.slice(0, 32)) : typeof v}`;
    return { reason, head: { reason, code: 'handshake' } };
  }
  const shm = parseShmOffer(h.shm);
  if (typeof shm === 'string') {
    const reason = `bad handshake: ${shm}`;
    return { reason, head: { reason, code: 'handshake' } };
  }
  return { version: h.version, pid: h.pid as number, name: h.name, inlineRecv: h.inlineRecv === true, postedSend: h.postedSend === true, shm };
}
