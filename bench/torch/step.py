#!/usr/bin/env python3
"""PyTorch side of bench/step.ts: the same training steps as advprop's Trainer.step, timed.

Reads a JSON config on stdin ({device, threads, size, batch, classes, steps, warmup, methods:
[{name, method, epsilon, attackSteps}]}) and prints JSON {version, threads, note, results:
[{method, stepMs, imagesPerS, steps}], compiled: [...] (cuda, when torch.compile works)}.

The model is torchvision's efficientnet_b0(num_classes) with every BatchNorm2d replaced by a
two-domain split BN (two BatchNorm2d, eps 1e-3, momentum 0.01 in PyTorch's convention = TF's
0.99): the clean half of the batch goes through domain 0, the adversarial half through domain 1.
torchvision's defaults are kept: dropout 0.2 before the classifier, stochastic depth 0.2 (row
mode, rate growing linearly over the blocks) -- the same as ours. Images are NHWC in [0, 1],
normalised by (x - 0.5) / 0.5 inside the forward as ours, and given to the model as a
channels_last NCHW view; the model is channels_last.

One step, as ours:
  advprop: PGD (L-inf, step 1/255, radius eps/255, no random start, untargeted on the true label,
    plain cross-entropy) through domain 1 with train-mode batch statistics. PyTorch has no
    'train-frozen' BN mode: the attack sets domain 1's momentum to 0 so its running statistics are
    left unchanged (num_batches_tracked still counts, unused). Each iteration takes the input's
    gradient only (torch.autograd.grad on the image), so no weight gradients are formed. Then one
    forward/backward of the 2N batch [clean; adversarial] (the split BN routes the halves), loss =
    CE_ls(clean) + CE_ls(adv) with label smoothing 0.1, and an optimizer step.
  vanilla: the clean batch through domain 0, CE_ls, optimizer step.
Optimizer: torch.optim.RMSprop(alpha 0.9, eps 1e-3, momentum 0.9), weight decay 1e-5 on all but
BN parameters, lr 0.016. It differs from TF's (ours) in that eps is added outside the square root
and the mean square starts at 0 rather than 1: same work per parameter. No EMA on either side.
Each step reads the loss back (.item()), as ours returns it.

Precision (cfg 'precision', as ours): fp32 (TF32 off), tf32, bf16 autocast (TF32 on), fp16 autocast
with GradScaler on cuda; default fp32 on the cpu and bf16 on cuda. cuda: cudnn.benchmark; then torch.compile of the
model (guarded: try/except and a time limit) timed the same way, reported under "compiled".
Not a project dependency: run through bench/step.ts.
"""
import json
import signal
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Route:
    """Which BN domain(s) the next forward uses: 0, 1, or 'split' (first half 0, second half 1)."""
    mode = 0


class SplitBatchNorm2d(nn.Module):
    def __init__(self, num_features, route):
        super().__init__()
        self.route = route
        self.bn = nn.ModuleList([nn.BatchNorm2d(num_features, eps=1e-3, momentum=0.01) for _ in range(2)])

    def forward(self, x):
        m = self.route.mode
        if m == 'split':
            n = x.shape[0] // 2
            return torch.cat([self.bn[0](x[:n]), self.bn[1](x[n:])], 0)
        return self.bn[m](x)


def split_bn(module, route):
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, SplitBatchNorm2d(child.num_features, route))
        else:
            split_bn(child, route)


class Net(nn.Module):
    def __init__(self, classes, route):
        super().__init__()
        self.net = torchvision.models.efficientnet_b0(num_classes=classes)
        split_bn(self.net, route)

    def forward(self, x_nhwc):
        x = x_nhwc.permute(0, 3, 1, 2)  # a channels_last NCHW view
        return self.net((x - 0.5) / 0.5)


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


class Timeout(Exception):
    pass


