// ap.cudaGraph: capture the ops of one step on a cuda or cuda-sim device once, then replay them
// with a single graph launch (docs/ARCHITECTURE.md, "CUDA graphs"). The graph records device
// addresses: tensors it reads (a static input, the parameters, optimizer state) must stay alive
// and keep their storage while it lives, and new data reaches it through copyInto
// (lib/ops/copy_into.ts).
import { canonicalDevice } from './device.js';
import { AdvpropError } from './errors.js';
import { addon } from './native.js';
import { getRngState, setRngState, type RandomKey } from './random.js';
import { setCapturing } from './capture_state.js';

const U64 = (1n << 64n) - 1n;

/**
 * A captured graph and what the captured function returned (tensors the graph writes on every
 * replay). Random ops inside it (dropout, drop-connect, the PGD random start, rand/randn) draw
 * like eager ones: a replay runs them at the global generator's current offset and advances it
 * by as much as the captured step consumed, so N replays draw what N eager steps would.
 */
export class CudaGraph<T = unknown> {
  private disposed = false;

  /** `key`: the global generator before the capture; `draws`: offsets the captured ops consumed. */
  constructor(readonly device: string, private readonly id: number, readonly result: T,
    private readonly key: RandomKey, private readonly draws: bigint) {}

  /** Runs the captured ops again, queued on the device's stream like any op. */
  replay(): void {
    if (this.disposed) throw new AdvpropError('ERR_DISPOSED', `cudaGraph.replay: the graph on ${this.device} was disposed`);
    const now = getRngState();
    if (this.draws > 0n && now.seed !== this.key.seed)
      throw new AdvpropError('ERR_ARG', `cudaGraph.replay: the global seed changed since the capture (${this.key.seed} → ${now.seed}); the graph's random ops keep the seed they were captured with, so capture again`);
    addon.cudaGraphReplay(this.device, this.id, (now.offset - this.key.offset) & U64);
    if (this.draws > 0n) setRngState({ seed: now.seed, offset: (now.offset + this.draws) & U64 });
  }

  /** Frees the graph; its private memory pool goes back to the device's cache. Tensors in `result` stay valid. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    addon.cudaGraphDestroy(this.device, this.id);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }
}

/**
 * Runs `fn` once while capturing `device`'s stream: its ops are recorded, not run (run them once
 * eagerly before, so lazy state exists), and what it allocates comes from the graph's own pool.
 * Anything that waits for the device inside `fn` (toArray, item, data, a tensor made from host
 * values, synchronize) throws ERR_CUDA and aborts the capture; so does any error `fn` throws.
 * crossEntropy does not read device labels back to check their range while capturing (an
 * out-of-range label gives a NaN loss).
 * cpu has no graphs (ERR_DEVICE).
 */
export function capture<T>(device: string, fn: () => T): CudaGraph<T> {
  const name = canonicalDevice(device, 'cudaGraph.capture');
  if (typeof fn !== 'function') throw new AdvpropError('ERR_ARG', 'cudaGraph.capture: argument fn must be a function');
  const key = getRngState();
  addon.cudaGraphBegin(name);
  setCapturing(name, true);
  let result: T;
  let draws: bigint;
  try {
    result = fn();
    if (result instanceof Promise) throw new AdvpropError('ERR_ARG', 'cudaGraph.capture: fn must be synchronous (it returned a Promise)');
    const after = getRngState();
    if (after.seed !== key.seed) throw new AdvpropError('ERR_ARG', 'cudaGraph.capture: fn changed the global seed (manualSeed) while capturing');
    draws = (after.offset - key.offset) & U64;
  } catch (e) {
    addon.cudaGraphAbort(name);
    throw e;
  } finally {
    setCapturing(name, false);
    // Nothing ran: the first replay draws what the step would have drawn now.
    setRngState(key);
  }
  return new CudaGraph(name, addon.cudaGraphEnd(name), result, key, draws);
}
