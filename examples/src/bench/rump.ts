/**
 * A rump server daemon started by the benchmark (`rump-server` from
 * packages/server, one process per measurement group, with that point's
 * MCLBYTES, MCLNUM and receive mode), and the control calls the benchmark
 * reads through it: per-client copy counters (`ctl.clients`) and the
 * cluster pool (`ctl.netstat` mbufs, i.e. `netstat -m`).
 *
 * @module
 */
import { RumpConnection } from '@rumpnet/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { Proc, SERVER_CLI, Unavailable, runText, tsxLoader, type Spawner } from './procs.js';

/** Stack parameters of one rump server. */
export interface StackParams {
  mclbytes: 2048 | 4096;
  mclnum: number;
  rxMode: 'per-mbuf' | 'coalesced';
  /** `--copy-window`: COPYIN requests in flight per call (1: NetBSD's one round trip per cluster); unset: the server's default. */
  copyWindow?: number;
  /** `--inline-max`: bytes a send may carry inline (0: none); unset: the server's default. */
  inlineMax?: number;
  /** `--inline-recv-max`: bytes a receive may return inside its reply (0: every receive COPYOUTed); unset: the server's default. */
  inlineRecvMax?: number;
  /** Tap offloads (false: `--no-offload`); unset: the topology's setting. */
  offload?: boolean;
  /**
   * false: no shared-memory data path (`--no-shm` for the server,
   * `RUMPNET_SHM=0` for its rump clients), as the NetBSD-equivalent
   * configuration; unset: the server's and the client's default (on).
   */
  shm?: boolean;
  /** `--busy-poll`: µs a tap server spins for the answer after writing (0: off); unset: the server's default (off). */
  busyPollUs?: number;
  /**
   * Not a server option: false runs this server's rump readers with the
   * client's read-ahead off (`RUMPNET_READ_AHEAD=0`, one recv at a time, as
   * the NetBSD-equivalent configuration's); unset: the client's default.
   */
  readAhead?: boolean;
  /**
   * Not a server option: false runs this server's rump writers and echo
   * clients with the client's write gathering off (`RUMPNET_WRITE_GATHER=0`:
   * one send per `write()`, as a blocking write loop under NetBSD's
   * rumpclient), as the NetBSD-equivalent configuration's; unset: the client's default.
   */
  writeGather?: boolean;
  /**
   * Not a server option: false runs this server's rump clients with posted
   * sends off (`RUMPNET_POSTED_SEND=0`: every send waits for its reply);
   * unset: the client's default (on where the server offers them).
   */
  postedSend?: boolean;
  /**
   * Not a server option: false runs this server's rump clients with
   * streamed receives off (`RUMPNET_RX_STREAM=0`: one recv per read, with
   * read-ahead); unset: the client's default (on where the region is mapped).
   */
  rxStream?: boolean;
  /**
   * Not a server option: µs this server's rump clients busy poll for an
   * answer (`RUMPNET_BUSY_POLL`, the client's side of `--busy-poll`;
   * packages/client/src/busypoll.ts); unset or 0: the client's default (off).
   */
  clientBusyPollUs?: number;
}

let helpText: Promise<string> | undefined;

/**
 * The long options this build's `rump-server` accepts, read once from its
 * `--help`: options other engineers add (`--copy-window`, `--inline-max`)
 * are passed only where the daemon knows them, and the report says which
 * configuration really ran.
 */
export async function serverOptions(): Promise<Set<string>> {
  helpText ??= runText(process.execPath, ['--import', tsxLoader(), SERVER_CLI, '--help'], 60_000).catch(() => '');
  return new Set((await helpText).match(/--[a-z][a-z0-9-]*/g) ?? []);
}

/**
 * The command-line options of `params` this daemon accepts, and the ones it
 * does not (left out): `--mclbytes`, `--mclnum`, `--rx-mode`, and where
 * set, `--copy-window`, `--inline-max`, `--inline-recv-max`, `--no-shm` and `--no-offload`.
 */
export function paramArgs(params: StackParams, supported: ReadonlySet<string>): { args: string[]; missing: string[] } {
  const args = ['--mclbytes', String(params.mclbytes), '--mclnum', String(params.mclnum), '--rx-mode', params.rxMode];
  const missing: string[] = [];
  const opt = (name: string, value: number | undefined): void => {
    if (value === undefined) return;
    if (supported.has(name)) args.push(name, String(value));
    else missing.push(`${name} ${value}`);
  };
  opt('--copy-window', params.copyWindow);
  opt('--inline-max', params.inlineMax);
  opt('--inline-recv-max', params.inlineRecvMax);
  opt('--busy-poll', params.busyPollUs);
  if (params.shm === false) {
    if (supported.has('--no-shm')) args.push('--no-shm');
    else missing.push('--no-shm');
  }
  return { args, missing };
}

/** How a configuration reads in the report: the options it ran with, and the ones this daemon lacks. */
export function describeParams(params: StackParams, supported: ReadonlySet<string>, offload: boolean): string {
  const { args, missing } = paramArgs(params, supported);
  const run = [...args, ...(offload ? [] : ['--no-offload'])].join(' ');
  return missing.length ? `${run} (not supported by this rump-server, left out: ${missing.join(', ')})` : run;
}

/** Where the server's interface goes. */
export type Attach =
  | { kind: 'loopback' }
  | { kind: 'tap'; tap: string; addr: string; gateway?: string; ns: Spawner; offload?: boolean }
  | { kind: 'bus'; dir: string; addr: string };

