// Test helper shared by the loader tests: one epoch's batches, the loader closed afterwards.
import type * as data from '../../lib/data/index.js';

/** Every batch of one epoch; closes the loader, also when the epoch throws. */
export async function collect(loader: data.DataLoader, epoch: number): Promise<data.Batch[]> {
  const out: data.Batch[] = [];
  try {
    for await (const b of loader.epoch(epoch)) out.push(b);
  } finally {
    loader.close();
  }
  return out;
}
