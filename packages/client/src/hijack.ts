/**
 * The hijack: like rumphijack's `LD_PRELOAD` library, it moves an
 * UNMODIFIED program's networking onto a rump server by patching the
 * builtin `net`, `dgram` and `tls` modules before the program runs:
 *
 * ```sh
 * RUMP_SERVER=unix:///tmp/rump.sock node --import @rumpnet/client/hijack app.js   # ESM or CJS apps
 * RUMP_SERVER=unix:///tmp/rump.sock node --require @rumpnet/client/hijack app.js  # CJS apps (Node ≥ 20.19)
 * ```
 *
 * What is redirected:
 * - `net.createConnection`, `net.connect`, `new net.Socket()` / `net.Stream`
 *   → rump {@link Socket}s (TCP over IPv4 or IPv6: `::1`, `fe80::1%tap0` name
 *   the rump stack's addresses, never mapped onto IPv4).
 * - every `net.Server` — and so `net.createServer`, `http.createServer`,
 *   `https.createServer`, `tls.createServer` — listens on the rump stack:
 *   `net.Server.prototype._listen2` is replaced by {@link rumpListen2}; as in
 *   Node, `listen(port)` listens on `[::]` taking IPv4 too, unless `ipv6Only`.
 *   The `net.Server` class itself stays Node's, because `http.Server` and
 *   `tls.Server` call `net.Server.call(this)`. TLS servers wrap the rump
 *   sockets they accept in Node's `TLSSocket` (see ./tls.ts).
 * - `http.get`/`http.request`: Node's `http.Agent` takes `net.createConnection`
 *   when `node:http` loads, which (the hijack being first) is ours. The
 *   hijack does not load `node:http` itself — Node loads it, and its HTTP
 *   parser, only when the program asks — and patches the agent only when
 *   `http` was loaded before it.
 * - `tls.connect` → {@link tlsConnect}: Node's TLS over a rump socket, and
 *   with it `https.get`/`https.request` (the https agent calls `tls.connect`).
 *   `node:tls` itself is loaded here (Node 20 has no hook for an ESM `import`
 *   of a builtin, so it must be patched before the program runs); it does not
 *   load `http`.
 * - `fetch()` → the global undici dispatcher becomes a {@link rumpDispatcher},
 *   created on the first fetch ({@link installRumpGlobalDispatcher}).
 * - `dgram.createSocket('udp4' | 'udp6')`, `new dgram.Socket(...)` → rump {@link DgramSocket}.
 * The builtins' ESM named exports are re-synced (`module.syncBuiltinESMExports()`),
 * so `import { createServer } from 'node:net'` sees the patch too.
 *
 * What is NOT redirected (it stays on the host), by design or for now:
 * - IPC: `listen(path)`, `connect(path)`, sockets wrapping a descriptor or
 *   handle (`new net.Socket({ fd })`: stdio, child-process pipes); `cluster`
 *   workers' shared handles.
 * - Helpers with no I/O (`net.isIP`, `net.isIPv4`, `BlockList`, `SocketAddress`).
 * - Name resolution: `dns` and `dns.lookup` use the host's resolver.
 * - `new tls.TLSSocket()` without a `socket` (it binds a native TCP handle
 *   at construction) and native addons. (`http2.connect` and
 *   `http2.createSecureServer` need nothing more: they build on
 *   `tls.connect` and `net.Server`.)
 * - `class X extends net.Socket` in user code gets Node's Socket behaviour.
 */
import * as dgram from 'node:dgram';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as net from 'node:net';
import { createSocket as rumpCreateSocket, DgramSocket, type DgramSocketOptions } from './dgram.js';
import { installRumpGlobalDispatcher } from './fetch.js';
import { rumpListen2 } from './server.js';
import { normalizeConnectArgs, Socket } from './socket.js';
import { patchTls } from './tls.js';

type AnyFn = (...args: unknown[]) => unknown;
type Ctor = new (...args: unknown[]) => object;

interface Saved {
  netCreateConnection: AnyFn;
  netConnect: AnyFn;
  netSocket: AnyFn;
  netStream: AnyFn;
  listen2: AnyFn;
  /** `http.Agent.prototype.createConnection` when `http` was loaded before the hijack (else undefined). */
  agentCreateConnection: AnyFn | undefined;
  dgramCreateSocket: AnyFn;
  dgramSocket: AnyFn;
  /** Our `net.createConnection`, to recognise it in an `http.Agent` loaded later. */
  createConnection: AnyFn;
  unpatchTls: () => void;
  uninstallDispatcher: () => void;
}

