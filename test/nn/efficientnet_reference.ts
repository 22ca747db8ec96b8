// An independent f64 host implementation of EfficientNet's eval-mode forward, written from the
// formulas (TF 'same' padding, BN with running statistics per domain, swish, SE on the pooled
// vector, identity skips), to check that the modules are wired as the reference network.
import type { EfficientNetConfig } from '../../lib/models/index.js';
import { blockLayerNames } from '../../lib/models/index.js';

type Arr = Float64Array;
interface Act { n: number; h: number; w: number; c: number; v: Arr }
export type Weights = Map<string, { shape: readonly number[]; v: ArrayLike<number> }>;

const silu = (x: number): number => x / (1 + Math.exp(-x));
const sigm = (x: number): number => 1 / (1 + Math.exp(-x));

function conv(x: Act, w: { shape: readonly number[]; v: ArrayLike<number> }, stride: number, groups: number, padding: 'same' | 'symmetric'): Act {
  const [co, k, , cg] = w.shape;
  const out = (n: number): number => (padding === 'same' ? Math.ceil(n / stride) : Math.floor((n + 2 * ((k - 1) >> 1) - k) / stride) + 1);
  const oh = out(x.h), ow = out(x.w);
  const pt = padding === 'same' ? Math.floor(Math.max((oh - 1) * stride + k - x.h, 0) / 2) : (k - 1) >> 1;
  const pl = padding === 'same' ? Math.floor(Math.max((ow - 1) * stride + k - x.w, 0) / 2) : (k - 1) >> 1;
  const og = co / groups;
  const y = new Float64Array(x.n * oh * ow * co);
  for (let b = 0; b < x.n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let o = 0; o < co; o++) {
          const g = Math.floor(o / og);
          let s = 0;
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const iy = i * stride - pt + ky, ix = j * stride - pl + kx;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              for (let c = 0; c < cg; c++) s += x.v[((b * x.h + iy) * x.w + ix) * x.c + g * cg + c] * w.v[((o * k + ky) * k + kx) * cg + c];
            }
          y[((b * oh + i) * ow + j) * co + o] = s;
        }
  return { n: x.n, h: oh, w: ow, c: co, v: y };
}

function bn(x: Act, W: Weights, name: string, domainOf: number[], eps: number, act: boolean): Act {
  const [g, be, rm, rv] = ['weight', 'bias', 'running_mean', 'running_var'].map((s) => W.get(`${name}.${s}`)!.v);
  const y = new Float64Array(x.v.length);
  for (let i = 0; i < y.length; i++) {
    const c = i % x.c, d = domainOf[Math.floor(i / (x.h * x.w * x.c))], r = d * x.c + c;
    const z = ((x.v[i] - rm[r]) / Math.sqrt(rv[r] + eps)) * g[r] + be[r];
    y[i] = act ? silu(z) : z;
  }
  return { ...x, v: y };
}

function pool(x: Act): Arr {
  const p = new Float64Array(x.n * x.c);
  for (let i = 0; i < x.v.length; i++) p[Math.floor(i / (x.h * x.w * x.c)) * x.c + (i % x.c)] += x.v[i] / (x.h * x.w);
  return p;
}

function dense(x: Arr, n: number, w: ArrayLike<number>, b: ArrayLike<number>, out: number, inp: number, f: (v: number) => number): Arr {
  const y = new Float64Array(n * out);
  for (let s = 0; s < n; s++)
    for (let o = 0; o < out; o++) {
      let a = b[o];
      for (let i = 0; i < inp; i++) a += x[s * inp + i] * w[o * inp + i];
      y[s * out + o] = f(a);
    }
  return y;
}

/** Logits [N, numClasses] of images x (NHWC in [0, 1]); sample n uses BN domain domainOf[n]. */
export function referenceForward(cfg: EfficientNetConfig, W: Weights, x: Act, domainOf: number[]): Arr {
  const eps = cfg.bnEps;
  const nm = cfg.normalize;
  let h: Act = { ...x, v: nm ? x.v.map((v, i) => (v - nm.mean[i % x.c]) / nm.std[i % x.c]) : x.v.slice() };
  h = bn(conv(h, W.get('conv_stem.weight')!, 2, 1, cfg.padding), W, 'bn1', domainOf, eps, true);
  for (const b of cfg.blocks) {
    const p = `blocks.${b.stage}.${b.index}`;
    const n = blockLayerNames(b);
    const inp = h;
    if (n.expand) h = bn(conv(h, W.get(`${p}.${n.expand}.weight`)!, 1, 1, cfg.padding), W, `${p}.${n.expandBn}`, domainOf, eps, true);
    h = bn(conv(h, W.get(`${p}.${n.dw}.weight`)!, b.stride, b.midFilters, cfg.padding), W, `${p}.${n.dwBn}`, domainOf, eps, true);
    if (b.seFilters) {
      const s = pool(h);
      const r = dense(s, h.n, W.get(`${p}.se.conv_reduce.weight`)!.v, W.get(`${p}.se.conv_reduce.bias`)!.v, b.seFilters, h.c, silu);
      const e = dense(r, h.n, W.get(`${p}.se.conv_expand.weight`)!.v, W.get(`${p}.se.conv_expand.bias`)!.v, h.c, b.seFilters, sigm);
      h = { ...h, v: h.v.map((v, i) => v * e[Math.floor(i / (h.h * h.w * h.c)) * h.c + (i % h.c)]) };
    }
    h = bn(conv(h, W.get(`${p}.${n.project}.weight`)!, 1, 1, cfg.padding), W, `${p}.${n.projectBn}`, domainOf, eps, false);
    if (b.stride === 1 && b.inFilters === b.outFilters) h = { ...h, v: h.v.map((v, i) => v + inp.v[i]) };
  }
  h = bn(conv(h, W.get('conv_head.weight')!, 1, 1, cfg.padding), W, 'bn2', domainOf, eps, true);
  return dense(pool(h), h.n, W.get('classifier.weight')!.v, W.get('classifier.bias')!.v, cfg.numClasses, cfg.headFilters, (v) => v);
}
