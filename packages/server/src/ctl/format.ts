/**
 * Text renderings of the control calls' results, shaped like the BSD tools
 * they stand for (`ifconfig`, `netstat -rn`, `netstat -an`, `netstat -m`,
 * `netstat -s`, `arp -an`, `ping`, `sysctl`). Pure functions from results
 * to text, so `rumpctl` and the tests share them.
 *
 * @module
 */
import type {
  CtlArpEntry,
  CtlClient,
  CtlCopyTotals,
  CtlShmInfo,
  CtlInterface,
  CtlNetstatResult,
  CtlPingReply,
  CtlRoute,
  CtlServerInfo,
  CtlSocket,
  CtlSysctlRow,
  CtlUsageClient,
  CtlUsageServer,
  CtlUsageUser,
  SockAddr,
} from '../proto/index.js';

/**
 * Lays out rows as columns, each as wide as its widest cell; columns whose
 * index is in `right` are right-aligned (numbers). Trailing blanks are trimmed.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[], right: readonly number[] = []): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `a.b.c.d.port` (or `x::y.port`) as BSD netstat prints an endpoint; `*` for the wildcard address or port. */
export function endpoint(a: SockAddr | null): string {
  if (a === null) return '*.*';
  const host = a.address === '0.0.0.0' || a.address === '::' ? '*' : a.address;
  return `${host}.${a.port === 0 ? '*' : a.port}`;
}

/** `ifconfig -a`. */
export function formatIfconfig(ifs: readonly CtlInterface[]): string {
  return ifs
    .map((i) => {
      const flags = [i.up ? 'UP' : 'DOWN', i.kind === 'loopback' ? 'LOOPBACK' : 'BROADCAST', i.up ? 'RUNNING' : ''].filter(Boolean);
      const lines = [`${i.name}: flags=<${flags.join(',')}> mtu ${i.mtu} index ${i.index}`];
      // The offloads as FreeBSD's ifconfig prints capabilities (names only, no hex mask).
      if (i.options !== undefined && i.options.length > 0) lines.push(`\toptions=${i.options.join(',')}`);
      if (i.offloadsOff !== undefined) lines.push(`\toffloads off: ${i.offloadsOff}`);
      if (i.mac !== null) lines.push(`\taddress: ${i.mac}`);
      for (const a of i.addrs) {
        lines.push(`\tinet ${a.address}/${a.prefixLen}${i.kind === 'loopback' || a.prefixLen >= 31 ? '' : ` broadcast ${a.broadcast}`}`);
      }
      for (const a of i.addrs6 ?? []) {
        // Link-local addresses carry their zone, as BSD ifconfig prints them.
        const zone = a.address.startsWith('fe80:') ? `%${i.name}` : '';
        lines.push(`\tinet6 ${a.address}${zone}/${a.prefixLen}${a.state === 'preferred' ? '' : ` ${a.state}`}`);
      }
      const s = i.stats;
      lines.push(`\tinput: ${s.ipackets ?? 0} packets, ${s.ibytes ?? 0} bytes, ${s.ierrors ?? 0} errors, ${s.iqdrops ?? 0} dropped`);
      lines.push(`\toutput: ${s.opackets ?? 0} packets, ${s.obytes ?? 0} bytes, ${s.oerrors ?? 0} errors`);
      return lines.join('\n');
    })
    .join('\n');
}

/** `netstat -rn` / `route show`. */
export function formatRoutes(routes: readonly CtlRoute[]): string {
  const rows = routes.map((r) => [r.destination === '0.0.0.0/0' ? 'default' : r.destination, r.gateway ?? 'link', r.flags, String(r.use), r.ifname]);
  return `Routing tables\n\nInternet:\n${table(['Destination', 'Gateway', 'Flags', 'Use', 'Interface'], rows, [3])}`;
}

/** `netstat -an`: every socket, with the client session and descriptor that own it. */
export function formatSockets(sockets: readonly CtlSocket[]): string {
  const rows = sockets.map((s) => [
    s.proto,
    String(s.recvQ),
    String(s.sendQ),
    endpoint(s.local),
    endpoint(s.foreign),
    s.state,
    s.session === null ? '-' : `${s.session}/${s.fd}`,
  ]);
  return `Active Internet connections (including servers)\n${table(
    ['Proto', 'Recv-Q', 'Send-Q', 'Local Address', 'Foreign Address', 'State', 'Client/fd'],
    rows,
    [1, 2],
  )}`;
}

