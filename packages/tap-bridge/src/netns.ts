/**
 * The network-namespace harness used by every interoperability test,
 * benchmark and example: a uniquely named namespace with `lo` up, taps whose
 * Linux side has an address, Linux-side peers and Node processes running
 * inside it, and deletion of it all afterwards — also when a test throws or
 * the process is interrupted.
 *
 * **No packet leaves a namespace created here.** A fresh namespace has only
 * `lo` and the taps added to it; there is no route and no device towards the
 * host's own namespace, so addresses such as `10.<random>.x.y` used inside
 * cannot reach any real network.
 *
 * The harness shells out to `ip` (iproute2); the library's tap code never does.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { accessSync, constants } from 'node:fs';

/** Result of {@link canUseNetns}: whether namespace tests can run here, and if not, why. */
export type NetnsCheck = { ok: true } | { ok: false; reason: string };

let checked: NetnsCheck | undefined;

/**
 * Checks what namespace tests need: root (CAP_SYS_ADMIN and CAP_NET_ADMIN),
 * `/dev/net/tun`, and the `ip` command. For `this.skip()` with a one-line reason.
 */
export function canUseNetns(): NetnsCheck {
  if (checked !== undefined) return checked;
  if (process.platform !== 'linux') return (checked = { ok: false, reason: 'network namespaces need Linux' });
  if (process.getuid?.() !== 0) return (checked = { ok: false, reason: 'needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) for network namespaces and taps' });
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return (checked = { ok: false, reason: 'no /dev/net/tun (load the tun module, or give the container the device)' });
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return (checked = { ok: false, reason: "no 'ip' command (install iproute2)" });
  }
  return (checked = { ok: true });
}

/** Output of a command run by {@link Netns.exec}. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The command ran past its timeout and was killed. */
  timedOut: boolean;
}

