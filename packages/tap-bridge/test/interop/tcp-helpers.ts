/**
 * The stack side of the TCP interoperability tests: connect, listen/accept,
 * send random bytes and hash them, receive and hash until end of file —
 * on the socket system calls of a `SocketTable`, as a rump client would
 * make them. Every wait is bounded in time by the caller's deadline and
 * every loop in count.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { expect } from 'chai';
import * as rump from '@rumpnet/stack';
import type { Interop } from './harness.js';
import { withDeadline } from './harness.js';

const { AF_INET, SOCK, SHUT, Errno, errnoName, sockaddrIn, makeUio, BufferCopySource, BufferCopySink } = rump;

/** One MiB. */
export const MiB = 1 << 20;

/** Bytes each way of the bulk tests: 256 MiB (the target); `RUMPNET_SHORT=1` makes it 32 MiB for quick local runs. */
export const BULK = process.env.RUMPNET_SHORT === '1' ? 32 * MiB : 256 * MiB;

/** A name for an errno in assertion messages. */
export function en(errno: number): string {
  return errno === 0 ? '0' : `${errnoName(errno) ?? '?'} (${errno})`;
}

/** A new TCP socket; asserts it was made. */
export function tcpSocket(env: Interop): number {
  const { errno, fd } = env.t.socket(AF_INET, SOCK.STREAM, 0);
  expect(en(errno), 'socket(AF_INET, SOCK_STREAM)').to.equal('0');
  return fd;
}

/** Connects a new TCP socket to `addr:port`; resolves with the fd. */
export async function tcpConnect(env: Interop, addr: number, port: number, ms = 10000): Promise<number> {
  const fd = tcpSocket(env);
  const err = await withDeadline(env.t.connect(fd, sockaddrIn(addr, port)), ms, `connect to port ${port}`);
  expect(en(err), `connect to port ${port}`).to.equal('0');
  return fd;
}

/** A listening TCP socket on the stack's address and `port`. */
export function tcpListen(env: Interop, port: number, backlog = 256): number {
  const fd = tcpSocket(env);
  expect(en(env.t.bind(fd, sockaddrIn(env.stackAddr, port))), `bind :${port}`).to.equal('0');
  expect(en(env.t.listen(fd, backlog)), `listen :${port}`).to.equal('0');
  return fd;
}

/** Accepts one connection. */
export async function tcpAccept(env: Interop, lfd: number, ms = 10000): Promise<number> {
  const r = await withDeadline(env.t.accept(lfd), ms, 'accept');
  expect(en(r.errno), 'accept').to.equal('0');
  return r.fd;
}

/** Sends all of `data`, looping over partial sends (bounded). */
export async function sendAll(env: Interop, fd: number, data: Uint8Array): Promise<void> {
  let off = 0;
  for (let i = 0; off < data.length && i < 100_000; i++) {
    const n = data.length - off;
    const r = await env.t.sendto(fd, makeUio([{ base: off, len: n }], 'write'), new BufferCopySource(data), null);
    expect(en(r.errno), `send at offset ${off}`).to.equal('0');
    expect(r.bytes, `send at offset ${off} made no progress`).to.be.greaterThan(0);
    off += r.bytes;
  }
  expect(off).to.equal(data.length);
}

/**
 * Sends `total` random bytes in 1 MiB chunks; resolves with their sha256.
 * Random (not a pattern) so a misplaced or repeated segment cannot hash the same.
 */
export async function sendRandom(env: Interop, fd: number, total: number): Promise<string> {
  const h = createHash('sha256');
  const chunk = new Uint8Array(MiB);
  for (let left = total, i = 0; left > 0 && i < 1 << 20; i++) {
    const part = chunk.subarray(0, Math.min(MiB, left));
    randomFillSync(part);
    h.update(part);
    await sendAll(env, fd, part);
    left -= part.length;
  }
  return h.digest('hex');
}

/** Receives until end of file; resolves with the byte count and sha256. */
export async function recvHash(env: Interop, fd: number, maxBytes = 1 << 30): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  const buf = new Uint8Array(MiB);
  const sink = new BufferCopySink(buf);
  let bytes = 0;
  // At least one byte per pass until EOF: bounded by maxBytes + 1 passes.
  for (let i = 0; i <= maxBytes; i++) {
    const r = await env.t.recvfrom(fd, makeUio([{ base: 0, len: buf.length }], 'read'), sink, 0, true);
    expect(en(r.errno), `recv after ${bytes} bytes`).to.equal('0');
    if (r.bytes === 0) break;
    h.update(buf.subarray(0, r.bytes));
    bytes += r.bytes;
    expect(bytes, 'more bytes than were sent').to.be.at.most(maxBytes);
  }
  return { bytes, sha256: h.digest('hex') };
}

/** Receives until end of file into one buffer (for small exchanges). */
export async function recvAll(env: Interop, fd: number, maxBytes: number): Promise<Uint8Array> {
  const buf = new Uint8Array(maxBytes + 1);
  let got = 0;
  for (let i = 0; i <= maxBytes + 1; i++) {
    const r = await env.t.recvfrom(fd, makeUio([{ base: got, len: buf.length - got }], 'read'), new BufferCopySink(buf), 0, true);
    expect(en(r.errno), `recv after ${got} bytes`).to.equal('0');
    if (r.bytes === 0) break;
    got += r.bytes;
    expect(got, 'more bytes than expected').to.be.at.most(maxBytes);
  }
  return buf.subarray(0, got);
}

/** `shutdown(fd, SHUT_WR)`: our FIN. */
export function shutdownWrite(env: Interop, fd: number): void {
  expect(en(env.t.shutdown(fd, SHUT.WR)), 'shutdown(SHUT_WR)').to.equal('0');
}

/** The stack's connections in `state` (e.g. `TIME-WAIT`) with foreign or local port `port`. */
export function stackConns(env: Interop, state: string, port: number): number {
  const list = env.tcp?.connections?.() ?? [];
  return list.filter((c) => c.state === state && (c.fport === port || c.lport === port)).length;
}

/** Linux's TCP sockets in `state` (`ss` state name, e.g. `time-wait`) involving `port`. */
export async function linuxConns(env: Interop, state: string, port: number): Promise<number> {
  const out = await env.ns.check('ss', ['-Htn', 'state', state, `( sport = :${port} or dport = :${port} )`]);
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

export { Errno };
