// The shapes of an EfficientNet training step, layer by layer, from the model configs
// (lib/models/efficientnet_config.ts): what bench/roofline.ts counts bytes and FLOPs over, and
// the coarse per-layer roofline (tensor-core MACs, depthwise MACs, activations) that
// bench/scaling.ts sums into its step time. One model of the shapes for both, so they agree.
import { countParameters, efficientnetConfig, type EfficientNetConfig, type EfficientNetName } from '../lib/models/efficientnet_config.js';

/** One convolution on one image: output side, channels, kernel; `hIn` the input side. */
export interface ConvShape { hIn: number; h: number; cin: number; cout: number; k: number; groups: number }
export interface BlockShape {
  expand: ConvShape | null; dw: ConvShape; project: ConvShape;
  /** SE on the depthwise output: mid channels, bottleneck width (0: none). */
  se: { c: number; r: number; hw: number } | null;
  skip: boolean; dropConnect: number;
}
export interface ModelShapes {
  cfg: EfficientNetConfig; resolution: number; params: number;
  stem: ConvShape; blocks: BlockShape[]; head: ConvShape; classes: number;
  /** BN running statistics elements (2 per channel per domain): what the EMA averages besides the parameters. */
  bnStats: number;
}

const out = (n: number, s: number): number => Math.ceil(n / s); // TF 'same' padding

/** The layers of `name` at `resolution` (default: the model's own), with `domains` BN domains. */
export function modelShapes(name: EfficientNetName, opts: { resolution?: number; numClasses?: number; domains?: number } = {}): ModelShapes {
  const domains = opts.domains ?? 2;
  const cfg = efficientnetConfig(name, { domains, numClasses: opts.numClasses });
  const res = opts.resolution ?? cfg.resolution;
  let h = out(res, 2);
  const stem = { hIn: res, h, cin: cfg.inChannels, cout: cfg.stemFilters, k: 3, groups: 1 };
  let bnChannels = cfg.stemFilters + cfg.headFilters;
  const blocks: BlockShape[] = cfg.blocks.map((b) => {
    const hi = h;
    h = out(h, b.stride);
    const m = b.midFilters;
    bnChannels += (b.expand !== 1 ? m : 0) + m + b.outFilters;
    return {
      expand: b.expand !== 1 ? { hIn: hi, h: hi, cin: b.inFilters, cout: m, k: 1, groups: 1 } : null,
      dw: { hIn: hi, h, cin: m, cout: m, k: b.kernel, groups: m },
      project: { hIn: h, h, cin: m, cout: b.outFilters, k: 1, groups: 1 },
      se: b.seFilters > 0 ? { c: m, r: b.seFilters, hw: h * h } : null,
      skip: b.skip, dropConnect: b.dropConnect,
    };
  });
  const last = cfg.blocks[cfg.blocks.length - 1]!.outFilters;
  const head = { hIn: h, h, cin: last, cout: cfg.headFilters, k: 1, groups: 1 };
  return { cfg, resolution: res, params: countParameters(cfg, domains), stem, blocks, head, classes: cfg.numClasses, bnStats: 2 * domains * bnChannels };
}

// ---- the coarse per-layer roofline (bench/scaling.ts) ------------------------------------------

export interface Layer { gemmMacs: number; dwMacs: number; acts: number }
export interface Card { tensorFlops: number; coreFlops: number; hbm: number }

/** Per image: tensor-core MACs, depthwise MACs and elements materialised, one entry per layer. */
export function coarseLayers(m: ModelShapes): Layer[] {
  const { stem: s, head } = m;
  const L: Layer[] = [{ gemmMacs: s.h * s.h * s.k * s.k * s.cin * s.cout, dwMacs: 0, acts: s.h * s.h * (s.cin + s.cout) }];
  for (const b of m.blocks) {
    const e = b.expand, { dw, project: p } = b;
    // Expanded, depthwise output (then gated by squeeze-excite), projected.
    L.push({ gemmMacs: (e ? e.h * e.h * e.cin * e.cout : 0) + p.h * p.h * p.cin * p.cout + 2 * dw.cout * (b.se?.r ?? 0),
      dwMacs: dw.h * dw.h * dw.k * dw.k * dw.cout, acts: (e ? e.h * e.h * e.cout : 0) + 2 * dw.h * dw.h * dw.cout + p.h * p.h * p.cout });
  }
  L.push({ gemmMacs: head.h * head.h * head.cin * head.cout + head.cout * m.classes, dwMacs: 0, acts: head.h * head.h * head.cout });
  return L;
}

// Activations and their gradients in `actBytes`; each materialised tensor is written once and
// read once in the forward, and its saved value read, its gradient written and read in the backward.
const FWD_TOUCH = 2, BWD_TOUCH = 3;

/** Roofline seconds of one pass over the layers for `images` images; `bwd` adds the two gradient GEMMs. */
export function coarsePass(L: Layer[], images: number, kind: 'fwd' | 'bwd' | 'dgrad', card: Card, actBytes = 2): number {
  const flopMul = kind === 'bwd' ? 2 : 1;
  const touch = kind === 'fwd' ? FWD_TOUCH : BWD_TOUCH;
  let t = 0;
  for (const l of L) {
    const compute = (2 * flopMul * images * l.gemmMacs) / card.tensorFlops + (2 * flopMul * images * l.dwMacs) / card.coreFlops;
    const memory = (touch * images * l.acts * actBytes) / card.hbm;
    t += Math.max(compute, memory);
  }
  return t;
}

/** scaling.ts's AdvProp step: PGD (forward + input gradient) on N, then forward and backward of 2N. */
export function coarseStep(L: Layer[], n: number, attackSteps: number, card: Card, actBytes = 2): { attack: number; fwd: number; bwd: number; step: number } {
  const attack = attackSteps * (coarsePass(L, n, 'fwd', card, actBytes) + coarsePass(L, n, 'dgrad', card, actBytes));
  const fwd = coarsePass(L, 2 * n, 'fwd', card, actBytes), bwd = coarsePass(L, 2 * n, 'bwd', card, actBytes);
  return { attack, fwd, bwd, step: attack + fwd + bwd };
}
