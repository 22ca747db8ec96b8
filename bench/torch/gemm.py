#!/usr/bin/env python3
"""PyTorch side of bench/gemm (gemm_bench.cc): reads the shapes that `advprop_gemm_bench --list`
prints (CSV key,ta,tb,m,n,k on stdin) and times torch.matmul on the same layouts (op(A) and op(B)
as transposed views when ta/tb, as our GEMM reads them) on the GPU, printing "key,mode,ms" lines
(best of 3 rounds of --reps calls after a warm-up, like the C++ side). Modes: bf16 and f16
(tensors of that dtype), tf32 (f32 tensors, torch.backends.cuda.matmul.allow_tf32 on) and fp32
(allow_tf32 off). cuBLAS chooses its own kernels (it may split k nondeterministically; ours never
does), so the comparison is of throughput only. Not a project dependency.
"""
import argparse
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--modes', default='bf16,tf32,fp32')
    ap.add_argument('--reps', type=int, default=20)
    args = ap.parse_args()
    dev = torch.device('cuda')
    dtypes = {'bf16': torch.bfloat16, 'f16': torch.float16, 'tf32': torch.float32, 'fp32': torch.float32}
    for line in sys.stdin:
        parts = line.strip().split(',')
        if len(parts) != 6:
            continue
        key, ta, tb, m, n, k = parts[0], parts[1] == '1', parts[2] == '1', int(parts[3]), int(parts[4]), int(parts[5])
        for mode in args.modes.split(','):
            torch.backends.cuda.matmul.allow_tf32 = mode == 'tf32'
            dt = dtypes[mode]
            a = torch.rand((k, m) if ta else (m, k), device=dev, dtype=dt) * 2 - 1
            b = torch.rand((n, k) if tb else (k, n), device=dev, dtype=dt) * 2 - 1
            opa, opb = (a.t() if ta else a), (b.t() if tb else b)
            c = torch.empty((m, n), device=dev, dtype=dt)
            torch.matmul(opa, opb, out=c)
            torch.cuda.synchronize()
            best = float('inf')
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(args.reps):
                    torch.matmul(opa, opb, out=c)
                torch.cuda.synchronize()
                best = min(best, (time.perf_counter() - t0) * 1e3 / args.reps)
            print(f'{key},{mode},{best:.6f}', flush=True)
            del a, b, c, opa, opb
            torch.cuda.empty_cache()


if __name__ == '__main__':
    main()
