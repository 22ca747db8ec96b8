// The inference path: a forward in eval mode with nothing recording runs each convolution and the
// batch norm after it (with its activation, and the residual add of a block) as one kernel,
// kernels.conv2dBnEval, whose epilogue applies the batch norm while the convolution's output is
// still in cache. Nothing is folded into the weights or cached: the per-channel affine is made
// from the current parameters and running statistics at every call (a few hundred numbers), so
// an optimizer step, a loaded checkpoint, to()/cast() or train()/eval() can never leave a stale
// copy behind. On the cpu, f32 and f64 give the bits of the plain path (conv2d, multiBatchNorm
// 'eval', add); other dtypes and tf32 run those ops inside the kernel call.
import type { Tensor } from '../tensor.js';
import { normalizeConv } from '../kernels.js';
import { conv2dBnEvalCall, conv2dBnEvalPooled, type BnEvalArgs } from '../kernels/conv_bn.js';
import { seGate } from '../kernels/se_gate.js';
import { globalAvgPool } from '../kernels/pool.js';
import { add, mul } from '../ops/arithmetic.js';
import { channelScale } from '../ops/pool.js';
import { isGradEnabled } from '../autograd/mode.js';
import { autocastDType, tf32Allowed, withGemmMath } from '../precision.js';
import type { Module, ForwardOptions } from './module.js';
import type { Conv2d, MultiBatchNorm2d } from './layers.js';

/**
 * The BN domain a forward of `m` on a batch of n may take the inference path with, or null:
 * m in eval mode, recording off (ap.noGrad), no autocast, BN mode 'eval' (or unset), every
 * sample in one domain, and not opted out with { fuse: false }.
 */
export function inferenceDomain(m: Module, opts: ForwardOptions | undefined, n: number): number | null {
  if (m.training || isGradEnabled() || autocastDType() !== null) return null;
  if (opts?.fuse === false || (opts?.bnMode !== undefined && opts.bnMode !== 'eval')) return null;
  const s = opts?.segments;
  if (s === undefined) return 0;
  return s.length === 1 && s[0][1] === n ? s[0][0] : null;
}

/**
 * act(bn_eval(conv(x · gate))) (+ residual) for BN domain d, in one kernel (kernels.conv2dBnEval):
 * gate, [N, Cin] (squeeze-excite's, seGatePooled), is read by a 1×1 convolution's GEMM with the bits
 * channelScale would give, instead of a pass over x.
 */
export function convBnEval(conv: Conv2d, bn: MultiBatchNorm2d, x: Tensor, d: number, residual?: Tensor, gate?: Tensor): Tensor {
  if (conv.hasParam('bias')) {
    // The epilogue has no place for a conv bias (EfficientNet's convolutions have none).
    const xs = gate ? channelScale(x, gate) : x;
    const h = bn.forward(conv.forward(xs), { segments: [[d, x.shape[0]]], bnMode: 'eval' });
    if (xs !== x) xs.dispose();
    return residual ? add(h, residual) : h;
  }
  return withGemmMath(tf32Allowed(), () =>
    conv2dBnEvalCall(x, conv.param('weight'), bnArgs(bn, d), residual ?? null, normalizeConv(conv.convOptions(), 'conv2dBnEval'), gate ?? null));
}

/** A model's input normalisation x · scale + shift per channel ([C] each), and the two as one
 * [2, C] tensor (rows scale, shift) for the addon. */
export interface InputAffine { scale: Tensor; shift: Tensor; both: Tensor }

/** convBnEval of add(mul(x, scale), shift) (the model's input normalisation, with those ops'
 * bits), which the convolution takes as it reads x where it can: the stem's implicit GEMM
 * applies it while gathering its input (native/ops/conv_bn.cc), saving two passes over the batch. */
export function convBnEvalNormalized(conv: Conv2d, bn: MultiBatchNorm2d, x: Tensor, d: number, n: InputAffine): Tensor {
  if (conv.hasParam('bias')) {
    const scaled = mul(x, n.scale), xs = add(scaled, n.shift);
    scaled.dispose();
    const y = convBnEval(conv, bn, xs, d);
    xs.dispose();
    return y;
  }
  return withGemmMath(tf32Allowed(), () =>
    conv2dBnEvalCall(x, conv.param('weight'), bnArgs(bn, d), null, normalizeConv(conv.convOptions(), 'conv2dBnEval'), null, n.both));
}

/** convBnEval, and globalAvgPool of its output (squeeze-excite's pool, next in the block), with
 * globalAvgPool's bits: pooled while the output is in cache where the kernel can
 * (kernels/conv_bn.ts). */
export function convBnEvalPooled(conv: Conv2d, bn: MultiBatchNorm2d, x: Tensor, d: number): [Tensor, Tensor] {
  if (conv.hasParam('bias')) {
    const h = convBnEval(conv, bn, x, d);
    return [h, globalAvgPool(h)];
  }
  return withGemmMath(tf32Allowed(), () =>
    conv2dBnEvalPooled(x, conv.param('weight'), bnArgs(bn, d), null, normalizeConv(conv.convOptions(), 'conv2dBnEval'), null));
}

function bnArgs(bn: MultiBatchNorm2d, d: number): BnEvalArgs {
  return {
    gamma: bn.param('weight'), beta: bn.param('bias'), runningMean: bn.buffer('running_mean'), runningVar: bn.buffer('running_var'),
    domain: d, eps: bn.eps, act: bn.act,
  };
}

/** Squeeze-excite's gate sigmoid(W₂ silu(W₁ pooled + b₁) + b₂), [N, C], from
 * pooled = mean_hw(x) (convBnEvalPooled): the kernels and order of ops/squeeze_excite.ts, so the
 * same bits, without the tape, in one addon call (kernels/se_gate.ts). w1 and w2 may be the 1×1
 * convolution weights [R, 1, 1, C] and [C, 1, 1, R] as they are. */
export function seGatePooled(pooled: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor): Tensor {
  return withGemmMath(tf32Allowed(), () => seGate(pooled, w1, b1, w2, b2));
}
