// Every fuzz entry, and the check that every public function and class of lib/index.ts has one.
import * as ap from '../../lib/index.js';
import type { Entry } from './entry.js';
import { tensorEntries } from './entries/tensors.js';
import { opEntries } from './entries/ops.js';
import { kernelEntries } from './entries/kernels.js';
import { nnEntries } from './entries/nn.js';
import { ioEntries } from './entries/io_optim.js';
import { trainEntries } from './entries/train.js';
import { dataEntries } from './entries/data.js';
import { cliEntries } from './entries/cli.js';

export const ENTRIES: readonly Entry[] = [
  ...tensorEntries, ...opEntries, ...kernelEntries, ...nnEntries, ...ioEntries, ...trainEntries, ...dataEntries, ...cliEntries,
];

/** Public exports the harness does not call, each with the reason (reviewed; keep it short). */
export const EXEMPT: Readonly<Record<string, string>> = {
  'nn.Module': 'abstract: its methods are fuzzed through concrete modules (nn.Module#...)',
  'autograd.Node': 'the tape node that autograd.record() makes; callers never construct one',
};

export function entryByName(name: string): Entry {
  const e = ENTRIES.find((x) => x.name === name);
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
      // Namespace objects (export * as x) have a null prototype; plain data exports are skipped.
      if (typeof v === 'function') out.push(path);
      else if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === null) walk(v, path);
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
