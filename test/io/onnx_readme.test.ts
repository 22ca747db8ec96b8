// The README's "train → export → serve with onnxruntime-node" example, run as written: its shell
// lines in a fresh folder (`npx advprop` as the CLI from this checkout) and its serve.mjs, whose
// predictions must be our model's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ap from '../../lib/index.js';

const root = process.cwd();

function example(): { sh: string[]; js: string } {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = /<!-- onnx-serve:start[^>]*-->([\s\S]*?)<!-- onnx-serve:end -->/.exec(readme);
  assert.ok(m, 'README.md lost its onnx-serve example markers');
  const sh = /```sh\n([\s\S]*?)```/.exec(m[1]);
  const js = /```js\n([\s\S]*?)```/.exec(m[1]);
  assert.ok(sh && js, 'the example needs a sh and a js block');
  return { sh: sh[1].split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean), js: js[1] };
}

describe('README: train → export → serve with onnxruntime-node', function () {
  this.timeout(300000);

  it('runs as written, serve.mjs predicts what our model predicts, and export checks its options', async function () {
    try {
      await import('onnxruntime-node');
    } catch (e) {
      console.log(`      - skipped: onnxruntime-node cannot be loaded (${(e as Error).message.split('\n')[0]})`);
      this.skip();
    }
    const { sh, js } = example();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advprop-readme-'));
    try {
      // The folder sees this checkout's packages, as a project that installed them would.
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
      fs.writeFileSync(path.join(dir, 'serve.mjs'), js);
      let served = '';
      for (const line of sh) {
        const [cmd, ...args] = line.split(/\s+/);
        if (cmd === 'npm') { assert.match(line, /^npm install onnxruntime-node$/); continue; } // a dev dependency here
        const argv = cmd === 'npx' && args[0] === 'advprop' ? ['--import', 'tsx', path.join(root, 'lib/cli/main.ts'), ...args.slice(1)]
          : cmd === 'node' ? args : assert.fail(`unexpected line in the example: ${line}`);
        const r = spawnSync(process.execPath, argv, { cwd: dir, encoding: 'utf8' });
        assert.equal(r.status, 0, `${line}\n${r.stderr}`);
        if (cmd === 'node') served = r.stdout;
        if (args[1] === 'export') assert.match(r.stdout, /input images \[N, 28, 28, 1\]/, 'the example assumes the size export prints');
      }
      const classes = [...served.matchAll(/^image (\d+): class (\d+)$/gm)].map((x) => Number(x[2]));
      assert.equal(classes.length, 2, served);
      // Our model from the same run, on the same images (grey 128 / 255).
      const model = ap.models.efficientnet('b0', { width: 0.25, depth: 0.25, inChannels: 1, numClasses: 10, device: 'cpu' });
      try {
        ap.io.loadModel(path.join(dir, 'runs/demo/model.safetensors'), model);
        model.eval();
        const want = ap.tidy(() => ap.noGrad(() => {
          const logits = model.forward(ap.full([2, 28, 28, 1], 128 / 255, { device: 'cpu' })).toArray();
          return [0, 1].map((i) => { const row = Array.from(logits.subarray(10 * i, 10 * i + 10)); return row.indexOf(Math.max(...row)); });
        }));
        assert.deepEqual(classes, want);
      } finally { model.dispose(); }
      // The export's other options, and bad ones: one line and exit code 2.
      const cli = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'lib/cli/main.ts'), 'export', '--run', 'runs/demo', ...a], { cwd: dir, encoding: 'utf8' });
      const ok = cli('--format', 'onnx', '--out', 'm.onnx', '--layout', 'nchw', '--dtype', 'f16', '--resolution', 'dynamic', '--ema');
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /EMA weights, .*input images \[N, 1, H, W\].*f16 weights/);
      const cases: [string[], RegExp][] = [
        [['--format', 'pb'], /--format: expected one of safetensors, onnx/],
        [['--format', 'onnx', '--layout', 'oihw'], /--layout: expected one of nhwc, nchw/],
        [['--format', 'onnx', '--strip-aux'], /--strip-aux applies to --format safetensors only/],
        [['--fold-bn'], /--fold-bn applies to --format onnx only/],
        [['--format', 'onnx', '--dtype', 'bf16'], /--dtype: expected one of f32, f16/],
        [['--format', 'onnx', '--resolution', '0'], /--resolution: sizes must be ≥ 1/],
        [['--format', 'onnx', '--resolution', 'big'], /--resolution: expected an integer/],
      ];
      for (const [a, re] of cases) {
        const r = cli('--out', 'bad.onnx', ...a);
        assert.equal(r.status, 2, `${a.join(' ')}: exit ${r.status}\n${r.stderr}`);
        assert.match(r.stderr.trim(), re);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
      assert.ok(!fs.existsSync(path.join(dir, 'bad.onnx')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
