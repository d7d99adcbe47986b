/**
 * `dgram`'s argument rules for `send()` and `sendto()`, as `lib/dgram.js`
 * has them: which of `(msg[, offset, length][, port][, address][, cb])`
 * was given, the buffer forms taken (string, Buffer, TypedArray, DataView,
 * or an array of them), and Node's errors, thrown before anything is sent.
 */
import { checkPort, codedError } from './shared.js';
import { checkNumber, checkString, invalidArgType } from './validate.js';

/** `send()`'s callback. */
export type SendCallback = (err: Error | null, bytes: number) => void;

/** What a `send()` call asked for, checked. */
export interface SendArgs {
  /** The datagram's parts (views on the caller's memory, not copies). */
  readonly list: Buffer[];
  /** Destination port; undefined on a connected socket. */
  readonly port: number | undefined;
  /** Destination address as given (`''`/undefined: the default host). */
  readonly address: string | undefined;
  readonly callback: SendCallback | undefined;
}

const BUFFER_TYPES = ['Buffer', 'TypedArray', 'DataView', 'string'] as const;

/** `ERR_BUFFER_OUT_OF_BOUNDS` (a RangeError): `"offset" is outside of buffer bounds`. */
function outOfBounds(name: string): RangeError & { code: string } {
  return codedError(RangeError, 'ERR_BUFFER_OUT_OF_BOUNDS', `"${name}" is outside of buffer bounds`);
}

/** dgram's `sliceBuffer`: `length` bytes at `offset` (both taken as unsigned 32-bit, as Node does). */
function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Buffer {
  let b: ArrayBufferView;
  if (typeof buffer === 'string') b = Buffer.from(buffer);
  else if (ArrayBuffer.isView(buffer)) b = buffer;
  else throw invalidArgType('buffer', BUFFER_TYPES, buffer);
  const off = Number(offset) >>> 0;
  const len = Number(length) >>> 0;
  if (off > b.byteLength) throw outOfBounds('offset');
  if (off + len > b.byteLength) throw outOfBounds('length');
  return Buffer.from(b.buffer, b.byteOffset + off, len);
}

/** dgram's `fixBufferList`: null when an element is neither a string nor a view. */
function fixBufferList(list: readonly unknown[]): Buffer[] | null {
  const out: Buffer[] = [];
  for (const b of list) {
    if (typeof b === 'string') out.push(Buffer.from(b));
    else if (ArrayBuffer.isView(b)) out.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    else return null;
  }
  return out;
}

/**
 * Sorts out `send(buffer, offset, length, port, address, callback)` the way
 * `Socket.prototype.send` does, for a socket that is `connected` or not.
 * Throws `ERR_INVALID_ARG_TYPE`, `ERR_BUFFER_OUT_OF_BOUNDS`,
 * `ERR_SOCKET_BAD_PORT` or `ERR_SOCKET_DGRAM_IS_CONNECTED` as Node does.
 */
export function normalizeSendArgs(connected: boolean, args: readonly unknown[]): SendArgs {
  let [buffer, offset, length, port, address, callback] = args;
  if (!connected) {
    if (address || (port && typeof port !== 'function')) {
      buffer = sliceBuffer(buffer, offset, length);
    } else {
      callback = port;
      port = offset;
      address = length;
    }
  } else {
    if (typeof length === 'number') {
      buffer = sliceBuffer(buffer, offset, length);
      if (typeof port === 'function') {
        callback = port;
        port = null;
      }
    } else {
      callback = offset;
    }
    if (port || address) throw codedError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
  }
  let list: Buffer[] | null;
  if (!Array.isArray(buffer)) {
    if (typeof buffer === 'string') list = [Buffer.from(buffer)];
    else if (!ArrayBuffer.isView(buffer)) throw invalidArgType('buffer', BUFFER_TYPES, buffer);
    else list = [Buffer.isBuffer(buffer) ? buffer : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)];
  } else if ((list = fixBufferList(buffer)) === null) {
    throw invalidArgType('buffer list arguments', BUFFER_TYPES, buffer);
  }
  const p = connected ? undefined : checkPort(port, 'Port', false);
  let cb = typeof callback === 'function' ? (callback as SendCallback) : undefined;
  let addr: string | undefined;
  if (typeof address === 'function') {
    cb = address as SendCallback;
  } else if (address != null) {
    addr = checkString(address, 'address');
  }
  return { list, port: p, address: addr, callback: cb };
}

/** dgram's legacy `sendto(buffer, offset, length, port, address[, callback])`: every argument checked first. */
export function checkSendtoArgs(offset: unknown, length: unknown, port: unknown, address: unknown): void {
  checkNumber(offset, 'offset');
  checkNumber(length, 'length');
  checkNumber(port, 'port');
  checkString(address, 'address');
}
