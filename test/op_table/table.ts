// The op table's vocabulary (after ggml's tests/test-backend-ops.cpp). An entry names the exports
// it exercises (`ops`: export path → a call of that export), the awkward-size cases it runs them
// on, an independent f64 host reference, how closely backends must agree (`tol`) and whether the
// op is differentiable. test/op_table.test.ts runs every entry on every backend and fails when an
// export of lib/index.ts has neither an entry nor a reviewed exemption (exemptions.ts).
//
// bf16 and f16. Every entry also runs in the two 16-bit dtypes:
// - An entry that declares `half` (its value: the tolerance class of the f32 arithmetic its 16-bit
//   path does, usually the same as `tol`) supports them: its float inputs are uploaded in bf16 (then
//   f16), the cpu is checked against the f64 reference computed from the inputs rounded to that
//   type (halfBounds: one more rounding of each 16-bit output), and every other backend against
//   the cpu. Outputs the op keeps in f32 (statistics, parameter gradients, losses: the mixed
//   dtypes of docs/ARCHITECTURE.md, "How to add a dtype") are held to the class's f32 bounds.
// - An entry without `half` must refuse them: each of its calls, given bf16/f16 float inputs (or
//   asked to create bf16/f16), throws AdvpropError ERR_DTYPE: never a crash, never a silent f32
//   result. Cases whose inputs are all i32 are not run (they have no float input to give).
// A family that implements the 16-bit types adds `half: <class>` to its entries; nothing else
// changes. Creation and cast entries declare it.
import * as ap from '../../lib/index.js';
import { f32, hostRandom, numel } from '../helpers.js';
import { HALF_UNIT, roundHalfArray, type HalfDType } from '../half_ref.js';

/** The dtype an f64 reference rounds its parameters for (a 16-bit run computes in f32). */
export type FloatDType = 'f32' | 'f64';
export type { HalfDType } from '../half_ref.js';
/** The dtype of a run's float inputs and of what creation ops make. */
export type RunDType = FloatDType | HalfDType;
export const HALF_DTYPES: readonly HalfDType[] = ['bf16', 'f16'];

/** One input tensor: an Int32Array becomes an i32 tensor, anything else a tensor of the run's float dtype. */
export interface Input { shape: number[]; data: Float64Array | Int32Array }

export interface Case<P = undefined> { label: string; inputs: Input[]; p: P }

/** What a call gives back: its output(s), or the tensors an in-place kernel updated. */
export type Out = ap.Tensor | readonly (ap.Tensor | null)[];

/** A call of one export on tensors that live on `device`; creation ops make theirs there, in `dtype`. */
export type Run<P> = (xs: ap.Tensor[], c: Case<P>, device: string, dtype: RunDType) => Out;

/**
 * How two results must agree, as a contract of the kernel rather than today's measurement:
 * - exact: IEEE-exact arithmetic (one rounding of an exact result) or data movement. Bitwise
 *   across backends and against the reference rounded to the output dtype.
 * - same-bits: bitwise across backends by design (one Philox and math shared by cpu and cuda),
 *   but the JS reference uses another libm, so within f32 rounding of it.
 * - f32-elementwise: each element a few f32 roundings and libm calls from its inputs (exp, log,
 *   sigmoid may differ by a few ulp between implementations): 1e-6 ≈ 16 ulp.
 * - f64-accumulated: a sum formed in double and rounded once to f32 (the reduce kernels): the
 *   backends' different double summation orders may move an element by one ulp.
 * - f32-reduction(n): each output sums n products in f32 in a backend-specific order.
 */
export type Tol =
  | { kind: 'exact' }
  | { kind: 'same-bits' }
  | { kind: 'f32-elementwise' }
  | { kind: 'f64-accumulated' }
  | { kind: 'f32-reduction'; length: number };

export const EXACT: Tol = { kind: 'exact' };
export const SAME_BITS: Tol = { kind: 'same-bits' };
export const ELEMENTWISE: Tol = { kind: 'f32-elementwise' };
export const F64_ACCUMULATED: Tol = { kind: 'f64-accumulated' };
export const reduction = (length: number): Tol => ({ kind: 'f32-reduction', length });

