#!/usr/bin/env python3
"""PyTorch side of bench/infer.ts: the eval-mode forward of EfficientNet-B0, timed.

Reads a JSON config on stdin ({threads, size, batch, classes, iters, warmup}) and prints JSON
{version, threads, note, ms, runs}. torchvision's efficientnet_b0(num_classes) in eval mode (BN
with running statistics, dropout and stochastic depth off), channels_last, under torch.no_grad(),
fp32, on the cpu with the same thread count as ours. Images are NHWC in [0, 1], normalised by
(x - 0.5) / 0.5 inside the forward as ours, and given to the model as a channels_last NCHW view.
Not a project dependency: run through bench/infer.ts.
"""
import json
import sys
import time

import torch
import torchvision


def main():
    cfg = json.load(sys.stdin)
    torch.set_num_threads(cfg['threads'])
    torch.manual_seed(0)
    model = torchvision.models.efficientnet_b0(num_classes=cfg['classes']).eval()
    model = model.to(memory_format=torch.channels_last)
    x = torch.rand(cfg['batch'], cfg['size'], cfg['size'], 3)
    runs = []
    with torch.no_grad():
        for i in range(cfg['warmup'] + cfg['iters']):
            t0 = time.perf_counter()
            h = (x - 0.5) / 0.5
            y = model(h.permute(0, 3, 1, 2))
            y.sum().item()
            dt = (time.perf_counter() - t0) * 1000
            if i >= cfg['warmup']:
                runs.append(dt)
    s = sorted(runs)
    print(json.dumps({'version': torch.__version__, 'threads': torch.get_num_threads(),
                      'note': 'torchvision efficientnet_b0, eval, channels_last, no_grad, fp32',
                      'ms': s[len(s) // 2], 'runs': runs}))


if __name__ == '__main__':
    main()
