// The bookkeeping every Tensor's creation and disposal goes through: the live counts, the
// FinalizationRegistry that frees forgotten tensors, and the stack of open tidy() scopes. Part of
// memory management with memory.ts (tidy, keep, dispose, memory()), which reads this state; it
// sits below tensor.ts, which calls track() and forget(), and knows Tensor only as a type.
import type { NativeTensor } from './native.js';
import { addon } from './native.js';
import type { Tensor } from './tensor.js';

let liveTensors = 0;
let liveBytes = 0;

// Finalization is only a safety net: it runs late or never, so tests and training loops dispose.
const registry = new FinalizationRegistry<{ handle: NativeTensor; nbytes: number }>((held) => {
  liveTensors--;
  liveBytes -= held.nbytes;
  try {
    addon.dispose(held.handle);
  } catch {
    // Nothing useful can be done from a finalizer.
  }
});

/** Open tidy() scopes, innermost last; every tensor made while one is open joins it. */
export const scopes: Set<Tensor>[] = [];

/** A new tensor: counted, finalizable, and a member of the innermost open scope. */
export function track(t: Tensor, handle: NativeTensor): void {
  liveTensors++;
  liveBytes += t.nbytes;
  registry.register(t, { handle, nbytes: t.nbytes }, t);
  const scope = scopes[scopes.length - 1];
  if (scope) scope.add(t);
}

/** A disposed tensor: no longer counted nor finalizable (its handle is disposed by the caller). */
export function forget(t: Tensor): void {
  registry.unregister(t);
  liveTensors--;
  liveBytes -= t.nbytes;
}

/** Live Tensor objects and the bytes they view. */
export function liveCounts(): { numTensors: number; numBytes: number } {
  return { numTensors: liveTensors, numBytes: liveBytes };
}

/** @internal Removes t from the current tidy scope (the tape uses it for .grad tensors). */
export function untrack(t: Tensor): Tensor {
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].delete(t)) break;
  return t;
}