/** Relative-error bounds (0 = bitwise) for cpu vs other backends, cpu f32 vs reference, cpu f64 vs reference. */
export function bounds(t: Tol): { backend: number; reference: number; f64: number } {
  switch (t.kind) {
    case 'exact': return { backend: 0, reference: 0, f64: 0 };
    case 'same-bits': return { backend: 0, reference: 1e-6, f64: 1e-12 };
    case 'f32-elementwise': return { backend: 1e-6, reference: 1e-6, f64: 1e-12 };
    case 'f64-accumulated': return { backend: 2 ** -23, reference: 2 ** -23, f64: 1e-12 };
    // Sums of random-sign terms: the rounding error of a length-n sum grows like sqrt(n) ulp
    // relative to the result (8 ulp per sqrt(n), never below the elementwise 1e-6). A wrong index
    // or a dropped term is off by O(1/sqrt(n)) or more, orders above this.
    case 'f32-reduction': {
      const bound = Math.max(1e-6, 8 * 2 ** -24 * Math.sqrt(t.length));
      return { backend: bound, reference: bound, f64: 1e-12 };
    }
  }
}

/**
 * Bounds for a 16-bit run of an entry declaring `half: t`, for one output. u = 2^-8 (bf16) or
 * 2^-11 (f16) is the relative error of one rounding to nearest:
 * - exact: bitwise across backends and against the reference rounded once to the output dtype
 *   (data movement, casts, fills, draws formed in double: one rounding of the reference value).
 * - any other class, on a 16-bit output: cpu against the reference within u + the class's f32
 *   reference bound (the f32 arithmetic on the rounded inputs, then one rounding of the output);
 *   reductions thus add their f32-reduction term to u. Across backends bitwise where the class is
 *   bitwise in f32 (the same f32 value rounds to the same 16 bits), else within 2u + the class's
 *   backend bound (two f32 results a hair apart may round to neighbouring 16-bit values).
 * - an output the op keeps in f32: the class's f32 bounds.
 */
export function halfBounds(t: Tol, h: HalfDType, outputIsHalf: boolean): { backend: number; reference: number } {
  const b = bounds(t);
  if (!outputIsHalf) return { backend: b.backend, reference: b.reference };
  const u = HALF_UNIT[h];
  return { backend: b.backend === 0 ? 0 : 2 * u + b.backend, reference: b.reference === 0 ? 0 : u + b.reference };
}

/** 'exact', 'f32-reduction(5..1031)', ...: the classes an entry's cases use, for its test title. */
export function describeTols(ts: readonly Tol[]): string {
  const lengths = ts.flatMap((t) => (t.kind === 'f32-reduction' ? [t.length] : []));
  const kinds = [...new Set(ts.map((t) => t.kind))].map((k) => {
    if (k !== 'f32-reduction') return k;
    const [lo, hi] = [Math.min(...lengths), Math.max(...lengths)];
    return `f32-reduction(${lo === hi ? lo : `${lo}..${hi}`})`;
  });
  return kinds.join(', ');
}

/**
 * Gradient check of the entry's taped ops (every path outside `kernels.`) in f64 on the cpu, with
 * the shared 1e-6 bound of lib/testing/gradcheck.ts. wrt: inputs to check (default: every float
 * input). eps: the finite-difference step where 1e-6 is too small for the op's curvature.
 */
export interface GradSpec { wrt?: number[]; eps?: number; samples?: number }

