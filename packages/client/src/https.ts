/**
 * `node:https` on the rump stack for programs that use the client API
 * (under the hijack `https.get`/`https.request` need nothing: the hijack's
 * `tls.connect` carries them). Kept apart from ./tls.ts so that the hijack,
 * which loads ./tls.ts, does not load `node:https` (and with it `node:http`).
 */
import * as https from 'node:https';
import type * as tls from 'node:tls';
import { useRumpStack } from './server.js';
import type { RumpOptions } from './shared.js';
import { connectTls, type TlsConnectOptions } from './tls.js';

/** `https.Agent`'s TLS session cache (Node's, used by its own `createConnection`). */
interface SessionCache {
  _getSession(key: string): Buffer | undefined;
  _cacheSession(key: string, session: Buffer): void;
  _evictSession(key: string): void;
}

/**
 * An `https.Agent` whose connections are TLS over the rump stack
 * ({@link connectTls}), with Node's pooling, keep-alive and TLS session
 * reuse: `https.request({ agent: new HttpsAgent({ ca }), ... })`.
 *
 * @example
 * ```ts
 * const agent = new HttpsAgent({ ca: readFileSync('ca.pem'), keepAlive: true });
 * https.get({ host: '10.0.0.1', path: '/', agent }, (res) => res.pipe(process.stdout));
 * ```
 */
export class HttpsAgent extends https.Agent {
  readonly #rump: RumpOptions;
  /** Node's https agent options plus {@link RumpOptions}. */
  constructor(options: https.AgentOptions & RumpOptions = {}) {
    super(options);
    this.#rump = {
      ...(options.rumpServer !== undefined ? { rumpServer: options.rumpServer } : {}),
      ...(options.connection ? { connection: options.connection } : {}),
    };
  }

  /**
   * @internal Called by `https.Agent` for each new connection, with the TLS
   * options it computed (servername, `_agentKey`…). Caches and offers TLS
   * sessions per key as Node's own `createConnection` does; the agent takes
   * the returned socket.
   */
  override createConnection(options: TlsConnectOptions & { _agentKey?: string }): tls.TLSSocket {
    const agent = this as unknown as SessionCache;
    const key = options._agentKey;
    const session = key ? agent._getSession(key) : undefined;
    const s = connectTls({ ...(session ? { session } : {}), ...options, ...this.#rump });
    if (key) {
      s.on('session', (sess: Buffer) => agent._cacheSession(key, sess));
      s.once('close', (hadError: boolean) => {
        if (hadError) agent._evictSession(key);
      });
    }
    return s;
  }
}

/**
 * An `https.Server` on the rump stack: `https.createServer` whose `listen()`
 * binds in the rump server ({@link useRumpStack}).
 *
 * @example
 * ```ts
 * createHttpsServer({ key, cert }, (req, res) => res.end('hello over TLS')).listen(443);
 * ```
 */
export function createHttpsServer(options: https.ServerOptions & RumpOptions, requestListener?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void): https.Server {
  const { rumpServer, connection, ...httpsOptions } = options;
  const srv = requestListener ? https.createServer(httpsOptions, requestListener) : https.createServer(httpsOptions);
  return useRumpStack(srv, { ...(rumpServer !== undefined ? { rumpServer } : {}), ...(connection ? { connection } : {}) });
}