/** Options of {@link Netns.exec}. */
export interface ExecOptions {
  /** Kill the command (SIGKILL) after this many ms (default 10000). */
  timeoutMs?: number;
  /** Text written to the command's stdin. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Options of {@link Netns.addTap}. */
export interface AddTapOptions {
  /** Address and prefix for the Linux side, e.g. `10.77.3.1/24`. */
  linuxAddr?: string;
  /** Set the interface up (default true). Carrier comes when a process attaches. */
  up?: boolean;
  /** MTU of the interface. */
  mtu?: number;
  /** MAC of the Linux side. */
  linuxMac?: string;
  /** Turn IPv6 off on it (default true): keeps router solicitations and MLD out of IPv4 tests. */
  disableIpv6?: boolean;
}

/** A tap created by {@link Netns.addTap}. */
export interface TapInfo {
  name: string;
  /** The Linux side's address without prefix, if one was given. */
  linuxIp?: string;
  /** Its prefix length. */
  prefixLen?: number;
  /** The Linux side's MAC, `aa:bb:...`. */
  linuxMac: string;
}

/** One interface as `ip -j link show` describes it (the fields the tests use). */
export interface IpLink {
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  operstate: string;
}

/** A failed harness command: its argv, exit code and stderr. */
export class NetnsError extends Error {
  constructor(
    message: string,
    readonly result?: ExecResult,
  ) {
    super(message);
    this.name = 'NetnsError';
  }
}

/** Options of {@link Netns.create}. */
export interface NetnsOptions {
  /** Part of the name: `rn-<prefix>-<pid>-<rand>` (letters, digits, `-`; default `t`). */
  prefix?: string;
}

const live = new Set<Netns>();
let hooksInstalled = false;

/**
 * A network namespace owned by this process. Create with {@link Netns.create};
 * always `await ns.destroy()` (in an `after` hook). Namespaces not destroyed
 * are deleted when the process exits or is interrupted (SIGINT/SIGTERM/SIGHUP).
 */
export class Netns {
  /** The namespace name (`ip netns list`). */
  readonly name: string;
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * Creates a uniquely named namespace and brings `lo` up inside it.
   * @throws NetnsError when `ip netns add` fails (not root, no iproute2).
   */
  static async create(opts: NetnsOptions = {}): Promise<Netns> {
    const prefix = (opts.prefix ?? 't').replace(/[^A-Za-z0-9-]/g, '-').slice(0, 16);
    const name = `rn-${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
    installHooks();
    await run('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    live.add(ns);
    try {
      await ns.ip('link', 'set', 'lo', 'up');
    } catch (e) {
      await ns.destroy();
      throw e;
    }
    return ns;
  }

  /** Every namespace of this process not yet destroyed. */
  static live(): readonly Netns[] {
    return [...live];
  }

  /** The namespace's bind-mount path, for `TapLink.open({ netns })` and `setns`. */
  get path(): string {
    return `/run/netns/${this.name}`;
  }

  /** Whether {@link destroy} has run. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Runs `cmd args` inside the namespace (`ip netns exec`) and resolves with
   * its output and exit status; never rejects for a non-zero exit (see {@link check}).
   */
  exec(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    this.#alive();
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts, false);
  }

  /**
   * Like {@link exec}, but resolves with stdout only and rejects with a
   * NetnsError (carrying stderr) on a non-zero exit or timeout.
   */
  check(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<string> {
    this.#alive();
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts).then((r) => r.stdout);
  }

  /** `ip -n <ns> args...`; resolves with stdout, rejects with a NetnsError. */
  ip(...args: string[]): Promise<string> {
    this.#alive();
    return run('ip', ['-n', this.name, ...args]).then((r) => r.stdout);
  }

  /**
   * Starts a long-running command inside the namespace (a Linux-side peer:
   * `ping`, a server, ...). It is killed by {@link destroy}. Default stdio is
   * `['ignore', 'pipe', 'pipe']`: read or ignore the pipes, they are small.
   */
  spawn(cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
    this.#alive();
    // `ip netns exec` execs the command in place (no fork), so the child's
    // pid is the command's own and signals reach it directly.
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
    });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    child.once('error', () => this.#children.delete(child));
    return child;
  }

  /**
   * Runs a Node script (TypeScript allowed: it is loaded through tsx) inside
   * the namespace — how a stack process gets a tap device there. Killed by
   * {@link destroy}. (A process outside can also open a tap inside with
   * `TapLink.open({ name, netns: ns.name })`.)
   */
  spawnNode(script: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
    return this.spawn(process.execPath, ['--import', tsxLoader(), script, ...args], opts);
  }

  /**
   * Creates a persistent tap `name` inside the namespace (`ip tuntap add`),
   * so that a stack process can attach to it by name, and configures its
   * Linux side. The tap goes away with the namespace.
   * @throws NetnsError when a command fails (e.g. the name exists).
   */
  async addTap(name: string, opts: AddTapOptions = {}): Promise<TapInfo> {
    await this.ip('tuntap', 'add', 'dev', name, 'mode', 'tap');
    if (opts.disableIpv6 ?? true) await this.check('sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);
    if (opts.mtu !== undefined) await this.ip('link', 'set', 'dev', name, 'mtu', String(opts.mtu));
    if (opts.linuxMac !== undefined) await this.ip('link', 'set', 'dev', name, 'address', opts.linuxMac);
    let linuxIp: string | undefined;
    let prefixLen: number | undefined;
    if (opts.linuxAddr !== undefined) {
      await this.ip('addr', 'add', opts.linuxAddr, 'dev', name);
      const [ip, len] = opts.linuxAddr.split('/');
      linuxIp = ip;
      prefixLen = len === undefined ? 32 : Number(len);
    }
    if (opts.up ?? true) await this.ip('link', 'set', 'dev', name, 'up');
    const l = await this.link(name);
    return { name, linuxIp, prefixLen, linuxMac: l.address };
  }

  /** The interface `name` as `ip -j link show` reports it. @throws NetnsError if absent. */
  async link(name: string): Promise<IpLink> {
    const out = await this.ip('-j', 'link', 'show', 'dev', name);
    const arr = JSON.parse(out) as IpLink[];
    if (arr.length !== 1) throw new NetnsError(`ip link show ${name}: ${arr.length} results`);
    return arr[0]!;
  }

  /**
   * Kills every process this harness started inside (SIGTERM, then SIGKILL
   * after 1 s) and any other process still in the namespace, then deletes the
   * namespace and every device in it. Idempotent; never rejects.
   */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    const children = [...this.#children];
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => waitExit(c, 1000)));
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => waitExit(c, 1000)));
    this.#children.clear();
    // Anything else left inside (a grandchild, a forked daemon) would keep
    // the namespace alive after its name is gone.
    try {
      const pids = (await run('ip', ['netns', 'pids', this.name])).stdout.split(/\s+/).filter(Boolean);
      for (const p of pids) {
        const pid = Number(p);
        if (pid > 1 && pid !== process.pid) killQuietly(pid);
      }
    } catch {
      // no pids listed: nothing to kill
    }
    await run('ip', ['netns', 'delete', this.name], {}, false);
  }

  #alive(): void {
    if (this.#destroyed) throw new NetnsError(`namespace ${this.name} is destroyed`);
  }

  /** Synchronous last-chance cleanup for process exit. */
  static destroyAllSync(): void {
    for (const ns of live) {
      ns.#destroyed = true;
      for (const c of ns.#children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8', timeout: 5000 });
        for (const p of pids.split(/\s+/).filter(Boolean)) {
          const pid = Number(p);
          if (pid > 1 && pid !== process.pid) killQuietly(pid);
        }
        execFileSync('ip', ['netns', 'delete', ns.name], { stdio: 'ignore', timeout: 5000 });
      } catch {
        // best effort at exit
      }
    }
    live.clear();
  }
}

/**
 * A random /24 inside 10.0.0.0/8 for one test's namespace. Any value is safe
 * because a namespace from this harness has no route out.
 */
export function randomSubnet24(): { base: string; addr(host: number): string; cidr(host: number): string } {
  const base = `10.${randomInt(1, 255)}.${randomInt(0, 256)}`;
  return { base, addr: (h) => `${base}.${h}`, cidr: (h) => `${base}.${h}/24` };
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => Netns.destroyAllSync());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      Netns.destroyAllSync();
      process.off(sig, onSignal);
      // Keep the signal's usual meaning: re-raise it unless the program
      // handles it itself.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function waitExit(c: ChildProcess, ms: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Runs a command (not in a namespace) with a timeout; rejects on failure when `strict`. */
function run(cmd: string, args: readonly string[], opts: ExecOptions = {}, strict = true): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    // Bound what we keep: a chatty peer must not fill memory.
    const LIMIT = 8 << 20;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < LIMIT) stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < LIMIT) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 10000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new NetnsError(`${cmd} ${args.join(' ')}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const r: ExecResult = { stdout, stderr, code, signal, timedOut };
      if (strict && (code !== 0 || timedOut)) {
        const why = timedOut ? `timed out after ${opts.timeoutMs ?? 10000} ms` : `exit ${code ?? signal}`;
        reject(new NetnsError(`${cmd} ${args.join(' ')}: ${why}: ${stderr.trim()}`, r));
      } else resolve(r);
    });
    child.stdin!.on('error', () => {}); // the command may exit before reading
    child.stdin!.end(opts.input ?? '');
  });
}
