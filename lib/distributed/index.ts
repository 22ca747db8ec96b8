// ap.dist: data-parallel training across processes (mpirun, srun) on MPI loaded at run time.
export { init, world, probeMpi, probeNccl, allreduce, allreduceStart, broadcast, barrier, finalize, DEFAULT_BUCKET_BYTES, type DistWorld, type MpiProbe, type NcclProbe, type PendingAllreduce } from './world.js';
export { withBnSync, syncMultiBatchNorm } from './sync_bn.js';
export { shardIndices } from './shard.js';
export type { Shard } from './shard.js';
