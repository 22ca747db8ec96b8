// Every fuzz entry, and the check that every public function and class of lib/index.ts has one.
import * as ap from '../../lib/index.js';
import { entry, type Entry } from './entry.js';
import { tensorEntries } from './entries/tensors.js';
import { opEntries } from './entries/ops.js';
import { kernelEntries } from './entries/kernels.js';
import { nnEntries } from './entries/nn.js';
import { ioEntries } from './entries/io_optim.js';
import { trainEntries } from './entries/train.js';
import { dataEntries } from './entries/data.js';
import { cliEntries } from './entries/cli.js';
import { distEntries } from './entries/dist.js';

export const ENTRIES: readonly Entry[] = [
  ...tensorEntries, ...opEntries, ...kernelEntries, ...nnEntries, ...ioEntries, ...trainEntries, ...dataEntries, ...cliEntries, ...distEntries,
];

/** Public exports the harness does not call, each with the reason (reviewed; keep it short). */
export const EXEMPT: Readonly<Record<string, string>> = {
  'nn.Module': 'abstract: its methods are fuzzed through concrete modules (nn.Module#...)',
  'autograd.Node': 'the tape node that autograd.record() makes; callers never construct one',
  'cudaGraph.CudaGraph': 'made only by cudaGraph.capture, whose entry replays and disposes it',
  'nn.DualBatchNorm2d': 'the deprecated name of nn.MultiBatchNorm2d, the same class, fuzzed under that name',
};

/** Entries that misbehave on purpose, so the harness's own detection can be tested. */
export const SELF_TEST_ENTRIES: readonly Entry[] = [
  entry('selftest.ok', () => () => 1),
  entry('selftest.coded', () => () => { throw new ap.AdvpropError('ERR_ARG', 'refused'); }),
  entry('selftest.untyped', () => () => { throw new TypeError('not coded'); }),
  entry('selftest.abort', () => () => process.abort()),
  entry('selftest.hang', () => () => { for (;;); }, { timeoutMs: 1000 }),
  entry('selftest.late', () => () => { void Promise.reject(new RangeError('after the call')); }),
];

export function entryByName(name: string): Entry {
  const e = ENTRIES.find((x) => x.name === name) ?? SELF_TEST_ENTRIES.find((x) => x.name === name);
  if (!e) throw new Error(`fuzz: no entry named ${name}`);
  return e;
}

/** Dotted paths of every function and class exported by lib/index.ts, namespaces included. */
export function publicFunctions(root: object = ap): string[] {
  const out: string[] = [];
  const walk = (o: object, prefix: string): void => {
    for (const key of Object.keys(o)) {
      const v = (o as Record<string, unknown>)[key];
      const path = prefix ? `${prefix}.${key}` : key;
      // Namespaces (export * as x) are null-prototype module objects under ESM and plain objects
      // when tsx compiles to CommonJS (as under mocha); plain data exports hold no functions.
      if (typeof v === 'function') out.push(path);
      else if (v !== null && typeof v === 'object' && !Array.isArray(v) && [null, Object.prototype].includes(Object.getPrototypeOf(v))) walk(v, path);
    }
  };
  walk(root, '');
  return out.sort();
}

/** Exports with neither an entry (by name, or a '#method' of it) nor an exemption. */
export function uncoveredExports(): string[] {
  const names = ENTRIES.map((e) => e.name);
  return publicFunctions().filter((p) => !(p in EXEMPT) && !names.some((n) => n === p || n.startsWith(`${p}#`)));
}
