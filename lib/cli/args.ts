// Shared argument handling: numbers and lists parsed with the option's name in every error, and
// usage errors (exit code 2, one line) kept apart from failures.
import { AdvpropError } from '../errors.js';

export class UsageError extends Error {}

export function num(v: string | undefined, flag: string, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new UsageError(`${flag}: expected ${integer ? 'an integer' : 'a number'}, got '${v}'`);
  return n;
}

export function numList(v: string | undefined, flag: string): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').filter((s) => s.trim() !== '').map((s) => num(s, flag)!);
}

export function oneOf<T extends string>(v: string | undefined, flag: string, choices: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!choices.includes(v as T)) throw new UsageError(`${flag}: expected one of ${choices.join(', ')}, got '${v}'`);
  return v as T;
}

/** Bad options (exit code 2) as opposed to data and runtime errors (1): a scheduler retries or
 * reports those, but the same options would fail again. ERR_IO is a runtime error (a disk full,
 * a file gone), so options naming a missing file report ERR_ARG or UsageError themselves. */
export function isUsageError(e: unknown): boolean {
  return e instanceof UsageError || (e instanceof AdvpropError && (e.code === 'ERR_ARG' || e.code === 'ERR_DEVICE'))
    || (e as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS') === true;
}
