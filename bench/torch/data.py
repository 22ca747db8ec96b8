#!/usr/bin/env python3
"""PyTorch side of bench/data.ts: images per second of torchvision's training input pipeline.

Prints one JSON line {version, torchvision, pil, note}, then for each JSON line {root, workers,
batch, images} read on stdin one line {workers, images, seconds, rate, cpu_seconds}, so the caller
can interleave its own runs with these in time (rates on a shared machine drift).
torchvision.datasets.ImageFolder(root) with Compose([RandomResizedCrop(224), RandomHorizontalFlip(),
AutoAugment(IMAGENET), ToTensor()]) on PIL images, through a shuffling DataLoader with
num_workers = each of `workers` (0: in the main process), torch.set_num_threads(1) so the main
process is one core as ours is per worker. `images` are timed after one warm-up batch (which
also starts the workers). Not a project dependency: run through bench/data.ts.
"""
import json
import resource
import sys
import time

import PIL
import torch
import torchvision
from torchvision import transforms as T


def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(cfg, workers):
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(),
                    T.AutoAugment(T.AutoAugmentPolicy.IMAGENET), T.ToTensor()])
    ds = torchvision.datasets.ImageFolder(cfg['root'], transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg['batch'], shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0, drop_last=True)
    it = None
    seen = 0
    t0 = c0 = None
    while seen < cfg['images']:
        if it is None:
            it = iter(loader)
        try:
            x, _ = next(it)
        except StopIteration:
            it = None
            continue
        if t0 is None:  # the warm-up batch
            t0, c0 = time.perf_counter(), cpu_seconds()
            continue
        seen += x.shape[0]
    dt = time.perf_counter() - t0
    # Workers' CPU time is only counted once they exit: end them before reading it.
    del it, loader
    return {'workers': workers, 'images': seen, 'seconds': dt, 'rate': seen / dt, 'cpu_seconds': cpu_seconds() - c0}


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(json.dumps({'version': torch.__version__, 'torchvision': torchvision.__version__, 'pil': PIL.__version__,
                      'note': 'ImageFolder + RandomResizedCrop(224) + RandomHorizontalFlip + AutoAugment(IMAGENET) + ToTensor on PIL'}),
          flush=True)
    for line in sys.stdin:
        if line.strip():
            cfg = json.loads(line)
            print(json.dumps(run(cfg, cfg['workers'])), flush=True)


if __name__ == '__main__':
    main()
