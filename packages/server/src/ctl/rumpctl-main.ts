/**
 * `rumpctl`: look into and configure a running rump server, like NetBSD's
 * rump.* tools (`rump.ifconfig`, `rump.route`, `rump.netstat`, `rump.ping`,
 * `rump.arp`, `rump.sysctl`, `rump.halt`), which are rump clients of the
 * server they inspect. This one is a rump client too: every command is one
 * or two `ctl.*` calls over the protocol.
 *
 *   rumpctl [-s URL] ifconfig [-a] [IFNAME [inet|inet6] [ADDR/LEN [alias] | ADDR delete|-alias | up | down | mtu N]]
 *   rumpctl [-s URL] route [-n] show | add DEST GATEWAY|IFNAME | delete DEST
 *   rumpctl [-s URL] netstat [-a] [-n] [-m] [-s] [-r] [-i] [-p PROTO]
 *   rumpctl [-s URL] ping|ping6 [-c N] [-s SIZE] [-i SECONDS] [-W MS] [-t TTL] HOST   (HOST may be fe80::1%IFNAME)
 *   rumpctl [-s URL] arp [-a] [-n] | -s IP MAC [IFNAME] | -d IP
 *   rumpctl [-s URL] ndp [-a] [-n]
 *   rumpctl [-s URL] sysctl [-a] [-d] [NAME[=VALUE] ...]
 *   rumpctl [-s URL] clients
 *   rumpctl [-s URL] usage
 *   rumpctl [-s URL] halt
 *
 * Exit status: 0 done, 1 the server refused (an errno) or is not there,
 * 2 a usage error.
 *
 * @module
 */
import { getSystemErrorMap } from 'node:util';
import { Command, CommanderError } from 'commander';
import { RumpConnection } from '@rumpnet/client';
import { DEFAULT_SOCKET } from '../config.js';
import type { SyscallArgs, SyscallResults } from '../proto/index.js';
import {
  formatArp,
  formatNdp,
  formatClients,
  formatUsage,
  formatIfconfig,
  formatMbufs,
  formatPing,
  formatRoutes,
  formatSockets,
  formatStats,
  formatSysctlRows,
} from './format.js';

/** Where `rumpctl` writes, and its environment (tests capture both). */
export interface RumpctlIo {
  out(text: string): void;
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
}

type CtlName = Extract<keyof SyscallArgs, `ctl.${string}`>;

class Usage extends Error {}

/** A positive errno's `CODE (message)`, as strerror would say it. */
function errnoText(errno: number): string {
  const e = getSystemErrorMap().get(-Math.abs(errno));
  return e ? `${e[0]} (${e[1]})` : `errno ${errno}`;
}

/** Most pages `rumpctl` fetches for one listing: a bound against a server that never ends one (20,000 sockets are ~40 pages). */
export const MAX_PAGES = 100_000;

/**
 * Every row of a paged listing (docs/PROTOCOL.md §9): calls `page` with the
 * previous reply's `next` until a reply has none. Also stops, with `cut`
 * set, when a server repeats a cursor or after {@link MAX_PAGES}.
 */
export async function allPages<R>(page: (cursor: string | undefined) => Promise<{ rows: R[]; next?: string | undefined }>): Promise<{ rows: R[]; cut: boolean }> {
  const rows: R[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    const r = await page(cursor);
    rows.push(...r.rows);
    if (r.next === undefined) return { rows, cut: false };
    if (r.next === cursor) break;
    cursor = r.next;
  }
  return { rows, cut: true };
}

