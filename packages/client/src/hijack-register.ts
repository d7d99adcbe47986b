/**
 * Side-effect entry point `@rumpnet/client/hijack`: installs the hijack
 * ({@link installHijack}) when loaded, before the program's own code runs.
 *
 * ```sh
 * RUMP_SERVER=unix:///tmp/rump.sock node --import @rumpnet/client/hijack app.js
 * ```
 *
 * It has no top-level await, so `--require` loads it too (Node ≥ 20.19
 * requires ES modules synchronously).
 */
import { installHijack } from './hijack.js';

installHijack();