/** Options of {@link RumpServerProc.start}. */
export interface StartOptions {
  params: StackParams;
  attach: Attach;
  /** Directory for the socket file. */
  dir: string;
  /** Most descriptors per client (the scale test raises it). */
  maxFds?: number;
  /** Clusters in the pool. */
  nmbclusters?: number;
  /** Extra environment of the daemon (the hop trace's `RUMPNET_TRACE_HOPS`). */
  env?: NodeJS.ProcessEnv;
  /** Flags for node itself (the profile's `--cpu-prof`). */
  nodeArgs?: string[];
}

/** A client of the server as `ctl.clients` reports it. */
export interface ClientInfo {
  session: number;
  pid: number | null;
  name: string | null;
  fds: number;
  counters: Record<string, number>;
}

let serial = 0;

/** A running rump server process with a control connection to it. */
export class RumpServerProc {
  private constructor(
    readonly proc: Proc,
    readonly url: string,
    readonly params: StackParams,
    private readonly ctl: RumpConnection,
  ) {}

  /**
   * Starts the daemon and waits until it answers a handshake (at most 15 s).
   * @throws Unavailable when it exits first (cannot open the tap, ...) with its reason.
   */
  static async start(o: StartOptions): Promise<RumpServerProc> {
    const url = `unix://${join(o.dir, `rump${process.pid}-${++serial}.sock`)}`;
    const args = [...paramArgs(o.params, await serverOptions()).args, '--log-level', 'info'];
    if (o.maxFds !== undefined) args.push('--max-fds', String(o.maxFds));
    if (o.nmbclusters !== undefined) args.push('--nmbclusters', String(o.nmbclusters));
    const a = o.attach;
    if (a.kind === 'tap') args.push('--tap', a.tap, '--addr', a.addr, ...(a.gateway ? ['--gateway', a.gateway] : []), ...(a.offload === false ? ['--no-offload'] : []));
    if (a.kind === 'bus') args.push('--bus', a.dir, '--addr', a.addr);
    args.push(url);
    const proc = Proc.node(SERVER_CLI, args, { ns: a.kind === 'tap' ? a.ns : null, label: 'rump-server', ...(o.env ? { env: o.env } : {}), ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}) });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) {
        throw new Unavailable(`rump-server exited with status ${proc.exitCode} without serving${proc.tail() ? `: ${proc.tail()}` : ''}`);
      }
      if (proc.stdoutLines.some((l) => l.includes('listening on'))) {
        try {
          const ctl = await RumpConnection.connect(url, { name: 'bench-ctl' });
          return new RumpServerProc(proc, url, o.params, ctl);
        } catch {
          /* not yet: retry below */
        }
      }
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Unavailable(`rump-server did not answer on ${url} within 15 s${proc.tail() ? `: ${proc.tail()}` : ''}`);
      }
      await sleep(50);
    }
  }

  /** The server's clients and their copy counters. */
  async clients(): Promise<ClientInfo[]> {
    return (await this.ctl.call<{ clients: ClientInfo[] }>('ctl.clients', {})).clients;
  }

  /** The counters of the client with process id `pid`, or null. */
  async countersOf(pid: number | undefined): Promise<Record<string, number> | null> {
    if (pid === undefined) return null;
    return (await this.clients()).find((c) => c.pid === pid)?.counters ?? null;
  }

  /**
   * The counters a departed client had, from the server's "client
   * disconnected" log line (the server logs them when a client goes).
   * Waits up to `ms` for the line.
   */
  async departedCounters(pid: number | undefined, ms = 2000): Promise<Record<string, number> | null> {
    if (pid === undefined) return null;
    const find = (): Record<string, number> | null => {
      for (let i = this.proc.logs.length - 1; i >= 0; i--) {
        const l = this.proc.logs[i]!;
        const peer = l.peer as { pid?: number } | undefined;
        if (l.msg === 'client disconnected' && peer?.pid === pid) return (l.counters as Record<string, number>) ?? null;
      }
      return null;
    };
    const end = Date.now() + ms;
    for (;;) {
      const c = find();
      if (c !== null || Date.now() > end) return c;
      await sleep(25);
    }
  }

  /** The counters of the server's first Ethernet interface (`ifconfig`: the stack's and its link's, a tap's busy polls among them), or {} without one. */
  async linkStats(): Promise<Record<string, number>> {
    const r = await this.ctl.call<{ interfaces?: { kind: string; stats: Record<string, number> }[] }>('ctl.ifconfig', {});
    return r.interfaces?.find((i) => i.kind === 'ethernet')?.stats ?? {};
  }

  /** The cluster pool's counters (`netstat -m`). */
  async pool(): Promise<Record<string, number>> {
    return (await this.ctl.call<{ mbufs?: { pool: Record<string, number> } }>('ctl.netstat', { what: 'mbufs' })).mbufs?.pool ?? {};
  }

  /** Whether the stack serves SOCK_STREAM: a socket() probe (EPROTONOSUPPORT means no TCP yet). */
  async probeTcp(): Promise<{ ok: true } | { ok: false; reason: string }> {
    try {
      const fd = await this.ctl.sys.socket('stream');
      await this.ctl.sys.close(fd);
      return { ok: true };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return { ok: false, reason: `the rump stack has no TCP yet (socket(SOCK_STREAM): ${err.code ?? err.message})` };
    }
  }

  /** Resident memory of the server process. */
  rssBytes(): number | null {
    return this.proc.rssBytes();
  }

  /** Closes the control connection and stops the server (SIGKILL after `graceMs`: a profiled server writes its profile first). */
  async stop(graceMs?: number): Promise<void> {
    await this.ctl.close().catch(() => undefined);
    await this.proc.stop(graceMs);
  }
}