/** `ifconfig` words after the interface name, BSD style, as one ctl call's arguments. */
export function parseIfconfigWords(ifname: string, words: readonly string[]): SyscallArgs['ctl.ifconfig'] {
  const w = words[0] === 'inet' || words[0] === 'inet6' ? words.slice(1) : [...words];
  if (w.length === 0) return { ifname };
  if (w.length === 1 && (w[0] === 'up' || w[0] === 'down')) return { ifname, op: w[0] };
  if (w.length === 2 && w[0] === 'mtu') {
    if (!/^\d+$/.test(w[1]!)) throw new Usage(`mtu wants a number, got "${w[1]}"`);
    return { ifname, op: 'mtu', mtu: Number(w[1]) };
  }
  if (w.length === 2 && (w[1] === 'delete' || w[1] === '-alias')) return { ifname, op: 'delete', addr: w[0]! };
  if (w.length === 2 && w[0] === 'delete') return { ifname, op: 'delete', addr: w[1]! };
  if ((w.length === 1 || (w.length === 2 && w[1] === 'alias')) && w[0]!.includes('/')) return { ifname, op: 'add', addr: w[0]! };
  throw new Usage(`ifconfig: cannot make sense of "${words.join(' ')}" (want ADDR/LEN [alias], ADDR delete, up, down or mtu N)`);
}

/**
 * Runs `rumpctl` with `argv` (the words after the program name).
 * Resolves with the exit status; never rejects.
 */
