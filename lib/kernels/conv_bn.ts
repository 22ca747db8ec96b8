// The inference convolution's addon call, shared by the public kernels.conv2dBnEval and the
// inference path's pooled variant (lib/nn/fused.ts), which is internal: not in ap.kernels.
import { addon, type BatchNormAct, type ConvPadding, type NativeTensor } from '../native.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';
import { optionsArg } from '../args.js';

export interface BnEvalArgs {
  gamma: Tensor; beta: Tensor; runningMean: Tensor; runningVar: Tensor;
  domain?: number; eps?: number; act?: BatchNormAct;
}
export interface ConvArgs { stride: number[]; dilation: number[]; groups: number; padding: ConvPadding }

function call(x: Tensor, w: Tensor, bn: BnEvalArgs, residual: Tensor | null | undefined, o: ConvArgs, xScale: Tensor | null | undefined,
  pool: boolean, xAffine?: Tensor | null): NativeTensor | [NativeTensor, NativeTensor] {
  const op = 'conv2dBnEval';
  const p = optionsArg(bn, op, 'bn');
  const h = (t: unknown, n: string) => checkTensor(t, op, n)._handle(op, n);
  const handles = [h(x, 'x'), h(w, 'w'), h(p.gamma, 'gamma'), h(p.beta, 'beta'), h(p.runningMean, 'runningMean'), h(p.runningVar, 'runningVar')] as const;
  const hr = residual == null ? null : h(residual, 'residual');
  const hs = xScale == null ? null : h(xScale, 'xScale');
  const ha = xAffine == null ? null : h(xAffine, 'xAffine');
  countKernel(op);
  return addon.conv2dBnEval(...handles, p.domain ?? 0, p.eps ?? 1e-3, p.act ?? 'none', hr, o.stride, o.dilation, o.groups, o.padding, hs, pool, ha);
}

/** act(bn_eval(conv2d(x', w))) (+ residual); see kernels.conv2dBnEval. x' = x, or with xAffine
 * [2, Cin] x · xAffine[0] + xAffine[1] per channel (mul then add, their bits): a model's input
 * normalisation, which the stem's implicit GEMM applies as it gathers x (native/ops/conv_bn.cc). */
export function conv2dBnEvalCall(x: Tensor, w: Tensor, bn: BnEvalArgs, residual: Tensor | null | undefined, o: ConvArgs,
  xScale: Tensor | null | undefined, xAffine?: Tensor | null): Tensor {
  return wrapHandle(call(x, w, bn, residual, o, xScale, false, xAffine) as NativeTensor);
}

/** The same, and globalAvgPool of its output with globalAvgPool's bits: on the cpu an f32
 * depthwise convolution sums it while each output row is in cache, instead of a pass that reads
 * the output back (native/cpu/depthwise_forward.cc); elsewhere the pool runs after it. */
export function conv2dBnEvalPooled(x: Tensor, w: Tensor, bn: BnEvalArgs, residual: Tensor | null | undefined, o: ConvArgs,
  xScale: Tensor | null | undefined): [Tensor, Tensor] {
  const [y, pooled] = call(x, w, bn, residual, o, xScale, true) as [NativeTensor, NativeTensor];
  return [wrapHandle(y), wrapHandle(pooled)];
}
