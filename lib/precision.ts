// The precision policy (DESIGN.md, Precision): which dtype the GEMM-shaped ops (convolutions,
// linear) compute in. Under autocast('bf16' | 'fp16', fn) those ops cast their f32 inputs and
// weights to the 16-bit type (a taped cast, so gradients reach the f32 master weights and the f32
// image as f32) and return 16-bit activations; every other op follows its inputs' dtype, and the
// ops that must stay accurate keep f32 where it matters by their own contract: batch norm keeps
// f32 parameters and statistics, cross-entropy returns an f32 loss, the optimizer, the EMA and
// the PGD projection only ever see f32 tensors. 'tf32' keeps f32 tensors and lets the GEMMs round
// their inputs to TF32 on tensor cores; the mode is captured when the op runs, so its backward
// GEMMs use the same math even when backward() is called outside the scope.
import { AdvpropError } from './errors.js';
import { describeValue, devices } from './device.js';
import { addon, type DTypeName } from './native.js';

export const PRECISIONS = ['fp32', 'tf32', 'bf16', 'fp16'] as const;
export type Precision = (typeof PRECISIONS)[number];

let current: Precision = 'fp32';

export function checkPrecision(p: unknown, op: string, arg = 'precision'): Precision {
  if (typeof p !== 'string' || !(PRECISIONS as readonly string[]).includes(p))
    throw new AdvpropError('ERR_ARG', `${op}: ${arg} must be one of ${PRECISIONS.join(', ')}, got ${describeValue(p)}`);
  return p as Precision;
}

/** Runs fn with the GEMM-shaped ops in `precision`; restores the previous policy afterwards. */
export function autocast<T>(precision: Precision, fn: () => T): T {
  const p = checkPrecision(precision, 'autocast');
  if (typeof fn !== 'function') throw new AdvpropError('ERR_ARG', `autocast: fn must be a function, got ${describeValue(fn)}`);
  const prev = current;
  current = p;
  try {
    const out = fn();
    if (out instanceof Promise)
      throw new AdvpropError('ERR_ARG', 'autocast: fn must be synchronous (the policy would leak into other work while it awaits)');
    return out;
  } finally {
    current = prev;
  }
}

/** The policy in force. */
export function currentPrecision(): Precision {
  return current;
}

/** The tensor dtype the GEMM-shaped ops compute in under the policy in force: bf16, f16 or null (their inputs' own). */
export function autocastDType(): Extract<DTypeName, 'bf16' | 'f16'> | null {
  return current === 'bf16' ? 'bf16' : current === 'fp16' ? 'f16' : null;
}

/** Whether f32 GEMMs may round their inputs to TF32. */
export function tf32Allowed(): boolean {
  return current === 'tf32';
}

/**
 * The training default for a device (DESIGN.md, Precision): bf16 on a CUDA GPU with tensor cores
 * for it (compute capability 8.0 and newer), fp32 everywhere else (the cpu and cuda-sim compute
 * 16-bit types through f32 and gain nothing from them but memory).
 */
export function defaultPrecision(device: string): Precision {
  const entry = devices().find((d) => d.device === device);
  if (!entry || entry.type !== 'cuda' || !entry.computeCapability) return 'fp32';
  const major = Number.parseInt(entry.computeCapability, 10);
  return major >= 8 ? 'bf16' : 'fp32';
}

// The addon's tf32 permission (advprop/gemm.h, set_gemm_tf32), mirrored so that the common case,
// no tf32 before or after, costs no addon call.
let nativeTf32 = false;

/**
 * Runs fn (which launches GEMM-shaped kernels) with the f32 GEMMs in tf32 or not. The taped ops
 * capture tf32Allowed() when they run and call their forward and backward kernels through this,
 * so a backward gets its forward's math wherever backward() is called.
 */
export function withGemmMath<T>(tf32: boolean, fn: () => T): T {
  if (tf32 === nativeTf32) return fn();
  const before = nativeTf32;
  addon.setGemmTf32(tf32);
  nativeTf32 = tf32;
  try {
    return fn();
  } finally {
    addon.setGemmTf32(before);
    nativeTf32 = before;
  }
}
