// conv2d on every backend (native/{cpu,cuda}/conv.* im2col + gemm, depthwise.*, 1x1 as one
// GEMM): forward against a naive f64 reference with TensorFlow's "same" rule, backward kernels
// against the cpu in f64, f64 gradient checks for x, w and bias in each mode, the rule's needs,
// and bad arguments.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import type { Conv2dOptions } from '../../lib/kernels.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { assertClose, expectCode, f32, hostRandom, numel, outSize } from '../helpers.js';

interface Case { name: string; x: number[]; w: number[]; o: Conv2dOptions }

// Every path: dense k3 stride 2 (the stem), depthwise k3/k5 stride 1/2, pointwise, grouped,
// valid and explicit padding, dilation, batch 1, 1x1 spatial, odd sizes, C not a multiple of 4.
const CASES: Case[] = [
  { name: 'stem k3 s2 same, odd input', x: [2, 9, 7, 3], w: [8, 3, 3, 3], o: { stride: 2 } },
  { name: 'depthwise k3 s1 same', x: [2, 7, 7, 17], w: [17, 3, 3, 1], o: { groups: 17 } },
  { name: 'depthwise k5 s2 same, odd input', x: [1, 9, 11, 5], w: [5, 5, 5, 1], o: { groups: 5, stride: 2 } },
  { name: 'pointwise 1x1 expand', x: [2, 5, 3, 6], w: [24, 1, 1, 6], o: {} },
  { name: 'pointwise on 1x1 spatial (squeeze-excite)', x: [3, 1, 1, 10], w: [4, 1, 1, 10], o: {} },
  { name: 'grouped 3 groups k3', x: [1, 6, 5, 6], w: [9, 3, 3, 2], o: { groups: 3 } },
  { name: 'valid k3 s1', x: [2, 6, 5, 3], w: [4, 3, 3, 3], o: { padding: 'valid' } },
  { name: 'explicit [1, 0, 2, 1] s2', x: [1, 7, 6, 2], w: [3, 3, 2, 2], o: { padding: [1, 0, 2, 1], stride: [2, 1] } },
  { name: 'dilation 2 same', x: [1, 8, 7, 3], w: [2, 3, 3, 3], o: { dilation: 2 } },
  { name: 'depthwise dilation 2 valid', x: [1, 9, 9, 4], w: [4, 3, 3, 1], o: { groups: 4, dilation: 2, padding: 'valid' } },
  { name: '1x1 stride 2 (not a plain GEMM)', x: [1, 5, 5, 3], w: [4, 1, 1, 3], o: { stride: 2 } },
];


function pairOf(v: number | readonly number[] | undefined): [number, number] {
  return v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function reference(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], o: Conv2dOptions) {
  const [n, h, wd, cin] = xs, [cout, kh, kw, cg] = ws;
  const [sh, sw] = pairOf(o.stride), [dh, dw] = pairOf(o.dilation), g = o.groups ?? 1;
  const p = Array.isArray(o.padding) ? o.padding : [0, 0, 0, 0];
  const [oh, pt] = outSize(h, kh, sh, dh, o.padding, p[0], p[1]);
  const [ow, pl] = outSize(wd, kw, sw, dw, o.padding, p[2], p[3]);
  const og = cout / g;
  const y = new Float64Array(n * oh * ow * cout);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let co = 0; co < cout; co++) {
          const grp = Math.floor(co / og);
          let s = 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = i * sh - pt + ky * dh, ix = j * sw - pl + kx * dw;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              for (let c = 0; c < cg; c++)
                s += x[((b * h + iy) * wd + ix) * cin + grp * cg + c] * w[((co * kh + ky) * kw + kx) * cg + c];
            }
          y[((b * oh + i) * ow + j) * cout + co] = s;
        }
  return { y, shape: [n, oh, ow, cout] };
}

