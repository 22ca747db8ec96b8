#!/usr/bin/env python3
"""PyTorch side of bench/batchnorm.ts: for each shape {n2, h, w, c} it is given on stdin (a JSON
list; n2 is the 2N batch), times AdvProp's dual BN the way PyTorch code writes it: two
BatchNorm2d modules (one per half, training mode, momentum 0.01 = TF's 0.99, eps 1e-3), each
followed by SiLU, on channels_last CPU tensors; forward alone, and forward + backward (autograd
gives x, weight and bias gradients; each half is its own leaf tensor). Prints JSON {version, threads, note, shapes: [{fwd, fwdBwd}]}
(seconds, median of --reps after one warm-up call). Not a project dependency: run it through
bench/batchnorm.ts, which sets glibc's mmap threshold as bench/conv.ts does.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def timeit(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, required=True)
    ap.add_argument('--reps', type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shapes = json.load(sys.stdin)
    cl = torch.channels_last
    g = torch.Generator().manual_seed(0)
    out = []
    for s in shapes:
        n2, h, w, c = s['n2'], s['h'], s['w'], s['c']
        n = n2 // 2
        bns = [torch.nn.BatchNorm2d(c, eps=1e-3, momentum=0.01).train() for _ in range(2)]
        # Two leaf halves rather than slices of one 2N tensor: the gradient of a slice of a
        # channels_last tensor goes through a full-size zero tensor and a layout change, which
        # would time autograd's slicing instead of the batch norm.
        halves = [torch.randn(n, c, h, w, generator=g).contiguous(memory_format=cl).requires_grad_(True) for _ in range(2)]
        dy = [torch.randn(n, c, h, w, generator=g).contiguous(memory_format=cl) for _ in range(2)]

        def fwd():
            with torch.no_grad():
                return [F.silu(bns[i](halves[i])) for i in range(2)]

        def fwd_bwd():
            ys = [F.silu(bns[i](halves[i])) for i in range(2)]
            torch.autograd.backward(ys, dy)
            for t in halves:
                t.grad = None
            for b in bns:
                b.weight.grad = None
                b.bias.grad = None

        out.append({'fwd': timeit(fwd, args.reps), 'fwdBwd': timeit(fwd_bwd, args.reps)})
    note = 'MALLOC_MMAP_THRESHOLD_=' + os.environ.get('MALLOC_MMAP_THRESHOLD_', 'default')
    print(json.dumps({'version': torch.__version__, 'threads': torch.get_num_threads(), 'note': note, 'shapes': out}))


if __name__ == '__main__':
    main()
