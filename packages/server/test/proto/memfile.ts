/**
 * A TEST-ONLY syscall table, "memfile": files of bytes in server memory,
 * written and read through the copy interface exactly as the socket layer
 * will: `write` copies in through `copySource` one extended cluster
 * (MCLNUM clusters of MCLBYTES) per COPYIN request, like `sosend` filling
 * mbuf clusters; `read` copies out one COPYOUT per cluster ('per-mbuf') or
 * one per call ('coalesced'), like `soreceive`.
 */
import { createHash } from 'node:crypto';
import { Errno, StackError } from '@rumpnet/stack';
import { T, opt, type SyscallSchema } from '../../src/proto/index.js';
import type { ClientSession, StackParams, SyscallContext, SyscallHandlers } from '../../src/session/index.js';

const schema = (args: SyscallSchema['args'], copy: SyscallSchema['copy'] = 'none', buffers: string[] = []): SyscallSchema => ({
  args,
  buffers,
  copy,
});

/** Schemas of the memfile table. */
export const MEMFILE_SCHEMAS: Readonly<Record<string, SyscallSchema>> = {
  null: schema({}),
  write: schema({ fd: T.fd, buf: T.handle, len: T.len }, 'in', ['buf']),
  read: schema({ fd: T.fd, buf: T.handle, len: T.len }, 'out', ['buf']),
  stat: schema({ fd: T.fd }),
  block: schema({ key: T.name }),
  release: schema({ key: T.name }),
  fail: schema({ errno: T.int, addr: opt(T.sockaddr) }),
  crash: schema({}),
  huge: schema({ rows: T.len }),
  peek: schema({ buf: T.handle, off: T.len, len: T.len }, 'in', ['buf']),
  stats: schema({}),
  unimplemented: schema({}),
};

/** A memfile table and its state, for assertions. */
export interface Memfile {
  readonly handlers: SyscallHandlers;
  readonly schemas: Readonly<Record<string, SyscallSchema>>;
  /** File contents by descriptor. */
  readonly files: Map<number, { chunks: Uint8Array[]; size: number; readAt: number }>;
  /** Sessions whose close hook ran. */
  readonly closedSessions: number[];
  /** Keys currently blocked in `block`. */
  readonly blocked: Map<string, () => void>;
  /** Errors `write` failed with, by errno. */
  readonly writeErrors: number[];
}

/** Builds a memfile table for the given stack parameters. */
export function createMemfile(params: StackParams): Memfile {
  const files: Memfile['files'] = new Map();
  const blocked = new Map<string, () => void>();
  const writeErrors: number[] = [];
  let nextFd = 3;
  const file = (fd: number) => {
    let f = files.get(fd);
    if (!f) files.set(fd, (f = { chunks: [], size: 0, readAt: 0 }));
    return f;
  };
  const handlers: SyscallHandlers = {
    null: async () => ({}),
    async write(_s: ClientSession, a: { fd: number; buf: number; len: number }, ctx: SyscallContext) {
      const src = ctx.copySource(a.buf);
      const f = file(a.fd);
      const ext = params.mclbytes * params.mclnum;
      let off = 0;
      // Bounded: each pass moves at least one byte of a finite length.
      while (off < a.len) {
        const n = Math.min(ext, a.len - off);
        const dsts: Uint8Array[] = [];
        for (let at = 0; at < n; at += params.mclbytes) {
          dsts.push(new Uint8Array(params.mclbytes).subarray(0, Math.min(params.mclbytes, n - at)));
        }
        try {
          await src.copyin(off, dsts);
        } catch (err) {
          writeErrors.push((err as StackError).errno);
          throw err;
        }
        for (const d of dsts) f.chunks.push(d);
        f.size += n;
        off += n;
      }
      return { bytes: a.len };
    },
    async read(_s: ClientSession, a: { fd: number; buf: number; len: number }, ctx: SyscallContext) {
      const sink = ctx.copySink(a.buf);
      const f = file(a.fd);
      const data = Buffer.concat(f.chunks).subarray(f.readAt, f.readAt + a.len);
      const mbufs: Uint8Array[] = [];
      for (let at = 0; at < data.length; at += params.mclbytes) mbufs.push(data.subarray(at, at + params.mclbytes));
      if (params.rxMode === 'coalesced') {
        if (mbufs.length > 0) await sink.copyout(0, mbufs);
      } else {
        let at = 0;
        for (const m of mbufs) {
          await sink.copyout(at, [m]);
          at += m.length;
        }
      }
      f.readAt += data.length;
      return { bytes: data.length };
    },
    async stat(_s: ClientSession, a: { fd: number }) {
      const f = file(a.fd);
      return { size: f.size, sha256: createHash('sha256').update(Buffer.concat(f.chunks)).digest('hex') };
    },
    block(_s: ClientSession, a: { key: string }, ctx: SyscallContext) {
      return new Promise((resolve, reject) => {
        blocked.set(a.key, () => resolve({ released: true }));
        ctx.signal.addEventListener('abort', () => {
          blocked.delete(a.key);
          reject(new StackError(Errno.ECONNABORTED));
        });
      });
    },
    async release(_s: ClientSession, a: { key: string }) {
      const r = blocked.get(a.key);
      if (!r) throw new StackError(Errno.ENOENT);
      blocked.delete(a.key);
      r();
      return {};
    },
    async fail(_s: ClientSession, a: { errno: number }) {
      throw new StackError(a.errno);
    },
    async crash() {
      throw new Error('deliberate bug');
    },
    // A reply as big as `netstat -an` with thousands of sockets: `rows` rows of ~100 bytes.
    async huge(_s: ClientSession, a: { rows: number }) {
      return { rows: Array.from({ length: a.rows }, (_, i) => ({ id: i, text: 'x'.repeat(90) })) };
    },
    async peek(_s: ClientSession, a: { buf: number; off: number; len: number }, ctx: SyscallContext) {
      const dst = new Uint8Array(a.len);
      await ctx.copySource(a.buf).copyin(a.off, [dst]);
      return { hex: Buffer.from(dst).toString('hex') };
    },
    // Contract names, so the client's typed wrappers can be exercised against a fake kernel.
    async socket() {
      return { fd: nextFd++ };
    },
    async close(_s: ClientSession, a: { fd: number }) {
      if (!files.delete(a.fd)) throw new StackError(Errno.EBADF);
      return {};
    },
    async connect() {
      throw new StackError(Errno.ECONNREFUSED);
    },
    async getsockname(_s: ClientSession, a: { fd: number }) {
      return { addr: { family: 'inet', address: '127.0.0.1', port: 1000 + a.fd } };
    },
    sendto(s: ClientSession, a: { fd: number; buf: number; len: number }, ctx: SyscallContext) {
      return handlers.write!(s, { fd: a.fd, buf: a.buf, len: a.len }, ctx);
    },
    recvfrom(s: ClientSession, a: { fd: number; buf: number; len: number }, ctx: SyscallContext) {
      return handlers.read!(s, { fd: a.fd, buf: a.buf, len: a.len }, ctx);
    },
    async stats(s: ClientSession) {
      return { ...s.counters, inFlight: s.inFlight };
    },
  };
  return {
    handlers,
    schemas: MEMFILE_SCHEMAS,
    files,
    closedSessions: [],
    blocked,
    writeErrors,
  };
}
