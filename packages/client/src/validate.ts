/**
 * Argument checks with Node's codes and messages (`lib/internal/validators.js`
 * and the `ERR_*` classes of `lib/internal/errors.js`), for the places where
 * `node:net` validates before doing anything: a program that catches
 * `ERR_INVALID_ARG_TYPE` or matches a message must see the same here.
 */
import { inspect } from 'node:util';
import { codedError, receivedType } from './shared.js';

/** `"name" argument` or `"options.name" property`, as Node's messages say it. */
function what(name: string): string {
  return `"${name}" ${name.includes('.') ? 'property' : 'argument'}`;
}

/** The primitive type names Node's messages write in lower case (`kTypes` in lib/internal/errors.js). */
const PRIMITIVES = new Set(['string', 'function', 'number', 'object', 'Function', 'Object', 'boolean', 'bigint', 'symbol']);

/** `a`, `a or b`, `a, b, or c`, as Node lists alternatives. */
function alternatives(list: readonly string[]): string {
  if (list.length > 2) return `${list.slice(0, -1).join(', ')}, or ${list[list.length - 1]}`;
  return list.join(' or ');
}

/**
 * `ERR_INVALID_ARG_TYPE` (a TypeError) with Node's message: `The "buffer"
 * argument must be of type string or an instance of Buffer, TypedArray, or
 * DataView. Received undefined`. `expected` names primitive types (lower
 * case) and classes (capitalised), as Node's does.
 */
export function invalidArgType(name: string, expected: readonly string[], value: unknown): TypeError & { code: string } {
  const types: string[] = [];
  const instances: string[] = [];
  const other: string[] = [];
  for (const e of expected) {
    if (PRIMITIVES.has(e)) types.push(e.toLowerCase());
    else if (/^([A-Z][a-z0-9]*)+$/.test(e)) instances.push(e);
    else other.push(e);
  }
  if (instances.length > 0 && types.includes('object')) {
    types.splice(types.indexOf('object'), 1);
    instances.push('Object');
  }
  const parts: string[] = [];
  if (types.length > 0) parts.push(types.length === 1 ? `of type ${types[0]}` : `one of type ${alternatives(types)}`);
  if (instances.length > 0) parts.push(`an instance of ${alternatives(instances)}`);
  if (other.length > 0) parts.push(other.length === 1 ? (other[0]!.toLowerCase() !== other[0] ? `an ${other[0]}` : other[0]!) : `one of ${alternatives(other)}`);
  const subject = name.endsWith(' argument') ? name : what(name);
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The ${subject} must be ${parts.join(' or ')}. Received ${receivedType(value)}`);
}

/** `validateString`. */
export function checkString(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgType(name, ['string'], value);
  return value;
}

/** `ERR_INVALID_ARG_VALUE` (a TypeError): `The property 'options.x' is not supported. Received true`. */
export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): TypeError & { code: string } {
  let shown = inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  const kind = name.includes('.') ? 'property' : 'argument';
  return codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${kind} '${name}' ${reason}. Received ${shown}`);
}

/** `ERR_OUT_OF_RANGE` (a RangeError): `The value of "x" is out of range. It must be ... Received -1`. */
export function outOfRange(name: string, range: string, value: unknown): RangeError & { code: string } {
  return codedError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`);
}

/** `validateNumber`: a number (NaN allowed, as Node's), else `ERR_INVALID_ARG_TYPE`. */
export function checkNumber(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, ['number'], value);
  return value;
}

/** `validateFunction`. */
export function checkFunction(value: unknown, name: string): (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, ['function'], value);
  return value as (...args: never[]) => unknown;
}

/** `validateAbortSignal`: an object with an `aborted` property, else `ERR_INVALID_ARG_TYPE`. */
export function checkAbortSignal(value: unknown, name: string): AbortSignal {
  if (value === null || typeof value !== 'object' || !('aborted' in value)) throw invalidArgType(name, ['AbortSignal'], value);
  return value as AbortSignal;
}

/** `validateBoolean`. */
export function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, ['boolean'], value);
  return value;
}

/** `validateInt32(value, name, min)`: an integer in [min, 2^31 - 1]. */
export function checkInt32(value: unknown, name: string, min = -2147483648): number {
  if (typeof value !== 'number') throw invalidArgType(name, ['number'], value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > 2147483647) throw outOfRange(name, `>= ${min} && <= 2147483647`, value);
  return value;
}

/** Node's `TIMEOUT_MAX` (2^31 - 1 ms): longer timers are clamped to it. */
export const TIMEOUT_MAX = 2 ** 31 - 1;

/**
 * `getTimerDuration` of `lib/internal/timers.js`: a non-negative finite
 * number of ms (`ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE` otherwise),
 * clamped to {@link TIMEOUT_MAX} with Node's warning.
 */
export function timerDuration(msecs: unknown, name: string): number {
  const n = checkNumber(msecs, name);
  if (n < 0 || !Number.isFinite(n)) throw outOfRange(name, 'a non-negative finite number', n);
  if (n > TIMEOUT_MAX) {
    process.emitWarning(`${n} does not fit into a 32-bit signed integer.\nTimer duration was truncated to ${TIMEOUT_MAX}.`, 'TimeoutOverflowWarning');
    return TIMEOUT_MAX;
  }
  return n;
}
