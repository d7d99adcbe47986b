/**
 * @packageDocumentation
 * @rumpnet/stack (work in progress).
 */
export const PACKAGE = "@rumpnet/stack";
