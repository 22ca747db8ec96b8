// Batches in a seeded order, prepared ahead in worker threads while the device computes. The
// order of epoch e is a permutation keyed by (seed, e) and each sample's augmentation by
// (seed, e, index), so any batch can be rebuilt exactly — resuming mid-epoch just starts at a
// batch number.
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AdvpropError, type ErrorCode } from '../errors.js';
import { DECODE_AHEAD, prepareBatchAsync, type BatchOutput, type PreparedBatch } from './batch.js';
import { checkDataset, datasetSize, shareDataset, type ImageDataset } from './dataset.js';
import { LIMITS, boolArg, functionArg, intArg, objectArg, oneOfArg } from '../args.js';
import { permutation, Rng, shardPermutation } from './rng.js';
import { validateTransforms, type TransformSpec } from './transforms.js';
import { checkShard, shardIndices, type Shard } from '../distributed/shard.js';

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean; // default true
  seed?: number; // default 0
  dropLast?: boolean; // default true: every batch has batchSize samples
  transforms?: TransformSpec[];
  /** Worker threads preparing batches; 0 prepares them on the main thread. Default 1. */
  workers?: number;
  /** Batches prepared ahead of the one being consumed. Default 2. */
  prefetch?: number;
  /** A file that does not decode stops the epoch with ERR_FORMAT naming it, instead of being
   * left out of its batch with a warning. Default false. */
  strict?: boolean;
  /** Called once per left-out file (default: a warning on stderr naming it). */
  onSkip?: (path: string, message: string) => void;
  /** Data parallel: this rank's part of each global batch of `size × batchSize` samples (batchSize
   * is per rank; every rank uses the same seed). Default { rank: 0, size: 1 }. */
  shard?: Shard;
  /** 'float' (default): x is f32 in [0, 1]. 'uint8': x holds the bytes, a quarter of the size, for
   * kernels.normalizeImage on the device (the same values, bit for bit). Either way a worker's
   * batch arrives in a transferred ArrayBuffer, not a copy. */
  output?: BatchOutput;
  /** Images of file sources a worker decodes ahead of the one it transforms (sharp's decodes run
   * on the thread pool meanwhile; the libjpeg path decodes on the worker's own thread, so it gains
   * nothing there); 0 decodes one at a time. The batches are the same either way. Default 1. */
  decodeAhead?: number;
}

export interface Batch {
  x: Float32Array | Uint8Array; // NHWC: in [0, 1] (output 'float'), or bytes (output 'uint8')
  shape: [number, number, number, number];
  y: Int32Array;
  indices: Int32Array;
  epoch: number;
  index: number; // batch number within the epoch
}

interface Pending { resolve: (b: PreparedBatch) => void; reject: (e: Error) => void }

