// Byte batches on their way to a model's device through pinned memory and a copy stream (issue 16,
// native/include/advprop/staging.h). Two slots, each a u8 device buffer kept for as long as the
// batch shape stays: prefetch(next) queues step t+1's copy while step t's kernels run, and
// upload(next) then only queues the normalisation behind that copy. Nothing here makes the host
// wait for the compute stream, and in a steady state nothing allocates from the driver.
// On cpu there is nothing to overlap: upload() is imageBatchTensor's copy and normalisation.
import { addon, type NativeStager } from '../native.js';
import { tensor } from '../creation.js';
import { normalizeImage } from '../kernels/image.js';
import { AdvpropError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { imageBatchTensor } from './images.js';
import { describeValue, requireDevice } from '../device.js';
import { intArg } from '../args.js';

const SLOTS = 2;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export class BatchUploader {
  private stager: NativeStager | null = null;
  private readonly buffers: (Tensor | null)[] = new Array(SLOTS).fill(null);
  private nextSlot = 0;
  // The batch a prefetch() copied, until upload() takes it: same array and shape, same slot.
  private staged: { x: Uint8Array; shape: number[]; slot: number } | null = null;
  private disposed = false;

  readonly device: string;

  constructor(device: string) {
    this.device = requireDevice(device, 'BatchUploader').device;
  }

  /** Queues the copy of x for a following upload(x, shape) with the same array, which must not
   * change in between (the copy may already have been taken, or not: on cpu it is taken later). */
  prefetch(x: Uint8Array, shape: readonly number[]): void {
    this.check('prefetch', x, shape);
    if (this.device === 'cpu') return;
    this.staged = { x, shape: [...shape], slot: this.copy(x, shape) };
  }

  /** x as the model's f32 input in [0, 1] on the device; the caller disposes it. */
  upload(x: Uint8Array, shape: readonly number[]): Tensor {
    this.check('upload', x, shape);
    if (this.device === 'cpu') return imageBatchTensor(x, shape, this.device);
    const s = this.staged;
    this.staged = null;
    const slot = s && s.x === x && sameShape(s.shape, shape) ? s.slot : this.copy(x, shape);
    const out = normalizeImage(this.buffers[slot]!);
    addon.stagerRelease(this.stager!, slot);
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.stager) addon.stagerDispose(this.stager);
    for (const b of this.buffers) b?.dispose();
    this.buffers.fill(null);
    this.stager = null;
    this.staged = null;
  }

  private check(what: string, x: Uint8Array, shape: readonly number[]): void {
    const op = `BatchUploader.${what}`;
    if (this.disposed) throw new AdvpropError('ERR_DISPOSED', `${op}: the uploader is disposed`);
    if (!(x instanceof Uint8Array)) throw new AdvpropError('ERR_ARG', `${op}: x must be a Uint8Array, got ${describeValue(x)}`);
    if (!Array.isArray(shape) || shape.length !== 4)
      throw new AdvpropError('ERR_ARG', `${op}: shape must be [N, H, W, C], got ${describeValue(shape)}`);
    shape.forEach((d, i) => intArg(d, op, `shape[${i}]`, 0, 2 ** 31 - 1));
    if (x.length !== shape.reduce((a, b) => a * b, 1))
      throw new AdvpropError('ERR_SHAPE', `BatchUploader.${what}: ${x.length} bytes for a batch of shape [${shape.join(', ')}] (NHWC)`);
  }

  // Copies x into the next slot's device buffer (made, once per shape, by a blocking upload).
  private copy(x: Uint8Array, shape: readonly number[]): number {
    const n = x.length;
    this.stager ??= addon.stagerCreate(this.device, SLOTS);
    const slot = this.nextSlot;
    this.nextSlot = (slot + 1) % SLOTS;
    let buf = this.buffers[slot];
    if (!buf || !sameShape(buf.shape, shape)) {
      buf?.dispose();
      buf = this.buffers[slot] = tensor(new Uint8Array(n), shape, { dtype: 'u8', device: this.device });
    }
    addon.stagerUpload(this.stager, slot, x, buf._handle('BatchUploader.upload', 'buffer'));
    return slot;
  }
}
