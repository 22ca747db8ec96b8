// `advprop info`, run as a user would (through tsx, so no build of dist/ is needed).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

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

  it('rejects an unknown command with exit code 2', () => {
    assert.throws(() => run('nonsense'), (e: { status?: number; stderr?: string }) => e.status === 2 && /unknown command/.test(String(e.stderr)));
  });
});
