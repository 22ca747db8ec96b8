// `advprop info`, run as a user would (through tsx, so no build of dist/ is needed).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cudaVersion, describeArchs } from '../lib/cli/info.js';

const run = (...args: string[]) =>
  execFileSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', ...args], { encoding: 'utf8' });

describe('advprop CLI', () => {
  it('info prints the build, the devices and a passing self-test', () => {
    const out = run('info');
    assert.match(out, /^advprop \d+\.\d+\.\d+/);
    assert.match(out, /devices:\n\s+cpu/);
    assert.match(out, /self-test: all checks passed/);
  });

  it('info --json is machine-readable and compares every available device with cpu', () => {
    const report = JSON.parse(run('info', '--json'));
    const available = report.devices.filter((d: { available: boolean; type: string }) => d.available && d.type !== 'cpu');
    for (const d of available) {
      const checks = report.selftest.filter((c: { device: string }) => c.device === d.device);
      assert.ok(checks.length >= 3, `no self-test ran on ${d.device}`);
      for (const c of checks) assert.ok(c.ok, `${d.device} ${c.check}: ${c.detail}`);
    }
  });

  it('info reports the package version, the addon, the CUDA build and each device with its memory', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
    const out = run('info', '--no-selftest');
    assert.match(out, new RegExp(`^advprop ${version.replace(/\./g, '\\.')}\n`));
    assert.match(out, /\naddon: \S+\.node/);
    assert.match(out, /\ncuda: (nvcc [\d.]+, archs \S+ \((GPU code|PTX) |not built)/);
    if (/\ncuda: nvcc/.test(out)) {
      assert.match(out, /\ncuda flags: .*-cudart=static/);
      assert.match(out, /\ncuda runtime \d+\.\d+ \(linked statically\), driver (supports CUDA \d+\.\d+|not installed)/);
    }
    assert.match(out, /\n  cpu +cpu .*, [\d.]+ (GiB|MiB) memory/);
    assert.match(out, /\njpeg: (libjpeg-turbo from \S+ \(the loader's JPEG decoder|sharp decodes every JPEG: .+)/);
    const json = JSON.parse(run('info', '--json', '--no-selftest'));
    assert.ok(['libjpeg', 'sharp'].includes(json.jpeg.name), JSON.stringify(json.jpeg));
    assert.equal(json.package.version, version);
    for (const k of ['cudaCompiler', 'cudaFlags']) assert.equal(typeof json.build[k], 'string', k);
    for (const k of ['driverVersion', 'runtimeVersion', 'cudaRuntimeBuilt']) assert.equal(typeof json.build[k], 'number', k);
    if (json.build.cuda) assert.ok(json.build.runtimeVersion >= 11000, `runtime ${json.build.runtimeVersion}`);
    for (const d of json.devices.filter((x: { available: boolean }) => x.available)) assert.ok(d.totalMemory > 0, d.device);
  });

  it('describes CMake architecture lists and CUDA version numbers', () => {
    assert.deepEqual(describeArchs('75-real,80-real,86-real,89-real,90'),
      { sass: ['sm_75', 'sm_80', 'sm_86', 'sm_89', 'sm_90'], ptx: ['compute_90'], other: [] });
    assert.deepEqual(describeArchs('80'), { sass: ['sm_80'], ptx: ['compute_80'], other: [] });
    assert.deepEqual(describeArchs('90a-real;100-virtual;native'), { sass: ['sm_90a'], ptx: ['compute_100'], other: ['native'] });
    assert.equal(cudaVersion(12040), '12.4');
    assert.equal(cudaVersion(13000), '13.0');
  });

  it('rejects an unknown command with exit code 2', () => {
    assert.throws(() => run('nonsense'), (e: { status?: number; stderr?: string }) => e.status === 2 && /unknown command/.test(String(e.stderr)));
  });
});
