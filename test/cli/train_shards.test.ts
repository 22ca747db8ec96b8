// `advprop train --data DIR` on generated WebDataset tar shards of small JPEGs and PNGs (train/ and
// val/ of *.tar), and on shards with a flat val/ folder and its labels.txt, run as a user would.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../data/images.js';
import { writeShards } from '../data/tars.js';

const train = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'train', ...args], { encoding: 'utf8', env: { ...process.env } });

const common = ['--resolution', '32', '--batch-size', '6', '--epochs', '1', '--max-steps', '3', '--eval-limit', '6',
  '--eval-epsilons', '1', '--log-every', '1', '--no-progress', '--workers', '2', '--seed', '3', '--augment', 'basic'];

function steps(out: string): Array<Record<string, any>> {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

describe('advprop train on tar shards', function () {
  this.timeout(300000);

  it('trains a few steps on train/*.tar and evaluates on val/*.tar', async () => {
    const root = mkdtempSync(join(tmpdir(), 'advprop-shards-cli-'));
    await writeShards(join(root, 'train'), 3, 8, 3);
    await writeShards(join(root, 'val'), 1, 6, 3);
    const out = join(root, 'run');
    const r = train('--data', root, ...common, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(config.numClasses, 3);
    assert.equal(config.trainImages, 24);
    assert.equal(config.testImages, 6);
    assert.equal(config.resolution, 32);
    const log = steps(out);
    assert.deepEqual(log.filter((s) => s.type === 'step').map((s) => s.step), [1, 2, 3]);
    for (const s of log.filter((x) => x.type === 'step')) assert.ok(Number.isFinite(s.loss), JSON.stringify(s));
    assert.equal(log.find((s) => s.type === 'final')!.raw.count, 6);
  });

  it('takes shards in the folder itself for training and a flat val/ with labels.txt for evaluation', async () => {
    const root = mkdtempSync(join(tmpdir(), 'advprop-shards-flat-'));
    await writeShards(root, 2, 6, 4);
    writeFileSync(join(root, 'classes.txt'), 'ant\nbee\ncat\ndog\n');
    mkdirSync(join(root, 'val'));
    const names = ['ant', 'bee', 'cat', 'dog', 'ant', 'cat'];
    for (let i = 0; i < 6; i++) writeFileSync(join(root, 'val', `v${i}.${i % 2 ? 'png' : 'jpg'}`), await encode(i % 2 ? 'png' : 'jpeg', 40, 30, i));
    writeFileSync(join(root, 'val', 'labels.txt'), names.map((n, i) => `v${i}.${i % 2 ? 'png' : 'jpg'},${n}`).join('\n') + '\n');
    const out = join(root, 'run');
    const r = train('--data', root, ...common, '--max-steps', '2', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(config.numClasses, 4);
    assert.equal(config.trainImages, 12);
    assert.equal(config.testImages, 6);
    assert.equal(steps(out).find((s) => s.type === 'final')!.raw.count, 6);
  });
});
