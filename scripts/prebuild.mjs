#!/usr/bin/env node
// `npm run prebuild`: the release build of the addon, as prebuilds/linux-x64/advprop.glibc.node
// (the name node-gyp-build looks for). prebuildify drives the build; since it only knows
// node-gyp, it is pointed at scripts/prebuild-node-gyp.mjs (its --node-gyp option), a shim that
// runs cmake-js instead. The release configuration:
//   - CUDA code for every architecture the toolkit can target from WANTED (70 to 120; GPU code,
//     "-real"), plus PTX for the newest it can target (120 with CUDA 13) so later GPUs can JIT it;
//   - the CUDA runtime linked statically (CMakeLists.txt does that for every build);
//   - no simulator (ADVPROP_WITH_SIM=OFF);
//   - stripped (prebuildify --strip).
// It builds in build-release/ so the development build in build/ is left alone, then checks the
// result: GPU code and PTX present, no dynamic dependency on libcudart/libcuda, and it loads
// with the cpu device available. Environment:
//   ADVPROP_RELEASE_CUDA_ARCHS  replace the architecture list (CMAKE_CUDA_ARCHITECTURES syntax)
//   ADVPROP_BUILD_JOBS          parallel compile jobs (default: cores, at most 8)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fatbinContents } from './fatbin.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
// Discrete and data-centre GPUs a linux-x64 host can hold, Volta to Blackwell: sm_100 (B200,
// GB200) and sm_120 (RTX 50, RTX PRO 6000) need CUDA 12.8, sm_103 (B300) 12.9. Left out on
// purpose: 87, 110 and 121, the integrated arm64 parts (Jetson Orin, Thor, GB10), which never
// load a linux-x64 binary.
const WANTED = [70, 75, 80, 86, 89, 90, 100, 103, 120];

function findNvcc() {
  for (const c of [process.env.CUDACXX, '/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc']) if (c && existsSync(c)) return c;
  const r = spawnSync('nvcc', ['--version']);
  return r.status === 0 ? 'nvcc' : null;
}

function releaseArchs(nvcc) {
  if (process.env.ADVPROP_RELEASE_CUDA_ARCHS) return { archs: process.env.ADVPROP_RELEASE_CUDA_ARCHS, missing: [] };
  const listed = execFileSync(nvcc, ['--list-gpu-arch'], { encoding: 'utf8' });
  const supported = new Set([...listed.matchAll(/compute_(\d+)/g)].map((m) => Number(m[1])));
  const ok = WANTED.filter((a) => supported.has(a));
  const missing = WANTED.filter((a) => !supported.has(a));
  const newest = ok[ok.length - 1];
  // "NN-real": GPU code only; plain "NN": GPU code and PTX.
  return { archs: ok.map((a) => (a === newest ? `${a}` : `${a}-real`)).join(';'), missing };
}

// npm runs a script named "prebuild" before every `npm run build` too (pre-hooks), and gives
// both the same environment. Only `npm run prebuild` itself (or running this file directly)
// should start a release build, so look at the npm command line that started us.
function npmArgv() {
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    try {
      // npm sets its process title to the command ("npm run prebuild"), so split on spaces too.
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split(/[\0 ]/).filter(Boolean);
      if (argv.some((a) => /npm-cli\.js$|(^|\/)npm$/.test(a))) return argv;
      pid = Number(readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /s, '').split(' ')[1]);
    } catch { return null; }
  }
  return null;
}
if (process.env.npm_lifecycle_event === 'prebuild') {
  const argv = npmArgv();
  const i = argv ? argv.findIndex((a) => a === 'run' || a === 'run-script' || a === 'rum' || a === 'urn') : -1;
  if (!argv || i < 0 || argv[i + 1] !== 'prebuild') {
    console.log('prebuild: skipped (npm runs "prebuild" as a hook of "build"; the release build runs only as `npm run prebuild`)');
    process.exit(0);
  }
}

const nvcc = findNvcc();
if (!nvcc) {
  console.error('prebuild: nvcc not found (set CUDACXX or install the CUDA toolkit); a release build needs CUDA');
  process.exit(1);
}
const nvccVersion = execFileSync(nvcc, ['--version'], { encoding: 'utf8' }).match(/, V([\d.]+)/)?.[1] ?? '?';
const { archs, missing } = releaseArchs(nvcc);
console.log(`prebuild: nvcc ${nvccVersion} (${nvcc}); CUDA architectures ${archs}; simulator off; CUDA runtime static`);
if (missing.length) {
  console.warn(`prebuild: WARNING: this toolkit cannot target ${missing.map((a) => `sm_${a}`).join(', ')} ` +
    '(CUDA 13 removed Volta, sm_70; sm_100 and sm_120 need CUDA 12.8, sm_103 CUDA 12.9): one release cannot carry both ends.');
}

