// Data-parallel scaling on paper (issue 17, item 7): gradient bytes all-reduced per AdvProp step
// for B0…B7, ring all-reduce time over NVLink and InfiniBand, a roofline step time on one H100,
// and the projected scaling efficiency at 8, 64 and 512 GPUs. Everything is computed from the
// model configs (lib/models), so the table follows the code; the hardware figures and the
// assumptions are the constants below, printed with the table.
//   npx tsx bench/scaling.ts [--attack-steps N] [--markdown]
import { parseArgs } from 'node:util';
import type { EfficientNetName } from '../lib/models/efficientnet_config.js';
import { coarseLayers, coarseStep, modelShapes } from './model_shapes.js';

const { values } = parseArgs({ options: { 'attack-steps': { type: 'string' }, markdown: { type: 'boolean' } } });
const ATTACK_STEPS = Number(values['attack-steps'] ?? 1);

// H100 SXM (NVIDIA's data sheet): dense bf16 tensor-core rate, CUDA-core bf16 FMA rate (for the
// depthwise convolutions, which have no tensor-core form), HBM3 bandwidth, device memory.
const H100 = { tensorFlops: 989e12, coreFlops: 134e12, hbm: 3.35e12, memory: 80e9 };
// The links: NVLink 450 GB/s per GPU per direction within a node of 8; InfiniBand
// 400 Gb/s per node between nodes. Per-message latency of one ring step: 3 µs on NVLink, 8 µs
// over InfiniBand (typical NCCL figures; they matter only for the smallest models).
const NODE = 8, NVLINK = 450e9, IB = 400e9 / 8, ALPHA_NV = 3e-6, ALPHA_IB = 8e-6;
// DDP-style buckets: latency is paid once per bucket and ring step.
const BUCKET = 25 * 2 ** 20;
// Activations and their gradients in bf16 (bench/model_shapes.ts: coarsePass).
const ACT_BYTES = 2;

/** Ring all-reduce of `bytes` over `gpus` GPUs: within a node on NVLink, then between nodes on IB. */
function allreduce(bytes: number, gpus: number): number {
  const buckets = Math.ceil(bytes / BUCKET);
  const intra = Math.min(gpus, NODE), nodes = gpus / intra;
  // Reduce-scatter and all-gather within the node: 2 (p-1)/p of the bytes through each GPU's link.
  let t = intra > 1 ? (2 * (intra - 1) / intra) * bytes / NVLINK + buckets * 2 * (intra - 1) * ALPHA_NV : 0;
  // Between nodes each GPU all-reduces its 1/intra share; the node's 8 GPUs share one IB port.
  if (nodes > 1) t += (2 * (nodes - 1) / nodes) * bytes / IB + buckets * 2 * (nodes - 1) * ALPHA_IB;
  return t;
}

const rows: string[][] = [];
for (const name of ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7'] as EfficientNetName[]) {
  const shapes = modelShapes(name, { domains: 2 });
  const L = coarseLayers(shapes), { resolution, params } = shapes;
  const actsPerImage = L.reduce((a, l) => a + l.acts, 0);
  // Per-GPU clean batch N (the step runs 2N): the largest power of two up to 128 whose saved
  // activations (each tensor's pre- and post-BN value, bf16) fit 3/4 of the device memory.
  let n = 128;
  while (n > 1 && 2 * n * actsPerImage * 2 * ACT_BYTES > 0.75 * H100.memory) n /= 2;
  // AdvProp step: PGD (forward + input gradient per iteration) on the N clean images through the
  // auxiliary BN, then forward and backward of the 2N batch. The last backward is what overlaps
  // with the gradient all-reduce.
  const { bwd, step } = coarseStep(L, n, ATTACK_STEPS, H100, ACT_BYTES);
  const bytes = params * 4;
  const cells = [name, String(resolution), (params / 1e6).toFixed(2), (bytes / 2 ** 20).toFixed(1), String(n), (step * 1e3).toFixed(1)];
  for (const g of [8, 64, 512]) {
    const c = allreduce(bytes, g);
    // No overlap: communication after the backward. Overlap (DDP): only what outlasts the backward.
    const none = step / (step + c), overlap = step / (step + Math.max(0, c - bwd));
    cells.push(`${(c * 1e3).toFixed(2)} ms`, `${(100 * none).toFixed(0)}% / ${(100 * overlap).toFixed(0)}%`);
  }
  rows.push(cells);
}

const head = ['model', 'res', 'params (M, 2 BN domains)', 'grad MiB/step (f32)', 'N per GPU', 'step roofline ms',
  'all-reduce 8', 'eff. 8 (serial / overlapped)', 'all-reduce 64', 'eff. 64', 'all-reduce 512', 'eff. 512'];
if (values.markdown) {
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
} else {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  console.log(head.map((h, i) => h.padStart(w[i]!)).join('  '));
  for (const r of rows) console.log(r.map((c, i) => c.padStart(w[i]!)).join('  '));
}
console.log(`\nPGD iterations ${ATTACK_STEPS}; H100 SXM ${H100.tensorFlops / 1e12} TFLOP/s bf16 tensor, ${H100.coreFlops / 1e12} TFLOP/s bf16 CUDA-core (depthwise), ${H100.hbm / 1e12} TB/s;`
  + ` NVLink ${NVLINK / 1e9} GB/s per GPU, InfiniBand ${IB * 8 / 1e9} Gb/s per node of ${NODE}; buckets ${BUCKET / 2 ** 20} MiB.`);