export async function runRumpctl(argv: readonly string[], io: RumpctlIo): Promise<number> {
  let conn: RumpConnection | undefined;
  let exit = 0;
  let server = io.env.RUMP_SERVER || DEFAULT_SOCKET;
  const call = async <K extends CtlName>(name: K, args: SyscallArgs[K], cmd: string): Promise<SyscallResults[K]> => {
    conn ??= await RumpConnection.connect(server, { name: 'rumpctl' });
    return conn.call<SyscallResults[K]>(name, args as Record<string, unknown>, { syscall: cmd });
  };
  const print = (s: string): void => {
    if (s !== '') io.out(s.endsWith('\n') ? s : `${s}\n`);
  };

  const program = new Command('rumpctl')
    .description('Look into and configure a running rump server (like the rump.* tools).')
    .option('-s, --server <url>', `the rump server (default $RUMP_SERVER or ${DEFAULT_SOCKET})`)
    // Program options only before the command: `netstat -s` and `ping -s` are the commands' own.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .hook('preAction', (cmd) => {
      const s = cmd.opts().server as string | undefined;
      if (s) server = s;
    });

  program
    .command('ifconfig')
    .description('show interfaces, add/remove addresses, up/down, mtu')
    .option('-a', 'all interfaces (the default without a name)')
    .argument('[ifname]')
    .argument('[words...]')
    .allowUnknownOption()
    .action(async (ifname: string | undefined, words: string[]) => {
      const args = ifname === undefined ? {} : parseIfconfigWords(ifname, words);
      print(formatIfconfig((await call('ctl.ifconfig', args, 'ifconfig')).interfaces));
    });

  program
    .command('route')
    .description('show, add or delete routes')
    .option('-n', 'numeric (always)')
    .argument('[op]', 'show | add | delete', 'show')
    .argument('[dest]')
    .argument('[gateway]')
    .action(async (op: string, dest: string | undefined, gateway: string | undefined) => {
      if (op === 'show' || op === 'get') return print(formatRoutes((await call('ctl.route', {}, 'route')).routes));
      if (op !== 'add' && op !== 'delete') throw new Usage(`route: unknown command "${op}" (show, add, delete)`);
      if (dest === undefined || (op === 'add' && gateway === undefined)) throw new Usage(`route ${op}: missing ${dest === undefined ? 'destination' : 'gateway'}`);
      const args: SyscallArgs['ctl.route'] = op === 'add' ? { op, dest, gateway: gateway! } : { op, dest };
      await call('ctl.route', args, 'route');
      print(`${op} net ${dest}${gateway ? `: gateway ${gateway}` : ''}`);
    });

  program
    .command('netstat')
    .description('sockets (-an), mbuf pool (-m), protocol counters (-s), routes (-r), interfaces (-i)')
    .option('-a', 'all sockets, servers included')
    .option('-n', 'numeric (always)')
    .option('-m', 'mbuf cluster pool')
    .option('-s', 'protocol statistics')
    .option('-r', 'routing table')
    .option('-i', 'interfaces')
    .option('-p <proto>', 'only this protocol (with -s)')
    .action(async (o: { m?: boolean; s?: boolean; r?: boolean; i?: boolean; p?: string }) => {
      if (o.m) {
        const r = await call('ctl.netstat', { what: 'mbufs' }, 'netstat');
        return print(formatMbufs(r.mbufs!));
      }
      if (o.s) {
        const r = await call('ctl.netstat', o.p ? { what: 'stats', proto: o.p } : { what: 'stats' }, 'netstat');
        return print(formatStats(r.stats!));
      }
      if (o.r) return print(formatRoutes((await call('ctl.route', {}, 'netstat')).routes));
      if (o.i) return print(formatIfconfig((await call('ctl.ifconfig', {}, 'netstat')).interfaces));
      let total: number | undefined;
      let cutByServer = false;
      const { rows, cut } = await allPages(async (cursor) => {
        const r = await call('ctl.netstat', { what: 'sockets', ...(cursor !== undefined ? { cursor } : {}) }, 'netstat');
        total = r.total;
        cutByServer ||= r.truncated === true && r.next === undefined; // a server that does not page
        return { rows: r.sockets ?? [], next: r.next };
      });
      print(formatSockets(rows));
      if (cut || cutByServer) print(`(${rows.length} of ${total ?? '?'} sockets shown: the list was cut short)`);
    });

  program
    .command('ping')
    .alias('ping6')
    .description('send ICMP (or ICMPv6: an IPv6 HOST, fe80::1%tap0 with a zone) echo requests from the server\'s stack')
    .option('-c <count>', 'requests (1..100)', '3')
    .option('-s <size>', 'data bytes', '56')
    .option('-i <seconds>', 'pause between requests', '1')
    .option('-W <ms>', 'wait for each reply', '1000')
    .option('-t <ttl>', 'time to live')
    .argument('<host>')
    .action(async (host: string, o: { c: string; s: string; i: string; W: string; t?: string }) => {
      const num = (v: string, what: string): number => {
        if (!/^\d+(\.\d+)?$/.test(v)) throw new Usage(`ping: ${what} must be a number, got "${v}"`);
        return Number(v);
      };
      const size = num(o.s, '-s');
      const args: SyscallArgs['ctl.ping'] = {
        dst: host,
        count: num(o.c, '-c'),
        size,
        interval: Math.round(num(o.i, '-i') * 1000),
        timeout: num(o.W, '-W'),
        ...(o.t !== undefined ? { ttl: num(o.t, '-t') } : {}),
      };
      const r = await call('ctl.ping', args, 'ping');
      print(formatPing(r, size, errnoText));
      if (r.received === 0) exit = 1;
    });

  program
    .command('arp')
    .description('show (-an), add (-s IP MAC [IFNAME]) or delete (-d IP) ARP entries')
    .option('-a', 'all entries (the default)')
    .option('-n', 'numeric (always)')
    .option('-s', 'add a static entry: IP MAC [IFNAME]')
    .option('-d', 'delete the entry of IP')
    .argument('[words...]')
    .action(async (words: string[], o: { s?: boolean; d?: boolean }) => {
      if (o.s) {
        if (words.length < 2) throw new Usage('arp -s wants IP MAC [IFNAME]');
        const [ip, mac, ifname] = words as [string, string, string | undefined];
        await call('ctl.arp', { op: 'add', ip, mac, ...(ifname ? { ifname } : {}) }, 'arp');
        return;
      }
      if (o.d) {
        if (words.length !== 1) throw new Usage('arp -d wants IP');
        await call('ctl.arp', { op: 'delete', ip: words[0]! }, 'arp');
        return;
      }
      let total: number | undefined;
      let cutByServer = false;
      const { rows, cut } = await allPages(async (cursor) => {
        const r = await call('ctl.arp', cursor !== undefined ? { cursor } : {}, 'arp');
        total = r.total;
        cutByServer ||= r.truncated === true && r.next === undefined;
        return { rows: r.entries, next: r.next };
      });
      print(formatArp(rows));
      if (cut || cutByServer) print(`(${rows.length} of ${total ?? '?'} entries shown: the list was cut short)`);
    });

  program
    .command('ndp')
    .description('show the IPv6 neighbour cache (-an): address, link-layer address, NUD state')
    .option('-a', 'all entries (the default)')
    .option('-n', 'numeric (always)')
    .action(async () => {
      let total: number | undefined;
      const { rows, cut } = await allPages(async (cursor) => {
        const r = await call('ctl.arp', cursor !== undefined ? { inet6: true, cursor } : { inet6: true }, 'ndp');
        total = r.total;
        return { rows: r.entries, next: r.next };
      });
      print(formatNdp(rows));
      if (cut) print(`(${rows.length} of ${total ?? '?'} entries shown: the list was cut short)`);
    });

  program
    .command('sysctl')
    .description('read (NAME, -a) or write (NAME=VALUE) the server\'s sysctl tree')
    .option('-a', 'every leaf')
    .option('-d', 'descriptions instead of values')
    .option('-w', 'write (NAME=VALUE; also accepted without -w)')
    .argument('[names...]')
    .action(async (names: string[], o: { d?: boolean }) => {
      const out: string[] = [];
      for (const n of names.length === 0 ? [''] : names) {
        const eq = n.indexOf('=');
        if (eq >= 0) {
          const v = n.slice(eq + 1);
          if (!/^-?\d+$/.test(v)) throw new Usage(`sysctl: ${n.slice(0, eq)} wants an integer, got "${v}"`);
          const r = await call('ctl.sysctl', { name: n.slice(0, eq), value: Number(v) }, 'sysctl');
          out.push(formatSysctlRows(r.rows));
        } else {
          const r = await call('ctl.sysctl', n === '' ? {} : { name: n }, 'sysctl');
          out.push(formatSysctlRows(r.rows, o.d === true));
        }
      }
      print(out.join('\n'));
    });

  program
    .command('clients')
    .description('the server\'s parameters and its clients with their copyin/copyout counters')
    .action(async () => {
      let first: SyscallResults['ctl.clients'] | undefined;
      const { rows } = await allPages(async (cursor) => {
        const r = await call('ctl.clients', cursor !== undefined ? { cursor } : {}, 'clients');
        first ??= r;
        return { rows: r.clients, next: r.next };
      });
      print(formatClients(first!.server, rows, first!.hidden ?? 0));
    });

  program
    .command('usage')
    .description('each user\'s and each client\'s use of its quotas (clusters, descriptors, copyins, queued replies, frames) against the limits')
    .action(async () => {
      let first: SyscallResults['ctl.usage'] | undefined;
      const { rows } = await allPages(async (cursor) => {
        const p = await call('ctl.usage', cursor !== undefined ? { cursor } : {}, 'usage');
        first ??= p;
        return { rows: p.clients, next: p.next };
      });
      const r = { ...first!, clients: rows };
      print(formatUsage(r.server, r.clients, r.hidden ?? 0, r.users ?? []));
    });

  program
    .command('halt')
    .description('shut the server down cleanly')
    .action(async () => {
      await call('ctl.halt', {}, 'halt');
      print('halting');
    });

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      exit = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2;
    } else if (e instanceof Usage) {
      io.err(`rumpctl: ${e.message}\n`);
      exit = 2;
    } else {
      const err = e as NodeJS.ErrnoException & { errno?: number; reason?: unknown };
      const reason = typeof err.reason === 'string' ? `: ${err.reason}` : '';
      const why = typeof err.errno === 'number' && typeof err.syscall === 'string' ? `${err.syscall}: ${errnoText(err.errno)}${reason}` : err.message;
      io.err(`rumpctl: ${why}${err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ` (is a rump-server running on ${server}?)` : ''}\n`);
      exit = err.code === 'ERR_INVALID_ARG_VALUE' ? 2 : 1;
    }
  } finally {
    await conn?.close();
  }
  return exit;
}
