/**
 * How every example picks its network: Node's own `net`/`dgram` (the Linux
 * stack) or the rumpnet stack through `@rumpnet/client` (a rump client, its
 * socket calls served by a rump server) — with ONE flag and the same code,
 * as NetBSD's rumphijack runs an unmodified binary on the rump kernel.
 *
 * The rump side is chosen by `--rump`, `RUMPNET=1`, or `RUMP_SERVER` being
 * set (the server URL, like librumpclient's `RUMP_SERVER`).
 *
 * @module
 */
import type * as NodeNet from 'node:net';
import type * as NodeDgram from 'node:dgram';

/** The part of `node:net` the examples use; `@rumpnet/client` offers the same shape. */
export type NetApi = Pick<typeof NodeNet, 'createServer' | 'createConnection'>;

/** The part of `node:dgram` the examples use. */
export type DgramApi = Pick<typeof NodeDgram, 'createSocket'>;

/** Exit status of an example whose rump API is missing (the harness reports it as skipped). */
export const EXIT_UNAVAILABLE = 3;

/** Thrown when the rump side of an API is not there (not landed, or the client not built). */
export class RumpUnavailableError extends Error {
  readonly code = 'ERR_RUMP_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'RumpUnavailableError';
  }
}

/**
 * True when the program should run as a rump client: the `--rump` flag,
 * `RUMPNET=1`, or a `RUMP_SERVER` in the environment.
 */
export function wantsRump(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return flag === true || env.RUMPNET === '1' || (env.RUMP_SERVER ?? '') !== '';
}

/** `--rump-server URL` overrides `RUMP_SERVER` before the client library reads it. */
export function applyServerUrl(url: string | undefined): void {
  if (url !== undefined && url !== '') process.env.RUMP_SERVER = url;
}

type AnyModule = Record<string, unknown>;

async function tryImport(spec: string): Promise<AnyModule | null> {
  try {
    return (await import(spec)) as AnyModule;
  } catch {
    return null;
  }
}

/**
 * The `net` implementation: `node:net`, or `@rumpnet/client`'s node:net-shaped
 * API (its package face, or the `./net` subpath).
 * @throws RumpUnavailableError when `rump` and the client has no
 *   `createServer`/`createConnection` yet (or is not built: `npm run build`).
 */
export async function loadNet(rump: boolean): Promise<NetApi> {
  if (!rump) return (await import('node:net')) as NetApi;
  for (const spec of ['@rumpnet/client', '@rumpnet/client/net']) {
    const m = await tryImport(spec);
    if (m && typeof m.createServer === 'function' && typeof (m.createConnection ?? m.connect) === 'function') {
      return { createServer: m.createServer, createConnection: m.createConnection ?? m.connect } as NetApi;
    }
  }
  throw new RumpUnavailableError('@rumpnet/client has no node:net-shaped createServer/createConnection (not landed, or not built: npm run build)');
}

/**
 * The `dgram` implementation: `node:dgram`, or `@rumpnet/client`'s
 * node:dgram-shaped `createSocket`.
 * @throws RumpUnavailableError when `rump` and the client has none.
 */
export async function loadDgram(rump: boolean): Promise<DgramApi> {
  if (!rump) return (await import('node:dgram')) as DgramApi;
  for (const spec of ['@rumpnet/client', '@rumpnet/client/dgram']) {
    const m = await tryImport(spec);
    if (m === null) continue;
    const ns = (m.dgram ?? m) as AnyModule;
    if (typeof ns.createSocket === 'function') return { createSocket: ns.createSocket } as DgramApi;
  }
  throw new RumpUnavailableError('@rumpnet/client has no node:dgram-shaped createSocket (not landed, or not built: npm run build)');
}

/**
 * Runs an example's `main`, turning a missing rump API into a one-line
 * message and exit status {@link EXIT_UNAVAILABLE}, other failures into
 * status 1.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof RumpUnavailableError) {
      process.stderr.write(`${name}: unavailable: ${err.message}\n`);
      process.exitCode = EXIT_UNAVAILABLE;
      return;
    }
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`${name}: ${e?.message ?? String(err)}${e?.code ? ` (${e.code})` : ''}\n`);
    process.exitCode = 1;
  });
}

/** Parses a byte count like `65536`, `64k`, `4KiB`, `1m`, `4MiB`. Throws on anything else. */
export function parseBytes(v: string): number {
  const m = /^(\d+)\s*([kKmMgG]?)(i?[bB])?$/.exec(v.trim());
  if (!m) throw new Error(`not a byte count: "${v}"`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}
