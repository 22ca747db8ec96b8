// Helpers of the multi-rank tests (faults.test.ts, run.test.ts, bn_none.test.ts): OpenMPI's
// mpirun, if present, jobs started in the background, and the ranks' process ids. The tests skip,
// saying why, where mpirun is absent (.ci/run installs OpenMPI).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export const mpirun = process.env.ADVPROP_MPIRUN || 'mpirun';
const version = spawnSync(mpirun, ['--version'], { encoding: 'utf8' });
const openmpi = !version.error && /Open MPI/.test(version.stdout);
/** Why the mpirun tests cannot run here ('' when they can). */
export const whyNot = version.error ? `${mpirun} not found (apt-get install openmpi-bin libopenmpi-dev)`
  : openmpi ? '' : `${mpirun} is not OpenMPI's: ${version.stdout.split('\n')[0]}`;
const root = process.getuid?.() === 0;
// CI containers run as root, which OpenMPI refuses unless told twice. One thread per rank: the
// CI machine has two cores.
export const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', ADVPROP_NUM_THREADS: '1' };
export const mpirunFlags = ['--oversubscribe', '--bind-to', 'none', ...(root ? ['--allow-run-as-root'] : [])];
/** `node --import tsx SCRIPT`: what each rank runs. */
export const node = (script: string): string[] => [process.execPath, '--import', 'tsx', script];
export const CLI = 'lib/cli/main.ts';

/** Runs to the end and returns the output; fails the test on a non-zero exit. */
export function runOk(cmd: string, args: string[], extraEnv: Record<string, string> = {}, timeout = 180_000): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

export interface Ended { code: number | null; signal: NodeJS.Signals | null; output: string; at: number }
export interface Job { child: ChildProcess; tag: string; done: Promise<Ended>; output: () => string }

let jobs = 0;
/** Starts mpirun in the background. Its ranks carry ADVPROP_TEST_JOB=tag, so rankPids finds them
 * and no other job's. */
export function startJob(args: string[], extraEnv: Record<string, string> = {}): Job {
  const tag = `${process.pid}-${++jobs}`;
  const child = spawn(mpirun, ['-x', 'ADVPROP_TEST_JOB', ...args], { env: { ...env, ...extraEnv, ADVPROP_TEST_JOB: tag } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const done = new Promise<Ended>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, output: out, at: Date.now() })));
  return { child, tag, done, output: () => out };
}

/** rank -> pid of the job's rank processes (Linux: their environment in /proc). */
export function rankPids(tag: string): Map<number, number> {
  const found = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let vars: string[];
    try {
      vars = readFileSync(`/proc/${d}/environ`, 'latin1').split('\0');
    } catch {
      continue; // gone, or not ours to read
    }
    if (!vars.includes(`ADVPROP_TEST_JOB=${tag}`)) continue;
    const rank = vars.find((v) => v.startsWith('OMPI_COMM_WORLD_RANK='));
    // The rank's own node process, not a shell or launcher between (none here, but be sure).
    const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1');
    if (rank && cmd.startsWith(process.execPath)) found.set(Number(rank.split('=')[1]), Number(d));
  }
  return found;
}

export function alive(pid: number): boolean {
  try {
    // A zombie still answers kill(0); its state in /proc says it is gone.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs: number, job?: Job): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (job && job.child.exitCode !== null) throw new Error(`${what}: the job ended first\n${job.output()}`);
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s\n${job?.output() ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The step lines of a run folder's metrics.jsonl. */
export function stepsLogged(dir: string): number {
  const f = `${dir}/metrics.jsonl`;
  if (!existsSync(f)) return 0;
  return readFileSync(f, 'utf8').split('\n').filter((l) => l.includes('"type":"step"')).length;
}

/** Ends whatever of the job is left (a failed test must not leave ranks behind). */
export function killJob(job: Job): void {
  for (const pid of rankPids(job.tag).values()) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  if (job.child.exitCode === null) job.child.kill('SIGKILL');
}
