// What one training step of our code launches, kernel by kernel, with the bytes each moves and
// the FLOPs it does, counted from the layer shapes (bench/model_shapes.ts) and the dtype. It
// follows lib/train/trainer.ts, lib/attack/pgd.ts, lib/models/efficientnet.ts, lib/nn/blocks.ts
// and the ops they call; where a kernel's traffic depends on how the CUDA kernel is written, the
// assumption is the one of native/cuda (stated at each helper). bench/roofline.ts turns the list
// into times at a card's bandwidth and peak.
import { FAMILIES as F, type Family } from './families.js';
import type { BlockShape, ConvShape, ModelShapes } from './model_shapes.js';

export type StepDtype = 'f32' | 'tf32' | 'bf16';
export type Phase = 'input' | 'attack' | 'forward' | 'backward' | 'update';
/** One kernel, or a few of one addon call: `calls` counts the addon calls (what bench/profile.ts sees). */
export interface Kernel { family: Family; phase: Phase; launches: number; calls: number; bytes: number; flops: number; gemm: boolean }

export interface StepSpec {
  shapes: ModelShapes; batch: number; dtype: StepDtype; method: 'vanilla' | 'advprop';
  attackSteps: number; randomStart: boolean;
  /** 'u8': the CLI's loader batch, normalised on the device; 'f32': a float tensor given to Trainer.step. */
  input: 'u8' | 'f32';
  ema: boolean;
}

// Elementwise FLOPs per element (an estimate: these kernels are memory-bound by orders of magnitude).
const BN_FWD_FLOPS = 7, BN_BWD_FLOPS = 10, SILU_FLOPS = 5;
// RMSProp with weight decay and momentum per parameter: TF's form, about a dozen FLOPs.
const RMSPROP_FLOPS = 12, RMSPROP_BYTES = 7 * 4; // reads p, g, ms, mom; writes p, ms, mom (all f32)
const EMA_BYTES = 3 * 4; // reads ema and source, writes ema (f32)

