// `advprop export --format onnx`: a run's model as an ONNX inference graph (ap.io.exportOnnx).
import { openDataset } from '../data/open.js';
import { EfficientNet } from '../models/efficientnet.js';
import { exportOnnx, type ExportOnnxOptions } from '../io/onnx.js';
import type { Module } from '../nn/index.js';
import { num, oneOf, UsageError } from './args.js';

export interface OnnxFlags {
  out: string;
  layout?: string;
  dtype?: string;
  resolution?: string;
  foldBn: boolean;
  /** 'raw' or 'EMA', for the message. */
  weights: string;
}

/** '--resolution 224', '224x192' or 'dynamic'. */
function resolutionFlag(v: string): Pick<ExportOnnxOptions, 'resolution' | 'dynamicSpatial'> {
  if (v === 'dynamic') return { dynamicSpatial: true };
  const parts = v.toLowerCase().split('x');
  if (parts.length > 2) throw new UsageError(`--resolution: expected N, HxW or dynamic, got '${v}'`);
  const [h, w] = parts.map((p) => num(p, '--resolution', true)!);
  if (!(h >= 1) || (w !== undefined && !(w >= 1))) throw new UsageError(`--resolution: sizes must be ≥ 1, got '${v}'`);
  return { resolution: w === undefined ? h : [h, w] };
}

/** The images the run trained on: their size when the data holds images of one size. */
function trainedSize(config: Record<string, unknown>): [number, number] | null {
  try {
    const src = openDataset(String(config.data), 'test').source;
    return src.kind === 'array' ? [src.height, src.width] : null;
  } catch {
    return null; // the run's data moved: the model's nominal size (or --resolution) it is
  }
}

export function exportRunOnnx(model: Module, config: Record<string, unknown>, f: OnnxFlags): string {
  if (!(model instanceof EfficientNet)) throw new UsageError('--format onnx: the run holds no EfficientNet');
  const layout = oneOf(f.layout, '--layout', ['nhwc', 'nchw'] as const) ?? 'nhwc';
  const dtype = oneOf(f.dtype, '--dtype', ['f32', 'f16'] as const) ?? 'f32';
  const size = f.resolution !== undefined ? resolutionFlag(f.resolution) : { resolution: trainedSize(config) ?? model.config.resolution };
  const info = exportOnnx(model, f.out, { ...size, layout, dtype, foldBn: f.foldBn });
  return `wrote ${f.out} (${f.weights} weights, ONNX opset 17, input ${info.input.name} [${info.input.shape.join(', ')}] float in [0, 1], `
    + `output ${info.output.name} [${info.output.shape.join(', ')}], clean BN${f.foldBn ? ' folded' : ''}, ${dtype} weights)`;
}
