// The global Philox key. Every random op without an explicit seed takes (seed, offset) from here
// and advances offset by one, so a program that sets manualSeed() draws the same numbers on
// every run and every backend.
import { AdvpropError } from './errors.js';
import { describeValue } from './device.js';
import { functionArg, objectArg, optionsArg } from './args.js';
import { anyCapturing } from './capture_state.js';

export interface RandomKey { seed: bigint; offset: bigint }

const U64 = (1n << 64n) - 1n;
// Fixed rather than time-based: an unseeded run is still reproducible.
const DEFAULT_SEED = 2020n;

let state: RandomKey = { seed: DEFAULT_SEED, offset: 0n };

export function toU64(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64) throw new AdvpropError('ERR_ARG', `${what} must fit in 64 unsigned bits, got ${v}`);
    return v;
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new AdvpropError('ERR_ARG', `${what} must be a non-negative safe integer or a bigint, got ${typeof v === 'number' ? v : describeValue(v)}`);
  return BigInt(v);
}

export function manualSeed(seed: number | bigint): void {
  state = { seed: toU64(seed, 'manualSeed: seed'), offset: 0n };
}

/** The key for the next random op; advances the global offset. */
export function nextKey(): RandomKey {
  const key = state;
  state = { seed: state.seed, offset: (state.offset + 1n) & U64 };
  return key;
}

/** For checkpoints: the exact place in the stream. */
export function getRngState(): RandomKey {
  return { ...state };
}

export function setRngState(s: RandomKey): void {
  objectArg(s, 'setRngState', 'state', '{ seed, offset }');
  state = { seed: toU64(s.seed, 'setRngState: seed'), offset: toU64(s.offset, 'setRngState: offset') };
}

/** An explicit {seed, offset} when given, else the next global key. */
export function resolveKey(options: { seed?: number | bigint; offset?: number | bigint } | undefined, op: string): RandomKey {
  const opts = optionsArg(options, op);
  if (opts.seed === undefined) {
    if (opts.offset !== undefined) throw new AdvpropError('ERR_ARG', `${op}: 'offset' needs 'seed'`);
    return nextKey();
  }
  // A replay shifts every captured draw to where the global generator stands (lib/cuda_graph.ts).
  if (anyCapturing())
    throw new AdvpropError('ERR_ARG', `${op}: an explicit {seed, offset} inside a CUDA graph capture would not repeat at replay; draw from the global generator (manualSeed) instead`);
  return { seed: toU64(opts.seed, `${op}: seed`), offset: toU64(opts.offset ?? 0, `${op}: offset`) };
}

/**
 * Where this process's samples sit in a data-parallel global batch (native/include/advprop/sample_map.h):
 * local sample s of a batch made of segments of `segment` samples is global sample
 * floor(s / segment) · stride + base + s mod segment. Dropout, drop-connect and the PGD random
 * start draw at the global indices, so every rank draws what one process holding the global batch
 * would, whatever the number of ranks.
 */
export interface SampleMap { segment: number; stride: number; base: number }

let sampleMap: SampleMap | undefined;

/** Runs fn with `map` as the sample map of every draw that does not give its own; restores the previous one. */
export function withSampleMap<T>(map: SampleMap | undefined, fn: () => T): T {
  if (map !== undefined) checkSampleMap(map, 'withSampleMap');
  functionArg(fn, 'withSampleMap', 'fn');
  const before = sampleMap;
  sampleMap = map;
  try {
    return fn();
  } finally {
    sampleMap = before;
  }
}

/** The map set by the innermost withSampleMap, or undefined (identity). */
export function currentSampleMap(): SampleMap | undefined {
  return sampleMap;
}

export function checkSampleMap(m: unknown, op: string): SampleMap {
  const o = objectArg<SampleMap>(m, op, 'samples', '{ segment, stride, base }');
  for (const k of ['segment', 'stride', 'base'] as const)
    if (!Number.isSafeInteger(o[k]) || o[k] < 0) throw new AdvpropError('ERR_ARG', `${op}: samples.${k} must be a non-negative integer, got ${describeValue(o[k])}`);
  if (o.segment === 0 || o.base + o.segment > o.stride)
    throw new AdvpropError('ERR_ARG', `${op}: samples {segment ${o.segment}, stride ${o.stride}, base ${o.base}} must have 0 < segment and base + segment <= stride`);
  return o;
}

/** The native form of a map ([segment, stride, base]), undefined for the identity. */
export function nativeSampleMap(m: SampleMap | undefined): [number, number, number] | undefined {
  return m === undefined ? undefined : [m.segment, m.stride, m.base];
}
