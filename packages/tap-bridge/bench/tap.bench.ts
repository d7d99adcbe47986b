/**
 * Raw tap I/O from Node through the addon: frames/s and MB/s of 1514-byte
 * frames, written to and read from a tap inside a namespace of its own
 * (no packet leaves it). Root only.
 *
 *   npx tsx packages/tap-bridge/bench/tap.bench.ts [--runs 5] [--frames 100000] [--seconds 1]
 *
 * write:  N frames with an EtherType no Linux protocol handles (0x88b5), so
 *         the kernel drops each right after taking it from the tap — what is
 *         measured is our side: the N-API crossing and write(2).
 * read:   a Python AF_PACKET generator on the Linux side of the tap sends
 *         1514-byte frames as fast as it can for a fixed time; we count what
 *         the addon hands us (every ready frame per wake-up). The generator's
 *         own rate is printed too: when reads keep up with it, it is the
 *         generator that limits the figure.
 * The median of the runs is reported.
 */
import { Netns, TapDevice, TapLink, canUseNetns, randomSubnet24 } from '../src/index.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const RUNS = Math.max(5, opt('runs', 5));
const N = opt('frames', 100_000);
const SECONDS = opt('seconds', 1);
const FRAME = 1514;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (fps: number): string =>
  `${(fps / 1e3).toFixed(0).padStart(6)} kframes/s  ${((fps * FRAME) / 1e6).toFixed(0).padStart(5)} MB/s  ${(1e6 / fps).toFixed(2).padStart(6)} us/frame`;

function frameTo(dst: Uint8Array, seq: number): Uint8Array {
  const f = new Uint8Array(FRAME);
  f.set(dst, 0);
  f.set([0x02, 0, 0, 0, 0, 0x01], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

const GENERATOR = `
import socket, sys, time
ifname, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
frame = bytes.fromhex('02000000000202000000000388b5') + bytes(${FRAME - 14})
sys.stdin.readline()  # go
n = 0
t0 = time.monotonic()
end = t0 + secs
send = s.send
while time.monotonic() < end:
    for _ in range(256):
        send(frame)
    n += 256
print(n, time.monotonic() - t0, flush=True)
`;

async function benchWrite(dev: TapDevice, link: TapLink, dst: Uint8Array): Promise<Record<string, number[]>> {
  const frames = Array.from({ length: 64 }, (_, i) => frameTo(dst, i));
  const res: Record<string, number[]> = { 'write (one call per frame)': [], 'writeBatch (64 per call)': [], 'TapLink.output': [] };
  for (let r = 0; r < RUNS; r++) {
    let t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) if (dev.write(frames[i & 63]!) !== FRAME) throw new Error('write failed');
    res['write (one call per frame)']!.push(N / (Number(process.hrtime.bigint() - t) / 1e9));

    t = process.hrtime.bigint();
    for (let i = 0; i < N; i += 64) if (dev.writeBatch(frames) !== 64) throw new Error(`writeBatch failed: errno ${dev.io.lastErrno}`);
    res['writeBatch (64 per call)']!.push((Math.ceil(N / 64) * 64) / (Number(process.hrtime.bigint() - t) / 1e9));

    t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) link.output(frames[i & 63]!);
    res['TapLink.output']!.push(N / (Number(process.hrtime.bigint() - t) / 1e9));
    await new Promise((r) => setImmediate(r));
  }
  return res;
}

async function benchRead(ns: Netns, dev: TapDevice): Promise<{ got: number[]; gen: number[]; batch: number[] }> {
  const got: number[] = [];
  const gen: number[] = [];
  const batch: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let frames = 0;
    let bytes = 0;
    let wakeups = 0;
    let t0 = 0n;
    let t1 = 0n;
    dev.onFrames((_buf, meta, count) => {
      if (frames === 0) t0 = process.hrtime.bigint();
      wakeups++;
      frames += count;
      for (let i = 0; i < count; i++) bytes += meta[2 * i + 1]!;
      t1 = process.hrtime.bigint();
    });
    const py = ns.spawn('python3', ['-c', GENERATOR, dev.name, String(SECONDS)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    py.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    py.stdin!.write('go\n');
    await new Promise((res) => py.once('exit', res));
    await new Promise((res) => setTimeout(res, 50)); // let the last frames in the ring be read
    const [sent, secs] = out.trim().split(/\s+/).map(Number) as [number, number];
    if (!(sent > 0) || frames === 0) throw new Error(`generator sent ${out.trim() || 'nothing'}, we read ${frames}`);
    if (bytes !== frames * FRAME) throw new Error(`read ${bytes} bytes for ${frames} frames`);
    got.push(frames / (Number(t1 - t0) / 1e9));
    gen.push(sent / secs);
    batch.push(frames / wakeups);
  }
  dev.pause();
  return { got, gen, batch };
}

async function main(): Promise<void> {
  const can = canUseNetns();
  if (!can.ok) {
    console.log(`skipped: ${can.reason}`);
    return;
  }
  const ns = await Netns.create({ prefix: 'bench' });
  try {
    const net = randomSubnet24();
    await ns.addTap('rnbw0', { linuxAddr: net.cidr(1) });
    await ns.addTap('rnbr0', {});
    const wlink = TapLink.open({ name: 'rnbw0', netns: ns.name });
    const wdev = wlink.device;
    const linuxMac = wdev.getMac();
    const rdev = TapDevice.open({ name: 'rnbr0', netns: ns.name });
    for (let i = 0; i < 300 && !(wdev.running && rdev.running); i++) await new Promise((r) => setTimeout(r, 10));

    console.log(`tap raw I/O, ${FRAME}-byte frames, Node ${process.version}, median of ${RUNS} runs`);
    const w = await benchWrite(wdev, wlink, linuxMac);
    for (const [k, v] of Object.entries(w)) console.log(`  write  ${k.padEnd(28)} ${fmt(median(v))}`);
    const r = await benchRead(ns, rdev);
    console.log(`  read   ${'batched poll (addon)'.padEnd(28)} ${fmt(median(r.got))}  mean batch ${median(r.batch).toFixed(1)}`);
    console.log(`         ${'(python AF_PACKET sender)'.padEnd(28)} ${fmt(median(r.gen))}`);
    wlink.close();
    rdev.close();
  } finally {
    await ns.destroy();
  }
}

await main();
