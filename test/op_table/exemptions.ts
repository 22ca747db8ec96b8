// The exports of lib/index.ts that are not ops and so have no op-table entry. Reviewed list: a
// new function export fails test/op_table.test.ts until it gets an entry or a line here, and a
// line here that no longer names an export fails it too. 'ns.*' stands for every function of a
// namespace. Non-function exports (constants such as DTYPES or models.EFFICIENTNET_PARAMS) are
// data, not calls, and are not counted.
export interface Exemption { names: readonly string[]; why: string }

export const EXEMPTIONS: readonly Exemption[] = [
  { names: ['Tensor', 'AdvpropError', 'isTensor'], why: 'the tensor class, the error type and a type guard' },
  { names: ['tidy', 'keep', 'dispose', 'memory', 'synchronize', 'emptyCache'], why: 'memory and stream management (test/memory.test.ts)' },
  { names: ['copyInto', 'cudaGraph.*'], why: 'CUDA graphs of a step and the in-place copy that feeds them, no op of their own (test/cuda_graph.test.ts)' },
  { names: ['resetPeakMemory'], why: 'allocator statistics: restarts a device\'s peakBytesInUse, runs no kernel (test/memory.test.ts)' },
  {
    names: ['autocast', 'currentPrecision', 'defaultPrecision'],
    why: 'the precision policy: a scope choosing the dtype conv2d, linear and squeezeExcite compute in, whose 16-bit runs are entries (test/train/precision.test.ts)',
  },
  { names: ['devices', 'defaultDevice', 'setDefaultDevice', 'buildInfo'], why: 'device and build queries (test/native.test.ts)' },
  { names: ['manualSeed', 'getRngState', 'setRngState'], why: 'the global Philox key; every draw it keys is an entry (rand, randn, dropout, pgdRandomStart)' },
  { names: ['withSampleMap'], why: 'sets the sample map the draws take (dropout, dropConnect, dropConnectAdd, pgdRandomStart are entries); test/ops/sample_map.test.ts checks it on every backend' },
  {
    names: ['grad', 'valueAndGrad', 'noGrad', 'enableGrad', 'isGradEnabled', 'setGradEnabled', 'autograd.*'],
    why: 'the autograd engine, which every gradient check of the table drives (test/autograd.test.ts)',
  },
  {
    names: ['kernels.normalizeAxes', 'kernels.normalizeConv', 'kernels.normalizeBatchNormOptions', 'kernels.checkSegments'],
    why: 'argument normalisers that run no kernel',
  },
  {
    names: ['kernels.conv2dBnEval'],
    why: 'the inference kernel, no gradient: conv2d, multiBatchNorm in eval and add (each an entry) in one call, checked against them bit for bit per backend (test/nn/inference.test.ts, native/tests/epilogue_test.cc)',
  },
  { names: ['optim.*'], why: 'optimizer classes over kernels.rmspropUpdate / sgdUpdate / emaUpdate, which are entries (test/optim.test.ts)' },
  { names: ['nn.*', 'models.*'], why: 'modules and models composed of the ops (test/nn/)' },
  { names: ['attack.*'], why: 'attack loops over a model, built on the pgdStep / pgdRandomStart entries (test/ops/attack.test.ts)' },
  {
    names: ['dist.*'],
    why: 'data parallel across processes: collectives over MPI (a world of one in this process), shards, and batch norm across ranks built on the multiBatchNorm entry (test/distributed/mpi.test.ts)',
  },
  {
    names: ['data.*', 'io.*', 'report.*', 'evaluation.*', 'train.*'],
    why: 'host-side code (datasets, files, reports, image corruptions, the training loop) with no kernel of its own',
  },
];
