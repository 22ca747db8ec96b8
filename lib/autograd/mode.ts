// Grad mode (whether ops record) and backward phase (which kernel counters tick).
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';

let gradEnabled = true;
let backwardDepth = 0;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export function setGradEnabled(enabled: boolean): void {
  if (typeof enabled !== 'boolean') throw new AdvpropError('ERR_ARG', `setGradEnabled: enabled must be a boolean, got ${describeValue(enabled)}`);
  gradEnabled = enabled;
}

function withGrad<T>(enabled: boolean, fn: () => T): T {
  if (typeof fn !== 'function') throw new AdvpropError('ERR_ARG', `${enabled ? 'enableGrad' : 'noGrad'}: fn must be a function, got ${describeValue(fn)}`);
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs fn without recording anything on the tape. */
export function noGrad<T>(fn: () => T): T {
  return withGrad(false, fn);
}

/** Runs fn with recording on, e.g. inside noGrad(). */
export function enableGrad<T>(fn: () => T): T {
  return withGrad(true, fn);
}

export function inBackward(): boolean {
  return backwardDepth > 0;
}

/** @internal */
export function asBackward<T>(fn: () => T): T {
  backwardDepth++;
  try {
    return withGrad(false, fn);
  } finally {
    backwardDepth--;
  }
}
