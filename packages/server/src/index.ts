/**
 * @packageDocumentation
 * @rumpnet/server (work in progress).
 */
export const PACKAGE = "@rumpnet/server";
