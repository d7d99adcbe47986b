/**
 * @packageDocumentation
 * @rumpnet/client (work in progress).
 */
export const PACKAGE = "@rumpnet/client";
