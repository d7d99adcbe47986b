/**
 * The hop counters (the benchmark's "hops per echo"): the client counts the
 * frames it sends and receives and the socket writes and reads they took,
 * the server's session counts the same frames from its side. A known
 * exchange must count exactly its messages, and both ends must agree.
 */
import { expect } from 'chai';
import { RumpConnection, type ClientCounters } from '@rumpnet/client';
import { cleanupDirs, startServer, type TestServer } from './helpers.js';

type Hops = Pick<ClientCounters, 'framesSent' | 'framesReceived' | 'socketWrites' | 'socketReads'>;

function delta(before: Hops, after: Hops): Hops {
  return {
    framesSent: after.framesSent - before.framesSent,
    framesReceived: after.framesReceived - before.framesReceived,
    socketWrites: after.socketWrites - before.socketWrites,
    socketReads: after.socketReads - before.socketReads,
  };
}

const snap = (c: RumpConnection): Hops => ({ ...c.counters });

describe('hop counters', () => {
  let srv: TestServer;
  let c: RumpConnection;
  before(async () => {
    // NetBSD's copy path: one 2048-byte cluster per COPYIN, one COPYOUT per cluster.
    srv = await startServer({ mclbytes: 2048, mclnum: 1, rxMode: 'per-mbuf' });
    c = await RumpConnection.connect(srv.url, { name: 'hops' });
  });
  after(async () => {
    await c.close();
    await srv.listener.close();
    cleanupDirs();
  });

  const session = () => srv.listener.sessions.find((s) => s.id === c.params.session)!;

  it('counts the handshake: one frame each way', () => {
    // The banner is not a frame; the handshake request and its reply are.
    expect(c.counters.framesSent).to.equal(1);
    expect(c.counters.framesReceived).to.equal(1);
    expect(c.counters.socketWrites).to.equal(1);
  });

  it('a call without buffers is two hops: the request and its reply', async () => {
    const b = snap(c);
    const sb = { ...session().counters };
    await c.call('null', {});
    const d = delta(b, snap(c));
    expect(d).to.include({ framesSent: 1, framesReceived: 1, socketWrites: 1 });
    expect(d.socketReads).to.equal(1); // one reply frame, one read: nothing else was in flight
    expect(session().counters.framesIn - sb.framesIn).to.equal(1);
    expect(session().counters.framesOut - sb.framesOut).to.equal(1);
  });

  it('a 5000-byte write at MCLNUM 1 is 8 hops: request, 3 × (COPYIN, its reply), reply', async () => {
    const data = new Uint8Array(5000).fill(7);
    const b = snap(c);
    const sb = { ...session().counters };
    await c.call('write', { fd: 1, len: data.length }, { buffers: { buf: data } });
    const d = delta(b, snap(c));
    // 5000 bytes = 2048 + 2048 + 904: three COPYIN requests, each answered.
    expect(d.framesSent).to.equal(1 + 3);
    expect(d.framesReceived).to.equal(3 + 1);
    // The request's turn, then the COPYIN replies: a turn each when the server asks one at a
    // time (memfile's write does), fewer if it ever asks for several at once.
    expect(d.socketWrites).to.be.within(2, 4);
    expect(session().counters.framesIn - sb.framesIn).to.equal(d.framesSent);
    expect(session().counters.framesOut - sb.framesOut).to.equal(d.framesReceived);
    expect(session().counters.copyinRequests - sb.copyinRequests).to.equal(3);
  });

  it('a 5000-byte read, per-mbuf, is 5 hops: request, 3 COPYOUTs, reply', async () => {
    const buf = new Uint8Array(5000);
    await c.call('write', { fd: 9, len: 5000 }, { buffers: { buf: new Uint8Array(5000).fill(1) } });
    const b = snap(c);
    await c.call('read', { fd: 9, len: buf.length }, { buffers: { buf } });
    const d = delta(b, snap(c));
    expect(d.framesSent).to.equal(1);
    expect(d.framesReceived).to.equal(3 + 1);
    expect(d.socketWrites).to.equal(1);
    // The COPYOUTs and the reply leave the server in one turn: at most 4 reads, usually 1.
    expect(d.socketReads).to.be.within(1, 4);
  });

  it('calls issued in one turn leave in one socket write', async () => {
    const b = snap(c);
    await Promise.all([c.call('null', {}), c.call('null', {}), c.call('null', {})]);
    const d = delta(b, snap(c));
    expect(d).to.include({ framesSent: 3, framesReceived: 3, socketWrites: 1 });
  });
});
