// `advprop train --nproc N`: this same command again, as N local ranks under mpirun. Each rank
// gets its share of the cores (ADVPROP_NUM_THREADS) and MPI decides rank and world size.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { addon } from '../native.js';
import { UsageError } from './args.js';

/** The mpirun command line for `n` ranks running `argv` (this process's own, minus --nproc). */
export function mpirunCommand(n: number, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  const probe = addon.distProbe();
  if (!probe.found) throw new UsageError(`--nproc needs MPI: ${probe.reason}`);
  const cmd = env.ADVPROP_MPIRUN || 'mpirun';
  const args = ['-np', String(n)];
  const childEnv: NodeJS.ProcessEnv = { ...env, ADVPROP_NUM_THREADS: String(Math.max(1, Math.floor(availableParallelism() / n))) };
  if (probe.flavor === 'openmpi') {
    // More ranks than cores is allowed (each then gets one thread), and the ranks are not pinned:
    // ADVPROP_NUM_THREADS already splits the cores.
    args.push('--oversubscribe', '--bind-to', 'none');
    if (process.getuid?.() === 0) {
      // CI containers run as root, which OpenMPI refuses unless told twice.
      args.push('--allow-run-as-root');
      childEnv.OMPI_ALLOW_RUN_AS_ROOT = '1';
      childEnv.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = '1';
    }
  }
  args.push(process.execPath, ...process.execArgv, ...argv);
  return { cmd, args, env: childEnv };
}

/** Runs the ranks and returns mpirun's exit code (Ctrl-C goes to the whole process group). */
export function launchRanks(n: number, argv: readonly string[]): Promise<number> {
  const { cmd, args, env } = mpirunCommand(n, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env });
    // Ctrl-C reaches mpirun through the process group; a SIGTERM sent to this process alone is
    // passed on (mpirun forwards it to the ranks, which checkpoint and stop).
    const ignore = (): void => undefined;
    const forward = (): void => { child.kill('SIGTERM'); };
    process.on('SIGINT', ignore);
    process.on('SIGTERM', forward);
    const done = (): void => { process.off('SIGINT', ignore); process.off('SIGTERM', forward); };
    child.on('error', (e) => { done(); reject(new UsageError(`--nproc: cannot run ${cmd}: ${e.message} (set ADVPROP_MPIRUN to mpirun's path)`)); });
    child.on('exit', (code, signal) => { done(); resolve(code ?? (signal === 'SIGTERM' ? 143 : 130)); });
  });
}