/** `netstat -m`: the cluster pool and the copy parameters. */
export function formatMbufs(m: NonNullable<CtlNetstatResult['mbufs']>): string {
  const p = m.pool;
  const n = (k: string): number => p[k] ?? 0;
  const kib = (x: number): string => `${Math.round(x / 1024)}K`;
  return [
    `MCLBYTES ${m.params.mclbytes}, MCLNUM ${m.params.mclnum} (clusters per copyin), copy window ${m.params.copyWindow ?? 1}, inline ${m.params.inlineMax ?? 0} bytes, inline receive ${m.params.inlineRecvMax ?? 0} bytes, receive ${m.params.rxMode}`,
    `${n('clustersInUse')}/${n('clustersTotal')} mbuf clusters in use (current/max), ${n('clustersPeak')} peak, ${n('clustersFree')} free`,
    `${n('mbufsInUse')}/${n('mbufsLimit')} mbufs in use (current/max), ${n('mbufsPeak')} peak`,
    `${kib(n('clustersInUse') * n('mclbytes'))}/${kib(n('clustersTotal') * n('mclbytes'))} bytes allocated to network clusters (current/max)`,
    `${n('extGets')} extended clusters handed out, ${n('extContiguous')} contiguous`,
    `${n('allocFailures')} requests for memory denied`,
    `${n('drops')} packets dropped for lack of buffers`,
    `memory pressure: ${n('pressure') !== 0 ? 'yes' : 'no'} (from ${n('pressureHiwat')} clusters in use down to ${n('pressureLowat')}; entered ${n('pressureEntered')} times)`,
    `${n('reserve')} clusters and ${n('mbufReserve')} mbufs reserved for the receive path and ACKs, ${n('reserveUsed')} clusters taken from it, ${n('reserveDenied')} requests denied it`,
  ].join('\n');
}

/** `netstat -s`: counters grouped by protocol, `value description` as BSD prints them. */
export function formatStats(rows: readonly CtlSysctlRow[]): string {
  const groups = new Map<string, CtlSysctlRow[]>();
  for (const r of rows) {
    const g = r.name.slice(0, r.name.lastIndexOf('.'));
    groups.set(g, [...(groups.get(g) ?? []), r]);
  }
  const out: string[] = [];
  for (const [g, rs] of groups) {
    // net.inet.udp.stats -> udp, kern.mbuf.stats -> mbuf, net.link.ether.stats -> ether
    const parts = g.split('.');
    out.push(`${parts[parts.length - 2] ?? g}:`);
    for (const r of rs) out.push(`\t${r.value} ${r.description || r.name.slice(g.length + 1)}`);
  }
  return out.join('\n');
}

/** `sysctl name...` (with `-d`, the descriptions instead of the values). */
export function formatSysctlRows(rows: readonly CtlSysctlRow[], describe = false): string {
  return rows
    .map((r) => (describe ? `${r.name}: ${r.description}` : r.old !== undefined ? `${r.name}: ${r.old} -> ${r.value}` : `${r.name} = ${r.value}`))
    .join('\n');
}

/** `arp -an`. */
export function formatArp(entries: readonly CtlArpEntry[]): string {
  return entries
    .map((e) => {
      const mac = e.mac ?? '(incomplete)';
      const when =
        e.state === 'static' ? 'permanent' : e.expiresIn >= 0 ? `expires in ${Math.ceil(e.expiresIn / 1000)} seconds` : e.state;
      return `? (${e.ip}) at ${mac} on ${e.ifname} ${when}${e.held > 0 ? ` (${e.held} held)` : ''}`;
    })
    .join('\n');
}

/** `ndp -an`: one neighbour a line, its NUD state spelled out (RFC 4861 7.3.2). */
export function formatNdp(entries: readonly CtlArpEntry[]): string {
  const rows = entries.map((e) => [
    `${e.ip}${e.ip.startsWith('fe80:') ? `%${e.ifname}` : ''}`,
    e.mac ?? '(incomplete)',
    e.ifname,
    e.expiresIn >= 0 ? `${Math.ceil(e.expiresIn / 1000)}s` : e.state === 'static' ? 'permanent' : '-',
    e.state,
  ]);
  return table(['Neighbor', 'Linklayer Address', 'Netif', 'Expire', 'State'], rows);
}

