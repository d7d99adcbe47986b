/**
 * Where the benchmark's endpoints live.
 *
 * - `tap` (root): one network namespace created for the run (the Netns
 *   harness); each rump server gets its own tap device in it, with the Linux
 *   side at `.1` and the rump stack at `.2` of a /24 of its own; Linux peers
 *   run inside the namespace; two rump servers reach each other through the
 *   namespace's Linux routing (as the paper's two hosts did through their
 *   kernels). **No packet leaves the namespace**: it has no route out.
 * - `bus` (no root): rump servers share a rootless Ethernet bus in a
 *   directory; Linux runs over loopback; a Linux peer for a rump stack is
 *   not possible, so those configurations are skipped (the MCLBYTES/MCLNUM
 *   sweeps then use a rump peer with rumpnet's defaults).
 *
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { RumpServerProc, type StackParams } from './rump.js';
import type { Spawner } from './procs.js';

/** The parts of the tap-bridge Netns harness the benchmark uses. */
interface NetnsLike extends Spawner {
  readonly name: string;
  addTap(name: string, opts: { linuxAddr?: string }): Promise<unknown>;
  ip(...args: string[]): Promise<string>;
  check(cmd: string, args: readonly string[]): Promise<string>;
  destroy(): Promise<void>;
}

/** A rump server placed on the topology, with the addresses peers use. */
export interface Placed {
  server: RumpServerProc;
  /** The rump stack's address on its interface. */
  rumpIp: string;
  /** The Linux side's address (tap mode), or null. */
  linuxIp: string | null;
  release(): Promise<void>;
}

/** The run's topology (see the module comment). */
export class Topology {
  private subnet = 0;
  private readonly r = randomInt(16, 250);
  /** Paper mode: the token-bucket rate (tc syntax, e.g. `1gbit`) on every tap made from now on, or null. */
  private capRate: string | null = null;
  /** Paper mode: whether this kernel can police a tap's ingress (act_police); without, rump→Linux stays uncapped. */
  private police = false;

  private constructor(
    readonly kind: 'tap' | 'bus',
    /** Why not `tap`, when `bus`. */
    readonly whyNoTap: string | null,
    readonly ns: NetnsLike | null,
    /** Temporary directory: sockets, bus directories. */
    readonly dir: string,
    /** Tap servers run with their default offloads (virtio-net header: TSO send, large receive); false: `--no-offload`. */
    readonly offload = true,
  ) {}

