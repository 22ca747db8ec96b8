// `advprop info`: what was built, which devices are usable, and a self-test that runs a few
// kernels on every available device and compares each with the cpu result.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { addon, addonFile, packageRoot, type BuildInfo, type DeviceEntry, type NativeTensor } from '../native.js';
import { jpegDecoder } from '../data/jpeg_decode.js';

interface CheckResult { device: string; check: string; ok: boolean; detail: string }

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / (den || 1));
}

function selfTest(device: string): CheckResult[] {
  const results: CheckResult[] = [];
  const owned: NativeTensor[] = [];
  const keep = (t: NativeTensor) => { owned.push(t); return t; };
  const run = (check: string, fn: () => string) => {
    try { results.push({ device, check, ok: true, detail: fn() }); }
    catch (e) { results.push({ device, check, ok: false, detail: (e as Error).message }); }
  };
  try {
    const shape = [3, 5, 7, 17];
    const onBoth = (make: (dev: string) => NativeTensor) => [keep(make('cpu')), keep(make(device))];
    const [xc, xd] = onBoth((d) => addon.normal(shape, 'f32', d, 7, 0, 0, 1));
    const [bc, bd] = onBoth((d) => addon.uniform([17], 'f32', d, 7, 1, -1, 1));
    run('philox normal fill identical to cpu', () => {
      const a = addon.toArray(xc), b = addon.toArray(xd);
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`element ${i}: ${b[i]} != ${a[i]}`);
      return `${a.length} values`;
    });
    run('add with per-channel broadcast + silu', () => {
      const yc = keep(addon.unary('silu', keep(addon.binary('add', xc, bc)), 0));
      const yd = keep(addon.unary('silu', keep(addon.binary('add', xd, bd)), 0));
      const err = maxRelErr(addon.toArray(yd), addon.toArray(yc));
      if (!(err < 1e-6)) throw new Error(`relative error ${err}`);
      return `rel err ${err.toExponential(1)}`;
    });
    run('sum over N,H,W', () => {
      const sc = keep(addon.sum(xc, [0, 1, 2], false, false));
      const sd = keep(addon.sum(xd, [0, 1, 2], false, false));
      const err = maxRelErr(addon.toArray(sd), addon.toArray(sc));
      if (!(err < 1e-5)) throw new Error(`relative error ${err}`);
      return `rel err ${err.toExponential(1)}`;
    });
  } catch (e) {
    results.push({ device, check: 'setup', ok: false, detail: (e as Error).message });
  } finally {
    for (const t of owned) addon.dispose(t);
  }
  return results;
}

