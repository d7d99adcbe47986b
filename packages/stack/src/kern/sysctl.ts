/**
 * A tree of tunables and statistics named like NetBSD's sysctl(7)
 * (`net.inet.ip.ttl`, `net.inet.udp.stats.rcvfull`, `kern.mbuf.nmbclusters`).
 *
 * Each stack instance owns one {@link Sysctl} (several stacks may live in one
 * process, so the tree is not global). The modules register their own nodes,
 * as NetBSD's `sysctl_createv()` calls live beside the variables they expose:
 *
 * - {@link Sysctl.addInt} — one integer with a getter and, when writable, a
 *   setter and bounds (`sysctl_lookup()` with a `CTLFLAG_READWRITE` int).
 * - {@link Sysctl.addStats} — a whole counter object. Modules keep their
 *   counters in a plain object (`stats.ipInHdrErrors++` costs nothing on the
 *   data path) and the tree reads it by reference; keys added to the object
 *   later appear too. These leaves are read-only.
 *
 * Names are dotted; each component is a letter or `_` followed by letters,
 * digits or `_` (so the plain string order equals component order, as `.`
 * sorts before all of them). A leaf never has children.
 *
 * @example
 * ```ts
 * const sysctl = new Sysctl();
 * const ip = { ttl: 64 };
 * sysctl.addInt('net.inet.ip.ttl', { get: () => ip.ttl, set: (v) => (ip.ttl = v), min: 1, max: 255,
 *   description: 'Default TTL of outgoing IP packets' });
 * const ipstat = { total: 0, badsum: 0 };
 * sysctl.addStats('net.inet.ip.stats', ipstat);
 * sysctl.set('net.inet.ip.ttl', 32);
 * formatSysctl(sysctl.list('net.inet.ip')); // "net.inet.ip.stats.badsum = 0\n..."
 * ```
 */
import { Errno, StackError } from './errno.js';

/** Definition of an integer node, for {@link Sysctl.addInt}. */
export interface IntNode {
  /** Read the current value. */
  get: () => number;
  /**
   * Store a new value (already checked to be an integer within min..max).
   * Omit for a read-only node. May throw a {@link StackError} to refuse it.
   */
  set?: (value: number) => void;
  /** Smallest value `set` accepts (inclusive). */
  min?: number;
  /** Largest value `set` accepts (inclusive). */
  max?: number;
  /** One line for `sysctl -d`. */
  description: string;
}

/** One row of {@link Sysctl.list}. */
export interface SysctlRow {
  /** Full dotted name. */
  name: string;
  /** Current value. */
  value: number;
  /** Whether {@link Sysctl.set} may change it. */
  writable: boolean;
  /** One line of description ('' when none was given). */
  description: string;
}

/**
 * Counter objects as modules keep them: plain objects whose numeric own
 * properties are the counters (an interface such as `LinkStats` qualifies;
 * other properties are skipped).
 */
export type StatsObject = object;

interface StatsGroup {
  obj: Readonly<Record<string, unknown>>;
  descriptions: Readonly<Record<string, string>>;
}

const COMPONENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || !name.split('.').every((c) => COMPONENT.test(c))) {
    throw new StackError(Errno.EINVAL, `sysctl: bad name "${name}"`);
  }
}

function parentOf(name: string): string {
  const i = name.lastIndexOf('.');
  return i < 0 ? '' : name.slice(0, i);
}

/** Whether `name` is `prefix` itself or lies below it (whole components). */
function under(name: string, prefix: string): boolean {
  return prefix === '' || name === prefix || (name.startsWith(prefix) && name.charCodeAt(prefix.length) === 46);
}

/**
 * The sysctl tree of one stack. Registration errors throw; reads and writes
 * throw {@link StackError} (or return an errno with {@link Sysctl.trySet}).
 */
export class Sysctl {
  private readonly ints = new Map<string, IntNode>();
  private readonly groups = new Map<string, StatsGroup>();

  /**
   * Register an integer node.
   * @throws StackError EINVAL for a bad name or bounds, EEXIST if the name (or
   *         a leaf above it, or a node below it) is already registered.
   */
  addInt(name: string, node: IntNode): void {
    checkName(name);
    if (node.min !== undefined && node.max !== undefined && node.min > node.max) {
      throw new StackError(Errno.EINVAL, `sysctl: ${name}: min ${node.min} > max ${node.max}`);
    }
    this.checkFree(name);
    this.ints.set(name, node);
  }

  /**
   * Register every numeric property of `obj` as a read-only leaf
   * `prefix.key`, read by reference at each access (so later increments, and
   * keys added later, show). Non-numeric properties are ignored.
   * @param descriptions optional one-line description per key.
   * @throws StackError EINVAL for a bad prefix, EEXIST if it collides with a registered name.
   */
  addStats<T extends StatsObject>(
    prefix: string,
    obj: T,
    descriptions?: Readonly<Partial<Record<keyof T & string, string>>>,
  ): void {
    checkName(prefix);
    this.checkFree(prefix);
    this.groups.set(prefix, {
      obj: obj as Readonly<Record<string, unknown>>,
      descriptions: (descriptions ?? {}) as Readonly<Record<string, string>>,
    });
  }