forEachBackend('conv2d', (device) => {
  for (const c of CASES) {
    it(`forward: ${c.name}`, () => {
      ap.tidy(() => {
        const hx = f32(hostRandom(numel(c.x), 1, -1, 1)), hw = f32(hostRandom(numel(c.w), 2, -1, 1));
        const hb = f32(hostRandom(c.w[0], 3, -1, 1));
        const ref = reference(hx, c.x, hw, c.w, c.o);
        for (let i = 0; i < ref.y.length; i++) ref.y[i] += hb[i % c.w[0]];
        const y = ap.conv2d(ap.tensor(Float32Array.from(hx), c.x, { device }), ap.tensor(Float32Array.from(hw), c.w, { device }),
          { ...c.o, bias: ap.tensor(Float32Array.from(hb), [c.w[0]], { device }) });
        assert.deepEqual([...y.shape], ref.shape);
        assertClose(y.toArray(), ref.y, 1e-6, c.name);
      });
    });

    it(`backward input and weight agree with the cpu in f64: ${c.name}`, () => {
      ap.tidy(() => {
        const hx = f32(hostRandom(numel(c.x), 4, -1, 1)), hw = f32(hostRandom(numel(c.w), 5, -1, 1));
        const yShape = reference(hx, c.x, hw, c.w, c.o).shape;
        const hdy = f32(hostRandom(numel(yShape), 6, -1, 1));
        const on = (d: string, dtype: 'f32' | 'f64') => {
          const x = ap.tensor(dtype === 'f32' ? Float32Array.from(hx) : hx, c.x, { device: d, dtype });
          const w = ap.tensor(dtype === 'f32' ? Float32Array.from(hw) : hw, c.w, { device: d, dtype });
          const dy = ap.tensor(dtype === 'f32' ? Float32Array.from(hdy) : hdy, yShape, { device: d, dtype });
          return [ap.kernels.conv2dBackwardInput(dy, w, c.x, c.o).toArray(), ap.kernels.conv2dBackwardWeight(dy, x, c.w, c.o).toArray()];
        };
        const [rx, rw] = on('cpu', 'f64');
        const [dx, dw] = on(device, 'f32');
        assertClose(dx, rx, 1e-6, 'dx');
        assertClose(dw, rw, 1e-6, 'dw');
      });
    });
  }

  it('asking only for the image gradient runs no weight-gradient kernel', () => {
    ap.tidy(() => {
      const x = ap.randn([2, 5, 5, 3], { device, seed: 1 });
      const w1 = ap.randn([4, 3, 3, 3], { device, seed: 2, requiresGrad: true });
      const w2 = ap.randn([4, 3, 3, 1], { device, seed: 3, requiresGrad: true });
      const b = ap.zeros([4], { device, requiresGrad: true });
      ap.autograd.resetStats();
      const [gx] = ap.grad(() => ap.conv2d(ap.conv2d(x, w1, { stride: 2, bias: b }).silu(), w2, { groups: 4 }).sum(), [x]);
      const s = ap.autograd.stats();
      assert.deepEqual([...gx.shape], [2, 5, 5, 3]);
      assert.equal(s.backwardKernels.conv2dBackwardInput, 2);
      assert.equal(s.backwardKernels.conv2dBackwardWeight ?? 0, 0);
      ap.dispose([w1, w2, b]);
    });
  });

  it('bad arguments give ERR_SHAPE / ERR_ARG with the shapes', () => {
    ap.tidy(() => {
      const x = ap.zeros([1, 5, 5, 3], { device });
      expectCode(() => ap.conv2d(x, ap.zeros([4, 3, 3, 2], { device })), 'ERR_SHAPE', /\[4, 3, 3, 2\]/);
      expectCode(() => ap.conv2d(x, ap.zeros([4, 3, 3, 1], { device }), { groups: 2 }), 'ERR_SHAPE', /groups 2/);
      expectCode(() => ap.conv2d(x, ap.zeros([4, 7, 7, 3], { device }), { padding: 'valid' }), 'ERR_SHAPE', /larger than the padded input/);
      expectCode(() => ap.conv2d(ap.zeros([5, 5, 3], { device }), ap.zeros([4, 3, 3, 3], { device })), 'ERR_SHAPE', /NHWC/);
      expectCode(() => ap.conv2d(x, ap.zeros([4, 3, 3, 3], { device }), { stride: 0 }), 'ERR_ARG');
      expectCode(() => ap.conv2d(x, ap.zeros([4, 3, 3, 3], { device }), { padding: 'full' as never }), 'ERR_ARG');
      expectCode(() => ap.conv2d(x, ap.zeros([4, 3, 3, 3], { device }), { bias: ap.zeros([5], { device }) }), 'ERR_SHAPE', /\[5\]/);
      expectCode(() => ap.conv2d(x, ap.zeros([4, 3, 3, 3], { device, dtype: 'f64' })), 'ERR_DTYPE');
    });
  });
});

describe('conv2d gradient checks (f64, cpu)', () => {
  const input = (shape: number[], seed: number) => ap.tensor(hostRandom(numel(shape), seed, -1, 1), shape, { dtype: 'f64', device: 'cpu' });
  // On cpu the im2col path runs a few images at a time once an image's column matrix passes
  // ~1 MB (here 32*32 pixels x 144 f64 = 1.2 MB: three chunks of one image, the weight gradient
  // summed over them in order). The forward against the naive reference, and the gradients by
  // the adjoint identities <conv(x, w), dy> = <x, dx> = <w, dw>, which hold to rounding.
  it('im2col in chunks of images: forward and the adjoint identities', () => {
    ap.tidy(() => {
      const xs = [3, 32, 32, 16], ws = [8, 3, 3, 16], o: Conv2dOptions = { stride: 1 };
      const hx = hostRandom(numel(xs), 11, -1, 1), hw = hostRandom(numel(ws), 12, -1, 1);
      const ref = reference(hx, xs, hw, ws, o);
      const hdy = hostRandom(numel(ref.shape), 13, -1, 1);
      const x = ap.tensor(hx, xs, { dtype: 'f64' }), w = ap.tensor(hw, ws, { dtype: 'f64' });
      const dy = ap.tensor(hdy, ref.shape, { dtype: 'f64' });
      const y = ap.kernels.conv2d(x, w, null, o).toArray();
      assertClose(y, ref.y, 1e-13, 'forward');
      const dx = ap.kernels.conv2dBackwardInput(dy, w, xs, o).toArray();
      const dw = ap.kernels.conv2dBackwardWeight(dy, x, ws, o).toArray();
      const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
        let s = 0, m = 0;
        for (let i = 0; i < a.length; i++) { s += a[i] * b[i]; m += Math.abs(a[i] * b[i]); }
        return [s, m];
      };
      const [ydy, m1] = dot(ref.y, hdy), [xdx, m2] = dot(hx, dx), [wdw, m3] = dot(hw, dw);
      const tol = 1e-12 * (m1 + m2 + m3);
      assert.ok(Math.abs(ydy - xdx) <= tol, `<y,dy> ${ydy} vs <x,dx> ${xdx}`);
      assert.ok(Math.abs(ydy - wdw) <= tol, `<y,dy> ${ydy} vs <w,dw> ${wdw}`);
    });
  });

  for (const c of CASES) {
    it(`x, w and bias: ${c.name}`, () => {
      ap.tidy(() => {
        const r = assertGradcheck((x, w, b) => ap.conv2d(x, w, { ...c.o, bias: b }).square(),
          [input(c.x, 7), input(c.w, 8), input([c.w[0]], 9)], { tol: 1e-6 });
        assert.ok(r.checked > 0);
      });
    });
  }
});

