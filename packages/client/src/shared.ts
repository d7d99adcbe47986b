/**
 * Plumbing under the `node:net` / `node:dgram`-shaped API: the one
 * {@link RumpConnection} a process shares (lazily connected to
 * `RUMP_SERVER`), which keeps the event loop alive only while some rump
 * socket does (Node's handle ref counting), address parsing and resolution
 * for both families, and
 * Node-shaped errors for the calls Node reports with a description
 * (`listen EADDRINUSE: address already in use 127.0.0.1:80`).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type * as netTypes from 'node:net';
import { getSystemErrorMap, inspect } from 'node:util';
import { RumpConnection } from './connection.js';
import { errnoValue, syscallError, type RumpSyscallError } from './errors.js';
import { isDottedQuad, type SockAddr } from './syscalls.js';

/** How a high-level socket finds its rump server. */
export interface RumpOptions {
  /**
   * Server URL (`unix:///path`, a plain path, or `tcp://127.0.0.1:PORT`).
   * Sockets naming the same URL share one connection. Default: the URL set
   * with {@link setDefaultRumpServer}, else `process.env.RUMP_SERVER`.
   */
  readonly rumpServer?: string;
  /**
   * An explicit connection to use instead of the shared one. The caller
   * keeps ownership: it is never closed, ref'd or unref'd here.
   */
  readonly connection?: RumpConnection | Promise<RumpConnection>;
}

/** Error code when no rump server is named (no option, no default, no `RUMP_SERVER`). */
export const ERR_RUMP_NO_SERVER = 'ERR_RUMP_NO_SERVER';

/**
 * Error code when the named rump server does not answer (nobody listens on
 * its socket). The error's `cause` is the connect error underneath.
 */
export const ERR_RUMP_UNREACHABLE = 'ERR_RUMP_UNREACHABLE';

/** Connect errors that mean "no server there", as opposed to a server that misbehaved. */
const NOBODY_THERE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTDIR', 'EACCES']);

/**
 * Turns "nobody serves that socket" into an error a newcomer can act on. An
 * unmodified program would otherwise die with its own call's name on a path
 * it never asked for (`listen ENOENT ... 127.0.0.1:7777`).
 */
function unreachable(url: string, err: unknown): unknown {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !NOBODY_THERE.has(code)) return err;
  const e = new Error(
    `the rump server at ${url} is not reachable (${(err as Error).message}). ` +
      `Start one: \`npm start\` in the rumpnet checkout, or \`npx rump-server ${url}\`; ` +
      `or point RUMP_SERVER at a running one.`,
    { cause: err },
  ) as Error & { code: string; url: string };
  e.code = ERR_RUMP_UNREACHABLE;
  e.url = url;
  return e;
}

let defaultUrl: string | undefined;
const shared = new Map<string, Promise<RumpConnection>>();

interface Life {
  /** Handles (sockets, servers) that keep the process alive. */
  refs: number;
}
/** Only connections this module opened are ref'd/unref'd; a caller's own connection is left alone. */
const lives = new WeakMap<RumpConnection, Life>();

/**
 * Sets the server URL used by sockets that name none (overrides
 * `RUMP_SERVER`); `undefined` goes back to the environment.
 */
export function setDefaultRumpServer(url: string | undefined): void {
  defaultUrl = url;
}

/**
 * The connection a socket with these options uses: the explicit one, or the
 * process-wide shared connection for the URL, opened on first use. A shared
 * connection that fails or closes is forgotten, so the next socket tries
 * again. Rejects like {@link RumpConnection.connect}, except that nobody
 * serving the URL is `ERR_RUMP_UNREACHABLE` (saying how to start a server,
 * the connect error as `cause`); no URL at all is `ERR_RUMP_NO_SERVER`.
 */
