// Every family's entries, in the order the suite reports them.
import type { AnyEntry } from './table.js';
import { ELEMENTWISE_ENTRIES } from './elementwise.js';

export const TABLE: readonly AnyEntry[] = [
  ...ELEMENTWISE_ENTRIES,
];
