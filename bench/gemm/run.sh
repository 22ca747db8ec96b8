#!/usr/bin/env bash
# GEMM throughput per EfficientNet-B0 GEMM shape (bench/gemm/gemm_bench.cc), with PyTorch's
# matmul on the same shapes in the same run when the device is cuda and python3 has torch with
# CUDA (bench/torch/gemm.py). Arguments go to the bench, e.g.
#   bash bench/gemm/run.sh --device cuda --batch 256 --modes bf16,tf32,fp32
#   ADVPROP_CUDA_ARCHS=90 bash bench/gemm/run.sh            (an H100: build for sm_90)
#   bash bench/gemm/run.sh --device cuda-sim                 (checks that it runs; no timing value)
# Builds into build-bench (CUDA when nvcc is found). Output: the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/cuda/bin:$PATH"
mkdir -p build-bench
log=build-bench/bench-build.log
cmake -S . -B build-bench -DADVPROP_NATIVE_TESTS=ON -DCMAKE_BUILD_TYPE=Release > "$log" 2>&1 || { tail -20 "$log"; exit 1; }
cmake --build build-bench --target advprop_gemm_bench -j"${JOBS:-$(nproc)}" >> "$log" 2>&1 || { tail -20 "$log"; exit 1; }
bin=build-bench/advprop_gemm_bench

device=cuda modes=bf16,tf32,fp32 reps=20
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --device) device=${args[i+1]} ;;
    --modes) modes=${args[i+1]} ;;
    --reps) reps=${args[i+1]} ;;
  esac
done

torch_args=()
if [[ $device == cuda* ]]; then
  if python3 -c 'import torch; assert torch.cuda.is_available()' 2> /dev/null; then
    tmp=$(mktemp -d)
    "$bin" "$@" --list > "$tmp/shapes.csv"
    python3 bench/torch/gemm.py --modes "$modes" --reps "$reps" < "$tmp/shapes.csv" > "$tmp/torch.csv"
    torch_args=(--torch "$tmp/torch.csv")
  else
    echo "(no PyTorch peer: python3 has no torch with CUDA)"
  fi
fi
"$bin" "$@" ${torch_args[@]+"${torch_args[@]}"}
