// Memory management: tidy() scopes, keep(), dispose() and memory(). The state they work on (live
// counts, the FinalizationRegistry, the scope stack) is in tracking.ts, below tensor.ts; closing a
// scope also releases the tape nodes of the tensors it freed (autograd/node.ts).
import type { NativeMemoryStats } from './native.js';
import { addon } from './native.js';
import { AdvpropError } from './errors.js';
import { describeValue, devices, requireDevice } from './device.js';
import { checkTensor, Tensor } from './tensor.js';
import { liveCounts, scopes } from './tracking.js';
import { releaseUnreachable, savedTensorCount } from './autograd/node.js';

/** Runs fn and frees every tensor it created except those returned (searched through arrays,
 * plain objects and Maps) and those passed to keep(). Tidies nest. fn must be synchronous. */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new AdvpropError('ERR_ARG', `tidy: expected a function, got ${describeValue(fn)}`);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    endScope(scope, new Set());
    throw e;
  }
  if (result instanceof Promise) {
    endScope(scope, new Set());
    throw new AdvpropError('ERR_ARG', 'tidy: fn returned a Promise; tidy only works with synchronous functions (its tensors were freed)');
  }
  endScope(scope, collectTensors(result));
  return result;
}

function endScope(scope: Set<Tensor>, survivors: Set<Tensor>): void {
  const top = scopes.pop();
  if (top !== scope) throw new AdvpropError('ERR_INTERNAL', 'tidy: scopes closed out of order');
  const parent = scopes[scopes.length - 1];
  const freed: Tensor[] = [];
  const live: Tensor[] = [];
  for (const t of scope) {
    if (survivors.has(t) || t._kept) {
      live.push(t);
      // A returned tensor belongs to the enclosing tidy, which may free it in turn.
      if (parent && !t._kept) parent.add(t);
    } else {
      freed.push(t);
      t.dispose();
    }
  }
  releaseUnreachable(freed, live);
}

function collectTensors(v: unknown, out = new Set<Tensor>(), seen = new Set<object>()): Set<Tensor> {
  if (v instanceof Tensor) {
    out.add(v);
  } else if (v !== null && typeof v === 'object' && !seen.has(v)) {
    seen.add(v);
    if (Array.isArray(v)) for (const x of v) collectTensors(x, out, seen);
    else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out, seen);
    else if (v instanceof Set) for (const x of v) collectTensors(x, out, seen);
    else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)
      for (const x of Object.values(v)) collectTensors(x, out, seen);
  }
  return out;
}

/** Exempts t from every tidy (it must then be disposed by hand). */
export function keep<T extends Tensor>(t: T): T {
  checkTensor(t, 'keep', 't');
  t._kept = true;
  return t;
}

/** Disposes every tensor found in v (arrays, objects, Maps searched as in tidy). */
export function dispose(v: unknown): void {
  for (const t of collectTensors(v)) t.dispose();
}

export interface MemoryInfo {
  /** Live Tensor objects made by this library (not yet disposed or finalized). */
  numTensors: number;
  /** Bytes viewed by those tensors (views of one storage count once each). */
  numBytes: number;
  /** Copies of tensors the tape holds for backward passes. */
  numSavedTensors: number;
  /** Handles alive in the addon: numTensors plus any native handle no Tensor wraps (a leak). */
  numHandles: number;
  /** The allocator statistics of every available device, by canonical name ('cpu', 'cuda:0',
   * 'cuda-sim:0'); peakBytesInUse counts from the last resetPeakMemory of that device. */
  devices: Record<string, NativeMemoryStats>;
}

/** Starts a new peak: the device's peakBytesInUse becomes its bytesInUse now, and grows with the
 * allocations that follow (disposing never lowers it). Without a device, every available one.
 * Devices are independent: resetting one leaves the others' peaks as they are. */
export function resetPeakMemory(device?: string): void {
  const op = "resetPeakMemory: argument 'device'";
  const targets = device === undefined ? devices().filter((d) => d.available).map((d) => d.device) : [requireDevice(device, op).device];
  for (const d of targets) addon.resetPeakMemory(d);
}

export function memory(): MemoryInfo {
  const devs: Record<string, NativeMemoryStats> = {};
  for (const d of devices()) if (d.available) devs[d.device] = addon.memoryStats(d.device);
  const { numTensors, numBytes } = liveCounts();
  return { numTensors, numBytes, numSavedTensors: savedTensorCount(), numHandles: addon.handleStats().live, devices: devs };
}
