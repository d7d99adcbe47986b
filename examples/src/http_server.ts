/**
 * http_server — Node's own `node:http` serving from the rump stack: the
 * HTTP parser is Node's, the TCP connections are rumpnet's. The trick is
 * the one Node itself uses: a `net` server accepts, and each socket is
 * handed to the HTTP server with `emit('connection', socket)`.
 *
 *   npx tsx examples/src/http_server.ts --port 8080            # Linux stack
 *   npx tsx examples/src/http_server.ts --rump --port 8080     # rump stack
 *   curl http://<address>:8080/hello
 */
import { Command } from 'commander';
import { createServer as createHttpServer } from 'node:http';
import { intArg, jsonLine } from './lib/cli.js';
import { applyServerUrl, loadNet, runMain, wantsRump } from './lib/select.js';

async function main(): Promise<void> {
  const opts = new Command('http_server')
    .description('A node:http server on the native or the rump stack.')
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--port <n>', 'port (0: any)', intArg(0, 65535), 8080)
    .option('--json', 'print JSON lines')
    .option('--rump', 'run as a rump client (or set RUMPNET=1 / RUMP_SERVER)')
    .option('--rump-server <url>', 'rump server URL (sets RUMP_SERVER)')
    .parse()
    .opts<{ host: string; port: number; json?: boolean; rump?: boolean; rumpServer?: string }>();
  applyServerUrl(opts.rumpServer);
  const rump = wantsRump(opts.rump);
  const net = await loadNet(rump);
  const impl = rump ? 'rump' : 'native';
  let requests = 0;
  const http = createHttpServer((req, res) => {
    requests++;
    const body = `hello from ${impl} stack: ${req.method} ${req.url} (request ${requests})\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const server = net.createServer((sock) => http.emit('connection', sock));
  server.on('error', (err) => {
    process.stderr.write(`http_server: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, opts.host, () => {
    const a = server.address();
    const port = typeof a === 'object' && a !== null ? a.port : opts.port;
    if (opts.json) jsonLine({ event: 'listening', impl, port, pid: process.pid });
    else console.log(`http server (${impl}) on http://${opts.host}:${port}/`);
  });
  process.once('SIGINT', () => process.exit(0));
  process.once('SIGTERM', () => process.exit(0));
}

runMain('http_server', main);