export function countStep(s: StepSpec): Kernel[] {
  const out: Kernel[] = [];
  const m = s.shapes;
  const D = s.dtype === 'bf16' ? 2 : 4; // activations and their gradients
  const lowp = s.dtype === 'bf16'; // autocast casts f32 weights (and the image) for every GEMM-shaped op
  const R = m.resolution, img = (n: number): number => n * R * R * m.cfg.inChannels;
  let phase: Phase = 'input';
  const k = (family: Family, bytes: number, flops: number, gemm = false, launches = 1, calls = launches === 0 ? 0 : 1): void => {
    out.push({ family, phase, launches, calls, bytes, flops, gemm });
  };
  // A weight (or bias) cast f32 → bf16 before the op, and its gradient bf16 → f32 after the backward.
  const castW = (elems: number): void => { if (lowp) k(F.casts, 6 * elems, elems); };
  const gemm = (family: Family, M: number, K: number, N: number): void =>
    k(family, (M * K + K * N + M * N) * D, 2 * M * K * N, true);

  // ---- forward ----------------------------------------------------------------------------------
  // Batch norm (+ SiLU) forward, native/cuda/batchnorm.cu: a partial-sums pass reads x, a stats
  // kernel, then apply reads x again and writes y: 2 reads + 1 write, 3 launches per segment.
  const bnFwd = (E: number, act: boolean, segs: number): void =>
    k(F.bnFwd, 3 * E * D, E * (BN_FWD_FLOPS + (act ? SILU_FLOPS : 0)), false, 3 * segs);
  // Backward: partial sums read dy and x, a sums kernel, dx reads dy and x again and writes dx;
  // plus zeroing and casting the dgamma/dbeta accumulators: 4 reads + 1 write, 3 per segment + 3.
  const bnBwd = (E: number, act: boolean, segs: number): void =>
    k(F.bnBwd, 5 * E * D, E * (BN_BWD_FLOPS + (act ? SILU_FLOPS : 0)), false, 3 * segs + 3);

  const convFwd = (c: ConvShape, n: number, kind: 'stem' | 'pw' | 'dw'): void => {
    const xIn = n * c.hIn * c.hIn * c.cin, y = n * c.h * c.h * c.cout, M = n * c.h * c.h;
    castW((c.cout * c.k * c.k * c.cin) / c.groups);
    if (kind === 'dw') {
      // Direct kernel: each input read once (the k×k window reuse stays in cache), output written once.
      k(F.convDwFwd, (xIn + y + c.cout * c.k * c.k) * D, 2 * y * c.k * c.k);
    } else if (kind === 'stem') {
      // native/cuda/conv.cu: im2col writes [M, k·k·cin] columns, the GEMM reads them.
      const K = c.k * c.k * c.cin;
      k(F.convStemFwd, (xIn + M * K) * D, 0, false, 1, 0); // the GEMM's call
      gemm(F.convStemFwd, M, K, c.cout);
    } else gemm(F.convPwFwd, M, c.cin, c.cout);
  };
  const convBwd = (c: ConvShape, n: number, kind: 'stem' | 'pw' | 'dw', needW: boolean, needX: boolean): void => {
    const xIn = n * c.hIn * c.hIn * c.cin, y = n * c.h * c.h * c.cout, M = n * c.h * c.h, w = (c.cout * c.k * c.k * c.cin) / c.groups;
    if (kind === 'dw') {
      if (needX) k(F.convDwDgrad, (y + xIn + w) * D, 2 * y * c.k * c.k);
      // A partial-sums kernel over (x, dy) per chunk of positions, then a finishing sum.
      if (needW) k(F.convDwWgrad, (xIn + y + w) * D, 2 * y * c.k * c.k, false, 2);
    } else if (kind === 'stem') {
      const K = c.k * c.k * c.cin;
      if (needW) { k(F.convStemWgrad, (xIn + M * K) * D, 0, false, 1, 0); gemm(F.convStemWgrad, M, c.cout, K); }
      // dy·w into columns, then col2im sums them into dx.
      if (needX) { gemm(F.convStemDgrad, M, c.cout, K); k(F.convStemDgrad, (M * K + xIn) * D, M * K, false, 1, 0); }
    } else {
      if (needX) gemm(F.convPwDgrad, M, c.cout, c.cin);
      if (needW) gemm(F.convPwWgrad, c.cout, M, c.cin);
    }
    if (needW) castW(w);
  };

  // Squeeze-excite (lib/ops/squeeze_excite.ts): pool, FC, SiLU, FC, sigmoid, scale.
  const seFwd = (se: NonNullable<BlockShape['se']>, n: number): void => {
    const E = n * se.hw * se.c, nc = n * se.c, nr = n * se.r;
    castW(2 * se.c * se.r + se.c + se.r);
    if (lowp) k(F.casts, 0, 0, false, 3, 3); // 4 casts in all: w1, b1, w2, b2
    k(F.pool, (E + nc) * D, E, false, 2); // partial sums, then finish
    gemm(F.seFc, n, se.c, se.r);
    k(F.elementwise, 2 * nr * D, nr * SILU_FLOPS);
    gemm(F.seFc, n, se.r, se.c);
    k(F.elementwise, 2 * nc * D, nc * SILU_FLOPS);
    k(F.seScale, (2 * E + nc) * D, E);
  };
  const seBwd = (se: NonNullable<BlockShape['se']>, n: number, needW: boolean): void => {
    const E = n * se.hw * se.c, nc = n * se.c, nr = n * se.r;
    k(F.seScale, (2 * E + nc) * D, 2 * E); // ds: reads x and dy
    k(F.elementwise, 3 * nc * D, 3 * nc); // sigmoid backward
    if (needW) { gemm(F.seFc, se.c, n, se.r); k(F.reductions, nc * D, nc); }
    gemm(F.seFc, n, se.c, se.r); // dz2 · w2
    k(F.elementwise, 3 * nr * D, nr * SILU_FLOPS); // silu backward
    if (needW) { gemm(F.seFc, se.r, n, se.c); k(F.reductions, nr * D, nr); }
    gemm(F.seFc, n, se.r, se.c); // dz1 · w1
    k(F.elementwise, 2 * nc * D, nc); // the pool's share, scaled by 1/(H·W)
    k(F.seScale, (2 * E + 2 * nc) * D, 2 * E); // channelScaleAdd: reads dy, writes dx
    if (needW) { castW(2 * se.c * se.r + se.c + se.r); if (lowp) k(F.casts, 0, 0, false, 3, 3); }
  };

  /** The model's training forward on n images in `segs` BN segments (dropout and drop-connect on). */
  const forward = (n: number, segs: number): void => {
    if (m.cfg.normalize) { k(F.elementwise, 8 * img(n), img(n)); k(F.elementwise, 8 * img(n), img(n)); } // x·scale + shift, f32
    if (lowp) k(F.casts, 6 * img(n), img(n)); // the image, cast for the stem
    const st = m.stem;
    convFwd(st, n, 'stem');
    bnFwd(n * st.h * st.h * st.cout, true, segs);
    for (const b of m.blocks) {
      if (b.expand) { convFwd(b.expand, n, 'pw'); bnFwd(n * b.expand.h * b.expand.h * b.expand.cout, true, segs); }
      convFwd(b.dw, n, 'dw');
      bnFwd(n * b.dw.h * b.dw.h * b.dw.cout, true, segs);
      if (b.se) seFwd(b.se, n);
      convFwd(b.project, n, 'pw');
      const E = n * b.project.h * b.project.h * b.project.cout;
      bnFwd(E, false, segs);
      if (b.skip) k(b.dropConnect > 0 ? F.dropout : F.elementwise, 3 * E * D, E); // dropConnectAdd, or add at rate 0
    }
    const h = m.head;
    convFwd(h, n, 'pw');
    const E = n * h.h * h.h * h.cout, nc = n * h.cout;
    bnFwd(E, true, segs);
    k(F.pool, (E + nc) * D, E, false, 2);
    if (m.cfg.dropout > 0) k(F.dropout, 2 * nc * D, nc);
    castW(m.classes * h.cout + m.classes);
    if (lowp) k(F.casts, 0, 0); // weight and bias: two casts
    gemm(F.classifier, n, h.cout, m.classes);
  };

  /** The gradients back from the logits: the weights' (needW) and/or the image's (needX). */
  const backward = (n: number, segs: number, needW: boolean, needX: boolean): void => {
    const h = m.head, nc = n * h.cout, E = n * h.h * h.h * h.cout;
    gemm(F.classifier, n, m.classes, h.cout);
    if (needW) { gemm(F.classifier, m.classes, n, h.cout); k(F.reductions, n * m.classes * D, n * m.classes); castW(m.classes * h.cout + m.classes); if (lowp) k(F.casts, 0, 0); }
    if (m.cfg.dropout > 0) k(F.dropout, 2 * nc * D, nc); // the mask regenerated from its key
    k(F.pool, (nc + E) * D, E); // globalAvgPoolBackward: a broadcast over H·W
    bnBwd(E, true, segs);
    convBwd(h, n, 'pw', needW, true);
    for (const b of [...m.blocks].reverse()) {
      const p = b.project, Ep = n * p.h * p.h * p.cout;
      if (b.skip && b.dropConnect > 0) k(F.dropout, 2 * Ep * D, Ep); // the branch's share; the residual's is dy itself
      bnBwd(Ep, false, segs);
      convBwd(p, n, 'pw', needW, true);
      if (b.se) seBwd(b.se, n, needW);
      bnBwd(n * b.dw.h * b.dw.h * b.dw.cout, true, segs);
      convBwd(b.dw, n, 'dw', needW, true);
      if (b.expand) { bnBwd(n * b.expand.h * b.expand.h * b.expand.cout, true, segs); convBwd(b.expand, n, 'pw', needW, true); }
      // The block input feeds the branch and the skip: autograd adds the two gradients.
      if (b.skip) { const Ei = n * b.dw.hIn * b.dw.hIn * (b.expand?.cin ?? b.dw.cin); k(F.elementwise, 3 * Ei * D, Ei); }
    }
    const st = m.stem;
    bnBwd(n * st.h * st.h * st.cout, true, segs);
    convBwd(st, n, 'stem', needW, needX);
    if (needX) {
      if (lowp) k(F.casts, 6 * img(n), img(n)); // the image's gradient back to f32
      if (m.cfg.normalize) k(F.elementwise, 8 * img(n), img(n)); // through x·scale (the + shift passes dy on)
    }
  };

  // The loss on `parts` halves of n images each: cross-entropy (+ its mean) and the argmax the
  // trainer keeps for accuracy; the advprop step slices the 2N logits into its halves first.
  const lossFwd = (n: number, parts: number, argmax: boolean): void => {
    const L = n * m.classes;
    for (let i = 0; i < parts; i++) {
      if (parts > 1) k(F.copies, 2 * L * D, 0);
      k(F.loss, L * D + 8 * n, 4 * L);
      k(F.reductions, 4 * n, n);
      if (argmax) k(F.loss, L * D + 4 * n, L);
    }
    if (parts > 1) k(F.elementwise, 0, 0, false, 3, 3); // clean·w + adv·w
  };
  const lossBwd = (n: number, parts: number): void => {
    const L = n * m.classes;
    for (let i = 0; i < parts; i++) {
      k(F.loss, 2 * L * D + 8 * n, 4 * L);
      if (parts > 1) k(F.copies, 3 * L * D, 0); // slice0Backward: zero-padded to the 2N rows
    }
    if (parts > 1) k(F.elementwise, 3 * parts * L * D, parts * L); // the halves' gradients added
    if (parts > 1) k(F.elementwise, 0, 0, false, 2, 2); // through the two ·w
  };

  // ---- the step (lib/train/trainer.ts) -----------------------------------------------------------
  const n = s.batch;
  if (s.input === 'u8') k(F.image, 5 * img(n), 2 * img(n)); // reads bytes, writes f32
  if (s.method === 'advprop') {
    phase = 'attack';
    // PGD through the auxiliary BN (one segment, 'train-frozen'), the image's gradient only.
    if (s.randomStart) k(F.attack, 8 * img(n), 2 * img(n));
    for (let i = 0; i < s.attackSteps; i++) {
      forward(n, 1);
      lossFwd(n, 1, false);
      lossBwd(n, 1);
      backward(n, 1, false, true);
      k(F.attack, 16 * img(n), 4 * img(n)); // pgdStep: reads x_adv, g, x; writes x_adv (f32)
    }
    phase = 'forward';
    k(F.copies, 16 * img(n), 0); // concat0([x, x_adv])
    forward(2 * n, 2);
    lossFwd(n, 2, true);
    phase = 'backward';
    lossBwd(n, 2);
    backward(2 * n, 2, true, false);
  } else {
    phase = 'forward';
    forward(n, 1);
    lossFwd(n, 1, true);
    phase = 'backward';
    lossBwd(n, 1);
    backward(n, 1, true, false);
  }
  phase = 'update';
  k(F.optimizer, RMSPROP_BYTES * m.params, RMSPROP_FLOPS * m.params);
  if (s.ema) k(F.ema, EMA_BYTES * (m.params + m.bnStats), 3 * (m.params + m.bnStats));
  return out;
}
