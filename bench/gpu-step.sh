#!/usr/bin/env bash
# Issue 7 on a GPU: the end-to-end step benchmark, case (a) EfficientNet-B0 224×224, 1000 classes,
# at batch 128 and 256, ours vs PyTorch eager (bf16 autocast, TF32) and torch.compile when it
# works, then a profile of one vanilla step at batch 128 beside its roofline (bench/roofline.ts).
# Logs under $OUT (or ./gpu-out).
# Budget: about 3 minutes after the build; each command has its own timeout.
# Run through the offline bundle: bash .gpu/run.sh 'bash bench/gpu-step.sh'
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
t0=$(date +%s)
npx cmake-js compile --out build --parallel "$(nproc)" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv,noheader | tee "$out/gpu.txt"
b() { echo "+ bench/step.ts $*"; timeout "$1" node --import tsx bench/step.ts --device cuda --case a "${@:2}"; echo "rc=$?"; }
{
  b 70 --batch 128 --methods vanilla,advprop1,advprop4 --warmup 2 --steps 5 --compile-limit 0
  b 110 --batch 256 --methods vanilla,advprop1 --warmup 2 --steps 5 --compile-limit 80
  b 30 --batch 128 --methods vanilla --warmup 1 --steps 1 --no-peer --profile --profile-json "$out/profile-b128.json"
  # The measured families beside the roofline of the same step (issue 16 item 6; bench/step.ts
  # feeds f32 tensors and has EMA off, hence --input f32 --no-ema).
  card=h100; grep -q H200 "$out/gpu.txt" && card=h200
  node --import tsx bench/step.ts --roofline "$card" --batch 128 --method vanilla --input f32 --no-ema --measured "$out/profile-b128.json"
} 2>&1 | tee "$out/bench-step-cuda.txt"
echo "total $(( $(date +%s) - t0 )) s"
