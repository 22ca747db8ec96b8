// A roofline of one training step that runs anywhere (issue 16, item 6): per op family, the
// launches, bytes moved and FLOPs of one step of our code (bench/roofline_model.ts, from the
// shapes and the dtype), the time they need at a card's bandwidth and peak, the roofline time
// (the larger of the two, kernel by kernel), and its share of the step; beside it the measured
// time per family when a profile is given (`npm run bench -- --profile --profile-json FILE` on
// the card). It shows where a GPU step loses before anyone has a GPU.
//   npm run bench -- --roofline [h100|h200] [--model b0] [--resolution 224] [--batch 256]
//     [--dtype bf16|tf32|f32] [--method advprop|vanilla] [--epsilon 1] [--attack-steps N]
//     [--random-start] [--input u8|f32] [--no-ema] [--classes 1000]
//     [--bandwidth TB/s] [--peak TFLOP/s] [--core-peak TFLOP/s] [--measured FILE] [--markdown]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EFFICIENTNET_NAMES, type EfficientNetName } from '../lib/models/efficientnet_config.js';
import { defaultSteps } from '../lib/attack/pgd.js';
import { coarseLayers, coarsePass, coarseStep, modelShapes } from './model_shapes.js';
import { countStep, type Kernel, type Phase, type StepDtype } from './roofline_model.js';

/**
 * Cards. H100: the figures issue 16 gives as measured on the lent H100 (SXM, 80 GB): 3.0 TB/s
 * device copy bandwidth (the data sheet says 3.35 TB/s HBM3) and 798 TFLOP/s bf16 dense GEMM
 * (the data sheet says 989). tf32: 400 TFLOP/s,
 * the data sheet's 495 dense scaled by the same 0.81 as bf16. f32 without tensor cores and every
 * non-GEMM kernel (ours accumulate in f32, bf16 included): 67 TFLOP/s, the data sheet's FP32.
 * H200: the same GH100 compute with 4.8 TB/s HBM3e (data sheet; not measured here).
 */
export interface Card { name: string; bandwidth: number; gemmPeak: Record<StepDtype, number>; corePeak: number }
const GH100 = { gemmPeak: { bf16: 798e12, tf32: 400e12, f32: 67e12 }, corePeak: 67e12 };
export const CARDS: Record<string, Card> = {
  h100: { name: 'H100 SXM (measured copy BW and bf16 GEMM peak)', bandwidth: 3.0e12, ...GH100 },
  h200: { name: 'H200 (data sheet HBM3e, H100 compute)', bandwidth: 4.8e12, ...GH100 },
};

export interface FamilyRow { family: string; launches: number; bytes: number; flops: number; tMem: number; tPeak: number; tRoof: number }

/** Per family: kernel by kernel, time at bandwidth, at the peak that kernel runs at, and the larger. */
export function rooflineRows(kernels: Kernel[], card: Card, dtype: StepDtype): { rows: FamilyRow[]; phases: Map<Phase, number> } {
  const acc = new Map<string, FamilyRow>();
  const phases = new Map<Phase, number>();
  for (const kn of kernels) {
    const tMem = kn.bytes / card.bandwidth, tPeak = kn.flops / (kn.gemm ? card.gemmPeak[dtype] : card.corePeak);
    const r = acc.get(kn.family) ?? { family: kn.family, launches: 0, bytes: 0, flops: 0, tMem: 0, tPeak: 0, tRoof: 0 };
    r.launches += kn.launches; r.bytes += kn.bytes; r.flops += kn.flops;
    r.tMem += tMem; r.tPeak += tPeak; r.tRoof += Math.max(tMem, tPeak);
    acc.set(kn.family, r);
    phases.set(kn.phase, (phases.get(kn.phase) ?? 0) + Math.max(tMem, tPeak));
  }
  return { rows: [...acc.values()].sort((a, b) => b.tRoof - a.tRoof), phases };
}

/** Measured ms per family: a flat { family: ms } object, or bench/profile.ts's --profile-json file. */
export function readMeasured(file: string, method: string): { perFamily: Map<string, number>; wallMs?: number; note: string } {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (j.methods && typeof j.methods === 'object') {
    const methods = j.methods as Record<string, { wallMs: number; families: Record<string, { ms: number }> }>;
    const p = methods[method];
    if (!p) throw new Error(`--measured ${file}: no profile of method '${method}' (has: ${Object.keys(methods).join(', ')})`);
    const perFamily = new Map(Object.entries(p.families).map(([f, v]) => [f, v.ms]));
    const c = j.case as { size?: number; batch?: number } | undefined;
    return { perFamily, wallMs: p.wallMs, note: `${method} on ${String(j.device)}, ${String(j.precision)}, ${c?.size}x${c?.size}, batch ${c?.batch}` };
  }
  return { perFamily: new Map(Object.entries(j).filter(([, v]) => typeof v === 'number') as [string, number][]), note: file };
}

