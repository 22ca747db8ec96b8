// summary(): layers, output shapes, parameters and multiply-adds, computed from the config
// (no forward pass, so it works for L2 at 800 px and before any kernel runs). MACs count the
// convolutions and the classifier, as the EfficientNet paper's "FLOPs" do (B0: 0.39 B).
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { checkModule, type Module } from '../nn/module.js';
import { boolArg, optionsArg } from '../args.js';
import { EfficientNet } from './efficientnet.js';
import { EFFICIENTNET_NAMES, checkConfig, countParameters, efficientnetConfig, type EfficientNetConfig, type EfficientNetName } from './efficientnet_config.js';

export interface SummaryRow {
  name: string;
  layer: string;
  /** NHWC output shape (batch first). */
  output: number[];
  params: number;
  macs: number;
}

export interface Summary {
  rows: SummaryRow[];
  params: number;
  macs: number;
  text: string;
}

export interface SummaryOptions {
  /** NHWC input shape; default [1, resolution, resolution, inChannels]. */
  inputShape?: readonly number[];
  /** Print the table with console.log (default true). */
  print?: boolean;
}

function outSize(n: number, k: number, s: number, padding: 'same' | 'symmetric'): number {
  return padding === 'same' ? Math.ceil(n / s) : Math.floor((n + 2 * ((k - 1) >> 1) - k) / s) + 1;
}

