// Raw kernels of global average pooling and squeeze-excite's channel scale (native/*/pool.*),
// with no tape: x [N, H, W, C] against per-sample, per-channel [N, C].
import { addon } from '../native.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';
import { AdvpropError } from '../errors.js';
import { twoTensorKernel } from './call.js';

/** y[n, c] = mean over h, w of x[n, h, w, c]. */
export function globalAvgPool(x: Tensor): Tensor {
  const h = checkTensor(x, 'globalAvgPool', 'x')._handle('globalAvgPool', 'x');
  countKernel('globalAvgPool');
  return wrapHandle(addon.globalAvgPool(h));
}

/** dx[n, h, w, c] = dy[n, c] / (H·W), the gradient of globalAvgPool (xShape: the forward input's). */
export function globalAvgPoolBackward(dy: Tensor, xShape: readonly number[]): Tensor {
  const h = checkTensor(dy, 'globalAvgPoolBackward', 'dy')._handle('globalAvgPoolBackward', 'dy');
  countKernel('globalAvgPoolBackward');
  return wrapHandle(addon.globalAvgPoolBackward(h, xShape));
}

/** y[n, h, w, c] = x[n, h, w, c] · s[n, c]. */
export function channelScale(x: Tensor, s: Tensor): Tensor {
  return twoTensorKernel('channelScale', x, 'x', s, 's');
}

/**
 * The gradients of channelScale: dx = dy · s[n, c] and ds[n, c] = Σ_{h,w} dy · x (a fixed-order
 * sum). Only the requested ones are computed; the others come back null.
 */
export function channelScaleBackward(x: Tensor, s: Tensor, dy: Tensor, need: { dx?: boolean; ds?: boolean } = { dx: true, ds: true }): { dx: Tensor | null; ds: Tensor | null } {
  const op = 'channelScaleBackward';
  const hx = checkTensor(x, op, 'x')._handle(op, 'x');
  const hs = checkTensor(s, op, 's')._handle(op, 's');
  const hdy = checkTensor(dy, op, 'dy')._handle(op, 'dy');
  if (need === null || typeof need !== 'object') throw new AdvpropError('ERR_ARG', `${op}: 'need' must be {dx?: boolean, ds?: boolean}`);
  const [dx, ds] = [need.dx === true, need.ds === true];
  countKernel(op);
  const [gx, gs] = addon.channelScaleBackward(hx, hs, hdy, dx, ds);
  return { dx: gx ? wrapHandle(gx) : null, ds: gs ? wrapHandle(gs) : null };
}

/**
 * y[n, h, w, c] = x[n, h, w, c] · s[n, c] + b[n, c], the product rounded before the add on every
 * backend (so it equals channelScale(x, s) + b bit for bit). Squeeze-excite's input gradient
 * dy · s + dpool / (H·W) in one pass over the activation.
 */
export function channelScaleAdd(x: Tensor, s: Tensor, b: Tensor): Tensor {
  const op = 'channelScaleAdd';
  const hx = checkTensor(x, op, 'x')._handle(op, 'x');
  const hs = checkTensor(s, op, 's')._handle(op, 's');
  const hb = checkTensor(b, op, 'b')._handle(op, 'b');
  countKernel(op);
  return wrapHandle(addon.channelScaleAdd(hx, hs, hb));
}