const num = (v: string | undefined, what: string, dflt: number): number => {
  const x = v === undefined ? dflt : Number(v);
  if (!Number.isFinite(x) || x < 0) throw new Error(`${what}: a non-negative number, got ${v}`);
  return x;
};
const oneOf = <T extends string>(v: string, what: string, options: readonly T[]): T => {
  if (!(options as readonly string[]).includes(v)) throw new Error(`${what}: one of ${options.join(', ')}, got ${v}`);
  return v as T;
};

export async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      card: { type: 'string' }, model: { type: 'string', default: 'b0' }, resolution: { type: 'string' },
      batch: { type: 'string', default: '256' }, dtype: { type: 'string', default: 'bf16' },
      method: { type: 'string', default: 'advprop' }, epsilon: { type: 'string', default: '1' },
      'attack-steps': { type: 'string' }, 'random-start': { type: 'boolean', default: false },
      input: { type: 'string', default: 'u8' }, 'no-ema': { type: 'boolean', default: false }, classes: { type: 'string', default: '1000' },
      bandwidth: { type: 'string' }, peak: { type: 'string' }, 'core-peak': { type: 'string' },
      measured: { type: 'string' }, 'measured-method': { type: 'string' }, markdown: { type: 'boolean', default: false },
    },
  });
  const cardName = oneOf(values.card ?? positionals[0] ?? 'h100', '--roofline card', Object.keys(CARDS));
  const dtype = oneOf(values.dtype!, '--dtype', ['f32', 'tf32', 'bf16'] as const);
  const base = CARDS[cardName]!;
  const card: Card = {
    name: base.name, bandwidth: num(values.bandwidth, '--bandwidth', base.bandwidth / 1e12) * 1e12,
    gemmPeak: { ...base.gemmPeak, [dtype]: num(values.peak, '--peak', base.gemmPeak[dtype] / 1e12) * 1e12 },
    corePeak: num(values['core-peak'], '--core-peak', base.corePeak / 1e12) * 1e12,
  };
  if (values.bandwidth || values.peak || values['core-peak']) card.name += ', overridden';
  const model = oneOf(values.model!, '--model', EFFICIENTNET_NAMES) as EfficientNetName;
  const method = oneOf(values.method!, '--method', ['advprop', 'vanilla'] as const);
  const epsilon = num(values.epsilon, '--epsilon', 1);
  const attackSteps = method === 'advprop' ? num(values['attack-steps'], '--attack-steps', defaultSteps(epsilon)) : 0;
  const batch = num(values.batch, '--batch', 256);
  const shapes = modelShapes(model, {
    resolution: values.resolution === undefined ? undefined : num(values.resolution, '--resolution', 0),
    numClasses: num(values.classes, '--classes', 1000), domains: method === 'advprop' ? 2 : 1,
  });
  const kernels = countStep({ shapes, batch, dtype, method, attackSteps, randomStart: values['random-start']!,
    input: oneOf(values.input!, '--input', ['u8', 'f32'] as const), ema: !values['no-ema'] });
  const { rows, phases } = rooflineRows(kernels, card, dtype);
  const total = rows.reduce((s, r) => s + r.tRoof, 0);
  const measured = values.measured
    ? readMeasured(values.measured, values['measured-method'] ?? (method === 'vanilla' ? 'vanilla' : `advprop ε=${epsilon}`)) : undefined;

  const ms = (t: number): string => (t * 1e3).toFixed(3);
  const head = ['family', 'launches', 'MB moved', 'GFLOP', 'ms @ BW', 'ms @ peak', 'roofline ms', 'share'];
  if (measured) head.push('measured ms', 'measured / roofline');
  const table = rows.map((r) => {
    const cells = [r.family, String(r.launches), (r.bytes / 1e6).toFixed(1), (r.flops / 1e9).toFixed(2), ms(r.tMem), ms(r.tPeak), ms(r.tRoof),
      `${((100 * r.tRoof) / total).toFixed(1)}%`];
    if (measured) {
      const v = measured.perFamily.get(r.family);
      cells.push(v === undefined ? '—' : v.toFixed(3), v === undefined || r.tRoof === 0 ? '—' : `${(v / (r.tRoof * 1e3)).toFixed(1)}×`);
    }
    return cells;
  });
  if (measured) {
    // What the profile timed that the roofline does not count (host transfers, handles, fills).
    for (const [f, v] of measured.perFamily) if (!rows.some((r) => r.family === f)) table.push([f, '', '', '', '', '', '—', '', v.toFixed(3), '—']);
  }
  const sum = (pick: (r: FamilyRow) => number): number => rows.reduce((s, r) => s + pick(r), 0);
  const totalRow = ['step', String(sum((r) => r.launches)), (sum((r) => r.bytes) / 1e6).toFixed(1), (sum((r) => r.flops) / 1e9).toFixed(1),
    ms(sum((r) => r.tMem)), ms(sum((r) => r.tPeak)), ms(total), '100%'];
  if (measured) {
    const m = measured.wallMs ?? [...measured.perFamily.values()].reduce((a, b) => a + b, 0);
    totalRow.push(`${m.toFixed(3)}${measured.wallMs ? ' (wall)' : ''}`, `${(m / (total * 1e3)).toFixed(1)}×`);
  }
  table.push(totalRow);

  console.log(`Roofline of one ${method === 'advprop' ? `AdvProp step (ε = ${epsilon}, ${attackSteps} PGD iteration${attackSteps === 1 ? '' : 's'})` : 'vanilla step'}: ` +
    `EfficientNet-${model.toUpperCase()} at ${shapes.resolution}, batch ${batch}${method === 'advprop' ? ` (+ ${batch} adversarial)` : ''}, ${dtype}, ` +
    `${values.input} input, RMSProp${values['no-ema'] ? '' : ' + EMA'}; ${card.name}: ${(card.bandwidth / 1e12).toFixed(2)} TB/s, ` +
    `GEMM ${(card.gemmPeak[dtype] / 1e12).toFixed(0)} TFLOP/s ${dtype}, other kernels ${(card.corePeak / 1e12).toFixed(0)} TFLOP/s` +
    (measured ? `; measured: ${measured.note}` : ''));
  if (values.markdown) {
    console.log(`\n| ${head.join(' | ')} |\n|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
    for (const r of table) console.log(`| ${r.join(' | ')} |`);
  } else {
    const w = head.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? '').length)));
    console.log(head.map((h, i) => (i === 0 ? h.padEnd(w[i]!) : h.padStart(w[i]!))).join('  '));
    for (const r of table) console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  }
  const ph = [...phases].map(([p, t]) => `${p} ${ms(t)}`).join(', ');
  // Sanity: the forward's convolution and linear FLOPs per image (B0 at 224: 0.39 G multiply-adds).
  const fwdConvFlops = kernels.filter((k) => k.phase === 'forward' && (k.gemm || k.family === 'conv depthwise fwd')).reduce((s, k) => s + k.flops, 0);
  const images = method === 'advprop' ? 2 * batch : batch;
  const L = coarseLayers(shapes), D = dtype === 'bf16' ? 2 : 4;
  const coarseCard = { tensorFlops: card.gemmPeak[dtype], coreFlops: card.corePeak, hbm: card.bandwidth };
  const coarse = method === 'advprop' ? coarseStep(L, batch, attackSteps, coarseCard, D).step
    : coarsePass(L, batch, 'fwd', coarseCard, D) + coarsePass(L, batch, 'bwd', coarseCard, D);
  const convOnly = rows.filter((r) => r.family.startsWith('conv ') || r.family === 'classifier (linear)').reduce((a, r) => a + r.tRoof, 0);
  console.log(`\nroofline ms by phase: ${ph}; ${sum((r) => r.launches)} launches` +
    `\nforward convolutions + linear: ${(fwdConvFlops / images / 2e9).toFixed(3)} G multiply-adds per image` +
    `\nbench/scaling.ts's coarse per-layer model, same card, batch and dtype: ${ms(coarse)} ms; the convolution and classifier rows` +
    ` above: ${ms(convOnly)} ms (the coarse model charges each activation 2 touches forward and 3 backward, as if batch norm,` +
    ' SE and the residual were fused into the convolutions; the rows above count the kernels we launch)');
}
