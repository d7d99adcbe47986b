/**
 * The network layer's sysctl nodes (`sysctl_net_inet_ip_setup()` and
 * friends in NetBSD): tunables that take effect at once, and every counter
 * group, registered on a stack's {@link Sysctl} tree.
 *
 * @module
 */
import type { Sysctl } from '../kern/sysctl.js';
import type { ClusterPool, PoolPressureLimits, PoolStats } from '../mbuf/index.js';
import type { ArpTunables } from './arp.js';
import type { IpTunables } from './context.js';
import type { IcmpTunables } from './icmp.js';
import type { ReassLimits } from './reass.js';
import type { ArpStats, EtherStats, IcmpStats, IpStats } from './stats.js';

/** What {@link registerNetSysctl} exposes. */
export interface NetSysctlSources {
  pool: ClusterPool;
  ipTun: IpTunables;
  reass: ReassLimits;
  icmpTun: IcmpTunables;
  arpTun: ArpTunables;
  ipstat: IpStats;
  icmpstat: IcmpStats;
  arpstat: ArpStats;
  etherstat: EtherStats;
}

type NumKeys<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T];

function rw<T extends object>(
  sysctl: Sysctl,
  name: string,
  obj: T,
  key: NumKeys<T>,
  min: number,
  max: number,
  description: string,
): void {
  sysctl.addInt(name, {
    get: () => obj[key] as number,
    set: (v) => {
      (obj as Record<string, number>)[key as string] = v;
    },
    min,
    max,
    description,
  });
}

/** Register `net.inet.ip.*`, `net.inet.icmp.*`, `net.inet.arp.*`, `net.link.ether.*` and `kern.mbuf.*`. */
export function registerNetSysctl(sysctl: Sysctl, s: NetSysctlSources): void {
  rw(sysctl, 'net.inet.ip.ttl', s.ipTun, 'ttl', 1, 255, 'Default TTL of outgoing IP packets');
  sysctl.addInt('net.inet.ip.forwarding', {
    get: () => 0,
    description: 'IP forwarding (always 0: this stack is a host)',
  });
  rw(sysctl, 'net.inet.ip.mtudisc_timeout', s.ipTun, 'mtuExpire', 60, 86400, 'Seconds a learnt path MTU is kept (RFC 1191)');
  rw(sysctl, 'net.inet.ip.reass.timeout', s.reass, 'timeout', 1, 600, 'Seconds a datagram may wait for its fragments');
  rw(sysctl, 'net.inet.ip.reass.maxfragpackets', s.reass, 'maxfragpackets', 0, 1 << 20, 'Datagrams under reassembly at once');
  rw(sysctl, 'net.inet.ip.reass.maxfrags', s.reass, 'maxfrags', 0, 1 << 20, 'Fragments held for reassembly in all');
  rw(sysctl, 'net.inet.ip.reass.maxfragsperpacket', s.reass, 'maxfragsperpacket', 1, 8192, 'Fragments per datagram');
  sysctl.addStats('net.inet.ip.stats', s.ipstat);

  rw(sysctl, 'net.inet.icmp.errppslimit', s.icmpTun, 'errppslimit', -1, 1 << 20, 'ICMP errors sent per second (-1: no limit)');
  rw(sysctl, 'net.inet.icmp.bmcastecho', s.icmpTun, 'bmcastecho', 0, 1, 'Answer echo requests to broadcast / multicast');
  sysctl.addStats('net.inet.icmp.stats', s.icmpstat);

  rw(sysctl, 'net.inet.arp.keep', s.arpTun, 'keep', 1, 86400, 'Seconds a resolved ARP entry is valid');
  rw(sysctl, 'net.inet.arp.down', s.arpTun, 'down', 1, 3600, 'Seconds sends fail fast after ARP failed');
  rw(sysctl, 'net.inet.arp.maxtries', s.arpTun, 'maxtries', 1, 100, 'ARP requests before giving up');
  rw(sysctl, 'net.inet.arp.retrans_ms', s.arpTun, 'retransMs', 10, 60000, 'Milliseconds between ARP requests');
  rw(sysctl, 'net.inet.arp.maxentries', s.arpTun, 'maxentries', 16, 1 << 20, 'Dynamic ARP entries per interface');
  rw(sysctl, 'net.inet.arp.maxhold', s.arpTun, 'maxhold', 1, 1024, 'Packets held per unresolved entry');
  sysctl.addStats('net.inet.arp.stats', s.arpstat);

  sysctl.addStats('net.link.ether.stats', s.etherstat);

  const pool = s.pool;
  sysctl.addInt('kern.mbuf.mclbytes', { get: () => pool.mclbytes, description: 'Cluster size (MCLBYTES)' });
  sysctl.addInt('kern.mbuf.nmbclusters', { get: () => pool.nmbclusters, description: 'Clusters in the pool' });
  sysctl.addInt('kern.mbuf.mclnum', { get: () => pool.mclnum, description: 'Clusters per extended cluster (MCLNUM)' });
  const lim = (key: keyof PoolPressureLimits, name: string, description: string): void => {
    sysctl.addInt(`kern.mbuf.${name}`, {
      get: () => pool.pressureLimits[key],
      set: (v) => pool.setPressureLimits({ [key]: v }),
      min: 0,
      max: key === 'mbufReserve' ? pool.nmbufs : pool.nmbclusters,
      description,
    });
  };
  lim('reserve', 'reserve', 'Clusters only the receive path may take (so ACKs always get in)');
  lim('mbufReserve', 'mbuf_reserve', 'Mbufs only the receive path and TCP control segments (ACKs) may take');
  lim('pressureHiwat', 'pressure_hiwat', 'Clusters in use at which memory pressure starts');
  lim('pressureLowat', 'pressure_lowat', 'Clusters in use at or below which memory pressure ends');
  const keys: (keyof PoolStats)[] = [
    'pressure',
    'pressureEntered',
    'reserveDenied',
    'reserveUsed',
    'clustersInUse',
    'clustersFree',
    'clustersPeak',
    'mbufsInUse',
    'mbufsPeak',
    'mbufsLimit',
    'allocFailures',
    'drops',
    'extGets',
    'extContiguous',
  ];
  for (const k of keys) {
    sysctl.addInt(`kern.mbuf.stats.${k}`, { get: () => pool.stats()[k], description: `Pool statistic ${k}` });
  }
}