const work = join(root, 'build-release');
const out = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'advprop.glibc.node');
rmSync(out, { force: true });
mkdirSync(work, { recursive: true });  // prebuildify runs the shim in here
const env = {
  ...process.env,
  ADVPROP_CUDA: 'ON',
  ADVPROP_WITH_SIM: 'OFF',
  ADVPROP_CUDA_ARCHS: archs,
  CUDACXX: nvcc === 'nvcc' ? (process.env.CUDACXX ?? '') : nvcc,
};
if (!env.CUDACXX) delete env.CUDACXX;
Object.assign(process.env, env);  // prebuildify passes its own process.env to the shim

const prebuildify = require('prebuildify');
const t0 = Date.now();
await new Promise((ok, fail) => {
  prebuildify({
    cwd: work,
    out: root,
    name: 'advprop',
    napi: true,
    tagLibc: true,
    strip: true,
    nodeGyp: join(root, 'scripts', 'prebuild-node-gyp.mjs'),
  }, (err) => (err ? fail(err) : ok()));
}).catch((e) => { console.error(`prebuild: ${e.message}`); process.exit(1); });
const seconds = ((Date.now() - t0) / 1000).toFixed(0);

// Checks.
const problems = [];
const size = statSync(out).size;
const fat = fatbinContents(out);
const expectSass = archs.split(';').filter((a) => !a.endsWith('-virtual')).map((a) => `sm_${parseInt(a, 10)}`);
const expectPtx = archs.split(';').filter((a) => !a.endsWith('-real')).map((a) => `compute_${parseInt(a, 10)}`);
for (const a of expectSass) if (!fat.sass.includes(a)) problems.push(`no GPU code for ${a}`);
for (const a of expectPtx) if (!fat.ptx.includes(a)) problems.push(`no PTX for ${a}`);
const needed = spawnSync('readelf', ['-dW', out], { encoding: 'utf8' });
const libs = needed.status === 0 ? [...needed.stdout.matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]) : null;
if (libs?.some((l) => /cudart|libcuda\.so/.test(l))) problems.push(`links CUDA dynamically: ${libs.join(', ')}`);
// Load it in a child process, without the toolkit on the library path.
const probe = spawnSync(process.execPath, ['-e', `
  const b = require(${JSON.stringify(out)});
  console.log(JSON.stringify({ build: b.buildInfo(), devices: b.devices().map((d) => [d.device, d.available, d.reason]) }));`],
{ encoding: 'utf8', env: { PATH: dirname(process.execPath), HOME: process.env.HOME ?? '/tmp' } });
let loaded = null;
if (probe.status !== 0) problems.push(`does not load: ${probe.stderr.trim()}`);
else {
  loaded = JSON.parse(probe.stdout);
  if (loaded.build.sim) problems.push('the simulator is built in');
  if (!loaded.build.cuda) problems.push('built without CUDA');
  if (!loaded.devices.some(([d, ok]) => d === 'cpu' && ok)) problems.push('cpu device unavailable');
}

console.log(`\nprebuild: ${out.slice(root.length + 1)}: ${(size / 2 ** 20).toFixed(1)} MiB (${size} bytes), built in ${seconds} s`);
console.log(`  GPU code: ${fat.sass.join(' ')}; PTX: ${fat.ptx.join(' ')} (.nv_fatbin ${(fat.bytes / 2 ** 20).toFixed(1)} MiB)`);
if (libs) console.log(`  shared libraries needed: ${libs.join(' ')}`);
if (loaded) {
  const b = loaded.build;
  console.log(`  loads: version ${b.version}, cuda ${b.cuda} (${b.cudaCompiler}, runtime ${b.runtimeVersion}), sim ${b.sim}; ` +
    `devices: ${loaded.devices.map(([d, ok, why]) => (ok ? d : `${d} (unavailable: ${why})`)).join(', ')}`);
}
if (missing.length) console.log(`  not included: ${missing.map((a) => `sm_${a}`).join(', ')} (this is nvcc ${nvccVersion}: sm_70 needs CUDA 12.x, sm_100 and sm_120 12.8+, sm_103 12.9+)`);
if (problems.length) {
  console.error(`prebuild: FAILED: ${problems.join('; ')}`);
  process.exit(1);
}
