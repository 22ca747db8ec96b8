// Regression tests for the defects of issue 13 (bad arguments) and those the fuzz harness found:
// each call must throw a coded AdvpropError naming the op and the argument. Calls that used to
// kill the process, exhaust the heap or block run in a child process with a time limit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ap from '../lib/index.js';
import { availableDevices } from '../lib/testing/backends.js';
import { expectCode, expectCodeAsync } from './helpers.js';

const any = <T>(v: unknown): T => v as T;
const TINY: ap.models.BuildOptions = {
  stages: [{ repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 8, outFilters: 8, seRatio: 0.25 }],
  stemFilters: 8, headFilters: 16, width: 1, depth: 1, numClasses: 3, inChannels: 1, device: 'cpu', seed: 1,
};

/**
 * Runs `body` (TypeScript, with `ap` imported) in a child process whose stdin stays open, and
 * returns how it ended: its stdout, its exit code or signal, or 'timeout'.
 */
function isolated(body: string, timeoutMs = 30_000): Promise<{ out: string; end: string }> {
  const code = `import * as ap from ${JSON.stringify(join(process.cwd(), 'lib/index.ts'))};\n${body}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--max-old-space-size=512', '--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', () => undefined);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ out, end: timedOut ? 'timeout' : signal ?? `exit ${status}` });
    });
  });
}

/** A child that prints the code of what `call` throws (or 'returned'). */
const codeOf = (call: string): string =>
  `try { const r = ${call}; if (r instanceof Promise) await r; console.log('returned'); } catch (e) { console.log(e instanceof ap.AdvpropError ? e.code : 'untyped ' + e); }`;

describe('bad input: calls that killed, exhausted or blocked the process', function () {
  this.timeout(120_000);
  const cases: [string, string][] = [
    ["efficientnet('b0', { inChannels: 2 ** 31 })", "ap.models.efficientnet('b0', { inChannels: 2 ** 31 })"],
    ["efficientnet('b0', { depth: 2 ** 31 })", "ap.models.efficientnet('b0', { depth: 2 ** 31 })"],
    ['io.loadSafetensors(0) (a number is not a path, not stdin)', 'ap.io.loadSafetensors(0)'],
    ['train.evaluateModel with batchSize 0', "ap.train.evaluateModel(ap.models.efficientnet('b0', { width: 0.1, depth: 0.1, numClasses: 10, inChannels: 1 }), ap.data.openDataset(ap.data.bundledDataDir(), 'test'), { batchSize: 0 })"],
    ['report.niceTicks with a huge tick count', 'ap.report.niceTicks(0, 1, 2 ** 31)'],
    ['io.oihwToOhwi with a huge shape', 'ap.io.oihwToOhwi(new Float32Array(4), [2 ** 20, 2 ** 20, 2 ** 20, 1])'],
  ];
  for (const [title, call] of cases) {
    it(`${title}: ERR_ARG or ERR_SHAPE, in a process that lives on`, async () => {
      const r = await isolated(codeOf(call));
      assert.equal(r.end, 'exit 0', `ended with ${r.end}: ${r.out}`);
      assert.match(r.out.trim(), /^ERR_(ARG|SHAPE)$/);
    });
  }
});

describe('bad input: null, missing and wrong-type arguments are ERR_ARG, not TypeError', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'advprop-bad-input-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('tensors, ops and the RNG', () => {
    ap.tidy(() => {
      const x = ap.rand([1, 4, 4, 2], { seed: 1 }), w = ap.rand([3, 3, 3, 2], { seed: 2 });
      expectCode(() => ap.zerosLike(any(null)), 'ERR_ARG', /zerosLike: argument 't'/);
      expectCode(() => ap.onesLike(any(undefined)), 'ERR_ARG', /onesLike/);
      expectCode(() => ap.conv2d(x, w, any(null)), 'ERR_ARG', /conv2d: options must be an object, got null/);
      expectCode(() => ap.setRngState(any(null)), 'ERR_ARG', /setRngState/);
      expectCode(() => ap.noGrad(any(null)), 'ERR_ARG', /noGrad: fn must be a function/);
      expectCode(() => ap.grad(() => ap.sum(x), [x], any(null)), 'ERR_ARG', /grad: options/);
      expectCode(() => ap.ones([any(Object.create(null))]), 'ERR_SHAPE', /invalid size object/);
      expectCode(() => ap.rand([2], { seed: any(Symbol('s')) }), 'ERR_ARG', /seed/);
      expectCode(() => ap.autograd.record(ap.zeros([1]), 'custom', [x], [], any(null)), 'ERR_ARG', /rule must be a function/);
      expectCode(() => ap.autograd.recordingNeeds([any(null)]), 'ERR_ARG', /inputs\[0\]/);
    });
  });

  it('modules, models and optimizers', () => {
    const m = ap.models.efficientnet('b0', TINY);
    const opt = new ap.optim.SGD(m.parameters(), { lr: 0.1 });
    try {
      expectCode(() => new ap.nn.Sequential(any(null)), 'ERR_ARG', /Sequential: layers/);
      expectCode(() => opt.loadStateDict(any(null)), 'ERR_ARG', /SGD.loadStateDict: 'stateDict'/);
      expectCode(() => new ap.optim.ExponentialMovingAverage([ap.zeros([1])]).loadStateDict(any(null)), 'ERR_ARG', /stateDict/);
      expectCode(() => ap.tidy(() => m.forward(ap.zeros([1, 8, 8, 1]), any(null))), 'ERR_ARG', /EfficientNet.forward: options/);
      expectCode(() => ap.models.countParameters(any({ blocks: null })), 'ERR_ARG', /config/);
      expectCode(() => new ap.nn.MBConvBlock(any({ inChannels: Symbol('c'), outChannels: 4, kernel: 3, stride: 1, expand: 1, seChannels: 0 })), 'ERR_ARG', /inChannels/);
      expectCode(() => ap.models.summary(m, any({ inputShape: 7, print: false })), 'ERR_SHAPE', /inputShape/);
    } finally {
      opt.dispose();
      m.dispose();
    }
  });

  it('io: paths must be strings, tensors and options objects', () => {
    const m = ap.models.efficientnet('b0', TINY);
    const file = join(tmp, 'm.safetensors');
    try {
      ap.io.saveModel(file, m);
      expectCode(() => ap.io.loadSafetensors(file, any(null)), 'ERR_ARG', /loadSafetensors: options/);
      expectCode(() => ap.io.saveSafetensors(join(tmp, 'x.safetensors'), any(null)), 'ERR_ARG', /saveSafetensors: 'tensors'/);
      expectCode(() => ap.io.saveModel(file, any(null)), 'ERR_ARG', /saveModel: 'model'/);
      expectCode(() => ap.io.loadModel(any(1), m), 'ERR_ARG', /loadModel: 'file'/);
      expectCode(() => ap.io.saveSafetensors(join(tmp, 'y.safetensors'), { a: ap.zeros([1]) }, any({ metadata: 'x' })), 'ERR_ARG', /metadata/);
    } finally {
      m.dispose();
    }
  });

  it('train: the Trainer, its step, trainRun and the attacks', async () => {
    const m = ap.models.efficientnet('b0', TINY);
    const trainer = new ap.train.Trainer(m, { epochs: 1, stepsPerEpoch: 1 });
    const x = ap.rand([2, 8, 8, 1], { seed: 3 });
    try {
      expectCode(() => new ap.train.Trainer(any(null)), 'ERR_ARG', /Trainer: 'model' must be an nn.Module/);
      expectCode(() => any<{ step(): unknown }>(trainer).step(), 'ERR_ARG', /Trainer.step: 'input'/);
      expectCode(() => trainer.step(any({ x: null, y: Int32Array.from([0, 1]) })), 'ERR_ARG', /Trainer.step: x must be/);
      expectCode(() => trainer.step(any({ x, y: null })), 'ERR_ARG', /Trainer.step: y must be/);
      await expectCodeAsync(() => ap.train.trainRun(any(null)), 'ERR_ARG');
      expectCode(() => ap.attack.fgsm(any(null), x, [0, 1], { epsilon: 1 }), 'ERR_ARG', /fgsm: model/);
      expectCode(() => ap.attack.pgd(m, x, [0, 1], any(null)), 'ERR_ARG', /pgd: 'options'/);
      expectCode(() => ap.train.decayMask(any({})), 'ERR_ARG', /decayMask/);
      expectCode(() => ap.train.saveCheckpoint(join(tmp, 'c.safetensors'), trainer, { epoch: 0, batch: 0 }, { big: 1n }), 'ERR_ARG', /JSON/);
    } finally {
      x.dispose();
      trainer.dispose();
      m.dispose();
    }
  });

  it('data, evaluation and report helpers', () => {
    const img = { data: new Uint8Array(12), height: 2, width: 2, channels: 3 };
    expectCode(() => ap.data.hasIdxDataset(any(null)), 'ERR_ARG', /hasIdxDataset: 'dir'/);
    expectCode(() => ap.data.resize(img, 2 ** 20, 2 ** 20), 'ERR_ARG', /resize/);
    expectCode(() => ap.data.crop(img, 0, 0, 2 ** 31, 1), 'ERR_ARG', /crop/);
    expectCode(() => ap.data.hflip(any(null)), 'ERR_ARG', /hflip: 'img'/);
    expectCode(() => ap.data.permutation(2 ** 40, new ap.data.Rng(1)), 'ERR_ARG', /permutation/);
    expectCode(() => ap.data.permutation(4, any({ int: 1 })), 'ERR_ARG', /rng must be/);
    expectCode(() => ap.evaluation.corrupt(new Float32Array(4), [1, 2, 2, 1], any(Symbol('c')), 1), 'ERR_ARG', /unknown corruption/);
    expectCode(() => new ap.report.Progress(any({ total: 3, stream: {} })), 'ERR_ARG', /stream/);
  });
});

describe('bad input: values that were accepted silently', () => {
  it('zerosLike of a disposed tensor is ERR_DISPOSED', () => {
    const t = ap.zeros([2]);
    t.dispose();
    expectCode(() => ap.zerosLike(t), 'ERR_DISPOSED', /zerosLike/);
    expectCode(() => ap.onesLike(t), 'ERR_DISPOSED', /onesLike/);
  });

  it("full() with dtype 'i32' refuses values that are not int32, as tensor() does", () => {
    for (const v of [NaN, 1e20, -1e20, 2.5, Infinity, 2 ** 31]) expectCode(() => ap.full([3], v, { dtype: 'i32' }), 'ERR_ARG', /full: value .* is not an int32/);
    assert.deepEqual(Array.from(ap.tidy(() => ap.full([2], -7, { dtype: 'i32' }).toArray())), [-7, -7]);
  });

  it('options given as a string or a number are ERR_ARG, not the defaults', () => {
    ap.tidy(() => {
      const x = ap.rand([1, 4, 4, 2], { seed: 1 }), w = ap.rand([3, 3, 3, 2], { seed: 2 });
      expectCode(() => ap.conv2d(x, w, any('valid')), 'ERR_ARG', /conv2d: options/);
      expectCode(() => ap.dropout(x, 0, any('seed')), 'ERR_ARG', /dropout: options/);
      expectCode(() => ap.crossEntropy(ap.zeros([2, 3]), [0, 1], any(3)), 'ERR_ARG', /crossEntropy: options/);
      expectCode(() => ap.models.efficientnet('b0', any('small')), 'ERR_ARG', /efficientnet: options/);
      expectCode(() => ap.kernels.multiBatchNorm(x, any(null), [[0, 1]], any('eval')), 'ERR_ARG', /options/);
      expectCode(() => new ap.nn.Linear(2, 3, any(5)), 'ERR_ARG', /Linear: options/);
      expectCode(() => ap.io.loadSafetensors('x.safetensors', any('oihw')), 'ERR_ARG', /loadSafetensors: options/);
    });
  });

  it("data.openDataset(dir, 'bogus') is ERR_ARG, not the test split", () => {
    expectCode(() => ap.data.openDataset(ap.data.bundledDataDir(), any('bogus')), 'ERR_ARG', /'split' must be one of 'train', 'test', got 'bogus'/);
  });

  it("a Trainer with schedule 'bogus', NaN epochs or other bad options is ERR_ARG", () => {
    const m = ap.models.efficientnet('b0', TINY);
    try {
      for (const [opts, re] of [
        [{ schedule: 'bogus' }, /'schedule' must be one of/], [{ epochs: NaN }, /'epochs'/], [{ stepsPerEpoch: 1.5 }, /'stepsPerEpoch'/],
        [{ epsilon: 1e9 }, /'epsilon'/], [{ attackSteps: 2 ** 31 }, /'attackSteps'/], [{ attackNorm: 'l1' }, /'attackNorm'/], [{ lr: -1 }, /'lr'/],
      ] as const) expectCode(() => new ap.train.Trainer(m, any(opts)), 'ERR_ARG', re);
    } finally {
      m.dispose();
    }
  });

  it('multiBatchNorm in train mode refuses running statistics that share memory', () => {
    ap.tidy(() => {
      const x = ap.rand([2, 2, 2, 3], { seed: 4 });
      const gamma = ap.ones([2, 3]), beta = ap.zeros([2, 3]), rm = ap.zeros([2, 3]), rv = ap.ones([2, 3]);
      expectCode(() => ap.multiBatchNorm(x, { gamma, beta, runningMean: rm, runningVar: rm }, [[0, 2]]), 'ERR_ARG', /'runningMean' \[2, 3\] shares memory with 'runningVar'/);
      expectCode(() => ap.multiBatchNorm(x, { gamma, beta, runningMean: rm, runningVar: rm.detach() }, [[0, 2]]), 'ERR_ARG', /shares memory/);
      expectCode(() => ap.multiBatchNorm(x, { gamma, beta, runningMean: gamma, runningVar: rv }, [[0, 2]]), 'ERR_ARG', /'runningMean' .* shares memory with 'gamma'/);
      // Modes that do not write the running statistics may read one tensor twice.
      assert.deepEqual(ap.multiBatchNorm(x, { gamma, beta, runningMean: rv, runningVar: rv }, [[0, 2]], { mode: 'eval' }).shape, [2, 2, 2, 3]);
    });
  });

  it('crossEntropy with labels on another device is ERR_DEVICE', function () {
    const other = availableDevices().find((d) => d !== 'cpu');
    if (!other) this.skip();
    ap.tidy(() => {
      const z = ap.zeros([2, 3], { device: 'cpu' });
      expectCode(() => ap.crossEntropy(z, ap.tensor(Int32Array.from([0, 1]), [2], { device: other })), 'ERR_DEVICE', /labels are on cuda-sim:0 but logits \[2, 3\] are on cpu/);
    });
  });

  it('io.oihwToOhwi with data shorter than its shape is ERR_SHAPE, not NaN', () => {
    expectCode(() => ap.io.oihwToOhwi(new Float32Array(3), [2, 3, 3, 3]), 'ERR_SHAPE', /54 elements but data has 3/);
    expectCode(() => ap.io.ohwiToOihw(new Float32Array(60), [2, 3, 3, 3]), 'ERR_SHAPE', /54 elements but data has 60/);
  });

  it('every size option is bounded: refused with ERR_ARG before anything is allocated', () => {
    const before = ap.memory().numTensors;
    for (const [call, re] of [
      [() => ap.models.efficientnet('b0', { numClasses: 2 ** 31 }), /'numClasses'/],
      [() => ap.models.efficientnet('b0', { width: 1e6 }), /'width'/],
      [() => ap.models.efficientnet('b0', { stemFilters: 2 ** 20, width: 2 }), /stemFilters .* channels/],
      [() => ap.models.efficientnet('b0', { numClasses: 2 ** 20, headFilters: 2 ** 20 }), /parameter and buffer elements/],
      [() => new ap.nn.Linear(2 ** 31, 1), /inFeatures/],
      [() => new ap.nn.Linear(2 ** 20, 2 ** 20), /weight .* elements/],
      [() => new ap.nn.Conv2d(3, 3, 2 ** 20), /kernel/],
      [() => new ap.nn.DualBatchNorm2d(4, { domains: 2 ** 31 }), /domains/],
      [() => ap.train.checkTrainConfig({ ...ap.train.TRAIN_DEFAULTS, batchSize: 2 ** 31 }), /--batch-size/],
      [() => ap.train.checkTrainConfig({ ...ap.train.TRAIN_DEFAULTS, workers: 1e9 }), /--workers/],
      [() => ap.train.checkTrainConfig({ ...ap.train.TRAIN_DEFAULTS, prefetch: 1e9 }), /--prefetch/],
      [() => ap.attack.defaultSteps(1e9), /epsilon/],
    ] as const) expectCode(call, 'ERR_ARG', re);
    assert.equal(ap.memory().numTensors, before, 'a refused size allocated a tensor');
  });
});

describe('bad input: failed calls leave no tensor behind', () => {
  it('a failing PGD iteration frees its iterate; a failing Trainer.step frees its input copy', () => {
    const m = ap.models.efficientnet('b0', TINY);
    const trainer = new ap.train.Trainer(m, { epochs: 1, stepsPerEpoch: 1 });
    const wrong = ap.rand([2, 8, 8, 2], { seed: 5 });
    try {
      const before = ap.memory().numTensors;
      expectCode(() => ap.attack.pgd(m, wrong, [0, 1], { epsilon: 2, randomStart: true }), 'ERR_SHAPE');
      expectCode(() => trainer.step({ x: new Float32Array(2 * 64), shape: [2, 8, 8, 1], y: Int32Array.from([0, 1, 2]) }), 'ERR_SHAPE', /3 labels/);
      assert.equal(ap.memory().numTensors, before);
    } finally {
      wrong.dispose();
      trainer.dispose();
      m.dispose();
    }
  });

  it("a DualBatchNorm2d's state dict leaves no row views alive", () => {
    const bn = new ap.nn.DualBatchNorm2d(3, { domains: 2 });
    const before = ap.memory().numTensors;
    ap.dispose(bn.stateDict());
    assert.equal(ap.memory().numTensors, before);
    bn.dispose();
  });
});