def main():
    cfg = json.load(sys.stdin)
    dev = cfg['device']
    torch.manual_seed(0)
    notes = []
    # The precision of ours, matched: fp32 (TF32 off), tf32, bf16 autocast, fp16 autocast + GradScaler.
    precision = cfg.get('precision') or ('fp32' if dev == 'cpu' else 'bf16')
    amp_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(precision)
    if dev == 'cpu':
        torch.set_num_threads(cfg['threads'])
    else:
        torch.backends.cuda.matmul.allow_tf32 = precision != 'fp32'
        torch.backends.cudnn.allow_tf32 = precision != 'fp32'
        torch.backends.cudnn.benchmark = True
    notes.append(f"eager, {precision if amp_dtype is None else precision + ' autocast'}"
                 f"{', cudnn.benchmark' if dev != 'cpu' else ''}, channels_last")
    n, size, classes = cfg['batch'], cfg['size'], cfg['classes']
    x = torch.rand(n, size, size, 3, device=dev)
    y = torch.arange(n, device=dev) * 7919 % classes

    def build(compiled):
        route = Route()
        model = Net(classes, route).to(dev).to(memory_format=torch.channels_last).train()
        bn_params = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
        params = list(model.parameters())
        opt = torch.optim.RMSprop([
            {'params': [p for p in params if id(p) not in bn_params], 'weight_decay': 1e-5},
            {'params': [p for p in params if id(p) in bn_params], 'weight_decay': 0.0},
        ], lr=0.016, alpha=0.9, eps=1e-3, momentum=0.9)
        adv_bns = [m.bn[1] for m in model.modules() if isinstance(m, SplitBatchNorm2d)]
        fwd = torch.compile(model) if compiled else model
        return route, fwd, opt, adv_bns

    def autocast():
        if amp_dtype is None:
            return torch.autocast(dev if dev == 'cpu' else 'cuda', enabled=False)
        return torch.autocast('cpu' if dev == 'cpu' else 'cuda', dtype=amp_dtype)

    scaler = torch.cuda.amp.GradScaler() if precision == 'fp16' and dev != 'cpu' else None

    def make_step(m, compiled):
        route, fwd, opt, adv_bns = build(compiled)
        eps, iters, alpha = m['epsilon'] / 255.0, m['attackSteps'], 1.0 / 255.0

        def attack():
            route.mode = 1
            for b in adv_bns:
                b.momentum = 0.0
            xa = x.clone()
            for _ in range(iters):
                xa.requires_grad_(True)
                with autocast():
                    loss = F.cross_entropy(fwd(xa).float(), y)
                g, = torch.autograd.grad(loss, [xa])
                with torch.no_grad():
                    xa = torch.min(torch.max(xa + alpha * g.sign(), x - eps), x + eps).clamp_(0, 1)
            for b in adv_bns:
                b.momentum = 0.01
            return xa.detach()

        def step():
            opt.zero_grad(set_to_none=True)
            if m['method'] == 'advprop':
                xa = attack()
                route.mode = 'split'
                with autocast():
                    logits = fwd(torch.cat([x, xa], 0)).float()
                    loss = F.cross_entropy(logits[:n], y, label_smoothing=0.1) + F.cross_entropy(logits[n:], y, label_smoothing=0.1)
            else:
                route.mode = 0
                with autocast():
                    loss = F.cross_entropy(fwd(x).float(), y, label_smoothing=0.1)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            return loss.item()
        return step

    def sync():
        if dev != 'cpu':
            torch.cuda.synchronize()

    def timed(step, warmup, steps):
        for _ in range(warmup):
            step()
        sync()
        ts = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            sync()
            ts.append((time.perf_counter() - t0) * 1000)
        return ts

    def run(compiled):
        out = []
        for m in cfg['methods']:
            if dev != 'cpu':
                torch.cuda.reset_peak_memory_stats()
            ts = timed(make_step(m, compiled), cfg['warmup'], cfg['steps'])
            ms = median(ts)
            r = {'method': m['name'], 'stepMs': ms, 'imagesPerS': n * 1000.0 / ms, 'steps': ts}
            if dev != 'cpu':
                r['peakMiB'] = torch.cuda.max_memory_allocated() / 2**20
            out.append(r)
            # On stderr at once, so a run cut off by a time limit still reports what it measured.
            print(f"  torch {'compiled' if compiled else 'eager'} {cfg['precision']} {m['name']}, batch {n}: "
                  f"{ms:.1f} ms, {r['imagesPerS']:.1f} img/s" + (f", peak {r['peakMiB']:.0f} MiB" if 'peakMiB' in r else ''),
                  file=sys.stderr, flush=True)
        return out

    res = {'version': torch.__version__, 'threads': torch.get_num_threads(), 'results': run(False)}
    if dev != 'cpu':
        if int(cfg.get('compileLimitS', 150)) <= 0:
            notes.append('torch.compile: not tried (--compile-limit 0)')
        elif not hasattr(torch, 'compile'):
            notes.append('torch.compile: not in this PyTorch')
        else:
            def on_alarm(*_):
                raise Timeout()
            signal.signal(signal.SIGALRM, on_alarm)
            signal.alarm(int(cfg.get('compileLimitS', 150)))
            try:
                res['compiled'] = run(True)
                notes.append('torch.compile: ok (default mode)')
            except Timeout:
                notes.append('torch.compile: over its time limit, skipped')
            except Exception as e:  # noqa: BLE001 -- any failure only drops the compiled figures
                notes.append('torch.compile failed: ' + str(e).split('\n')[0][:120])
            finally:
                signal.alarm(0)
    res['note'] = '; '.join(notes)
    print(json.dumps(res))


if __name__ == '__main__':
    main()
