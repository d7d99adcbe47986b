/**
 * Name resolution for `Socket.connect`, as net's `lookupAndConnect` and
 * `lookupAndConnectMultiple` do it: the options checked before anything
 * happens, the lookup called with Node's `dnsopts` (`{ family, hints }`,
 * `all: true` when the family is open and `autoSelectFamily` is on), the
 * `'lookup'` event emitted per answer (and with the error when the lookup
 * fails), bad answers refused with Node's errors, and the addresses to try
 * in Node's order — alternating families, starting with the first answer's
 * (RFC 8305 section 4). The rump stack has no resolver: the lookup is the
 * host's (`dns.lookup`) unless the program gives its own.
 */
import * as dns from 'node:dns';
import type { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { codedError, parseIp, type HostAddress, type LookupFunction } from './shared.js';
import { checkBoolean, checkFunction, checkInt32, checkNumber, invalidArgValue } from './validate.js';

/** The connect options this module reads. */
export interface LookupOptions {
  readonly host?: string;
  readonly port?: number | string;
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly family?: number | string;
  readonly hints?: number;
  readonly lookup?: LookupFunction;
  readonly autoSelectFamily?: boolean;
  readonly autoSelectFamilyAttemptTimeout?: number;
}

/** `ERR_INVALID_IP_ADDRESS` (a TypeError): `Invalid IP address: foobar`. */
export function invalidIpAddress(ip: unknown): TypeError & { code: string } {
  return codedError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(ip)}`);
}

/** `ERR_INVALID_ADDRESS_FAMILY` (a RangeError with `host` and `port`): `Invalid address family: 100 localhost:0`. */
function invalidAddressFamily(family: unknown, host: unknown, port: unknown): RangeError & { code: string; host: unknown; port: unknown } {
  const err = codedError(RangeError, 'ERR_INVALID_ADDRESS_FAMILY', `Invalid address family: ${String(family)} ${String(host)}:${String(port)}`) as RangeError & {
    code: string;
    host: unknown;
    port: unknown;
  };
  err.host = host;
  err.port = port;
  return err;
}

/**
 * The checks `lookupAndConnect` makes on the local end before the port:
 * `localAddress` must be an IP address (`ERR_INVALID_IP_ADDRESS`),
 * `localPort` a number. Throws synchronously, as Node does.
 */
export function checkLocalOptions(opts: LookupOptions): void {
  if (opts.localAddress && !net.isIP(opts.localAddress)) throw invalidIpAddress(opts.localAddress);
  if (opts.localPort) checkNumber(opts.localPort, 'options.localPort');
}

/**
 * The checks `lookupAndConnect` makes after the port: `autoSelectFamily` a
 * boolean, `autoSelectFamilyAttemptTimeout` an integer ≥ 1, and — only when
 * the host is a name — `lookup` a function. Returns whether addresses of
 * both families are to be tried (`autoSelectFamily`, default
 * `net.getDefaultAutoSelectFamily()`).
 */
export function checkLookupOptions(opts: LookupOptions): boolean {
  let auto = net.getDefaultAutoSelectFamily();
  if (opts.autoSelectFamily != null) auto = checkBoolean(opts.autoSelectFamily, 'options.autoSelectFamily');
  if (opts.autoSelectFamilyAttemptTimeout != null) checkInt32(opts.autoSelectFamilyAttemptTimeout, 'options.autoSelectFamilyAttemptTimeout', 1);
  if (!net.isIP(opts.host || 'localhost')) {
    if (opts.lookup != null) checkFunction(opts.lookup, 'options.lookup');
    // dns.lookup's own check (validateHints), made synchronously inside connect() in Node.
    else if (opts.hints && (opts.hints & ~(dns.ADDRCONFIG | dns.ALL | dns.V4MAPPED)) !== 0) throw invalidArgValue('hints', opts.hints);
  }
  return auto;
}

/** A valid answer of the lookup: an IP address of family 4 or 6. */
function valid(address: unknown, family: unknown): boolean {
  return typeof address === 'string' && net.isIP(address) !== 0 && (family === 4 || family === 6);
}

/**
 * The addresses to try for `host`, in Node's order, emitting `'lookup'` on
 * `sock` as net does. An IP literal is taken as it is (no lookup, no event).
 * Rejects with the lookup's error (after a `'lookup'` carrying it),
 * `ERR_INVALID_IP_ADDRESS` or `ERR_INVALID_ADDRESS_FAMILY` for an unusable
 * answer.
 */
export async function lookupTargets(sock: EventEmitter, opts: LookupOptions, family: 0 | 4 | 6, autoSelectFamily: boolean): Promise<HostAddress[]> {
  const host = opts.host || 'localhost';
  const literal = parseIp(host);
  if (literal !== undefined) return [literal];
  const hints = opts.hints || 0;
  // net's socketToDnsFamily: the names map to numbers, anything else passes as given (even undefined).
  const dnsFamily = opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : opts.family;
  const dnsopts: { family: unknown; hints: number; all?: boolean } = { family: dnsFamily ?? (family === 0 ? undefined : family), hints };
  // net: ADDRCONFIG when the family is open (not on Windows, which has no such flag semantics).
  if (process.platform !== 'win32' && family !== 4 && family !== 6 && hints === 0) dnsopts.hints = dns.ADDRCONFIG;
  const lookup = (opts.lookup ?? dns.lookup) as unknown as (h: string, o: object, cb: (err: Error | null, a?: unknown, f?: unknown) => void) => void;
  const all = family !== 4 && family !== 6 && !opts.localAddress && autoSelectFamily;
  if (all) dnsopts.all = true;
  let answer = await new Promise<{ err: Error | null; a: unknown; f: unknown }>((resolve) => {
    lookup(host, dnsopts, (err, a, f) => resolve({ err: err ?? null, a, f }));
  });
  // RFC 6761 6.3: `localhost` is the loopback, whatever the host's files say. A host
  // without `::1 localhost` (common) fails family 6; the rump stack has ::1 all the same.
  if (opts.lookup === undefined && host.toLowerCase() === 'localhost' && (answer.err !== null || (all && !(answer.a as unknown[])?.length))) {
    const f = family === 6 ? 6 : 4;
    const address = f === 6 ? '::1' : '127.0.0.1';
    answer = all ? { err: null, a: [{ address, family: f }], f: undefined } : { err: null, a: address, f };
  }
  if (!all) {
    sock.emit('lookup', answer.err, answer.a, answer.f, host);
    if (answer.err) throw answer.err;
    if (typeof answer.a !== 'string' || !net.isIP(answer.a)) throw invalidIpAddress(answer.a);
    if (answer.f !== 4 && answer.f !== 6) throw invalidAddressFamily(answer.f, opts.host, opts.port);
    return [parseIp(answer.a)!];
  }
  if (answer.err) {
    sock.emit('lookup', answer.err, undefined, undefined, host);
    throw answer.err;
  }
  const list = (Array.isArray(answer.a) ? answer.a : []) as { address?: unknown; family?: unknown }[];
  // lookupAndConnectMultiple: one event per answer; valid ones grouped by family, each once,
  // the first valid answer's family first.
  const groups: HostAddress[][] = [[], []];
  const seen = new Set<string>();
  let firstFamily: unknown;
  for (const { address, family: f } of list) {
    sock.emit('lookup', null, address, f, host);
    if (!valid(address, f)) continue;
    firstFamily ??= f;
    if (seen.has(address as string)) continue;
    seen.add(address as string);
    groups[f === firstFamily ? 0 : 1]!.push(parseIp(address as string)!);
  }
  if (groups[0]!.length === 0) {
    const first = list[0];
    if (first === undefined || typeof first.address !== 'string' || !net.isIP(first.address)) throw invalidIpAddress(first?.address);
    throw invalidAddressFamily(first.family, opts.host, opts.port);
  }
  const order: HostAddress[] = [];
  for (let i = 0; i < Math.max(groups[0]!.length, groups[1]!.length); i++) {
    if (i < groups[0]!.length) order.push(groups[0]![i]!);
    if (i < groups[1]!.length) order.push(groups[1]![i]!);
  }
  return order;
}