  /**
   * Chooses `tap` when allowed and possible (root, /dev/net/tun, iproute2,
   * tap-bridge built), else `bus`, saying why.
   */
  static async create(opts: { noNetns?: boolean; offload?: boolean } = {}): Promise<Topology> {
    const dir = mkdtempSync(join(tmpdir(), 'rumpnet-bench-'));
    if (opts.noNetns) return new Topology('bus', 'namespaces turned off (--no-netns)', null, dir);
    let tb: typeof import('@rumpnet/tap-bridge');
    try {
      tb = await import('@rumpnet/tap-bridge');
    } catch (e) {
      return new Topology('bus', `@rumpnet/tap-bridge unavailable (${(e as Error).message.split('\n')[0]})`, null, dir);
    }
    const can = tb.canUseNetns();
    if (!can.ok) return new Topology('bus', can.reason, null, dir);
    try {
      const ns = await tb.Netns.create({ prefix: 'bench' });
      // Forwarding between the taps, inside this namespace only (rump→rump).
      await ns.check('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      return new Topology('tap', null, ns as unknown as NetnsLike, dir, opts.offload ?? true);
    } catch (e) {
      return new Topology('bus', `cannot create a network namespace: ${(e as Error).message}`, null, dir);
    }
  }

  /** Whether a Linux peer can talk to a rump stack (tap mode). */
  get linuxPeer(): boolean {
    return this.kind === 'tap';
  }

  /** Where native (Linux) peers run: in the namespace, or on the host. */
  get nativeSpawner(): Spawner | null {
    return this.ns;
  }

  /** A loopback-only server (latency on lo0, scale, the availability probe). */
  async loopbackServer(params: StackParams, extra: { maxFds?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RumpServerProc> {
    return RumpServerProc.start({ params, attach: { kind: 'loopback' }, dir: this.dir, ...extra });
  }

  /** A server on its own tap (tap mode): rump at `.2`, Linux at `.1`, default route via Linux. */
  async tapServer(params: StackParams, env?: NodeJS.ProcessEnv, nodeArgs?: string[]): Promise<Placed> {
    const k = ++this.subnet;
    const base = `10.${this.r}.${k % 250}`;
    const tap = `rnb${k}`;
    await this.ns!.addTap(tap, { linuxAddr: `${base}.1/24` });
    try {
      if (this.capRate !== null) await this.capDev(tap, true);
      const server = await RumpServerProc.start({
        params, dir: this.dir, attach: { kind: 'tap', tap, addr: `${base}.2/24`, gateway: `${base}.1`, ns: this.ns!, offload: this.offloadOf(params) }, ...(env ? { env } : {}), ...(nodeArgs ? { nodeArgs } : {}),
      });
      return {
        server, rumpIp: `${base}.2`, linuxIp: `${base}.1`,
        release: async () => {
          await server.stop(nodeArgs ? 30_000 : undefined);
          await this.ns!.ip('link', 'del', tap).catch(() => undefined);
        },
      };
    } catch (e) {
      await this.ns!.ip('link', 'del', tap).catch(() => undefined);
      throw e;
    }
  }

  /** Whether a tap server with `params` runs with offloads: never under `--no-offload`, else unless `params.offload` is false. */
  offloadOf(params: StackParams): boolean {
    return this.offload && params.offload !== false;
  }

  /** The paper mode's cap, if on. */
  get cap(): string | null {
    return this.capRate;
  }

  /**
   * Paper mode: caps the Linux side at `rate` (tc syntax, `1gbit`) inside
   * the namespace — a token bucket filter (tbf, the kernel's sch_tbf) on
   * its loopback, which carries Linux→Linux, and on every tap made from
   * now on (egress: Linux→rump; an ingress policer: rump→Linux), like the
   * paper's gigabit link. Resolves with null when capped, else with the
   * one-line reason (no namespace, no `tc`, no tbf in this kernel); then
   * nothing is capped.
   */
  async capLinux(rate: string): Promise<string | null> {
    if (this.ns === null) return `no network namespace (${this.whyNoTap ?? 'bus topology'}): the host's own interfaces are never shaped`;
    try {
      await this.capDev('lo', false, rate);
    } catch (e) {
      return `tc cannot add a token bucket (tbf) in the namespace: ${(e as Error).message.split('\n')[0]}`;
    }
    this.capRate = rate;
    // Can this kernel police ingress (act_police)? Tried on lo, then removed.
    try {
      await this.policeIngress('lo', rate);
      this.police = true;
    } catch {
      this.police = false;
    }
    await this.ns.check('tc', ['qdisc', 'del', 'dev', 'lo', 'ingress']).catch(() => undefined);
    return null;
  }

  /** Paper mode: how the cap is applied (for the report). */
  get capHow(): string {
    return `tc tbf on the namespace's loopback and on each tap's egress (Linux→rump); ${this.police ? 'an ingress policer on each tap (rump→Linux)' : 'rump→Linux uncapped: this kernel has no ingress policer (act_police)'}`;
  }

  private async policeIngress(dev: string, rate: string): Promise<void> {
    await this.ns!.check('tc', ['qdisc', 'add', 'dev', dev, 'handle', 'ffff:', 'ingress']);
    await this.ns!.check('tc', ['filter', 'add', 'dev', dev, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0',
      'police', 'rate', rate, 'burst', '256kb', 'drop', 'flowid', ':1']);
  }

  /** tbf on `dev`'s egress; with `ingress` (and a kernel that can), a policer on what enters it too (rump→Linux on a tap). */
  private async capDev(dev: string, ingress: boolean, rate = this.capRate!): Promise<void> {
    // burst: a 64 KiB GSO segment (lo, TSO over the tap) must fit in the bucket, or tbf drops it.
    await this.ns!.check('tc', ['qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '50ms']);
    if (ingress && this.police) await this.policeIngress(dev, rate);
  }

  /** A new bus segment; `join` puts a server on it at host `.host`. */
  newBus(): { join(params: StackParams, host: number): Promise<Placed> } {
    const k = ++this.subnet;
    const busDir = join(this.dir, `bus${k}`);
    mkdirSync(busDir, { recursive: true });
    const base = `10.${this.r}.${k % 250}`;
    return {
      join: async (params, host) => {
        const server = await RumpServerProc.start({ params, dir: this.dir, attach: { kind: 'bus', dir: busDir, addr: `${base}.${host}/24` } });
        return { server, rumpIp: `${base}.${host}`, linuxIp: null, release: () => server.stop() };
      },
    };
  }

  /** Deletes the namespace (and every tap in it) and the temporary directory. */
  async destroy(): Promise<void> {
    await this.ns?.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
