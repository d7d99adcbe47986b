/**
 * The host's own IPv4 addresses, as `ip_input` and `bind(2)` ask about
 * them: the weak host model's set of every address configured on an
 * interface (NetBSD `in_ifaddr`, `ifa_ifwithaddr`), plus whole prefixes of
 * loopback interfaces.
 *
 * The prefixes are Linux's rule, not NetBSD's: Linux installs
 * `local 127.0.0.0/8 dev lo` in its local table, so every 127/8 address is
 * this host's (`bind(127.0.0.2)` works, a packet to 127.0.0.2 is
 * delivered), while NetBSD's lo0 owns 127.0.0.1 alone. Programs written on
 * Linux — Node's own tests among them — listen on 127.0.0.2 and connect to
 * it, so the rump stack follows Linux here.
 */
import { ipv4PrefixMask } from '../wire/address.js';

/** A loopback prefix owned as a whole. */
interface LoopbackNet {
  readonly net: number;
  readonly mask: number;
}

/**
 * A `Set` of the host's IPv4 addresses whose {@link LocalAddrs.has} also
 * answers true for any address inside a prefix carried by a loopback
 * interface. Iteration yields the configured addresses only.
 */
export class LocalAddrs extends Set<number> {
  readonly #loopNets: LoopbackNet[] = [];

  /** Whether `addr` is this host's: configured on an interface, or inside a loopback prefix. */
  override has(addr: number): boolean {
    if (super.has(addr)) return true;
    // Usually one entry (127/8); only reached for addresses that are not configured.
    for (const p of this.#loopNets) if (((addr & p.mask) >>> 0) === p.net) return true;
    return false;
  }

  /** A loopback interface got an address with this prefix: the whole prefix is local (counted per call). */
  addLoopbackNet(net: number, prefixLen: number): void {
    const mask = ipv4PrefixMask(prefixLen);
    this.#loopNets.push({ net: (net & mask) >>> 0, mask });
  }

  /** Undoes one {@link LocalAddrs.addLoopbackNet} of the same prefix (no-op if there is none). */
  removeLoopbackNet(net: number, prefixLen: number): void {
    const mask = ipv4PrefixMask(prefixLen);
    const i = this.#loopNets.findIndex((p) => p.mask === mask && p.net === ((net & mask) >>> 0));
    if (i >= 0) this.#loopNets.splice(i, 1);
  }
}
