/**
 * @packageDocumentation
 * @rumpnet/tap-bridge (work in progress).
 */
export const PACKAGE = "@rumpnet/tap-bridge";
