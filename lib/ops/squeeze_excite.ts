// Squeeze-excite as one differentiable op: y = x · sigmoid(W₂ silu(W₁ mean_hw(x) + b₁) + b₂).
// The forward runs the same kernels as the composition of globalAvgPool, linear, silu, linear,
// sigmoid and channelScale, so its output is the same bit for bit. The backward is where it
// differs: x reaches y both directly and through the pool, and as separate ops its gradient took
// seven passes over [N,H,W,C] (the scale's backward read dy and x and wrote dx, the pool's
// backward wrote a broadcast, the engine's add read both and wrote the sum). Here it takes four:
// ds reads dy and x, then channelScaleAdd reads dy and writes dx = dy · s + dpool / (H·W), with
// the FC chain in between on [N, C] tensors only.
import * as k from '../kernels.js';
import { AdvpropError } from '../errors.js';
import { checkTensor, isFloatDType, type Tensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';
import { autocastInput, disposeAutocast } from './cast.js';
import { tf32Allowed, withGemmMath } from '../precision.js';

const OP = 'squeezeExcite';
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

function checkArgs(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor): void {
  const named: [string, Tensor][] = [['x', x], ['w1', w1], ['b1', b1], ['w2', w2], ['b2', b2]];
  if (!isFloatDType(x.dtype))
    throw new AdvpropError('ERR_DTYPE', `${OP}: argument 'x' must be f32, f64, bf16 or f16, got ${x.dtype} ${fmt(x.shape)}`);
  for (const [name, t] of named.slice(1)) {
    if (t.dtype !== x.dtype)
      throw new AdvpropError('ERR_DTYPE', `${OP}: '${name}' is ${t.dtype} ${fmt(t.shape)} but 'x' is ${x.dtype} ${fmt(x.shape)}`);
    if (t.device !== x.device)
      throw new AdvpropError('ERR_DEVICE', `${OP}: '${name}' is on ${t.device} but 'x' is on ${x.device}`);
  }
  if (x.shape.length !== 4)
    throw new AdvpropError('ERR_SHAPE', `${OP}: 'x' must be NHWC [N, H, W, C], got ${fmt(x.shape)}`);
  const C = x.shape[3];
  const R = w1.shape.length === 2 ? w1.shape[0] : -1;
  const want: Record<string, number[]> = { w1: [R, C], b1: [R], w2: [C, R], b2: [C] };
  for (const [name, t] of named.slice(1)) {
    const ok = R >= 0 && t.shape.length === want[name].length && t.shape.every((d, i) => d === want[name][i]);
    if (!ok) {
      const expected = R >= 0 ? fmt(want[name]) : '[R, C]';
      throw new AdvpropError('ERR_SHAPE', `${OP}: '${name}' has shape ${fmt(t.shape)}, expected ${expected} for 'x' ${fmt(x.shape)} (w1 [R, C], b1 [R], w2 [C, R], b2 [C])`);
    }
  }
}

/**
 * Squeeze-excite on NHWC x [N,H,W,C] with the reduce FC w1 [R,C], b1 [R] and the expand FC
 * w2 [C,R], b2 [C]. Differentiable in all five; the backward computes only the gradients asked for.
 */
export function squeezeExcite(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor): Tensor {
  // Its two FC layers are GEMMs: under the precision policy x and the weights are cast as
  // linear's are (lib/precision.ts), and the GEMMs' tf32 permission is the forward's.
  const X = autocastInput(checkTensor(x, OP, 'x'));
  const W1 = autocastInput(checkTensor(w1, OP, 'w1'));
  const B1 = autocastInput(checkTensor(b1, OP, 'b1'));
  const W2 = autocastInput(checkTensor(w2, OP, 'w2'));
  const B2 = autocastInput(checkTensor(b2, OP, 'b2'));
  checkArgs(X, W1, B1, W2, B2);
  const tf32 = tf32Allowed();
  const y = withGemmMath(tf32, () => forward(X, W1, B1, W2, B2, tf32));
  disposeAutocast([[X, x], [W1, w1], [B1, b1], [W2, w2], [B2, b2]]);
  return y;
}

function forward(X: Tensor, W1: Tensor, B1: Tensor, W2: Tensor, B2: Tensor, tf32: boolean): Tensor {
  const needs = recordingNeeds([X, W1, B1, W2, B2]);
  const s0 = k.globalAvgPool(X);
  const z1 = k.linear(s0, W1, B1);
  const a1 = k.silu(z1);
  const z2 = k.linear(a1, W2, B2);
  const s = k.sigmoid(z2);
  const y = k.channelScale(X, s);
  if (needs) {
    const [nx, nw1, nb1, nw2] = needs;
    // Every gradient starts from ds and dz2, so x, s and z2 are always kept; the rest only for
    // the gradients that read them (the set the composed ops saved, no full-size temporary).
    const throughFc1 = nx || nw1 || nb1;
    const hw = X.shape[1] * X.shape[2];
    record(y, OP, [X, W1, B1, W2, B2],
      [X, s, z2, throughFc1 ? z1 : null, nw2 ? a1 : null, nw1 ? s0 : null, nx ? W1 : null, throughFc1 ? W2 : null],
      (dy, saved, need) => withGemmMath(tf32, () => {
        const [sx, ss, sz2, sz1, sa1, ss0, sw1, sw2] = saved;
        const ds = k.channelScaleBackward(sx!, ss!, dy, { ds: true }).ds!;
        const dz2 = k.sigmoidBackward(sz2!, ds);
        const gw2 = need[3] ? k.linearBackwardWeight(dz2, sa1!) : null;
        const gb2 = need[4] ? k.sum(dz2, [0]) : null;
        if (!(need[0] || need[1] || need[2])) return [null, null, null, gw2, gb2];
        const dz1 = k.siluBackward(sz1!, k.linearBackwardInput(dz2, sw2!));
        const gw1 = need[1] ? k.linearBackwardWeight(dz1, ss0!) : null;
        const gb1 = need[2] ? k.sum(dz1, [0]) : null;
        // The pool's share of dx is dpool / (H·W) at every position: folded into the scale's pass.
        const gx = need[0] ? k.channelScaleAdd(dy, ss!, k.scale(k.linearBackwardInput(dz1, sw1!), hw > 0 ? 1 / hw : 0)) : null;
        return [gx, gw1, gb1, gw2, gb2];
      }), ['x', 'w1', 'b1', 'w2', 'b2']);
  }
  // record() holds its own handles: the [N, C] intermediates can go now rather than at the
  // caller's tidy.
  for (const t of [s0, z1, a1, z2, s]) t.dispose();
  return y;
}