/** `ping` output: one line per request, then the statistics. `errnoName` names a failure. */
export function formatPing(
  r: { dst: string; sent: number; received: number; replies: readonly CtlPingReply[] },
  size: number,
  errnoName: (errno: number) => string,
): string {
  const lines = [`PING ${r.dst}: ${size} data bytes`];
  const rtts: number[] = [];
  for (const p of r.replies) {
    if (p.errno !== undefined) {
      lines.push(`request ${p.seq}: ${errnoName(p.errno)}`);
      continue;
    }
    rtts.push(p.rtt!);
    lines.push(`${(p.bytes ?? 0) + 8} bytes from ${p.from}: icmp_seq=${p.seq} ttl=${p.ttl} time=${p.rtt!.toFixed(3)} ms`);
  }
  lines.push('', `--- ${r.dst} ping statistics ---`);
  const loss = r.sent === 0 ? 0 : ((r.sent - r.received) * 100) / r.sent;
  lines.push(`${r.sent} packets transmitted, ${r.received} packets received, ${loss.toFixed(1)}% packet loss`);
  if (rtts.length > 0) {
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    lines.push(`round-trip min/avg/max = ${Math.min(...rtts).toFixed(3)}/${avg.toFixed(3)}/${Math.max(...rtts).toFixed(3)} ms`);
  }
  return lines.join('\n');
}

