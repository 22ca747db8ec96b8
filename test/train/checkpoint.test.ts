// Checkpoints that cannot resume wrong: the metadata is checked against its schema, every tensor
// against the trainer's names, dtypes and shapes, and the file against its checksums. Each damaged
// file is re-checksummed (test/io/raw_safetensors.ts) so the check behind the checksum is reached.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ap from '../../lib/index.js';
import { loadCheckpoint, readCheckpointMeta, saveCheckpoint } from '../../lib/train/checkpoint.js';
import { Trainer } from '../../lib/train/trainer.js';
import { expectCode } from '../helpers.js';
import { CRC_KEY, editMeta, rewrite, type RawFile } from '../io/raw_safetensors.js';

const STAGES: ap.models.StageArgs[] = [{ repeats: 1, kernel: 3, stride: 2, expand: 2, inFilters: 8, outFilters: 8, seRatio: 0.25 }];
const model = (): ap.models.EfficientNet => ap.models.efficientnet('b0', {
  width: 1, depth: 1, stages: STAGES, stemFilters: 8, headFilters: 8, numClasses: 3, inChannels: 1, domains: 2,
  dropout: 0, dropConnect: 0, seed: 5, device: 'cpu',
});
const trainer = (): Trainer => new Trainer(model(), { lr: 0.01, ema: 0.9, epochs: 2, stepsPerEpoch: 4 });

function step(t: Trainer): void {
  const x = Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => ((i * 37) % 101) / 101);
  t.step({ x, shape: [4, 8, 8, 1], y: Int32Array.from([0, 1, 2, 0]) });
}

let dir = '';
let good = '';
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advprop-ckpt-'));
  good = path.join(dir, 'good.safetensors');
  ap.manualSeed(3);
  const t = trainer();
  step(t);
  saveCheckpoint(good, t, { epoch: 0, batch: 1 }, { epochs: 2, stepsPerEpoch: 4 });
  t.dispose();
});
after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

let n = 0;
const damaged = (edit: (f: RawFile) => void): string => rewrite(good, path.join(dir, `bad-${n++}.safetensors`), edit);

/** loadCheckpoint into a fresh trainer must fail with ERR_FORMAT naming the file and `part`. */
function refused(file: string, part: string): void {
  const t = trainer();
  try {
    const e = expectCode(() => loadCheckpoint(file, t), 'ERR_FORMAT', part);
    assert.ok(e.message.includes(file), e.message);
  } finally {
    t.dispose();
  }
}

