// The differentiable 2-D convolution. The rule runs only the backward kernels whose gradients
// are needed: an attack that asks for the image's gradient runs conv2dBackwardInput alone.
import * as k from '../kernels.js';
import { optionsArg } from '../args.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';
import { autocastInput, disposeAutocast } from './cast.js';
import { tf32Allowed, withGemmMath } from '../precision.js';

export interface Conv2dArgs extends k.Conv2dOptions {
  bias?: Tensor | null;
}

/** NHWC x [N, H, W, Cin], OHWI w [Cout, KH, KW, Cin/groups] → [N, OH, OW, Cout]. */
export function conv2d(x: Tensor, w: Tensor, options?: Conv2dArgs): Tensor {
  const opts = optionsArg(options, 'conv2d');
  const X = autocastInput(checkTensor(x, 'conv2d', 'x'));
  const W = autocastInput(checkTensor(w, 'conv2d', 'w'));
  const B = opts.bias == null ? null : autocastInput(checkTensor(opts.bias, 'conv2d', 'bias'));
  const conv: k.Conv2dOptions = { stride: opts.stride, padding: opts.padding, dilation: opts.dilation, groups: opts.groups };
  // The casts are freed on the way out, also when a kernel refuses its arguments.
  try {
    const inputs = B ? [X, W, B] : [X, W];
    const needs = recordingNeeds(inputs);
    const tf32 = tf32Allowed();
    const out = withGemmMath(tf32, () => k.conv2d(X, W, B, conv));
    if (needs) {
      const [xs, ws] = [X.shape, W.shape];
      record(out, 'conv2d', inputs, [needs[0] ? W : null, needs[1] ? X : null], (dy, saved, need) => withGemmMath(tf32, () => [
        need[0] ? k.conv2dBackwardInput(dy, saved[0]!, xs, conv) : null,
        need[1] ? k.conv2dBackwardWeight(dy, saved[1]!, ws, conv) : null,
        ...(B ? [need[2] ? k.sum(dy, [0, 1, 2]) : null] : []),
      ]), B ? ['x', 'w', 'bias'] : ['x', 'w']);
    }
    return out;
  } finally {
    disposeAutocast([[X, x], [W, w], [B, opts.bias]]);
  }
}
