/**
 * `fetch()` on the rump stack. Node's global `fetch` is undici, which asks a
 * *dispatcher* for connections; the dispatcher's *connector* opens them. A
 * {@link rumpConnector} opens them on the rump stack — plain TCP for
 * `http:`, Node's TLS over a rump socket for `https:` (undici's own
 * `buildConnector` does the TLS part: ALPN, SNI, session cache) — and
 * {@link rumpDispatcher} is an undici `Agent` (pooling, keep-alive,
 * pipelining) built on it:
 *
 * ```ts
 * await fetch('http://10.0.0.1/', { dispatcher: rumpDispatcher() });
 * ```
 *
 * The npm `undici` package is loaded on first use, not when this module is
 * (it loads `node:http`, `node:tls` and `node:http2`): the hijack installs
 * the dispatcher lazily ({@link installRumpGlobalDispatcher}) so a program
 * that never fetches never pays for it. Node 20's built-in fetch and the
 * npm package's `setGlobalDispatcher` share one global slot,
 * `globalThis[Symbol.for('undici.globalDispatcher.1')]`, so an npm undici 6
 * `Agent` placed there serves the built-in `fetch`.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import { Socket } from './socket.js';
import { ignore, type RumpOptions } from './shared.js';

const requireHere = createRequire(import.meta.url);
let undiciModule: typeof Undici | undefined;
/** The npm `undici` package, loaded on first use. */
function undici(): typeof Undici {
  return (undiciModule ??= requireHere('undici') as typeof Undici);
}

/** Options of {@link rumpConnector}: where the rump server is, and undici's connector options (TLS options, timeouts). */
export type RumpConnectorOptions = RumpOptions & Undici.buildConnector.BuildOptions;

/** Options of {@link rumpDispatcher}: undici's `Agent` options, {@link RumpOptions}, and connector options under `connect`. */
export type RumpDispatcherOptions = Omit<Undici.Agent.Options, 'connect'> &
  RumpOptions & {
    /** TLS and timeout options of the connector (undici's `buildConnector` options). */
    readonly connect?: Undici.buildConnector.BuildOptions;
  };

/** undici's default connect timeout (`connectTimeout`), kept for the plain-TCP path. */
const CONNECT_TIMEOUT_MS = 10_000;
/** undici's default keep-alive probe delay (`keepAliveInitialDelay`). */
const KEEPALIVE_DELAY_MS = 60_000;

/** `[::1]` → `::1`: undici hands URL hostnames over with IPv6 brackets. */
function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * An undici connector (`new Agent({ connect })`) that opens connections on
 * the rump stack: `http:` → a rump TCP {@link Socket}, set up as undici sets
 * up its own (`TCP_NODELAY`, keepalive, a connect timeout); `https:` → the
 * same rump socket under Node's TLS, through undici's `buildConnector`
 * (so the TLS options — `ca`, `rejectUnauthorized`, `servername`… — are
 * undici's). The callback gets the connected socket, or the error
 * (`connect ECONNREFUSED 10.0.0.2:80`, undici's `ConnectTimeoutError`,
 * a certificate error).
 *
 * @example
 * ```ts
 * import { Agent } from 'undici';
 * const agent = new Agent({ connect: rumpConnector({ rumpServer: 'unix:///tmp/rump.sock' }) });
 * ```
 */
export function rumpConnector(options: RumpConnectorOptions = {}): Undici.buildConnector.connector {
  const { rumpServer, connection, ...connectOptions } = options;
  const rump: RumpOptions = { ...(rumpServer !== undefined ? { rumpServer } : {}), ...(connection ? { connection } : {}) };
  const timeoutMs = connectOptions.timeout ?? CONNECT_TIMEOUT_MS;
  let tlsConnector: Undici.buildConnector.connector | undefined;
  return function rumpConnect(opts, callback) {
    const https = opts.protocol === 'https:';
    const host = unbracket(opts.hostname);
    const port = Number(opts.port) || (https ? 443 : 80);
    const raw = new Socket({ ...rump });
    raw.connect({ host, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}), ...rump });
    if (https) {
      // undici runs tls.connect over the socket it is given (`httpSocket`); a TCP failure is the TLS socket's 'error'.
      tlsConnector ??= undici().buildConnector(connectOptions);
      return tlsConnector({ ...opts, httpSocket: raw as unknown as Undici.buildConnector.Options['httpSocket'] }, callback);
    }
    raw.setNoDelay(true);
    if (connectOptions.keepAlive ?? true) raw.setKeepAlive(true, connectOptions.keepAliveInitialDelay ?? KEEPALIVE_DELAY_MS);
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      raw.off('connect', onConnect);
      raw.off('error', onError);
      if (err) {
        raw.on('error', ignore);
        raw.destroy();
        callback(err, null);
      } else (callback as (e: null, s: unknown) => void)(null, raw);
    };
    const onConnect = (): void => finish(null);
    const onError = (err: Error): void => finish(err);
    const timer = setTimeout(() => {
      const e = new (undici().errors.ConnectTimeoutError)(`Connect Timeout Error (attempted address: ${host}:${port}, timeout: ${timeoutMs}ms)`);
      finish(e);
    }, timeoutMs);
    timer.unref();
    raw.once('connect', onConnect);
    raw.once('error', onError);
    return raw as unknown as ReturnType<Undici.buildConnector.connector>;
  };
}