let saved: Saved | undefined;

// The builtins' CommonJS export objects (what `require('node:net')` returns):
// their properties are what Node's own modules and ESM named imports read.
const netM = (net as unknown as { default: typeof net }).default ?? net;
const dgramM = (dgram as unknown as { default: typeof dgram }).default ?? dgram;
const requireBuiltin = createRequire(import.meta.url);

/** True when Node has loaded its `_http_agent` module (so requiring `node:http` costs nothing new). */
function httpLoaded(): boolean {
  return (process as unknown as { moduleLoadList: string[] }).moduleLoadList.includes('NativeModule _http_agent');
}

/** `http.Agent.prototype` if `node:http` is loaded already; never loads it. */
function loadedAgentProto(): Record<string, AnyFn> | undefined {
  if (!httpLoaded()) return undefined;
  return (requireBuiltin('node:http') as { Agent: { prototype: Record<string, AnyFn> } }).Agent.prototype;
}

/** A rump TCP connection, as `net.createConnection` (without loading ./net.js, which loads `node:http`). */
function rumpCreateConnection(...args: unknown[]): Socket {
  const [opts, cb] = normalizeConnectArgs(args);
  const sock = new Socket(opts);
  return cb ? sock.connect(opts, cb) : sock.connect(opts);
}

/** True while the hijack is installed. */
export function hijackInstalled(): boolean {
  return saved !== undefined;
}

/** True when a `connect()` argument list names an IPC path rather than a TCP port. */
function isIpcConnect(args: unknown[]): boolean {
  const [opts] = normalizeConnectArgs(args);
  return typeof opts.path === 'string' && opts.path !== '';
}

/**
 * A constructor that builds `Rump` objects for `new` calls the rump stack can
 * serve, and Node's `Orig` otherwise (`useOrig`), and that still works where
 * Node's own subclasses call it as a function on `this` (`tty.WriteStream`
 * and `tls.TLSSocket` do `net.Socket.call(this, ...)`): then the original
 * runs; called plainly (`net.Stream()`), it constructs, as Node's classes
 * do without `new`. Its `prototype` is the original's, so `net.Socket.prototype.x`
 * looked up at run time inside Node keeps working; `instanceof` accepts both.
 */
function dualConstructor(Orig: AnyFn, make: (args: unknown[]) => object | undefined, Rump: AnyFn): AnyFn {
  function Hijacked(this: unknown, ...args: unknown[]): unknown {
    if (new.target === undefined) {
      // `net.Socket.call(this, ...)` from a subclass built the ES5 way (tty, tls): Node's.
      if (this instanceof (Orig as unknown as new () => object)) return (Orig as (this: unknown, ...a: unknown[]) => unknown).apply(this, args);
      // A plain call, `net.Stream()` or `dgram.Socket('udp4')`: Node's classes construct
      // themselves when called without new, so this one does too.
      return Reflect.construct(Hijacked, args);
    }
    if (new.target !== Hijacked) return Reflect.construct(Orig as unknown as Ctor, args, new.target);
    return make(args) ?? Reflect.construct(Orig as unknown as Ctor, args);
  }
  Object.defineProperty(Hijacked, 'name', { value: Orig.name });
  Hijacked.prototype = (Orig as unknown as { prototype: object }).prototype;
  Object.defineProperty(Hijacked, Symbol.hasInstance, {
    value: (v: unknown) => v instanceof (Orig as unknown as new () => object) || v instanceof (Rump as unknown as new () => object),
  });
  Object.setPrototypeOf(Hijacked, Orig);
  return Hijacked as unknown as AnyFn;
}

/**
 * Patches `net`, `dgram`, `tls`, `http` (if loaded) and the global fetch
 * dispatcher (see the module comment). Idempotent.
 * Throws `ERR_RUMP_NO_SERVER` when neither `rumpServer` nor `RUMP_SERVER`
 * names a server: a hijacked program with nowhere to go should stop at once,
 * not at its first socket.
 */