// Every distinct convolution of EfficientNet-B0 (stem, expand, depthwise, squeeze-excite,
// project, head) at 5×5 input (odd, so stride 2 pads unevenly), batch 1: forward and both
// backward kernels on each backend against the cpu in f64.
function b0Layers(): Case[] {
  const stages: [number, number, number, number, number, number][] = [
    [1, 3, 1, 32, 16, 1], [6, 3, 2, 16, 24, 2], [6, 5, 2, 24, 40, 2], [6, 3, 2, 40, 80, 3],
    [6, 5, 1, 80, 112, 3], [6, 5, 2, 112, 192, 4], [6, 3, 1, 192, 320, 1],
  ];
  const S = 5;
  const layers: Case[] = [{ name: 'stem 3→32 k3 s2', x: [1, S, S, 3], w: [32, 3, 3, 3], o: { stride: 2 } }];
  for (const [e, k, s, cin0, cout, repeats] of stages)
    for (let r = 0; r < repeats; r++) {
      const cin = r === 0 ? cin0 : cout, stride = r === 0 ? s : 1, mid = cin * e, se = Math.max(1, Math.floor(cin * 0.25));
      if (e !== 1) layers.push({ name: `expand ${cin}→${mid}`, x: [1, S, S, cin], w: [mid, 1, 1, cin], o: {} });
      layers.push({ name: `depthwise ${mid} k${k} s${stride}`, x: [1, S, S, mid], w: [mid, k, k, 1], o: { groups: mid, stride } });
      layers.push({ name: `se reduce ${mid}→${se}`, x: [1, 1, 1, mid], w: [se, 1, 1, mid], o: {} });
      layers.push({ name: `se expand ${se}→${mid}`, x: [1, 1, 1, se], w: [mid, 1, 1, se], o: {} });
      layers.push({ name: `project ${mid}→${cout}`, x: [1, S, S, mid], w: [cout, 1, 1, mid], o: {} });
    }
  layers.push({ name: 'head 320→1280', x: [1, S, S, 320], w: [1280, 1, 1, 320], o: {} });
  const seen = new Set<string>();
  return layers.filter((l) => {
    const key = JSON.stringify([l.x, l.w, l.o]);
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

forEachBackend('conv2d on EfficientNet-B0 layer shapes', (device) => {
  for (const c of b0Layers()) {
    it(`${c.name}: forward, dx and dw against the cpu in f64`, () => {
      ap.tidy(() => {
        const hx = f32(hostRandom(numel(c.x), 11, -1, 1)), hw = f32(hostRandom(numel(c.w), 12, -1, 1));
        const run = (d: string, dtype: 'f32' | 'f64') => {
          const cast = (a: Float64Array) => (dtype === 'f32' ? Float32Array.from(a) : a);
          const x = ap.tensor(cast(hx), c.x, { device: d, dtype }), w = ap.tensor(cast(hw), c.w, { device: d, dtype });
          const y = ap.kernels.conv2d(x, w, null, c.o);
          const dy = ap.tensor(cast(f32(hostRandom(y.numel, 13, -1, 1))), y.shape, { device: d, dtype });
          return [y.toArray(), ap.kernels.conv2dBackwardInput(dy, w, c.x, c.o).toArray(), ap.kernels.conv2dBackwardWeight(dy, x, c.w, c.o).toArray()];
        };
        const ref = run('cpu', 'f64'), got = run(device, 'f32');
        // f32 sums of up to 1152 terms (the head's and projections' K): rounding stays well under 1e-5.
        assertClose(got[0], ref[0], 1e-5, 'y');
        assertClose(got[1], ref[1], 1e-5, 'dx');
        assertClose(got[2], ref[2], 1e-5, 'dw');
      });
    });
  }
});
