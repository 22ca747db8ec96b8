#!/usr/bin/env node
// A stand-in for node-gyp that prebuildify runs (`prebuildify --node-gyp <this file>`): this
// package builds with CMake through cmake-js, not with a binding.gyp. prebuildify calls
//   <node-gyp> rebuild --target=<node version> --devdir=<cache> [--arch=x64] --release
// in its working directory and then takes the .node it finds in ./build/Release/. So this shim
// ignores node-gyp's arguments (Node-API needs no per-version headers: they come from the
// node-api-headers package) and runs `cmake-js rebuild` on the package sources with ./build as
// the build folder. The build options (architectures, simulator off, ...) come from the
// environment, which scripts/prebuild.mjs sets.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
if (args[0] !== 'rebuild') {
  console.error(`prebuild-node-gyp: only 'rebuild' is supported (got: ${args.join(' ')})`);
  process.exit(2);
}
const debug = args.includes('--debug');
const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const parallel = process.env.ADVPROP_BUILD_JOBS || String(Math.max(1, Math.min(availableParallelism(), 8)));
const cmd = [cmakeJs, 'rebuild', '--directory', root, '--out', resolve('build'), '--parallel', parallel];
if (debug) cmd.push('--debug');
console.log(`prebuild-node-gyp: node ${cmd.join(' ')}`);
const r = spawnSync(process.execPath, cmd, { stdio: 'inherit' });
process.exit(r.status ?? 1);
