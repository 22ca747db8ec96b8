#!/usr/bin/env node
// npm's install step for advprop (package.json "install"). Plain JavaScript: it runs before any
// TypeScript could be compiled, and the published package ships compiled JavaScript in dist/.
//
//   - In a development checkout (the TypeScript sources in lib/ are present): `npm run build`,
//     i.e. the addon from source with cmake-js (dev options: cuda-sim on) and the TypeScript.
//   - In an installed package: use the prebuilt addon in prebuilds/<platform>-<arch>/ if it loads
//     here; otherwise build from source with cmake-js (needs cmake and a C++17 compiler; CUDA is
//     included when nvcc is found; the simulator is left out unless ADVPROP_WITH_SIM=ON).
//     ADVPROP_BUILD_FROM_SOURCE=1 forces the build from source.
//
// npm shows an install script's output only when it fails (or with --foreground-scripts), so the
// decision is also written to build/install.json, and `npx advprop info` prints it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const say = (msg) => console.error(`advprop: ${msg}`);
const truthy = (v) => /^(1|true|yes|on)$/i.test(v ?? '');

function record(method, reason, addon) {
  try {
    mkdirSync(join(root, 'build'), { recursive: true });
    writeFileSync(join(root, 'build', 'install.json'),
      JSON.stringify({ method, reason, addon: addon ? relative(root, addon) : null, date: new Date().toISOString() }, null, 2) + '\n');
  } catch { /* read-only install location: the message above is all there is */ }
}

// Loads the addon that node-gyp-build picks (prebuilds only, or any) in a child process, so a
// crash or a missing symbol cannot take the installer down. Returns { ok, path, info } or
// { ok: false, reason }.
function probe(prebuildsOnly) {
  const code = `
    const ngb = require(${JSON.stringify(require.resolve('node-gyp-build'))});
    let path;
    try { path = ngb.resolve(${JSON.stringify(root)}); }
    catch (e) { console.log(JSON.stringify({ ok: false, reason: e.message.split('\\n')[0] })); process.exit(0); }
    try {
      const b = require(path);
      const info = b.buildInfo();
      const devices = b.devices().filter((d) => d.available).map((d) => d.device);
      console.log(JSON.stringify({ ok: true, path, info, devices }));
    } catch (e) { console.log(JSON.stringify({ ok: false, path, reason: 'it failed to load: ' + e.message.split('\\n')[0] })); }`;
  const env = { ...process.env };
  if (prebuildsOnly) env.PREBUILDS_ONLY = '1'; else delete env.PREBUILDS_ONLY;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env });
  try { return JSON.parse(r.stdout.trim().split('\n').pop()); }
  catch { return { ok: false, reason: `loading it crashed (exit ${r.status ?? r.signal}): ${r.stderr.trim().split('\n').pop() ?? ''}` }; }
}

function describe(p) {
  const i = p.info;
  return `${relative(root, p.path)}: advprop ${i.version}, cuda ${i.cuda ? `yes (archs ${i.cudaArchs})` : 'no'}, ` +
    `cuda-sim ${i.sim ? 'yes' : 'no'}; devices available here: ${p.devices.join(', ')}`;
}

function have(tool) {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

function buildFromSource(why) {
  const missing = ['cmake'].filter((t) => !have(t));
  if (!have('c++') && !have('g++') && !have('clang++') && !process.env.CXX) missing.push('a C++17 compiler (c++, g++ or clang++)');
  if (missing.length) {
    say(`${why}, and a build from source is not possible: ${missing.join(' and ')} not found on PATH.`);
    say('install cmake (>= 3.18) and a C++17 compiler and reinstall, or use a platform with a prebuild (linux-x64, glibc).');
    process.exit(1);
  }
  say(`${why}: building the addon from source with cmake-js (CUDA included when nvcc is found${process.env.ADVPROP_CUDA === 'OFF' ? ', but ADVPROP_CUDA=OFF' : ''}).`);
  const env = { ...process.env };
  if (env.ADVPROP_WITH_SIM === undefined) env.ADVPROP_WITH_SIM = 'OFF';
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const jobs = process.env.ADVPROP_BUILD_JOBS || String(Math.max(1, Math.min(availableParallelism(), 8)));
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build', '--parallel', jobs], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    say(`the build from source failed (cmake-js exit ${r.status ?? r.signal}); see the output above.`);
    process.exit(1);
  }
  const p = probe(false);
  if (!p.ok) {
    say(`the addon built from source does not load: ${p.reason}`);
    process.exit(1);
  }
  say(`built from source: ${describe(p)}`);
  record('source', why, p.path);
}

// Development checkout: the TypeScript has to be compiled too, and the addon always comes from
// these sources (prebuilds/ is for the published package).
if (existsSync(join(root, 'lib', 'index.ts'))) {
  say('development checkout (lib/*.ts present): building the addon from source and compiling the TypeScript (npm run build)');
  const npm = process.env.npm_execpath;
  const r = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: true });
  if (r.status === 0) record('source', 'development checkout', probe(false).path ?? null);
  process.exit(r.status ?? 1);
}

if (truthy(process.env.ADVPROP_BUILD_FROM_SOURCE)) {
  buildFromSource(`ADVPROP_BUILD_FROM_SOURCE=${process.env.ADVPROP_BUILD_FROM_SOURCE} is set`);
} else {
  const p = probe(true);
  if (p.ok) {
    say(`using the prebuilt addon ${describe(p)}. (ADVPROP_BUILD_FROM_SOURCE=1 builds from source instead.)`);
    record('prebuild', 'the prebuild loads on this machine', p.path);
  } else {
    const why = p.path ? `the prebuild ${relative(root, p.path)} cannot be used (${p.reason})`
      : `no prebuild for this platform (${p.reason})`;
    buildFromSource(why);
  }
}