export interface Entry<P = undefined> {
  name: string;
  cases: Case<P>[];
  ops: Record<string, Run<P>>;
  /**
   * f64 host reference from the inputs (ints as numbers): one array per output, null where the
   * op returns none; dtype says how parameters are rounded (an f32 kernel sees Math.fround(alpha)).
   * storage: the run's tensor dtype (dtype itself, or bf16/f16 for a 16-bit run, whose dtype is
   * f32), for the few references that round an intermediate to it as the op does (a fused
   * product-then-add stores the product in the tensor's dtype first).
   */
  reference: (xs: Float64Array[], c: Case<P>, dtype: FloatDType, storage: RunDType) => (Float64Array | null)[];
  tol: Tol | ((c: Case<P>) => Tol);
  /** false: not differentiable (raw kernels, creation, random, attack updates). */
  grad: false | GradSpec;
  /** The reference is checked in f32 only (the op has no f64 path, or is integer-valued). */
  f32Only?: boolean;
  /**
   * The op supports bf16 and f16 (see the header): the tolerance class of its 16-bit path's f32
   * arithmetic, which halfBounds turns into bounds. Absent: every call refuses them (ERR_DTYPE).
   */
  half?: Tol | ((c: Case<P>) => Tol);
}

// Entries are generic in their case parameters; the table holds them type-erased.
export type AnyEntry = Entry<any>;
export const entry = <P>(e: Entry<P>): AnyEntry => e;

// ---- input generators ------------------------------------------------------------------------

/** f32-representable values uniform in [lo, hi), seeded. */
export function floats(shape: number[], seed: number, lo = -1, hi = 1): Input {
  return { shape, data: f32(hostRandom(numel(shape), seed, lo, hi)) };
}

/** Values in ±[lo, hi]: clear of zero (divisors, log after abs) and of relu's kink. */
export function awayFromZero(shape: number[], seed: number, lo = 0.25, hi = 2): Input {
  return { shape, data: f32(hostRandom(numel(shape), seed, lo, hi).map((v, i) => (i % 3 === 1 ? -v : v))) };
}

export function ints(shape: number[], seed: number, lo: number, hi: number): Input {
  return { shape, data: Int32Array.from(hostRandom(numel(shape), seed, lo, hi), Math.floor) };
}

export const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;

// ---- running -----------------------------------------------------------------------------------

export function upload(inp: Input, dtype: RunDType, device: string): ap.Tensor {
  if (inp.data instanceof Int32Array) return ap.tensor(inp.data, inp.shape, { dtype: 'i32', device });
  // A 16-bit upload rounds each value once from its f64 (the reference rounds the same way).
  return ap.tensor(dtype === 'f32' ? Float32Array.from(inp.data) : Float64Array.from(inp.data), inp.shape, { dtype, device });
}

/** A case's inputs as the kernel sees them, in f64 for the reference: rounded to a 16-bit run's type. */
export function referenceInputs<P>(c: Case<P>, dtype: RunDType): Float64Array[] {
  return c.inputs.map((i) => (i.data instanceof Int32Array || (dtype !== 'bf16' && dtype !== 'f16') ? Float64Array.from(i.data) : roundHalfArray(i.data, dtype)));
}

/** values: toArray() of the output (bf16/f16 widened exactly into a Float32Array). */
export interface HostOut { shape: number[]; dtype: ap.DType; values: Float32Array | Float64Array | Int32Array | Uint8Array }

/** Runs one export on fresh tensors and reads every output back (null where the op returned none). */
export function runOn<P>(run: Run<P>, c: Case<P>, dtype: RunDType, device: string): (HostOut | null)[] {
  return ap.tidy(() => {
    const out = run(c.inputs.map((i) => upload(i, dtype, device)), c, device, dtype);
    const list = out instanceof ap.Tensor ? [out] : out;
    return list.map((t) => (t ? { shape: [...t.shape], dtype: t.dtype, values: t.toArray() } : null));
  });
}

export function tolOf<P>(e: Entry<P>, c: Case<P>): Tol {
  return typeof e.tol === 'function' ? e.tol(c) : e.tol;
}

/** The entry's `half` class for a case; undefined when the entry refuses the 16-bit types. */
export function halfTolOf<P>(e: Entry<P>, c: Case<P>): Tol | undefined {
  return typeof e.half === 'function' ? e.half(c) : e.half;
}