/** `rumpctl clients`: the server's parameters, then each client with its copy counters. */
export function formatClients(server: CtlServerInfo, clients: readonly CtlClient[], hidden = 0): string {
  const head = [
    `${server.software} pid ${server.pid} on ${server.listen}, up ${Math.round(server.uptimeMs / 1000)}s`,
    `MCLBYTES ${server.mclbytes}  MCLNUM ${server.mclnum}  copy window ${server.copyWindow ?? 1}  inline ${server.inlineMax ?? 0}  inline recv ${server.inlineRecvMax ?? 0}  receive ${server.rxMode}  nmbclusters ${server.nmbclusters}  sockets ${server.sockets}  fds ${server.fds}`,
    ...(server.admin !== undefined ? [`admin: ${server.admin}  (${server.adminRefusals ?? 0} calls refused)`] : []),
    ...(server.copies !== undefined ? [copiesText(server.copies)] : []),
    ...(server.shm !== undefined ? [shmText(server.shm)] : []),
  ];
  const rows = clients.map((c) => {
    const k = (x: string): string => String(c.counters[x] ?? 0);
    return [String(c.session), c.pid === null ? '-' : String(c.pid), c.uid === undefined || c.uid === null ? '-' : String(c.uid), c.admin ? 'yes' : 'no', c.name ?? '-', String(c.fds), String(c.inFlight), k('syscalls'), k('errors'), k('copyinRequests'), k('copyinBytes'), k('copyinsAvoided'), k('copyoutRequests'), k('copyoutBytes'), k('copyoutsAvoided'), k('shmCopyouts')];
  });
  const t = table(
    ['SESSION', 'PID', 'UID', 'ADMIN', 'NAME', 'FDS', 'INFLIGHT', 'SYSCALLS', 'ERRORS', 'COPYIN', 'COPYIN-BYTES', 'AVOIDED', 'COPYOUT', 'COPYOUT-BYTES', 'OUT-AVOIDED', 'SHM-OUT'],
    rows,
    [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  );
  const more = hidden > 0 ? [`(${hidden} other client${hidden === 1 ? '' : 's'} not shown: needs admin)`] : [];
  return [...head, '', t, ...more].join('\n');
}

/** The server's copy counters since start, one line: requests made and avoided each way. */
function copiesText(c: CtlCopyTotals): string {
  return `copies since start: COPYIN ${c.copyinRequests} (${c.copyinsAvoided} avoided, ${bytesText(c.inlineBytes)} inline)  COPYOUT ${c.copyoutRequests} (${c.copyoutsAvoided} avoided, ${bytesText(c.inlineRecvBytes)} inline)${c.postedSends !== undefined ? `  posted sends ${c.postedSends}` : ''}${c.shmCopyouts !== undefined ? `  shared memory ${c.shmCopyouts} (${c.shmFallbacks ?? 0} found it full)` : ''}`;
}

/** The shared-memory line of `rumpctl clients`: limits, regions mapped, offers. */
function shmText(m: CtlShmInfo): string {
  if (m.maxBytes === 0) return `shared memory: off (--no-shm); ${m.refused} offers refused`;
  return `shared memory: up to ${bytesText(m.maxBytes)} per client, ${bytesText(m.totalBytes)} in all; ${m.regions} mapped (${bytesText(m.bytes)}); offers ${m.attached} taken, ${m.refused} refused`;
}

/** Bytes as `512 B`, `12.5 KiB`, `3.0 MiB`. */
export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * `rumpctl usage`: the server's caps with their totals, then each client's
 * use against its quotas — clusters (buffer storage and copies in flight,
 * as used/quota), descriptors, COPYINs outstanding and waiting, replies
 * queued to it (memory, frames; `BP` when its requests are not being read),
 * syscalls running (`4+2s`: four calls and two streamed receives, which
 * hold stream slots, not in-flight ones) and queued, the bytes of a half-received frame held, and
 * the user it is added up under. Above the clients, one row per user: its
 * sessions, clusters, descriptors and shared regions together against the
 * `--user-*` limits.
 */
export function formatUsage(server: CtlUsageServer, clients: readonly CtlUsageClient[], hidden = 0, users: readonly CtlUsageUser[] = []): string {
  const l = server.limits;
  const cl = (bytes: number): number => Math.ceil(bytes / server.clusterBytes);
  const head = [
    `sessions ${server.sessions}/${server.maxSessions} (refused ${server.refused})  descriptors ${server.files}/${server.maxFiles}  clusters in use ${server.clustersInUse}/${server.nmbclusters}`,
    `per client: ${cl(server.clientQuotaBytes)} clusters, ${server.maxFds} fds, ${l.maxCopyins} copyins (timeout ${l.copyinTimeoutMs} ms), ` +
      `${l.maxInFlight} calls in flight, replies ${bytesText(l.replyBackpressureBytes ?? 0)} (backpressure) / ${bytesText(l.maxWriteBufferedBytes ?? 0)} (disconnect), ` +
      `frames up to ${bytesText(l.maxClientFrame ?? 0)} (half-received ${l.frameTimeoutMs} ms)`,
    ...(server.userQuotaBytes !== undefined
      ? [`per user (all its sessions; admins exempt): ${cl(server.userQuotaBytes)} clusters, ${server.userFds} fds, ${server.userSessions} sessions` +
          (server.userShmBytes !== undefined && (server.shmMaxBytes ?? 0) > 0 ? `, ${bytesText(server.userShmBytes)} shared memory` : '') +
          (server.userQueuedBytes !== undefined ? `, ${bytesText(server.userQueuedBytes)} queued requests` : '')]
      : []),
    ...(server.shmMaxBytes !== undefined
      ? [server.shmMaxBytes === 0 ? 'shared memory: off' : `shared memory: up to ${bytesText(server.shmMaxBytes)} per client, ${bytesText(server.shmBytes ?? 0)} of ${bytesText(server.shmTotalBytes ?? 0)} mapped in all`]
      : []),
  ];
  const lim = (n: number | null, f: (n: number) => number = (x) => x): string => (n === null ? '-' : String(f(n)));
  const userTable =
    users.length === 0
      ? []
      : [
          '',
          table(
            ['USER', 'SESSIONS', 'CLUSTERS', 'QUOTA', 'FDS', 'REFUSED', 'SHM'],
            users.map((u) => [
              u.exempt ? `${u.user} (admin)` : u.user,
              `${u.sessions}/${lim(u.maxSessions)}`,
              `${cl(u.clusterBytes)}/${lim(u.quotaBytes, cl)}`,
              u.quotaBytes === null ? 'exempt' : `${Math.round((100 * u.clusterBytes) / Math.max(1, u.quotaBytes))}%`,
              `${u.fds}/${lim(u.maxFds)}`,
              `${u.refusedSessions} sessions, ${u.refusedFds} fds${u.refusedShm ? `, ${u.refusedShm} shm` : ''}${u.queueRefused ? `, ${u.queueRefused} floods` : ''}`,
              u.shmBytes ? `${bytesText(u.shmBytes)}/${u.maxShmBytes == null ? '-' : bytesText(u.maxShmBytes)}` : '-',
            ]),
            [1, 2, 3, 4],
          ),
        ];
  const rows = clients.map((c) => [
    String(c.session),
    c.pid === null ? '-' : String(c.pid),
    c.name ?? '-',
    `${cl(c.clusterBytes)}/${cl(c.quotaBytes)}`,
    `${Math.round((100 * c.clusterBytes) / Math.max(1, c.quotaBytes))}%`,
    String(c.fds),
    String(c.copyinsInFlight),
    String(c.copyinsWaiting),
    bytesText(c.replyBytes),
    String(c.replyFrames),
    c.streams ? `${c.inFlight}+${c.streams}s` : String(c.inFlight),
    String(c.queuedRequests),
    String(c.partialFrameBytes),
    c.backpressure ? 'BP' : '-',
    c.user ?? '-',
    c.shmBytes ? bytesText(c.shmBytes) : '-',
  ]);
  const t = table(
    ['SESSION', 'PID', 'NAME', 'CLUSTERS', 'QUOTA', 'FDS', 'COPYINS', 'WAITING', 'REPLIES', 'FRAMES', 'INFLIGHT', 'QUEUED', 'PARTIAL', 'BP', 'USER', 'SHM'],
    rows,
    [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
  const more = hidden > 0 ? [`(${hidden} other client${hidden === 1 ? '' : 's'} not shown: needs admin)`] : [];
  return [...head, ...userTable, '', t, ...more].join('\n');
}