  /**
   * Remove a node, a stats group, or everything under a prefix (a stack
   * module detaching). Returns how many registrations were removed.
   */
  remove(prefix: string): number {
    let n = 0;
    for (const k of [...this.ints.keys()]) if (under(k, prefix) && this.ints.delete(k)) n++;
    for (const k of [...this.groups.keys()]) if (under(k, prefix) && this.groups.delete(k)) n++;
    return n;
  }

  /** Whether `name` is a leaf of the tree. */
  has(name: string): boolean {
    return this.ints.has(name) || this.statLeaf(name) !== undefined;
  }

  /**
   * Read a leaf.
   * @throws StackError ENOENT for an unknown name (or an interior node).
   */
  get(name: string): number {
    const node = this.ints.get(name);
    if (node) return node.get();
    const v = this.statLeaf(name);
    if (v === undefined) throw new StackError(Errno.ENOENT, `sysctl: unknown node ${name}`);
    return v;
  }

  /**
   * Write a leaf and return its previous value (sysctl(3)'s `oldp`).
   * @throws StackError ENOENT for an unknown name, EPERM for a read-only
   *         node or a statistic, EINVAL for a non-integer or out-of-range
   *         value, or whatever the node's setter throws.
   */
  set(name: string, value: number): number {
    const node = this.ints.get(name);
    if (!node) {
      if (this.statLeaf(name) !== undefined) throw new StackError(Errno.EPERM, `sysctl: ${name} is a statistic`);
      throw new StackError(Errno.ENOENT, `sysctl: unknown node ${name}`);
    }
    if (!node.set) throw new StackError(Errno.EPERM, `sysctl: ${name} is read-only`);
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new StackError(Errno.EINVAL, `sysctl: ${name}: ${String(value)} is not an integer`);
    }
    if ((node.min !== undefined && value < node.min) || (node.max !== undefined && value > node.max)) {
      throw new StackError(
        Errno.EINVAL,
        `sysctl: ${name}: ${value} outside ${node.min ?? '-inf'}..${node.max ?? 'inf'}`,
      );
    }
    const old = node.get();
    node.set(value);
    return old;
  }

  /**
   * {@link Sysctl.set} that returns an errno instead of throwing (0 on
   * success), for the server edge that forwards it to a client.
   */
  trySet(name: string, value: number): number {
    try {
      this.set(name, value);
      return 0;
    } catch (e) {
      if (e instanceof StackError) return e.errno;
      throw e;
    }
  }

  /**
   * Every leaf at or below `prefix` (whole components; all when omitted),
   * sorted by name — `sysctl -a`, and the input of `netstat -s`.
   */
  list(prefix = ''): SysctlRow[] {
    const rows: SysctlRow[] = [];
    for (const [name, node] of this.ints) {
      if (under(name, prefix)) rows.push({ name, value: node.get(), writable: node.set !== undefined, description: node.description });
    }
    for (const [gp, g] of this.groups) {
      // A prefix inside a group ("a.stats.x") selects one of its leaves.
      if (!under(gp, prefix) && !under(prefix, gp)) continue;
      for (const key of Object.keys(g.obj)) {
        const v = g.obj[key];
        if (typeof v !== 'number' || !COMPONENT.test(key)) continue;
        const name = `${gp}.${key}`;
        if (under(name, prefix)) rows.push({ name, value: v, writable: false, description: g.descriptions[key] ?? '' });
      }
    }
    rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return rows;
  }

  private statLeaf(name: string): number | undefined {
    const g = this.groups.get(parentOf(name));
    if (!g) return undefined;
    const key = name.slice(name.lastIndexOf('.') + 1);
    if (!Object.prototype.hasOwnProperty.call(g.obj, key)) return undefined;
    const v = g.obj[key];
    return typeof v === 'number' ? v : undefined;
  }

  /**
   * A leaf may not sit above or below another leaf, and a stats group owns
   * every name below its prefix: so any two registrations clash when one is
   * the other or lies below it.
   */
  private checkFree(name: string): void {
    for (const k of [...this.ints.keys(), ...this.groups.keys()]) {
      if (under(name, k) || under(k, name)) throw new StackError(Errno.EEXIST, `sysctl: ${name} collides with ${k}`);
    }
  }
}

/** Render rows like `sysctl -a` does: `name = value`, one per line. */
export function formatSysctl(rows: readonly SysctlRow[]): string {
  return rows.map((r) => `${r.name} = ${r.value}`).join('\n');
}
