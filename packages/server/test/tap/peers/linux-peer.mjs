// A Linux-side peer for the tap tests: plain Node on the KERNEL's stack, run
// inside the test's network namespace (`ip netns exec NS node linux-peer.mjs
// MODE ...`). It reports on stdout, one JSON line per finished exchange, so
// the test can compare hashes of what each side sent and received.
//
//   tcp-listen PORT SEND SEED      accept connections; to each send SEND bytes
//                                  of pattern SEED then FIN; hash what comes
//                                  in until the peer's FIN
//   tcp-connect HOST PORT SEND SEED  the same over one connection it opens
//   udp-echo PORT                  echo every datagram to its sender; the line
//                                  "report" on stdin prints count and hash
//   udp-send HOST PORT SIZES SEED  send datagrams of the comma-separated SIZES
//                                  one at a time, each waiting for its echo
//
// Every wait is bounded: a peer that hears nothing for 20 s exits with 3.
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);
const IDLE_MS = 20_000;
let idle = setTimeout(() => die('idle for 20 s'), IDLE_MS);
const touch = () => idle.refresh();

function die(why) {
  process.stderr.write(`linux-peer ${mode}: ${why}\n`);
  process.exit(3);
}

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** The same xorshift32 bytes as the tests' patternBytes(n, seed). */
function pattern(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 255;
  }
  return b;
}

const sha = (b) => createHash('sha256').update(b).digest('hex');

/** Sends `data` then FIN on `sock` and hashes everything received; reports once both directions are done. */
function exchange(sock, data, extra) {
  const h = createHash('sha256');
  const remote = `${sock.remoteAddress}:${sock.remotePort}`; // gone from the socket once it closes
  let rx = 0;
  sock.on('data', (c) => {
    touch();
    h.update(c);
    rx += c.length;
  });
  sock.on('error', (e) => die(`socket error ${e.code ?? e.message}`));
  sock.on('close', () =>
    out({ event: 'tcp', ...extra, remote, rx, rxSha: h.digest('hex'), tx: data.length, txSha: sha(data) }),
  );
  sock.end(data);
}

switch (mode) {
  case 'tcp-listen': {
    const [port, send, seed] = args.map(Number);
    const data = pattern(send, seed);
    const srv = net.createServer((s) => exchange(s, data, { side: 'accepted' }));
    srv.listen(port, '0.0.0.0', () => out({ event: 'listening', port }));
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
    break;
  }
  case 'tcp-connect': {
    const [host, port, send, seed] = [args[0], ...args.slice(1).map(Number)];
    const data = pattern(send, seed);
    const s = net.connect(port, host, () => exchange(s, data, { side: 'connected' }));
    s.once('error', (e) => die(`connect ${e.code ?? e.message}`));
    s.once('close', () => setImmediate(() => process.exit(0)));
    break;
  }
  case 'udp-echo': {
    const port = Number(args[0]);
    const sock = dgram.createSocket('udp4');
    const h = createHash('sha256');
    let n = 0;
    sock.on('message', (msg, rinfo) => {
      touch();
      h.update(msg);
      n++;
      sock.send(msg, rinfo.port, rinfo.address);
    });
    sock.bind(port, '0.0.0.0', () => out({ event: 'listening', port }));
    process.stdin.setEncoding('utf8').on('data', (d) => {
      if (d.includes('report')) out({ event: 'udp', n, sha: h.copy().digest('hex') });
    });
    process.stdin.on('end', () => process.exit(0));
    break;
  }
  case 'udp-send': {
    const [host, port] = [args[0], Number(args[1])];
    const sizes = args[2].split(',').map(Number);
    const seed = Number(args[3]);
    const sock = dgram.createSocket('udp4');
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let i = 0;
    let timer;
    const next = () => {
      if (i === sizes.length) {
        clearTimeout(timer);
        out({ event: 'udp', n: i, sentSha: sent.digest('hex'), gotSha: got.digest('hex') });
        sock.close();
        process.exit(0);
      }
      const d = pattern(sizes[i], seed + i);
      sent.update(d);
      sock.send(d, port, host);
      timer = setTimeout(() => die(`no echo of datagram ${i} (${sizes[i]} bytes) in 3 s`), 3000);
    };
    sock.on('message', (msg) => {
      touch();
      clearTimeout(timer);
      got.update(msg);
      i++;
      next();
    });
    sock.bind(0, '0.0.0.0', next);
    break;
  }
  default:
    die(`unknown mode ${mode}`);
}
