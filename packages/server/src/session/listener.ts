/**
 * The rump server's listening socket, like `rumpuser_sp_init` in NetBSD's
 * `rumpuser_sp.c`: a Unix domain socket (mode 0600 unless widened), or a
 * loopback TCP port when explicitly asked with `tcp://127.0.0.1:PORT`. Each
 * accepted connection becomes a {@link ClientSession}.
 */
import { EventEmitter } from 'node:events';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import { parseServerUrl, type ServerAddress } from '../proto/index.js';
import { AdminPolicy, type SessionAuth } from './admin.js';
import { refuseConnection } from './refuse.js';
import { ClientSession, resolveSchemas, silentLogger, type SessionOptions } from './session.js';

/** Options of {@link RumpListener.listen}. */
export interface ListenerOptions extends Omit<SessionOptions, 'id'> {
  /** Mode of the socket file (default 0o600: only the server's user may connect). */
  readonly mode?: number;
  /** Called for every new session as it is created, before any of its frames is read (attach `onClose` here). */
  readonly onSession?: (session: ClientSession) => void;
  /**
   * Decides each session's rights from its peer's credentials at accept
   * (default: root and the server's own uid are admin; TCP clients are not).
   */
  readonly admin?: AdminPolicy;
  /**
   * Most sessions open at once (a session counts until its close hooks have
   * run); a connection beyond it is refused with a banner and an ERROR frame
   * (`code: 'busy'`) and closed at once. Default: no cap.
   */
  readonly maxSessions?: number;
  /**
   * Asked for each connection within the server-wide cap, once its rights
   * are known and in the same turn as `onSession` (so nothing slips in
   * between): a reason to refuse it (the per-user session limit, quota.ts),
   * or null to admit it. Default: admit.
   */
  readonly admit?: (auth: SessionAuth) => { reason: string; limit: number } | null;
}

/** An error with a Node-style code. */
function codedError(code: string, message: string): Error & { code: string } {
  const e = new Error(message) as Error & { code: string };
  e.code = code;
  return e;
}

/**
 * Tells whether a server answers on a Unix socket path: resolves true when a
 * connection succeeds, false when the connection is refused (a stale file).
 */
function somebodyListens(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path });
    const t = setTimeout(() => {
      s.destroy();
      resolve(true); // a listener too busy to accept is still a listener
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', (err: Error & { code?: string }) => {
      clearTimeout(t);
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
      else reject(err);
    });
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A listening rump server endpoint and its sessions. Events: `'session'` (session). */
export class RumpListener extends EventEmitter {
  private readonly sessionSet = new Set<ClientSession>();
  private readonly policy: AdminPolicy;
  private nextId = 1;
  private closing: Promise<void> | undefined;
  /** Connections refused because the session cap or a per-user session limit (`admit`) was reached. */
  refused = 0;

  private constructor(
    private readonly server: net.Server,
    /** Where it listens. */
    readonly address: ServerAddress,
    private readonly opts: ListenerOptions,
    private readonly ownsPath: string | undefined,
  ) {
    super();
    this.policy = opts.admin ?? new AdminPolicy();
    server.on('connection', (sock) => this.accept(sock));
  }

  /**
   * Listens on `url` (`unix:///path`, a plain path, or `tcp://127.0.0.1:PORT`).
   * A stale socket file (nobody answers) is removed first; a live one makes
   * this reject with `EADDRINUSE`, and a path that is not a socket with
   * `EEXIST` (it is never deleted). TCP is refused for non-loopback hosts
   * (`EACCES`): the protocol has no authentication. Throws a `TypeError` when a
   * handler has no schema.
   */
  static async listen(url: string, opts: ListenerOptions): Promise<RumpListener> {
    resolveSchemas(opts.handlers, opts.schemas); // configuration errors surface now, not per client
    const address = parseServerUrl(url);
    const server = net.createServer({ noDelay: true });
    if (address.kind === 'tcp') {
      if (!isLoopback(address.host)) throw codedError('EACCES', `refusing to serve rump clients on non-loopback ${address.host}`);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: address.host, port: address.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const bound = server.address() as net.AddressInfo;
      return new RumpListener(server, { kind: 'tcp', host: address.host, port: bound.port }, opts, undefined);
    }
    const path = address.path;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      st = undefined;
    }
    if (st) {
      if (!st.isSocket()) throw codedError('EEXIST', `${path} exists and is not a socket; not removing it`);
      if (await somebodyListens(path)) throw codedError('EADDRINUSE', `a server already answers on ${path}`);
      unlinkSync(path);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // bind(2) creates the file under the umask: narrow it for the bind so the
      // file is never wider than 0600, even for an instant, then set the mode asked.
      let old: number | undefined;
      try {
        old = process.umask(0o177);
      } catch {
        old = undefined; // worker threads cannot change the umask; chmod below still applies
      }
      try {
        server.listen({ path }, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        if (old !== undefined) process.umask(old);
      }
    });
    chmodSync(path, opts.mode ?? 0o600);
    return new RumpListener(server, address, opts, path);
  }

  /** Sessions currently open. */
  get sessions(): readonly ClientSession[] {
    return [...this.sessionSet];
  }

  /** A URL a client can connect with. */
  get url(): string {
    const a = this.address;
    return a.kind === 'unix' ? `unix://${a.path}` : `tcp://${a.host}:${a.port}`;
  }

  /**
   * Stops listening, disconnects every client (their close hooks run), and
   * removes the socket file. Resolves when all sessions have closed.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      const sessions = [...this.sessionSet];
      for (const s of sessions) s.disconnect('server shutting down', 'info');
      await Promise.all(sessions.map((s) => s.closed));
      await closed;
      if (this.ownsPath) {
        try {
          unlinkSync(this.ownsPath);
        } catch {
          /* already gone (net.Server removes it on close on some versions) */
        }
      }
    })();
    return this.closing;
  }

  private accept(sock: net.Socket): void {
    if (this.closing) {
      sock.destroy();
      return;
    }
    const cap = this.opts.maxSessions;
    if (cap !== undefined && this.sessionSet.size >= cap) {
      this.refused++;
      // Logged at the 1st, 2nd, 4th, 8th ... refusal: a flood of connects must not flood the log.
      if ((this.refused & (this.refused - 1)) === 0) {
        (this.opts.log ?? silentLogger).warn({ sessions: this.sessionSet.size, maxSessions: cap, refused: this.refused }, 'session cap reached: connection refused');
      }
      return refuseConnection(sock, this.opts.software ?? 'rump-server/0.1.0', {
        reason: `server busy: ${cap} sessions open (the --max-sessions cap); try again later`,
        code: 'busy',
        maxSessions: cap,
      });
    }
    // The peer's rights, from the kernel's record of it at connect(2).
    const auth = this.policy.decideSocket(sock, this.address.kind);
    const no = this.opts.admit?.(auth) ?? null;
    if (no !== null) {
      this.refused++;
      if ((this.refused & (this.refused - 1)) === 0) {
        (this.opts.log ?? silentLogger).warn({ user: auth.principal, limit: no.limit, refused: this.refused }, 'user session limit reached: connection refused');
      }
      return refuseConnection(sock, this.opts.software ?? 'rump-server/0.1.0', { reason: no.reason, code: 'busy', maxSessions: no.limit, limit: 'user-sessions', user: auth.principal });
    }
    const session = new ClientSession(sock, { ...this.opts, id: this.nextId++, log: this.opts.log ?? silentLogger, auth });
    this.sessionSet.add(session);
    void session.closed.then(() => this.sessionSet.delete(session));
    this.opts.onSession?.(session);
    this.emit('session', session);
  }
}
