// Shared test utilities: error measures against f64 references, seeded host data, and
// assertions that print the first mismatches.
import assert from 'node:assert/strict';
import { AdvpropError, type Tensor } from '../lib/index.js';
import type { Conv2dOptions } from '../lib/kernels.js';

export type Num = ArrayLike<number>;

/** ‖out − ref‖ / ‖ref‖ (‖out‖ alone when ref is all zeros). */
export function relError(out: Num, ref: Num): number {
  assert.equal(out.length, ref.length, `length ${out.length} vs reference ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (Number.isNaN(num)) return Infinity;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

function firstMismatches(out: Num, ref: Num, isBad: (i: number) => boolean, max = 5): string {
  const lines: string[] = [];
  for (let i = 0; i < ref.length && lines.length < max; i++)
    if (isBad(i)) lines.push(`  [${i}] got ${out[i]}, expected ${ref[i]}`);
  return lines.join('\n');
}

/** Asserts relError(out, ref) <= tol and prints the worst elements when it fails. */
export function assertClose(out: Num, ref: Num, tol: number, label = 'values'): number {
  const err = relError(out, ref);
  if (!(err <= tol)) {
    let scale = 0;
    for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
    const detail = firstMismatches(out, ref, (i) => !(Math.abs(out[i] - ref[i]) <= tol * Math.max(Math.abs(ref[i]), 1e-30 + scale * 1e-3)));
    assert.fail(`${label}: relative error ${err.toExponential(3)} > ${tol}; first mismatches:\n${detail}`);
  }
  return err;
}

/** Bitwise equality (NaN equals NaN), printing the first differences. */
export function assertSame(out: Num, ref: Num, label = 'values'): void {
  assert.equal(out.length, ref.length, `${label}: length ${out.length} vs ${ref.length}`);
  const bad = (i: number): boolean => !Object.is(out[i], ref[i]);
  let count = 0;
  for (let i = 0; i < ref.length; i++) if (bad(i)) count++;
  if (count) assert.fail(`${label}: ${count} of ${ref.length} elements differ; first:\n${firstMismatches(out, ref, bad)}`);
}

/** Deterministic host data (xorshift), uniform in [lo, hi). */
export function hostRandom(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = (seed * 2654435761 + 12345) >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return out;
}

/** Rounds to f32, as the f32 kernels see their inputs. */
export function f32(a: Num): Float64Array {
  return Float64Array.from(a, (v) => Math.fround(v));
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((p, s) => p * s, 1);
}

/** Asserts fn throws an AdvpropError with `code` (and returns it for further checks). */
export function expectCode(fn: () => unknown, code: string, messagePart?: string | RegExp): AdvpropError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown !== undefined, `expected ${code}, but nothing was thrown`);
  assert.ok(thrown instanceof AdvpropError, `expected AdvpropError ${code}, got ${String(thrown)}`);
  assert.equal(thrown.code, code, `expected ${code}, got ${thrown.code}: ${thrown.message}`);
  if (messagePart instanceof RegExp) assert.match(thrown.message, messagePart);
  else if (messagePart) assert.ok(thrown.message.includes(messagePart), `message '${thrown.message}' lacks '${messagePart}'`);
  return thrown;
}

export async function expectCodeAsync(fn: () => Promise<unknown>, code: string): Promise<AdvpropError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown instanceof AdvpropError, `expected AdvpropError ${code}, got ${String(thrown)}`);
  assert.equal(thrown.code, code, `expected ${code}, got ${thrown.code}: ${thrown.message}`);
  return thrown;
}

export function values(t: Tensor): number[] {
  return Array.from(t.toArray());
}

export function shapeOf(t: Tensor): number[] {
  return [...t.shape];
}

/** Reference output size and leading pad of one conv axis (TensorFlow's 'same': the odd pixel after). */
export function outSize(inp: number, k: number, s: number, d: number, pad: Conv2dOptions['padding'], lo: number, hi: number): [number, number] {
  const span = (k - 1) * d + 1;
  if (pad === undefined || pad === 'same') {
    const out = Math.ceil(inp / s);
    return [out, Math.floor(Math.max(0, (out - 1) * s + span - inp) / 2)];
  }
  if (pad === 'valid') return [Math.floor((inp - span) / s) + 1, 0];
  return [Math.floor((inp + lo + hi - span) / s) + 1, lo];
}
