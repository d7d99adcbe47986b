/**
 * The worker behind {@link reservePortSync} (see portsync.ts): it holds its
 * own connection to the rump server and answers "which port would
 * `listen(0)` on this address get?" with socket, bind(addr:0), getsockname
 * and close, while the main thread waits on a shared word. Not an entry
 * point for users.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RumpConnection } from './connection.js';

/** What the main thread sends for each reservation. */
interface Ask {
  readonly seq: number;
  readonly address: string;
  /** 6: an AF_INET6 socket binds `address` (dual-stack, as the listener's will be unless v6-only). */
  readonly family?: 4 | 6;
}

/** The shared words: [0] sequence answered, [1] port (0: failed), [2] errno of a failure. */
const state = new Int32Array(workerData.shared as SharedArrayBuffer);
let conn: Promise<RumpConnection> | undefined;

function answer(seq: number, port: number, errno: number): void {
  Atomics.store(state, 1, port);
  Atomics.store(state, 2, errno);
  Atomics.store(state, 0, seq);
  Atomics.notify(state, 0);
}

parentPort!.on('message', (m: Ask) => {
  void (async () => {
    try {
      conn ??= RumpConnection.connect(workerData.url as string, { name: `${workerData.name as string} (listen ports)`, shm: false /* it only asks for ports: no receive bytes to share */ }).then(
        (c) => {
          c.once('close', () => (conn = undefined));
          return c;
        },
        (e: unknown) => {
          conn = undefined;
          throw e;
        },
      );
      const c = await conn;
      const fd = await c.sys.socket('stream', { domain: m.family === 6 ? 'inet6' : 'inet' });
      try {
        await c.sys.bind(fd, { family: m.family === 6 ? 'inet6' : 'inet', address: m.address, port: 0 });
        const a = await c.sys.getsockname(fd);
        answer(m.seq, a.port, 0);
      } finally {
        await c.sys.close(fd).catch(() => undefined);
      }
    } catch (err) {
      const errno = (err as { errno?: unknown }).errno;
      answer(m.seq, 0, typeof errno === 'number' ? Math.abs(errno) : -1);
    }
  })();
});
