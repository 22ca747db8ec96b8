// Squeeze-excite's gate for the inference path (lib/nn/fused.ts), internal: not in ap.kernels. The
// addon runs linear, silu, linear and sigmoid back to back (native/ops/squeeze_excite.cc), the
// ops the training forward runs, so the gate has their bits; one call instead of four.
import { addon } from '../native.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';

/** sigmoid(W₂ silu(W₁ pooled + b₁) + b₂) [N, C] from pooled [N, C]; w1 [R, C] or [R, 1, 1, C], w2 [C, R] or [C, 1, 1, R]. */
export function seGate(pooled: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor): Tensor {
  const op = 'seGate';
  const h = (t: unknown, n: string) => checkTensor(t, op, n)._handle(op, n);
  const handles = [h(pooled, 'pooled'), h(w1, 'w1'), h(b1, 'b1'), h(w2, 'w2'), h(b2, 'b2')] as const;
  countKernel(op);
  return wrapHandle(addon.seGate(...handles));
}
