#!/usr/bin/env bash
# Issue 15, item 6(b): `advprop train` on Fashion-MNIST (the default model and recipe, cpu) in
# fp32, bf16 and fp16 for seeds 0, 1, 2; prints each run's clean top-1 (raw and EMA) and the means.
#   bash bench/precision-fmnist.sh [OUT_DIR] [PRECISIONS] [SEEDS]
set -euo pipefail
out=${1:-/tmp/advprop-precision-fmnist}
precisions=${2:-"fp32 bf16 fp16"}
seeds=${3:-"0 1 2"}
cd "$(dirname "$0")/.."
mkdir -p "$out"
for p in $precisions; do
  for s in $seeds; do
    start=$(date +%s)
    npx tsx lib/cli/main.ts train --device cpu --precision "$p" --seed "$s" --no-progress --out "$out/$p-seed$s" > "$out/$p-seed$s.log" 2>&1
    line=$(grep 'clean top-1' "$out/$p-seed$s.log" | tail -1)
    echo "$p seed $s: $line ($(( $(date +%s) - start )) s)"
  done
done
echo "means of the raw / EMA clean top-1:"
for p in $precisions; do
  grep -h 'clean top-1' "$out/$p"-seed*.log | sed -E 's/.*raw ([0-9.]+)%, EMA ([0-9.]+)%.*/\1 \2/' |
    awk -v p="$p" '{r+=$1; e+=$2; n++} END {printf "%s: raw %.2f%%, EMA %.2f%% over %d seeds\n", p, r/n, e/n, n}'
done
