// The ranks of a data-parallel job (native/dist, advprop/dist.h). A process started by mpirun or
// srun joins the job through the MPI library loaded at run time; one started alone is a world of
// one, never loads MPI, and every collective below returns its input.
import { addon, type DistWorld, type MpiProbe, type NcclProbe } from '../native.js';
import { AdvpropError } from '../errors.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { intArg, numArg, optionsArg } from '../args.js';

export type { DistWorld, MpiProbe, NcclProbe } from '../native.js';

/** Default gradient bucket: big enough that per-call latency vanishes, small enough to stay in cache-sized copies. */
export const DEFAULT_BUCKET_BYTES = 4 << 20;

let finalizeHooked = false;

/**
 * Joins the job (MPI_Init_thread) when a launcher started this process, else a world of one.
 * Idempotent. MPI is finalised when the process exits (or by `finalize()`).
 */
export function init(): DistWorld {
  const w = addon.distInit();
  if (w.mpi && !finalizeHooked) {
    finalizeHooked = true;
    // mpirun reports a rank that exits without MPI_Finalize as failed, whatever its exit code.
    process.once('exit', () => addon.distFinalize());
  }
  return w;
}

/** This process's rank, world size and local rank (a world of one before `init()`). */
export function world(): DistWorld {
  return addon.distWorld();
}

/** Whether NCCL loads (ADVPROP_NCCL_LIB, libnccl.so.2, libnccl.so; 2.10 or newer), which, and why not. */
export function probeNccl(): NcclProbe {
  return addon.distProbeNccl();
}

/** Whether an MPI library loads (ADVPROP_MPI_LIB, libmpi.so.40, libmpi.so.12, libmpi.so), which, and why not. */
export function probeMpi(): MpiProbe {
  return addon.distProbe();
}

function handles(tensors: readonly Tensor[], op: string) {
  if (!Array.isArray(tensors)) throw new AdvpropError('ERR_ARG', `${op}: tensors must be an array of Tensors`);
  return tensors.map((t, i) => checkTensor(t, op, `tensors[${i}]`)._handle(op, `tensors[${i}]`));
}

/**
 * New tensors holding each input summed over the ranks, or averaged with `{average: true}`. The
 * inputs are cut into buckets of `bucketBytes` in the order given, so a fixed world size always
 * adds in the same order, and every rank gets the same bits. cpu tensors (all f32 or all f64) go
 * through MPI; cuda tensors (f32, f64, bf16, f16) through NCCL on the device's stream.
 */
export function allreduce(tensors: readonly Tensor[], options?: { average?: boolean; bucketBytes?: number }): Tensor[] {
  const op = 'dist.allreduce';
  const o = optionsArg(options, op);
  const bucket = intArg(o.bucketBytes ?? DEFAULT_BUCKET_BYTES, op, 'bucketBytes', 64, 2 ** 30);
  const average = o.average ?? false;
  if (typeof average !== 'boolean') throw new AdvpropError('ERR_ARG', `${op}: average must be a boolean`);
  return addon.distAllreduce(handles(tensors, op), average, bucket).map((h) => wrapHandle(h));
}

/** An all-reduce started by `allreduceStart`; `wait()` once for its tensors. */
export interface PendingAllreduce {
  wait(): Tensor[];
}

/**
 * `allreduce` without waiting: cpu tensors are queued on this rank's communication thread (in
 * submission order with every other collective, so every rank issues the same MPI calls in the
 * same order), cuda tensors on the device's communication stream. Same buckets, same bits as
 * `allreduce`. The inputs must stay alive and unchanged until `wait()`.
 */
export function allreduceStart(tensors: readonly Tensor[], options?: { average?: boolean; bucketBytes?: number }): PendingAllreduce {
  const op = 'dist.allreduceStart';
  const o = optionsArg(options, op);
  const bucket = intArg(o.bucketBytes ?? DEFAULT_BUCKET_BYTES, op, 'bucketBytes', 64, 2 ** 30);
  const average = o.average ?? false;
  if (typeof average !== 'boolean') throw new AdvpropError('ERR_ARG', `${op}: average must be a boolean`);
  const handle = addon.distAllreduceStart(handles(tensors, op), average, bucket);
  let done = false;
  return {
    wait(): Tensor[] {
      if (done) throw new AdvpropError('ERR_ARG', `${op}: wait() was already called`);
      done = true;
      return addon.distAllreduceWait(handle).map((h) => wrapHandle(h));
    },
  };
}

/** Sums host values over the ranks in place (small per-layer statistics). */
export function allreduceHost(values: Float64Array): void {
  if (!(values instanceof Float64Array)) throw new AdvpropError('ERR_ARG', 'dist.allreduceHost: values must be a Float64Array');
  addon.distAllreduceHost(values);
}

/** Copies rank `root`'s tensors into every rank's tensors of the same shapes, in place. */
export function broadcast(tensors: readonly Tensor[], root = 0): void {
  const op = 'dist.broadcast';
  const h = handles(tensors, op);
  addon.distBroadcast(h, intArg(root, op, 'root', 0, 2 ** 31 - 1));
}

/**
 * Waits until every rank has called it. Like every collective it aborts the job when the others
 * do not arrive within ADVPROP_DIST_TIMEOUT seconds (default 45); `timeoutSeconds` replaces that
 * deadline for this wait, 0 for none (the ranks waiting for rank 0's evaluation or checkpoint).
 */
export function barrier(options?: { timeoutSeconds?: number }): void {
  const o = optionsArg(options, 'dist.barrier');
  if (o.timeoutSeconds === undefined) return addon.distBarrier();
  addon.distBarrier(numArg(o.timeoutSeconds, 'dist.barrier', 'timeoutSeconds', 0, 1e9));
}

/** Ends every rank of the job with `code` (MPI_Abort); in a world of one, this process. */
export function abortJob(code: number): never {
  return addon.distAbort(intArg(code, 'dist.abortJob', 'code', 0, 255));
}

/** MPI_Finalize, once; later collectives are ERR_DIST. A no-op in a world of one. */
export function finalize(): void {
  addon.distFinalize();
}
