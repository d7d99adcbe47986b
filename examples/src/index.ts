/**
 * @packageDocumentation
 * `@rumpnet/examples`: small programs that run natively (Node's `net`,
 * the Linux stack) or as rump clients (the rumpnet stack in a rump server)
 * with one flag — `--rump`, `RUMPNET=1` or `RUMP_SERVER=unix:///path` — and
 * the same code; and the paper's benchmark (`npm run bench`).
 *
 * - `write_server.ts` / `read_client.ts`: the paper's pair (throughput).
 * - `tcp_echo_server.ts` / `tcp_echo_client.ts`: echo and round-trip times.
 * - `udp_echo.ts`: UDP echo server and client.
 * - `http_server.ts`: `node:http` on the rump stack.
 * - `copy_counters.ts`: the server's COPYIN/COPYOUT counters per client.
 * - `bench/`: the benchmark harness.
 *
 * @example
 * ```sh
 * rump-server --tap tap0 --addr 10.0.0.2/24 unix:///tmp/rump.sock &
 * RUMP_SERVER=unix:///tmp/rump.sock npx tsx examples/src/write_server.ts --size 64k
 * npx tsx examples/src/read_client.ts --host 10.0.0.2 --duration 2
 * ```
 */
export { loadNet, loadDgram, wantsRump, RumpUnavailableError } from './lib/select.js';
export type { NetApi, DgramApi } from './lib/select.js';
