/**
 * iperf3 as a native rump client (the LD_PRELOAD hijack), measured:
 *   npx tsx packages/client/test/tap/iperf3-bench.ts [RUNS] [SECONDS]   (root; default 5 runs of 2 s)
 * Through a tap to Linux both ways (rump iperf3 -c → Linux iperf3 -s, Linux
 * iperf3 -c → rump iperf3 -s) and rump to rump on lo0; prints each run and
 * the medians (min-max) of the receivers' figures from --json. The rig is
 * the tap tests' (a namespace it creates and deletes; the hijacked programs
 * in a second, empty one). Not a mocha file: a measurement, run by hand.
 */
import { Netns, canUseNetns } from '@rumpnet/tap-bridge';
import { TapRig, watch } from './rig.js';
import { RUMPRUN, nativeSkipReason, waitListening } from '../fixtures/native.js';

const why = canUseNetns().ok ? nativeSkipReason(['iperf3']) : 'needs root with /dev/net/tun';
if (why) {
  console.error(`iperf3-bench: ${why}`);
  process.exit(2);
}
const runs = Number(process.argv[2] ?? 5), secs = String(process.argv[3] ?? 2);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const bps = (out: string) => (JSON.parse(out).end.sum_received.bits_per_second as number) / 1e6;
const rig = await TapRig.start('nbench', 'rnb0');
const cns = await Netns.create({ prefix: 'nbc' });
await cns.ip('link', 'set', 'lo', 'down');
const exec = (ns: Netns, cmd: string, args: string[]) => { const p = watch(ns.spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })); return p; };
try {
  const up: number[] = [], down: number[] = [], lo: number[] = [];
  let port = 9100;
  for (let i = 0; i < runs; i++) {
    const p1 = String(port++);
    const ls = exec(rig.ns, 'iperf3', ['-s', '-1', '--forceflush', '-B', rig.linuxIp, '-p', p1]);
    await ls.line((l) => l.includes('Server listening'), 'srv');
    const c = exec(cns, RUMPRUN, ['-s', rig.url, '--', 'iperf3', '-c', rig.linuxIp, '-p', p1, '-t', secs, '--json']);
    await c.exited; await ls.exited; up.push(bps(c.stdout()));
    const p2 = String(port++);
    const rs = exec(cns, RUMPRUN, ['-s', rig.url, '--', 'iperf3', '-4', '-s', '-1', '-p', p2]);
    await waitListening(rig.url, Number(p2));
    const lc = exec(rig.ns, 'iperf3', ['-c', rig.rumpIp, '-p', p2, '-t', secs, '--json']);
    await lc.exited; await rs.exited; down.push(bps(lc.stdout()));
    const p3 = String(port++);
    const s3 = exec(cns, RUMPRUN, ['-s', rig.url, '--', 'iperf3', '-4', '-s', '-1', '-p', p3]);
    await waitListening(rig.url, Number(p3));
    const c3 = exec(cns, RUMPRUN, ['-s', rig.url, '--', 'iperf3', '-c', '127.0.0.1', '-p', p3, '-t', secs, '--json']);
    await c3.exited; await s3.exited; lo.push(bps(c3.stdout()));
    console.log(`run ${i}: up ${up.at(-1)!.toFixed(0)} down ${down.at(-1)!.toFixed(0)} lo0 ${lo.at(-1)!.toFixed(0)}`);
  }
  const f = (xs: number[]) => `${med(xs).toFixed(0)} Mbit/s (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
  console.log(`rump iperf3 -c -> Linux iperf3 -s (tap): ${f(up)}`);
  console.log(`Linux iperf3 -c -> rump iperf3 -s (tap): ${f(down)}`);
  console.log(`rump iperf3 -c -> rump iperf3 -s (lo0): ${f(lo)}`);
} finally {
  await cns.destroy();
  await rig.destroy();
}
