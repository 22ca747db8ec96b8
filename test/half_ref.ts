// bf16 and f16 rounding computed independently of the addon (for tests): a double rounded to the
// format by exact power-of-two scaling and round-half-to-even on the scaled integer, the way
// native/tests/half_ref.h does it with nearbyint.
export type HalfDType = 'bf16' | 'f16';

const FORMATS: Record<HalfDType, { mant: number; emin: number; emax: number }> = {
  bf16: { mant: 7, emin: -126, emax: 127 },
  f16: { mant: 10, emin: -14, emax: 15 },
};

const view = new DataView(new ArrayBuffer(8));

/** The exponent e of a finite non-zero double (2^e <= |x| < 2^(e+1)); -1023 for subnormals. */
function exponentOf(x: number): number {
  view.setFloat64(0, x);
  return ((view.getUint16(0) >> 4) & 0x7ff) - 1023;
}

/** x rounded once to bf16 or f16 (nearest, ties to even; past the largest finite value plus half
 * an ulp, infinity; NaN stays NaN), as an exact number. */
export function roundHalf(x: number, dtype: HalfDType): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const f = FORMATS[dtype];
  const ulp = 2 ** (Math.max(exponentOf(x), f.emin) - f.mant);
  const q = x / ulp; // exact: a power-of-two scale to fewer than 2^(mant+1) units
  const lo = Math.floor(q);
  const d = q - lo;
  const n = d > 0.5 || (d === 0.5 && lo % 2 !== 0) ? lo + 1 : lo;
  const r = n * ulp;
  if (Math.abs(r) > (2 - 2 ** -f.mant) * 2 ** f.emax) return x > 0 ? Infinity : -Infinity;
  return r === 0 ? (x < 0 ? -0 : 0) : r;
}

export function roundHalfArray(a: ArrayLike<number>, dtype: HalfDType): Float64Array {
  return Float64Array.from(a, (v) => roundHalf(v, dtype));
}

/** Half of the 16-bit type's ulp at 1: the relative error of one rounding (2^-8, 2^-11). */
export const HALF_UNIT: Record<HalfDType, number> = { bf16: 2 ** -8, f16: 2 ** -11 };