describe('train: checkpoints that cannot resume wrong', () => {
  it('a checkpoint re-checksummed without an edit loads and restores step and place', () => {
    const t = trainer();
    try {
      const meta = loadCheckpoint(damaged(() => undefined), t);
      assert.deepEqual([meta.step, meta.epoch, meta.batch, t.stepCount], [1, 0, 1, 1]);
      step(t); // and trains on
    } finally {
      t.dispose();
    }
  });

  it('every rank\'s random-number state: each rank of a job of that size takes its own, others rank 0\'s', () => {
    const t = trainer();
    try {
      // Written by a (pretend) job of one: this world's size, so rank 0 takes its entry.
      const one = path.join(dir, 'rank-rng.safetensors');
      saveCheckpoint(one, t, { epoch: 0, batch: 1 }, { epochs: 2, stepsPerEpoch: 4 }, [{ seed: 11n, offset: 12n }]);
      assert.deepEqual(readCheckpointMeta(one).rankRng, [{ seed: '11', offset: '12' }]);
      loadCheckpoint(one, t);
      assert.deepEqual(ap.getRngState(), { seed: 11n, offset: 12n });
      // Written by 2 ranks and read by a world of one: rank 0's state, `rng`.
      const two = damaged((raw) => editMeta(raw, (m) => { m.rankRng = [m.rng, { seed: '7', offset: '99' }]; }));
      const meta = loadCheckpoint(two, t);
      assert.equal(meta.rankRng?.length, 2);
      assert.deepEqual(ap.getRngState(), { seed: BigInt(meta.rng.seed), offset: BigInt(meta.rng.offset) });
    } finally {
      t.dispose();
    }
  });

  describe('metadata that breaks the schema is ERR_FORMAT naming the file and the field', () => {
    const cases: [string, (m: Record<string, any>) => void, string][] = [
      ['missing rng', (m) => { delete m.rng; }, "'rng'"],
      ['rng.seed "xyz"', (m) => { m.rng.seed = 'xyz'; }, "'rng.seed'"],
      ['rng.seed a number', (m) => { m.rng.seed = 3; }, "'rng.seed'"],
      ['rng.offset beyond 64 bits', (m) => { m.rng.offset = '18446744073709551616'; }, "'rng.offset'"],
      ['rng.offset negative', (m) => { m.rng.offset = '-1'; }, "'rng.offset'"],
      ['epoch 1e9, beyond the run', (m) => { m.epoch = 1e9; }, "'epoch'"],
      ['epoch 2 (the end) with batch 1', (m) => { m.epoch = 2; m.batch = 1; }, "'batch'"],
      ['batch -3', (m) => { m.batch = -3; }, "'batch'"],
      ['batch 2.5', (m) => { m.batch = 2.5; }, "'batch'"],
      ['batch 4 of 4 steps per epoch', (m) => { m.batch = 4; }, "'batch'"],
      ['step "1"', (m) => { m.step = '1'; }, "'step'"],
      ['step -1', (m) => { m.step = -1; }, "'step'"],
      ['missing epoch', (m) => { delete m.epoch; }, "'epoch'"],
      ['version 99', (m) => { m.version = 99; }, "'version'"],
      ['config an array', (m) => { m.config = [1]; }, "'config'"],
      ['config.epochs not a positive integer', (m) => { m.config.epochs = 'two'; }, "'config.epochs'"],
      ['config.stepsPerEpoch 0', (m) => { m.config.stepsPerEpoch = 0; }, "'config.stepsPerEpoch'"],
      ['rankRng not an array', (m) => { m.rankRng = m.rng; }, "'rankRng'"],
      ['rankRng empty', (m) => { m.rankRng = []; }, "'rankRng'"],
      ['rankRng[1].seed "x"', (m) => { m.rankRng = [m.rng, { seed: 'x', offset: '0' }]; }, "'rankRng[1].seed'"],
    ];
    for (const [title, edit, part] of cases)
      it(title, () => {
        const f = damaged((raw) => editMeta(raw, edit));
        const e = expectCode(() => readCheckpointMeta(f), 'ERR_FORMAT', part);
        assert.ok(e.message.includes(f), e.message);
        refused(f, part);
      });

    it('the metadata entry missing or not JSON', () => {
      refused(damaged((raw) => { delete raw.metadata!.advprop; }), 'not an advprop checkpoint');
      refused(damaged((raw) => { raw.metadata!.advprop = '{"step":'; }), 'metadata');
    });
  });

  describe('tensors are checked for names, dtypes and shapes like the trainer\'s', () => {
    const relabel = (name: string, dtype: string) => (f: RawFile): void => { f.entries.find((e) => e.name === name)!.dtype = dtype; };
    const cases: [string, (f: RawFile) => void, string][] = [
      ['optimizer state relabelled I32', relabel('optim.ms.0', 'I32'), "'optim.ms.0'"],
      ['EMA state relabelled I32', relabel('ema.ema.3', 'I32'), "'ema.ema.3'"],
      ['a model weight relabelled I32', relabel('model.conv_stem.weight', 'I32'), "'model.conv_stem.weight'"],
      ['the EMA counter relabelled F32', relabel('ema.numUpdates', 'F32'), "'ema.numUpdates'"],
      ['optimizer state missing', (f) => { f.entries = f.entries.filter((e) => e.name !== 'optim.mom.2'); }, "'optim.mom.2'"],
      ['EMA counter missing', (f) => { f.entries = f.entries.filter((e) => e.name !== 'ema.numUpdates'); }, "'ema.numUpdates'"],
      ['a model tensor missing', (f) => { f.entries = f.entries.filter((e) => e.name !== 'model.bn1.aux1.weight'); }, "'model.bn1.aux1.weight'"],
      ['an unexpected tensor', (f) => { f.entries.push({ name: 'optim.extra', dtype: 'F32', shape: [1], bytes: Buffer.alloc(4) }); }, "'optim.extra'"],
      ['a tensor named model.__proto__', (f) => { f.entries.push({ name: 'model.__proto__', dtype: 'F32', shape: [1], bytes: Buffer.alloc(4) }); }, "'model.__proto__'"],
      ['a tensor named optim.constructor', (f) => { f.entries.push({ name: 'optim.constructor', dtype: 'F32', shape: [1], bytes: Buffer.alloc(4) }); }, "'optim.constructor'"],
      ['optimizer state of another shape', (f) => { const e = f.entries.find((x) => x.name === 'optim.ms.0')!; e.shape = [e.bytes.length / 4]; }, "'optim.ms.0'"],
      ['an F64 model tensor', (f) => { const e = f.entries.find((x) => x.name === 'model.bn1.weight')!; e.dtype = 'F64'; e.shape = [e.shape[0]! / 2]; }, "'model.bn1.weight'"],
    ];
    for (const [title, edit, part] of cases) it(title, () => refused(damaged(edit), part));

    it('a failed load leaves the trainer as it was', () => {
      const t = trainer();
      try {
        const before = t.model.stateDict();
        const want = Object.fromEntries(Object.entries(before).map(([k, v]) => [k, [...v.toArray()]]));
        ap.dispose(before);
        expectCode(() => loadCheckpoint(damaged(relabel('optim.ms.0', 'I32')), t), 'ERR_FORMAT');
        const after = t.model.stateDict();
        for (const [k, v] of Object.entries(after)) assert.deepEqual([...v.toArray()], want[k], k);
        ap.dispose(after);
        assert.equal(t.stepCount, 0);
      } finally {
        t.dispose();
      }
    });
  });

  it('a flipped bit in any tensor is ERR_FORMAT naming the file and the tensor', () => {
    const bytes = fs.readFileSync(good);
    const hlen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString());
    for (const name of ['model.conv_stem.weight', 'optim.ms.1', 'ema.ema.0', 'ema.numUpdates']) {
      const bad = Buffer.from(bytes);
      bad[8 + hlen + header[name].data_offsets[0]] ^= 0x04;
      const f = path.join(dir, `flip-${name}.safetensors`);
      fs.writeFileSync(f, bad);
      refused(f, `'${name}'`);
    }
  });

  it('a checkpoint cut short anywhere is ERR_FORMAT naming the file', () => {
    const bytes = fs.readFileSync(good);
    const hlen = 8 + Number(bytes.readBigUInt64LE(0));
    for (const len of [0, 5, 8, 9, hlen - 1, hlen, hlen + 1, hlen + 4096, bytes.length - 4, bytes.length - 1]) {
      const f = path.join(dir, `cut-${len}.safetensors`);
      fs.writeFileSync(f, bytes.subarray(0, len));
      refused(f, '');
    }
  });

  it('a version 1 checkpoint (before checksums) is refused, saying so', () => {
    refused(damaged((raw) => { delete raw.metadata![CRC_KEY]; editMeta(raw, (m) => { m.version = 1; }); }), 'version 1');
  });

  it('a checkpoint without checksums is refused', () => {
    const f = path.join(dir, 'unsummed.safetensors');
    rewrite(good, f, (raw) => { delete raw.metadata![CRC_KEY]; });
    const text = fs.readFileSync(f).subarray(0, 4096).toString();
    assert.ok(!text.includes(CRC_KEY), 'the rewrite kept the checksums');
    refused(f, 'checksum');
  });
});