/** Rows for an EfficientNet config (BN parameters counted for all cfg.domains). */
export function efficientnetRows(config: EfficientNetConfig, inputShape: readonly number[]): SummaryRow[] {
  const cfg = checkConfig(config, 'summary');
  if (!Array.isArray(inputShape) || inputShape.some((d) => !Number.isSafeInteger(d)))
    throw new AdvpropError('ERR_SHAPE', `summary: inputShape must be NHWC [N, H, W, ${cfg.inChannels}], got ${describeValue(inputShape)}`);
  const [N, H0, W0, C0] = inputShape;
  if (inputShape.length !== 4 || C0 !== cfg.inChannels || !(H0 > 0 && W0 > 0 && N > 0))
    throw new AdvpropError('ERR_SHAPE', `summary: inputShape must be NHWC [N, H, W, ${cfg.inChannels}], got ${describeValue(inputShape)}`);
  const K = cfg.domains;
  const rows: SummaryRow[] = [];
  let h = outSize(H0, 3, 2, cfg.padding);
  let w = outSize(W0, 3, 2, cfg.padding);
  rows.push({ name: 'conv_stem+bn1', layer: 'Conv2d k3 s2 + BN + swish', output: [N, h, w, cfg.stemFilters],
    params: 9 * C0 * cfg.stemFilters + 2 * K * cfg.stemFilters, macs: N * h * w * 9 * C0 * cfg.stemFilters });
  for (const b of cfg.blocks) {
    const hi = h, wi = w;
    h = outSize(h, b.kernel, b.stride, cfg.padding);
    w = outSize(w, b.kernel, b.stride, cfg.padding);
    const m = b.midFilters;
    let params = 0, macs = 0;
    if (b.expand !== 1) { params += b.inFilters * m + 2 * K * m; macs += N * hi * wi * b.inFilters * m; }
    params += b.kernel * b.kernel * m + 2 * K * m; macs += N * h * w * b.kernel * b.kernel * m;
    if (b.seFilters) { params += 2 * m * b.seFilters + m + b.seFilters; macs += N * 2 * m * b.seFilters; }
    params += m * b.outFilters + 2 * K * b.outFilters; macs += N * h * w * m * b.outFilters;
    rows.push({ name: `blocks.${b.stage}.${b.index}`, layer: `MBConv${b.expand} k${b.kernel} s${b.stride}${b.seFilters ? ` se${b.seFilters}` : ''}${b.skip ? ' +skip' : ''}`,
      output: [N, h, w, b.outFilters], params, macs });
  }
  const last = cfg.blocks[cfg.blocks.length - 1].outFilters;
  rows.push({ name: 'conv_head+bn2', layer: 'Conv2d 1x1 + BN + swish', output: [N, h, w, cfg.headFilters],
    params: last * cfg.headFilters + 2 * K * cfg.headFilters, macs: N * h * w * last * cfg.headFilters });
  rows.push({ name: 'pool+dropout', layer: `GlobalAvgPool, Dropout ${cfg.dropout}`, output: [N, cfg.headFilters], params: 0, macs: 0 });
  rows.push({ name: 'classifier', layer: 'Linear', output: [N, cfg.numClasses],
    params: cfg.headFilters * cfg.numClasses + cfg.numClasses, macs: N * cfg.headFilters * cfg.numClasses });
  return rows;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

function render(title: string, rows: SummaryRow[], params: number, macs: number): string {
  const cols = rows.map((r) => [r.name, r.layer, `[${r.output.join(', ')}]`, fmt(r.params), fmt(r.macs)]);
  const head = ['name', 'layer', 'output', 'params', 'MACs'];
  const width = head.map((h, i) => Math.max(h.length, ...cols.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((s, i) => (i >= 3 ? s.padStart(width[i]) : s.padEnd(width[i]))).join('  ');
  return [title, line(head), width.map((n) => '-'.repeat(n)).join('  '), ...cols.map(line),
    `total params ${fmt(params)}, MACs ${fmt(macs)} (${(macs / 1e9).toFixed(3)} G)`].join('\n');
}

/** ap.models.summary(model, { inputShape }): prints and returns the layer table. Non-EfficientNet
 * modules get one row per top-level child (parameters only). */
export function summary(model: Module, options?: SummaryOptions): Summary {
  checkModule(model, 'summary');
  const opts = optionsArg(options, 'summary');
  if (opts.print !== undefined) boolArg(opts.print, 'summary', 'print');
  let rows: SummaryRow[];
  let title: string;
  if (model instanceof EfficientNet) {
    const c = model.config;
    const shape = opts.inputShape ?? [1, c.resolution, c.resolution, c.inChannels];
    rows = efficientnetRows(c, shape);
    title = `${c.name} (${c.domains} BN domain(s), input [${shape.join(', ')}])`;
    const counted = rows.reduce((a, r) => a + r.params, 0);
    if (counted !== model.numParameters())
      throw new AdvpropError('ERR_INTERNAL', `summary: rows count ${counted} parameters but the model has ${model.numParameters()}`);
  } else {
    title = model.constructor.name;
    rows = model.namedChildren().map(([n, m]) => ({ name: n, layer: m.constructor.name, output: [], params: m.numParameters(), macs: 0 }));
  }
  const params = rows.reduce((a, r) => a + r.params, 0);
  const macs = rows.reduce((a, r) => a + r.macs, 0);
  const text = render(title, rows, params, macs);
  if (opts.print ?? true) console.log(text);
  return { rows, params, macs, text };
}

export interface FamilyRow { name: EfficientNetName; resolution: number; params: number; paramsTwoDomains: number; macs: number }

/** Parameters (1000 classes; one and two BN domains) and MACs at each model's resolution. */
export function familyTable(): { rows: FamilyRow[]; markdown: string } {
  const rows = EFFICIENTNET_NAMES.map((name): FamilyRow => {
    const cfg = efficientnetConfig(name, { domains: 1 });
    const macs = efficientnetRows(cfg, [1, cfg.resolution, cfg.resolution, 3]).reduce((a, r) => a + r.macs, 0);
    return { name, resolution: cfg.resolution, params: countParameters(cfg, 1), paramsTwoDomains: countParameters(cfg, 2), macs };
  });
  const markdown = ['| model | resolution | params (1 domain) | params (2 domains, AdvProp) | MACs at resolution |', '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.resolution} | ${fmt(r.params)} | ${fmt(r.paramsTwoDomains)} | ${(r.macs / 1e9).toFixed(2)} G |`)].join('\n');
  return { rows, markdown };
}
