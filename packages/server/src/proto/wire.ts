/** The wire format, defined once in `@rumpnet/client/protocol`. */
export * from '@rumpnet/client/protocol';
