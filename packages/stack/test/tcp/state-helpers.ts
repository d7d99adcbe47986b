/** Helpers for the state-machine tests: open connections through a Channel. */
import { expect } from 'chai';
import { mFromBytes } from '../../src/mbuf/index.js';
import { AF_INET, SOCK } from '../../src/socket/constants.js';
import { sockaddrIn } from '../../src/socket/sockaddr.js';
import type { TcpCb } from '../../src/transport/tcp/index.js';
import { ACK, B, Channel, SYN } from './harness.js';

export const IRS = 0x10000000;

/** Peer options for the handshake. */
export interface PeerOpts {
  mss?: number;
  wscale?: number | null;
  sack?: boolean;
  ts?: boolean;
  /** The peer's TSval in its SYN-ACK (default 5000). */
  tsVal?: number;
  window?: number;
  /** Virtual ms between our SYN and the SYN-ACK (the first RTT sample; default 0). */
  rtt?: number;
}

/** An ESTABLISHED connection opened actively by the stack. */
export interface Est {
  fd: number;
  iss: number;
  /** Next sequence number the stack will send / the peer sends. */
  snd: number;
  rcv: number;
  tsPeer: number;
  tp: TcpCb;
}

export function tcbOf(ch: Channel, fd: number): TcpCb {
  return (ch.so(fd).pcb as { ppcb: TcpCb }).ppcb;
}

/** Connect from the stack to B:40000 and complete the handshake. */
export async function established(ch: Channel, peer: PeerOpts = {}): Promise<Est> {
  const fd = ch.table.socket(AF_INET, SOCK.STREAM, 0).fd;
  const p = ch.table.connect(fd, sockaddrIn(B, ch.peerPort));
  const syn = ch.expectSegment({ flags: SYN });
  ch.localPort = syn.repr.srcPort;
  const iss = syn.repr.seq;
  const ts = peer.ts ?? true;
  if (peer.rtt !== undefined) ch.clock.advance(peer.rtt);
  ch.inject({
    flags: SYN | ACK,
    seq: IRS,
    ack: iss + 1,
    window: peer.window ?? 65535,
    mss: peer.mss ?? 1460,
    windowScale: peer.wscale === undefined ? null : peer.wscale,
    sackPermitted: peer.sack ?? true,
    tsVal: ts ? (peer.tsVal ?? 5000) : null,
    tsEcr: ts ? syn.repr.tsVal! : 0,
  });
  ch.expectSegment({ flags: ACK, seq: iss + 1, ack: IRS + 1 });
  expect(await p).to.equal(0);
  return { fd, iss, snd: (iss + 1) >>> 0, rcv: IRS + 1, tsPeer: peer.tsVal ?? 5000, tp: tcbOf(ch, fd) };
}

/** Queue `bytes` for sending on `fd` (as sosend would, without the uio). */
export function send(ch: Channel, fd: number, bytes: Uint8Array): void {
  const so = ch.so(fd);
  expect(so.proto.usrreqs.send(so, mFromBytes(ch.host.pool, bytes)!, bytes.length, null, 0)).to.equal(0);
}

/** Bytes 0..n-1 mod 251. */
export function bytes(n: number, base = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (base + i) % 251;
  return b;
}
