'use strict';
/**
 * The network rule, enforced in the test process: every packet a test sends
 * stays on loopback or inside a network namespace the test created. Peers
 * inside namespaces are separate processes; the mocha process itself lives
 * in the root namespace, where a route out may exist, so here any native
 * (kernel-stack) TCP connect or UDP send to an address that is not loopback
 * fails with EACCES and a loud line on stderr — before a packet is sent.
 * Rump sockets are unaffected: they talk to their server over a Unix socket.
 */
const UV_EACCES = -13;
const loopback = (a) => typeof a === 'string' && (/^127\./.test(a) || a === '::1' || a === '0.0.0.0' || a === '::' || a === 'localhost');

function refuse(what, address, port) {
  process.stderr.write(`net-guard: refused a native ${what} to ${address}:${port} from the test process (not loopback)\n`);
  return UV_EACCES;
}

const tcp = process.binding('tcp_wrap').TCP.prototype;
for (const name of ['connect', 'connect6']) {
  const orig = tcp[name];
  tcp[name] = function guardedConnect(req, address, port) {
    if (!loopback(address)) return refuse('TCP connect', address, port);
    return orig.apply(this, arguments);
  };
}
const udp = process.binding('udp_wrap').UDP.prototype;
for (const name of ['send', 'send6']) {
  const orig = udp[name];
  udp[name] = function guardedSend(req, list, count, port, address) {
    if (typeof address === 'string' && !loopback(address)) return refuse('UDP send', address, port);
    return orig.apply(this, arguments);
  };
}