/**
 * An undici `Agent` whose connections are on the rump stack
 * ({@link rumpConnector}): pass it as `fetch(url, { dispatcher })`, to
 * undici's `request`/`stream`, or install it with `setGlobalDispatcher`.
 * Loads the npm `undici` package on first call. Close it with
 * `await agent.close()` when done (idle keep-alive connections are unref'd
 * and do not keep the process alive).
 *
 * @example
 * ```ts
 * import { rumpDispatcher } from '@rumpnet/client';
 * const dispatcher = rumpDispatcher({ connect: { ca } });
 * const res = await fetch('https://10.0.0.1/', { dispatcher });
 * ```
 */
export function rumpDispatcher(options: RumpDispatcherOptions = {}): Undici.Agent {
  const { rumpServer, connection, connect, ...agentOptions } = options;
  const rump: RumpOptions = { ...(rumpServer !== undefined ? { rumpServer } : {}), ...(connection ? { connection } : {}) };
  return new (undici().Agent)({ ...agentOptions, connect: rumpConnector({ ...connect, ...rump }) });
}

/** The global dispatcher slot of undici 6 (Node 20's built-in fetch and the npm package share it). */
export const kGlobalDispatcher = Symbol.for('undici.globalDispatcher.1');

/**
 * Makes the global dispatcher — the one `fetch()` uses without a
 * `dispatcher` option — a {@link rumpDispatcher}, created on first read of
 * the slot (the first `fetch`), so a program that never fetches never
 * loads undici. A dispatcher someone set later (undici's
 * `setGlobalDispatcher`) wins, as it would natively. Returns the undo,
 * which puts back what was there before.
 */
export function installRumpGlobalDispatcher(): () => void {
  const g = globalThis as unknown as Record<symbol, unknown>;
  const before = Object.getOwnPropertyDescriptor(g, kGlobalDispatcher);
  let mine: Undici.Agent | undefined;
  const setValue = (value: unknown): void => {
    Object.defineProperty(g, kGlobalDispatcher, { value, writable: true, enumerable: false, configurable: true });
  };
  if (before !== undefined) {
    // fetch already ran (or someone set a dispatcher): replace it now, if the slot lets us.
    if (!before.configurable && !before.writable) return () => undefined;
    mine = rumpDispatcher();
    if (before.configurable) setValue(mine);
    else g[kGlobalDispatcher] = mine;
  } else {
    let loading = false;
    Object.defineProperty(g, kGlobalDispatcher, {
      configurable: true,
      enumerable: false,
      get(): unknown {
        // undici's own module body reads the slot while we load it (and sets a default Agent
        // when it is empty): answer "taken" so it leaves the slot to us.
        if (loading) return LOADING;
        loading = true;
        try {
          mine = rumpDispatcher();
        } catch {
          // No undici to load: leave the slot empty, and Node's fetch makes its own Agent. Its
          // bundled undici calls net.connect/tls.connect at each connection, which the hijack
          // has patched, so fetch still runs on the stack.
          delete g[kGlobalDispatcher];
          return undefined;
        } finally {
          loading = false;
        }
        setValue(mine);
        return mine;
      },
      set(value: unknown) {
        setValue(value);
      },
    });
  }
  return () => {
    const now = Object.getOwnPropertyDescriptor(g, kGlobalDispatcher);
    const ours = now !== undefined && (now.get !== undefined || now.value === mine);
    if (ours && now!.configurable) {
      if (before === undefined) delete g[kGlobalDispatcher];
      else Object.defineProperty(g, kGlobalDispatcher, before);
    } else if (ours && now!.writable) g[kGlobalDispatcher] = before?.value;
    if (mine !== undefined) void mine.close().catch(ignore);
  };
}

/** What the slot reads as while undici itself is loading (never handed to a caller of fetch). */
const LOADING = Object.freeze({ loading: 'rumpnet' });