export function connectionFor(opts: RumpOptions = {}): Promise<RumpConnection> {
  if (opts.connection !== undefined) return Promise.resolve(opts.connection);
  const url = serverUrlFor(opts);
  if (url === undefined || url === '') {
    const err = new Error('no rump server: pass { rumpServer } or set RUMP_SERVER') as Error & { code: string };
    err.code = ERR_RUMP_NO_SERVER;
    return Promise.reject(err);
  }
  let p = shared.get(url);
  if (p === undefined) {
    const opening: Promise<RumpConnection> = RumpConnection.connect(url).then((conn) => {
      const life: Life = { refs: 0 };
      lives.set(conn, life);
      applyRef(conn, life);
      conn.on('close', () => {
        if (shared.get(url) === opening) shared.delete(url);
      });
      conn.on('reconnect', () => applyRef(conn, life));
      return conn;
    }, (err: unknown) => {
      throw unreachable(url, err);
    });
    opening.catch(() => {
      if (shared.get(url) === opening) shared.delete(url);
    });
    shared.set(url, opening);
    p = opening;
  }
  return p;
}

/**
 * The server URL a socket with these options talks to (as
 * {@link connectionFor} picks it); undefined for an explicit `connection`
 * or when none is named.
 */
export function serverUrlFor(opts: RumpOptions = {}): string | undefined {
  if (opts.connection !== undefined) return undefined;
  const url = opts.rumpServer ?? defaultUrl ?? process.env.RUMP_SERVER;
  return url === '' ? undefined : url;
}

/**
 * Closes every shared connection (calls in flight fail with
 * `ERR_RUMP_CLOSED`); the next socket opens a new one. For tests and
 * orderly shutdown.
 */
export async function closeSharedConnections(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map((p) => p.then((c) => c.close(), () => undefined)));
}

function applyRef(conn: RumpConnection, life: Life): void {
  if (life.refs > 0) conn.ref();
  else conn.unref();
}

/**
 * Counts one live handle on `conn` (Node: an open socket keeps the event loop
 * alive). Returns the release function, idempotent. Connections the caller
 * passed in are not touched.
 */
export function holdConnection(conn: RumpConnection): () => void {
  const life = lives.get(conn);
  if (!life) return () => undefined;
  life.refs++;
  if (life.refs === 1) applyRef(conn, life);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    life.refs--;
    if (life.refs === 0) applyRef(conn, life);
  };
}

/**
 * What keeps the process alive for one socket, as libuv decides it for a
 * native one: the loop lives while a handle is ref'd AND active (reading,
 * listening, receiving), or while a request is in flight (connect, write,
 * shutdown, send, close — libuv's active requests, counted even on an
 * unref'd handle). So an idle socket whose reading stopped (EOF, or a
 * backpressured reader) lets the process exit, and `unref()` right after
 * `listen()` still lets `'listening'` come first. The hold is taken on the
 * shared connection ({@link holdConnection}) once the socket knows it.
 */
export class KeepAlive {
  #conn: RumpConnection | undefined;
  #refed = true;
  #active = false;
  #reqs = 0;
  #release: (() => void) | undefined;

  /** The connection the socket's calls go through (set once it is known). */
  attach(conn: RumpConnection): void {
    this.#conn = conn;
    this.#update();
  }

  /** True unless {@link KeepAlive.unref} was called last. */
  get refed(): boolean {
    return this.#refed;
  }

  /** `handle.ref()`. */
  ref(): void {
    this.#refed = true;
    this.#update();
  }

  /** `handle.unref()`. */
  unref(): void {
    this.#refed = false;
    this.#update();
  }

  /** Whether the handle is active (a recv or accept standing in the server on its behalf). */
  setActive(active: boolean): void {
    this.#active = active;
    this.#update();
  }

  /** Counts `p` as a request in flight until it settles; returns `p`. */
  req<T>(p: Promise<T>): Promise<T> {
    this.#reqs++;
    this.#update();
    const end = (): void => {
      this.#reqs--;
      this.#update();
    };
    p.then(end, end);
    return p;
  }

