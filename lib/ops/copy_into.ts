// copyInto: overwrite a tensor's storage in place, in stream order; how new data reaches a
// captured CUDA graph's static input (lib/cuda_graph.ts).
import { addon } from '../native.js';
import { checkTensor, type Tensor } from '../tensor.js';

/** Copies src into dst in place (same shape and dtype; src on dst's device or the cpu). Not recorded by autograd. */
export function copyInto(dst: Tensor, src: Tensor): void {
  checkTensor(dst, 'copyInto', 'dst');
  checkTensor(src, 'copyInto', 'src');
  addon.copyInto(dst._handle('copyInto', 'dst'), src._handle('copyInto', 'src'));
}
