import { strict as assert } from 'node:assert';
import { learningRate, scaledLr, warmupEpochs } from '../../lib/train/schedule.js';
import { stepPlan, domainsFor } from '../../lib/train/methods.js';

describe('train: learning-rate schedules and method plans', () => {
  it('scales 0.016 per 256 images with the batch', () => {
    assert.equal(scaledLr(256), 0.016);
    assert.equal(scaledLr(64), 0.004);
    assert.equal(scaledLr(2048), 0.128);
  });

  it('warms up linearly, never for more than a fifth of the run, then decays ×0.97 every 2.4 epochs', () => {
    const long = { baseLr: 0.1, epochs: 350 };
    assert.equal(warmupEpochs(long), 5);
    assert.equal(learningRate(long, 0), 0);
    assert.ok(Math.abs(learningRate(long, 2.5) - 0.05) < 1e-15);
    // TF counts the decay from step 0, so the warm-up's epochs count towards the staircase.
    assert.equal(learningRate(long, 5), 0.1 * 0.97 ** 2);
    assert.equal(learningRate(long, 4.99), (0.1 * 4.99) / 5);
    assert.equal(learningRate(long, 7.19), 0.1 * 0.97 ** 2); // floor(7.19 / 2.4) = 2
    assert.equal(learningRate(long, 7.2), 0.1 * 0.97 ** 3);
    const short = { baseLr: 0.1, epochs: 2 };
    assert.equal(warmupEpochs(short), 0.4);
    assert.ok(Math.abs(learningRate(short, 0.2) - 0.05) < 1e-15);
    assert.equal(learningRate(short, 0.4), 0.1);
  });

  it('cosine goes from the peak after warm-up to the floor at the end', () => {
    const o = { baseLr: 1, epochs: 10, schedule: 'cosine' as const, warmupEpochs: 0, minLr: 0.1 };
    assert.equal(learningRate(o, 0), 1);
    assert.ok(Math.abs(learningRate(o, 5) - 0.55) < 1e-12);
    assert.ok(Math.abs(learningRate(o, 10) - 0.1) < 1e-12);
  });

  it('rejects nonsense', () => {
    assert.throws(() => learningRate({ baseLr: -1, epochs: 1 }, 0), (e: any) => e.code === 'ERR_ARG');
    assert.throws(() => learningRate({ baseLr: 1, epochs: 1, schedule: 'step' as any }, 0.5), (e: any) => e.code === 'ERR_ARG');
  });

  it('plans each method: AdvProp attacks through the auxiliary BN, the baselines through the main one', () => {
    assert.deepEqual(stepPlan('advprop', 0, 1), { clean: true, adversarial: true, advDomain: 1 });
    assert.deepEqual(stepPlan('vanilla', 0, 1), { clean: true, adversarial: false, advDomain: 0 });
    assert.deepEqual(stepPlan('madry', 0, 1), { clean: false, adversarial: true, advDomain: 0 });
    assert.deepEqual(stepPlan('mixed-single-bn', 0, 1), { clean: true, adversarial: true, advDomain: 0 });
    assert.equal(stepPlan('adv-finetune', 0.9, 1).adversarial, true);
    assert.equal(stepPlan('adv-finetune', 1, 1).adversarial, false);
    assert.equal(domainsFor('advprop'), 2);
    assert.equal(domainsFor('madry'), 1);
    assert.throws(() => stepPlan('fancy' as any, 0, 1), (e: any) => e.code === 'ERR_ARG');
  });
});
