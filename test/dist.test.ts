// Packaging: the scripts behind `npm run prebuild`, the install step and the clean-room CI test.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describeArchs } from '../lib/cli/info.js';
import { rawAddon as native } from '../lib/native.js';
// @ts-expect-error plain JavaScript helper without types
import { fatbinContents } from '../scripts/fatbin.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

describe('packaging', () => {
  it('the CUDA code in the loaded addon matches the architectures it reports', function () {
    const build = native.buildInfo();
    const file = createRequire(import.meta.url)('node-gyp-build').resolve('.');
    const fat = fatbinContents(file) as { sass: string[]; ptx: string[]; bytes: number };
    if (!build.cuda) {
      assert.equal(fat.bytes, 0);
      this.skip();
    }
    const want = describeArchs(build.cudaArchs);
    for (const a of want.sass) assert.ok(fat.sass.includes(a), `${file}: no GPU code for ${a} (has ${fat.sass})`);
    for (const a of want.ptx) assert.ok(fat.ptx.includes(a), `${file}: no PTX for ${a} (has ${fat.ptx})`);
  });

  it('package.json ships what the install step and a fallback build need', () => {
    assert.equal(pkg.scripts.install, 'node scripts/install.mjs');
    assert.equal(pkg.license, 'Apache-2.0');
    assert.match(readFileSync('LICENSE', 'utf8'), /Apache License\s+Version 2\.0/);
    for (const f of ['scripts/install.mjs', 'CMakeLists.txt', 'LICENSE', 'README.md', 'prebuilds/', 'native/', 'binding/'])
      assert.ok(pkg.files.includes(f), `"files" lacks ${f}`);
    for (const f of pkg.files.filter((x: string) => !/[*!]/.test(x) && x !== 'prebuilds/'))
      assert.ok(existsSync(f), `"files" names ${f}, which does not exist`);
    assert.ok(pkg.files.includes('!native/tests/'));
  });

  it('the bin targets are executable after the build, so `npx advprop` runs in a checkout', function () {
    for (const target of Object.values(pkg.bin) as string[]) {
      if (!existsSync(target)) {
        console.log(`      (skipped: ${target} is not built; \`npm run build:ts\` makes it)`);
        this.skip();
      }
      assert.ok((statSync(target).mode & 0o111) !== 0, `${target} is not executable`);
      const r = spawnSync(target, ['--help'], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${target} --help: ${r.error ?? r.stderr}`);
      assert.match(r.stdout, /advprop/);
    }
  });
});