  #update(): void {
    const want = this.#conn !== undefined && (this.#reqs > 0 || (this.#refed && this.#active));
    if (want && this.#release === undefined) this.#release = holdConnection(this.#conn!);
    else if (!want && this.#release !== undefined) {
      const r = this.#release;
      this.#release = undefined;
      r();
    }
  }
}

const listening = new Set<Promise<unknown>>();

/**
 * Records a listen being set up in the rump server (socket, bind, listen).
 * Node listens synchronously, so a program may connect to its own server
 * the moment `listen()` returns; {@link listensSettled} lets such a connect
 * wait for the listens begun before it.
 */
export function trackListen(p: Promise<unknown>): void {
  listening.add(p);
  const drop = (): void => void listening.delete(p);
  p.then(drop, drop);
}

/** Resolves once every listen begun so far is set up (or failed); undefined when none is pending. */
export function listensSettled(): Promise<unknown> | undefined {
  return listening.size === 0 ? undefined : Promise.allSettled([...listening]);
}

/** A `dns.lookup`-shaped function, as `net.connect({ lookup })` takes. */
export type LookupFunction = netTypes.LookupFunction;

/**
 * The canonical dotted quad of an IPv4 literal (`010.0.0.1` is not one:
 * Node's `isIPv4` refuses leading zeros too); undefined for anything else.
 * IPv6 spellings stay IPv6: the stack speaks both families, so `::1` is
 * IPv6's loopback, not `127.0.0.1`.
 */
export function toIPv4(address: string): string | undefined {
  if (isDottedQuad(address)) return address;
  if (isIPv4(address)) return address.split('.').map((o) => String(Number(o))).join('.');
  return undefined;
}

/** IP version of a host address: 4 or 6 (Node's `net.isIP` values). */
export type IpFamily = 4 | 6;

/** An IP address as the client passes it to the stack. */
export interface HostAddress {
  /** Dotted quad, or IPv6 text without its zone (`fe80::1`, `::ffff:10.0.0.2`). */
  readonly address: string;
  readonly family: IpFamily;
  /** The zone of a scoped IPv6 address (`tap0` of `fe80::1%tap0`), as written. */
  readonly zone?: string;
}

/**
 * Parses an IP literal: an IPv4 address (made canonical), or an IPv6 one
 * with an optional RFC 4007 zone (`fe80::1%tap0`, `fe80::1%2`). Undefined
 * for a name.
 */
export function parseIp(host: string): HostAddress | undefined {
  const v4 = toIPv4(host);
  if (v4 !== undefined) return { address: v4, family: 4 };
  if (!isIPv6(host)) return undefined;
  const pct = host.indexOf('%');
  if (pct < 0) return { address: host, family: 6 };
  return { address: host.slice(0, pct), family: 6, zone: host.slice(pct + 1) };
}

/** `'IPv4'` or `'IPv6'`, as Node names a wire address's family (`address().family`, `rinfo.family`). */
export function familyName(a: SockAddr): 'IPv4' | 'IPv6' {
  return a.family === 'inet6' ? 'IPv6' : 'IPv4';
}

/** The `socket(2)` domain speaking `family`. */
export function domainOf(family: IpFamily): 'inet' | 'inet6' {
  return family === 6 ? 'inet6' : 'inet';
}

/** Wildcard address of a family: `0.0.0.0` or `::` (INADDR_ANY, in6addr_any). */
export function anyOf(family: IpFamily): string {
  return family === 6 ? '::' : '0.0.0.0';
}