export class DataLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  private readonly opts: Required<Omit<LoaderOptions, 'batchSize'>>;
  /** Samples per step over all ranks: batchSize × shard.size. */
  readonly globalBatchSize: number;
  private readonly skippedFiles = new Set<string>();
  private workers: Worker[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private rr = 0;

  constructor(dataset: ImageDataset, opts: LoaderOptions) {
    const op = 'DataLoader';
    checkDataset(dataset, op);
    objectArg(opts, op, 'options', '{ batchSize, ... }');
    intArg(opts.batchSize, op, 'batchSize', 1, LIMITS.batch);
    const n = datasetSize(dataset);
    const dropLast = boolArg(opts.dropLast ?? true, op, 'dropLast');
    boolArg(opts.shuffle ?? true, op, 'shuffle');
    intArg(opts.seed ?? 0, op, 'seed', 0, Number.MAX_SAFE_INTEGER);
    intArg(opts.workers ?? 1, op, 'workers', 0, LIMITS.workers);
    intArg(opts.prefetch ?? 2, op, 'prefetch', 1, 1024);
    intArg(opts.decodeAhead ?? DECODE_AHEAD, op, 'decodeAhead', 0, 64);
    boolArg(opts.strict ?? false, op, 'strict');
    const output = oneOfArg(opts.output ?? 'float', op, 'output', ['float', 'uint8'] as const);
    if (opts.onSkip !== undefined) functionArg(opts.onSkip, op, 'onSkip');
    const shard = opts.shard === undefined ? { rank: 0, size: 1 } : checkShard(opts.shard, op);
    if (shard.size > 1 && !dropLast) throw new AdvpropError('ERR_ARG', 'DataLoader: a sharded loader needs dropLast (every rank takes a full batch)');
    const global = opts.batchSize * shard.size;
    if (n === 0 || (dropLast && n < global))
      throw new AdvpropError('ERR_ARG', `DataLoader: ${n} samples in ${dataset.name} cannot fill one batch of ${global}${shard.size > 1 ? ` (${shard.size} ranks × ${opts.batchSize})` : ''}`);
    this.globalBatchSize = global;
    validateTransforms(opts.transforms ?? []);
    this.batchSize = opts.batchSize;
    this.opts = {
      shuffle: opts.shuffle ?? true, seed: opts.seed ?? 0, dropLast, transforms: opts.transforms ?? [],
      workers: Math.max(0, Math.min(opts.workers ?? 1, availableParallelism())), prefetch: Math.max(1, opts.prefetch ?? 2),
      strict: opts.strict ?? false, shard, output, decodeAhead: opts.decodeAhead ?? DECODE_AHEAD,
      onSkip: opts.onSkip ?? ((path, message) => console.warn(`advprop: skipping ${path}: ${message}`)),
    };
    this.dataset = this.opts.workers > 0 ? shareDataset(dataset) : dataset;
  }

  /** Files left out so far because they did not decode (each counted once). */
  get skipped(): number {
    return this.skippedFiles.size;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = datasetSize(this.dataset);
    return this.opts.dropLast ? Math.floor(n / this.globalBatchSize) : Math.ceil(n / this.globalBatchSize);
  }

  order(epoch: number): Int32Array {
    intArg(epoch, 'DataLoader.order', 'epoch', 0, Number.MAX_SAFE_INTEGER);
    const n = datasetSize(this.dataset);
    if (!this.opts.shuffle) return Int32Array.from({ length: n }, (_, i) => i);
    // Tar shards are read a shard at a time (rng.ts's shardPermutation); files in any order.
    const s = this.dataset.source, rng = new Rng(this.opts.seed, epoch, 0x5eed);
    return s.kind === 'tar' ? shardPermutation(s.starts, rng) : permutation(n, rng);
  }

  /** The batches of one epoch, from batch `start` on, in order. */
  async *epoch(epoch: number, start = 0): AsyncGenerator<Batch> {
    intArg(start, 'DataLoader.epoch', 'start', 0, Number.MAX_SAFE_INTEGER);
    const order = this.order(epoch);
    const count = this.length;
    const jobs = new Map<number, Promise<PreparedBatch>>();
    const part = (b: number): Int32Array => shardIndices(order, b, this.batchSize, this.opts.shard);
    const submit = (b: number): void => {
      if (b < count && !jobs.has(b)) {
        const job = this.prepare(epoch, part(b));
        // A prefetched batch may fail before it is awaited (a corrupt file under strict) or never
        // be awaited (past the caller's last step): handled here, so Node does not end the
        // process for an unhandled rejection; awaiting it still throws.
        job.catch(() => undefined);
        jobs.set(b, job);
      }
    };
    for (let b = start; b < count; b++) {
      for (let a = b; a <= b + this.opts.prefetch; a++) submit(a);
      const prepared = await jobs.get(b)!;
      jobs.delete(b);
      let indices = part(b).slice();
      for (const s of prepared.skipped ?? []) {
        if (this.skippedFiles.has(s.path)) continue;
        this.skippedFiles.add(s.path);
        this.opts.onSkip(s.path, s.message);
      }
      if (prepared.kept) indices = prepared.kept.map((k) => indices[k]!);
      if (indices.length === 0) continue; // every file of the batch was left out
      yield { x: prepared.x, shape: prepared.shape, y: indices.map((i) => this.dataset.labels[i]!), indices, epoch, index: b };
    }
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
    this.workers = [];
    for (const p of this.pending.values()) p.reject(new AdvpropError('ERR_ARG', 'DataLoader: closed while a batch was being prepared'));
    this.pending.clear();
  }

  private prepare(epoch: number, indices: Int32Array): Promise<PreparedBatch> {
    if (this.opts.workers === 0) {
      return prepareBatchAsync(this.dataset, this.opts.transforms, this.opts.seed, { epoch, indices }, this.opts.strict, this.opts.output, this.opts.decodeAhead);
    }
    if (this.workers.length === 0) this.startWorkers();
    const id = this.nextId++;
    const worker = this.workers[this.rr++ % this.workers.length]!;
    if (this.pending.size === 0) for (const w of this.workers) w.ref();
    return new Promise<PreparedBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, job: { epoch, indices: Int32Array.from(indices) } });
    });
  }

  private startWorkers(): void {
    // Under tsx the worker is the .ts source and starts through tsx-worker.mjs, which registers tsx.
    const self = fileURLToPath(import.meta.url);
    const ts = self.endsWith('.ts');
    const entry = self.replace(/loader\.(ts|js)$/, `worker.${ts ? 'ts' : 'js'}`);
    const file = ts ? self.replace(/loader\.ts$/, 'tsx-worker.mjs') : entry;
    const workerData = { dataset: this.dataset, transforms: this.opts.transforms, seed: this.opts.seed, strict: this.opts.strict, output: this.opts.output, decodeAhead: this.opts.decodeAhead, entry: pathToFileURL(entry).href };
    for (let i = 0; i < this.opts.workers; i++) {
      const w = new Worker(file, { workerData });
      w.on('message', (m: Partial<PreparedBatch> & { id: number; error?: { code: string; message: string } }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (this.pending.size === 0) for (const v of this.workers) v.unref();
        if (m.error) p.reject(new AdvpropError(m.error.code as ErrorCode, m.error.message));
        else p.resolve({ x: m.x!, shape: m.shape!, kept: m.kept, skipped: m.skipped });
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(new AdvpropError('ERR_INTERNAL', `loader worker failed: ${e.message}`, { cause: e }));
        this.pending.clear();
      });
      w.unref();
      this.workers.push(w);
    }
  }
}
