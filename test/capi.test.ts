// The C API's shared library: examples/c/bn_pgd.c (which checks the batch norm and PGD results
// itself, in plain C) compiled with the system C compiler against build's libadvprop.so and run;
// on a GPU host examples/c/cuda_stream.c (device memory, the caller's stream, compared with the
// cpu); and the library's dynamic symbol table holding only the advprop_* C functions.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { backendStatus } from '../lib/testing/backends.js';

const root = resolve(import.meta.dirname, '..');
const libDir = ['build/Release', 'build/Debug', 'build'].map((d) => join(root, d)).find((d) => existsSync(join(d, 'libadvprop.so')));
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const cc = process.env.CC ?? 'cc';

describe('C API (libadvprop.so)', () => {
  if (!libDir) {
    it.skip('C API: skipped (no libadvprop.so under build/: the addon came from a prebuild; run npm run build:native)');
    return;
  }

  if (has(cc)) {
    it('examples/c/bn_pgd.c builds as C99 and its checks pass', function () {
      this.timeout(60_000);
      const dir = mkdtempSync(join(tmpdir(), 'advprop-capi-'));
      try {
        const exe = join(dir, 'bn_pgd');
        execFileSync(cc, ['-std=c99', '-Wall', '-Wextra', '-pedantic', '-Werror', '-I', join(root, 'native/include'),
          join(root, 'examples/c/bn_pgd.c'), '-L', libDir, '-ladvprop', `-Wl,-rpath,${libDir}`, '-lm', '-o', exe]);
        const run = spawnSync(exe, { encoding: 'utf8' });
        assert.equal(run.status, 0, `bn_pgd exited ${run.status}:\n${run.stdout}${run.stderr}`);
        assert.match(run.stdout, /c-example: \d+ checks, 0 mismatches/);
        assert.match(run.stdout, /checked bad segments: status (1|9), "multiBatchNorm: segment counts sum to 3/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  } else {
    it.skip(`C example: skipped (no C compiler '${cc}' on PATH)`);
  }

  const cuda = backendStatus().find((b) => b.backend === 'cuda')!;
  const cudaHome = process.env.CUDA_HOME ?? '/usr/local/cuda';
  const cudaSkip = !cuda.available ? `no usable cuda device: ${cuda.reason}`
    : !existsSync(join(cudaHome, 'include/cuda_runtime.h')) ? `no CUDA headers under ${cudaHome} (set CUDA_HOME)`
    : !has(cc) ? `no C compiler '${cc}'` : '';
  if (cudaSkip) {
    it.skip(`C API on cuda: skipped (${cudaSkip})`);
  } else {
    it('examples/c/cuda_stream.c: device memory on the caller\'s stream matches the cpu', function () {
      this.timeout(120_000);
      const dir = mkdtempSync(join(tmpdir(), 'advprop-capi-cuda-'));
      try {
        const exe = join(dir, 'cuda_stream');
        const cudaLib = join(cudaHome, 'lib64');
        // No -pedantic: the CUDA headers use anonymous unions.
        execFileSync(cc, ['-std=c99', '-Wall', '-Wextra', '-Werror', '-I', join(root, 'native/include'), '-I', join(cudaHome, 'include'),
          join(root, 'examples/c/cuda_stream.c'), '-L', libDir, '-ladvprop', '-L', cudaLib, '-lcudart',
          `-Wl,-rpath,${libDir}`, `-Wl,-rpath,${cudaLib}`, '-lm', '-o', exe]);
        const run = spawnSync(exe, { encoding: 'utf8' });
        assert.equal(run.status, 0, `cuda_stream exited ${run.status}:\n${run.stdout}${run.stderr}`);
        assert.match(run.stdout, /c-example-cuda: \d+ checks, 0 mismatches/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  if (has('nm')) {
    it('exports only the advprop_* C functions', () => {
      const out = execFileSync('nm', ['-D', '--defined-only', join(libDir, 'libadvprop.so')], { encoding: 'utf8' });
      const names = out.split('\n').map((l) => l.trim().split(/\s+/)[2]).filter((n): n is string => !!n);
      const want = ['advprop_version', 'advprop_last_error', 'advprop_multi_batch_norm_forward', 'advprop_multi_batch_norm_backward',
        'advprop_pgd_step', 'advprop_conv2d_forward', 'advprop_conv2d_backward_input', 'advprop_conv2d_backward_weight', 'advprop_cast'];
      assert.deepEqual([...names].sort(), [...want].sort());
    });
  } else {
    it.skip('C API exports: skipped (no nm on PATH)');
  }
});