/** True for either family's wildcard address. */
export function isAny(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/**
 * The wire socket address of `host`:`port`. A zone becomes `scopeId`, the
 * interface's index in the rump stack (`if_nametoindex(3)` asked of the
 * server with `ctl.ifconfig`; a number is taken as the index). An unknown
 * interface is `EINVAL`, as Linux says for a zone it cannot resolve.
 */
export async function sockaddrFor(conn: RumpConnection, host: HostAddress, port: number, syscall: string): Promise<SockAddr> {
  if (host.family === 4) return { family: 'inet', address: host.address, port };
  if (host.zone === undefined || host.zone === '') return { family: 'inet6', address: host.address, port };
  let scopeId: number | undefined;
  if (/^\d{1,10}$/.test(host.zone)) scopeId = Number(host.zone);
  else {
    const r = await conn
      .call<{ interfaces: { name: string; index: number }[] }>('ctl.ifconfig', { ifname: host.zone })
      .catch(() => undefined);
    scopeId = r?.interfaces.find((i) => i.name === host.zone)?.index;
  }
  if (scopeId === undefined || scopeId > 0xffffffff) {
    throw syscallError(errnoValue('EINVAL') ?? 22, syscall, `${host.address}%${host.zone}`, port);
  }
  return { family: 'inet6', address: host.address, port, scopeId };
}

let errMap: Map<number, [string, string]> | undefined;

/**
 * Re-shapes a syscall error the way Node's `UVExceptionWithHostPort` does for
 * `listen`: `listen EADDRINUSE: address already in use 127.0.0.1:80`, with
 * `code`, negative `errno`, `syscall`, `address`, `port`. Other errors (a
 * protocol failure, a lost connection) pass through unchanged.
 */
export function uvError(err: unknown, syscall: string, address: string, port: number): Error {
  const e = err as Partial<RumpSyscallError>;
  if (typeof e?.code !== 'string' || typeof e.errno !== 'number') return err as Error;
  errMap ??= getSystemErrorMap();
  const desc = errMap.get(e.errno)?.[1] ?? 'unknown error';
  const where = port > 0 ? ` ${address}:${port}` : ` ${address}`;
  const out = new Error(`${syscall} ${e.code}: ${desc}${where}`) as RumpSyscallError;
  out.code = e.code;
  out.errno = e.errno;
  out.syscall = syscall;
  out.address = address;
  if (port > 0) out.port = port;
  return out;
}

/**
 * Re-labels a syscall error with the name Node uses for it (`recv` → `read`)
 * and the address the caller meant; other errors pass through.
 */
export function relabel(err: unknown, syscall: string, address?: string, port?: number): Error {
  const e = err as Partial<RumpSyscallError>;
  if (typeof e?.code !== 'string' || typeof e.errno !== 'number' || !/^E[A-Z0-9]+$/.test(e.code)) return err as Error;
  return syscallError(e.errno, syscall, address, port);
}

/** A Node-style coded error (`ERR_*`). */
export function codedError<T extends Error = Error>(Ctor: new (m: string) => T, code: string, message: string): T & { code: string } {
  const err = new Ctor(message) as T & { code: string };
  err.code = code;
  return err;
}

/** How Node's errors name a received value (`determineSpecificType` in lib/internal/errors.js). */
export function receivedType(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'function') return `function ${v.name}`;
  if (typeof v === 'object') return v.constructor?.name ? `an instance of ${v.constructor.name}` : inspect(v, { depth: -1 });
  let shown = inspect(v, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof v} (${shown})`;
}

/**
 * Validates a port like Node's `validatePort` (`ERR_SOCKET_BAD_PORT`, same
 * message: `Port should be >= 0 and < 65536. Received type number (-1).`);
 * returns it as a number.
 */
export function checkPort(port: unknown, name = 'Port', allowZero = true): number {
  const ok =
    (typeof port === 'number' || (typeof port === 'string' && port.trim().length !== 0)) &&
    +port === +port >>> 0 &&
    +port <= 0xffff &&
    (allowZero || +port !== 0);
  if (!ok) {
    throw codedError(RangeError, 'ERR_SOCKET_BAD_PORT', `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${receivedType(port)}.`);
  }
  return +port;
}

/** Swallows the rejection of a best-effort call. */
export const ignore = (): void => undefined;
