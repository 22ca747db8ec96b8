#!/usr/bin/env python3
"""PyTorch side of bench/conv.ts: times the EfficientNet-B0 conv layers it is given on stdin
(a JSON list of {n, h, w, cin, cout, k, stride, groups, bias}) on the CPU with channels_last
tensors and prints JSON {version, threads, note, layers: [{fwd, bwdInput, bwdWeight}]} (seconds,
median of --reps after one warm-up call).

Forward is torch.nn.functional.conv2d; the gradients are torch.ops.aten.convolution_backward with
output_mask [True, False, False] (input) and [False, True, False] (weight), so each is timed alone.

Padding: TensorFlow 'same' puts the odd pixel bottom/right; PyTorch's conv2d only pads
symmetrically. We pad symmetrically with ceil(total/2) per side, which gives the same output size
(ceil(in/stride)) and the same number of multiply-adds; only which border pixel is zero differs.
Allocation: bench/conv.ts runs this with MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ at 4 GiB;
without them glibc mmaps every output over 32 MiB afresh and the page faults (~9 ms for 38.5 MB)
would be counted as convolution time. The note in the JSON says which was in effect.
With --device cuda the same layers run on the GPU (cuDNN, channels_last, cudnn.benchmark on so
the first, untimed call picks the algorithms), timed with torch.cuda.synchronize() around each call,
twice: fp32 with TF32 off (cuDNN and matmul), then with TF32 on, reported under "tf32".
Not a project dependency: run it by hand or through bench/conv.ts.
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


def sync():
    pass


def timeit(fn, reps):
    t0 = time.perf_counter()
    fn()
    sync()
    first = time.perf_counter() - t0
    n = max(1, min(reps, 3)) if first > 1 else reps
    ts = []
    for _ in range(n):
        t1 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t1)
    return median(ts)


def set_tf32(on):
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, required=True)
    ap.add_argument('--reps', type=int, default=20)
    ap.add_argument('--layers', help='JSON file with the layer list (default: stdin)')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    layers = json.load(open(args.layers) if args.layers else sys.stdin)
    dev = torch.device(args.device)
    if args.device == 'cuda':
        global sync
        sync = torch.cuda.synchronize
        torch.backends.cudnn.benchmark = True
        set_tf32(False)
        out = run(layers, dev, args.reps)
        set_tf32(True)
        for row, t in zip(out, run(layers, dev, args.reps)):
            row['tf32'] = t
        set_tf32(False)
        note = ('cuda %s, cuDNN %s, cudnn.benchmark on; fp32 with TF32 off, "tf32" with TF32 on; symmetric padding '
                'ceil(total/2) per side instead of TF same (same output size and MACs)'
                % (torch.cuda.get_device_name(), torch.backends.cudnn.version()))
    else:
        out = run(layers, dev, args.reps)
        note = ('symmetric padding ceil(total/2) per side instead of TF same (same output size and MACs); '
                'gradients via aten.convolution_backward with one output_mask each; mkldnn=%s; MALLOC_MMAP_THRESHOLD_=%s'
                % (torch.backends.mkldnn.is_available(), os.environ.get('MALLOC_MMAP_THRESHOLD_', 'unset')))
    print(json.dumps({'version': torch.__version__, 'threads': torch.get_num_threads(), 'device': args.device,
                      'note': note, 'layers': out}))


def run(layers, dev, reps):
    cl = torch.channels_last
    g = torch.Generator().manual_seed(0)
    out = []
    with torch.no_grad():
        for l in layers:
            n, h, w, cin, cout, k, s, groups = (l[key] for key in ('n', 'h', 'w', 'cin', 'cout', 'k', 'stride', 'groups'))
            ho = -(-h // s)
            total = max((ho - 1) * s + k - h, 0)
            pad = -(-total // 2)
            x = torch.randn(n, cin, h, w, generator=g).to(dev).contiguous(memory_format=cl)
            wt = (0.1 * torch.randn(cout, cin // groups, k, k, generator=g)).to(dev).contiguous(memory_format=cl)
            b = torch.randn(cout, generator=g).to(dev) if l['bias'] else None
            dy = torch.randn(n, cout, ho, ho, generator=g).to(dev).contiguous(memory_format=cl)
            y = F.conv2d(x, wt, b, s, pad, 1, groups)
            assert tuple(y.shape) == (n, cout, ho, ho), (l, y.shape)
            bias_sizes = [cout] if b is not None else None

            def bwd(mask):
                return torch.ops.aten.convolution_backward(dy, x, wt, bias_sizes, [s, s], [pad, pad], [1, 1],
                                                           False, [0, 0], groups, mask)
            out.append({
                'fwd': timeit(lambda: F.conv2d(x, wt, b, s, pad, 1, groups), reps),
                'bwdInput': timeit(lambda: bwd([True, False, False]), reps),
                'bwdWeight': timeit(lambda: bwd([False, True, False]), reps),
            })
    return out


if __name__ == '__main__':
    main()
