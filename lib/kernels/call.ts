// The common shape of a raw kernel call, for kernels.ts and the family modules: each tensor
// checked (a live Tensor, named in errors) and turned into its handle, the call counted, the result
// wrapped. Everything else about the arguments is the native front-end's to check.
import { addon } from '../native.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';

type TwoTensorKernel = 'linearBackwardInput' | 'linearBackwardWeight' | 'channelScale';

/** op(a, b) -> tensor, with a and b named `an` and `bn` in errors. */
export function twoTensorKernel(op: TwoTensorKernel, a: Tensor, an: string, b: Tensor, bn: string): Tensor {
  const ha = checkTensor(a, op, an)._handle(op, an);
  const hb = checkTensor(b, op, bn)._handle(op, bn);
  countKernel(op);
  return wrapHandle(addon[op](ha, hb));
}
