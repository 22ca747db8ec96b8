// The training methods compared in the AdvProp paper, and how each one lays out its batch.
import { AdvpropError } from '../errors.js';
import { showValue } from '../device.js';
import { oneOfArg } from '../args.js';

export type Method = 'advprop' | 'vanilla' | 'madry' | 'mixed-single-bn' | 'adv-finetune';
export const METHODS: readonly Method[] = ['advprop', 'vanilla', 'madry', 'mixed-single-bn', 'adv-finetune'];

/** What one step does: which images go in, and through which BN domain. */
export interface StepPlan {
  clean: boolean; // the clean images are trained on
  adversarial: boolean; // adversarial images are made and trained on
  /** BN domain of the adversarial images (and of the attack): 1 for AdvProp's auxiliary BN, else 0. */
  advDomain: number;
}

/** The plan of `method` at fractional epoch `epoch`; adv-finetune switches at `finetuneEpoch`. */
export function stepPlan(method: Method, epoch: number, finetuneEpoch: number): StepPlan {
  if (typeof epoch !== 'number' || !(epoch >= 0) || typeof finetuneEpoch !== 'number' || Number.isNaN(finetuneEpoch))
    throw new AdvpropError('ERR_ARG', `stepPlan: epoch and finetuneEpoch must be numbers (epoch >= 0), got ${showValue(epoch)} and ${showValue(finetuneEpoch)}`);
  switch (method) {
    case 'advprop': return { clean: true, adversarial: true, advDomain: 1 };
    case 'vanilla': return { clean: true, adversarial: false, advDomain: 0 };
    case 'madry': return { clean: false, adversarial: true, advDomain: 0 };
    case 'mixed-single-bn': return { clean: true, adversarial: true, advDomain: 0 };
    case 'adv-finetune':
      return epoch < finetuneEpoch ? { clean: false, adversarial: true, advDomain: 0 } : { clean: true, adversarial: false, advDomain: 0 };
    default:
      throw new AdvpropError('ERR_ARG', `unknown method ${showValue(method)} (${METHODS.join(', ')})`);
  }
}

/** BN domains a method needs: AdvProp keeps an auxiliary BN, the others one. */
export function domainsFor(method: Method): number {
  oneOfArg(method, 'domainsFor', 'method', METHODS);
  return method === 'advprop' ? 2 : 1;
}