function formatBytes(n: number | undefined): string {
  if (!n) return '-';
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

function describe(d: DeviceEntry): string {
  if (!d.available) return `${d.device.padEnd(12)} unavailable: ${d.reason}`;
  const cc = d.computeCapability ? `, sm ${d.computeCapability}` : '';
  const drv = d.driverVersion ? `, driver CUDA ${cudaVersion(d.driverVersion)}, runtime ${cudaVersion(d.runtimeVersion ?? 0)}` : '';
  return `${d.device.padEnd(12)} ${d.name}${cc}, ${formatBytes(d.totalMemory)} memory${drv}`;
}

/** "75-real,80-real,90" -> GPU code for sm_75, sm_80, sm_90 and PTX for compute_90 (CMake's rules). */
export function describeArchs(archs: string): { sass: string[]; ptx: string[]; other: string[] } {
  const sass: string[] = [], ptx: string[] = [], other: string[] = [];
  for (const a of archs.split(/[;,\s]+/).filter(Boolean)) {
    const m = /^(\d+[a-z]?)(-real|-virtual)?$/.exec(a);
    if (!m) { other.push(a); continue; }
    if (m[2] !== '-virtual') sass.push(`sm_${m[1]}`);
    if (m[2] !== '-real') ptx.push(`compute_${m[1]}`);
  }
  return { sass, ptx, other };
}

/** 12040 -> "12.4" (CUDA's version encoding). */
export function cudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

export interface PackageInfo {
  version: string;
  /** The addon file node-gyp-build loaded, relative to the package. */
  addon: string;
  /** How the install step got the addon (build/install.json), when it recorded it. */
  install?: { method: string; reason: string };
}

export function packageInfo(): PackageInfo {
  const root = packageRoot();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  let file = '?';
  try { file = relative(root, addonFile()); }
  catch { /* loaded already, so this does not happen */ }
  const record = join(root, 'build', 'install.json');
  let install: PackageInfo['install'];
  if (existsSync(record)) {
    try { const r = JSON.parse(readFileSync(record, 'utf8')); install = { method: String(r.method), reason: String(r.reason) }; }
    catch { /* a damaged record is not worth failing for */ }
  }
  return { version, addon: file, ...(install ? { install } : {}) };
}

function cudaLines(build: BuildInfo): string[] {
  if (!build.cuda) return ['cuda: not built (no nvcc at build time, or ADVPROP_CUDA=OFF): only cpu' + (build.sim ? ' and cuda-sim' : '')];
  const a = describeArchs(build.cudaArchs);
  const code = [a.sass.length ? `GPU code ${a.sass.join(' ')}` : '', a.ptx.length ? `PTX ${a.ptx.join(' ')}` : '',
    a.other.length ? a.other.join(' ') : ''].filter(Boolean).join('; ');
  return [
    `cuda: ${build.cudaCompiler || 'nvcc'}, archs ${build.cudaArchs} (${code})`,
    `cuda flags: ${build.cudaFlags || '-'}`,
    `cuda runtime ${build.runtimeVersion ? cudaVersion(build.runtimeVersion) : '?'} (linked statically), ` +
      `driver ${build.driverVersion ? `supports CUDA ${cudaVersion(build.driverVersion)}` : 'not installed'}`,
  ];
}

/** What multi-process training would use: the MPI and NCCL libraries found (neither initialised here), or why none. */
export function distLines(): string[] {
  const p = addon.distProbe();
  const n = addon.distProbeNccl();
  const mpi = p.found ? `mpi: ${p.flavor} ABI from ${p.path}${p.version ? ` (${p.version})` : ''}` : `mpi: not found: ${p.reason}`;
  const nccl = n.found ? `nccl: ${n.version} from ${n.path} (cuda ranks)` : `nccl: not found (cuda ranks need it): ${n.reason}`;
  const job = p.launcher ? `launched by a job launcher (${p.launcher})` : 'not launched by mpirun/srun: a world of one';
  return [mpi, nccl, job];
}

export async function runInfo(opts: { json: boolean; selftest: boolean }): Promise<number> {
  const build = addon.buildInfo();
  const mpi = addon.distProbe();
  const nccl = addon.distProbeNccl();
  const devices = addon.devices();
  const checks: CheckResult[] = [];
  const sim = opts.selftest && build.sim ? addon.simSelfTest() : [];
  if (opts.selftest) for (const d of devices) if (d.available && d.type !== 'cpu') checks.push(...selfTest(d.device));
  const failed = checks.filter((c) => !c.ok).length + sim.filter((s) => !s.passed).length;
  const pkg = packageInfo();
  if (opts.json) {
    console.log(JSON.stringify({ package: pkg, build, devices, mpi, nccl, jpeg: jpegDecoder(), selftest: checks, simSelfTest: sim }, null, 2));
    return failed ? 1 : 0;
  }
  console.log(`advprop ${pkg.version}` + (build.version !== pkg.version ? ` (the addon was built as ${build.version})` : ''));
  console.log(`addon: ${pkg.addon}` + (pkg.install ? ` (install: ${pkg.install.method}; ${pkg.install.reason})` : ''));
  console.log(`build: cuda ${build.cuda ? `yes (archs ${build.cudaArchs})` : 'no'}, cuda-sim ${build.sim ? 'yes' : 'no'}, ` +
    `${build.compiler}, N-API ${build.napiVersion}, ${build.threads} cpu threads`);
  for (const line of cudaLines(build)) console.log(line);
  for (const line of distLines()) console.log(line);
  const jpeg = jpegDecoder();
  console.log(jpeg.name === 'libjpeg' ? `jpeg: libjpeg-turbo from ${jpeg.detail} (the loader's JPEG decoder; others go to sharp)`
    : `jpeg: sharp decodes every JPEG: ${jpeg.detail}`);
  console.log('devices:');
  for (const d of devices) console.log(`  ${describe(d)}`);
  if (opts.selftest) {
    console.log('self-test:');
    for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.device.padEnd(12)} ${c.check} (${c.detail})`);
    if (sim.length) {
      const passed = sim.filter((s) => s.passed).length;
      console.log(`  ${passed === sim.length ? 'ok  ' : 'FAIL'} ${'cuda-sim'.padEnd(12)} simulator self-tests: ${passed}/${sim.length} passed`);
      for (const s of sim.filter((x) => !x.passed)) console.log(`       ${s.name}: ${s.detail}`);
    }
    if (!checks.length && !sim.length) console.log('  (only cpu is available: nothing to compare against)');
    console.log(failed ? `self-test: ${failed} check(s) FAILED` : 'self-test: all checks passed');
  }
  return failed ? 1 : 0;
}
