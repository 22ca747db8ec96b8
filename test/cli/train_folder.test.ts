// `advprop train` on a generated ImageFolder (train/ and val/ of JPEG, PNG, WebP, grey and CMYK
// files of assorted sizes), run as a user would, through tsx.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeImageFolder } from '../data/images.js';

const train = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'train', ...args], { encoding: 'utf8', env: { ...process.env } });

describe('advprop train on an ImageFolder', function () {
  this.timeout(300000);
  const root = mkdtempSync(join(tmpdir(), 'advprop-folder-'));
  let trainFiles: string[] = [];
  before(async () => {
    trainFiles = await writeImageFolder(root, 'train', ['ant', 'bee', 'cat'], 8);
    await writeImageFolder(root, 'val', ['ant', 'bee', 'cat'], 2);
  });
  const common = ['--data', root, '--resolution', '32', '--batch-size', '6', '--epochs', '1', '--max-steps', '3', '--eval-limit', '6',
    '--eval-epsilons', '1', '--log-every', '1', '--no-progress', '--workers', '2', '--seed', '3'];

  it('trains a few steps with --augment autoaugment and evaluates on val/ at the resolution', () => {
    const out = join(root, 'run-aa');
    const r = train(...common, '--augment', 'autoaugment', '--prefetch', '3', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(config.augment, 'autoaugment');
    assert.equal(config.prefetch, 3);
    assert.equal(config.resolution, 32);
    assert.equal(config.numClasses, 3);
    assert.equal(config.inChannels, 3);
    assert.equal(config.trainImages, 24);
    assert.equal(config.testImages, 6);
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(steps.filter((s) => s.type === 'step').map((s) => s.step), [1, 2, 3]);
    for (const s of steps.filter((x) => x.type === 'step')) assert.ok(Number.isFinite(s.loss), JSON.stringify(s));
    const final = steps.find((s) => s.type === 'final');
    assert.equal(final.raw.count, 6);
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /autoaugment|AdvProp|advprop/i);
  });

  it('takes --augment randaugment with N and M, and refuses bad combinations', () => {
    const out = join(root, 'run-ra');
    const r = train(...common, '--augment', 'randaugment', '--randaugment-n', '1', '--randaugment-m', '20', '--max-steps', '1', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).randAugment, { n: 1, m: 20 });
    for (const bad of [['--augment', 'fancy'], ['--randaugment-m', '5'], ['--augment', 'basic', '--no-augment'], ['--augment', 'randaugment', '--randaugment-m', '31']]) {
      const e = train(...common, ...bad, '--out', join(root, 'never'));
      assert.equal(e.status, 2, `${bad.join(' ')}: ${e.stderr}`);
    }
    // The in-memory default dataset has one image size: --resolution is refused there.
    const f = train('--resolution', '64', '--max-steps', '1', '--out', join(root, 'never'));
    assert.equal(f.status, 2, f.stderr);
    assert.match(f.stderr, /--resolution applies to folders of image files/);
  });

  it('leaves a corrupt image out with a warning naming it; --strict stops with ERR_FORMAT naming it', () => {
    const bad = trainFiles[4]!;
    writeFileSync(bad, Buffer.from('corrupt bytes'));
    const r = train(...common, '--augment', 'basic', '--max-steps', '4', '--out', join(root, 'run-corrupt'));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stderr.includes(`skipping ${bad}`), r.stderr);
    assert.match(r.stderr, /1 training image could not be decoded and was left out/);
    // 4 steps of 6 read all 24 images, so the corrupt one is in a consumed batch, not only in one
    // prefetched past --max-steps (whose error a fast run may never wait for).
    const s = train(...common, '--strict', '--max-steps', '4', '--out', join(root, 'run-strict'));
    assert.equal(s.status, 1, s.stderr);
    assert.ok(s.stderr.includes('ERR_FORMAT') && s.stderr.includes(bad), s.stderr);
  });
});
