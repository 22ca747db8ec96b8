// Every family's entries, in the order the suite reports them.
import type { AnyEntry } from './table.js';
import { BATCH_NORM_ENTRIES } from './batch_norm.js';
import { CREATION_ENTRIES } from './creation.js';
import { DROPOUT_ATTACK_ENTRIES } from './dropout_attack.js';
import { ELEMENTWISE_ENTRIES } from './elementwise.js';
import { IMAGE_ENTRIES } from './image.js';
import { LINEAR_CONV_ENTRIES } from './linear_conv.js';
import { LOSS_ENTRIES } from './loss.js';
import { OPTIM_ENTRIES } from './optim.js';
import { POOL_ENTRIES } from './pool.js';
import { REDUCE_SHAPE_ENTRIES } from './reduce_shape.js';

export const TABLE: readonly AnyEntry[] = [
  ...CREATION_ENTRIES,
  ...ELEMENTWISE_ENTRIES,
  ...REDUCE_SHAPE_ENTRIES,
  ...LINEAR_CONV_ENTRIES,
  ...POOL_ENTRIES,
  ...LOSS_ENTRIES,
  ...DROPOUT_ATTACK_ENTRIES,
  ...BATCH_NORM_ENTRIES,
  ...OPTIM_ENTRIES,
  ...IMAGE_ENTRIES,
];