export function installHijack(options: { rumpServer?: string } = {}): void {
  if (saved) return;
  if (options.rumpServer) process.env.RUMP_SERVER = options.rumpServer;
  if (!process.env.RUMP_SERVER) {
    const err = new Error('@rumpnet/client/hijack: set RUMP_SERVER to the rump server (e.g. unix:///tmp/rump.sock)') as Error & { code: string };
    err.code = 'ERR_RUMP_NO_SERVER';
    throw err;
  }
  const n = netM as unknown as Record<string, AnyFn>;
  const d = dgramM as unknown as Record<string, AnyFn>;
  const agentProto = loadedAgentProto();
  const serverProto = netM.Server.prototype as unknown as Record<string, AnyFn>;
  const s: Saved = {
    netCreateConnection: n.createConnection!,
    netConnect: n.connect!,
    netSocket: n.Socket!,
    netStream: n.Stream!,
    listen2: serverProto._listen2!,
    agentCreateConnection: agentProto?.createConnection,
    dgramCreateSocket: d.createSocket!,
    dgramSocket: d.Socket!,
    createConnection: undefined as unknown as AnyFn,
    unpatchTls: () => undefined,
    uninstallDispatcher: () => undefined,
  };
  const origCreateConnection = s.netCreateConnection;
  const createConnection = function createConnection(...args: unknown[]): unknown {
    if (isIpcConnect(args)) return origCreateConnection(...args);
    return rumpCreateConnection(...args);
  };
  s.createConnection = createConnection;
  const SocketCtor = dualConstructor(
    s.netSocket,
    (args) => {
      const o = args[0] as { fd?: unknown; handle?: unknown } | undefined;
      // A descriptor or handle is a host object (stdio, pipes): Node's Socket.
      if (o && typeof o === 'object' && (o.fd !== undefined || o.handle !== undefined)) return undefined;
      return new HijackedNetSocket(...(args as [object?]));
    },
    Socket as unknown as AnyFn,
  );
  const origCreateSocket = s.dgramCreateSocket;
  const createSocket = function createSocket(...args: unknown[]): unknown {
    const t = args[0];
    const type = typeof t === 'string' ? t : (t as DgramSocketOptions | undefined)?.type;
    // Another type is Node's to refuse (ERR_SOCKET_BAD_TYPE), with Node's own error.
    if (type !== 'udp4' && type !== 'udp6') return origCreateSocket(...args);
    return (rumpCreateSocket as AnyFn)(...args);
  };
  const DgramCtor = dualConstructor(
    s.dgramSocket,
    (args) => {
      const t = args[0];
      const type = typeof t === 'string' ? t : (t as DgramSocketOptions | undefined)?.type;
      return type === 'udp4' || type === 'udp6' ? rumpCreateSocket(...(args as Parameters<typeof rumpCreateSocket>)) : undefined;
    },
    DgramSocket as unknown as AnyFn,
  );
  n.createConnection = createConnection;
  n.connect = createConnection;
  n.Socket = SocketCtor;
  n.Stream = SocketCtor;
  serverProto._listen2 = rumpListen2 as unknown as AnyFn;
  // Node's Agent captures net.createConnection when _http_agent loads: if that happened
  // before us, point it at rump; if not, it will capture ours.
  if (agentProto && s.agentCreateConnection === origCreateConnection) agentProto.createConnection = createConnection;
  d.createSocket = createSocket;
  d.Socket = DgramCtor;
  s.unpatchTls = patchTls();
  s.uninstallDispatcher = installRumpGlobalDispatcher();
  saved = s;
  syncBuiltinESMExports();
}

/** Puts back everything {@link installHijack} changed. Sockets already made stay what they are. */
export function uninstallHijack(): void {
  const s = saved;
  if (!s) return;
  const n = netM as unknown as Record<string, AnyFn>;
  const d = dgramM as unknown as Record<string, AnyFn>;
  n.createConnection = s.netCreateConnection;
  n.connect = s.netConnect;
  n.Socket = s.netSocket;
  n.Stream = s.netStream;
  (netM.Server.prototype as unknown as Record<string, AnyFn>)._listen2 = s.listen2;
  // An http loaded while we were installed took our createConnection: give it Node's back.
  const agentProto = loadedAgentProto();
  if (agentProto && agentProto.createConnection === s.createConnection) agentProto.createConnection = s.agentCreateConnection ?? s.netCreateConnection;
  s.unpatchTls();
  s.uninstallDispatcher();
  d.createSocket = s.dgramCreateSocket;
  d.Socket = s.dgramSocket;
  saved = undefined;
  syncBuiltinESMExports();
}

/**
 * `new net.Socket()` under the hijack: a rump {@link Socket}. (A separate
 * class so stack traces say where the socket came from.)
 */
class HijackedNetSocket extends Socket {}
